"""Read every source into the two tables (requests, events) and a parse report."""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

import parsers
from parsers.base import (
    EVENT_KEYS,
    MAX_DOCUMENT_BYTES,
    MAX_LINE_BYTES,
    CompactChunk,
    Event,
    ParseOptions,
    ParseStats,
    Rejected,
)
from parsers.wrap import merge_counts
from timeline.aggregate import Aggregate, Partial
from timeline.clients import parse_exclusions
from timeline.engine import (
    RowsTask,
    Task,
    TaskResult,
    plan,
    read_rows_task,
    rows_tasks,
    run,
    run_rows,
)
from timeline.errors import InputError, NothingRecognisedError, UsageError
from timeline.nginxconf import NginxConf, describe, read_nginx_conf
from timeline.pool import cpu_count, process_pool, worker_count
from timeline.routes import routes_of
from timeline.sources import READ_ERRORS, Source, discover, read_head

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
    #: The records its lines were wrapped in (``parsers.wrap``: docker-json, cri...), or "".
    wrapper: str = ""


class EventRecord(Event):
    """An event row as the dataset holds it: the parser's :class:`~parsers.base.Event`, its
    line counted from the top of its file and its host filled in, plus where it came from."""

    #: The file as shown in the report (``web-1/error.log``).
    source_file: str
    #: The parser's name (``nginx_error``, ``alertmanager``...).
    parser: str


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
    """Options for :func:`read` and :func:`plan_read`."""

    host: str | None = None
    tz: str | None = None
    on_bad_lines: parsers.base.OnBadLines = "warn"
    #: Called by :func:`read` as the parse goes (``ReadPlan.read`` takes it as an argument).
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
    #: Lines longer than this many bytes are rejected with their length, never held whole.
    max_line_bytes: int = MAX_LINE_BYTES
    #: An export (or log store answer) longer than this many bytes stops the read with its
    #: name: exports are parsed whole (``--max-export-bytes``).
    max_document_bytes: int = MAX_DOCUMENT_BYTES

    def __post_init__(self) -> None:
        """Check the options that can be checked before any input is read.

        Raises:
            UsageError: ``log_format`` does not compile, ``since`` is after ``until``, or
                ``scheduler`` is not an address.
        """
        if self.log_format:
            try:
                parsers.log_format.compile_format(*parsers.log_format.split_escape(
                    self.log_format))
            except ValueError as exc:
                raise UsageError(f"--log-format {self.log_format!r}: {exc}") from None
        if self.since is not None and self.until is not None and self.since > self.until:
            raise UsageError("--since is after --until: nothing to analyse (give the earlier "
                             "time to --since)")
        if self.scheduler is not None and not re.fullmatch(
                r"(?:[a-z]+://)?(?:\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):\d{1,5}/?", self.scheduler):
            raise UsageError(f"--scheduler {self.scheduler}: not a scheduler address; give "
                             "one such as tcp://10.0.0.5:8786")


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


@contextlib.contextmanager
def _executor(workers: int, scheduler: str | None) -> Iterator[Executor | None]:
    """The executor for the map step (None: inline), shut down when the block ends."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--scheduler needs Dask: pip install 'incident-timeline[dask]'"
                             ) from None
        try:
            client = Client(scheduler, timeout=10)  # type: ignore[no-untyped-call]
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
        try:
            yield client.get_executor()  # type: ignore[no-untyped-call]
        finally:
            client.close()  # type: ignore[no-untyped-call]
    elif workers <= 1:
        yield None
    else:
        with process_pool(workers) as pool:
            yield pool


@dataclass
class ReadPlan:
    """What :func:`plan_read` decided before any parsing; :meth:`read` runs the parse.

    ``size`` is known here, before the first byte is parsed: the total a progress display
    counts towards.
    """

    options: ReadOptions
    sources: list[Source]
    #: Each source in a known format as one task over the whole of it, with the options it
    #: is parsed with; the second pass reads rows back through it (a stream from its spool
    #: file).
    whole: dict[int, Task]
    #: The first pass: ``whole`` cut into byte ranges or blocks (:func:`engine.plan`).
    tasks: list[Task]
    jobs: int
    zone: ZoneInfo | None = None
    conf: NginxConf | None = None

    @property
    def size(self) -> int:
        """Bytes of the sources to parse (compressed size for compressed files), the sum
        of what ``progress`` is called with."""
        return sum(self.sources[i].size for i in self.whole)

    def read(self, progress: ProgressFn | None = None) -> Dataset:
        """Parse the planned tasks and merge them into a :class:`Dataset`.

        Args:
            progress: called with the bytes of each task as it is done.

        Raises:
            InputError: a file cannot be read.
            UsageError: the scheduler cannot be reached.
            parsers.ParseError: a file cannot be parsed (e.g. malformed JSON).
        """
        return _read(self, progress)


def read(paths: Sequence[str], options: ReadOptions | None = None) -> Dataset:
    """Discover, sniff and parse every input into a :class:`Dataset`.

    Request logs are reduced to mergeable aggregates in one pass (in parallel over files and
    byte ranges); their rows are read again later, only around the incident windows. The
    same as ``plan_read(paths, options).read(options.progress)``.

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
    return plan_read(paths, options).read(options.progress)


