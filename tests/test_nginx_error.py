"""Tests for parsers.nginx_error: exact counts, kinds and attrs on a small realistic log."""

from __future__ import annotations

import calendar
from pathlib import Path
from typing import Any

import pytest

from parsers import nginx_error
from parsers.base import EVENT_KEYS, BadLineError, ParseOptions, ParseStats

DATA = Path(__file__).parent / "data" / "nginx_error"
SAMPLE = DATA / "error.log"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "nginx-error"


def parse_lines(lines: list[bytes], stats: ParseStats | None = None) -> list[dict[str, Any]]:
    """Parse in-memory lines, check the bookkeeping and return the events."""
    stats = stats if stats is not None else ParseStats()
    events = [e for chunk in nginx_error.parse(lines, stats, ParseOptions()) for e in chunk]
    stats.check()
    return events


def parse_file(path: Path, stats: ParseStats) -> list[dict[str, Any]]:
    """Parse a file the way the caller does (binary lines) and check the bookkeeping."""
    with open(path, "rb") as fh:
        events = [e for chunk in nginx_error.parse(fh, stats, ParseOptions()) for e in chunk]
    stats.check()
    return events


@pytest.fixture(scope="module")
def sample() -> tuple[ParseStats, list[dict[str, Any]]]:
    stats = ParseStats()
    return stats, parse_file(SAMPLE, stats)


def test_module_contract() -> None:
    assert nginx_error.NAME == "nginx_error"
    assert nginx_error.TABLE == "events"
    assert nginx_error.LOCAL_TIME is True
    assert nginx_error.DESCRIPTION


def test_sample_counts(sample: tuple[ParseStats, list[dict[str, Any]]]) -> None:
    stats, events = sample
    # 31 lines: 25 one-line entries, one 4-line FastCGI entry, one blank, one broken.
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (31, 29, 1, 1)
    assert stats.skip_reasons == {"blank line": 1}
    assert [(r.line, r.reason, r.excerpt) for r in stats.rejects] == [
        (15, "not an Nginx error-log entry", "2023/03/20 12:31:2")
    ]
    assert len(events) == 26
    assert stats.first_ts == calendar.timegm((2023, 3, 20, 12, 30, 2, 0, 0, 0))
    assert stats.last_ts == calendar.timegm((2023, 3, 20, 12, 32, 41, 0, 0, 0))


def test_sample_kinds_in_order(sample: tuple[ParseStats, list[dict[str, Any]]]) -> None:
    _, events = sample
    assert [(e["line"], e["kind"]) for e in events] == [
        (1, "upstream_refused"),
        (2, "upstream_disabled"),
        (3, "no_live_upstreams"),
        (4, "upstream_timeout"),
        (5, "upstream_closed"),
        (6, "file_not_found"),
        (7, "rate_limited"),
        (8, "worker_connections"),
        (9, "too_many_open_files"),
        (10, "fastcgi_stderr"),
        (16, "worker_crash"),
        (17, "start_workers"),
        (18, "bind_failed"),
        (19, "signal_process"),
        (20, "reload"),
        (21, "reload"),
        (22, "startup_info"),
        (23, "start_workers"),
        (24, "start_workers"),
        (25, "start_workers"),
        (26, "shutdown"),
        (27, "shutdown"),
        (28, "shutdown"),
        (29, "signal_other"),
        (30, "worker_exit"),
        (31, "signal_other"),
    ]


