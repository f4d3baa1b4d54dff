"""From a :class:`Dataset` to an :class:`Analysis`: bin, detect, refine, measure, narrate."""

from __future__ import annotations

import math
import re

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
from timeline.impact import (
    count_exclusions,
    measure_impact,
    measure_latency,
    measure_slo,
    routes_of,
)
from timeline.ingest import Dataset
from timeline.model import Analysis, AnalysisOptions, Incident
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
    if window is not None:
        inc = Incident(start=window[0], end=window[1], signals=["given by --window"],
                       window_given=True)
        incidents.append(inc)
        method.append("The window was given with --window; detection was not used.")
    elif nbins > 1 and not agg.empty:
        bursts, burst_ts = _error_bursts(dataset.events, t0, bin_s, nbins)
        for w in detect(edge_total, edge_failed, per_host, edge_hosts, edge_4xx, bursts,
                        _latency_hist(agg, edge_hosts, t0, bin_s, nbins)):
            incidents.append(_refine(w, agg.minutes, edge_hosts, t0, bin_s, burst_ts))
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
    kept: list[Incident] = []
    for inc in incidents:
        # The second pass: the rows around this window only, read back from the files.
        # Only the window (and a bin around it): the rows are read back from the files.
        rows = dataset.load_rows(inc.start - bin_s, inc.end + max(bin_s, ROWS_AFTER_S))
        # Routes once per distinct path, for the breakdowns and the partial-failure test.
        rows["route"] = routes_of(rows["path"]) if len(rows) else []
        probe_rows = find_probes(rows)
        n_probes = max(n_probes, int(rows.loc[probe_rows, "client"].nunique())
                       if len(rows) else 0)
        rule_of = match_exclusions(rows, rules)
        not_users = probe_rows | (rule_of >= 0)
        users = user_keys(rows, user_key) if len(rows) else None
        measure_impact(inc, rows, not_users, edge_hosts, per_host, fail_by_status, t0, bin_s,
                       _silent_users(dataset, inc, edge_hosts, bin_s, options), users)
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
        if "error_burst" in inc.signals and inc.impact.requests_failed == 0:
            # Dropped before a response: the access log has no line for these requests, the
            # error log has one per dropped connection (and never the client's address).
            ev = dataset.events
            dropped = ev[ev["kind"].isin(["worker_connections", "too_many_open_files"])
                         & (ev["ts"] >= inc.start) & (ev["ts"] <= inc.end)]
            inc.impact.requests_lost_estimate += int(dropped["count"].sum())
            inc.impact.users_measurable = False
        narrate(inc, dataset, rows, bins, per_host, t0, bin_s)
        kept.append(inc)
    incidents = kept
    return Analysis(dataset, bin_s, bins, incidents, edge_hosts, n_probes, method, options)


def _not_users(rows: pd.DataFrame, rules: tuple[ClientRule, ...]) -> np.ndarray:
    """Rows of monitoring probes and of clients excluded by ``rules``."""
    if rows.empty:
        return np.zeros(0, dtype=bool)
    out: np.ndarray = find_probes(rows) | (match_exclusions(rows, rules) >= 0)
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


def _refine(w: Window, minutes: pd.DataFrame, edge_hosts: list[str], t0: float,
            bin_s: int, burst_ts: np.ndarray | None = None) -> Incident:
    """Edges to the second: the first and last failing request at the edge.

    A silent host's last request before and first after its silence define the edges only
    when nothing failed at the edge (a lone Nginx that stopped): a backend that serves a few
    requests a minute goes quiet some time before the failures begin, so its silence is
    less precise than the failures it causes at the load balancer.
    """
    mb = ((minutes["minute"].to_numpy(dtype=np.int64) * 60 - t0) // bin_s).astype(np.int64)
    hosts = minutes["host"].astype(str).to_numpy()
    lo_bin, hi_bin = w.first_bin - 1, w.last_bin + 1
    starts: list[float] = []
    ends: list[float] = []
    sel = np.isin(hosts, edge_hosts) & (mb >= lo_bin) & (mb <= hi_bin)
    f_min = minutes["f_min"].to_numpy(dtype=float)[sel]
    f_max = minutes["f_max"].to_numpy(dtype=float)[sel]
    if "client_errors" in w.signals:
        # 4xx have a steady background, so no margin bin: the window's own bins only.
        inner = np.isin(hosts, edge_hosts) & (mb >= w.first_bin) & (mb <= w.last_bin)
        c_min = minutes["c_min"].to_numpy(dtype=float)[inner]
        c_max = minutes["c_max"].to_numpy(dtype=float)[inner]
        if np.isfinite(c_min).any():
            starts.append(float(c_min.min()))
            ends.append(float(c_max.max()))
    if np.isfinite(f_min).any():
        starts.append(float(f_min.min()))
        ends.append(float(f_max.max()))
    ts_min = minutes["ts_min"].to_numpy(dtype=float)
    ts_max = minutes["ts_max"].to_numpy(dtype=float)
    for host, (hb0, hb1) in w.vanished.items():
        if starts and host not in edge_hosts:
            continue
        mine = hosts == host
        before = ts_max[mine & (mb < hb0)]
        after = ts_min[mine & (mb > hb1)]
        # The silence starts just after the host's last request before it.
        starts.append(float(before.max()) if before.size else t0 + hb0 * bin_s)
        ends.append(float(after.min()) if after.size else t0 + (hb1 + 1) * bin_s)
    if not starts and burst_ts is not None and "error_burst" in w.signals:
        # Nothing failed in the access logs: the burst's own first and last lines.
        lo_t, hi_t = t0 + w.first_bin * bin_s, t0 + (w.last_bin + 1) * bin_s
        inside = burst_ts[(burst_ts >= lo_t) & (burst_ts < hi_t)]
        if inside.size:
            starts.append(float(inside.min()))
            ends.append(float(inside.max()))
    start = min(starts) if starts else t0 + w.first_bin * bin_s
    end = max(ends) if ends else t0 + (w.last_bin + 1) * bin_s
    inc = Incident(start=start, end=end, signals=sorted(w.signals))
    inc.affected_hosts = sorted(w.vanished)
    return inc


def _is_scan(inc: Incident) -> bool:
    """A burst of 4xx from a handful of clients is a scanner, not an outage."""
    if inc.window_given or inc.signals != ["client_errors"]:
        return False
    return inc.impact.top_client_share > 0.5


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


#: Error-log kinds whose bursts signal an incident by themselves.
BURST_KINDS = {"worker_connections", "too_many_open_files", "upstream_refused",
               "upstream_timeout", "no_live_upstreams", "upstream_closed", "upstream_reset",
               "rate_limited", "conn_limited", "bind_failed", "worker_crash", "resolve_failed"}


def _error_bursts(events: pd.DataFrame, t0: float, bin_s: int,
                  nbins: int) -> tuple[np.ndarray, np.ndarray]:
    """Serious error-log lines per bin, and their times."""
    if events.empty:
        return np.zeros(nbins, dtype=np.int64), np.zeros(0)
    sel = events[(events["parser"] == "nginx_error") & events["kind"].isin(BURST_KINDS)]
    ts = sel["ts"].to_numpy(dtype=float)
    b = ((ts - t0) // bin_s).astype(np.int64)
    ok = (b >= 0) & (b < nbins)
    counts = np.bincount(b[ok], weights=sel["count"].to_numpy(dtype=float)[ok],
                         minlength=nbins).astype(np.int64)
    return counts, ts[ok]
