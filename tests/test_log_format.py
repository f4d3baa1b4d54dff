"""The log_format compiler: predefined and custom formats, escapes, upstream lists, samples."""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import log_format, nginx_access
from parsers.base import (
    MAX_REJECT_SAMPLES,
    REQUEST_COLUMNS,
    BadLineError,
    ParseOptions,
    ParseStats,
)
from parsers.log_format import (
    PREDEFINED,
    LogFormat,
    compile_format,
    first_lines_fail,
    guess_format,
    parse_with,
    split_upstream,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "nginx-access"
NAN = math.nan

Cols = dict[str, list[Any]]


def _parse(fmt: LogFormat, data: bytes | Iterable[bytes], **kw: Any) -> tuple[Cols, ParseStats]:
    lines = data.splitlines(keepends=True) if isinstance(data, bytes) else data
    stats = ParseStats()
    cols: Cols = {c: [] for c in REQUEST_COLUMNS}
    extra = {f"var_{v}" for v in fmt.variables}
    for chunk in parse_with(fmt, lines, stats, ParseOptions(**kw)):
        # The request columns in order, then a var_<name> column for each other variable.
        assert tuple(chunk)[: len(REQUEST_COLUMNS)] == REQUEST_COLUMNS
        assert set(tuple(chunk)[len(REQUEST_COLUMNS):]) <= extra
        for k, v in chunk.items():
            cols.setdefault(k, []).extend(v)
    stats.check()
    return cols, stats


def _rows(cols: Cols) -> list[dict[str, Any]]:
    return [{c: cols[c][i] for c in REQUEST_COLUMNS} for i in range(len(cols["ts"]))]


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN and floats compare to the microsecond."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, abs_tol=1e-6)
    return bool(a == b)


def _assert_row(got: dict[str, Any], **want: Any) -> None:
    defaults: dict[str, Any] = {
        "client": "",
        "remote_user": "",
        "method": "",
        "path": "",
        "protocol": "",
        "status": 0,
        "bytes_sent": -1,
        "referer": "",
        "user_agent": "",
        "forwarded_for": "",
        "request_time": NAN,
        "upstream_addr": "",
        "upstream_status": "",
        "upstream_time": NAN,
        "vhost": "",
    }
    expected = {**defaults, **want}
    assert set(got) == set(REQUEST_COLUMNS) | {k for k in got if k.startswith("var_")}
    bad = {k: (got[k], v) for k, v in expected.items() if not _same(got[k], v)}
    assert not bad, bad


def _utc(*t: int) -> float:
    return float(calendar.timegm((*t, 0, 0, 0)))


# --- predefined formats ---------------------------------------------------------------------


def test_predefined_formats() -> None:
    combined = (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent"'
    )
    assert PREDEFINED["combined"] == combined
    assert PREDEFINED["main"] == combined + ' "$http_x_forwarded_for"'
    assert PREDEFINED["common"] == (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'
    )
    assert PREDEFINED["vhost_combined"] == "$host:$server_port " + combined
    assert PREDEFINED["ingress_nginx"].startswith(combined + " $request_length $request_time")
    assert compile_format("combined").name == "combined"
    assert compile_format(PREDEFINED["main"]).name == "main"
    assert compile_format("combined").variables == [
        "remote_addr",
        "remote_user",
        "time_local",
        "request",
        "status",
        "body_bytes_sent",
        "http_referer",
        "http_user_agent",
    ]
    assert compile_format("combined").regex.groups == 8


COMBINED_LINES = (
    b'203.0.113.7 - - [20/Mar/2023:12:29:58 +0000] "GET /products/42 HTTP/1.1" 200 5123 '
    b'"https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)"\n'
    b"2001:db8::17 - alice [20/Mar/2023:13:30:03 +0100] "
    b'"GET /\\xD0\\xBF\\xD1\\x80\\xD0\\xB8?q=\\x22x\\x22 HTTP/1.1" 404 153 "-" '
    b'"Mozilla/5.0 \\x22quoted\\x22 \\x5Cback"\n'
    b'198.51.100.4 - - [20/Mar/2023:12:30:04 +0000] "\\x16\\x03\\x01\\x00\\xA5\\x01\\x00\\x00" '
    b'400 157 "-" "-"\n'
    b'10.0.0.2, 203.0.113.9 - - [20/Mar/2023:12:30:05 +0000] "GET / HTTP/1.1" 200 612 "-" '
    b'"Mozilla/5.0"\r\n'
    b'203.0.113.11 - - [20/Mar/2023:12:30:06 +0000] "-" 000 0 "-" "-"\n'
    b'127.0.0.1 - - [20/Mar/2023:12:30:07 -0700] "" 400 0 "-" "-"\n'
    b'203.0.113.12 - - [20/Mar/2023:12:30:08 +0000] "GET /x HTTP/1.0" 444 0 "-" "-"\n'
    b'203.0.113.13 - - [20/Mar/2023:12:30:09 +0000] "GET /" 499 0 "-" "-"'
)


def test_combined_exact_rows() -> None:
    cols, stats = _parse(compile_format("combined"), COMBINED_LINES)
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (8, 8, 0, 0)
    rows = _rows(cols)
    _assert_row(
        rows[0],
        ts=_utc(2023, 3, 20, 12, 29, 58),
        client="203.0.113.7",
        method="GET",
        path="/products/42",
        protocol="HTTP/1.1",
        status=200,
        bytes_sent=5123,
        referer="https://shop.example.com/",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        line=1,
    )
    # IPv6 client, remote_user, +0100 to UTC, \xHH escapes decoded (UTF-8, quotes, backslash).
    _assert_row(
        rows[1],
        ts=_utc(2023, 3, 20, 12, 30, 3),
        client="2001:db8::17",
        remote_user="alice",
        method="GET",
        path='/при?q="x"',
        protocol="HTTP/1.1",
        status=404,
        bytes_sent=153,
        user_agent='Mozilla/5.0 "quoted" \\back',
        line=2,
    )
    # A TLS handshake on the plain port: escaped binary stays in path; invalid UTF-8 kept as
    # a backslash escape by decode().
    _assert_row(
        rows[2],
        ts=_utc(2023, 3, 20, 12, 30, 4),
        client="198.51.100.4",
        path="\x16\x03\x01\x00\\xa5\x01\x00\x00",
        status=400,
        bytes_sent=157,
        line=3,
    )
    # A forwarded-for chain in $remote_addr: the last address is the client; CRLF accepted.
    _assert_row(
        rows[3],
        ts=_utc(2023, 3, 20, 12, 30, 5),
        client="203.0.113.9",
        method="GET",
        path="/",
        protocol="HTTP/1.1",
        status=200,
        bytes_sent=612,
        user_agent="Mozilla/5.0",
        line=4,
    )
    _assert_row(
        rows[4],
        ts=_utc(2023, 3, 20, 12, 30, 6),
        client="203.0.113.11",
        path="-",
        status=0,
        bytes_sent=0,
        line=5,
    )
    _assert_row(
        rows[5],
        ts=_utc(2023, 3, 20, 19, 30, 7),
        client="127.0.0.1",
        path="",
        status=400,
        bytes_sent=0,
        line=6,
    )
    assert (cols["status"][6], cols["protocol"][6]) == (444, "HTTP/1.0")
    assert (cols["status"][7], cols["method"][7], cols["path"][7], cols["protocol"][7]) == (
        499,
        "GET",
        "/",
        "",
    )
    assert stats.utc_offset_s == 0
    assert stats.variant == "combined"
    assert stats.first_ts == _utc(2023, 3, 20, 12, 29, 58)
    assert stats.last_ts == _utc(2023, 3, 20, 19, 30, 7)


def test_combined_agrees_with_the_hand_written_parser() -> None:
    """Where both parse a line without escapes, the chunks are identical."""
    data = b"".join(
        ln for ln in COMBINED_LINES.splitlines(keepends=True) if b"\\x" not in ln
    ).replace(b"\r\n", b"\n")
    ours, _ = _parse(compile_format("combined"), data)
    stats = ParseStats()
    theirs: Cols = {c: [] for c in REQUEST_COLUMNS}
    for chunk in nginx_access.parse(data.splitlines(keepends=True), stats, ParseOptions()):
        for k, v in chunk.items():
            theirs[k].extend(v)
    assert len(ours["ts"]) == len(theirs["ts"]) == 6
    for c in REQUEST_COLUMNS:
        assert all(_same(a, b) for a, b in zip(ours[c], theirs[c], strict=True)), c


def test_main_and_common() -> None:
    main = compile_format("main")
    cols, _ = _parse(
        main,
        b'10.0.0.10 - - [20/Mar/2023:12:30:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "curl/8" '
        b'"198.51.100.7, 10.0.0.3"\n'
        b'10.0.0.10 - - [20/Mar/2023:12:30:01 +0000] "GET /b HTTP/1.1" 200 1 "-" "curl/8" "-"\n',
    )
    assert cols["forwarded_for"] == ["198.51.100.7, 10.0.0.3", ""]
    assert cols["client"] == ["10.0.0.10", "10.0.0.10"]
    cols, stats = _parse(
        compile_format("common"),
        b'192.0.2.1 - bob [20/Mar/2023:12:30:00 +0000] "POST /login HTTP/1.1" 302 -\n'
        b'192.0.2.1 - - [20/Mar/2023:12:30:00 +0000] "GET / HTTP/1.1" 200 10 "-" "curl"\n',
    )
    _assert_row(
        _rows(cols)[0],
        ts=_utc(2023, 3, 20, 12, 30, 0),
        client="192.0.2.1",
        remote_user="bob",
        method="POST",
        path="/login",
        protocol="HTTP/1.1",
        status=302,
        bytes_sent=-1,
        line=1,
    )
    assert [(r.line, r.reason) for r in stats.rejects] == [(2, "does not match log_format common")]


def test_vhost_combined() -> None:
    cols, stats = _parse(
        compile_format("vhost_combined"),
        b'shop.example.com:443 203.0.113.5 - - [20/Mar/2023:12:30:00 +0000] "GET / HTTP/2.0" '
        b'200 612 "-" "Mozilla/5.0"\n'
        b'[2001:db8::1]:80 2001:db8::17 - - [20/Mar/2023:12:30:01 +0000] "GET / HTTP/1.1" '
        b'301 0 "-" "-"\n'
        b'203.0.113.5 - - [20/Mar/2023:12:30:00 +0000] "GET / HTTP/2.0" 200 612 "-" "-"\n',
    )
    assert cols["vhost"] == ["shop.example.com", "[2001:db8::1]"]
    assert cols["client"] == ["203.0.113.5", "2001:db8::17"]
    assert cols["protocol"] == ["HTTP/2.0", "HTTP/1.1"]
    assert stats.rejected == 1


INGRESS_LINE = (
    b'192.168.64.14 - - [07/Feb/2020:12:02:42 +0000] "GET /v2/some HTTP/1.1" 200 61 "-" '
    b'"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.14; rv:72.0) Gecko/20100101 Firefox/72.0" 348 '
    b"0.001 [default-web2-8080] [] 172.17.0.6:8080, 172.17.0.7:8080 61, 100 0.100, 0.004 "
    b"502, 200 835136ae24486dbb4156dcbe21f5d402\n"
)


def test_ingress_nginx_line() -> None:
    cols, _ = _parse(compile_format("ingress_nginx"), INGRESS_LINE)
    _assert_row(
        _rows(cols)[0],
        ts=_utc(2020, 2, 7, 12, 2, 42),
        client="192.168.64.14",
        method="GET",
        path="/v2/some",
        protocol="HTTP/1.1",
        status=200,
        bytes_sent=61,
        user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10.14; rv:72.0) Gecko/20100101 "
        "Firefox/72.0",
        request_time=0.001,
        upstream_addr="172.17.0.6:8080, 172.17.0.7:8080",
        upstream_status="502, 200",
        upstream_time=0.104,
        line=1,
    )


