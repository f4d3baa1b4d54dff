"""From a :class:`Dataset` to an :class:`Analysis`: bin, detect, refine, measure, narrate."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from timeline.aggregate import (
    LATENCY_EDGES,
    PROBE_UA,
    Aggregate,
    is_client_error,
    is_failed,
)
from timeline.clients import ClientRule, match_exclusions, user_keys
from timeline.detect import (
    LATENCY_FACTOR,
    LATENCY_MIN_EXCESS_S,
    LATENCY_MIN_N,
    MAD_K,
    MERGE_GAP_BINS,
    MIN_BINS,
    MIN_FAILURES,
    MIN_RATIO_EXCESS,
    MIN_Z,
    ROLL_BINS,
    VANISH_P,
    VANISH_SHARE,
    Window,
    choose_bin,
    detect,
)
from timeline.edges import (
    Timeout,
    failure_edges,
    first_failure_at,
    incomplete_requests,
    proxy_timeout,
    released_at_repair,
    request_starts,
)
from timeline.impact import (
    bound_users,
    count_exclusions,
    count_incomplete,
    measure_impact,
    measure_latency,
    measure_slo,
    routes_of,
    surging_statuses,
)
from timeline.ingest import Dataset
from timeline.model import Analysis, AnalysisOptions, Edge, Incident
from timeline.narrate import narrate

#: Rows after the end read back too, to find where silent hosts serve again.
ROWS_AFTER_S = 300

#: Latency is compared with the edge's requests in this many seconds before the start.
BASELINE_S = 3600

#: Paths that only health checks ask for; a client that asks for nothing else is a probe.
HEALTH_PATH = re.compile(r"^/(?:-/)?(?:healthz?|health-?check|ping|status|readyz|livez|ready|alive)"
                         r"(?:[/?].*)?$")


def find_edge_hosts(agg: Aggregate) -> list[str]:
    """Hosts users talk to directly.

    A host whose requests mostly carry ``X-Forwarded-For`` sits behind a proxy that is in the
    logs too; its clients are that proxy, so users are counted at the proxy instead. When
    every host is behind a proxy (the proxy's logs are missing), all hosts count.
    """
    c = agg.counts
    if c.empty:
        return []
    fwd = (c["n"] * c["forwarded"]).groupby(c["host"]).sum()
    total = c.groupby("host")["n"].sum()
    share = fwd / total
    edge = sorted(str(h) for h, v in share.items() if v <= 0.5)
    return edge or sorted(str(h) for h in share.index)


def find_probes(rows: pd.DataFrame) -> np.ndarray:
    """Rows sent by monitoring probes (by user agent, or clients that only hit health paths)."""
    if rows.empty:
        return np.zeros(0, dtype=bool)
    # Each test runs once per distinct agent and path, not per row.
    codes, agents = pd.factorize(rows["user_agent"].astype(str))
    by_ua = np.array([bool(PROBE_UA.search(a)) for a in agents], dtype=bool)[codes]
    pcodes, paths = pd.factorize(rows["path"].astype(str))
    health = np.array([HEALTH_PATH.match(p) is not None for p in paths], dtype=bool)[pcodes]
    ccodes, _ = pd.factorize(rows["client"].astype(str))
    # A client is a probe when every one of its requests is to a health path.
    not_health = np.bincount(ccodes, weights=~health, minlength=ccodes.max() + 1)
    out: np.ndarray = by_ua | (not_health[ccodes] == 0)
    return out


def build(dataset: Dataset, window: tuple[float, float] | None = None,
          options: AnalysisOptions | None = None) -> Analysis:
    """Detect incidents in the dataset and describe each one.

    Args:
        dataset: what :func:`timeline.read` returned.
        window: ``(start, end)`` epoch seconds to use instead of detection.
        options: the user key, clients that are not users, the availability target.
    """
    options = options or AnalysisOptions()
    user_key, rules = options.key, options.rules
    agg = dataset.agg
    edge_hosts = find_edge_hosts(agg)
    method: list[str] = []
    span = agg.span()
    if span is None:
        span_start = span_end = 0.0
        if not dataset.events.empty:
            span_start = float(dataset.events["ts"].min())
            span_end = float(dataset.events["ts"].max())
    else:
        span_start, span_end = span
    bin_s = choose_bin(span_end - span_start)
    t0 = math.floor(span_start / bin_s) * bin_s
    nbins = int((span_end - t0) // bin_s) + 1
    c = agg.counts
    cb = ((c["minute"].to_numpy(dtype=np.int64) * 60 - t0) // bin_s).astype(np.int64)
    n = c["n"].to_numpy(dtype=np.int64)
    status = c["status"].to_numpy(dtype=np.int64)
    probe = c["probe"].to_numpy(dtype=bool)
    host_arr = c["host"].astype(str).to_numpy()
    failed = is_failed(status)
    is_edge = np.isin(host_arr, edge_hosts) & ~probe
    edge_total = np.bincount(cb[is_edge], weights=n[is_edge], minlength=nbins).astype(np.int64)
    edge_failed = np.bincount(cb[is_edge & failed], weights=n[is_edge & failed],
                              minlength=nbins).astype(np.int64)
    cerr = is_edge & is_client_error(status)
    edge_4xx = np.bincount(cb[cerr], weights=n[cerr], minlength=nbins).astype(np.int64)
    per_host = pd.crosstab(cb[~probe], host_arr[~probe], values=n[~probe], aggfunc="sum"
                           ).reindex(range(nbins)).fillna(0).astype(np.int64)
    per_host.columns = [str(h) for h in per_host.columns]
    classes = {}
    for name, sel in (("2xx", (status >= 100) & (status < 400)),
                      ("4xx", (status >= 400) & (status < 500) & (status != 444)),
                      ("5xx", status >= 500),
                      ("no response", (status == 0) | (status == 444))):
        m = is_edge & sel
        classes[name] = np.bincount(cb[m], weights=n[m], minlength=nbins).astype(np.int64)
    # 1xx-3xx are all "answered" for the chart.
    bins = pd.DataFrame(classes, index=t0 + np.arange(nbins) * bin_s)
    bins["failed"] = edge_failed
    bins["total"] = edge_total
    # Failures per status at the edge over the whole input, for the background test.
    # ...and client errors: a 4xx that surged in a window is a failure there.
    fsel = is_edge & (failed | is_client_error(status))
    codes, inverse = np.unique(status[fsel], return_inverse=True)
    sums = np.bincount(inverse, weights=n[fsel], minlength=len(codes))
    fail_by_status = {int(k): int(v) for k, v in zip(codes.tolist(), sums.tolist(), strict=True)}
    n_probes = 0

    incidents: list[Incident] = []
    candidates: dict[int, _Candidate] = {}
    if window is not None:
        inc = Incident(start=window[0], end=window[1], signals=["given by --window"],
                       window_given=True)
        inc.start_edge = Edge(window[0], "given")
        inc.end_edge = Edge(window[1], "given")
        incidents.append(inc)
        method.append("The window was given with --window; detection was not used.")
    elif nbins > 1 and not agg.empty:
        bursts, burst_ts = _error_bursts(dataset.events, t0, bin_s, nbins)
        for w in detect(edge_total, edge_failed, per_host, edge_hosts, edge_4xx, bursts,
                        _latency_hist(agg, edge_hosts, t0, bin_s, nbins)):
            cand = _refine(w, dataset, edge_hosts, t0, bin_s, burst_ts)
            candidates[id(cand.inc)] = cand
            incidents.append(cand.inc)
    incidents.sort(key=lambda i: (i.start, i.end))
    if not agg.latency.empty:
        method.append(
            "The access logs carry a latency ($request_time, else $upstream_response_time): "
            f"a bin is also anomalous when its p95 at the edge is over {LATENCY_FACTOR:g} "
            f"times the quiet bins' median p95 and {LATENCY_MIN_EXCESS_S:g} s above it, with "
            f"at least {LATENCY_MIN_N} timed requests (quantiles from 25%-wide buckets).")
    method += [
        f"Requests were counted in {bin_s // 60 or 1}-minute bins at the edge tier "
        f"({', '.join(edge_hosts) or 'no access logs'}): the hosts whose requests do not carry "
        "X-Forwarded-For, i.e. the ones users talk to.",
        "A request failed when the user got an error or nothing: status 5xx, 000 or 444; "
        "a 4xx or 499 (the user gave up waiting) only where its status surged.",
        "A bin is anomalous when its failure ratio (alone, or summed over the "
        f"{ROLL_BINS} bins around it) exceeds the median of the quiet bins by {MAD_K:g} "
        f"scaled MADs and by {MIN_RATIO_EXCESS:.0%}, with at least {MIN_FAILURES} failures "
        f"and a binomial z-score of {MIN_Z:g}; or when a host serves under "
        f"{VANISH_SHARE:.0%} of its usual count for a stretch so long that its usual rate "
        f"makes it improbable (Poisson, widened by the observed burstiness, p < {VANISH_P:g}) "
        "while the other hosts keep serving. A backend's silence counts only when the edge "
        f"also failed. Anomalous bins merge across gaps of {MERGE_GAP_BINS} bins; windows "
        f"with fewer than {MIN_BINS} anomalous bins are ignored. See docs/method.md.",
        "The start and end are the first and last failing request at the edge; when nothing "
        "failed there, the last request before and the first after a host's silence.",
        f"At the edge tier, users are {user_key.description} (`--user-key {user_key.spec}`); "
        "a user is affected when at least one of their requests in the window failed. "
        "Monitoring probes (known health-check user agents, or clients that only request "
        "health paths) are not users"
        + (", nor are the clients matched by `--exclude-client` (listed in the Impact "
           "section); their requests are left out of the request counts too" if rules
           else "")
        + ". Failures of a status that did not surge in the window (the usual trickle of "
        "500s) are counted apart as background.",
        "Requests a silent edge host did not serve are estimated from its mean rate outside "
        "the window (an estimate, reported apart from the counted failures).",
        "Time to detect is the first related alert (firing inside the window or up to 15 "
        "minutes before it; always-on alerts such as Watchdog excluded) minus the start.",
        "Routes are request paths without the query string, with ids (numbers, UUIDs, hex "
        "ids of 8+ characters and long base64-like tokens, each with a digit in it) "
        "collapsed to :id; the top 10 routes by failed requests at the edge are listed. "
        "Upstreams are the addresses in $upstream_addr at every host; a request counts for "
        "each address it tried, and as failed when the user's response failed.",
        f"Latency p50/p95 is over the users' requests at the edge, failed ones included, in "
        f"the window and in the {BASELINE_S // 60} minutes before its start (the baseline), "
        "from $request_time and $upstream_response_time where the log format has them.",
    ]
    if options.slo is not None:
        method.append(
            f"Error budget: the target {options.slo:g}% allows (1 - target) of the requests at "
            "the edge to fail over the SLO period, taken here as the analysed span (the logs "
            "hold nothing longer); the incident consumed its failed requests' share of that "
            "budget. Burn rate = error ratio over a window / (1 - target), from the "
            "per-bin failures at the edge (5xx, 000, 444, probes excluded). The page "
            "condition is the Google SRE workbook's multiwindow rule: the 1 h and the 5 min "
            "burn rates both above 14.4 (and, slower, 6 h and 30 min above 6); see "
            "docs/method.md.")
    timeout = proxy_timeout(dataset.nginx_conf)

    def where(src: int, line: int) -> str:
        return f"{dataset.sources[src].path}:{line}"

    kept: list[Incident] = []
    for inc in incidents:
        found = candidates.get(id(inc))
        # The second pass: the rows around this window only, read back from the files; from
        # a proxy timeout earlier, since a request is logged when it ends.
        margin = bin_s + (timeout.seconds if found is not None else 0.0)
        rows = dataset.load_rows(inc.start - margin, inc.end + max(bin_s, ROWS_AFTER_S))
        # Routes once per distinct path, for the breakdowns and the partial-failure test.
        rows["route"] = routes_of(rows["path"]) if len(rows) else []
        probe_rows = find_probes(rows)
        n_probes = max(n_probes, int(rows.loc[probe_rows, "client"].nunique())
                       if len(rows) else 0)
        rule_of = match_exclusions(rows, rules)
        incomplete = incomplete_requests(rows)
        not_users = probe_rows | (rule_of >= 0) | incomplete
        users = user_keys(rows, user_key) if len(rows) else None
        if found is not None:
            _settle(found, rows, not_users, edge_hosts, fail_by_status, per_host, bin_s,
                    timeout, where)
        began = None
        if len(rows):
            began = request_starts(rows, timeout)[0]
            held = released_at_repair(
                rows, np.isin(rows["host"].astype(str).to_numpy(), edge_hosts) & ~not_users,
                inc.end, inc.start, timeout)
            began[held] = np.minimum(began[held], inc.end)
        measure_impact(inc, rows, not_users, edge_hosts, per_host, fail_by_status, t0, bin_s,
                       _silent_users(dataset, inc, edge_hosts, bin_s, options), users, began)
        count_incomplete(inc, rows, incomplete, edge_hosts)
        if inc.peak_ts is not None:
            inc.peak_source = first_failure_at(
                rows, np.isin(rows["host"].astype(str).to_numpy(), edge_hosts) & ~not_users,
                _failing(rows, inc.impact.failing_statuses), inc.peak_ts, inc.peak_ts + bin_s,
                where)
        count_exclusions(inc, rows, rule_of, rules)
        # The hour before is read back only when the window's rows carry a latency: for
        # combined/main logs it would be a second pass for nothing.
        timed = not rows.empty and bool(rows[["request_time", "upstream_time"]].notna().any()
                                        .any())
        base_rows = (dataset.load_rows(max(inc.start - BASELINE_S, span_start), inc.start)
                     if timed else rows.iloc[:0])
        measure_latency(inc, rows, not_users, base_rows, _not_users(base_rows, rules),
                        edge_hosts)
        if options.slo is not None:
            measure_slo(inc, bins, options.slo, bin_s)
        if incidents and _is_scan(inc):
            continue
        ev = dataset.events
        dropped = 0
        if not ev.empty:
            # Dropped before a response: the access log has no line for these requests, the
            # error log has one per dropped connection (and never the client's address).
            sel = (ev["kind"].isin(list(DROPPED_KINDS)) & (ev["ts"] >= inc.start - bin_s)
                   & (ev["ts"] <= inc.end + bin_s))
            dropped = int(ev.loc[sel, "count"].sum())
        if dropped:
            inc.impact.requests_lost_estimate += dropped
            bound_users(inc.impact, dropped, rows, not_users, users, edge_hosts, inc,
                        _nearby_users(dataset, inc, edge_hosts, options), began)
        narrate(inc, dataset, rows, bins, per_host, t0, bin_s)
        kept.append(inc)
    incidents = kept
    return Analysis(dataset, bin_s, bins, incidents, edge_hosts, n_probes, method, options)


def _failing(rows: pd.DataFrame, surged: list[int]) -> np.ndarray:
    """Rows that failed as the incident's failures: a status that surged, else 5xx/000/444."""
    status = rows["status"].to_numpy(dtype=np.int64)
    if surged:
        out: np.ndarray = np.isin(status, surged) & (is_failed(status)
                                                     | is_client_error(status))
        return out
    return is_failed(status)


def _not_users(rows: pd.DataFrame, rules: tuple[ClientRule, ...]) -> np.ndarray:
    """Rows of monitoring probes and of clients excluded by ``rules``."""
    if rows.empty:
        return np.zeros(0, dtype=bool)
    out: np.ndarray = (find_probes(rows) | (match_exclusions(rows, rules) >= 0)
                       | incomplete_requests(rows))
    return out


def _latency_hist(agg: Aggregate, edge_hosts: list[str], t0: float, bin_s: int,
                  nbins: int) -> np.ndarray | None:
    """Bins x latency buckets of the edge hosts' timed requests; None when none logs one."""
    lat = agg.latency
    lat = lat[lat["host"].astype(str).isin(edge_hosts)]
    if lat.empty:
        return None
    b = ((lat["minute"].to_numpy(dtype=np.int64) * 60 - t0) // bin_s).astype(np.int64)
    hist = np.zeros((nbins, len(LATENCY_EDGES)), dtype=np.int64)
    keep = (b >= 0) & (b < nbins)
    np.add.at(hist, (b[keep], lat["bucket"].to_numpy(dtype=np.int64)[keep]),
              lat["n"].to_numpy(dtype=np.int64)[keep])
    return hist


@dataclass
class _Candidate:
    """A detected window before its edges are settled from the rows around it.

    ``inc`` spans everything the first pass saw (the widest span to read rows for); the
    edges it offers besides the failures: hosts' silences, an error-log burst, the bins.
    """

    inc: Incident
    #: (start, end) of each silent host's silence, and whether that host is at the edge
    silences: list[tuple[Edge, Edge, bool]]
    burst: tuple[Edge, Edge] | None
    bins: tuple[Edge, Edge]


def _refine(w: Window, dataset: Dataset, edge_hosts: list[str], t0: float,
            bin_s: int, burst_ts: pd.DataFrame | None = None) -> _Candidate:
    """What the first pass knows of a window's edges.

    A silent host's last request before and first after its silence are edges of their
    own; a backend's silence counts only when nothing failed at the edge (a backend that
    serves a few requests a minute goes quiet some time before the failures begin, so its
    silence is less precise than the failures it causes at the load balancer).
    """
    minutes = dataset.agg.minutes
    mb = ((minutes["minute"].to_numpy(dtype=np.int64) * 60 - t0) // bin_s).astype(np.int64)
    hosts = minutes["host"].astype(str).to_numpy()
    srcs = minutes["source"].to_numpy(dtype=np.int64)
    lo_bin, hi_bin = w.first_bin - 1, w.last_bin + 1
    lo_t, hi_t = t0 + w.first_bin * bin_s, t0 + (w.last_bin + 1) * bin_s
    span = [lo_t, hi_t]
    sel = np.isin(hosts, edge_hosts) & (mb >= lo_bin) & (mb <= hi_bin)
    for lo_col, hi_col in (("f_min", "f_max"), ("c_min", "c_max")):
        f_min = minutes[lo_col].to_numpy(dtype=float)[sel]
        f_max = minutes[hi_col].to_numpy(dtype=float)[sel]
        if np.isfinite(f_min).any():
            span = [min(span[0], float(f_min.min())), max(span[1], float(f_max.max()))]
    ts_min = minutes["ts_min"].to_numpy(dtype=float)
    ts_max = minutes["ts_max"].to_numpy(dtype=float)
    line_min = minutes["line_min"].to_numpy(dtype=float)
    line_max = minutes["line_max"].to_numpy(dtype=float)

    def at(i: int, col: np.ndarray) -> str:
        return f"{dataset.sources[int(srcs[i])].path}:{int(col[i])}"

    silences: list[tuple[Edge, Edge, bool]] = []
    for host, (hb0, hb1) in sorted(w.vanished.items()):
        mine = hosts == host
        before = np.flatnonzero(mine & (mb < hb0))
        after = np.flatnonzero(mine & (mb > hb1))
        # The silence starts just after the host's last request before it.
        if before.size:
            i = int(before[np.argmax(ts_max[before])])
            s0 = Edge(float(ts_max[i]), "silence", at(i, line_max),
                      f"{host}'s last request before its silence")
        else:
            s0 = Edge(t0 + hb0 * bin_s, "bins", "", f"{host} logged nothing from the start")
        if after.size:
            i = int(after[np.argmin(ts_min[after])])
            s1 = Edge(float(ts_min[i]), "silence", at(i, line_min),
                      f"{host}'s first request after its silence")
        else:
            s1 = Edge(t0 + (hb1 + 1) * bin_s, "bins", "", f"{host} logged nothing after")
        silences.append((s0, s1, host in edge_hosts))
        span = [min(span[0], s0.ts), max(span[1], s1.ts)]
    burst = None
    if burst_ts is not None and "error_burst" in w.signals:
        inside = burst_ts[(burst_ts["ts"] >= lo_t) & (burst_ts["ts"] < hi_t)]
        if not inside.empty:
            first, last = inside.iloc[0], inside.iloc[-1]
            burst = (Edge(float(first["ts"]), "error_burst",
                          f"{first['source_file']}:{int(first['line'])}",
                          "the first serious error-log line of the burst"),
                     Edge(float(last["ts"]), "error_burst",
                          f"{last['source_file']}:{int(last['line'])}",
                          "the last serious error-log line of the burst"))
    bins_edges = (Edge(lo_t, "bins", "", "the first anomalous bin"),
                  Edge(hi_t, "bins", "", "the end of the last anomalous bin"))
    inc = Incident(start=span[0], end=span[1], signals=sorted(w.signals))
    inc.affected_hosts = sorted(w.vanished)
    return _Candidate(inc, silences, burst, bins_edges)


def _settle(cand: _Candidate, rows: pd.DataFrame, not_users: np.ndarray,
            edge_hosts: list[str], fail_by_status: dict[int, int], per_host: pd.DataFrame,
            bin_s: int, timeout: Timeout, where: Callable[[int, int], str]) -> None:
    """The incident's start and end, from the edges its candidate offers.

    The failures of the statuses that surged (:func:`timeline.edges.failure_edges`) and the
    edge hosts' silences; a backend's silence only when nothing failed at the edge; else
    the error-log burst; else the bins.
    """
    inc = cand.inc
    starts: list[Edge] = []
    ends: list[Edge] = []
    if not rows.empty:
        hosts = rows["host"].astype(str).to_numpy()
        users = np.isin(hosts, edge_hosts) & ~not_users
        ts = rows["ts"].to_numpy(dtype=float)
        status = rows["status"].to_numpy(dtype=np.int64)
        inwin = users & (ts >= inc.start) & (ts <= inc.end)
        candidate = inwin & (is_failed(status) | is_client_error(status))
        surged = surging_statuses(status[candidate], fail_by_status, inc, per_host, bin_s)
        found = failure_edges(rows, users, surged, inc.start, inc.end, timeout, where)
        if found is not None:
            starts.append(found[0])
            ends.append(found[1])
    for s0, s1, at_edge in cand.silences:
        if at_edge or not starts:
            starts.append(s0)
            ends.append(s1)
    if not starts and cand.burst is not None:
        starts.append(cand.burst[0])
        ends.append(cand.burst[1])
    if not starts:
        starts.append(cand.bins[0])
        ends.append(cand.bins[1])
    # Ties: the edge with evidence first (a bin edge has none).
    inc.start_edge = min(starts, key=lambda e: (e.ts, not e.source))
    inc.end_edge = max(ends, key=lambda e: (e.ts, bool(e.source)))
    inc.start, inc.end = inc.start_edge.ts, inc.end_edge.ts


def _is_scan(inc: Incident) -> bool:
    """A burst of 4xx from a handful of clients is a scanner, not an outage."""
    if inc.window_given or inc.signals != ["client_errors"]:
        return False
    return inc.impact.top_client_share > 0.5


def _nearby_users(dataset: Dataset, inc: Incident, edge_hosts: list[str],
                  options: AnalysisOptions) -> tuple[set[str], set[str]]:
    """Users at the edge in stretches as long as the window just before and just after
    it: the people who could have tried during it and left no line."""
    dur = max(inc.end - inc.start, 60.0)
    out: list[set[str]] = []
    for lo, hi in ((inc.start - dur, inc.start), (inc.end, inc.end + dur)):
        rows = dataset.load_rows(lo, hi)
        if rows.empty:
            out.append(set())
            continue
        mask = (rows["host"].astype(str).isin(edge_hosts).to_numpy()
                & ~_not_users(rows, options.rules))
        out.append(set(user_keys(rows, options.key)[mask].tolist()))
    return out[0], out[1]


def _silent_users(dataset: Dataset, inc: Incident, edge_hosts: list[str],
                  bin_s: int, options: AnalysisOptions) -> set[str]:
    """Users a silent edge host served in a stretch as long as its silence, just before it
    (or just after, when it was silent from the start of the logs)."""
    silent = [h for h in inc.affected_hosts if h in edge_hosts]
    if not silent:
        return set()
    dur = max(inc.end - inc.start, float(bin_s))
    for lo, hi in ((inc.start - dur, inc.start), (inc.end, inc.end + dur)):
        rows = dataset.load_rows(lo, hi)
        if rows.empty:
            continue
        mask = (rows["host"].astype(str).isin(silent).to_numpy()
                & ~_not_users(rows, options.rules))
        users = set(user_keys(rows, options.key)[mask].tolist())
        if users:
            return users
    return set()


#: Error-log kinds that mean Nginx dropped a connection without logging a request:
#: ``worker_connections are not enough`` (ngx_get_connection) and ``accept4() failed (24:
#: Too many open files)`` (ngx_event_accept).
DROPPED_KINDS = ("worker_connections", "too_many_open_files")

#: Error-log kinds whose bursts signal an incident by themselves.
BURST_KINDS = {"worker_connections", "too_many_open_files", "upstream_refused",
               "upstream_timeout", "no_live_upstreams", "upstream_closed", "upstream_reset",
               "rate_limited", "conn_limited", "bind_failed", "worker_crash", "resolve_failed"}


def _error_bursts(events: pd.DataFrame, t0: float, bin_s: int,
                  nbins: int) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Serious error-log lines per bin, and those lines (ts, source_file, line) in time
    order."""
    if events.empty:
        return np.zeros(nbins, dtype=np.int64), None
    sel = events[(events["parser"] == "nginx_error") & events["kind"].isin(BURST_KINDS)]
    ts = sel["ts"].to_numpy(dtype=float)
    b = ((ts - t0) // bin_s).astype(np.int64)
    ok = (b >= 0) & (b < nbins)
    counts = np.bincount(b[ok], weights=sel["count"].to_numpy(dtype=float)[ok],
                         minlength=nbins).astype(np.int64)
    lines = sel.loc[ok, ["ts", "source_file", "line"]].sort_values(["ts", "source_file", "line"],
                                                                  kind="stable")
    return counts, lines
