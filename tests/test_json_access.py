"""Nginx access logs written as JSON lines are read without --log-format (issue #11, class 4).

The lines here are rendered the way Nginx renders ``log_format ... escape=json``
(ngx_escape_json: ``\\"``, ``\\\\``, ``\\n``/``\\r``/``\\t``/``\\b``/``\\f``, other control
bytes as ``\\u00xx``, bytes >= 0x80 copied raw; a missing variable is an empty string; the
built-in numbers are written as they are).
"""

from __future__ import annotations

import calendar
import math
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import parsers
import timeline
from parsers import log_format as lf
from parsers import nginx_access
from parsers.base import REQUEST_COLUMNS, ParseOptions, ParseStats, match_block
from timeline.cli import ExitCode, app
from timeline.sources import discover

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
runner = CliRunner()

#: The format of issue #11: the most common JSON log_format in the wild.
MAIN_JSON = (
    '{"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request",'
    '"status":$status,"body_bytes_sent":$body_bytes_sent,"request_time":$request_time,'
    '"upstream_addr":"$upstream_addr","upstream_status":"$upstream_status",'
    '"upstream_response_time":"$upstream_response_time","http_referer":"$http_referer",'
    '"http_user_agent":"$http_user_agent","http_x_forwarded_for":"$http_x_forwarded_for"}'
)
#: Variables Nginx writes without escaping (ngx_http_log_module's own, numbers and times).
_BUILTIN = {"time_iso8601", "time_local", "msec", "status", "body_bytes_sent", "bytes_sent",
            "request_time", "request_length"}
_SHORT = {0x22: b'\\"', 0x5C: b"\\\\", 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t",
          0x08: b"\\b", 0x0C: b"\\f"}
HOSTILE_UA = 'evil "quoted" \\back\\slash\\ \t\x01\x1f ünïcødé ☃ 𝄞 \\"x\\u0022'.encode() + (
    b" \xff\xfe raw")


def nginx_json(value: bytes) -> bytes:
    """What ngx_escape_json writes for ``value``."""
    out = bytearray()
    for b in value:
        if b in _SHORT:
            out += _SHORT[b]
        elif b < 0x20:
            out += b"\\u%04x" % b
        else:
            out.append(b)
    return bytes(out)


def render(fmt: str, values: dict[str, bytes | None]) -> bytes:
    """One line as Nginx writes it with ``log_format escape=json fmt``."""
    out = []
    for is_var, text in lf._tokenize(fmt):
        if not is_var:
            out.append(text.encode())
            continue
        value = values.get(text)
        if value is None:
            out.append(b"")
        elif text in _BUILTIN:
            out.append(value)
        else:
            out.append(nginx_json(value))
    return b"".join(out) + b"\n"


def _iso(epoch: float, off: int = 0) -> bytes:
    t = time.gmtime(int(epoch) + off)
    sign, a = ("+" if off >= 0 else "-"), abs(off)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", t)
            + f"{sign}{a // 3600:02d}:{a % 3600 // 60:02d}").encode()


def _local(epoch: float, off: int = 0) -> bytes:
    t = time.gmtime(int(epoch) + off)
    sign, a = ("+" if off >= 0 else "-"), abs(off)
    return (time.strftime("%d/%b/%Y:%H:%M:%S", t)
            + f" {sign}{a // 3600:02d}{a % 3600 // 60:02d}").encode()


T0 = calendar.timegm((2023, 3, 20, 12, 30, 0, 0, 0, 0))


def request(i: int, status: int = 200, ua: bytes = b"Mozilla/5.0", **kw: bytes | None
            ) -> dict[str, bytes | None]:
    """The variables of one request at ``T0 + i`` seconds (Nginx at +01:00)."""
    values: dict[str, bytes | None] = {
        "time_iso8601": _iso(T0 + i, 3600), "remote_addr": b"203.0.113.%d" % (i % 250 + 1),
        "request": b"GET /api/cart?id=%d HTTP/1.1" % i, "status": b"%d" % status,
        "body_bytes_sent": b"157", "request_time": b"0.012", "upstream_addr": b"10.0.0.1:80",
        "upstream_status": b"%d" % status, "upstream_response_time": b"0.010",
        "http_referer": None, "http_user_agent": ua, "http_x_forwarded_for": None}
    values.update(kw)
    return values


