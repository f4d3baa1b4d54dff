"""The map step: parse and aggregate one file or byte range; run many in an executor.

A :class:`Task` is plain data (picklable) so the same function runs inline, in a
``ProcessPoolExecutor`` or on a Dask cluster (``distributed.Client.get_executor()``); the
workers read the files themselves from a path they share. Results are merged in task order,
never in completion order, so every way of running gives byte-identical output.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np

import parsers
from parsers import wrap
from parsers.base import Columns, Event, ParseOptions, ParseStats
from timeline.aggregate import Partial
from timeline.clients import parse_exclusions
from timeline.errors import InputError
from timeline.sources import READ_ERRORS, is_compressed, open_binary

_J = TypeVar("_J")
_R = TypeVar("_R")

#: Uncompressed request logs larger than this are split into byte ranges.
SPLIT_BYTES = 32 << 20
#: The skip reason request parsers give error-log lines found in an access log.
MIXED_REASON = "error-log line in an access log"
#: Decompressed bytes per block when a compressed file is parsed by several workers. Each
#: block in flight is held by this process and by a worker: 8 MB blocks put a 2M-line .gz
#: build with --jobs 2 at ~370 MB tree RSS, 4 MB at ~300 MB, for the same time (one block
#: inflates in ~5 ms and parses in ~40 ms, so two workers never wait for the next one).
BLOCK_BYTES = 4 << 20
#: Bytes a parser that reads blocks (``parse_blocks``) gets at a time: big enough that the
#: per-block work is nothing, small enough that a block's rows stay a few MB.
READ_BYTES = 1 << 20


@dataclass(frozen=True)
class Task:
    """Parse ``path`` (bytes ``start`` to ``end``, or all of it) with parser ``parser``.

    ``options`` are the parser's options for the whole source, made once by the caller and
    carried unchanged by every task cut from it (they name the file in messages).
    """

    index: int
    path: str
    parser: str
    options: ParseOptions
    start: int = 0
    end: int | None = None
    #: stdin, or a block of a compressed file: the bytes travel with the task.
    data: bytes | None = None
    #: A compressed file that :func:`run` cuts into blocks of lines for the workers.
    expand: bool = False
    #: ``--exclude-client`` patterns: their requests are counted as probes (not users).
    exclude: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        """The file as the report names it."""
        return self.options.display_path

    @property
    def split_by_host(self) -> bool:
        """``--host-from-line``: the first pass asks for full rows (``compact`` off) only to
        split them by the host each line names."""
        return not self.options.compact

    @property
    def size(self) -> int:
        """Bytes this task covers (for progress)."""
        if self.data is not None:
            return len(self.data)
        if self.expand:
            return os.path.getsize(self.path)
        if self.end is not None:
            return self.end - self.start
        return os.path.getsize(self.path)


@dataclass
class TaskResult:
    """What one task produced: counts, an aggregate (request logs) or events."""

    task: Task
    stats: ParseStats
    partial: Partial | None = None
    #: With ``host_from_line``: one partial per host named in the lines ("" = the file's).
    by_host: dict[str, Partial] | None = None
    events: list[Event] = field(default_factory=list)


def _wrapper(options: ParseOptions) -> wrap.Wrapper | None:
    return wrap.by_name(options.wrapper) if options.wrapper else None


def _seek_line(fh: BinaryIO, start: int, wrapper: wrap.Wrapper | None) -> None:
    """Put ``fh`` at the first line that starts at or after ``start`` (a wrapped file: the
    first record that does not continue the record before it, which the range before
    reads)."""
    if start <= 0:
        return
    fh.seek(start - 1)
    if fh.read(1) != b"\n":
        fh.readline()
    if wrapper is None:
        return
    prev = _line_before(fh)
    while prev and wrapper.continued(prev):
        prev = fh.readline()


def _line_before(fh: BinaryIO) -> bytes:
    """The whole line that ends just before the current position (which stays)."""
    pos = fh.tell()
    back = 1 << 16
    while True:
        lo = max(0, pos - back)
        fh.seek(lo)
        data = fh.read(pos - lo)
        cut = data.rfind(b"\n", 0, len(data) - 1)
        if cut >= 0 or lo == 0:
            fh.seek(pos)
            return data[cut + 1 :]
        back *= 4


def _range_blocks(path: str, start: int, end: int,
                  wrapper: wrap.Wrapper | None = None) -> Iterator[bytes]:
    """The lines that *start* inside ``[start, end)``, in blocks of whole lines: a line
    crossing ``end`` belongs here, one crossing ``start`` to the range before (in a wrapped
    file, the records that continue a line belong with its first record). Read a block at
    a time, so a task holds ``READ_BYTES`` whatever the range's size."""
    with open(path, "rb") as fh:
        _seek_line(fh, start, wrapper)
        pos = fh.tell()
        while pos < end:
            block = fh.read(min(READ_BYTES, end - pos))
            if not block:
                return
            pos += len(block)
            if not block.endswith(b"\n"):
                tail = fh.readline()
                block += tail
                pos += len(tail)
            if wrapper is not None and pos >= end:
                block = wrap.extend_record(block, fh.readline, wrapper)
            yield block


