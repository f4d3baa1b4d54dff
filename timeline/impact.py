"""Impact of an incident: users and requests hit inside its window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from timeline.aggregate import is_client_error, is_failed
from timeline.model import Impact, Incident


def measure_impact(
    inc: Incident,
    rows: pd.DataFrame,
    probe: np.ndarray,
    edge_hosts: list[str],
    per_host: pd.DataFrame,
    fail_by_status: dict[int, int],
    t0: float,
    bin_s: int,
    silent_users: set[str] | None = None,
) -> None:
    """Fill ``inc.impact`` and the peak bin from the rows around the window.

    ``silent_users`` are the users a silent edge host served just before it went silent:
    while Nginx itself is down nothing is logged, so they are the estimate of who tried and
    got nothing. They are added to both counts and reported as an estimate.

    Users are client addresses at the edge tier (probes excluded); a user is affected when
    at least one of their requests inside the window failed. Requests a silent edge host did
    not serve are estimated from its usual rate and reported apart, as an estimate.
    """
    imp = Impact()
    inc.impact = imp
    if rows.empty:
        return
    ts = rows["ts"].to_numpy(dtype=float)
    status = rows["status"].to_numpy(dtype=np.int64)
    hosts = rows["host"].astype(str).to_numpy()
    clients = rows["client"].astype(str).to_numpy()
    # Client errors are candidates too: they count when their status surged (a default
    # server answering 404), never as background.
    hard = is_failed(status)
    candidate = hard | is_client_error(status)
    inwin = (ts >= inc.start) & (ts <= inc.end)
    is_edge = np.isin(hosts, edge_hosts) & ~probe
    sel = inwin & is_edge
    surged = surging_statuses(status[sel & candidate], fail_by_status, inc, per_host, bin_s)
    if surged:
        # Failures of a status that did not surge (the usual trickle of 500s) are the
        # background, not the incident: counted apart so they do not inflate the impact.
        failed = candidate & np.isin(status, surged)
        imp.background_failed = int((sel & hard & ~failed).sum())
    else:
        failed = hard
    imp.failing_statuses = surged
    imp.requests_total = int(sel.sum())
    imp.requests_failed = int((sel & failed).sum())
    active = set(pd.unique(clients[sel]).tolist())
    hit = set(pd.unique(clients[sel & failed]).tolist())
    if silent_users:
        imp.users_estimated = len(silent_users - hit)
        active |= silent_users
        hit |= silent_users
    imp.users_total = len(active)
    imp.users_affected = len(hit)
    if imp.requests_failed:
        per_client = pd.Series(clients[sel & failed]).value_counts()
        imp.top_client_share = float(per_client.iloc[0]) / imp.requests_failed
    for host in sorted(set(hosts[inwin].tolist()) | set(inc.affected_hosts)):
        mine = inwin & (hosts == host) & ~probe
        imp.by_host[str(host)] = {
            "requests": int(mine.sum()),
            "failed": int((mine & failed).sum()),
        }
    # Traffic a silent edge host never logged: its usual rate times the silent bins. A
    # silent backend's traffic shows up as failures at the proxy instead: not lost.
    lost = 0
    b0 = int((inc.start - t0) // bin_s)
    b1 = int((inc.end - t0) // bin_s)
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
    # The peak: the bin with the most failed edge requests inside the window.
    if imp.requests_failed:
        fb = ((ts[sel & failed] - t0) // bin_s).astype(np.int64)
        counts = np.bincount(fb - fb.min())
        pb = int(np.argmax(counts)) + int(fb.min())
        inc.peak_ts = t0 + pb * bin_s
        inc.peak_failed = int(counts[pb - int(fb.min())])
        inc.peak_total = int((is_edge & (((ts - t0) // bin_s).astype(np.int64) == pb)).sum())


def surging_statuses(
    fail_status_in: np.ndarray,
    fail_by_status: dict[int, int],
    inc: Incident,
    per_host: pd.DataFrame,
    bin_s: int,
) -> list[int]:
    """Failure statuses whose count inside the window is well above their rate outside it.

    Args:
        fail_status_in: the status of each failed edge request inside the window.
        fail_by_status: failed edge requests per status over the whole input.
    """
    if fail_status_in.size == 0:
        return []
    span = max(len(per_host) * bin_s, 1)
    dur = max(inc.end - inc.start, 1.0)
    outside = max(span - dur, 1.0)
    codes, n_in = np.unique(fail_status_in, return_counts=True)
    out = []
    for code, n in zip(codes.tolist(), n_in.tolist(), strict=True):
        expected = max(0, fail_by_status.get(int(code), 0) - n) * dur / outside
        if n >= 3 and n > 3 * expected + 1:
            out.append(int(code))
    return out
