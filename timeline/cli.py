"""The command line: parse arguments, call the library, map errors to exit codes.

No business logic here: everything below calls the public API of :mod:`timeline`, so that
what the command line can do, a caller of the library can do too.
"""

from __future__ import annotations

import sys
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated

import typer

import parsers
import timeline
from timeline.entry import main as entry_main
from timeline.report import report_lock
from timeline.report.escape import terminal
from timeline.report.lint import lint as lint_text
from timeline.report.markdown import check_template


class ExitCode(IntEnum):
    """Exit codes of every command (also listed in README.md)."""

    OK = 0
    #: An unexpected internal error (a bug: please report it).
    INTERNAL = 1
    #: Bad option value (unknown zone, malformed --window...).
    USAGE = 2
    #: A path is missing or unreadable.
    INPUT = 3
    #: Nothing in the inputs is in a supported format.
    UNRECOGNISED = 4
    #: A file could not be parsed (malformed JSON, or a bad line with --on-bad-lines error).
    BAD_DATA = 5
    #: ``lint``: the draft has faults (listed with their line numbers).
    LINT = 6
    #: A worker process of the parse was killed from outside (out of memory, most often).
    WORKER_LOST = 7


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Turn the Nginx logs and alert exports of an outage into a draft postmortem.",
    pretty_exceptions_enable=False,
)



class BadLines(StrEnum):
    """``--on-bad-lines``: what to do with a line its format's parser rejects."""

    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"

    @property
    def policy(self) -> parsers.base.OnBadLines:
        """The same choice as the library spells it."""
        return _POLICY[self]


_POLICY: dict[BadLines, parsers.base.OnBadLines] = {
    BadLines.WARN: "warn", BadLines.SKIP: "skip", BadLines.ERROR: "error"}
PathsArg = Annotated[list[str], typer.Argument(
    help="Log files or folders (searched recursively; one folder per host), or - for stdin.",
    show_default=False)]
TzOpt = Annotated[str | None, typer.Option(
    "--tz", help="IANA zone of error logs (local time without offset), e.g. Europe/Berlin. "
    "Default: the offset of the same host's access log, else UTC.")]
HostOpt = Annotated[str | None, typer.Option(
    "--host", help="Host name for every file (default: the name of the folder holding it).")]
HostFromLineOpt = Annotated[bool, typer.Option(
    "--host-from-line", help="Take each request's host from $host (or the vhost prefix) "
    "in the line, for one file written by several sites; lines without one keep the "
    "folder's name.")]
NginxConfOpt = Annotated[str | None, typer.Option(
    "--nginx-conf", help="nginx.conf (or the folder holding it) copied from the host: its "
    "log_format and access_log directives tell which format each access log uses; its "
    "server blocks and sites without a link in sites-enabled go into the report.")]
SinceOpt = Annotated[str | None, typer.Option(
    "--since", help="Analyse only what happened from this time (UTC unless an offset is "
    "given), e.g. 2023-03-20T12:00Z.")]
UntilOpt = Annotated[str | None, typer.Option(
    "--until", help="Analyse only what happened until this time.")]
LogFormatOpt = Annotated[str | None, typer.Option(
    "--log-format", help="The Nginx log_format of access logs that are not combined/main, "
    "as in nginx.conf (e.g. '$remote_addr [$time_local] \"$request\" $status "
    "$request_time'), or a predefined name: combined, main, common, vhost_combined, "
    "ingress_nginx. Prefix escape=json for JSON logs. Without it, JSON logs (by their keys) "
    "and timing fields after combined/main (by their shape) are recognised.")]
JobsOpt = Annotated[int, typer.Option(
    "--jobs", "-j", help="Worker processes for parsing (0: one per CPU core; never more "
    "than the CPUs).", min=0)]
SchedulerOpt = Annotated[str | None, typer.Option(
    "--scheduler", help="Parse on a Dask cluster: the scheduler's address, e.g. "
    "tcp://10.0.0.5:8786. The workers must see the input files at the same paths. "
    "Needs pip install 'incident-timeline\\[dask]'.")]
UserKeyOpt = Annotated[str, typer.Option(
    "--user-key", help="What a user is: ip (the client address), ip+ua (address and user "
    "agent), or a field: remote_user / $remote_user, forwarded_for / $http_x_forwarded_for "
    "(its first address), or any variable a --log-format logs, such as $cookie_session. "
    "Requests whose field is empty or - count by client address.")]
