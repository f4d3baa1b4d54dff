"""Tests for parsers.nginx_error: exact counts, kinds and attrs on a small realistic log."""

from __future__ import annotations

import calendar
from pathlib import Path
from typing import Any

import pytest

from parsers import nginx_error, transport
from parsers.base import EVENT_KEYS, BadLineError, ParseOptions, ParseStats

DATA = Path(__file__).parent / "data" / "nginx_error"
SAMPLE = DATA / "error.log"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "nginx-error"


def parse_lines(
    lines: list[bytes], stats: ParseStats | None = None, options: ParseOptions | None = None
) -> list[dict[str, Any]]:
    """Parse in-memory lines, check the bookkeeping and return the events."""
    stats = stats if stats is not None else ParseStats()
    options = options if options is not None else ParseOptions()
    events = [e for chunk in nginx_error.parse(lines, stats, options) for e in chunk]
    stats.check()
    return events


def parse_file(
    path: Path, stats: ParseStats, options: ParseOptions | None = None
) -> list[dict[str, Any]]:
    """Parse a file the way the caller does (binary lines) and check the bookkeeping."""
    options = options if options is not None else ParseOptions()
    with open(path, "rb") as fh:
        events = [e for chunk in nginx_error.parse(fh, stats, options) for e in chunk]
    stats.check()
    return events


HintedOptions = ParseOptions  # year_hint is a ParseOptions field


def utc(*parts: int) -> float:
    """(year, month, day, h, m, s) as epoch seconds, the way LOCAL_TIME times are given."""
    return float(calendar.timegm((*parts, 0, 0, 0)))


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


#: The attrs of the samples' first entry (connect() refused), in every transport.
CONNECT_ATTRS = {
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
}


def test_sample_rows(sample: tuple[ParseStats, list[dict[str, Any]]]) -> None:
    _, events = sample
    first = events[0]
    assert set(first) == set(EVENT_KEYS)
    assert first["ts"] == float(calendar.timegm((2023, 3, 20, 12, 30, 2, 0, 0, 0)))
    assert isinstance(first["ts"], float)
    assert (first["end"], first["host"], first["count"]) == (None, "", 1)
    assert first["sample"].startswith("2023/03/20 12:30:02 [error] 4211#4211: *1043 connect()")
    assert first["sample"].endswith('referrer: "https://shop.example.com/"')
    assert first["attrs"] == CONNECT_ATTRS | {"referrer": "https://shop.example.com/"}
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
    # The one path Nginx writes unquoted: one template for every buffered response.
    assert t(b"an upstream response is buffered to a temporary file "
             b"/var/lib/nginx/proxy/0/27/0000001270 while reading upstream") == (
        "an upstream response is buffered to a temporary file <path> while reading upstream")


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


# --- first_line ---------------------------------------------------------------------------


def test_first_line_numbers_rows_and_rejects() -> None:
    # The caller feeds lines 11..20 of the sample: 11-13 are the tail of the FastCGI entry
    # of line 10 (stray without it), 14 is blank, 15 is the broken line.
    lines = SAMPLE.read_bytes().splitlines(keepends=True)[10:20]
    stats = ParseStats()
    events = parse_lines(lines, stats, ParseOptions(first_line=11))
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (10, 5, 4, 1)
    assert [r.line for r in stats.rejects] == [11, 12, 13, 15]
    assert [e["line"] for e in events] == [16, 17, 18, 19, 20]
    with pytest.raises(BadLineError, match=r"error\.log:11: "):
        parse_lines(
            lines, None, ParseOptions(first_line=11, on_bad_lines="error", display_path="error.log")
        )


def test_first_line_empty_slice() -> None:
    stats = ParseStats()
    assert parse_lines([], stats, ParseOptions(first_line=500)) == []
    assert stats.lines == 0


# --- syslog ---------------------------------------------------------------------------------

SYSLOG = DATA / "syslog.log"
YEAR_NOTE = "year {} inferred from {} for {} timed by a syslog/journald header (it has no year)"