@pytest.mark.skipif(not SHARED.exists(), reason="shared samples not present")
def test_ingress_nginx_shared_sample() -> None:
    path = SHARED / "elastic-beats" / "ingress_controller_test_test.log"
    assert guess_format(path.read_bytes()) == "ingress_nginx"
    with open(path, "rb") as fh:
        cols, stats = _parse(compile_format("ingress_nginx"), fh)
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (29, 29, 0, 0)
    # Bogus methods stay methods (they are alphabetic), "-" placeholders become absent.
    assert cols["method"][4:6] == ["PATCHp", "geti"]
    assert cols["upstream_addr"][4] == "" and cols["upstream_status"][4] == ""
    assert math.isnan(cols["upstream_time"][4])
    assert cols["client"][24] == "2a02:cf40::" and cols["remote_user"][24] == (
        "remote_monitoring_user"
    )
    assert cols["upstream_addr"][24] == "[2a02:cf40::]:9200"
    # The deliberately broken IPv6 upstream is kept as opaque text.
    assert cols["upstream_addr"][26] == "[2a02:cf40::7]:5000, [2a02:cf40::::::::4e36]:500000000"
    assert cols["upstream_status"][26] == "502, 502"
    assert cols["upstream_addr"][27] == "unix:/var/run/php-fpm.sock"
    # "0.100, -": the unmeasured retry does not count.
    assert cols["upstream_time"][28] == pytest.approx(0.1)
    assert cols["upstream_status"][28] == "200, -"