def _range_data(path: str, start: int, end: int, wrapper: wrap.Wrapper | None = None
                ) -> bytes:
    """All of :func:`_range_blocks` at once."""
    return b"".join(_range_blocks(path, start, end, wrapper))


def _split(data: bytes) -> Iterator[bytes]:
    """``data`` in blocks of about ``READ_BYTES`` that end at a newline (or its end)."""
    pos, size = 0, len(data)
    while pos < size:
        cut = data.find(b"\n", pos + READ_BYTES)
        end = size if cut < 0 else cut + 1
        yield data[pos:end]
        pos = end


def _file_blocks(fh: BinaryIO) -> Iterator[bytes]:
    while True:
        block = fh.read(READ_BYTES)
        if not block:
            return
        if not block.endswith(b"\n"):
            block += fh.readline()
        yield block


@contextmanager
def _blocks_of(task: Task) -> Iterator[Iterable[bytes]]:
    """The task's input as blocks of whole lines."""
    if task.data is not None:
        yield _split(task.data)
    elif task.end is not None:
        yield _range_blocks(task.path, task.start, task.end, _wrapper(task.options))
    else:
        with open_binary(Path(task.path)) as fh:
            yield _file_blocks(fh)


@contextmanager
def _lines(task: Task) -> Iterator[Iterable[bytes]]:
    """The task's lines; a whole file is iterated directly (no Python code per line)."""
    if task.data is not None:
        yield io.BytesIO(task.data)
    elif task.end is not None:
        # Not bytes.splitlines(): it also splits at a bare \r, which a raw request line in
        # an error log can hold. Nginx ends lines with \n only.
        yield io.BytesIO(_range_data(task.path, task.start, task.end, _wrapper(task.options)))
    else:
        with open_binary(Path(task.path)) as fh:
            yield fh


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector. A parse allocates millions of short-lived
    tuples and bytes and no reference cycles; with the collector on, its generation scans
    over the live rows of a block cost more than the parse itself (measured: the first pass
    took 16.4 s instead of 7.8 s on 2M lines)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def run_task(task: Task) -> TaskResult:
    """Parse one task's lines: requests into a :class:`Partial`, events into a list.

    Raises:
        InputError: the file cannot be read (gone, unreadable, damaged compression); the
            message names the file, which the decompressors' own errors do not.
    """
    try:
        return _run_task(task)
    except READ_ERRORS as exc:
        raise InputError(f"{task.display}: cannot read: {exc}") from None