def test_syslog_relay() -> None:
    stats = ParseStats()
    events = parse_file(SYSLOG, stats)
    # 11 lines: 9 entries (3 of web-4 lost Nginx's timestamp in the relay), an access line
    # sent to the same syslog server, and a systemd line.
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (11, 9, 0, 2)
    assert stats.skip_reasons == {
        "access-log line in an error log": 1,
        "line of another program (syslog/journald/Docker log)": 1,
    }
    assert [(e["line"], e["kind"], e["host"]) for e in events] == [
        (1, "upstream_refused", "web-3"),
        (2, "upstream_disabled", "web-3"),
        (4, "no_live_upstreams", "web-3"),
        (5, "upstream_timeout", "web-4"),
        (6, "too_many_open_files", "web-3"),
        (7, "worker_crash", "web-3"),
        (9, "signal_process", ""),  # "nohostname": the caller uses the file's host
        (10, "client_closed", "web-4"),
        (11, "other", "web-4"),
    ]
    by_line = {e["line"]: e for e in events}
    first = by_line[1]
    assert first["ts"] == utc(2023, 3, 9, 12, 30, 2)
    assert first["severity"] == "error"
    assert first["sample"].startswith("2023/03/09 12:30:02 [error] 4211#4211: *1043 connect()")
    assert first["message"] == (
        "connect() failed (<n>: Connection refused) while connecting to upstream"
    )
    assert first["attrs"] == CONNECT_ATTRS | {"syslog_host": "web-3"}
    # No Nginx timestamp: the header's "Mar  9 12:30:31", the year from line 4's timestamp.
    relayed = by_line[5]
    assert relayed["ts"] == utc(2023, 3, 9, 12, 30, 31)
    assert relayed["sample"].startswith("[error] 3120#3120: *877 upstream timed out")
    assert relayed["attrs"]["ts_from"] == "header"
    assert relayed["attrs"]["syslog_host"] == "web-4"
    assert (relayed["attrs"]["pid"], relayed["attrs"]["errno"]) == ("3120", "110")
    assert relayed["attrs"]["client"] == "2001:db8::7"
    assert "ts_from" not in by_line[4]["attrs"]
    assert "syslog_host" not in by_line[9]["attrs"]
    assert (by_line[10]["attrs"]["level"], by_line[11]["attrs"]["level"]) == ("info", "debug")
    assert by_line[11]["ts"] == utc(2023, 3, 9, 12, 31, 50)
    assert by_line[7]["attrs"]["signal"] == "SIGKILL"
    assert (stats.first_ts, stats.last_ts) == (utc(2023, 3, 9, 12, 30, 2), by_line[11]["ts"])
    assert stats.notes == [
        YEAR_NOTE.format(2023, "the last Nginx timestamp before it", "3 entries")
    ]


def test_syslog_own_nginx_timestamps_beat_the_year_hint() -> None:
    # The file's own Nginx timestamps (2023) are better evidence than the access logs' year.
    stats = ParseStats()
    events = parse_file(SYSLOG, stats, HintedOptions(year_hint=2022))
    ts = {e["line"]: e["ts"] for e in events}
    assert ts[4] == utc(2023, 3, 9, 12, 30, 7)  # Nginx's own timestamp
    assert (ts[5], ts[10], ts[11]) == (
        utc(2023, 3, 9, 12, 30, 31),
        utc(2023, 3, 9, 12, 31, 50),
        utc(2023, 3, 9, 12, 31, 50),
    )
    assert stats.notes == [
        YEAR_NOTE.format(2023, "the last Nginx timestamp before it", "3 entries")]


