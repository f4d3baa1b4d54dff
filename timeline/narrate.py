"""The story of an incident: timeline entries, detection, candidate causes, what is ruled out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from timeline import explain
from timeline.bins import Bins
from timeline.ingest import Dataset
from timeline.links import (
    ACCESS_TOP,
    LINKS_PER_ENTRY,
    collect_uses,
    peer_of,
    resolve_links,
    worth_linking,
)
from timeline.model import (
    Cause,
    Entry,
    ErrorGroup,
    HostLatency,
    Impact,
    Incident,
    Link,
    end_of,
    records,
)
from timeline.routes import routes_of
from timeline.timefmt import fmt_hms

#: Related alerts listed one by one (the earliest first); more are counted in one entry.
MAX_ALERTS = 100
#: Look this far before the start for triggers (deploys, changes) and early alerts.
LOOKBACK_S = 30 * 60
#: An Nginx reload, restart or start acts at once (the new workers serve the new
#: configuration within a second), so one is a possible trigger only this close before the
#: start (or a few seconds after it: a reload is logged to the second).
TRIGGER_NGINX_S = 120
TRIGGER_AFTER_S = 10
#: Lifecycle actions of Nginx itself (the rest come from change-event files).
NGINX_ACTIONS = ("reload", "nginx_restart", "nginx_start", "nginx_stop", "worker_crash")
#: ...and this far after the end for the resolution and resolved alerts.
LOOKAHEAD_S = 15 * 60
#: Lifecycle lines of one action (a reload writes a dozen) within this many seconds group.
CLUSTER_S = 5.0
#: Alerts that fire all the time by design: never evidence of an incident.
ALWAYS_ON_ALERTS = {"watchdog", "deadmansswitch", "deadmanswitch", "infoinhibitor"}
#: Error-log kinds that describe the process lifecycle rather than a failure.
LIFECYCLE = {
    "reload", "shutdown", "start_workers", "signal_process", "worker_exit", "startup_info",
    "signal_other", "reopen_logs",
}
#: Error-log kinds and the cause they point at.
CAUSE_OF_KIND = {
    "upstream_refused": "upstream_unreachable",
    "upstream_reset": "upstream_unreachable",
    "upstream_closed": "upstream_unreachable",
    "no_live_upstreams": "upstream_unreachable",
    "upstream_disabled": "upstream_unreachable",
    "resolve_failed": "upstream_unreachable",
    "upstream_timeout": "upstream_timeout",
    "worker_connections": "capacity_exhausted",
    "too_many_open_files": "capacity_exhausted",
    "rate_limited": "rate_limited",
    "conn_limited": "rate_limited",
    "tls_failure": "tls_failure",
    "file_not_found": "file_missing",
    "bind_failed": "nginx_unavailable",
    "worker_crash": "nginx_unavailable",
    "config_error": "config_change",
}
#: An upstream failure is partial when at least this share of the requests to the routes
#: that failed was still served during the window.
PARTIAL_SERVED = 0.25

#: Changes from a change-events file that can trigger an incident.
CHANGE_TRIGGERS = {"deploy", "config_change", "rollback", "feature_flag", "change", "restart",
                   "manual_action"}


def _src(ev: Any) -> str:
    """``file:line`` of an event (a row dict or a namedtuple)."""
    if isinstance(ev, dict):
        return f"{ev['source_file']}:{ev['line']}"
    return f"{ev.source_file}:{ev.line}"


@dataclass
class _Action:
    """A lifecycle action on one host (reload, restart, stop, start), from its log lines."""

    ts: float
    host: str
    what: str
    source: str
    detail: str


def _actions(events: pd.DataFrame) -> list[_Action]:
    """Reloads, restarts and crashes from the error logs; deploys and changes from a
    change-events file."""
    out: list[_Action] = []
    for change in records(events[events["parser"] == "changes"]):
        what = "change" if change["kind"] == "other" else str(change["kind"])
        who = change["attrs"].get("author")
        detail = f"{what.replace('_', ' ')}: {change['message']}" + (
            f" (by {who})" if who else "")
        out.append(_Action(float(change["ts"]), str(change["host"] or ""), what, _src(change),
                           detail))
    life = events[events["kind"].isin(LIFECYCLE | {"worker_crash"})
                  & (events["parser"] != "changes")]
    for host, group in life.groupby("host", sort=True):
        cluster: list[Any] = []
        for ev in group.itertuples():
            if cluster and ev.ts - cluster[-1].ts > CLUSTER_S:
                out.extend(_classify(cluster, str(host)))
                cluster = []
            cluster.append(ev)
        if cluster:
            out.extend(_classify(cluster, str(host)))
    return sorted(out, key=lambda a: (a.ts, a.host))


def _classify(cluster: list[Any], host: str) -> list[_Action]:
    kinds = {ev.kind for ev in cluster}

    def first(kind: str) -> Any:
        return next(ev for ev in cluster if ev.kind == kind)

    if "worker_crash" in kinds:
        ev = first("worker_crash")
        return [_Action(ev.ts, host, "worker_crash", _src(ev), ev.message)]
    if "reload" in kinds:
        ev = first("reload")
        return [_Action(ev.ts, host, "reload", _src(ev), "Nginx reloaded its configuration")]
    if "shutdown" in kinds and "start_workers" in kinds:
        ev = first("shutdown")
        return [_Action(ev.ts, host, "nginx_restart", _src(ev), "Nginx restarted")]
    if "shutdown" in kinds:
        ev = first("shutdown")
        return [_Action(ev.ts, host, "nginx_stop", _src(ev), "Nginx shut down")]
    if "start_workers" in kinds:
        ev = first("start_workers")
        return [_Action(ev.ts, host, "nginx_start", _src(ev), "Nginx started")]
    return []


def _may_trigger(action: _Action, inc: Incident, bin_s: int) -> bool:
    """An action close enough before the start to have caused it: an Nginx action within
    :data:`TRIGGER_NGINX_S`, a deploy or change within :data:`LOOKBACK_S`."""
    if action.what in NGINX_ACTIONS:
        return inc.start - TRIGGER_NGINX_S <= action.ts <= inc.start + TRIGGER_AFTER_S
    return inc.start - LOOKBACK_S <= action.ts <= inc.start + bin_s


def relevant_alerts(events: pd.DataFrame, inc: Incident) -> pd.DataFrame:
    """Alerts that relate to the incident: firing inside it or shortly before, not always-on."""
    al = events[events["kind"] == "alert"]
    if al.empty:
        return al
    names = al["attrs"].map(lambda a: str(a.get("alertname", "")).lower())
    keep = (~names.isin(ALWAYS_ON_ALERTS)) & (al["ts"] >= inc.start - LOOKBACK_S / 2) & (
        al["ts"] <= inc.end)
    return al[keep]


def narrate(inc: Incident, dataset: Dataset, rows: pd.DataFrame, bins: Bins) -> None:
    """Fill the incident's timeline, detection, causes, ruled-out list and resolution.

    ``rows`` are the requests around the window (the second pass), sorted by time.
    """
    bin_s = bins.width
    events = dataset.events
    req = rows
    entries: list[Entry] = []
    lo, hi = inc.start - LOOKBACK_S, inc.end + LOOKAHEAD_S

    # Start and end, backed by the line that shows each: the first and last failing
    # request, a silent host's last and first request, the burst's first and last line.
    start_edge, end_edge = inc.start_edge, inc.end_edge
    entries.append(Entry(inc.start, "start", "Incident starts: " + _start_text(inc) + (
        f" ({start_edge.note})" if start_edge is not None and start_edge.basis in (
            "request_start", "timeout_assumed", "silence", "error_burst") else ""),
        start_edge.source if start_edge is not None else ""))

    # Alerts, and the pages' acknowledgements.
    entries += _alert_entries(inc, events, hi)

    # Actions: reloads, restarts; those shortly before the start are possible triggers.
    actions = [a for a in _actions(events) if lo <= a.ts <= hi] if not events.empty else []
    for a in actions:
        flag = "possible trigger" if _may_trigger(a, inc, bin_s) else ""
        entries.append(Entry(a.ts, a.what, f"{a.host}: {a.detail}" if a.host else a.detail,
                             a.source, a.host, flag))

    # Error-log messages that are unusual in the window (not the background).
    groups = _error_groups(events, inc) if not events.empty else []
    group_entries = [Entry(g.first_ts, g.kind, g.text, g.source, g.host) for g in groups]
    entries += group_entries

    # Cross-host links: the backend host behind each upstream address the proxies failed
    # to reach, and what that host's own logs show when the errors begin.
    links = _link_upstreams(inc, dataset, rows, groups, group_entries, actions, events, bin_s,
                            entries)

    if inc.peak_ts is not None:
        pct = 100.0 * inc.peak_failed / inc.peak_total if inc.peak_total else 0.0
        entries.append(Entry(inc.peak_ts, "peak",
                             f"Peak: {inc.peak_failed} of {inc.peak_total} requests failed "
                             f"({pct:.0f}%) in the {bin_s // 60}-minute bin from "
                             f"{fmt_hms(inc.peak_ts)}", inc.peak_source))
    entries += _recovery_entries(inc, dataset, req)
    entries.append(Entry(inc.end, "end", "Incident ends: " + (
        end_edge.note if end_edge is not None and end_edge.note else
        "last failing request or end of silence"),
        end_edge.source if end_edge is not None else ""))
    explain.annotate(inc, links)
    entries += explain.join_entries(inc, links)
    order = {"start": 0, "end": 9}
    entries.sort(key=lambda e: (e.ts, order.get(e.kind, 5), e.host, e.text))
    inc.timeline = entries
    _causes(inc, actions, groups, events, bins,
            _served_share_of_failing_routes(req, inc), links)
    explain.apply_rules(inc, links)


def _alert_entries(inc: Incident, events: pd.DataFrame, hi: float) -> list[Entry]:
    """The related alerts firing and resolving (a flood counted past ``MAX_ALERTS``), the
    pages' acknowledgements; sets the incident's alerts, first alert and page times."""
    entries: list[Entry] = []
    alerts = relevant_alerts(events, inc) if not events.empty else events
    ordered = alerts.sort_values("ts", kind="stable")
    if len(alerts) > MAX_ALERTS:
        # A flood of alerts (tens of thousands) is counted, not listed: each one would be
        # a timeline line, a chart mark and an HTML row.
        alerts = ordered.iloc[:MAX_ALERTS]
        rest = ordered.iloc[MAX_ALERTS:]
        inc.alerts_more = len(rest)
        first_more = rest.iloc[0]
        entries.append(Entry(
            float(first_more["ts"]), "alert_firing",
            f"{len(rest)} more related alerts fired from here on (each is in "
            "timeline.json's events)",
            f"{first_more['source_file']}:{first_more['line']}", ""))
    inc.alerts = records(alerts)
    for ev in inc.alerts:
        name = ev["attrs"].get("alertname", "alert")
        host = str(ev["host"] or "")
        entries.append(Entry(float(ev["ts"]), "alert_firing",
                             f"Alert {name} firing ({ev['severity']})"
                             + (f" on {host}" if host else ""), _src(ev), host))
        end = end_of(ev["end"])
        if end is not None and end <= hi:
            # A merged alert cites the notification that resolved it, not the firing one.
            end_line = ev["attrs"].get("end_line")
            source = f"{ev['source_file']}:{end_line}" if end_line else _src(ev)
            entries.append(Entry(end, "alert_resolved", f"Alert {name} resolved", source, host))
    if not alerts.empty:
        first = ordered.iloc[0]  # the alerts kept are a prefix of ordered
        inc.first_alert = float(first["ts"])
        inc.first_alert_name = str(first["attrs"].get("alertname", ""))
        inc.first_alert_source = f"{first['source_file']}:{first['line']}"
        # Pages (PagerDuty, Opsgenie) say when a person acknowledged and resolved them.
        paged = ordered[ordered["attrs"].map(
            lambda a: "acknowledged_at" in a or "resolved_at" in a)]
        for ev in records(paged):
            ack = ev["attrs"].get("acknowledged_at")
            if ack is not None and inc.time_to_acknowledge_s is None:
                inc.time_to_acknowledge_s = float(ack) - float(ev["ts"])
                # The acknowledgement's own record when it came apart from the trigger
                # (a PagerDuty log entry, an Opsgenie Acknowledge webhook).
                ack_line = ev["attrs"].get("acknowledged_line")
                entries.append(Entry(float(ack), "acknowledged",
                                     f"Page {ev['attrs'].get('alertname', '')} acknowledged",
                                     f"{ev['source_file']}:{ack_line}" if ack_line
                                     else _src(ev), str(ev["host"] or "")))
            res = ev["attrs"].get("resolved_at")
            if res is not None and inc.time_to_resolve_s is None:
                inc.time_to_resolve_s = float(res) - float(ev["ts"])
    return entries


def _recovery_entries(inc: Incident, dataset: Dataset, req: pd.DataFrame) -> list[Entry]:
    """When each host that went silent served a request again, with that request's line."""
    entries: list[Entry] = []
    for host in inc.affected_hosts:
        mine = req[(req["host"] == host) & (req["ts"] > inc.start)]
        if not mine.empty:
            row = mine.iloc[0]
            entries.append(Entry(float(row["ts"]), "recovery", f"{host} serves requests again",
                                 f"{dataset.sources[int(row['source'])].path}:{row['line']}",
                                 host))
            continue
        # Later than the rows read back: the aggregates know the minute and its first line.
        m = dataset.agg.minutes
        later = m[(m["host"] == host) & (m["ts_min"] > inc.end)]
        if not later.empty:
            first = later.sort_values("ts_min").iloc[0]
            entries.append(Entry(float(first["ts_min"]), "recovery",
                                 f"{host} serves requests again",
                                 f"{dataset.sources[int(first['source'])].path}:"
                                 f"{int(first['line_min'])}", host))
    return entries


