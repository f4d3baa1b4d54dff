"""The results of an analysis: incidents with impact, timeline, causes. Times are epoch
seconds UTC (floats) until a writer formats them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from timeline.clients import ClientRule, UserKey, parse_exclusions, parse_user_key
from timeline.errors import UsageError
from timeline.ingest import Dataset, EventRecord


def records(frame: pd.DataFrame) -> list[EventRecord]:
    """The rows of a (small) frame of events (``Dataset.events`` or a selection of it) as
    records: typed, and faster than ``itertuples`` here."""
    return frame.to_dict("records")  # type: ignore[return-value]


def end_of(value: Any) -> float | None:
    """An event's ``end`` as a float, or None when unknown (None or NaN in the frame)."""
    return None if value is None or pd.isna(value) else float(value)


#: Timeline entry kinds that are actions on a host (drawn on the chart, listed as actions).
ACTION_KINDS = ("reload", "nginx_restart", "nginx_stop", "nginx_start", "worker_crash",
                "deploy", "config_change", "rollback", "restart", "feature_flag",
                "manual_action", "change")


#: A request failed when the user got an error or nothing: 5xx, 000 (no response was sent),
#: 444 (Nginx closed the connection without answering).
FAILED_STATUSES_NOTE = "5xx, 000 and 444"


@dataclass(frozen=True)
class Link:
    """A proxy's upstream address tied (or not) to a backend host (``timeline.links``),
    and what that host's own logs show when the proxy's errors toward it begin."""

    address: str
    proxy: str
    #: The backend host, or None when no rule ties the address to exactly one host.
    host: str | None
    #: ``nginx_conf``, ``host_name``, ``timing``, or None when not tied.
    how: str | None
    why: str
    #: The config line an address was tied by, or None.
    mapping_source: str | None
    #: What the host's own logs show then, and the line that shows it (None when untied).
    summary: str | None
    source: str | None
    text: str


@dataclass
class Entry:
    """One line of the incident timeline, backed by ``source`` (``file:line``)."""

    ts: float
    kind: str
    text: str
    source: str
    host: str = ""
    flag: str = ""
    #: Cross-host links: for a proxy's first error toward an upstream address, the backend
    #: host it is and what that host's own logs show then.
    links: list[Link] = field(default_factory=list)


@dataclass(frozen=True)
class Edge:
    """How one edge of an incident (its start or end) was found, and the line that shows it.

    ``basis`` is one of: ``failure_logged`` (the time a failing request was logged),
    ``request_start`` (a failing request's logged time minus its ``$request_time``: Nginx
    logs a request when it ends), ``timeout_assumed`` (a 504 logged without a request time,
    minus the proxy timeout it waited), ``silence`` (a host's last request before it went
    silent, or its first after), ``error_burst`` (the first or last serious error-log line),
    ``bins`` (the edge of the anomalous bins: nothing finer was logged) or ``given``
    (``--window``).
    """

    ts: float
    basis: str
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class ErrorGroup:
    """Error-log lines of one host, kind and template that are unusual in a window: their
    rate inside it is well above their rate outside."""

    host: str
    kind: str
    #: The template (numbers, addresses, ids masked).
    message: str
    #: Lines (counted with their repeat counts) inside the window, and the first and last.
    count: int
    first_ts: float
    last_ts: float
    #: ``file:line`` of the first line, and its raw text.
    source: str
    sample: str
    #: Upstream peers (host:port of ``upstream:``) the lines name, with their line counts.
    peer_counts: dict[str, int]
    #: The group's rows of the events table (ts, host, count, attrs...), for the links.
    rows: pd.DataFrame = field(repr=False, compare=False)

    @property
    def peers(self) -> list[str]:
        """The peers, sorted."""
        return sorted(self.peer_counts)

    @property
    def text(self) -> str:
        """The timeline's sentence for the group."""
        out = (f"{self.host}: first “{self.message}” ({self.kind}), {self.count}× in the "
               "window")
        return out + ("; upstream " + ", ".join(self.peers[:5]) if self.peer_counts else "")