def test_syslog_year_rolls_over_at_new_year() -> None:
    stats = ParseStats()
    events = parse_lines(
        [
            b"<131>Dec 31 23:59:58 web-3 nginx: 2023/12/31 23:59:58 [error] 1#1: *1 no live "
            b"upstreams while connecting to upstream\n",
            b"<131>Jan  1 00:00:03 web-3 nginx: [error] 1#1: *2 no live upstreams while "
            b"connecting to upstream\n",
        ],
        stats,
    )
    assert [e["ts"] for e in events] == [utc(2023, 12, 31, 23, 59, 58), utc(2024, 1, 1, 0, 0, 3)]
    assert stats.notes == [
        YEAR_NOTE.format(2024, "the last Nginx timestamp before it (across a new year)", "1 entry")
    ]
    # Only header times: the hint is the year of the first, later ones follow on.
    stats = ParseStats()
    events = parse_lines(
        [
            b"Dec 31 23:59:58 web-3 nginx[7]: nginx: [emerg] still could not bind()\n",
            b"Jan  1 00:00:03 web-3 nginx[7]: nginx: [emerg] still could not bind()\n",
            b"Jan  1 00:00:09 web-3 nginx[7]: nginx: [emerg] still could not bind()\n",
        ],
        stats,
        HintedOptions(year_hint=2023),
    )
    assert [e["ts"] for e in events] == [
        utc(2023, 12, 31, 23, 59, 58),
        utc(2024, 1, 1, 0, 0, 3),
        utc(2024, 1, 1, 0, 0, 9),
    ]
    assert stats.notes == [
        YEAR_NOTE.format(2023, "the access logs read with it", "1 entry"),
        YEAR_NOTE.format(2024, "the access logs read with it (across a new year)", "2 entries"),
    ]


def test_header_variants() -> None:
    stats = ParseStats()
    events = parse_lines(
        [
            # a relayed line whose Nginx part is broken: rejected, not taken for another program
            b"<131>Mar 20 12:31:20 web-3 nginx: 2023/03/20 12:31:2\n",
            # journalctl -o short-iso: the year is there
            b"2023-08-15T11:08:19+0200 web-3 nginx[19610]: nginx: [emerg] bind() to 0.0.0.0:80 "
            b"failed (98: Address already in use)\n",
            # docker compose logs with colours
            b"\x1b[36mweb_1  |\x1b[0m 2023/03/20 12:30:02 [error] 29#29: *3 no live upstreams "
            b"while connecting to upstream\n",
            b"-- Reboot --\n",
            # journalctl -o short-precise, error_log stderr under systemd
            b"Aug 15 11:08:19.123456 web-3 nginx[19610]: 2023/08/15 11:08:19 [warn] "
            b'19610#19610: conflicting server name "a" on 0.0.0.0:80, ignored\n',
            # nohostname, no pid in the tag
            b"<187>Aug 15 11:08:20 nginx: 2023/08/15 11:08:20 [error] 19611#0: *9 "
            b'open() "/srv/x" failed (2: No such file or directory), client: 192.0.2.1, '
            b"server: s\n",
        ],
        stats,
    )
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (6, 4, 1, 1)
    assert [(r.line, r.reason) for r in stats.rejects] == [(1, "not an Nginx error-log entry")]
    assert stats.skip_reasons == {"journald marker line": 1}
    assert [(e["line"], e["kind"], e["host"]) for e in events] == [
        (2, "bind_failed", "web-3"),
        (3, "no_live_upstreams", ""),
        (5, "other", "web-3"),
        (6, "file_not_found", ""),
    ]
    iso, compose, precise, nohost = events
    assert iso["ts"] == utc(2023, 8, 15, 11, 8, 19)
    assert iso["attrs"] == {
        "level": "emerg",
        "errno": "98",
        "strerror": "Address already in use",
        "syslog_host": "web-3",
        "pid": "19610",
        "ts_from": "header",
    }
    assert iso["sample"] == (
        "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"
    )
    assert compose["attrs"]["container"] == "web_1"
    assert compose["sample"].startswith("2023/03/20 12:30:02 [error]")
    assert (precise["attrs"]["pid"], precise["attrs"]["syslog_host"]) == ("19610", "web-3")
    assert nohost["attrs"]["client"] == "192.0.2.1"
    assert (nohost["attrs"]["pid"], nohost["attrs"]["tid"]) == ("19611", "0")  # old builds
    assert stats.notes == []


