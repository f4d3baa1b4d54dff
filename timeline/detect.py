"""Find incident windows in binned traffic.

Five signals, each against a robust baseline of the *quiet* bins (median and the median
absolute deviation, MAD; Hampel's identifier, see docs/method.md):

* the failure ratio at the edge tier (the hosts users talk to): a bin is anomalous when its
  ratio is far above the baseline ratio *and* the excess is statistically clear for the
  bin's request count (a binomial z-score), so one 500 in a quiet minute is not an incident;
* the 4xx ratio at the edge (a broken config falls to a default server answering 404);
* traffic that vanishes on a host while the other hosts keep serving (an Nginx that stopped
  listening writes no access lines at all, so there is no error to count);
* bursts of serious error-log lines (connections dropped before any access line);
* p95 latency far past the usual, when the logs carry a request time.

Anomalous bins merge across short gaps; windows shorter than ``MIN_BINS`` are blips, and a
window found by latency alone must last ``LATENCY_ALONE_MIN_S``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from timeline.aggregate import LATENCY_EDGES
from timeline.bins import Bins

#: Merge anomalous bins separated by at most this many normal bins.
MERGE_GAP_BINS = 2
#: A window must span at least this many bins to be an incident.
MIN_BINS = 2
#: How many MADs above the median a failure ratio must be (with the 1.4826 normal factor).
MAD_K = 5.0
#: A failure ratio must also exceed the baseline by at least this much (absolute).
MIN_RATIO_EXCESS = 0.02
#: Serious error-log lines a bin needs to be a burst.
MIN_BURST = 5
#: The highest failure ratio accepted as a baseline.
BASELINE_CAP = 0.05
#: The minimum excess for the 4xx ratio (a default server answering 404 instead of a site).
CLIENT_ERROR_EXCESS = 0.05
#: ...and a bin needs at least this many failures.
MIN_FAILURES = 3
#: Failures are also tested over this many bins summed (centred), for low-traffic sites.
ROLL_BINS = 5
#: Binomial z-score the failures of a bin must reach over the baseline rate.
MIN_Z = 4.0
#: A host has vanished in a bin when it served at most this share of its usual traffic.
VANISH_SHARE = 0.2
#: A host needs this many requests per bin (mean) for its silence to mean something.
VANISH_MIN_BASELINE = 0.5
#: A silence must be this improbable under the host's usual (Poisson) rate.
VANISH_P = 1e-6


#: A bin's p95 latency is anomalous above this many times the quiet bins' median p95...
LATENCY_FACTOR = 3.0
#: ...and at least this many seconds above it (a 10 ms API at 40 ms is not an outage).
LATENCY_MIN_EXCESS_S = 0.5
#: Timed requests a bin needs for its p95 to mean something.
LATENCY_MIN_N = 10
#: A window found by latency alone (nothing failed, vanished or burst) must span this long:
#: brief slowness of a few requests (a pause, a noisy neighbour) is routine, not an outage.
LATENCY_ALONE_MIN_S = 300


@dataclass
class Window:
    """A run of anomalous bins, before its edges are refined to the second."""

    first_bin: int
    last_bin: int
    signals: set[str] = field(default_factory=set)
    #: host -> (first bin, last bin) of its silence inside this window
    vanished: dict[str, tuple[int, int]] = field(default_factory=dict)


def robust_baseline(values: np.ndarray, quiet: np.ndarray) -> tuple[float, float]:
    """Median and scaled MAD (x1.4826, the normal-consistent factor) of the quiet values."""
    v = values[quiet]
    v = v[~np.isnan(v)]
    if v.size == 0:
        return 0.0, 0.0
    med = float(np.median(v))
    return med, 1.4826 * float(np.median(np.abs(v - med)))


def _excess(total: np.ndarray, failed: np.ndarray, p0: float, threshold: float) -> np.ndarray:
    """Counts whose failures are clearly above rate ``p0``: ratio, count and z-score tests."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total > 0, failed / np.maximum(total, 1), 0.0)
    z = (failed - total * p0) / np.sqrt(total * p0 * (1 - p0) + 1.0)
    out: np.ndarray = (total > 0) & (failed >= MIN_FAILURES) & (ratio > threshold) & (z >= MIN_Z)
    return out