def _parse(spec: str, data: bytes, compact: bool = False) -> tuple[dict[str, list[Any]],
                                                                  ParseStats]:
    """Parse ``data`` as the CLI does with the format ``spec``; columns and counts."""
    stats = ParseStats()
    opts = ParseOptions(log_format=spec, compact=compact)
    cols: dict[str, list[Any]] = {}
    chunks = (nginx_access.parse_blocks([data], stats, opts) if compact
              else nginx_access.parse(data.splitlines(keepends=True), stats, opts))
    for chunk in chunks:
        for k, v in chunk.items():
            cols.setdefault(k, []).extend(list(v))
    stats.check()
    return cols, stats


def _sniffed(data: bytes) -> lf.JsonSniff:
    found = lf.sniff_json(data[: parsers.SNIFF_BYTES])
    assert found is not None and found.access and not found.problem, found
    return found


def _read(folder: Path, **kw: Any) -> timeline.Dataset:
    return timeline.read([str(folder)], timeline.ReadOptions(**kw))


# --- Nginx's own JSON, with a hostile user agent and one broken line ------------------------


def _main_log(path: Path) -> bytes:
    lines = [render(MAIN_JSON, request(i, 502 if i % 3 == 0 else 200)) for i in range(40)]
    lines[7] = render(MAIN_JSON, request(7, 200, HOSTILE_UA, http_referer=b'https://x/"a"',
                                         http_x_forwarded_for=b"198.51.100.1, 10.0.0.2"))
    lines[12] = lines[12][: len(lines[12]) // 2] + b"\n"  # cut short by a crash
    lines.insert(20, b"\n")
    data = b"".join(lines)
    path.write_bytes(data)
    return data


def test_nginx_json_is_recognised_and_counted_exactly(tmp_path: Path) -> None:
    host = tmp_path / "web-1"
    host.mkdir()
    data = _main_log(host / "access.log")
    assert b"\\u0001" in data and b'\\"quoted\\"' in data and b"\xff\xfe" in data
    assert parsers.sniff(data[: parsers.SNIFF_BYTES]) is nginx_access
    found = _sniffed(data)
    assert found.spec == "escape=json " + MAIN_JSON  # the very log_format that wrote it
    ds = _read(host, jobs=1)
    (src,) = ds.sources
    assert src.format == "nginx_access" and src.variant == "JSON lines escape=json"
    assert (src.lines, src.parsed, src.rejected, src.skipped) == (41, 39, 1, 1)
    assert [(r.line, r.reason) for r in src.rejects] == [
        (13, "malformed JSON object (cut short?)")]
    assert src.skip_reasons == {"blank line": 1}
    assert src.tz == "+0100"
    rows = ds.load_rows(T0 - 1, T0 + 100).sort_values("line")
    assert len(rows) == 39
    hostile = rows[rows["line"] == 8].iloc[0]
    assert hostile["user_agent"] == HOSTILE_UA.decode("utf-8", "backslashreplace")
    assert hostile["referer"] == 'https://x/"a"'
    assert hostile["forwarded_for"] == "198.51.100.1, 10.0.0.2"
    first = rows.iloc[0]
    assert (first["ts"], first["client"], first["method"], first["path"], first["protocol"],
            first["status"], first["bytes_sent"]) == (
        float(T0), "203.0.113.1", "GET", "/api/cart?id=0", "HTTP/1.1", 502, 157)
    assert math.isclose(first["request_time"], 0.012)
    assert math.isclose(first["upstream_time"], 0.010)
    assert (first["upstream_addr"], first["upstream_status"]) == ("10.0.0.1:80", "502")


def test_nginx_json_takes_the_block_path(tmp_path: Path) -> None:
    """Nginx's own fixed-order JSON is read with one findall a block, never line by line."""
    data = b"".join(render(MAIN_JSON, request(i)) for i in range(500))
    fmt = lf.compile_format(*lf.split_escape(_sniffed(data).spec))
    find, first, _, _ = fmt._compact()
    assert match_block(data, 500, first, find) is not None
    cols, stats = _parse(_sniffed(data).spec, data, compact=True)
    assert stats.parsed == 500 and not stats.notes
    assert list(cols["ts"])[:2] == [float(T0), float(T0 + 1)]


def test_both_passes_agree_on_counts(tmp_path: Path) -> None:
    data = _main_log(tmp_path / "a.log")
    spec = _sniffed(data).spec
    full, fstats = _parse(spec, data)
    compact, cstats = _parse(spec, data, compact=True)
    assert (fstats.parsed, fstats.rejected, fstats.skipped) == (39, 1, 1)
    assert (cstats.parsed, cstats.rejected, cstats.skipped) == (39, 1, 1)
    assert list(full["ts"]) == list(compact["ts"])
    assert list(full["status"]) == list(compact["status"])


# --- names and shapes -----------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value", "variable"), [
    ("@timestamp", '"2023-03-20T12:30:00Z"', "time_iso8601"),
    ("ts", "1679315400.123", "msec"),
    ("date", '"20/Mar/2023:12:30:00 +0000"', "time_local"),
    ("$remote_addr", '"203.0.113.7"', "remote_addr"),
    ("client_ip", '"203.0.113.7"', "remote_addr"),
    ("ClientIP", '"203.0.113.7"', "remote_addr"),
    ("client.ip", '"203.0.113.7"', "remote_addr"),
    ("ip", '"2001:db8::1"', "remote_addr"),
    ("method", '"GET"', "request_method"),
    ("verb", '"POST"', "request_method"),
    ("path", '"/a"', "request_uri"),
    ("url", '"/a?b=1"', "request_uri"),
    ("uri", '"/a"', "uri"),
    ("protocol", '"HTTP/2.0"', "server_protocol"),
    ("ua", '"curl/8"', "http_user_agent"),
    ("User-Agent", '"curl/8"', "http_user_agent"),
    ("agent", '"curl/8"', "http_user_agent"),
    ("referrer", '"https://a/"', "http_referer"),
    ("bytes", "157", "body_bytes_sent"),
    ("size", "157", "body_bytes_sent"),
    ("$bytes_sent", "400", "bytes_sent"),
    ("duration", "0.250", "request_time"),
    ("latency", '"0.250"', "request_time"),
    ("upstream_time", '"0.100, 0.002"', "upstream_response_time"),
    ("upstream", '"10.0.0.1:80"', "upstream_addr"),
    ("upstream_connect_time", '"0.001"', "upstream_connect_time"),
    ("xff", '"198.51.100.1"', "http_x_forwarded_for"),
    ("forwarded_for", '""', "http_x_forwarded_for"),
    ("req_id", '"8f3c"', "request_id"),
    ("request_id", '"8f3c"', "request_id"),
    ("host", '"shop.example.com"', "host"),
    ("server_name", '"shop"', "server_name"),
    ("http_x_user_id", '"u-17"', "http_x_user_id"),
    ("remote_user", '"alice"', "remote_user"),
])
def test_key_names(key: str, value: str, variable: str) -> None:
    base = {"time": '"2023-03-20T12:30:00+00:00"', "status": "200",
            "request": '"GET / HTTP/1.1"'}
    if variable in ("time_iso8601", "msec", "time_local"):
        base.pop("time")
    if variable == "status":
        base.pop("status")
    line = ("{" + ",".join(f'"{k}":{v}' for k, v in base.items()) + f',"{key}":{value}}}\n')
    found = _sniffed(line.encode())
    got = {k.key: k.variable for k in found.keys}
    assert got[key] == variable, found.keys
    assert f"{key} -> ${variable}" in found.notes()[0]
    _, stats = _parse(found.spec, line.encode())
    assert stats.parsed == 1, stats.rejects


