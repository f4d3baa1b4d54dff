"""Opsgenie: webhook alert-action payloads and REST API v2 alerts.

Shapes read (Opsgenie docs "Alert action data", "Alert API"; facts in docs/alert-formats.md):

* a **webhook payload** of the Webhook integration: ``action`` (``Create``,
  ``Acknowledge``, ``UnAcknowledge``, ``AddNote``, ``Close``, ``Delete``...), ``alert``
  (``alertId``, ``tinyId``, ``alias``, ``message``, ``entity``, ``tags``, ``priority``
  ``P1``..``P5``, ``description``, ``details``, ``username``, ``createdAt`` in epoch
  **milliseconds**, ``updatedAt`` in epoch **nanoseconds** (19 digits)), ``source``,
  ``integrationName``; one per file, a JSON array of them, or JSON lines. Every action of
  one ``alertId`` merges into one span: start ``createdAt``, first acknowledgement the
  ``updatedAt`` of the first ``Acknowledge``, end the ``updatedAt`` of ``Close``;
* ``GET /v2/alerts`` (``{"data": [...], "paging": ..., "took", "requestId"}``) and
  ``GET /v2/alerts/{id}`` (``{"data": {...}}``): ``createdAt``/``updatedAt`` ISO 8601 (ms,
  ``Z``), ``status`` ``open``/``closed``, ``acknowledged``, and ``report.ackTime`` /
  ``report.closeTime`` as durations in milliseconds from ``createdAt``.

Severity from the priority: P1 critical, P2 error, P3 warning, P4 and P5 info; an alert
without one is read as Opsgenie's default P3 (``severity_raw`` is then ""). ``host`` is the
alert's ``entity``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeGuard, cast

from parsers import export
from parsers.base import Event, ParseOptions, ParseStats
from parsers.export import RecordReader, api_time, as_text, dump, json_list, json_object

NAME = "opsgenie"
DESCRIPTION = "Opsgenie webhook alert-action payloads (JSON or JSON lines) and REST v2 alerts"
TABLE = "events"
LOCAL_TIME = False
#: Read as one document (JSON or CSV), not cut by the line cap.
WHOLE_FILE = True

VARIANT_WEBHOOK = "webhook"
VARIANT_API = "api v2 alerts"

_DEFAULT_PRIORITY = "P3"
_MESSAGE_TEXT_CHARS = 200


def sniff(head: bytes) -> bool:
    """Tell whether a file's first bytes look like Opsgenie JSON.

    A webhook payload has ``action`` and an ``alert`` with ``alertId``; a REST answer has
    ``data`` holding alerts with ``tinyId`` and ``createdAt``.

    Args:
        head: The first bytes of the file.

    Returns:
        True for an Opsgenie webhook payload (object, array or JSON lines) or REST answer.
    """
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] not in (b"{", b"["):
        return False
    if b'"action"' in body and b'"alert"' in body and b'"alertId"' in body:
        return True
    return b'"data"' in body and b'"tinyId"' in body and b'"createdAt"' in body


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[list[Event]]:
    """Parse Opsgenie JSON into event rows sorted by (ts, alertname, alert id).

    ``stats.lines`` counts records: webhook payloads and REST alert objects. Payloads of one
    ``alertId`` merge into one event; the same alert in two REST answers is one event (the
    later ``updatedAt`` wins).

    Arguments and errors as for every export (``parsers/export.py``); ParseError when the file
    is one JSON document that is not valid JSON or not an Opsgenie shape.
    """
    yield from export.read_export(lines, stats, options, _Reader(stats, options))


def _is_payload(doc: Any) -> bool:
    return isinstance(doc, dict) and "action" in doc and isinstance(doc.get("alert"), dict)


@dataclass
class _Reader(RecordReader):
    """Fold webhook payloads by alertId; keep one REST alert per id."""

    by_id: dict[str, Any] = field(default_factory=dict)
    merged: int = 0

    def read(self, doc: Any, index: Callable[[], int]) -> bool:
        """Read one JSON document of a supported shape; False when it is none of them."""
        if _is_payload(doc):
            self.set_variant(VARIANT_WEBHOOK)
            self.payload(doc, index())
            return True
        if isinstance(doc, dict) and "data" in doc and ("requestId" in doc or "took" in doc):
            items = doc["data"] if isinstance(doc["data"], list) else [doc["data"]]
            self.set_variant(VARIANT_API)
            for item in items:
                self.api_alert(item, index())
            return True
        if isinstance(doc, list) and doc and any(_is_payload(d) for d in doc):
            self.set_variant(VARIANT_WEBHOOK)
            for item in doc:
                if _is_payload(item):
                    self.payload(item, index())
                else:
                    i = index()
                    self.stats.lines += 1
                    self.reject(i, "item is not a webhook payload", dump(item))
            return True
        return False

    # --- webhook ---------------------------------------------------------------------

    def payload(self, doc: dict[str, Any], index: int) -> None:
        """One webhook payload: start, acknowledge or close its alert's span."""
        stats = self.stats
        stats.lines += 1
        raw = dump(doc)
        alert = doc["alert"]
        action = as_text(doc.get("action"))
        alert_id = as_text(alert.get("alertId"))
        if not alert_id:
            self.reject(index, "alert has no alertId", raw)
            return
        times = self._times(alert, index, raw, _epoch)
        if times is None:
            return
        created, updated = times
        stats.parsed += 1
        event = self.by_id.get(alert_id)
        if event is None:
            event = self._event(alert, created, index, raw, VARIANT_WEBHOOK)
            event["attrs"]["actions"] = []
            event["attrs"]["integration_name"] = as_text(doc.get("integrationName"))
            self.by_id[alert_id] = event
        else:
            self.merged += 1
            # A later payload may carry what the first lacked (priority added, entity set).
            self._fill(event, alert)
        attrs = event["attrs"]
        attrs["actions"].append(action)
        event["ts"] = min(event["ts"], created)
        if action == "Acknowledge" and updated is not None:
            if "acknowledged_at" not in attrs or updated < attrs["acknowledged_at"]:
                attrs["acknowledged_at"] = updated
                attrs["acknowledged_line"] = index  # the Acknowledge payload's own line
                attrs["acknowledged_by"] = as_text(alert.get("username"))
            if attrs["status"] == "open":
                attrs["status"] = "acknowledged"
        elif action == "Close" and updated is not None:
            if event["end"] is None or updated > event["end"]:
                event["end"] = updated
                attrs["resolved_at"] = updated
                attrs["closed_by"] = as_text(alert.get("username"))
            attrs["status"] = "closed"

    def _fill(self, event: dict[str, Any], alert: dict[str, Any]) -> None:
        attrs = event["attrs"]
        if not attrs["priority"] and as_text(alert.get("priority")):
            attrs["priority"] = as_text(alert.get("priority"))
            attrs["severity_raw"] = attrs["priority"]
            event["severity"] = _severity(attrs["priority"])
        if not event["host"] and as_text(alert.get("entity")):
            event["host"] = attrs["entity"] = as_text(alert.get("entity"))

    # --- REST API ----------------------------------------------------------------------

    def api_alert(self, alert: Any, index: int) -> None:
        """One alert object of ``GET /v2/alerts`` or ``GET /v2/alerts/{id}``."""
        raw = self.count_record(alert, index, "alert")
        if raw is None:
            return
        alert_id = as_text(alert.get("id"))
        times = self._times(alert, index, raw, api_time)
        if times is None:
            return
        created, updated = times
        report = json_object(alert.get("report"))
        ack_ms, close_ms = report.get("ackTime"), report.get("closeTime")
        # A mutable record until events(): it carries "_updated" (which snapshot wins).
        event = cast(dict[str, Any], self._event(alert, created, index, raw, VARIANT_API))
        attrs = event["attrs"]
        status = as_text(alert.get("status"))
        acknowledged = alert.get("acknowledged") is True
        attrs["status"] = (
            "closed" if status == "closed" else "acknowledged" if acknowledged else status
        )
        attrs["acknowledged"] = acknowledged
        acked_at = _plus_ms(created, ack_ms) if _is_number(ack_ms) else None
        if acked_at is not None:
            attrs["acknowledged_at"] = acked_at
            attrs["acknowledged_by"] = as_text(report.get("acknowledgedBy"))
        closed_at = _plus_ms(created, close_ms) if _is_number(close_ms) else None
        if status == "closed" and closed_at is not None:
            event["end"] = attrs["resolved_at"] = closed_at
            attrs["closed_by"] = as_text(report.get("closedBy"))
        integration = alert.get("integration")
        attrs["integration_name"] = (
            as_text(integration.get("name")) if isinstance(integration, dict) else ""
        )
        attrs["count"] = alert.get("count")
        self.stats.parsed += 1
        key = alert_id or f"#line{index}"
        old = self.by_id.get(key)
        event["_updated"] = updated or created
        if old is not None:
            self.merged += 1
            if old.get("_updated", 0.0) > event["_updated"]:
                return
            event["line"] = old["line"]
        self.by_id[key] = event

    # --- shared -----------------------------------------------------------------------

    def _times(
        self, alert: dict[str, Any], index: int, raw: str, read: Callable[[Any], float | None]
    ) -> tuple[float, float | None] | None:
        """``createdAt`` and ``updatedAt`` read with ``read``; None (the record rejected) when
        one is not a time or there is no ``createdAt``."""
        try:
            created = read(alert.get("createdAt"))
            updated = read(alert.get("updatedAt"))
        except ValueError as exc:
            self.reject(index, str(exc), raw)
            return None
        if created is None:
            self.reject(index, "alert has no createdAt", raw)
            return None
        return created, updated

    def _event(
        self, alert: dict[str, Any], created: float, index: int, raw: str, variant: str
    ) -> Event:
        message = as_text(alert.get("message"))
        description = as_text(alert.get("description")).strip()
        priority = as_text(alert.get("priority"))
        tags = [as_text(t) for t in json_list(alert.get("tags")) if as_text(t)]
        details = alert.get("details")
        labels = {str(k): as_text(v) for k, v in json_object(details).items()}
        for tag in tags:
            k, sep, v = tag.partition(":")
            if sep and k:
                labels.setdefault(k, v)
        entity = as_text(alert.get("entity"))
        first_line = description.splitlines()[0][:_MESSAGE_TEXT_CHARS] if description else ""
        alert_id = as_text(alert.get("alertId")) if variant == VARIANT_WEBHOOK else ""
        attrs: dict[str, Any] = {
            "alertname": message,
            "status": "open",
            "labels": labels,
            "link": "",
            "alert_id": alert_id or as_text(alert.get("id")),
            "tiny_id": as_text(alert.get("tinyId")),
            "alias": as_text(alert.get("alias")),
            "entity": entity,
            "tags": tags,
            "priority": priority,
            "source": as_text(alert.get("source")),
            "severity_raw": priority,
        }
        return export.event_row(
            ts=created, end=None, severity=_severity(priority), host=entity,
            message=f"{message}: {first_line}" if first_line else message, sample=raw, attrs=attrs,
            line=index,
        )

    def events(self) -> list[Event]:
        """All events, sorted by (ts, alertname, alert id)."""
        if self.merged:
            self.stats.notes.append(
                f"{self.merged} records repeated an alert already seen (same alertId) and were "
                f"merged: {len(self.by_id)} events"
            )
        # The records carry a private "_updated" (which snapshot wins) until here.
        events = [cast(Event, {k: v for k, v in e.items() if k != "_updated"})
                  for e in self.by_id.values()]
        return export.in_time_order(events, "alert_id")

    # What read_json_document says of a JSON line, or the one document, refused by read().
    skip_reason = "JSON line that is not an Opsgenie payload or API answer"
    not_this = ('JSON is not an Opsgenie webhook payload or REST answer (expected {"action": ..., '
                '"alert": {...}} or {"data": ...} of GET /v2/alerts)')


