"""Read every source into the two tables (requests, events) and a parse report."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

import parsers
from parsers.base import EVENT_KEYS, ParseError, ParseOptions, ParseStats, Rejected
from timeline.errors import InputError, NothingRecognisedError, UsageError
from timeline.sources import discover, iter_source_lines, sniff_stdin

#: Called with the number of bytes just read, for progress display.
ProgressFn = Callable[[int], None]

# Columns that are repeated strings: categoricals keep 2M-row tables small.
_CATEGORICAL = ("host", "client", "method", "protocol", "user_agent", "referer", "vhost")


@dataclass
class SourceReport:
    """What happened to one input file; ``lines == parsed + rejected + skipped``."""

    path: str
    format: str
    host: str
    lines: int = 0
    parsed: int = 0
    rejected: int = 0
    skipped: int = 0
    first: float | None = None
    last: float | None = None
    tz: str = ""
    tz_note: str = ""
    variant: str = ""
    rejects: list[Rejected] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    size: int = 0


@dataclass
class Dataset:
    """Everything read from the inputs, ready for the correlator."""

    requests: pd.DataFrame
    events: pd.DataFrame
    sources: list[SourceReport]


@dataclass
class ReadOptions:
    """Options for :func:`read`."""

    host: str | None = None
    tz: str | None = None
    on_bad_lines: parsers.base.OnBadLines = "warn"
    progress: ProgressFn | None = None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--tz {name}: unknown time zone (use an IANA name such as Europe/Berlin or UTC)"
        ) from None


def _fmt_offset(off: int) -> str:
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    return f"{sign}{off // 3600:02d}{off % 3600 // 60:02d}"


def _shift_local(ts: list[float], zone: ZoneInfo | None, offset: int) -> list[float]:
    """Turn local-wall-clock-as-UTC epoch seconds into true UTC epoch seconds."""
    if zone is None:
        return [t - offset for t in ts]
    cache: dict[float, float] = {}
    out = []
    for t in ts:
        u = cache.get(t)
        if u is None:
            naive = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=t)
            aware = naive.replace(tzinfo=zone)  # fold=0: the first of an ambiguous hour
            u = cache[t] = t - (aware.utcoffset() or dt.timedelta()).total_seconds()
        out.append(u)
    return out


def read(paths: Sequence[str], options: ReadOptions | None = None) -> Dataset:
    """Discover, sniff and parse every input into a :class:`Dataset`.

    Args:
        paths: files, folders or ``-``.
        options: host override, zone for local-time sources, bad-line policy, progress.

    Raises:
        InputError: a path is missing or unreadable.
        NothingRecognisedError: no file is in a supported format.
        UsageError: an option value is invalid.
        parsers.ParseError: a file cannot be parsed (e.g. malformed JSON).
    """
    options = options or ReadOptions()
    zone = _zone(options.tz) if options.tz else None
    sources = discover(paths, host=options.host)
    reports: list[SourceReport] = []
    request_frames: list[pd.DataFrame] = []
    local_events: list[tuple[SourceReport, list[dict[str, Any]]]] = []
    events: list[dict[str, Any]] = []
    host_offsets: dict[str, int] = {}
    for src in sources:
        stream = sniff_stdin(src) if src.path is None else None
        rep = SourceReport(src.display, src.format, src.host, size=src.size)
        reports.append(rep)
        if src.parser is None:
            rep.notes.append(src.skip_reason)
            continue
        stats = ParseStats()
        popts = ParseOptions(on_bad_lines=options.on_bad_lines, display_path=src.display)
        chunks = src.parser.parse(_counting(iter_source_lines(src, stream), options.progress),
                                  stats, popts)
        try:
            if src.parser.TABLE == "requests":
                for chunk in chunks:
                    frame = pd.DataFrame(chunk)
                    frame["host"] = src.host
                    frame["source"] = len(reports) - 1
                    request_frames.append(frame)
            else:
                evs: list[dict[str, Any]] = []
                for chunk in chunks:
                    for ev in chunk:
                        ev["host"] = ev["host"] or src.host
                        ev["source_file"] = src.display
                        ev["parser"] = src.parser.NAME
                    evs.extend(chunk)
                if src.parser.LOCAL_TIME:
                    local_events.append((rep, evs))
                else:
                    events.extend(evs)
        except (OSError, EOFError) as exc:
            raise InputError(f"{src.display}: cannot read: {exc}") from None
        except ParseError:
            raise
        stats.check()
        rep.lines, rep.parsed, rep.rejected, rep.skipped = (
            stats.lines, stats.parsed, stats.rejected, stats.skipped)
        rep.first, rep.last = stats.first_ts, stats.last_ts
        rep.variant, rep.rejects = stats.variant, stats.rejects
        rep.skip_reasons = stats.skip_reasons
        rep.notes.extend(stats.notes)
        if src.parser.LOCAL_TIME:
            continue
        if stats.utc_offset_s is not None:
            host_offsets.setdefault(src.host, stats.utc_offset_s)
            rep.tz = _fmt_offset(stats.utc_offset_s)
            rep.tz_note = "offset written in each line"
        else:
            rep.tz = "UTC"
            rep.tz_note = "times in the export carry their zone"
        if rep.parsed == 0 and rep.lines > 0:
            rep.notes.append("no line could be parsed")

    for rep, evs in local_events:
        zone_used: ZoneInfo | None = None
        offset = 0
        if zone is not None:
            zone_used = zone
            rep.tz, rep.tz_note = str(zone), "from --tz"
        elif rep.host in host_offsets:
            offset = host_offsets[rep.host]
            rep.tz = _fmt_offset(offset)
            rep.tz_note = f"inferred from the access log of host {rep.host}"
        else:
            rep.tz = "UTC"
            rep.tz_note = "assumed: no offset in the file and no access log of this host (use --tz)"
        shifted = _shift_local([e["ts"] for e in evs], zone_used, offset)
        for e, t in zip(evs, shifted, strict=True):
            e["ts"] = t
        if rep.first is not None and rep.last is not None:
            rep.first, rep.last = _shift_local([rep.first, rep.last], zone_used, offset)
        events.extend(evs)

    if not any(s.parser is not None for s in sources):
        shown = ", ".join(f"{s.display} ({s.skip_reason})" for s in sources[:3]) or "no files"
        raise NothingRecognisedError(
            f"{', '.join(paths)}: nothing recognisable: {shown} "
            "(supported: Nginx access and error logs, Alertmanager JSON)"
        )
    return Dataset(_requests_frame(request_frames), _events_frame(events), reports)


def _counting(lines: Any, progress: ProgressFn | None) -> Any:
    if progress is None:
        return lines
    return _count_bytes(lines, progress)


def _count_bytes(lines: Any, progress: ProgressFn) -> Any:
    pending = 0
    for line in lines:
        pending += len(line)
        if pending >= 1 << 20:
            progress(pending)
            pending = 0
        yield line
    progress(pending)


def _requests_frame(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        cols = {c: pd.Series(dtype="float64" if c == "ts" else "object")
                for c in (*parsers.REQUEST_COLUMNS, "host", "source")}
        return pd.DataFrame(cols)
    df = pd.concat(frames, ignore_index=True)
    for col in _CATEGORICAL:
        df[col] = df[col].astype("category")
    df["status"] = df["status"].astype("int16")
    # A stable sort keeps file order for equal timestamps: deterministic output.
    return df.sort_values(["ts", "source", "line"], kind="stable").reset_index(drop=True)


def _events_frame(events: list[dict[str, Any]]) -> pd.DataFrame:
    cols = (*EVENT_KEYS, "source_file", "parser")
    if not events:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    df = pd.DataFrame(events, columns=list(cols))
    return df.sort_values(["ts", "source_file", "line"], kind="stable").reset_index(drop=True)


def epoch_of(text: str) -> float:
    """Parse an ISO-like UTC time given on the command line into epoch seconds.

    Raises:
        UsageError: when the text is not a date and time.
    """
    from dateutil import parser as dparser

    try:
        t = dparser.isoparse(text)
    except (ValueError, OverflowError):
        try:
            t = dparser.parse(text)
        except (ValueError, OverflowError):
            raise UsageError(f"{text!r}: not a date and time (use 2023-03-20T12:30:00Z)") from None
    if t.tzinfo is None:
        return float(calendar.timegm(t.timetuple()))
    return float(t.timestamp())
