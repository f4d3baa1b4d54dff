"""Nginx lines inside container, journald and log-store records (``parsers/wrap``): a
wrapped line gives the same rows as the plain line; joins, counts and chunk boundaries."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import timeline
from parsers import nginx_access, nginx_error, wrap
from parsers.base import ParseOptions, ParseStats
from timeline import engine, ingest
from timeline.sources import open_binary

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("rewrap", ROOT / "sample_logs" / "rewrap.py")
assert _spec is not None and _spec.loader is not None
rewrap = importlib.util.module_from_spec(_spec)
sys.modules["rewrap"] = rewrap
_spec.loader.exec_module(rewrap)


def _wrapped(tmp: Path, fmt: str, lines: list[bytes], stream: str, split: int) -> Path:
    """``lines`` written by ``rewrap`` in ``fmt`` (one host, ``h1``); the file."""
    error = stream == "stderr"
    recs = [rewrap.Line(ln, rewrap.line_time(ln, error) or 0.0, stream) for ln in lines]
    rewrap.FORMATS[fmt](tmp, "h1", recs, split)
    files = [p for p in tmp.rglob("*") if p.is_file()]
    assert len(files) == 1
    return files[0]


def _norm(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def _rows(chunks: Iterator[Any], lines: bool = True) -> list[tuple[Any, ...]]:
    """The rows of columnar chunks, sorted (a store's export is read in time order)."""
    out: list[tuple[Any, ...]] = []
    for chunk in chunks:
        cols = sorted(c for c in chunk if lines or c != "line")
        out.extend(zip(*[[_norm(v) for v in list(chunk[c])] for c in cols], strict=True))
    return sorted(out, key=repr)


def _unwrap_file(module: Any, path: Path, options: ParseOptions) -> tuple[Any, ParseStats]:
    with open_binary(path) as fh:
        found = wrap.sniff(fh.read(16384), str(path))
    assert found is not None
    opts = ParseOptions(**{**options.__dict__, "wrapper": found.wrapper.NAME})
    fn = wrap.reader(module, opts)
    assert fn is not None
    stats = ParseStats()
    with open_binary(path) as fh:
        rows = list(fn(fh, stats, opts))
    stats.check()
    return rows, stats


# --- generated lines --------------------------------------------------------------------

# Nginx writes a backslash in a value as \x5C (escape=default).
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"'),
                max_size=40).map(lambda t: t.replace("\\", "\\x5C"))
_ip = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))


@st.composite
def access_lines(draw: st.DrawFn) -> bytes:
    sec = draw(st.integers(0, 86399))
    ts = f"20/Mar/2023:{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d} +0000"
    method = draw(st.sampled_from(["GET", "POST", "HEAD"]))
    path = "/" + draw(_text).replace(" ", "%20")
    status = draw(st.sampled_from([200, 301, 404, 499, 502, 504]))
    ua = draw(_text)
    xff = draw(st.sampled_from(["-", "10.0.0.1", "10.0.0.1, 10.0.0.2"]))
    pad = "x" * draw(st.integers(0, 300))
    line = (f'{draw(_ip)} - - [{ts}] "{method} {path}{pad} HTTP/1.1" {status} '
            f'{draw(st.integers(0, 99999))} "-" "{ua}" "{xff}"')
    return line.encode()


@st.composite
def error_lines(draw: st.DrawFn) -> bytes:
    sec = draw(st.integers(0, 86399))
    ts = f"2023/03/20 {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
    level = draw(st.sampled_from(["error", "warn", "crit", "notice"]))
    msg = draw(st.sampled_from([
        "*7 connect() failed (111: Connection refused) while connecting to upstream",
        "*9 upstream timed out (110: Connection timed out) while reading response header "
        "from upstream",
        'signal 1 (SIGHUP) received from 2706, reconfiguring']))
    tail = f', client: {draw(_ip)}, server: shop, request: "GET /{draw(_text)} HTTP/1.1"'
    return f"{ts} [{level}] 12#12: {msg}{tail}".encode()


LINE_FORMATS = sorted(rewrap.FORMATS)
FIELDS_ONLY = ("elasticsearch-ecs", "gcp-http")
NEWEST_FIRST = ("elasticsearch", "loki-api", "loki-jsonl", "gcp-logging")


@pytest.mark.parametrize("fmt", LINE_FORMATS)
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(access_lines(), min_size=1, max_size=6),
       split=st.sampled_from([16384, 50, 7]))
