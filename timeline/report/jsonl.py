"""``timeline.jsonl``: every incident's timeline as Timesketch imports it.

Timesketch's JSONL import wants, on each line, one JSON object with ``message`` (what
happened), ``datetime`` (ISO 8601 with its offset) and ``timestamp_desc`` (what the time
means); every other key becomes an attribute of the event. ``timestamp`` (microseconds since
the epoch) is given too, so no parser has to read the date string. Times are UTC, as in
``timeline.json``, whatever ``--display-tz`` says.
"""

from __future__ import annotations

import json

import pandas as pd

from timeline.model import ACTION_KINDS, Analysis, Entry
from timeline.report.escape import json_safe

#: What an entry's time is, by its kind (Timesketch shows it beside the time).
TIMESTAMP_DESC = {
    "start": "Incident start",
    "end": "Incident end",
    "alert_firing": "Alert fired",
    "alert_resolved": "Alert resolved",
    "acknowledged": "Page acknowledged",
    "peak": "Peak bin start",
    "recovery": "First request served again",
    "upstream_failing": "First failed request through the upstream",
}


def timestamp_desc(kind: str) -> str:
    """The ``timestamp_desc`` of an entry kind."""
    if kind in TIMESTAMP_DESC:
        return TIMESTAMP_DESC[kind]
    if kind in ACTION_KINDS:
        return "Change logged"
    return "First error-log line of the burst"


def _iso(ts: float) -> str:
    """``2023-03-20T12:30:00+00:00`` (``.123000`` microseconds when the time has them)."""
    return pd.Timestamp(ts, unit="s", tz="UTC").isoformat()


def _line(entry: Entry, incident: int) -> dict[str, object]:
    return {
        "message": entry.text,
        "datetime": _iso(entry.ts),
        "timestamp_desc": timestamp_desc(entry.kind),
        "timestamp": int(round(entry.ts * 1_000_000)),
        "data_type": "incident_timeline:entry",
        "incident": incident,
        "kind": entry.kind,
        "source": entry.source or None,
        "host": entry.host or None,
        "flag": entry.flag or None,
        "links": [{"address": link.address, "host": link.host, "text": link.text,
                   "source": link.source} for link in entry.links],
    }


def to_jsonl(analysis: Analysis) -> str:
    """One JSON object a line for every timeline entry of every incident, in order."""
    lines = [json_safe(json.dumps(_line(e, n), ensure_ascii=False, sort_keys=False))
             for n, inc in enumerate(analysis.incidents, start=1) for e in inc.timeline]
    return "".join(line + "\n" for line in lines)
