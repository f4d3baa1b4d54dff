"""Impact of an incident: users and requests hit inside its window, where they failed
(hosts, upstreams, routes), how slow it got, and what it cost against an SLO."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd

from timeline.aggregate import is_client_error, is_failed
from timeline.bins import Bins
from timeline.clients import ClientRule, client_address
from timeline.detect import slow_bar
from timeline.links import split_upstream_addr
from timeline.model import (
    LATENCY_FIELDS,
    BinSeries,
    Breakdown,
    Exclusion,
    HostLatency,
    Impact,
    Incident,
    Latency,
    Quantiles,
    SloReport,
)

# Re-exported: callers and tests know them from here.
from timeline.routes import ROUTE_CHARS as ROUTE_CHARS
from timeline.routes import route_of as route_of
from timeline.routes import routes_of


def measure_impact(
    inc: Incident,
    rows: pd.DataFrame,
    probe: np.ndarray,
    edge_hosts: list[str],
    bins: Bins,
    silent_users: set[str] | None = None,
    users: np.ndarray | None = None,
    began: np.ndarray | None = None,
) -> None:
    """Fill ``inc.impact`` and the peak bin from the rows around the window.

    ``silent_users`` are the users a silent edge host served just before it went silent:
    while Nginx itself is down nothing is logged, so they are the estimate of who tried and
    got nothing. They are added to both counts and reported as an estimate.

    Users are the ``users`` keys of the rows (client addresses when None) at the edge tier;
    ``probe`` marks the rows that are not users' (monitoring probes and excluded clients),
    left out of every count. A user is affected when at least one of their requests inside
    the window failed. Requests a silent edge host did not serve are estimated from its
    usual rate and reported apart, as an estimate. The window's requests are broken down by
    upstream address and by route (:func:`timeline.routes.route_of`).
    """
    imp = Impact()
    inc.impact = imp
    if rows.empty:
        return
    ts = rows["ts"].to_numpy(dtype=float)
    status = rows["status"].to_numpy(dtype=np.int64)
    hosts = rows["host"].astype(str).to_numpy()
    clients = rows["client"].astype(str).to_numpy()
    if users is None:
        users = clients
    # Client errors are candidates too: they count when their status surged (a default
    # server answering 404), never as background.
    hard = is_failed(status)
    candidate = hard | is_client_error(status)
    inwin = (ts >= inc.start) & ((ts if began is None else began) <= inc.end)
    is_edge = np.isin(hosts, edge_hosts) & ~probe
    sel = inwin & is_edge
    surged = surging_statuses(status[sel & candidate], bins, inc)
    if surged:
        # Failures of a status that did not surge (the usual trickle of 500s) are the
        # background, not the incident: counted apart so they do not inflate the impact.
        failed = candidate & np.isin(status, surged)
        imp.background_failed = int((sel & hard & ~failed).sum())
    else:
        failed = hard
    imp.failing_statuses = surged
    imp.requests_total = int(sel.sum())
    imp.requests_failed = int((sel & failed).sum())
    active = set(pd.unique(users[sel]).tolist())
    hit = set(pd.unique(users[sel & failed]).tolist())
    imp.users_affected_low = len(hit)
    if silent_users:
        imp.users_estimated = len(silent_users - hit)
        active |= silent_users
        hit |= silent_users
    imp.users_total = imp.users_total_high = len(active)
    imp.users_affected = imp.users_affected_high = len(hit)
    imp.users_pct_low = 100.0 * imp.users_affected_low / len(active) if active else 0.0
    imp.users_pct_high = imp.users_pct
    if imp.users_estimated:
        imp.users_basis = "estimated"
        imp.users_method = ("the users a silent edge host served in a stretch as long as its "
                            "silence just before it are counted as the ones who tried and got "
                            "nothing; at least the users with a logged failure were affected")
    if imp.requests_failed:
        per_client = pd.Series(clients[sel & failed]).value_counts()
        imp.top_client_share = float(per_client.iloc[0]) / imp.requests_failed
    for host in sorted(set(hosts[inwin].tolist()) | set(inc.affected_hosts)):
        mine = inwin & (hosts == host) & ~probe
        imp.by_host[str(host)] = {
            "requests": int(mine.sum()),
            "failed": int((mine & failed).sum()),
        }
    routes = rows["route"] if "route" in rows else pd.Series(routes_of(rows["path"]))
    imp.by_route, imp.routes_seen, imp.routes_failing = _by_route(routes, sel, failed)
    # Upstreams over all hosts: each address belongs to one tier (a backend that proxies on
    # logs the next tier's addresses), so no request is counted twice for one address.
    imp.by_upstream, imp.upstreams_seen = _by_upstream(rows["upstream_addr"], inwin & ~probe,
                                                       failed)
    imp.upstream_bins = upstream_series(rows["upstream_addr"], bins.indices(ts), ~probe, failed,
                                        bins.count, [b.name for b in imp.by_upstream])
    imp.requests_lost_estimate = _lost_requests(inc, bins, edge_hosts)
    # The peak: the bin with the most failed edge requests inside the window.
    if imp.requests_failed:
        fb = bins.indices(ts[sel & failed])
        counts = np.bincount(fb - fb.min())
        pb = int(np.argmax(counts)) + int(fb.min())
        inc.peak_ts = bins.start_of(pb)
        inc.peak_failed = int(counts[pb - int(fb.min())])
        inc.peak_total = int((is_edge & (bins.indices(ts) == pb)).sum())


def _lost_requests(inc: Incident, bins: Bins, edge_hosts: list[str]) -> int:
    """Traffic a silent edge host never logged: its usual rate times the silent bins. A
    silent backend's traffic shows up as failures at the proxy instead: not lost."""
    lost = 0
    b0, b1 = bins.window(inc.start, inc.end)
    outside = bins.outside(inc.start, inc.end)
    for host in inc.affected_hosts:
        if host not in edge_hosts:
            continue
        col = bins.per_host[host].to_numpy(dtype=float)
        base = float(np.mean(col[outside])) if outside.any() else 0.0
        seen = float(col[b0 : b1 + 1].sum())
        lost += max(0, round(base * (b1 - b0 + 1) - seen))
    return lost