def plan_read(paths: Sequence[str], options: ReadOptions | None = None) -> ReadPlan:
    """Discover and sniff the inputs, check the options and plan the first pass's tasks.

    Nothing is parsed yet (stdin and pipes named as paths are copied into temporary
    files, to be read twice).

    Raises:
        InputError: a path is missing or unreadable.
        NothingRecognisedError: no file is in a supported format.
        UsageError: an option value is invalid.
    """
    options = options or ReadOptions()
    if options.max_document_bytes < 1:
        raise UsageError(f"--max-export-bytes {options.max_document_bytes}: give a positive "
                         "number of bytes")
    if options.max_line_bytes < 1:
        raise UsageError(f"--max-line-bytes {options.max_line_bytes}: give a positive number "
                         "of bytes (default 1048576)")
    zone = _zone(options.tz) if options.tz else None
    conf = read_nginx_conf(options.nginx_conf) if options.nginx_conf else None
    sources = discover(paths, host=options.host, log_format=options.log_format, conf=conf)
    _check_recognised(paths, sources)
    # A bad pattern fails here, before any parsing.
    rules = parse_exclusions(options.exclude_client) if options.exclude_client else []
    want_client = any(r.kind == "net" for r in rules)
    hint = _year_hint(sources)
    whole: dict[int, Task] = {}
    for i, src in enumerate(sources):
        if src.parser is None:
            continue
        popts = ParseOptions(
            on_bad_lines=options.on_bad_lines, log_format=src.log_format,
            display_path=src.display, compact=not options.host_from_line,
            # Only the error log has headers without a year (syslog, journald).
            year_hint=hint if src.parser.NAME == "nginx_error" else None,
            want_client=want_client, max_line_bytes=options.max_line_bytes,
            max_document_bytes=options.max_document_bytes, wrapper=src.wrapper)
        assert src.path is not None  # streams were spooled into a file by discover
        whole[i] = Task(i, str(src.path), src.parser.NAME, popts,
                        exclude=options.exclude_client, local=src.spooled,
                        stamp=_stamp(src.path))
    # Never more workers than CPUs: --jobs 1000 would start 1,000 processes for 11 files.
    jobs = worker_count(options.jobs, cpu_count())
    # Large uncompressed request logs are cut into byte ranges even for one job: the
    # progress bar moves per range, and the second pass can seek to a range.
    tasks = [t for i, w in whole.items() for t in plan(w, size=sources[i].size, jobs=jobs)]
    return ReadPlan(options, sources, whole, tasks, jobs, zone, conf)


def _stamp(path: Path) -> tuple[int, int]:
    """(inode, size) of a file, to tell later whether it changed under us."""
    st = os.stat(path)
    return (st.st_ino, st.st_size)


def _check_recognised(paths: Sequence[str], sources: list[Source]) -> None:
    """Raise :class:`NothingRecognisedError` unless some source is in a known format."""
    if any(s.parser is not None for s in sources):
        return
    if len(sources) == 1:
        raise NothingRecognisedError(f"{sources[0].display}: {sources[0].skip_reason}")
    shown = "; ".join(f"{s.display}: {s.skip_reason}" for s in sources[:2]) or "no files"
    raise NothingRecognisedError(
        f"{', '.join(paths)}: none of its {len(sources)} files is in a supported format "
        f"({shown})")


