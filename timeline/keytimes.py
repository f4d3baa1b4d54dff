"""Key times of an incident: impact start, detection, acknowledgement, mitigation and
resolution, each with the line that shows it, and the durations between them.

Every key time is measured from what the analysis already established (the settled edges,
the related alerts, the timeline's actions, the binned failure ratio); when the inputs
cannot say one, it is None with the reason, never a guess. The definitions are in
docs/method.md ("Key times") and in :data:`DEFINITIONS`, which the report's appendix repeats.
"""

from __future__ import annotations

import numpy as np

from timeline.model import ACTION_KINDS, Analysis, Edge, Incident, KeyTime, KeyTimes
from timeline.timefmt import fmt_hms

#: Alert sources that record when a person acknowledged a page.
PAGING_PARSERS = ("pagerduty", "opsgenie")

#: The definitions, as the report's appendix gives them (same order as the key times).
DEFINITIONS = (
    "Impact start is the incident's start and resolution its end (the edges above, each "
    "with the line that shows it).",
    "Detection is the first related alert (firing inside the window or up to 15 minutes "
    "before it; always-on alerts excluded). Acknowledgement is the first acknowledgement of "
    "a related page in a PagerDuty or Opsgenie export; other alert sources record none.",
    "Mitigation is the start of the first bin after the failure ratio's peak from which the "
    "ratio at the edge stays under half the peak until the end; when an action in the logs "
    "(a reload, deploy, restart...) came within one bin before that, the action is the "
    "mitigation. When the ratio never fell before the end, the failures stopped at once and "
    "mitigation is the end.",
    "Durations: time to detect = detection - impact start; time to acknowledge = "
    "acknowledgement - detection (from the page to a person, as paging tools count it); "
    "time to mitigate = mitigation - impact start; time to resolve = resolution - impact "
    "start; impact = resolution - impact start.",
)


