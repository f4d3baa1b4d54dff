"""journald's exports: ``journalctl -o json`` (one JSON object a line) and ``-o export``
(systemd's Journal Export Format: ``KEY=value`` lines, a blank line after each entry, and a
field that is not text as ``KEY``, a 64-bit little-endian length, the bytes and a newline).

The fields used: ``MESSAGE`` (the Nginx line; in JSON an array of byte values when it is
not valid UTF-8, null when too large), ``__REALTIME_TIMESTAMP`` (microseconds since the
epoch, UTC), ``_HOSTNAME`` (the host), and ``SYSLOG_IDENTIFIER``/``_COMM``/``_SYSTEMD_UNIT``/
``CONTAINER_NAME`` to tell Nginx's entries from other programs' (a whole journal holds
every service's): an entry is Nginx's when one of those names contains ``nginx`` or its
message has the shape of an Nginx line; the others are skipped.

Nginx gets into journald through ``access_log syslog:server=unix:/dev/log`` (the line is
the message) or its stderr under systemd or Docker's journald driver.
"""

from __future__ import annotations

import re
from typing import Any

from parsers.base import ParseOptions, ParseStats
from parsers.wrap import (
    DocumentLayout,
    LineLayout,
    Unwrapped,
    epoch_stamp,
    first_line,
    json_lines,
)

_NAMES = ("SYSLOG_IDENTIFIER", "_COMM", "_SYSTEMD_UNIT", "CONTAINER_NAME")
# An access line's time, an error line's head, Nginx's stderr.
_NGINX_SHAPE = re.compile(
    rb"[^\n]{0,300}\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"
    rb"|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] |nginx: \[")
OTHER_REASON = "journald entry of another program"


def _message(value: Any) -> bytes | None:
    """``MESSAGE`` as bytes: text, or an array of byte values (not valid UTF-8)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    if isinstance(value, bytes):
        return value
    return None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else ""


class _Entries:
    """Entries turned into inner lines (shared by both exports)."""

    def __init__(self, stats: ParseStats, options: ParseOptions, times: bool) -> None:
        self.stats, self.options, self.times = stats, options, times
        self.out = Unwrapped([], [], [], [], [])

    def add(self, entry: dict[str, Any], number: int, raw: bytes) -> None:
        """One entry: its message's lines, or a skip or reject with the reason."""
        stats = self.stats
        msg = _message(entry.get("MESSAGE"))
        if msg is None:
            stats.reject(number, "journald entry without a MESSAGE", raw, self.options)
            return
        names = " ".join(_text(entry.get(k)) for k in _NAMES).lower()
        if "nginx" not in names and not _NGINX_SHAPE.match(msg):
            stats.skip(OTHER_REASON)
            return
        try:
            usec = int(_text(entry.get("__REALTIME_TIMESTAMP")) or "x")
        except ValueError:
            stats.reject(number, "journald entry without __REALTIME_TIMESTAMP", raw,
                         self.options)
            return
        parts = msg.rstrip(b"\n").split(b"\n")
        # A message of several lines (a FastCGI stderr copy) counts as that many lines.
        stats.lines += len(parts) - 1
        host = _text(entry.get("_HOSTNAME"))
        stamp = epoch_stamp(usec / 1e6) if self.times else b""
        for part in parts:
            self.out.lines.append(part.rstrip(b"\r"))
            self.out.numbers.append(number)
            self.out.hosts.append(host)
            if self.times:
                self.out.stamps.append(stamp)


