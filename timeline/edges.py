"""An incident's edges to the second, from the failures that are the incident's own.

The first pass finds the anomalous bins; this step settles the start and the end from the
requests read back around them (the second pass), following what Nginx really logs:

* Only failures of the statuses that *surged* in the window make an edge. A trickle of 500s
  from one endpoint is the usual background; one that fell a minute before the first 502
  of a dead backend is not the start of the outage.
* Nginx writes an access-log line when a request *ends* (``ngx_http_log_handler`` runs in
  the log phase, after the response). A request that waited ``proxy_read_timeout`` (60 s by
  default) for a stalled backend is logged 60 s after it was sent, so the first 504 line
  comes a minute after the fault. Where the log has ``$request_time`` the request's own
  start is its logged time minus that; a 504 logged without it is taken to have waited the
  proxy timeout (``--nginx-conf``'s, else Nginx's default 60 s), and the report says so.
* A stray failure far from the rest (more than :data:`STRAY_GAP_S` and
  :data:`STRAY_GAPS` median gaps from its neighbour) is not an edge either.
* A host that went silent, and a burst of error-log lines, make edges of their own
  (``timeline.analyze``); this module only settles the failure edges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from timeline.aggregate import is_client_error, is_failed
from timeline.model import Edge
from timeline.nginxconf import DEFAULT_TIMEOUT_S, NginxConf
from timeline.timefmt import fmt_clock

#: A failure this many seconds, and this many median gaps, from the next one is a stray.
STRAY_GAP_S = 30.0
STRAY_GAPS = 10.0


@dataclass(frozen=True)
class Timeout:
    """How long a request that ended in 504 without a logged ``$request_time`` had waited."""

    seconds: float
    #: Where the value comes from, for the report ("Nginx's default proxy_read_timeout").
    origin: str


def proxy_timeout(conf: NginxConf | None) -> Timeout:
    """The proxy read timeout in force: ``--nginx-conf``'s largest ``*_read_timeout``
    (the bound on how early a timed-out request was sent), else Nginx's default 60 s."""
    if conf is not None:
        found = [(s, f"{name} {s:g} s at {at}")
                 for name, values in sorted(conf.timeouts.items()) if name.endswith("_read_timeout")
                 for s, at in values]
        if found:
            seconds, origin = max(found)
            return Timeout(seconds, origin + " (--nginx-conf)")
    return Timeout(DEFAULT_TIMEOUT_S,
                   f"Nginx's default proxy_read_timeout of {DEFAULT_TIMEOUT_S:g} s")


def incomplete_requests(rows: pd.DataFrame) -> np.ndarray:
    """Rows of connections that never became a request.

    Nginx logs ``$request`` as what it had read: ``"-"`` when the client sent nothing
    usable, and a request line without its ``HTTP/x.y`` (``"GET /"``) when the line was
    never finished; ``client_header_timeout`` then ends it with 408, or a cut connection
    with 400. Every HTTP/1 client sends the version (HTTP/0.9's bare ``GET /`` is answered
    200, never 400/408), so such a line is a connection held
    open without a request (a slow client), not a page a user asked for: no user was
    served or failed. A surge of them is a cause's evidence, not users.
    """
    if rows.empty:
        return np.zeros(0, dtype=bool)
    method = rows["method"].astype(str).to_numpy()
    path = rows["path"].astype(str).to_numpy()
    protocol = rows["protocol"].astype(str).to_numpy()
    status = rows["status"].to_numpy(dtype=np.int64)
    # Only in files that log the version at all (a format without $request or
    # $server_protocol has none on any line, and its 400s are plain bad requests).
    src = rows["source"].to_numpy(dtype=np.int64)
    versioned = np.isin(src, np.unique(src[protocol != ""]))
    out: np.ndarray = ((method == "") & (path == "-")) | (
        versioned & (protocol == "") & np.isin(status, (400, 408)))
    return out


