"""The results of an analysis: incidents with impact, timeline, causes. Times are epoch
seconds UTC (floats) until a writer formats them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from timeline.ingest import Dataset


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a (small) frame as dicts: typed, and faster than ``itertuples`` here."""
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


@dataclass
class Entry:
    """One line of the incident timeline, backed by ``source`` (``file:line``)."""

    ts: float
    kind: str
    text: str
    source: str
    host: str = ""
    flag: str = ""


@dataclass
class Cause:
    """A candidate cause, with the evidence for it."""

    kind: str
    summary: str
    confidence: float
    evidence: list[str] = field(default_factory=list)
    host: str = ""


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
    by_host: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def users_pct(self) -> float:
        """Users affected as a percentage (0-100) of users active in the window."""
        return 100.0 * self.users_affected / self.users_total if self.users_total else 0.0

    @property
    def requests_pct(self) -> float:
        """Requests failed as a percentage (0-100) of requests in the window."""
        return 100.0 * self.requests_failed / self.requests_total if self.requests_total else 0.0


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
    peak_failed: int = 0
    peak_total: int = 0
    affected_hosts: list[str] = field(default_factory=list)
    window_given: bool = False
    #: From a page (PagerDuty, Opsgenie): acknowledged / resolved minus triggered.
    time_to_acknowledge_s: float | None = None
    time_to_resolve_s: float | None = None

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
