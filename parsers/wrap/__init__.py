"""Nginx lines inside another log's records: containers, journald and the log stores.

Nginx in a container or on Kubernetes writes the same access and error lines, but they are
kept inside the records of whatever collected them: Docker's json-file logs, the kubelet's
CRI files, journald, or a log store's export (Elasticsearch/OpenSearch, Loki, CloudWatch
Logs, Google Cloud Logging). A *wrapper* (one module of this package) knows one such record
layout and nothing of Nginx: it takes blocks of records and gives back the inner lines with
what the record adds (the record's number in the file, its UTC time, host and stream). The
inner lines then go through the same parsers as a plain file (``nginx_access`` with its
``log_format`` machinery, ``nginx_error`` with its transport headers), so ``--log-format``
and ``--nginx-conf`` apply unchanged.

How the two meet:

- :func:`sniff` finds the wrapper from a file's head and gives the inner lines' head, which
  the ordinary sniffing then reads (the inner format is chosen as for a plain file);
- the caller puts the wrapper's name in ``ParseOptions.wrapper``; :func:`reader` gives the
  function that parses such a file (the parser's own behind :func:`parse_requests` or
  :func:`parse_events`);
- byte ranges and compressed blocks are cut between whole records: a record whose text goes
  on in the next one (Docker's 16 KB pieces, CRI ``P`` partials) is :meth:`Wrapper.continued`,
  and :func:`whole_records` and the engine never cut after one.

Counts: each record (a physical line, or for a whole-document export one record of it) is
one line of the file. A record that carries no inner line (a continuation joined to the one
before, a record of another program) is skipped with its reason; a record that is not valid
is rejected; an inner line is parsed, rejected or skipped by the inner parser, and its
number is the number of the record it starts in.

Times: an access line's own ``$time_local`` (with its offset) is kept. An error line's time
is local without a zone; the wrapper's UTC time tells its offset (``stats.utc_offset_s``),
and a line with no time of its own (``nginx: [emerg] ...`` on stderr) takes the record's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, NamedTuple, Protocol

import numpy as np

from parsers import nginx_access, nginx_error
from parsers.base import (
    ERROR_LINE,
    MAX_REJECT_SAMPLES,
    BadLineError,
    ParseError,
    ParseOptions,
    Parser,
    ParseStats,
    Rejected,
    count_lines,
)
from parsers.export import parse_rfc3339
from parsers.transport import wall_time

#: The skip reason of an error-log line (or stderr record) in a file read as an access log:
#: the engine reads such files again with the error parser (``timeline.engine``).
MIXED_REASON = "error-log line in an access log"
#: The skip reason of a record whose text was joined to the record before it.
JOINED_REASON = "continuation of a line split over several records (joined to the first)"
#: The official image's entrypoint (``/docker-entrypoint.sh: ...``,
#: ``10-listen-on-ipv6-by-default.sh: info: ...``) writes to stdout before Nginx starts.
_ENTRYPOINT = re.compile(rb"(?:/docker-entrypoint\.sh|[\w.-]+\.(?:sh|envsh)): ")
_ENTRYPOINT_ANY = re.compile(b"\n" + _ENTRYPOINT.pattern)
ENTRYPOINT_REASON = "the container image's entrypoint output"


class Unwrapped(NamedTuple):
    """The inner lines of a block of records, with what each record adds."""

    #: The inner lines, without their newline.
    lines: list[bytes]
    #: The number (physical line, or record of a whole document) each inner line starts in.
    numbers: list[int]
    #: Each line's UTC time as RFC 3339 text (``2023-03-20T12:30:02.123Z``), or ``b""``;
    #: empty when not asked for.
    stamps: list[bytes]
    #: Each line's host as the record names it ("" when it does not); empty when none does.
    hosts: list[str]
    #: Each line's stream (``stdout``/``stderr``), or "" ; empty when the records have none.
    streams: list[str]


class Wrapper(Protocol):
    """A wrapper: one record layout."""

    #: Its name (in ``ParseOptions.wrapper`` and the report) and a line saying what it reads.
    NAME: str
    DESCRIPTION: str
    #: True when a record is one physical line (the file can be cut between lines); False for
    #: a whole-document export, which is read whole.
    LINES: bool

    def sniff(self, head: bytes) -> bool:
        """Whether a file whose first bytes are ``head`` is in this layout."""
        ...

    def continued(self, record: bytes) -> bool:
        """Whether the text of this record (a physical line) goes on in the next record."""
        ...

    def head_block(self, head: bytes) -> bytes:
        """The whole records of a file's first bytes (which may end anywhere), for
        :meth:`unwrap` when sniffing: its whole lines, or a document of the complete
        records at the start of a whole-document export."""
        ...

    def unwrap(self, block: bytes, first: int, stats: ParseStats, options: ParseOptions,
               times: bool) -> Unwrapped:
        """The inner lines of ``block`` (whole records, its first numbered ``first``).

        ``stats.lines`` counts every record; records without an inner line are skipped or
        rejected there. ``times``: fill ``stamps``.
        """
        ...

    def host_of(self, path: str, head: bytes) -> str | None:
        """The host the file's records belong to, from its path or its first records."""
        ...