def _link_upstreams(
    inc: Incident, dataset: Dataset, rows: pd.DataFrame, groups: list[ErrorGroup],
    group_entries: list[Entry], actions: list[_Action], events: pd.DataFrame, bin_s: int,
    entries: list[Entry],
) -> dict[str, Link]:
    """Tie upstream addresses to hosts (``timeline.links``) and put each link under the
    first timeline entry about its address: the first error-log group naming it, or, for
    an address seen only in ``$upstream_addr``, a new entry at its first failed request."""
    sources = dataset.sources
    uses = collect_uses(groups, rows, inc.start - 60, inc.end + 60,
                        inc.impact.failing_statuses, lambda i: sources[i].path)
    access_only = sorted((u for u in uses.values() if not u.errors and worth_linking(u)),
                         key=lambda u: (-u.failed_requests, u.address))[:ACCESS_TOP]
    chosen = {u.address for u in access_only}
    keep = {a: u for a, u in uses.items() if u.errors or a in chosen}
    if not keep:
        return {}
    errors = events[(events["parser"] == "nginx_error") & (events["kind"] != "alert")
                    & ~events["kind"].isin(LIFECYCLE)] if not events.empty else events
    links = resolve_links(keep, dataset, actions, errors, bin_s, fmt_hms)
    inc.upstream_links = [links[a] for a in sorted(links)]
    placed: set[str] = set()
    with_peers = sorted((i for i, g in enumerate(groups) if g.peer_counts),
                        key=lambda i: (groups[i].first_ts, groups[i].host))
    for i in with_peers:
        counts = groups[i].peer_counts
        mine = sorted((a for a in counts if a in links and a not in placed),
                      key=lambda a: (-counts[a], a))[:LINKS_PER_ENTRY]
        for a in mine:
            group_entries[i].links.append(links[a])
            placed.add(a)
    for use in access_only:
        status = f" ({use.first_status})" if use.first_status else ""
        entry = Entry(use.first_ts, "upstream_failing",
                      f"{use.first_proxy}: first failed request through upstream "
                      f"{use.address}{status}, {use.failed_requests} of {use.requests} "
                      "requests through it failed in the window", use.first_source,
                      use.first_proxy)
        entry.links.append(links[use.address])
        entries.append(entry)
    return links


