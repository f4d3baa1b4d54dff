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


def bin_traffic(agg: Aggregate, edge_hosts: list[str], span: tuple[float, float]) -> Bins:
    """Count the first pass's requests into bins over ``span`` (first, last time).

    The width is 1 minute unless that gives more than ~3000 bins
    (:func:`choose_bin`).
    """
    width = choose_bin(span[1] - span[0])
    t0 = math.floor(span[0] / width) * width
    count = int((span[1] - t0) // width) + 1
    c = agg.counts
    cb = ((c["minute"].to_numpy(dtype=np.int64) * 60 - t0) // width).astype(np.int64)
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
