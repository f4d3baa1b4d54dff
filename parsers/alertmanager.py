"""Prometheus Alertmanager: webhook notifications and ``/api/v2/alerts`` snapshots.

Four JSON shapes are read (field facts in ``ALERT_FORMATS.md``):

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

import calendar
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC
from typing import Any

from dateutil.parser import isoparse

from parsers.base import CHUNK_ROWS, ParseError, ParseOptions, ParseStats

NAME = "alertmanager"
DESCRIPTION = "Prometheus Alertmanager webhook payloads (JSON or JSON lines) and API v2 alert lists"
TABLE = "events"
LOCAL_TIME = False

#: ``sample`` holds the alert object as compact JSON cut to this many characters.
SAMPLE_CHARS = 500

VARIANT_V4 = "webhook v4"
VARIANT_V3 = "webhook v3"
VARIANT_API = "api v2 alerts"
VARIANT_GROUPS = "api v2 alert groups"

# RFC3339 as Go's time.RFC3339Nano writes it: 2019-09-27T16:27:56.612666101Z,
# 2018-03-07T06:33:21.873077559-05:00, 2026-03-11T12:48:38.413Z. Go emits 1-9 fraction digits.
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):?(\d\d))\Z"
)

# labels.severity is a convention, not a schema field: teams use free text (ALERT_FORMATS.md).
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
) -> Iterator[list[dict[str, Any]]]:
    """Parse Alertmanager JSON into event rows (see ``EVENT_KEYS``).

    ``stats.lines`` counts alert records (every alert object of every payload or list entry,
    before merging); a JSON-lines line that is not valid JSON counts as one rejected record.

    Args:
        lines: The file's lines as bytes (read whole: these files are small).
        stats: Receives the counts, rejects, variant and time range.
        options: ``display_path`` names the file in messages; ``on_bad_lines`` applies to
            rejected records.

    Yields:
        Lists of at most ``CHUNK_ROWS`` event dicts, sorted by (ts, alertname, fingerprint).

    Raises:
        ParseError: when the file is one JSON document that is not valid JSON or not an
            Alertmanager shape.
        BadLineError: when a record is rejected and ``options.on_bad_lines == "error"``.
    """
    data = b"".join(lines)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    merger = _Merger()
    if not data.strip():
        return
    try:
        doc = _loads(data)
    except ValueError as exc:
        physical = [(n, ln) for n, ln in enumerate(data.split(b"\n"), start=1) if ln.strip()]
        if not _looks_like_json_lines(physical):
            raise ParseError(f"{options.display_path}: not valid JSON: {_where(exc)}") from None
        _parse_json_lines(physical, stats, options, merger)
    else:
        counter = _Counter()
        if not _read_doc(doc, None, counter, stats, options, merger):
            raise ParseError(
                f"{options.display_path}: JSON is not an Alertmanager webhook payload or "
                '/api/v2/alerts list (expected an object with "alerts" or an array of '
                "alerts, alert groups or payloads)"
            )
    events = merger.events()
    if merger.merged:
        stats.notes.append(
            f"{merger.merged} alert records repeated an alert already seen (same fingerprint "
            f"or labels, same startsAt) and were merged: {len(events)} events"
        )
    for i in range(0, len(events), CHUNK_ROWS):
        yield events[i : i + CHUNK_ROWS]


# --- reading the JSON ---------------------------------------------------------------------


class _Counter:
    """The 1-based record index used as ``line`` when a file is one JSON document."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


def _loads(raw: bytes) -> Any:
    """``json.loads`` of UTF-8 bytes; both bad UTF-8 and bad JSON raise ``ValueError``."""
    return json.loads(raw.decode("utf-8"))