@pytest.mark.parametrize("key", ["code", "status_code", "response", "response_code",
                                 "Status", "HTTP-Status"])
def test_status_aliases(key: str) -> None:
    line = f'{{"time":"2023-03-20T12:30:00Z","{key}":503,"request":"GET / HTTP/1.1"}}\n'
    cols, stats = _parse(_sniffed(line.encode()).spec, line.encode())
    assert cols["status"] == [503] and stats.parsed == 1


@pytest.mark.parametrize(("value", "ts", "offset"), [
    ('"2023-03-20T13:30:00+01:00"', T0, 3600),
    ('"2023-03-20T08:00:00-04:30"', T0, -16200),
    ('"2023-03-20T12:30:00Z"', T0, 0),
    ('"2023-03-20T12:30:00.250Z"', T0 + 0.25, 0),
    ('"2023-03-20T14:30:00.5+02:00"', T0 + 0.5, 7200),
    ('"20/Mar/2023:13:30:00 +0100"', T0, 3600),
    ("1679315400.123", T0 + 0.123, None),
    ('"1679315400.123"', T0 + 0.123, None),
    ("1679315400", T0, None),
])
@pytest.mark.parametrize("key", ["time", "@timestamp", "timestamp", "ts"])
def test_time_shapes(key: str, value: str, ts: float, offset: int | None) -> None:
    line = f'{{"{key}":{value},"status":200,"request":"GET / HTTP/1.1"}}\n'.encode()
    spec = _sniffed(line).spec
    for compact in (False, True):
        cols, stats = _parse(spec, line, compact)
        assert stats.parsed == 1
        assert math.isclose(float(cols["ts"][0]), ts, abs_tol=1e-6)
        assert stats.utc_offset_s == offset


