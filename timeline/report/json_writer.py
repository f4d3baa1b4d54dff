"""``timeline.json``: the machine-readable result (contract in README.md)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any

import pandas as pd

from timeline.keytimes import measure
from timeline.model import (
    LATENCY_FIELDS,
    Analysis,
    Breakdown,
    Change,
    ChangeTable,
    Edge,
    Impact,
    Incident,
    JoinReport,
    KeyTime,
    KeyTimes,
    Link,
    Quantiles,
    SloReport,
    end_of,
    records,
)
from timeline.report.escape import json_safe

SCHEMA_VERSION = 1


def iso(ts: float | None) -> str | None:
    """Epoch seconds to ISO 8601 UTC with a trailing ``Z`` (millisecond precision if needed).

    Rounds as ``pd.Timestamp(ts, unit="s")`` does (whole seconds, then the fraction to the
    nanosecond, truncated), without building a Timestamp: a flood of 50,000 alerts made
    this the JSON writer's largest cost. Times pandas cannot hold take its path (and error).
    """
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return None
    try:
        base = int(ts)
        ns = base * 1_000_000_000 + int(round(float(ts) - base, 9) * 1_000_000_000)
        sec, rem = divmod(ns, 1_000_000_000)
        if -62135596800 <= sec <= 253402300799:  # years 1 to 9999, as strftime allows
            head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
            us = rem // 1000
            return f"{head}.{us // 1000:03d}Z" if us else f"{head}Z"
    except (OverflowError, ValueError, OSError):
        pass
    t = pd.Timestamp(ts, unit="s", tz="UTC")
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(x: float) -> float:
    return round(float(x), 3)


def _breakdown(b: Breakdown) -> dict[str, Any]:
    return {"name": b.name, "requests": b.requests, "failed": b.failed}


def _quantiles(q: Quantiles | None) -> dict[str, Any] | None:
    return None if q is None else {"n": q.n, "p50_s": _num(q.p50_s), "p95_s": _num(q.p95_s)}


def _latency(imp: Impact) -> dict[str, Any]:
    """Latency per field (None: not logged), and the span of the baseline."""
    base = imp.latency_baseline
    out: dict[str, Any] = {
        "baseline_span": None if base is None else {"from": iso(base[0]), "to": iso(base[1])},
    }
    for name in LATENCY_FIELDS:
        lat = imp.latency.get(name)
        out[name] = None if lat is None else {"window": _quantiles(lat.window),
                                              "baseline": _quantiles(lat.baseline)}
    # The hosts behind the edge, from their own logs (incidents with the latency signal).
    out["behind"] = [{"host": h.host, "field": h.field, "window_p95_s": _num(h.window_p95_s),
                      "baseline_p95_s": _num(h.baseline_p95_s), "slowed": h.slowed}
                     for h in imp.latency_behind]
    return out


def _slo(slo: SloReport | None) -> dict[str, Any] | None:
    if slo is None:
        return None
    return {
        "target_pct": slo.target_pct,
        "period": {"start": iso(slo.period_start), "end": iso(slo.period_end),
                   "requests": slo.period_requests},
        "budget_requests": _num(slo.budget_requests),
        "failed": slo.failed,
        "budget_consumed_pct": None if slo.budget_consumed_pct is None
        else _num(slo.budget_consumed_pct),
        "burn_rate": {
            "long_window_s": slo.long_window_s,
            "short_window_s": slo.short_window_s,
            "peak_long": _num(slo.peak_burn_long),
            "peak_long_at": iso(slo.peak_burn_long_at),
            "peak_short": _num(slo.peak_burn_short),
            "peak_short_at": iso(slo.peak_burn_short_at),
        },
        "page_condition_first_held": iso(slo.page_at),
        "slow_page_condition_first_held": iso(slo.slow_page_at),
    }


def _edge(edge: Edge | None) -> dict[str, Any] | None:
    """How an edge was found: its basis, the line that shows it and the reasoning."""
    if edge is None:
        return None
    return {"ts": iso(edge.ts), "basis": edge.basis, "source": edge.source or None,
            "note": edge.note or None}


def _link(link: Link) -> dict[str, Any]:
    """A cross-host link, its keys in the order of :class:`Link`'s fields."""
    return dataclasses.asdict(link)


def _key_time(k: KeyTime) -> dict[str, Any]:
    """``{ts, evidence, basis, note}`` of a key time; when unknown, ``ts`` null and ``reason``."""
    if k.ts is None:
        return {"ts": None, "evidence": None, "basis": None, "note": None, "reason": k.reason}
    return {"ts": iso(k.ts), "evidence": k.evidence or None, "basis": k.basis,
            "note": k.reason or None, "reason": None}


def _key_times(kt: KeyTimes) -> dict[str, Any]:
    return {name: _key_time(k) for name, k in kt.items()}