ExcludeClientOpt = Annotated[list[str] | None, typer.Option(
    "--exclude-client", help="Clients that are not users, besides the known monitoring "
    "probes (repeatable): an IP or CIDR network (10.0.0.0/8, 2001:db8::/32), ua:REGEX for "
    "user agents, or path:PREFIX for clients that request only paths under PREFIX. Their "
    "requests are left out of the impact counts.", show_default=False)]
SloOpt = Annotated[float | None, typer.Option(
    "--slo", help="Availability target in percent, e.g. 99.9: adds the error budget the "
    "incident consumed (over the analysed span) and its peak burn rates.",
    show_default=False)]
FormatOpt = Annotated[str, typer.Option(
    "--format", help="Outputs to write, comma-separated: md (postmortem.md), html "
    "(report.html), json (timeline.json), jsonl (timeline.jsonl, the timeline for "
    "Timesketch), png (timeline.png), svg (timeline.svg).")]
DisplayTzOpt = Annotated[str, typer.Option(
    "--display-tz", help="IANA zone the Markdown, HTML and charts show times in, e.g. "
    "Europe/Berlin (each time with its offset). The JSON stays in UTC.")]
TemplateOpt = Annotated[str, typer.Option(
    "--template", help="The shape of the draft: default, google-sre, pagerduty, atlassian, "
    "or the path of your own Jinja2 template (run in a sandbox; a name ending in .html "
    "autoescapes HTML and writes postmortem.html). Its context: docs/templates.md.")]
RedactOpt = Annotated[bool, typer.Option(
    "--redact", help="Replace client addresses, user names, cookies, query-string values "
    "and tokens in every output by keyed hashes (a random key per build, never stored); "
    "the figures are unchanged.")]
MaxLineOpt = Annotated[int, typer.Option(
    "--max-line-bytes", help="Longest line read, in bytes: a longer line is rejected with "
    "its length (never held in memory whole). JSON and CSV exports are read as documents; "
    "a CSV field is capped alike.")]
MaxExportOpt = Annotated[int, typer.Option(
    "--max-export-bytes", help="Largest JSON or CSV export (or log store answer) read: they "
    "are parsed whole, in memory a few times their size; a longer one stops the build with "
    "its name.")]
NoSkewOpt = Annotated[bool, typer.Option(
    "--no-skew-correction", help="Keep every host's times as logged, even when a backend's "
    "clock is over a second off its proxy's (the offset is still reported).")]
BadLinesOpt = Annotated[BadLines, typer.Option(
    "--on-bad-lines", help="warn: count and report bad lines; skip: count quietly; "
    "error: stop at the first bad line.")]


#: ``--format``'s default, spelled as the option takes it.
DEFAULT_FORMATS = ",".join(timeline.report.DEFAULT_FORMATS)


def _fail(code: ExitCode, message: str) -> typer.Exit:
    typer.echo(f"incident-timeline: error: {terminal(message)}", err=True)
    return typer.Exit(code=int(code))


def _epoch(text: str | None) -> float | None:
    """``--since``/``--until`` as epoch seconds."""
    try:
        return timeline.ingest.epoch_of(text) if text else None
    except timeline.UsageError as exc:
        raise _fail(ExitCode.USAGE, f"--since/--until: {exc}") from None


def _read(paths: list[str], options: timeline.ReadOptions, quiet: bool) -> timeline.Dataset:
    """Read the inputs, with a progress bar on a terminal when there is much to parse."""
    try:
        planned = timeline.plan_read(paths, options)
        if quiet or not sys.stderr.isatty() or planned.size <= 4 << 20:
            return planned.read()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with Progress("reading", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), transient=True, console=Console(stderr=True)
                      ) as progress:
            task = progress.add_task("read", total=planned.size)
            return planned.read(lambda n: progress.advance(task, n))
    except timeline.InputError as exc:
        raise _fail(ExitCode.INPUT, str(exc)) from None
    except timeline.NothingRecognisedError as exc:
        raise _fail(ExitCode.UNRECOGNISED, str(exc)) from None
    except timeline.UsageError as exc:
        raise _fail(ExitCode.USAGE, str(exc)) from None
    except parsers.ParseError as exc:
        raise _fail(ExitCode.BAD_DATA, str(exc)) from None
    except timeline.WorkerLostError as exc:
        raise _fail(ExitCode.WORKER_LOST, str(exc)) from None