# --- custom formats -------------------------------------------------------------------------

UPSTREAM_FMT = (
    '$remote_addr [$time_local] "$request" $status $body_bytes_sent $request_time '
    "$upstream_addr $upstream_status $upstream_response_time $upstream_connect_time"
)
UPSTREAM_LINES = [
    # Retries inside a group, then another group (error_page / X-Accel-Redirect).
    b'203.0.113.7 [20/Mar/2023:12:30:00 +0000] "GET /api HTTP/1.1" 200 17 0.021 '
    b"10.0.0.1:80, 10.0.0.2:80 : 10.0.1.1:80 502, 200 : 200 -, 0.004 : 0.010 -, 0.001 : 0.001\n",
    b'2001:db8::17 [20/Mar/2023:12:30:01 +0000] "GET /v6 HTTP/2.0" 200 5 0.003 '
    b"[2001:db8::80]:8080 200 0.002 0.000\n",
    b'203.0.113.8 [20/Mar/2023:12:30:02 +0000] "POST /php HTTP/1.1" 200 9 0.050 '
    b"unix:/run/app.sock 200 0.049 0.000\n",
    # Client gave up: 499, upstream never answered; no upstream at all; 000 and 444.
    b'203.0.113.9 [20/Mar/2023:12:30:03 +0000] "GET /slow HTTP/1.1" 499 0 30.001 '
    b"10.0.0.1:80 - - 0.001\n",
    b'203.0.113.10 [20/Mar/2023:12:30:04 +0000] "GET /static HTTP/1.1" 000 0 0.000 - - - -\n',
    b'203.0.113.11 [20/Mar/2023:12:30:05 +0000] "GET /block HTTP/1.1" 444 0 0.000 - - - -\n',
    b'198.51.100.4 [20/Mar/2023:12:30:06 +0000] "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC" '
    b"400 157 0.012 - - - -\n",
    b'198.51.100.5 [20/Mar/2023:12:30:07 +0000] "-" 400 0 0.000 - - - -\n',
    b'198.51.100.6 [20/Mar/2023:12:30:08 +0000] "" 400 0 0.000 - - - -\n',
    b'198.51.100.7 [20/Mar/2023:12:30:09 +0000] "GET / HTTP/1.1" 200 0.000 - - - -\n',
]


def test_custom_format_with_upstream_lists() -> None:
    fmt = compile_format(UPSTREAM_FMT)
    assert fmt.name is None
    cols, stats = _parse(fmt, UPSTREAM_LINES)
    assert (stats.lines, stats.parsed, stats.rejected) == (10, 9, 1)
    assert stats.rejects[0].line == 10
    assert stats.rejects[0].reason == (
        "does not match log_format '$remote_addr [$time_local] \"$request\" $s...'"
    )
    rows = _rows(cols)
    _assert_row(
        rows[0],
        ts=_utc(2023, 3, 20, 12, 30, 0),
        client="203.0.113.7",
        method="GET",
        path="/api",
        protocol="HTTP/1.1",
        status=200,
        bytes_sent=17,
        request_time=0.021,
        upstream_addr="10.0.0.1:80, 10.0.0.2:80 : 10.0.1.1:80",
        upstream_status="502, 200 : 200",
        upstream_time=0.014,
        line=1,
    )
    assert rows[1]["client"] == "2001:db8::17"
    assert rows[1]["upstream_addr"] == "[2001:db8::80]:8080"
    assert rows[1]["upstream_time"] == pytest.approx(0.002)
    assert rows[2]["upstream_addr"] == "unix:/run/app.sock"
    _assert_row(
        rows[3],
        ts=_utc(2023, 3, 20, 12, 30, 3),
        client="203.0.113.9",
        method="GET",
        path="/slow",
        protocol="HTTP/1.1",
        status=499,
        bytes_sent=0,
        request_time=30.001,
        upstream_addr="10.0.0.1:80",
        line=4,
    )
    assert [r["status"] for r in rows[4:]] == [0, 444, 400, 400, 400]
    assert all(r["upstream_addr"] == "" and math.isnan(r["upstream_time"]) for r in rows[4:])
    assert rows[6]["path"] == "\x16\x03\x01\x02\x00\x01\x00\x01\\xfc"
    assert rows[6]["method"] == ""
    assert (rows[7]["path"], rows[8]["path"]) == ("-", "")


def test_split_upstream() -> None:
    assert split_upstream(b"10.0.0.1:80, 10.0.0.2:80 : 10.0.1.1:80") == [
        [b"10.0.0.1:80", b"10.0.0.2:80"],
        [b"10.0.1.1:80"],
    ]
    assert split_upstream(b"-, 0.004 : 0.010") == [[b"-", b"0.004"], [b"0.010"]]
    assert split_upstream(b"[2001:db8::1]:80") == [[b"[2001:db8::1]:80"]]
    assert split_upstream(b"-") == [[b"-"]]
    assert split_upstream(b"") == []


def test_request_parts_from_separate_variables() -> None:
    fmt = compile_format(
        '$remote_addr [$time_local] "$request_method $request_uri $server_protocol" $status '
        "$bytes_sent $server_name"
    )
    cols, _ = _parse(
        fmt,
        b'192.0.2.1 [20/Mar/2023:12:30:00 +0000] "GET /a?b=\\xC3\\xA9 HTTP/1.1" 200 300 '
        b"shop.example.com\n",
    )
    assert (cols["method"], cols["path"], cols["protocol"]) == (["GET"], ["/a?b=é"], ["HTTP/1.1"])
    assert (cols["bytes_sent"], cols["vhost"]) == ([300], ["shop.example.com"])


