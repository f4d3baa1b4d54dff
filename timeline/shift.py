"""What changed: the incident window against a baseline, dimension by dimension.

Built as a mergeable accumulator so it runs over a stream of chunks in bounded memory:

* :func:`shift_chunk` takes one chunk of request rows (``parsers.base.REQUEST_COLUMNS``
  plus ``host`` and ``source``) and the :class:`Bounds` and returns a :class:`ShiftPartial`:
  per (dimension, value) the window's failing and total requests and the baseline's, the
  first failing request in the window and the last request of the baseline (evidence);
  the same for a bounded set of dimension pairs (:data:`timeline.dimensions.PAIRS`).
* :meth:`ShiftPartial.merge` adds two partials (associative and commutative: the result
  does not depend on how the rows were cut into chunks or in which order they came).
* :func:`finish` turns the sums into :class:`timeline.model.Change` rows: shares, lift, a
  one-sided Fisher exact test per value and the Benjamini-Hochberg correction over all
  the values tested in the incident, most telling first.

See docs/method.md ("What changed") for the choices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from timeline.dimensions import (
    DIMENSIONS,
    OUTCOME_DIMENSIONS,
    PAIRS,
    RESPONSE_DIMENSIONS,
    encode,
)
from timeline.model import Change, ChangeTable

#: (ts, source index, line) of a row: the evidence a change cites.
Where = tuple[float, int, int]
#: (dimension, value); a pair's dimension is ``a+b`` and its value ``va + vb``.
Key = tuple[str, str]

#: A pair dimension with more distinct values than this is dropped (its values are too
#: many to test and to keep in memory: a sign one of its dimensions is an id).
MAX_PAIR_KEYS = 20000
#: The baseline's failing requests are the reference when there are at least this many;
#: with fewer, shares of so few requests mean nothing and all its requests are used.
MIN_BASELINE_FAILING = 30
#: Reported: corrected p-value (q) under this, and a lift at least this far from 1.
ALPHA = 0.05
MIN_LIFT = 1.5
#: A rise needs this many failing requests in the window; a dip this many baseline ones.
MIN_COUNT = 3
#: Values tested need at least this many requests in window and baseline together: the
#: filter uses no outcome, so it keeps the Benjamini-Hochberg guarantee (independent
#: filtering) while sparing tests that could never be significant.
MIN_TESTED = 5
#: Rows kept per dimension and direction (forty client networks of the users an outage
#: hit would otherwise push everything else off the table).
PER_DIMENSION = 3
#: A pair is reported when its failure rate in the window is this many times its
#: parts' (neither alone explains it).
PAIR_RATE_GAIN = 1.5


@dataclass(frozen=True)
class Bounds:
    """The window and its baseline (epoch seconds, half-open ``[lo, hi)`` except the
    window's end, which is included), and what a failing request is."""

    window: tuple[float, float]
    baseline: tuple[float, float]
    #: ``before`` (the same length just before), ``day`` or ``week`` (the same hours a
    #: day or a week earlier).
    baseline_kind: str
    #: Statuses that surged in the window (failing when the row has one of them); empty:
    #: 5xx, 000 and 444.
    failing_statuses: tuple[int, ...] = ()
    #: With a latency incident and no failures: a request slower than this is "failing".
    slow_over_s: float | None = None
    #: Hosts users talk to: rises are measured over their requests (a failure counted once,
    #: where the user saw it; a backend's own failures relayed by the proxy would count it
    #: twice); dips over every host's. Empty: every host is at the edge.
    edge_hosts: tuple[str, ...] = ()


@dataclass
class ShiftPartial:
    """Sums over some chunks of rows; :meth:`merge` adds another partial."""

    #: key -> [window failing, window total, baseline failing, baseline total] at the
    #: edge, then [window total, baseline total] over all hosts
    counts: dict[Key, list[int]] = field(default_factory=dict)
    #: key -> the first failing request in the window
    first: dict[Key, Where] = field(default_factory=dict)
    #: key -> the last request of the baseline (a value that vanished was last seen there)
    last: dict[Key, Where] = field(default_factory=dict)
    #: the same over all keys
    totals: list[int] = field(default_factory=lambda: [0] * 6)
    #: pair dimensions dropped for having too many values
    dropped: set[str] = field(default_factory=set)

    def merge(self, other: ShiftPartial) -> ShiftPartial:
        """Add ``other`` into this partial and return it."""
        for k, v in other.counts.items():
            mine = self.counts.get(k)
            if mine is None:
                self.counts[k] = list(v)
            else:
                for i in range(6):
                    mine[i] += v[i]
        for k, w in other.first.items():
            if k not in self.first or w < self.first[k]:
                self.first[k] = w
        for k, w in other.last.items():
            if k not in self.last or w > self.last[k]:
                self.last[k] = w
        self.totals = [a + b for a, b in zip(self.totals, other.totals, strict=True)]
        self.dropped |= other.dropped
        self._bound()
        return self

    def _bound(self) -> None:
        """Drop the pair dimensions over :data:`MAX_PAIR_KEYS` values (the union only
        grows, so a dimension dropped in any partial is dropped in the final one)."""
        if len(self.counts) <= MAX_PAIR_KEYS and not self.dropped:
            return  # no pair dimension can be over the bound
        sizes: dict[str, int] = {}
        for dim, _ in self.counts:
            if "+" in dim:
                sizes[dim] = sizes.get(dim, 0) + 1
        self.dropped |= {d for d, n in sizes.items() if n > MAX_PAIR_KEYS}
        if self.dropped:
            for store in (self.counts, self.first, self.last):
                for k in [k for k in store if k[0] in self.dropped]:
                    del store[k]


def choose_baseline(start: float, end: float, first: float) -> tuple[str, float, float]:
    """The baseline of a window ``[start, end]`` given the first request time: the same
    hours a week earlier when the inputs reach that far, else a day earlier, else the
    stretch of the same length just before the window (cut at the first request)."""
    length = max(end - start, 60.0)
    for kind, back in (("week", 7 * 86400.0), ("day", 86400.0)):
        if start - back >= first:
            return kind, start - back, start - back + length
    return "before", max(first, start - length), start


def baseline_slices(lo: float, hi: float, requests: int, cap: int = 5000,
                    slices: int = 2) -> list[tuple[float, float]]:
    """The stretches of the baseline ``[lo, hi)`` to read: all of it when it holds at most
    ``cap`` requests, else ``slices`` evenly spaced stretches that together hold about
    ``cap`` (a time-stratified sample: every part of the baseline is represented, and its
    read costs a bounded time however long and busy the baseline is)."""
    if requests <= cap or hi <= lo:
        return [(lo, hi)]
    step = (hi - lo) / slices
    width = step * cap / requests
    return [(lo + i * step, lo + i * step + width) for i in range(slices)]


def failing_mask(rows: pd.DataFrame, bounds: Bounds) -> np.ndarray:
    """The rows that count as failing (or slow) for the table."""
    if rows.empty:
        return np.zeros(0, dtype=bool)
    if bounds.slow_over_s is not None:
        t = pd.to_numeric(rows["request_time"], errors="coerce").to_numpy(float)
        slow: np.ndarray = np.nan_to_num(t, nan=-1.0) > bounds.slow_over_s
        return slow
    status = rows["status"].to_numpy(dtype=np.int64)
    if bounds.failing_statuses:
        out: np.ndarray = np.isin(status, list(bounds.failing_statuses))
        return out
    failed: np.ndarray = (status >= 500) | (status == 0) | (status == 444)
    return failed


def shift_chunk(rows: pd.DataFrame, bounds: Bounds) -> ShiftPartial:
    """The partial of one chunk of rows (any order; rows outside both periods ignored)."""
    part = ShiftPartial()
    if rows.empty:
        return part
    ts = rows["ts"].to_numpy(dtype=float)
    inwin = (ts >= bounds.window[0]) & (ts <= bounds.window[1])
    inbase = (ts >= bounds.baseline[0]) & (ts < bounds.baseline[1]) & ~inwin
    keep = inwin | inbase
    if not keep.any():
        return part
    rows = rows[keep]
    inwin, inbase, ts = inwin[keep], inbase[keep], ts[keep]
    fail = failing_mask(rows, bounds)
    if bounds.edge_hosts:
        edge = np.isin(rows["host"].astype(str).to_numpy(), list(bounds.edge_hosts))
    else:
        edge = np.ones(len(rows), dtype=bool)
    fail &= edge
    # One class per row: at the edge window failing, window other, baseline failing,
    # baseline other; behind it window, baseline. One bincount per dimension counts all.
    cls = np.where(edge, np.where(inwin, 0, 2) + ~fail, np.where(inwin, 4, 5))
    part.totals = _sums(np.bincount(cls, minlength=6).reshape(1, 6))[0].tolist()
    src = rows["source"].to_numpy(dtype=np.int64)
    line = rows["line"].to_numpy(dtype=np.int64)
    order = np.lexsort((line, src, ts))
    # The evidence: window failing rows in time order, baseline rows latest first.
    firsts = order[(fail & inwin)[order]]
    lasts = order[::-1][inbase[order[::-1]]]
    ev = _Evidence(firsts, lasts, ts, src, line)
    dims = encode(rows)
    for dim in DIMENSIONS:
        codes, labels = dims[dim]
        _count(part, dim, codes, labels, cls, ev)
    for a, b in PAIRS:
        ca, la = dims[a]
        cb, lb = dims[b]
        combined, uniq = pd.factorize(ca * max(len(lb), 1) + cb)
        labels = []
        for c in uniq.tolist():
            va, vb = la[c // max(len(lb), 1)], lb[c % max(len(lb), 1)]
            labels.append(f"{va} + {vb}" if va and vb else "")
        _count(part, f"{a}+{b}", combined.astype(np.int64), labels, cls, ev)
    part._bound()
    return part


@dataclass(frozen=True)
class _Evidence:
    """Row indices to take evidence from, and the rows' (ts, source, line)."""

    firsts: np.ndarray
    lasts: np.ndarray
    ts: np.ndarray
    src: np.ndarray
    line: np.ndarray


def _count(part: ShiftPartial, dim: str, codes: np.ndarray, labels: list[str],
           cls: np.ndarray, ev: _Evidence) -> None:
    """Add one dimension's counts and evidence to ``part``."""
    n = len(labels)
    if n == 0:
        return
    sums = _sums(np.bincount(codes * 6 + cls, minlength=n * 6).reshape(n, 6))
    first = _first_of(codes[ev.firsts], ev.firsts, n)
    last = _first_of(codes[ev.lasts], ev.lasts, n)
    named = np.array([bool(label) for label in labels], dtype=bool)
    keep = np.flatnonzero((sums[:, 4] + sums[:, 5] > 0) & named)
    if not keep.size:
        return
    keys = [(dim, labels[c]) for c in keep.tolist()]
    part.counts.update(zip(keys, sums[keep].tolist(), strict=True))
    for store, idx in ((part.first, first[keep]), (part.last, last[keep])):
        has = idx >= 0
        rows = idx[has]
        store.update(zip([k for k, h in zip(keys, has.tolist(), strict=True) if h],
                         zip(ev.ts[rows].tolist(), ev.src[rows].tolist(),
                             ev.line[rows].tolist(), strict=True), strict=True))


def _sums(c: np.ndarray) -> np.ndarray:
    """Class counts (n x 6) to [window failing, window total, baseline failing, baseline
    total] at the edge and [window total, baseline total] over all hosts."""
    return np.stack([c[:, 0], c[:, 0] + c[:, 1], c[:, 2], c[:, 2] + c[:, 3],
                     c[:, 0] + c[:, 1] + c[:, 4], c[:, 2] + c[:, 3] + c[:, 5]], axis=1)


def _first_of(codes: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """Per code, the row index (from ``index``) of its first occurrence in ``codes``;
    -1 when none."""
    out = np.full(n, -1, dtype=np.int64)
    if codes.size:
        uniq, pos = np.unique(codes, return_index=True)
        out[uniq] = index[pos]
    return out


def fisher_greater(x: int, n1: int, k: int, n: int) -> float:
    """P(X >= x) for X hypergeometric: ``n1`` draws from ``n`` items of which ``k`` are
    marked (one-sided Fisher exact test of a 2x2 table). The tail is summed from ``x``
    outwards with the terms' ratio, stopping once they no longer add anything."""
    lo, hi = max(0, n1 + k - n), min(n1, k)
    if x <= lo:
        return 1.0
    if x > hi:
        return 0.0

    def logp(i: int) -> float:
        return (math.lgamma(k + 1) - math.lgamma(i + 1) - math.lgamma(k - i + 1)
                + math.lgamma(n - k + 1) - math.lgamma(n1 - i + 1)
                - math.lgamma(n - k - n1 + i + 1)
                - (math.lgamma(n + 1) - math.lgamma(n1 + 1) - math.lgamma(n - n1 + 1)))

    mean = n1 * k / n if n else 0.0
    if x <= mean:
        # The upper tail is most of the mass: one minus the (short) lower tail.
        return max(0.0, min(1.0, 1.0 - _tail(x - 1, lo, -1, logp, n1, k, n)))
    return min(1.0, _tail(x, hi, 1, logp, n1, k, n))


def _tail(start: int, stop: int, step: int, logp: Callable[[int], float], n1: int, k: int,
          n: int) -> float:
    """Sum of the hypergeometric terms from ``start`` towards ``stop`` (inclusive)."""
    term = math.exp(logp(start))
    total = term
    i = start
    while i != stop:
        if step > 0:
            term *= (k - i) * (n1 - i) / ((i + 1) * (n - k - n1 + i + 1))
        else:
            term *= i * (n - k - n1 + i) / ((k - i + 1) * (n1 - i + 1))
        i += step
        total += term
        if term == 0.0 or term < total * 1e-15:
            break
    return total


def benjamini_hochberg(p: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input's order."""
    m = len(p)
    if not m:
        return []
    order = sorted(range(m), key=lambda i: (p[i], i))
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q


@dataclass
class _Test:
    """One value's comparison before the correction."""

    key: Key
    direction: str
    x: int
    n1: int
    y: int
    n2: int
    p: float
    reference: str


def finish(part: ShiftPartial, bounds: Bounds, where: Callable[[int, int], str],
           limit: int = 20) -> ChangeTable:
    """The table: every value tested, corrected together, the reported ones (q <
    :data:`ALPHA`, lift beyond :data:`MIN_LIFT`) most telling first, at most ``limit``."""
    wf, wt, bf, bt, wa, ba = part.totals
    use_failing = bf >= MIN_BASELINE_FAILING
    tests: list[_Test] = []
    for key in sorted(part.counts):
        kwf, kwt, kbf, kbt, kwa, kba = part.counts[key]
        if kwa + kba < MIN_TESTED:
            continue
        outcome = key[0] in OUTCOME_DIMENSIONS
        if wf and not outcome and kwf >= MIN_COUNT:
            ref_x, ref_n = (kbf, bf) if use_failing else (kbt, bt)
            tests.append(_test(key, "rise", kwf, wf, ref_x, ref_n,
                               "failing" if use_failing else "all"))
        elif outcome and kwf >= MIN_COUNT:
            tests.append(_test(key, "rise", kwt, wt, kbt, bt, "all"))
        if "+" not in key[0] and kba >= MIN_COUNT:
            # A dip is over all hosts: a backend gone silent is behind the edge.
            tests.append(_test(key, "dip", kwa, wa, kba, ba, "all"))
    q = benjamini_hochberg([t.p for t in tests])
    rows: list[tuple[float, Change]] = []
    for t, qv in zip(tests, q, strict=True):
        if qv >= ALPHA:
            continue  # most values: no row to build
        ch = _change(part, t, qv, where)
        far = ch.lift >= MIN_LIFT if t.direction == "rise" else ch.lift <= 1 / MIN_LIFT
        if far:
            rows.append((_score(ch), ch))
    rows = _keep_pairs(rows, part)
    # The response's own dimensions say how it failed, not where: after the rows that
    # locate the failure.
    rows.sort(key=lambda r: (r[1].dimension in RESPONSE_DIMENSIONS, -r[0],
                             DIM_ORDER.get(r[1].dimension, 99), r[1].dimension, r[1].value,
                             r[1].direction))
    kept: list[Change] = []
    per_dim: dict[tuple[str, str], int] = {}
    for _, ch in rows:
        n = per_dim.get((ch.dimension, ch.direction), 0)
        if n < PER_DIMENSION and len(kept) < limit:
            kept.append(ch)
        per_dim[(ch.dimension, ch.direction)] = n + 1
    return ChangeTable(kept, bounds.baseline_kind,
                       bounds.baseline[0], bounds.baseline[1],
                       "slow" if bounds.slow_over_s is not None else "failures",
                       wf, wt, bf, bt, len(tests), sorted(part.dropped))


#: Ties in score: single dimensions in :data:`DIMENSIONS` order, then pairs.
DIM_ORDER = {d: i for i, d in enumerate(DIMENSIONS)}


def _test(key: Key, direction: str, x: int, n1: int, y: int, n2: int, ref: str) -> _Test:
    """The one-sided Fisher test of ``x`` of ``n1`` (window) against ``y`` of ``n2``."""
    n, k = n1 + n2, x + y
    if direction == "rise":
        p = fisher_greater(x, n1, k, n)
    else:
        # P(X <= x) = 1 - P(X >= x + 1)
        p = 1.0 - fisher_greater(x + 1, n1, k, n) if x < min(n1, k) else 1.0
        p = max(0.0, min(1.0, p))
    return _Test(key, direction, x, n1, y, n2, p, ref)


def _change(part: ShiftPartial, t: _Test, q: float, where: Callable[[int, int], str]
            ) -> Change:
    """The table row of one test."""
    ws = t.x / t.n1 if t.n1 else 0.0
    bs = t.y / t.n2 if t.n2 else 0.0
    # Half a request is the floor of a share: a value never seen is "new", with a lift
    # as large as the counts can show, not an infinite one.
    lift = max(ws, 0.5 / max(t.n1, 1)) / max(bs, 0.5 / max(t.n2, 1))
    w = part.first.get(t.key) if t.direction == "rise" else part.last.get(t.key)
    kwf, kwt = part.counts[t.key][0], part.counts[t.key][1]
    return Change(t.key[0], t.key[1], t.direction, t.x, round(ws, 6), t.y, round(bs, 6),
                  round(lift, 3), float(f"{t.p:.3g}"), float(f"{q:.3g}"),
                  where(w[1], w[2]) if w else "", w[0] if w else None,
                  round(kwf / kwt, 6) if kwt else 0.0, t.reference)


def _score(ch: Change) -> float:
    """How telling a row is: the share it covers times the log of its lift (its term in
    the divergence of the window's mix from the baseline's)."""
    if ch.direction == "rise":
        return ch.window_share * math.log2(max(ch.lift, 1.0))
    return ch.baseline_share * math.log2(1.0 / max(ch.lift, 1e-12))


def _keep_pairs(rows: list[tuple[float, Change]], part: ShiftPartial
                ) -> list[tuple[float, Change]]:
    """Pairs only where neither part alone explains the failures: the pair's failure rate
    in the window is :data:`PAIR_RATE_GAIN` times each part's."""
    out = []
    for score, ch in rows:
        if "+" not in ch.dimension:
            out.append((score, ch))
            continue
        (da, db), (va, vb) = ch.dimension.split("+", 1), ch.value.split(" + ", 1)
        rates = []
        for key in ((da, va), (db, vb)):
            c = part.counts.get(key)
            rates.append(c[0] / c[1] if c and c[1] else 0.0)
        if ch.failure_rate >= PAIR_RATE_GAIN * max(rates):
            out.append((score, ch))
    return out