def _where(exc: ValueError, *, one_line: bool = False) -> str:
    """A one-line description of a JSON error: message, line (unless ``one_line``), column."""
    if isinstance(exc, json.JSONDecodeError):
        # json's own messages end in " at" ("Unterminated string starting at"), made to be
        # followed by a position.
        msg = exc.msg.removesuffix(" at")
        if one_line:
            return f"{msg} at column {exc.colno}"
        return f"{msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 at byte {exc.start}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _looks_like_json_lines(physical: list[tuple[int, bytes]]) -> bool:
    """True when a file that is not one JSON document is JSON lines with some bad lines.

    A pretty-printed document has lines like ``"alerts": [`` that never parse alone, so
    requiring at least half of the non-blank lines to be complete JSON values separates
    a JSON-lines log with a torn line from a broken (or truncated) document.
    """
    if len(physical) < 2:
        return False
    good = 0
    for _, ln in physical:
        s = ln.strip()
        if (s[:1], s[-1:]) in ((b"{", b"}"), (b"[", b"]")):
            try:
                good += isinstance(_loads(s), (dict, list))
            except ValueError:
                pass
    return good >= 1 and good * 2 >= len(physical)


def _parse_json_lines(
    physical: list[tuple[int, bytes]],
    stats: ParseStats,
    options: ParseOptions,
    merger: _Merger,
) -> None:
    """Read one payload per line; ``line`` of each event is the physical line number."""
    for lineno, raw in physical:
        try:
            doc = _loads(raw.strip())
        except ValueError as exc:
            # A torn write (receiver crashed mid-line) loses that payload only.
            stats.lines += 1
            stats.reject(lineno, f"not valid JSON: {_where(exc, one_line=True)}", raw, options)
            continue
        if not _read_doc(doc, lineno, None, stats, options, merger):
            # Valid JSON of another kind (e.g. the receiver's own log line): not ours.
            stats.lines += 1
            stats.skip("JSON line that is not an Alertmanager payload")


def _read_doc(
    doc: Any,
    lineno: int | None,
    counter: _Counter | None,
    stats: ParseStats,
    options: ParseOptions,
    merger: _Merger,
) -> bool:
    """Read one JSON document of any supported shape; False when it is none of them.

    ``lineno`` is set for JSON lines (every record of the line gets it); otherwise
    ``counter`` numbers the records.
    """

    def index() -> int:
        return lineno if lineno is not None else counter.next() if counter else 0

    if isinstance(doc, dict):
        if not isinstance(doc.get("alerts"), list):
            return False
        if _is_group(doc):
            _read_group(doc, index, stats, options, merger)
        else:
            _read_payload(doc, index, stats, options, merger)
        return True
    if not isinstance(doc, list):
        return False
    if not doc:
        # GET /api/v2/alerts answers [] when nothing fires: a valid, empty snapshot.
        _set_variant(stats, VARIANT_API)
        return True
    for item in doc:
        if isinstance(item, dict) and isinstance(item.get("alerts"), list):
            if _is_group(item):
                _read_group(item, index, stats, options, merger)
            else:
                _read_payload(item, index, stats, options, merger)
        else:
            _set_variant(stats, VARIANT_API)
            _read_alert(item, index(), _api_context(item, ""), stats, options, merger)
    return True


def _is_group(obj: dict[str, Any]) -> bool:
    """An ``alertGroup`` has ``labels``; a webhook payload has ``groupLabels`` instead."""
    return "labels" in obj and "groupLabels" not in obj


def _set_variant(stats: ParseStats, variant: str) -> None:
    """Keep the first variant seen (a JSON-lines file may mix payload versions)."""
    if not stats.variant:
        stats.variant = variant


def _read_payload(
    payload: dict[str, Any],
    index: Callable[[], int],
    stats: ParseStats,
    options: ParseOptions,
    merger: _Merger,
) -> None:
    """One webhook payload: the group's fields apply to each of its alerts."""
    version = str(payload.get("version", ""))
    # Version "3" payloads predate groupKey (ALERT_FORMATS.md); Grafana's AM-shaped body
    # says version "1" but carries groupKey, so it reads as v4.
    v4 = version == "4" or (version != "3" and "groupKey" in payload)
    _set_variant(stats, VARIANT_V4 if v4 else VARIANT_V3)
    truncated = payload.get("truncatedAlerts")
    if isinstance(truncated, int) and truncated > 0:
        # max_alerts in webhook_config drops alerts from the payload and counts them here.
        stats.notes.append(f"a payload left out {truncated} alerts (truncatedAlerts)")
    group_status = payload.get("status")
    ctx = {
        "api": False,
        "receiver": _str(payload.get("receiver")),
        "group_key": _str(payload.get("groupKey")),
        "group_status": group_status if group_status in ("firing", "resolved") else "",
    }
    for alert in payload["alerts"]:
        _read_alert(alert, index(), ctx, stats, options, merger)


