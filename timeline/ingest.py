"""Read every source into the two tables (requests, events) and a parse report."""

from __future__ import annotations

import calendar
import datetime as dt
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

import parsers
from parsers.base import EVENT_KEYS, MAX_REJECT_SAMPLES, ParseStats, Rejected
from timeline.aggregate import Aggregate, Partial
from timeline.clients import parse_exclusions
from timeline.engine import Task, TaskResult, plan, read_rows, run
from timeline.errors import InputError, NothingRecognisedError, UsageError
from timeline.nginxconf import NginxConf, describe, read_nginx_conf
from timeline.sources import READ_ERRORS, discover, read_head, sniff_stdin

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
    """Everything read from the inputs, ready for the correlator.

    Requests are held as aggregates (``agg``); ``load_rows(lo, hi)`` reads the full rows
    of the requests between two times (epoch seconds) back from the files.
    """

    agg: Aggregate
    events: pd.DataFrame
    sources: list[SourceReport]
    load_rows: Callable[[float, float], pd.DataFrame]
    #: What ``--nginx-conf`` said (servers, formats, sites without a link), for the report.
    config_notes: list[str] = field(default_factory=list)
    #: The ``--nginx-conf`` tree itself (upstream blocks tie addresses to hosts).
    nginx_conf: NginxConf | None = None


@dataclass
class ReadOptions:
    """Options for :func:`read`."""

    host: str | None = None
    tz: str | None = None
    on_bad_lines: parsers.base.OnBadLines = "warn"
    progress: ProgressFn | None = None
    #: Worker processes for the parse (0: one per core).
    jobs: int = 1
    #: An Nginx ``log_format`` string (or a predefined name) for access logs that are not
    #: combined/main; ``escape=json ...`` as in nginx.conf.
    log_format: str | None = None
    #: Take each request's host from ``$host`` (or a vhost prefix) in the line.
    host_from_line: bool = False
    #: Analyse only what happened from / until these times (epoch seconds UTC).
    since: float | None = None
    until: float | None = None
    #: nginx.conf (and its includes) to learn each access log's log_format from.
    nginx_conf: str | None = None
    #: Address of a Dask scheduler (``tcp://host:8786``) to run the parse on instead.
    scheduler: str | None = None
    #: Clients that are not users (``--exclude-client``): an IP or CIDR network,
    #: ``ua:REGEX`` or ``path:PREFIX`` each; see :func:`timeline.clients.parse_exclusions`.
    exclude_client: tuple[str, ...] = ()


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