def _from_edge(analysis: Analysis, edge: Edge | None, ts: float, given: bool) -> KeyTime:
    """A key time from an incident edge (start or end). A window given by hand cites
    ``--window``; an edge found only from the bins cites the first edge request logged in
    the bin that holds it."""
    basis, source, note = "bins", "", "the edge of the anomalous bins: nothing finer was logged"
    if edge is not None:
        basis, source, note = edge.basis, edge.source, edge.note
    elif given:
        basis, note = "given", "the window was given with --window"
    if not source and basis == "given":
        source = "--window"
    elif not source:
        lo = analysis.bin_s * (ts // analysis.bin_s)
        source = _first_line_in(analysis, lo, lo + analysis.bin_s)
    return KeyTime(ts, source, basis, note)


def _detected(analysis: Analysis, inc: Incident) -> KeyTime:
    if inc.first_alert is not None:
        return KeyTime(inc.first_alert, inc.first_alert_source, "alert",
                       f"alert {inc.first_alert_name} fired")
    if analysis.dataset.events.empty or not (analysis.dataset.events["kind"] == "alert").any():
        reason = "no alert export among the inputs"
    else:
        reason = ("no alert in the inputs fired during the incident or in the 15 minutes "
                  "before it")
    return KeyTime(None, reason=reason)


def _acknowledged(analysis: Analysis, inc: Incident) -> KeyTime:
    for e in inc.timeline:
        if e.kind == "acknowledged":
            return KeyTime(e.ts, e.source, "page_acknowledged", e.text)
    if inc.first_alert is None:
        return KeyTime(None, reason="no related alert, so no page to acknowledge")
    parsers = sorted({str(a["parser"]) for a in inc.alerts})
    paging = [p for p in parsers if p in PAGING_PARSERS]
    if not paging:
        return KeyTime(None, reason=(
            f"the related alerts come from {', '.join(parsers)}, which records no "
            "acknowledgement; a PagerDuty or Opsgenie export of the page would say it"))
    return KeyTime(None, reason=f"the related pages ({', '.join(paging)}) carry no "
                   "acknowledgement")


def _first_line_in(analysis: Analysis, lo: float, hi: float) -> str:
    """``file:line`` of the first request an edge host logged in ``[lo, hi)``, or ""."""
    m = analysis.dataset.agg.minutes
    if m.empty:
        return ""
    sel = m[m["host"].isin(analysis.edge_hosts) & (m["ts_min"] >= lo) & (m["ts_min"] < hi)]
    if sel.empty:
        return ""
    first = sel.sort_values(["ts_min", "source", "line_min"], kind="stable").iloc[0]
    return f"{analysis.dataset.sources[int(first['source'])].path}:{int(first['line_min'])}"


def _mitigated(analysis: Analysis, inc: Incident, resolved: KeyTime) -> KeyTime:
    bins, width = analysis.bins, analysis.bin_s
    idx = bins.index.to_numpy(dtype=float)
    inside = (idx + width > inc.start) & (idx <= inc.end)
    total = bins["total"].to_numpy(dtype=float)[inside]
    failed = bins["failed"].to_numpy(dtype=float)[inside]
    starts = idx[inside]
    ratio = np.where(total > 0, failed / np.maximum(total, 1.0), 0.0)
    if not len(ratio) or float(ratio.max()) <= 0.0:
        what = "slowness" if inc.impact.slow_over_s is not None else "silence"
        return KeyTime(None, reason="no request failed at the edge during the incident (the "
                       f"impact was {what}), so there is no failure ratio to fall")
    peak_i = int(np.argmax(ratio))
    half = float(ratio[peak_i]) / 2
    # The first bin after the peak from which every bin to the end stays under half of it.
    at, basis = inc.end, "failures_stopped"
    evidence, note = resolved.evidence, (
        f"the failures stopped at once: the failure ratio did not stay under half its peak "
        f"({100 * ratio[peak_i]:.0f}% in the bin from {_hms(starts[peak_i])}) before the end")
    above = np.nonzero(ratio[peak_i + 1:] >= half)[0]
    fall = peak_i + 1 + (int(above[-1]) + 1 if len(above) else 0)
    if fall < len(ratio) and starts[fall] < inc.end:
        at, basis = float(starts[fall]), "ratio_fell"
        evidence = _first_line_in(analysis, at, at + width)
        note = (f"the failure ratio fell under half its peak ({100 * ratio[peak_i]:.0f}% in "
                f"the bin from {_hms(starts[peak_i])}) and stayed there")
    changes = [e for e in inc.timeline if e.kind in ACTION_KINDS and inc.start < e.ts <= at
               and e.ts >= at - width and e.flag != "possible trigger"]
    if changes:
        c = changes[-1]
        return KeyTime(c.ts, c.source, "change", f"{c.text}, just before {note}")
    return KeyTime(at, evidence, basis, note)


def _hms(ts: float) -> str:
    return fmt_hms(float(ts))


def _minus(a: KeyTime, b: KeyTime) -> float | None:
    return None if a.ts is None or b.ts is None else a.ts - b.ts


def measure(analysis: Analysis, inc: Incident) -> KeyTimes:
    """The key times of ``inc`` (an incident of ``analysis``) and the durations between them.

    Deterministic: it reads only the analysis, which is the same for the same input.
    """
    start = _from_edge(analysis, inc.start_edge, inc.start, inc.window_given)
    resolved = _from_edge(analysis, inc.end_edge, inc.end, inc.window_given)
    detected = _detected(analysis, inc)
    acknowledged = _acknowledged(analysis, inc)
    mitigated = _mitigated(analysis, inc, resolved)
    return KeyTimes(
        impact_start=start, detected=detected, acknowledged=acknowledged, mitigated=mitigated,
        resolved=resolved,
        time_to_detect_s=_minus(detected, start),
        time_to_acknowledge_s=_minus(acknowledged, detected),
        time_to_mitigate_s=_minus(mitigated, start),
        time_to_resolve_s=_minus(resolved, start),
        impact_s=_minus(resolved, start),
    )
