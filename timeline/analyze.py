"""From a :class:`Dataset` to an :class:`Analysis`: bin, detect, refine, measure, narrate."""

from __future__ import annotations

import dataclasses
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
from timeline.bins import (
    FINE_S,
    SEGMENT_BINS,
    Bins,
    TimeOutliers,
    bin_traffic,
    dense_span,
    segments,
)
from timeline.clients import ClientRule, match_exclusions, user_keys
from timeline.detect import Window, detect
from timeline.edges import (
    Timeout,
    failure_edges,
    first_failure_at,
    incomplete_requests,
    proxy_timeout,
    released_at_repair,
    request_starts,
    trim_strays,
)
from timeline.errors import UsageError
from timeline.errtemplates import finish_templates, template_chunk
from timeline.impact import (
    bound_users,
    count_exclusions,
    count_incomplete,
    count_slowed,
    measure_behind,
    measure_impact,
    measure_latency,
    measure_slo,
    surging_statuses,
)
from timeline.ingest import Dataset
from timeline.joins import (
    ErrorIndex,
    JoinPartial,
    build_index,
    error_upstreams,
    finish_join,
    join_chunk,
)
from timeline.method import BASELINE_S, describe_method
from timeline.model import Analysis, AnalysisOptions, ClockSkew, Edge, Incident
from timeline.narrate import narrate
from timeline.report.escape import md_code
from timeline.routes import routes_of
from timeline.shift import (
    Bounds,
    ShiftPartial,
    baseline_slices,
    choose_baseline,
    failing_mask,
    finish,
    shift_chunk,
)
from timeline.skew import correct_events, correct_rows, finish_skew, skew_chunk
from timeline.timefmt import fmt_ts

#: Rows after the end read back too, to find where silent hosts serve again.
ROWS_AFTER_S = 300


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
    codes, agents = _distinct(rows["user_agent"])
    by_ua = np.array([bool(PROBE_UA.search(a)) for a in agents], dtype=bool)[codes]
    pcodes, paths = _distinct(rows["path"])
    health = np.array([HEALTH_PATH.match(p) is not None for p in paths], dtype=bool)[pcodes]
    ccodes, _ = _distinct(rows["client"])
    # A client is a probe when every one of its requests is to a health path.
    not_health = np.bincount(ccodes, weights=~health, minlength=ccodes.max() + 1)
    out: np.ndarray = by_ua | (not_health[ccodes] == 0)
    return out


