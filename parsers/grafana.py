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
from typing import Any

from parsers.alertmanager import (
    _HOST_LABELS,
    _SEVERITY,
    SAMPLE_CHARS,
    _dump,
    _Merger,
    _str,
    alert_event,
    check_alert,
    json_object,
    read_json_export,
)
from parsers.base import ParseOptions, ParseStats

NAME = "grafana"
DESCRIPTION = (
    "Grafana Alerting webhook payloads (JSON or JSON lines) and alert state history "
    "(GET /api/annotations?type=alert)"
)
TABLE = "events"
LOCAL_TIME = False

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
) -> Iterator[list[dict[str, Any]]]:
    """Parse Grafana JSON into event rows (see ``EVENT_KEYS``).

    ``stats.lines`` counts alert records: every alert of every webhook payload and every
    annotation of the state history. An annotation that is not an alert state change
    (``newState`` empty: a user annotation) is skipped, and so is a transition to Normal
    whose firing transition is not in the file. A JSON-lines line that is not valid JSON
    counts as one rejected record.

    Args:
        lines: The file's lines as bytes (read whole: these files are small).
        stats: Receives the counts, rejects, variant, notes and time range.
        options: ``display_path`` names the file in messages; ``on_bad_lines`` applies to
            rejected records.

    Yields:
        Lists of at most ``CHUNK_ROWS`` event dicts, sorted by (ts, alertname, line).

    Raises:
        ParseError: when the file is one JSON document that is not valid JSON or not a
            Grafana shape.
        BadLineError: when a record is rejected and ``options.on_bad_lines == "error"``.
    """
    yield from read_json_export(
        lines,
        stats,
        options,
        _Reader(stats, options),
        skip_reason="JSON line that is not a Grafana payload or annotation",
        not_this="JSON is not a Grafana webhook payload or alert state "
        'history (expected an object with "alerts", or the array of annotations '
        "GET /api/annotations?type=alert returns)",
    )