def test_time_key_named_after_another_variable_goes_by_shape() -> None:
    # The key says $time_local, the value is $time_iso8601 (seen in hand-written configs).
    line = b'{"time_local":"2023-03-20T12:30:00+00:00","status":200,"uri":"/"}\n'
    found = _sniffed(line)
    assert found.keys[0] == lf.JsonKey("time_local", "time_iso8601")


def test_msec_and_iso_in_one_line_msec_gives_the_time() -> None:
    line = (b'{"time":"2023-03-20T13:30:00+01:00","msec":1679315400.750,"status":200,'
            b'"request":"GET / HTTP/1.1"}\n')
    cols, stats = _parse(_sniffed(line).spec, line)
    assert cols["ts"] == [T0 + 0.75] and stats.utc_offset_s == 3600


def test_unknown_and_duplicate_keys_are_kept_out(tmp_path: Path) -> None:
    line = (b'{"ts":"2023-03-20T12:30:00Z","@timestamp":"2023-03-20T12:30:00Z","level":"info",'
            b'"status":200,"request":"GET / HTTP/1.1","kubernetes_pod":"web-7f9","ms":12,'
            b'"flag":true,"gone":null,"ip":"not an address"}\n')
    found = _sniffed(line)
    assert {k.key: (k.variable, k.why) for k in found.keys if not k.variable} == {
        "@timestamp": (None, "same field as 'ts'"), "level": (None, "unknown key"),
        "kubernetes_pod": (None, "unknown key"), "ms": (None, "unknown key"),
        "flag": (None, "unknown key"), "gone": (None, "unknown key"),
        "ip": (None, "values do not look like $remote_addr")}
    assert found.notes()[1].startswith("JSON keys not used: @timestamp (same field as 'ts')")
    cols, stats = _parse(found.spec, line)
    assert stats.parsed == 1
    # Unused keys make no column; Nginx variables no column stands for do (--user-key).
    assert not [c for c in cols if c.startswith("var_")]
    line2 = line.replace(b'"level"', b'"cookie_session"')
    cols, _ = _parse(_sniffed(line2).spec, line2)
    assert cols["var_cookie_session"] == ["info"]


def test_json_shaped_format_without_escape_json_reads_hex_escapes() -> None:
    """Before Nginx 1.11.8 (no escape=json) a JSON-shaped log_format escapes '"' as \\x22."""
    line = (b'{"time":"2023-03-20T12:30:00+00:00","status":200,"request":"GET / HTTP/1.1",'
            b'"ua":"say \\x22hi\\x22 \\x5C","referer":"-"}\n')
    found = _sniffed(line)
    assert found.spec.startswith("escape=default {")
    cols, stats = _parse(found.spec, line)
    assert cols["user_agent"] == ['say "hi" \\'] and cols["referer"] == [""]
    # A JSON escape anywhere in the first lines means escape=json.
    assert _sniffed(line.replace(b"hi", b'\\"hi')).spec.startswith("escape=json {")