@dataclass
class Cause:
    """A candidate cause, with the evidence for it."""

    kind: str
    summary: str
    confidence: float
    evidence: list[str] = field(default_factory=list)
    host: str = ""


@dataclass
class Breakdown:
    """Requests and failed requests of one upstream or route inside the window."""

    name: str
    requests: int
    failed: int


@dataclass(frozen=True)
class BinSeries:
    """Requests and failed requests of one upstream address per bin (of the analysis'
    bins), over the rows read back around a window: bin ``first`` onwards."""

    name: str
    first: int
    requests: tuple[int, ...]
    failed: tuple[int, ...]


@dataclass
class Exclusion:
    """What one ``--exclude-client`` rule left out of the window's counts."""

    rule: str
    #: Distinct client addresses with at least one request the rule matched.
    clients: int
    requests: int


@dataclass
class Quantiles:
    """Median and 95th percentile of a latency field over ``n`` requests, in seconds."""

    n: int
    p50_s: float
    p95_s: float


@dataclass
class Latency:
    """One latency field at the edge: in the window and in the baseline before it."""

    window: Quantiles | None
    baseline: Quantiles | None


#: Latency fields of the requests table, in the order the report shows them.
LATENCY_FIELDS = ("request_time", "upstream_time")


@dataclass
class HostLatency:
    """A host behind the edge, in its own log: p95 of ``field`` in the window and in the
    baseline, and whether it grew past the latency signal's bar."""

    host: str
    field: str
    window_p95_s: float
    baseline_p95_s: float
    slowed: bool


@dataclass
class SloReport:
    """Error budget and burn rates of an incident against an availability target.

    Burn rate = error ratio over a window / (1 - target) (Google SRE workbook, "Alerting on
    SLOs"). Times are the end of the window the rate was measured over.
    """

    target_pct: float
    #: The SLO period: the analysed span (the logs hold nothing longer).
    period_start: float
    period_end: float
    period_requests: int
    #: Failed requests the target allows over the period: requests x (1 - target).
    budget_requests: float
    failed: int
    #: failed / budget_requests as a percentage; None when the period had no requests.
    budget_consumed_pct: float | None
    long_window_s: int
    short_window_s: int
    peak_burn_long: float
    peak_burn_long_at: float | None
    peak_burn_short: float
    peak_burn_short_at: float | None
    #: First time both the 1 h and the 5 min burn rate exceeded 14.4 (page), or None.
    page_at: float | None
    #: First time both the 6 h and the 30 min burn rate exceeded 6, or None.
    slow_page_at: float | None


