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
import itertools
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
from timeline import stopping
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
    #: A file of this machine only (stdin or a pipe copied into a temporary file): parsed
    #: here, never by remote workers.
    local: bool = False
    #: (inode, size) of the file when it was planned: the second pass tells a file
    #: truncated or replaced in between (logrotate's copytruncate) from one read twice.
    #: Not the device: NFS clients of one Dask cluster number the same share differently.
    stamp: tuple[int, int] | None = None
    #: In a block of a compressed file (``data``): the lines longer than the cap that the
    #: inflating process replaced by an empty line, as (line in the block, length).
    long_lines: tuple[tuple[int, int], ...] = ()
    #: In such a block: the lines whose leading NUL bytes were dropped.
    holes: int = 0

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


class _Capped:
    """Reads a file in blocks of whole lines, none longer than ``cap`` bytes: a longer line
    is consumed a piece at a time (never held whole) and replaced by an empty line, and
    its line number (from 1 in what this reader read) and length are kept in ``long``.
    Parsers count the empty line as blank; :func:`_account_long` turns it into a rejected
    line with its length. Memory stays one block plus ``cap``, whatever the lines."""

    def __init__(self, fh: BinaryIO, cap: int, block: int | None = None) -> None:
        self.fh = fh
        self.cap = max(1, cap)
        # Lines wholly inside a block are at most a block long: only the last line of a
        # block can be longer than the cap, and only it is measured.
        self.size = max(1, min(READ_BYTES if block is None else block, self.cap))
        self.long: list[tuple[int, int]] = []
        #: Lines that began with NUL bytes, which were dropped (see :func:`_drop_holes`).
        self.holes = 0
        self.lines = 0
        #: Bytes consumed from ``fh``.
        self.consumed = 0

    def restart(self) -> None:
        """Count lines, long lines, holes and bytes from here (after seeking)."""
        self.lines = self.consumed = self.holes = 0
        self.long.clear()

    def block(self, limit: int | None = None) -> bytes:
        """The next block of whole lines (b"" at the end); with ``limit``, the block starts
        with at most that many bytes (its last line is still completed)."""
        want = self.size if limit is None else min(self.size, limit)
        block = self.fh.read(want) if want > 0 else b""
        if not block:
            return b""
        self.consumed += len(block)
        if not block.endswith(b"\n"):
            start = block.rfind(b"\n") + 1
            partial = len(block) - start
            rest = self.fh.readline(self.cap + 1 - partial)
            self.consumed += len(rest)
            length = partial + len(rest)
            if not rest.endswith(b"\n") and length > self.cap:
                length += self._skip_line()
                self.long.append((self.lines + block.count(b"\n", 0, start) + 1, length))
                block = block[:start] + b"\n"
            else:
                block += rest
        self.lines += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        return self._fill_holes(block)

    def line(self) -> bytes:
        """The next physical line (b"" at the end), one over the cap as an empty line:
        what a wrapped file's last record reads to finish its text."""
        text = self.fh.readline(self.cap + 1)
        self.consumed += len(text)
        if not text:
            return b""
        self.lines += 1
        if not text.endswith(b"\n") and len(text) > self.cap:
            self.long.append((self.lines, len(text) + self._skip_line()))
            return b"\n"
        return self._fill_holes(text)

    def _fill_holes(self, block: bytes) -> bytes:
        if b"\0" in block:
            block, n = _drop_holes(block)
            self.holes += n
        return block

    def _skip_line(self) -> int:
        """Consume the rest of a line in pieces; its length without the newline."""
        n = 0
        while True:
            piece = self.fh.readline(1 << 16)
            self.consumed += len(piece)
            if not piece:
                return n
            if piece.endswith(b"\n"):
                return n + len(piece) - 1
            n += len(piece)

    def skip_partial(self) -> None:
        """At a byte offset inside a line: consume up to the start of the next one."""
        self._skip_line()

    def blocks(self) -> Iterator[bytes]:
        """Every remaining block."""
        while block := self.block():
            yield block


_HOLE = re.compile(rb"^\0+", re.MULTILINE)
#: The note of a source some of whose lines began with NUL bytes.
HOLE_NOTE = ("{n} lines began with NUL bytes, dropped: a hole a truncation (copytruncate) or "
             "a crash left in the file, not text Nginx wrote (it escapes control bytes)")