def test_sample_rows(sample: tuple[ParseStats, list[dict[str, Any]]]) -> None:
    _, events = sample
    first = events[0]
    assert set(first) == set(EVENT_KEYS)
    assert first["ts"] == float(calendar.timegm((2023, 3, 20, 12, 30, 2, 0, 0, 0)))
    assert isinstance(first["ts"], float)
    assert (first["end"], first["host"], first["count"]) == (None, "", 1)
    assert first["sample"].startswith("2023/03/20 12:30:02 [error] 4211#4211: *1043 connect()")
    assert first["sample"].endswith('referrer: "https://shop.example.com/"')
    assert first["attrs"] == {
        "level": "error",
        "pid": "4211",
        "tid": "4211",
        "conn": "1043",
        "errno": "111",
        "strerror": "Connection refused",
        "action": "connecting to upstream",
        "client": "203.0.113.7",
        "server": "shop.example.com",
        "request": "GET /api/cart HTTP/1.1",
        "upstream": "http://10.0.2.15:8080/api/cart",
        "http_host": "shop.example.com",
        "referrer": "https://shop.example.com/",
    }
    by_line = {e["line"]: e for e in events}
    assert by_line[3]["attrs"]["upstream"] == "http://app_backend/api/checkout"
    assert by_line[4]["attrs"]["client"] == "2001:db8::7"
    assert by_line[8]["attrs"] == {"level": "alert", "pid": "4212", "tid": "4212"}
    assert by_line[16]["attrs"]["signal"] == "SIGKILL"
    assert by_line[20]["attrs"]["signal"] == "SIGHUP"
    assert by_line[31]["attrs"]["signal"] == "SIGIO"
    fcgi = by_line[10]
    assert fcgi["sample"].count("\n") == 3
    assert fcgi["attrs"]["upstream"] == "fastcgi://unix:/run/php/php8.2-fpm.sock:"
    assert fcgi["attrs"]["request"] == "GET /cart.php HTTP/1.1"
    assert fcgi["attrs"]["action"] == "reading response header from upstream"
    assert "\n" not in fcgi["message"]


def test_sample_severities(sample: tuple[ParseStats, list[dict[str, Any]]]) -> None:
    _, events = sample
    sev = {e["line"]: e["severity"] for e in events}
    assert (sev[1], sev[2], sev[8], sev[9], sev[16], sev[18], sev[20]) == (
        "error",
        "warning",
        "critical",
        "critical",
        "critical",
        "critical",
        "info",
    )


def test_sample_templates(sample: tuple[ParseStats, list[dict[str, Any]]]) -> None:
    _, events = sample
    msg = {e["line"]: e["message"] for e in events}
    assert msg[1] == "connect() failed (<n>: Connection refused) while connecting to upstream"
    assert msg[6] == 'open() "<path>" failed (<n>: No such file or directory)'
    assert msg[7] == 'limiting requests, excess: <n> by zone "api"'
    assert msg[18] == "bind() to <addr> failed (<n>: Address already in use)"
    assert msg[20] == "signal <n> (SIGHUP) received from <pid>, reconfiguring"
    assert msg[24] == msg[25] == "start worker process <pid>"


def test_sniff() -> None:
    assert nginx_error.sniff(SAMPLE.read_bytes()[:16384])
    combined = (
        b'203.0.113.7 - - [20/Mar/2023:12:30:01 +0000] "GET /api/cart HTTP/1.1" 502 157 '
        b'"-" "Mozilla/5.0"\n'
    )
    assert not nginx_error.sniff(combined * 3)
    assert not nginx_error.sniff(b'{"a":1}\n')
    assert not nginx_error.sniff(b"")


def test_sniff_counts_continuation_lines() -> None:
    head = (
        b'2023/03/20 12:31:20 [error] 7#7: *1 FastCGI sent in stderr: "PHP message: a\n'
        + b"#1 frame\n" * 5
        + b'#9 {main}" while reading upstream, client: 192.0.2.1, server: x\n'
    )
    assert nginx_error.sniff(head)


def test_bad_line_error_names_the_line() -> None:
    options = ParseOptions(on_bad_lines="error", display_path="error.log")
    with open(SAMPLE, "rb") as fh, pytest.raises(BadLineError, match=r"error\.log:15: "):
        for _ in nginx_error.parse(fh, ParseStats(), options):
            pass


def test_access_lines_skipped_and_stray_lines_rejected() -> None:
    stats = ParseStats()
    events = parse_lines(
        [
            b"garbage before any entry\n",
            b'192.0.2.1 - - [20/Mar/2023:12:30:01 +0100] "GET / HTTP/1.1" 200 5 "-" "-"\n',
            b"2023/03/20 12:30:02 [info] 8#8: *15 client 192.0.2.1:5300 connected to 0.0.0.0:25\n",
            b"more garbage\n",
            b"2023/13/20 12:30:02 [error] 8#8: month 13\n",
            b"\n",
        ],
        stats,
    )
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (6, 1, 3, 2)
    assert stats.skip_reasons == {"access-log line in an error log": 1, "blank line": 1}
    assert [(r.line, r.reason) for r in stats.rejects] == [
        (1, "not an Nginx error-log entry"),
        (4, "not an Nginx error-log entry"),
        (5, "invalid timestamp"),
    ]
    assert [e["message"] for e in events] == ["client <addr> connected to <addr>"]


