"""The combined/main access-log parser: exact counts and values on a sample with bad lines."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from parsers import nginx_access
from parsers.base import BadLineError, ParseOptions, ParseStats

DATA = Path(__file__).parent / "data" / "nginx_access"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "nginx-access"


def _parse(path: Path, **kw: object) -> tuple[dict[str, list[object]], ParseStats]:
    stats = ParseStats()
    cols: dict[str, list[object]] = {}
    with open(path, "rb") as fh:
        for chunk in nginx_access.parse(fh, stats, ParseOptions(**kw)):  # type: ignore[arg-type]
            for k, v in chunk.items():
                cols.setdefault(k, []).extend(v)
    stats.check()
    return cols, stats


def test_counts_add_up_with_reasons() -> None:
    cols, stats = _parse(DATA / "combined.log")
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (11, 7, 2, 2)
    assert stats.skip_reasons == {"blank line": 1, "error-log line in an access log": 1}
    reasons = sorted((r.line, r.reason) for r in stats.rejects)
    assert reasons == [(6, "does not match combined/main"), (11, "bad timestamp")]
    assert len(cols["ts"]) == 7


def test_values() -> None:
    cols, stats = _parse(DATA / "combined.log")
    first = calendar.timegm((2023, 3, 20, 12, 29, 58, 0, 0, 0))
    assert cols["ts"][0] == first
    assert cols["status"][:3] == [200, 502, 404]
    assert cols["remote_user"][1] == "alice"
    assert cols["client"][2] == "2001:db8::17"
    # escape=default undone: \xC3\xA9 is UTF-8 for é, \x22 a quote.
    assert cols["path"][2] == '/café?q="x"'
    assert cols["user_agent"][2] == 'Mozilla/5.0 "quoted"'

    # +0100 converts to UTC.
    assert cols["ts"][3] == calendar.timegm((2023, 3, 20, 12, 30, 3, 0, 0, 0))
    assert cols["status"][3] == 400 and cols["method"][3] == ""
    # vhost prefix and a forwarded-for chain: the last address is the client.
    assert cols["vhost"][4] == "shop.example.com"
    assert cols["client"][4] == "203.0.113.9"
    assert cols["user_agent"][5] == "Blackbox Exporter/0.23.0"
    assert cols["status"][6] == 0 and cols["path"][6] == "-"
    assert cols["line"] == [1, 2, 3, 5, 8, 9, 10]
    assert stats.utc_offset_s == 0
    assert stats.first_ts == first


def test_on_bad_lines_error_names_the_line() -> None:
    with pytest.raises(BadLineError, match=r"combined.log:6: does not match"):
        _parse(DATA / "combined.log", on_bad_lines="error", display_path="combined.log")


def test_sniff() -> None:
    head = (DATA / "combined.log").read_bytes()
    assert nginx_access.sniff(head)
    assert not nginx_access.sniff(b'{"version": "4", "alerts": []}\n')
    assert not nginx_access.sniff(b"2023/03/20 12:30:02 [notice] 1#1: reconfiguring\n" * 5)


@pytest.mark.parametrize("path", sorted(SHARED.glob("*/*.log")) if SHARED.exists() else [],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shared_samples_every_line_accounted(path: Path) -> None:
    """Real files from other projects: every line parsed, skipped or rejected for a reason."""
    _, stats = _parse(path)
    assert stats.lines == stats.parsed + stats.rejected + stats.skipped
    assert all(r.reason for r in stats.rejects)


def test_compact_first_pass_agrees_with_full_rows() -> None:
    """The aggregate pass (fast pattern, block at a time) sees the same requests."""
    full, fstats = _parse(DATA / "combined.log")
    stats = ParseStats()
    ts: list[float] = []
    status: list[int] = []
    line: list[int] = []
    with open(DATA / "combined.log", "rb") as fh:
        for chunk in nginx_access.parse(fh, stats, ParseOptions(compact=True)):
            ts.extend(chunk["ts"])
            status.extend(chunk["status"])
            line.extend(chunk["line"])
    stats.check()
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (
        fstats.lines, fstats.parsed, fstats.rejected, fstats.skipped)
    assert ts == full["ts"] and status == full["status"] and line == full["line"]
    assert sorted(r.line for r in stats.rejects) == sorted(r.line for r in fstats.rejects)
