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
from operator import itemgetter
from typing import Any

import numpy as np

from parsers import log_format
from parsers.base import (
    CHUNK_ROWS,
    ERROR_LINE,
    Columns,
    CompactChunk,
    ParseOptions,
    ParseStats,
    block_lines,
    count_lines,
    decode,
    empty_request_chunk,
    match_block,
    memo,
    parse_time_local,
    parse_time_local_many,
)

NAME = "nginx_access"
DESCRIPTION = ("Nginx access log, combined or main (combined + X-Forwarded-For), or JSON "
               "lines (escape=json; keys read by name)")
TABLE = "requests"
LOCAL_TIME = False

# 203.0.113.7 - - [20/Mar/2023:12:30:01 +0000] "GET /api/cart HTTP/1.1" 502 157 "-" "curl" "-"
# Flat pattern: Nginx escapes '"' inside variables as \x22, so [^"]* is exact
# (docs/nginx-facts.md).
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


def sniff(head: bytes) -> bool:
    """True when most of the first lines look like combined/main access lines, or are JSON
    objects with the keys of an access log (see :func:`log_format.sniff_json`)."""
    lines = [ln for ln in head.split(b"\n")[:20] if ln.strip()]
    if not lines:
        return False
    hits = sum(1 for ln in lines if _SNIFF.match(ln))
    if hits * 2 >= len(lines) or (hits >= 1 and len(lines) < 4):
        return True
    # JSON lines (log_format escape=json) with a time and request fields: an access log
    # whose format timeline.sources reads from its keys (log_format.sniff_json).
    found = log_format.sniff_json(head) if lines[0].lstrip().startswith(b"{") else None
    return found is not None and found.access


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
) -> Iterator[Columns | CompactChunk]:
    """Parse access lines into columnar request chunks (see ``REQUEST_COLUMNS``).

    With ``options.compact`` the chunks hold ``COMPACT_COLUMNS`` only, for the aggregates.
    """
    if options.log_format:
        # A custom (or predefined non-combined) log_format: the compiled flat pattern.
        fmt = log_format.compile_format(*log_format.split_escape(options.log_format))
        if options.compact:
            yield from fmt.compact_chunks(_line_blocks(lines), stats, options)
        else:
            yield from log_format.parse_with(fmt, lines, stats, options)
        return
    if options.compact:
        # Lines gathered into blocks: the compact pass works on blocks (see parse_blocks).
        yield from _parse_compact(_line_blocks(lines), stats, options)
        return
    match = _LINE.match
    rows: list[tuple[int, tuple[bytes | None, ...]]] = []
    lineno = options.first_line - 1
    for lineno, raw in enumerate(lines, start=options.first_line):
        m = match(raw)
        if m is None:
            if not raw.strip():
                stats.skip("blank line")
            elif ERROR_LINE.match(raw):
                # An error-log line in an access log (seen in real mixed files).
                stats.skip("error-log line in an access log")
            else:
                stats.reject(lineno, "does not match combined/main", raw, options)
            continue
        rows.append((lineno, m.groups()))
        if len(rows) >= CHUNK_ROWS:
            yield _finish(rows, stats, options)
            rows = []
    stats.lines = lineno - options.first_line + 1
    if rows:
        yield _finish(rows, stats, options)


def _finish(
    rows: list[tuple[int, tuple[bytes | None, ...]]],
    stats: ParseStats,
    options: ParseOptions,
) -> dict[str, list[Any]]:
    """Turn matched groups into columns, a column at a time.

    Values repeat a lot (agents, referers, paths, clients): each column is converted once
    per distinct value and spread back with ``map`` (measured: 12 us a row -> 3 us).
    """
    out = empty_request_chunk()
    if not rows:
        return out
    numbers = [r[0] for r in rows]
    groups = [r[1] for r in rows]
    n = len(numbers)
    epoch, offsets = parse_time_local_many(b"".join(map(_THIRD_OF, groups)), n)
    keep = ~np.isnan(epoch)
    if not keep.all():
        for i in np.flatnonzero(~keep).tolist():
            stats.reject(numbers[i], "bad timestamp", groups[i][2] or b"", options)
        flags = keep.tolist()
        groups = [g for g, k in zip(groups, flags, strict=True) if k]
        numbers = [x for x, k in zip(numbers, flags, strict=True) if k]
        epoch, offsets = epoch[keep], offsets[keep]
    m = len(numbers)
    if m == 0:
        return out
    pre, user, _, req, status, nbytes, ref, ua, xff, rest = zip(*groups, strict=True)
    host_client = memo(pre, _vhost_client)
    out["vhost"] = list(map(_FIRST_OF, host_client))
    out["client"] = list(map(_SECOND_OF, host_client))
    out["ts"] = epoch.tolist()
    out["remote_user"] = memo(user, _value)
    request = memo(req, _request)
    out["method"] = list(map(_FIRST_OF, request))
    out["path"] = list(map(_SECOND_OF, request))
    out["protocol"] = list(map(_THIRD_OF, request))
    out["status"] = memo(status, _int)
    out["bytes_sent"] = [-1 if b == b"-" else int(b or b"0") for b in nbytes]
    out["referer"] = memo(ref, _value)
    out["user_agent"] = memo(ua, _value)
    out["forwarded_for"] = memo(xff, _value)
    out["line"] = numbers
    nan = math.nan
    out["request_time"] = [nan] * m
    out["upstream_time"] = [nan] * m
    out["upstream_addr"] = [""] * m
    out["upstream_status"] = [""] * m
    stats.parsed += m
    if stats.utc_offset_s is None:
        stats.utc_offset_s = int(offsets[0])
        stats.variant = "main" if xff[0] is not None else "combined"
    if any(rest) and "trailing" not in stats.variant:
        stats.variant = stats.variant.split(" ")[0] + " (+ trailing fields)"
    stats.see_ts(float(epoch.min()))
    stats.see_ts(float(epoch.max()))
    return out