def _read_group(
    group: dict[str, Any],
    index: Callable[[], int],
    stats: ParseStats,
    options: ParseOptions,
    merger: _Merger,
) -> None:
    """One ``alertGroup`` of ``/api/v2/alerts/groups``: receiver is ``{"name": ...}``."""
    _set_variant(stats, VARIANT_GROUPS)
    receiver = group.get("receiver")
    name = _str(receiver.get("name")) if isinstance(receiver, dict) else _str(receiver)
    for alert in group["alerts"]:
        _read_alert(alert, index(), _api_context(alert, name), stats, options, merger)


def _api_context(alert: Any, group_receiver: str) -> dict[str, Any]:
    """Context of an API item: its own ``receivers[]`` (all routes) beat the group's one."""
    names: list[str] = []
    if isinstance(alert, dict) and isinstance(alert.get("receivers"), list):
        names = [_str(r.get("name")) for r in alert["receivers"] if isinstance(r, dict)]
    return {
        "api": True,
        "receiver": ", ".join(n for n in names if n) or group_receiver,
        "group_key": "",
        "group_status": "",
    }


def _str(value: Any) -> str:
    """A JSON value as text for attrs ("" for null/missing)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


# --- one alert --------------------------------------------------------------------------


def check_alert(
    alert: Any, index: int, stats: ParseStats, options: ParseOptions
) -> tuple[str, float, float | None, dict[str, str], dict[str, str]] | None:
    """Count one Alertmanager-shaped alert (also Grafana's) and check what every event
    needs; reject it with the reason when something is missing.

    Returns:
        ``(raw JSON, start, end or None, labels, annotations)``, or None when rejected.
    """
    stats.lines += 1
    if not isinstance(alert, dict):
        stats.reject(index, "alert is not a JSON object", _dump(alert).encode(), options)
        return None
    raw = _dump(alert)
    labels_in = alert.get("labels")
    # Alertmanager refuses alerts without labels (types.Alert.Validate), and startsAt is
    # required in both the webhook and gettableAlert; without them there is no event.
    if not isinstance(labels_in, dict) or not labels_in:
        stats.reject(index, "alert has no labels", raw.encode(), options)
        return None
    starts = alert.get("startsAt")
    if not isinstance(starts, str) or not starts:
        stats.reject(index, "alert has no startsAt", raw.encode(), options)
        return None
    ends = alert.get("endsAt")
    try:
        ts = parse_rfc3339(starts)
    except ValueError:
        stats.reject(index, "bad startsAt", raw.encode(), options)
        return None
    if ts is None:
        stats.reject(index, "startsAt is the zero time", raw.encode(), options)
        return None
    try:
        end = parse_rfc3339(ends) if isinstance(ends, str) and ends else None
    except ValueError:
        stats.reject(index, "bad endsAt", raw.encode(), options)
        return None
    labels = {str(k): _str(v) for k, v in labels_in.items()}
    ann_in = alert.get("annotations")
    annotations = {str(k): _str(v) for k, v in ann_in.items()} if isinstance(ann_in, dict) else {}
    return raw, ts, end, labels, annotations


def _read_alert(
    alert: Any,
    index: int,
    ctx: dict[str, Any],
    stats: ParseStats,
    options: ParseOptions,
    merger: _Merger,
) -> None:
    """Count one alert record and parse, reject or merge it."""
    checked = check_alert(alert, index, stats, options)
    if checked is None:
        return
    raw, ts, end, labels, annotations = checked
    ends = alert.get("endsAt")
    alertname = labels.get("alertname", "")
    raw_sev = labels.get("severity", "")
    attrs: dict[str, Any] = {
        "alertname": alertname,
        "status": "",
        "fingerprint": _str(alert.get("fingerprint")),
        "labels": labels,
        "annotations": annotations,
        "generator_url": _str(alert.get("generatorURL")),
        "receiver": ctx["receiver"],
        "group_key": ctx["group_key"],
        "severity_raw": raw_sev,
    }
    if ctx["api"]:
        # The API lists current alerts only; endsAt = updatedAt + resolve_timeout, a guess.
        if isinstance(ends, str) and end is not None:
            attrs["ends_at_estimate"] = ends
        end = None
        status = alert.get("status")
        status = status if isinstance(status, dict) else {}
        attrs["status"] = _str(status.get("state")) or "active"
        attrs["silenced"] = bool(status.get("silencedBy"))
        attrs["inhibited"] = bool(status.get("inhibitedBy"))
        attrs["muted"] = bool(status.get("mutedBy"))
    else:
        state = alert.get("status")
        if state not in ("firing", "resolved"):
            # Old payloads have no per-alert status (prometheus-msteams sample): a real
            # endsAt means resolved, else the group's status decides.
            state = "resolved" if end is not None else ctx["group_status"] or "firing"
        attrs["status"] = state
        if state != "resolved" and end is not None:
            # Older Alertmanagers sent the resolve-timeout estimate for firing alerts.
            attrs["ends_at_estimate"] = ends
            end = None

    stats.parsed += 1
    stats.see_ts(ts)
    merger.add(alert_event(ts, end, labels, annotations, raw, attrs, index), labels)


def alert_event(ts: float, end: float | None, labels: dict[str, str],
                annotations: dict[str, str], raw: str, attrs: dict[str, Any],
                index: int) -> dict[str, Any]:
    """The event row of one Prometheus-style alert (Alertmanager, Grafana): severity from
    its ``severity`` label, host from the instance-like labels, message from the first
    summary-like annotation."""
    alertname = labels.get("alertname", "")
    text = next((annotations[k] for k in _TEXT_ANNOTATIONS if annotations.get(k)), "")
    return {
        "ts": ts,
        "end": end,
        "kind": "alert",
        "severity": _SEVERITY.get(labels.get("severity", "").strip().lower(), "info"),
        "host": next((labels[k] for k in _HOST_LABELS if labels.get(k)), ""),
        "message": f"{alertname or '(no alertname)'}: {text}" if text else alertname,
        "sample": raw[:SAMPLE_CHARS],
        "count": 1,
        "attrs": attrs,
        "line": index,
    }


def _dump(alert: Any) -> str:
    """Compact, key-sorted JSON of an alert (stable across notifications)."""
    return json.dumps(alert, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def api_time(value: Any) -> float | None:
    """A REST API's ISO 8601 time (PagerDuty, Opsgenie) as epoch seconds; None when absent.

    Raises:
        ValueError: when the value is not a timestamp.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"bad timestamp {value!r}")
    return parse_rfc3339(value)