#: The note of lines over the cap that a parser did not count as blank (a layout in
#: which an empty line means something): they are counted as the parser counted them.
LONG_NOTE = ("{n} lines longer than the {cap} bytes of --max-line-bytes were not read "
             "(counted as the format counts an empty line)")


def _drop_holes(block: bytes) -> tuple[bytes, int]:
    """``block`` without the NUL bytes at the start of its lines, and how many lines had
    some. Nginx never writes a NUL into a log line (access-log variables escape bytes
    below 0x20 as \\xHH), so a run of NULs at a line's start is a hole in the file: the
    range a ``copytruncate`` or a crash left unwritten before the next line."""
    n = 0

    def drop(_: re.Match[bytes]) -> bytes:
        nonlocal n
        n += 1
        return b""

    return _HOLE.sub(drop, block), n


def _account_long(stats: ParseStats, long: Iterable[tuple[int, int]],
                  options: ParseOptions) -> None:
    """Lines over the cap, which the parser counted as blank: rejected with their length.
    (A ``(0, n)`` entry is the count of lines with a hole dropped: a note.)"""
    uncounted = 0
    for lineno, length in long:
        if lineno == 0:
            if length:
                stats.notes.append(HOLE_NOTE.format(n=length))
            continue
        left = stats.skip_reasons.get("blank line", 0)
        if left <= 0:
            uncounted += 1
            continue
        stats.skipped -= 1
        if left > 1:
            stats.skip_reasons["blank line"] = left - 1
        else:
            del stats.skip_reasons["blank line"]
        stats.reject(lineno, f"line of {length} bytes, longer than the {options.max_line_bytes}"
                     " bytes of --max-line-bytes (not read)", b"", options)
    if uncounted:
        stats.notes.append(LONG_NOTE.format(n=uncounted, cap=options.max_line_bytes))
    stats.rejects.sort(key=lambda r: r.line)


def _document(task: Task) -> bool:
    """Whether the task's file is read as one document rather than as lines: JSON and CSV
    exports (``WHOLE_FILE``) and log stores' whole-document answers (a wrapper without
    ``LINES``). The line cap does not cut them (a compact JSON export is one long line)."""
    wrapper = _wrapper(task.options)
    return bool(getattr(parsers.by_name(task.parser), "WHOLE_FILE", False)) or (
        wrapper is not None and not wrapper.LINES)


def _range_reader(fh: BinaryIO, start: int, cap: int,
                  wrapper: wrap.Wrapper | None = None) -> _Capped:
    """A capped reader at the first line that starts at or after ``start``: a line
    crossing ``start`` belongs to the range before (in a wrapped file, so do the records
    that continue the record before: the range before reads them)."""
    reader = _Capped(fh, cap)
    if start > 0:
        fh.seek(start - 1)
        if fh.read(1) != b"\n":
            reader.skip_partial()
        if wrapper is not None:
            prev = _line_before(fh, reader.cap)
            while prev and wrapper.continued(prev):
                prev = reader.line()
    reader.restart()
    return reader


def _line_before(fh: BinaryIO, cap: int) -> bytes:
    """The whole line that ends just before the current position (which stays); b"" when
    it is longer than ``cap`` (rejected, it continues nothing)."""
    pos = fh.tell()
    back = 1 << 16
    while True:
        lo = max(0, pos - back)
        fh.seek(lo)
        data = fh.read(pos - lo)
        cut = data.rfind(b"\n", 0, len(data) - 1)
        if cut >= 0 or lo == 0:
            fh.seek(pos)
            line = data[cut + 1 :]
            return line if len(line) <= cap + 1 else b""
        if back > cap + 1:
            fh.seek(pos)
            return b""
        back *= 4


def _range_blocks(path: str, start: int, end: int, cap: int, long: list[tuple[int, int]],
                  wrapper: wrap.Wrapper | None = None) -> Iterator[bytes]:
    """The lines that *start* inside ``[start, end)``, in blocks of whole lines: a line
    crossing ``end`` belongs here, one crossing ``start`` to the range before (in a wrapped
    file, the records that continue a line belong with its first record). Read a block at
    a time, so a task holds ``READ_BYTES`` whatever the range's size."""
    with open(path, "rb") as fh:
        reader = _range_reader(fh, start, cap, wrapper)
        pos = fh.tell()
        try:
            while pos + reader.consumed < end:
                block = reader.block(end - pos - reader.consumed)
                if not block:
                    return
                if wrapper is not None and pos + reader.consumed >= end:
                    block = wrap.extend_record(block, reader.line, wrapper)
                yield block
        finally:
            long.extend(reader.long)
            long.append((0, reader.holes))


