"""From a :class:`Dataset` to an :class:`Analysis`: bin, detect, refine, measure, narrate."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from timeline.detect import (
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
from timeline.impact import measure_impact
from timeline.ingest import Dataset
from timeline.model import Analysis, Incident
from timeline.narrate import narrate

#: User agents of monitoring probes: they are not users (DESIGN.md, Impact).
PROBE_UA = re.compile(
    r"(?i)blackbox.exporter|kube-probe|elb-healthchecker|googlehc|google-health|pingdom|"
    r"uptimerobot|statuscake|site24x7|nagios|check_http|zabbix|consul health|"
    r"newrelicpinger|datadog.agent|prometheus/|healthcheck|health-check|monitoring-plugins"
)
#: Paths that only health checks ask for; a client that asks for nothing else is a probe.
HEALTH_PATH = re.compile(r"^/(?:-/)?(?:healthz?|health-?check|ping|status|readyz|livez|ready|alive)"
                         r"(?:[/?].*)?$")


def mark_failed(status: pd.Series) -> np.ndarray:
    """Requests where the user got an error or nothing: 5xx, 000, 444."""
    s = status.to_numpy()
    out: np.ndarray = (s >= 500) | (s == 0) | (s == 444)
    return out


def find_edge_hosts(requests: pd.DataFrame) -> list[str]:
    """Hosts users talk to directly.

    A host whose requests mostly carry ``X-Forwarded-For`` sits behind a proxy that is in the
    logs too; its clients are that proxy, so users are counted at the proxy instead. When
    every host is behind a proxy (the proxy's logs are missing), all hosts count.
    """
    if requests.empty:
        return []
    share = (requests["forwarded_for"] != "").groupby(requests["host"], observed=True).mean()
    edge = sorted(str(h) for h, s in share.items() if s <= 0.5)
    return edge or sorted(str(h) for h in share.index)


def find_probes(requests: pd.DataFrame) -> np.ndarray:
    """Rows sent by monitoring probes (by user agent, or clients that only hit health paths)."""
    if requests.empty:
        return np.zeros(0, dtype=bool)
    ua = requests["user_agent"].astype("category")
    probe_cats = np.array([bool(PROBE_UA.search(str(c))) for c in ua.cat.categories], dtype=bool)
    codes = ua.cat.codes.to_numpy()
    by_ua = np.where(codes >= 0, probe_cats[np.maximum(codes, 0)], False)
    health = requests["path"].str.match(HEALTH_PATH).to_numpy(dtype=bool)
    only_health = pd.Series(health).groupby(requests["client"].to_numpy()).transform("all")
    out: np.ndarray = by_ua | only_health.to_numpy(dtype=bool)
    return out


def build(dataset: Dataset, window: tuple[float, float] | None = None) -> Analysis:
    """Detect incidents in the dataset and describe each one.

    Args:
        dataset: what :func:`timeline.read` returned.
        window: ``(start, end)`` epoch seconds to use instead of detection.
    """
    req = dataset.requests
    edge_hosts = find_edge_hosts(req)
    probe = find_probes(req)
    failed = mark_failed(req["status"]) if not req.empty else np.zeros(0, dtype=bool)
    ts = req["ts"].to_numpy(dtype=float)
    method: list[str] = []
    n_probes = int(len(pd.unique(req["client"].to_numpy()[probe]))) if len(probe) else 0
    analysis_probe_note = f"{n_probes} client addresses excluded"
    if req.empty:
        span_start = span_end = 0.0
        if not dataset.events.empty:
            span_start = float(dataset.events["ts"].min())
            span_end = float(dataset.events["ts"].max())
    else:
        span_start, span_end = float(ts.min()), float(ts.max())
    bin_s = choose_bin(span_end - span_start)
    t0 = math.floor(span_start / bin_s) * bin_s
    nbins = int((span_end - t0) // bin_s) + 1
    b = ((ts - t0) // bin_s).astype(np.int64) if len(ts) else np.zeros(0, dtype=np.int64)
    host_arr = req["host"].astype(str).to_numpy() if not req.empty else np.zeros(0, dtype=object)
    is_edge = np.isin(host_arr, edge_hosts) & ~probe
    edge_total = np.bincount(b[is_edge], minlength=nbins)
    edge_failed = np.bincount(b[is_edge & failed], minlength=nbins)
    per_host = pd.crosstab(b[~probe], host_arr[~probe]).reindex(range(nbins), fill_value=0)
    per_host.columns = [str(c) for c in per_host.columns]

    status = req["status"].to_numpy() if not req.empty else np.zeros(0, dtype=np.int16)
    classes = {}
    for name, lo, hi in (("2xx", 100, 400), ("4xx", 400, 500), ("5xx", 500, 1000)):
        sel = is_edge & (status >= lo) & (status < hi)
        classes[name] = np.bincount(b[sel], minlength=nbins)
    classes["no response"] = np.bincount(b[is_edge & ((status == 0) | (status == 444))],
                                         minlength=nbins)
    # 1xx-3xx are all "answered" for the chart; split later if a report needs it.
    bins = pd.DataFrame(classes, index=t0 + np.arange(nbins) * bin_s)
    bins["failed"] = edge_failed
    bins["total"] = edge_total

    incidents: list[Incident] = []
    if window is not None:
        inc = Incident(start=window[0], end=window[1], signals=["given by --window"],
                       window_given=True)
        incidents.append(inc)
        method.append("The window was given with --window; detection was not used.")
    elif nbins > 1 and not req.empty:
        for w in detect(edge_total, edge_failed, per_host, edge_hosts):
            incidents.append(
                _refine(w, req, ts, b, failed, is_edge, host_arr, edge_hosts, t0, bin_s))
    incidents.sort(key=lambda i: (i.start, i.end))
    method += [
        f"Requests were counted in {bin_s // 60 or 1}-minute bins at the edge tier "
        f"({', '.join(edge_hosts) or 'no access logs'}): the hosts whose requests do not carry "
        "X-Forwarded-For, i.e. the ones users talk to.",
        "A request failed when the user got an error or nothing: status 5xx, 000 or 444.",
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
        "Users are client addresses at the edge tier; a user is affected when at least one of "
        "their requests in the window failed. Monitoring probes (known health-check user "
        f"agents, or clients that only request health paths: {analysis_probe_note}) are not "
        "users. Failures of a status that did not surge in the window (the usual trickle of "
        "500s) are counted apart as background.",
        "Requests a silent edge host did not serve are estimated from its mean rate outside "
        "the window (an estimate, reported apart from the counted failures).",
        "Time to detect is the first related alert (firing inside the window or up to 15 "
        "minutes before it; always-on alerts such as Watchdog excluded) minus the start.",
    ]
    for inc in incidents:
        measure_impact(inc, req, ts, failed, is_edge, host_arr, probe, per_host, t0, bin_s)
        narrate(inc, dataset, bins, per_host, t0, bin_s)
    return Analysis(dataset, bin_s, bins, incidents, edge_hosts, n_probes, method)


def _refine(
    w: Window,
    req: pd.DataFrame,
    ts: np.ndarray,
    b: np.ndarray,
    failed: np.ndarray,
    is_edge: np.ndarray,
    host_arr: np.ndarray,
    edge_hosts: list[str],
    t0: float,
    bin_s: int,
) -> Incident:
    """Edges to the second: the first and last failing request at the edge.

    A silent host's last request before and first after its silence define the edges only
    when nothing failed at the edge (a lone Nginx that stopped): a backend that serves a few
    requests a minute goes quiet some time before the failures begin, so its silence is
    less precise than the failures it causes at the load balancer.
    """
    lo_bin, hi_bin = w.first_bin - 1, w.last_bin + 1
    starts: list[float] = []
    ends: list[float] = []
    sel = failed & is_edge & (b >= lo_bin) & (b <= hi_bin)
    if sel.any():
        starts.append(float(ts[sel].min()))
        ends.append(float(ts[sel].max()))
    for host, (hb0, hb1) in w.vanished.items():
        if starts and host not in edge_hosts:
            continue
        mine = host_arr == host
        before = ts[mine & (b < hb0)]
        after = ts[mine & (b > hb1)]
        # The silence starts just after the host's last request before it.
        starts.append(float(before.max()) if before.size else t0 + hb0 * bin_s)
        ends.append(float(after.min()) if after.size else t0 + (hb1 + 1) * bin_s)
    start = min(starts) if starts else t0 + w.first_bin * bin_s
    end = max(ends) if ends else t0 + (w.last_bin + 1) * bin_s
    inc = Incident(start=start, end=end, signals=sorted(w.signals))
    inc.affected_hosts = sorted(w.vanished)
    return inc
