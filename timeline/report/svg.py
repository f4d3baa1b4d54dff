"""``timeline.svg``: the chart of ``chart.py`` drawn as SVG by hand, also inlined in the HTML.

Why not matplotlib's SVG backend: a reader of the HTML report hovers a bin or a marker to
read its numbers, which needs a ``<title>`` inside each bin's and marker's element;
matplotlib writes anonymous paths (titles would have to be patched in by matching ids), draws
text as glyph paths, and fixes every colour, so the chart could not follow the page's dark
mode. Written here, each element carries its title, text stays text (searchable, escaped like
the rest of the report), colours are CSS classes with a dark variant, and the file is small
and byte-identical for the same input (no ids, dates or hashes to pin down).
"""

from __future__ import annotations

import numpy as np

from timeline.report.chart import (
    COLOURS,
    LANE_ROWS,
    SERIES,
    ChartData,
    axis_label,
    time_ticks,
)
from timeline.report.clock import UTC, Clock
from timeline.report.escape import html

WIDTH = 960
LEFT, RIGHT = 100, 48
TRAFFIC_H, RATIO_H, ROW_H, PANEL_H, GAP = 200, 64, 16, 34, 14

#: Class names, prefixed so that the chart's style cannot touch the page it is inlined in.
_SERIES_CLASS = {name: f"tl-s{i}" for i, (name, _, _) in enumerate(SERIES)}

_STYLE = """
.tl-chart{font:11px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.tl-chart text{fill:#1a1a1a}
.tl-chart .tl-bg{fill:#ffffff}
.tl-chart .tl-frame{fill:none;stroke:#8c8c8c;stroke-width:1}
.tl-chart .tl-grid{stroke:#d9d9d9;stroke-width:1}
.tl-chart .tl-muted{fill:#595959}
.tl-chart .tl-win{fill:%(window)s;fill-opacity:.28}
.tl-chart .tl-winbar{fill:%(window)s;stroke:#7f6f00;stroke-width:.6}
.tl-chart .tl-alert{fill:%(alert)s}
.tl-chart .tl-burst{fill:%(burst)s}
.tl-chart .tl-mark{stroke:#1a1a1a;stroke-width:1;stroke-dasharray:4 3}
.tl-chart .tl-markhead{fill:#1a1a1a}
.tl-chart .tl-ratio{fill:none;stroke:%(failed)s;stroke-width:1.3}
.tl-chart .tl-req{fill:%(requests)s;fill-opacity:.35}
.tl-chart .tl-hit{fill:transparent}
.tl-chart .tl-hit:hover,.tl-chart .tl-ev:hover>*{fill-opacity:.6;stroke:#000;stroke-width:.5}
.tl-chart .tl-hit:hover{fill:#808080;fill-opacity:.18}
%(series)s
@media (prefers-color-scheme: dark){
.tl-chart text{fill:#e6e6e6}
.tl-chart .tl-bg{fill:#16181d}
.tl-chart .tl-grid{stroke:#3a3d45}
.tl-chart .tl-muted{fill:#b3b3b3}
.tl-chart .tl-mark{stroke:#e6e6e6}
.tl-chart .tl-markhead{fill:#e6e6e6}
.tl-chart .tl-win{fill-opacity:.16}
}
"""


