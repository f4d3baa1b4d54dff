"""How times are shown: the one place the writers, the narrative and the CLI format them.

A leaf module (it imports nothing from ``timeline``) so that the writers need not import
the narrative to print a time. Times are epoch seconds UTC; every string carries its zone.
"""

from __future__ import annotations

import math

import pandas as pd


def fmt_ts(ts: float) -> str:
    """``2023-03-20 12:30:02 UTC``."""
    return pd.Timestamp(ts, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_hms(ts: float) -> str:
    """``12:30:02 UTC``."""
    return pd.Timestamp(ts, unit="s", tz="UTC").strftime("%H:%M:%S UTC")


def fmt_clock(ts: float) -> str:
    """``12:31:00 UTC``, or ``12:31:00.250 UTC`` when the time has a fraction (a request's
    start computed from ``$request_time``)."""
    t = pd.Timestamp(ts, unit="s", tz="UTC")
    return t.strftime("%H:%M:%S") + (f".{t.microsecond // 1000:03d}"
                                     if not math.isclose(ts, math.floor(ts)) else "") + " UTC"