def test_msec_and_iso8601() -> None:
    cols, stats = _parse(
        compile_format('$msec $remote_addr "$request" $status'),
        b'1679315400.123 192.0.2.1 "GET / HTTP/1.1" 200\n'
        b'1679315401.999 192.0.2.1 "GET / HTTP/1.1" 503\n',
    )
    assert cols["ts"] == [1679315400.123, 1679315401.999]
    assert stats.utc_offset_s is None
    cols, stats = _parse(
        compile_format('$time_iso8601 $remote_addr "$request" $status'),
        b'2023-03-20T13:30:00+01:00 192.0.2.1 "GET / HTTP/1.1" 200\n'
        b'2023-03-20T12:30:01+00:00 192.0.2.1 "GET / HTTP/1.1" 200\n'
        b'2023-03-20T07:00:02-05:30 192.0.2.1 "GET / HTTP/1.1" 200\n'
        b'2023-13-20T12:30:03+00:00 192.0.2.1 "GET / HTTP/1.1" 200\n',
    )
    assert cols["ts"] == [
        _utc(2023, 3, 20, 12, 30, 0),
        _utc(2023, 3, 20, 12, 30, 1),
        _utc(2023, 3, 20, 12, 30, 2),
    ]
    assert stats.utc_offset_s == 3600
    assert [(r.line, r.reason) for r in stats.rejects] == [(4, "bad timestamp")]
    # $msec gives the time; $time_local only the offset.
    cols, stats = _parse(
        compile_format("$msec [$time_local] $status"),
        b"1679315400.500 [20/Mar/2023:13:30:00 +0100] 200\n",
    )
    assert cols["ts"] == [1679315400.5] and stats.utc_offset_s == 3600


def test_bad_lines_blank_and_error_lines() -> None:
    data = (
        b'203.0.113.7 - - [20/Mar/2023:12:30:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'
        b"\n"
        b"2023/03/20 12:30:02 [error] 812#812: *1 connect() failed (111: Connection refused)\n"
        b'203.0.113.7 - - [20/Mar/2023:12:30:00 +0000] "GET / HTTP/1.1" 200 1 "-"\n'
        b'203.0.113.7 - - [32/Mar/2023:12:30:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'
        b'203.0.113.7 - - [20/Mar/2023:12:30:01 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'
    )
    cols, stats = _parse(compile_format("combined"), data)
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (6, 2, 2, 2)
    assert stats.skip_reasons == {"blank line": 1, "error-log line in an access log": 1}
    assert sorted((r.line, r.reason) for r in stats.rejects) == [
        (4, "does not match log_format combined"),
        (5, "bad timestamp"),
    ]
    assert cols["line"] == [1, 6]
    with pytest.raises(BadLineError, match=r"a.log:4: does not match log_format combined"):
        _parse(compile_format("combined"), data, on_bad_lines="error", display_path="a.log")