def json_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def parse_rfc3339(text: str) -> float | None:
    """Convert an RFC3339 timestamp to epoch seconds UTC.

    Sub-second digits are kept to the microsecond (Go writes up to nanoseconds).

    Args:
        text: e.g. ``2019-09-27T16:27:56.612666101Z`` or ``2018-03-07T06:33:21.87-05:00``.

    Returns:
        Epoch seconds, or None for Go's zero time ``0001-01-01T00:00:00Z`` (the webhook's
        "no end yet").

    Raises:
        ValueError: when the text is not a timestamp.
    """
    m = _RFC3339.match(text.strip())
    if m is None:
        return _parse_fallback(text)
    y, mo, d, hh, mi, ss, frac, z, sign, oh, om = m.groups()
    if int(y) <= 1:
        return None
    if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31 and int(hh) < 24 and int(mi) < 60):
        raise ValueError(f"bad timestamp {text!r}")
    epoch = calendar.timegm((int(y), int(mo), int(d), int(hh), int(mi), int(ss), 0, 0, 0))
    if z is None:
        off = int(oh) * 3600 + int(om) * 60
        epoch -= off if sign == "+" else -off
    us = int((frac or "0")[:6].ljust(6, "0"))
    # One division of whole microseconds rounds like datetime.timestamp() does.
    return (epoch * 1_000_000 + us) / 1_000_000