def _durations(kt: KeyTimes) -> dict[str, Any]:
    return {name: None if d is None else _num(d) for name, d in kt.durations()}


def incident_dict(inc: Incident, kt: KeyTimes | None = None) -> dict[str, Any]:
    """One incident in the JSON contract's shape (with its key times when given)."""
    imp = inc.impact
    return {
        "start": iso(inc.start),
        "end": iso(inc.end),
        "duration_s": _num(inc.duration_s),
        "edges": {"start": _edge(inc.start_edge), "end": _edge(inc.end_edge)},
        "key_times": None if kt is None else _key_times(kt),
        "durations": None if kt is None else _durations(kt),
        "signals": inc.signals,
        "window_given": inc.window_given,
        "affected_hosts": inc.affected_hosts,
        "impact": {
            "users_affected": imp.users_affected,
            "users_total": imp.users_total,
            "users_pct": _num(imp.users_pct),
            "requests_failed": imp.requests_failed,
            "requests_total": imp.requests_total,
            "requests_pct": _num(imp.requests_pct),
            "requests_lost_estimate": imp.requests_lost_estimate,
            "users_affected_low": imp.users_affected_low,
            "users_affected_high": imp.users_affected_high,
            "users_total_high": imp.users_total_high,
            "users_pct_low": _num(imp.users_pct_low),
            "users_pct_high": _num(imp.users_pct_high),
            "users_basis": imp.users_basis,
            "users_method": imp.users_method or None,
            "users_estimated": imp.users_estimated,
            "users_measurable": imp.users_measurable,
            "incomplete_requests": imp.incomplete_requests,
            "incomplete_clients": imp.incomplete_clients,
            "incomplete_networks": [{"network": n, "clients": c, "requests": r}
                                    for n, c, r in imp.incomplete_networks],
            "requests_failed_background": imp.background_failed,
            "requests_slow": imp.requests_slow,
            "slow_over_s": _num(imp.slow_over_s) if imp.slow_over_s is not None else None,
            "failing_statuses": imp.failing_statuses,
            "by_host": imp.by_host,
            "by_upstream": [_breakdown(b) for b in imp.by_upstream],
            "upstreams_seen": imp.upstreams_seen,
            "by_route": [_breakdown(b) for b in imp.by_route],
            "routes_seen": imp.routes_seen,
            "routes_failing": imp.routes_failing,
            "excluded_clients": [{"rule": e.rule, "clients": e.clients, "requests": e.requests}
                                 for e in imp.excluded],
            "latency": _latency(imp),
        },
        "slo": _slo(inc.slo),
        "detection": {
            "first_alert": iso(inc.first_alert),
            "alert": inc.first_alert_name or None,
            "source": inc.first_alert_source or None,
            "time_to_detect_s": None if inc.time_to_detect_s is None
            else _num(inc.time_to_detect_s),
            "time_to_acknowledge_s": None if inc.time_to_acknowledge_s is None
            else _num(inc.time_to_acknowledge_s),
            "time_to_resolve_s": None if inc.time_to_resolve_s is None
            else _num(inc.time_to_resolve_s),
        },
        "peak": {"ts": iso(inc.peak_ts), "failed": inc.peak_failed, "total": inc.peak_total},
        "causes": [
            {"kind": c.kind, "summary": c.summary, "confidence": c.confidence,
             "host": c.host or None, "evidence": c.evidence}
            for c in inc.causes
        ],
        "ruled_out": inc.ruled_out,
        "resolution": inc.resolution,
        "timeline": [
            {"ts": iso(e.ts), "kind": e.kind, "text": e.text, "source": e.source,
             "host": e.host or None, "flag": e.flag or None,
             "links": [_link(link) for link in e.links]}
            for e in inc.timeline
        ],
        "upstream_links": [_link(link) for link in inc.upstream_links],
        "changes": [_change(c) for c in inc.changes.changes] if inc.changes else [],
        "changes_basis": _change_basis(inc.changes),
        "error_joins": _joins(inc.joins),
        "error_templates": [
            {"host": t.host, "kind": t.kind, "template": t.template,
             "window_count": t.window_count, "baseline_count": t.baseline_count,
             "window_rate_per_min": t.window_rate_per_min,
             "baseline_rate_per_min": t.baseline_rate_per_min, "status": t.status,
             "first_ts": iso(t.first_ts), "first_source": t.first_source}
            for t in inc.error_templates],
    }


def _change(c: Change) -> dict[str, Any]:
    """One row of the "what changed" table (the contract's ``incidents[].changes[]``)."""
    return {"dimension": c.dimension, "value": c.value, "direction": c.direction,
            "window_count": c.window_count, "window_share": c.window_share,
            "baseline_count": c.baseline_count, "baseline_share": c.baseline_share,
            "lift": c.lift, "p_value": c.p_value, "q_value": c.q_value,
            "failure_rate": c.failure_rate, "reference": c.reference,
            "evidence": c.evidence or None, "evidence_ts": iso(c.evidence_ts),
            "backend": c.backend or None}