# --- what cannot be read says why -----------------------------------------------------------


@pytest.mark.parametrize(("line", "missing"), [
    (b'{"time":"2023-03-20T12:30:00Z","remote_addr":"1.2.3.4","request":"GET / HTTP/1.1"}',
     "the status"),
    (b'{"time":"2023-03-20T12:30:00Z","remote_addr":"1.2.3.4","status":200,"ua":"x"}',
     "the request"),
    (b'{"remote_addr":"1.2.3.4","status":200,"request":"GET / HTTP/1.1"}', "a time"),
    (b'{"time":"2023-03-20 12:30:00","status":200,"request":"GET / HTTP/1.1"}',
     "'time': '2023-03-20 12:30:00' is not a time Nginx writes"),
    (b'{"ts":1679315400123,"status":200,"request":"GET / HTTP/1.1"}',
     "'ts': '1679315400123' is not a time Nginx writes"),
])
def test_missing_field_is_named_with_the_fix(tmp_path: Path, line: bytes, missing: str
                                             ) -> None:
    (tmp_path / "access.log").write_bytes((line + b"\n") * 5)
    (src,) = discover([str(tmp_path)])
    assert src.parser is None
    assert missing in src.skip_reason and "--log-format" in src.skip_reason
    assert src.skip_reason.startswith("JSON access log without ")
    result = runner.invoke(app, ["build", str(tmp_path), "-o", str(tmp_path / "out")])
    assert result.exit_code == ExitCode.UNRECOGNISED
    assert missing in result.output and "Traceback" not in result.output


def test_nested_objects_are_refused_with_a_reason(tmp_path: Path) -> None:
    nested = (b'{"time":"2023-03-20T12:30:00Z","http":{"status":200,"method":"GET"},'
              b'"request":"GET / HTTP/1.1","status":200}\n')
    (tmp_path / "access.log").write_bytes(nested * 5)
    (src,) = discover([str(tmp_path)])
    assert src.parser is None and "nested objects (key 'http')" in src.skip_reason
    # One nested line in a flat file is one rejected line, with its reason.
    flat = render(MAIN_JSON, request(0))
    (tmp_path / "access.log").write_bytes(flat * 3 + nested + flat)
    ds = _read(tmp_path)
    (rep,) = ds.sources
    assert (rep.lines, rep.parsed, rep.rejected) == (5, 4, 1)
    assert rep.rejects[0].line == 4
    assert rep.rejects[0].reason == (
        "nested JSON value in key 'http' (Nginx writes flat objects)")


def test_json_that_is_no_access_log_is_left_alone() -> None:
    assert lf.sniff_json(b'{"a":1}\n{"a":2}\n') is not None
    assert not nginx_access.sniff(b'{"a":1}\n{"a":2}\n')
    assert lf.sniff_json(b"[1, 2]\n") is None
    assert lf.sniff_json(b"plain text\nmore\n") is None
    assert lf.sniff_json(_local(T0) + b" {}\n") is None


# --- key orders Nginx does not write --------------------------------------------------------


def test_lines_with_other_key_orders_are_read_one_by_one(tmp_path: Path) -> None:
    """A log shipper's JSON: keys reordered or left out on some lines. Those lines are
    rebuilt in the format's order; a line without a time or status is rejected."""
    head = b"".join(render(MAIN_JSON, request(i)) for i in range(5))
    odd = [
        # reordered, and without the upstream keys and with a key of its own
        b'{"status":503,"request":"GET /b HTTP/1.1","time":"2023-03-20T13:30:10+01:00",'
        b'"remote_addr":"203.0.113.9","shipper":"vector","http_user_agent":"k\\"6"}\n',
        # spaces after the colons and commas (json.dumps' style), null for a missing value
        b'{"time": "2023-03-20T13:30:11+01:00", "status": 200, "request": "GET /c HTTP/1.1",'
        b' "remote_addr": "203.0.113.9", "upstream_addr": null}\n',
        b'{"status":200,"request":"GET /d HTTP/1.1"}\n',  # no time: rejected
        b'{"time":"2023-03-20T13:30:12+01:00","request":"GET /e HTTP/1.1"}\n',  # no status
        b'{"time":"2023-03-20T13:30:13+01:00","status":"200","request":"GET /f HTTP/1.1",'
        b'"remote_addr":"203.0.113.9"}\n',  # a string where Nginx writes a number
    ]
    data = head + b"".join(odd)
    spec = _sniffed(data).spec
    for compact in (False, True):
        cols, stats = _parse(spec, data, compact)
        assert (stats.lines, stats.parsed, stats.rejected) == (10, 7, 3)
        assert [(r.line, r.reason) for r in stats.rejects] == [
            (8, "no key 'time'"), (9, "no key 'status'"),
            (10, "value of key 'status' is a string where the format has it bare")]
        assert any("another order" in n for n in stats.notes)
        assert list(cols["status"])[5:] == [503, 200]
    cols, _ = _parse(spec, data)
    assert cols["path"][5:] == ["/b", "/c"] and cols["user_agent"][5] == 'k"6'
    assert cols["upstream_addr"][6] == "" and cols["ts"][5] == T0 + 10


