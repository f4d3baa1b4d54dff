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
from itertools import islice
from typing import Any

import numpy as np

from parsers import log_format
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
# The first pass needs only time, status, user agent and forwarded-for. A flat pattern with
# four groups, not anchored at the end, runs about twice as fast as the full one; lines it
# does not fit (a $host prefix, a forwarded-for chain) fall back to _LINE.
_FAST = re.compile(rb'\S+ - \S* \[([^\]]{26})\] "[^"]*" (\d{3}) (?:\d+|-) "[^"]*" "([^"]*)"'
                   rb'(?: "([^"]*)")?')
# Cheap literal pre-check used by sniff: an access line has "] \"" after the time.
_SNIFF = re.compile(rb'^.+? - \S* \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "')
_GROUPS = re.Match.groups
_ERROR_LINE = re.compile(rb"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] ")


def sniff(head: bytes) -> bool:
    """True when most of the first lines look like combined/main access lines."""
    lines = [ln for ln in head.split(b"\n")[:20] if ln.strip()]
    if not lines:
        return False
    hits = sum(1 for ln in lines if _SNIFF.match(ln))
    return hits * 2 >= len(lines) or (hits >= 1 and len(lines) < 4)


def fits(line: bytes) -> bool:
    """True when ``line`` parses as combined/main (with the variants this parser reads)."""
    return _LINE.match(line) is not None


def _text(value: bytes) -> str:
    """A variable's value as text, with Nginx's ``escape=default`` (``\\xHH``) undone."""
    if b"\\x" in value:
        value = log_format.unescape_default(value)
    return decode(value)


def _split_request(req: bytes) -> tuple[str, str, str]:
    """Split ``GET /path HTTP/1.1`` into method, path, protocol; garbage stays in ``path``."""
    parts = req.split(b" ")
    if len(parts) == 3 and parts[0].isalpha():
        return decode(parts[0]), _text(parts[1]), decode(parts[2])
    if len(parts) == 2 and parts[0].isalpha():  # HTTP/0.9 "GET /"
        return decode(parts[0]), _text(parts[1]), ""
    return "", _text(req), ""


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[dict[str, list[Any]]]:
    """Parse access lines into columnar request chunks (see ``REQUEST_COLUMNS``).

    With ``options.compact`` the chunks hold ``COMPACT_COLUMNS`` only, for the aggregates.
    """
    if options.log_format:
        # A custom (or predefined non-combined) log_format: the compiled flat pattern.
        fmt = log_format.compile_format(*log_format.split_escape(options.log_format))
        chunks = log_format.parse_with(fmt, lines, stats, options)
        if not options.compact:
            yield from chunks
            return
        for chunk in chunks:
            yield {"ts": chunk["ts"], "status": chunk["status"],
                   "user_agent": chunk["user_agent"],
                   "forwarded": [x != "" for x in chunk["forwarded_for"]],
                   "line": chunk["line"]}
        return
    if options.compact:
        yield from _parse_compact(lines, stats, options)
        return
    match = _LINE.match
    tcache: dict[bytes, tuple[float, int]] = {}
    rows: list[tuple[int, tuple[bytes | None, ...]]] = []
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
            yield _finish(rows, tcache, stats, options)
            rows = []
    stats.lines = lineno - options.first_line + 1
    if rows:
        yield _finish(rows, tcache, stats, options)


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
        ru_c.append("" if user in (b"-", b"") else _text(user or b""))
        me, pa, pr = _split_request(req or b"")
        me_c.append(me)
        pa_c.append(pa)
        pr_c.append(pr)
        st_c.append(int(status or b"0"))
        by_c.append(-1 if nbytes == b"-" else int(nbytes or b"0"))
        re_c.append("" if ref == b"-" else _text(ref or b""))
        ua_c.append("" if ua == b"-" else _text(ua or b""))
        xf_c.append("" if xff in (None, b"-") else _text(xff or b""))
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


