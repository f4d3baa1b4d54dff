"""Container runtimes' logs: Docker's json-file, the kubelet's CRI files, and the
timestamped text of ``kubectl logs --timestamps`` / ``docker logs -t``.

Docker json-file (``/var/lib/docker/containers/ID/ID-json.log``, moby's
``daemon/logger/jsonfilelog``), one JSON object a line, keys in this order::

    {"log":"10.0.0.1 - - [20/Mar/2023:12:30:00 +0000] \\"GET / HTTP/1.1\\" 200 ...\\n",
     "stream":"stdout","time":"2023-03-20T12:30:00.123456789Z"}

A line longer than 16 KB is written as several records: all but the last have a ``log``
without the final ``\\n`` (moby's ``logger.PartialLogMetaData``); they are joined.

CRI (``/var/log/pods/NAMESPACE_POD_UID/CONTAINER/0.log``, the kubelet's
``pkg/kubelet/kuberuntime/logs``)::

    2023-03-20T12:30:00.123456789Z stdout F 10.0.0.1 - - [20/Mar/2023:12:30:00 +0000] ...

``F`` ends a line, ``P`` is a piece of a longer one (joined with the next pieces of the same
stream). The pod's name is the host.

``kubectl logs --timestamps`` and ``docker logs -t`` print the joined line behind an RFC
3339 time; they say nothing of the stream.

The official nginx image links ``access.log`` to stdout and ``error.log`` to stderr: stderr
records are read as the error log.
"""

from __future__ import annotations

import codecs
import json
import re
import warnings
from collections.abc import Callable
from operator import itemgetter
from pathlib import PurePath
from typing import TypeVar

from parsers.base import ParseOptions, ParseStats, count_lines
from parsers.wrap import JOINED_REASON, LineLayout, Unwrapped, utc_stamp

_GET_LOG, _GET_STREAM, _GET_TIME = itemgetter(0), itemgetter(1), itemgetter(2)

# A json-file record as moby writes it (log, stream, optional attrs, time: in this order).
_JSON_STR = rb'"((?:[^"\\\n]|\\.)*)"'
_DOCKER = re.compile(
    rb'^\{"log":' + _JSON_STR + rb',"stream":"(stdout|stderr)",'
    rb'(?:"attrs":\{[^\n]*?\},)?"time":"([^"\n]*)"\}\r?$', re.M)
_DOCKER_SNIFF = re.compile(rb'\A\s*\{"log":".*","stream":"std(?:out|err)",.*"time":"\d{4}-')


def _decode_strings(raws: list[bytes]) -> list[str] | None:
    """JSON string bodies decoded at once (one ``json.loads`` of an array); None when one
    is not valid."""
    try:
        out = json.loads(b'["' + b'","'.join(raws) + b'"]')
    except ValueError:
        return None
    return out if isinstance(out, list) and len(out) == len(raws) else None


def _encode(text: str) -> bytes:
    # Lone surrogates (\\ud800 in the JSON) are kept as their bytes, never an error.
    return text.encode("utf-8", "surrogatepass")


def _join(texts: list[str], numbers: list[int], streams: list[str], stamps: list[bytes],
          stats: ParseStats) -> tuple[list[str], list[int], list[str], list[bytes]]:
    """Records' texts (a complete one ends in a newline) joined into lines per stream: a
    line is numbered (and timed, when ``stamps`` are given) by its first record; the
    records joined to it are skipped."""
    index = {k: i for i, k in enumerate(numbers)} if stamps else {}
    open_: dict[str, tuple[int, list[str]]] = {}
    out: list[tuple[int, str, str]] = []
    for text, n, s in zip(texts, numbers, streams, strict=True):
        cur = open_.get(s)
        if cur is None:
            cur = open_[s] = (n, [])
        else:
            stats.skip(JOINED_REASON)
        cur[1].append(text)
        if text.endswith("\n"):
            out.append((cur[0], s, "".join(cur[1])[:-1]))
            del open_[s]
    for s, (n, parts) in open_.items():  # the end of the input inside a long line
        out.append((n, s, "".join(parts)))
    out.sort(key=itemgetter(0))
    joined = [n for n, _, _ in out]
    return ([t for _, _, t in out], joined, [s for _, s, _ in out],
            [stamps[index[k]] for k in joined] if stamps else [])