def test_chunks_and_time_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_format, "CHUNK_ROWS", 3)
    lines = [
        b'192.0.2.%d - - [20/Mar/2023:12:30:0%d +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'
        % (i, i // 4)
        for i in range(10)
    ]
    stats = ParseStats()
    chunks = list(parse_with(compile_format("combined"), lines, stats, ParseOptions()))
    assert [len(c["ts"]) for c in chunks] == [3, 3, 3, 1]
    assert [ln for c in chunks for ln in c["line"]] == list(range(1, 11))
    assert stats.parsed == 10 and stats.lines == 10


def test_compile_errors() -> None:
    with pytest.raises(ValueError, match="offset 6"):
        compile_format("$msec $ x")
    with pytest.raises(ValueError, match="no time variable"):
        compile_format('$remote_addr "$request"')
    with pytest.raises(ValueError, match="escape"):
        compile_format("$msec", escape="xml")  # type: ignore[arg-type]
    # ${name} and upper-case names are Nginx syntax too.
    assert compile_format("${msec}x$Status").variables == ["msec", "status"]


# --- escapes ---------------------------------------------------------------------------------


def nginx_escape_default(value: bytes) -> bytes:
    """What ngx_http_log_escape writes for a variable under escape=default."""
    out = bytearray()
    for b in value:
        if b < 0x20 or b in (0x22, 0x5C) or b >= 0x7F:
            out += b"\\x%02X" % b
        else:
            out.append(b)
    return bytes(out)


_JSON_SHORT = {
    0x22: b'\\"',
    0x5C: b"\\\\",
    0x0A: b"\\n",
    0x0D: b"\\r",
    0x09: b"\\t",
    0x08: b"\\b",
    0x0C: b"\\f",
}


def nginx_escape_json(value: bytes) -> bytes:
    """What ngx_escape_json writes: bytes >= 0x80 (valid UTF-8 or not) are copied raw."""
    out = bytearray()
    for b in value:
        if b in _JSON_SHORT:
            out += _JSON_SHORT[b]
        elif b < 0x20:
            out += b"\\u%04x" % b
        else:
            out.append(b)
    return bytes(out)


def test_escape_default_decoding() -> None:
    fmt = compile_format('[$time_local] "$http_user_agent" "$request"')
    cols, _ = _parse(
        fmt,
        b'[20/Mar/2023:12:30:00 +0000] "a\\x22b\\x5Cc \\xD0\\xBF\\xD1\\x80 \\xFF\\x0A" '
        b'"GET /%D0%BF HTTP/1.1"\n',
    )
    # \x22 and UTF-8 decoded; a lone \xFF is not UTF-8 and stays a visible escape; percent
    # encoding is what the client sent and is left alone.
    assert cols["user_agent"] == ['a"b\\c пр \\xff\n']
    assert cols["path"] == ["/%D0%BF"]


def test_escape_none() -> None:
    # Nothing is escaped: quotes and UTF-8 arrive raw, a missing variable is empty.
    fmt = compile_format('[$time_local] "$request" "$http_user_agent" "$http_referer"', "none")
    cols, stats = _parse(
        fmt,
        b'[20/Mar/2023:12:30:00 +0000] "GET /caf\xc3\xa9"x HTTP/1.1" "UA \\ "q"" ""\n',
    )
    assert stats.parsed == 1 and stats.variant.endswith("escape=none")
    assert (cols["method"], cols["path"], cols["protocol"]) == (["GET"], ['/café"x'], ["HTTP/1.1"])
    assert cols["user_agent"] == ['UA \\ "q"'] and cols["referer"] == [""]


JSON_FMT = (
    '{"time":"$time_iso8601","addr":"$remote_addr","user":"$remote_user","req":"$request",'
    '"status":$status,"bytes":$body_bytes_sent,"ref":"$http_referer","ua":"$http_user_agent",'
    '"rt":$request_time,"ua_addr":"$upstream_addr","us":"$upstream_status",'
    '"urt":$upstream_response_time}'
)


def test_escape_json_raw_bytes_and_unquoted_lists() -> None:
    fmt = compile_format(JSON_FMT, escape="json")
    data = (
        b'{"time":"2023-03-20T12:30:00+00:00","addr":"203.0.113.7","user":"","req":'
        b'"GET /caf\xc3\xa9/\xff HTTP/1.1","status":502,"bytes":157,"ref":"","ua":'
        b'"say \\"hi\\" \\\\ \\u0001\\n\\u00e9","rt":0.012,"ua_addr":"10.0.0.1:80, 10.0.0.2:80",'
        b'"us":"502, 502","urt":0.001, 0.002}\n'
        b'{"time":"2023-03-20T12:30:01+00:00","addr":"203.0.113.8","user":"","req":'
        b'"GET / HTTP/1.1","status":200,"bytes":5,"ref":"","ua":"","rt":0.000,"ua_addr":"",'
        b'"us":"","urt":}\n'
    )
    cols, stats = _parse(fmt, data)
    assert stats.parsed == 2 and stats.variant.endswith("escape=json")
    rows = _rows(cols)
    _assert_row(
        rows[0],
        ts=_utc(2023, 3, 20, 12, 30, 0),
        client="203.0.113.7",
        method="GET",
        path="/café/\\xff",
        protocol="HTTP/1.1",
        status=502,
        bytes_sent=157,
        user_agent='say "hi" \\ \x01\né',
        request_time=0.012,
        upstream_addr="10.0.0.1:80, 10.0.0.2:80",
        upstream_status="502, 502",
        upstream_time=0.003,
        line=1,
    )
    _assert_row(
        rows[1],
        ts=_utc(2023, 3, 20, 12, 30, 1),
        client="203.0.113.8",
        method="GET",
        path="/",
        protocol="HTTP/1.1",
        status=200,
        bytes_sent=5,
        request_time=0.0,
        line=2,
    )


# One request as Nginx sees it: variable -> raw value (bytes), or None when not found.
REQUESTS: list[dict[str, bytes | None]] = [
    {
        "time_iso8601": b"2023-03-20T13:30:00+01:00",
        "remote_addr": b"2001:db8::17",
        "remote_user": None,
        "request": 'GET /при?q="x"\\y HTTP/1.1'.encode(),
        "status": b"502",
        "body_bytes_sent": b"157",
        "http_referer": None,
        "http_user_agent": b'Mozilla/5.0 "quoted" \xff\xfe tab\there\nnl \x7f',
        "http_x_forwarded_for": b"198.51.100.1, 10.0.0.2",
        "request_time": b"0.012",
        "upstream_addr": b"10.0.0.1:80, 10.0.0.2:80 : [2001:db8::9]:80",
        "upstream_status": b"502, 502 : 200",
        "upstream_response_time": b"-, 0.004 : 0.010",
        "host": b"shop.example.com",
    },
    {
        "time_iso8601": b"2023-03-20T12:30:01+00:00",
        "remote_addr": b"203.0.113.9",
        "remote_user": b"alice",
        "request": b"\x16\x03\x01\x00\xa5\x01\x00\x00",
        "status": b"400",
        "body_bytes_sent": b"0",
        "http_referer": b"https://example.com/a b",
        "http_user_agent": None,
        "http_x_forwarded_for": None,
        "request_time": b"0.000",
        "upstream_addr": None,
        "upstream_status": None,
        "upstream_response_time": None,
        "host": b"",
    },
]
BOTH_FMT = (
    '{"t":"$time_iso8601","a":"$remote_addr","u":"$remote_user","r":"$request","s":$status,'
    '"b":$body_bytes_sent,"ref":"$http_referer","ua":"$http_user_agent",'
    '"xff":"$http_x_forwarded_for","rt":$request_time,"ua_addr":"$upstream_addr",'
    '"us":"$upstream_status","urt":$upstream_response_time,"h":"$host"}'
)


def _render(fmt: str, values: dict[str, bytes | None], escape: str) -> bytes:
    builtins = {"time_iso8601", "status", "body_bytes_sent", "request_time"}
    out = []
    for is_var, text in log_format._tokenize(fmt):
        if not is_var:
            out.append(text.encode())
            continue
        value = values[text]
        if value is None:
            out.append(b"-" if escape == "default" else b"")
        elif text in builtins:
            out.append(value)
        elif escape == "default":
            out.append(nginx_escape_default(value))
        else:
            out.append(nginx_escape_json(value))
    return b"".join(out) + b"\n"


def test_escape_default_and_json_give_identical_chunks() -> None:
    default_lines = [_render(BOTH_FMT, req, "default") for req in REQUESTS]
    json_lines = [_render(BOTH_FMT, req, "json") for req in REQUESTS]
    assert b"\xff\xfe" in json_lines[0] and b"\\xFF\\xFE" in default_lines[0]
    assert b'"urt":-, 0.004 : 0.010' in json_lines[0] and b'"urt":,' in json_lines[1]
    d_cols, d_stats = _parse(compile_format(BOTH_FMT), default_lines)
    j_cols, j_stats = _parse(compile_format(BOTH_FMT, escape="json"), json_lines)
    assert d_stats.parsed == j_stats.parsed == 2
    for c in REQUEST_COLUMNS:
        assert all(_same(a, b) for a, b in zip(d_cols[c], j_cols[c], strict=True)), (
            c,
            d_cols[c],
            j_cols[c],
        )
    assert d_cols["user_agent"][0] == 'Mozilla/5.0 "quoted" \\xff\\xfe tab\there\nnl \x7f'
    assert d_cols["path"][0] == '/при?q="x"\\y'
    assert d_cols["upstream_time"][0] == pytest.approx(0.014)
    assert d_cols["referer"][1] == "https://example.com/a b"
    assert d_cols["remote_user"] == ["", "alice"]
    assert math.isnan(j_cols["upstream_time"][1])


# --- guessing and failing formats -------------------------------------------------------------


def test_guess_format() -> None:
    combined = COMBINED_LINES
    main = b'10.0.0.10 - - [20/Mar/2023:12:30:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "curl/8" "-"\n'
    vhost = (
        b'shop.example.com:443 203.0.113.5 - - [20/Mar/2023:12:30:00 +0000] "GET / HTTP/2.0" '
        b'200 612 "-" "Mozilla/5.0"\n'
    )
    assert guess_format(combined) == "combined"
    assert guess_format(main * 3) == "main"
    assert guess_format(main + combined) == "combined"
    assert guess_format(vhost * 2 + main) == "vhost_combined"
    assert guess_format(INGRESS_LINE * 2) == "ingress_nginx"
    assert guess_format(b'192.0.2.1 - - [20/Mar/2023:12:30:00 +0000] "GET / HTTP/1.1" 200 5\n') == (
        "common"
    )
    # One line of each: a tie goes to the longer, more specific format.
    assert guess_format(main + combined.splitlines(keepends=True)[0]) == "main"
    assert guess_format(b'{"time":"2023-03-20T12:30:00+00:00"}\n') is None
    assert guess_format(b"") is None


def test_first_lines_fail() -> None:
    combined = compile_format("combined")
    assert not first_lines_fail(COMBINED_LINES, combined)
    assert first_lines_fail(INGRESS_LINE * 3, combined)
    assert first_lines_fail(b"\n\n", combined)
    # Only the first 20 non-blank lines are looked at.
    assert first_lines_fail(b"junk\n\n" * 20 + COMBINED_LINES, combined)
    assert not first_lines_fail(b"junk\n\n" * 19 + COMBINED_LINES, combined)


# --- property: render a random format like Nginx, parse it back ---------------------------

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_SEPS = [" ", " - ", " | ", "\t", " >> "]
_ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=30)
# Spaces are the one thing Nginx does not escape, so unquoted text must not hold them.
_NO_SPACE = st.text(st.characters(codec="utf-8", exclude_characters=" "), max_size=12)
_IP = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
_ADDR = st.one_of(
    st.ip_addresses(v=4).map(lambda a: f"{a}:80"),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]:8080"),
    st.just("unix:/run/app.sock"),
    st.just("backend_group"),
)


