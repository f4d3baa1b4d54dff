"""The combined/main access-log parser: exact counts and values on a sample with bad lines."""

from __future__ import annotations

import calendar
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import nginx_access
from parsers.base import (
    BadLineError,
    ParseOptions,
    ParseStats,
    parse_time_local,
    parse_time_local_many,
)

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


# Lines that stress the block pass: main with forwarded-for, a $host prefix, a forwarded
# chain as the client, an unbalanced quote that would run into the next line, a blank line,
# an error-log line, a bad month, a truncated line, and a last line without a newline.
_TRICKY = [
    b'203.0.113.7 - - [20/Mar/2023:12:30:01 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8"\n',
    b'10.0.0.2 - bob [20/Mar/2023:12:30:02 +0100] "GET /b HTTP/1.1" 502 0 "-" "x" "198.51.100.4"\n',
    b'shop.example 10.0.0.9 - - [20/Mar/2023:12:30:03 +0000] "GET / HTTP/1.1" 404 1 "-" "y"\n',
    b'10.0.0.2, 10.0.0.1 - - [20/Mar/2023:12:30:04 +0000] "GET / HTTP/1.1" 200 1 "-" "z"\n',
    b'10.0.0.3 - - [20/Mar/2023:12:30:05 +0000] "GET /"quote HTTP/1.1" 200 1 "-" "q"\n',
    b"\n",
    b"2023/03/20 12:30:06 [error] 7#7: *1 connect() failed (111: Connection refused)\n",
    b'10.0.0.4 - - [20/Foo/2023:12:30:07 +0000] "GET / HTTP/1.1" 200 1 "-" "m"\n',
    b'10.0.0.5 - - [20/Mar/2023:12:30:08 +0000] "GET / HTT\n',
    b'10.0.0.6 - - [20/Mar/2023:12:30:09 -0500] "GET /k8s HTTP/1.1" 200 1 "-" '
    b'"kube-probe/1.27" "-"\n',
]


def _compact(blocks: list[bytes]) -> tuple[list[tuple[object, ...]], ParseStats]:
    stats = ParseStats()
    rows: list[tuple[object, ...]] = []
    for chunk in nginx_access.parse_blocks(blocks, stats, ParseOptions(compact=True)):
        rows.extend(zip(chunk["ts"].tolist(), chunk["status"].tolist(), chunk["user_agent"],
                        chunk["forwarded"].tolist(), chunk["line"].tolist(), strict=True))
    stats.check()
    return rows, stats


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(range(len(_TRICKY))), min_size=1, max_size=40),
       st.lists(st.integers(min_value=1, max_value=40), max_size=10), st.booleans())
def test_block_pass_is_the_line_pass(picks: list[int], cuts: list[int], last_nl: bool) -> None:
    """Any lines, cut into blocks anywhere between lines, give the rows and counts of the
    line-by-line pass (the full pattern), no matter where a bad line falls."""
    lines = [_TRICKY[i] for i in picks]
    if not last_nl and lines[-1].endswith(b"\n") and lines[-1] != b"\n":
        lines[-1] = lines[-1][:-1]
    edges = sorted({c for c in cuts if c < len(lines)} | {0, len(lines)})
    blocks = [b"".join(lines[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
    got, stats = _compact(blocks)
    whole, _ = _compact([b"".join(lines)])
    assert got == whole
    full_stats = ParseStats()
    full: list[tuple[object, ...]] = []
    for chunk in nginx_access.parse(lines, full_stats, ParseOptions()):
        full.extend(zip(chunk["ts"], chunk["status"], chunk["line"], strict=True))
    assert [(r[0], r[1], r[4]) for r in got] == full
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (
        full_stats.lines, full_stats.parsed, full_stats.rejected, full_stats.skipped)
    forwarded = {r[4]: r[3] for r in got}
    for n, raw in enumerate(lines, start=1):
        if n in forwarded:
            assert forwarded[n] == raw.rstrip(b"\n").endswith(b'"198.51.100.4"')


_MONTH_NAMES = [calendar.month_abbr[i] for i in range(1, 13)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(
    st.integers(0, 33), st.sampled_from([*_MONTH_NAMES, "mar", "MAR", "Xyz"]),
    st.integers(1000, 2200), st.integers(0, 25), st.integers(0, 61), st.integers(0, 62),
    st.sampled_from("+-"), st.integers(0, 14), st.sampled_from([0, 30, 45, 61])),
    min_size=1, max_size=30))
def test_vectorised_time_local_is_parse_time_local(
    parts: list[tuple[int, str, int, int, int, int, str, int, int]],
) -> None:
    texts = [f"{d:02d}/{mon}/{y:04d}:{h:02d}:{mi:02d}:{s:02d} {sign}{oh:02d}{om:02d}".encode()
             for d, mon, y, h, mi, s, sign, oh, om in parts]
    epoch, offsets = parse_time_local_many(b"".join(texts), len(texts))
    for i, text in enumerate(texts):
        try:
            want = parse_time_local(text)
        except ValueError:
            assert np.isnan(epoch[i]), text
        else:
            assert (epoch[i], offsets[i]) == want, text
