"""Prometheus Alertmanager: webhook notifications and ``/api/v2/alerts`` snapshots.

Four JSON shapes are read (field facts in docs/alert-formats.md):

* a webhook payload (``webhook_config``, docs/configuration.md): an object with ``version``
  ("4"; "3" before groupKey existed), ``groupKey``, ``receiver``, ``status`` and ``alerts[]``;
  a file may hold one payload, a JSON array of them, or JSON lines of them (one payload per
  line, as a webhook receiver appends them);
* ``GET /api/v2/alerts``: an array of ``gettableAlert`` (api/v2/openapi.yaml);
* ``GET /api/v2/alerts/groups``: an array of ``alertGroup`` objects, each with ``labels``,
  ``receiver`` and ``alerts[]`` of ``gettableAlert``.

Each alert becomes one ``events`` row. The firing and resolved notifications of one alert are
merged into a single event with a start and an end. Two time facts drive the code: a webhook
sends ``endsAt`` as Go's zero time ``0001-01-01T00:00:00Z`` while an alert fires
(alert/alert.go ``Alerts()``), and the API's ``endsAt`` of an active alert is only an estimate
(last update + ``resolve_timeout``), because resolved alerts are dropped from the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from parsers import export
from parsers.base import Event, ParseOptions, ParseStats
from parsers.export import RecordReader, as_text, parse_rfc3339

NAME = "alertmanager"
DESCRIPTION = "Prometheus Alertmanager webhook payloads (JSON or JSON lines) and API v2 alert lists"
TABLE = "events"
LOCAL_TIME = False
#: Read as one document (JSON or CSV), not cut by the line cap.
WHOLE_FILE = True

VARIANT_V4 = "webhook v4"
VARIANT_V3 = "webhook v3"
VARIANT_API = "api v2 alerts"
VARIANT_GROUPS = "api v2 alert groups"

# labels.severity is a convention, not a schema field: teams use free text (docs/alert-formats.md).
_SEVERITY = {
    **dict.fromkeys(("critical", "page", "emergency", "p1"), "critical"),
    **dict.fromkeys(("error", "high", "major", "p2"), "error"),
    **dict.fromkeys(("warning", "warn", "minor", "medium", "p3"), "warning"),
}
_HOST_LABELS = ("instance", "host", "hostname", "node")
_TEXT_ANNOTATIONS = ("summary", "description", "message")


def sniff(head: bytes) -> bool:
    """Tell whether a file's first bytes look like Alertmanager JSON.

    Only byte checks are made: ``head`` is the first 16 KiB and may cut the JSON anywhere,
    so it is never parsed. Every accepted shape holds alert objects, which always carry
    ``"labels"`` and ``"startsAt"``; the container is then told apart by its own keys.

    Args:
        head: The first bytes of the file.

    Returns:
        True for a webhook payload (object, array of them or JSON lines) and for the
        ``/api/v2/alerts`` and ``/api/v2/alerts/groups`` arrays; False otherwise.
    """
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not body or body[:1] not in (b"{", b"["):
        return False
    if b'"startsAt"' not in body or b'"labels"' not in body:
        return False
    # Grafana's webhook is Alertmanager-shaped but adds these per alert (parsers/grafana.py).
    grafana_keys = (b'"silenceURL"', b'"dashboardURL"', b'"panelURL"', b'"valueString"')
    if any(k in body for k in grafana_keys):
        return False
    if b'"alerts"' in body:
        # A webhook payload has version/groupKey/receiver; an alertGroup has receiver too.
        return any(k in body for k in (b'"version"', b'"groupKey"', b'"receiver"'))
    # GET /api/v2/alerts: a bare array of gettableAlert (fingerprint and status are required).
    return body[:1] == b"[" and (b'"fingerprint"' in body or b'"status"' in body)


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[list[Event]]:
    """Parse Alertmanager JSON into event rows sorted by (ts, alertname, fingerprint).

    ``stats.lines`` counts alert records (every alert object of every payload or list entry,
    before merging); a JSON-lines line that is not valid JSON counts as one rejected record.
    The time range is widened by each alert's start as it is read.

    Arguments and errors as for every export (``parsers/export.py``); ParseError when the file
    is one JSON document that is not valid JSON or not an Alertmanager shape.
    """
    data = export.json_payload(lines)
    if data is None:
        return
    reader = _Reader(stats, options)
    export.read_json_document(data, stats, options, reader)
    yield from export.yield_events(reader.events(), stats, options, ends=False)


# --- reading the JSON ---------------------------------------------------------------------


@dataclass
class _Reader(RecordReader):
    """Webhook payloads, alert lists and alert groups; alerts merged as they come."""

    merger: Merger = field(default_factory=lambda: Merger())

    def read(self, doc: Any, index: Callable[[], int]) -> bool:
        """Read one JSON document of any supported shape; False when it is none of them."""
        if isinstance(doc, dict):
            if not isinstance(doc.get("alerts"), list):
                return False
            self._container(doc, index)
            return True
        if not isinstance(doc, list):
            return False
        if not doc:
            # GET /api/v2/alerts answers [] when nothing fires: a valid, empty snapshot.
            self.set_variant(VARIANT_API)
            return True
        for item in doc:
            if isinstance(item, dict) and isinstance(item.get("alerts"), list):
                self._container(item, index)
            else:
                self.set_variant(VARIANT_API)
                self._alert(item, index(), _api_context(item, ""))
        return True

    def events(self) -> list[Event]:
        """All events, sorted by (ts, alertname, fingerprint) and then input order."""
        return self.merger.events(self.stats)

    def _container(self, obj: dict[str, Any], index: Callable[[], int]) -> None:
        """A webhook payload, or an ``alertGroup`` (it has ``labels``; a payload has
        ``groupLabels`` instead)."""
        if "labels" in obj and "groupLabels" not in obj:
            self._group(obj, index)
        else:
            self._payload(obj, index)

    def _payload(self, payload: dict[str, Any], index: Callable[[], int]) -> None:
        """One webhook payload: the group's fields apply to each of its alerts."""
        version = str(payload.get("version", ""))
        # Version "3" payloads predate groupKey (docs/alert-formats.md); Grafana's AM-shaped body
        # says version "1" but carries groupKey, so it reads as v4.
        v4 = version == "4" or (version != "3" and "groupKey" in payload)
        self.set_variant(VARIANT_V4 if v4 else VARIANT_V3)
        ctx = payload_context(payload, self.stats)
        ctx["api"] = False
        for alert in payload["alerts"]:
            self._alert(alert, index(), ctx)

    def _group(self, group: dict[str, Any], index: Callable[[], int]) -> None:
        """One ``alertGroup`` of ``/api/v2/alerts/groups``: receiver is ``{"name": ...}``."""
        self.set_variant(VARIANT_GROUPS)
        receiver = group.get("receiver")
        name = as_text(receiver.get("name")) if isinstance(receiver, dict) else as_text(receiver)
        for alert in group["alerts"]:
            self._alert(alert, index(), _api_context(alert, name))

    def _alert(self, alert: Any, index: int, ctx: dict[str, Any]) -> None:
        """Count one alert record and parse, reject or merge it."""
        checked = check_alert(self, alert, index)
        if checked is None:
            return
        raw, ts, end, labels, annotations = checked
        ends = alert.get("endsAt")
        attrs: dict[str, Any] = {
            "alertname": labels.get("alertname", ""),
            "status": "",
            "fingerprint": as_text(alert.get("fingerprint")),
            "labels": labels,
            "annotations": annotations,
            "generator_url": as_text(alert.get("generatorURL")),
            "receiver": ctx["receiver"],
            "group_key": ctx["group_key"],
            "severity_raw": labels.get("severity", ""),
        }
        if ctx["api"]:
            # The API lists current alerts only; endsAt = updatedAt + resolve_timeout, a guess.
            if isinstance(ends, str) and end is not None:
                attrs["ends_at_estimate"] = ends
            end = None
            status = alert.get("status")
            status = status if isinstance(status, dict) else {}
            attrs["status"] = as_text(status.get("state")) or "active"
            attrs["silenced"] = bool(status.get("silencedBy"))
            attrs["inhibited"] = bool(status.get("inhibitedBy"))
            attrs["muted"] = bool(status.get("mutedBy"))
        else:
            # Old payloads have no per-alert status (prometheus-msteams sample).
            state = alert_state(alert, end, ctx)
            attrs["status"] = state
            if state != "resolved" and end is not None:
                # Older Alertmanagers sent the resolve-timeout estimate for firing alerts.
                attrs["ends_at_estimate"] = ends
                end = None

        self.stats.parsed += 1
        self.merger.add(alert_event(ts, end, labels, annotations, raw, attrs, index), labels)

    # What read_json_document says of a JSON line, or the one document, refused by read().
    skip_reason = "JSON line that is not an Alertmanager payload"
    not_this = ("JSON is not an Alertmanager webhook payload or /api/v2/alerts list (expected an "
                'object with "alerts" or an array of alerts, alert groups or payloads)')


