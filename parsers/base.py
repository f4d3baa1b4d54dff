"""What every parser shares: the parse statistics, bad-line policy and the output shapes.

A parser module (listed in ``parsers/__init__.py``) is a :class:`Parser`: ``NAME``,
``DESCRIPTION``, ``TABLE``, ``LOCAL_TIME``, ``sniff`` and ``parse``; one that can also read
blocks of whole lines is a :class:`BlockParser`. mypy checks every registered module
against them.

The line loop lives in each module rather than in a base class on purpose: a function call
per line costs more than the regex match itself, so each module inlines its match and hands
the bookkeeping to :class:`ParseStats`.
"""

from __future__ import annotations

import calendar
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, Protocol, TypedDict, runtime_checkable

import numpy as np

#: How many rejected lines are kept, with their reason and an excerpt, per file.
MAX_REJECT_SAMPLES = 5
#: Excerpts of bad lines are cut to this many characters.
EXCERPT_CHARS = 80
#: Rows per columnar chunk handed to the caller.
CHUNK_ROWS = 65536
#: The longest line read by default (``--max-line-bytes``): longer lines are rejected with
#: their length, without holding them. Nginx's own error-log lines stop at 2048 bytes
#: (NGX_MAX_ERROR_STR) and an access-log line is bounded by its request line and headers
#: (large_client_header_buffers: 4 x 8k by default), so 1 MiB leaves room for any real
#: line while keeping memory bounded.
MAX_LINE_BYTES = 1 << 20
#: The largest document read by default (``--max-export-bytes``): a JSON or CSV export, or
#: a log store's answer, is parsed whole, in memory a few times its size (measured: a 300
#: MB JSON took 1.9 GB), so one inflated from a small ``.gz`` could take all the memory
#: there is. Real exports are far smaller (a year of PagerDuty incidents is tens of MB).
MAX_DOCUMENT_BYTES = 256 << 20

OnBadLines = Literal["warn", "skip", "error"]

#: Columns of a request chunk, in order. ``ts`` is epoch seconds UTC (float), ``status`` an
#: int (0 for ``000``), ``bytes_sent`` an int (-1 when absent), times are float seconds
#: (NaN when absent), strings are ``str`` (``""`` when absent).
REQUEST_COLUMNS: tuple[str, ...] = (
    "ts",
    "client",
    "remote_user",
    "method",
    "path",
    "protocol",
    "status",
    "bytes_sent",
    "referer",
    "user_agent",
    "forwarded_for",
    "request_time",
    "upstream_addr",
    "upstream_status",
    "upstream_time",
    "vhost",
    "line",
)


class TimelineError(Exception):
    """The root of the errors the library raises (``timeline.TimelineError``): the message
    is one line, names the input and the option that fixes it.

    It is defined here, in the bottom layer, so that the parsers' errors belong to the
    hierarchy while ``parsers`` imports nothing from ``timeline`` (``timeline.errors``
    re-exports it and derives the others from it).
    """


class ParseError(TimelineError):
    """A file could not be parsed at all (the message names the file and the fix)."""


class BadLineError(ParseError):
    """A line was rejected while ``on_bad_lines="error"``."""


@dataclass(frozen=True)
class Rejected:
    """One rejected line: its number, why, and the start of its text."""

    line: int
    reason: str
    excerpt: str


@dataclass(frozen=True)
class ParseOptions:
    """Options that change how a file is read: made once per file by the caller and
    handed unchanged to every part of it (frozen, so that no part can change another's)."""

    on_bad_lines: OnBadLines = "warn"
    #: An Nginx ``log_format`` string overriding the predefined ones (access logs).
    log_format: str | None = None
    #: The path as it will be shown in reports (used in error messages).
    display_path: str = "-"
    #: Number of the first line fed to ``parse`` (a byte range or a slice starts later).
    first_line: int = 1
    #: Request parsers: yield compact chunks (``COMPACT_COLUMNS``) for the aggregate pass
    #: instead of full rows. Only the fields the aggregates need are converted.
    compact: bool = False
    #: The year of the other sources, for syslog/journald headers that carry none.
    year_hint: int | None = None
    #: Lines (and CSV fields) longer than this many bytes are rejected with their length.
    max_line_bytes: int = MAX_LINE_BYTES
    #: A document (export, log store answer) longer than this many bytes is not read.
    max_document_bytes: int = MAX_DOCUMENT_BYTES
    #: Compact chunks also carry ``client`` (raw bytes): the first pass needs the address
    #: when some clients are excluded by address (``--exclude-client 10.0.0.0/8``).
    want_client: bool = False
    #: The records the lines are wrapped in (``parsers/wrap``: ``docker-json``, ``cri``...),
    #: or "" for a plain file.
    wrapper: str = ""