# --- journald, stderr -----------------------------------------------------------------------

JOURNALD = DATA / "journald.log"
JOURNALD_SKIPS = {
    "journald marker line": 1,
    "line of another program (syslog/journald/Docker log)": 8,
    "Nginx stderr line without a level": 1,
}


def test_journald_export_of_a_failed_start() -> None:
    stats = ParseStats()
    events = parse_file(JOURNALD, stats, HintedOptions(year_hint=2023))
    # 22 lines: the "-- Logs begin" marker, 8 systemd lines, 10 bind() failures (5 tries of
    # 2 sockets), "still could not bind()", an unknown directive and "test failed".
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (22, 12, 0, 10)
    assert stats.skip_reasons == JOURNALD_SKIPS
    assert [(e["line"], e["kind"]) for e in events] == [
        (n, "bind_failed") for n in range(3, 14)
    ] + [(18, "config_error")]
    assert {(e["host"], e["severity"], e["attrs"]["ts_from"]) for e in events} == {
        ("web-3", "critical", "header")
    }
    first = events[0]
    assert first["ts"] == utc(2023, 8, 15, 11, 8, 19)
    assert first["sample"] == (
        "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"
    )
    assert first["message"] == "bind() to <addr> failed (<n>: Address already in use)"
    assert first["attrs"] == {
        "level": "emerg",
        "pid": "19610",
        "errno": "98",
        "strerror": "Address already in use",
        "syslog_host": "web-3",
        "ts_from": "header",
    }
    assert events[1]["message"] == first["message"]  # [::]:80
    assert events[10]["message"] == "still could not bind()"
    assert events[10]["ts"] == utc(2023, 8, 15, 11, 8, 21)
    conf = events[11]
    assert conf["attrs"]["pid"] == "19702"
    assert conf["ts"] == utc(2023, 8, 15, 11, 9, 2)
    assert conf["message"] == 'unknown directive "proxy_pas" in /etc/nginx/sites-enabled/shop:<n>'
    assert stats.notes == [YEAR_NOTE.format(2023, "the access logs read with it", "12 entries")]


@pytest.mark.parametrize(
    ("now", "how"),
    [
        ((2023, 9, 1, 0, 0, 0), "the current UTC year"),
        # In February, August 15 is still to come: it was last year's.
        (
            (2024, 2, 1, 0, 0, 0),
            "the current UTC year minus one (the date is still to come this year)",
        ),
    ],
)
def test_journald_year_without_hint(
    monkeypatch: pytest.MonkeyPatch, now: tuple[int, ...], how: str
) -> None:
    monkeypatch.setattr(transport, "_now", lambda: utc(*now))
    stats = ParseStats()
    events = parse_file(JOURNALD, stats)
    assert events[0]["ts"] == utc(2023, 8, 15, 11, 8, 19)
    assert stats.notes == [YEAR_NOTE.format(2023, how, "12 entries")]


def test_stderr_lines_without_a_header() -> None:
    stats = ParseStats()
    events = parse_lines(
        [
            b"nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)\n",
            b"2023/03/20 12:30:02 [notice] 1#1: exit\n",
            b'nginx: [emerg] unknown directive "proxy_pas" in /etc/nginx/conf.d/shop.conf:14\n',
            b"nginx: configuration file /etc/nginx/nginx.conf test failed\n",
        ],
        stats,
        ParseOptions(first_line=101),
    )
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (4, 2, 0, 2)
    assert stats.skip_reasons == {
        "no timestamp (stderr line)": 1,
        "Nginx stderr line without a level": 1,
    }
    assert [(e["line"], e["kind"], e["ts"]) for e in events] == [
        (102, "shutdown", utc(2023, 3, 20, 12, 30, 2)),
        (103, "config_error", utc(2023, 3, 20, 12, 30, 2)),
    ]
    assert events[1]["attrs"] == {"level": "emerg", "ts_from": "previous entry"}
    assert events[1]["severity"] == "critical"


