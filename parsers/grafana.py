"""Grafana Alerting: webhook contact-point payloads and the alert state history.

Two JSON shapes are read:

* a **webhook contact-point payload** (Grafana docs, "Configure the webhook notifier for
  Alerting"): the Alertmanager webhook body (``receiver``, ``status``, ``alerts[]``,
  ``groupLabels``, ``commonLabels``, ``commonAnnotations``, ``externalURL``, ``version``,
  ``groupKey``, ``truncatedAlerts``) plus ``orgId``, ``title`` (``[FIRING:1] ...``), ``state``
  (``alerting``/``ok``), ``message``, and per alert ``silenceURL``, ``dashboardURL``,
  ``panelURL``, ``values`` (a map, or null) and ``valueString`` (older versions). ``version``
  is "1". A file holds one payload, a JSON array of them, or JSON lines of them. The firing and
  resolved notifications of one alert merge into one span as in ``alertmanager.py``
  (fingerprint, else labels, together with ``startsAt``); ``endsAt`` is Go's zero time while
  an alert fires, as in Alertmanager.
* the **alert state history** as ``GET /api/annotations?type=alert`` answers it: an array of
  annotations (``ItemDTO`` in grafana pkg/services/annotations/models.go), newest first, one
  per state transition of an alert instance: ``alertId`` (the rule's id), ``alertName``,
  ``newState``/``prevState`` (``Normal``, ``Pending``, ``Alerting``, ``NoData``, ``Error``,
  ``Recovering``, possibly with a reason: ``Normal (MissingSeries)``), ``time``/``timeEnd``
  (epoch milliseconds), ``text`` and ``data``. Grafana writes ``text`` as
  ``<rule title> {<k=v, k=v>} - <values>`` and ``data`` as ``{"values": {...}}``,
  ``{"noData": true}`` or ``{"error": "..."}`` (pkg/services/ngalert/state/historian/
  annotation.go, ``BuildAnnotationTextAndData``); both the annotation and the Loki history
  backends answer this endpoint in that shape. A span opens at the transition into
  Alerting, NoData or Error and ends at the next transition to Normal (None while open).
  The Loki data-frame answer of ``/api/v1/rules/history`` is not read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from parsers import export
from parsers.alertmanager import (
    Merger,
    alert_event,
    alert_state,
    check_alert,
    label_host,
    label_severity,
    payload_context,
)
from parsers.base import Event, ParseOptions, ParseStats
from parsers.export import RecordReader, as_text, dump, json_object

NAME = "grafana"
DESCRIPTION = (
    "Grafana Alerting webhook payloads (JSON or JSON lines) and alert state history "
    "(GET /api/annotations?type=alert)"
)
TABLE = "events"
LOCAL_TIME = False
#: Read as one document (JSON or CSV), not cut by the line cap.
WHOLE_FILE = True

VARIANT_WEBHOOK = "webhook"
VARIANT_HISTORY = "state history (annotations API)"

# Keys only Grafana puts into a webhook alert (Alertmanager has none of them).
_GRAFANA_ALERT_KEYS = (b'"silenceURL"', b'"dashboardURL"', b'"panelURL"', b'"valueString"')
# Instance states a span is made of; Recovering (keep_firing_for) still fires.
_FIRING_STATES = frozenset({"Alerting", "NoData", "Error", "Recovering"})
_KNOWN_STATES = _FIRING_STATES | {"Normal", "Pending"}
# "k=v, k2=v2": data.Labels.String() joins sorted pairs with ", ".
_LABEL_SPLIT = re.compile(r", (?=[A-Za-z_][A-Za-z0-9_]*=)")


def sniff(head: bytes) -> bool:
    """Tell whether a file's first bytes look like Grafana Alerting JSON.

    Byte checks only (``head`` may cut the JSON anywhere). A webhook payload is told from a
    plain Alertmanager one by the per-alert keys only Grafana sends (``silenceURL``,
    ``dashboardURL``, ``panelURL``, ``valueString``); ``orgId`` is not required because
    Grafana may write it after a long ``alerts`` list. The state history is an array of
    annotations with ``newState``, ``prevState`` and ``alertId``.

    Args:
        head: The first bytes of the file.

    Returns:
        True for a Grafana webhook payload (object, array or JSON lines) or a state-history
        answer; False otherwise.
    """
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] not in (b"{", b"["):
        return False
    if b'"startsAt"' in body and b'"alerts"' in body:
        return any(k in body for k in _GRAFANA_ALERT_KEYS)
    return (
        b'"newState"' in body
        and b'"prevState"' in body
        and b'"alertId"' in body
        and b'"time"' in body
    )


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[list[Event]]:
    """Parse Grafana JSON into event rows sorted by (ts, alertname, line).

    ``stats.lines`` counts alert records: every alert of every webhook payload and every
    annotation of the state history. An annotation that is not an alert state change
    (``newState`` empty: a user annotation) is skipped, and so is a transition to Normal
    whose firing transition is not in the file. A JSON-lines line that is not valid JSON
    counts as one rejected record.

    Arguments and errors as for every export (``parsers/export.py``); ParseError when the file
    is one JSON document that is not valid JSON or not a Grafana shape.
    """
    yield from export.read_export(lines, stats, options, _Reader(stats, options))


#: A state transition: (time_s, annotation id, record index, annotation).
_Transition = tuple[float, int, int, dict[str, Any]]


@dataclass
class _Reader(RecordReader):
    """Collect webhook alerts (merged as they come) and state transitions (paired at the end)."""

    merger: Merger = field(default_factory=Merger)
    #: instance key -> its state transitions
    transitions: dict[tuple[Any, ...], list[_Transition]] = field(default_factory=dict)

    def read(self, doc: Any, index: Callable[[], int]) -> bool:
        """Read one JSON document of a supported shape; False when it is none of them."""
        if isinstance(doc, dict):
            if isinstance(doc.get("alerts"), list):
                self._payload(doc, index)
                return True
            if "newState" in doc:
                self._annotation(doc, index())
                return True
            return False
        if not isinstance(doc, list):
            return False
        if not doc:
            # The annotations API answers [] when nothing changed state in the range.
            self.set_variant(VARIANT_HISTORY)
            return True
        known = [
            isinstance(d, dict) and (isinstance(d.get("alerts"), list) or "newState" in d)
            for d in doc
        ]
        if not any(known):
            return False
        for item, ok in zip(doc, known, strict=True):
            if not ok:
                i = index()
                self.stats.lines += 1
                self.reject(i, "item is neither a webhook payload nor an annotation", dump(item))
            elif isinstance(item.get("alerts"), list):
                self._payload(item, index)
            else:
                self._annotation(item, index())
        return True

    # --- webhook payloads ------------------------------------------------------------

    def _payload(self, payload: dict[str, Any], index: Callable[[], int]) -> None:
        self.set_variant(VARIANT_WEBHOOK)
        ctx = payload_context(payload, self.stats)
        ctx["org_id"] = payload.get("orgId")
        ctx["title"] = as_text(payload.get("title"))
        for alert in payload["alerts"]:
            self._alert(alert, index(), ctx)

    def _alert(self, alert: Any, index: int, ctx: dict[str, Any]) -> None:
        checked = check_alert(self, alert, index)
        if checked is None:
            return
        raw, ts, end, labels, annotations = checked
        state = alert_state(alert, end, ctx)
        if state != "resolved":
            end = None  # endsAt of a firing alert is the zero time or an estimate
        alertname = labels.get("alertname", "")
        raw_sev = labels.get("severity", "")
        values = alert.get("values")
        link = next(
            (
                as_text(alert.get(k))
                for k in ("panelURL", "dashboardURL", "generatorURL")
                if as_text(alert.get(k))
            ),
            "",
        )
        attrs: dict[str, Any] = {
            "alertname": alertname,
            "status": state,
            "labels": labels,
            "link": link,
            "fingerprint": as_text(alert.get("fingerprint")),
            "annotations": annotations,
            "generator_url": as_text(alert.get("generatorURL")),
            "silence_url": as_text(alert.get("silenceURL")),
            "dashboard_url": as_text(alert.get("dashboardURL")),
            "panel_url": as_text(alert.get("panelURL")),
            "values": values if isinstance(values, dict) else None,
            "value_string": as_text(alert.get("valueString")),
            "receiver": ctx["receiver"],
            "group_key": ctx["group_key"],
            "org_id": ctx["org_id"],
            "title": ctx["title"],
            "severity_raw": raw_sev,
        }
        self.stats.parsed += 1
        self.merger.add(alert_event(ts, end, labels, annotations, raw, attrs, index), labels)

    # --- state history -----------------------------------------------------------------

    def _annotation(self, ann: Any, index: int) -> None:
        stats = self.stats
        self.set_variant(VARIANT_HISTORY)
        stats.lines += 1
        raw = dump(ann)
        new_raw = as_text(ann.get("newState"))
        if not new_raw:
            # A user annotation (type=annotation) has empty states and alertId 0.
            stats.skip("annotation that is not an alert state change")
            return
        new = _base_state(new_raw)
        if new not in _KNOWN_STATES:
            self.reject(index, f"unknown newState {new_raw!r}", raw)
            return
        t = ann.get("time")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or t <= 0:
            self.reject(index, "annotation has no time", raw)
            return
        title, labels, _ = _split_text(as_text(ann.get("text")), as_text(ann.get("alertName")))
        if not labels:
            labels = _tag_labels(ann.get("tags"))
        key = (as_text(ann.get("alertId")), title, tuple(sorted(labels.items())))
        ann_id = ann.get("id")
        order = ann_id if isinstance(ann_id, int) else 0
        self.transitions.setdefault(key, []).append((t / 1000.0, order, index, ann))

    def _spans(self) -> list[Event]:
        """Pair each transition into a firing state with the next transition to Normal."""
        events: list[Event] = []
        for items in self.transitions.values():
            # Chronological; the annotation id breaks ties (the API lists newest first).
            items.sort(key=lambda x: (x[0], x[1]))
            open_event: Event | None = None
            for t, _, index, ann in items:
                new = _base_state(as_text(ann.get("newState")))
                prev = _base_state(as_text(ann.get("prevState")))
                if new in _FIRING_STATES:
                    self.stats.parsed += 1
                    if open_event is None:
                        open_event = self._history_event(t, index, ann)
                        events.append(open_event)
                    elif new in ("Alerting", "NoData", "Error"):
                        # Alerting -> Error and the like: one span, keep the latest state.
                        open_event["attrs"]["states"].append(new)
                elif new == "Normal" and open_event is not None:
                    self.stats.parsed += 1
                    open_event["end"] = t
                    open_event["attrs"]["status"] = "resolved"
                    open_event["attrs"]["resolved_state"] = as_text(ann.get("newState"))
                    open_event = None
                elif new == "Normal" and prev in _FIRING_STATES:
                    self.stats.skip(
                        "transition to Normal whose firing transition is not in the file"
                    )
                else:
                    # Normal -> Pending, Pending -> Normal: state changes that fire nothing.
                    self.stats.parsed += 1
        return events

    def _history_event(self, t: float, index: int, ann: dict[str, Any]) -> Event:
        alert_name = as_text(ann.get("alertName"))
        title, labels, value = _split_text(as_text(ann.get("text")), alert_name)
        if not labels:
            labels = _tag_labels(ann.get("tags"))
        alertname = alert_name or title or labels.get("alertname", "")
        data = json_object(ann.get("data"))
        state_raw = as_text(ann.get("newState"))
        raw_sev = labels.get("severity", "")
        values = data.get("values")
        attrs: dict[str, Any] = {
            "alertname": alertname,
            "status": "firing",
            "labels": labels,
            "link": "",
            "state": _base_state(state_raw),
            "state_raw": state_raw,
            "prev_state": as_text(ann.get("prevState")),
            "states": [_base_state(state_raw)],
            "alert_id": ann.get("alertId"),
            "annotation_id": ann.get("id"),
            "dashboard_uid": as_text(ann.get("dashboardUID")),
            "panel_id": ann.get("panelId"),
            "values": values if isinstance(values, dict) else None,
            "error": as_text(data.get("error")),
            "severity_raw": raw_sev,
        }
        return export.event_row(
            ts=t, end=None, severity=label_severity(labels), host=label_host(labels),
            message=f"{alertname}: {value}" if value else alertname, sample=dump(ann), attrs=attrs,
            line=index,
        )

    def events(self) -> list[Event]:
        """All events, sorted by (ts, alertname, line)."""
        events = self.merger.events(self.stats) + self._spans()
        return export.in_time_order(events)

    # What read_json_document says of a JSON line, or the one document, refused by read().
    skip_reason = "JSON line that is not a Grafana payload or annotation"
    not_this = ("JSON is not a Grafana webhook payload or alert state history (expected an object "
                'with "alerts", or the array of annotations GET /api/annotations?type=alert '
                "returns)")


def _base_state(state: str) -> str:
    """``Normal (MissingSeries)`` -> ``Normal`` (state.FormatStateAndReason adds the reason)."""
    return state.split(" (", 1)[0].strip()


def _split_text(text: str, title_hint: str) -> tuple[str, dict[str, str], str]:
    """Split ``<title> {<k=v, k=v>} - <values>`` into title, labels and the values text."""
    cut = text.rfind("} - ")
    if cut < 0:
        return text, {}, ""
    head, value = text[:cut], text[cut + 4 :]
    if title_hint and head.startswith(title_hint + " {"):
        title, body = title_hint, head[len(title_hint) + 2 :]
    else:
        brace = head.find(" {")
        if brace < 0:
            return text, {}, ""
        title, body = head[:brace], head[brace + 2 :]
    labels: dict[str, str] = {}
    for pair in _LABEL_SPLIT.split(body) if body else []:
        k, sep, v = pair.partition("=")
        if sep:
            labels[k] = v
    return title, labels, value


def _tag_labels(tags: Any) -> dict[str, str]:
    """Newer Grafana also tags the annotation ``key:value`` (colons inside become ``_``)."""
    out: dict[str, str] = {}
    if isinstance(tags, list):
        for tag in tags:
            k, sep, v = as_text(tag).partition(":")
            if sep:
                out[k] = v
    return out

