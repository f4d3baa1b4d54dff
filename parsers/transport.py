"""Transport headers in front of log lines: syslog, journald and Docker.

The same Nginx error-log entries arrive through a transport that puts its own header in front
of each line; as lnav's ``syslog_log`` format hands a line's body to another format,
:func:`prefix` finds the header and where the body starts, and the body's format
(``parsers/nginx_error.py``) reads the rest::

    <131>Mar 20 12:30:02 web-3 nginx: 2023/03/20 12:30:02 [error] 4211#4211: ...   (syslog)
    Aug 15 11:08:19 web-3 nginx[19610]: nginx: [emerg] bind() to 0.0.0.0:80 failed ...  (journald)
    web_1  | 2023/03/20 12:30:02 [error] 7#7: ...                      (docker compose logs)
    2023-03-20T12:30:02.123456789Z 2023/03/20 12:30:02 [error] 7#7: ...   (docker logs -t)

A header's time is read by :class:`Clock`: a syslog time has no year, which comes from the
body's own timestamps, the year of the other sources (``year_hint``) or the current year,
and the header's clock may be shifted from the body's (a relay in another zone).
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from typing import NamedTuple

from parsers.base import decode, valid_time

# Transport headers (tried only when _HEAD fails at the line start):
# syslog (ngx_syslog_add_header "<PRI>Mmm dd HH:MM:SS host tag: ", day space-padded, host
# left out with "nohostname"), rsyslog files without <PRI>, and journalctl's default "short"
# output "Aug 15 11:08:19 host nginx[19610]: " (also "short-precise" with microseconds).
_SYSLOG = re.compile(
    rb"(?:<\d{1,3}>)?((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d)"
    rb"(?:\.\d+)? (?:([^\s:]+) )?([^\s:\[]+)(?:\[(\d+)\])?: "
)
# An ISO 8601 time with its year: "docker logs -t" / "docker compose logs -t" (RFC 3339 UTC,
# nanoseconds), journalctl "-o short-iso" and rsyslog's high-precision files, the last two
# followed by "host tag[pid]: ". The offset is not used (see Clock).
_ISO = re.compile(
    rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? "
    rb"(?:([^\s:]+) ([^\s:\[]+)(?:\[(\d+)\])?: )?"
)
# "docker compose logs" / foreman: "web_1  | ", "web-1  | ", "nginx.1    | ", maybe coloured.
_COMPOSE = re.compile(
    rb"(?:\x1b\[[\d;]*m)*([A-Za-z0-9][\w.-]*) *(?:\x1b\[[\d;]*m)*\|(?:\x1b\[[\d;]*m)*"
    rb"(?: |(?=\r?\n|\Z))"
)
_MONTHS = {
    m: i for i, m in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)
}


class Prefix(NamedTuple):
    """A transport header in front of the Nginx text of a line."""

    #: Offset of the Nginx text in the line.
    end: int
    #: Who wrote the line (the header without its time): continuation lines of a multi-line
    #: entry must come from the same writer; also the key of the header's attrs.
    source: bytes
    #: syslog/journald host, compose service, pid from "tag[pid]".
    host: bytes | None
    container: bytes | None
    pid: bytes | None
    #: A syslog time without a year, ``Mar  9 12:30:02``.
    bsd: bytes | None
    #: An ISO 8601 time with its year, ``2023-03-20T12:30:02``.
    iso: bytes | None


def prefix(raw: bytes) -> Prefix | None:
    """The transport header at the start of ``raw``, or None (a plain line)."""
    s = _SYSLOG.match(raw)
    if s is not None:
        bsd, host, tag, pid = s.groups()
        source = raw[s.start(2) if host is not None else s.start(3) : s.end()]
        return Prefix(s.end(), source, host, None, pid, bsd, None)
    c = _COMPOSE.match(raw)
    pos = 0 if c is None else c.end()
    container = None if c is None else c.group(1)
    i = _ISO.match(raw, pos)
    if i is not None:
        iso, host, tag, pid = i.groups()
        source = raw[:pos] if host is None else raw[:pos] + raw[i.start(2) : i.end()]
        return Prefix(i.end(), source, host, container, pid, None, iso)
    if c is not None:
        return Prefix(pos, raw[:pos], None, container, None, None, None)
    return None


def header_attrs(pfx: Prefix) -> dict[str, str]:
    """The attrs a header gives every entry behind it: syslog host, compose service."""
    attrs = {}
    if pfx.host is not None:
        attrs["syslog_host"] = decode(pfx.host)
    if pfx.container is not None:
        attrs["container"] = decode(pfx.container)
    return attrs


def wall_time(text: bytes) -> float | None:
    """A wall-clock time with its year, ``2023-03-20T12:30:02`` (ISO 8601) or ``2023/03/20
    12:30:02`` (Nginx), as epoch seconds read as UTC; None when out of range."""
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hh, mm, ss = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if not valid_time(year, month, day, hh, mm, ss):
        return None
    return float(calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)))


def journald_marker(raw: bytes) -> bool:
    """``-- Logs begin at ... --``, ``-- Boot 4a8c... --``, ``-- No entries --`` (journalctl)."""
    return raw.startswith(b"-- ") and raw.rstrip().endswith(b" --")


#: The current time (a module attribute so that tests can fix it).
_now: Callable[[], float] = time.time

_HALF_YEAR = 183 * 86400.0


class Clock:
    """Times from transport headers: the missing year of syslog times, and the shift between
    the header's clock and Nginx's, learned from the first line that carries both."""

    def __init__(self, year_hint: int | None) -> None:
        self.hint = None if year_hint is None else int(year_hint)
        #: Seconds to add to a header time to get Nginx's clock; None until learned.
        self.shift: float | None = None
        self.shift_line = 0
        self.shifted = 0
        #: How many entries got which year, and how it was found.
        self.years: dict[tuple[int, str], int] = {}
        #: The last syslog time read: (time, year, how the year was found).
        self.last: tuple[float, int, str] | None = None

    def learn(self, pfx: Prefix, ts: float, lineno: int) -> None:
        """Learn the shift from a line whose header time and Nginx time ``ts`` are both known."""
        if pfx.iso is not None:
            wall = wall_time(pfx.iso)
        elif pfx.bsd is not None:
            wall = _bsd_time(time.gmtime(ts).tm_year, pfx.bsd)
            if wall is not None:
                wall = _nearest_year(wall, ts, pfx.bsd)[0]
        else:
            return
        if wall is None:
            return
        diff = ts - wall
        quarters = round(diff / 900)
        # A zone offset (a whole quarter hour, at most 14 h) plus a few minutes of relay delay.
        ok = abs(diff - quarters * 900) <= 300 and abs(quarters) <= 56
        self.shift = quarters * 900.0 if ok else 0.0
        self.shift_line = lineno

    def header_time(
        self, pfx: Prefix, stamp_ts: float | None, prev_ts: float | None
    ) -> float | None:
        """The time of a header as Nginx's clock, or None when it has none (or an invalid one).

        ``stamp_ts`` is the last Nginx timestamp of the file so far, ``prev_ts`` the time of
        the previous entry (both None when there is none).

        A syslog time takes its year from ``year_hint``, else from the last Nginx timestamp,
        else from the current UTC year; then it is moved to the year that puts it within
        half a year of the entries before it (the year turned between them).
        """
        if pfx.iso is not None:
            wall = wall_time(pfx.iso)
            if wall is None:
                return None
            ts = wall
        elif pfx.bsd is not None:
            last = self.last
            ref = last[0] if last is not None else None
            # The file's own Nginx timestamps are the best evidence; then the year of the
            # other sources read with it (the access logs); then the current year.
            if stamp_ts is not None:
                year, how = time.gmtime(stamp_ts).tm_year, "the last Nginx timestamp before it"
                ref = prev_ts
            elif self.hint is not None:
                year, how = self.hint, "the access logs read with it"
            else:
                year, how = time.gmtime(_now()).tm_year, "the current UTC year"
            first = _bsd_time(year, pfx.bsd)
            if first is None:
                return None
            ts = first
            if ref is not None:
                ts, moved = _nearest_year(ts, ref, pfx.bsd)
                if moved != year:
                    year = moved
                    if last is not None and last[1] == year:
                        how = last[2]  # the year of the previous header time, however found
                    else:
                        how += " (across a new year)"
            elif how == "the current UTC year" and ts > _now() + 2 * 86400:
                # A log line is not from the future: last August's lines read in February.
                year -= 1
                ts = _bsd_time(year, pfx.bsd) or ts
                how = "the current UTC year minus one (the date is still to come this year)"
            self.last = (ts, year, how)
            key = (year, how)
            self.years[key] = self.years.get(key, 0) + 1
        else:
            return None
        if self.shift:
            ts += self.shift
            self.shifted += 1
        return ts

    def notes(self) -> list[str]:
        """The remarks for ``stats.notes``: years assumed, shift applied."""
        out = []
        for (year, how), n in self.years.items():
            what = "entry" if n == 1 else "entries"
            out.append(
                f"year {year} inferred from {how} for {n} {what} timed by a syslog/journald "
                "header (it has no year)"
            )
        if self.shifted and self.shift:
            sign = "+" if self.shift > 0 else "-"
            hh, mm = divmod(int(abs(self.shift)) // 60, 60)
            what = "entry" if self.shifted == 1 else "entries"
            out.append(
                f"header times shifted by {sign}{hh:02d}:{mm:02d} to the Nginx clock for "
                f"{self.shifted} {what} (learned from line {self.shift_line})"
            )
        return out


def _bsd_time(year: int, bsd: bytes) -> float | None:
    """A syslog time (``Mar  9 12:30:02``) in ``year`` as epoch seconds read as UTC."""
    month, day = _MONTHS[bsd[0:3]], int(bsd[4:6])
    hh, mm, ss = int(bsd[7:9]), int(bsd[10:12]), int(bsd[13:15])
    if not valid_time(year, month, day, hh, mm, ss):
        return None
    return float(calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)))


def _nearest_year(ts: float, ref: float, bsd: bytes) -> tuple[float, int]:
    """``ts`` moved by a year when it is over half a year from ``ref`` (Dec 31 -> Jan 1)."""
    year = time.gmtime(ts).tm_year
    if ts < ref - _HALF_YEAR:
        year += 1
    elif ts > ref + _HALF_YEAR:
        year -= 1
    else:
        return ts, year
    return _bsd_time(year, bsd) or ts, year