class _Json(LineLayout):
    NAME = "journald-json"
    DESCRIPTION = "journalctl -o json (MESSAGE, __REALTIME_TIMESTAMP, _HOSTNAME per line)"

    @staticmethod
    def sniff(head: bytes) -> bool:
        """The first line is an object with ``__REALTIME_TIMESTAMP`` and ``MESSAGE``."""
        first = first_line(head)
        return (first.startswith(b"{") and b'"__REALTIME_TIMESTAMP"' in first
                and b'"MESSAGE"' in first)

    @staticmethod
    def unwrap(block: bytes, first: int, stats: ParseStats, options: ParseOptions,
               times: bool) -> Unwrapped:
        """The Nginx lines of a block of entries."""
        entries = _Entries(stats, options, times)
        for number, doc, raw in json_lines(block, first, stats, options, "not valid JSON"):
            if not isinstance(doc, dict):
                stats.reject(number, "not a journald entry (JSON object)", raw, options)
                continue
            entries.add(doc, number, raw)
        return entries.out

    @staticmethod
    def host_of(path: str, head: bytes) -> str | None:
        """The ``_HOSTNAME`` of the first entry."""
        m = re.search(rb'"_HOSTNAME"\s*:\s*"([^"\\]+)"', head.split(b"\n", 1)[0])
        return m.group(1).decode("utf-8", "replace") if m else None


_EXPORT_SNIFF = re.compile(rb"\A(?:[A-Z0-9_]+(?:=[^\n]*)?\n){0,40}?__REALTIME_TIMESTAMP=\d+\n")


class _Export(DocumentLayout):
    NAME = "journald-export"
    DESCRIPTION = "journalctl -o export (systemd's Journal Export Format)"

    @staticmethod
    def head_block(head: bytes) -> bytes:
        """The head's whole entries (up to its last blank line)."""
        cut = head.rfind(b"\n\n")
        return head[: cut + 2] if cut >= 0 else head

    @staticmethod
    def sniff(head: bytes) -> bool:
        """``KEY=value`` lines with ``__REALTIME_TIMESTAMP`` in the first entry."""
        return head.startswith((b"__CURSOR=", b"__REALTIME_TIMESTAMP=")) and bool(
            _EXPORT_SNIFF.match(head))

    @staticmethod
    def unwrap(block: bytes, first: int, stats: ParseStats, options: ParseOptions,
               times: bool) -> Unwrapped:
        """The Nginx lines of the entries; entries are numbered 1, 2, 3..."""
        entries = _Entries(stats, options, times)
        number = first
        for entry, raw in _export_entries(block):
            stats.lines += 1
            if entry is None:
                stats.reject(number, "entry cut short (a binary field's length runs past "
                             "the end of the file)", raw, options)
            else:
                entries.add(entry, number, raw)
            number += 1
        return entries.out

    @staticmethod
    def host_of(path: str, head: bytes) -> str | None:
        """The ``_HOSTNAME`` of the first entry."""
        m = re.search(rb"^_HOSTNAME=([^\n]+)$", head.split(b"\n\n", 1)[0], re.M)
        return m.group(1).decode("utf-8", "replace") if m else None


def _export_entries(data: bytes) -> list[tuple[dict[str, bytes] | None, bytes]]:
    """The entries of an export (None for one cut short), each with its start as text."""
    out: list[tuple[dict[str, bytes] | None, bytes]] = []
    pos, size = 0, len(data)
    entry: dict[str, bytes] = {}
    start = 0
    while pos < size:
        nl = data.find(b"\n", pos)
        if nl < 0:
            nl = size
        line = data[pos:nl]
        if not line:
            if entry:
                out.append((entry, data[start:pos]))
            entry, pos, start = {}, nl + 1, nl + 1
            continue
        key, eq, value = line.partition(b"=")
        if eq:
            entry[key.decode("ascii", "replace")] = value
            pos = nl + 1
            continue
        # A binary field: KEY\n, little-endian u64 length, the bytes, \n.
        if nl + 9 > size:
            out.append((None, data[start:size]))
            return out
        length = int.from_bytes(data[nl + 1 : nl + 9], "little")
        end = nl + 9 + length
        if end > size:
            out.append((None, data[start:size]))
            return out
        entry[key.decode("ascii", "replace")] = data[nl + 9 : end]
        pos = end + 1
    if entry:
        out.append((entry, data[start:size]))
    return out


JSON = _Json()
EXPORT = _Export()
WRAPPERS = (JSON, EXPORT)