def test_truncated_multiline_entry_ends_at_next_entry() -> None:
    # elastic-beats' sample: the FastCGI text never reaches its closing quote and tail.
    stats = ParseStats()
    events = parse_lines(
        [
            b'2019/10/30 23:26:34 [error] 5#0: *180289 FastCGI sent in stderr: "PHP message: a\n',
            b"PHP message: b\n",
            b"2019/10/30 23:26:35 [notice] 5#0: exiting\n",
            b"not a continuation any more",
        ],
        stats,
    )
    assert (stats.lines, stats.parsed, stats.rejected) == (4, 3, 1)
    assert [(e["line"], e["kind"]) for e in events] == [(1, "fastcgi_stderr"), (3, "shutdown")]
    assert events[0]["sample"].endswith("PHP message: a\nPHP message: b")
    assert events[0]["attrs"]["tid"] == "0"


def test_tail_edge_cases() -> None:
    lines = [
        # server_name empty, IPv6 client, 11-digit connection id
        b"2021/12/02 11:53:15 [error] 4065777#4065777: *16670560058 limiting requests, "
        b'excess: 5.428 by zone "z", client: ::1, server: , request: "GET / HTTP/1.1", '
        b'host: "la03.d.sb"\n',
        # raw request line with a quote, control bytes and invalid UTF-8
        b"2023/03/20 12:30:02 [info] 9#9: *3 client sent invalid method while reading client "
        b'request line, client: 192.0.2.9, server: _, request: "\x16\x03\x01"a\xff"\r\n',
        # ", client: " inside the message and inside the request line
        b'2023/03/20 12:30:03 [error] 9#9: *4 open() "/srv/a, client: x, server: y" failed '
        b"(2: No such file or directory), client: 192.0.2.8, server: s, "
        b'request: "GET /a, client: x, server: y HTTP/1.1", host: "h"\n',
        # mail: unquoted upstream, "using starttls" after the client
        b"2022/04/05 13:25:31 [info] 8#8: *24790 client logged in, client: 192.0.2.4 using "
        b'starttls, server: 0.0.0.0:587, login: "admin", upstream: 172.69.69.9:10025',
    ]
    a, b, d, c = parse_lines(lines)
    assert a["attrs"]["conn"] == "16670560058"
    assert (a["attrs"]["client"], a["attrs"]["server"]) == ("::1", "")
    assert a["kind"] == "rate_limited"
    assert b["attrs"]["request"] == '\x16\x03\x01"a\\xff'
    assert b["attrs"]["action"] == "reading client request line"
    assert b["message"] == "client sent invalid method while reading client request line"
    assert (d["attrs"]["client"], d["attrs"]["server"]) == ("192.0.2.8", "s")
    assert d["attrs"]["request"] == "GET /a, client: x, server: y HTTP/1.1"
    assert (d["kind"], d["attrs"]["errno"]) == ("file_not_found", "2")
    assert (c["attrs"]["client"], c["attrs"]["login"]) == ("192.0.2.4", "admin")
    assert c["attrs"]["upstream"] == "172.69.69.9:10025"