def _severity(priority: str) -> str:
    return export.PRIORITY_SEVERITY.get((priority or _DEFAULT_PRIORITY).strip().lower(), "warning")


def _is_number(value: Any) -> TypeGuard[float]:
    return export.finite_number(value) and value >= 0


def _plus_ms(t: float, ms: float) -> float | None:
    """``t`` plus a duration in ms (finite: :func:`_is_number`), summed in whole
    microseconds (no float drift); None when the sum is no time at all (a fuzzed or broken
    export's ``"closeTime": 1e308``: the alert is kept, without that time)."""
    try:
        end = export.plus_seconds(t, ms / 1000)
    except ValueError:
        return None
    return end if export.time_in_range(end) else None


def _epoch(value: Any) -> float | None:
    """An epoch number in s, ms, us or ns (told apart by size) as epoch seconds.

    The webhook sends ``createdAt`` in milliseconds (1420452191104) and ``updatedAt`` in
    nanoseconds (1420452193166002000).

    Raises:
        ValueError: when the value is not a number.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"bad epoch time {value!r}")
    if value >= 1e17:
        # Integer division first: a float cannot hold 19 digits exactly.
        return int(value) // 1000 / 1e6 if isinstance(value, int) else value / 1e9
    if value >= 1e14:
        return value / 1e6
    if value >= 1e11:
        return value / 1e3
    return float(value)




