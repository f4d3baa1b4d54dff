"""The "what changed" table and the error-log join put to use in the story.

* Upstream rows of the table name the backend host the address is tied to
  (:mod:`timeline.links`).
* The timeline says how many of the failing requests of a status an error-log message
  explains, and the cause naming that message's host or peer cites it.
* The evidence rule: the top rise of the table, when it covers at least
  :data:`EXPLAINS` of the failing requests, is evidence for the cause that names its host
  or upstream; a client network that covers that much of a surge of 429/503 points to
  ``rate_limited`` (abuse, or a client gone wild) rather than a backend fault.
"""

from __future__ import annotations

from timeline.model import Cause, Change, Entry, Incident, Link
from timeline.timefmt import fmt_hms

#: A value "explains" the failures when it carries at least this share of them.
EXPLAINS = 0.5
#: Statuses a rate limit answers with (``limit_req_status``/``limit_conn_status`` default
#: to 503; 429 is the usual choice).
LIMIT_STATUSES = frozenset({429, 503})
#: Confidence of a ``rate_limited`` cause backed by a client network carrying most of the
#: surge (above the error-log causes' 0.7 ceiling: the concentration is direct evidence).
RATE_LIMITED_CONFIDENCE = 0.8

def _describe(ch: Change) -> str:
    """One line of evidence from a row of the table."""
    backend = f" ({ch.backend})" if ch.backend else ""
    return (f"what changed: {ch.dimension} {ch.value}{backend} carries "
            f"{ch.window_share:.0%} of the window's failing requests against "
            f"{ch.baseline_share:.1%} in the baseline (lift {ch.lift:g}, q={ch.q_value:.2g}), "
            f"first at {ch.evidence}")


def annotate(inc: Incident, links: dict[str, Link]) -> None:
    """Name the backend behind each upstream value of the table."""
    if inc.changes is None:
        return
    for ch in inc.changes.changes:
        dims = ch.dimension.split("+")
        if "upstream" not in dims:
            continue
        value = ch.value.split(" + ")[dims.index("upstream")] if len(dims) > 1 else ch.value
        link = links.get(value)
        if link is not None and link.host:
            how = f", from {link.how}" if link.how else ""
            ch.backend = f"{link.host}{how}"


def join_entries(inc: Incident, links: dict[str, Link]) -> list[Entry]:
    """Timeline entries: per failing status, the error-log message that explains most of
    its requests."""
    out: list[Entry] = []
    if inc.joins is None:
        return out
    for f in inc.joins.failures:
        link = links.get(f.peer)
        peer = f" to {f.peer}" + (f" ({link.host})" if link is not None and link.host
                                  else "") if f.peer else ""
        out.append(Entry(inc.start, "joined_errors",
                         f"{f.requests} requests answered {f.status}; {f.matched} of them have "
                         f"a “{f.message}”{peer} in {f.host}'s error log", f.first_source,
                         f.host))
    return out


def apply_rules(inc: Incident, links: dict[str, Link]) -> None:
    """The evidence rule (module docstring), then the causes sorted again."""
    t = inc.changes
    rises = [c for c in t.changes if c.direction == "rise"] if t is not None else []
    top = rises[0] if rises else None
    causes = inc.causes
    if top is not None and top.window_share >= EXPLAINS:
        if top.dimension == "client_net" and set(inc.impact.failing_statuses) & LIMIT_STATUSES:
            _rate_limited(inc, top)
        else:
            names = _named_hosts(top, links)
            for c in causes:
                if c.host and c.host in names:
                    c.evidence.append(_describe(top))
    if inc.joins is not None:
        for f in inc.joins.failures:
            line = (f"{f.matched} of the {f.requests} requests answered {f.status} have a "
                    f"“{f.message}”" + (f" to {f.peer}" if f.peer else "")
                    + f" in {f.host}'s error log (first at {f.first_source})")
            for c in causes:
                if any(f.message in e and e.startswith(f"{f.host}:") for e in c.evidence):
                    c.evidence.append(line)
    causes.sort(key=lambda c: -c.confidence)


def _named_hosts(ch: Change, links: dict[str, Link]) -> set[str]:
    """The hosts a row points at: its host, or the backend tied to its upstream."""
    out = set()
    for dim, value in zip(ch.dimension.split("+"), ch.value.split(" + "), strict=False):
        if dim == "host":
            out.add(value)
        elif dim == "upstream":
            link = links.get(value)
            if link is not None and link.host:
                out.add(link.host)
    return out


def _rate_limited(inc: Incident, top: Change) -> None:
    """A client network carrying most of a surge of 429/503: ``rate_limited``."""
    line = _describe(top)
    for c in inc.causes:
        if c.kind == "rate_limited":
            c.evidence.insert(0, line)
            c.confidence = max(c.confidence, RATE_LIMITED_CONFIDENCE)
            return
    statuses = "/".join(str(s) for s in sorted(set(inc.impact.failing_statuses)
                                               & LIMIT_STATUSES))
    inc.causes = [c for c in inc.causes if c.kind != "unknown"]
    inc.causes.append(Cause(
        "rate_limited",
        f"one client network, {top.value}, sent {top.window_share:.0%} of the requests "
        f"answered {statuses} from {fmt_hms(inc.start)} (it sent {top.baseline_share:.1%} "
        "before): a flood from a few clients met a limit, not a backend fault",
        RATE_LIMITED_CONFIDENCE, [line]))
