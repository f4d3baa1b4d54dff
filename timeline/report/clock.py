"""How the human-facing writers show a time: UTC by default, or the zone of ``--display-tz``.

The JSON (and the JSONL timeline) always stay in UTC; the Markdown, the HTML and the charts
show times through a :class:`Clock` (in UTC, :mod:`timeline.timefmt`'s formats). Every time
shown carries its zone: ``UTC`` in UTC, else the offset in force at that instant
(``+01:00``), which stays unambiguous across a DST change where an abbreviation
(``CET``/``CEST``, ``IST``) would not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from timeline.errors import UsageError
from timeline.timefmt import fmt_hms, fmt_ts


def _offset(delta: dt.timedelta | None) -> str:
    """``+01:00`` for an offset (``+05:45``, ``-03:30``)."""
    total = int((delta or dt.timedelta()).total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"


@dataclass(frozen=True)
class Clock:
    """Formats epoch seconds (UTC) for people, in one display zone.

    Attributes:
        zone: An IANA zone name (``Europe/Berlin``) or ``UTC``.
    """

    zone: str = "UTC"

    def __post_init__(self) -> None:
        """Refuse an unknown zone now, before any input is read."""
        self.tzinfo  # noqa: B018 - raises UsageError on an unknown name

    @property
    def is_utc(self) -> bool:
        """True when times are shown in UTC (the default)."""
        return self.zone.upper() in ("UTC", "Z", "ETC/UTC")

    @property
    def tzinfo(self) -> dt.tzinfo:
        """The zone as a ``tzinfo``."""
        if self.is_utc:
            return dt.UTC
        try:
            return ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"--display-tz {self.zone}: unknown time zone (use an IANA "
                             "name such as Europe/Berlin, or UTC)") from None

    @property
    def label(self) -> str:
        """How the report names the zone: ``UTC`` or ``Europe/Berlin``."""
        return "UTC" if self.is_utc else self.zone

    def local(self, ts: float) -> dt.datetime:
        """The instant as an aware datetime in the display zone (pandas' rounding, as the
        rest of the report: a time is truncated to the second, never rounded up)."""
        t: dt.datetime = pd.Timestamp(ts, unit="s", tz="UTC").tz_convert(self.tzinfo)
        return t

    def zone_of(self, ts: float) -> str:
        """The zone suffix shown after a time: ``UTC``, or the offset at that instant."""
        return "UTC" if self.is_utc else _offset(self.local(ts).utcoffset())

    def stamp(self, ts: float) -> str:
        """``2023-03-20 12:30:02 UTC`` (or ``2023-03-20 13:30:02 +01:00``)."""
        if self.is_utc:
            return fmt_ts(ts)
        return f"{self.local(ts).strftime('%Y-%m-%d %H:%M:%S')} {self.zone_of(ts)}"

    def hms(self, ts: float) -> str:
        """``12:30:02 UTC`` (or ``13:30:02 +01:00``)."""
        if self.is_utc:
            return fmt_hms(ts)
        return f"{self.local(ts).strftime('%H:%M:%S')} {self.zone_of(ts)}"

    def hm(self, ts: float) -> str:
        """``12:30`` without the zone: for axis ticks, whose axis names the zone."""
        return self.local(ts).strftime("%H:%M")


UTC = Clock()