def _registry() -> tuple[Wrapper, ...]:
    from parsers.wrap import containers, journald, stores

    # Most specific first: journald JSON, Docker's and the stores' JSON have keys no other
    # has; the timestamped text layout (kubectl/docker -t) is the loosest and comes last.
    return (*journald.WRAPPERS, containers.DOCKER, *stores.WRAPPERS, containers.CRI,
            containers.TIMESTAMPED)


_WRAPPERS: list[Wrapper] = []


def registry() -> tuple[Wrapper, ...]:
    """Every wrapper, in sniffing order."""
    if not _WRAPPERS:
        _WRAPPERS.extend(_registry())
    return tuple(_WRAPPERS)


def by_name(name: str) -> Wrapper:
    """The wrapper registered under ``name``.

    Raises:
        KeyError: when no wrapper has that name.
    """
    for w in registry():
        if w.NAME == name:
            return w
    raise KeyError(name)


@dataclass(frozen=True)
class Sniffed:
    """A wrapped file: its wrapper, the head of its inner lines, and the host it names."""

    wrapper: Wrapper
    inner_head: bytes
    host: str | None


def sniff(head: bytes, path: str = "") -> Sniffed | None:
    """The wrapper of a file whose first bytes are ``head``, or None (a plain file).

    The inner head is the inner lines of the head's whole records, each ending in a newline,
    for the ordinary sniffing (``parsers.sniff``) and the choice of ``log_format``. When the
    lines that are not the error log's (stderr, error-log entries, the entrypoint's) look
    like an access log, the inner head is those lines only: a container's log starts with
    its start-up messages, and the access lines that follow are what makes it a request log
    (the error lines in it are read as well, see ``MIXED_REASON``).
    """
    for w in registry():
        if not w.sniff(head):
            continue
        stats = ParseStats()
        quiet = ParseOptions(on_bad_lines="skip", wrapper=w.NAME)
        # Whole records only: the head may end inside a line cut into records.
        block = w.head_block(head)
        if w.LINES:
            block = b"".join(whole_records([block], w, complete=True))
        try:
            u = w.unwrap(block, 1, stats, quiet, False)
        except (ValueError, ParseError):
            continue
        if not u.lines:
            continue
        text, _ = _route_requests(u, ParseStats())
        access = [ln for ln in text.split(b"\n")[:-1]
                  if not ERROR_LINE.match(ln) and ln[:7] != b"nginx: "]
        pick = access if access and nginx_access.sniff(_head_of(access)) else u.lines
        return Sniffed(w, _head_of(pick), w.host_of(path, head))
    return None


def _head_of(lines: list[bytes]) -> bytes:
    return b"".join(ln + b"\n" for ln in lines[:200])


