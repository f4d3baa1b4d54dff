"""The toolkit of the JSON export parsers (Alertmanager, Grafana, PagerDuty, Opsgenie,
CloudWatch, Datadog and the JSON side of change events).

An export file is small and read whole: one JSON document, or JSON lines (one document a
line, as a webhook receiver appends them). :func:`read_json_document` tells the two apart
(a torn line loses that line only; a broken document is a :class:`ParseError`) and hands
each document to the format's reader, which knows the format's own fields and nothing of
JSON files (as plaso's ``jsonl_plugins/interface.py`` splits file and record). A reader is
anything with the methods of :class:`ExportReader`; :class:`RecordReader` holds what most
readers share.

The parse functions built on it take the file's lines (read whole), the file's
:class:`ParseStats` (counts, rejects, variant, notes, time range) and the
:class:`ParseOptions` (``display_path`` names the file in messages, ``on_bad_lines``
applies to rejected records), and yield lists of at most ``CHUNK_ROWS`` event rows
(``EVENT_KEYS``). They raise :class:`ParseError` for a file that is one JSON document
but not valid JSON or not of their format, and :class:`BadLineError` when a record is
rejected with ``on_bad_lines == "error"``.
"""

from __future__ import annotations

import calendar
import csv
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from dateutil.parser import isoparse

from parsers.base import (
    CHUNK_ROWS,
    Event,
    ParseError,
    ParseOptions,
    ParseStats,
    valid_offset,
    valid_time,
)

#: ``sample`` holds the record as compact JSON (or its CSV row) cut to this many characters.
SAMPLE_CHARS = 500
#: The severity of a priority P1..P5 (PagerDuty, Opsgenie, Datadog).
PRIORITY_SEVERITY = {"p1": "critical", "p2": "error", "p3": "warning", "p4": "info", "p5": "info"}

#: The note of a file some of whose times have no zone (they are read as UTC).
NAIVE_NOTE = "times without a zone read as UTC"
#: Event times must fall between these (epoch seconds): after 1970-01-01 and before
#: 2200-01-01. A time outside is no time of an outage (a typo, 1e30, Infinity, a duration
#: read as a date) and pandas cannot even hold times after 2262.
MIN_TS = 0.0
MAX_TS = 7258118400.0
#: A file whose head nests JSON deeper than this is named as such when no format takes it
#: (no export nests beyond a few levels).
MAX_JSON_DEPTH = 200

# An ISO 8601 time that ends in a zone (Z, +02:00, -0500).
_ZONED = re.compile(r"\d(?:[Zz]|[+-]\d\d:?\d\d)\s*\Z")
# RFC3339 as Go's time.RFC3339Nano writes it: 2019-09-27T16:27:56.612666101Z,
# 2018-03-07T06:33:21.873077559-05:00, 2026-03-11T12:48:38.413Z. Go emits 1-9 fraction digits.
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):?(\d\d))\Z"
)


class ExportReader(Protocol):
    """What :func:`read_json_document` and :func:`read_export` need of a format."""

    #: Why a line of JSON lines that :meth:`read` refuses is skipped ("JSON line that is not
    #: an Opsgenie payload or API answer").
    skip_reason: str
    #: The :class:`ParseError` message (after the file's name) when :meth:`read` refuses the
    #: file's one document: what it was expected to be.
    not_this: str

    def read(self, doc: Any, index: Callable[[], int]) -> bool:
        """Read one JSON document: the whole file, or one line of a JSON-lines file.

        Args:
            doc: The decoded JSON value.
            index: Gives the ``line`` of the next record: the physical line number of a
                JSON-lines document, else 1, 2, 3... over the records of the file.

        Returns:
            False when the document is not of this format (nothing was counted).
        """
        ...

    def events(self) -> list[Event]:
        """The events of everything read, in their final order."""
        ...