def _unwrapped(lines: list[bytes], numbers: list[int], stamps: list[bytes],
               streams: list[str]) -> Unwrapped:
    """The records' lines, with their times (as the records write them) in UTC."""
    return Unwrapped(lines, numbers, [utc_stamp(s) for s in stamps], [], streams)


_Row = TypeVar("_Row")


def _slow(block: bytes, first: int, stats: ParseStats, options: ParseOptions,
          read: Callable[[bytes], _Row | None], reason: str) -> tuple[list[_Row], list[int]]:
    """Record by record (when a block is not all records): a blank line is skipped, a line
    ``read`` gives no row for is rejected with ``reason``."""
    rows: list[_Row] = []
    numbers: list[int] = []
    for lineno, raw in enumerate(block.split(b"\n")[: count_lines(block)], start=first):
        if not raw.strip():
            stats.skip("blank line")
            continue
        row = read(raw)
        if row is None:
            stats.reject(lineno, reason, raw, options)
            continue
        rows.append(row)
        numbers.append(lineno)
    return rows, numbers


class _Docker(LineLayout):
    NAME = "docker-json"
    DESCRIPTION = "Docker json-file log ({\"log\", \"stream\", \"time\"} per line)"

    @staticmethod
    def sniff(head: bytes) -> bool:
        """The first line is a json-file record."""
        return _DOCKER_SNIFF.match(head) is not None

    @staticmethod
    def continued(record: bytes) -> bool:
        """A record whose ``log`` does not end in ``\\n`` (a piece of a longer line)."""
        end = record.find(b'","stream":"')
        if end < 0:
            return False
        log = record[:end]
        if not log.endswith(b"\\n"):
            return True
        slashes = len(log) - 1 - len(log[:-1].rstrip(b"\\"))
        return slashes % 2 == 0

    @staticmethod
    def unwrap(block: bytes, first: int, stats: ParseStats, options: ParseOptions,
               times: bool) -> Unwrapped:
        """The lines of a block of records; a line that is not a record is rejected."""
        n = count_lines(block)
        stats.lines += n
        numbers: list[int] = list(range(first, first + n))
        fast = _docker_fast(block, n)
        if fast is not None:
            lines, streams_, ends = fast
            # The record's end: '","stream":"stdout","time":"2023-...Z"}'.
            stamps_ = [utc_stamp(e[e.find(b'"time":"') + 8 : e.rfind(b'"')]) for e in ends
                       ] if times else []
            return Unwrapped(lines, numbers, stamps_, [], streams_)
        rows = _DOCKER.findall(block)
        if len(rows) != n:
            rows, numbers = _docker_slow(block, first, stats, options)
        texts = _decode_strings(list(map(_GET_LOG, rows)))
        if texts is None:
            rows, numbers = _docker_slow(block, first, stats, options, strict=True)
            texts = _decode_strings(list(map(_GET_LOG, rows))) or []
        streams = [s.decode() for s in map(_GET_STREAM, rows)]
        stamps = list(map(_GET_TIME, rows)) if times else []
        if all(t.endswith("\n") for t in texts):
            lines = _encode("".join(texts)).split(b"\n")[:-1]
        else:
            joined, numbers, streams, stamps = _join(texts, numbers, streams, stamps, stats)
            lines = [_encode(t) for t in joined]
        return _unwrapped(lines, numbers, stamps, streams)

    @staticmethod
    def host_of(path: str, head: bytes) -> str | None:
        """Docker's short id (12 hex digits) when the file sits in its container's folder."""
        parent = PurePath(path).parent.name
        if re.fullmatch(r"[0-9a-f]{64}", parent):
            return parent[:12]
        return None


_STDERR = b'","stream":"stderr",'
_HIGH_U = re.compile(rb"\\u00[89a-fA-F]")