def _split(data: bytes) -> Iterator[bytes]:
    """``data`` in blocks of about ``READ_BYTES`` that end at a newline (or its end)."""
    pos, size = 0, len(data)
    while pos < size:
        cut = data.find(b"\n", pos + READ_BYTES)
        end = size if cut < 0 else cut + 1
        yield data[pos:end]
        pos = end


@contextmanager
def _blocks_of(task: Task, long: list[tuple[int, int]]) -> Iterator[Iterable[bytes]]:
    """The task's input as blocks of whole lines; lines over the cap are put in ``long``."""
    cap = task.options.max_line_bytes
    if task.data is not None:
        long.extend(task.long_lines)
        long.append((0, task.holes))
        yield _split(task.data)
    elif task.end is not None:
        yield _range_blocks(task.path, task.start, task.end, cap, long,
                            _wrapper(task.options))
    else:
        with open_binary(Path(task.path)) as fh:
            if _document(task):  # a log store's answer: one document, not cut by the cap
                yield _document_blocks(fh, task.options)
                return
            reader = _Capped(fh, cap)
            try:
                yield reader.blocks()
            finally:
                long.extend(reader.long)
                long.append((0, reader.holes))


def _document_blocks(fh: BinaryIO, popts: ParseOptions) -> Iterator[bytes]:
    """A document in blocks of whole lines (the reader joins them), at most
    ``popts.max_document_bytes`` of it."""
    cap = popts.max_document_bytes
    total = 0
    while block := fh.read(min(READ_BYTES, cap - total + 1)):
        if not block.endswith(b"\n") and len(block) + total <= cap:
            block += fh.readline(cap - total - len(block) + 1)
        total += len(block)
        if total > cap:
            raise _too_big(popts)
        yield block


def _document_lines(fh: BinaryIO, popts: ParseOptions) -> Iterator[bytes]:
    """A document's lines (an export parser joins them), at most
    ``popts.max_document_bytes`` of them: never a line longer than what is left."""
    cap = popts.max_document_bytes
    total = 0
    while line := fh.readline(cap - total + 1):
        total += len(line)
        if total > cap:
            raise _too_big(popts)
        yield line


def _too_big(popts: ParseOptions) -> parsers.ParseError:
    cap = popts.max_document_bytes
    size = f"{cap >> 20} MiB" if cap % (1 << 20) == 0 else f"{cap:,} bytes"
    return parsers.ParseError(
        f"{popts.display_path}: longer than {size} (--max-export-bytes): an export or a "
        "log store's answer is parsed whole, in memory a few times its size; raise "
        "--max-export-bytes to read it, or export a shorter time range")