def _start_text(inc: Incident) -> str:
    parts = []
    if "failure_ratio" in inc.signals:
        parts.append("requests start failing")
    elif "client_errors" in inc.signals:
        codes = "/".join(str(c) for c in inc.impact.failing_statuses) or "4xx"
        parts.append(f"requests start failing with {codes}")
    if inc.affected_hosts:
        parts.append(", ".join(inc.affected_hosts) + " stops logging requests")
    if "latency" in inc.signals:
        parts.append("responses slow down")
    if not parts and "error_burst" in inc.signals:
        parts.append("serious errors burst in the error logs")
    return "; ".join(parts) or ", ".join(inc.signals)


#: Kinds that matter from a single line (a crash or a refused config is never background).
_ALWAYS_UNUSUAL = ("worker_crash", "config_error", "bind_failed")
#: The error groups a window keeps (the most lines first).
MAX_ERROR_GROUPS = 12


def _error_groups(events: pd.DataFrame, inc: Incident) -> list[ErrorGroup]:
    """Error-log templates whose rate inside the window is well above their rate outside.

    Counted per (host, kind, message) with one group-by inside the window and one outside,
    so the cost grows with the lines, not with lines times templates (20,000 distinct
    messages once took minutes); only the groups kept are materialised.
    """
    ev = events[(events["kind"] != "alert") & ~events["kind"].isin(LIFECYCLE)
                & (events["parser"] == "nginx_error")]
    if ev.empty:
        return []
    inside = ((ev["ts"] >= inc.start - 60) & (ev["ts"] <= inc.end + 60)).to_numpy()
    dur = max(inc.end - inc.start + 120, 60.0)
    span = max(float(ev["ts"].max() - ev["ts"].min()), dur)
    keys = ["host", "kind", "message"]
    frame = ev[keys].astype(str).assign(count=ev["count"].to_numpy(), ts=ev["ts"].to_numpy())
    grouped = frame[inside].groupby(keys, sort=True)
    n_in = grouped["count"].sum()
    n_out = frame[~inside].groupby(keys, sort=True)["count"].sum().reindex(
        n_in.index, fill_value=0)
    expected = n_out.to_numpy(dtype=float) * dur / max(span - dur, 1.0)
    counts = n_in.to_numpy(dtype=np.int64)
    kinds = n_in.index.get_level_values("kind")
    keep = ((counts >= 3) | kinds.isin(_ALWAYS_UNUSUAL)) & (counts > 3 * expected)
    table = pd.DataFrame({"n": counts, "first_ts": grouped["ts"].first().to_numpy(),
                          "order": np.arange(len(counts))})[keep]
    # The order the list is cut in: most lines, then earliest (ties keep the key order).
    top = table.sort_values(["n", "first_ts", "order"], ascending=[False, True, True],
                            kind="stable").head(MAX_ERROR_GROUPS)
    positions = grouped.indices
    sub = ev[inside]
    out = []
    for i in top["order"].tolist():
        host, kind, message = (str(k) for k in n_in.index[i])
        group = sub.iloc[np.sort(positions[(host, kind, message)])]
        first = group.iloc[0]
        peer_counts: dict[str, int] = {}
        for a, n in zip(group["attrs"], group["count"], strict=True):
            if a.get("upstream"):
                p = peer_of(str(a["upstream"]))
                peer_counts[p] = peer_counts.get(p, 0) + int(n)
        out.append(ErrorGroup(
            host=host, kind=kind, message=message, count=int(counts[i]),
            first_ts=float(first["ts"]), last_ts=float(group["ts"].max()),
            source=f"{first['source_file']}:{first['line']}", sample=str(first["sample"]),
            peer_counts=peer_counts, rows=group))
    return out


