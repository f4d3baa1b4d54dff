"""The report context: the one object every template receives.

:func:`build_context` turns an :class:`~timeline.model.Analysis` into a
:class:`ReportContext`; every template renders from it and from nothing else: the built-in
Markdown templates (``default``, ``google-sre``, ``pagerduty``, ``atlassian``), the HTML
report, and a user's own Jinja2 template (``--template PATH``). Its keys are documented one
by one in ``docs/templates.md``; a key added here is added there.

Values are raw (not escaped): a template escapes what it prints (``|md`` and ``|code`` in
Markdown, autoescape in HTML), because log content is hostile. Every field a postmortem
format asks for is marked (:class:`Marked`): ``measured`` (from the data, with the line that
shows it), ``suggested`` (from the data, for a person to confirm; the rule is given) or
``todo`` (only a person can write it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from timeline.clients import UserKey
from timeline.ingest import SourceReport
from timeline.keytimes import DEFINITIONS, measure
from timeline.model import (
    ACTION_KINDS,
    LATENCY_FIELDS,
    Analysis,
    ClockSkew,
    Entry,
    Incident,
    KeyTimes,
    Link,
    Quantiles,
)
from timeline.report.clock import Clock
from timeline.shift import MIN_BASELINE_FAILING

Status = Literal["measured", "suggested", "todo"]

#: Measures that fit each cause kind, with their action-item type (mitigate: shortens or
#: softens the next such incident; prevent: stops it happening; process: how the team works).
#: Offered as suggestions, never as findings.
SUGGESTIONS: dict[str, list[tuple[str, str]]] = {
    "config_change": [
        ("prevent", "Check the rendered Nginx configuration in the deploy pipeline (`nginx -t` "
         "plus a request to every site on every host) before reloading."),
        ("mitigate", "Deploy to one host first and stop the rollout automatically when its "
         "error rate rises."),
        ("mitigate", "Alert on a host whose request rate drops to zero while its peers keep "
         "serving."),
    ],
    "nginx_unavailable": [
        ("mitigate", "Alert on a host that stops writing access lines while its peers keep "
         "serving."),
        ("mitigate", "Run Nginx under a supervisor that restarts it, and health-check it from "
         "the load balancer so traffic moves away from a dead host."),
    ],
    "upstream_unreachable": [
        ("mitigate", "Health-check the backends from the load balancer and retry on another "
         "backend (`proxy_next_upstream error`) so one dead backend does not fail requests."),
        ("mitigate", "Alert on the backend process itself, not only on the proxy's 502s."),
    ],
    "upstream_timeout": [
        ("prevent", "Find what made the backend slow (saturation, a slow dependency); add "
         "latency alerts."),
        ("prevent", "Review `proxy_read_timeout` against the slowest legitimate request."),
    ],
    "capacity_exhausted": [
        ("prevent", "Raise `worker_connections` and the open-file limit "
         "(`worker_rlimit_nofile`) with headroom, and alert on connection use before the "
         "limit."),
    ],
    "rate_limited": [
        ("prevent", "Check whether the rejected traffic was legitimate; tune `limit_req` burst "
         "and rate."),
    ],
    "file_missing": [
        ("process", "Check that deploys ship every static file the pages reference."),
    ],
    "tls_failure": [
        ("prevent", "Check certificate validity and the TLS versions and ciphers offered."),
    ],
    "unknown": [
        ("process", "Add upstream timing fields to the access log format to narrow the cause."),
    ],
}

#: Suggested severity: the first rule whose thresholds the incident meets (users affected
#: as a share of the users active in the window, and the impact's length).
SEVERITY_RULES: tuple[tuple[str, float, float, str], ...] = (
    ("SEV1", 50.0, 0.0, "at least 50% of users affected"),
    ("SEV2", 5.0, 0.0, "at least 5% of users affected"),
    ("SEV2", 1.0, 3600.0, "at least 1% of users affected for an hour or more"),
    ("SEV3", 0.0, 0.0, "any other incident"),
)

#: Labels of the key times and durations, in their order.
KEY_TIME_LABELS = {"impact_start": "Impact start", "detected": "Detected (first alert)",
                   "acknowledged": "Acknowledged", "mitigated": "Mitigated",
                   "resolved": "Resolved (impact end)"}
DURATION_LABELS = {"time_to_detect_s": "Time to detect",
                   "time_to_acknowledge_s": "Time to acknowledge",
                   "time_to_mitigate_s": "Time to mitigate",
                   "time_to_resolve_s": "Time to resolve", "impact_s": "Impact duration"}

#: Latency fields and how the report names them.
LATENCY_LABELS = {"request_time": "request time ($request_time)",
                  "upstream_time": "upstream response time ($upstream_response_time)"}


@dataclass(frozen=True)
class Marked:
    """A field of the report and how it is known.

    ``status`` is ``measured`` (``text`` is from the data and ``evidence`` the line that
    shows it), ``suggested`` (from the data, for a person to confirm; ``why`` gives the rule)
    or ``todo`` (only a person can write it; ``text`` says what to write).
    """

    text: str
    status: Status
    evidence: str = ""
    why: str = ""


@dataclass(frozen=True)
class TimelineRow:
    """One timeline entry with its offset from impact start (``T+mm:ss``)."""

    ts: float
    t_plus: str
    kind: str
    text: str
    #: ``file:line`` that shows it (always set for the analysis' entries).
    source: str
    host: str
    flag: str
    links: list[Link]


@dataclass(frozen=True)
class ActionItem:
    """An action item: what to do, its type (mitigate / prevent / process), owner,
    priority and tracking bug; each marked."""

    action: Marked
    type: Marked
    owner: Marked
    priority: Marked
    bug: Marked


@dataclass(frozen=True)
class Severity:
    """The suggested severity, and the rules it was chosen by (:data:`SEVERITY_RULES`)."""

    level: str
    marked: Marked
    rules: list[str]


@dataclass(frozen=True)
class Lessons:
    """Lessons learned: what went well, what went wrong, where we got lucky. Items from
    the data are ``suggested``; each list ends with a ``todo`` for the team."""

    went_well: list[Marked]
    went_wrong: list[Marked]
    lucky: list[Marked]


@dataclass(frozen=True)
class SourceNote:
    """A note on one input file: a rejected line (``line`` and ``excerpt`` set), a note,
    or a count of skipped lines."""

    path: str
    text: str
    line: int | None = None
    excerpt: str | None = None


@dataclass(frozen=True)
class ReportContext:
    """The one context every template receives (built-in Markdown, HTML, user templates).

    Documented key by key in ``docs/templates.md``. Values are raw: templates escape.
    ``inc`` is None when no incident was found; then every incident key is empty or None.
    """

    title: str
    version: str
    n_sources: int
    #: The principal incident (the one that hit the most requests), or None.
    inc: Incident | None
    others: list[Incident]
    #: Key times and durations of ``inc`` (None without an incident).
    key_times: KeyTimes | None
    key_time_labels: dict[str, str]
    duration_labels: dict[str, str]
    #: The key times' definitions (for the appendix).
    key_time_definitions: list[str]
    #: ``inc.timeline`` with ``T+mm:ss`` offsets.
    timeline: list[TimelineRow]
    #: Actions on hosts seen in the logs (reloads, deploys...), from the timeline.
    actions: list[Entry]
    #: Suggested measures for the leading causes (text), and the same as action items.
    suggestions: list[str]
    action_items: list[ActionItem]
    severity: Severity | None
    lessons: Lessons | None
    summary: Marked
    sources: list[SourceReport]
    source_notes: list[SourceNote]
    config_notes: list[str]
    method: list[str]
    user_key: UserKey
    exclusions: list[str]
    latency_fields: list[tuple[str, str]]
    span_start: float
    span_end: float
    total_requests: int
    total_failed: int
    total_failed_pct: float
    #: The zone every shown time is in.
    display_tz: str
    #: True when ``--redact`` replaced client addresses, user names, cookies, query values
    #: and tokens by keyed hashes; ``redaction_note`` says so in words ("" otherwise).
    redacted: bool
    redaction_note: str
    fmt_ts: Callable[[float], str]
    duration: Callable[[float | None], str]
    quantiles: Callable[[Quantiles | None], str]
    t_plus: Callable[[float], str]
    #: The "what changed" table's basis in words (plain text: escape it), "" without one.
    changes_note: str = ""
    #: The error-log join's counts in words (plain text), "" without one.
    joins_note: str = ""
    #: Per failing status, the error-log message its requests had, in words (plain text).
    joins_lines: list[str] = field(default_factory=list)
    #: Each backend's clock against its proxy, in words (plain text).
    skew_lines: list[str] = field(default_factory=list)
    #: A share (0-1) as a percentage, and a p-value, for the table.
    pct: Callable[[float], str] = field(default=lambda x: pct(x))
    pvalue: Callable[[float], str] = field(default=lambda x: pvalue(x))

    def as_mapping(self) -> dict[str, object]:
        """The keys as a template sees them (shallow: values are the objects themselves)."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def pct(x: float) -> str:
    """A share (0-1) as a percentage with one decimal."""
    return f"{100.0 * x:.1f}%"