@dataclass
class RecordReader:
    """The state most readers share: the file's stats and options, and the counting of one
    record that must be a JSON object. A reader adds its own state as dataclass fields."""

    stats: ParseStats
    options: ParseOptions

    def set_variant(self, variant: str) -> None:
        """Keep the first variant seen (a JSON-lines file may mix shapes)."""
        if not self.stats.variant:
            self.stats.variant = variant

    def reject(self, index: int, reason: str, raw: str) -> None:
        """Reject a record already counted, ``raw`` being its text."""
        self.stats.reject(index, reason, raw.encode(), self.options)

    def timed(self, index: int, raw: str, missing: str, read: Callable[[Any], float | None],
              value: Any) -> float | None:
        """The record's time, ``read(value)``; None after rejecting the record, with the
        message of the ``ValueError`` ``read`` raises or with ``missing`` when there is none."""
        try:
            ts = read(value)
        except ValueError as exc:
            self.reject(index, str(exc), raw)
            return None
        if ts is None:
            self.reject(index, missing, raw)
        return ts

    def count_record(self, obj: Any, index: int, what: str) -> str | None:
        """Count one record and return its compact JSON; reject it (None) when it is not a
        JSON object, ``what`` naming it in the reason (``"alert"``)."""
        self.stats.lines += 1
        raw = dump(obj)
        if not isinstance(obj, dict):
            self.reject(index, f"{what} is not a JSON object", raw)
            return None
        return raw


# --- values -------------------------------------------------------------------------------


def event_row(*, ts: float, end: float | None, severity: str, host: str, message: str,
              sample: str, attrs: dict[str, Any], line: int, kind: str = "alert"
              ) -> Event:
    """The event row (``EVENT_KEYS``, in order) of one record: ``count`` 1, ``sample`` cut
    to ``SAMPLE_CHARS``."""
    return {
        "ts": ts,
        "end": end,
        "kind": kind,
        "severity": severity,
        "host": host,
        "message": message,
        "sample": sample[:SAMPLE_CHARS],
        "count": 1,
        "attrs": attrs,
        "line": line,
    }