def _upstream(item: st.SearchStrategy[str]) -> st.SearchStrategy[list[list[str]]]:
    return st.lists(st.lists(item, min_size=1, max_size=3), min_size=1, max_size=2)


def _join_upstream(groups: list[list[str]]) -> str:
    return " : ".join(", ".join(g) for g in groups)


def _sum_times(groups: list[list[str]]) -> float:
    times = [float(t) for g in groups for t in g if t != "-"]
    return sum(times) if times else NAN


_TIME = st.floats(min_value=0, max_value=60, allow_nan=False).map(lambda x: f"{x:.3f}")


@st.composite
def _slot(draw: st.DrawFn, var: str) -> tuple[str, str, dict[str, Any]]:
    """(format piece, value as str before escaping, expected chunk values) for a variable."""
    absent = draw(st.booleans()) and var in {"http_referer", "remote_user", "upstream_addr"}
    if var == "remote_addr":
        ip = draw(_IP)
        return "$remote_addr", ip, {"client": ip}
    if var == "remote_user":
        v = "-" if absent else draw(_NO_SPACE)
        return "$remote_user", v, {"remote_user": "" if v in ("-", "") else v}
    if var == "request":
        method = draw(st.text("GETPOSTHEADPUTDELETEPATCH", min_size=1, max_size=7))
        path = "/" + draw(_NO_SPACE)
        proto = draw(st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"]))
        return (
            '"$request"',
            f"{method} {path} {proto}",
            {
                "method": method,
                "path": path,
                "protocol": proto,
            },
        )
    if var == "status":
        s = draw(st.integers(0, 999))
        return "$status", f"{s:03d}", {"status": s}
    if var == "body_bytes_sent":
        n = draw(st.integers(0, 10**12))
        return "$body_bytes_sent", str(n), {"bytes_sent": n}
    if var in ("http_referer", "http_user_agent", "http_x_forwarded_for"):
        v = "-" if absent else draw(_ANY_TEXT)
        col = {"http_referer": "referer", "http_user_agent": "user_agent"}.get(var, "forwarded_for")
        return f'"${var}"', v, {col: "" if v in ("-", "") else v}
    if var == "request_time":
        t = draw(_TIME)
        return "$request_time", t, {"request_time": float(t)}
    if var == "upstream_addr":
        groups = [["-"]] if absent else draw(_upstream(_ADDR))
        v = _join_upstream(groups)
        return "$upstream_addr", v, {"upstream_addr": "" if v == "-" else v}
    if var == "upstream_status":
        groups = draw(_upstream(st.one_of(st.just("-"), st.integers(100, 599).map(str))))
        v = _join_upstream(groups)
        return "$upstream_status", v, {"upstream_status": "" if v == "-" else v}
    if var == "upstream_response_time":
        groups = draw(_upstream(st.one_of(st.just("-"), _TIME)))
        quoted = draw(st.booleans())
        piece = '"$upstream_response_time"' if quoted else "$upstream_response_time"
        return piece, _join_upstream(groups), {"upstream_time": _sum_times(groups)}
    if var == "host":
        h = draw(st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True))
        return "$host", h, {"vhost": h}
    if var == "http_x_request_id":  # opaque, quoted
        return '"$http_x_request_id"', draw(_ANY_TEXT), {}
    if var == "ssl_protocol":  # opaque token
        return "$ssl_protocol", draw(st.sampled_from(["TLSv1.2", "TLSv1.3", "-"])), {}
    if var == "proxy_upstream_name":  # opaque, bracketed, may hold spaces
        v = draw(st.text(st.characters(codec="utf-8", exclude_characters="]"), max_size=12))
        return "[$proxy_upstream_name]", v, {}
    raise AssertionError(var)


