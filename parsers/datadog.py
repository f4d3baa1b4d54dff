"""Datadog: monitor notifications as the Webhooks integration posts them.

The payload is a user template of ``$VARIABLES`` (docs.datadoghq.com/integrations/webhooks),
so fields are found by name, case-insensitively and ignoring ``_``/``-``: ``alert_transition``
(``$ALERT_TRANSITION``: Triggered, Re-Triggered, Warn, Re-Warn, No Data, Re-No Data, Renotify,
Recovered), ``alert_cycle_key`` (``$ALERT_CYCLE_KEY``, links an alert's notifications from
trigger to recovery), ``alert_title``/``event_title``/``title`` (``[Triggered on
{host:i-3b93aafb}] Host is Down``), ``hostname``, ``tags`` (``$TAGS``: comma-separated
``k:v``), ``alert_scope``, ``alert_type`` (error, warning, success, info), ``alert_priority``/
``priority`` (P1..P5), ``date`` (``$DATE``, epoch **milliseconds**), ``date_posix`` (epoch
seconds), ``last_updated`` (epoch ms), ``event_type``, ``body``/``event_msg``, ``alert_status``,
``id``, ``alert_id``, ``link``/``url``. Every value arrives as a string because the template
quotes it. The default template (``body``, ``last_updated``, ``event_type``, ``title``,
``date``, ``org``, ``id``) has no transition field: it is read from the title's ``[...]``
prefix.

A file holds one notification, a JSON array of them, or JSON lines. Notifications pair into
spans: by ``alert_cycle_key`` when present, else by the title without its ``[Triggered ...]``
prefix together with the scope (``{host:...}`` or ``alert_scope``) or host. A span opens at
the first non-recovery notification and ends at Recovered; without a recovery it is still
open (``end`` None).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from parsers import export
from parsers.base import Event, ParseOptions, ParseStats
from parsers.export import RecordReader, as_text, dump, parse_rfc3339

NAME = "datadog"
DESCRIPTION = "Datadog monitor notifications from the Webhooks integration (JSON or JSON lines)"
TABLE = "events"
LOCAL_TIME = False
#: Read as one document (JSON or CSV), not cut by the line cap.
WHOLE_FILE = True

VARIANT_DEFAULT = "webhook (default template)"
VARIANT_CUSTOM = "webhook (custom template)"

_ALERT_TYPE = {"error": "error", "warning": "warning", "info": "info", "success": "info"}
_TRANSITION_SEVERITY = {"triggered": "error", "warn": "warning", "no data": "warning"}
_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}

# One leading "[...]" of a title: "[P1]", "[Triggered on {host:i-3b93aafb}]", "[Recovered]".
_PREFIX = re.compile(r"\s*\[([^\]]*)\]\s*")
_PRIORITY_TAG = re.compile(r"P[1-5]\Z")
_TRANSITIONS = (
    "re-triggered",
    "triggered",
    "re-warn",
    "warn",
    "re-no data",
    "no data",
    "renotify",
    "recovered",
)
_HOST_IN_SCOPE = re.compile(r"(?:^|[{,\s])host:([^,}\s]+)")
_MESSAGE_TEXT_CHARS = 200

# Normalized field names (lower case, no "_"/"-") -> accepted spellings in order.
_FIELDS: dict[str, tuple[str, ...]] = {
    "transition": ("alerttransition", "transition"),
    "cycle_key": ("alertcyclekey", "cyclekey"),
    "title": ("alerttitle", "eventtitle", "title"),
    "host": ("hostname", "host"),
    "tags": ("tags", "alerttags"),
    "scope": ("alertscope", "scope"),
    "alert_type": ("alerttype",),
    "priority": ("alertpriority", "priority"),
    "date": ("date",),
    "date_posix": ("dateposix",),
    "last_updated": ("lastupdated",),
    "event_type": ("eventtype",),
    "body": ("textonlymsg", "body", "eventmsg", "text", "message"),
    "status": ("alertstatus",),
    "id": ("id", "eventid"),
    "alert_id": ("alertid", "monitorid"),
    "link": ("link", "url"),
    "metric": ("alertmetric",),
}
_DEFAULT_TEMPLATE_KEYS = frozenset({"body", "lastupdated", "eventtype", "title", "date", "id"})


def sniff(head: bytes) -> bool:
    """Tell whether a file's first bytes look like Datadog webhook notifications.

    A custom template carries ``alert_transition`` or ``alert_cycle_key`` (any case); the
    default template carries ``last_updated`` and ``event_type`` together.

    Args:
        head: The first bytes of the file.

    Returns:
        True for a Datadog notification (object, array or JSON lines).
    """
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] not in (b"{", b"["):
        return False
    low = body.lower()
    if any(
        k in low
        for k in (
            b'"alert_transition"',
            b'"alerttransition"',
            b'"alert_cycle_key"',
            b'"alertcyclekey"',
        )
    ):
        return True
    return b'"last_updated"' in low and b'"event_type"' in low


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[list[Event]]:
    """Parse Datadog notifications into event rows sorted by (ts, alertname, line).

    ``stats.lines`` counts notifications. A notification with neither a transition field
    nor a ``[Transition ...]`` title prefix is skipped (not a monitor alert), and so is a
    Recovered notification whose trigger is not in the file. Notifications of one span
    count as parsed and become one event.

    Arguments and errors as for every export (``parsers/export.py``); ParseError when the file
    is one JSON document that is not valid JSON or holds no Datadog notification.
    """
    yield from export.read_export(lines, stats, options, _Reader(stats, options))


def _fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The notification's values under the names of ``_FIELDS`` (first spelling found)."""
    norm: dict[str, Any] = {}
    for k, v in obj.items():
        norm.setdefault(re.sub(r"[_\-\s]", "", str(k).lower()), v)
    out: dict[str, Any] = {"_keys": frozenset(norm)}
    for name, spellings in _FIELDS.items():
        out[name] = next((norm[s] for s in spellings if s in norm), None)
    return out