def _api_context(alert: Any, group_receiver: str) -> dict[str, Any]:
    """Context of an API item: its own ``receivers[]`` (all routes) beat the group's one."""
    names: list[str] = []
    if isinstance(alert, dict) and isinstance(alert.get("receivers"), list):
        names = [as_text(r.get("name")) for r in alert["receivers"] if isinstance(r, dict)]
    return {
        "api": True,
        "receiver": ", ".join(n for n in names if n) or group_receiver,
        "group_key": "",
        "group_status": "",
    }


# --- Alertmanager-shaped alerts (also Grafana's webhook) ---------------------------------


def payload_context(payload: dict[str, Any], stats: ParseStats) -> dict[str, Any]:
    """What a webhook payload gives each of its alerts (receiver, group key, the group's
    status); a note when ``max_alerts`` left alerts out of it."""
    truncated = payload.get("truncatedAlerts")
    if isinstance(truncated, int) and truncated > 0:
        # max_alerts in webhook_config drops alerts from the payload and counts them here.
        stats.notes.append(f"a payload left out {truncated} alerts (truncatedAlerts)")
    group_status = payload.get("status")
    return {
        "receiver": as_text(payload.get("receiver")),
        "group_key": as_text(payload.get("groupKey")),
        "group_status": group_status if group_status in ("firing", "resolved") else "",
    }