def surging_statuses(fail_status_in: np.ndarray, bins: Bins, inc: Incident) -> list[int]:
    """Failure statuses whose count inside the window is well above their rate outside it.

    Args:
        fail_status_in: the status of each failed edge request inside the window.
        bins: the binned traffic (its span, and its failures per status over the input).
        inc: the incident (its window).
    """
    if fail_status_in.size == 0:
        return []
    fail_by_status = bins.fail_by_status
    span = max(bins.count * bins.width, 1)
    dur = max(inc.end - inc.start, 1.0)
    outside = max(span - dur, 1.0)
    codes, n_in = np.unique(fail_status_in, return_counts=True)
    out = []
    for code, n in zip(codes.tolist(), n_in.tolist(), strict=True):
        expected = max(0, fail_by_status.get(int(code), 0) - n) * dur / outside
        if n >= 3 and n > 3 * expected + 1:
            out.append(int(code))
    return out


#: How many upstreams and routes the breakdowns keep.
TOP_N = 10
def _top(requests: pd.Series, failed: pd.Series) -> list[Breakdown]:
    """The :data:`TOP_N` names by failed requests, then by name (deterministic)."""
    items = sorted(((str(k), int(requests[k]), int(failed.get(k, 0))) for k in requests.index),
                   key=lambda t: (-t[2], t[0]))
    return [Breakdown(name, n, f) for name, n, f in items[:TOP_N]]


def _by_route(all_routes: pd.Series, sel: np.ndarray, failed: np.ndarray
              ) -> tuple[list[Breakdown], int, int]:
    """Top failing routes among the selected rows, how many routes there were, how many
    failed."""
    if not sel.any():
        return [], 0, 0
    routes = all_routes.to_numpy()[sel]
    f = failed[sel]
    req = pd.Series(1, index=routes).groupby(level=0).sum()
    fail = pd.Series(f.astype(np.int64), index=routes).groupby(level=0).sum()
    fail = fail[fail > 0]
    # Routes without a failure are left out: there can be thousands of them.
    return _top(req[fail.index], fail), len(req), len(fail)


