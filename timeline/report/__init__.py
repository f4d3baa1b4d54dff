"""Writers: Markdown postmortem, JSON, chart; all published whole through :mod:`.atomic`."""

from __future__ import annotations

from pathlib import Path

from timeline.model import Analysis
from timeline.report.atomic import ReportBusyError, Stage, publish, report_lock
from timeline.report.json_writer import to_json
from timeline.report.markdown import to_markdown

__all__ = ["ReportBusyError", "Stage", "publish", "report_lock", "to_json", "to_markdown",
           "write_report"]


def write_report(analysis: Analysis, outdir: Path, *, chart: bool = True) -> list[Path]:
    """Write ``postmortem.md``, ``timeline.json`` and ``timeline.png`` into ``outdir``.

    The folder is replaced whole (see :mod:`timeline.report.atomic`): a reader sees the
    previous report or this one, never a mix, and no symlink at a report name is followed.
    A new output goes into ``fill`` below, through the :class:`Stage`.

    Returns:
        The paths written.

    Raises:
        ReportBusyError: another build is writing ``outdir``.
        InputError: ``outdir`` is not a folder.
        OSError: the report cannot be written (the previous one is left as it was).
    """

    def fill(stage: Stage) -> None:
        stage.write_text("postmortem.md", to_markdown(analysis))
        stage.write_text("timeline.json", to_json(analysis))
        if chart:
            from timeline.report.chart import write_chart

            write_chart(analysis, stage.path("timeline.png"))

    return publish(outdir, fill)