def _looks_like_notification(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    f = _fields(obj)
    return f["title"] is not None and any(
        f[k] is not None for k in ("date", "date_posix", "last_updated")
    )


#: A notification kept: (ts, index, transition, fields, raw object).
_Record = tuple[float, int, str, dict[str, Any], dict[str, Any]]


@dataclass
class _Reader(RecordReader):
    """Collect notifications, then pair them into spans."""

    records: list[_Record] = field(default_factory=list)

    def read(self, doc: Any, index: Callable[[], int]) -> bool:
        """Read one JSON document: a notification or an array of them; False otherwise."""
        if isinstance(doc, dict):
            if not _looks_like_notification(doc):
                return False
            self.record(doc, index())
            return True
        if not isinstance(doc, list) or not any(_looks_like_notification(d) for d in doc):
            return isinstance(doc, list) and not doc
        for item in doc:
            self.record(item, index())
        return True

    def record(self, obj: Any, index: int) -> None:
        """Count one notification and keep it, or reject or skip it."""
        raw = self.count_record(obj, index, "notification")
        if raw is None:
            return
        f = _fields(obj)
        default = f["_keys"] >= _DEFAULT_TEMPLATE_KEYS and f["transition"] is None
        self.set_variant(VARIANT_DEFAULT if default else VARIANT_CUSTOM)
        ts = self.timed(index, raw, "notification has no date", _date, f)
        if ts is None:
            return
        transition = as_text(f["transition"]).strip()
        if not transition or transition.lower() == "null":
            transition = _title_parts(as_text(f["title"]))[0]
        if transition.lower() not in _TRANSITIONS:
            self.stats.skip("notification that is not a monitor alert transition")
            return
        self.records.append((ts, index, transition, f, obj))

    def events(self) -> list[Event]:
        """Pair the kept notifications into spans, sorted by (ts, alertname, line)."""
        spans: dict[tuple[str, ...], Event] = {}
        events: list[Event] = []
        merged = 0
        for ts, index, transition, f, obj in sorted(self.records, key=lambda r: (r[0], r[1])):
            _, scope, name = _title_parts(as_text(f["title"]))
            host = _host(f, scope)
            cycle = as_text(f["cycle_key"]).strip()
            key = ("cycle", cycle) if cycle else ("title", name, scope or host)
            open_event = spans.get(key)
            if transition.lower() == "recovered":
                if open_event is None:
                    self.stats.skip("Recovered notification whose trigger is not in the file")
                    continue
                self.stats.parsed += 1
                merged += 1
                open_event["end"] = ts
                open_event["attrs"]["status"] = "resolved"
                open_event["attrs"]["transitions"].append(transition)
                del spans[key]
                continue
            self.stats.parsed += 1
            severity, raw_sev = _severity(f, transition)
            if open_event is not None:
                # Re-Triggered, Renotify, Warn -> Triggered within one alert cycle.
                merged += 1
                open_event["attrs"]["transitions"].append(transition)
                if _RANK[severity] > _RANK[open_event["severity"]]:
                    open_event["severity"] = severity
                    open_event["attrs"]["severity_raw"] = raw_sev
                continue
            event = _event(ts, index, transition, f, obj, name, scope, host, severity, raw_sev)
            spans[key] = event
            events.append(event)
        if merged:
            self.stats.notes.append(
                f"{merged} notifications continued or recovered an alert already seen and were "
                f"merged: {len(events)} events"
            )
        return export.in_time_order(events)

    # What read_json_document says of a JSON line, or the one document, refused by read().
    skip_reason = "JSON line that is not a Datadog notification"
    not_this = ("JSON is not a Datadog webhook notification (expected an object or array of "
                "objects with a title and a date, such as the default template's \"title\", "
                '"date" and "last_updated")')


def _event(
    ts: float,
    index: int,
    transition: str,
    f: dict[str, Any],
    obj: dict[str, Any],
    name: str,
    scope: str,
    host: str,
    severity: str,
    raw_sev: str,
) -> Event:
    labels = _tags(f["tags"])
    status_text = as_text(f["status"]).strip()
    body = as_text(f["body"]).strip().removeprefix("%%%").strip()
    text = status_text or (body.splitlines()[0][:_MESSAGE_TEXT_CHARS] if body else "")
    cycle = as_text(f["cycle_key"]).strip()
    attrs: dict[str, Any] = {
        "alertname": name,
        "status": "firing",
        "labels": labels,
        "link": as_text(f["link"]),
        "transition": transition,
        "transitions": [transition],
        "cycle_key": cycle,
        "scope": scope or as_text(f["scope"]),
        "alert_id": as_text(f["alert_id"]),
        "event_id": as_text(f["id"]),
        "event_type": as_text(f["event_type"]),
        "alert_type": as_text(f["alert_type"]),
        "priority": as_text(f["priority"]),
        "metric": as_text(f["metric"]),
        "title": as_text(f["title"]),
        "severity_raw": raw_sev,
    }
    return export.event_row(
        ts=ts, end=None, severity=severity, host=host, message=f"{name}: {text}" if text else name,
        sample=dump(obj), attrs=attrs, line=index,
    )


def _title_parts(title: str) -> tuple[str, str, str]:
    """``[P1] [Triggered on {host:a}] CPU high`` -> (``Triggered``, ``host:a``, ``CPU high``)."""
    transition = scope = ""
    rest = title
    while m := _PREFIX.match(rest):
        inner = m.group(1).strip()
        word, _, where = inner.partition(" on ")
        if _PRIORITY_TAG.match(inner):
            pass
        elif word.lower() in _TRANSITIONS and not transition:
            transition = word
            scope = where.strip().strip("{}")
        else:
            break
        rest = rest[m.end() :]
    return transition, scope, rest.strip()


def _host(f: dict[str, Any], scope: str) -> str:
    host = as_text(f["host"]).strip()
    if host and not host.startswith("$"):
        return host
    for text in (scope, as_text(f["scope"])):
        m = _HOST_IN_SCOPE.search(text)
        if m:
            return m.group(1)
    return ""


def _tags(value: Any) -> dict[str, str]:
    """``$TAGS`` (``env:prod,role:web,monitor``) as labels; repeated keys join with ``,``."""
    items = value if isinstance(value, list) else as_text(value).split(",")
    out: dict[str, str] = {}
    for item in items:
        tag = as_text(item).strip()
        if not tag:
            continue
        k, _, v = tag.partition(":")
        if k not in out:
            out[k] = v
        elif v:
            out[k] = f"{out[k]},{v}" if out[k] else v
    return out


def _severity(f: dict[str, Any], transition: str) -> tuple[str, str]:
    """(severity, raw value used): priority, else alert type, else the transition."""
    priority = as_text(f["priority"]).strip()
    if priority.lower() in export.PRIORITY_SEVERITY:
        return export.PRIORITY_SEVERITY[priority.lower()], priority
    alert_type = as_text(f["alert_type"]).strip()
    if alert_type.lower() in _ALERT_TYPE and alert_type.lower() != "success":
        return _ALERT_TYPE[alert_type.lower()], alert_type
    base = transition.lower().removeprefix("re-")
    return _TRANSITION_SEVERITY.get(base, "error"), alert_type


def _date(f: dict[str, Any]) -> float | None:
    """The notification's time: ``$DATE``, else ``$DATE_POSIX``, else ``$LAST_UPDATED``.

    Raises:
        ValueError: when one of them, read in that order until a time is found, is not one.
    """
    ts = _time(f["date"])
    if ts is None:
        ts = _time(f["date_posix"])
    if ts is None:
        ts = _time(f["last_updated"])
    return ts


def _time(value: Any) -> float | None:
    """``$DATE``/``$LAST_UPDATED`` (epoch ms) or ``$DATE_POSIX`` (epoch s), number or string.

    Seconds and milliseconds are told apart by size (a template may put either under any
    name); ISO 8601 text is accepted too. None when absent or an unexpanded ``$VARIABLE``.

    Raises:
        ValueError: when the value is not a time.
    """
    if value is None:
        return None
    text = as_text(value).strip()
    if not text or text.startswith("$"):
        return None
    try:
        number = float(text)
    except ValueError:
        try:
            return parse_rfc3339(text)
        except ValueError:
            raise ValueError(f"bad date {text!r}") from None
    if number <= 0:
        raise ValueError(f"bad date {text!r}")
    return number / 1000.0 if number >= 1e11 else number