class _Reader:
    """Collect webhook alerts (merged as they come) and state transitions (paired at the end)."""

    def __init__(self, stats: ParseStats, options: ParseOptions) -> None:
        self.stats = stats
        self.options = options
        self.merger = _Merger()
        # instance key -> [(time_s, annotation id, record index, annotation)]
        self.transitions: dict[tuple[Any, ...], list[tuple[float, int, int, dict[str, Any]]]] = {}

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
            self._variant(VARIANT_HISTORY)
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
                self.stats.reject(
                    i,
                    "item is neither a webhook payload nor an annotation",
                    _dump(item).encode(),
                    self.options,
                )
            elif isinstance(item.get("alerts"), list):
                self._payload(item, index)
            else:
                self._annotation(item, index())
        return True

    def _variant(self, variant: str) -> None:
        if not self.stats.variant:
            self.stats.variant = variant

    # --- webhook payloads ------------------------------------------------------------

    def _payload(self, payload: dict[str, Any], index: Callable[[], int]) -> None:
        self._variant(VARIANT_WEBHOOK)
        truncated = payload.get("truncatedAlerts")
        if isinstance(truncated, int) and truncated > 0:
            self.stats.notes.append(f"a payload left out {truncated} alerts (truncatedAlerts)")
        group_status = payload.get("status")
        ctx = {
            "receiver": _str(payload.get("receiver")),
            "group_key": _str(payload.get("groupKey")),
            "group_status": group_status if group_status in ("firing", "resolved") else "",
            "org_id": payload.get("orgId"),
            "title": _str(payload.get("title")),
        }
        for alert in payload["alerts"]:
            self._alert(alert, index(), ctx)

    def _alert(self, alert: Any, index: int, ctx: dict[str, Any]) -> None:
        stats, options = self.stats, self.options
        checked = check_alert(alert, index, stats, options)
        if checked is None:
            return
        raw, ts, end, labels, annotations = checked
        state = alert.get("status")
        if state not in ("firing", "resolved"):
            state = "resolved" if end is not None else ctx["group_status"] or "firing"
        if state != "resolved":
            end = None  # endsAt of a firing alert is the zero time or an estimate
        alertname = labels.get("alertname", "")
        raw_sev = labels.get("severity", "")
        values = alert.get("values")
        link = next(
            (
                _str(alert.get(k))
                for k in ("panelURL", "dashboardURL", "generatorURL")
                if _str(alert.get(k))
            ),
            "",
        )
        attrs: dict[str, Any] = {
            "alertname": alertname,
            "status": state,
            "labels": labels,
            "link": link,
            "fingerprint": _str(alert.get("fingerprint")),
            "annotations": annotations,
            "generator_url": _str(alert.get("generatorURL")),
            "silence_url": _str(alert.get("silenceURL")),
            "dashboard_url": _str(alert.get("dashboardURL")),
            "panel_url": _str(alert.get("panelURL")),
            "values": values if isinstance(values, dict) else None,
            "value_string": _str(alert.get("valueString")),
            "receiver": ctx["receiver"],
            "group_key": ctx["group_key"],
            "org_id": ctx["org_id"],
            "title": ctx["title"],
            "severity_raw": raw_sev,
        }
        stats.parsed += 1
        self.merger.add(alert_event(ts, end, labels, annotations, raw, attrs, index), labels)

    # --- state history -----------------------------------------------------------------

    def _annotation(self, ann: Any, index: int) -> None:
        stats, options = self.stats, self.options
        self._variant(VARIANT_HISTORY)
        stats.lines += 1
        raw = _dump(ann)
        new_raw = _str(ann.get("newState"))
        if not new_raw:
            # A user annotation (type=annotation) has empty states and alertId 0.
            stats.skip("annotation that is not an alert state change")
            return
        new = _base_state(new_raw)
        if new not in _KNOWN_STATES:
            stats.reject(index, f"unknown newState {new_raw!r}", raw.encode(), options)
            return
        t = ann.get("time")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or t <= 0:
            stats.reject(index, "annotation has no time", raw.encode(), options)
            return
        title, labels, _ = _split_text(_str(ann.get("text")), _str(ann.get("alertName")))
        if not labels:
            labels = _tag_labels(ann.get("tags"))
        key = (ann.get("alertId"), title, tuple(sorted(labels.items())))
        ann_id = ann.get("id")
        order = ann_id if isinstance(ann_id, int) else 0
        self.transitions.setdefault(key, []).append((t / 1000.0, order, index, ann))

    def _spans(self) -> list[dict[str, Any]]:
        """Pair each transition into a firing state with the next transition to Normal."""
        events: list[dict[str, Any]] = []
        for items in self.transitions.values():
            # Chronological; the annotation id breaks ties (the API lists newest first).
            items.sort(key=lambda x: (x[0], x[1]))
            open_event: dict[str, Any] | None = None
            for t, _, index, ann in items:
                new = _base_state(_str(ann.get("newState")))
                prev = _base_state(_str(ann.get("prevState")))
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
                    open_event["attrs"]["resolved_state"] = _str(ann.get("newState"))
                    open_event = None
                elif new == "Normal" and prev in _FIRING_STATES:
                    self.stats.skip(
                        "transition to Normal whose firing transition is not in the file"
                    )
                else:
                    # Normal -> Pending, Pending -> Normal: state changes that fire nothing.
                    self.stats.parsed += 1
        return events

    def _history_event(self, t: float, index: int, ann: dict[str, Any]) -> dict[str, Any]:
        alert_name = _str(ann.get("alertName"))
        title, labels, value = _split_text(_str(ann.get("text")), alert_name)
        if not labels:
            labels = _tag_labels(ann.get("tags"))
        alertname = alert_name or title or labels.get("alertname", "")
        data = json_object(ann.get("data"))
        state_raw = _str(ann.get("newState"))
        raw_sev = labels.get("severity", "")
        values = data.get("values")
        attrs: dict[str, Any] = {
            "alertname": alertname,
            "status": "firing",
            "labels": labels,
            "link": "",
            "state": _base_state(state_raw),
            "state_raw": state_raw,
            "prev_state": _str(ann.get("prevState")),
            "states": [_base_state(state_raw)],
            "alert_id": ann.get("alertId"),
            "annotation_id": ann.get("id"),
            "dashboard_uid": _str(ann.get("dashboardUID")),
            "panel_id": ann.get("panelId"),
            "values": values if isinstance(values, dict) else None,
            "error": _str(data.get("error")),
            "severity_raw": raw_sev,
        }
        return {
            "ts": t,
            "end": None,
            "kind": "alert",
            "severity": _SEVERITY.get(raw_sev.strip().lower(), "info"),
            "host": next((labels[k] for k in _HOST_LABELS if labels.get(k)), ""),
            "message": f"{alertname}: {value}" if value else alertname,
            "sample": _dump(ann)[:SAMPLE_CHARS],
            "count": 1,
            "attrs": attrs,
            "line": index,
        }

    def events(self) -> list[dict[str, Any]]:
        """All events, sorted by (ts, alertname, line)."""
        webhook = self.merger.events()
        if self.merger.merged:
            self.stats.notes.append(
                f"{self.merger.merged} alert records repeated an alert already seen (same "
                f"fingerprint or labels, same startsAt) and were merged: {len(webhook)} events"
            )
        events = webhook + self._spans()
        return sorted(events, key=lambda e: (e["ts"], e["attrs"]["alertname"], e["line"]))


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
            k, sep, v = _str(tag).partition(":")
            if sep:
                out[k] = v
    return out