def request_starts(rows: pd.DataFrame, timeout: Timeout) -> tuple[np.ndarray, np.ndarray]:
    """When each request was sent, and which of them had their wait assumed.

    The logged time minus ``$request_time`` when logged. ``$time_local`` has whole
    seconds, so the true start lies in ``[ts - rt, ts + 1 - rt)``; ``ts - floor(rt)`` is in
    that range and claims no precision the line does not have. A 504 without a request time
    waited the proxy timeout.
    """
    ts = rows["ts"].to_numpy(dtype=float)
    rt = rows["request_time"].to_numpy(dtype=float)
    status = rows["status"].to_numpy(dtype=np.int64)
    timed = np.isfinite(rt) & (rt > 0)
    whole = ts == np.floor(ts)
    waited = np.where(timed, np.where(whole, np.floor(np.where(timed, rt, 0.0)), rt), 0.0)
    assumed = ~timed & (status == 504)
    waited = np.where(assumed, timeout.seconds, waited)
    return ts - waited, assumed


def trim_strays(times: np.ndarray) -> tuple[int, int]:
    """First and last index of ``times`` (sorted) once strays at either end are dropped."""
    lo, hi = 0, len(times) - 1
    if hi < 2:
        return lo, hi
    gaps = np.diff(times)
    limit = max(STRAY_GAP_S, STRAY_GAPS * float(np.median(gaps)))
    while hi - lo >= 2 and gaps[lo] > limit:
        lo += 1
    while hi - lo >= 2 and gaps[hi - 1] > limit:
        hi -= 1
    return lo, hi


def failure_edges(
    rows: pd.DataFrame,
    users: np.ndarray,
    surged: list[int],
    lo: float,
    hi: float,
    timeout: Timeout,
    where: Callable[[int, int], str],
) -> tuple[Edge, Edge] | None:
    """The start and end of the failures that are the incident's own, or None.

    Args:
        rows: the requests around the window, sorted by time.
        users: rows that are users' requests at the edge tier.
        surged: the failure statuses that surged in the window.
        lo, hi: the span (logged times) the failures are taken from.
        timeout: the wait of a 504 logged without ``$request_time``.
        where: ``file:line`` of a row, from its source index and line.
    """
    if rows.empty or not surged:
        return None
    ts = rows["ts"].to_numpy(dtype=float)
    status = rows["status"].to_numpy(dtype=np.int64)
    fail = (users & (ts >= lo) & (ts <= hi) & (is_failed(status) | is_client_error(status))
            & np.isin(status, surged))
    idx = np.flatnonzero(fail)
    if idx.size == 0:
        return None
    began, assumed = request_starts(rows, timeout)
    # The start: the earliest request start (ties: the first line); the end: the last
    # failure logged. Strays at either end are dropped first.
    by_start = idx[np.lexsort((idx, began[idx]))]
    a, _ = trim_strays(began[by_start])
    by_end = idx[np.lexsort((idx, ts[idx]))]
    _, b = trim_strays(ts[by_end])
    first, last = int(by_start[a]), int(by_end[b])
    src = rows["source"].to_numpy(dtype=np.int64)
    line = rows["line"].to_numpy(dtype=np.int64)
    code = int(status[first])
    logged = fmt_clock(ts[first])
    if assumed[first]:
        stalled = _answers_stopped(rows, users, fail, first, timeout)
        note = (f"the first {code} was logged at {logged}; Nginx logs a request when it "
                f"ends, and requests that timed out had been sent up to "
                f"{timeout.seconds:g} s earlier ({timeout.origin}; the log has no "
                "$request_time)")
        at = float(began[first])
        if stalled is not None:
            at = stalled[0]
            note += (f"; the routes that timed out last answered at {fmt_clock(stalled[0])} "
                     f"({where(int(src[stalled[1]]), int(line[stalled[1]]))}) and not again "
                     "until the timeouts began: the stall began then")
        start = Edge(at, "timeout_assumed", where(int(src[first]), int(line[first])), note)
    elif began[first] < ts[first]:
        start = Edge(float(began[first]), "request_start", where(int(src[first]),
                     int(line[first])),
                     f"the first failing request ({code}) was logged at {logged}, "
                     f"{ts[first] - began[first]:g} s after it was sent ($request_time)")
    else:
        start = Edge(float(ts[first]), "failure_logged", where(int(src[first]),
                     int(line[first])), f"the first failing request ({code})")
    end = Edge(float(ts[last]), "failure_logged", where(int(src[last]), int(line[last])),
               f"the last failing request ({int(status[last])})")
    return start, end