@dataclass
class ParseStats:
    """Counts for one file. ``lines == parsed + rejected + skipped`` always holds."""

    lines: int = 0
    parsed: int = 0
    rejected: int = 0
    skipped: int = 0
    rejects: list[Rejected] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)
    first_ts: float | None = None
    last_ts: float | None = None
    #: Free-text remarks a parser wants shown in the report (e.g. a detected variant).
    notes: list[str] = field(default_factory=list)
    #: Detected variant of the format (e.g. ``combined`` or ``main`` for access logs).
    variant: str = ""
    #: Fixed UTC offset in seconds seen in the data (access logs), when there is one.
    utc_offset_s: int | None = None

    def reject(self, lineno: int, reason: str, raw: bytes, options: ParseOptions) -> None:
        """Count a rejected line and keep the first few as samples.

        Raises:
            BadLineError: when ``options.on_bad_lines == "error"``.
        """
        self.rejected += 1
        excerpt = excerpt_of(raw)
        if options.on_bad_lines == "error":
            raise BadLineError(
                f"{options.display_path}:{lineno}: {reason}: {excerpt!r} "
                "(use --on-bad-lines warn to count bad lines and continue)"
            )
        if len(self.rejects) < MAX_REJECT_SAMPLES:
            self.rejects.append(Rejected(lineno, reason, excerpt))

    def skip(self, reason: str, n: int = 1) -> None:
        """Count ``n`` lines skipped on purpose (blank lines, lines of another format)."""
        self.skipped += n
        self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + n

    def see_ts(self, ts: float) -> None:
        """Widen the first/last timestamp seen."""
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def check(self) -> None:
        """Assert the bookkeeping invariant (a bug in a parser if it fails)."""
        total = self.parsed + self.rejected + self.skipped
        if total != self.lines:
            raise AssertionError(
                f"parser bookkeeping: lines={self.lines} != parsed+rejected+skipped={total}"
            )


class Parser(Protocol):
    """A parser module: the contract between the engine and the formats."""

    #: The format's name (``--format``) and a line saying what it reads.
    NAME: str
    DESCRIPTION: str
    #: ``"requests"`` (columnar chunks, ``REQUEST_COLUMNS``) or ``"events"`` (lists of rows,
    #: ``EVENT_KEYS``).
    TABLE: str
    #: True when the format's times carry no offset (Nginx error logs): the caller shifts
    #: them once the zone is known.
    LOCAL_TIME: bool

    def sniff(self, head: bytes) -> bool:
        """Whether a file whose first bytes (``SNIFF_BYTES``) are ``head`` is this format."""
        ...

    def parse(
        self, lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
    ) -> Iterator[Any]:
        """The chunks of rows of a file's lines; ``stats`` gets the counts (every line is
        parsed, rejected or skipped)."""
        ...


@runtime_checkable
class BlockParser(Parser, Protocol):
    """A parser that also reads blocks of whole lines: the engine then hands it blocks."""

    def parse_blocks(
        self, blocks: Iterable[bytes], stats: ParseStats, options: ParseOptions
    ) -> Iterator[Any]:
        """As :meth:`parse`, from blocks of whole lines (each ends at a newline, or at the
        end of the input)."""
        ...


def excerpt_of(raw: bytes) -> str:
    """The first :data:`EXCERPT_CHARS` characters of a raw line, safe to print."""
    text = raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text[:EXCERPT_CHARS])
    return text[:EXCERPT_CHARS]


def decode(b: bytes) -> str:
    """Bytes from a log to ``str`` without ever failing (invalid UTF-8 kept as escapes)."""
    return b.decode("utf-8", "backslashreplace")


_MONTHS = {
    m: i
    for i, m in enumerate(
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
         b"Dec"],
        start=1,
    )
}


_DAYS_IN = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
#: The widest UTC offset a zone has (Pacific/Kiritimati +14:00; the westmost is -12:00):
#: Nginx writes the system zone's offset, so a wider one is not a time Nginx wrote.
MAX_OFFSET_H = 14


def valid_time(year: int, month: int, day: int, hh: int, mm: int, ss: int) -> bool:
    """Whether a calendar date and time exists (29/Feb only in leap years, no 31/Apr).
    ``calendar.timegm`` would silently move 31/Apr to 1/May."""
    if not (1 <= month <= 12 and hh < 24 and mm < 60 and ss < 61):
        return False
    leap = month == 2 and calendar.isleap(year)
    return 1 <= day <= _DAYS_IN[month] + leap


