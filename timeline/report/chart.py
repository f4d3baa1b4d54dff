"""The chart's data (:func:`chart_data`), its time axis (:func:`time_ticks`) and
``timeline.png`` (matplotlib). ``timeline.svg`` draws the same data by hand (``svg.py``).

Panels, top to bottom: requests at the edge by status class per bin; the failure ratio; an
events lane (the incident window, alerts as spans, changes such as reloads and deploys as
markers, bursts of serious error-log lines); and, when the incidents involve several hosts,
a small panel per host with its requests and failure ratio.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from timeline.aggregate import is_failed
from timeline.analyze import BURST_KINDS
from timeline.model import ACTION_KINDS, Analysis, end_of
from timeline.report.clock import UTC, Clock
from timeline.report.escape import mpl

#: The Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"): eight colours that
#: stay distinct for the common forms of colour blindness.
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
             "bluish_green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
             "vermillion": "#D55E00", "reddish_purple": "#CC79A7"}

#: Stacked series, bottom to top: (column of ``Analysis.bins``, colour, legend label).
SERIES = (("2xx", OKABE_ITO["bluish_green"], "1xx-3xx"), ("4xx", OKABE_ITO["orange"], "4xx"),
          ("5xx", OKABE_ITO["vermillion"], "5xx"),
          ("no response", OKABE_ITO["reddish_purple"], "000/444 (no response)"))

#: What each part of the events lane is drawn in.
COLOURS = {"window": OKABE_ITO["yellow"], "alert": OKABE_ITO["blue"],
           "action": OKABE_ITO["black"], "burst": OKABE_ITO["sky_blue"],
           "failed": OKABE_ITO["vermillion"], "requests": "#7f7f7f"}

#: The rows of the events lane, top to bottom.
#: Alerts and changes labelled on the chart; the rest are drawn without a label.
MAX_LABELS = 12
LANE_ROWS = ("window", "alerts", "changes", "error log")

#: At most this many host panels, upstream panels and error bursts are drawn (the busiest).
MAX_PANELS = 8
MAX_BURSTS = 8


@dataclass(frozen=True)
class Span:
    """An alert: from when it fired to when it resolved (None: still firing at the end)."""

    start: float
    end: float | None
    name: str
    source: str


@dataclass(frozen=True)
class Marker:
    """A change on a host (reload, deploy, restart...), from the incident's timeline."""

    ts: float
    label: str
    text: str
    source: str


@dataclass(frozen=True)
class Burst:
    """A run of serious error-log lines (``analyze.BURST_KINDS``) of one host and kind:
    bins with such lines, gaps of up to two bins bridged."""

    start: float
    end: float
    host: str
    kind: str
    count: int
    source: str


@dataclass(frozen=True)
class Panel:
    """One host's or upstream address' requests and failed requests (5xx, 000, 444; for an
    upstream, the users' responses that failed) per bin, probes left out."""

    name: str
    total: np.ndarray
    failed: np.ndarray
    #: ``host`` or ``upstream``.
    kind: str = "host"
    #: The bins measured (first, end): all for a host; for an upstream, the rows read back
    #: around the window (nothing is known of it outside them, so nothing is drawn there).
    span: tuple[int, int] | None = None

    @property
    def bins(self) -> slice:
        """The bins to draw."""
        return slice(*self.span) if self.span is not None else slice(None)

    @property
    def ratio(self) -> np.ndarray:
        """Failed over total per bin (0 where the host logged nothing)."""
        out: np.ndarray = np.where(self.total > 0, self.failed / np.maximum(self.total, 1), 0.0)
        return out


@dataclass(frozen=True)
class ChartData:
    """What the charts plot, as plain data (tests check this rather than pixels)."""

    #: Bin starts (epoch seconds UTC) and their width.
    x: np.ndarray
    bin_s: int
    series: dict[str, np.ndarray]
    failure_ratio: np.ndarray
    windows: list[tuple[float, float]]
    alerts: list[Span]
    actions: list[Marker]
    bursts: list[Burst]
    #: Host panels, then upstream panels.
    panels: list[Panel]
    #: Hosts and upstreams involved that have no panel (beyond :data:`MAX_PANELS` each).
    panels_left_out: int = 0
    requests: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def start(self) -> float:
        """The left edge of the time axis."""
        return float(self.x[0]) if len(self.x) else 0.0

    @property
    def end(self) -> float:
        """The right edge of the time axis (the end of the last bin)."""
        return float(self.x[-1]) + self.bin_s if len(self.x) else float(self.bin_s)