def _run(plan: ReadPlan, progress: ProgressFn | None) -> list[TaskResult]:
    """The first pass: every task, inline or in the executor the options ask for."""
    # A compressed file is expanded into blocks as it is read: as many pieces as workers.
    units = sum(plan.jobs if t.expand else 1 for t in plan.tasks)
    with _executor(worker_count(plan.jobs, units), plan.options.scheduler) as executor:
        try:
            return run(plan.tasks, executor, progress)
        except READ_ERRORS as exc:
            name = getattr(exc, "filename", None) or ""
            raise InputError(f"{name or 'input'}: cannot read: {exc}") from None


@dataclass
class _Merged:
    """One source's task results put together (line numbers counted from its top)."""

    stats: ParseStats
    #: (host, aggregate) of a request log: one, or one per host its lines name.
    partials: list[tuple[str, Partial]]
    events: list[EventRecord]
    #: (byte offset, line number) where its byte ranges start, for the second pass.
    seeks: list[tuple[int, int]]


def _read(plan: ReadPlan, progress: ProgressFn | None) -> Dataset:
    by_source: dict[int, list[TaskResult]] = {}
    for res in _run(plan, progress):
        by_source.setdefault(res.task.index, []).append(res)
    reports = [_report_of(src) for src in plan.sources]
    partials: list[tuple[int, str, Partial]] = []
    events: list[EventRecord] = []
    local_events: list[tuple[SourceReport, list[EventRecord], int | None]] = []
    host_offsets: dict[str, int] = {}
    seeks: dict[int, list[tuple[int, int]]] = {}
    for i, group in sorted(by_source.items()):
        src, rep = plan.sources[i], reports[i]
        assert src.parser is not None
        merged = _merge_source(src, group)
        partials.extend((i, h, p) for h, p in merged.partials)
        if merged.seeks:
            seeks[i] = merged.seeks
        _fill_report(rep, merged.stats)
        if src.parser.LOCAL_TIME:
            # Their zone may need other sources (a wrapper's UTC times may have told it).
            local_events.append((rep, merged.events, merged.stats.utc_offset_s))
        else:
            _own_zone(src, rep, merged, host_offsets)
            events.extend(merged.events)
    for rep, evs, known in local_events:
        _localise(rep, evs, plan.zone, host_offsets, known)
        events.extend(evs)

    agg = Aggregate.from_partials(partials)
    since, until = plan.options.since, plan.options.until
    if since is not None or until is not None:
        agg = agg.restrict(since, until)
        lo = -float("inf") if since is None else since
        hi = float("inf") if until is None else until
        events = [e for e in events if lo <= e["ts"] <= hi]
    return Dataset(agg, _events_frame(events), reports, _loader(plan, agg, seeks),
                   describe(plan.conf) if plan.conf is not None else [], plan.conf)


def _report_of(src: Source) -> SourceReport:
    """A source's report before parsing: how it was found, or why it is skipped."""
    rep = SourceReport(src.display, src.format, src.host, size=src.size, wrapper=src.wrapper)
    rep.notes.extend(src.notes)
    if src.parser is None:
        rep.notes.append(src.skip_reason)
    return rep


def _merge_source(src: Source, group: list[TaskResult]) -> _Merged:
    """Put one source's task results (in byte order) together: counts, aggregates, events."""
    assert src.parser is not None
    stats = ParseStats()
    merged = Partial() if src.parser.TABLE == "requests" else None
    hosts: dict[str, Partial] = {}
    out = _Merged(stats, [], [], [])
    for res in group:  # in byte order: shift each range's line numbers
        offset = stats.lines
        if res.task.data is None:  # a block of a compressed file cannot be seeked to
            out.seeks.append((res.task.start, offset + 1))
        _merge_stats(stats, res.stats, offset)
        if merged is not None and res.partial is not None:
            merged.merge(res.partial, offset)
        for vhost, part in (res.by_host or {}).items():
            hosts.setdefault(vhost or src.host, Partial()).merge(part, offset)
        for ev in res.events:
            out.events.append({**ev, "line": int(ev["line"]) + offset,
                               "host": ev["host"] or src.host, "source_file": src.display,
                               "parser": src.parser.NAME})
    stats.check()
    if hosts:
        out.partials = sorted(hosts.items())
    elif merged is not None:
        out.partials = [(src.host, merged)]
    return out