# --- --log-format and inspect ---------------------------------------------------------------


def test_log_format_given_overrides_the_keys(tmp_path: Path) -> None:
    host = tmp_path / "web-1"
    host.mkdir()
    _main_log(host / "access.log")
    # The user says upstream_response_time holds something else: their format wins.
    given = "escape=json " + MAIN_JSON.replace('"http_referer":"$http_referer"',
                                               '"http_referer":"$cookie_ref"')
    ds = _read(host, log_format=given)
    (src,) = ds.sources
    assert not any("JSON lines;" in n for n in src.notes)
    rows = ds.load_rows(T0 - 1, T0 + 100)
    assert "var_cookie_ref" in rows and (rows["referer"] == "").all()
    # A --log-format that fits other files but not this one: its keys are read.
    ds = _read(host, log_format="combined")
    (src,) = ds.sources
    assert src.notes[0] == "--log-format does not match its first lines"
    assert src.parsed == 39


def test_inspect_shows_which_key_became_which_variable(tmp_path: Path) -> None:
    host = tmp_path / "web-1"
    host.mkdir()
    lines = [render(MAIN_JSON[:-1] + ',"trace":"$_json_x"}', request(i) | {"_json_x": b"t"})
             for i in range(3)]
    (host / "access.log").write_bytes(b"".join(lines))
    result = runner.invoke(app, ["inspect", str(host)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "format nginx_access (JSON lines escape=json)" in out
    assert "lines 3 = parsed 3 + rejected 0 + skipped 0" in out
    assert ("time -> $time_iso8601, remote_addr -> $remote_addr, request -> $request, "
            "status -> $status, body_bytes_sent -> $body_bytes_sent") in out
    assert "http_x_forwarded_for -> $http_x_forwarded_for (--log-format overrides)" in out
    assert "JSON keys not used: trace (unknown key)" in out


def test_json_on_stdin(tmp_path: Path) -> None:
    data = b"".join(render(MAIN_JSON, request(i)) for i in range(3))
    result = runner.invoke(app, ["inspect", "-"], input=data)
    assert result.exit_code == 0, result.output
    assert "lines 3 = parsed 3" in result.output and "JSON lines escape=json" in result.output


def test_fallback_rows_take_the_time_by_name() -> None:
    """A block with a bad line goes line by line; the time is found by name there, not as
    the first capture (here $status comes first)."""
    fmt = lf.compile_format('$status [$time_local] "$request"')
    data = (b'200 [20/Mar/2023:12:30:00 +0000] "GET / HTTP/1.1"\nbad line\n'
            b'502 [20/Mar/2023:12:30:01 +0000] "GET / HTTP/1.1"\n')
    stats = ParseStats()
    chunks = list(fmt.compact_chunks([data], stats, ParseOptions(compact=True)))
    assert (stats.parsed, stats.rejected) == (2, 1)
    assert list(chunks[0]["status"]) == [200, 502]


# --- property: a record through a sniffed format comes back as it was -----------------------

_NAMES: dict[str, list[str]] = {
    "remote_addr": ["remote_addr", "$remote_addr", "client_ip", "Client-IP", "clientip", "ip",
                    "client", "remote_ip"],
    "request": ["request", "$request"],
    "status": ["status", "$status", "code", "status_code", "response", "response_code"],
    "body_bytes_sent": ["body_bytes_sent", "bytes", "size"],
    "request_time": ["request_time", "response_time", "duration", "latency"],
    "upstream_response_time": ["upstream_response_time", "upstream_time"],
    "upstream_addr": ["upstream_addr", "upstream"],
    "http_user_agent": ["http_user_agent", "ua", "user_agent", "agent", "User.Agent"],
    "http_referer": ["http_referer", "referer", "referrer"],
    "http_x_forwarded_for": ["http_x_forwarded_for", "xff", "x_forwarded_for",
                             "forwarded_for"],
}
_SPLIT = {"request_method": ["method", "verb", "request_method"],
          "request_uri": ["path", "url", "request_uri"],
          "server_protocol": ["protocol", "server_protocol"]}
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30).filter(
    lambda s: s != "-")
_WORD = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF,
                              blacklist_characters='"\\'), min_size=1, max_size=12)