def _unescape(block: bytes) -> bytes | None:
    """A block's JSON escapes decoded in one C pass (``codecs.escape_decode``: ``\\"``,
    ``\\\\``, ``\\n``, ``\\t`` are Python's escapes too); Go's ``\\u00XX`` (control
    bytes, and ``&`` ``<`` ``>``, which Docker escapes) as ``\\xXX``. None when another
    escape is there."""
    with warnings.catch_warnings():
        # An escape Python does not know (\\u, \\/) is a warning: turn it into an error.
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return codecs.escape_decode(block)[0]
        except DeprecationWarning:
            pass
        if b"\\\\u" in block or _HIGH_U.search(block):
            return None  # an escaped backslash before a "u"; a character above U+007F
        try:
            return codecs.escape_decode(block.replace(b"\\u00", b"\\x"))[0]
        except (DeprecationWarning, ValueError):
            return None


def _docker_fast(block: bytes, n: int
                 ) -> tuple[list[bytes], list[str], list[bytes]] | None:
    """The lines, streams and record ends of a block whose records are all whole lines,
    with a few C
    passes instead of a JSON decode a record; None for another shape (the caller then
    decodes each record).

    Decoded, a record is ``{"log":"TEXT`` newline ``","stream":"S","time":"T"}`` newline,
    and TEXT holds no newline of its own (Docker cuts at newlines): split at newlines, the
    texts and the records' ends alternate.
    """
    if not block.startswith(b'{"log":"') or not block.endswith(b'"}\n'):
        return None
    dec = _unescape(block)
    if dec is None:
        return None
    parts = dec.split(b"\n")
    if len(parts) != 2 * n + 1:
        return None  # a piece of a longer line, or a line that is not a record
    texts, ends = parts[0:-1:2], parts[1::2]
    if not all(t[:8] == b'{"log":"' for t in texts) or not all(
            e[:14] == b'","stream":"st' for e in ends):
        return None
    lines = [t[8:] for t in texts]
    streams: list[str] = []
    if _STDERR in block:
        streams = ["stderr" if e[12:18] == b"stderr" else "stdout" for e in ends]
    return lines, streams, ends


def _docker_row(raw: bytes) -> tuple[bytes, bytes, bytes] | None:
    m = _DOCKER.match(raw)
    return None if m is None else (m.group(1), m.group(2), m.group(3))


def _docker_row_strict(raw: bytes) -> tuple[bytes, bytes, bytes] | None:
    """A record whose ``log`` is valid JSON text too."""
    row = _docker_row(raw)
    return row if row is not None and _decode_strings([row[0]]) is not None else None


def _docker_slow(block: bytes, first: int, stats: ParseStats, options: ParseOptions,
                 strict: bool = False) -> tuple[list[tuple[bytes, bytes, bytes]], list[int]]:
    """Record by record: a blank line is skipped, a line that is not a record rejected."""
    return _slow(block, first, stats, options, _docker_row_strict if strict else _docker_row,
                 "not a Docker json-file record")


_CRI = re.compile(rb"^(\d{4}-\d\d-\d\dT[^ \n]+) (stdout|stderr) ([^ \n]*)(?: ([^\n]*))?$", re.M)
_CRI_SNIFF = re.compile(rb"\A\s*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^ \n]* std(?:out|err) [FP]\b")
_GET_TAG, _GET_TEXT = itemgetter(2), itemgetter(3)