def _alerts(analysis: Analysis) -> list[Span]:
    out: set[Span] = set()
    for inc in analysis.incidents:
        for a in inc.alerts:
            out.add(Span(float(a["ts"]), end_of(a["end"]),
                         str(a["attrs"].get("alertname", "alert")),
                         f"{a['source_file']}:{a['line']}"))
    return sorted(out, key=lambda a: (a.start, a.name, a.source))


def _actions(analysis: Analysis) -> list[Marker]:
    out = {Marker(e.ts, f"{e.host} {e.kind}" if e.host else e.kind, e.text, e.source)
           for inc in analysis.incidents for e in inc.timeline if e.kind in ACTION_KINDS}
    return sorted(out, key=lambda m: (m.ts, m.label, m.source))


def _bursts(analysis: Analysis, t0: float, count: int) -> list[Burst]:
    """Runs of serious error-log lines per host and kind, the busiest first, then by time."""
    ev = analysis.dataset.events
    if ev.empty or not count:
        return []
    width = analysis.bin_s
    sel = ev[(ev["parser"] == "nginx_error") & ev["kind"].isin(BURST_KINDS)]
    runs: list[Burst] = []
    for (host, kind), g in sel.groupby(["host", "kind"], sort=True):
        g = g.sort_values(["ts", "source_file", "line"], kind="stable")
        ts = g["ts"].to_numpy(dtype=float)
        n = g["count"].to_numpy(dtype=np.int64)
        b = ((ts - t0) // width).astype(np.int64)
        cut = np.flatnonzero(np.diff(b) > 3) + 1  # more than two empty bins between
        for idx in np.split(np.arange(len(ts)), cut):
            total = int(n[idx].sum())
            if total < 3:
                continue
            first = g.iloc[int(idx[0])]
            runs.append(Burst(float(ts[idx[0]]), float(ts[idx[-1]]), str(host), str(kind),
                              total, f"{first['source_file']}:{first['line']}"))
    runs.sort(key=lambda r: (-r.count, r.start, r.host, r.kind))
    return sorted(runs[:MAX_BURSTS], key=lambda r: (r.start, r.host, r.kind))


def _panels(analysis: Analysis, t0: float, count: int) -> tuple[list[Panel], int]:
    """Per-host panels when the incidents involve several hosts (else none)."""
    hosts: list[str] = []
    for inc in analysis.incidents:
        hosts += [h for h in inc.impact.by_host if h not in hosts]
    if not analysis.incidents:
        hosts = list(analysis.edge_hosts)
    if len(hosts) < 2 or not count:
        return [], 0
    # The edge first (what users saw), then the hosts the incidents hit, then the rest.
    affected = {h for inc in analysis.incidents for h in inc.affected_hosts}
    hosts.sort(key=lambda h: (h not in analysis.edge_hosts, h not in affected, h))
    shown, left_out = hosts[:MAX_PANELS], len(hosts) - min(len(hosts), MAX_PANELS)
    c = analysis.dataset.agg.counts
    c = c[~c["probe"].astype(bool) & c["host"].astype(str).isin(shown)]
    b = ((c["minute"].to_numpy(dtype=np.int64) * 60 - int(t0)) // analysis.bin_s)
    ok = (b >= 0) & (b < count)
    n = c["n"].to_numpy(dtype=np.int64)
    failed = is_failed(c["status"].to_numpy(dtype=np.int64))
    names = c["host"].astype(str).to_numpy()
    panels = []
    for h in shown:
        mine = ok & (names == h)
        total = np.bincount(b[mine], weights=n[mine], minlength=count).astype(np.int64)
        bad = np.bincount(b[mine & failed], weights=n[mine & failed], minlength=count
                          ).astype(np.int64)
        panels.append(Panel(h, total, bad))
    return panels, left_out


def _upstream_panels(analysis: Analysis, count: int) -> tuple[list[Panel], int]:
    """A panel per upstream address of the incident that hit the most requests, when its
    requests went to several (the series are measured on the rows around its window)."""
    if not analysis.incidents or not count:
        return [], 0
    inc = max(analysis.incidents, key=lambda i: (i.impact.requests_failed, -i.start))
    series = inc.impact.upstream_bins
    panels = []
    for s in series[:MAX_PANELS]:
        total = np.zeros(count, dtype=np.int64)
        failed = np.zeros(count, dtype=np.int64)
        stop = min(s.first + len(s.requests), count)
        total[s.first:stop] = s.requests[: stop - s.first]
        failed[s.first:stop] = s.failed[: stop - s.first]
        panels.append(Panel(s.name, total, failed, "upstream", (s.first, stop)))
    return panels, len(series) - len(panels)


def chart_data(analysis: Analysis) -> ChartData:
    """What the charts plot, computed once for the PNG and the SVG."""
    bins = analysis.bins
    x = bins.index.to_numpy(dtype=float)
    t0, count = (float(x[0]), len(x)) if len(x) else (0.0, 0)
    ratio = np.where(bins["total"] > 0, bins["failed"] / np.maximum(bins["total"], 1), 0.0)
    panels, left_out = _panels(analysis, t0, count)
    upstreams, more = _upstream_panels(analysis, count)
    return ChartData(
        x=x, bin_s=analysis.bin_s,
        series={name: bins[name].to_numpy() for name, _, _ in SERIES},
        failure_ratio=ratio,
        windows=[(i.start, i.end) for i in analysis.incidents],
        alerts=_alerts(analysis), actions=_actions(analysis),
        bursts=_bursts(analysis, t0, count), panels=panels + upstreams,
        panels_left_out=left_out + more,
        requests=bins["total"].to_numpy(),
    )


#: Tick steps in seconds, finest first; a step is chosen so that the axis gets at most
#: ``target`` ticks, which reads from a 10-minute window (1-2 min) to a week (1 day).
TICK_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
              2 * 86400)


def time_ticks(start: float, end: float, clock: Clock = UTC, target: int = 9
               ) -> list[tuple[float, str]]:
    """Ticks for a time axis from ``start`` to ``end``: (epoch seconds, label).

    Ticks fall on round times of the display zone (whole hours there, local midnights).
    A label is ``HH:MM``; the first tick and every tick on a new day also carry the date
    (``20 Mar 00:00``), and with steps of a day or more a label is the date alone.
    """
    span = max(end - start, 1.0)
    step = next((s for s in TICK_STEPS if span / s <= target), TICK_STEPS[-1])
    tz = clock.tzinfo
    ticks: list[float] = []
    if step >= 86400:
        day = clock.local(start).date()
        while True:
            ts = dt.datetime.combine(day, dt.time(), tz).timestamp()
            if ts > end:
                break
            if ts >= start and (day.toordinal() % (step // 86400) == 0):
                ticks.append(ts)
            day += dt.timedelta(days=1)
    else:
        off = (clock.local(start).utcoffset() or dt.timedelta()).total_seconds()
        ts = (start + off) // step * step - off
        while ts <= end:
            if ts >= start:
                ticks.append(float(ts))
            ts += step
    out = []
    last_day = None
    for ts in ticks:
        local = clock.local(ts)
        if step >= 86400:
            out.append((ts, local.strftime("%d %b")))
        elif last_day is None and span > 86400 or last_day is not None and \
                local.date() != last_day:
            out.append((ts, local.strftime("%d %b %H:%M")))
        else:
            out.append((ts, local.strftime("%H:%M")))
        last_day = local.date()
    return out


def axis_label(clock: Clock) -> str:
    """The time axis' name, with its zone."""
    return f"time ({clock.label})"


def write_chart(analysis: Analysis, path: Path, clock: Clock = UTC,
                data: ChartData | None = None) -> None:
    """Render the chart to a PNG file (matplotlib, Agg backend, deterministic metadata)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = data if data is not None else chart_data(analysis)
    heights = [3.0, 1.0, 1.1] + [0.55] * len(data.panels)
    fig, axes = plt.subplots(len(heights), 1, figsize=(12, 5.8 + 0.55 * len(data.panels)),
                             sharex=True, gridspec_kw={"height_ratios": heights})
    ax, ax2, lane = axes[0], axes[1], axes[2]
    _traffic(ax, analysis, data)
    ax2.step(data.x, 100 * data.failure_ratio, where="post", color=COLOURS["failed"],
             linewidth=1)
    ax2.set_ylabel("failed %")
    ax2.set_ylim(0, max(5.0, 100 * float(np.max(data.failure_ratio, initial=0)) * 1.1))
    _lane(lane, data, clock)
    for pax, panel in zip(axes[3:], data.panels, strict=True):
        _host_panel(pax, panel, data)
    for a in axes:
        for start, end in data.windows:
            a.axvspan(start, end, color=COLOURS["window"], alpha=0.25, linewidth=0, zorder=0)
        a.set_xlim(data.start, data.end)
    ticks = time_ticks(data.start, data.end, clock)
    axes[-1].set_xticks([t for t, _ in ticks], [lb for _, lb in ticks])
    axes[-1].set_xlabel(axis_label(clock))
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def _traffic(ax: Any, analysis: Analysis, data: ChartData) -> None:
    """The stacked requests by status class, the alerts above them, the change markers."""
    # Stacked areas drawn as steps (one polygon per series): a day of 1-minute bins would be
    # thousands of bar patches, which matplotlib draws slowly.
    shown = [(name, colour, label) for name, colour, label in SERIES
             if data.series[name].any() or name == "2xx"]
    if len(data.x):
        ax.stackplot(data.x, *[data.series[name] for name, _, _ in shown],
                     colors=[c for _, c, _ in shown], labels=[lb for _, _, lb in shown],
                     step="post", linewidth=0)
    top = float(np.max(data.requests, initial=0)) or 1.0
    # One collection for all the alerts and one for all the changes, and labels for the
    # first few only: an artist and a label per alert made 50,000 alerts take minutes.
    if data.alerts:
        ys = top * (1.04 + 0.07 * (np.arange(len(data.alerts)) % 4))
        ax.hlines(ys, [a.start for a in data.alerts],
                  [a.end if a.end is not None else data.end for a in data.alerts],
                  color=COLOURS["alert"], linewidth=4)
        for a, y in zip(data.alerts[:MAX_LABELS], ys, strict=False):
            ax.annotate(mpl(f"alert {a.name}"), (a.start, y), fontsize=7, xytext=(2, 3),
                        textcoords="offset points", color=COLOURS["alert"])
        if len(data.alerts) > MAX_LABELS:
            ax.annotate(f"and {len(data.alerts) - MAX_LABELS} more alerts (see timeline.json)",
                        (1.0, 1.0), xycoords="axes fraction", ha="right", va="bottom",
                        fontsize=7, color=COLOURS["alert"])
    if data.actions:
        ax.vlines([m.ts for m in data.actions], 0, 1, transform=ax.get_xaxis_transform(),
                  color=COLOURS["action"], linestyle="--", linewidth=0.8)
        for m in data.actions[:MAX_LABELS]:
            ax.annotate(mpl(m.label), (m.ts, 0), rotation=90, fontsize=7, xytext=(2, 4),
                        textcoords="offset points", va="bottom")
    if data.windows:
        ax.fill_between([], [], color=COLOURS["window"], alpha=0.25, label="incident window")
    ax.set_ylim(0, top * 1.35 + 1)
    ax.set_ylabel(f"requests per {analysis.bin_s // 60 or 1} min")
    ax.set_title("Requests at the edge by status, incident window shaded")
    ax.legend(loc="upper left", fontsize=8)


def _lane(ax: Any, data: ChartData, clock: Clock) -> None:
    """The events lane: one row each for the window, alerts, changes and error bursts."""
    row = {name: len(LANE_ROWS) - 1 - i for i, name in enumerate(LANE_ROWS)}
    for start, end in data.windows:
        ax.broken_barh([(start, end - start)], (row["window"] - 0.3, 0.6),
                       color=COLOURS["window"], edgecolor="#7f6f00", linewidth=0.6)
    if data.alerts:
        ax.broken_barh([(a.start, max((a.end if a.end is not None else data.end) - a.start,
                                      data.bin_s / 4)) for a in data.alerts],
                       (row["alerts"] - 0.25, 0.5), color=COLOURS["alert"])
    if data.actions:
        ax.plot([m.ts for m in data.actions], [row["changes"]] * len(data.actions),
                linestyle="none", marker="v", color=COLOURS["action"], markersize=6)
    peak = max((b.count for b in data.bursts), default=1)
    for b in data.bursts:
        ax.broken_barh([(b.start, max(b.end - b.start, data.bin_s / 4))],
                       (row["error log"] - 0.3, 0.6), color=COLOURS["burst"],
                       alpha=0.35 + 0.65 * b.count / peak)
    ax.set_ylim(-0.6, len(LANE_ROWS) - 0.4)
    ax.set_yticks([row[r] for r in LANE_ROWS], list(LANE_ROWS), fontsize=7)
    ax.tick_params(axis="y", length=0)


def _host_panel(ax: Any, panel: Panel, data: ChartData) -> None:
    """One host or upstream: its requests (grey, own scale) and failure ratio (vermillion,
    right scale)."""
    part = panel.bins
    ax.fill_between(data.x[part], panel.total[part], step="post", color=COLOURS["requests"],
                    alpha=0.35, linewidth=0)
    ax.set_ylim(0, max(1, int(np.max(panel.total, initial=0))) * 1.15)
    ax.set_yticks([])
    label = mpl(panel.name, 22) + ("\n(upstream)" if panel.kind == "upstream" else "")
    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    r = ax.twinx()
    r.step(data.x[part], 100 * panel.ratio[part], where="post", color=COLOURS["failed"],
           linewidth=0.9)
    r.set_ylim(0, 105)
    r.set_yticks([0, 50, 100], ["0", "50", "100%"], fontsize=6)