def _executor(jobs: int, scheduler: str | None) -> tuple[Executor | None, Callable[[], None]]:
    """The executor for the map step, and how to shut it down."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--scheduler needs Dask: pip install 'incident-timeline[dask]'"
                             ) from None
        try:
            client = Client(scheduler, timeout=10)  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise UsageError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
        return client.get_executor(), client.close  # type: ignore[no-untyped-call]
    if jobs <= 1:
        return None, lambda: None
    pool = ProcessPoolExecutor(max_workers=jobs)
    return pool, lambda: pool.shutdown(cancel_futures=True)


def read(paths: Sequence[str], options: ReadOptions | None = None) -> Dataset:
    """Discover, sniff and parse every input into a :class:`Dataset`.

    Request logs are reduced to mergeable aggregates in one pass (in parallel over files and
    byte ranges); their rows are read again later, only around the incident windows.

    Args:
        paths: files, folders or ``-``.
        options: host override, zone for local-time sources, bad-line policy, parallelism,
            progress.

    Raises:
        InputError: a path is missing or unreadable.
        NothingRecognisedError: no file is in a supported format.
        UsageError: an option value is invalid.
        parsers.ParseError: a file cannot be parsed (e.g. malformed JSON).
    """
    options = options or ReadOptions()
    zone = _zone(options.tz) if options.tz else None
    conf = read_nginx_conf(options.nginx_conf) if options.nginx_conf else None
    sources = discover(paths, host=options.host, log_format=options.log_format, conf=conf)
    reports: list[SourceReport] = []
    tasks: list[Task] = []
    stdin_data: dict[int, bytes] = {}
    jobs = options.jobs if options.jobs > 0 else (os.cpu_count() or 1)
    for i, src in enumerate(sources):
        if src.path is None:
            stdin_data[i] = sniff_stdin(src).read()
        rep = SourceReport(src.display, src.format, src.host, size=src.size)
        rep.notes.extend(src.notes)
        reports.append(rep)
        if src.parser is None:
            rep.notes.append(src.skip_reason)
            continue
        # Large uncompressed request logs are cut into byte ranges even for one job: the
        # progress bar moves per range, and the second pass can seek to a range.
        splittable = src.parser.TABLE == "requests" and src.path is not None
        compressed = src.path is not None and src.path.suffix in (".gz", ".bz2", ".xz")
        if i in stdin_data:
            tasks.append(Task(i, "-", src.display, src.parser.NAME, data=stdin_data[i],
                              on_bad_lines=options.on_bad_lines, log_format=src.log_format,
                              host_from_line=options.host_from_line))
            continue
        tasks.extend(plan(i, str(src.path), src.display, src.parser.NAME, size=src.size,
                          splittable=splittable, jobs=jobs, on_bad_lines=options.on_bad_lines,
                          log_format=src.log_format, compressed=compressed,
                          host_from_line=options.host_from_line))
    if not any(s.parser is not None for s in sources):
        if len(sources) == 1:
            raise NothingRecognisedError(f"{sources[0].display}: {sources[0].skip_reason}")
        shown = "; ".join(f"{s.display}: {s.skip_reason}" for s in sources[:2]) or "no files"
        raise NothingRecognisedError(
            f"{', '.join(paths)}: none of its {len(sources)} files is in a supported format "
            f"({shown})")

    if options.exclude_client:
        parse_exclusions(options.exclude_client)  # a bad pattern fails before any parsing
        tasks = [replace(t, exclude=options.exclude_client) for t in tasks]
    parallel = len(tasks) > 1 or any(t.expand for t in tasks)
    hint = _year_hint(sources)
    if hint is not None:
        tasks = [replace(t, year_hint=hint) if t.parser == "nginx_error" else t for t in tasks]
    executor, shutdown = _executor(jobs if parallel else 1, options.scheduler)
    try:
        results = run(tasks, executor, options.progress)
    except READ_ERRORS as exc:
        name = getattr(exc, "filename", None) or ""
        raise InputError(f"{name or 'input'}: cannot read: {exc}") from None
    finally:
        shutdown()

    partials: list[tuple[int, str, Partial]] = []
    events: list[dict[str, Any]] = []
    local_events: list[tuple[SourceReport, list[dict[str, Any]]]] = []
    host_offsets: dict[str, int] = {}
    by_source: dict[int, list[TaskResult]] = {}
    for res in results:
        by_source.setdefault(res.task.index, []).append(res)
    seeks: dict[int, list[tuple[int, int]]] = {}
    for i, group in sorted(by_source.items()):
        src, rep = sources[i], reports[i]
        assert src.parser is not None
        stats = ParseStats()
        merged = Partial() if src.parser.TABLE == "requests" else None
        hosts: dict[str, Partial] = {}
        evs: list[dict[str, Any]] = []
        for res in group:  # in byte order: shift each range's line numbers
            offset = stats.lines
            if res.task.data is None:  # a block of a compressed file cannot be seeked to
                seeks.setdefault(i, []).append((res.task.start, offset + 1))
            _merge_stats(stats, res.stats, offset)
            if merged is not None and res.partial is not None:
                merged.merge(res.partial, offset)
            for vhost, part in (res.by_host or {}).items():
                hosts.setdefault(vhost or src.host, Partial()).merge(part, offset)
            for ev in res.events:
                ev["line"] = int(ev["line"]) + offset
                ev["host"] = ev["host"] or src.host
                ev["source_file"] = src.display
                ev["parser"] = src.parser.NAME
                evs.append(ev)
        stats.check()
        if hosts:
            partials.extend((i, h, p) for h, p in sorted(hosts.items()))
        elif merged is not None:
            partials.append((i, src.host, merged))
        rep.lines, rep.parsed, rep.rejected, rep.skipped = (
            stats.lines, stats.parsed, stats.rejected, stats.skipped)
        rep.first, rep.last = stats.first_ts, stats.last_ts
        rep.variant, rep.rejects = stats.variant, stats.rejects
        rep.skip_reasons = stats.skip_reasons
        rep.notes.extend(stats.notes)
        if rep.parsed == 0 and rep.lines > 0:
            rep.notes.append("no line could be parsed")
        if src.parser.LOCAL_TIME:
            local_events.append((rep, evs))
            continue
        if stats.utc_offset_s is not None:
            # Error-log lines mixed into an access log: local time, this file's own offset.
            for ev in evs:
                if ev["attrs"].pop("local_time", None):
                    ev["ts"] -= stats.utc_offset_s
                    ev["parser"] = "nginx_error"
        events.extend(evs)
        if stats.utc_offset_s is not None:
            host_offsets.setdefault(src.host, stats.utc_offset_s)
            rep.tz = _fmt_offset(stats.utc_offset_s)
            rep.tz_note = "offset written in each line"
        else:
            rep.tz = "UTC"
            rep.tz_note = "times in the export carry their zone"

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

    agg = Aggregate.from_partials(partials)
    if options.since is not None or options.until is not None:
        agg = agg.restrict(options.since, options.until)
        lo = -float("inf") if options.since is None else options.since
        hi = float("inf") if options.until is None else options.until
        events = [e for e in events if lo <= e["ts"] <= hi]
    specs = {i: (None if i in stdin_data else str(sources[i].path), stdin_data.get(i),
                 sources[i].format, sources[i].display, sources[i].host, sources[i].log_format)
             for i, _, _ in partials}

    def load(lo: float, hi: float) -> pd.DataFrame:
        frames = []
        for i, (first, last) in agg.line_ranges(lo, hi).items():
            path, data, parser, display, host, fmt = specs[i]
            cols = read_rows(path, data, parser, display, first, last, fmt,
                             seeks.get(i, [(0, 1)]))
            frame = pd.DataFrame(cols)
            frame["host"] = host
            if options.host_from_line:
                frame["host"] = frame["vhost"].where(frame["vhost"] != "", host)
            frame["source"] = i
            frames.append(frame[(frame["ts"] >= lo) & (frame["ts"] <= hi)])
        return _requests_frame(frames)

    return Dataset(agg, _events_frame(events), reports, load,
                   describe(conf) if conf is not None else [], conf)


_YEAR = re.compile(rb"\[\d\d/[A-Z][a-z]{2}/(\d{4}):")


def _year_hint(sources: list[Any]) -> int | None:
    """The year most access logs' first lines are in (syslog headers carry no year)."""
    years: dict[int, int] = {}
    for src in sources:
        if src.path is None or src.parser is None or src.parser.TABLE != "requests":
            continue
        m = _YEAR.search(read_head(src.path, 4096))
        if m:
            y = int(m.group(1))
            years[y] = years.get(y, 0) + 1
    return max(sorted(years), key=lambda y: years[y]) if years else None