@dataclass
class Impact:
    """Who and what the incident hit, inside its window."""

    users_affected: int = 0
    users_total: int = 0
    requests_failed: int = 0
    requests_total: int = 0
    #: Requests expected from the baseline but never logged (a host wrote nothing); estimate.
    requests_lost_estimate: int = 0
    #: Failures in the window at the usual background rate (statuses that did not surge).
    background_failed: int = 0
    #: In an incident of slowness alone (nothing failed), the requests slower than
    #: ``slow_over_s``; their users are the users affected. 0 and None otherwise.
    requests_slow: int = 0
    slow_over_s: float | None = None
    #: The hosts behind the edge whose own logs carry a latency, in the window against the
    #: baseline (filled for incidents with the ``latency`` signal), by host name.
    latency_behind: list[HostLatency] = field(default_factory=list)
    #: Users counted as affected because a silent edge host served them just before its
    #: silence (an estimate: nothing is logged while Nginx is down).
    users_estimated: int = 0
    #: False when the failures never reached the access log (connections dropped when
    #: worker_connections ran out): the users hit cannot be counted from the logs.
    users_measurable: bool = True
    #: Share of the window's failures that came from its busiest client (a scanner is ~1).
    top_client_share: float = 0.0
    #: The failure statuses that surged in the window (those count as the incident's).
    failing_statuses: list[int] = field(default_factory=list)
    #: An interval that holds the true number of users affected: equal to
    #: ``users_affected`` when every failure was logged (``users_basis`` ``counted``); when
    #: Nginx dropped connections before logging them or a host was silent
    #: (``estimated``), the users with a logged failure and the most the dropped
    #: connections could add, ``users_affected`` being the point estimate.
    users_affected_low: int = 0
    users_affected_high: int = 0
    #: Users active in the window at the high end (users the dropped connections could have
    #: hit without any of their requests being logged are added to both counts).
    users_total_high: int = 0
    #: The interval as percentages: the low end over the users seen in the window, the
    #: high end with the unseen users the dropped connections could have hit added.
    users_pct_low: float = 0.0
    users_pct_high: float = 0.0
    users_basis: str = "counted"
    #: How the estimate was made (empty when counted).
    users_method: str = ""
    #: Requests that never became a request: Nginx logged ``"-"`` as the request line (the
    #: client sent no complete request before it timed out or was cut: 400, 408). Their
    #: clients are not users; when they surge they are the cause's evidence.
    incomplete_requests: int = 0
    incomplete_clients: int = 0
    #: The networks (/24, /48) they came from, most requests first: (network, clients,
    #: requests).
    incomplete_networks: list[tuple[str, int, int]] = field(default_factory=list)
    by_host: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Top upstream addresses by failed requests (all hosts); empty when none was logged.
    by_upstream: list[Breakdown] = field(default_factory=list)
    #: The same upstreams per bin, for the chart's panels (only when there are several).
    upstream_bins: list[BinSeries] = field(default_factory=list)
    upstreams_seen: int = 0
    #: Top routes (path without query, ids collapsed) by failed requests, at the edge.
    by_route: list[Breakdown] = field(default_factory=list)
    routes_seen: int = 0
    routes_failing: int = 0
    #: Per ``--exclude-client`` rule, in the order given.
    excluded: list[Exclusion] = field(default_factory=list)
    #: Per :data:`LATENCY_FIELDS` name; None when the edge's log format does not log it.
    latency: dict[str, Latency | None] = field(default_factory=dict)
    #: First and last time of the baseline rows the latency is compared with.
    latency_baseline: tuple[float, float] | None = None

    @property
    def users_pct(self) -> float:
        """Users affected as a percentage (0-100) of users active in the window."""
        return 100.0 * self.users_affected / self.users_total if self.users_total else 0.0

    @property
    def requests_pct(self) -> float:
        """Requests failed as a percentage (0-100) of requests in the window."""
        return 100.0 * self.requests_failed / self.requests_total if self.requests_total else 0.0

    @property
    def requests_slow_pct(self) -> float:
        """Requests slower than ``slow_over_s`` as a percentage (0-100) of the window's."""
        return 100.0 * self.requests_slow / self.requests_total if self.requests_total else 0.0


@dataclass
class Change:
    """One row of the "what changed" table (:mod:`timeline.shift`): a value of a dimension
    (or of a pair, ``route+upstream``) whose share rose among the window's failing
    requests, or whose share of all requests fell (a dip)."""

    dimension: str
    value: str
    #: ``rise`` or ``dip``
    direction: str
    window_count: int
    window_share: float
    baseline_count: int
    baseline_share: float
    #: window share / baseline share, each floored at half a request
    lift: float
    #: one-sided Fisher exact test, and the Benjamini-Hochberg adjusted value
    p_value: float
    q_value: float
    #: ``file:line`` of the first failing request in the window with the value (a rise)
    #: or of its last request in the baseline (a dip)
    evidence: str
    evidence_ts: float | None
    #: failed / all requests with the value in the window
    failure_rate: float
    #: what the baseline share is of: ``failing`` requests, or ``all`` requests
    reference: str
    #: for an upstream value: the backend host it is tied to, and how (``timeline.links``)
    backend: str = ""


@dataclass
class ChangeTable:
    """The "what changed" table of one incident, with what it compared."""

    changes: list[Change]
    #: ``before``, ``day`` or ``week``, and the baseline's bounds (epoch seconds)
    baseline_kind: str
    baseline_start: float
    baseline_end: float
    #: ``failures`` or ``slow`` (a latency incident without failures)
    target: str
    window_failing: int
    window_total: int
    baseline_failing: int
    baseline_total: int
    #: how many values were tested (the Benjamini-Hochberg m)
    tested: int
    #: pair dimensions left out for having too many values
    pairs_dropped: list[str] = field(default_factory=list)
    #: requests the baseline holds (more than ``baseline_total`` when it was sampled)
    baseline_requests: int = 0