def failure_anomalies(total: np.ndarray, failed: np.ndarray, quiet: np.ndarray,
                      min_excess: float = MIN_RATIO_EXCESS) -> np.ndarray:
    """Bins whose failure ratio is anomalous against the quiet bins' baseline.

    Each bin is tested alone and as the centre of ``ROLL_BINS`` bins summed, so that a
    low-traffic site (a few requests a minute) still shows a steady 15% failure rate. Runs
    found through the sums are trimmed at both ends to bins whose own ratio is high, so the
    window does not grow into the quiet minutes around it.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total > 0, failed / np.maximum(total, 1), np.nan)
    med, mad = robust_baseline(ratio, quiet & (total > 0))
    # An input that is mostly incident (logs cut to the outage, --since) would make the
    # failures their own baseline: a service that fails more than BASELINE_CAP of its
    # requests is never "normal", so the baseline is capped there.
    p0 = min(max(med, 0.0), BASELINE_CAP)
    mad = mad if med <= BASELINE_CAP else 0.0
    threshold = p0 + max(MAD_K * mad, min_excess)
    single = _excess(total, failed, p0, threshold)
    # No longer than the input: np.convolve(..., "same") returns the longer operand's size.
    kernel = np.ones(max(1, min(ROLL_BINS, len(total))))
    rolled = _excess(np.convolve(total, kernel, "same"), np.convolve(failed, kernel, "same"),
                     p0, threshold)
    high = np.nan_to_num(ratio) > threshold
    mask: np.ndarray = single | rolled
    for a, b in _runs(mask):
        while a <= b and not high[a]:
            mask[a] = False
            a += 1
        while b >= a and not high[b]:
            mask[b] = False
            b -= 1
    return mask


def burst_anomalies(counts: np.ndarray, quiet: np.ndarray) -> np.ndarray:
    """Bins with a burst of serious error-log lines (capacity, upstream, rate limiting...):
    at least ``MIN_BURST`` and far above the quiet bins' median. Some failures never reach
    the access log (connections dropped when worker_connections run out), only this."""
    med, mad = robust_baseline(counts.astype(float), quiet)
    out: np.ndarray = counts >= max(MIN_BURST, med + MAD_K * max(mad, 1.0))
    return out


def poisson_logcdf(k: int, mu: float) -> float:
    """log P(X <= k) for X ~ Poisson(mu), summed in log space (k is small here)."""
    if mu <= 0:
        return 0.0
    terms = [-mu + i * math.log(mu) - math.lgamma(i + 1) for i in range(k + 1)]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of consecutive True bins as (first, last)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]]))
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def vanish_anomalies(per_host: pd.DataFrame, quiet: np.ndarray) -> dict[str, np.ndarray]:
    """For each host, bins where it served (almost) nothing while it normally serves.

    A run of low bins counts only when so few requests in that many bins is implausible for
    the host's usual rate (Poisson tail below ``VANISH_P``): a host that serves 7 requests a
    minute is silent for one minute by chance every half day, but not for two.
    With several hosts, the others must keep serving at least half their usual traffic in
    that bin (otherwise the whole site is quiet: night, or a capture gap). Bins before a
    host's first and after its last request are never "vanished": the logs just end.
    """
    out: dict[str, np.ndarray] = {}
    counts = per_host.to_numpy(dtype=float)
    total = counts.sum(axis=1)
    log_p = math.log(VANISH_P)
    for j, host in enumerate(per_host.columns):
        c = counts[:, j]
        # The mean rate, not the median: a host with a few requests a minute has a median
        # of zero. Real traffic is burstier than Poisson (sessions, retries), so the test is
        # widened by the observed dispersion (variance / mean), never narrowed.
        qc = c[quiet]
        base = float(qc.mean()) if qc.size else 0.0
        phi = max(1.0, float(qc.var()) / base) if base > 0 else 1.0
        if base < VANISH_MIN_BASELINE:
            continue
        nz = np.flatnonzero(c)
        if nz.size == 0:
            continue
        inside = np.zeros(len(c), dtype=bool)
        inside[nz[0] : nz[-1] + 1] = True
        low = inside & (c <= VANISH_SHARE * base)
        if counts.shape[1] > 1:
            others = total - c
            obase, _ = robust_baseline(others, quiet)
            low &= others >= 0.5 * obase
        keep = np.zeros(len(c), dtype=bool)
        for a, b in _runs(low):
            seen = int(c[a : b + 1].sum())
            if poisson_logcdf(int(seen / phi), base * (b - a + 1) / phi) < log_p:
                keep[a : b + 1] = True
        if keep.any():
            out[str(host)] = keep
    return out


def latency_quantile(hist: np.ndarray, q: float) -> np.ndarray:
    """Per bin, the upper edge of the latency bucket holding quantile ``q`` (NaN for a bin
    with no timed request). ``hist`` is bins x buckets of :data:`LATENCY_EDGES` counts."""
    upper = np.append(LATENCY_EDGES[1:], LATENCY_EDGES[-1] * 1.25)
    cum = np.cumsum(hist, axis=1)
    total = cum[:, -1] if hist.shape[1] else np.zeros(len(hist))
    idx = np.argmax(cum >= np.ceil(q * total)[:, None], axis=1) if hist.shape[1] else total
    out: np.ndarray = np.where(total > 0, upper[np.minimum(idx, len(upper) - 1)], np.nan)
    return out


def slow_bar(usual_p95: float) -> float:
    """The latency signal's bar over a usual p95: ``LATENCY_FACTOR`` times it and at least
    ``LATENCY_MIN_EXCESS_S`` above it (the impact counts slowed users against it too)."""
    return max(LATENCY_FACTOR * usual_p95, usual_p95 + LATENCY_MIN_EXCESS_S)


def latency_anomalies(hist: np.ndarray, quiet: np.ndarray) -> np.ndarray:
    """Bins whose p95 latency is far past the quiet bins' usual p95: at least
    ``LATENCY_FACTOR`` times it, ``MAD_K`` scaled MADs and ``LATENCY_MIN_EXCESS_S`` above
    it, with ``LATENCY_MIN_N`` timed requests in the bin."""
    n = hist.sum(axis=1)
    p95 = latency_quantile(hist, 0.95)
    enough = n >= LATENCY_MIN_N
    med, mad = robust_baseline(p95, quiet & enough)
    if not np.isfinite(med) or not (quiet & enough).any():
        return np.zeros(len(hist), dtype=bool)
    threshold = max(slow_bar(med), med + MAD_K * mad)
    out: np.ndarray = enough & (np.nan_to_num(p95) > threshold)
    return out


def merge_bins(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True bins merged across gaps of up to MERGE_GAP_BINS; at least MIN_BINS True."""
    idx = np.flatnonzero(mask)
    runs: list[tuple[int, int]] = []
    for i in idx:
        if runs and i - runs[-1][1] <= MERGE_GAP_BINS + 1:
            runs[-1] = (runs[-1][0], int(i))
        else:
            runs.append((int(i), int(i)))
    return [(a, b) for a, b in runs if int(mask[a : b + 1].sum()) >= MIN_BINS]