def as_text(value: Any) -> str:
    """A JSON value as text for attrs ("" for null/missing)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def dump(value: Any) -> str:
    """Compact, key-sorted JSON of a record (stable across notifications)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def json_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def json_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one (a field that should hold a list
    but holds a number, a string or an object has no items)."""
    return value if isinstance(value, list) else []


def finite_number(value: Any) -> bool:
    """True for a JSON number that is a real, finite quantity (not a boolean, NaN or
    Infinity, which Python's JSON reader accepts)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def plus_seconds(t: float, seconds: float) -> float:
    """``t`` plus a duration, summed in whole microseconds (no float drift).

    Raises:
        ValueError: when either is not finite or the sum is out of :func:`time_in_range`.
    """
    if not (math.isfinite(t) and math.isfinite(seconds) and abs(seconds) < MAX_TS):
        raise ValueError(f"duration out of range: {seconds!r}")
    return (round(t * 1_000_000) + round(seconds * 1_000_000)) / 1_000_000


def time_in_range(ts: float) -> bool:
    """True when ``ts`` (epoch seconds) is a finite time between :data:`MIN_TS` and
    :data:`MAX_TS`."""
    return math.isfinite(ts) and MIN_TS < ts < MAX_TS


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
    if not valid_time(int(y), int(mo), int(d), int(hh), int(mi), int(ss)) or (
            oh is not None and not valid_offset(int(oh), int(om))):
        raise ValueError(f"bad timestamp {text!r}")
    epoch = calendar.timegm((int(y), int(mo), int(d), int(hh), int(mi), int(ss), 0, 0, 0))
    if z is None:
        off = int(oh) * 3600 + int(om) * 60
        epoch -= off if sign == "+" else -off
    us = int((frac or "0")[:6].ljust(6, "0"))
    # One division of whole microseconds rounds like datetime.timestamp() does.
    return (epoch * 1_000_000 + us) / 1_000_000


def written_time(
    text: str, stats: ParseStats, parse: Callable[[str], datetime], bad: str
) -> float | None:
    """A time as people and spreadsheets write it (CSV exports, change files) in epoch
    seconds: RFC 3339 when it ends in a zone (None for Go's zero time), else ``parse(text)``,
    read as UTC when it has no zone (:data:`NAIVE_NOTE` then goes to ``stats.notes``).

    Raises:
        ValueError: when it is not a time (``f"{bad} {text!r}"`` when ``parse`` fails).
    """
    if _ZONED.search(text):
        return parse_rfc3339(text)
    try:
        dt = parse(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{bad} {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
        if NAIVE_NOTE not in stats.notes:
            stats.notes.append(NAIVE_NOTE)
    return float(dt.timestamp())


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


def csv_rows(rows: Any, stats: ParseStats, options: ParseOptions
             ) -> Iterator[tuple[int, int, list[str]]]:
    """The rows of a ``csv.reader`` as ``(first line, last line, cells)``, blank rows left
    out; a row the reader cannot read (a field longer than ``options.max_line_bytes``, a
    stray carriage return) is counted as one record and rejected, and reading goes on."""
    csv.field_size_limit(max(options.max_line_bytes, 1))
    line_end = rows.line_num
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            line_start, line_end = line_end + 1, rows.line_num
            stats.lines += 1
            stats.reject(line_start, f"bad CSV row: {exc} (--max-line-bytes raises the limit)"
                         if "field limit" in str(exc) else f"bad CSV row: {exc}", b"", options)
            continue
        line_start, line_end = line_end + 1, rows.line_num
        if any(c.strip() for c in row):
            yield line_start, line_end, row


# --- files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonLines:
    """A file that is not one JSON document but JSON lines: its non-blank physical lines,
    numbered from 1."""

    lines: list[tuple[int, bytes]]


@dataclass(frozen=True)
class JsonDocument:
    """A file that is one JSON document."""

    value: Any


def json_payload(lines: Iterable[bytes]) -> bytes | None:
    """A JSON export's bytes without a UTF-8 byte-order mark; None when it is blank."""
    data = b"".join(lines)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data if data.strip() else None


def load_json(data: bytes, options: ParseOptions) -> JsonDocument | JsonLines:
    """One JSON document, or the lines of JSON lines (some of which may be torn).

    Raises:
        ParseError: when the file is neither (a broken or truncated document).
    """
    try:
        return JsonDocument(_loads(data))
    except ValueError as exc:
        physical = [(n, ln) for n, ln in enumerate(data.split(b"\n"), start=1) if ln.strip()]
        if not _looks_like_json_lines(physical):
            where = _where(exc)
            if not where.startswith("JSON nested"):
                where = f"not valid JSON: {where}"
            raise ParseError(f"{options.display_path}: {where}") from None
        return JsonLines(physical)


def json_lines(
    doc: JsonLines, stats: ParseStats, options: ParseOptions
) -> Iterator[tuple[int, Any]]:
    """The line number and value of each line; a line that is not valid JSON (a torn write:
    the receiver crashed mid-line) is counted as one record and rejected."""
    for lineno, raw in doc.lines:
        try:
            value = _loads(raw.strip())
        except ValueError as exc:
            stats.lines += 1
            stats.reject(lineno, f"not valid JSON: {_where(exc, one_line=True)}", raw, options)
            continue
        yield lineno, value


def read_json_document(
    data: bytes, stats: ParseStats, options: ParseOptions, reader: ExportReader
) -> None:
    """Feed one JSON document, or each line of JSON lines, to ``reader``.

    A line that the reader refuses (valid JSON of another kind, e.g. the receiver's own log
    line) is counted and skipped with ``reader.skip_reason``.

    Raises:
        ParseError: one document that is not valid JSON, or that ``reader`` refuses
            (``reader.not_this`` says what was expected).
    """
    loaded = load_json(data, options)
    if isinstance(loaded, JsonLines):
        for lineno, doc in json_lines(loaded, stats, options):
            if not _read_one(reader, doc, itertools.repeat(lineno).__next__, options):
                stats.lines += 1
                stats.skip(reader.skip_reason)
    elif not _read_one(reader, loaded.value, itertools.count(1).__next__, options):
        raise ParseError(f"{options.display_path}: {reader.not_this}")


def _read_one(reader: ExportReader, doc: Any, index: Callable[[], int],
              options: ParseOptions) -> bool:
    """``reader.read(doc, index)``; a document nested deeper than Python's JSON writer can
    go (the reader dumps records) is a :class:`ParseError`."""
    try:
        return reader.read(doc, index)
    except RecursionError:
        raise ParseError(f"{options.display_path}: {_too_deep(value_depth(doc))}"
                         ) from None


def value_depth(value: Any) -> int:
    """How deep the arrays and objects of a decoded JSON value nest, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d + 1)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def in_time_order(events: Iterable[Event], tie: str = "") -> list[Event]:
    """``events`` sorted by time, then alert name, then ``attrs[tie]`` (the line when no
    ``tie`` is given), then as they came."""
    if tie:
        return sorted(events, key=lambda e: (e["ts"], e["attrs"]["alertname"], e["attrs"][tie]))
    return sorted(events, key=lambda e: (e["ts"], e["attrs"]["alertname"], e["line"]))


def chunks(events: list[Event]) -> Iterator[list[Event]]:
    """``events`` in lists of at most ``CHUNK_ROWS``."""
    for i in range(0, len(events), CHUNK_ROWS):
        yield events[i : i + CHUNK_ROWS]


def yield_events(events: list[Event], stats: ParseStats,
                 options: ParseOptions | None = None, *, ends: bool = True
                 ) -> Iterator[list[Event]]:
    """Check every event's times, widen the file's time range by every start (and end,
    unless ``ends`` is False), then hand events out in chunks.

    Whatever the format's reader let through, an event whose start is not a time between
    1970 and 2200 (:func:`time_in_range`) is rejected, and an end that is out of range or
    before its start is not used: the event is kept as still open, flagged in its attrs
    (``end_before_start``) and counted in a note, so no alert is shown resolving before it
    fired.
    """
    opts = options or ParseOptions()
    kept: list[Event] = []
    backwards = 0
    for e in events:
        ts, end = e["ts"], e["end"]
        if not (finite_number(ts) and time_in_range(float(ts))):
            stats.parsed -= 1
            stats.reject(int(e["line"]), f"time out of range: {ts!r} (not between 1970 and 2200)",
                         str(e["sample"]).encode(), opts)
            continue
        if end is not None and not (finite_number(end) and time_in_range(float(end))):
            e["end"] = None
            e["attrs"]["end_out_of_range"] = repr(end)
        elif end is not None and end < ts:
            e["end"] = None
            e["attrs"]["end_before_start"] = _iso(float(end))
            backwards += 1
        stats.see_ts(e["ts"])
        if ends and e["end"] is not None:
            stats.see_ts(e["end"])
        kept.append(e)
    if backwards:
        what = "record ends" if backwards == 1 else "records end"
        stats.notes.append(f"{backwards} {what} before {'it' if backwards == 1 else 'they'} "
                           "started (end earlier than start): the end is not used, the "
                           "event is shown as still open")
    yield from chunks(kept)


def _iso(ts: float) -> str:
    """``ts`` as ISO 8601 UTC, for attrs."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_export(
    lines: Iterable[bytes],
    stats: ParseStats,
    options: ParseOptions,
    reader: ExportReader,
    read_csv: Callable[[bytes], None] | None = None,
) -> Iterator[list[Event]]:
    """The whole of an export parser: :func:`json_payload`; then :func:`read_json_document`,
    or ``read_csv`` (when given) for a file that does not start like JSON; then
    :func:`yield_events` of ``reader.events()``."""
    data = json_payload(lines)
    if data is None:
        return
    if read_csv is not None and data.lstrip()[:1] not in (b"{", b"["):
        read_csv(data)
    else:
        read_json_document(data, stats, options, reader)
    yield from yield_events(reader.events(), stats, options)


#: A JSON escape of a UTF-16 surrogate (``\\ud800``): alone, it decodes to a character
#: no UTF-8 output can hold.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _loads(raw: bytes) -> Any:
    """``json.loads`` of UTF-8 bytes; bad UTF-8, bad JSON and JSON nested deeper than
    Python's reader goes raise ``ValueError``. A lone surrogate escape becomes U+FFFD."""
    text = raw.decode("utf-8")
    try:
        value = json.loads(text)
        return _no_lone_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value
    except RecursionError:
        raise ValueError(_too_deep(json_depth(text))) from None


def _no_lone_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD
    (a valid pair was already joined by the decoder)."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_no_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_no_lone_surrogates(k): _no_lone_surrogates(v) for k, v in value.items()}
    return value


def _too_deep(depth: int) -> str:
    return (f"JSON nested {depth} levels deep (no supported export nests more than a few "
            "levels)")


_BRACKETS = re.compile(r'[\[\]{}]|"(?:[^"\\]|\\.)*"')


def json_depth(text: str | bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (strings are skipped); an
    unterminated string ends the count. Linear in the text, without recursion."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    depth = deepest = 0
    for m in _BRACKETS.finditer(text):
        c = m.group()[0]
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


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
    if str(exc).startswith("JSON nested"):
        return str(exc)
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