@st.composite
def _record(draw: st.DrawFn) -> tuple[bytes, dict[str, Any], bytes]:
    """A request as a JSON line (random key names, order, spacing, time shape and unknown
    keys), the columns it must give, and the same line with its keys in reverse order."""
    epoch = draw(st.integers(10**9, 2**32 - 1))
    off = draw(st.integers(-14 * 4, 14 * 4)) * 900
    kind = draw(st.sampled_from(["time_iso8601", "time_local", "msec"]))
    ms = draw(st.integers(0, 999))
    method = draw(st.sampled_from(["GET", "POST", "DELETE"]))
    path = "/" + draw(_WORD).replace(" ", "")
    want: dict[str, Any] = {
        "ts": epoch + ms / 1000 if kind == "msec" else float(epoch),
        "client": draw(st.sampled_from(["203.0.113.7", "2001:db8::1", "10.1.2.3"])),
        "method": method, "path": path, "protocol": "HTTP/1.1",
        "status": draw(st.integers(100, 599)), "bytes_sent": draw(st.integers(0, 10**7)),
        "user_agent": draw(_TEXT), "referer": draw(_TEXT), "forwarded_for": draw(_TEXT),
        "request_time": draw(st.integers(0, 10**5)) / 1000,
        "upstream_time": draw(st.integers(0, 10**5)) / 1000, "upstream_addr": "10.0.0.1:80"}
    raw: dict[str, tuple[bytes, bool]] = {
        "remote_addr": (want["client"].encode(), True),
        "status": (b"%d" % want["status"], False),
        "body_bytes_sent": (b"%d" % want["bytes_sent"], False),
        "request_time": (b"%.3f" % want["request_time"], False),
        "upstream_response_time": (b"%.3f" % want["upstream_time"], True),
        "upstream_addr": (b"10.0.0.1:80", True),
        "http_user_agent": (want["user_agent"].encode(), True),
        "http_referer": (want["referer"].encode(), True),
        "http_x_forwarded_for": (want["forwarded_for"].encode(), True)}
    if draw(st.booleans()):
        raw["request"] = (f"{method} {path} HTTP/1.1".encode(), True)
    else:
        raw["request_method"] = (method.encode(), True)
        raw["request_uri"] = (path.encode(), True)
        raw["server_protocol"] = (b"HTTP/1.1", True)
    members: list[tuple[str, bytes]] = []
    for var, (value, quoted) in raw.items():
        key = draw(st.sampled_from((_NAMES | _SPLIT)[var]))
        text = nginx_json(value) if quoted else value
        members.append((key, b'"' + text + b'"' if quoted else text))
    time_key = draw(st.sampled_from(["time", "@timestamp", "timestamp", "ts", kind]))
    if kind == "msec":
        stamp = b"%d.%03d" % (epoch, ms)
    else:
        stamp = b'"' + (_iso if kind == "time_iso8601" else _local)(epoch, off) + b'"'
    members.append((time_key, stamp))
    for i in range(draw(st.integers(0, 3))):  # keys that stand for no Nginx variable
        members.append((f"x_custom_{i}", draw(st.sampled_from([b"1", b"null", b'"a,b"',
                                                                 b'"}"', b"true"]))))
    order = draw(st.permutations(range(len(members))))
    sep = draw(st.sampled_from([(b":", b","), (b": ", b", ")]))
    parts = [b'"' + members[i][0].encode() + b'"' + sep[0] + members[i][1] for i in order]
    return (b"{" + sep[1].join(parts) + b"}\n", want,
            b"{" + sep[1].join(reversed(parts)) + b"}\n")


