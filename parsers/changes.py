"""Change events: deploys, config changes, rollbacks... written down by people or by CI.

The format is this project's own, described column by column in ``docs/changes.md``: a CSV
file with a header row (comma, semicolon or tab separated), or JSON (an array of objects, one
object, or JSON lines of objects), with

* ``time`` (required): ISO 8601 with a zone (``2024-05-14T10:02:00Z``,
  ``2024-05-14T12:02:00+02:00``) or epoch seconds or milliseconds; a time without a zone is
  read as UTC and the report says so;
* ``end`` (optional): when the change finished, same spellings;
* ``kind`` (required): free text normalized to deploy, config_change, rollback, restart,
  feature_flag, manual_action or other (``release`` is a deploy, ``revert`` a rollback...);
* ``description`` (required), ``host``, ``author``, ``link`` (optional);
* any other column is kept in ``attrs["labels"]`` (a ``status`` column also fills
  ``attrs["status"]``).

Column names are matched case-insensitively (spaces and dashes read as ``_``). Each row is
one event whose ``kind`` is the normalized kind and whose severity is ``info``.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dateutil.parser import isoparse

from parsers import export
from parsers.base import Event, ParseError, ParseOptions, ParseStats, decode
from parsers.export import RecordReader, as_text, dump, written_time

NAME = "changes"
DESCRIPTION = "Change events (deploys, config changes, rollbacks...) as CSV or JSON"
TABLE = "events"
LOCAL_TIME = False
#: Read as one document (JSON or CSV), not cut by the line cap.
WHOLE_FILE = True

VARIANT_CSV = "csv"
VARIANT_JSON = "json"
VARIANT_JSON_LINES = "json lines"

REQUIRED = ("time", "kind", "description")
KNOWN = (*REQUIRED, "end", "host", "author", "link")
KINDS = (
    "deploy",
    "config_change",
    "rollback",
    "restart",
    "feature_flag",
    "manual_action",
    "other",
)
DOCS = "see docs/changes.md"

# Words of a free-text kind, by kind, in order of precedence: "revert deploy" is a rollback,
# "rollout restart" a restart, "canary release" a deploy.
_KIND_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "rollback",
        frozenset(
            "rollback rollbacks rolledback roll_back rolled_back revert reverted reverting "
            "undo downgrade downgraded backout back_out".split()
        ),
    ),
    (
        "feature_flag",
        frozenset(
            "feature_flag featureflag feature_flags flag flags feature toggle toggled "
            "feature_toggle ff experiment killswitch kill_switch".split()
        ),
    ),
    (
        "restart",
        frozenset("restart restarted restarts reboot rebooted bounce bounced recycle".split()),
    ),
    (
        "config_change",
        frozenset(
            "config configs config_change configchange configuration cfg conf settings "
            "setting reload reloaded reconfigure reconfig".split()
        ),
    ),
    (
        "deploy",
        frozenset(
            "deploy deploys deployed deployment release released releases rollout roll_out "
            "rolled_out ship shipped upgrade upgraded canary redeploy hotfix".split()
        ),
    ),
    (
        "manual_action",
        frozenset(
            "manual manual_action manual_change action intervention failover scale scaled "
            "scaling maintenance operator drain drained migration".split()
        ),
    ),
)
_EPOCH = re.compile(r"\d+(?:\.\d+)?\Z")
_DELIMITERS = (",", ";", "\t")


def sniff(head: bytes) -> bool:
    """Tell whether a file's first bytes look like a change-events file.

    CSV: the header row names ``time``, ``kind`` and ``description`` (any case). JSON: the
    keys ``"time"``, ``"kind"`` and ``"description"`` all appear.

    Args:
        head: The first bytes of the file.

    Returns:
        True for a change-events CSV or JSON file.
    """
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] in (b"{", b"["):
        low = body.lower()
        return all(b'"' + k.encode() + b'"' in low for k in REQUIRED)
    header = decode(body.split(b"\n", 1)[0])
    return _header(header)[1] is not None


def parse(
    lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[list[Event]]:
    """Parse a change-events file into event rows sorted by (ts, kind, description, line).

    ``stats.lines`` counts records: CSV data rows (blank rows are not counted) or JSON
    objects. A record without a time, kind or description, or with a time that does not
    parse, is rejected.

    Arguments and errors as for every export (``parsers/export.py``); ParseError when a CSV
    lacks a required column, or a JSON file is not valid JSON or holds no object with the
    required keys.
    """
    data = export.json_payload(lines)
    if data is None:
        return
    builder = _Builder(stats, options)
    if data.lstrip()[:1] in (b"{", b"["):
        _read_json(data, builder, stats, options)
    else:
        _read_csv(data, builder, stats, options)
    yield from export.yield_events(builder.finish(), stats, options)


def normalize_kind(raw: str) -> str:
    """Map a free-text kind to one of :data:`KINDS` (``other`` when nothing matches).

    Args:
        raw: The kind as written, e.g. ``Release``, ``config``, ``revert deploy``.

    Returns:
        The normalized kind.
    """
    norm = _norm(raw)
    if norm in KINDS:
        return norm
    for kind, words in _KIND_WORDS:
        if norm in words:
            return kind
    tokens = norm.split("_")
    pairs = {f"{a}_{b}" for a, b in itertools.pairwise(tokens)}
    for kind, words in _KIND_WORDS:
        if words & pairs or words.intersection(tokens):
            return kind
    return "other"


def _norm(name: str) -> str:
    """``Config Change`` -> ``config_change``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _header(line: str) -> tuple[list[str], str | None]:
    """The header's normalized names and its delimiter (None when a required one lacks)."""
    best: list[str] = []
    for delim in _DELIMITERS:
        try:
            cells = next(csv.reader([line], delimiter=delim), [])
        except csv.Error:
            # A carriage return or NUL inside the first line (a binary file, gzip data
            # without .gz): no header of any delimiter.
            return best, None
        names = [_norm(h) for h in cells]
        if all(r in names for r in REQUIRED):
            return names, delim
        if len(names) > len(best):
            best = names
    return best, None