def pvalue(x: float) -> str:
    """A p-value in two significant digits (a tail below the float range as <1e-300)."""
    return "<1e-300" if x == 0.0 else f"{x:.2g}"


def duration(seconds: float | None) -> str:
    """A duration for people: ``1 h 44 min 54 s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    s = int(round(abs(seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    parts = [f"{h} h" if h else "", f"{m} min" if m else "", f"{sec} s" if sec or not s else ""]
    return " ".join(p for p in parts if p)


def secs(seconds: float) -> str:
    """A latency for people: milliseconds under a second, else seconds."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def quantiles(q: Quantiles | None) -> str:
    """p50 / p95 of a latency, or ``no requests``."""
    if q is None:
        return "no requests"
    return f"{secs(q.p50_s)} / {secs(q.p95_s)}"


def t_plus(ts: float, origin: float) -> str:
    """``T+mm:ss`` of ``ts`` from ``origin`` (``T-mm:ss`` before it). Minutes run past 59
    (``T+104:54``). Whole seconds of each time are subtracted, so the offset matches the
    times shown beside it (which drop the fraction)."""
    d = math.floor(ts) - math.floor(origin)
    sign = "+" if d >= 0 else "-"
    m, s = divmod(abs(d), 60)
    return f"T{sign}{m:02d}:{s:02d}"