def alert_state(alert: dict[str, Any], end: float | None, ctx: dict[str, Any]) -> str:
    """A webhook alert's ``status``; without one, a real ``endsAt`` means resolved, else
    the payload's status decides."""
    state = alert.get("status")
    if state in ("firing", "resolved"):
        return str(state)
    return "resolved" if end is not None else ctx["group_status"] or "firing"


def check_alert(
    reader: RecordReader, alert: Any, index: int
) -> tuple[str, float, float | None, dict[str, str], dict[str, str]] | None:
    """Count one Alertmanager-shaped alert (also Grafana's) and check what every event
    needs; reject it with the reason when something is missing.

    Returns:
        ``(raw JSON, start, end or None, labels, annotations)``, or None when rejected.
    """
    raw = reader.count_record(alert, index, "alert")
    if raw is None:
        return None
    labels_in = alert.get("labels")
    # Alertmanager refuses alerts without labels (types.Alert.Validate), and startsAt is
    # required in both the webhook and gettableAlert; without them there is no event.
    if not isinstance(labels_in, dict) or not labels_in:
        reader.reject(index, "alert has no labels", raw)
        return None
    starts = alert.get("startsAt")
    if not isinstance(starts, str) or not starts:
        reader.reject(index, "alert has no startsAt", raw)
        return None
    ends = alert.get("endsAt")
    try:
        ts = parse_rfc3339(starts)
    except ValueError:
        reader.reject(index, "bad startsAt", raw)
        return None
    if ts is None:
        reader.reject(index, "startsAt is the zero time", raw)
        return None
    try:
        end = parse_rfc3339(ends) if isinstance(ends, str) and ends else None
    except ValueError:
        reader.reject(index, "bad endsAt", raw)
        return None
    labels = {str(k): as_text(v) for k, v in labels_in.items()}
    ann_in = alert.get("annotations")
    annotations = (
        {str(k): as_text(v) for k, v in ann_in.items()} if isinstance(ann_in, dict) else {}
    )
    return raw, ts, end, labels, annotations


