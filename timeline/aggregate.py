"""Mergeable aggregates of the requests table.

The first pass over the access logs keeps no rows: each file (or byte range of a large
file) reduces its requests to a :class:`Partial` — counts per (minute, status, probe,
forwarded) and, per minute, the first and last timestamp and line of any request and of a
failing one. Partials merge by sums, minima and maxima, so the same map (parse and
aggregate) and reduce (merge) run in one process, in a process pool or on a Dask cluster
and give identical results. Memory grows with minutes x statuses, not with lines.

The rows the correlator really needs (who the users in the window were, which routes
failed) are read in a second pass over only the lines of the candidate windows, located
through the per-minute line ranges kept here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from parsers.base import CompactChunk
from timeline.clients import client_address

#: User agents of monitoring probes: they are not users (docs/method.md: requests from
#: health-check user agents are left out of the impact).
PROBE_UA = re.compile(
    r"(?i)blackbox.exporter|kube-probe|elb-healthchecker|googlehc|google-health|pingdom|"
    r"uptimerobot|statuscake|site24x7|nagios|check_http|zabbix|consul health|"
    r"newrelicpinger|datadog.agent|prometheus/|healthcheck|health-check|monitoring-plugins"
)

# Composite key: minute * _MUL + status * 4 + probe * 2 + forwarded.
_MUL = 4000

#: Lower edges of the latency buckets (seconds): 0, then 1 ms x 1.25**k up to ~10 min. A
#: quantile read from them is within 25% of the exact one, which is plenty to see a latency
#: that doubled; the counts stay mergeable like the others (a t-digest would not be exact
#: under merging in a different order, and results must not depend on --jobs).
LATENCY_EDGES = np.concatenate([[0.0], 0.001 * 1.25 ** np.arange(61)])
_LMUL = 128
#: Distinct user agents (and excluded-address tests) a partial remembers.
_CACHE_MAX = 50_000

# Per-minute extremes: (min ts, max ts, min line, max line, fail min ts, fail max ts,
# client-error min ts, client-error max ts).
_INF = float("inf")


def is_client_error(status: np.ndarray) -> np.ndarray:
    """4xx answers that are not failures already (444), 499 (the client gave up waiting)
    included. They count as failures only where they surge: a trickle of 404s and of users
    who navigate away is the background; a default server answering 404 for a lost site,
    or users giving up on a stalled backend, is an incident."""
    out: np.ndarray = (status >= 400) & (status < 500) & (status != 444)
    return out


def is_failed(status: np.ndarray) -> np.ndarray:
    """Requests where the user got an error or nothing: 5xx, 000, 444."""
    out: np.ndarray = (status >= 500) | (status == 0) | (status == 444)
    return out


def _cached_flags(values: list[Any], cache: dict[Any, bool], test: Any
                  ) -> tuple[np.ndarray, dict[Any, bool]]:
    """``test(v)`` for every value as a bool array, run once per distinct value through
    ``cache``. Agents and addresses are few in practice, but a log full of random ones must
    not grow the cache without end: past ``_CACHE_MAX`` only this chunk's are kept."""
    for v in dict.fromkeys(values).keys() - cache.keys():
        cache[v] = test(v)
    if len(cache) > _CACHE_MAX:
        cache = {v: cache[v] for v in dict.fromkeys(values)}
    flags = np.fromiter(map(cache.__getitem__, values), dtype=bool, count=len(values))
    return flags, cache