def _answers_stopped(rows: pd.DataFrame, users: np.ndarray, fail: np.ndarray, first: int,
                     timeout: Timeout) -> tuple[float, int] | None:
    """When the routes that timed out stopped answering, if they clearly did.

    Without ``$request_time`` a 504 only says its request was sent at most the timeout
    before. But a stalled backend answers nothing while its requests wait: the routes that
    later time out fall silent in the access log from the stall on (static files and other
    routes keep answering). When their last answer before the first 504 is followed by a
    gap far longer than their usual spacing (5 times it, and 5 s), the stall began then.
    Returns (time, row) of that last answer, or None when the gap is not clear (another
    upstream kept answering those routes, or they are too rarely requested).
    """
    if "route" not in rows:
        return None
    ts = rows["ts"].to_numpy(dtype=float)
    status = rows["status"].to_numpy(dtype=np.int64)
    routes = rows["route"].to_numpy()
    t1 = float(ts[first])
    lo = t1 - timeout.seconds
    failing = set(routes[fail & (ts >= t1) & (ts <= t1 + timeout.seconds)].tolist())
    mine = users & np.isin(routes, list(failing))
    ok = np.flatnonzero(mine & (status < 400) & (ts >= lo) & (ts < t1))
    if ok.size == 0:
        return None
    last = int(ok[np.argmax(ts[ok])])
    t_ok = float(ts[last])
    prior = np.sort(ts[mine & (ts <= t_ok) & (ts >= t_ok - 10 * timeout.seconds)])
    spacing = float(np.median(np.diff(prior))) if prior.size >= 3 else timeout.seconds
    if t1 - t_ok >= max(5.0, 5.0 * spacing):
        return t_ok, last
    return None


def released_at_repair(rows: pd.DataFrame, users: np.ndarray, end: float, start: float,
                       timeout: Timeout) -> np.ndarray:
    """Requests that hung through a stall and were answered when it ended, in a log
    without ``$request_time``: they were in flight in the window though logged after it.

    A stalled backend holds every request sent in its last ``timeout`` seconds; when it
    recovers it answers them at once, so the routes that timed out log a burst of answers
    right after the last 504 (within a second or two), far above their usual rate. The
    answers of those routes in the 3 s from the first one after ``end`` are taken as such
    when there are at least 3 of them and 3 times what the routes' usual rate (in the
    stretch before ``start``) predicts. Returns a mask of those rows (all False otherwise).
    """
    out = np.zeros(len(rows), dtype=bool)
    if rows.empty or "route" not in rows:
        return out
    ts = rows["ts"].to_numpy(dtype=float)
    status = rows["status"].to_numpy(dtype=np.int64)
    rt = rows["request_time"].to_numpy(dtype=float)
    routes = rows["route"].to_numpy()
    timed_out = users & (status == 504) & ~np.isfinite(rt) & (ts >= end - timeout.seconds) & (
        ts <= end)
    if not timed_out.any():
        return out
    mine = users & np.isin(routes, list(set(routes[timed_out].tolist())))
    after = np.flatnonzero(mine & (ts > end) & (ts <= end + 5.0) & (status < 500))
    if after.size < 3:
        return out
    t_first = float(ts[after].min())
    burst = mine & (ts >= t_first) & (ts <= t_first + 2.0) & (status < 500)
    lo = start - 10 * timeout.seconds
    usual = float((mine & (ts >= lo) & (ts < start)).sum()) / max(start - max(lo, float(
        ts.min())), 1.0)
    if burst.sum() >= max(3.0, 3.0 * usual * 3.0):
        out = burst
    return out


def first_failure_at(rows: pd.DataFrame, users: np.ndarray, failing: np.ndarray, ts0: float,
                     ts1: float, where: Callable[[int, int], str]) -> str:
    """``file:line`` of the first failing users' request logged in ``[ts0, ts1)``, or ""."""
    if rows.empty:
        return ""
    ts = rows["ts"].to_numpy(dtype=float)
    idx = np.flatnonzero(users & failing & (ts >= ts0) & (ts < ts1))
    if idx.size == 0:
        return ""
    i = int(idx[0])
    return where(int(rows["source"].to_numpy(dtype=np.int64)[i]),
                 int(rows["line"].to_numpy(dtype=np.int64)[i]))
