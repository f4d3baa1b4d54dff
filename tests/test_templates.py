"""Templates (--template): the built-ins render on the seed with every section their
format asks for, every field is marked, user templates run sandboxed and escaped, and the
context object is documented key by key in docs/templates.md."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import timeline
from timeline.cli import ExitCode, app
from timeline.model import Analysis, KeyTime, KeyTimes
from timeline.report import context as ctxmod
from timeline.report.context import ReportContext, build_context
from timeline.report.markdown import BUILTIN_TEMPLATES, render

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
DOCS = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8")
runner = CliRunner()

GOOGLE_SRE_SECTIONS = ("## Summary", "## Impact", "## Root Causes", "## Trigger",
                       "## Resolution", "## Detection", "## Action Items",
                       "## Lessons Learned", "### What went well", "### What went wrong",
                       "### Where we got lucky", "## Timeline", "## Supporting information")


@pytest.fixture(scope="module")
def seed() -> Analysis:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return timeline.build(timeline.read([os.path.relpath(SEED, ROOT)]))
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def ctx(seed: Analysis) -> ReportContext:
    return build_context(seed)


@pytest.mark.parametrize("name", sorted(BUILTIN_TEMPLATES))
def test_each_builtin_renders_the_seed_with_its_key_times(ctx: ReportContext,
                                                          name: str) -> None:
    text = render(ctx, name)
    assert "2023-03-20 12:30:00 UTC" in text and "2023-03-20 14:14:54 UTC" in text
    assert "| Impact start | 2023-03-20 12:30:00 UTC | T+00:00 |" in text
    assert "`sample_logs/seed-outage/lb-1/access.log:1623`" in text
    assert "| Detected (first alert) | 2023-03-20 12:30:52 UTC | T+00:52 |" in text
    assert "Time to detect 53 s" in text
    # Not known is said with the reason, never filled in.
    assert "| Acknowledged | not known | - | the related alerts come from alertmanager" in text
    assert render(ctx, name) == text  # deterministic


def test_google_sre_has_every_section_in_order(ctx: ReportContext) -> None:
    text = render(ctx, "google-sre")
    at = [text.index(s + "\n") for s in GOOGLE_SRE_SECTIONS]
    assert at == sorted(at)
    head = text.index("| action | type | owner | priority | bug |")
    assert text.index("## Action Items") < head < text.index("## Lessons Learned")


def test_every_field_is_marked(ctx: ReportContext) -> None:
    for name in ("google-sre", "pagerduty", "atlassian"):
        text = render(ctx, name)
        # Each list item and table row of the narrative sections says how it is known.
        body = text[:text.index("## Timeline")]
        rows = [ln for ln in body.splitlines() if re.match(r"^(- |\| [^-|])", ln)
                and not ln.startswith(("| host |", "| field |", "| action |", "| |",
                                       "| lb-1", "| web-"))]
        unmarked = [ln for ln in rows if not re.search(r"\*measured\*|\*suggested\*|TODO|"
                                                       r"not known", ln)]
        assert unmarked == [], name
    severity = ctx.severity
    assert severity is not None and severity.level == "SEV2"
    assert severity.marked.status == "suggested" and "15.0% of users" in severity.marked.why
    assert all(a.owner.status == "todo" and a.type.status == "suggested"
               for a in ctx.action_items)
    assert ctx.lessons is not None and ctx.lessons.lucky[-1].status == "todo"


def test_no_incident_renders_in_every_template() -> None:
    quiet = timeline.build(timeline.read([str(ROOT / "sample_logs" / "quiet-day")]))
    for name in BUILTIN_TEMPLATES:
        assert "## No incident found" in render(build_context(quiet), name)


def _build(tmp_path: Path, *args: str) -> tuple[int, str, Path]:
    out = tmp_path / "report"
    result = runner.invoke(app, ["build", str(SEED), "-o", str(out), "-q", *args])
    return result.exit_code, result.output, out


def test_user_markdown_template_is_escaped_and_sandboxed(tmp_path: Path) -> None:
    tpl = tmp_path / "mine.md.j2"
    tpl.write_text("# {{ title }}\n{% for e in timeline %}- {{ e.t_plus }} {{ e.text }} "
                   "{{ e.source | code }}\n{% endfor %}{{ '<b>*x*</b>' }} {{ '*y*' | raw }}\n")
    code, output, out = _build(tmp_path, "--template", str(tpl))
    assert code == 0, output
    text = (out / "postmortem.md").read_text()
    assert "- T+00:52 Alert NginxHighErrorRate firing (critical) on lb-1:9113 " in text
    assert "\\<b\\>\\*x\\*\\</b\\> *y*" in text  # printed strings are escaped, |raw is not
    assert "/seed-outage/alertmanager/webhook.jsonl:2`" in text
    # The sandbox refuses Python internals: a clear error, exit 2, nothing written.
    evil = tmp_path / "evil.md.j2"
    evil.write_text("{{ fmt_ts.__globals__ }}\n{{ title.__class__.__mro__[1].__subclasses__() }}")
    code, output, out2 = _build(tmp_path / "2", "--template", str(evil))
    assert code == ExitCode.USAGE and "--template" in output and not out2.exists()


def test_user_markdown_template_is_the_html_page_too(tmp_path: Path) -> None:
    """A user's Markdown template gives report.html its own text (it had the default
    page's); raw HTML that the template lets through (``|raw``) shows as text there, and a
    redaction note the template leaves out is still on the page."""
    tpl = tmp_path / "mine.md.j2"
    tpl.write_text("# Ours: {{ title }}\n\n## What we saw\n\n{{ '<img src=x onerror=y>' | raw }}"
                   "\n\n## When\n\n| t | what |\n|---|---|\n"
                   "{% for e in timeline %}| {{ e.t_plus }} | {{ e.text }} |\n{% endfor %}")
    code, output, out = _build(tmp_path, "--template", str(tpl), "--redact")
    assert code == 0, output
    page = (out / "report.html").read_text()
    assert "<h1>Ours: " in page and "<h2>What we saw</h2>" in page and "<h2>When</h2>" in page
    assert "&lt;img src=x onerror=y&gt;" in page and "<img" not in page
    assert page.count("<tr>") > 3 and 'class="tl-chart' in page
    assert "Redacted with" in page


def test_user_html_template_autoescapes(tmp_path: Path) -> None:
    tpl = tmp_path / "mine.html"
    tpl.write_text("<h1>{{ title }}</h1><p>{{ '<script>x</script>' }}</p>"
                   "<p>{{ timeline[0].source | code }}</p>\n")
    code, output, out = _build(tmp_path, "--template", str(tpl))
    assert code == 0, output
    html = (out / "postmortem.html").read_text()
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>" not in html
    assert "/seed-outage/lb-1/access.log:1623</code>" in html
    assert not (out / "postmortem.md").exists()


@pytest.mark.parametrize("body, message", [
    ("{% for x in %}", "line 1"), ("\n{{ no_such_key }}", "no_such_key")])
def test_broken_user_template_is_a_usage_error(tmp_path: Path, body: str,
                                               message: str) -> None:
    tpl = tmp_path / "broken.md.j2"
    tpl.write_text(body)
    code, output, _ = _build(tmp_path, "--template", str(tpl))
    assert code == ExitCode.USAGE and message in output and "Traceback" not in output
    code, output, _ = _build(tmp_path, "--template", "no-such-template")
    assert code == ExitCode.USAGE and "not a built-in template" in output


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_every_context_key_is_documented() -> None:
    keys = _fields(ReportContext) + _fields(KeyTimes) + _fields(KeyTime)
    for cls in (ctxmod.Marked, ctxmod.TimelineRow, ctxmod.ActionItem, ctxmod.Severity,
                ctxmod.Lessons, ctxmod.SourceNote):
        keys += _fields(cls)
    assert sorted(k for k in set(keys) if f"`{k}`" not in DOCS) == []
    for name in BUILTIN_TEMPLATES:
        assert f"`{name}`" in DOCS