def _parse_compact(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[dict[str, Any]]:
    """The first pass, a block of lines at a time: ``map`` runs the match loop in C; a block
    with a line the fast pattern does not fit goes line by line through the full one."""
    fast = _FAST.match
    full = _LINE.match
    tcache: dict[bytes, tuple[float, int]] = {}
    it = iter(lines)
    first = options.first_line
    total = 0
    while True:
        batch = list(islice(it, CHUNK_ROWS))
        if not batch:
            break
        if total == 0:
            m0 = full(batch[0])
            if m0 is not None and m0.group(10):
                stats.notes.append("lines carry fields after combined/main; use --log-format "
                                   "to read them")
        total += len(batch)
        found = list(map(fast, batch))
        numbers: list[int] | range
        if None not in found:
            # map() keeps the per-line loop in C: no Python bytecode runs per line here.
            rows = list(map(_GROUPS, found))  # type: ignore[arg-type]
            numbers = range(first, first + len(batch))
        else:
            rows, numbers = [], []
            for n, (raw, m) in enumerate(zip(batch, found, strict=True), start=first):
                if m is not None:
                    rows.append(m.groups())
                    numbers.append(n)
                    continue
                m2 = full(raw)
                if m2 is not None:
                    g = m2.groups()
                    rows.append((g[2], g[4], g[7], g[8]))
                    numbers.append(n)
                elif not raw.strip():
                    stats.skip("blank line")
                elif _ERROR_LINE.match(raw):
                    stats.skip("error-log line in an access log")
                else:
                    stats.reject(n, "does not match combined/main", raw, options)
        first += len(batch)
        yield _compact_chunk(rows, numbers, tcache, stats, options)
    stats.lines = total


def _compact_chunk(
    rows: list[tuple[bytes, ...]],
    numbers: list[int] | range,
    tcache: dict[bytes, tuple[float, int]],
    stats: ParseStats,
    options: ParseOptions,
) -> dict[str, Any]:
    """Convert one block's groups (time, status, user agent, forwarded-for) with numpy.

    Timestamps repeat (many requests a second): each distinct one is parsed once per file
    (``tcache``) and spread back over the rows through ``np.unique``'s inverse index.
    """
    if not rows:
        return {"ts": np.zeros(0), "status": np.zeros(0, dtype=np.int64), "user_agent": [],
                "forwarded": np.zeros(0, dtype=bool), "line": np.zeros(0, dtype=np.int64)}
    times, status, uas, xffs = zip(*rows, strict=True)
    uniq, inverse = np.unique(np.array(times), return_inverse=True)
    values = np.empty(len(uniq))
    bad_times = []
    get = tcache.get
    for j, t in enumerate(uniq.tolist()):
        hit = get(t)
        if hit is None:
            try:
                hit = tcache[t] = parse_time_local(t)
            except ValueError:
                bad_times.append(j)
                values[j] = np.nan
                continue
            if stats.utc_offset_s is None:
                stats.utc_offset_s = hit[1]
                stats.variant = "main" if xffs[0] is not None else "combined"
        values[j] = hit[0]
    epoch = values[inverse.reshape(-1)]
    line = np.asarray(numbers, dtype=np.int64)
    st = np.array(status).astype(np.int64)
    if xffs[0] is None and xffs.count(None) == len(xffs):
        forwarded = np.zeros(len(xffs), dtype=bool)
    else:
        x = np.array(xffs, dtype=object)
        forwarded = (x != b"-") & (x != b"") & (x != None)  # noqa: E711 - elementwise
    ua: list[bytes] = list(uas)
    if bad_times:
        bad = np.isnan(epoch)
        for i in np.flatnonzero(bad).tolist():
            stats.reject(int(line[i]), "bad timestamp", times[i], options)
        keep = ~bad
        epoch, st, forwarded, line = epoch[keep], st[keep], forwarded[keep], line[keep]
        ua = [u for u, k in zip(ua, keep.tolist(), strict=True) if k]
    stats.parsed += len(epoch)
    if len(epoch):
        stats.see_ts(float(epoch.min()))
        stats.see_ts(float(epoch.max()))
    return {"ts": epoch, "status": st, "user_agent": ua, "forwarded": forwarded, "line": line}