# --- reading -------------------------------------------------------------------------------


def _read_csv(data: bytes, builder: _Builder, stats: ParseStats, options: ParseOptions) -> None:
    text = decode(data)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    names, delim = _header(first)
    if delim is None:
        missing = [r for r in REQUIRED if r not in names]
        raise ParseError(f"{options.display_path}: missing columns: {', '.join(missing)} ({DOCS})")
    stats.variant = VARIANT_CSV
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header = True
    for line_start, _, row in export.csv_rows(rows, stats, options):
        if header:  # the first row that is not blank
            header = False
            continue
        record = {names[i]: value for i, value in enumerate(row) if i < len(names) and names[i]}
        buf = io.StringIO()
        csv.writer(buf, delimiter=delim, lineterminator="").writerow(row)
        builder.add(record, line_start, buf.getvalue())


def _read_json(data: bytes, builder: _Builder, stats: ParseStats, options: ParseOptions) -> None:
    loaded = export.load_json(data, options)
    if isinstance(loaded, export.JsonLines):
        stats.variant = VARIANT_JSON_LINES
        for lineno, obj in export.json_lines(loaded, stats, options):
            keys = {_norm(str(k)) for k in obj} if isinstance(obj, dict) else set()
            if not keys & set(REQUIRED):
                stats.lines += 1
                stats.skip("JSON line that is not a change event")
                continue
            builder.add(_record(obj), lineno, dump(obj))
        return
    doc = loaded.value
    items = doc if isinstance(doc, list) else [doc]
    keys = {_norm(str(k)) for d in items if isinstance(d, dict) for k in d}
    missing = [r for r in REQUIRED if r not in keys]
    if missing and (items or not isinstance(doc, list)):
        raise ParseError(
            f"{options.display_path}: JSON is not a change-events file: missing keys "
            f"{', '.join(missing)} ({DOCS})"
        )
    stats.variant = VARIANT_JSON
    counter = itertools.count(1)
    _add_all(items, builder, counter.__next__)