def _by_upstream(addrs: pd.Series, sel: np.ndarray, failed: np.ndarray
                 ) -> tuple[list[Breakdown], int]:
    """Requests and failed requests per upstream address tried, top first.

    ``$upstream_addr`` lists every server a request tried (``a, b`` after a retry,
    ``a : b`` across upstream groups): a request counts once for each address it tried,
    and as failed when the user's final response failed.
    """
    values = addrs.astype(str).to_numpy()[sel]
    f = failed[sel]
    codes, uniques = pd.factorize(values)
    n_req = np.bincount(codes, minlength=len(uniques))
    n_fail = np.bincount(codes, weights=f.astype(np.int64), minlength=len(uniques))
    req: dict[str, int] = {}
    fail: dict[str, int] = {}
    for value, nr, nf in zip(uniques.tolist(), n_req.tolist(), n_fail.tolist(), strict=True):
        # "-" and empty (served by Nginx itself, or not logged) are left out.
        for addr in split_upstream_addr(str(value)):
            req[addr] = req.get(addr, 0) + int(nr)
            fail[addr] = fail.get(addr, 0) + int(nf)
    if not req:
        return [], 0
    # Every upstream is listed (up to TOP_N): a healthy one beside a failing one is the point.
    return _top(pd.Series(req), pd.Series(fail)), len(req)


def upstream_series(addrs: pd.Series, index: np.ndarray, sel: np.ndarray, failed: np.ndarray,
                    count: int, names: list[str]) -> list[BinSeries]:
    """Requests and failed requests per bin of each upstream address in ``names``, over the
    selected rows (the rows read back around the window, before and after it too), when
    there are at least two addresses. A request counts for every address it tried, as in
    :func:`_by_upstream`."""
    keep = sel & (index >= 0) & (index < count)
    if len(names) < 2 or not keep.any():
        return []
    b, f = index[keep], failed[keep]
    codes, uniques = pd.factorize(addrs.astype(str).to_numpy()[keep])
    tried = [set(split_upstream_addr(str(u))) for u in uniques.tolist()]
    first = int(b.min())
    span = int(b.max()) - first + 1
    out = []
    for name in names:
        mine = np.isin(codes, [i for i, t in enumerate(tried) if name in t])
        req = np.bincount(b[mine] - first, minlength=span)
        bad = np.bincount(b[mine & f] - first, minlength=span)
        out.append(BinSeries(name, first, tuple(int(v) for v in req),
                             tuple(int(v) for v in bad)))
    return out


def count_exclusions(inc: Incident, rows: pd.DataFrame, rule_of: np.ndarray,
                     rules: tuple[ClientRule, ...]) -> None:
    """Fill ``inc.impact.excluded``: per rule, the clients and requests it left out of the
    window (every host; a rule that matched nothing is listed with zeros)."""
    if not rules:
        return
    out = []
    if rows.empty:
        inwin = np.zeros(0, dtype=bool)
        clients = np.zeros(0, dtype=object)
    else:
        ts = rows["ts"].to_numpy(dtype=float)
        inwin = (ts >= inc.start) & (ts <= inc.end)
        clients = rows["client"].astype(str).to_numpy()
    for i, rule in enumerate(rules):
        mine = inwin & (rule_of == i)
        out.append(Exclusion(rule.text, len(pd.unique(clients[mine])), int(mine.sum())))
    inc.impact.excluded = out