_POOL = [
    "remote_addr",
    "remote_user",
    "request",
    "status",
    "body_bytes_sent",
    "http_referer",
    "http_user_agent",
    "http_x_forwarded_for",
    "request_time",
    "upstream_addr",
    "upstream_status",
    "upstream_response_time",
    "host",
    "http_x_request_id",
    "ssl_protocol",
    "proxy_upstream_name",
]
_UNESCAPED = {"status", "body_bytes_sent", "request_time"}


@st.composite
def _format_and_line(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, Any]]:
    escape = draw(st.sampled_from(["default", "json"]))
    names = draw(st.lists(st.sampled_from(_POOL), unique=True, max_size=9))
    epoch = draw(st.integers(0, 2**32))
    off = draw(st.integers(-14 * 4, 14 * 4)) * 900
    kind = draw(st.sampled_from(["time_local", "time_iso8601", "msec"]))
    if kind == "msec":
        ms = draw(st.integers(0, 999))
        piece, value, ts = "$msec", f"{epoch}.{ms:03d}", epoch + ms / 1000
    else:
        t = time.gmtime(epoch + off)
        sign, a = ("+" if off >= 0 else "-"), abs(off)
        if kind == "time_local":
            value = (
                f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} "
                f"{sign}{a // 3600:02d}{a % 3600 // 60:02d}"
            )
            piece = "[$time_local]"
        else:
            value = (
                time.strftime("%Y-%m-%dT%H:%M:%S", t)
                + f"{sign}{a // 3600:02d}:{a % 3600 // 60:02d}"
            )
            piece = "$time_iso8601"
        ts = float(epoch)
    slots = [draw(_slot(n)) for n in names]
    slots.insert(draw(st.integers(0, len(slots))), (piece, value, {"ts": ts}))
    fmt_parts: list[str] = []
    line_parts: list[bytes] = []
    expected: dict[str, Any] = {}
    for i, (fpiece, val, exp) in enumerate(slots):
        if i:
            sep = draw(st.sampled_from(_SEPS))
            fmt_parts.append(sep)
            line_parts.append(sep.encode())
        fmt_parts.append(fpiece)
        var = fpiece.strip('"[]$')
        if var in _UNESCAPED or var in ("time_local", "time_iso8601", "msec"):
            rendered = val.encode()
        elif escape == "default":
            rendered = nginx_escape_default(val.encode())
        else:
            rendered = nginx_escape_json(val.encode())
        line_parts.append(fpiece.replace("$" + var, "\x00").encode().replace(b"\x00", rendered))
        expected.update(exp)
    return "".join(fmt_parts), escape, b"".join(line_parts) + b"\n", expected


@settings(max_examples=300, deadline=None)
@given(case=_format_and_line())
def test_random_format_round_trips(case: tuple[str, str, bytes, dict[str, Any]]) -> None:
    fmt_text, escape, line, expected = case
    fmt = compile_format(fmt_text, escape=escape)  # type: ignore[arg-type]
    cols, stats = _parse(fmt, [line])
    assert stats.parsed == 1, (fmt.regex.pattern, line, stats.rejects)
    for col, want in expected.items():
        assert _same(cols[col][0], want), (col, cols[col][0], want, line)


# --- conformance on real files from other projects -------------------------------------------

NPM_PROXY = (
    "[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme "
    '$host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] '
    '[Sent-to $server] "$http_user_agent" "$http_referer"'
)
NPMPLUS = (
    '[$time_local] $host $remote_addr $request_time "$request" $status $body_bytes_sent '
    "$bytes_sent $http_referer $http_user_agent"
)
ALP_JSON = (
    '{"time":"$time_iso8601","method":"$request_method","uri":"$request_uri","status":$status,'
    '"body_bytes":$body_bytes_sent,"response_time":$request_time,"ua":"$http_user_agent"}'
)
ALP_LTSV = (
    "time:$time_iso8601\tmethod:$request_method\turi:$request_uri\tstatus:$status\t"
    "size:$body_bytes_sent\tapptime:$request_time\tua:$http_user_agent"
)
#: file -> (format, escape, (parsed, rejected, skipped)); other files use guess_format.
EXPLICIT: dict[str, tuple[str, str, tuple[int, int, int]]] = {
    "crowdsec-hub/nginx-proxy-manager-logs.log": (NPM_PROXY, "default", (6, 6, 2)),
    "crowdsec-hub/npmplus-logs.log": (NPMPLUS, "default", (8, 0, 2)),
    "elastic-beats/access_test_test-with-host.log": (
        "$host " + PREDEFINED["combined"],
        "default",
        (5, 5, 0),
    ),
    "tkuchiki-alp/combined_access.log": (
        PREDEFINED["main"] + " $request_time",
        "default",
        (13, 1, 0),
    ),
    # alp's hand-written examples put "-" in quotes where Nginx writes a bare number, and add
    # a key on the last line: those lines are rejected, the rest parse.
    "tkuchiki-alp/json_access.log": (ALP_JSON, "json", (11, 3, 0)),
    "tkuchiki-alp/ltsv_access.log": (ALP_LTSV, "default", (13, 1, 0)),
}
GUESSED: dict[str, tuple[str, tuple[int, int, int]]] = {
    "crowdsec-hub/nginx-http-malformed.log": ("combined", (12, 0, 0)),
    "crowdsec-hub/nginx-proxy-manager-malformed.log": ("combined", (12, 0, 0)),
    "crowdsec-hub/nginx_http-logs.log": ("combined", (4, 4, 1)),
    "elastic-beats/access_test_access.log": ("combined", (12, 1, 0)),
    "elastic-beats/access_test_test.log": ("combined", (4, 3, 0)),
    "elastic-beats/ingress_controller_test_test.log": ("ingress_nginx", (29, 0, 0)),
}