def _fill_report(rep: SourceReport, stats: ParseStats) -> None:
    """Copy a source's parse counts into its report."""
    rep.lines, rep.parsed, rep.rejected, rep.skipped = (
        stats.lines, stats.parsed, stats.rejected, stats.skipped)
    rep.first, rep.last = stats.first_ts, stats.last_ts
    rep.variant, rep.rejects = stats.variant, stats.rejects
    rep.skip_reasons = stats.skip_reasons
    rep.notes.extend(stats.notes)
    if rep.parsed == 0 and rep.lines > 0:
        rep.notes.append("no line could be parsed")


def _own_zone(src: Source, rep: SourceReport, merged: _Merged,
              host_offsets: dict[str, int]) -> None:
    """A source whose times carry their zone: note it, and keep an access log's offset for
    the local-time sources of the same host."""
    offset = merged.stats.utc_offset_s
    if offset is None:
        rep.tz = "UTC"
        rep.tz_note = "times in the export carry their zone"
        return
    # Error-log lines mixed into an access log: local time, this file's own offset.
    for ev in merged.events:
        if ev["attrs"].pop("local_time", None):
            ev["ts"] -= offset
            ev["parser"] = "nginx_error"
    host_offsets.setdefault(src.host, offset)
    rep.tz = _fmt_offset(offset)
    rep.tz_note = "offset written in each line"


def _localise(rep: SourceReport, evs: list[EventRecord], zone: ZoneInfo | None,
              host_offsets: dict[str, int], known: int | None = None) -> None:
    """Turn a local-time source's times into UTC: ``--tz``, else the offset its records'
    UTC times tell (``known``, a wrapped error log), else the offset of the same host's
    access log, else UTC (said in the report)."""
    zone_used: ZoneInfo | None = None
    offset = 0
    if zone is not None:
        zone_used = zone
        rep.tz, rep.tz_note = str(zone), "from --tz"
    elif known is not None:
        offset = known
        rep.tz = _fmt_offset(offset)
        rep.tz_note = f"from the UTC times of its {rep.wrapper} records"
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


def _loader(plan: ReadPlan, agg: Aggregate, seeks: dict[int, list[tuple[int, int]]]
            ) -> Callable[[float, float], pd.DataFrame]:
    """``Dataset.load_rows``: the second pass over the lines ``agg`` places in a span."""
    host_from_line = plan.options.host_from_line

    def load(lo: float, hi: float) -> pd.DataFrame:
        tasks = [_RowsJob(t, i, plan.sources[i].host, host_from_line, lo, hi)
                 for i, (first, last) in agg.line_ranges(lo, hi).items()
                 for t in rows_tasks(plan.whole[i], first, last, seeks.get(i, [(0, 1)]))]
        # Workers only when there is more than one stretch to read (and never for a stream
        # spooled into a file of this machine, which remote workers cannot open).
        parallel = len(tasks) > 1 and all(j.task.whole.data is None and not j.task.whole.local
                                          for j in tasks)
        workers = worker_count(plan.jobs, len(tasks)) if parallel else 1
        with _executor(workers, plan.options.scheduler if parallel else None) as executor:
            done = run_rows(tasks, executor, _rows_frame, lambda j: j.task.data is not None)
        _same_categories(done)
        frames: list[pd.DataFrame] = []
        for i in sorted({j.source for j in tasks}):
            # One frame per source, as one read of its lines gives: an empty stretch only
            # when the whole source has nothing in the span (it keeps the parsed dtypes).
            mine = [f for j, f in zip(tasks, done, strict=True) if j.source == i]
            full = [f for f in mine if len(f)]
            frames.append(pd.concat(full, ignore_index=True) if len(full) > 1
                          else (full or mine)[0])
        rows = _requests_frame(frames)
        for col in rows.columns:
            # Text columns travelled as categories; the ones the table keeps as values are
            # given back as values (each distinct text is one object, shared by its rows).
            if (col not in _CATEGORICAL and col != "route"
                    and isinstance(rows[col].dtype, pd.CategoricalDtype)):
                rows[col] = rows[col].astype(object)
        return rows

    return load