@settings(max_examples=300, deadline=None)
@given(case=_record())
def test_record_through_a_sniffed_format_comes_back(
        case: tuple[bytes, dict[str, Any], bytes]) -> None:
    line, want, reordered = case
    spec = _sniffed(line).spec
    # The line itself (block path), and its keys reversed (rebuilt one by one): same row.
    for data in (line, reordered):
        cols, stats = _parse(spec, data)
        assert stats.parsed == 1, (spec, data, stats.rejects)
        for col, value in want.items():
            got = cols[col][0]
            if isinstance(value, float):
                assert math.isclose(got, value, abs_tol=1e-6), (col, got, value)
            else:
                assert got == value, (col, got, value, data)
        compact, cstats = _parse(spec, data, compact=True)
        assert cstats.parsed == 1 and int(compact["status"][0]) == want["status"]
        assert math.isclose(float(compact["ts"][0]), want["ts"], abs_tol=1e-6)


# --- end to end: the recorded seed outage, its access logs rewritten as Nginx JSON ----------


def _as_json(src: Path, dst: Path) -> int:
    """The access log ``src`` (combined/main) rewritten line for line in ``MAIN_JSON``."""
    stats = ParseStats()
    out: list[bytes] = []
    with open(src, "rb") as fh:
        for chunk in nginx_access.parse(fh, stats, ParseOptions()):
            for i in range(len(chunk["ts"])):
                row = {c: chunk[c][i] for c in REQUEST_COLUMNS}
                req = " ".join(x for x in (row["method"], row["path"], row["protocol"]) if x)
                out.append(render(MAIN_JSON, {
                    "time_iso8601": _iso(row["ts"]), "remote_addr": row["client"].encode(),
                    "request": req.encode(), "status": b"%d" % row["status"],
                    "body_bytes_sent": b"%d" % max(row["bytes_sent"], 0),
                    "request_time": b"0.005", "upstream_addr": b"", "upstream_status": b"",
                    "upstream_response_time": b"",
                    "http_referer": row["referer"].encode(),
                    "http_user_agent": row["user_agent"].encode(),
                    "http_x_forwarded_for": row["forwarded_for"].encode()}))
    dst.write_bytes(b"".join(out))
    return stats.parsed


def test_seed_outage_logged_as_json_finds_the_same_incident(tmp_path: Path) -> None:
    folder = tmp_path / "seed-json"
    for host in sorted(p for p in SEED.iterdir() if p.is_dir()):
        (folder / host.name).mkdir(parents=True)
        for f in host.iterdir():
            if f.name == "access.log":
                _as_json(f, folder / host.name / "access.log")
            else:
                shutil.copy(f, folder / host.name / f.name)
    data = timeline.read([str(folder)], timeline.ReadOptions(jobs=1))
    access = [s for s in data.sources if s.format == "nginx_access"]
    assert len(access) == 5 and all(s.variant == "JSON lines escape=json" for s in access)
    assert all(s.rejected == 0 and s.parsed == s.lines for s in access)
    json_inc = timeline.build(data).incidents
    ref_inc = timeline.build(timeline.read([str(SEED)], timeline.ReadOptions(jobs=1))).incidents
    assert len(json_inc) == len(ref_inc) == 1
    got, ref = json_inc[0], ref_inc[0]
    assert (got.start, got.end) == (ref.start, ref.end)
    assert (got.impact.users_affected, got.impact.users_total) == (
        ref.impact.users_affected, ref.impact.users_total)
    assert got.causes[0].kind == ref.causes[0].kind and got.causes[0].host == "web-3"
    # And through the CLI, as the user of issue #11 ran it.
    result = runner.invoke(app, ["build", str(folder), "-o", str(tmp_path / "report"), "-j1"])
    assert result.exit_code == 0, result.output
    assert "incident 1:" in result.output and "no incident found" not in result.output