def _merge_stats(into: ParseStats, part: ParseStats, offset: int) -> None:
    """Add a byte range's counts to its file's (``offset`` = lines before the range)."""
    into.lines += part.lines
    into.parsed += part.parsed
    into.rejected += part.rejected
    into.skipped += part.skipped
    shifted = [Rejected(r.line + offset, r.reason, r.excerpt) for r in part.rejects]
    into.rejects = sorted(into.rejects + shifted, key=lambda r: r.line)[:MAX_REJECT_SAMPLES]
    for reason, n in part.skip_reasons.items():
        into.skip_reasons[reason] = into.skip_reasons.get(reason, 0) + n
    if part.first_ts is not None:
        into.see_ts(part.first_ts)
    if part.last_ts is not None:
        into.see_ts(part.last_ts)
    if into.utc_offset_s is None:
        into.utc_offset_s = part.utc_offset_s
    into.variant = into.variant or part.variant
    into.notes.extend(n for n in part.notes if n not in into.notes)


def dataset_from_rows(rows: pd.DataFrame, events: pd.DataFrame,
                      sources: list[SourceReport]) -> Dataset:
    """A Dataset over rows already in memory (tests, and callers with their own rows).

    ``rows`` needs the request columns plus ``host`` and ``source``.
    """
    partials: list[tuple[int, str, Partial]] = []
    for key, g in rows.groupby(["source", "host"], sort=True, observed=True):
        src, host = key
        p = Partial()
        p.add_chunk({
            "ts": g["ts"].to_numpy(dtype=float),
            "status": g["status"].to_numpy(dtype=int),
            "user_agent": [str(u).encode() for u in g["user_agent"]],
            "forwarded": (g["forwarded_for"].astype(str) != "").to_numpy(),
            "line": g["line"].to_numpy(dtype=int),
            **{col: g[col].to_numpy(dtype=float) for col in ("request_time", "upstream_time")
               if col in g and g[col].notna().any()},
        })
        partials.append((int(src), str(host), p))  # type: ignore[call-overload]
    frame = _requests_frame([rows]) if not rows.empty else _requests_frame([])

    def load(lo: float, hi: float) -> pd.DataFrame:
        sel = frame[(frame["ts"] >= lo) & (frame["ts"] <= hi)]
        return sel.reset_index(drop=True)

    return Dataset(Aggregate.from_partials(partials), events, sources, load)


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