def _n(v: float) -> str:
    """A coordinate: one decimal, no trailing ``.0`` (deterministic and short)."""
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _nice_max(v: float) -> float:
    """The smallest 1-2-5 multiple of a power of ten at or above ``v`` (at least 1)."""
    if v <= 1:
        return 1.0
    mag = 10 ** np.floor(np.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= v:
            return float(m * mag)
    return float(10 * mag)


def _step_path(xs: list[float], top: list[float], bottom: list[float], right: float) -> str:
    """A closed step polygon (step "post") between ``bottom`` and ``top``."""
    pts = []
    for i, x in enumerate(xs):
        nxt = xs[i + 1] if i + 1 < len(xs) else right
        pts += [f"{_n(x)},{_n(top[i])}", f"{_n(nxt)},{_n(top[i])}"]
    for i in range(len(xs) - 1, -1, -1):
        nxt = xs[i + 1] if i + 1 < len(xs) else right
        pts += [f"{_n(nxt)},{_n(bottom[i])}", f"{_n(xs[i])},{_n(bottom[i])}"]
    return "M" + " L".join(pts) + "Z"


def _step_line(xs: list[float], ys: list[float], right: float) -> str:
    """An open step line (step "post") through ``ys``."""
    pts = []
    for i, x in enumerate(xs):
        nxt = xs[i + 1] if i + 1 < len(xs) else right
        pts += [f"{_n(x)},{_n(ys[i])}", f"{_n(nxt)},{_n(ys[i])}"]
    return "M" + " L".join(pts)


class _Canvas:
    """The SVG being written: its elements and the time-to-x mapping."""

    def __init__(self, data: ChartData, clock: Clock) -> None:
        self.data, self.clock = data, clock
        self.out: list[str] = []
        span = max(data.end - data.start, 1.0)
        self.scale = (WIDTH - LEFT - RIGHT) / span

    def x(self, ts: float) -> float:
        """The x of a time, clipped to the plot."""
        v = LEFT + (ts - self.data.start) * self.scale
        return min(max(v, LEFT), WIDTH - RIGHT)

    def add(self, element: str) -> None:
        """Append raw SVG (every text in it already escaped)."""
        self.out.append(element)

    def text(self, x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> None:
        """A label (escaped)."""
        c = f' class="{cls}"' if cls else ""
        self.add(f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{c}>{html(text)}</text>')

    def span_text(self, a: float, b: float) -> str:
        """``12:30:00 UTC to 14:14:54 UTC``."""
        return f"{self.clock.hms(a)} to {self.clock.hms(b)}"


def _legend(c: _Canvas, y: float) -> None:
    x = float(LEFT)
    d = c.data
    items = [(_SERIES_CLASS[name], label) for name, _, label in SERIES
             if d.series[name].any() or name == "2xx"]
    items += [(cls, label) for cls, label, shown in (
        ("tl-win", "incident window", d.windows), ("tl-alert", "alert", d.alerts),
        ("tl-burst", "error-log burst", d.bursts)) if shown]
    for cls, label in items:
        c.add(f'<rect x="{_n(x)}" y="{_n(y - 9)}" width="12" height="10" class="{cls}"/>')
        c.text(x + 16, y, label)
        x += 24 + 6.2 * len(label)


def _traffic(c: _Canvas, top: float) -> float:
    """The stacked requests per bin, with a hover title per bin; returns the panel bottom."""
    d = c.data
    peak = _nice_max(float(np.max(d.requests, initial=0)))
    bottom = top + TRAFFIC_H
    xs = [c.x(t) for t in d.x]

    def y(v: float) -> float:
        return bottom - v / peak * TRAFFIC_H

    for frac in (0.5, 1.0):
        c.add(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_n(y(peak * frac))}" '
              f'y2="{_n(y(peak * frac))}" class="tl-grid"/>')
        c.text(LEFT - 6, y(peak * frac) + 4, f"{peak * frac:g}", "end", "tl-muted")
    c.text(LEFT - 6, bottom + 4, "0", "end", "tl-muted")
    cum = np.zeros(len(xs))
    for name, _, _ in SERIES:
        vals = d.series[name].astype(float)
        if not vals.any():
            continue
        nxt = cum + vals
        c.add(f'<path class="{_SERIES_CLASS[name]}" d="'
              f'{_step_path(xs, [y(v) for v in nxt], [y(v) for v in cum], c.x(d.end))}"/>')
        cum = nxt
    c.add(f'<text x="14" y="{_n(top + TRAFFIC_H / 2)}" class="tl-muted" '
          f'transform="rotate(-90 14 {_n(top + TRAFFIC_H / 2)})" text-anchor="middle">'
          f"requests per {html(_bin_name(d.bin_s))}</text>")
    return bottom


def _bin_name(bin_s: int) -> str:
    return f"{bin_s // 3600} h" if bin_s >= 3600 else f"{bin_s // 60 or 1} min"


def _ratio(c: _Canvas, top: float) -> float:
    """The failure ratio per bin; returns the panel bottom."""
    d = c.data
    peak = max(5.0, float(np.ceil(100 * float(np.max(d.failure_ratio, initial=0)) * 1.1)))
    bottom = top + RATIO_H
    xs = [c.x(t) for t in d.x]
    ys = [bottom - 100 * r / peak * RATIO_H for r in d.failure_ratio]
    c.add(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_n(top)}" y2="{_n(top)}" '
          'class="tl-grid"/>')
    c.text(LEFT - 6, top + 4, f"{peak:g}%", "end", "tl-muted")
    c.text(LEFT - 6, bottom + 4, "0", "end", "tl-muted")
    c.text(14, top + RATIO_H / 2 + 4, "failed", "start", "tl-muted")
    if xs:
        c.add(f'<path class="tl-ratio" d="{_step_line(xs, ys, c.x(d.end))}"/>')
    return bottom


def _hits(c: _Canvas, top: float, bottom: float) -> None:
    """A transparent rectangle per bin over the traffic and ratio panels, titled with its
    counts: hovering a bin shows them."""
    d = c.data
    labels = {name: label for name, _, label in SERIES}
    for i, t in enumerate(d.x):
        x0, x1 = c.x(t), c.x(t + d.bin_s)
        parts = [f"{labels[name]} {int(d.series[name][i])}" for name, _, _ in SERIES
                 if d.series[name][i]]
        title = (f"{c.clock.stamp(t)}, {_bin_name(d.bin_s)} bin: {int(d.requests[i])} "
                 f"requests ({', '.join(parts) or 'none'}); "
                 f"{100 * d.failure_ratio[i]:.1f}% failed")
        c.add(f'<rect class="tl-hit" x="{_n(x0)}" y="{_n(top)}" width="{_n(max(x1 - x0, 0.5))}"'
              f' height="{_n(bottom - top)}"><title>{html(title)}</title></rect>')


def _lane(c: _Canvas, top: float, traffic_top: float) -> float:
    """The events lane (window, alerts, changes, error-log bursts); returns its bottom."""
    d = c.data
    rows = {name: top + i * ROW_H for i, name in enumerate(LANE_ROWS)}
    for name, y in rows.items():
        c.text(LEFT - 6, y + ROW_H / 2 + 4, name, "end", "tl-muted")
    for start, end in d.windows:
        c.add(f'<g class="tl-ev"><title>{html("Incident window: " + c.span_text(start, end))}'
              f'</title><rect class="tl-winbar" x="{_n(c.x(start))}" y="{_n(rows["window"] + 3)}"'
              f' width="{_n(max(c.x(end) - c.x(start), 1))}" height="{ROW_H - 6}"/></g>')
    for a in d.alerts:
        stop = a.end if a.end is not None else d.end
        until = c.clock.hms(a.end) if a.end is not None else "the end of the data"
        title = (f"Alert {a.name} firing from {c.clock.hms(a.start)} to {until} "
                 f"({a.source})")
        c.add(f'<g class="tl-ev"><title>{html(title)}</title><rect class="tl-alert" '
              f'x="{_n(c.x(a.start))}" y="{_n(rows["alerts"] + 4)}" '
              f'width="{_n(max(c.x(stop) - c.x(a.start), 2))}" height="{ROW_H - 8}"/></g>')
    peak = max((b.count for b in d.bursts), default=1)
    for b in d.bursts:
        title = (f"{b.host}: {b.count} {b.kind} error-log lines from "
                 f"{c.span_text(b.start, b.end)} (first at {b.source})")
        c.add(f'<g class="tl-ev"><title>{html(title)}</title><rect class="tl-burst" '
              f'fill-opacity="{0.35 + 0.65 * b.count / peak:.2f}" x="{_n(c.x(b.start))}" '
              f'y="{_n(rows["error log"] + 3)}" width="{_n(max(c.x(b.end) - c.x(b.start), 2))}"'
              f' height="{ROW_H - 6}"/></g>')
    for m in d.actions:
        x = c.x(m.ts)
        title = f"{m.text} at {c.clock.hms(m.ts)} ({m.source})"
        y = rows["changes"]
        c.add(f'<g class="tl-ev"><title>{html(title)}</title>'
              f'<line class="tl-mark" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(traffic_top)}" '
              f'y2="{_n(y + ROW_H - 3)}"/><path class="tl-markhead" d="M{_n(x - 5)},'
              f'{_n(y + 3)} L{_n(x + 5)},{_n(y + 3)} L{_n(x)},{_n(y + ROW_H - 3)}Z"/></g>')
    return top + len(LANE_ROWS) * ROW_H


def _panels(c: _Canvas, top: float) -> float:
    """A small panel per host: requests (grey area) and failure ratio (line, 0-100%)."""
    d = c.data
    y = top
    for p in d.panels:
        bottom = y + PANEL_H
        part = p.bins
        xs = [c.x(t) for t in d.x[part]]
        right = c.x(float(d.x[part][-1]) + d.bin_s) if xs else c.x(d.end)
        peak = max(float(np.max(p.total, initial=0)), 1.0)
        req = [bottom - v / peak * (PANEL_H - 2) for v in p.total[part]]
        ratio = [bottom - r * (PANEL_H - 2) for r in p.ratio[part]]
        what = "upstream " if p.kind == "upstream" else ""
        title = (f"{what}{p.name}: {int(p.total.sum())} requests, {int(p.failed.sum())} "
                 f"failed; grey: requests per bin (peak {int(peak)}), line: failed % (0-100)")
        c.add(f'<g><title>{html(title)}</title>'
              f'<rect class="tl-bg" x="{LEFT}" y="{_n(y)}" width="{WIDTH - LEFT - RIGHT}" '
              f'height="{PANEL_H}" fill-opacity="0"/>')
        if xs:
            c.add(f'<path class="tl-req" d="{_step_path(xs, req, [bottom] * len(xs), right)}"'
                  f'/><path class="tl-ratio" d="{_step_line(xs, ratio, right)}"/>')
        c.add(f'<rect class="tl-frame" x="{LEFT}" y="{_n(y)}" width="{WIDTH - LEFT - RIGHT}" '
              f'height="{PANEL_H}"/></g>')
        name = p.name if len(p.name) <= 15 else p.name[:14] + "…"
        c.text(LEFT - 6, y + PANEL_H / 2 + (0 if p.kind == "upstream" else 4), name, "end")
        if p.kind == "upstream":
            c.text(LEFT - 6, y + PANEL_H / 2 + 11, "upstream", "end", "tl-muted")
        c.text(WIDTH - RIGHT + 4, y + 8, "100%", "start", "tl-muted")
        c.text(WIDTH - RIGHT + 4, bottom, "0", "start", "tl-muted")
        y = bottom + 6
    if d.panels_left_out:
        c.text(LEFT, y + 8, f"{d.panels_left_out} more hosts or upstreams involved, not drawn",
               "start", "tl-muted")
        y += 12
    return y


def _axis(c: _Canvas, top: float, bottom: float) -> None:
    for ts, label in time_ticks(c.data.start, c.data.end, c.clock):
        x = c.x(ts)
        c.add(f'<line class="tl-grid" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(top)}" '
              f'y2="{_n(bottom + 4)}"/>')
        c.text(x, bottom + 16, label, "middle")
    c.text(LEFT + (WIDTH - LEFT - RIGHT) / 2, bottom + 32, axis_label(c.clock), "middle",
           "tl-muted")


def to_svg(data: ChartData, clock: Clock = UTC, *, standalone: bool = True) -> str:
    """The chart as SVG text: a file of its own (``standalone``) or for inlining in HTML."""
    c = _Canvas(data, clock)
    title = "Requests at the edge by status, incident window shaded"
    c.text(LEFT, 18, title, "start")
    _legend(c, 38)
    top = 52.0
    tb = _traffic(c, top)
    rb = _ratio(c, tb + 16)
    _hits(c, top, rb)
    lane_top = rb + GAP
    lb = _lane(c, lane_top, top)
    pb = _panels(c, lb + GAP) if data.panels else lb
    for start, end in data.windows:
        # Under everything else: the shading is inserted first.
        c.out.insert(0, f'<rect class="tl-win" x="{_n(c.x(start))}" y="{_n(top)}" '
                     f'width="{_n(max(c.x(end) - c.x(start), 1))}" height="{_n(pb - top)}"/>')
    _axis(c, top, pb)
    height = pb + 44
    series = "\n".join(f".tl-chart .{_SERIES_CLASS[name]}{{fill:{colour}}}"
                       for name, colour, _ in SERIES)
    style = _STYLE % {**COLOURS, "series": series}
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="tl-chart" role="img" '
            f'viewBox="0 0 {WIDTH} {_n(height)}" width="{WIDTH}" height="{_n(height)}">'
            f"<title>{html(title)}</title><style>{style}</style>"
            f'<rect class="tl-bg" x="0" y="0" width="{WIDTH}" height="{_n(height)}"/>')
    body = "\n".join(c.out)
    prolog = '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""
    return f"{prolog}{head}\n{body}\n</svg>\n"


