"""PagerDuty: REST API v2 incidents and log entries, and the incidents CSV export.

Shapes read (field facts in docs/alert-formats.md; PagerDuty API reference):

* ``GET /incidents`` (``{"incidents": [...], "limit", "offset", "more", ...}``) and
  ``GET /incidents/{id}`` (``{"incident": {...}}``): one event per incident; start
  ``created_at``, end ``resolved_at`` (or ``last_status_change_at`` of a resolved incident),
  first acknowledgement from ``acknowledgements[].at`` (PagerDuty empties that list once the
  incident is resolved, so the acknowledge time of a resolved incident comes only from the
  log entries);
* ``GET /log_entries`` (``{"log_entries": [...]}``) and ``GET /log_entries/{id}``: entries
  are grouped by ``incident.id``; ``trigger_log_entry`` starts the span,
  ``acknowledge_log_entry`` gives the first acknowledgement, ``resolve_log_entry`` ends it;
  other entry types (notify, assign, escalate, annotate...) are skipped;
* the web UI incidents CSV export: its exact column list is not published, so columns are
  matched by name, case-insensitively, spaces and dashes read as ``_`` (``Created On`` is
  ``created_on``): ``id``/``incident_number``, ``title``/``description``,
  ``created_on``/``created_at`` (required), ``status``, ``urgency``, ``priority``,
  ``acknowledged_on``/``acknowledged_at``, ``resolved_on``/``resolved_at``,
  ``service_name``/``service``, ``seconds_to_first_ack``, ``seconds_to_resolve``,
  ``html_url``/``url``/``link``, ``incident_key``.

A JSON file may also be JSON lines of those answers (one page per line). Times are ISO 8601,
UTC ``Z`` or in the ``time_zone`` asked for (``2015-11-06T11:12:51-05:00``). Severity: a
priority ``P1``..``P5`` when the incident has one (P1 critical, P2 error, P3 warning, P4 and
P5 info), else the urgency (high critical, low warning), else error: every PagerDuty incident
notifies someone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from dateutil.parser import parse as parse_date

from parsers import export
from parsers.base import Event, ParseError, ParseOptions, ParseStats, decode
from parsers.export import (
    RecordReader,
    api_time,
    as_text,
    dump,
    json_list,
    json_object,
    written_time,
)

NAME = "pagerduty"
DESCRIPTION = "PagerDuty REST API v2 incidents and log entries (JSON) and the incidents CSV export"
TABLE = "events"
LOCAL_TIME = False
#: Read as one document (JSON or CSV), not cut by the line cap.
WHOLE_FILE = True

VARIANT_INCIDENTS = "api incidents"
VARIANT_LOG_ENTRIES = "api log entries"
VARIANT_CSV = "incidents csv"


_URGENCY = {"high": "critical", "low": "warning"}
# "[#1234] The server is on fire." is the incident reference summary in a log entry.
_REF_SUMMARY = re.compile(r"\[#(\d+)\]\s*(.*)\Z", re.S)

# CSV columns, each a list of accepted names in order of preference.
_CSV_ID = ("id", "incident_id", "incident_number", "number")
_CSV_TITLE = ("title", "description", "summary", "incident_title", "incident_description")
_CSV_CREATED = ("created_on", "created_at", "created")
_CSV_REQUIRED = (
    ("id or incident_number", _CSV_ID),
    ("title or description", _CSV_TITLE),
    ("created_on or created_at", _CSV_CREATED),
)
_CSV_SNIFF_CREATED = (b"created_on", b"created_at")


def sniff(head: bytes) -> bool:
    """Tell whether a file's first bytes look like a PagerDuty export.

    JSON: the ``incidents``/``incident`` or ``log_entries`` container keys of the REST API
    with their ``incident_number``/``_log_entry`` contents. CSV: a header naming an incident
    id or number, a created time and an urgency or status column.

    Args:
        head: The first bytes of the file.

    Returns:
        True for a PagerDuty API answer (or JSON lines of them) or incidents CSV.
    """
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] in (b"{", b"["):
        if b'"log_entries"' in body or b'"log_entry"' in body:
            # "type": "trigger_log_entry" and the like come first in each entry.
            return b'_log_entry"' in body
        if b'"incidents"' in body or b'"incident"' in body:
            return b'"incident_number"' in body or b'"urgency"' in body
        return False
    header = body.split(b"\n", 1)[0].lower().replace(b" ", b"_").replace(b'"', b"")
    cols = set(header.rstrip(b"\r").split(b","))
    return (
        bool(cols & {b"id", b"incident_number"})
        and any(c in cols for c in _CSV_SNIFF_CREATED)
        and bool(cols & {b"urgency", b"status"})
    )


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[list[Event]]:
    """Parse a PagerDuty export into event rows sorted by (ts, alertname, incident id).

    ``stats.lines`` counts records: incidents, log entries or CSV data rows (blank rows are
    not counted). An incident seen twice (two pages or snapshots) is one event, the later
    snapshot winning; log entries of an incident whose trigger is not in the file are skipped.

    Arguments and errors as for every export (``parsers/export.py``); ParseError when a JSON
    file is not valid JSON or not a PagerDuty answer, or a CSV lacks a required column.
    """
    reader = _Reader(stats, options)
    yield from export.read_export(
        lines, stats, options, reader, lambda data: _read_csv(data, reader, stats, options)
    )


@dataclass
class _Reader(RecordReader):
    """Collect incidents (by id) and log entries (grouped by incident id)."""

    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    repeated: int = 0
    #: incident id -> list of (kind, time, index, entry)
    entries: dict[str, list[tuple[str, float, int, dict[str, Any]]]] = field(default_factory=dict)

    def read(self, doc: Any, index: Callable[[], int]) -> bool:
        """Read one JSON document of a supported shape; False when it is none of them."""
        items: list[Any] | None = None
        if isinstance(doc, dict):
            # {"incidents": [...]}, {"incident": {...}}, {"log_entries": [...]}, {"log_entry": ...}
            for key, kind in (("incidents", list), ("incident", dict), ("log_entries", list),
                              ("log_entry", dict)):
                if isinstance(doc.get(key), kind):
                    items = doc[key] if kind is list else [doc[key]]
                    entries = key.startswith("log_")
                    break
        elif isinstance(doc, list) and doc and all(isinstance(d, dict) for d in doc):
            # A bare list, as `jq .incidents` or `jq .log_entries` leaves it.
            types = {as_text(d.get("type")) for d in doc}
            entries = not types <= {"incident"}
            if not entries or all(
                t.endswith("_log_entry") or t.endswith("_log_entry_reference") for t in types
            ):
                items = doc
        if items is None:
            return False
        self.set_variant(VARIANT_LOG_ENTRIES if entries else VARIANT_INCIDENTS)
        take = self.log_entry if entries else self.incident
        for item in items:
            take(item, index())
        return True

    # --- incidents (API and CSV) -----------------------------------------------------

    def incident(self, inc: Any, index: int) -> None:
        """One incident object of the REST API."""
        sample = self.count_record(inc, index, "incident")
        if sample is None:
            return
        try:
            created = api_time(inc.get("created_at"))
            resolved = api_time(inc.get("resolved_at"))
            changed = api_time(inc.get("last_status_change_at"))
            acks = [
                t
                for a in json_list(inc.get("acknowledgements"))
                if isinstance(a, dict) and (t := api_time(a.get("at"))) is not None
            ]
        except ValueError as exc:
            self.reject(index, str(exc), sample)
            return
        if created is None:
            self.reject(index, "incident has no created_at", sample)
            return
        status = as_text(inc.get("status"))
        if resolved is None and status == "resolved":
            resolved = changed
        priority = inc.get("priority")
        service = inc.get("service")
        self._add_incident(
            incident_id=as_text(inc.get("id")),
            number=inc.get("incident_number"),
            title=as_text(inc.get("title")) or as_text(inc.get("summary")),
            description=as_text(inc.get("description")),
            status=status,
            urgency=as_text(inc.get("urgency")),
            priority=as_text(priority.get("summary")) if isinstance(priority, dict) else "",
            service=as_text(service.get("summary")) if isinstance(service, dict) else "",
            created=created,
            acknowledged=min(acks) if acks else None,
            resolved=resolved,
            link=as_text(inc.get("html_url")),
            incident_key=as_text(inc.get("incident_key")),
            updated=changed or _api_time_or_none(inc.get("updated_at")) or created,
            index=index,
            sample=sample,
        )

    def _add_incident(self, **f: Any) -> None:
        self.stats.parsed += 1
        severity, raw_sev = _severity(f["priority"], f["urgency"])
        title, description = f["title"], f["description"]
        status = f["status"] or (
            "resolved"
            if f["resolved"] is not None
            else "acknowledged"
            if f["acknowledged"] is not None
            else "triggered"
        )
        attrs: dict[str, Any] = {
            "alertname": title,
            "status": status,
            "labels": {k: v for k, v in (("service", f["service"]),) if v},
            "link": f["link"],
            "incident_id": f["incident_id"],
            "incident_number": f["number"],
            "incident_key": f["incident_key"],
            "service": f["service"],
            "urgency": f["urgency"],
            "priority": f["priority"],
            "severity_raw": raw_sev,
        }
        if f["acknowledged"] is not None:
            attrs["acknowledged_at"] = f["acknowledged"]
        if f["resolved"] is not None:
            attrs["resolved_at"] = f["resolved"]
        message = f"{title}: {description}" if description and description != title else title
        event = export.event_row(
            ts=f["created"], end=f["resolved"], severity=severity, host="", message=message,
            sample=f["sample"], attrs=attrs, line=f["index"],
        )
        key = f["incident_id"] or (str(f["number"]) if f["number"] is not None else "")
        old = self.incidents.get(key) if key else None
        if old is None:
            self.incidents[key or f"#line{f['index']}"] = event | {"_updated": f["updated"]}
            return
        # Two snapshots of one incident (overlapping pages): the later one wins.
        self.repeated += 1
        if f["updated"] >= old["_updated"]:
            event["line"] = old["line"]
            if "acknowledged_at" not in attrs and "acknowledged_at" in old["attrs"]:
                attrs["acknowledged_at"] = old["attrs"]["acknowledged_at"]
            self.incidents[key] = event | {"_updated": f["updated"]}

    # --- log entries -------------------------------------------------------------------

    def log_entry(self, entry: Any, index: int) -> None:
        """One log entry: kept for its incident when it triggers, acknowledges or resolves."""
        raw = self.count_record(entry, index, "log entry")
        if raw is None:
            return
        kind = as_text(entry.get("type")).removesuffix("_reference")
        if kind not in ("trigger_log_entry", "acknowledge_log_entry", "resolve_log_entry"):
            self.stats.skip("log entry that is not a trigger, acknowledge or resolve")
            return
        incident = entry.get("incident")
        incident_id = as_text(incident.get("id")) if isinstance(incident, dict) else ""
        if not incident_id:
            self.reject(index, "log entry has no incident.id", raw)
            return
        t = self.timed(index, raw, "log entry has no created_at", api_time, entry.get("created_at"))
        if t is None:
            return
        self.entries.setdefault(incident_id, []).append((kind, t, index, entry))

    def _log_events(self) -> list[Event]:
        events = []
        for incident_id, items in self.entries.items():
            items.sort(key=lambda x: (x[1], x[2]))
            triggers = [x for x in items if x[0] == "trigger_log_entry"]
            if not triggers:
                self.stats.skip(
                    "log entries of an incident whose trigger is not in the file", len(items)
                )
                continue
            self.stats.parsed += len(items)
            _, start, index, first = triggers[0]
            acks = [(t, i) for k, t, i, _ in items if k == "acknowledge_log_entry"]
            resolves = [t for k, t, _, _ in items if k == "resolve_log_entry"]
            inc = json_object(first.get("incident"))
            # With include[]=incidents the reference is the full incident object.
            m = _REF_SUMMARY.match(as_text(inc.get("summary")))
            title = as_text(inc.get("title")) or (m.group(2) if m else as_text(inc.get("summary")))
            number = inc.get("incident_number")
            if number is None and m:
                number = int(m.group(1))
            priority = inc.get("priority")
            prio = as_text(priority.get("summary")) if isinstance(priority, dict) else ""
            severity, raw_sev = _severity(prio, as_text(inc.get("urgency")))
            service = first.get("service")
            svc = as_text(service.get("summary")) if isinstance(service, dict) else ""
            end = max(resolves) if resolves else None
            attrs: dict[str, Any] = {
                "alertname": title,
                "status": "resolved"
                if end is not None
                else "acknowledged"
                if acks
                else "triggered",
                "labels": {"service": svc} if svc else {},
                "link": as_text(inc.get("html_url")),
                "incident_id": incident_id,
                "incident_number": number,
                "incident_key": as_text(inc.get("incident_key")),
                "service": svc,
                "urgency": as_text(inc.get("urgency")),
                "priority": prio,
                "log_entries": len(items),
                "severity_raw": raw_sev,
            }
            if acks:
                # The first acknowledgement, and its own line (the evidence of the time).
                attrs["acknowledged_at"], attrs["acknowledged_line"] = min(acks)
            if end is not None:
                attrs["resolved_at"] = end
            events.append(
                export.event_row(
                    ts=start, end=end, severity=severity, host="", message=title,
                    sample=dump(first), attrs=attrs, line=index,
                )
            )
        return events

    def events(self) -> list[Event]:
        """All events, sorted by (ts, alertname, incident id)."""
        if self.repeated:
            self.stats.notes.append(
                f"{self.repeated} incident records repeated an incident already seen and were "
                "merged (the later snapshot wins)"
            )
        # The records carry a private "_updated" (which snapshot wins) until here.
        by_id = {
            k: cast(Event, {key: v for key, v in e.items() if key != "_updated"})
            for k, e in self.incidents.items()
        }
        for event in self._log_events():
            old = by_id.get(event["attrs"]["incident_id"])
            if old is None:
                by_id[event["attrs"]["incident_id"]] = event
                continue
            # The same incident in the API list and its log entries: the log gives the times.
            for k in ("acknowledged_at", "resolved_at"):
                if k in event["attrs"] and k not in old["attrs"]:
                    old["attrs"][k] = event["attrs"][k]
                    if k == "acknowledged_at":
                        old["attrs"]["acknowledged_line"] = event["attrs"]["acknowledged_line"]
            if old["end"] is None and event["end"] is not None:
                old["end"] = event["end"]
        return export.in_time_order(by_id.values(), "incident_id")


# --- CSV ---------------------------------------------------------------------------------

    # What read_json_document says of a JSON line, or the one document, refused by read().
    skip_reason = "JSON line that is not a PagerDuty API answer"
    not_this = ('JSON is not a PagerDuty API answer (expected {"incidents": [...]}, {"incident": '
                '{...}} or {"log_entries": [...]})')


def _norm(name: str) -> str:
    """``Created On`` -> ``created_on``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _read_csv(data: bytes, reader: _Reader, stats: ParseStats, options: ParseOptions) -> None:
    rows = export.csv_rows(csv.reader(io.StringIO(decode(data), newline="")), stats, options)
    header: list[str] = next(rows, (0, 0, []))[2]
    cols = {_norm(h): i for i, h in reversed(list(enumerate(header)))}

    def pick(names: tuple[str, ...]) -> int | None:
        return next((cols[n] for n in names if n in cols), None)

    missing = [label for label, names in _CSV_REQUIRED if pick(names) is None]
    if missing:
        raise ParseError(
            f"{options.display_path}: missing columns: {', '.join(missing)} "
            "(expected a PagerDuty incidents CSV export)"
        )
    stats.variant = VARIANT_CSV
    idx = {
        "id": pick(("id", "incident_id")),
        "number": pick(("incident_number", "number")),
        "title": pick(("title", "summary", "incident_title")),
        "description": pick(("description", "incident_description")),
        "created": pick(_CSV_CREATED),
        "status": pick(("status",)),
        "urgency": pick(("urgency",)),
        "priority": pick(("priority", "priority_name")),
        "acknowledged": pick(("acknowledged_on", "acknowledged_at", "first_acknowledged_on")),
        "resolved": pick(("resolved_on", "resolved_at")),
        "service": pick(("service_name", "service")),
        "to_ack": pick(("seconds_to_first_ack",)),
        "to_resolve": pick(("seconds_to_resolve",)),
        "link": pick(("html_url", "url", "link")),
        "incident_key": pick(("incident_key",)),
    }
    for line_start, _, row in rows:
        stats.lines += 1
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(row)
        sample = buf.getvalue()

        def cell(name: str, row: list[str] = row) -> str:
            i = idx[name]
            return row[i].strip() if i is not None and i < len(row) else ""

        try:
            created = _csv_time(cell("created"), stats)
            acked = _csv_time(cell("acknowledged"), stats)
            resolved = _csv_time(cell("resolved"), stats)
            if acked is None and created is not None and cell("to_ack"):
                acked = _plus_s(created, float(cell("to_ack")))
            if resolved is None and created is not None and cell("to_resolve"):
                resolved = _plus_s(created, float(cell("to_resolve")))
        except ValueError as exc:
            stats.reject(line_start, str(exc), sample.encode(), options)
            continue
        if created is None:
            stats.reject(line_start, "row has no created time", sample.encode(), options)
            continue
        number: Any = cell("number")
        if isinstance(number, str) and number.isdigit():
            number = int(number)
        description = cell("description")
        reader._add_incident(
            incident_id=cell("id"),
            number=number or None,
            title=cell("title") or description,
            description=description,
            status=cell("status").lower(),
            urgency=cell("urgency").lower(),
            priority=cell("priority"),
            service=cell("service"),
            created=created,
            acknowledged=acked,
            resolved=resolved,
            link=cell("link"),
            incident_key=cell("incident_key"),
            updated=resolved or acked or created,
            index=line_start,
            sample=sample,
        )


# --- helpers -------------------------------------------------------------------------------


def _severity(priority: str, urgency: str) -> tuple[str, str]:
    """(severity, raw value used): priority P1..P5 first, then urgency, else error."""
    if priority.strip().lower() in export.PRIORITY_SEVERITY:
        return export.PRIORITY_SEVERITY[priority.strip().lower()], priority
    if urgency.strip().lower() in _URGENCY:
        return _URGENCY[urgency.strip().lower()], urgency
    return "error", priority or urgency


def _plus_s(t: float, seconds: float) -> float:
    """``t`` plus a duration, summed in whole microseconds (no float drift).

    Raises:
        ValueError: when the duration is not a finite number of seconds.
    """
    return export.plus_seconds(t, seconds)




def _api_time_or_none(value: Any) -> float | None:
    try:
        return api_time(value)
    except ValueError:
        return None


def _csv_time(text: str, stats: ParseStats) -> float | None:
    """A CSV time: ISO 8601 first, then any spelling dateutil reads (naive read as UTC)."""
    return written_time(text, stats, parse_date, "bad timestamp") if text else None