def _sum_keys(keys: np.ndarray, ns: np.ndarray,
              pending: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """``keys``/``ns`` with the ``pending`` (keys, counts) pairs summed in: sorted, distinct."""
    allk = np.concatenate([keys, *(k for k, _ in pending)])
    alln = np.concatenate([ns, *(n for _, n in pending)])
    out, inverse = np.unique(allk, return_inverse=True)
    return out, np.bincount(inverse.reshape(-1), weights=alln,
                            minlength=len(out)).astype(np.int64)


@dataclass
class Partial:
    """The aggregate of one file or byte range (line numbers relative to its start)."""

    #: composite keys (sorted, distinct) and their request counts, as numpy arrays: 16
    #: bytes per (minute, status, flags) instead of a dict entry's ~100
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: minute -> [min ts, max ts, min line, max line, fail min/max ts, 4xx min/max ts]
    minutes: dict[int, list[float]] = field(default_factory=dict)
    _pending: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)
    #: latency counts (requests that logged $request_time or $upstream_response_time, probes
    #: excluded): keys minute * 128 + bucket of :data:`LATENCY_EDGES`
    lat_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lat_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _lat_pending: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)
    #: user-agent bytes -> is a probe (a cache, kept per partial)
    _probe_ua: dict[bytes, bool] = field(default_factory=dict, repr=False)
    #: ``--exclude-client``: user agents (a regex) and networks whose requests count as
    #: probes (not users) here too; only used while parsing, never shipped
    exclude_ua: re.Pattern[str] | None = field(default=None, repr=False)
    exclude_nets: tuple[Any, ...] = field(default=(), repr=False)
    _excluded: dict[bytes, bool] = field(default_factory=dict, repr=False)

    def add_chunk(self, chunk: CompactChunk) -> None:
        """Fold a compact chunk (ts, status, user_agent, forwarded, line) into the counts."""
        n = len(chunk["ts"])
        if n == 0:
            return
        ts = np.asarray(chunk["ts"], dtype=np.float64)
        status = np.asarray(chunk["status"], dtype=np.int64)
        line = np.asarray(chunk["line"], dtype=np.int64)
        # One dict lookup per row through map() (C); the regex runs once per distinct agent.
        probe, self._probe_ua = _cached_flags(chunk["user_agent"], self._probe_ua,
                                              self._is_probe_agent)
        if self.exclude_nets and "client" in chunk:
            excluded, self._excluded = _cached_flags(chunk["client"], self._excluded,
                                                     self._is_excluded_address)
            probe |= excluded
        fwd = np.asarray(chunk["forwarded"], dtype=bool)
        minute = np.floor(ts / 60).astype(np.int64)
        key = minute * _MUL + np.clip(status, 0, 999) * 4 + probe * 2 + fwd
        keys, cnt = np.unique(key, return_counts=True)
        self._add(keys, cnt.astype(np.int64))
        lat = chunk.get("request_time")
        if lat is None:
            lat = chunk.get("upstream_time")
        if lat is not None:
            lat = np.asarray(lat, dtype=np.float64)
            timed = np.isfinite(lat) & (lat >= 0) & ~probe
            if timed.any():
                bucket = np.searchsorted(LATENCY_EDGES, lat[timed], side="right") - 1
                lk, lc = np.unique(minute[timed] * _LMUL + bucket, return_counts=True)
                self._lat_pending.append((lk, lc.astype(np.int64)))
        failed = is_failed(status) & ~probe
        client_err = is_client_error(status) & ~probe
        # Per-minute extremes with numpy: sort by minute once, reduce each run. fmin/fmax
        # skip the NaN of rows that are not failures. Log lines are almost always in time
        # order already, and then the runs are found without sorting.
        fts = np.where(failed, ts, np.nan)
        cts = np.where(client_err, ts, np.nan)
        step = np.diff(minute)
        if (step >= 0).all():
            starts = np.concatenate(([0], np.flatnonzero(step) + 1))
            uniq, ts_o, line_o = minute[starts], ts, line
        else:
            order = np.argsort(minute, kind="stable")
            uniq, starts = np.unique(minute[order], return_index=True)
            ts_o, line_o, fts, cts = ts[order], line[order], fts[order], cts[order]
        cols = (np.minimum.reduceat(ts_o, starts), np.maximum.reduceat(ts_o, starts),
                np.minimum.reduceat(line_o, starts).astype(float),
                np.maximum.reduceat(line_o, starts).astype(float),
                np.fmin.reduceat(fts, starts), np.fmax.reduceat(fts, starts),
                np.fmin.reduceat(cts, starts), np.fmax.reduceat(cts, starts))
        table = np.column_stack(cols).tolist()
        for m, row in zip(uniq.tolist(), table, strict=True):
            self._fold(int(m), row)

    def _is_probe_agent(self, ua: bytes | str) -> bool:
        text = ua.decode("utf-8", "replace") if isinstance(ua, bytes) else str(ua)
        extra = self.exclude_ua
        return bool(PROBE_UA.search(text)) or bool(extra and extra.search(text))

    def _is_excluded_address(self, raw: bytes) -> bool:
        addr = client_address(raw.decode("ascii", "replace"))
        return addr is not None and any(
            addr.version == net.version and addr in net for net in self.exclude_nets)

    def _add(self, keys: np.ndarray, ns: np.ndarray) -> None:
        """Queue counts for ``keys``; they are summed into ``keys``/``ns`` in batches (a
        sort per chunk over everything seen so far would grow with the input)."""
        if len(keys) == 0:
            return
        self._pending.append((keys, ns))
        if len(self._pending) >= 64:
            self.consolidate()

    def drop_cache(self) -> None:
        """Forget the user-agent and client caches (only worth keeping while parsing)."""
        self._probe_ua = {}
        self._excluded = {}

    def consolidate(self) -> None:
        """Sum the queued counts into the sorted, distinct ``keys`` and their ``ns``."""
        if self._pending:
            self.keys, self.ns = _sum_keys(self.keys, self.ns, self._pending)
            self._pending = []
        if self._lat_pending:
            self.lat_keys, self.lat_ns = _sum_keys(self.lat_keys, self.lat_ns,
                                                   self._lat_pending)
            self._lat_pending = []

    def _fold(self, m: int, row: list[float]) -> None:
        # Columns alternate min/max; NaN (no such request in the minute) becomes +inf for a
        # minimum and -inf for a maximum so that folding needs no special case.
        row = [(_INF if i % 2 == 0 else -_INF) if v != v else v for i, v in enumerate(row)]
        cur = self.minutes.get(m)
        if cur is None:
            self.minutes[m] = row
            return
        for i in range(0, len(row), 2):
            cur[i] = min(cur[i], row[i])
            cur[i + 1] = max(cur[i + 1], row[i + 1])

    def merge(self, other: Partial, line_offset: int = 0) -> None:
        """Add ``other`` into this one; ``line_offset`` shifts its (relative) line numbers."""
        other.consolidate()
        self._add(other.keys, other.ns)
        if len(other.lat_keys):
            self._lat_pending.append((other.lat_keys, other.lat_ns))
        for m, row in other.minutes.items():
            shifted = list(row)
            shifted[2] += line_offset
            shifted[3] += line_offset
            self._fold(m, shifted)

    def __getstate__(self) -> dict[str, Any]:
        # The UA cache is a per-process convenience: do not ship it between processes.
        self.consolidate()
        return {"keys": self.keys, "ns": self.ns, "minutes": self.minutes,
                "lat_keys": self.lat_keys, "lat_ns": self.lat_ns}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.keys = state["keys"]
        self.ns = state["ns"]
        self.lat_keys = state["lat_keys"]
        self.lat_ns = state["lat_ns"]
        self._pending = []
        self._lat_pending = []
        self.exclude_ua = None
        self.exclude_nets = ()
        self._excluded = {}
        self.minutes = state["minutes"]
        self._probe_ua = {}