def test_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nginx_error, "CHUNK_ROWS", 4)
    stats = ParseStats()
    with open(SAMPLE, "rb") as fh:
        chunks = list(nginx_error.parse(fh, stats, ParseOptions()))
    stats.check()
    assert [len(c) for c in chunks] == [4] * 6 + [2]


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            b"connect() to unix:/run/php/php-fpm.sock failed (2: No such file or directory) "
            b"while connecting to upstream",
            "upstream_refused",
        ),
        (
            b"connect() failed (113: No route to host) while connecting to upstream",
            "upstream_refused",
        ),
        (
            b"upstream timed out (110: Operation timed out) while connecting to upstream",
            "upstream_timeout",
        ),
        (
            b"upstream prematurely closed FastCGI stdout while reading response header from "
            b"upstream",
            "upstream_closed",
        ),
        (
            b"recv() failed (104: Connection reset by peer) while reading response header from "
            b"upstream",
            "upstream_reset",
        ),
        (
            b"upstream sent too big header while reading response header from upstream",
            "upstream_bad_response",
        ),
        (b"backend could not be resolved (3: Host not found)", "resolve_failed"),
        (b"no resolver defined to resolve api.internal", "resolve_failed"),
        (b'"/srv/www/index.html" is not found (2: No such file or directory)', "file_not_found"),
        (b'open() "/srv/www/a/b" failed (20: Not a directory)', "file_not_found"),
        (b'open() "/srv/www/secret" failed (13: Permission denied)', "permission_denied"),
        (b"access forbidden by rule", "permission_denied"),
        (b"1024 worker_connections are not enough, reusing connections", "worker_connections"),
        (
            b"socket() failed (24: Too many open files) while connecting to upstream",
            "too_many_open_files",
        ),
        (b"still could not bind()", "bind_failed"),
        (b'delaying request, excess: 0.500, by zone "api"', "rate_delayed"),
        (b'limiting connections by zone "addr"', "conn_limited"),
        (b"client intended to send too large body: 10485761 bytes", "body_too_large"),
        (
            b"SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) "
            b"while SSL handshaking",
            "tls_failure",
        ),
        (
            b"peer closed connection in SSL handshake (104: Connection reset by peer) while SSL "
            b"handshaking",
            "tls_failure",
        ),
        (
            b"upstream SSL certificate verify error: (10:certificate has expired) while SSL "
            b"handshaking to upstream",
            "tls_failure",
        ),
        (b"client prematurely closed connection while sending to client", "client_closed"),
        (b'user "toto": password mismatch', "auth_failed"),
        (b"signal 10 (SIGUSR1) received from 10896, reopening logs", "reopen_logs"),
        (b"reopening logs", "reopen_logs"),
        (b"signal 3 (SIGQUIT) received from 10898, shutting down", "shutdown"),
        (b"signal 15 (SIGTERM) received from 1, exiting", "shutdown"),
        (b"worker process 77 exited on signal 11 (core dumped)", "worker_crash"),
        (
            b"cache manager process 78 exited with fatal code 2 and cannot be respawned",
            "worker_crash",
        ),
        (b"start cache manager process 79", "start_workers"),
        (b"nginx/1.22.1", "startup_info"),
        (b"getrlimit(RLIMIT_NOFILE): 1024:524288", "startup_info"),
        (b'unknown directive "foo" in /etc/nginx/nginx.conf:12', "config_error"),
        (
            b'open() "/etc/nginx/conf.d/x.conf" failed (2: No such file or directory) in '
            b"/etc/nginx/nginx.conf:30",
            "config_error",
        ),
        (b"something nginx never wrote", "other"),
    ],
)
def test_classify(message: bytes, kind: str) -> None:
    assert nginx_error.classify(message) == kind


def test_template_masks() -> None:
    t = nginx_error.template_of
    assert t(b"connect() to [2001:db8::5]:8080 failed (111: Connection refused)") == (
        "connect() to <addr> failed (<n>: Connection refused)"
    )
    assert t(b'user "bob" was not found in "/etc/nginx/.htpasswd"') == (
        'user "<user>" was not found in "<path>"'
    )
    assert t(b"nginx/1.22.1") == "nginx/1.22.1"
    assert len(t(b"x" * 5000)) == 303


def _shared_files() -> list[Path]:
    return sorted(p for p in SHARED.rglob("*.log")) if SHARED.is_dir() else []


# Messages the shared samples contain that must never come out as "other".
KNOWN = (
    "open() ",
    "limiting requests",
    "FastCGI sent in stderr",
    "could not be resolved",
    "was not found in",
)


@pytest.mark.parametrize(
    "path", _shared_files() or [None], ids=lambda p: p.name if isinstance(p, Path) else "none"
)
def test_shared_samples(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"no shared samples at {SHARED}")
    stats = ParseStats()
    events = parse_file(path, stats)
    assert stats.parsed > 0
    for e in events:
        if any(k in e["message"] for k in KNOWN):
            assert e["kind"] != "other", e["sample"]


def test_unterminated_last_line() -> None:
    stats = ParseStats()
    events = parse_lines([b"2023/03/20 12:30:02 [notice] 1#1: exit"], stats)
    assert [e["kind"] for e in events] == ["shutdown"]
    assert stats.lines == stats.parsed == 1
