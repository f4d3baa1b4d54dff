"""Error-log message templates: which ones are new in the window, which ones surged.

The error parser masks each message into a template (``parsers/nginx_error.py``
``template_of``: addresses, ports, numbers, pids, quoted paths and user names masked), so
a template is the events' ``message``. As the other explainers, this is a mergeable
accumulator over chunks of events: :func:`template_chunk` counts one chunk per
(host, kind, template) in the window, in the baseline and anywhere before the window,
with the first line in the window; :meth:`TemplatePartial.merge` adds two;
:func:`finish_templates` lists the templates new in the window (never seen before it in
the inputs) or surged (their rate per minute in the window :data:`SURGE` times the
baseline's, and significantly so: a one-sided Poisson test).

docs/method.md ("Error-log templates") says why the masking is kept rather than Drain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from timeline.model import TemplateChange

#: A template surged when its window rate is at least this many times its baseline rate.
SURGE = 3.0
#: ...and the window holds at least this many of its lines.
MIN_LINES = 3
#: ...and the chance of so many lines at the baseline rate is under this.
ALPHA = 0.001
#: Kinds that are the server's own life (start, reload, stop): their surge is an action
#: the timeline already shows, not a symptom.
_SKIP_KINDS = frozenset({"alert"})

Key = tuple[str, str, str]


@dataclass
class TemplatePartial:
    """Sums over some chunks of events; :meth:`merge` adds another partial."""

    #: (host, kind, template) -> [window lines, baseline lines, lines before the window]
    counts: dict[Key, list[int]] = field(default_factory=dict)
    #: (host, kind, template) -> (ts, file, line) of its first line in the window
    first: dict[Key, tuple[float, str, int]] = field(default_factory=dict)

    def merge(self, other: TemplatePartial) -> TemplatePartial:
        """Add ``other`` into this partial and return it."""
        for k, v in other.counts.items():
            mine = self.counts.setdefault(k, [0, 0, 0])
            for i in range(3):
                mine[i] += v[i]
        for k, w in other.first.items():
            if k not in self.first or w < self.first[k]:
                self.first[k] = w
        return self


def template_chunk(events: pd.DataFrame, window: tuple[float, float],
                   baseline: tuple[float, float]) -> TemplatePartial:
    """The partial of one chunk of events (only Nginx error-log lines count)."""
    part = TemplatePartial()
    if events.empty:
        return part
    ev = events[(events["parser"] == "nginx_error") & ~events["kind"].isin(_SKIP_KINDS)]
    for ts, host, kind, msg, n, src, line in zip(
            ev["ts"], ev["host"], ev["kind"], ev["message"], ev["count"], ev["source_file"],
            ev["line"], strict=True):
        t = float(ts)
        key = (str(host), str(kind), str(msg))
        c = part.counts.setdefault(key, [0, 0, 0])
        if window[0] <= t <= window[1]:
            c[0] += int(n)
            w = (t, str(src), int(line))
            if key not in part.first or w < part.first[key]:
                part.first[key] = w
        elif t < window[0]:
            c[2] += int(n)
            if baseline[0] <= t < baseline[1]:
                c[1] += int(n)
    return part


def poisson_sf(k: int, mu: float) -> float:
    """P(X >= k) for X Poisson with mean ``mu``."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    term = math.exp(-mu)
    below = term
    for i in range(1, k):
        term *= mu / i
        below += term
    return max(0.0, 1.0 - below)


def finish_templates(part: TemplatePartial, window: tuple[float, float],
                     baseline: tuple[float, float], limit: int = 10) -> list[TemplateChange]:
    """The templates new in the window or surged, most lines first."""
    w_min = max(window[1] - window[0], 60.0) / 60.0
    b_min = max(baseline[1] - baseline[0], 0.0) / 60.0
    out: list[TemplateChange] = []
    for key in sorted(part.counts):
        n_win, n_base, n_before = part.counts[key]
        if n_win < MIN_LINES or key not in part.first:
            continue
        w_rate = n_win / w_min
        b_rate = n_base / b_min if b_min else 0.0
        if n_before == 0:
            status = "new"
        elif b_min and w_rate >= SURGE * b_rate and poisson_sf(
                n_win, max(b_rate, 0.5 / b_min) * w_min) < ALPHA:
            status = "surged"
        else:
            continue
        ts, src, line = part.first[key]
        out.append(TemplateChange(host=key[0], kind=key[1], template=key[2],
                                  window_count=n_win, baseline_count=n_base,
                                  window_rate_per_min=round(w_rate, 3),
                                  baseline_rate_per_min=round(b_rate, 3), status=status,
                                  first_ts=ts, first_source=f"{src}:{line}"))
    out.sort(key=lambda t: (-t.window_count, t.first_ts, t.host, t.template))
    return out[:limit]