def line_head(head: bytes) -> bytes:
    """:meth:`Wrapper.head_block` of a layout with a record a line: the head's whole
    lines."""
    return head[: head.rfind(b"\n") + 1] or head


def first_line(head: bytes) -> bytes:
    """The first line of a file's head (leading blank space left out), for sniffing."""
    return head.lstrip().split(b"\n", 1)[0]


class LineLayout:
    """What the layouts with a record a physical line share; a record is whole unless the
    layout says how one goes on in the next (:meth:`Wrapper.continued`)."""

    LINES = True
    head_block = staticmethod(line_head)

    @staticmethod
    def continued(record: bytes) -> bool:
        """Never: a record is a whole line."""
        return False


class DocumentLayout:
    """What the whole-document exports share: read whole, never cut between records."""

    LINES = False

    @staticmethod
    def continued(record: bytes) -> bool:
        """Not used (read whole)."""
        return False


def json_lines(block: bytes, first: int, stats: ParseStats, options: ParseOptions,
               bad_json: str) -> Iterator[tuple[int, Any, bytes]]:
    """JSON lines: each non-blank line's value with its number and text (a line that is
    not JSON is rejected with the reason ``bad_json``). ``stats.lines`` counts them all."""
    n = count_lines(block)
    stats.lines += n
    raws = block.split(b"\n")[:n]
    # One decode for the block; line by line only when a line is not JSON.
    try:
        docs: list[Any] | None = json.loads(b"[" + b",".join(raws) + b"]")
    except ValueError:
        docs = None
    for i, raw in enumerate(raws):
        number = first + i
        if docs is not None:
            yield number, docs[i], raw
            continue
        if not raw.strip():
            stats.skip("blank line")
            continue
        try:
            yield number, json.loads(raw), raw
        except ValueError:
            stats.reject(number, bad_json, raw, options)


def whole_records(blocks: Iterable[bytes], w: Wrapper, complete: bool = False
                  ) -> Iterator[bytes]:
    """``blocks`` (of whole physical lines) regrouped so that none ends inside a record
    whose text goes on in the next (it moves to the next block); a whole-document export
    as one block. ``complete``: leave out a line still unfinished at the end (a file's
    head), else it ends the last block."""
    if not w.LINES:
        data = b"".join(blocks)
        if data:
            yield data
        return
    carry = b""
    continued = w.continued
    for block in blocks:
        if carry:
            block = carry + block
        pos = len(block)
        while pos > 0:
            start = block.rfind(b"\n", 0, pos - 1) + 1
            if not continued(block[start:pos]):
                break
            pos = start
        carry = block[pos:]
        if pos:
            yield block[:pos]
    if carry and not complete:
        yield carry


def extend_record(block: bytes, more: Callable[[], bytes], w: Wrapper) -> bytes:
    """``block`` with the physical lines ``more()`` reads appended while its last record's
    text goes on in the next record (a byte range or compressed block ends at a whole
    record)."""
    while block:
        start = block.rfind(b"\n", 0, len(block) - 1) + 1
        if not w.continued(block[start:]):
            break
        line = more()
        if not line:
            break
        block += line
    return block


def _soft(options: ParseOptions) -> ParseOptions:
    """The inner parser's options: numbered from 1 within the inner lines, and rejects
    counted rather than raised (they are raised here with the record's number)."""
    policy = "warn" if options.on_bad_lines == "error" else options.on_bad_lines
    return replace(options, wrapper="", first_line=1, on_bad_lines=policy)


@dataclass
class _Counts:
    """The inner parser's counts, put into the file's (with the records' numbers)."""

    stats: ParseStats
    options: ParseOptions
    rejects: list[Rejected] = field(default_factory=list)

    def add(self, inner: ParseStats, numbers: np.ndarray[Any, Any] | list[int]) -> None:
        """Add one inner parse's counts; its line ``i`` is record ``numbers[i - 1]``."""
        moved = [Rejected(int(numbers[r.line - 1]), r.reason, r.excerpt)
                 for r in inner.rejects]
        if moved and self.options.on_bad_lines == "error":
            r = moved[0]
            raise BadLineError(
                f"{self.options.display_path}:{r.line}: {r.reason}: {r.excerpt!r} "
                "(use --on-bad-lines warn to count bad lines and continue)")
        merge_counts(self.stats, inner, moved)


