"""Error-log entries joined to the access-log requests they belong to.

An Nginx error line about a request carries its context (``client:``, ``server:``,
``request: "GET /x HTTP/1.1"``, ``upstream:``, ``host:``), never ``$request_id``: the
error log's format is fixed (``ngx_http_log_error``), so no variable can be added to it.
A request is therefore matched by its host (the input folder), its client address, its
request line and its time: the error is written while the request runs, the access line
when it ends, so the error's second lies between the request's start (its logged time
minus ``$request_time``, when logged) less one second and its logged second plus one.

As the "what changed" table (:mod:`timeline.shift`), the join is a mergeable
accumulator over chunks of rows: :class:`ErrorIndex` is built once from the events (the
error log is small beside the access log), :func:`join_chunk` matches one chunk's rows
and returns the matched error per row plus a :class:`JoinPartial` (per failing status,
how many window requests had which error), :meth:`JoinPartial.merge` adds two, and
:func:`finish_join` gives the report's figures.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from timeline.links import peer_of
from timeline.model import JoinedFailure, JoinReport

#: Seconds of slack either side: both logs write whole seconds.
SLACK_S = 1.0


@dataclass(frozen=True)
class ErrorIndex:
    """The error-log entries that name a request, indexed by (host, client, request)."""

    #: (host, client, request line) -> indices of entries, by time
    by_key: dict[tuple[str, str, str], list[int]]
    ts: np.ndarray
    host: list[str]
    message: list[str]
    kind: list[str]
    peer: list[str]
    source: list[str]
    hosts: frozenset[str]
    clients: frozenset[str]

    @property
    def size(self) -> int:
        """How many entries name a request."""
        return len(self.host)


def build_index(events: pd.DataFrame) -> ErrorIndex:
    """The index of every Nginx error-log entry that names a client and a request."""
    by_key: dict[tuple[str, str, str], list[int]] = {}
    ts: list[float] = []
    host: list[str] = []
    message: list[str] = []
    kind: list[str] = []
    peer: list[str] = []
    source: list[str] = []
    if not events.empty:
        ev = events[events["parser"] == "nginx_error"]
        for t, h, k, msg, attrs, src, line in zip(
                ev["ts"], ev["host"], ev["kind"], ev["message"], ev["attrs"],
                ev["source_file"], ev["line"], strict=True):
            client, request = attrs.get("client"), attrs.get("request")
            if not client or not request:
                continue
            i = len(ts)
            ts.append(float(t))
            host.append(str(h))
            message.append(str(msg))
            kind.append(str(k))
            up = attrs.get("upstream")
            peer.append(peer_of(str(up)) if up else "")
            source.append(f"{src}:{line}")
            by_key.setdefault((str(h), str(client), str(request)), []).append(i)
    for idx in by_key.values():
        idx.sort(key=lambda i: (ts[i], i))
    return ErrorIndex(by_key, np.asarray(ts, dtype=float), host, message, kind, peer, source,
                      frozenset(host), frozenset(c for _, c, _ in by_key))


@dataclass
class JoinPartial:
    """Sums over some chunks; :meth:`merge` adds another partial."""

    #: failing status -> failing requests in the window
    failing: dict[int, int] = field(default_factory=dict)
    #: (status, error entry's host, message, peer) -> window failing requests matched
    matched: dict[tuple[int, str, str, str], int] = field(default_factory=dict)
    #: (status, host, message, peer) -> the first such error entry's index
    first: dict[tuple[int, str, str, str], int] = field(default_factory=dict)
    #: indices of the error entries some request matched
    used: set[int] = field(default_factory=set)

    def merge(self, other: JoinPartial) -> JoinPartial:
        """Add ``other`` into this partial and return it."""
        for s, n in other.failing.items():
            self.failing[s] = self.failing.get(s, 0) + n
        for k, n in other.matched.items():
            self.matched[k] = self.matched.get(k, 0) + n
        for k, i in other.first.items():
            self.first[k] = min(i, self.first.get(k, i))
        self.used |= other.used
        return self


def match_rows(rows: pd.DataFrame, index: ErrorIndex) -> np.ndarray:
    """The error entry each row belongs to (-1 for none): same host, client and request
    line, the entry's time within the request's run (see the module's docstring), the
    closest in time when several fit."""
    out = np.full(len(rows), -1, dtype=np.int64)
    if rows.empty or not index.size:
        return out
    cand = (rows["host"].astype(str).isin(index.hosts).to_numpy()
            & rows["client"].astype(str).isin(index.clients).to_numpy())
    if not cand.any():
        return out
    sub = rows[cand]
    rt = pd.to_numeric(sub["request_time"], errors="coerce").fillna(0.0).to_numpy(float)
    ts = sub["ts"].to_numpy(dtype=float)
    err_ts = index.ts
    taken: dict[int, tuple[float, int]] = {}
    for j, (pos, h, c, m, p, pr) in enumerate(zip(
            np.flatnonzero(cand), sub["host"].astype(str), sub["client"].astype(str),
            sub["method"].astype(str), sub["path"].astype(str), sub["protocol"].astype(str),
            strict=True)):
        request = f"{m} {p} {pr}" if pr and pr != "-" else f"{m} {p}"
        idx = index.by_key.get((h, c, request))
        if not idx:
            continue
        lo, hi = ts[j] - max(rt[j], 0.0) - SLACK_S, ts[j] + SLACK_S
        times = [err_ts[i] for i in idx]
        a, b = bisect.bisect_left(times, lo), bisect.bisect_right(times, hi)
        if a < b:
            best = min(idx[a:b], key=lambda i: (abs(err_ts[i] - ts[j]), i))
            gap = abs(err_ts[best] - ts[j])
            # One entry belongs to one request: of two identical requests in the same
            # second, the closer (then the first) keeps it.
            if best not in taken or gap < taken[best][0]:
                if best in taken:
                    out[taken[best][1]] = -1
                taken[best] = (gap, pos)
                out[pos] = best
    return out


def join_chunk(rows: pd.DataFrame, index: ErrorIndex, window: tuple[float, float],
               failing: np.ndarray) -> tuple[np.ndarray, JoinPartial]:
    """Match one chunk: the error entry of each row (-1: none), and the partial counting
    the window's failing requests per status and per matched (host, message, peer)."""
    matched = match_rows(rows, index)
    part = JoinPartial()
    if rows.empty:
        return matched, part
    part.used = {int(i) for i in np.unique(matched[matched >= 0])}
    ts = rows["ts"].to_numpy(dtype=float)
    sel = failing & (ts >= window[0]) & (ts <= window[1])
    status = rows["status"].to_numpy(dtype=np.int64)
    for s, n in zip(*np.unique(status[sel], return_counts=True), strict=True):
        part.failing[int(s)] = int(n)
    for s, e in zip(status[sel & (matched >= 0)].tolist(),
                    matched[sel & (matched >= 0)].tolist(), strict=True):
        key = (int(s), index.host[e], index.message[e], index.peer[e])
        part.matched[key] = part.matched.get(key, 0) + 1
        part.first[key] = min(e, part.first.get(key, e))
    return matched, part


def error_upstreams(matched: np.ndarray, index: ErrorIndex) -> np.ndarray:
    """Per row, the peer its matched error entry names (``""`` for none)."""
    peers = np.asarray([*index.peer, ""], dtype=object)
    out: np.ndarray = peers[np.where(matched >= 0, matched, len(index.peer))]
    return out


def finish_join(part: JoinPartial, index: ErrorIndex, span: tuple[float, float],
                limit: int = 5) -> JoinReport:
    """The figures: the error entries in ``span`` that named a request, how many matched
    one, and per failing status the errors its requests had, most first."""
    inside = [i for i in range(index.size) if span[0] <= index.ts[i] <= span[1]]
    matched = sum(1 for i in inside if i in part.used)
    rows = sorted(part.matched.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    failures = [JoinedFailure(status=s, requests=part.failing.get(s, 0), matched=n,
                              host=h, message=m, peer=p,
                              first_source=index.source[part.first[(s, h, m, p)]])
                for (s, h, m, p), n in rows]
    return JoinReport(errors=len(inside), matched=matched, unmatched=len(inside) - matched,
                      failures=failures)
