"""``timeline.png``: traffic by status class per bin, failure ratio, the window, alerts, actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from timeline.model import ACTION_KINDS, Analysis, end_of
from timeline.report.escape import mpl

#: Stacked series, bottom to top, with their colours.
SERIES = (("2xx", "#4c9a4c", "1xx-3xx"), ("4xx", "#e0a030", "4xx"), ("5xx", "#c83232", "5xx"),
          ("no response", "#6a3d9a", "000/444 (no response)"))


def chart_data(analysis: Analysis) -> dict[str, Any]:
    """What the chart plots, as plain data (tests check this rather than pixels)."""
    bins = analysis.bins
    ratio = np.where(bins["total"] > 0, bins["failed"] / np.maximum(bins["total"], 1), 0.0)
    alerts: list[tuple[float, float | None, str]] = []
    actions: list[tuple[float, str]] = []
    for inc in analysis.incidents:
        for a in inc.alerts:
            alerts.append((float(a["ts"]), end_of(a["end"]),
                           str(a["attrs"].get("alertname", "alert"))))
        actions.extend((e.ts, f"{e.host} {e.kind}") for e in inc.timeline
                       if e.kind in ACTION_KINDS)
    return {
        "x": bins.index.to_numpy(dtype=float),
        "series": {name: bins[name].to_numpy() for name, _, _ in SERIES},
        "failure_ratio": ratio,
        "windows": [(i.start, i.end) for i in analysis.incidents],
        "alerts": sorted(set(alerts), key=lambda a: (a[0], a[2])),
        "actions": sorted(set(actions)),
    }


def write_chart(analysis: Analysis, path: Path) -> None:
    """Render the chart to a PNG file (matplotlib, Agg backend, deterministic metadata)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    data = chart_data(analysis)

    def to_dt(values: Any) -> Any:
        return pd.to_datetime(np.asarray(values, dtype=float), unit="s", utc=True)

    x = to_dt(data["x"])
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    # Stacked areas drawn as steps (one polygon per series): a day of 1-minute bins would be
    # thousands of bar patches, which matplotlib draws slowly.
    shown = [(name, colour, label) for name, colour, label in SERIES
             if data["series"][name].any() or name == "2xx"]
    if len(x):
        ax.stackplot(x, *[data["series"][name] for name, _, _ in shown],
                     colors=[c for _, c, _ in shown], labels=[lb for _, _, lb in shown],
                     step="post", linewidth=0)
    bottom = np.sum([data["series"][name] for name, _, _ in shown], axis=0) if shown else \
        np.zeros(len(x))
    ax2.step(x, 100 * data["failure_ratio"], where="post", color="#c83232", linewidth=1)
    ax2.set_ylabel("failed %")
    ax2.set_ylim(0, max(5.0, 100 * float(np.max(data["failure_ratio"], initial=0)) * 1.1))
    for start, end in data["windows"]:
        for a in (ax, ax2):
            a.axvspan(to_dt([start])[0], to_dt([end])[0], color="#c83232", alpha=0.12,
                      label="incident window" if a is ax and start == data["windows"][0][0]
                      else None)
    top = float(bottom.max()) if len(bottom) else 1.0
    for i, (start, end, name) in enumerate(data["alerts"]):
        y = top * (1.02 + 0.06 * (i % 4))
        stop = end if end is not None else float(data["x"][-1]) + analysis.bin_s
        ax.hlines(y, to_dt([start])[0], to_dt([stop])[0], color="#1f5fbf", linewidth=4)
        ax.annotate(mpl(f"alert {name}"), (to_dt([start])[0], y), fontsize=7,
                    xytext=(2, 3), textcoords="offset points", color="#1f5fbf")
    for ts, label in data["actions"]:
        ax.axvline(to_dt([ts])[0], color="#333333", linestyle="--", linewidth=0.8)
        ax.annotate(mpl(label), (to_dt([ts])[0], 0), rotation=90, fontsize=7,
                    xytext=(2, 4), textcoords="offset points", va="bottom")
    ax.set_ylim(0, top * 1.3 + 1)
    ax.set_ylabel(f"requests per {analysis.bin_s // 60 or 1} min")
    ax.set_title("Requests at the edge by status, incident window shaded")
    ax.legend(loc="upper left", fontsize=8)
    ax2.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz="UTC"))  # type: ignore[no-untyped-call]
    ax2.set_xlabel("time (UTC)")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