def _run_task(task: Task) -> TaskResult:
    module: parsers.Parser = parsers.by_name(task.parser)
    stats = ParseStats()
    rules = parse_exclusions(task.exclude)
    nets = tuple(r.network for r in rules if r.kind == "net")
    uas = [r.regex.pattern for r in rules if r.kind == "ua" and r.regex is not None]
    result = TaskResult(task, stats)
    blocks: wrap.ParseFn | None = (module.parse_blocks
                                   if isinstance(module, parsers.BlockParser) else None)
    # A wrapped file (Docker, CRI, journald, a log store's export): its records unwrapped,
    # then the parser's own reading of the inner lines.
    blocks = wrap.reader(module, task.options) or blocks
    with _no_gc(), (_blocks_of(task) if blocks else _lines(task)) as lines:
        chunks = (blocks or module.parse)(lines, stats, task.options)
        if module.TABLE == "requests" and task.split_by_host:
            result.by_host = _by_host(chunks, uas, nets)
        elif module.TABLE == "requests":
            # path: rules need every request of a client: they apply in the second pass.
            partial = Partial(exclude_ua=re.compile("|".join(f"(?:{u})" for u in uas))
                              if uas else None, exclude_nets=nets)
            for chunk in chunks:
                partial.add_chunk(chunk)
            partial.consolidate()
            # The user-agent cache only speeds up this task; results are kept until the
            # merge, so it must not live on with them (it grows with the number of ranges).
            partial.drop_cache()
            result.partial = partial
        else:
            for chunk in chunks:
                result.events.extend(chunk)
    stats.check()
    if module.TABLE == "requests" and stats.skip_reasons.get(MIXED_REASON):
        # Error-log lines inside an access log (one file for both, as some setups write):
        # they are counted as skipped here and read again as events by the error parser.
        # Its own counts are thrown away: each line is counted once, in this file's stats.
        from parsers import nginx_error

        estats = ParseStats()
        eopts = ParseOptions(on_bad_lines="skip", display_path=task.display,
                             wrapper=task.options.wrapper)
        parse_errors = wrap.reader(nginx_error, eopts) or nginx_error.parse
        with _lines(task) as lines:
            for chunk in parse_errors(lines, estats, eopts):
                for ev in chunk:
                    ev["attrs"]["local_time"] = "1"
                result.events.extend(chunk)
    if task.data:
        # Do not send the block back with the result: keep an empty marker instead.
        result.task = replace(task, data=b"")
    return result


def _by_host(chunks: Iterable[Columns], uas: Sequence[str] = (),
             nets: tuple[Any, ...] = ()) -> dict[str, Partial]:
    """Full rows split by the host each line names (``$host``/vhost), into partials."""
    out: dict[str, Partial] = {}
    exclude_ua = re.compile("|".join(f"(?:{u})" for u in uas)) if uas else None
    for chunk in chunks:
        vhosts = np.asarray(chunk["vhost"], dtype=object)
        for host in sorted(set(vhosts.tolist())):
            sel = vhosts == host
            part = out.get(str(host))
            if part is None:
                part = out[str(host)] = Partial(exclude_ua=exclude_ua, exclude_nets=nets)
            part.add_chunk({
                "ts": np.asarray(chunk["ts"], dtype=float)[sel],
                "status": np.asarray(chunk["status"], dtype=np.int64)[sel],
                "user_agent": list(np.asarray(chunk["user_agent"], dtype=object)[sel]),
                "forwarded": np.asarray([x != "" for x in chunk["forwarded_for"]],
                                        dtype=bool)[sel],
                "line": np.asarray(chunk["line"], dtype=np.int64)[sel],
                "client": [str(c).encode() for c in
                           np.asarray(chunk["client"], dtype=object)[sel]],
            })
    for part in out.values():
        part.consolidate()
        part.drop_cache()
    return out


