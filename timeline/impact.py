"""Impact of an incident: users and requests hit inside its window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from timeline.model import Impact, Incident


def measure_impact(
    inc: Incident,
    req: pd.DataFrame,
    ts: np.ndarray,
    failed: np.ndarray,
    is_edge: np.ndarray,
    host_arr: np.ndarray,
    probe: np.ndarray,
    per_host: pd.DataFrame,
    t0: float,
    bin_s: int,
) -> None:
    """Fill ``inc.impact`` and the peak minute.

    Users are client addresses at the edge tier (probes excluded); a user is affected when
    at least one of their requests inside the window failed. Requests a silent host did not
    serve are estimated from its baseline and reported apart, as an estimate.
    """
    imp = Impact()
    if req.empty:
        inc.impact = imp
        return
    inwin = (ts >= inc.start) & (ts <= inc.end)
    sel = inwin & is_edge
    clients = req["client"].to_numpy()
    status = req["status"].to_numpy()
    surged = surging_statuses(status, sel & failed, ~inwin & is_edge & failed, inc, ts)
    if surged:
        # Failures of a status that did not surge (the usual trickle of 500s) are the
        # background, not the incident: counted apart so they do not inflate the impact.
        incident_fail = failed & np.isin(status, surged)
        imp.background_failed = int((sel & failed & ~incident_fail).sum())
        failed = incident_fail
    imp.failing_statuses = surged
    imp.requests_total = int(sel.sum())
    imp.requests_failed = int((sel & failed).sum())
    users = sel & ~probe
    imp.users_total = int(len(pd.unique(clients[users])))
    imp.users_affected = int(len(pd.unique(clients[users & failed])))
    for host in sorted(set(host_arr[inwin].tolist()) | set(inc.affected_hosts)):
        mine = inwin & (host_arr == host) & ~probe
        imp.by_host[str(host)] = {
            "requests": int(mine.sum()),
            "failed": int((mine & failed).sum()),
        }
    # Traffic a silent edge host never logged: its usual rate times the silent bins. A
    # silent backend's traffic shows up as failures at the proxy instead: not lost.
    lost = 0
    b0 = int((inc.start - t0) // bin_s)
    b1 = int((inc.end - t0) // bin_s)
    edge_hosts = set(host_arr[is_edge].tolist())
    for host in inc.affected_hosts:
        if host not in edge_hosts:
            continue
        col = per_host[host].to_numpy(dtype=float)
        outside = np.ones(len(col), dtype=bool)
        outside[b0 : b1 + 1] = False
        base = float(np.mean(col[outside])) if outside.any() else 0.0
        seen = float(col[b0 : b1 + 1].sum())
        lost += max(0, round(base * (b1 - b0 + 1) - seen))
    imp.requests_lost_estimate = lost
    inc.impact = imp
    # The peak: the bin with the most failed edge requests inside the window.
    if imp.requests_failed:
        bins = ((ts[sel & failed] - t0) // bin_s).astype(np.int64)
        counts = np.bincount(bins)
        pb = int(np.argmax(counts))
        inc.peak_ts = t0 + pb * bin_s
        inc.peak_failed = int(counts[pb])
        bsel = is_edge & ~probe & (((ts - t0) // bin_s).astype(np.int64) == pb)
        inc.peak_total = int(bsel.sum())


def surging_statuses(
    status: np.ndarray, fail_in: np.ndarray, fail_out: np.ndarray, inc: Incident, ts: np.ndarray
) -> list[int]:
    """Failure statuses whose rate inside the window is well above their rate outside it."""
    if not fail_in.any():
        return []
    span = float(ts.max() - ts.min()) if len(ts) else 0.0
    dur = max(inc.end - inc.start, 1.0)
    outside = max(span - dur, 1.0)
    codes, n_in = np.unique(status[fail_in], return_counts=True)
    out = []
    for code, n in zip(codes.tolist(), n_in.tolist(), strict=True):
        expected = int((status[fail_out] == code).sum()) * dur / outside
        if n >= 3 and n > 3 * expected + 1:
            out.append(int(code))
    return out