def valid_offset(hours: int, minutes: int) -> bool:
    """Whether ``+HHMM`` is an offset a zone has (minutes below 60, at most 14 hours)."""
    return hours <= MAX_OFFSET_H and minutes < 60


def parse_time_local(text: bytes) -> tuple[float, int]:
    """Parse Nginx ``$time_local`` (``20/Mar/2023:12:30:00 +0000``) to (epoch UTC, offset s).

    Raises:
        ValueError: when the text is not a valid ``$time_local``.
    """
    # 20/Mar/2023:12:30:00 +0000
    if len(text) != 26 or text[2:3] != b"/" or text[6:7] != b"/" or text[21:22] not in (b"+", b"-"):
        raise ValueError("bad $time_local")
    month = _MONTHS.get(text[3:6])
    if month is None:
        raise ValueError("bad month")
    day, year = int(text[0:2]), int(text[7:11])
    hh, mm, ss = int(text[12:14]), int(text[15:17]), int(text[18:20])
    if not valid_time(year, month, day, hh, mm, ss):
        raise ValueError("no such date or time")
    if not valid_offset(int(text[22:24]), int(text[24:26])):
        raise ValueError("no such UTC offset")
    off = int(text[22:24]) * 3600 + int(text[24:26]) * 60
    if text[21:22] == b"-":
        off = -off
    epoch = calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0))
    return float(epoch - off), off


_DAYS_IN_ARRAY = np.array(_DAYS_IN, dtype=np.int64)
_DIGIT_AT = np.array([0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25])
_MONTH_CODE = np.full(1 << 15, 0, dtype=np.int64)
for _name, _i in _MONTHS.items():
    # Three letters, five bits each (case kept: Nginx writes "Mar"), index the month.
    _MONTH_CODE[((_name[0] & 31) << 10) | ((_name[1] & 31) << 5) | (_name[2] & 31)] = _i
_MONTH_OK = np.zeros(1 << 15, dtype=bool)
for _name in _MONTHS:
    _MONTH_OK[((_name[0] & 31) << 10) | ((_name[1] & 31) << 5) | (_name[2] & 31)] = True