def detect(
    bins: Bins,
    edge_hosts: list[str] | None = None,
    error_bursts: np.ndarray | None = None,
    latency: np.ndarray | None = None,
) -> list[Window]:
    """Incident windows from the edge's failures, client errors and per-host requests.

    A backend (non-edge host) falling silent is corroboration only: if the edge kept
    answering without failures, users were not hurt (the proxy sent them elsewhere), so a
    window made of a backend's silence alone is not an incident.

    The baseline is computed twice: first over all bins, then over the bins the first pass
    found quiet, so a long incident does not drag its own baseline up.

    ``latency`` (bins x latency buckets at the edge, when the logs carry a latency) adds
    windows where responses got far slower than usual even if they did not fail, when that
    lasted ``LATENCY_ALONE_MIN_S`` at least.
    """
    edge_total, edge_failed, per_host = bins.edge_total, bins.edge_failed, bins.per_host
    edge_client_errors = bins.edge_4xx
    n = len(edge_total)
    quiet = np.ones(n, dtype=bool)
    fail = np.zeros(n, dtype=bool)
    client = np.zeros(n, dtype=bool)
    vanished: dict[str, np.ndarray] = {}
    for _ in range(2):
        fail = failure_anomalies(edge_total, edge_failed, quiet)
        # A broken config sends requests to a default server: 404/403 everywhere. 4xx have
        # a busier background (bots, stale links), hence the larger minimum excess.
        client = failure_anomalies(edge_total, edge_client_errors, quiet, CLIENT_ERROR_EXCESS)
        vanished = vanish_anomalies(per_host, quiet)
        burst = burst_anomalies(error_bursts, quiet) if error_bursts is not None else client & False
        slow = latency_anomalies(latency, quiet) if latency is not None else client & False
        anomalous = fail | client | burst | slow
        for low in vanished.values():
            anomalous |= low
        if anomalous.all():
            break
        quiet = ~anomalous
    burst = burst_anomalies(error_bursts, quiet) if error_bursts is not None else client & False
    slow = latency_anomalies(latency, quiet) if latency is not None else client & False
    mask = fail | client | burst | slow
    for low in vanished.values():
        mask |= low
    windows = []
    edge = set(per_host.columns if edge_hosts is None else edge_hosts)
    alone_bins = max(MIN_BINS, math.ceil(LATENCY_ALONE_MIN_S / max(bins.width, 1)))
    for a, b in merge_bins(mask):
        if not (fail[a : b + 1].any() or client[a : b + 1].any() or burst[a : b + 1].any()
                or slow[a : b + 1].any()) and not any(
            h in edge and low[a : b + 1].any() for h, low in vanished.items()
        ):
            continue
        w = Window(a, b)
        if fail[a : b + 1].any():
            w.signals.add("failure_ratio")
        if client[a : b + 1].any():
            w.signals.add("client_errors")
        if burst[a : b + 1].any():
            w.signals.add("error_burst")
        if slow[a : b + 1].any():
            w.signals.add("latency")
        for host, low in vanished.items():
            hit = np.flatnonzero(low[a : b + 1])
            if hit.size:
                w.vanished[host] = (a + int(hit[0]), a + int(hit[-1]))
                w.signals.add("traffic_vanished")
        if w.signals == {"latency"} and b - a + 1 < alone_bins:
            continue
        windows.append(w)
    return windows