def plan(task: Task, *, size: int, jobs: int) -> list[Task]:
    """Cut a task over a whole source (``size`` bytes) into the tasks of the first pass.

    One task per file; byte ranges for a large uncompressed request log; for a large
    compressed one (with several jobs) a task that :func:`run` expands into blocks. Every
    task keeps ``task``'s options. A task whose bytes travel with it (stdin) stays whole.
    """
    if task.data is not None:
        return [task]
    wrapper = _wrapper(task.options)
    splittable = parsers.by_name(task.parser).TABLE == "requests" and (
        wrapper is None or wrapper.LINES)
    compressed = is_compressed(Path(task.path))
    if compressed and splittable and jobs > 1 and size > SPLIT_BYTES // 8:
        return [replace(task, expand=True)]
    if not splittable or compressed or size <= SPLIT_BYTES:
        return [task]
    n = max(2, min(64, max(jobs * 4, size // (16 << 20)), size // (8 << 20)))
    step = -(-size // n)
    return [replace(task, start=start, end=min(start + step, size))
            for start in range(0, size, step)]


def _blocks(task: Task) -> Iterator[tuple[Task, int]]:
    """A compressed file as tasks over blocks of whole lines, decompressed here: the
    workers parse while this process inflates (one inflater is faster than the parse).
    Yields each block's task and the compressed bytes read."""
    try:
        yield from _inflate_blocks(task)
    except READ_ERRORS as exc:
        raise InputError(f"{task.display}: cannot read: {exc}") from None


def _inflate_blocks(task: Task) -> Iterator[tuple[Task, int]]:
    wrapper = _wrapper(task.options)
    with open_binary(Path(task.path)) as fh:
        raw = getattr(fh, "fileobj", None)
        done = 0
        while True:
            block = fh.read(BLOCK_BYTES)
            if not block:
                break
            if not block.endswith(b"\n"):
                block += fh.readline()
            if wrapper is not None:
                block = wrap.extend_record(block, fh.readline, wrapper)
            pos = raw.tell() if raw is not None else done
            yield (replace(task, data=block, expand=False), pos - done)
            done = pos


def _expanded(tasks: Sequence[Task]) -> Iterator[tuple[Task, int]]:
    for t in tasks:
        if t.expand:
            yield from _blocks(t)
        else:
            yield t, t.size


def run(tasks: Sequence[Task], executor: Executor | None,
        progress: Callable[[int], None] | None = None, in_flight: int = 3) -> list[TaskResult]:
    """Run every task (inline when ``executor`` is None) and return results in task order.

    At most ``in_flight`` tasks wait in the executor, so a decompressed file never sits in
    memory whole (one more than two workers run keeps them busy).
    """
    results: list[TaskResult] = []
    if executor is None:
        for t, size in _expanded(tasks):
            results.append(run_task(t))
            if progress is not None:
                progress(size)
        return results
    pending: deque[tuple[Future[TaskResult], int]] = deque()

    def collect() -> None:
        fut, size = pending.popleft()
        results.append(fut.result())
        if progress is not None:
            progress(size)

    for t, size in _expanded(tasks):
        if t.data is not None and t.path == "-":
            while pending:  # stdin stays in this process; keep the order
                collect()
            results.append(run_task(t))
            continue
        pending.append((executor.submit(run_task, t), size))
        if len(pending) >= in_flight:
            collect()
    while pending:
        collect()
    return results


def read_rows(source: Task, first: int, last: int,
              seeks: Sequence[tuple[int, int]] = ((0, 1),)) -> Columns:
    """The second pass: full rows of lines ``first``..``last`` (1-based) of one source.

    ``source`` is the source's whole-file task (its bytes, for stdin). ``seeks`` are
    ``(byte offset, line number)`` pairs known from the first pass (where its byte ranges
    started): reading starts at the last one before ``first`` instead of at the top of the
    file. Compressed files cannot seek and start at (0, 1).
    """
    module = parsers.by_name(source.parser)
    stats = ParseStats()
    # Bad lines were counted by the first pass; only the format and the name carry over.
    popts = ParseOptions(on_bad_lines="skip", display_path=source.display, first_line=first,
                         log_format=source.options.log_format, wrapper=source.options.wrapper)
    wrapper = _wrapper(popts)
    if wrapper is not None:
        return _wrapped_rows(source, module, wrapper, popts, last, seeks)
    if source.data is not None:
        lines: Iterator[bytes] = iter(io.BytesIO(source.data))
        with _no_gc():
            return _concat(module.parse(islice(lines, first - 1, last), stats, popts))
    offset, line = max((s for s in seeks if s[1] <= first), key=lambda s: s[1],
                       default=(0, 1))
    with _no_gc(), open_binary(Path(source.path)) as fh:
        if offset > 0:
            fh.seek(offset - 1)
            if fh.read(1) != b"\n":
                fh.readline()  # the range's first line starts after this partial one
        return _concat(module.parse(islice(fh, first - line, last - line + 1), stats, popts))


@dataclass(frozen=True)
class RowsTask:
    """The second pass over one stretch of a source: its lines ``first``..``last``.

    Reading starts at byte ``start`` (plain files), where line ``line`` begins (a seek
    point the first pass kept), or in ``data`` (a block of a compressed file inflated by
    the caller, its first line numbered ``line``). Plain data, like :class:`Task`, so the
    same function runs inline, in a process pool or on Dask.
    """

    #: The source's whole-file task (path, parser, options).
    whole: Task
    first: int
    last: int
    start: int = 0
    line: int = 1
    data: bytes | None = None
    #: A wrapped file's seek points (it is read as one stretch by :func:`read_rows`).
    seeks: tuple[tuple[int, int], ...] = ()


def read_rows_task(task: RowsTask) -> Columns:
    """The second pass: full rows of one :class:`RowsTask`'s lines (every column of
    ``parsers.REQUEST_COLUMNS``; bad lines were counted by the first pass and are skipped).

    Raises:
        InputError: the file cannot be read any more.
    """
    source = task.whole
    module = parsers.by_name(source.parser)
    stats = ParseStats()
    if source.options.wrapper:
        # A wrapped file: one stretch, read by read_rows, which knows where a wrapped line's
        # records begin and end.
        return read_rows(source, task.first, task.last, task.seeks)
    popts = ParseOptions(on_bad_lines="skip", display_path=source.display,
                         first_line=task.first, log_format=source.options.log_format)
    wanted = (task.first - task.line, task.last - task.line + 1)
    try:
        if task.data is not None:
            with _no_gc():
                return _concat(module.parse(islice(io.BytesIO(task.data), *wanted), stats,
                                            popts))
        with _no_gc(), open_binary(Path(source.path)) as fh:
            if task.start > 0:
                fh.seek(task.start - 1)
                if fh.read(1) != b"\n":
                    fh.readline()  # the range's first line starts after this partial one
            return _concat(module.parse(islice(fh, *wanted), stats, popts))
    except READ_ERRORS as exc:
        raise InputError(f"{source.display}: cannot read: {exc}") from None


def rows_tasks(source: Task, first: int, last: int,
               seeks: Sequence[tuple[int, int]]) -> Iterator[RowsTask]:
    """The second pass over lines ``first``..``last`` of a source, cut into tasks.

    A plain file is cut at the seek points (``(byte offset, line number)`` where the first
    pass's byte ranges began) inside the span. A compressed file cannot seek: it is inflated
    here from its top, and the blocks of lines inside the span travel with their tasks (as
    in the first pass, the workers parse while this process inflates).
    """
    if source.data is not None:  # stdin: its bytes are here
        yield RowsTask(source, first, last, data=source.data)
        return
    if source.options.wrapper:
        yield RowsTask(source, first, last, seeks=tuple(seeks))
        return
    if is_compressed(Path(source.path)):
        yield from _compressed_rows_tasks(source, first, last)
        return
    points = sorted(set(seeks) | {(0, 1)}, key=lambda s: s[1])
    for k, (offset, line) in enumerate(points):
        nxt = points[k + 1][1] if k + 1 < len(points) else None
        a, b = max(first, line), last if nxt is None else min(last, nxt - 1)
        if a <= b:
            yield RowsTask(source, a, b, offset, line)


def _compressed_rows_tasks(source: Task, first: int, last: int) -> Iterator[RowsTask]:
    try:
        with open_binary(Path(source.path)) as fh:
            line = 1
            while line <= last:
                block = fh.read(BLOCK_BYTES)
                if not block:
                    return
                if not block.endswith(b"\n"):
                    block += fh.readline()
                # Lines as a file iterator splits them: at each \n, a last one without.
                n = block.count(b"\n") + (not block.endswith(b"\n"))
                a, b = max(first, line), min(last, line + n - 1)
                if a <= b:
                    yield RowsTask(source, a, b, line=line, data=block)
                line += n
    except READ_ERRORS as exc:
        raise InputError(f"{source.display}: cannot read: {exc}") from None


def run_rows(jobs: Sequence[_J], executor: Executor | None, work: Callable[[_J], _R],
             carries: Callable[[_J], bool], in_flight: int = 3) -> list[_R]:
    """``work`` over every job (inline when ``executor`` is None), results in job order.

    At most ``in_flight`` jobs that ``carries`` (a block of an inflated file) wait in the
    executor, so an inflated file never sits in memory whole.
    """
    if executor is None:
        return [work(j) for j in jobs]
    futures: list[Future[_R]] = []
    carrying: deque[Future[_R]] = deque()
    for j in jobs:
        fut = executor.submit(work, j)
        futures.append(fut)
        if carries(j):
            carrying.append(fut)
            if len(carrying) >= in_flight:
                carrying.popleft().result()
    return [f.result() for f in futures]


def _wrapped_rows(source: Task, module: Any, wrapper: wrap.Wrapper, popts: ParseOptions,
                  last: int, seeks: Sequence[tuple[int, int]]) -> Columns:
    """:func:`read_rows` of a wrapped file: records ``popts.first_line``..``last`` (and
    the records that finish the last one's line), or a whole-document export read whole
    and its rows kept by record number."""
    first = popts.first_line
    parse = wrap.reader(module, popts)
    assert parse is not None
    stats = ParseStats()
    with _no_gc(), contextlib.ExitStack() as stack:
        fh: BinaryIO = (io.BytesIO(source.data) if source.data is not None
                        else stack.enter_context(open_binary(Path(source.path))))
        if not wrapper.LINES:
            stamp = None if source.data is not None else os.stat(source.path).st_mtime_ns
            rows = _whole_rows(source, replace(popts, first_line=1), stamp)
            keep = [i for i, n in enumerate(rows["line"]) if first <= n <= last]
            return {k: [v[i] for i in keep] for k, v in rows.items()}
        offset, line = max((s for s in seeks if s[1] <= first), key=lambda s: s[1],
                           default=(0, 1))
        if source.data is None:
            _seek_line(fh, offset, wrapper)
        else:
            offset, line = 0, 1
        lines = islice(fh, first - line, last - line + 1)
        return _concat(parse(_line_chunks(lines, fh, wrapper), stats, popts))


def _line_chunks(lines: Iterable[bytes], fh: BinaryIO, wrapper: wrap.Wrapper
                 ) -> Iterator[bytes]:
    """``lines`` in blocks of about ``READ_BYTES``, the last one read on (from ``fh``) to
    the end of its record's line."""
    pending: bytes | None = None
    buf: list[bytes] = []
    size = 0
    for ln in lines:
        buf.append(ln)
        size += len(ln)
        if size >= READ_BYTES:
            if pending is not None:
                yield pending
            pending, buf, size = b"".join(buf), [], 0
    if buf:
        if pending is not None:
            yield pending
        pending = b"".join(buf)
    if pending is not None:
        yield wrap.extend_record(pending, fh.readline, wrapper)


@functools.lru_cache(maxsize=4)
def _whole_rows(source: Task, popts: ParseOptions, mtime_ns: int | None) -> Columns:
    """Every row of a whole-document export (read again for each window of the second
    pass otherwise; ``mtime_ns`` tells a changed file). The caller must not change them."""
    parse = wrap.reader(parsers.by_name(source.parser), popts)
    assert parse is not None
    with contextlib.ExitStack() as stack:
        fh: BinaryIO = (io.BytesIO(source.data) if source.data is not None
                        else stack.enter_context(open_binary(Path(source.path))))
        return _concat(parse(fh, ParseStats(), popts))


def _concat(chunks: Iterator[Columns]) -> Columns:
    out: Columns = {c: [] for c in parsers.REQUEST_COLUMNS}
    for chunk in chunks:
        for k, v in chunk.items():
            # var_* columns (other log_format variables) are in every chunk of a file.
            out.setdefault(k, []).extend(v)
    return out