@pytest.mark.skipif(not SHARED.exists(), reason="shared samples not present")
def test_npm_formats_values() -> None:
    npm = SHARED / "crowdsec-hub" / "nginx-proxy-manager-logs.log"
    standard = NPM_PROXY.replace("$upstream_cache_status $upstream_status ", "").replace(
        "[Sent-to $server] ", ""
    )
    with open(npm, "rb") as fh:
        cols, stats = _parse(compile_format(standard), fh)
    # NPM writes both formats to its fallback log; together they cover every access line
    # but the one combined line.
    assert cols["line"] == [3, 11, 12, 13, 14]
    assert (cols["status"][0], cols["path"][0], cols["client"][0]) == (
        444,
        "/.env",
        "207.32.219.89",
    )
    with open(SHARED / "crowdsec-hub" / "npmplus-logs.log", "rb") as fh:
        cols, stats = _parse(compile_format(NPMPLUS), fh)
    rows = _rows(cols)
    assert (rows[0]["vhost"], rows[0]["client"], rows[0]["request_time"]) == (
        "mx.example.org",
        "192.168.1.100",
        0.227,
    )
    assert rows[0]["user_agent"] == (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Thunderbird/123.0"
    )
    # TLS on the plain port: control bytes and \x22 decoded, invalid UTF-8 kept visible.
    assert rows[5]["path"].startswith("\x16\x03\x02\x01o\x01\x00\x01k\x03\x02RH\\xc5")
    assert '="' in rows[5]["path"] and (rows[5]["method"], rows[5]["status"]) == ("", 400)
    assert (rows[7]["referer"], rows[7]["bytes_sent"]) == (
        "https://search.example.com/results?q=booking",
        2048,
    )
    assert stats.utc_offset_s == 3600


@pytest.mark.parametrize(
    "path",
    sorted(SHARED.glob("**/*.log")) if SHARED.exists() else [],
    ids=lambda p: str(p.relative_to(SHARED)),
)
def test_shared_samples_conform(path: Path) -> None:
    key = str(path.relative_to(SHARED))
    if key in EXPLICIT:
        text, escape, counts = EXPLICIT[key]
        fmt = compile_format(text, escape=escape)  # type: ignore[arg-type]
    else:
        guessed = guess_format(path.read_bytes()[:16384])
        assert guessed is not None, key
        fmt = compile_format(guessed)
        want_name, counts = GUESSED.get(key, (guessed, (-1, -1, -1)))
        assert guessed == want_name
    assert not first_lines_fail(path.read_bytes()[:16384], fmt)
    with open(path, "rb") as fh:
        cols, stats = _parse(fmt, fh)
    assert stats.parsed > 0
    assert stats.lines == stats.parsed + stats.rejected + stats.skipped
    assert all(r.reason for r in stats.rejects)
    assert all(ts > 0 for ts in cols["ts"])
    if counts[0] >= 0:  # a new file gets the general checks only
        assert (stats.parsed, stats.rejected, stats.skipped) == counts


_TIMED = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
          '"$http_referer" "$http_user_agent" "$http_x_forwarded_for" rt=$request_time '
          'ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time"')
_TIMED_LINES = [
    b'1.2.3.4 - - [20/Mar/2023:12:30:01 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8" "-" '
    b'rt=0.005 ua="10.0.1.11:80" us="200" urt="0.004"\n',
    b'1.2.3.5 - - [20/Mar/2023:12:30:02 +0000] "GET /b HTTP/1.1" 502 0 "-" "x" "9.9.9.9" '
    b'rt=1.250 ua="10.0.1.11:80, 10.0.1.12:80" us="502, 502" urt="0.600, 0.650"\n',
    b'1.2.3.6 - - [20/Mar/2023:12:30:03 +0000] "GET /c HTTP/1.1" 499 0 "-" "y" "-" '
    b'rt=- ua="-" us="-" urt="-"\n',
    b'1.2.3.7 - - [20/Mar/2023:12:30:04 +0000] "GET /"d HTTP/1.1" 200 1 "-" "z" "-" '
    b'rt=0.001 ua="-" us="-" urt="-"\n',
    b"\n",
    b"2023/03/20 12:30:06 [error] 7#7: *1 connect() failed (111: Connection refused)\n",
    b'1.2.3.8 - - [20/Foo/2023:12:30:07 +0000] "GET / HTTP/1.1" 200 1 "-" "m" "-" '
    b'rt=0.002 ua="-" us="-" urt="-"\n',
    b'1.2.3.9 - - [20/Mar/2023:12:30:08 +0000] "GET / HTT\n',
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(range(len(_TIMED_LINES))), min_size=1, max_size=30),
       st.lists(st.integers(min_value=1, max_value=30), max_size=8))
def test_custom_format_block_pass_is_the_full_pass(picks: list[int], cuts: list[int]) -> None:
    """The first pass of a custom format (findall over blocks, cut anywhere between lines)
    gives the times, statuses, latencies, lines and counts of the full-row parse."""
    fmt = log_format.compile_format(_TIMED)
    lines = [_TIMED_LINES[i] for i in picks]
    edges = sorted({c for c in cuts if c < len(lines)} | {0, len(lines)})
    blocks = [b"".join(lines[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
    stats = ParseStats()
    got: list[tuple[Any, ...]] = []
    for chunk in fmt.compact_chunks(blocks, stats, ParseOptions(compact=True)):
        got.extend(zip(chunk["ts"].tolist(), chunk["status"].tolist(), chunk["line"].tolist(),
                       chunk["request_time"].tolist(), chunk["upstream_time"].tolist(),
                       chunk["forwarded"].tolist(), strict=True))
    stats.check()
    fstats = ParseStats()
    want: list[tuple[Any, ...]] = []
    for chunk in log_format.parse_with(fmt, lines, fstats, ParseOptions()):
        want.extend(zip(chunk["ts"], chunk["status"], chunk["line"], chunk["request_time"],
                        chunk["upstream_time"],
                        [x != "" for x in chunk["forwarded_for"]], strict=True))

    def same(a: Any, b: Any) -> bool:
        return (isinstance(a, float) and isinstance(b, float) and math.isnan(a)
                and math.isnan(b)) or a == b

    assert len(got) == len(want)
    assert all(same(x, y) for g, w in zip(got, want, strict=True)
               for x, y in zip(g, w, strict=True))
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (
        fstats.lines, fstats.parsed, fstats.rejected, fstats.skipped)
    # The first pass keeps the first rejects in line order; the full parse finds bad
    # timestamps at the end of its chunk, so its first few samples can be other lines.
    if fstats.rejected <= MAX_REJECT_SAMPLES:
        assert sorted((r.line, r.reason) for r in stats.rejects) == sorted(
            (r.line, r.reason) for r in fstats.rejects)
    lines_seen = [r.line for r in stats.rejects]
    assert lines_seen == sorted(lines_seen)
