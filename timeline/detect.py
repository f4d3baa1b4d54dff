"""Find incident windows in binned traffic.

Two signals, each against a robust baseline of the *quiet* bins (median and the median
absolute deviation, MAD; Hampel's identifier, see docs/method.md):

* the failure ratio at the edge tier (the hosts users talk to): a bin is anomalous when its
  ratio is far above the baseline ratio *and* the excess is statistically clear for the
  bin's request count (a binomial z-score), so one 500 in a quiet minute is not an incident;
* traffic that vanishes on a host while the other hosts keep serving (an Nginx that stopped
  listening writes no access lines at all, so there is no error to count).

Anomalous bins merge across short gaps; windows shorter than ``MIN_BINS`` are blips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Merge anomalous bins separated by at most this many normal bins.
MERGE_GAP_BINS = 2
#: A window must span at least this many bins to be an incident.
MIN_BINS = 2
#: How many MADs above the median a failure ratio must be (with the 1.4826 normal factor).
MAD_K = 5.0
#: A failure ratio must also exceed the baseline by at least this much (absolute).
MIN_RATIO_EXCESS = 0.02
#: ...and a bin needs at least this many failures.
MIN_FAILURES = 3
#: Binomial z-score the failures of a bin must reach over the baseline rate.
MIN_Z = 4.0
#: A host has vanished in a bin when it served at most this share of its usual traffic.
VANISH_SHARE = 0.2
#: A host needs this many requests per bin (median) for its silence to mean something.
VANISH_MIN_BASELINE = 3.0


@dataclass
class Window:
    """A run of anomalous bins, before its edges are refined to the second."""

    first_bin: int
    last_bin: int
    signals: set[str] = field(default_factory=set)
    #: host -> (first bin, last bin) of its silence inside this window
    vanished: dict[str, tuple[int, int]] = field(default_factory=dict)


def choose_bin(span_s: float) -> int:
    """Bin width in seconds for a span: 1 minute unless that gives more than ~3000 bins."""
    for width in (60, 300, 900, 3600):
        if span_s / width <= 3000:
            return width
    return 86400


def robust_baseline(values: np.ndarray, quiet: np.ndarray) -> tuple[float, float]:
    """Median and scaled MAD (x1.4826, the normal-consistent factor) of the quiet values."""
    v = values[quiet]
    v = v[~np.isnan(v)]
    if v.size == 0:
        return 0.0, 0.0
    med = float(np.median(v))
    return med, 1.4826 * float(np.median(np.abs(v - med)))


def failure_anomalies(total: np.ndarray, failed: np.ndarray, quiet: np.ndarray) -> np.ndarray:
    """Bins whose failure ratio is anomalous against the quiet bins' baseline."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total > 0, failed / np.maximum(total, 1), np.nan)
    med, mad = robust_baseline(ratio, quiet & (total > 0))
    p0 = min(max(med, 0.0), 0.999)
    threshold = p0 + max(MAD_K * mad, MIN_RATIO_EXCESS)
    z = (failed - total * p0) / np.sqrt(total * p0 * (1 - p0) + 1.0)
    return (total > 0) & (failed >= MIN_FAILURES) & (np.nan_to_num(ratio) > threshold) & (z >= MIN_Z)


def vanish_anomalies(per_host: pd.DataFrame, quiet: np.ndarray) -> dict[str, np.ndarray]:
    """For each host, bins where it served (almost) nothing while it normally serves.

    With several hosts, the others must keep serving at least half their usual traffic in
    that bin (otherwise the whole site is quiet: night, or a capture gap). Bins before a
    host's first and after its last request are never "vanished": the logs just end.
    """
    out: dict[str, np.ndarray] = {}
    counts = per_host.to_numpy(dtype=float)
    total = counts.sum(axis=1)
    for j, host in enumerate(per_host.columns):
        c = counts[:, j]
        base, _ = robust_baseline(c, quiet)
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
        if low.any():
            out[str(host)] = low
    return out


def merge_bins(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True bins, merged across gaps of up to MERGE_GAP_BINS, at least MIN_BINS long."""
    idx = np.flatnonzero(mask)
    runs: list[tuple[int, int]] = []
    for i in idx:
        if runs and i - runs[-1][1] <= MERGE_GAP_BINS + 1:
            runs[-1] = (runs[-1][0], int(i))
        else:
            runs.append((int(i), int(i)))
    return [(a, b) for a, b in runs if b - a + 1 >= MIN_BINS]


def detect(
    edge_total: np.ndarray, edge_failed: np.ndarray, per_host: pd.DataFrame
) -> list[Window]:
    """Incident windows from the edge failure counts and the per-host request counts.

    The baseline is computed twice: first over all bins, then over the bins the first pass
    found quiet, so a long incident does not drag its own baseline up.
    """
    n = len(edge_total)
    quiet = np.ones(n, dtype=bool)
    fail = np.zeros(n, dtype=bool)
    vanished: dict[str, np.ndarray] = {}
    for _ in range(2):
        fail = failure_anomalies(edge_total, edge_failed, quiet)
        vanished = vanish_anomalies(per_host, quiet)
        anomalous = fail.copy()
        for low in vanished.values():
            anomalous |= low
        if anomalous.all():
            break
        quiet = ~anomalous
    mask = fail.copy()
    for low in vanished.values():
        mask |= low
    windows = []
    for a, b in merge_bins(mask):
        w = Window(a, b)
        if fail[a : b + 1].any():
            w.signals.add("failure_ratio")
        for host, low in vanished.items():
            hit = np.flatnonzero(low[a : b + 1])
            if hit.size:
                w.vanished[host] = (a + int(hit[0]), a + int(hit[-1]))
                w.signals.add("traffic_vanished")
        windows.append(w)
    return windows


def z_of(failed: float, total: float, p0: float) -> float:
    """Binomial z-score of ``failed`` out of ``total`` against rate ``p0`` (for reports)."""
    return (failed - total * p0) / math.sqrt(total * p0 * (1 - p0) + 1.0)