# --- Docker ---------------------------------------------------------------------------------

COMPOSE = DATA / "docker-compose.log"


def test_docker_compose_logs() -> None:
    stats = ParseStats()
    events = parse_file(COMPOSE, stats)
    # 30 lines: entrypoint and php-fpm lines, 2 access lines, an empty "web_1  |", a failed
    # start (the emerg twice: error log and stderr), a FastCGI entry over 4 lines of web_1
    # with a line of app_1 in between, and a shutdown.
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (30, 18, 0, 12)
    assert stats.skip_reasons == {
        "line of another program (syslog/journald/Docker log)": 9,
        "access-log line in an error log": 2,
        "blank line": 1,
    }
    assert [(e["line"], e["kind"]) for e in events] == [
        (6, "config_error"),
        (7, "config_error"),
        (11, "startup_info"),
        (12, "startup_info"),
        (13, "start_workers"),
        (14, "start_workers"),
        (15, "upstream_refused"),
        (17, "fastcgi_stderr"),
        (24, "shutdown"),
        (25, "shutdown"),
        (26, "shutdown"),
        (27, "shutdown"),
        (28, "signal_other"),
        (29, "worker_exit"),
        (30, "shutdown"),
    ]
    assert {(e["host"], e["attrs"]["container"]) for e in events} == {("", "web_1")}
    by_line = {e["line"]: e for e in events}
    # The stderr copy of the emerg has no time of its own: it takes the previous entry's.
    assert by_line[6]["ts"] == by_line[7]["ts"] == utc(2023, 3, 20, 12, 29, 57)
    assert by_line[7]["attrs"] == {
        "level": "emerg",
        "container": "web_1",
        "ts_from": "previous entry",
    }
    assert (
        by_line[6]["message"]
        == by_line[7]["message"]
        == 'host not found in upstream "app:<n>" in /etc/nginx/conf.d/default.conf:<n>'
    )
    fcgi = by_line[17]
    assert fcgi["sample"].count("\n") == 3
    assert "app_1" not in fcgi["sample"] and "web_1" not in fcgi["sample"]
    assert fcgi["attrs"]["upstream"] == "fastcgi://172.18.0.3:9000"
    assert fcgi["attrs"]["action"] == "reading response header from upstream"
    assert (stats.first_ts, stats.last_ts) == (
        utc(2023, 3, 20, 12, 29, 57),
        utc(2023, 3, 20, 12, 30, 40),
    )


def test_docker_logs_with_timestamps() -> None:
    # docker logs -t: RFC 3339 UTC before each line; the container runs with TZ=Europe/Berlin,
    # so Nginx's own times are an hour ahead. The stderr line only has Docker's time.
    stats = ParseStats()
    events = parse_file(DATA / "docker-t.log", stats)
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (9, 6, 0, 3)
    assert [(e["line"], e["kind"], e["ts"]) for e in events] == [
        (2, "config_error", utc(2023, 3, 20, 13, 29, 57)),
        (3, "config_error", utc(2023, 3, 20, 13, 29, 57)),
        (5, "startup_info", utc(2023, 3, 20, 13, 30, 58)),
        (6, "start_workers", utc(2023, 3, 20, 13, 30, 58)),
        (7, "upstream_timeout", utc(2023, 3, 20, 13, 31, 5)),
        (9, "shutdown", utc(2023, 3, 20, 13, 31, 20)),
    ]
    assert events[1]["attrs"] == {"level": "emerg", "ts_from": "header"}
    assert events[4]["attrs"]["request"] == "GET /api/report HTTP/1.1"
    assert stats.notes == [
        "header times shifted by +01:00 to the Nginx clock for 1 entry (learned from line 2)"
    ]


