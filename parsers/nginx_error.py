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
line (syslog, journald, Docker: ``parsers/transport.py`` reads those headers); the header is
stripped, the Nginx text after it is parsed as above, and ``sample`` holds that Nginx text.
A syslog/journald host becomes the event's ``host`` and ``attrs["syslog_host"]``; a compose
service is ``attrs["container"]``. Nginx's own timestamp wins when it is there. When it is
not (a relay dropped it, or the line is ``nginx: [emerg] ...`` that Nginx writes to stderr
before its log is open), the header's time is used (``attrs["ts_from"] = "header"``; a
syslog time has no year: see ``transport.Clock``, whose notes go to ``stats.notes``). A
stderr line with no header takes the previous entry's time (``ts_from = "previous entry"``)
and is skipped when there is none. Lines of other programs in such a log (systemd, the
image's entrypoint, other compose services) are skipped.

Nginx cuts an entry at ``NGX_MAX_ERROR_STR`` (2048 bytes with the newline): the context tail
may be cut anywhere, or an over-long message ends in ``...`` before its errno. Such an entry
is read as far as it goes and gets ``attrs["truncated"] = "1"``.

docs/nginx-facts.md lists the facts used, with where the Nginx source shows each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from parsers.base import CHUNK_ROWS, Event, ParseOptions, ParseStats, decode
from parsers.transport import Clock, Prefix, header_attrs, journald_marker, prefix, wall_time

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

# A prefixed line that starts like an Nginx entry but is broken ("2023/03/20 12:31:2").
_LOOKS_NGINX = re.compile(rb"\d{4}/\d\d/").match


def _is_entry(rest: bytes, pfx: Prefix | None, e: re.Match[bytes] | None) -> bool:
    """True when ``e`` (``_ENTRY`` on ``rest``) starts an entry.

    That is a stderr line (``nginx: [emerg] ...``), or a line with ``pid#tid`` after a
    header; a plain line without a header is only an entry when ``_HEAD`` matches it.
    """
    if e is None:
        return False
    return rest[:7] == b"nginx: " or (pfx is not None and e.group(3) is not None)


# An access-log line mixed into an error log has "[20/Mar/2023:12:30:00 +0000]" near its
# start: combined/main, "$host" prefixed, and Nginx Proxy Manager's "[time] ..." layouts.
_ACCESS_LINE = re.compile(rb"[^\[\n]{0,300}\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]")
#: Whether a line without a transport header is an access-log line, which :func:`parse`
#: skips with :data:`ACCESS_REASON` (``parsers/wrap`` skips them before handing lines over).
is_access_line = _ACCESS_LINE.match
ACCESS_REASON = "access-log line in an error log"

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
    # "an upstream response is buffered to a temporary file /var/lib/nginx/proxy/1/00/01"
    # (ngx_event_pipe: the only path Nginx writes unquoted, one per buffered response)
    ("temporary file /", re.compile(r"(temporary file )/\S+"), r"\1<path>"),
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
        pfx = prefix(ln)
        rest = ln if pfx is None else ln[pfx.end :]
        if _is_entry(rest, pfx, _ENTRY.match(rest)):
            hits += 1
            open_entry = _opens(rest)
        elif open_entry and not _ACCESS_LINE.match(rest):
            hits += 1
            open_entry = _TAIL.search(rest.rstrip(b"\r")) is None
        elif pfx is None and not journald_marker(ln):
            misses += 1
    return hits > 0 and hits >= misses


def _opens(raw: bytes) -> bool:
    """True when ``raw`` (a head line) starts an entry that goes on over the next lines."""
    return _OPENER(raw) is not None and _TAIL.search(raw.rstrip(b"\r\n")) is None


class _Stamps(dict[bytes, float | None]):
    """Nginx timestamps (``2023/03/20 12:30:02``) read as UTC, cached per text (cleared when
    full); ``stamps[text]`` is None for an invalid one (not cached)."""

    def __missing__(self, text: bytes) -> float | None:
        ts = wall_time(text)
        if ts is not None:
            if len(self) >= _CACHE_MAX:
                self.clear()
            self[text] = ts
        return ts


class _Entry:
    """The entry being read: it is finished when the next one starts."""

    __slots__ = ("extra", "line", "m", "open", "parts", "size", "src", "ts")

    def __init__(self, m: re.Match[bytes], line: int, ts: float, text: bytes,
                 extra: dict[str, str] | None = None, src: bytes | None = None) -> None:
        #: The head match (``_HEAD`` or ``_ENTRY``) on ``parts[0]``.
        self.m = m
        #: The number of its first physical line, and its time.
        self.line = line
        self.ts = ts
        #: The Nginx text of its physical lines (without a transport header), and their size.
        self.parts = [text]
        self.size = len(text)
        #: Attrs from a transport header, and who wrote it (``Prefix.source``; None: no header).
        self.extra = extra
        self.src = src
        #: More physical lines may still belong to it (FastCGI stderr, a Lua traceback).
        self.open = _opens(text)


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[list[Event]]:
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
    # The line loop is written out here (see parsers/base.py): a plain entry line, the most
    # common by far, costs one match, one cache lookup and its event; every other line goes
    # to _OtherLines.
    head = _HEAD.match
    first = options.first_line
    stamps = _Stamps()
    mcache: dict[bytes, _Analysis] = {}
    other = _OtherLines(stats, options, stamps)
    rows: list[Event] = []
    cur: _Entry | None = None  # the entry being read
    last: _Entry | None = None  # the last entry started (a stderr line without time takes its)
    # The last timestamp written by Nginx itself (the year of a syslog time comes from it).
    stamp_ts: float | None = None
    parsed = 0
    lineno = first - 1
    # A line gives a new entry, None (a plain entry line with a bad time), True (it went on
    # the entry being read) or False (it was skipped or rejected).
    new: _Entry | bool | None
    for lineno, raw in enumerate(lines, start=first):
        m = head(raw)
        if m is not None:
            ts = stamps[m.group(1)]
            new = None if ts is None else _Entry(m, lineno, ts, raw)
        elif not raw.strip():
            stats.skip("blank line")
            continue
        else:
            new = other.read(raw, lineno, cur, last, stamp_ts)
            if new is True:
                parsed += 1
            if isinstance(new, bool):
                continue
        # A new entry ends the one being read; so does a plain entry line with a bad time.
        if cur is not None:
            rows.append(_event(cur, mcache))
            if len(rows) >= CHUNK_ROWS:
                yield rows
                rows = []
            cur = None
        if new is None:
            stats.reject(lineno, "invalid timestamp", raw, options)
            continue
        stats.see_ts(new.ts)
        cur = last = new
        if m is not None or new.m.group(1) is not None:
            stamp_ts = new.ts
        parsed += 1
    if cur is not None:
        rows.append(_event(cur, mcache))
    stats.lines = lineno - first + 1
    stats.parsed += parsed
    stats.notes.extend(other.clock.notes())
    if rows:
        yield rows


class _OtherLines:
    """The lines that are not a plain entry line: an entry behind a transport header (see
    ``parsers/transport.py``) or on Nginx's stderr, the next line of a multi-line entry, or
    a line that is not an entry (counted as skipped or rejected here)."""

    def __init__(self, stats: ParseStats, options: ParseOptions, stamps: _Stamps) -> None:
        self.stats = stats
        self.options = options
        self.stamps = stamps
        self.clock = Clock(options.year_hint)
        #: The attrs of each header, by ``Prefix.source``.
        self.headers: dict[bytes, dict[str, str]] = {}

    def read(self, raw: bytes, lineno: int, cur: _Entry | None, last: _Entry | None,
             stamp_ts: float | None) -> _Entry | bool:
        """Read one line: a new entry, True when it joined ``cur`` (parsed), False when it was
        skipped or rejected.

        ``last`` is the last entry started, ``stamp_ts`` the last time Nginx wrote.
        """
        pfx = prefix(raw)
        rest = raw if pfx is None else raw[pfx.end :]
        e = _ENTRY.match(rest)
        if _is_entry(rest, pfx, e):
            assert e is not None
            new = self._entry(raw, lineno, pfx, rest, e, last, stamp_ts)
            if new is None and cur is not None:
                cur.open = False
            return new or False
        stats = self.stats
        if pfx is not None and not rest.strip():
            stats.skip("blank line")
        elif _ACCESS_LINE.match(rest):
            stats.skip("access-log line in an error log")
        elif (
            cur is not None
            and cur.open
            and (pfx is None or cur.src is None or pfx.source == cur.src)
            and cur.size + len(rest) <= _MAX_ENTRY_BYTES
        ):
            # PHP message: PHP Fatal error:  Uncaught Error ... (more of the FastCGI stderr)
            # An entry without a header keeps a line that merely looks like one whole.
            piece = raw if cur.src is None else rest
            cur.parts.append(piece)
            cur.size += len(piece)
            if b"client: " in piece:
                cur.open = _TAIL.search(piece.rstrip(b"\r\n")) is None
            return True
        else:
            if cur is not None and (pfx is None or pfx.source == cur.src):
                # (a line of another writer, e.g. another compose service, that comes
                # between two lines of a multi-line entry leaves the entry open)
                cur.open = False
            self._not_an_entry(raw, lineno, pfx, rest)
        return False

    def _entry(self, raw: bytes, lineno: int, pfx: Prefix | None, rest: bytes,
               e: re.Match[bytes], last: _Entry | None, stamp_ts: float | None
               ) -> _Entry | None:
        """The entry a header or stderr line starts; None when it is rejected (invalid
        timestamp) or skipped (no time at all)."""
        extra: dict[str, str] | None = None
        if pfx is not None:
            extra = self.headers.get(pfx.source)
            if extra is None:
                if len(self.headers) >= _CACHE_MAX:
                    self.headers.clear()
                extra = self.headers[pfx.source] = header_attrs(pfx)
        tsb = e.group(1)
        if tsb is not None:
            ts = self.stamps[tsb]
            if ts is None:
                self.stats.reject(lineno, "invalid timestamp", raw, self.options)
                return None
            if pfx is not None and self.clock.shift is None:
                self.clock.learn(pfx, ts, lineno)
        else:
            # No Nginx timestamp: stderr, or a relay dropped it (rare lines: the header's
            # attrs are copied, not shared).
            hts = None
            if pfx is not None:
                hts = self.clock.header_time(pfx, stamp_ts, None if last is None else last.ts)
            extra = dict(extra) if extra is not None else {}
            if hts is not None:
                ts = hts
                extra["ts_from"] = "header"
            elif last is not None:
                ts = last.ts
                extra["ts_from"] = "previous entry"
            else:
                self.stats.skip("no timestamp (stderr line)")
                return None
            if pfx is not None and pfx.pid is not None and e.group(3) is None:
                extra["pid"] = decode(pfx.pid)  # nginx[19610]: nginx: [emerg] ...
        return _Entry(e, lineno, ts, rest, extra or None, None if pfx is None else pfx.source)

    def _not_an_entry(self, raw: bytes, lineno: int, pfx: Prefix | None, rest: bytes) -> None:
        """Count a line that is no part of an entry: skipped or rejected, by what it is."""
        stats = self.stats
        if rest[:7] == b"nginx: ":
            # nginx: configuration file /etc/nginx/nginx.conf test failed
            stats.skip("Nginx stderr line without a level")
        elif pfx is None:
            if journald_marker(raw):
                stats.skip("journald marker line")
            else:
                stats.reject(lineno, "not an Nginx error-log entry", raw, self.options)
        elif _LOOKS_NGINX(rest):
            stats.reject(lineno, "not an Nginx error-log entry", raw, self.options)
        else:
            stats.skip("line of another program (syslog/journald/Docker log)")


#: What a message (the entry without its context tail) says: its kind, its template and the
#: attrs it carries (errno, strerror, action, signal). Cached per message bytes: storms repeat
#: the same message (connect() refused, upstream timed out) thousands of times.
_Analysis = tuple[str, str, dict[str, str]]


def _event(entry: _Entry, mcache: dict[bytes, _Analysis]) -> Event:
    """Build the event row of one finished entry (``mcache``: the analyses of messages).

    Fields are decoded with ``bytes.decode`` here rather than ``base.decode``: this runs for
    every entry, with some nine fields each, and the extra call costs half a decode.
    """
    m, parts, extra = entry.m, entry.parts, entry.extra
    raw = (parts[0] if len(parts) == 1 else b"".join(parts)).rstrip(b"\r\n")
    text = raw[m.end() :]
    level, pid, tid, conn = m.group(2, 3, 4, 5)
    if pid is not None:
        attrs = {"level": _LEVEL[level], "pid": pid.decode(), "tid": tid.decode()}  # digits
    else:  # nginx: [emerg] ... (stderr)
        attrs = {"level": _LEVEL[level]}
    if conn is not None:
        attrs["conn"] = conn.decode()
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
                attrs[key] = value.decode("utf-8", "backslashreplace")
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
        "ts": entry.ts,
        "end": None,
        "kind": an[0],
        "severity": _SEVERITY[level],
        "host": host,
        "message": an[1],
        "sample": raw[: _SAMPLE_CHARS * 2].decode("utf-8", "backslashreplace")[:_SAMPLE_CHARS],
        "count": 1,
        "attrs": attrs,
        "line": entry.line,
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