def _causes(
    inc: Incident,
    actions: list[Any],
    groups: list[ErrorGroup],
    events: pd.DataFrame,
    bins: Bins,
    served_share: float,
    links: dict[str, Link],
) -> None:
    causes: list[Cause] = []
    used: set[int] = set()
    bin_s = bins.width
    for host in inc.affected_hosts:
        before = [a for a in actions if a.host == host and _may_trigger(a, inc, bin_s)]
        # A proxy's errors explain this host's silence when they span it, unless every
        # address they name is tied to another host.
        linked = [(i, g) for i, g in enumerate(groups) if g.host != host and
                  _overlaps(g, inc) and not _tied_elsewhere(g, host, links)]
        evidence = []
        for i, g in linked:
            used.add(i)
            evidence.append(f"{g.host}: “{g.message}” ×{g.count} "
                            f"(upstream {', '.join(g.peers[:3]) or '?'}), first at "
                            f"{g.source}")
            evidence += _link_evidence(g, links, host)
        others = [h for h in bins.per_host.columns if h != host]
        if before:
            act = before[-1]
            config = act.what in ("reload", "nginx_restart")
            kind = "config_change" if config else "nginx_unavailable"
            summary = (f"{host}: {act.detail.lower()} at {fmt_hms(act.ts)}, and from then on it "
                       f"served no requests until {fmt_hms(inc.end)} while "
                       f"{', '.join(others) or 'the other hosts'} kept serving")
            evidence.insert(0, f"{act.what} on {host} at {act.source}")
            causes.append(Cause(kind, summary, 0.8 if linked else 0.6, evidence, host))
        else:
            causes.append(Cause("nginx_unavailable",
                                f"{host} wrote no access lines from {fmt_hms(inc.start)} to "
                                f"{fmt_hms(inc.end)} while the other hosts kept serving",
                                0.5, evidence, host))
    causes += _reload_then_failing(inc, actions, groups, used, bin_s,
                                   {c.host for c in causes if c.kind == "config_change"})
    by_kind: dict[str, list[ErrorGroup]] = {}
    for i, g in enumerate(groups):
        if i in used:
            continue
        cause = CAUSE_OF_KIND.get(g.kind)
        if cause:
            by_kind.setdefault(cause, []).append(g)
    # A deploy or config change just before the start, from a change-events file.
    for act in actions:
        if act.what in CHANGE_TRIGGERS and inc.start - LOOKBACK_S <= act.ts <= inc.start + bin_s:
            if any(c.kind == "config_change" and c.host == act.host and act.host
                   for c in causes):
                continue
            mins = (inc.start - act.ts) / 60
            causes.append(Cause(
                "config_change",
                f"{act.detail} at {fmt_hms(act.ts)}, {mins:.0f} minutes before the failures "
                "started" + (f" (host {act.host})" if act.host else ""),
                0.5, [f"{act.what} at {act.source}"], act.host))
    for kind, gs in by_kind.items():
        total = sum(g.count for g in gs)
        hosts = sorted({g.host for g in gs})
        summary = (f"{total} “{gs[0].message}” errors on {', '.join(hosts)} during the window"
                   + (f" (upstream {', '.join(sorted({p for g in gs for p in g.peers})[:5])})"
                      if any(g.peer_counts for g in gs) else ""))
        evidence = []
        for g in gs[:5]:
            evidence.append(f"{g.host}: “{g.message}” ×{g.count}, first at {g.source}")
            evidence += _link_evidence(g, links)
        if kind == "capacity_exhausted":
            evidence += _slow_clients(inc.impact)
        conf = min(0.7, 0.3 + 0.1 * np.log10(max(total, 1)))
        if kind == "upstream_unreachable" and served_share >= PARTIAL_SERVED:
            # The same routes failed for some requests and were served for the others: one
            # upstream (or the users hashed to it) is down, the rest answer.
            kind = "upstream_partial"
            summary += (f"; only part of the traffic failed: {served_share:.0%} of the "
                        "requests to the failing routes were still served")
        causes.append(Cause(kind, summary, round(conf, 2), evidence,
                            _culprit(gs, links, bins.edge_hosts) or hosts[0]))
    if "latency" in inc.signals and "upstream_timeout" not in by_kind:
        causes.append(_slow_cause(inc))
    if not causes:
        causes.append(Cause("unknown", "No error-log message or host silence explains the "
                            "failures; read the failing requests' upstream logs", 0.1, []))
    causes.sort(key=lambda c: -c.confidence)
    inc.causes = causes
    inc.ruled_out = _ruled_out(inc, groups, bins)
    inc.resolution = [f"{a.host}: {a.detail.lower()} at {fmt_hms(a.ts)} ({a.source})"
                      for a in actions
                      if inc.end - 10 * 60 <= a.ts <= inc.end + 2 * bin_s
                      and (not inc.affected_hosts or a.host in inc.affected_hosts)]