class _Cri(LineLayout):
    NAME = "cri"
    DESCRIPTION = "Kubernetes CRI container log (TIME STREAM F|P line; pod name as host)"

    @staticmethod
    def sniff(head: bytes) -> bool:
        """The first line is a CRI record."""
        return _CRI_SNIFF.match(head) is not None

    @staticmethod
    def continued(record: bytes) -> bool:
        """A ``P`` (partial) record."""
        parts = record.split(b" ", 3)
        return len(parts) >= 3 and b"P" in parts[2].split(b":")

    @staticmethod
    def unwrap(block: bytes, first: int, stats: ParseStats, options: ParseOptions,
               times: bool) -> Unwrapped:
        """The lines of a block of records; a line that is not a record is rejected."""
        n = count_lines(block)
        stats.lines += n
        rows = _CRI.findall(block)
        numbers: list[int] = list(range(first, first + n))
        if len(rows) != n:
            rows, numbers = _slow(block, first, stats, options, _cri_row,
                                  "not a CRI log record")
        streams = [s.decode() for s in map(_GET_STREAM, rows)]
        stamps = list(map(_GET_LOG, rows)) if times else []
        tags = list(map(_GET_TAG, rows))
        if tags.count(b"F") == len(tags):
            lines = [t.rstrip(b"\r") for t in map(_GET_TEXT, rows)]
        else:
            texts = [t.decode("utf-8", "surrogateescape")
                     + ("" if b"P" in tag.split(b":") else "\n")
                     for t, tag in zip(map(_GET_TEXT, rows), tags, strict=True)]
            joined, numbers, streams, stamps = _join(texts, numbers, streams, stamps, stats)
            lines = [t.encode("utf-8", "surrogateescape") for t in joined]
        return _unwrapped(lines, numbers, stamps, streams)

    @staticmethod
    def host_of(path: str, head: bytes) -> str | None:
        """The pod: ``/var/log/pods/NAMESPACE_POD_UID/CONTAINER/N.log``, or the kubelet's
        links ``/var/log/containers/POD_NAMESPACE_CONTAINER-ID.log``."""
        p = PurePath(path)
        if len(p.parts) >= 3:
            pod_dir = p.parent.parent.name.split("_")
            if len(pod_dir) == 3 and p.name.endswith(".log"):
                return pod_dir[1]
        parts = p.name.split("_")
        if len(parts) == 3 and p.name.endswith(".log") and re.search(r"-[0-9a-f]{64}\.log$",
                                                                      p.name):
            return parts[0]
        return None


def _cri_row(raw: bytes) -> tuple[bytes, bytes, bytes, bytes] | None:
    m = _CRI.match(raw)
    return None if m is None else (m.group(1), m.group(2), m.group(3), m.group(4) or b"")


# kubectl logs --timestamps / docker logs -t: an RFC 3339 time, a space, the line. Not
# "TIME host tag[pid]: " (journalctl -o short-iso, rsyslog), which parsers/transport.py reads.
# logcli's default output puts the stream's labels between the time and the line
# ("2023-03-20T12:30:00Z {host="web-1", job="nginx"}  line", padded to the longest).
_STAMPED = re.compile(
    rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) "
    rb"(?:\{[^{}\n]*\} +)?([^\n]*)$", re.M)
_SYSLOGISH = re.compile(rb"[^\s:]+ [^\s:\[]+(?:\[\d+\])?: ")


def _stamped_row(raw: bytes) -> tuple[bytes, bytes] | None:
    m = _STAMPED.match(raw)
    return None if m is None else (m.group(1), m.group(2))


class _Timestamped(LineLayout):
    NAME = "timestamped"
    DESCRIPTION = ("kubectl logs --timestamps, docker logs -t, CloudWatch's S3 export, logcli "
                   "(RFC 3339 time, then the line)")

    @staticmethod
    def sniff(head: bytes) -> bool:
        """Most of the first lines are a time and a line that is no syslog header."""
        lines = [ln for ln in head.split(b"\n")[:20] if ln.strip()]
        hits = 0
        for ln in lines:
            m = _STAMPED.match(ln)
            if m is not None and not _SYSLOGISH.match(m.group(2)):
                hits += 1
        return bool(lines) and hits * 2 > len(lines)

    @staticmethod
    def unwrap(block: bytes, first: int, stats: ParseStats, options: ParseOptions,
               times: bool) -> Unwrapped:
        """The lines of a block; a line without the time is rejected."""
        n = count_lines(block)
        stats.lines += n
        rows = _STAMPED.findall(block)
        numbers = list(range(first, first + n))
        if len(rows) != n:
            # (A blank line has no time: skipped as blank, as _STAMPED cannot match it.)
            rows, numbers = _slow(block, first, stats, options, _stamped_row,
                                  "no RFC 3339 time in front of the line")
        lines = [t.rstrip(b"\r") for t in map(itemgetter(1), rows)]
        stamps = [utc_stamp(s) for s in map(_GET_LOG, rows)] if times else []
        return Unwrapped(lines, numbers, stamps, [], [])

    @staticmethod
    def host_of(path: str, head: bytes) -> str | None:
        """None: the output names no host."""
        return None


DOCKER = _Docker()
CRI = _Cri()
TIMESTAMPED = _Timestamped()