def _distinct(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes of each row's text (``astype(str)``) and the distinct texts: a categorical
    column's own codes and categories when every row has one (no hashing of the rows)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        if not (codes < 0).any():
            return codes, [str(c) for c in col.cat.categories]
    found, uniques = pd.factorize(col.astype(str))
    return found, [str(u) for u in uniques]


def build(dataset: Dataset, window: tuple[float, float] | None = None,
          options: AnalysisOptions | None = None) -> Analysis:
    """Detect incidents in the dataset and describe each one: bin the traffic, detect the
    windows (or take ``window``), settle each one's edges and measure it from the rows
    around it (the second pass), and tell its story.

    Args:
        dataset: what :func:`timeline.read` returned.
        window: ``(start, end)`` epoch seconds to use instead of detection.
        options: the user key, clients that are not users, the availability target.
    """
    options = options or AnalysisOptions()
    # Requests dated far from the rest (a stray 1970 or next-year line) are left out of
    # binning and detection: they would widen the bins until the incident vanished.
    span, outliers = dense_span(dataset.agg)
    agg = dataset.agg.restrict(*span) if span and outliers.requests else dataset.agg
    edge_hosts = find_edge_hosts(agg)
    bins = bin_traffic(agg, edge_hosts, span or _span(dataset))
    if window is not None:
        _check_window(window, agg, span or _span(dataset))
        given = Incident(start=window[0], end=window[1], signals=["given by --window"],
                         window_given=True)
        given.start_edge, given.end_edge = Edge(window[0], "given"), Edge(window[1], "given")
        candidates = [_Candidate(given, [], None, (given.start_edge, given.end_edge), False)]
    elif bins.count > 1 and not agg.empty:
        candidates = _detect(dataset, agg, edge_hosts, bins)
    else:
        candidates = []
    candidates.sort(key=lambda c: (c.inc.start, c.inc.end))
    skews = clock_skew(dataset, [c.inc for c in candidates], options.skew_correction)
    dataset = skew_corrected(dataset, skews)
    second = _SecondPass(dataset, bins, edge_hosts, options, proxy_timeout(dataset.nginx_conf))
    incidents = [inc for inc in map(second.describe, candidates) if inc is not None]
    method = describe_method(bins.width, edge_hosts, options, timed=not agg.latency.empty,
                             given=window is not None)
    method += _scales(bins, outliers, dataset)
    return Analysis(dataset, bins.width, bins.table, incidents, edge_hosts, second.probes,
                    method, options, skews)


#: Rows read to estimate the clock skew: this long around the first window's start (a
#: backend silent in the window was serving before it).
SKEW_SPAN_S = 1200.0
#: ...and at most about this many requests sampled from them.
SKEW_SAMPLE = 50000


def clock_skew(dataset: Dataset, windows: list[Incident], correct: bool) -> list[ClockSkew]:
    """Each backend's clock offset against its proxy (:mod:`timeline.skew`), from the
    requests in the stretch around the first window's start (or the first requests). Only
    when some host's requests are mostly forwarded (a proxy in front of it): otherwise
    nothing is read."""
    c = dataset.agg.counts
    span = dataset.agg.span()
    if c.empty or span is None or c["host"].nunique() < 2:
        return []
    fwd = (c["n"] * c["forwarded"]).groupby(c["host"], observed=True).sum()
    if not (fwd > 0.5 * c.groupby("host", observed=True)["n"].sum()).any():
        return []
    mid = min((w.start for w in windows), default=span[0] + SKEW_SPAN_S / 2)
    lo, hi = mid - SKEW_SPAN_S / 2, mid + SKEW_SPAN_S / 2
    minute = c["minute"].to_numpy(dtype=np.int64) * 60
    n = int(c["n"].to_numpy()[(minute >= lo - 60) & (minute <= hi)].sum())
    rows = dataset.load_rows(lo, hi)
    skews = finish_skew(skew_chunk(rows, min(1.0, SKEW_SAMPLE / max(n, 1))))
    if not correct:
        skews = [dataclasses.replace(s, corrected=False) for s in skews]
    return skews


def skew_corrected(dataset: Dataset, skews: list[ClockSkew]) -> Dataset:
    """The dataset with each corrected host's rows and events moved by its offset."""
    if not any(s.corrected for s in skews):
        return dataset
    load = dataset.load_rows
    widest = max(abs(s.offset_s) for s in skews if s.corrected)

    def corrected(lo: float, hi: float) -> pd.DataFrame:
        rows = correct_rows(load(lo - widest, hi + widest), skews)
        ts = rows["ts"].to_numpy(dtype=float)
        return rows[(ts >= lo) & (ts <= hi)].reset_index(drop=True)

    return dataclasses.replace(dataset, events=correct_events(dataset.events, skews),
                               load_rows=corrected)


def _check_window(window: tuple[float, float], agg: Aggregate,
                  span: tuple[float, float]) -> None:
    """Refuse a ``--window`` that holds no request: its report would be 0 of 0 users.

    Raises:
        UsageError: no request lies in the window.
    """
    minute = agg.counts["minute"].to_numpy(dtype=np.int64)
    inside = (minute >= np.floor(window[0] / 60)) & (minute <= np.floor(window[1] / 60))
    if inside.any():
        return
    where = (f"the requests run from {fmt_ts(span[0])} to {fmt_ts(span[1])}"
             if not agg.empty else "the inputs hold no request")
    raise UsageError(f"--window {fmt_ts(window[0])}..{fmt_ts(window[1])}: no request in "
                     f"that window ({where}); give a window inside the data")


def _detect_at(dataset: Dataset, agg: Aggregate, edge_hosts: list[str], bins: Bins
               ) -> list[_Candidate]:
    """Detected windows at one scale, with what the first pass knows of their edges."""
    bursts, burst_lines = _error_bursts(dataset.events, bins)
    return [_refine(w, dataset, edge_hosts, bins, burst_lines)
            for w in detect(bins, edge_hosts, bursts, _latency_hist(agg, edge_hosts, bins))]


def _detect(dataset: Dataset, agg: Aggregate, edge_hosts: list[str], bins: Bins
            ) -> list[_Candidate]:
    """Windows at the analysis's bins; for a long input, whose bins are wider than a
    minute, also a scan at one-minute bins a segment at a time, so that a ten-minute outage
    in two years of logs is not averaged away in a day's bin.

    A window the fine scan finds replaces the coarse ones it overlaps; one the fine scan
    cuts at a segment's end (longer than the segments overlap) is left to the coarse scale.
    """
    found = _detect_at(dataset, agg, edge_hosts, bins)
    if bins.width <= FINE_S:
        return found
    fine: list[_Candidate] = []
    cut: list[_Candidate] = []
    end = bins.t0 + bins.count * bins.width
    for lo, hi, own_lo, own_hi in segments((bins.t0, end)):
        local = bin_traffic(agg, edge_hosts, (lo, hi - 1), width=FINE_S)
        for cand in _detect_at(dataset, agg, edge_hosts, local):
            first = cand.bins[0].ts
            if not own_lo <= first < own_hi:
                continue
            cand.scale = local
            (cut if cand.bins[1].ts >= hi and hi < end else fine).append(cand)

    def overlaps(a: _Candidate, b: _Candidate) -> bool:
        return a.bins[0].ts < b.bins[1].ts and b.bins[0].ts < a.bins[1].ts

    coarse = [c for c in found if not any(overlaps(c, f) for f in fine)]
    # A window cut by its segment with no coarse window over it is still a window.
    fine += [c for c in cut if not any(overlaps(c, k) for k in coarse)]
    return fine + coarse


def _scales(bins: Bins, outliers: TimeOutliers, dataset: Dataset) -> list[str]:
    """The method's sentences on the scale of the analysis: the fine scan, time outliers."""
    out = []
    if bins.width > FINE_S:
        out.append(f"The input spans {bins.count * bins.width / 86400:.0f} days, so it was "
                   f"also scanned in {FINE_S // 60}-minute bins, {SEGMENT_BINS // 1440} days "
                   "at a time against each stretch's own baseline: a short outage is found "
                   "however long the logs.")
    if outliers.requests:
        shown = ", ".join(f"{md_code(f'{dataset.sources[s].path}:{line}')} ({fmt_ts(ts)})"
                          for ts, s, line in outliers.examples)
        more = " ..." if outliers.requests > len(outliers.examples) else ""
        out.append(f"{outliers.requests} request(s) dated far from the rest of the traffic "
                   f"were left out of the bins and of detection (time outliers: {shown}{more}).")
    return out


def _span(dataset: Dataset) -> tuple[float, float]:
    """First and last request (or, with no request, event) time."""
    span = dataset.agg.span()
    if span is not None:
        return span
    ev = dataset.events
    if ev.empty:
        return 0.0, 0.0
    return float(ev["ts"].min()), float(ev["ts"].max())


@dataclass
class _SecondPass:
    """Reads the rows around each candidate window back and describes the incident."""

    dataset: Dataset
    bins: Bins
    edge_hosts: list[str]
    options: AnalysisOptions
    timeout: Timeout
    #: The most distinct probe clients seen around any window.
    probes: int = 0
    #: The error-log entries that name a request, indexed once (``timeline.joins``).
    errors: ErrorIndex | None = None

    def where(self, src: int, line: int) -> str:
        """``file:line`` of a row, from its source index and line number."""
        return f"{self.dataset.sources[src].path}:{line}"

    def describe(self, cand: _Candidate) -> Incident | None:
        """Settle, measure and narrate one incident; None for a scanner's burst of 4xx."""
        inc, bins, edge_hosts = cand.inc, cand.scale or self.bins, self.edge_hosts
        dataset, options, rules = self.dataset, self.options, self.options.rules
        # The rows around this window only, read back from the files; from a proxy timeout
        # earlier, since a request is logged when it ends.
        margin = bins.width + (self.timeout.seconds if cand.detected else 0.0)
        rows = dataset.load_rows(inc.start - margin, inc.end + max(bins.width, ROWS_AFTER_S))
        # Routes once per distinct path, for the breakdowns and the partial-failure test.
        if not len(rows):
            rows["route"] = []
        elif "route" in rows:  # worked out by the second pass's workers
            rows["route"] = rows["route"].to_numpy(dtype=object)
        else:
            rows["route"] = routes_of(rows["path"])
        probe_rows = find_probes(rows)
        self.probes = max(self.probes, int(rows.loc[probe_rows, "client"].nunique())
                          if len(rows) else 0)
        rule_of = match_exclusions(rows, rules)
        incomplete = incomplete_requests(rows)
        not_users = probe_rows | (rule_of >= 0) | incomplete
        at_edge = (np.isin(rows["host"].astype(str).to_numpy(), edge_hosts) & ~not_users
                   if len(rows) else np.zeros(0, dtype=bool))
        users = user_keys(rows, options.key) if len(rows) else None
        if cand.detected:
            _settle(cand, rows, at_edge, bins, self.timeout, self.where)
        began = None
        if len(rows):
            began = request_starts(rows, self.timeout)[0]
            held = released_at_repair(rows, at_edge, inc.end, inc.start, self.timeout)
            began[held] = np.minimum(began[held], inc.end)
        measure_impact(inc, rows, not_users, edge_hosts, bins,
                       _silent_users(dataset, inc, edge_hosts, bins.width, options), users,
                       began)
        count_incomplete(inc, rows, incomplete, edge_hosts)
        if inc.peak_ts is not None:
            inc.peak_source = first_failure_at(
                rows, at_edge, _failing(rows, inc.impact.failing_statuses), inc.peak_ts,
                inc.peak_ts + bins.width, self.where)
        count_exclusions(inc, rows, rule_of, rules)
        self._latency(inc, rows, not_users)
        if users is not None:
            count_slowed(inc, rows, not_users, users, edge_hosts, began)
        self._explain(inc, rows)
        if options.slo is not None:
            measure_slo(inc, self.bins.table, options.slo, self.bins.width)
        if _is_scan(inc):
            return None
        dropped = self._dropped(inc)
        if dropped:
            inc.impact.requests_lost_estimate += dropped
            bound_users(inc.impact, dropped, rows, not_users, users, edge_hosts, inc,
                        _nearby_users(dataset, inc, edge_hosts, options), began)
        narrate(inc, dataset, rows, bins)
        return inc

    def _latency(self, inc: Incident, rows: pd.DataFrame, not_users: np.ndarray) -> None:
        """p50/p95 in the window against the hour before. The hour is read back only when
        the window's rows carry a latency: for combined/main logs it would be a second pass
        for nothing."""
        timed = not rows.empty and bool(rows[["request_time", "upstream_time"]].notna().any()
                                        .any())
        first = self.dataset.agg.span()
        lo = max(inc.start - BASELINE_S, first[0] if first else inc.start)
        base_rows = self.dataset.load_rows(lo, inc.start) if timed else rows.iloc[:0]
        base_skip = _not_users(base_rows, self.options.rules)
        measure_latency(inc, rows, not_users, base_rows, base_skip, self.edge_hosts)
        if "latency" in inc.signals:
            measure_behind(inc, rows, not_users, base_rows, base_skip, self.edge_hosts)

    def _explain(self, inc: Incident, rows: pd.DataFrame) -> None:
        """What changed against the baseline (:mod:`timeline.shift`) and the error-log
        entries joined to the requests (:mod:`timeline.joins`), both as accumulators fed
        one chunk: the rows read back around the window, then the baseline's."""
        first = self.dataset.agg.span()
        if first is None:
            return
        if self.errors is None:
            self.errors = build_index(self.dataset.events)
        kind, lo, hi = choose_baseline(inc.start, inc.end, first[0])
        lat = inc.impact.latency.get("request_time")
        slow = (lat.baseline.p95_s if lat is not None and lat.baseline is not None
                and "latency" in inc.signals and not inc.impact.requests_failed else None)
        bounds = Bounds((inc.start, inc.end), (lo, hi), kind,
                        tuple(inc.impact.failing_statuses), slow, tuple(self.edge_hosts))
        window = (inc.start, inc.end)
        shift, joined = ShiftPartial(), JoinPartial()
        # Each row once: the rows read back around the window from its start, the
        # baseline's (which may reach into the rows read back) before it.
        hi = min(hi, inc.start)
        counts = self.dataset.agg.counts
        minute = counts["minute"].to_numpy(dtype=np.int64) * 60
        in_base = int(counts["n"].to_numpy()[(minute >= lo) & (minute < hi)].sum())
        chunks = [rows[rows["ts"].to_numpy(dtype=float) >= inc.start] if len(rows) else rows]
        base = [self.dataset.load_rows(a, b) for a, b in baseline_slices(lo, hi, in_base)]
        both = pd.concat(base, ignore_index=True) if len(base) > 1 else base[0]
        chunks.append(both[both["ts"].to_numpy(dtype=float) < hi])
        for chunk in chunks:
            fails = failing_mask(chunk, bounds)
            matched, part = join_chunk(chunk, self.errors, window, fails)
            joined.merge(part)
            chunk["error_upstream"] = error_upstreams(matched, self.errors)
            part_shift = shift_chunk(chunk, bounds)
            # The smaller partial merges into the larger (the window's is the large one).
            if len(part_shift.counts) > len(shift.counts):
                shift, part_shift = part_shift, shift
            shift.merge(part_shift)
        inc.changes = finish(shift, bounds, self.where)
        inc.changes.baseline_requests = in_base
        inc.error_templates = finish_templates(
            template_chunk(self.dataset.events, window, (lo, hi)), window, (lo, hi))
        w = self.bins.width
        inc.joins = finish_join(joined, self.errors, (inc.start - w, inc.end + w))

    def _dropped(self, inc: Incident) -> int:
        """Connections Nginx dropped in the window before logging a request: the access log
        has no line for them, the error log one per connection (never the client)."""
        ev = self.dataset.events
        if ev.empty:
            return 0
        w = self.bins.width
        sel = (ev["kind"].isin(list(DROPPED_KINDS)) & (ev["ts"] >= inc.start - w)
               & (ev["ts"] <= inc.end + w))
        return int(ev.loc[sel, "count"].sum())


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


def _latency_hist(agg: Aggregate, edge_hosts: list[str], bins: Bins) -> np.ndarray | None:
    """Bins x latency buckets of the edge hosts' timed requests; None when none logs one."""
    lat = agg.latency
    lat = lat[lat["host"].astype(str).isin(edge_hosts)]
    if lat.empty:
        return None
    b = bins.indices(lat["minute"].to_numpy(dtype=np.int64) * 60)
    hist = np.zeros((bins.count, len(LATENCY_EDGES)), dtype=np.int64)
    keep = (b >= 0) & (b < bins.count)
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
    #: False for a window given with --window (its edges are kept as given).
    detected: bool = True
    #: The bins it was found in, when finer than the analysis's (a long input's fine scan).
    scale: Bins | None = None


def _refine(w: Window, dataset: Dataset, edge_hosts: list[str], bins: Bins,
            burst_ts: pd.DataFrame | None = None) -> _Candidate:
    """What the first pass knows of a window's edges.

    A silent host's last request before and first after its silence are edges of their
    own; a backend's silence counts only when nothing failed at the edge (a backend that
    serves a few requests a minute goes quiet some time before the failures begin, so its
    silence is less precise than the failures it causes at the load balancer).
    """
    minutes = dataset.agg.minutes
    mb = bins.indices(minutes["minute"].to_numpy(dtype=np.int64) * 60)
    hosts = minutes["host"].astype(str).to_numpy()
    srcs = minutes["source"].to_numpy(dtype=np.int64)
    lo_bin, hi_bin = w.first_bin - 1, w.last_bin + 1
    lo_t, hi_t = bins.start_of(w.first_bin), bins.start_of(w.last_bin + 1)
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
            s0 = Edge(bins.start_of(hb0), "bins", "", f"{host} logged nothing from the start")
        if after.size:
            i = int(after[np.argmin(ts_min[after])])
            s1 = Edge(float(ts_min[i]), "silence", at(i, line_min),
                      f"{host}'s first request after its silence")
        else:
            s1 = Edge(bins.start_of(hb1 + 1), "bins", "", f"{host} logged nothing after")
        silences.append((s0, s1, host in edge_hosts))
        span = [min(span[0], s0.ts), max(span[1], s1.ts)]
    burst = None
    if burst_ts is not None and "error_burst" in w.signals:
        inside = burst_ts[(burst_ts["ts"] >= lo_t) & (burst_ts["ts"] < hi_t)]
        if not inside.empty:
            # A stray serious line far from the burst (the usual background) is no edge.
            a, b = trim_strays(inside["ts"].to_numpy(dtype=float))
            first, last = inside.iloc[a], inside.iloc[b]
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


def _settle(cand: _Candidate, rows: pd.DataFrame, users: np.ndarray, bins: Bins,
            timeout: Timeout, where: Callable[[int, int], str]) -> None:
    """The incident's start and end, from the edges its candidate offers.

    The failures of the statuses that surged (:func:`timeline.edges.failure_edges`) among
    ``users`` (the rows of users' requests at the edge), the edge hosts' silences (a
    backend's only when nothing failed at the edge) and the error-log burst; else the bins.
    """
    inc = cand.inc
    starts: list[Edge] = []
    ends: list[Edge] = []
    if not rows.empty:
        ts = rows["ts"].to_numpy(dtype=float)
        status = rows["status"].to_numpy(dtype=np.int64)
        inwin = users & (ts >= inc.start) & (ts <= inc.end)
        candidate = inwin & (is_failed(status) | is_client_error(status))
        surged = surging_statuses(status[candidate], bins, inc)
        found = failure_edges(rows, users, surged, inc.start, inc.end, timeout, where)
        if found is not None:
            starts.append(found[0])
            ends.append(found[1])
    for s0, s1, at_edge in cand.silences:
        if at_edge or not starts:
            starts.append(s0)
            ends.append(s1)
    if cand.burst is not None:
        # Serious error-log lines are failures too, some of them (connections dropped
        # before any access line) the only trace of what users went through.
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


def _error_bursts(events: pd.DataFrame, bins: Bins) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Serious error-log lines per bin, and those lines (ts, source_file, line) in time
    order."""
    if events.empty:
        return np.zeros(bins.count, dtype=np.int64), None
    sel = events[(events["parser"] == "nginx_error") & events["kind"].isin(BURST_KINDS)]
    ts = sel["ts"].to_numpy(dtype=float)
    b = bins.indices(ts)
    ok = (b >= 0) & (b < bins.count)
    counts = np.bincount(b[ok], weights=sel["count"].to_numpy(dtype=float)[ok],
                         minlength=bins.count).astype(np.int64)
    lines = sel.loc[ok, ["ts", "source_file", "line"]].sort_values(["ts", "source_file", "line"],
                                                                  kind="stable")
    return counts, lines
