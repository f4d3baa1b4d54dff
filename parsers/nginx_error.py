"""Nginx error log in the standard timestamped layout (``ngx_log_error_core``, ngx_log.c).

One entry is::

    2023/03/20 12:30:02 [error] 4211#4211: *1043 connect() failed (111: Connection refused)
    while connecting to upstream, client: 203.0.113.7, server: shop.example.com,
    request: "GET /api/cart HTTP/1.1", upstream: "http://10.0.2.15:8080/api/cart",
    host: "shop.example.com"

(on one physical line). Times are local wall-clock without an offset; they come out as epoch
seconds read as if they were UTC (``LOCAL_TIME``), and the caller shifts them. An entry can
span several physical lines when it copies a backend's output (``FastCGI sent in stderr:``),
so an entry is only finished when the next one starts. Each entry becomes one event row
(``EVENT_KEYS``) whose ``message`` is a template (numbers, addresses, pids and quoted paths
masked) and whose ``kind`` comes from :data:`KINDS`.

The same entries also arrive through a transport that puts its own header in front of each
line; the header is stripped, the Nginx text after it is parsed as above, and ``sample`` holds
that Nginx text::

    <131>Mar 20 12:30:02 web-3 nginx: 2023/03/20 12:30:02 [error] 4211#4211: ...   (syslog)
    Aug 15 11:08:19 web-3 nginx[19610]: nginx: [emerg] bind() to 0.0.0.0:80 failed ...  (journald)
    web_1  | 2023/03/20 12:30:02 [error] 7#7: ...                      (docker compose logs)
    2023-03-20T12:30:02.123456789Z 2023/03/20 12:30:02 [error] 7#7: ...   (docker logs -t)

A syslog/journald host becomes the event's ``host`` and ``attrs["syslog_host"]``; a compose
service is ``attrs["container"]``. Nginx's own timestamp wins when it is there. When it is
not (a relay dropped it, or the line is ``nginx: [emerg] ...`` that Nginx writes to stderr
before its log is open), the header's time is used (``attrs["ts_from"] = "header"``); a
syslog time has no year, which comes from ``options.year_hint`` when set, else from the last
Nginx timestamp before it in the file, else from the current UTC year (a note in
``stats.notes`` says which). A stderr line with no header takes the previous entry's time
(``ts_from = "previous entry"``) and is skipped when there is none. Lines of other programs in
such a log (systemd, the image's entrypoint, other compose services) are skipped.

Nginx cuts an entry at ``NGX_MAX_ERROR_STR`` (2048 bytes with the newline): the context tail
may be cut anywhere, or an over-long message ends in ``...`` before its errno. Such an entry
is read as far as it goes and gets ``attrs["truncated"] = "1"``.

See NGINX_LOG_FORMATS.md and NGINX_ERROR_CATALOG.md (shared reference) for the facts used.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from parsers.base import CHUNK_ROWS, ParseOptions, ParseStats, decode

NAME = "nginx_error"
DESCRIPTION = "Nginx error log (YYYY/MM/DD HH:MM:SS [level] pid#tid: message)"
TABLE = "events"
LOCAL_TIME = True

# 2023/03/20 12:30:02 [error] 4211#4211: *1043 connect() failed ...
# 2016/10/25 14:49:34 [error] 54053#0: *1 open() ...     (old builds print tid 0)
# 2023/03/20 12:31:41 [notice] 4210#4210: reconfiguring  (no *conn on master lines)
# Only the head is matched; the message is raw[m.end():].
_HEAD = re.compile(
    rb"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(emerg|alert|crit|error|warn|notice|info|debug)\] "
    rb"(\d+)#(\d+): (?:\*(\d+) )?"
)

# The Nginx part of a line that the fast path (_HEAD at the line start) did not take, after a
# transport header if any: _HEAD's groups in the same order, but the timestamp is optional
# (a syslog relay may drop it) and so is pid#tid (absent on stderr lines).
#   2023/03/20 12:30:02 [error] 4211#4211: *1043 connect() failed ...   (after a header)
#   [error] 4211#4211: *1043 connect() failed ...                  (relay dropped the time)
#   nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)     (stderr)
_ENTRY = re.compile(
    rb"(?:(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) |nginx: )?"
    rb"\[(emerg|alert|crit|error|warn|notice|info|debug)\] (?:(\d+)#(\d+): (?:\*(\d+) )?)?"
)

# Transport headers (tried only when _HEAD fails at the line start):
# syslog (ngx_syslog_add_header "<PRI>Mmm dd HH:MM:SS host tag: ", day space-padded, host
# left out with "nohostname"), rsyslog files without <PRI>, and journalctl's default "short"
# output "Aug 15 11:08:19 host nginx[19610]: " (also "short-precise" with microseconds).
_SYSLOG = re.compile(
    rb"(?:<\d{1,3}>)?((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d)"
    rb"(?:\.\d+)? (?:([^\s:]+) )?([^\s:\[]+)(?:\[(\d+)\])?: "
)
# An ISO 8601 time with its year: "docker logs -t" / "docker compose logs -t" (RFC 3339 UTC,
# nanoseconds), journalctl "-o short-iso" and rsyslog's high-precision files, the last two
# followed by "host tag[pid]: ". The offset is not used (see _Clock).
_ISO = re.compile(
    rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? "
    rb"(?:([^\s:]+) ([^\s:\[]+)(?:\[(\d+)\])?: )?"
)
# "docker compose logs" / foreman: "web_1  | ", "web-1  | ", "nginx.1    | ", maybe coloured.
_COMPOSE = re.compile(
    rb"(?:\x1b\[[\d;]*m)*([A-Za-z0-9][\w.-]*) *(?:\x1b\[[\d;]*m)*\|(?:\x1b\[[\d;]*m)*"
    rb"(?: |(?=\r?\n|\Z))"
)
_MONTHS = {
    m: i for i, m in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)
}
# A prefixed line that starts like an Nginx entry but is broken ("2023/03/20 12:31:2").
_LOOKS_NGINX = re.compile(rb"\d{4}/\d\d/").match


class _Prefix(NamedTuple):
    """A transport header in front of the Nginx text of a line."""

    #: Offset of the Nginx text in the line.
    end: int
    #: Who wrote the line (the header without its time): continuation lines of a multi-line
    #: entry must come from the same writer; also the key of the header's attrs.
    source: bytes
    #: syslog/journald host, compose service, pid from "tag[pid]".
    host: bytes | None
    container: bytes | None
    pid: bytes | None
    #: A syslog time without a year, ``Mar  9 12:30:02``.
    bsd: bytes | None
    #: An ISO 8601 time with its year, ``2023-03-20T12:30:02``.
    iso: bytes | None


def _prefix(raw: bytes) -> _Prefix | None:
    """The transport header at the start of ``raw``, or None (a plain line)."""
    s = _SYSLOG.match(raw)
    if s is not None:
        bsd, host, tag, pid = s.groups()
        source = raw[s.start(2) if host is not None else s.start(3) : s.end()]
        return _Prefix(s.end(), source, host, None, pid, bsd, None)
    c = _COMPOSE.match(raw)
    pos = 0 if c is None else c.end()
    container = None if c is None else c.group(1)
    i = _ISO.match(raw, pos)
    if i is not None:
        iso, host, tag, pid = i.groups()
        source = raw[:pos] if host is None else raw[:pos] + raw[i.start(2) : i.end()]
        return _Prefix(i.end(), source, host, container, pid, None, iso)
    if c is not None:
        return _Prefix(pos, raw[:pos], None, container, None, None, None)
    return None


def _header_attrs(pfx: _Prefix) -> dict[str, str]:
    """The attrs a header gives every entry behind it: syslog host, compose service."""
    attrs = {}
    if pfx.host is not None:
        attrs["syslog_host"] = decode(pfx.host)
    if pfx.container is not None:
        attrs["container"] = decode(pfx.container)
    return attrs


def _iso_wall(iso: bytes) -> float | None:
    """``2023-03-20T12:30:02`` as epoch seconds read as UTC, or None when out of range."""
    year, month, day = int(iso[0:4]), int(iso[5:7]), int(iso[8:10])
    hh, mm, ss = int(iso[11:13]), int(iso[14:16]), int(iso[17:19])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hh < 24 and mm < 60 and ss < 61):
        return None
    return float(calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)))


def _is_entry(rest: bytes, pfx: _Prefix | None, e: re.Match[bytes] | None) -> bool:
    """True when ``e`` (``_ENTRY`` on ``rest``) starts an entry.

    That is a stderr line (``nginx: [emerg] ...``), or a line with ``pid#tid`` after a
    header; a plain line without a header is only an entry when ``_HEAD`` matches it.
    """
    if e is None:
        return False
    return rest[:7] == b"nginx: " or (pfx is not None and e.group(3) is not None)


#: The current time (a module attribute so that tests can fix it).
_now: Callable[[], float] = time.time

_HALF_YEAR = 183 * 86400.0


class _Clock:
    """Times from transport headers: the missing year of syslog times, and the shift between
    the header's clock and Nginx's, learned from the first line that carries both."""

    def __init__(self, year_hint: int | None) -> None:
        self.hint = None if year_hint is None else int(year_hint)
        #: Seconds to add to a header time to get Nginx's clock; None until learned.
        self.shift: float | None = None
        self.shift_line = 0
        self.shifted = 0
        #: How many entries got which year, and how it was found.
        self.years: dict[tuple[int, str], int] = {}
        #: The last syslog time read: (time, year, how the year was found).
        self.last: tuple[float, int, str] | None = None

    def learn(self, pfx: _Prefix, ts: float, lineno: int) -> None:
        """Learn the shift from a line whose header time and Nginx time ``ts`` are both known."""
        if pfx.iso is not None:
            wall = _iso_wall(pfx.iso)
        elif pfx.bsd is not None:
            wall = _bsd_time(time.gmtime(ts).tm_year, pfx.bsd)
            if wall is not None:
                wall = _nearest_year(wall, ts, pfx.bsd)[0]
        else:
            return
        if wall is None:
            return
        diff = ts - wall
        quarters = round(diff / 900)
        # A zone offset (a whole quarter hour, at most 14 h) plus a few minutes of relay delay.
        ok = abs(diff - quarters * 900) <= 300 and abs(quarters) <= 56
        self.shift = quarters * 900.0 if ok else 0.0
        self.shift_line = lineno

    def header_time(
        self, pfx: _Prefix, stamp_ts: float | None, prev_ts: float | None
    ) -> float | None:
        """The time of a header as Nginx's clock, or None when it has none (or an invalid one).

        ``stamp_ts`` is the last Nginx timestamp of the file so far, ``prev_ts`` the time of
        the previous entry (both None when there is none).

        A syslog time takes its year from ``year_hint``, else from the last Nginx timestamp,
        else from the current UTC year; then it is moved to the year that puts it within
        half a year of the entries before it (the year turned between them).
        """
        if pfx.iso is not None:
            wall = _iso_wall(pfx.iso)
            if wall is None:
                return None
            ts = wall
        elif pfx.bsd is not None:
            last = self.last
            ref = last[0] if last is not None else None
            # The file's own Nginx timestamps are the best evidence; then the year of the
            # other sources read with it (the access logs); then the current year.
            if stamp_ts is not None:
                year, how = time.gmtime(stamp_ts).tm_year, "the last Nginx timestamp before it"
                ref = prev_ts
            elif self.hint is not None:
                year, how = self.hint, "the access logs read with it"
            else:
                year, how = time.gmtime(_now()).tm_year, "the current UTC year"
            first = _bsd_time(year, pfx.bsd)
            if first is None:
                return None
            ts = first
            if ref is not None:
                ts, moved = _nearest_year(ts, ref, pfx.bsd)
                if moved != year:
                    year = moved
                    if last is not None and last[1] == year:
                        how = last[2]  # the year of the previous header time, however found
                    else:
                        how += " (across a new year)"
            elif how == "the current UTC year" and ts > _now() + 2 * 86400:
                # A log line is not from the future: last August's lines read in February.
                year -= 1
                ts = _bsd_time(year, pfx.bsd) or ts
                how = "the current UTC year minus one (the date is still to come this year)"
            self.last = (ts, year, how)
            key = (year, how)
            self.years[key] = self.years.get(key, 0) + 1
        else:
            return None
        if self.shift:
            ts += self.shift
            self.shifted += 1
        return ts

    def notes(self) -> list[str]:
        """The remarks for ``stats.notes``: years assumed, shift applied."""
        out = []
        for (year, how), n in self.years.items():
            what = "entry" if n == 1 else "entries"
            out.append(
                f"year {year} inferred from {how} for {n} {what} timed by a syslog/journald "
                "header (it has no year)"
            )
        if self.shifted and self.shift:
            sign = "+" if self.shift > 0 else "-"
            hh, mm = divmod(int(abs(self.shift)) // 60, 60)
            what = "entry" if self.shifted == 1 else "entries"
            out.append(
                f"header times shifted by {sign}{hh:02d}:{mm:02d} to the Nginx clock for "
                f"{self.shifted} {what} (learned from line {self.shift_line})"
            )
        return out


def _bsd_time(year: int, bsd: bytes) -> float | None:
    """A syslog time (``Mar  9 12:30:02``) in ``year`` as epoch seconds read as UTC."""
    month, day = _MONTHS[bsd[0:3]], int(bsd[4:6])
    hh, mm, ss = int(bsd[7:9]), int(bsd[10:12]), int(bsd[13:15])
    if not (1 <= day <= 31 and hh < 24 and mm < 60 and ss < 61):
        return None
    return float(calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)))


def _nearest_year(ts: float, ref: float, bsd: bytes) -> tuple[float, int]:
    """``ts`` moved by a year when it is over half a year from ``ref`` (Dec 31 -> Jan 1)."""
    year = time.gmtime(ts).tm_year
    if ts < ref - _HALF_YEAR:
        year += 1
    elif ts > ref + _HALF_YEAR:
        year -= 1
    else:
        return ts, year
    return _bsd_time(year, bsd) or ts, year


# An access-log line mixed into an error log has "[20/Mar/2023:12:30:00 +0000]" near its
# start: combined/main, "$host" prefixed, and Nginx Proxy Manager's "[time] ..." layouts.
_ACCESS_LINE = re.compile(rb"[^\[\n]{0,300}\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]")

# The context tail appended by the HTTP/mail/stream log handlers (ngx_http_request.c
# ngx_http_log_error and friends), in their fixed order and anchored at the end of the entry.
# The leftmost ", client: " from which the rest parses as this grammar wins, so a request
# line or referrer that contains ", client: " itself cannot cut the message short.
#   , client: 203.0.113.7, server: shop.example.com, request: "GET / HTTP/1.1",
#     upstream: "http://10.0.2.15:8080/", host: "shop.example.com", referrer: "https://x/"
#   , client: 5.34.207.182, server: 0.0.0.0:25, login: "a@b", upstream: 172.69.69.9:10025
#   , udp client: 192.0.2.1, server: 0.0.0.0:53, upstream: "10.0.0.53:53",
#     bytes from/to client:40/0, bytes from/to upstream:0/40
# The client may be followed by " using starttls" (mail); "server: ," may be empty.
# A quoted value is _Q: the shortest run up to a '"' after which the rest still parses (the
# request line is raw and may contain '"'); unrolled as [^"]* runs so that the engine scans
# whole runs at once instead of trying every byte as ".*?" would (2x faster here).
_Q = rb'"([^"]*+(?:"[^"]*+)*?)"'
_TAIL = re.compile(
    rb", (?:udp )?client: ([^,\s]*+)[^,]*+, server: ([^,]*+)"
    rb"(?:, request: " + _Q + rb")?"
    rb"(?:, subrequest: " + _Q + rb")?"
    rb"(?:, upstream: " + _Q + rb")?"
    rb"(?:, host: " + _Q + rb")?"
    rb"(?:, referrer: " + _Q + rb")?"
    rb"(?:, login: " + _Q + rb")?"
    rb'(?:, upstream: ([^\s",]+))?'
    rb"(?:, bytes from/to client:\S*, bytes from/to upstream:\S*)?"
    rb"\Z"
)
#: attrs keys for the _TAIL groups, in group order (the mail upstream is group 9).
_TAIL_KEYS = (
    "client",
    "server",
    "request",
    "subrequest",
    "upstream",
    "http_host",
    "referrer",
    "login",
    "upstream",
)

# "(111: Connection refused)" right after the message text (ngx_log_errno), before " while".
_ERRNO = re.compile(rb"\((\d+): ([^()]*)\)")

# "signal 1 (SIGHUP) received from 10890, reconfiguring"; "signal 29 (SIGIO) received"
_SIGNAL_NAME = re.compile(rb"signal \d+ \((SIG\w+)\) received")
# "worker process 4212 exited on signal 9 (core dumped)"
_SIGNAL_NUM = re.compile(rb"exited on signal (\d+)")
# Nginx prints only the number for a crash; these agree on Linux and the BSDs.
_SIGNAL_NAMES = {
    b"1": "SIGHUP",
    b"2": "SIGINT",
    b"3": "SIGQUIT",
    b"4": "SIGILL",
    b"6": "SIGABRT",
    b"8": "SIGFPE",
    b"9": "SIGKILL",
    b"11": "SIGSEGV",
    b"15": "SIGTERM",
}

#: An entry whose first line contains one of these may go on over the next physical lines
#: until a line ends with the context tail: FastCGI copies the backend's stderr verbatim
#: (newlines included), and OpenResty Lua errors carry a multi-line stack traceback.
_OPENER = re.compile(rb'sent in stderr: "|lua entry thread aborted').search
#: NGX_MAX_ERROR_STR is 2048 bytes a line (4096 in some OpenResty builds): past this an open
#: entry is certainly over and further lines are judged on their own.
_MAX_ENTRY_BYTES = 8192

_SEVERITY = {
    b"emerg": "critical",
    b"alert": "critical",
    b"crit": "critical",
    b"error": "error",
    b"warn": "warning",
    b"notice": "info",
    b"info": "info",
    b"debug": "info",
}
_LEVEL = {k: decode(k) for k in _SEVERITY}

Matcher = Callable[[bytes], object]

# "... in /etc/nginx/nginx.conf:12" appended by ngx_conf_log_error.
_CONF_AT = re.compile(rb" in \S+:\d+\Z").search
# "connect() failed (111: ...)", "connect() to unix:/run/php/php-fpm.sock failed (2: ...)"
_CONNECT = re.compile(rb"connect\(\) (?:to \S+ )?failed").search
# TLS failures, client or upstream side.
_TLS = re.compile(
    rb"SSL_\w+\(\) failed|peer closed connection in SSL handshake|upstream SSL certificate"
    rb"|SSL handshaking"
).search
# An errno of a socket call whose action names the upstream.
_TO_UPSTREAM = re.compile(rb"\) while [^\"]*upstream\Z").search
# open() "/srv/x" failed (2: ...) from ngx_http_static, index, try_files and friends.
_FILE_CALL = rb'(?:open|stat|lstat|opendir|realpath)\(\) ".*" failed \('
# 2 ENOENT, 20 ENOTDIR, 36 ENAMETOOLONG -> 404
_FILE_MISSING = re.compile(_FILE_CALL + rb"(?:2|20|36): ").match
# 13 EACCES, 1 EPERM, 40 ELOOP -> 403
_FILE_DENIED = re.compile(_FILE_CALL + rb"(?:13|1|40): ").match
_CLIENT_CLOSED = re.compile(rb"client (?:\S+ )?(?:prematurely )?closed (?:keepalive )?connection")
_AUTH = re.compile(rb'^user ".*"(?:: password mismatch| was not found in )')


def _signal_is(*names: str) -> Matcher:
    """A matcher for ``signal N (SIGxxx) received...`` with one of ``names``."""
    alt = "|".join(names).encode()
    return re.compile(rb"^signal \d+ \((?:" + alt + rb")\) received").match


#: Kind classification: ``(literal, matcher or None, kind)``, first match wins. The literal is
#: a cheap ``in`` pre-check on the message (the entry without its context tail); the matcher,
#: when given, must then accept it too. Order matters: backend-copied text first (it may quote
#: any other message), then config errors, then the specific before the generic.
KINDS: tuple[tuple[bytes, Matcher | None, str], ...] = (
    # FastCGI sent in stderr: "PHP message: PHP Warning: ..." (the PHP text may say anything)
    (b"FastCGI sent in stderr", None, "fastcgi_stderr"),
    # [client 1.1.1.1] ModSecurity: Access denied with code 403 (phase 2). Matched ...
    (b"ModSecurity: Access denied", None, "waf_denied"),
    # ModSecurity: Warning. Matched "Operator `Rx' with parameter ...
    (b"ModSecurity: ", None, "waf_match"),
    # unknown directive "foo" in /etc/nginx/nginx.conf:12
    # host not found in upstream "backend:8080" in /etc/nginx/conf.d/default.conf:5
    (b" in ", _CONF_AT, "config_error"),
    # open() "/var/www/html/favicon.ico" failed (2: No such file or directory)  (the most
    # common line of all, hence early; the errno list keeps connect()/24 rows out)
    (b"() ", _FILE_MISSING, "file_not_found"),
    # "/usr/share/nginx/html/market/index.html" is not found (2: No such file or directory)
    (b" is not found (", None, "file_not_found"),
    # open() "/var/www/html/secret" failed (13: Permission denied)
    (b"() ", _FILE_DENIED, "permission_denied"),
    # directory index of "/static/" is forbidden
    (b"directory index of ", None, "permission_denied"),
    # access forbidden by rule
    (b"access forbidden by rule", None, "permission_denied"),
    # 1024 worker_connections are not enough[, reusing connections| for 3 listening sockets]
    (b"worker_connections are not enough", None, "worker_connections"),
    # 1024 worker_connections exceed open file resource limit: 256
    (b"worker_connections exceed open file", None, "worker_connections"),
    # accept4() failed (24: Too many open files); socket() failed (23: ... in system)
    (b"Too many open files", None, "too_many_open_files"),
    # connect() failed (111: Connection refused) while connecting to upstream
    # connect() to unix:/run/php/php-fpm.sock failed (2: No such file or directory)
    (b"connect() ", _CONNECT, "upstream_refused"),
    # upstream timed out (110: Connection timed out) while reading response header from upstream
    (b"upstream timed out", None, "upstream_timeout"),
    # no live upstreams while connecting to upstream
    (b"no live upstreams", None, "no_live_upstreams"),
    # upstream server temporarily disabled while connecting to upstream
    (b"upstream server temporarily disabled", None, "upstream_disabled"),
    # upstream prematurely closed connection|FastCGI stdout|FastCGI request while reading ...
    (b"upstream prematurely closed", None, "upstream_closed"),
    # SSL_do_handshake() failed (SSL: error:0A000102:...) while SSL handshaking
    # peer closed connection in SSL handshake (104: Connection reset by peer) while SSL ...
    # upstream SSL certificate verify error: (10:certificate has expired)
    (b"SSL", _TLS, "tls_failure"),
    # upstream sent too big header / invalid header / no valid HTTP/1.0 header / ...
    (b"upstream sent ", None, "upstream_bad_response"),
    # recv() failed (104: Connection reset by peer) while reading response header from upstream
    (b"(104: ", _TO_UPSTREAM, "upstream_reset"),
    # writev() failed (32: Broken pipe) while sending request to upstream
    (b"(32: ", _TO_UPSTREAM, "upstream_reset"),
    # recv() failed (104: Connection reset by peer) while reading client request line
    (b"(104: ", None, "client_closed"),
    # writev() failed (32: Broken pipe) while sending to client
    (b"(32: ", None, "client_closed"),
    # backend could not be resolved (3: Host not found)
    (b"could not be resolved", None, "resolve_failed"),
    # no resolver defined to resolve backend.internal
    (b"no resolver defined", None, "resolve_failed"),
    # bind() to 0.0.0.0:80 failed (98: ...); try again to bind() after 500ms; still could not ...
    (b"bind()", None, "bind_failed"),
    # limiting requests, excess: 5.428 by zone "default_root_zone"
    (b"limiting requests", None, "rate_limited"),
    # delaying request, excess: 0.500, by zone "api"
    (b"delaying request", None, "rate_delayed"),
    # limiting connections by zone "addr"
    (b"limiting connections", None, "conn_limited"),
    # client intended to send too large body: 10485761 bytes (also "chunked body")
    (b"client intended to send too large", None, "body_too_large"),
    # client prematurely closed connection while sending to client
    # epoll_wait() reported that client prematurely closed connection, so upstream ...
    (b"closed", _CLIENT_CLOSED.search, "client_closed"),
    # user "foo" was not found in "/etc/nginx/.htpasswd"; user "toto": password mismatch
    (b'user "', _AUTH.match, "auth_failed"),
    # client login failed: "Authentication credentials invalid" while in http auth state (mail)
    (b"client login failed", None, "auth_failed"),
    # signal process started   (written by the "nginx -s reload" helper process)
    (b"signal process started", None, "signal_process"),
    # signal 1 (SIGHUP) received from 10890, reconfiguring
    (b"(SIGHUP)", _signal_is("SIGHUP"), "reload"),
    # reconfiguring
    (b"reconfiguring", re.compile(rb"reconfiguring\Z").match, "reload"),
    # signal 10 (SIGUSR1) received from 10896, reopening logs
    (b"(SIGUSR1)", _signal_is("SIGUSR1"), "reopen_logs"),
    # reopening logs
    (b"reopening logs", re.compile(rb"reopening logs\Z").match, "reopen_logs"),
    # signal 3 (SIGQUIT) received from 10898, shutting down; signal 15 (SIGTERM) ..., exiting
    (b") received", _signal_is("SIGQUIT", "SIGTERM", "SIGINT"), "shutdown"),
    # exiting; exit
    (b"exit", re.compile(rb"exit(?:ing)?\Z").match, "shutdown"),
    # gracefully shutting down; shutting down
    (b"shutting down", re.compile(rb"(?:gracefully )?shutting down\Z").match, "shutdown"),
    # signal 17 (SIGCHLD) received from 4211; signal 29 (SIGIO) received
    (b") received", re.compile(rb"^signal \d+ \(\w+\) received").match, "signal_other"),
    # start worker processes; start worker process 5121; start cache manager process 5123
    (b"start ", re.compile(rb"start [\w ]*process").match, "start_workers"),
    # worker process 4212 exited on signal 9 (core dumped)
    (b"exited on signal", None, "worker_crash"),
    # cache manager process 4213 exited with fatal code 2 and cannot be respawned
    (b"exited with fatal code", None, "worker_crash"),
    # worker process 4211 exited with code 0
    (b" exited with code ", None, "worker_exit"),
    # using the "epoll" event method; nginx/1.22.1; built by gcc 12.2.0; OS: Linux 6.1.0;
    # getrlimit(RLIMIT_NOFILE): 1024:524288; using inherited sockets from "6;7;"
    # (no common literal: these are few, and this is the last row)
    (
        b"",
        re.compile(
            rb'using the "\w+" event method|(?:nginx|openresty|angie|freenginx|tengine)/\d'
            rb"|built (?:by|with) |OS: |getrlimit\(|using inherited sockets"
        ).match,
        "startup_info",
    ),
)

# Template masks, applied in order to the decoded message (without the context tail), each
# only when its literal occurs. Patterns start with a literal or a digit (not a lookbehind)
# so that the engine can skip ahead to candidates: this runs once per distinct message.
_MASKS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # user "foo" was not found ...
    ('user "', re.compile(r'(user ")[^"]*"'), r'\1<user>"'),
    # open() "/var/www/x" failed; "/srv/index.html" is not found
    ('"/', re.compile(r'"/[^"]*"'), '"<path>"'),
    # connect() to [2001:db8::1]:443 failed
    ("[", re.compile(r"\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\](?::\d+)?"), "<addr>"),
    # 10.0.2.15:8080, 203.0.113.7 (not inside 1.2.3.4.5 or v10.0.0.1)
    (".", re.compile(r"\d(?<![\w.]\d)\d{0,2}(?:\.\d{1,3}){3}(?::\d+)?(?![\w.])"), "<addr>"),
    # signal 17 (SIGCHLD) received from 4211
    ("received from ", re.compile(r"(received from )\d+"), r"\1<pid>"),
    # start worker process 5121; worker process 4211 exited with code 0
    ("process ", re.compile(r"(process )\d+"), r"\1<pid>"),
    # (111: ...), excess: 5.428, 1024 worker_connections; not "accept4()", "HTTP/1.0", "1.22.1"
    ("", re.compile(r"\d(?<![\w./-]\d)\d*(?:\.\d+)?(?![\w.])"), "<n>"),
)
#: Templates longer than this are cut (ModSecurity and FastCGI messages run to kilobytes).
_TEMPLATE_CHARS = 300
#: ``sample`` keeps the raw entry up to this many characters.
_SAMPLE_CHARS = 500
#: Bounded caches (timestamps, message analyses): cleared when full, so memory stays flat.
_CACHE_MAX = 4096


def sniff(head: bytes) -> bool:
    """Tell whether a file's first bytes look like an Nginx error log.

    Args:
        head: The first bytes of the file.

    Returns:
        True when at least one of the first 20 non-blank lines is an error-log entry and the
        entries and continuation lines of multi-line entries are at least as many as the
        lines that are neither. Lines of other programs and access lines behind a syslog,
        journald or Docker header (systemd, the image's entrypoint, other services) count
        for neither side.
    """
    lines = [ln for ln in head.split(b"\n")[:20] if ln.strip()]
    hits = misses = 0
    open_entry = False
    for ln in lines:
        if _HEAD.match(ln):
            hits += 1
            open_entry = _opens(ln)
            continue
        pfx = _prefix(ln)
        rest = ln if pfx is None else ln[pfx.end :]
        if _is_entry(rest, pfx, _ENTRY.match(rest)):
            hits += 1
            open_entry = _opens(rest)
        elif open_entry and not _ACCESS_LINE.match(rest):
            hits += 1
            open_entry = _TAIL.search(rest.rstrip(b"\r")) is None
        elif pfx is None and not _journald_marker(ln):
            misses += 1
    return hits > 0 and hits >= misses


def _opens(raw: bytes) -> bool:
    """True when ``raw`` (a head line) starts an entry that goes on over the next lines."""
    return _OPENER(raw) is not None and _TAIL.search(raw.rstrip(b"\r\n")) is None


def _journald_marker(raw: bytes) -> bool:
    """``-- Logs begin at ... --``, ``-- Boot 4a8c... --``, ``-- No entries --`` (journalctl)."""
    return raw.startswith(b"-- ") and raw.rstrip().endswith(b" --")


def _timestamp(text: bytes) -> float | None:
    """``2023/03/20 12:30:02`` read as UTC to epoch seconds, or None when out of range."""
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hh, mm, ss = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hh < 24 and mm < 60 and ss < 61):
        return None
    return float(calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)))


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[list[dict[str, Any]]]:
    """Parse error-log lines into chunks of event rows (see ``EVENT_KEYS``).

    Args:
        lines: The file's physical lines as bytes, each ending in ``b"\\n"`` but maybe the last.
        stats: Counts for this file; every line ends up parsed, rejected or skipped.
            ``stats.lines`` is set to the number of lines read.
        options: Bad-line policy, the path shown in messages and ``first_line``, the number
            of the first line (rows and rejects are numbered from it). An attribute
            ``year_hint`` (int), when present, is the year of syslog times (they have none).

    Yields:
        Lists of at most ``CHUNK_ROWS`` event dicts, in file order.

    Raises:
        BadLineError: On the first rejected line when ``options.on_bad_lines == "error"``.
    """
    head = _HEAD.match
    access = _ACCESS_LINE.match
    tcache: dict[bytes, float] = {}
    mcache: dict[bytes, _Analysis] = {}
    xcache: dict[bytes, dict[str, str]] = {}  # header attrs per _Prefix.source
    rows: list[dict[str, Any]] = []
    first = options.first_line
    clock = _Clock(options.year_hint)
    # The entry being read: its head match, first line number, time, physical lines (the Nginx
    # text of each, without a transport header), extra attrs and writer (see _Prefix.source).
    cur: re.Match[bytes] | None = None
    cur_line = first - 1  # below ``first`` until the first entry
    cur_ts = 0.0
    cur_extra: dict[str, str] | None = None
    cur_src: bytes | None = None
    parts: list[bytes] = []
    size = 0
    open_entry = False
    parsed = 0
    # The last timestamp written by Nginx itself (the year of a syslog time comes from it).
    stamp_ts: float | None = None
    lineno = first - 1
    for lineno, raw in enumerate(lines, start=first):
        m = head(raw)
        if m is not None:
            if cur is not None:
                rows.append(_event(cur, cur_line, cur_ts, parts, mcache, cur_extra))
                if len(rows) >= CHUNK_ROWS:
                    yield rows
                    rows = []
                cur = None
            tsb = m.group(1)
            ts = tcache.get(tsb)
            if ts is None:
                ts = _timestamp(tsb)
                if ts is None:
                    stats.reject(lineno, "invalid timestamp", raw, options)
                    open_entry = False
                    continue
                if len(tcache) >= _CACHE_MAX:
                    tcache.clear()
                tcache[tsb] = ts
            stats.see_ts(ts)
            cur, cur_line, cur_ts, parts, size = m, lineno, ts, [raw], len(raw)
            cur_extra = cur_src = None
            stamp_ts = ts
            open_entry = _opens(raw)
            parsed += 1
        elif not raw.strip():
            stats.skip("blank line")
        else:
            # The slow path: a header, a stderr line, a continuation line or not an entry.
            pfx = _prefix(raw)
            rest = raw if pfx is None else raw[pfx.end :]
            e = _ENTRY.match(rest)
            if _is_entry(rest, pfx, e):
                assert e is not None
                extra: dict[str, str] | None = None
                if pfx is not None:
                    extra = xcache.get(pfx.source)
                    if extra is None:
                        if len(xcache) >= _CACHE_MAX:
                            xcache.clear()
                        extra = xcache[pfx.source] = _header_attrs(pfx)
                tsb = e.group(1)
                if tsb is not None:
                    ts = tcache.get(tsb)
                    if ts is None:
                        ts = _timestamp(tsb)
                        if ts is None:
                            stats.reject(lineno, "invalid timestamp", raw, options)
                            open_entry = False
                            continue
                        if len(tcache) >= _CACHE_MAX:
                            tcache.clear()
                        tcache[tsb] = ts
                    stamp_ts = ts
                    if pfx is not None and clock.shift is None:
                        clock.learn(pfx, ts, lineno)
                else:
                    # No Nginx timestamp: stderr, or a relay dropped it (rare lines: the
                    # header's attrs are copied, not shared).
                    hts = None
                    if pfx is not None:
                        prev = cur_ts if cur_line >= first else None
                        hts = clock.header_time(pfx, stamp_ts, prev)
                    extra = dict(extra) if extra is not None else {}
                    if hts is not None:
                        ts = hts
                        extra["ts_from"] = "header"
                    elif cur_line >= first:
                        ts = cur_ts
                        extra["ts_from"] = "previous entry"
                    else:
                        stats.skip("no timestamp (stderr line)")
                        open_entry = False
                        continue
                    if pfx is not None and pfx.pid is not None and e.group(3) is None:
                        extra["pid"] = decode(pfx.pid)  # nginx[19610]: nginx: [emerg] ...
                if cur is not None:
                    rows.append(_event(cur, cur_line, cur_ts, parts, mcache, cur_extra))
                    if len(rows) >= CHUNK_ROWS:
                        yield rows
                        rows = []
                stats.see_ts(ts)
                cur, cur_line, cur_ts, parts, size = e, lineno, ts, [rest], len(rest)
                cur_extra = extra or None
                cur_src = None if pfx is None else pfx.source
                open_entry = _opens(rest)
                parsed += 1
            elif pfx is not None and not rest.strip():
                stats.skip("blank line")
            elif access(rest):
                stats.skip("access-log line in an error log")
            elif (
                open_entry
                and (pfx is None or cur_src is None or pfx.source == cur_src)
                and size + len(rest) <= _MAX_ENTRY_BYTES
            ):
                # PHP message: PHP Fatal error:  Uncaught Error ... (more of the FastCGI stderr)
                # An entry without a header keeps a line that merely looks like one whole.
                piece = raw if cur_src is None else rest
                parts.append(piece)
                size += len(piece)
                parsed += 1
                if b"client: " in piece:
                    open_entry = _TAIL.search(piece.rstrip(b"\r\n")) is None
            else:
                if pfx is None or pfx.source == cur_src:
                    # (a line of another writer, e.g. another compose service, that comes
                    # between two lines of a multi-line entry leaves the entry open)
                    open_entry = False
                if rest[:7] == b"nginx: ":
                    # nginx: configuration file /etc/nginx/nginx.conf test failed
                    stats.skip("Nginx stderr line without a level")
                elif pfx is None:
                    if _journald_marker(raw):
                        stats.skip("journald marker line")
                    else:
                        stats.reject(lineno, "not an Nginx error-log entry", raw, options)
                elif _LOOKS_NGINX(rest):
                    stats.reject(lineno, "not an Nginx error-log entry", raw, options)
                else:
                    stats.skip("line of another program (syslog/journald/Docker log)")
    if cur is not None:
        rows.append(_event(cur, cur_line, cur_ts, parts, mcache, cur_extra))
    stats.lines = lineno - first + 1
    stats.parsed += parsed
    stats.notes.extend(clock.notes())
    if rows:
        yield rows


#: What a message (the entry without its context tail) says: its kind, its template and the
#: attrs it carries (errno, strerror, action, signal). Cached per message bytes: storms repeat
#: the same message (connect() refused, upstream timed out) thousands of times.
_Analysis = tuple[str, str, dict[str, str]]


def _event(
    m: re.Match[bytes],
    lineno: int,
    ts: float,
    parts: list[bytes],
    mcache: dict[bytes, _Analysis],
    extra: dict[str, str] | None,
) -> dict[str, Any]:
    """Build the event row of one finished entry.

    ``m`` is the head match (``_HEAD`` or ``_ENTRY``) on ``parts[0]``, ``parts`` the Nginx
    text of its physical lines and ``extra`` the attrs that came from a transport header.
    """
    raw = (parts[0] if len(parts) == 1 else b"".join(parts)).rstrip(b"\r\n")
    text = raw[m.end() :]
    level, pid, tid, conn = m.group(2, 3, 4, 5)
    if pid is not None:
        attrs = {"level": _LEVEL[level], "pid": decode(pid), "tid": decode(tid)}
    else:  # nginx: [emerg] ... (stderr)
        attrs = {"level": _LEVEL[level]}
    if conn is not None:
        attrs["conn"] = decode(conn)
    cut = len(raw) >= _CUT_MIN and _is_cut(raw, m)
    msg = text
    if b"client: " in text:
        t = _TAIL.search(text)
        if t is not None:
            msg = text[: t.start()]
            groups: tuple[bytes | None, ...] = t.groups()
        elif cut:
            start, groups = _cut_tail(text)
            msg = text[:start]
        else:
            groups = ()
        for key, value in zip(_TAIL_KEYS, groups, strict=False):
            if value is not None:
                attrs[key] = decode(value)
    an = None if cut else mcache.get(msg)
    if an is None:
        an = _analyse(msg, cut)
        if not cut:  # a cut message is seldom seen twice
            if len(mcache) >= _CACHE_MAX:
                mcache.clear()
            mcache[msg] = an
    attrs.update(an[2])
    if cut:
        attrs["truncated"] = "1"
    host = ""
    if extra is not None:
        attrs.update(extra)
        host = extra.get("syslog_host", "")
    return {
        "ts": ts,
        "end": None,
        "kind": an[0],
        "severity": _SEVERITY[level],
        "host": host,
        "message": an[1],
        "sample": decode(raw[: _SAMPLE_CHARS * 2])[:_SAMPLE_CHARS],
        "count": 1,
        "attrs": attrs,
        "line": lineno,
    }


#: NGX_MAX_ERROR_STR is 2048 (4096 in some OpenResty builds): a cut entry is that minus the
#: newline (CRLF on Windows) long. Shorter entries are not looked at.
_CUT_LENGTHS = frozenset((2046, 2047, 4094, 4095))
_CUT_MIN = 1990
#: What a syslog relay that drops Nginx's own "YYYY/MM/DD HH:MM:SS " takes off the length.
_STAMP_BYTES = 20


def _is_cut(raw: bytes, m: re.Match[bytes]) -> bool:
    """True when the entry ``raw`` (head match ``m``) was cut at ``NGX_MAX_ERROR_STR``.

    Either it has the maximal length (the context tail or the message ran over), or the
    message ran over and ngx_log_errno wrote ``...`` before its `` (errno: strerror)``, which
    then ends the entry (no context tail followed).
    """
    n = len(raw)
    if m.group(1) is None and m.group(3) is not None:
        n += _STAMP_BYTES
    return n in _CUT_LENGTHS or b"... (" in raw[-80:]


def _cut_tail(text: bytes) -> tuple[int, tuple[bytes | None, ...]]:
    """Where the context tail of a cut entry starts, and the ``_TAIL`` groups it still has.

    The tail is read up to the cut: a quoted value cut short is closed (and kept, cut), a
    field cut in its name or in an unquoted value is dropped.
    """
    i = text.find(b", client: ")
    if i < 0:
        i = text.find(b", udp client: ")
        if i < 0:
            return len(text), ()
    tail = text[i:]
    tries = [tail + b'"' if tail.count(b'"') % 2 else tail]
    j = tail.rfind(b", ")
    if j > 0:
        tries.append(tail[:j])
    for t in tries:
        done = _TAIL.match(t)
        if done is not None:
            return i, done.groups()
    return i, ()


# A file call whose path ran past NGX_MAX_ERROR_STR: open() "/srv/aaaa... (2: No such file...)
_CUT_FILE_CALL = re.compile(rb'(?:open|stat|lstat|opendir|realpath)\(\) "').match


def _analyse(msg: bytes, cut: bool = False) -> _Analysis:
    """Classify a message and derive its template and its errno, action and signal attrs.

    With ``cut`` (the entry was cut at ``NGX_MAX_ERROR_STR``) a quoted value left open is
    closed before masking, and a file call that lost its `` failed`` is classified by errno.
    """
    attrs: dict[str, str] = {}
    core = msg
    # "... (111: Connection refused) while connecting to upstream": the action is last and
    # never quotes anything, unlike a " while " inside a quoted path or backend text.
    i = msg.rfind(b" while ")
    if i >= 0 and b'"' not in msg[i:] and b")" not in msg[i:]:
        attrs["action"] = decode(msg[i + 7 :])
        core = msg[:i]
    if core.endswith(b")"):
        j = core.rfind(b" (")
        e = _ERRNO.fullmatch(core, j + 1) if j >= 0 else None
        if e is not None:
            attrs["errno"], attrs["strerror"] = decode(e.group(1)), decode(e.group(2))
    kind = classify(msg)
    if cut:
        if kind == "other" and _CUT_FILE_CALL(msg):
            errno = attrs.get("errno")
            if errno in ("2", "20", "36"):
                kind = "file_not_found"
            elif errno in ("13", "1", "40"):
                kind = "permission_denied"
        if msg.count(b'"') % 2:
            # A quoted value left open by the cut: a path is masked here (template_of only
            # sees the first few hundred bytes, so it would not find the closing quote);
            # anything else is closed where the cut is.
            k = msg.rfind(b"... (")
            k = len(msg) if k < 0 else k
            q = msg.rfind(b'"', 0, k)
            if msg[q + 1 : q + 2] == b"/":
                msg = msg[:q] + b'"<path>"' + msg[k:]
            else:
                msg = msg[:k] + b'"' + msg[k:]
    if kind in ("reload", "reopen_logs", "shutdown", "signal_other"):
        s = _SIGNAL_NAME.match(msg)
        if s is not None:
            attrs["signal"] = decode(s.group(1))
    elif kind == "worker_crash":
        s = _SIGNAL_NUM.search(msg)
        if s is not None:
            attrs["signal"] = _SIGNAL_NAMES.get(s.group(1), decode(s.group(1)))
    return kind, template_of(msg), attrs


def classify(msg: bytes) -> str:
    """The kind of an error-log message (the entry text after ``pid#tid: *N``, no tail).

    Args:
        msg: The message bytes, e.g. ``b"no live upstreams while connecting to upstream"``.

    Returns:
        The first matching kind of :data:`KINDS`, or ``"other"``.
    """
    for literal, matcher, kind in KINDS:
        if literal in msg and (matcher is None or matcher(msg)):
            return kind
    return "other"


def template_of(msg: bytes) -> str:
    """Mask the variable parts of a message so that equal problems compare equal.

    Args:
        msg: The message bytes without the context tail.

    Returns:
        The decoded message with numbers as ``<n>``, addresses as ``<addr>``, pids as
        ``<pid>``, quoted paths as ``"<path>"`` and user names as ``<user>``, on one line
        and cut to a few hundred characters.
    """
    text = decode(msg[: _TEMPLATE_CHARS * 2])
    for literal, rx, repl in _MASKS:
        if literal in text:
            text = rx.sub(repl, text)
    text = text.replace("\r", "").replace("\n", " ")
    if len(text) > _TEMPLATE_CHARS or len(msg) > _TEMPLATE_CHARS * 2:
        text = text[:_TEMPLATE_CHARS] + "..."
    return text