def _reload_then_failing(inc: Incident, actions: list[_Action], groups: list[ErrorGroup],
                         used: set[int], bin_s: int, named: set[str]) -> list[Cause]:
    """A reload or restart on a host whose own answers started failing right after it.

    Nginx applies a new configuration at once, so a step change in what a host answers
    within :data:`TRIGGER_NGINX_S` of its reload is the reload's doing: a site link removed
    from ``sites-enabled`` leaves a ``default_server`` answering 404 (403 for a directory)
    for every route, static files included, and the error log then fills with ``open()``
    failures under a root the site never used. Those errors are the symptom; the change is
    the candidate. The host's error groups go into this cause's evidence.
    """
    out: list[Cause] = []
    imp = inc.impact
    for act in actions:
        if (act.what not in ("reload", "nginx_restart") or act.host in named
                or not _may_trigger(act, inc, bin_s)
                or not imp.by_host.get(act.host, {}).get("failed")):
            continue
        named.add(act.host)
        codes = "/".join(str(c) for c in imp.failing_statuses) or "errors"
        lag = max(0.0, inc.start - act.ts)
        evidence = [f"{act.what} on {act.host} at {act.source}"]
        if inc.start_edge is not None and inc.start_edge.source:
            evidence.append(f"first failing request {lag:.0f} s later at "
                            f"{inc.start_edge.source}")
        if imp.routes_seen >= 3 and imp.routes_failing >= 0.9 * imp.routes_seen:
            evidence.append(f"{imp.routes_failing} of the {imp.routes_seen} routes requested in "
                            "the window failed, whatever they serve: the whole site changed "
                            "at once, not one backend")
        for i, g in enumerate(groups):
            if g.host == act.host and i not in used:
                used.add(i)
                evidence.append(f"{g.host}: “{g.message}” ×{g.count} ({g.kind}, "
                                f"a symptom), first at {g.source}")
        out.append(Cause(
            "config_change",
            f"{act.host}: {act.detail.lower()} at {fmt_hms(act.ts)}, and {lag:.0f} s later its "
            f"requests started failing ({codes}): the failures are what the new configuration "
            "answers", 0.75, evidence, act.host))
    return out