def test_multi_line_entry_keeps_a_line_that_looks_like_a_header() -> None:
    events = parse_lines(
        [
            b'2023/03/20 12:31:20 [error] 7#7: *1 FastCGI sent in stderr: "PHP message: a\n',
            b"Array | x\n",
            b'#9 {main}" while reading upstream, client: 192.0.2.1, server: x\n',
            b"2023/03/20 12:31:22 [notice] 1#1: exit\n",
        ]
    )
    assert [(e["line"], e["kind"]) for e in events] == [(1, "fastcgi_stderr"), (4, "shutdown")]
    assert events[0]["sample"].endswith(
        'a\nArray | x\n#9 {main}" while reading upstream, client: 192.0.2.1, server: x'
    )
    assert "container" not in events[0]["attrs"]


# --- NGX_MAX_ERROR_STR, raw bytes -----------------------------------------------------------

TRUNCATED = DATA / "truncated.log"


def test_entries_cut_at_2048_bytes() -> None:
    raw = TRUNCATED.read_bytes().splitlines(keepends=True)
    assert [len(raw[i]) for i in (0, 1)] == [2048, 2048]
    assert sum(len(x) for x in raw[2:22]) == 2048  # a FastCGI entry over 20 lines
    stats = ParseStats()
    events = parse_file(TRUNCATED, stats)
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (23, 23, 0, 0)
    assert [(e["line"], e["kind"], e["attrs"].get("truncated")) for e in events] == [
        (1, "upstream_timeout", "1"),  # cut in the request line of the context tail
        (2, "file_not_found", "1"),  # the path ran over: "... (2: No such file...)"
        (3, "fastcgi_stderr", "1"),  # cut inside the backend's text
        (23, "file_not_found", None),
    ]
    tail_cut, msg_cut, fcgi, whole = events
    assert tail_cut["message"] == (
        "upstream timed out (<n>: Connection timed out) while reading response header from upstream"
    )
    attrs = tail_cut["attrs"]
    assert (attrs["client"], attrs["server"], attrs["errno"]) == (
        "198.51.100.77",
        "shop.example.com",
        "110",
    )
    assert attrs["action"] == "reading response header from upstream"
    assert attrs["request"].startswith("GET /api/search?q=shoes%27%20UNION%20SELECT")
    assert attrs["request"].endswith("%27%20UN")
    assert "upstream" not in attrs and "http_host" not in attrs
    # The client address was cut too ("198.5"): left out rather than kept wrong.
    assert msg_cut["attrs"] == {
        "level": "error",
        "pid": "4211",
        "tid": "4211",
        "conn": "2002",
        "errno": "2",
        "strerror": "No such file or directory",
        "truncated": "1",
    }
    assert msg_cut["message"] == 'open() "<path>"... (<n>: No such file or directory)'
    assert msg_cut["sample"].startswith('2023/03/20 12:40:02 [error] 4211#4211: *2002 open() "')
    assert len(msg_cut["sample"]) == 500
    assert fcgi["sample"].startswith("2023/03/20 12:40:03 [error] 4211#4211: *2003 FastCGI")
    assert "client" not in fcgi["attrs"]
    assert whole["message"] == 'open() "<path>" failed (<n>: No such file or directory)'