def _parse_fallback(text: str) -> float | None:
    """Other ISO 8601 spellings via dateutil (naive times are read as UTC)."""
    try:
        dt = isoparse(text.strip())
    except (ValueError, OverflowError):
        raise ValueError(f"bad timestamp {text!r}") from None
    if dt.year <= 1:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return float(dt.timestamp())


# --- merging notifications ---------------------------------------------------------------


class _Merger:
    """Fold the notifications of one alert into one event.

    The key is the fingerprint (a hash of the labels) or the sorted labels, together with
    startsAt: Alertmanager keeps startsAt while an alert stays active (types.Alert.Merge
    keeps the earlier one), so firing and resolved notifications share it, while a new
    firing after a resolve gets a new startsAt and stays a separate event.
    """

    def __init__(self) -> None:
        self._by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.merged = 0

    def add(self, event: dict[str, Any], labels: dict[str, str]) -> None:
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

    def events(self) -> list[dict[str, Any]]:
        """All events, sorted by (ts, alertname, fingerprint) and then input order."""
        return sorted(
            self._by_key.values(),
            key=lambda e: (e["ts"], e["attrs"]["alertname"], e["attrs"]["fingerprint"]),
        )


def json_payload(lines: Iterable[bytes]) -> bytes | None:
    """A JSON export's bytes without a UTF-8 byte-order mark; None when it is blank."""
    data = b"".join(lines)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data if data.strip() else None


def read_json_document(
    data: bytes,
    stats: ParseStats,
    options: ParseOptions,
    reader: Any,
    *,
    skip_reason: str,
    not_this: str,
) -> None:
    """Feed one JSON document, or JSON lines with torn lines rejected one by one, to
    ``reader.read(doc, next_index) -> bool`` (False: not this format).

    Raises:
        ParseError: one document that is not valid JSON, or that ``reader`` refuses
            (``not_this`` says what was expected).
    """
    try:
        doc = _loads(data)
    except ValueError as exc:
        physical = [(n, ln) for n, ln in enumerate(data.split(b"\n"), start=1) if ln.strip()]
        if not _looks_like_json_lines(physical):
            raise ParseError(f"{options.display_path}: not valid JSON: {_where(exc)}") from None
        for lineno, raw in physical:
            try:
                line_doc = _loads(raw.strip())
            except ValueError as exc:
                stats.lines += 1
                stats.reject(lineno, f"not valid JSON: {_where(exc, one_line=True)}", raw, options)
                continue
            if not reader.read(line_doc, itertools.repeat(lineno).__next__):
                stats.lines += 1
                stats.skip(skip_reason)
        return
    if not reader.read(doc, itertools.count(1).__next__):
        raise ParseError(f"{options.display_path}: {not_this}")


def yield_events(events: list[dict[str, Any]], stats: ParseStats) -> Iterator[list[dict[str, Any]]]:
    """Widen the file's time range by every start and end, then hand events out in chunks."""
    for e in events:
        stats.see_ts(e["ts"])
        if e["end"] is not None:
            stats.see_ts(e["end"])
    for i in range(0, len(events), CHUNK_ROWS):
        yield events[i : i + CHUNK_ROWS]


def read_json_export(
    lines: Iterable[bytes],
    stats: ParseStats,
    options: ParseOptions,
    reader: Any,
    *,
    skip_reason: str,
    not_this: str,
) -> Iterator[list[dict[str, Any]]]:
    """The whole of a JSON-only export parser: :func:`json_payload`, then
    :func:`read_json_document`, then :func:`yield_events` of ``reader.events()``."""
    data = json_payload(lines)
    if data is None:
        return
    read_json_document(data, stats, options, reader, skip_reason=skip_reason,
                       not_this=not_this)
    yield from yield_events(reader.events(), stats)