def _slow_clients(imp: Impact) -> list[str]:
    """The connections that held the descriptors or worker connections: clients that never
    completed a request (not users; listed apart in the impact), as cause evidence."""
    if not imp.incomplete_requests:
        return []
    nets = ", ".join(f"{n} ({c} clients, {r})" for n, c, r in imp.incomplete_networks[:3])
    return [f"{imp.incomplete_requests} connections from {imp.incomplete_clients} clients "
            f"never sent a complete request (400/408 without a full request line), from "
            f"{nets}: the burst that held the connections"]


def _culprit(groups: list[ErrorGroup], links: dict[str, Link],
             edge_hosts: tuple[str, ...]) -> str | None:
    """The backend host the errors point at, if one stands out.

    A proxy logs the error (its connection to the backend was refused, timed out...), but
    the fault is on the backend it names: when every tied peer is the same input host,
    that host is the cause's host, not the proxy that wrote the lines. Else, when the same
    kind of error is logged by the edge and by exactly one host behind it, the one behind
    it is nearer the fault (the edge only relays it).
    """
    tied = {links[p].host for g in groups for p in g.peers if p in links and links[p].host}
    if len(tied) == 1:
        return tied.pop()
    behind = {g.host for g in groups if g.host not in edge_hosts}
    if len(behind) == 1 and len({g.host for g in groups}) > 1:
        return behind.pop()
    return None


