"""``postmortem.md``: the draft postmortem, rendered from the report context
(:mod:`timeline.report.context`) by a built-in template or a user's own Jinja2 template."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import markupsafe
from jinja2.sandbox import ImmutableSandboxedEnvironment

from timeline.errors import UsageError
from timeline.model import Analysis
from timeline.report.clock import UTC, Clock
from timeline.report.context import (
    SUGGESTIONS,
    ReportContext,
    build_context,
    principal,
)
from timeline.report.escape import md, md_code

__all__ = ["BUILTIN_TEMPLATES", "SUGGESTIONS", "check_template", "is_html_template",
           "principal", "render", "to_markdown"]

#: The built-in templates by ``--template`` name.
BUILTIN_TEMPLATES = {
    "default": "postmortem.md.j2",
    "google-sre": "google-sre.md.j2",
    "pagerduty": "pagerduty.md.j2",
    "atlassian": "atlassian.md.j2",
}

#: A user template whose file name ends so renders HTML, with autoescape on.
_HTML_SUFFIXES = (".html", ".htm", ".html.j2", ".htm.j2", ".xhtml", ".xml")


def is_html_template(template: str) -> bool:
    """True when ``--template`` names a user template that writes HTML."""
    return template not in BUILTIN_TEMPLATES and template.lower().endswith(_HTML_SUFFIXES)


class _MdSafe(str):
    """Text already escaped for Markdown (by ``|md``, ``|code`` or ``|raw``)."""

    __slots__ = ()


def _user_md_finalize(value: object) -> object:
    """Autoescape for a user's Markdown template: every string printed is escaped unless a
    filter already escaped it (or ``|raw`` vouched for it)."""
    if isinstance(value, str) and not isinstance(value, _MdSafe):
        return md(value)
    return value


def _builtin_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("timeline.report", "templates"),
        autoescape=False,  # Markdown, not HTML: every log-derived value goes through |md or |code
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md
    env.filters["code"] = md_code
    return env


def _user_env(path: Path) -> jinja2.Environment:
    """A sandbox for a user's template: no access to Python internals, nothing mutable;
    HTML templates autoescape, Markdown ones escape every printed string for Markdown."""
    html = is_html_template(str(path))
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(path.parent)),
        autoescape=html,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=None if html else _user_md_finalize,
    )
    if html:
        env.filters["md"] = markupsafe.escape
        env.filters["code"] = lambda t: markupsafe.Markup("<code>{}</code>").format(str(t))
    else:
        env.filters["md"] = lambda t: _MdSafe(md(t))
        env.filters["code"] = lambda t: _MdSafe(md_code(t))
        env.filters["raw"] = lambda t: _MdSafe(str(t))
    return env


def _load(template: str) -> jinja2.Template:
    """The template ``--template`` names: a built-in name, or the path of a Jinja2 file."""
    if template in BUILTIN_TEMPLATES:
        return _builtin_env().get_template(BUILTIN_TEMPLATES[template])
    path = Path(template)
    if not path.is_file():
        raise UsageError(f"--template {template}: not a built-in template "
                         f"({', '.join(BUILTIN_TEMPLATES)}) nor a readable file")
    try:
        return _user_env(path).get_template(path.name)
    except jinja2.TemplateSyntaxError as exc:
        raise UsageError(f"--template {template}: line {exc.lineno}: {exc.message}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--template {template}: cannot read it: {exc}") from None


def check_template(template: str) -> None:
    """Load ``--template`` now (before any input is read): raises :class:`UsageError` when
    it is unknown or malformed."""
    _load(template)


def render(ctx: ReportContext, template: str = "default") -> str:
    """Render ``ctx`` with a template: a built-in name (``default``, ``google-sre``,
    ``pagerduty``, ``atlassian``) or the path of a user's Jinja2 template.

    Raises:
        UsageError: the template is unknown, malformed, or uses a key the context lacks.
    """
    tpl = _load(template)
    try:
        text = tpl.render(**ctx.as_mapping())
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError) as exc:
        if template in BUILTIN_TEMPLATES:
            raise
        line = _error_line(exc, template)
        raise UsageError(f"--template {template}{line}: {type(exc).__name__}: {exc}") from None
    if is_html_template(template):
        return text
    # Template control blocks leave runs of blank lines; Markdown treats them as one, and
    # escaped log text never contains a raw newline, so collapsing them is safe.
    return re.sub(r"\n{3,}", "\n\n", text)


def _error_line(exc: BaseException, template: str) -> str:
    """``: line N`` of the user template where rendering failed, when the traceback says."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(Path(template).name):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f": line {line}" if line else ""


def to_markdown(analysis: Analysis, *, template: str = "default",
                redaction_note: str = "", clock: Clock = UTC) -> str:
    """Render the postmortem draft (deterministic for the same input), its times shown in
    ``clock``'s zone."""
    return render(build_context(analysis, redaction_note=redaction_note,
                                display_tz=clock.zone), template)