def test_cut_entry_behind_a_relay_that_dropped_the_time() -> None:
    # The same 2047 bytes less Nginx's "YYYY/MM/DD HH:MM:SS " (20 bytes) behind a header.
    line = TRUNCATED.read_bytes().splitlines(keepends=True)[1]
    stats = ParseStats()
    events = parse_lines(
        [b"<131>Mar 20 12:40:02 web-3 nginx: " + line[20:]], stats, HintedOptions(year_hint=2023)
    )
    assert [(e["kind"], e["ts"], e["host"]) for e in events] == [
        ("file_not_found", utc(2023, 3, 20, 12, 40, 2), "web-3")
    ]
    assert events[0]["attrs"]["truncated"] == "1"
    assert events[0]["message"] == 'open() "<path>"... (<n>: No such file or directory)'
    assert stats.notes == [YEAR_NOTE.format(2023, "the access logs read with it", "1 entry")]
    # The tail-cut entry two bytes short of the limit (and no "... (" errno marker): not cut.
    tail_cut = TRUNCATED.read_bytes().splitlines(keepends=True)[0]
    short = b"<131>Mar 20 12:40:01 web-3 nginx: " + tail_cut[20:-3] + b"\n"
    events = parse_lines([short], None, HintedOptions(year_hint=2023))
    assert [e["kind"] for e in events] == ["upstream_timeout"]
    assert "truncated" not in events[0]["attrs"]


def test_raw_control_bytes_and_invalid_utf8() -> None:
    stats = ParseStats()
    events = parse_file(DATA / "control-bytes.log", stats)
    assert (stats.lines, stats.parsed, stats.rejected, stats.skipped) == (4, 4, 0, 0)
    assert [(e["line"], e["kind"]) for e in events] == [
        (1, "other"),
        (2, "other"),
        (3, "file_not_found"),
        (4, "client_closed"),
    ]
    tls, scan, utf, closed = events
    # TLS ClientHello on the plain port: NUL and other control bytes kept, invalid UTF-8
    # escaped, the closing quote found.
    assert tls["attrs"]["request"] == (
        "\x16\x03\x01\x02\x00\x01\x00\x01\\xfc\x03\x03\\x8a\x1f\x00\\xff"
    )
    assert tls["attrs"]["action"] == "reading client request line"
    assert tls["message"] == "client sent invalid method while reading client request line"
    assert tls["sample"].endswith(
        'request: "\x16\x03\x01\x02\x00\x01\x00\x01\\xfc\x03\x03\\x8a\x1f\x00\\xff"'
    )
    assert scan["attrs"]["request"] == "\x1b[2J\x7f\x0c\x0bOPTIONS sip:nm SIP/2.0"
    assert utf["attrs"]["request"] == "GET /café/%FF%FE.png HTTP/1.1"
    assert utf["attrs"]["referrer"] == "https://shop.example.com/\\xe9t\\xe9"
    assert utf["message"] == 'open() "<path>" failed (<n>: No such file or directory)'
    assert closed["message"] == "client <addr> closed keepalive connection"


# --- sniff ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "syslog.log",
        "journald.log",
        "docker-compose.log",
        "docker-t.log",
        "truncated.log",
        "control-bytes.log",
    ],
)
def test_sniff_variants(name: str) -> None:
    assert nginx_error.sniff((DATA / name).read_bytes()[:16384])


def test_sniff_refuses_headers_without_nginx_entries() -> None:
    syslog_only = (
        b"Aug 15 11:08:19 web-3 systemd[1]: Starting A high performance web server...\n"
        b"Aug 15 11:08:21 web-3 sshd[811]: Accepted publickey for deploy from 192.0.2.4\n"
    )
    assert not nginx_error.sniff(syslog_only * 5)
    compose_access = (
        b'web_1  | 172.18.0.1 - - [20/Mar/2023:12:30:01 +0000] "GET / HTTP/1.1" 200 615 '
        b'"-" "curl/7.88.1" "-"\n'
    )
    assert not nginx_error.sniff(compose_access * 5)
    # One error line among ten plain access lines is still an access log.
    access = (
        b'203.0.113.7 - - [20/Mar/2023:12:30:01 +0000] "GET /api/cart HTTP/1.1" 502 157 '
        b'"-" "Mozilla/5.0"\n'
    )
    assert not nginx_error.sniff(
        access * 10 + b"2023/03/20 12:30:02 [error] 1#1: *1 no live upstreams\n"
    )
    assert not nginx_error.sniff(b'[{"ts": "2023-03-20T12:30:02Z"}]\n')