def parse_time_local_many(texts: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``n`` concatenated 26-byte ``$time_local`` texts at once, with numpy.

    Returns epoch UTC seconds (NaN where the text is not a valid ``$time_local``, exactly
    where :func:`parse_time_local` raises) and the UTC offsets in seconds. About 20 ns a
    timestamp against 1-6 us for a parse per text.
    """
    c = np.frombuffer(texts, dtype=np.uint8).reshape(n, 26).astype(np.int64)
    d = c[:, _DIGIT_AT] - 48
    ok = ((d >= 0) & (d <= 9)).all(axis=1)
    ok &= (c[:, 2] == 47) & (c[:, 6] == 47) & (c[:, 11] == 58) & (c[:, 14] == 58)
    ok &= (c[:, 17] == 58) & (c[:, 20] == 32) & ((c[:, 21] == 43) | (c[:, 21] == 45))
    mcode = ((c[:, 3] & 31) << 10) | ((c[:, 4] & 31) << 5) | (c[:, 5] & 31)
    # The five-bit code ignores case; the exact letters are checked against the names.
    ok &= _MONTH_OK[mcode] & (c[:, 3] < 97) & (c[:, 4] >= 97) & (c[:, 5] >= 97)
    month = _MONTH_CODE[mcode]
    day = d[:, 0] * 10 + d[:, 1]
    year = d[:, 2] * 1000 + d[:, 3] * 100 + d[:, 4] * 10 + d[:, 5]
    hh, mm, ss = d[:, 6] * 10 + d[:, 7], d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11]
    leap = (month == 2) & (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    ok &= (day >= 1) & (day <= _DAYS_IN_ARRAY[month] + leap) & (hh < 24) & (mm < 60) & (ss < 61)
    off_h, off_m = d[:, 12] * 10 + d[:, 13], d[:, 14] * 10 + d[:, 15]
    ok &= (off_h <= MAX_OFFSET_H) & (off_m < 60)
    off = off_h * 3600 + off_m * 60
    off = np.where(c[:, 21] == 45, -off, off)
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-Compatible
    # Low-Level Date Algorithms", days_from_civil), as calendar.timegm computes it.
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    epoch = (days * 86400 + hh * 3600 + mm * 60 + ss - off).astype(np.float64)
    epoch[~ok] = np.nan
    return epoch, off


#: An Nginx error-log line (found mixed into some access logs).
ERROR_LINE = re.compile(rb"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] ")


def block_lines(buf: bytes) -> list[bytes]:
    """The lines of a block, each with its newline. Not ``bytes.splitlines()``: it also
    splits at a bare ``\r``, which a raw request line can hold; Nginx ends lines with
    ``\n`` only."""
    return io.BytesIO(buf).readlines()


def count_lines(buf: bytes) -> int:
    """Lines in a block: its newlines, plus a last line without one. (numpy's compare is
    3-4x faster than ``bytes.count`` on this machine.)"""
    newlines = int(np.count_nonzero(np.frombuffer(buf, dtype=np.uint8) == 10))
    return newlines + (not buf.endswith(b"\n"))


def match_block(buf: bytes, n: int, first: re.Pattern[bytes],
                rest: re.Pattern[bytes]) -> list[tuple[Any, ...]] | None:
    """The groups of every one of the ``n`` lines of ``buf``, found with one ``findall``;
    None when some line does not match (the caller then goes line by line).

    ``first`` is a line pattern; ``rest`` is the same behind a ``\n``, so each of its
    matches starts at a line start. Matches do not overlap, so a match that ran on into the
    next line would leave that line without one: when the matches (plus the first line,
    matched alone and within itself) equal the lines, every line matched once, within
    itself, and got the groups it gets on its own.
    """
    m0 = first.match(buf)
    if m0 is None:
        return None
    rows: list[Any] = rest.findall(buf)
    nl = buf.find(b"\n")
    if len(rows) + 1 != n or (nl >= 0 and m0.end() > nl):
        return None
    if rest.groups == 1:
        rows = [(r,) for r in rows]  # findall gives bare values for one group
    rows.insert(0, m0.groups())
    return rows


def memo(col: Sequence[Any], convert: Callable[[Any], Any]) -> list[Any]:
    """``[convert(v) for v in col]``, calling ``convert`` once per distinct value (log
    columns repeat a lot: agents, paths, statuses, timestamps)."""
    table = {v: convert(v) for v in dict.fromkeys(col)}
    return list(map(table.__getitem__, col))


def empty_request_chunk() -> dict[str, list[Any]]:
    """A new, empty columnar request chunk."""
    return {c: [] for c in REQUEST_COLUMNS}


#: Columns of a compact request chunk (first pass): ``ts`` epoch UTC float, ``status`` int,
#: ``user_agent`` raw bytes (for probe detection, cached per distinct value by the caller),
#: ``forwarded`` bool (an X-Forwarded-For value was logged), ``line`` int.
COMPACT_COLUMNS: tuple[str, ...] = ("ts", "status", "user_agent", "forwarded", "line")


#: A columnar chunk of full request rows: column name -> one value per row
#: (:data:`REQUEST_COLUMNS`, plus a ``var_*`` column for each other ``log_format``
#: variable, whose names only the file's format knows, hence not a TypedDict).
Columns = dict[str, list[Any]]


class CompactChunk(TypedDict):
    """A compact chunk (first pass, ``options.compact``): :data:`COMPACT_COLUMNS` as
    arrays, plus the timing columns when the format logs them and the client address when
    ``options.want_client`` asks for it."""

    ts: np.ndarray
    status: np.ndarray
    user_agent: list[bytes]
    forwarded: np.ndarray
    line: np.ndarray
    client: NotRequired[list[bytes]]
    request_time: NotRequired[np.ndarray]
    upstream_time: NotRequired[np.ndarray]


#: Keys of an event row. ``ts``/``end`` are epoch seconds (``end`` None when unknown or still
#: firing); for a ``LOCAL_TIME`` parser they are wall-clock local time read as if it were UTC,
#: and the caller shifts them once the zone is known. ``severity`` is one of critical, error,
#: warning, info. ``message`` is a template (numbers, addresses and ids masked) so that equal
#: messages group; ``sample`` is the raw text. ``attrs`` holds parsed fields (client, server,
#: request, upstream, host, level, alertname, labels...). ``host`` is "" when the line does
#: not say; the caller then uses the file's host.
class Event(TypedDict):
    """An event row (``TABLE = "events"``): one alert, change, or group of equal error-log
    lines. The keys are :data:`EVENT_KEYS`, in that order."""

    ts: float
    end: float | None
    kind: str
    severity: str
    host: str
    message: str
    sample: str
    count: int
    #: The format's own parsed fields. Open by design: each format has its own (an
    #: alert's labels and status, an error line's client and upstream, a change's
    #: author), read by name where a rule needs one, and written to the JSON as they are.
    attrs: dict[str, Any]
    line: int


EVENT_KEYS: tuple[str, ...] = (
    "ts",
    "end",
    "kind",
    "severity",
    "host",
    "message",
    "sample",
    "count",
    "attrs",
    "line",
)
