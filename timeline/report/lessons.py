"""Lessons learned, as prompts from the data: what went well, what went wrong, where we got
lucky. Every item is *suggested* (the rule that produced it is given) and each list ends
with a *TODO*: only the team knows what it learned."""

from __future__ import annotations

import numpy as np

from timeline.model import Analysis, Incident, KeyTimes
from timeline.report.context import Lessons, Marked, duration

#: Detection within this many seconds of impact start counts as fast; beyond, as slow.
FAST_DETECT_S = 300
#: An impact at least this long is listed among what went wrong.
LONG_IMPACT_S = 1800
#: A window whose edge traffic is under this share of the usual is a quiet period.
QUIET_SHARE = 0.5


def _well(inc: Incident, kt: KeyTimes) -> list[Marked]:
    out = []
    ttd = kt.time_to_detect_s
    if ttd is not None and ttd <= FAST_DETECT_S:
        out.append(Marked(
            f"Monitoring caught it: {kt.detected.reason}, {duration(ttd)} "
            f"{'after' if ttd >= 0 else 'before'} the impact started.", "suggested",
            kt.detected.evidence, f"detected within {FAST_DETECT_S // 60} minutes"))
    served = [h for h, c in inc.impact.by_host.items() if c["requests"] and not c["failed"]
              and h not in inc.affected_hosts]
    if inc.affected_hosts and served:
        out.append(Marked(
            f"{', '.join(served)} kept serving without failures while "
            f"{', '.join(inc.affected_hosts)} failed.", "suggested",
            why="requests and failures by host in the window"))
    out.append(Marked("what else went well", "todo"))
    return out


def _wrong(inc: Incident, kt: KeyTimes) -> list[Marked]:
    out = []
    ttd = kt.time_to_detect_s
    if ttd is None:
        out.append(Marked(f"No alert was found for this incident ({kt.detected.reason}).",
                          "suggested", why="no related alert in the inputs"))
    elif ttd > FAST_DETECT_S:
        out.append(Marked(f"Detection took {duration(ttd)} after the impact started.",
                          "suggested", kt.detected.evidence,
                          f"detected after more than {FAST_DETECT_S // 60} minutes"))
    if kt.impact_s is not None and kt.impact_s >= LONG_IMPACT_S:
        out.append(Marked(
            f"Users were hit for {duration(kt.impact_s)} before the failures stopped.",
            "suggested", kt.resolved.evidence,
            f"an impact of {LONG_IMPACT_S // 60} minutes or more"))
    out.append(Marked("what else went wrong", "todo"))
    return out


def _lucky(analysis: Analysis, inc: Incident) -> list[Marked]:
    out = []
    bins = analysis.bins
    idx = bins.index.to_numpy(dtype=float)
    inside = (idx + analysis.bin_s > inc.start) & (idx <= inc.end)
    total = bins["total"].to_numpy(dtype=float)
    if inside.any() and (~inside).any():
        per_min = 60.0 / analysis.bin_s
        during = float(total[inside].mean()) * per_min
        usual = float(np.median(total[~inside])) * per_min
        if usual > 0 and during < QUIET_SHARE * usual:
            out.append(Marked(
                f"The outage fell in a quiet period: {during:.0f} requests a minute at the "
                f"edge during it against a usual {usual:.0f}.", "suggested",
                why=f"traffic in the window under {QUIET_SHARE:.0%} of the median outside it"))
    out.append(Marked("where we got lucky (the time of day, who happened to be watching...)",
                      "todo"))
    return out


def lessons(analysis: Analysis, inc: Incident, kt: KeyTimes | None) -> Lessons:
    """The lessons-learned prompts for ``inc``."""
    if kt is None:
        return Lessons([Marked("what went well", "todo")], [Marked("what went wrong", "todo")],
                       [Marked("where we got lucky", "todo")])
    return Lessons(_well(inc, kt), _wrong(inc, kt), _lucky(analysis, inc))