def label_severity(labels: dict[str, str]) -> str:
    """The severity a ``severity`` label says (free text by convention), else info."""
    return _SEVERITY.get(labels.get("severity", "").strip().lower(), "info")


def label_host(labels: dict[str, str]) -> str:
    """The first instance-like label (``instance``, ``host``...), else ""."""
    return next((labels[k] for k in _HOST_LABELS if labels.get(k)), "")


def alert_event(ts: float, end: float | None, labels: dict[str, str],
                annotations: dict[str, str], raw: str, attrs: dict[str, Any],
                index: int) -> Event:
    """The event row of one Prometheus-style alert (Alertmanager, Grafana): severity from
    its ``severity`` label, host from the instance-like labels, message from the first
    summary-like annotation."""
    alertname = labels.get("alertname", "")
    text = next((annotations[k] for k in _TEXT_ANNOTATIONS if annotations.get(k)), "")
    message = f"{alertname or '(no alertname)'}: {text}" if text else alertname
    return export.event_row(
        ts=ts, end=end, severity=label_severity(labels), host=label_host(labels), message=message,
        sample=raw, attrs=attrs, line=index,
    )


# --- merging notifications ---------------------------------------------------------------


class Merger:
    """Fold the notifications of one alert into one event.

    The key is the fingerprint (a hash of the labels) or the sorted labels, together with
    startsAt: Alertmanager keeps startsAt while an alert stays active (types.Alert.Merge
    keeps the earlier one), so firing and resolved notifications share it, while a new
    firing after a resolve gets a new startsAt and stays a separate event.
    """

    def __init__(self) -> None:
        self._by_key: dict[tuple[Any, ...], Event] = {}
        self.merged = 0

    def add(self, event: Event, labels: dict[str, str]) -> None:
        """Keep ``event``, or fold it into the event already kept for the same alert."""
        attrs = event["attrs"]
        ident: Any = attrs["fingerprint"] or tuple(sorted(labels.items()))
        key = (ident, round(event["ts"], 6))
        old = self._by_key.get(key)
        if old is None:
            self._by_key[key] = event
            return
        self.merged += 1
        o_attrs = old["attrs"]
        old["ts"] = min(old["ts"], event["ts"])
        ends = [e for e in (old["end"], event["end"]) if e is not None]
        old["end"] = max(ends) if ends else None
        if event["end"] is not None and event["end"] == old["end"] or (
                attrs["status"] == "resolved" and o_attrs["status"] != "resolved"):
            # The notification that says it ended: the timeline's "resolved" entry cites it.
            o_attrs["end_line"] = event["line"]
        # A resolved notification may still carry the zero endsAt (alertmonitor sample):
        # resolved it is, with no known end.
        if attrs["status"] == "resolved":
            o_attrs["status"] = "resolved"
        for flag in ("silenced", "inhibited", "muted"):
            if flag in attrs:
                o_attrs[flag] = bool(o_attrs.get(flag)) or attrs[flag]
        if old["end"] is not None:
            o_attrs.pop("ends_at_estimate", None)
        elif "ends_at_estimate" in attrs:
            o_attrs["ends_at_estimate"] = attrs["ends_at_estimate"]
        receivers = [r for r in o_attrs["receiver"].split(", ") if r]
        for r in attrs["receiver"].split(", "):
            if r and r not in receivers:
                receivers.append(r)
        o_attrs["receiver"] = ", ".join(receivers)
        o_attrs["group_key"] = o_attrs["group_key"] or attrs["group_key"]

    def events(self, stats: ParseStats) -> list[Event]:
        """All events, sorted by (ts, alertname, fingerprint) and then input order; a note
        in ``stats`` says how many records were merged."""
        events = export.in_time_order(self._by_key.values(), "fingerprint")
        if self.merged:
            stats.notes.append(
                f"{self.merged} alert records repeated an alert already seen (same fingerprint "
                f"or labels, same startsAt) and were merged: {len(events)} events"
            )
        return events
