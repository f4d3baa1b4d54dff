"""AWS CloudWatch: ``aws cloudwatch describe-alarm-history`` output.

The CLI prints ``{"AlarmHistoryItems": [...]}`` (plus ``NextToken`` when paginated by hand),
newest first (aws-cli example ``describe-alarm-history.rst``; CloudWatch API reference
``AlarmHistoryItem``). Each item has ``AlarmName``, ``AlarmType`` (newer APIs),
``Timestamp`` (ISO 8601, ms, ``Z``), ``HistoryItemType`` (``StateUpdate``,
``ConfigurationUpdate``, ``Action``...), ``HistorySummary`` (``Alarm updated from OK to
ALARM``) and ``HistoryData``: JSON *inside a string*, with ``oldState``/``newState``
(``stateValue`` ``OK``/``ALARM``/``INSUFFICIENT_DATA``, ``stateReason``,
``stateReasonData`` whose ``startDate``/``queryDate`` read ``2014-04-09T18:59:06.419+0000``).

Only StateUpdate items make events; the others are skipped. Per alarm, a transition into
ALARM opens a span at its ``Timestamp`` and the next transition out of ALARM (to OK, or to
INSUFFICIENT_DATA when the data stopped) closes it. The export carries no severity (every
span is ``error``, ``severity_raw`` "") and no dimensions: ``host`` is an EC2 instance id
(``i-0abc...``) when the alarm name holds one, else "". A file may also be a bare array of
items or JSON lines of answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from parsers import export
from parsers.base import Event, ParseOptions, ParseStats
from parsers.export import RecordReader, as_text, dump, json_object, parse_rfc3339

NAME = "cloudwatch"
DESCRIPTION = "AWS CloudWatch alarm history (aws cloudwatch describe-alarm-history JSON)"
TABLE = "events"
LOCAL_TIME = False
#: Read as one document (JSON or CSV), not cut by the line cap.
WHOLE_FILE = True

VARIANT = "describe-alarm-history"

_SUMMARY = re.compile(r"Alarm updated from (\w+) to (\w+)")
_INSTANCE_ID = re.compile(r"\bi-(?:[0-9a-f]{8}|[0-9a-f]{17})\b")
_STATES = frozenset({"OK", "ALARM", "INSUFFICIENT_DATA"})


def sniff(head: bytes) -> bool:
    """Tell whether a file's first bytes look like ``describe-alarm-history`` JSON.

    Args:
        head: The first bytes of the file.

    Returns:
        True for the CLI answer (``AlarmHistoryItems``) or a bare array of history items.
    """
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] not in (b"{", b"["):
        return False
    if b'"AlarmHistoryItems"' in body:
        return True
    return body[:1] == b"[" and b'"HistoryItemType"' in body and b'"AlarmName"' in body


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[list[Event]]:
    """Parse alarm history into event rows sorted by (ts, alarm name, line).

    ``stats.lines`` counts history items. Items that are not StateUpdate are skipped, and
    so is a transition out of ALARM whose transition into ALARM is not in the file; other
    state changes (OK to INSUFFICIENT_DATA) are parsed and make no event.

    Arguments and errors as for every export (``parsers/export.py``); ParseError when the file
    is one JSON document that is not valid JSON or not an alarm history.
    """
    yield from export.read_export(lines, stats, options, _Reader(stats, options))


#: A state change: (ts, index, old state, new state, history data, item).
_Update = tuple[float, int, str, str, dict[str, Any], Any]


@dataclass
class _Reader(RecordReader):
    """Collect StateUpdate items per alarm, then pair them."""

    #: alarm name -> its state changes
    updates: dict[str, list[_Update]] = field(default_factory=dict)

    def read(self, doc: Any, index: Callable[[], int]) -> bool:
        """Read one JSON document; False when it is not an alarm history."""
        if isinstance(doc, dict) and isinstance(doc.get("AlarmHistoryItems"), list):
            items = doc["AlarmHistoryItems"]
        elif (
            isinstance(doc, list)
            and doc
            and all(isinstance(d, dict) and "HistoryItemType" in d for d in doc)
        ):
            items = doc
        else:
            return False
        self.stats.variant = VARIANT
        for item in items:
            self.item(item, index())
        return True

    def item(self, item: Any, index: int) -> None:
        """Count one history item; keep it when it is a state change."""
        stats = self.stats
        raw = self.count_record(item, index, "history item")
        if raw is None:
            return
        kind = as_text(item.get("HistoryItemType"))
        if kind != "StateUpdate":
            stats.skip(f"{kind or 'untyped'} history item (not a StateUpdate)")
            return
        name = as_text(item.get("AlarmName"))
        if not name:
            self.reject(index, "history item has no AlarmName", raw)
            return
        stamp = item.get("Timestamp")
        try:
            ts = parse_rfc3339(stamp) if isinstance(stamp, str) else None
        except ValueError:
            self.reject(index, "bad Timestamp", raw)
            return
        if ts is None:
            self.reject(index, "history item has no Timestamp", raw)
            return
        history: dict[str, Any] = {}
        data = item.get("HistoryData")
        if isinstance(data, str) and data:
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            history = parsed if isinstance(parsed, dict) else {}
        elif isinstance(data, dict):
            history = data
        old, new = _state(history.get("oldState")), _state(history.get("newState"))
        if not (old and new):
            # Without HistoryData the summary still says "Alarm updated from OK to ALARM".
            m = _SUMMARY.search(as_text(item.get("HistorySummary")))
            if m is None:
                self.reject(index, "state change without old and new state", raw)
                return
            old, new = m.group(1), m.group(2)
        if old not in _STATES or new not in _STATES:
            self.reject(index, f"unknown state {old} -> {new}", raw)
            return
        self.updates.setdefault(name, []).append((ts, index, old, new, history, item))

    def events(self) -> list[Event]:
        """Pair ->ALARM with the next ALARM-> per alarm; sorted by (ts, alarm name, line)."""
        events: list[Event] = []
        for name, updates in self.updates.items():
            # Newest first in the answer: sort by time, the later item in the file first on
            # a tie (it is the older one).
            updates.sort(key=lambda u: (u[0], -u[1]))
            open_event: Event | None = None
            for ts, index, old, new, history, item in updates:
                if new == "ALARM" and old != "ALARM":
                    self.stats.parsed += 1
                    if open_event is None:
                        open_event = _event(name, ts, index, old, history, item)
                        events.append(open_event)
                elif old == "ALARM" and new != "ALARM":
                    if open_event is None:
                        self.stats.skip("transition out of ALARM whose start is not in the file")
                        continue
                    self.stats.parsed += 1
                    open_event["end"] = ts
                    attrs = open_event["attrs"]
                    attrs["status"] = "resolved"
                    attrs["end_state"] = new
                    attrs["end_reason"] = as_text(_reason(history.get("newState")))
                    open_event = None
                else:
                    self.stats.parsed += 1
        return export.in_time_order(events)

    # What read_json_document says of a JSON line, or the one document, refused by read().
    skip_reason = "JSON line that is not an alarm history answer"
    not_this = ('JSON is not CloudWatch alarm history (expected {"AlarmHistoryItems": [...]} as '
                "aws cloudwatch describe-alarm-history prints it)")


def _state(value: Any) -> str:
    return as_text(value.get("stateValue")) if isinstance(value, dict) else ""


def _reason(value: Any) -> Any:
    return value.get("stateReason") if isinstance(value, dict) else ""


def _event(
    name: str, ts: float, index: int, old: str, history: dict[str, Any], item: dict[str, Any]
) -> Event:
    new_state = json_object(history.get("newState"))
    reason = as_text(new_state.get("stateReason"))
    reason_data = new_state.get("stateReasonData")
    m = _INSTANCE_ID.search(name)
    attrs: dict[str, Any] = {
        "alertname": name,
        "status": "firing",
        "labels": {},
        "link": "",
        "alarm_type": as_text(item.get("AlarmType")),
        "old_state": old,
        "state_reason": reason,
        "state_reason_data": reason_data if isinstance(reason_data, dict) else None,
        "history_summary": as_text(item.get("HistorySummary")),
        # The export has no severity field.
        "severity_raw": "",
    }
    return export.event_row(
        ts=ts, end=None, severity="error", host=m.group(0) if m else "",
        message=f"{name}: {reason}" if reason else name, sample=dump(item), attrs=attrs, line=index,
    )

