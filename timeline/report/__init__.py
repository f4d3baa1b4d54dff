"""Writers: Markdown postmortem, HTML report, JSON, JSONL timeline, charts (PNG, SVG); all
published whole through :mod:`.atomic`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from timeline.errors import UsageError
from timeline.model import Analysis
from timeline.report.atomic import ReportBusyError, Stage, publish, report_lock
from timeline.report.clock import UTC, Clock
from timeline.report.json_writer import to_json
from timeline.report.markdown import is_html_template, to_markdown

__all__ = ["DEFAULT_FORMATS", "FILES", "Clock", "ReportBusyError", "Stage", "parse_formats",
           "publish", "report_lock", "to_json", "to_markdown", "write_report"]

#: Every output format and the file it writes, in the order they are written.
FILES = {"md": "postmortem.md", "json": "timeline.json", "jsonl": "timeline.jsonl",
         "png": "timeline.png", "svg": "timeline.svg", "html": "report.html"}

#: What ``build`` writes when ``--format`` is not given.
DEFAULT_FORMATS = ("md", "json", "png", "html")


def parse_formats(text: str) -> tuple[str, ...]:
    """``--format md,html``: the formats named, in :data:`FILES` order, each once.

    Raises:
        UsageError: for an empty list or an unknown name.
    """
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FILES]
    if unknown or not names:
        what = f"unknown format {unknown[0]}" if unknown else "no format given"
        raise UsageError(f"--format {text}: {what}; choose from {', '.join(FILES)} "
                         "(comma-separated)")
    return tuple(n for n in FILES if n in names)


def write_report(analysis: Analysis, outdir: Path, *, chart: bool = True,
                 formats: Sequence[str] = DEFAULT_FORMATS, clock: Clock = UTC,
                 template: str = "default", redact: bool = False) -> list[Path]:
    """Write the chosen formats (:data:`FILES`) into ``outdir``.

    ``template`` is a built-in template's name or the path of a user's Jinja2 template (one
    whose name ends in ``.html`` writes ``postmortem.html`` instead). With ``redact``, every
    output is written from a redacted copy of the analysis (:mod:`timeline.redact`), with
    one random key for all of them.

    The folder is replaced whole (see :mod:`timeline.report.atomic`): a reader sees the
    previous report or this one, never a mix, and no symlink at a report name is followed.
    A new output goes into ``fill`` below, through the :class:`Stage`.

    Args:
        analysis: The result of :func:`timeline.build`.
        outdir: Created when missing.
        chart: False leaves out the PNG and the SVG files (the HTML keeps its chart).
        formats: Names from :data:`FILES`; the default writes ``postmortem.md``,
            ``timeline.json``, ``timeline.png`` and ``report.html``.
        clock: The zone the Markdown, HTML and charts show times in (JSON stays UTC).

    Returns:
        The paths written, in :data:`FILES` order.

    Raises:
        ReportBusyError: another build is writing ``outdir``.
        InputError: ``outdir`` is not a folder.
        OSError: the report cannot be written (the previous one is left as it was).
    """
    from timeline.report.chart import ChartData, chart_data, write_chart
    from timeline.report.html import to_html
    from timeline.report.jsonl import to_jsonl
    from timeline.report.svg import to_svg

    note = ""
    if redact:
        from timeline.redact import REDACTION_NOTE, redact_analysis

        analysis, note = redact_analysis(analysis), REDACTION_NOTE
    # Rendered before the folder is touched: a broken user template changes nothing.
    draft = ("postmortem.html" if is_html_template(template) else FILES["md"],
             to_markdown(analysis, template=template, redaction_note=note, clock=clock)
             if "md" in formats else "")
    data: list[ChartData] = []

    def chart_once() -> ChartData:
        if not data:
            data.append(chart_data(analysis))
        return data[0]

    writers: dict[str, Callable[[Stage, str], object]] = {
        "md": lambda st, name: st.write_text(draft[0], draft[1]),
        "json": lambda st, name: st.write_text(name, to_json(analysis, redacted=redact)),
        "jsonl": lambda st, name: st.write_text(name, to_jsonl(analysis)),
        "png": lambda st, name: write_chart(analysis, st.path(name), clock, chart_once()),
        "svg": lambda st, name: st.write_text(name, to_svg(chart_once(), clock)),
        "html": lambda st, name: st.write_text(
            name, to_html(analysis, clock, chart_once(), redaction_note=note,
                          template=template, markdown=draft[1] or None)),
    }

    def fill(stage: Stage) -> None:
        for fmt, name in FILES.items():
            if fmt in formats and (chart or fmt not in ("png", "svg")):
                writers[fmt](stage, name)

    return publish(outdir, fill)
