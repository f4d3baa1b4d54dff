"""``postmortem.md``: the draft postmortem in the team's usual shape (Jinja2 template)."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

import jinja2

from timeline.model import ACTION_KINDS, LATENCY_FIELDS, Analysis, Incident, Quantiles
from timeline.report.escape import md, md_code
from timeline.timefmt import fmt_ts

#: Measures that fit each cause kind; offered as suggestions, never as findings.
SUGGESTIONS = {
    "config_change": [
        "Check the rendered Nginx configuration in the deploy pipeline (`nginx -t` plus a "
        "request to every site on every host) before reloading.",
        "Deploy to one host first and stop the rollout automatically when its error rate rises.",
        "Alert on a host whose request rate drops to zero while its peers keep serving.",
    ],
    "nginx_unavailable": [
        "Alert on a host that stops writing access lines while its peers keep serving.",
        "Run Nginx under a supervisor that restarts it, and health-check it from the load "
        "balancer so traffic moves away from a dead host.",
    ],
    "upstream_unreachable": [
        "Health-check the backends from the load balancer and retry on another backend "
        "(`proxy_next_upstream error`) so one dead backend does not fail requests.",
        "Alert on the backend process itself, not only on the proxy's 502s.",
    ],
    "upstream_timeout": [
        "Find what made the backend slow (saturation, a slow dependency); add latency alerts.",
        "Review `proxy_read_timeout` against the slowest legitimate request.",
    ],
    "capacity_exhausted": [
        "Raise `worker_connections` and the open-file limit (`worker_rlimit_nofile`) with "
        "headroom, and alert on connection use before the limit.",
    ],
    "rate_limited": [
        "Check whether the rejected traffic was legitimate; tune `limit_req` burst and rate.",
    ],
    "file_missing": [
        "Check that deploys ship every static file the pages reference.",
    ],
    "tls_failure": ["Check certificate validity and the TLS versions and ciphers offered."],
    "unknown": ["Add upstream timing fields to the access log format to narrow the cause."],
}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(abs(seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    parts = [f"{h} h" if h else "", f"{m} min" if m else "", f"{sec} s" if sec or not s else ""]
    return " ".join(p for p in parts if p)


def _secs(seconds: float) -> str:
    """A latency for people: milliseconds under a second, else seconds."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _quantiles(q: Quantiles | None) -> str:
    if q is None:
        return "no requests"
    return f"{_secs(q.p50_s)} / {_secs(q.p95_s)}"


#: Latency fields and how the report names them.
_LATENCY_LABELS = {"request_time": "request time ($request_time)",
                   "upstream_time": "upstream response time ($upstream_response_time)"}


def principal(analysis: Analysis) -> Incident | None:
    """The incident the postmortem is about: the one that hit the most requests."""
    if not analysis.incidents:
        return None
    return max(analysis.incidents, key=lambda i: (
        i.impact.requests_failed + i.impact.requests_lost_estimate, i.duration_s, -i.start))


def to_markdown(analysis: Analysis) -> str:
    """Render the postmortem draft as Markdown (deterministic for the same input)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("timeline.report", "templates"),
        autoescape=False,  # Markdown, not HTML: every log-derived value goes through |md or |code
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md
    env.filters["code"] = md_code
    inc = principal(analysis)
    try:
        ver = version("incident-timeline")
    except PackageNotFoundError:
        ver = "dev"
    span = analysis.dataset.agg.span()
    failed = int(analysis.bins["failed"].sum())
    edge_total = int(analysis.bins["total"].sum())
    suggestions: list[str] = []
    if inc is not None:
        for c in inc.causes[:2]:
            for s in SUGGESTIONS.get(c.kind, []):
                if s not in suggestions:
                    suggestions.append(s)
    title = "no incident found"
    if inc is not None:
        title = f"{fmt_ts(inc.start)[:10]} {inc.causes[0].kind.replace('_', ' ')}"
        if inc.affected_hosts:
            title += " on " + ", ".join(inc.affected_hosts)
    actions = [e for e in inc.timeline if e.kind in ACTION_KINDS] if inc else []
    source_notes = []
    for src in analysis.dataset.sources:
        for r in src.rejects:
            source_notes.append(f"{md_code(src.path)} line {r.line}: {md(r.reason)}: "
                                f"{md_code(r.excerpt)}")
        for note in src.notes:
            source_notes.append(f"{md_code(src.path)}: {md(note)}")
        for reason, n in sorted(src.skip_reasons.items()):
            source_notes.append(f"{md_code(src.path)}: {n} lines skipped: {md(reason)}")
    text = env.get_template("postmortem.md.j2").render(
        source_notes=source_notes,
        config_notes=analysis.dataset.config_notes,
        title=title,
        version=ver,
        n_sources=len(analysis.dataset.sources),
        inc=inc,
        others=[i for i in analysis.incidents if i is not inc],
        actions=actions,
        suggestions=suggestions,
        sources=analysis.dataset.sources,
        method=analysis.method,
        user_key=analysis.options.key,
        exclusions=analysis.options.exclude_client,
        latency_fields=[(n, _LATENCY_LABELS[n]) for n in LATENCY_FIELDS],
        quantiles=_quantiles,
        fmt_ts=fmt_ts,
        duration=_duration,
        span_start=span[0] if span else 0.0,
        span_end=span[1] if span else 0.0,
        total_requests=edge_total,
        total_failed=failed,
        total_failed_pct=100.0 * failed / edge_total if edge_total else 0.0,
    )
    # Template control blocks leave runs of blank lines; Markdown treats them as one, and
    # escaped log text never contains a raw newline, so collapsing them is safe.
    return re.sub(r"\n{3,}", "\n\n", text)
