"""``report.html``: the postmortem as one self-contained page.

The same content as ``postmortem.md`` plus the chart inlined as SVG (a hover title on every
bin and marker), timeline rows that link to their evidence in an appendix, a dark variant
that follows the reader's setting and a print stylesheet. One file: the CSS is inline, the
chart is inline SVG, there is no script at all and nothing is fetched from anywhere (a
Content-Security-Policy in the page forbids it too, so a hostile log line that slipped
through the escaping still could not run or load anything).

Every value from the input goes through Jinja2's autoescape (HTML-escaped) after its
control characters are replaced (``escape.strip_control``): log text shows as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from timeline.model import Analysis
from timeline.report.chart import ChartData, chart_data
from timeline.report.clock import UTC, Clock
from timeline.report.context import ReportContext, build_context
from timeline.report.escape import html, strip_control
from timeline.report.markdown import is_html_template, render
from timeline.report.svg import to_svg


@dataclass
class Evidence:
    """A cited ``file:line`` and what cites it, with its anchor in the appendix."""

    anchor: str
    source: str
    cited_by: list[str] = field(default_factory=list)


def _finalize(value: Any) -> Any:
    """Every printed value: control characters (terminal escapes, bidi overrides) replaced
    before autoescape, so log text cannot reorder or hide what the page shows."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return strip_control(value)


_CODE = re.compile(r"`([^`]+)`")


def prose(text: object) -> Markup:
    """The tool's own sentences (method, suggestions), escaped, with ```x``` as code."""
    return Markup(_CODE.sub(r"<code>\1</code>", html(text)))


def breakable(text: object) -> Markup:
    """A path or ``file:line``, escaped, that may wrap after each ``/`` (no other break)."""
    return Markup(html(text).replace("/", "/<wbr>"))


def evidence_index(ctx: ReportContext) -> dict[str, Evidence]:
    """Every source the report cites (timeline rows and their links, key times, detection),
    in order of first citation."""
    out: dict[str, Evidence] = {}

    def cite(source: str, by: str) -> None:
        if not source:
            return
        ev = out.get(source)
        if ev is None:
            ev = out[source] = Evidence(f"ev-{len(out) + 1}", source)
        if by not in ev.cited_by:
            ev.cited_by.append(by)

    for row in ctx.timeline:
        cite(row.source, f"{ctx.fmt_ts(row.ts)}: {row.text}")
        for link in row.links:
            cite(link.source or "", link.text)
            cite(link.mapping_source or "", link.why)
    if ctx.key_times is not None:
        for name, k in ctx.key_times.items():
            if k.ts is not None:
                cite(k.evidence, f"Key time: {ctx.key_time_labels[name]}")
    if ctx.inc is not None and ctx.inc.first_alert is not None:
        cite(ctx.inc.first_alert_source, "Detection: first alert")
    return out


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("timeline.report", "templates"),
        autoescape=True,
        finalize=_finalize,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["prose"] = prose
    env.filters["breakable"] = breakable
    return env


def _markdown_renderer() -> MarkdownIt:
    """CommonMark with tables, and raw HTML off: a ``<script>`` that reached the Markdown
    (escaped there as ``\\<script\\>``, or raw from a user's template) is shown as text;
    markdown-it also refuses ``javascript:``, ``vbscript:`` and ``data:`` link targets
    (other than images)."""
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_page(markdown: str, ctx: ReportContext, chart: Markup, template: str) -> str:
    """``report.html`` for a Markdown template other than the default: the draft's own text
    (the same as ``postmortem.md``), rendered, with the chart after its title and lede (at
    its first second-level heading) and the page's styles, zone note and redaction note.

    The default template has a hand-made page (evidence links, hover titles on every row);
    a template chosen by name or written by a user gets its sections as they are.
    """
    md = _markdown_renderer()
    tokens = md.parse(markdown)
    cut = next((i for i, t in enumerate(tokens)
                if t.type == "heading_open" and t.tag == "h2" and t.level == 0), len(tokens))
    return _environment().get_template("report_markdown.html.j2").render(
        **ctx.as_mapping(),
        template_name=template,
        # A user's template may leave out the note; the page must still say it.
        show_redaction_note=ctx.redacted and ctx.redaction_note not in markdown,
        before_chart=Markup(md.renderer.render(tokens[:cut], md.options, {})),
        after_chart=Markup(md.renderer.render(tokens[cut:], md.options, {})),
        chart=chart,
    )


def to_html(analysis: Analysis, clock: Clock = UTC, data: ChartData | None = None, *,
            redaction_note: str = "", template: str = "default",
            markdown: str | None = None) -> str:
    """Render ``report.html`` from the report context (deterministic for the same input).

    Args:
        analysis: The analysis (already redacted when ``redaction_note`` is set).
        clock: The zone times are shown in.
        data: The chart's data, when the caller has it already.
        redaction_note: What ``--redact`` replaced, in words ("" when not redacted).
        template: ``--template``: the default and a user's HTML template (which writes its
            own ``postmortem.html``) get the hand-made page; any other Markdown template
            gets its own text as the page (:func:`markdown_page`).
        markdown: That template's draft, when the caller has rendered it already.
    """
    ctx = build_context(analysis, redaction_note=redaction_note, display_tz=clock.zone)
    data = data if data is not None else chart_data(analysis)
    if template != "default" and not is_html_template(template):
        if markdown is None:
            markdown = render(ctx, template)
        return markdown_page(markdown, ctx, Markup(to_svg(data, clock, standalone=False)),
                             template)
    return _environment().get_template("report.html.j2").render(
        **ctx.as_mapping(),
        evidence=evidence_index(ctx),
        chart=Markup(to_svg(data, clock, standalone=False)),
    )
