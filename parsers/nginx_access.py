"""Nginx access log in the ``combined`` and ``main`` formats.

``combined`` is Nginx's built-in default (ngx_http_log_module.c)::

    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent"

``main`` (Debian's and nginx.org's packaged nginx.conf) appends ``"$http_x_forwarded_for"``.
Lines may carry a ``$host``/``vhost:port`` prefix (a common custom format, also the
``vhost_combined`` of Debian packages); remote_addr may be a forwarded-for chain.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

from parsers.base import (
    CHUNK_ROWS,
    ParseOptions,
    ParseStats,
    decode,
    empty_request_chunk,
    parse_time_local,
)

NAME = "nginx_access"
DESCRIPTION = "Nginx access log, combined or main (combined + X-Forwarded-For)"
TABLE = "requests"
LOCAL_TIME = False

# 203.0.113.7 - - [20/Mar/2023:12:30:01 +0000] "GET /api/cart HTTP/1.1" 502 157 "-" "curl" "-"
# Flat pattern: Nginx escapes '"' inside variables as \x22, so [^"]* is exact
# (NGINX_LOG_FORMATS.md).
_LINE = re.compile(
    rb'(.+?) - (\S*) \[([^\]]{26})\] "([^"]*)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"'
    rb'(?: "([^"]*)")?(.*?)\r?\n?\Z'
)
# Cheap literal pre-check used by sniff: an access line has "] \"" after the time.
_SNIFF = re.compile(rb'^.+? - \S* \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "')
_ERROR_LINE = re.compile(rb"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] ")


def sniff(head: bytes) -> bool:
    """True when most of the first lines look like combined/main access lines."""
    lines = [ln for ln in head.split(b"\n")[:20] if ln.strip()]
    if not lines:
        return False
    hits = sum(1 for ln in lines if _SNIFF.match(ln))
    return hits * 2 >= len(lines) or (hits >= 1 and len(lines) < 4)


def _split_request(req: bytes) -> tuple[str, str, str]:
    """Split ``GET /path HTTP/1.1`` into method, path, protocol; garbage stays in ``path``."""
    parts = req.split(b" ")
    if len(parts) == 3 and parts[0].isalpha():
        return decode(parts[0]), decode(parts[1]), decode(parts[2])
    if len(parts) == 2 and parts[0].isalpha():  # HTTP/0.9 "GET /"
        return decode(parts[0]), decode(parts[1]), ""
    return "", decode(req), ""


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[dict[str, list[Any]]]:
    """Parse access lines into columnar request chunks (see ``REQUEST_COLUMNS``)."""
    match = _LINE.match
    tcache: dict[bytes, tuple[float, int]] = {}
    rows: list[tuple[int, tuple[bytes | None, ...]]] = []
    finish = _finish_compact if options.compact else _finish
    lineno = options.first_line - 1
    for lineno, raw in enumerate(lines, start=options.first_line):
        m = match(raw)
        if m is None:
            if not raw.strip():
                stats.skip("blank line")
            elif _ERROR_LINE.match(raw):
                # An error-log line in an access log (seen in real mixed files).
                stats.skip("error-log line in an access log")
            else:
                stats.reject(lineno, "does not match combined/main", raw, options)
            continue
        rows.append((lineno, m.groups()))
        if len(rows) >= CHUNK_ROWS:
            yield finish(rows, tcache, stats, options)
            rows = []
    stats.lines = lineno - options.first_line + 1
    if rows:
        yield finish(rows, tcache, stats, options)


def _finish(
    rows: list[tuple[int, tuple[bytes | None, ...]]],
    tcache: dict[bytes, tuple[float, int]],
    stats: ParseStats,
    options: ParseOptions,
) -> dict[str, list[Any]]:
    """Turn matched groups into columns; the per-field conversion happens here, per chunk."""
    out = empty_request_chunk()
    ts_c, cl_c, ru_c = out["ts"], out["client"], out["remote_user"]
    me_c, pa_c, pr_c = out["method"], out["path"], out["protocol"]
    st_c, by_c, re_c, ua_c = out["status"], out["bytes_sent"], out["referer"], out["user_agent"]
    xf_c, vh_c, ln_c = out["forwarded_for"], out["vhost"], out["line"]
    nan = math.nan
    for lineno, g in rows:
        pre, user, tl, req, status, nbytes, ref, ua, xff, rest = g
        assert tl is not None and pre is not None
        hit = tcache.get(tl)
        if hit is None:
            try:
                hit = parse_time_local(tl)
            except ValueError:
                stats.reject(lineno, "bad timestamp", tl, options)
                continue
            tcache[tl] = hit
        ts = hit[0]
        vhost = ""
        # "www.example.com 192.0.2.1" or "example.com:80 192.0.2.1": a $host prefix. A
        # forwarded-for chain "10.0.0.2, 10.0.0.1" has ", " between its items instead.
        if b" " in pre:
            head, _, tail = pre.partition(b" ")
            if not head.endswith(b","):
                vhost, pre = decode(head), tail
        client = pre.rsplit(b", ", 1)[-1] if b", " in pre else pre
        ts_c.append(ts)
        cl_c.append(decode(client))
        ru_c.append("" if user in (b"-", b"") else decode(user or b""))
        me, pa, pr = _split_request(req or b"")
        me_c.append(me)
        pa_c.append(pa)
        pr_c.append(pr)
        st_c.append(int(status or b"0"))
        by_c.append(-1 if nbytes == b"-" else int(nbytes or b"0"))
        re_c.append("" if ref == b"-" else decode(ref or b""))
        ua_c.append("" if ua == b"-" else decode(ua or b""))
        xf_c.append("" if xff in (None, b"-") else decode(xff or b""))
        vh_c.append(vhost)
        ln_c.append(lineno)
        stats.parsed += 1
        if stats.utc_offset_s is None:
            stats.utc_offset_s = hit[1]
            stats.variant = "main" if xff is not None else "combined"
        if rest:
            stats.variant = stats.variant.split(" ")[0] + " (+ trailing fields)"
    for col in ("request_time", "upstream_time"):
        out[col] = [nan] * len(ts_c)
    out["upstream_addr"] = [""] * len(ts_c)
    out["upstream_status"] = [""] * len(ts_c)
    if ts_c:
        stats.see_ts(min(ts_c))
        stats.see_ts(max(ts_c))
    return out


def _finish_compact(
    rows: list[tuple[int, tuple[bytes | None, ...]]],
    tcache: dict[bytes, tuple[float, int]],
    stats: ParseStats,
    options: ParseOptions,
) -> dict[str, list[Any]]:
    """The first pass: only what the aggregates need, converted per chunk, no strings."""
    ts_c: list[float] = []
    st_c: list[int] = []
    ua_c: list[bytes | None] = []
    fw_c: list[bool] = []
    ln_c: list[int] = []
    get = tcache.get
    for lineno, g in rows:
        tl = g[2]
        assert tl is not None
        hit = get(tl)
        if hit is None:
            try:
                hit = tcache[tl] = parse_time_local(tl)
            except ValueError:
                stats.reject(lineno, "bad timestamp", tl, options)
                continue
            if stats.utc_offset_s is None:
                stats.utc_offset_s = hit[1]
                stats.variant = ("main" if g[8] is not None else "combined") + (
                    " (+ trailing fields)" if g[9] else ""
                )
        ts_c.append(hit[0])
        st_c.append(int(g[4] or b"0"))
        ua_c.append(g[7])
        xff = g[8]
        fw_c.append(xff is not None and xff != b"-")
        ln_c.append(lineno)
    stats.parsed += len(ts_c)
    if ts_c:
        stats.see_ts(min(ts_c))
        stats.see_ts(max(ts_c))
    return {"ts": ts_c, "status": st_c, "user_agent": ua_c, "forwarded": fw_c, "line": ln_c}