def quantiles(values: np.ndarray) -> Quantiles | None:
    """p50 and p95 of the finite values (linear interpolation), or None when there are none."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    p50, p95 = np.percentile(v, [50, 95])
    return Quantiles(int(v.size), float(p50), float(p95))


def measure_latency(inc: Incident, rows: pd.DataFrame, skip: np.ndarray,
                    baseline: pd.DataFrame, baseline_skip: np.ndarray,
                    edge_hosts: list[str]) -> None:
    """Fill ``inc.impact.latency``: p50/p95 of each latency field at the edge in the window
    and in the baseline (the edge's requests before the start), users' requests only.

    A field is None ("not logged") when no edge request in either span carries it.
    """

    def pick(frame: pd.DataFrame, not_users: np.ndarray, lo: float, hi: float
             ) -> pd.DataFrame:
        if frame.empty:
            return frame
        ts = frame["ts"].to_numpy(dtype=float)
        keep = ((ts >= lo) & (ts <= hi) & ~not_users
                & frame["host"].astype(str).isin(edge_hosts).to_numpy(dtype=bool))
        out: pd.DataFrame = frame[keep]
        return out

    win = pick(rows, skip, inc.start, inc.end)
    # Strictly before the start: the start is the first failing request, already the
    # incident's.
    base = pick(baseline, baseline_skip, -np.inf, np.nextafter(inc.start, -np.inf))
    imp = inc.impact
    for name in LATENCY_FIELDS:
        in_win = _seconds(win, name)
        in_base = _seconds(base, name)
        qw, qb = quantiles(in_win), quantiles(in_base)
        imp.latency[name] = None if qw is None and qb is None else Latency(qw, qb)
    if any(imp.latency.values()) and not base.empty:
        imp.latency_baseline = (float(base["ts"].min()), float(base["ts"].max()))


def count_slowed(inc: Incident, rows: pd.DataFrame, skip: np.ndarray, users: np.ndarray,
                 edge_hosts: list[str], began: np.ndarray | None) -> None:
    """In an incident of slowness alone (the ``latency`` signal, no request failed), count
    as affected the users with a request slower than the detector's bar: ``LATENCY_FACTOR``
    times the baseline's p95 and at least ``LATENCY_MIN_EXCESS_S`` above it, of the field
    the detector read (``$request_time``, else ``$upstream_response_time``). Requests and
    users in the window are those :func:`measure_impact` counted; ``skip`` marks the rows
    that are not users'. Nothing is counted without a baseline to compare with."""
    imp = inc.impact
    if "latency" not in inc.signals or imp.requests_failed or rows.empty:
        return
    for name in LATENCY_FIELDS:
        lat = imp.latency.get(name)
        if lat is not None and lat.baseline is not None:
            break
    else:
        return
    bar = slow_bar(lat.baseline.p95_s)
    ts = rows["ts"].to_numpy(dtype=float)
    inwin = (ts >= inc.start) & ((ts if began is None else began) <= inc.end)
    sel = inwin & np.isin(rows["host"].astype(str).to_numpy(), edge_hosts) & ~skip
    slow = sel & (np.nan_to_num(_seconds(rows, name), nan=0.0) > bar)
    hit = set(pd.unique(users[slow]).tolist())
    imp.slow_over_s = round(bar, 3)
    imp.requests_slow = int(slow.sum())
    imp.users_affected = imp.users_affected_low = imp.users_affected_high = len(hit)
    imp.users_pct_low = imp.users_pct_high = imp.users_pct


def measure_behind(inc: Incident, rows: pd.DataFrame, skip: np.ndarray,
                   baseline: pd.DataFrame, baseline_skip: np.ndarray,
                   edge_hosts: list[str]) -> None:
    """Fill ``inc.impact.latency_behind``: for each host behind the edge whose own log
    carries a latency, its p95 in the window against the baseline, and whether it grew
    past :func:`slow_bar` (the backend that slowed, as its own log shows it)."""
    out = []

    def mine(frame: pd.DataFrame, not_users: np.ndarray, host: str, lo: float,
             hi: float) -> pd.DataFrame:
        ts = frame["ts"].to_numpy(dtype=float)
        keep = ((ts >= lo) & (ts <= hi) & ~not_users
                & (frame["host"].astype(str).to_numpy() == host))
        picked: pd.DataFrame = frame[keep]
        return picked

    if rows.empty or baseline.empty:
        return
    hosts = sorted(set(rows["host"].astype(str).tolist()) - set(edge_hosts))
    before = np.nextafter(inc.start, -np.inf)
    for host in hosts:
        win = mine(rows, skip, host, inc.start, inc.end)
        base = mine(baseline, baseline_skip, host, -np.inf, before)
        for name in LATENCY_FIELDS:
            qw, qb = quantiles(_seconds(win, name)), quantiles(_seconds(base, name))
            if qw is not None and qb is not None:
                out.append(HostLatency(host, name, qw.p95_s, qb.p95_s,
                                       qw.p95_s > slow_bar(qb.p95_s)))
                break
    inc.impact.latency_behind = out


def _seconds(frame: pd.DataFrame, name: str) -> np.ndarray:
    if frame.empty or name not in frame:
        return np.zeros(0)
    out: np.ndarray = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
    return out


#: Multiwindow, multi-burn-rate page conditions (Google SRE workbook, chapter "Alerting on
#: SLOs", section 6): (long window s, short window s, burn rate threshold).
FAST_BURN = (3600, 300, 14.4)
SLOW_BURN = (21600, 1800, 6.0)


def _rolling(values: np.ndarray, k: int) -> np.ndarray:
    """Sum over the ``k`` bins ending at each bin (fewer at the start of the data)."""
    c = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    idx = np.arange(1, len(values) + 1)
    out: np.ndarray = c[idx] - c[np.maximum(idx - k, 0)]
    return out


def _burn(failed: np.ndarray, total: np.ndarray, window_s: int, bin_s: int,
          allowed: float) -> tuple[np.ndarray, int]:
    """Burn rate over the window ending at each bin, and the window actually used (whole
    bins, at least one)."""
    k = max(1, round(window_s / bin_s))
    f, t = _rolling(failed, k), _rolling(total, k)
    ratio = np.divide(f, t, out=np.zeros(len(f)), where=t > 0)
    return ratio / allowed, k * bin_s


def measure_slo(inc: Incident, bins: pd.DataFrame, target_pct: float, bin_s: int) -> None:
    """Fill ``inc.slo``: error budget consumed and burn rates against ``target_pct``.

    The period is the analysed span (``bins``: requests and failures per bin at the edge);
    the incident's failed requests are its counted failures (``inc.impact``). Burn rates
    use the per-bin failures at the edge (5xx, 000, 444) over windows ending at each bin
    inside the incident; a window reaching before the first bin covers the bins there are.
    """
    allowed = 1.0 - target_pct / 100.0
    failed = bins["failed"].to_numpy(dtype=np.int64)
    total = bins["total"].to_numpy(dtype=np.int64)
    starts = bins.index.to_numpy(dtype=float)
    period = int(total.sum())
    budget = period * allowed
    n_failed = inc.impact.requests_failed
    consumed = 100.0 * n_failed / budget if budget > 0 else None
    long_r, long_s = _burn(failed, total, FAST_BURN[0], bin_s, allowed)
    short_r, short_s = _burn(failed, total, FAST_BURN[1], bin_s, allowed)
    slow_long, _ = _burn(failed, total, SLOW_BURN[0], bin_s, allowed)
    slow_short, _ = _burn(failed, total, SLOW_BURN[1], bin_s, allowed)
    ends = starts + bin_s
    # Windows ending in a bin that overlaps the incident.
    mine = (ends > inc.start) & (starts <= inc.end) if len(starts) else np.zeros(0, bool)
    idx = np.flatnonzero(mine)

    def peak(rates: np.ndarray) -> tuple[float, float | None]:
        if idx.size == 0:
            return 0.0, None
        i = int(idx[np.argmax(rates[idx])])  # argmax: the first of equal peaks
        return float(rates[i]), float(ends[i])

    def first(long: np.ndarray, short: np.ndarray, threshold: float) -> float | None:
        hit = idx[(long[idx] > threshold) & (short[idx] > threshold)]
        return float(ends[hit[0]]) if hit.size else None

    pl, pl_at = peak(long_r)
    ps, ps_at = peak(short_r)
    inc.slo = SloReport(
        target_pct=target_pct,
        period_start=float(starts[0]) if len(starts) else inc.start,
        period_end=float(ends[-1]) if len(ends) else inc.end,
        period_requests=period,
        budget_requests=budget,
        failed=n_failed,
        budget_consumed_pct=consumed,
        long_window_s=long_s,
        short_window_s=short_s,
        peak_burn_long=pl,
        peak_burn_long_at=pl_at,
        peak_burn_short=ps,
        peak_burn_short_at=ps_at,
        page_at=first(long_r, short_r, FAST_BURN[2]),
        slow_page_at=first(slow_long, slow_short, SLOW_BURN[2]),
    )


def count_incomplete(inc: Incident, rows: pd.DataFrame, incomplete: np.ndarray,
                     edge_hosts: list[str]) -> None:
    """Count the window's incomplete requests at the edge (``"-"`` request lines), their
    clients and the networks (/24, /48) they came from, most requests first."""
    imp = inc.impact
    if rows.empty or not incomplete.any():
        return
    ts = rows["ts"].to_numpy(dtype=float)
    sel = (incomplete & np.isin(rows["host"].astype(str).to_numpy(), edge_hosts)
           & (ts >= inc.start) & (ts <= inc.end))
    if not sel.any():
        return
    clients = pd.Series(rows["client"].astype(str).to_numpy()[sel])
    imp.incomplete_requests = int(sel.sum())
    imp.incomplete_clients = int(clients.nunique())
    nets = clients.map(network_of)
    per = pd.DataFrame({"net": nets, "client": clients}).groupby("net", sort=True).agg(
        clients=("client", "nunique"), requests=("client", "size"))
    top = sorted(((str(n), int(r.clients), int(r.requests)) for n, r in per.iterrows()),
                 key=lambda t: (-t[2], t[0]))
    imp.incomplete_networks = top[:5]


def network_of(client: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of a client address; the text itself when it
    is not an address."""
    addr = client_address(client)
    if addr is None:
        return client
    bits = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


def bound_users(
    imp: Impact,
    dropped: int,
    rows: pd.DataFrame,
    not_users: np.ndarray,
    users: np.ndarray | None,
    edge_hosts: list[str],
    inc: Incident,
    nearby: tuple[set[str], set[str]],
    began: np.ndarray | None = None,
) -> None:
    """Users affected when Nginx dropped ``dropped`` connections without logging them.

    Those attempts leave no access line, so the users they hit cannot be counted; the
    report gives an interval that holds the truth and a point estimate:

    * low: the users with a logged failure (a dropped connection may have hit only them);
    * high: each dropped connection hit a different user: first the users served in the
      window without a logged failure, then users seen just before or after the window
      who left no line in it (they are added to the users active as well);
    * estimate: each connection was dropped with the same chance ``q`` (dropped / (dropped
      + logged)); a user with ``r`` logged requests and no logged failure was hit with
      chance ``1 - (1 - q)^r``; and the users usually active in a stretch this long
      (``nearby``: before, after) who left no line at all tried and were all dropped.
    """
    if rows.empty:
        return
    ts = rows["ts"].to_numpy(dtype=float)
    status = rows["status"].to_numpy(dtype=np.int64)
    keys = rows["client"].astype(str).to_numpy() if users is None else users
    sel = (np.isin(rows["host"].astype(str).to_numpy(), edge_hosts) & ~not_users
           & (ts >= inc.start) & ((ts if began is None else began) <= inc.end))
    failing = (is_failed(status) | is_client_error(status))
    if imp.failing_statuses:
        failing &= np.isin(status, imp.failing_statuses)
    else:
        failing &= is_failed(status)
    active = set(pd.unique(keys[sel]).tolist())
    hit = set(pd.unique(keys[sel & failing]).tolist())
    before, after = nearby
    unseen = (before | after) - active
    low = len(hit)
    k_active = min(dropped, len(active) - low)
    k_unseen = min(dropped - k_active, len(unseen))
    imp.users_affected_low = low
    imp.users_affected_high = low + k_active + k_unseen
    imp.users_total_high = len(active) + k_unseen
    imp.users_pct_low = 100.0 * low / len(active) if active else 0.0
    imp.users_pct_high = (100.0 * imp.users_affected_high / imp.users_total_high
                          if imp.users_total_high else 0.0)
    logged = int(sel.sum())
    q = dropped / (dropped + logged) if dropped + logged else 0.0
    served = pd.Series(keys[sel & ~np.isin(keys, list(hit))]).value_counts()
    chance = float((1.0 - (1.0 - q) ** served.to_numpy(dtype=float)).sum())
    usual = [len(s) for s in (before, after) if s]
    missing = min(len(unseen), max(0, round(sum(usual) / len(usual)) - len(active))
                  ) if usual else 0
    imp.users_affected = min(imp.users_affected_high,
                             max(low, round(low + chance + missing)))
    imp.users_total = len(active) + missing
    imp.users_basis = "estimated"
    imp.users_measurable = False
    imp.users_method = (
        f"Nginx dropped {dropped} connections without logging them (no client is named), so "
        f"users affected lie between the {low} with a logged failure and {imp.users_affected_high} "
        "(each dropped connection hitting a different user: first those served in the window, "
        "then users seen just before or after it); the estimate assumes every connection had "
        f"the same chance of being dropped ({q:.0%}: dropped / (dropped + logged))"
        + (f" and counts the {missing} users usually active in a stretch this long who left "
           "no line in it as affected" if missing else ""))