def _slow_cause(inc: Incident) -> Cause:
    """Responses far slower than usual with no timeout logged: the backends when their own
    time ($upstream_response_time) grew with the total, else unexplained."""
    lat = inc.impact.latency

    def grew(name: str) -> tuple[float, float] | None:
        got = lat.get(name)
        if got is None or got.window is None or got.baseline is None:
            return None
        return got.window.p95_s, got.baseline.p95_s

    total, upstream = grew("request_time"), grew("upstream_time")
    shown = total or upstream
    text = (f"p95 {shown[0]:.2f} s in the window against {shown[1]:.2f} s before"
            if shown else "p95 far above the quiet bins'")
    behind, host = _slowed_behind(inc)
    if upstream is not None and upstream[0] > 2 * upstream[1]:
        return Cause("upstream_timeout", "Responses slowed down (" + text + "), and the "
                     f"backends' own time with them (upstream p95 {upstream[0]:.2f} s against "
                     f"{upstream[1]:.2f} s): slow upstreams, though none timed out" + behind,
                     0.4, ["latency signal: $upstream_response_time per bin at the edge"],
                     host or "")
    if host is not None:
        return Cause("upstream_timeout", "Responses slowed down (" + text + ") with no error "
                     "logged" + behind, 0.4,
                     ["latency signal: $request_time per bin at the edge"], host)
    return Cause("unknown", "Responses slowed down (" + text + ") with no error logged; "
                 "the logs do not say where the time went" + behind, 0.2,
                 ["latency signal: $request_time per bin at the edge"])


def _slowed_behind(inc: Incident) -> tuple[str, str | None]:
    """What the hosts behind the edge say of the slowness, from their own logs: a clause
    for the cause's summary, and the host when it is the one that slowed while the others
    behind the edge kept their usual times (a proxy only waits for its backend)."""
    hosts = inc.impact.latency_behind
    slowed = [h for h in hosts if h.slowed]
    if not slowed:
        return "", None

    def p95(h: HostLatency) -> str:
        return f"{h.host}'s own p95 {h.window_p95_s:.2f} s against {h.baseline_p95_s:.2f} s"

    kept = [h for h in hosts if not h.slowed]
    if len(slowed) == 1:
        rest = ("; " + ", ".join(f"{h.host} kept its usual {h.window_p95_s:.2f} s" for h in
                                 kept[:3])) if kept else ""
        return f"; behind the edge {p95(slowed[0])}{rest}", slowed[0].host
    return "; behind the edge " + ", ".join(p95(h) for h in slowed[:4]), None