def _add_all(items: list[Any], builder: _Builder, index: Callable[[], int]) -> None:
    for obj in items:
        i = index()
        if isinstance(obj, dict):
            builder.add(_record(obj), i, dump(obj))
        else:
            builder.not_an_object(i, dump(obj))


def _record(obj: dict[str, Any]) -> dict[str, Any]:
    """A JSON object with normalized keys (the first spelling of a key wins)."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        out.setdefault(_norm(str(k)), v)
    return out


# --- building events -----------------------------------------------------------------------


@dataclass
class _Builder(RecordReader):
    """Validate records and turn them into events."""

    events: list[Event] = field(default_factory=list)
    unknown_kinds: dict[str, int] = field(default_factory=dict)

    def not_an_object(self, index: int, sample: str) -> None:
        """Count and reject a record that is not a JSON object."""
        self.stats.lines += 1
        self.reject(index, "record is not a JSON object", sample)

    def add(self, record: dict[str, Any], index: int, sample: str) -> None:
        """Count one record and keep it as an event, or reject it."""
        self.stats.lines += 1
        for name in REQUIRED:
            if not as_text(record.get(name)).strip():
                self.reject(index, f"missing {name}", sample)
                return
        try:
            ts = self._time(record.get("time"))
        except ValueError:
            self.reject(index, f"bad time {as_text(record.get('time'))!r}", sample)
            return
        try:
            end = self._time(record.get("end"))
        except ValueError:
            self.reject(index, f"bad end {as_text(record.get('end'))!r}", sample)
            return
        if ts is None:  # only for "time": " " and the like, caught above
            self.reject(index, "missing time", sample)
            return
        if end is not None and end < ts:
            self.reject(index, "end is before time", sample)
            return
        raw_kind = as_text(record.get("kind")).strip()
        kind = normalize_kind(raw_kind)
        if kind == "other" and _norm(raw_kind) != "other":
            self.unknown_kinds[raw_kind] = self.unknown_kinds.get(raw_kind, 0) + 1
        description = as_text(record.get("description")).strip()
        labels = {
            k: as_text(v).strip()
            for k, v in record.items()
            if k and k not in KNOWN and as_text(v).strip()
        }
        attrs: dict[str, Any] = {
            "alertname": "",
            "status": labels.get("status", ""),
            "labels": labels,
            "link": as_text(record.get("link")).strip(),
            "author": as_text(record.get("author")).strip(),
            "change_kind_raw": raw_kind,
            "description": description,
            "severity_raw": "",
        }
        self.events.append(
            export.event_row(
                ts=ts, end=end, kind=kind, severity="info",
                host=as_text(record.get("host")).strip(), message=description.splitlines()[0],
                sample=sample, attrs=attrs, line=index,
            )
        )
        self.stats.parsed += 1

    def _time(self, value: Any) -> float | None:
        """``time``/``end`` as epoch seconds UTC; None when empty.

        Raises:
            ValueError: when the value is not a time.
        """
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError("a boolean is not a time")
        if isinstance(value, (int, float)):
            return _epoch(float(value))
        text = as_text(value).strip()
        if not text:
            return None
        if _EPOCH.match(text):
            return _epoch(float(text))
        ts = written_time(text, self.stats, isoparse, "bad time")
        if ts is None:
            raise ValueError("zero time")
        return ts

    def finish(self) -> list[Event]:
        """The events sorted by (ts, kind, description, line); a note on unknown kinds."""
        if self.unknown_kinds:
            listed = ", ".join(repr(k) for k in sorted(self.unknown_kinds))
            n = sum(self.unknown_kinds.values())
            self.stats.notes.append(
                f"{n} changes had a kind not recognised, read as other: {listed}"
            )
        return sorted(
            self.events,
            key=lambda e: (e["ts"], e["kind"], e["attrs"]["description"], e["line"]),
        )


def _epoch(value: float) -> float:
    """Epoch seconds, or milliseconds told apart by size (after 1973 in ms)."""
    if value <= 0:
        raise ValueError("epoch time must be positive")
    return value / 1000.0 if value >= 1e11 else value