@dataclass
class JoinedFailure:
    """Failing requests of one status that an error-log entry explains
    (:mod:`timeline.joins`): ``matched`` of the ``requests`` answered ``status`` in the
    window have a ``message`` to ``peer`` in ``host``'s error log."""

    status: int
    requests: int
    matched: int
    host: str
    message: str
    peer: str
    #: ``file:line`` of the first such error entry
    first_source: str


@dataclass
class JoinReport:
    """The error-log entries of the window that name a request, and how many of them
    matched an access-log request."""

    errors: int
    matched: int
    unmatched: int
    failures: list[JoinedFailure] = field(default_factory=list)


@dataclass
class TemplateChange:
    """An error-log message template new in the window or surged against the baseline
    (:mod:`timeline.errtemplates`)."""

    host: str
    kind: str
    template: str
    window_count: int
    baseline_count: int
    window_rate_per_min: float
    baseline_rate_per_min: float
    #: ``new`` (never seen before the window) or ``surged``
    status: str
    first_ts: float
    first_source: str


@dataclass
class ClockSkew:
    """A backend's clock offset against a proxy's (:mod:`timeline.skew`): the median of
    backend time minus proxy time over ``pairs`` requests seen in both logs."""

    host: str
    reference: str
    offset_s: float
    #: interquartile range of the differences
    spread_s: float
    pairs: int
    #: whether the host's times were corrected (offset over one second, and not
    #: ``--no-skew-correction``)
    corrected: bool