#: How the cause evidence names a group of proxy errors toward one address.
_ERRORS_NOUN = {"upstream_refused": "refused connections", "upstream_timeout": "timeouts",
                "upstream_reset": "reset connections", "upstream_closed": "closed connections",
                "no_live_upstreams": "“no live upstreams” errors"}


def _tied_elsewhere(group: ErrorGroup, host: str, links: dict[str, Link]) -> bool:
    """Every peer of the group is tied to a host, and none of them to ``host``."""
    tied = [links[p].host for p in group.peers if p in links]
    return bool(tied) and len(tied) == len(group.peers) and all(
        t is not None and t != host for t in tied)


def _link_evidence(group: ErrorGroup, links: dict[str, Link],
                   host: str | None = None) -> list[str]:
    """For each peer of the group tied to a host (to ``host`` when given): the backend
    and what its own logs show, with the line."""
    out = []
    for p in group.peers[:3]:
        link = links.get(p)
        if link is None or link.host is None or (host is not None and link.host != host):
            continue
        how = {"nginx_conf": "from the nginx config", "host_name": "by its name",
               "timing": "inferred from timing"}[str(link.how)]
        noun = _ERRORS_NOUN.get(group.kind, "errors")
        line = (f"{group.host}'s {noun} to {p} ({link.host}, {how}) → "
                f"{link.host}'s own logs: {link.summary}")
        out.append(line + (f" ({link.source})" if link.source else ""))
    return out


def _overlaps(group: ErrorGroup, inc: Incident) -> bool:
    """An error group explains a host's silence when it spans most of the window."""
    first, last = group.first_ts, group.last_ts
    dur = max(inc.end - inc.start, 1.0)
    return bool(first <= inc.start + 120 and (last - first) >= 0.8 * dur - 120)


def _ruled_out(inc: Incident, groups: Iterable[ErrorGroup], bins: Bins) -> list[str]:
    """What the data shows was not the problem (the postmortem's misleading paths)."""
    out: list[str] = []
    kinds = {g.kind for g in groups}
    b0, b1 = bins.window(inc.start, inc.end)
    total = bins.edge_total.astype(float)
    outside = bins.outside(inc.start, inc.end)
    if outside.any() and b1 >= b0:
        base = float(np.median(total[outside]))
        inside = float(np.mean(total[b0 : b1 + 1])) if b1 >= b0 else 0.0
        if base > 0 and inside <= 1.5 * base:
            out.append(f"Traffic volume was normal ({inside:.0f} requests/bin against a usual "
                       f"{base:.0f}): not a surge of load.")
    if inc.affected_hosts:
        others = [h for h in bins.per_host.columns if h not in inc.affected_hosts]
        if others:
            out.append(f"Other hosts were unaffected: {', '.join(others)} kept serving "
                       "requests throughout.")
    if not kinds & {"worker_connections", "too_many_open_files"}:
        out.append("No sign of capacity exhaustion: no “worker_connections are not enough” "
                   "or “Too many open files” in the error logs.")
    up = inc.impact.latency.get("upstream_time")
    if "upstream_timeout" not in kinds and "latency" not in inc.signals:
        if up is not None and up.window is not None and up.baseline is not None and (
                up.window.p95_s <= 2 * up.baseline.p95_s):
            out.append(f"Upstream latency was normal: p95 {up.window.p95_s:.3f} s in the "
                       f"window against {up.baseline.p95_s:.3f} s before the start.")
        else:
            out.append("No upstream timeouts in the error logs: backends were not slow.")
    if not kinds & {"rate_limited", "conn_limited"}:
        out.append("No requests were rejected by limit_req or limit_conn.")
    return out


def _served_share_of_failing_routes(rows: pd.DataFrame, inc: Incident) -> float:
    """Of the requests in the window to routes that failed at least once, the share that
    was served (2xx/3xx). Near 0 when a route is down for everyone; well above when only
    some upstreams (or the users hashed to them) fail."""
    if rows.empty:
        return 0.0
    w = rows[(rows["ts"] >= inc.start) & (rows["ts"] <= inc.end)]
    if w.empty:
        return 0.0
    status = w["status"].to_numpy()
    failing = status >= 500
    if not failing.any():
        return 0.0
    routes = w["route"] if "route" in w else pd.Series(routes_of(w["path"]), index=w.index)
    bad_routes = set(routes[failing].tolist())
    # Series.isin hashes; np.isin on object arrays compares every pair.
    on_bad = routes.isin(bad_routes).to_numpy()
    served = on_bad & (status >= 200) & (status < 400)
    return float(served.sum()) / float(on_bad.sum())
