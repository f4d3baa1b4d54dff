"""Clock skew between a proxy and the backends behind it, from requests seen in both.

A request a proxy passes on is logged twice: at the proxy (``$remote_addr`` the user) and
at the backend (``$http_x_forwarded_for`` the user, ``$remote_addr`` the proxy). Its
signature, the user's address, the method and the path (not the protocol: a proxy speaks
HTTP/1.0 to its upstreams by default), is the same in both. The backend logs when it has
answered, the proxy a moment later, so with true clocks the backend's time minus the
proxy's is zero or a little below; the median of these differences over many requests is
the backend's clock offset against the proxy's.

Mergeable, in bounded memory: :func:`skew_chunk` keeps, per host, the requests whose
signature hashes under a threshold (the same threshold on every host, so a request kept
at the proxy is kept at the backend too), :meth:`SkewPartial.merge` adds two, and
:func:`finish_skew` pairs the signatures seen exactly once on both sides (a repeated
signature could pair the wrong two requests) within :data:`MAX_OFFSET_S`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from timeline.model import ClockSkew

#: Offsets beyond this are not looked for (and pairs further apart are not the same
#: request).
MAX_OFFSET_S = 300.0
#: Signatures are kept when their CRC-32 is below ``fraction * 2**32``.
HASH_SPACE = 2**32
#: A backend's offset is estimated from at least this many pairs.
MIN_PAIRS = 20
#: Differences this far from their median enter the mean that refines it.
NEAR_MEDIAN_S = 2.0
#: Offsets over this many seconds are corrected (the logs' resolution is one second).
CORRECT_OVER_S = 1.0

#: (user address, method, path)
Signature = tuple[str, str, str]


@dataclass
class SkewPartial:
    """Per host, the sampled signatures and the times they were logged at."""

    #: host -> signature -> times
    seen: dict[str, dict[Signature, list[float]]] = field(default_factory=dict)
    #: host -> whether its rows are forwarded (True) or direct (False), counted
    forwarded: dict[str, list[int]] = field(default_factory=dict)

    def merge(self, other: SkewPartial) -> SkewPartial:
        """Add ``other`` into this partial and return it."""
        for host, sigs in other.seen.items():
            mine = self.seen.setdefault(host, {})
            for sig, times in sigs.items():
                mine.setdefault(sig, []).extend(times)
        for host, (f, n) in other.forwarded.items():
            c = self.forwarded.setdefault(host, [0, 0])
            c[0] += f
            c[1] += n
        return self


def _first_address(xff: str) -> str:
    """The user's address: the first of ``X-Forwarded-For``."""
    return xff.split(",", 1)[0].strip()


def skew_chunk(rows: pd.DataFrame, fraction: float) -> SkewPartial:
    """The partial of one chunk: rows whose signature hashes under ``fraction``."""
    part = SkewPartial()
    if rows.empty:
        return part
    limit = int(fraction * HASH_SPACE)
    xff = rows["forwarded_for"].astype(str).to_numpy()
    fwd = (xff != "") & (xff != "-")
    users = np.where(fwd, [_first_address(x) for x in xff], rows["client"].astype(str))
    hosts = rows["host"].astype(str).to_numpy()
    for h in np.unique(hosts).tolist():
        mine = hosts == h
        part.forwarded[h] = [int(fwd[mine].sum()), int(mine.sum())]
    for h, u, m, p, t in zip(hosts, users, rows["method"].astype(str),
                             rows["path"].astype(str), rows["ts"].to_numpy(dtype=float),
                             strict=True):
        sig = (str(u), m, p)
        if zlib.crc32("\x1f".join(sig).encode("utf-8", "surrogateescape")) >= limit:
            continue
        part.seen.setdefault(str(h), {}).setdefault(sig, []).append(float(t))
    return part


def finish_skew(part: SkewPartial) -> list[ClockSkew]:
    """Each backend's offset against the proxy it shares most requests with."""
    direct = sorted(h for h, (f, n) in part.forwarded.items() if n and f / n <= 0.5)
    behind = sorted(h for h, (f, n) in part.forwarded.items() if n and f / n > 0.5)
    out: list[ClockSkew] = []
    for b in behind:
        best: tuple[int, str, list[float]] | None = None
        for p in direct:
            diffs = _pairs(part.seen.get(p, {}), part.seen.get(b, {}))
            if best is None or len(diffs) > best[0]:
                best = (len(diffs), p, diffs)
        if best is None or best[0] < MIN_PAIRS:
            continue
        d = np.asarray(best[2])
        med = float(np.median(d))
        q1, q3 = (float(x) for x in np.percentile(d, [25, 75]))
        # Both logs write whole seconds, so the differences are whole seconds and so is
        # their median; but a difference of truncated times is, on average, the true one
        # (the fraction where each second starts is uniform): the mean of the differences
        # near the median (pairs that are not the same request left out) recovers it.
        near = d[np.abs(d - med) <= NEAR_MEDIAN_S]
        offset = float(near.mean()) if near.size else med
        out.append(ClockSkew(host=b, reference=best[1], offset_s=round(offset, 3),
                             spread_s=round(q3 - q1, 3), pairs=best[0],
                             corrected=abs(offset) > CORRECT_OVER_S))
    return out


def _pairs(proxy: dict[Signature, list[float]], backend: dict[Signature, list[float]]
           ) -> list[float]:
    """Backend time minus proxy time of the signatures seen once on each side."""
    out = []
    for sig in sorted(proxy.keys() & backend.keys()):
        tp, tb = proxy[sig], backend[sig]
        if len(tp) == 1 and len(tb) == 1 and abs(tb[0] - tp[0]) <= MAX_OFFSET_S:
            out.append(tb[0] - tp[0])
    return out


def correct_rows(rows: pd.DataFrame, skews: list[ClockSkew]) -> pd.DataFrame:
    """``rows`` with each corrected host's times moved back by its offset, in time order."""
    fix = {s.host: s.offset_s for s in skews if s.corrected}
    if rows.empty or not fix:
        return rows
    hosts = rows["host"].astype(str).to_numpy()
    shift = np.zeros(len(rows))
    for h, off in fix.items():
        shift[hosts == h] = off
    out = rows.copy()
    out["ts"] = out["ts"].to_numpy(dtype=float) - shift
    return out.sort_values(["ts", "source", "line"], kind="stable").reset_index(drop=True)


def correct_events(events: pd.DataFrame, skews: list[ClockSkew]) -> pd.DataFrame:
    """The events with each corrected host's times moved back by its offset."""
    fix = {s.host: s.offset_s for s in skews if s.corrected}
    if events.empty or not fix:
        return events
    out = events.copy()
    hosts = out["host"].astype(str).to_numpy()
    shift = np.zeros(len(out))
    for h, off in fix.items():
        shift[hosts == h] = off
    out["ts"] = out["ts"].to_numpy(dtype=float) - shift
    return out.sort_values(["ts", "source_file", "line"], kind="stable").reset_index(drop=True)
