"""Writers: Markdown postmortem, JSON, chart."""

from __future__ import annotations

from pathlib import Path

from timeline.model import Analysis
from timeline.report.json_writer import to_json
from timeline.report.markdown import to_markdown

__all__ = ["to_json", "to_markdown", "write_report"]


def write_report(analysis: Analysis, outdir: Path, *, chart: bool = True) -> list[Path]:
    """Write ``postmortem.md``, ``timeline.json`` and ``timeline.png`` into ``outdir``.

    Returns:
        The paths written.
    """
    from timeline.report.chart import write_chart

    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    md_path = outdir / "postmortem.md"
    md_path.write_text(to_markdown(analysis), encoding="utf-8")
    written.append(md_path)
    json_path = outdir / "timeline.json"
    json_path.write_text(to_json(analysis), encoding="utf-8")
    written.append(json_path)
    if chart:
        png = outdir / "timeline.png"
        write_chart(analysis, png)
        written.append(png)
    return written