def principal(analysis: Analysis) -> Incident | None:
    """The incident the postmortem is about: the one that hit the most requests."""
    if not analysis.incidents:
        return None
    return max(analysis.incidents, key=lambda i: (
        i.impact.requests_failed + i.impact.requests_lost_estimate, i.duration_s, -i.start))


def _title(inc: Incident | None, fmt_ts: Callable[[float], str]) -> str:
    if inc is None:
        return "no incident found"
    title = f"{fmt_ts(inc.start)[:10]} {inc.causes[0].kind.replace('_', ' ')}"
    if inc.affected_hosts:
        title += " on " + ", ".join(inc.affected_hosts)
    return title


def _suggestions(inc: Incident | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if inc is not None:
        for c in inc.causes[:2]:
            for s in SUGGESTIONS.get(c.kind, []):
                if s not in out:
                    out.append(s)
    return out


def _action_items(inc: Incident | None) -> list[ActionItem]:
    items = []
    for kind, text in _suggestions(inc):
        cause = inc.causes[0].kind if inc is not None else ""
        items.append(ActionItem(
            action=Marked(text, "suggested", why=f"a usual measure against `{cause}`"),
            type=Marked(kind, "suggested", why="the kind of measure"),
            owner=Marked("owner", "todo"), priority=Marked("priority", "todo"),
            bug=Marked("bug", "todo")))
    return items


def _severity(inc: Incident | None) -> Severity | None:
    if inc is None:
        return None
    pct = inc.impact.users_pct_high if not inc.impact.users_measurable else inc.impact.users_pct
    rules = [f"{lvl}: {words}" for lvl, _, _, words in SEVERITY_RULES]
    for lvl, min_pct, min_s, words in SEVERITY_RULES:
        if pct >= min_pct and inc.duration_s >= min_s:
            why = (f"{pct:.1f}% of users affected for {duration(inc.duration_s)}: {words}; "
                   "the rules are in the appendix")
            return Severity(lvl, Marked(lvl, "suggested", why=why), rules)
    raise AssertionError("the last severity rule matches every incident")


def _source_notes(sources: list[SourceReport]) -> list[SourceNote]:
    notes = []
    for src in sources:
        for r in src.rejects:
            notes.append(SourceNote(src.path, r.reason, r.line, r.excerpt))
        for note in src.notes:
            notes.append(SourceNote(src.path, note))
        for reason, n in sorted(src.skip_reasons.items()):
            notes.append(SourceNote(src.path, f"{n} lines skipped: {reason}"))
    return notes


def _timeline(inc: Incident | None, kt: KeyTimes | None) -> list[TimelineRow]:
    """The timeline with T+ offsets. The start and the end cite their key time's evidence
    when the edge itself has no line (a window given with ``--window``, an edge from the
    bins), so that every row has a source."""
    if inc is None:
        return []
    fallback = {"start": kt.impact_start.evidence, "end": kt.resolved.evidence} if kt else {}
    return [TimelineRow(e.ts, t_plus(e.ts, inc.start), e.kind, e.text,
                        e.source or fallback.get(e.kind, ""), e.host, e.flag, e.links)
            for e in inc.timeline]


def _summary(inc: Incident | None, fmt_ts: Callable[[float], str]) -> Marked:
    if inc is None:
        return Marked("no incident found in the inputs", "measured")
    imp = inc.impact
    hurt = (f"{imp.requests_slow} of {imp.requests_total} requests took longer than "
            f"{imp.slow_over_s:g} s ({imp.requests_slow_pct:.1f}%, none failed)"
            if imp.slow_over_s is not None else
            f"{imp.requests_failed} of {imp.requests_total} requests failed "
            f"({imp.requests_pct:.1f}%)")
    text = (f"From {fmt_ts(inc.start)} to {fmt_ts(inc.end)} ({duration(inc.duration_s)}), "
            f"{hurt} and {imp.users_pct:.1f}% of users "
            f"({imp.users_affected} of {imp.users_total}) were affected; leading candidate "
            f"cause: {inc.causes[0].summary}.")
    return Marked(text, "measured", inc.start_edge.source if inc.start_edge else "")


def build_context(analysis: Analysis, *, redaction_note: str = "",
                  display_tz: str = "UTC") -> ReportContext:
    """The context of the report of ``analysis`` (deterministic for the same analysis).

    Args:
        analysis: the analysis to report (already redacted when ``redaction_note`` is set).
        redaction_note: what ``--redact`` replaced, in words; "" when not redacted.
        display_tz: the zone every shown time is in (an IANA name or UTC): ``fmt_ts``
            shows a time there, with its offset (:class:`~timeline.report.clock.Clock`).
    """
    from timeline.report.lessons import lessons

    inc = principal(analysis)
    try:
        ver = version("incident-timeline")
    except PackageNotFoundError:
        ver = "dev"
    span = analysis.dataset.agg.span()
    failed = int(analysis.bins["failed"].sum())
    edge_total = int(analysis.bins["total"].sum())
    kt = measure(analysis, inc) if inc is not None else None
    origin = inc.start if inc is not None else 0.0
    clock = Clock(display_tz)
    fmt_ts = clock.stamp
    return ReportContext(
        title=_title(inc, fmt_ts), version=ver, n_sources=len(analysis.dataset.sources), inc=inc,
        others=[i for i in analysis.incidents if i is not inc], key_times=kt,
        key_time_labels=KEY_TIME_LABELS, duration_labels=DURATION_LABELS,
        key_time_definitions=list(DEFINITIONS), timeline=_timeline(inc, kt),
        actions=[e for e in inc.timeline if e.kind in ACTION_KINDS] if inc else [],
        suggestions=[text for _, text in _suggestions(inc)], action_items=_action_items(inc),
        severity=_severity(inc), lessons=lessons(analysis, inc, kt) if inc else None,
        summary=_summary(inc, fmt_ts), sources=analysis.dataset.sources,
        source_notes=_source_notes(analysis.dataset.sources),
        config_notes=analysis.dataset.config_notes, method=analysis.method,
        user_key=analysis.options.key, exclusions=list(analysis.options.exclude_client),
        latency_fields=[(n, LATENCY_LABELS[n]) for n in LATENCY_FIELDS],
        span_start=span[0] if span else 0.0, span_end=span[1] if span else 0.0,
        total_requests=edge_total, total_failed=failed,
        total_failed_pct=100.0 * failed / edge_total if edge_total else 0.0,
        display_tz=clock.label, redacted=bool(redaction_note), redaction_note=redaction_note,
        fmt_ts=fmt_ts, duration=duration, quantiles=quantiles,
        t_plus=lambda ts: t_plus(ts, origin),
        changes_note=_changes_note(inc, fmt_ts), joins_note=_joins_note(inc),
        joins_lines=_joins_lines(inc),
        skew_lines=[_skew_line(k) for k in analysis.clock_skew],
    )


def _skew_line(k: ClockSkew) -> str:
    """One backend's clock offset in words."""
    side = "ahead of" if k.offset_s > 0 else "behind"
    what = (f"{k.host}'s clock was {abs(k.offset_s):.1f} s {side} {k.reference}'s"
            if round(abs(k.offset_s), 1) else f"{k.host}'s clock agreed with {k.reference}'s")
    fix = ("; its times are corrected" if k.corrected else
           "; its times are kept as logged" + (" (--no-skew-correction)"
                                               if abs(k.offset_s) > 1.0 else ""))
    return (f"{what} (from {k.pairs} requests seen in both logs, interquartile "
            f"spread {k.spread_s:.1f} s){fix}.")


_BASELINE_KIND = {
    "before": "the same length just before the window",
    "day": "the same hours a day earlier",
    "week": "the same hours a week earlier",
}


def _changes_note(inc: Incident | None, fmt_ts: Callable[[float], str]) -> str:
    """What the "what changed" table compared, in words."""
    t = inc.changes if inc is not None else None
    if t is None:
        return ""
    of = "failing" if t.target == "failures" else "slow"
    ref = ("failing requests" if t.baseline_failing >= MIN_BASELINE_FAILING
           else f"requests (it had only {t.baseline_failing} {of} ones)")
    return (f"The window against a baseline of {_BASELINE_KIND[t.baseline_kind]} "
            f"({fmt_ts(t.baseline_start)} to {fmt_ts(t.baseline_end)}): {t.window_failing} "
            f"{of} of {t.window_total} requests at the edge in the window, "
            f"{t.baseline_failing} of {t.baseline_total} in the baseline"
            + (f" (a time-stratified sample of its {t.baseline_requests} requests)"
               if t.baseline_requests > t.baseline_total else "")
            + f". A rise is a "
            f"value's share of the window's {of} requests against its share of the "
            f"baseline's {ref}; for a status, of all requests. A dip is a value's share of "
            "all requests (every host's) falling. Lift is the ratio of the two shares; p "
            "a one-sided Fisher exact test, q its Benjamini-Hochberg correction over the "
            f"{t.tested} values tested. Most telling first.")


def _joins_note(inc: Incident | None) -> str:
    j = inc.joins if inc is not None else None
    if j is None:
        return ""
    return (f"Error log joined to the requests: of the {j.errors} error-log entries around "
            f"the window that name a request, {j.matched} matched an access-log request "
            f"(same host, client and request line, within a second) and {j.unmatched} did "
            "not.")


def _joins_lines(inc: Incident | None) -> list[str]:
    j = inc.joins if inc is not None else None
    if j is None:
        return []
    return [f"{f.requests} requests answered {f.status}; {f.matched} of them have a "
            f"“{f.message}”" + (f" to {f.peer}" if f.peer else "")
            + f" in {f.host}'s error log (first at {f.first_source})" for f in j.failures]