def merge_counts(into: ParseStats, part: ParseStats, rejects: list[Rejected]) -> None:
    """Add ``part``'s counts (all but ``lines``) to ``into``'s, with ``rejects`` as its
    reject samples (renumbered by the caller into ``into``'s lines)."""
    into.parsed += part.parsed
    into.rejected += part.rejected
    into.skipped += part.skipped
    for reason, n in part.skip_reasons.items():
        into.skip_reasons[reason] = into.skip_reasons.get(reason, 0) + n
    if rejects:
        into.rejects = sorted(into.rejects + rejects, key=lambda r: r.line
                              )[:MAX_REJECT_SAMPLES]
    if part.first_ts is not None:
        into.see_ts(part.first_ts)
    if part.last_ts is not None:
        into.see_ts(part.last_ts)
    if into.utc_offset_s is None:
        into.utc_offset_s = part.utc_offset_s
    into.variant = into.variant or part.variant
    into.notes.extend(n for n in part.notes if n not in into.notes)


def _route_requests(u: Unwrapped, stats: ParseStats) -> tuple[bytes, list[int]]:
    """The inner lines an access parser reads, as one block, and their numbers: stderr
    records (the official image's error log) and the entrypoint's lines are counted as
    skipped here."""
    lines, numbers = u.lines, u.numbers
    if u.streams and "stderr" in u.streams:
        keep = [i for i, s in enumerate(u.streams) if s != "stderr"]
        if len(keep) < len(lines):
            stats.skip(MIXED_REASON, len(lines) - len(keep))
            lines = [lines[i] for i in keep]
            numbers = [numbers[i] for i in keep]
    text = b"\n".join(lines) + b"\n" if lines else b""
    # The entrypoint writes a few lines at each start: one cheap search first.
    if b".sh: " in text and _ENTRYPOINT_ANY.search(b"\n" + text):
        entry = _ENTRYPOINT.match
        keep = [i for i, ln in enumerate(lines) if not entry(ln)]
        stats.skip(ENTRYPOINT_REASON, len(lines) - len(keep))
        lines = [lines[i] for i in keep]
        numbers = [numbers[i] for i in keep]
        text = b"\n".join(lines) + b"\n" if lines else b""
    return text, numbers


def parse_requests(
    parse_blocks: Callable[[Iterable[bytes], ParseStats, ParseOptions], Iterator[Any]],
    blocks: Iterable[bytes], stats: ParseStats, options: ParseOptions,
) -> Iterator[Any]:
    """An access log inside records: each block's inner lines through ``parse_blocks``
    (the access parser's), the rows and rejects numbered by their records."""
    w = by_name(options.wrapper)
    inner = _soft(options)
    counts = _Counts(stats, options)
    for block in whole_records(blocks, w):
        u = w.unwrap(block, options.first_line + stats.lines, stats, options, False)
        text, numbers = _route_requests(u, stats)
        if not numbers:
            continue
        st = ParseStats()
        nums = np.asarray(numbers, dtype=np.int64)
        for chunk in parse_blocks([text], st, inner):
            line = chunk["line"]
            if isinstance(line, np.ndarray):
                chunk["line"] = nums[line - 1]
            else:
                chunk["line"] = nums[np.asarray(line, dtype=np.int64) - 1].tolist()
            yield chunk
        counts.add(st, nums)


