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

See NGINX_LOG_FORMATS.md and NGINX_ERROR_CATALOG.md (shared reference) for the facts used.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

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
        True when most non-blank lines of the first 20 are error-log entries or
        continuation lines of a multi-line entry.
    """
    lines = [ln for ln in head.split(b"\n")[:20] if ln.strip()]
    if not lines:
        return False
    hits = 0
    open_entry = False
    for ln in lines:
        if _HEAD.match(ln):
            hits += 1
            open_entry = _opens(ln)
        elif open_entry and not _ACCESS_LINE.match(ln):
            hits += 1
            open_entry = _TAIL.search(ln.rstrip(b"\r")) is None
    return hits * 2 >= len(lines)


def _opens(raw: bytes) -> bool:
    """True when ``raw`` (a head line) starts an entry that goes on over the next lines."""
    return _OPENER(raw) is not None and _TAIL.search(raw.rstrip(b"\r\n")) is None


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
        options: Bad-line policy and the path shown in messages.

    Yields:
        Lists of at most ``CHUNK_ROWS`` event dicts, in file order.

    Raises:
        BadLineError: On the first rejected line when ``options.on_bad_lines == "error"``.
    """
    head = _HEAD.match
    access = _ACCESS_LINE.match
    tcache: dict[bytes, float] = {}
    mcache: dict[bytes, _Analysis] = {}
    rows: list[dict[str, Any]] = []
    # The entry being read: its head match, first line number, time and physical lines.
    cur: re.Match[bytes] | None = None
    cur_line = 0
    cur_ts = 0.0
    parts: list[bytes] = []
    size = 0
    open_entry = False
    parsed = 0
    lineno = 0
    for lineno, raw in enumerate(lines, start=1):
        m = head(raw)
        if m is not None:
            if cur is not None:
                rows.append(_event(cur, cur_line, cur_ts, parts, mcache))
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
            open_entry = _opens(raw)
            parsed += 1
        elif not raw.strip():
            stats.skip("blank line")
        elif access(raw):
            stats.skip("access-log line in an error log")
        elif open_entry and size + len(raw) <= _MAX_ENTRY_BYTES:
            # PHP message: PHP Fatal error:  Uncaught Error ... (more of the FastCGI stderr)
            parts.append(raw)
            size += len(raw)
            parsed += 1
            if b"client: " in raw:
                open_entry = _TAIL.search(raw.rstrip(b"\r\n")) is None
        else:
            open_entry = False
            stats.reject(lineno, "not an Nginx error-log entry", raw, options)
    if cur is not None:
        rows.append(_event(cur, cur_line, cur_ts, parts, mcache))
    stats.lines = lineno
    stats.parsed += parsed
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
) -> dict[str, Any]:
    """Build the event row of one finished entry (head match ``m``, physical lines ``parts``)."""
    raw = (parts[0] if len(parts) == 1 else b"".join(parts)).rstrip(b"\r\n")
    text = raw[m.end() :]
    level, pid, tid, conn = m.group(2, 3, 4, 5)
    attrs = {"level": _LEVEL[level], "pid": decode(pid), "tid": decode(tid)}
    if conn is not None:
        attrs["conn"] = decode(conn)
    msg = text
    if b"client: " in text:
        t = _TAIL.search(text)
        if t is not None:
            msg = text[: t.start()]
            for key, value in zip(_TAIL_KEYS, t.groups(), strict=True):
                if value is not None:
                    attrs[key] = decode(value)
    an = mcache.get(msg)
    if an is None:
        if len(mcache) >= _CACHE_MAX:
            mcache.clear()
        an = mcache[msg] = _analyse(msg)
    attrs.update(an[2])
    return {
        "ts": ts,
        "end": None,
        "kind": an[0],
        "severity": _SEVERITY[level],
        "host": "",
        "message": an[1],
        "sample": decode(raw[: _SAMPLE_CHARS * 2])[:_SAMPLE_CHARS],
        "count": 1,
        "attrs": attrs,
        "line": lineno,
    }


def _analyse(msg: bytes) -> _Analysis:
    """Classify a message and derive its template and its errno, action and signal attrs."""
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