def _window(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    start, sep, end = text.partition("..")
    if not sep or not start or not end:
        raise _fail(ExitCode.USAGE, f"--window {text}: use START..END, e.g. "
                    "2023-03-20T12:30Z..2023-03-20T14:15Z")
    try:
        a, b = timeline.ingest.epoch_of(start), timeline.ingest.epoch_of(end)
    except timeline.UsageError as exc:
        raise _fail(ExitCode.USAGE, f"--window: {exc}") from None
    if b <= a:
        raise _fail(ExitCode.USAGE, f"--window {text}: the end must come after the start")
    return a, b


@app.command()
def build(
    paths: PathsArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder to write the report into.")]
    = Path("incident-report"),
    window: Annotated[str | None, typer.Option(
        "--window", help="Use this window instead of detecting one: START..END (UTC unless "
        "an offset is given).")] = None,
    tz: TzOpt = None,
    host: HostOpt = None,
    on_bad_lines: BadLinesOpt = BadLines.WARN,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
    = False,
    jobs: JobsOpt = 0,
    scheduler: SchedulerOpt = None,
    log_format: LogFormatOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    nginx_conf: NginxConfOpt = None,
    host_from_line: HostFromLineOpt = False,
    user_key: UserKeyOpt = "ip",
    exclude_client: ExcludeClientOpt = None,
    slo: SloOpt = None,
    formats: FormatOpt = DEFAULT_FORMATS,
    display_tz: DisplayTzOpt = "UTC",
    template: TemplateOpt = "default",
    redact: RedactOpt = False,
    max_line_bytes: MaxLineOpt = parsers.base.MAX_LINE_BYTES,
    max_export_bytes: MaxExportOpt = parsers.base.MAX_DOCUMENT_BYTES,
    no_skew_correction: NoSkewOpt = False,
) -> None:
    """Find the incident in the logs and write postmortem.md, timeline.json, timeline.png
    and report.html (or the outputs --format names).

    Example:

        incident-timeline build sample_logs/seed-outage/ -o report/ --slo 99.9
    """
    win = _window(window)
    try:
        # Checked before reading: a typo in an option should not cost a parse of the logs.
        options = timeline.AnalysisOptions(user_key=user_key,
                                           exclude_client=tuple(exclude_client or ()), slo=slo,
                                           skew_correction=not no_skew_correction)
        chosen = timeline.report.parse_formats(formats)
        clock = timeline.report.Clock(display_tz)
        check_template(template)
        read_options = timeline.ReadOptions(
            host=host, tz=tz, on_bad_lines=on_bad_lines.policy, jobs=jobs,
            log_format=log_format, host_from_line=host_from_line, since=_epoch(since),
            until=_epoch(until), nginx_conf=nginx_conf, scheduler=scheduler,
            exclude_client=options.exclude_client, max_line_bytes=max_line_bytes,
            max_document_bytes=max_export_bytes)
    except timeline.UsageError as exc:
        raise _fail(ExitCode.USAGE, str(exc)) from None
    try:
        # Held from before the read: a second build into the same folder is refused at once,
        # not after it has parsed everything.
        with report_lock(out):
            data = _read(paths, read_options, quiet)
            analysis = timeline.build(data, window=win, options=options)
            written = timeline.write_report(analysis, out, formats=chosen, clock=clock,
                                            template=template, redact=redact)
    except timeline.UsageError as exc:
        raise _fail(ExitCode.USAGE, str(exc)) from None
    except timeline.InputError as exc:
        raise _fail(ExitCode.INPUT, str(exc)) from None
    except timeline.WorkerLostError as exc:  # the second pass runs in the pool too
        raise _fail(ExitCode.WORKER_LOST, str(exc)) from None
    except OSError as exc:
        raise _fail(ExitCode.INPUT, f"{out}: cannot write the report: {exc.strerror}") from None
    # Every draft written is linted; a fault is a warning here (the draft is still useful).
    for p in written:
        if p.suffix == ".md":
            for finding in lint_text(p.read_text(encoding="utf-8")):
                typer.echo(f"incident-timeline: warning: lint: {terminal(p)}:{finding}",
                           err=True)
    if quiet:
        return
    from timeline.timefmt import fmt_ts

    bad = sum(s.rejected for s in data.sources)
    unknown = [s for s in data.sources if s.format == "unknown"]
    typer.echo(f"read {len(data.sources)} files: {sum(s.parsed for s in data.sources)} "
               f"records parsed, {bad} rejected, {len(unknown)} files skipped")
    for s in data.sources:
        if s.format != "unknown" and s.tz_note.startswith(("inferred", "assumed", "from")):
            typer.echo(f"  zone {terminal(s.tz)} for {terminal(s.path)} ({terminal(s.tz_note)})")
    if not analysis.incidents:
        typer.echo("no incident found")
    for i, inc in enumerate(analysis.incidents, start=1):
        cause = inc.causes[0] if inc.causes else None
        typer.echo(
            f"incident {i}: {fmt_ts(inc.start)} to {fmt_ts(inc.end)}, "
            f"{inc.impact.users_pct:.1f}% of users ({inc.impact.users_affected}/"
            f"{inc.impact.users_total}), "
            + (f"{inc.impact.requests_slow_pct:.1f}% of requests slower than "
               f"{inc.impact.slow_over_s:g} s" if inc.impact.slow_over_s is not None
               else f"{inc.impact.requests_pct:.1f}% of requests failed")
            + (f"; leading cause {cause.kind}" + (f" on {terminal(cause.host)}" if cause.host
                                                  else "") if cause else ""))
    for p in written:
        typer.echo(f"wrote {terminal(p)}")


@app.command()
def inspect(
    paths: PathsArg,
    tz: TzOpt = None,
    host: HostOpt = None,
    on_bad_lines: BadLinesOpt = BadLines.WARN,
    log_format: LogFormatOpt = None,
    nginx_conf: NginxConfOpt = None,
    max_line_bytes: MaxLineOpt = parsers.base.MAX_LINE_BYTES,
    max_export_bytes: MaxExportOpt = parsers.base.MAX_DOCUMENT_BYTES,
) -> None:
    """Show, per file: format, host, lines, parsed, rejected (first reasons), time range, zone.

    Example:

        incident-timeline inspect sample_logs/
    """
    from timeline.timefmt import fmt_ts

    try:
        read_options = timeline.ReadOptions(host=host, tz=tz, on_bad_lines=on_bad_lines.policy,
                                            log_format=log_format, nginx_conf=nginx_conf,
                                            max_line_bytes=max_line_bytes,
                                            max_document_bytes=max_export_bytes)
    except timeline.UsageError as exc:
        raise _fail(ExitCode.USAGE, str(exc)) from None
    data = _read(paths, read_options, quiet=True)
    for note in data.config_notes:
        typer.echo(f"nginx.conf: {terminal(note)}")
    for s in data.sources:
        typer.echo(terminal(s.path))
        fmt = s.format + (f" ({s.variant})" if s.variant else "")
        if s.wrapper:
            fmt += f" inside {s.wrapper} records"
        typer.echo(f"  format {terminal(fmt)}, host {terminal(s.host)}")
        typer.echo(f"  lines {s.lines} = parsed {s.parsed} + rejected {s.rejected} "
                   f"+ skipped {s.skipped}")
        if s.first is not None and s.last is not None:
            typer.echo(f"  time {fmt_ts(s.first)} to {fmt_ts(s.last)}")
        if s.tz:
            typer.echo(f"  zone {terminal(s.tz)} ({terminal(s.tz_note)})")
        for reason, n in sorted(s.skip_reasons.items()):
            typer.echo(f"  skipped {n}: {terminal(reason)}")
        for r in s.rejects:
            typer.echo(f"  rejected line {r.line}: {terminal(r.reason)}: {terminal(r.excerpt)}")
        for note in s.notes:
            typer.echo(f"  note: {terminal(note)}")


@app.command("lint")
def lint_command(
    drafts: Annotated[list[Path], typer.Argument(help="Postmortem drafts (Markdown).",
                                                 show_default=False)],
) -> None:
    """Check postmortem drafts: every timeline row has a source, every action item an owner
    and a type (or says TODO), no blame words, every time carries its zone. Prints
    FILE:LINE: rule: message for each fault; exits 6 when there is one.

    Example:

        incident-timeline lint incident-report/postmortem.md
    """
    faults = 0
    for path in drafts:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(ExitCode.INPUT, f"{path}: cannot read it: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
        for finding in lint_text(text):
            faults += 1
            typer.echo(f"{terminal(path)}:{finding}")
    if faults:
        raise typer.Exit(code=int(ExitCode.LINT))


#: Kept for callers of ``timeline.cli.main``; the console script enters at
#: :func:`timeline.entry.main`, which installs the stop handlers before this module loads.
main = entry_main