def parse_events(
    parse: Callable[[Iterable[bytes], ParseStats, ParseOptions], Iterator[Any]],
    blocks: Iterable[bytes], stats: ParseStats, options: ParseOptions,
) -> Iterator[Any]:
    """An error log inside records: the inner lines, behind their record's UTC time as a
    ``docker logs -t`` header (``parsers/transport.py`` reads it: a line without a time of
    its own takes it), through ``parse`` (the error parser's) in one go (an entry may span
    lines); events numbered by their records, and given the record's host."""
    w = by_name(options.wrapper)
    numbers: list[int] = []
    hosts: list[str] = []
    walls: list[bytes] = []

    entry = _ENTRYPOINT.match
    access = nginx_error.is_access_line

    def feed() -> Iterator[bytes]:
        for block in whole_records(blocks, w):
            u = w.unwrap(block, options.first_line + stats.lines, stats, options, True)
            hosts_ = u.hosts or [""] * len(u.lines)
            for i, line in enumerate(u.lines):
                if entry(line):
                    stats.skip(ENTRYPOINT_REASON)
                    continue
                if access(line):
                    # What the error parser does with it, without its per-line work: a
                    # container's log is mostly access lines.
                    stats.skip(nginx_error.ACCESS_REASON)
                    continue
                numbers.append(u.numbers[i])
                walls.append(u.stamps[i])
                hosts.append(hosts_[i])
                # The record's time goes in front of an entry's first line only (a line
                # of its own, or "nginx: [emerg]" without a time); the next lines of a
                # multi-line entry stay bare, as in the file Nginx wrote.
                if u.stamps[i] and (ERROR_LINE.match(line) or line[:7] == b"nginx: "):
                    yield u.stamps[i] + b" " + line + b"\n"
                else:
                    yield line + b"\n"

    st = ParseStats()
    counts = _Counts(stats, options)
    for chunk in parse(feed(), st, _soft(options)):
        for ev in chunk:
            i = int(ev["line"]) - 1
            ev["line"] = numbers[i]
            if hosts[i]:
                ev["host"] = hosts[i]
            if stats.utc_offset_s is None and "ts_from" not in ev["attrs"]:
                stats.utc_offset_s = _offset(ev["ts"], walls[i])
        yield chunk
    counts.add(st, numbers)


def utc_stamp(text: bytes) -> bytes:
    """An RFC 3339 time as UTC text ``2023-03-20T12:30:02.123Z`` (``b""`` when invalid)."""
    if text.endswith((b"Z", b"z")):
        return text
    try:
        ts = parse_rfc3339(text.decode("ascii", "replace"))
    except ValueError:
        return b""
    return b"" if ts is None else epoch_stamp(ts)


def epoch_stamp(ts: float) -> bytes:
    """Epoch seconds as UTC text ``2023-03-20T12:30:02.123456Z``."""
    whole = int(ts // 1)
    us = round((ts - whole) * 1e6)
    if us >= 1_000_000:
        whole, us = whole + 1, us - 1_000_000
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{us:06d}Z").encode()


def _offset(local: float, stamp: bytes) -> int | None:
    """The zone offset of an Nginx local time given the record's UTC time: the difference
    to the nearest quarter hour (within a few minutes, at most 14 h), else None."""
    if len(stamp) < 19:
        return None
    utc = wall_time(stamp[:19])
    if utc is None:
        return None
    diff = local - utc
    quarters = round(diff / 900)
    if abs(diff - quarters * 900) > 300 or abs(quarters) > 56:
        return None
    return int(quarters * 900)


#: A parse function: blocks (or lines) of the file, its stats, its options.
ParseFn = Callable[[Iterable[bytes], ParseStats, ParseOptions], Iterator[Any]]


def reader(module: ModuleType | Parser, options: ParseOptions) -> ParseFn | None:
    """The function that parses a file ``options.wrapper`` wraps, fed blocks of whole
    physical lines; None for a plain file."""
    if not options.wrapper:
        return None
    if module.TABLE == "requests":
        fn: Callable[..., Iterator[Any]] = getattr(module, "parse_blocks", module.parse)
        return lambda blocks, stats, opts: parse_requests(fn, blocks, stats, opts)
    ev: Callable[..., Iterator[Any]] = module.parse
    return lambda blocks, stats, opts: parse_events(ev, blocks, stats, opts)
