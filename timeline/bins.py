"""Traffic counted in time bins: the one place that knows how a time maps to a bin.

Everything the correlator compares over time (detection, the impact's lost traffic, the
"ruled out" volume check, the chart) reads the per-bin counts from a :class:`Bins`, built
once from the first pass's aggregates by :func:`bin_traffic`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from timeline.aggregate import Aggregate, is_client_error, is_failed

#: A silence longer than this splits the traffic into stretches (see :func:`dense_span`).
STRETCH_GAP_S = 86400
#: A stretch holding less than this share of the requests is a time outlier when it lies
#: farther from the rest than the rest is long (a line dated a year later, 1970, 2099).
OUTLIER_SHARE = 0.01
#: The finest bin: a long input is also scanned at this width, segment by segment.
FINE_S = 60
#: Fine bins per segment of that scan (a week), and how much segments overlap (a day):
#: a window up to half the overlap long is seen whole by the segment that owns its start.
SEGMENT_BINS = 7 * 1440
OVERLAP_BINS = 1440


@dataclass(frozen=True)
class TimeOutliers:
    """Requests dated far from where the traffic is: left out of binning and detection."""

    #: Requests (lines) left out.
    requests: int
    #: The first of them: (time, source index, line), at most :data:`MAX_OUTLIER_EXAMPLES`.
    examples: tuple[tuple[float, int, int], ...]


MAX_OUTLIER_EXAMPLES = 5


def dense_span(agg: Aggregate) -> tuple[tuple[float, float] | None, TimeOutliers]:
    """The span the traffic is in, and the requests dated far outside it.

    The minutes with requests are cut into stretches at silences longer than
    :data:`STRETCH_GAP_S`; the stretch with the most requests is the core. A neighbouring
    stretch joins it when it holds at least :data:`OUTLIER_SHARE` of the requests or lies no
    farther from the core than the core is long; the rest are time outliers. So one line
    dated a year later does not stretch a three-hour log to a year (and its bins to a day),
    while a log with a quiet weekend in it stays whole.
    """
    c = agg.counts
    if c.empty:
        return agg.span(), TimeOutliers(0, ())
    per = c.groupby("minute", sort=True)["n"].sum()
    minute = per.index.to_numpy(dtype=np.int64)
    n = per.to_numpy(dtype=np.int64)
    cuts = np.flatnonzero(np.diff(minute) * 60 > STRETCH_GAP_S) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(minute)]]) - 1
    weight = np.add.reduceat(n, starts)
    total = int(n.sum())
    lo = hi = int(np.argmax(weight))

    def joins(k: int) -> bool:
        length = (minute[ends[hi]] - minute[starts[lo]] + 1) * 60
        gap = (minute[starts[lo]] - minute[ends[k]] if k < lo
               else minute[starts[k]] - minute[ends[hi]]) * 60
        return bool(weight[k] >= OUTLIER_SHARE * total or gap <= length)

    grown = True
    while grown:
        grown = False
        if lo > 0 and joins(lo - 1):
            lo, grown = lo - 1, True
        if hi < len(starts) - 1 and joins(hi + 1):
            hi, grown = hi + 1, True
    m_lo, m_hi = int(minute[starts[lo]]), int(minute[ends[hi]])
    m = agg.minutes
    mm = m["minute"].to_numpy(dtype=np.int64)
    inside = (mm >= m_lo) & (mm <= m_hi)
    span = (float(m["ts_min"].to_numpy(dtype=float)[inside].min()),
            float(m["ts_max"].to_numpy(dtype=float)[inside].max()))
    if inside.all():
        return span, TimeOutliers(0, ())
    out = m[~inside].sort_values(["ts_min", "source", "line_min"], kind="stable")
    examples = tuple((float(t), int(s), int(line)) for t, s, line in zip(
        out["ts_min"].tolist()[:MAX_OUTLIER_EXAMPLES],
        out["source"].tolist()[:MAX_OUTLIER_EXAMPLES],
        out["line_min"].tolist()[:MAX_OUTLIER_EXAMPLES], strict=True))
    outside_n = int(n[(minute < m_lo) | (minute > m_hi)].sum())
    return span, TimeOutliers(outside_n, examples)


def segments(span: tuple[float, float]) -> list[tuple[float, float, float, float]]:
    """The fine scan's segments over ``span``: (start, end, owned start, owned end).

    Segments of :data:`SEGMENT_BINS` fine bins overlap by :data:`OVERLAP_BINS`; each owns
    the windows that start in its middle part, so a window near a border is taken from the
    segment that sees it whole, and once.
    """
    seg, over = SEGMENT_BINS * FINE_S, OVERLAP_BINS * FINE_S
    t0 = math.floor(span[0] / FINE_S) * FINE_S
    out: list[tuple[float, float, float, float]] = []
    lo = float(t0)
    while True:
        hi = lo + seg
        last = hi >= span[1]
        own_lo = -math.inf if not out else lo + over / 2
        own_hi = math.inf if last else hi - over / 2
        out.append((lo, min(hi, span[1]), own_lo, own_hi))
        if last:
            return out
        lo = hi - over


def choose_bin(span_s: float) -> int:
    """Bin width in seconds for a span: 1 minute unless that gives more than ~3000 bins."""
    for width in (60, 300, 900, 3600):
        if span_s / width <= 3000:
            return width
    return 86400


@dataclass(frozen=True)
class Bins:
    """Requests per bin of ``width`` seconds from ``t0``, at the edge and per host."""

    t0: float
    width: int
    count: int
    #: Users' requests at the edge tier (probes left out): all, failed (5xx, 000, 444), 4xx.
    edge_total: np.ndarray
    edge_failed: np.ndarray
    edge_4xx: np.ndarray
    #: Bins x hosts: every host's requests (probes left out).
    per_host: pd.DataFrame
    #: The chart's table: index = bin start (epoch s); columns 2xx, 4xx, 5xx, no response,
    #: failed, total (the edge's users' requests).
    table: pd.DataFrame
    #: Failures (and client errors) per status at the edge over the whole input, for the
    #: test of which statuses surged in a window.
    fail_by_status: dict[int, int]
    #: The hosts users talk to (the edge tier) the counts were taken at.
    edge_hosts: tuple[str, ...] = ()

    def index_of(self, ts: float) -> int:
        """The bin holding time ``ts`` (may be outside ``0..count-1``)."""
        return int((ts - self.t0) // self.width)

    def indices(self, ts: np.ndarray) -> np.ndarray:
        """:meth:`index_of` of every time in ``ts``."""
        out: np.ndarray = ((ts - self.t0) // self.width).astype(np.int64)
        return out

    def start_of(self, index: int) -> float:
        """The start time of bin ``index``."""
        return self.t0 + index * self.width

    def window(self, start: float, end: float) -> tuple[int, int]:
        """The first and last bin of ``[start, end]``."""
        return self.index_of(start), self.index_of(end)

    def outside(self, start: float, end: float) -> np.ndarray:
        """A mask of the bins that hold no part of ``[start, end]``: the baseline."""
        b0, b1 = self.window(start, end)
        out = np.ones(self.count, dtype=bool)
        out[max(b0, 0) : max(b1 + 1, 0)] = False
        return out


def bin_traffic(agg: Aggregate, edge_hosts: list[str], span: tuple[float, float],
                width: int | None = None) -> Bins:
    """Count the first pass's requests into bins over ``span`` (first, last time); requests
    outside it are left out.

    The width is ``width``, else 1 minute unless that gives more than ~3000 bins
    (:func:`choose_bin`).
    """
    width = width or choose_bin(span[1] - span[0])
    t0 = math.floor(span[0] / width) * width
    count = int((span[1] - t0) // width) + 1
    c = agg.between(t0, t0 + count * width)
    cb = ((c["minute"].to_numpy(dtype=np.int64) * 60 - t0) // width).astype(np.int64)
    keep = (cb >= 0) & (cb < count)
    if not keep.all():
        c, cb = c[keep], cb[keep]
    n = c["n"].to_numpy(dtype=np.int64)
    status = c["status"].to_numpy(dtype=np.int64)
    probe = c["probe"].to_numpy(dtype=bool)
    hosts = c["host"].astype(str).to_numpy()
    failed = is_failed(status)
    is_edge = np.isin(hosts, edge_hosts) & ~probe

    def per_bin(mask: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.bincount(cb[mask], weights=n[mask], minlength=count
                                      ).astype(np.int64)
        return out

    per_host = pd.crosstab(cb[~probe], hosts[~probe], values=n[~probe], aggfunc="sum"
                           ).reindex(range(count)).fillna(0).astype(np.int64)
    per_host.columns = [str(h) for h in per_host.columns]
    # 1xx-3xx are all "answered" for the chart.
    table = pd.DataFrame({name: per_bin(is_edge & sel) for name, sel in (
        ("2xx", (status >= 100) & (status < 400)),
        ("4xx", (status >= 400) & (status < 500) & (status != 444)),
        ("5xx", status >= 500),
        ("no response", (status == 0) | (status == 444)))},
        index=t0 + np.arange(count) * width)
    edge_failed = per_bin(is_edge & failed)
    edge_total = per_bin(is_edge)
    table["failed"] = edge_failed
    table["total"] = edge_total
    # A 4xx that surged in a window is a failure there, so client errors are counted too.
    fsel = is_edge & (failed | is_client_error(status))
    codes, inverse = np.unique(status[fsel], return_inverse=True)
    sums = np.bincount(inverse, weights=n[fsel], minlength=len(codes))
    fail_by_status = {int(k): int(v) for k, v in zip(codes.tolist(), sums.tolist(), strict=True)}
    return Bins(t0, width, count, edge_total, edge_failed, per_bin(is_edge & is_client_error(
        status)), per_host, table, fail_by_status, tuple(edge_hosts))