@dataclass(frozen=True)
class _RowsJob:
    """A :class:`RowsTask` with what makes its rows a frame: the source's index and host,
    and the span kept."""

    task: RowsTask
    source: int
    host: str
    host_from_line: bool
    lo: float
    hi: float


def _rows_frame(job: _RowsJob) -> pd.DataFrame:
    """The rows of one stretch between ``lo`` and ``hi``, with their host and source (runs
    in a worker: the frame travels back, not the lists of values)."""
    frame = pd.DataFrame(read_rows_task(job.task))
    frame["host"] = job.host
    if job.host_from_line:
        frame["host"] = frame["vhost"].where(frame["vhost"] != "", job.host)
    frame["source"] = job.source
    out: pd.DataFrame = frame[(frame["ts"] >= job.lo) & (frame["ts"] <= job.hi)]
    # Text columns travel as codes and their distinct values (the caller gives every
    # stretch the same categories: see _same_categories), so each distinct text is one
    # object in the caller, not one per stretch; the route of each distinct path is
    # worked out here, in parallel, rather than by the caller.
    out = out.assign(route=pd.Categorical(routes_of(out["path"])) if len(out) else
                     pd.Categorical([]))
    for col in out.columns:
        if out[col].dtype == object and pd.api.types.infer_dtype(out[col]) == "string":
            out[col] = out[col].astype("category")
    return out


def _same_categories(frames: list[pd.DataFrame]) -> None:
    """Give each column that is categorical in every non-empty frame of ``frames`` the
    sorted union of their categories, in place (empty frames too), so that concatenating
    them keeps it categorical with the categories one ``astype("category")`` of all the
    values would give (sorted distinct values)."""
    full = [f for f in frames if len(f)]
    cols = sorted({c for f in full for c in f.columns
                   if all(c in g and isinstance(g[c].dtype, pd.CategoricalDtype)
                          for g in full)})
    for col in cols:
        union: set[str] = set()
        for f in full:
            union.update(f[col].cat.categories.tolist())
        try:
            dtype = pd.CategoricalDtype(sorted(union))
        except TypeError:  # values of mixed types: leave the column as values
            for f in full:
                f[col] = f[col].astype(object)
            continue
        for f in frames:
            if col in f:
                f[col] = f[col].astype(dtype)


_YEAR = re.compile(rb"\[\d\d/[A-Z][a-z]{2}/(\d{4}):")


def _year_hint(sources: list[Source]) -> int | None:
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
    merge_counts(into, part, [Rejected(r.line + offset, r.reason, r.excerpt)
                              for r in part.rejects])


def dataset_from_rows(rows: pd.DataFrame, events: pd.DataFrame,
                      sources: list[SourceReport]) -> Dataset:
    """A Dataset over rows already in memory (tests, and callers with their own rows).

    ``rows`` needs the request columns plus ``host`` and ``source``.
    """
    partials: list[tuple[int, str, Partial]] = []
    for key, g in rows.groupby(["source", "host"], sort=True, observed=True):
        src, host = key
        p = Partial()
        chunk: CompactChunk = {
            "ts": g["ts"].to_numpy(dtype=float),
            "status": g["status"].to_numpy(dtype=int),
            "user_agent": [str(u).encode() for u in g["user_agent"]],
            "forwarded": (g["forwarded_for"].astype(str) != "").to_numpy(),
            "line": g["line"].to_numpy(dtype=int),
        }
        if "request_time" in g and g["request_time"].notna().any():
            chunk["request_time"] = g["request_time"].to_numpy(dtype=float)
        if "upstream_time" in g and g["upstream_time"].notna().any():
            chunk["upstream_time"] = g["upstream_time"].to_numpy(dtype=float)
        p.add_chunk(chunk)
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


def _events_frame(events: list[EventRecord]) -> pd.DataFrame:
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