@dataclass
class Aggregate:
    """All sources' partials, as tables for the correlator.

    ``counts`` has columns minute, host, source, status, probe, forwarded, n.
    ``minutes`` has columns source, host, minute, ts_min, ts_max, line_min, line_max,
    f_min, f_max (failing non-probe requests; inf/-inf when none), c_min, c_max (the same
    for client errors).
    """

    counts: pd.DataFrame
    minutes: pd.DataFrame
    #: minute, host, source, bucket (of :data:`LATENCY_EDGES`), n: requests by latency, for
    #: the access logs that log one; empty otherwise
    latency: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {c: pd.Series(dtype=np.int64 if c != "host" else object)
         for c in ("minute", "host", "source", "bucket", "n")}))

    @classmethod
    def from_partials(cls, partials: list[tuple[int, str, Partial]]) -> Aggregate:
        """Build the tables from ``(source index, host, partial)`` triples."""
        frames: list[pd.DataFrame] = []
        lframes: list[pd.DataFrame] = []
        mrows: list[tuple[Any, ...]] = []
        for src, host, p in partials:
            p.consolidate()
            minute, rest = np.divmod(p.keys, _MUL)
            status, flags = np.divmod(rest, 4)
            frames.append(pd.DataFrame({
                "minute": minute, "host": host, "source": src, "status": status,
                "probe": (flags & 2) > 0, "forwarded": (flags & 1) > 0, "n": p.ns}))
            for m, row in p.minutes.items():
                mrows.append((src, host, m, *row))
            if len(p.lat_keys):
                lminute, bucket = np.divmod(p.lat_keys, _LMUL)
                lframes.append(pd.DataFrame({"minute": lminute, "host": host, "source": src,
                                             "bucket": bucket, "n": p.lat_ns}))
        columns = ["minute", "host", "source", "status", "probe", "forwarded", "n"]
        counts = (pd.concat(frames, ignore_index=True) if frames
                  else pd.DataFrame({c: [] for c in columns}))
        minutes = pd.DataFrame(mrows, columns=["source", "host", "minute", "ts_min", "ts_max",
                                               "line_min", "line_max", "f_min", "f_max",
                                               "c_min", "c_max"])
        counts = counts.sort_values(["minute", "host", "source", "status", "probe",
                                     "forwarded"], kind="stable").reset_index(drop=True)
        minutes = minutes.sort_values(["source", "minute"], kind="stable").reset_index(
            drop=True)
        if not lframes:
            return cls(counts, minutes)
        latency = pd.concat(lframes, ignore_index=True).sort_values(
            ["minute", "host", "source", "bucket"], kind="stable").reset_index(drop=True)
        return cls(counts, minutes, latency)

    def restrict(self, lo: float | None, hi: float | None) -> Aggregate:
        """Only the minutes between ``lo`` and ``hi`` (``--since``/``--until``)."""
        m_lo = -np.inf if lo is None else np.floor(lo / 60)
        m_hi = np.inf if hi is None else np.floor(hi / 60)
        c, m, lat = self.counts, self.minutes, self.latency
        return Aggregate(
            c[(c["minute"] >= m_lo) & (c["minute"] <= m_hi)].reset_index(drop=True),
            m[(m["minute"] >= m_lo) & (m["minute"] <= m_hi)].reset_index(drop=True),
            lat[(lat["minute"] >= m_lo) & (lat["minute"] <= m_hi)].reset_index(drop=True))

    def between(self, lo: float, hi: float) -> pd.DataFrame:
        """The ``counts`` rows of the minutes from ``lo`` to before ``hi`` (a slice: the
        table is sorted by minute, so a long input's segments cost no scan each)."""
        minute = self.counts["minute"].to_numpy(dtype=np.int64)
        a = int(np.searchsorted(minute, math.floor(lo / 60), side="left"))
        b = int(np.searchsorted(minute, math.ceil(hi / 60), side="left"))
        return self.counts.iloc[a:b]

    @property
    def empty(self) -> bool:
        """True when no request was read."""
        return self.counts.empty

    def span(self) -> tuple[float, float] | None:
        """First and last request timestamp."""
        if self.minutes.empty:
            return None
        return float(self.minutes["ts_min"].min()), float(self.minutes["ts_max"].max())

    def line_ranges(self, lo: float, hi: float) -> dict[int, tuple[int, int]]:
        """Per source, the range of lines holding every request between ``lo`` and ``hi``."""
        m0, m1 = int(np.floor(lo / 60)), int(np.floor(hi / 60))
        sel = self.minutes[(self.minutes["minute"] >= m0) & (self.minutes["minute"] <= m1)]
        out: dict[int, tuple[int, int]] = {}
        lo_l = sel.groupby("source", sort=True)["line_min"].min()
        hi_l = sel.groupby("source", sort=True)["line_max"].max()
        for src, a, b in zip(lo_l.index.tolist(), lo_l.tolist(), hi_l.tolist(), strict=True):
            out[int(src)] = (int(a), int(b))
        return out