def _change_basis(t: ChangeTable | None) -> dict[str, Any] | None:
    """What the "what changed" table compared."""
    if t is None:
        return None
    return {"baseline": t.baseline_kind, "baseline_from": iso(t.baseline_start),
            "baseline_to": iso(t.baseline_end), "target": t.target,
            "window_failing": t.window_failing, "window_total": t.window_total,
            "baseline_failing": t.baseline_failing, "baseline_total": t.baseline_total,
            "test": "fisher_exact_one_sided", "correction": "benjamini_hochberg",
            "tested": t.tested, "pairs_dropped": t.pairs_dropped,
            "baseline_requests": t.baseline_requests}


def _joins(j: JoinReport | None) -> dict[str, Any] | None:
    """The error-log entries joined to the requests."""
    if j is None:
        return None
    return {"errors": j.errors, "matched": j.matched, "unmatched": j.unmatched,
            "failures": [{"status": f.status, "requests": f.requests, "matched": f.matched,
                          "host": f.host, "message": f.message, "peer": f.peer or None,
                          "first_source": f.first_source} for f in j.failures]}


def events_list(analysis: Analysis) -> list[dict[str, Any]]:
    """Events grouped by host, kind and message template (alerts one by one)."""
    ev = analysis.dataset.events
    out: list[dict[str, Any]] = []
    if ev.empty:
        return out
    alerts = ev[ev["kind"] == "alert"]
    for a in records(alerts):
        out.append({"ts": iso(a["ts"]), "end": iso(end_of(a["end"])), "source": a["parser"],
                    "kind": a["kind"], "severity": a["severity"], "host": a["host"] or None,
                    "message": a["message"], "count": int(a["count"]),
                    "first_source": f"{a['source_file']}:{a['line']}",
                    "name": a["attrs"].get("alertname"), "status": a["attrs"].get("status")})
    rest = ev[ev["kind"] != "alert"]
    # One aggregation for all groups: a Python step per group made 20,000 distinct error
    # messages take 20 s here.
    keys = ["host", "kind", "severity", "message", "parser"]
    groups = rest.groupby(keys, sort=False).agg(
        first_ts=("ts", "min"), last_ts=("ts", "max"), n=("count", "sum"),
        file=("source_file", "first"), line=("line", "first"))
    for key, first_ts, last_ts, n, file, line in zip(
            groups.index.tolist(), groups["first_ts"].tolist(), groups["last_ts"].tolist(),
            groups["n"].tolist(), groups["file"].tolist(), groups["line"].tolist(),
            strict=True):
        host, kind, severity, message, parser = key
        out.append({"ts": iso(float(first_ts)), "end": iso(float(last_ts)),
                    "source": parser, "kind": kind, "severity": severity, "host": host or None,
                    "message": message, "count": int(n), "first_source": f"{file}:{line}"})
    out.sort(key=lambda e: (e["ts"] or "", e["host"] or "", e["kind"], e["message"]))
    return out


def to_json(analysis: Analysis, *, redacted: bool = False) -> str:
    """The whole analysis as a JSON document (deterministic for the same input).

    ``redacted`` says the analysis went through :func:`timeline.redact.redact_analysis`
    (the document says so in ``redacted``)."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "redacted": redacted,
        "bin_s": analysis.bin_s,
        "edge_hosts": analysis.edge_hosts,
        "probe_clients_excluded": analysis.probe_clients,
        "user_key": analysis.options.user_key,
        "client_exclusions": list(analysis.options.exclude_client),
        "slo_target_pct": analysis.options.slo,
        "sources": [
            {"path": s.path, "format": s.format, "variant": s.variant or None, "host": s.host,
             "lines": s.lines, "parsed": s.parsed, "rejected": s.rejected, "skipped": s.skipped,
             "first": iso(s.first), "last": iso(s.last), "tz": s.tz or None,
             "tz_note": s.tz_note or None,
             "rejects": [{"line": r.line, "reason": r.reason, "excerpt": r.excerpt}
                         for r in s.rejects],
             "skip_reasons": dict(sorted(s.skip_reasons.items())), "notes": s.notes}
            for s in analysis.dataset.sources
        ],
        "clock_skew": [
            {"host": k.host, "reference": k.reference, "offset_s": k.offset_s,
             "spread_s": k.spread_s, "pairs": k.pairs, "corrected": k.corrected}
            for k in analysis.clock_skew],
        "incidents": [incident_dict(i, measure(analysis, i)) for i in analysis.incidents],
        "events": events_list(analysis),
    }
    return json_safe(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"