def test_wrapped_access_lines_give_the_plain_rows(
    fmt: str, lines: list[bytes], split: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp(fmt)
    path = _wrapped(tmp, fmt, lines, "stdout", split)
    # A store that keeps parsed fields only has no X-Forwarded-For: the same rows as the
    # combined line.
    given = [re.sub(rb' "[^"]*"$', b"", ln) if fmt in FIELDS_ONLY else ln for ln in lines]
    # Line numbers are the records': equal unless a line was cut into several records or
    # the export lists records newest first.
    numbered = fmt not in NEWEST_FIRST and (split > max(map(len, lines))
                                            or fmt not in ("docker-json", "cri"))
    for compact in (False, True):
        opts = ParseOptions(compact=compact)
        plain_stats = ParseStats()
        plain = _rows(nginx_access.parse([ln + b"\n" for ln in given], plain_stats, opts),
                      numbered)
        got, stats = _unwrap_file(nginx_access, path, opts)
        assert _rows(iter(got), numbered) == plain
        assert stats.parsed == plain_stats.parsed == len(lines)


@pytest.mark.parametrize("fmt", LINE_FORMATS)
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(error_lines(), min_size=1, max_size=6))
def test_wrapped_error_lines_give_the_plain_events(
    fmt: str, lines: list[bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp(fmt)
    path = _wrapped(tmp, fmt, lines, "stderr", 16384)
    plain_stats = ParseStats()
    plain = [ev for c in nginx_error.parse([ln + b"\n" for ln in lines], plain_stats,
                                            ParseOptions()) for ev in c]
    got, stats = _unwrap_file(nginx_error, path, ParseOptions())
    events = [dict(ev) for c in got for ev in c]
    named = {ev.pop("host") for ev in events}
    # Formats whose records name the host give it to the events; the others leave "".
    assert named == ({""} if fmt in ("docker-json", "cri", "timestamped", "cloudwatch-s3")
                     else {"h1"})
    plain_events = [dict(ev) for ev in plain]
    for ev in plain_events:
        ev.pop("host")
    if fmt in NEWEST_FIRST:  # numbered by their place in the export
        for ev in events + plain_events:
            ev.pop("line")
    key = lambda ev: (ev["ts"], ev.get("line"), ev["sample"])  # noqa: E731
    assert sorted(events, key=key) == sorted(plain_events, key=key)
    assert stats.parsed == plain_stats.parsed
    assert stats.utc_offset_s == 0  # the records' UTC times equal Nginx's: +0000


# --- joins, counts, chunk boundaries -----------------------------------------------------

LONG = (b'203.0.113.9 - - [20/Mar/2023:12:30:00 +0000] "GET /' + b"a" * 40000
        + b' HTTP/1.1" 200 5 "-" "curl/8.0" "-"')
SHORT = b'203.0.113.7 - - [20/Mar/2023:12:30:01 +0000] "GET / HTTP/1.1" 502 5 "-" "curl" "-"'


def _docker(line: bytes, stream: str = "stdout", split: int = 16384) -> list[str]:
    text = line.decode()
    parts = [text[i : i + split] for i in range(0, len(text), split)]
    return [json.dumps({"log": p + ("\n" if i == len(parts) - 1 else ""), "stream": stream,
                        "time": "2023-03-20T12:30:00.5Z"}, separators=(",", ":"))
            for i, p in enumerate(parts)]


def test_docker_16k_pieces_are_joined_and_counted(tmp_path: Path) -> None:
    # SHORT, LONG in three 16 KB records, a torn record, SHORT, a blank line.
    rows = [*_docker(SHORT), *_docker(LONG), '{"log":"broken', *_docker(SHORT), ""]
    path = tmp_path / "web" / "c-json.log"
    path.parent.mkdir()
    path.write_text("\n".join(rows) + "\n")
    data = timeline.read([str(path)])
    (rep,) = data.sources
    assert (rep.lines, rep.parsed, rep.rejected, rep.skipped) == (7, 3, 1, 3)
    assert rep.skip_reasons == {wrap.JOINED_REASON: 2, "blank line": 1}
    assert [(r.line, r.reason) for r in rep.rejects] == [(5, "not a Docker json-file record")]
    assert rep.wrapper == "docker-json"
    rows_ = data.load_rows(0, 2e9).sort_values("line")
    assert rows_["line"].tolist() == [1, 2, 6]
    assert rows_["path"].str.len().tolist() == [1, 40001, 1]


@pytest.mark.parametrize("fmt", ["docker-json", "cri"])
def test_byte_ranges_and_blocks_never_cut_a_joined_line(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [SHORT if i % 3 else LONG.replace(b"a" * 40000, b"b" * (500 + i)) for i in range(60)]
    path = _wrapped(tmp_path, fmt, lines, "stdout", 128)
    whole = timeline.read([str(path)])
    tasks: list[engine.Task] = []

    def ranges(task: engine.Task, *, size: int, jobs: int) -> list[engine.Task]:
        # Ranges of 997 bytes: most start or end inside a line cut into records.
        tasks.extend(replace(task, start=s, end=min(s + 997, size))
                     for s in range(0, size, 997))
        return tasks

    monkeypatch.setattr(ingest, "plan", ranges)
    monkeypatch.setattr(engine, "READ_BYTES", 700)
    cut = timeline.read([str(path)])
    assert len(tasks) > 20
    a, b = whole.sources[0], cut.sources[0]
    assert (a.lines, a.parsed, a.rejected, a.skipped) == (b.lines, b.parsed, b.rejected,
                                                          b.skipped)
    assert a.parsed == 60 and a.rejected == 0
    rows_a, rows_b = whole.load_rows(0, 2e9), cut.load_rows(0, 2e9)
    assert rows_a["line"].tolist() == rows_b["line"].tolist()
    assert rows_a["path"].tolist() == rows_b["path"].tolist()
    assert sorted(set(rows_b["path"].str.len())) == sorted(
        {len(ln.split(b" ")[6]) for ln in lines})


def test_cri_partials_and_pod_host(tmp_path: Path) -> None:
    pod = tmp_path / "pods" / "shop_web-7_0a1b" / "nginx"
    pod.mkdir(parents=True)
    text = LONG.decode()
    recs = [f"2023-03-20T12:30:00.1Z stdout P {text[:100]}",
            "2023-03-20T12:30:00.1Z stderr F 2023/03/20 12:30:00 [error] 7#7: *1 connect() "
            "failed (111: Connection refused) while connecting to upstream",
            f"2023-03-20T12:30:00.1Z stdout F {text[100:]}",
            f"2023-03-20T12:30:01.1Z stdout F {SHORT.decode()}",
            "not a record"]
    (pod / "0.log").write_text("\n".join(recs) + "\n")
    data = timeline.read([str(tmp_path)])
    (rep,) = data.sources
    assert rep.host == "web-7"
    assert (rep.lines, rep.parsed, rep.rejected, rep.skipped) == (5, 2, 1, 2)
    assert rep.skip_reasons == {wrap.JOINED_REASON: 1, wrap.MIXED_REASON: 1}
    assert data.events["line"].tolist() == [2]
    assert data.events["host"].tolist() == ["web-7"]
    rows = data.load_rows(0, 2e9).sort_values("line")
    assert rows["line"].tolist() == [1, 4]
    assert len(rows["path"][0]) == 40001


def test_journald_json_byte_array_other_programs_and_host(tmp_path: Path) -> None:
    def entry(msg: Any, ident: str = "nginx") -> str:
        return json.dumps({"__REALTIME_TIMESTAMP": "1679315400500000", "_HOSTNAME": "web-9",
                           "SYSLOG_IDENTIFIER": ident, "MESSAGE": msg})
    raw = SHORT.replace(b"GET / ", b"GET /caf\xe9 ")
    rows = [entry(SHORT.decode()), entry(list(raw)), entry("Started nginx.service", "systemd"),
            entry(None), entry("garbage line")]
    path = tmp_path / "j.json"
    path.write_text("\n".join(rows) + "\n")
    data = timeline.read([str(path)])
    (rep,) = data.sources
    assert rep.host == "web-9" and rep.wrapper == "journald-json"
    assert (rep.lines, rep.parsed, rep.rejected, rep.skipped) == (5, 2, 2, 1)
    assert [r.line for r in rep.rejects] == [4, 5]
    rows_ = data.load_rows(0, 2e9).sort_values("line")
    assert rows_["path"].tolist() == ["/", "/caf\\xe9"]


def test_inspect_names_the_wrapper(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from timeline.cli import app

    path = tmp_path / "web" / "c-json.log"
    path.parent.mkdir()
    path.write_text("\n".join(_docker(SHORT)) + "\n")
    out = CliRunner().invoke(app, ["inspect", str(path)])
    assert out.exit_code == 0, out.output
    assert "format nginx_access (main) inside docker-json records, host web" in out.output


def test_bad_record_with_on_bad_lines_error_names_the_record(tmp_path: Path) -> None:
    rows = _docker(SHORT) + _docker(b"not an access line")
    path = tmp_path / "c-json.log"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(timeline.TimelineError, match=r"c-json.log:2: does not match"):
        timeline.read([str(path)], timeline.ReadOptions(on_bad_lines="error"))