@contextmanager
def _lines(task: Task, long: list[tuple[int, int]]) -> Iterator[Iterable[bytes]]:
    """The task's lines (split at \\n only: not bytes.splitlines(), which also splits at a
    bare \\r, which a raw request line in an error log can hold; Nginx ends lines with
    \\n). Whole documents (exports) are not cut by the line cap."""
    if task.data is None and task.end is None and _document(task):
        with open_binary(Path(task.path)) as fh:
            yield _document_lines(fh, task.options)
        return
    with _blocks_of(task, long) as blocks:
        # io.BytesIO iterates a block's lines in C: no Python code per line.
        yield itertools.chain.from_iterable(map(io.BytesIO, blocks))


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
    _check_unchanged(task)
    long: list[tuple[int, int]] = []
    with _no_gc(), (_blocks_of(task, long) if blocks else _lines(task, long)) as lines:
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
    _account_long(stats, long, task.options)
    stats.check()
    if module.TABLE == "requests" and stats.skip_reasons.get(MIXED_REASON):
        # Error-log lines inside an access log (one file for both, as some setups write):
        # they are counted as skipped here and read again as events by the error parser.
        # Its own counts are thrown away: each line is counted once, in this file's stats.
        from parsers import nginx_error

        estats = ParseStats()
        eopts = ParseOptions(on_bad_lines="skip", display_path=task.display,
                             wrapper=task.options.wrapper,
                             max_line_bytes=task.options.max_line_bytes)
        parse_errors = wrap.reader(nginx_error, eopts) or nginx_error.parse
        with _lines(task, []) as lines:
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
        reader = _Capped(fh, task.options.max_line_bytes, BLOCK_BYTES)
        while True:
            lines_before = reader.lines
            block = reader.block()
            if not block:
                break
            if wrapper is not None:
                block = wrap.extend_record(block, reader.line, wrapper)
            long = tuple((n - lines_before, length) for n, length in reader.long)
            reader.long.clear()
            holes, reader.holes = reader.holes, 0
            pos = raw.tell() if raw is not None else done
            yield (replace(task, data=block, expand=False, long_lines=long, holes=holes),
                   pos - done)
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
        stopping.check()
        if progress is not None:
            progress(size)

    for t, size in _expanded(tasks):
        if t.local:
            while pending:  # a spooled stream stays in this process; keep the order
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
                         log_format=source.options.log_format, wrapper=source.options.wrapper,
                         max_line_bytes=source.options.max_line_bytes)
    wrapper = _wrapper(popts)
    if wrapper is not None:
        return _wrapped_rows(source, module, wrapper, popts, last, seeks)
    if source.data is not None:
        lines: Iterator[bytes] = iter(io.BytesIO(source.data))
        with _no_gc():
            return _concat(module.parse(islice(lines, first - 1, last), stats, popts))
    offset, line = max((s for s in seeks if s[1] <= first), key=lambda s: s[1],
                       default=(0, 1))
    _check_unchanged(source)
    with _no_gc(), open_binary(Path(source.path)) as fh:
        # The same capped reader as the first pass: the same lines, numbered alike.
        reader = _range_reader(fh, offset, popts.max_line_bytes)
        lines = itertools.chain.from_iterable(map(io.BytesIO, reader.blocks()))
        return _concat(module.parse(islice(lines, first - line, last - line + 1), stats, popts))


def _check_unchanged(task: Task) -> None:
    """Raise :class:`InputError` when the file is no longer the one planned: truncated
    (logrotate's copytruncate) or replaced (rotated) since; the two passes would read
    different lines.

    Raises:
        InputError: naming the file and what changed.
    """
    if task.stamp is None:
        return
    try:
        st = os.stat(task.path)
    except OSError as exc:
        raise InputError(f"{task.display}: gone while it was being read ({exc.strerror}); "
                         "run on a copy of the logs") from None
    ino, size = task.stamp
    if st.st_ino != ino:
        raise InputError(f"{task.display}: replaced by another file while it was being read "
                         "(rotated?); run on a copy of the logs")
    if st.st_size < size:
        raise InputError(f"{task.display}: truncated while it was being read ({size} bytes, "
                         f"then {st.st_size}: logrotate's copytruncate?); run on a copy of "
                         "the logs")


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
                         first_line=task.first, log_format=source.options.log_format,
                         max_line_bytes=source.options.max_line_bytes)
    wanted = (task.first - task.line, task.last - task.line + 1)
    try:
        if task.data is not None:
            with _no_gc():
                return _concat(module.parse(islice(io.BytesIO(task.data), *wanted), stats,
                                            popts))
        _check_unchanged(source)
        with _no_gc(), open_binary(Path(source.path)) as fh:
            # The same capped reader as the first pass: the same lines, numbered alike, a
            # line over the cap never held whole, holes dropped.
            reader = _range_reader(fh, task.start, popts.max_line_bytes)
            lines = itertools.chain.from_iterable(map(io.BytesIO, reader.blocks()))
            return _concat(module.parse(islice(lines, *wanted), stats, popts))
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
            reader = _Capped(fh, source.options.max_line_bytes, BLOCK_BYTES)
            line = 1
            while line <= last:
                block = reader.block()  # as the first pass cut it
                if not block:
                    return
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
        if source.data is not None:
            offset, line = 0, 1
        # The same capped reader as the first pass: the same records, numbered alike.
        reader = _range_reader(fh, offset, popts.max_line_bytes, wrapper)
        lines = itertools.chain.from_iterable(map(io.BytesIO, reader.blocks()))
        wanted = islice(lines, first - line, last - line + 1)
        return _concat(parse(_line_chunks(wanted, lambda: next(lines, b""), wrapper), stats,
                             popts))


def _line_chunks(lines: Iterable[bytes], more: Callable[[], bytes], wrapper: wrap.Wrapper
                 ) -> Iterator[bytes]:
    """``lines`` in blocks of about ``READ_BYTES``, the last one read on (``more`` gives the
    next line) to the end of its record's line."""
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
        yield wrap.extend_record(pending, more, wrapper)


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