def _value(raw: bytes | None) -> str:
    """A logged variable as text; Nginx writes "-" for an empty one."""
    return "" if raw in (None, b"-", b"") else _text(raw or b"")


def _int(raw: bytes | None) -> int:
    return int(raw or b"0")


def _request(raw: bytes | None) -> tuple[str, str, str]:
    return _split_request(raw or b"")


def _vhost_client(pre: bytes | None) -> tuple[str, str]:
    """The ``$host`` prefix (or "") and the client of what precedes `` - $remote_user``."""
    pre = pre or b""
    vhost = ""
    # "www.example.com 192.0.2.1" or "example.com:80 192.0.2.1": a $host prefix. A
    # forwarded-for chain "10.0.0.2, 10.0.0.1" has ", " between its items instead.
    if b" " in pre:
        head, _, tail = pre.partition(b" ")
        if not head.endswith(b","):
            vhost, pre = decode(head), tail
    client = pre.rsplit(b", ", 1)[-1] if b", " in pre else pre
    return vhost, decode(client)


def parse_blocks(
    blocks: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[Columns | CompactChunk]:
    """Like :func:`parse`, from blocks of whole lines (each ends at a newline, or at the end
    of the input) instead of lines: the first pass reads a block with one ``findall``.

    Only the compact combined/main first pass gains from blocks; anything else is parsed
    line by line as :func:`parse` does.
    """
    if not options.compact:
        yield from parse(_block_lines(blocks), stats, options)
    elif options.log_format:
        fmt = log_format.compile_format(*log_format.split_escape(options.log_format))
        yield from fmt.compact_chunks(blocks, stats, options)
    else:
        yield from _parse_compact(blocks, stats, options)


def _block_lines(blocks: Iterable[bytes]) -> Iterator[bytes]:
    for buf in blocks:
        yield from block_lines(buf)


# The block pattern (see parsers.base.match_block): the fast pattern behind a newline.
# ``[^ \n]`` instead of ``\S`` and ``[^"]`` instead of ``[^"\n]`` are the forms sre scans
# fastest (measured: 1.3 -> 0.8 us a line); a match that runs into the next line is caught
# by the count of matches.
_FIND = re.compile(rb'\n[^ \n]+ - [^ \n]* \[([^\]]{26})\] "[^"]*" (\d{3}) (?:\d+|-) "[^"]*" '
                   rb'"([^"]*)"(?: "([^"]*)")?')
_FIRST = re.compile(_FIND.pattern[2:])  # without the leading "\\n"
# The same, also capturing the client (first group) for --exclude-client by address.
_FIND_C = re.compile(rb'\n([^ \n]+) - [^ \n]* \[([^\]]{26})\] "[^"]*" (\d{3}) (?:\d+|-) '
                     rb'"[^"]*" "([^"]*)"(?: "([^"]*)")?')
_FIRST_C = re.compile(_FIND_C.pattern[2:])
_T, _S, _U, _X = (itemgetter(i) for i in range(4))
_WITH_CLIENT = tuple(itemgetter(i) for i in range(1, 5))
_FIRST_OF, _SECOND_OF, _THIRD_OF = _T, _S, itemgetter(2)


def _parse_compact(
    blocks: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[CompactChunk]:
    """The first pass, a block at a time: one ``findall`` runs the match loop in C over the
    whole block. A block with a line the block pattern does not fit goes line by line
    through the fast and then the full pattern."""
    first = options.first_line
    total = 0
    find, first_re = (_FIND_C, _FIRST_C) if options.want_client else (_FIND, _FIRST)
    for buf in blocks:
        if not buf:
            continue
        n = count_lines(buf)
        if total == 0:
            m_full = _LINE.match(buf[: buf.find(b"\n") + 1 or len(buf)])
            if m_full is not None and m_full.group(10):
                stats.notes.append("lines carry fields after combined/main; use --log-format "
                                   "to read them")
        total += n
        rows = match_block(buf, n, first_re, find)
        numbers: list[int] | range
        if rows is not None:
            numbers = range(first, first + n)
        else:
            rows, numbers = _lines_one_by_one(buf, first, stats, options)
        first += n
        yield _compact_chunk(rows, numbers, stats, options)
    stats.lines = total



def _lines_one_by_one(
    buf: bytes, first: int, stats: ParseStats, options: ParseOptions
) -> tuple[list[tuple[bytes | None, ...]], list[int]]:
    """The groups and line numbers of a block's lines that parse; the rest are counted."""
    fast = _FAST.match
    full = _LINE.match
    rows: list[tuple[bytes | None, ...]] = []
    numbers: list[int] = []
    for n, raw in enumerate(block_lines(buf), start=first):
        m = fast(raw) if not options.want_client else None
        if m is not None:
            row = m.groups()
        else:
            m2 = full(raw)
            if m2 is None:
                if not raw.strip():
                    stats.skip("blank line")
                elif ERROR_LINE.match(raw):
                    stats.skip("error-log line in an access log")
                else:
                    stats.reject(n, "does not match combined/main", raw, options)
                continue
            g = m2.groups()
            row = (g[2], g[4], g[7], g[8])
            if options.want_client:
                # The client first, as the block pattern with a client captures it.
                row = (_vhost_client(g[0])[1].encode(), *row)
        # Checked here, not with the block's other times, so that rejects (and
        # --on-bad-lines error) come in line order.
        stamp = row[1] if options.want_client else row[0]
        try:
            parse_time_local(stamp or b"")
        except ValueError:
            stats.reject(n, "bad timestamp", stamp or b"", options)
            continue
        rows.append(row)
        numbers.append(n)
    return rows, numbers


def _compact_chunk(
    rows: list[tuple[bytes | None, ...]],
    numbers: list[int] | range,
    stats: ParseStats,
    options: ParseOptions,
) -> CompactChunk:
    """Convert one block's groups (time, status, user agent, forwarded-for) to arrays.

    Times and statuses are fixed-width: each column is joined into one bytes object and
    converted with numpy, with no Python work per row beyond ``map`` (C) over the tuples.
    """
    n = len(rows)
    if not rows:
        empty: CompactChunk = {
            "ts": np.zeros(0), "status": np.zeros(0, dtype=np.int64), "user_agent": [],
            "forwarded": np.zeros(0, dtype=bool), "line": np.zeros(0, dtype=np.int64)}
        if options.want_client:
            empty["client"] = []
        return empty
    # Rows are (time, status, agent, forwarded-for), behind the client when it is captured.
    get_t, get_s, get_u, get_x = _WITH_CLIENT if options.want_client else (_T, _S, _U, _X)
    epoch, offsets = parse_time_local_many(b"".join(map(get_t, rows)), n)
    digits = np.frombuffer(b"".join(map(get_s, rows)),
                           dtype=np.uint8).reshape(n, 3).astype(np.int64) - 48
    st = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    line = np.asarray(numbers, dtype=np.int64)
    xff = list(map(get_x, rows))
    if stats.utc_offset_s is None and not np.isnan(epoch[0]):
        stats.utc_offset_s = int(offsets[0])
        stats.variant = "main" if xff[0] else "combined"
    # findall gives b"" for a missing forwarded-for, match() None; "-" is Nginx's empty.
    forwarded = np.zeros(n, dtype=bool)
    if xff.count(b"") + xff.count(None) < n:  # combined: nothing to look at
        lengths = np.fromiter(map(len, map(_or_empty, xff)), dtype=np.int64, count=n)
        forwarded = lengths > 0
        ones = np.flatnonzero(lengths == 1)
        forwarded[ones] = [xff[i] != b"-" for i in ones.tolist()]
    ua: list[bytes] = list(map(get_u, rows))
    bad = np.isnan(epoch)
    if bad.any():
        for i in np.flatnonzero(bad).tolist():
            stats.reject(int(line[i]), "bad timestamp", get_t(rows[i]) or b"", options)
        keep = ~bad
        epoch, st, forwarded, line = epoch[keep], st[keep], forwarded[keep], line[keep]
        ua = [u for u, k in zip(ua, keep.tolist(), strict=True) if k]
    out: CompactChunk = {"ts": epoch, "status": st, "user_agent": ua, "forwarded": forwarded,
                         "line": line}
    if options.want_client:
        clients = list(map(_T, rows))
        out["client"] = ([c for c, k in zip(clients, (~bad).tolist(), strict=True) if k]
                         if bad.any() else clients)
    stats.parsed += len(epoch)
    if len(epoch):
        stats.see_ts(float(epoch.min()))
        stats.see_ts(float(epoch.max()))
    return out


def _or_empty(value: bytes | None) -> bytes:
    return value or b""


def _line_blocks(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Lines joined into blocks of whole lines (a line given without its newline gets one,
    so that a list of bare lines reads as the same lines)."""
    it = iter(lines)
    while True:
        batch = list(islice(it, CHUNK_ROWS // 4))
        if not batch:
            return
        yield b"".join(ln if ln.endswith(b"\n") else ln + b"\n" for ln in batch)