@dataclass
class Incident:
    """One incident window and everything said about it."""

    start: float
    end: float
    signals: list[str]
    impact: Impact = field(default_factory=Impact)
    first_alert: float | None = None
    first_alert_name: str = ""
    first_alert_source: str = ""
    timeline: list[Entry] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)
    ruled_out: list[str] = field(default_factory=list)
    resolution: list[str] = field(default_factory=list)
    peak_ts: float | None = None
    #: ``file:line`` of the first failing request in the peak bin.
    peak_source: str = ""
    peak_failed: int = 0
    peak_total: int = 0
    affected_hosts: list[str] = field(default_factory=list)
    window_given: bool = False
    #: How the start and the end were found, with the lines that show them.
    start_edge: Edge | None = None
    end_edge: Edge | None = None
    #: From a page (PagerDuty, Opsgenie): acknowledged / resolved minus triggered.
    time_to_acknowledge_s: float | None = None
    time_to_resolve_s: float | None = None
    #: Only with an availability target (``--slo``).
    slo: SloReport | None = None
    #: Every upstream address the proxies failed to use, tied to a backend host or not,
    #: sorted by address.
    upstream_links: list[Link] = field(default_factory=list)
    #: The alerts that relate to the incident (firing inside it or shortly before, not
    #: always-on), in time order: the narrative, the writers and the chart all use these.
    alerts: list[EventRecord] = field(default_factory=list)
    #: Related alerts beyond the first ``narrate.MAX_ALERTS`` (by firing time): counted in
    #: one timeline entry, not listed (they are all in timeline.json's events).
    alerts_more: int = 0
    #: What changed against the baseline (``timeline.shift``); None when not computed.
    changes: ChangeTable | None = None
    #: The error-log entries joined to the requests (``timeline.joins``).
    joins: JoinReport | None = None
    #: Error-log templates new in the window or surged (``timeline.errtemplates``).
    error_templates: list[TemplateChange] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Length of the window in seconds."""
        return self.end - self.start

    @property
    def time_to_detect_s(self) -> float | None:
        """First related alert minus start, when an alert fired."""
        return None if self.first_alert is None else self.first_alert - self.start


@dataclass
class Analysis:
    """The outcome of :func:`timeline.build`: inputs, binned traffic and incidents."""

    dataset: Dataset
    bin_s: int
    #: Per-bin counts for the chart: index = bin start (epoch s); columns 2xx..5xx, failed, total.
    bins: pd.DataFrame
    incidents: list[Incident]
    edge_hosts: list[str]
    probe_clients: int
    method: list[str] = field(default_factory=list)
    options: AnalysisOptions = field(default_factory=lambda: AnalysisOptions())
    #: Clock offsets of backends against their proxy (``timeline.skew``).
    clock_skew: list[ClockSkew] = field(default_factory=list)


@dataclass(frozen=True)
class AnalysisOptions:
    """Options for :func:`timeline.build`; invalid values raise :class:`UsageError` here.

    Attributes:
        user_key: ``ip`` (client address), ``ip+ua`` or a field (``remote_user``...).
        exclude_client: clients that are not users: an IP or CIDR network, ``ua:REGEX``
            or ``path:PREFIX`` each.
        slo: availability target in percent (e.g. 99.9) for error budget and burn rates.
        skew_correction: move a backend's times by its clock offset against its proxy
            when over a second (``--no-skew-correction`` turns it off).
    """

    user_key: str = "ip"
    exclude_client: tuple[str, ...] = ()
    slo: float | None = None
    skew_correction: bool = True

    def __post_init__(self) -> None:
        """Check every option now, before any input is read."""
        parse_user_key(self.user_key)
        parse_exclusions(self.exclude_client)
        if self.slo is not None and not (0 < self.slo < 100):
            raise UsageError(f"--slo {self.slo:g}: give the availability target as a "
                             "percentage between 0 and 100, e.g. 99.9")

    @property
    def key(self) -> UserKey:
        """The parsed user key."""
        return parse_user_key(self.user_key)

    @property
    def rules(self) -> tuple[ClientRule, ...]:
        """The parsed exclusion rules, in the order given."""
        return parse_exclusions(self.exclude_client)


@dataclass(frozen=True)
class KeyTime:
    """One key time of an incident (impact start, detection...), measured, with the line
    that shows it; or, when the inputs cannot say it, ``ts`` None and the ``reason``.

    ``basis`` says how it was measured: the edge's basis (``failure_logged``, ``silence``...,
    see :class:`Edge`) for impact start and resolution, ``alert`` (the first related alert
    fired), ``page_acknowledged`` (a PagerDuty or Opsgenie acknowledgement), ``change`` (an
    action in the logs just before the failure ratio fell), ``ratio_fell`` (the first bin
    from which the failure ratio stayed under half its peak) or ``failures_stopped`` (the
    ratio never fell before the end: mitigation and resolution are the same moment).
    """

    ts: float | None
    evidence: str = ""
    basis: str = ""
    #: Why it is missing (``ts`` None), or a remark on how it was measured.
    reason: str = ""

    @property
    def known(self) -> bool:
        """True when the inputs said it."""
        return self.ts is not None


@dataclass(frozen=True)
class KeyTimes:
    """The key times of one incident (``timeline.keytimes``) and the durations between
    them; a duration is None when either of its ends is unknown."""

    impact_start: KeyTime
    detected: KeyTime
    acknowledged: KeyTime
    mitigated: KeyTime
    resolved: KeyTime
    #: detected - impact start.
    time_to_detect_s: float | None
    #: acknowledged - detected (the paging tools' measure: from the page to a person).
    time_to_acknowledge_s: float | None
    #: mitigated - impact start.
    time_to_mitigate_s: float | None
    #: resolved - impact start.
    time_to_resolve_s: float | None
    #: resolved - impact start, the length of the impact (the incident's window).
    impact_s: float | None

    def items(self) -> list[tuple[str, KeyTime]]:
        """The key times by name, in their order."""
        return [("impact_start", self.impact_start), ("detected", self.detected),
                ("acknowledged", self.acknowledged), ("mitigated", self.mitigated),
                ("resolved", self.resolved)]

    def durations(self) -> list[tuple[str, float | None]]:
        """The durations by name, in their order."""
        return [("time_to_detect_s", self.time_to_detect_s),
                ("time_to_acknowledge_s", self.time_to_acknowledge_s),
                ("time_to_mitigate_s", self.time_to_mitigate_s),
                ("time_to_resolve_s", self.time_to_resolve_s), ("impact_s", self.impact_s)]
