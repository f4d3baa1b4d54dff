"""Cross-host links: which input host an upstream address is, and what that host's own
logs say when the proxy's errors toward it begin.

A proxy's error log names the peer it failed to reach::

    connect() failed (111: Connection refused) while connecting to upstream, client: ...,
    upstream: "http://10.0.0.3:80/api/cart"

and its access log may carry ``$upstream_addr``. When the backend's own logs are in the
input too, the postmortem should say what *they* show at that moment (a reload, a crash,
silence). An address is tied to a host, in this order:

1. the ``--nginx-conf`` upstream blocks: ``server web-3:80;`` names a host directly, and an
   upstream group name in the logs (``no live upstreams ... upstream: "http://backend/"``)
   is tied when all its servers name one input host;
2. the host part of the address is an input host's name (case-insensitive; ``web-3.prod``
   matches ``web-3`` by its first label);
3. timing: the one host whose access log went silent, or started failing, within a bin of
   the first error to the address and came back within a bin of the last. Only when
   exactly one host fits; the link then says it was inferred from timing.

Nothing is guessed: an address that none of these ties to exactly one host is reported as
not tied to a host, with the reason.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from timeline.aggregate import is_failed
from timeline.ingest import Dataset
from timeline.model import ErrorGroup, Link
from timeline.nginxconf import NginxConf, Stmt

#: Error-log kinds that say a request to an upstream failed.
UPSTREAM_ERROR_KINDS = frozenset({
    "upstream_refused", "upstream_reset", "upstream_closed", "no_live_upstreams",
    "upstream_disabled", "upstream_timeout", "upstream_bad_response",
})
#: A silent host counts only when its usual rate predicts at least this many requests in
#: the silence (P(0 requests) = e^-5 < 1% for a Poisson rate): a host that logs a request
#: an hour is silent most of the time and proves nothing.
MIN_EXPECTED = 5.0
#: A failing host: at least this many failures, at least this share of its requests.
MIN_FAILED = 5
FAILING_SHARE = 0.5
#: ...and before and after the errors it was healthy: at most this share failed.
HEALTHY_SHARE = 0.2
#: An address seen only in access rows (no error-log line) is linked when at least this
#: many of its requests failed, and this share of them.
ACCESS_MIN_FAILED = 5
ACCESS_FAILED_SHARE = 0.2
#: At most this many access-only addresses get a timeline entry, most failures first.
ACCESS_TOP = 5
#: Links shown under one timeline entry (a group of errors toward many peers).
LINKS_PER_ENTRY = 5

_PEER = re.compile(r"^[a-z][a-z0-9+.-]*://([^/]+)")
_UPSTREAM_SEP = re.compile(r", | : ")


class Action(Protocol):
    """A lifecycle action on a host (see ``timeline.narrate``): reload, restart, crash."""

    ts: float
    host: str
    detail: str
    source: str


@dataclass(frozen=True)
class UpstreamServer:
    """A ``server`` line of an ``upstream {}`` block of the nginx config."""

    group: str
    address: str
    #: ``file:line`` of the ``server`` directive, the file relative to the config's folder.
    where: str


@dataclass
class AddressUse:
    """What the proxies logged about one upstream address around the incident."""

    address: str
    proxies: set[str] = field(default_factory=set)
    first_ts: float = float("inf")
    last_ts: float = float("-inf")
    errors: int = 0
    failed_requests: int = 0
    requests: int = 0
    #: The proxy and ``file:line`` of the first failure (error line, else access line).
    first_proxy: str = ""
    first_source: str = ""
    first_status: int = 0

    def see(self, ts: float, last: float, proxy: str, source: str, status: int = 0) -> None:
        """Widen the span with failures from ``ts`` to ``last`` logged by ``proxy``."""
        self.proxies.add(proxy)
        if ts < self.first_ts:
            self.first_ts, self.first_proxy, self.first_source = ts, proxy, source
            self.first_status = status
        self.last_ts = max(self.last_ts, last)


@dataclass
class Mapping:
    """How an address was tied to a host, or why it could not be."""

    host: str | None
    #: ``nginx_conf``, ``host_name`` or ``timing``; None when not tied.
    how: str | None
    why: str
    #: ``file:line`` of the config's ``server`` line when ``how`` is ``nginx_conf``.
    where: str = ""


def peer_of(upstream: str) -> str:
    """``10.0.0.3:80`` from an error line's ``upstream: "http://10.0.0.3:80/path"``."""
    m = _PEER.match(upstream)
    return m.group(1) if m else upstream


def split_upstream_addr(value: str) -> list[str]:
    """The addresses a request tried, from ``$upstream_addr`` (``a, b`` retries, ``a : b``
    groups); ``-`` and empty (served by Nginx itself, or not logged) left out."""
    out = []
    for part in _UPSTREAM_SEP.split(value):
        part = part.strip()
        if part and part not in ("-", "nan") and part not in out:
            out.append(part)
    return out


def host_part(address: str) -> str:
    """The host of ``host:port``, ``[v6]:port``, a bare IPv6 address or a group name."""
    a = address.strip()
    if a.startswith("["):
        return a[1:].split("]", 1)[0]
    if a.count(":") == 1:
        host, port = a.rsplit(":", 1)
        if port.isdigit():
            return host
    return a


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def hosts_named(name: str, hosts: Sequence[str]) -> list[str]:
    """Input hosts that ``name`` (the host part of an address) names.

    An exact, case-insensitive match wins; otherwise a DNS name matches by its first label
    (``web-3.prod.example`` names ``web-3``). An IP address matches only exactly (a host
    folder may be named after its address).
    """
    low = name.lower().rstrip(".")
    if not low or low.startswith("unix:"):
        return []
    exact = [h for h in hosts if h.lower() == low]
    if exact or _is_ip(low):
        return exact
    label = low.split(".", 1)[0]
    return [h for h in hosts if not _is_ip(h) and h.lower().split(".", 1)[0] == label]


def upstream_servers(conf: NginxConf | None) -> list[UpstreamServer]:
    """The ``server`` lines of the ``upstream {}`` blocks of the ``--nginx-conf`` tree.

    Each file the config read is searched, as the config walk parsed it, for its
    ``upstream`` blocks. Blocks inside ``stream {}`` are TCP/UDP proxies
    and left out (an included file's context is unknown, so its blocks are kept).

    Returns:
        The servers in config order; empty without ``--nginx-conf``.
    """
    if conf is None:
        return []
    folder = Path(conf.files[0]).parent if conf.files else Path(".")
    out: list[UpstreamServer] = []
    for name, stmts in zip(conf.files, conf.statements, strict=True):
        path = Path(name)
        try:
            shown = path.relative_to(folder).as_posix()
        except ValueError:
            shown = str(path)
        _collect_upstreams(stmts, shown, (), out)
    return out


def _collect_upstreams(stmts: list[Stmt], shown: str, ctx: tuple[str, ...],
                       out: list[UpstreamServer]) -> None:
    for stmt in stmts:
        directive, args = stmt["directive"], stmt["args"]
        if directive == "upstream" and args and "stream" not in ctx:
            for inner in stmt.get("block", []):
                if inner["directive"] == "server" and inner["args"]:
                    out.append(UpstreamServer(args[0], inner["args"][0],
                                              f"{shown}:{inner['line']}"))
        elif "block" in stmt:
            _collect_upstreams(stmt["block"], shown, (*ctx, directive), out)


class HostTrace:
    """One host's access log, per minute, from the aggregates: when it logged requests
    and failures. Exact to the second at the edges of a silence (first and last
    timestamps per minute are kept)."""

    def __init__(self, minutes: pd.DataFrame, counts: pd.DataFrame) -> None:
        m = minutes.groupby("minute", sort=True).agg(
            ts_min=("ts_min", "min"), ts_max=("ts_max", "max"),
            f_min=("f_min", "min"), f_max=("f_max", "max"))
        self.minute = m.index.to_numpy(dtype=np.int64)
        self.ts_min = m["ts_min"].to_numpy(dtype=float)
        self.ts_max = m["ts_max"].to_numpy(dtype=float)
        self.f_min = m["f_min"].to_numpy(dtype=float)
        self.f_max = m["f_max"].to_numpy(dtype=float)
        status = counts["status"].to_numpy(dtype=np.int64)
        bad = is_failed(status) & ~counts["probe"].to_numpy(dtype=bool)
        n = counts["n"].to_numpy(dtype=np.int64)
        cm = counts["minute"].to_numpy(dtype=np.int64)
        tot = pd.Series(n).groupby(cm).sum()
        fail = pd.Series(np.where(bad, n, 0)).groupby(cm).sum()
        self.total = tot.reindex(self.minute, fill_value=0).to_numpy(dtype=np.int64)
        self.failed = fail.reindex(self.minute, fill_value=0).to_numpy(dtype=np.int64)
        self.first = float(self.ts_min.min()) if len(self.minute) else float("nan")
        self.last = float(self.ts_max.max()) if len(self.minute) else float("nan")

    def any_in(self, a: float, b: float) -> bool:
        """Whether a request was (or, inside one minute, may have been) logged in [a, b]."""
        return bool(((self.ts_min <= b) & (self.ts_max >= a)).any())

    def last_before(self, t: float) -> float | None:
        """The last request before ``t`` (exact when none is logged in ``t``'s minute after it)."""
        sel = self.ts_max[self.ts_max < t]
        return float(sel.max()) if sel.size else None

    def first_after(self, t: float) -> float | None:
        """The first request after ``t``."""
        sel = self.ts_min[self.ts_min > t]
        return float(sel.min()) if sel.size else None

    def counts(self, a: float, b: float) -> tuple[int, int]:
        """Requests and failed requests in the minutes overlapping [a, b]."""
        sel = (self.minute >= np.floor(a / 60)) & (self.minute <= np.floor(b / 60))
        return int(self.total[sel].sum()), int(self.failed[sel].sum())

    def first_failure_after(self, t: float) -> float | None:
        """The first failing (non-probe) request at or after ``t``."""
        sel = self.f_min[(self.f_min >= t) & np.isfinite(self.f_min)]
        return float(sel.min()) if sel.size else None

    def last_failure_before(self, t: float) -> float | None:
        """The last failing (non-probe) request at or before ``t``."""
        sel = self.f_max[(self.f_max <= t) & np.isfinite(self.f_max)]
        return float(sel.max()) if sel.size else None

    def expected(self, a: float, b: float) -> float:
        """Requests its usual rate (outside [a, b]) predicts for [a, b]."""
        n_in, _ = self.counts(a, b)
        span = (self.last - self.first) - (b - a)
        rest = int(self.total.sum()) - n_in
        return rest / max(span, 60.0) * (b - a)


@dataclass
class _Fit:
    """A host whose own access log changed with the errors to an address."""

    host: str
    what: str
    start: float
    end: float | None


def _inner(use: AddressUse, tol: float) -> tuple[float, float]:
    """The stretch the errors surely cover: a bin in from each end (all of it when short)."""
    f, last = use.first_ts, use.last_ts
    return (f + tol, last - tol) if last - f > 2 * tol else (f, last)


def _silent_fit(host: str, tr: HostTrace, use: AddressUse, tol: float, end: float
                ) -> _Fit | None:
    lo, hi = _inner(use, tol)
    if hi <= lo or tr.any_in(lo, hi) or tr.expected(lo, hi) < MIN_EXPECTED:
        return None
    before = tr.last_before(lo)
    if before is None or before < use.first_ts - tol:
        return None  # silent since before the errors began: something else
    after = tr.first_after(hi)
    if after is None and end - use.last_ts > tol:
        return None  # the errors stopped, the host never came back
    if after is not None and after > use.last_ts + tol:
        return None
    return _Fit(host, "silent", before, after)


def _failing_fit(host: str, tr: HostTrace, use: AddressUse, tol: float) -> _Fit | None:
    lo, hi = _inner(use, tol)
    n, k = tr.counts(lo, hi)
    if k < MIN_FAILED or k < FAILING_SHARE * n:
        return None
    first = tr.first_failure_after(use.first_ts - tol)
    last = tr.last_failure_before(use.last_ts + tol)
    if first is None or first > use.first_ts + tol or last is None or last < use.last_ts - tol:
        return None
    stretch = max(hi - lo, 600.0)
    for a, b in ((use.first_ts - tol - stretch, use.first_ts - tol - 60),
                 (use.last_ts + tol + 60, use.last_ts + tol + stretch)):
        nb, kb = tr.counts(a, b)
        if nb and kb > HEALTHY_SHARE * nb:
            return None  # failing before or after as well: not this address's story
    return _Fit(host, "failing", first, last)


def _describe_fit(fit: _Fit, use: AddressUse, ts: Any) -> str:
    came_back = f"came back at {ts(fit.end)}" if fit.end is not None else "never came back"
    errors = f"the first and last error to it ({ts(use.first_ts)}, {ts(use.last_ts)})"
    if fit.what == "silent":
        return (f"{fit.host}'s access log went silent after {ts(fit.start)} and {came_back}, "
                f"within a bin of {errors}; no other host's did")
    return (f"{fit.host} started failing requests at {ts(fit.start)} and stopped at "
            f"{ts(fit.end)}, within a bin of {errors}; no other host's did")


def map_address(use: AddressUse, hosts: Sequence[str], servers: Sequence[UpstreamServer],
                traces: dict[str, HostTrace], tol: float, end: float, ts: Any) -> Mapping:
    """Tie one address to an input host: nginx config, then host name, then timing.

    Args:
        use: what the proxies logged about the address.
        hosts: every input host's name.
        servers: the ``upstream`` servers of ``--nginx-conf`` (may be empty).
        traces: per host with an access log, its per-minute activity.
        tol: the tolerance of the timing test in seconds (one bin).
        end: the end of the input, epoch seconds.
        ts: formats an epoch time for the text.
    """
    addr = use.address
    name = host_part(addr)
    # (a) the nginx config: a server line naming a host, or a whole group on one host.
    same = [s for s in servers if s.address.lower() == addr.lower()]
    for s in same:
        named = hosts_named(host_part(s.address), hosts)
        if len(named) == 1:
            return Mapping(named[0], "nginx_conf", f"upstream {s.group} lists server "
                           f"{s.address} ({s.where})", s.where)
    group = [s for s in servers if s.group == name and ":" not in addr]
    if group:
        named_by = {s.address: hosts_named(host_part(s.address), hosts) for s in group}
        on = sorted({h for hs in named_by.values() for h in hs})
        if len(on) == 1 and all(named_by.values()):
            return Mapping(on[0], "nginx_conf", f"every server of upstream {name} is on "
                           f"{on[0]} ({group[0].where})", group[0].where)
        if len(on) > 1:
            return Mapping(None, None, f"upstream {name} ({group[0].where}) has servers on "
                           f"{', '.join(on)}, and the line does not say which one failed")
    # (b) the address names an input host.
    named = hosts_named(name, hosts)
    if len(named) == 1:
        return Mapping(named[0], "host_name", f"{name} is the name of an input host")
    if len(named) > 1:
        return Mapping(None, None, f"{name} matches several input hosts "
                       f"({', '.join(named)})")
    # (c) timing: the one host whose own log changed when the errors began and ended.
    fits: list[_Fit] = []
    for host in sorted(traces):
        if host in use.proxies:
            continue  # a proxy's own access log fails with its errors: not a backend
        fit = _silent_fit(host, traces[host], use, tol, end) or _failing_fit(
            host, traces[host], use, tol)
        if fit is not None:
            fits.append(fit)
    if len(fits) == 1:
        return Mapping(fits[0].host, "timing", _describe_fit(fits[0], use, ts))
    if fits:
        return Mapping(None, None, f"{len(fits)} hosts' logs changed within a bin of the "
                       f"errors to it ({', '.join(f.host for f in fits)})")
    looked = "not named in the nginx config, " if servers else ""
    return Mapping(None, None, f"{looked}not the name of an input host, and no input host's "
                   "access log went silent or started failing within a bin of the first "
                   "error to it")


@dataclass
class _View:
    summary: str
    source: str


def _row_source(dataset: Dataset, host: str, lo: float, hi: float, last: bool = False,
                failed: bool = False) -> str:
    """``file:line`` of the host's first (or last) access line between ``lo`` and ``hi``
    (of a failed request when ``failed``)."""
    rows = dataset.load_rows(lo, hi)
    if rows.empty:
        return ""
    keep = rows["host"].astype(str).to_numpy() == host
    if failed:
        keep &= is_failed(rows["status"].to_numpy(dtype=np.int64))
    mine = rows[keep]
    if mine.empty:
        return ""
    row = mine.iloc[-1] if last else mine.iloc[0]
    return f"{dataset.sources[int(row['source'])].path}:{int(row['line'])}"


def backend_view(host: str, at: float, tol: float, dataset: Dataset,
                 actions: Sequence[Action], errors: pd.DataFrame, trace: HostTrace | None,
                 ts: Any) -> _View:
    """What ``host``'s own logs show within ``tol`` seconds of ``at``, with the line.

    In order: its reloads, restarts and crashes; else the first error-log template on it;
    else the silence of its access log from ``at`` on (with its last line before); else
    that it went on serving.
    """
    lo, hi = at - tol, at + tol
    silent_after = ""
    if trace is not None:
        # A silence that starts around now: say when it ended, since that is the story.
        if not trace.any_in(at, hi):
            nxt = trace.first_after(at)
            silent_after = (f", then logged no requests until {ts(nxt)}" if nxt is not None
                            else ", then logged no more requests")
    mine = [a for a in actions if a.host == host and lo <= a.ts <= hi]
    if mine:
        what = "; ".join(f"{a.detail} at {ts(a.ts)}" for a in mine[:3])
        return _View(what + silent_after, mine[0].source)
    errs = errors[(errors["host"] == host) & (errors["ts"] >= lo) & (errors["ts"] <= hi)]
    if not errs.empty:
        e = errs.iloc[0]
        n = int(errs.loc[(errs["kind"] == e["kind"]) & (errs["message"] == e["message"]),
                         "count"].sum())
        return _View(f"its error log: first “{e['message']}” ({e['kind']}) at {ts(e['ts'])}, "
                     f"{n}× within a bin{silent_after}", f"{e['source_file']}:{e['line']}")
    if trace is None:
        return _View("no access log in the input, and nothing in its error log within a bin "
                     "of it", "")
    if not trace.any_in(at, hi):
        before = trace.last_before(at)
        if before is None:
            return _View(f"no lines at all: its access log starts only at {ts(trace.first)}",
                         _row_source(dataset, host, trace.first, trace.first))
        nxt = trace.first_after(hi)
        until = f" until {ts(nxt)}" if nxt is not None else ""
        return _View(f"no lines at all: silent from {ts(before)}{until}",
                     _row_source(dataset, host, before, before, last=True))
    n, k = trace.counts(lo, hi)
    state = f"{k} of them failed (the first at the line given)" if k else "none failed"
    return _View(f"no reload, restart or error; its access log goes on: {n} requests in the "
                 f"minutes around it, {state}",
                 _row_source(dataset, host, lo, hi, failed=bool(k))
                 or _row_source(dataset, host, lo, hi))


def collect_uses(groups: Sequence[ErrorGroup], rows: pd.DataFrame, lo: float, hi: float,
                 failing_statuses: Sequence[int], source_path: Any) -> dict[str, AddressUse]:
    """The upstream addresses the proxies failed to use between ``lo`` and ``hi``.

    Args:
        groups: the error-log groups of the timeline (``timeline.narrate``).
        rows: the access rows around the window.
        lo: start of the stretch looked at (epoch seconds).
        hi: its end.
        failing_statuses: the statuses that surged in the window (all failures when empty).
        source_path: maps a row's ``source`` index to its file's path.
    """
    uses: dict[str, AddressUse] = {}
    for g in groups:
        if not g.peer_counts:
            continue
        for e in g.rows.to_dict("records"):
            attrs = e["attrs"]
            up = attrs.get("upstream") if isinstance(attrs, dict) else None
            if not up:
                continue
            addr = peer_of(str(up))
            if addr.lower().startswith("unix:"):
                continue  # a local socket: no other host to link
            use = uses.setdefault(addr, AddressUse(addr))
            use.see(float(e["ts"]), float(e["ts"]), str(e["host"]),
                    f"{e['source_file']}:{e['line']}")
            use.errors += int(e["count"])
    if rows.empty or "upstream_addr" not in rows:
        return uses
    w = rows[(rows["ts"] >= lo) & (rows["ts"] <= hi)]
    status = w["status"].to_numpy(dtype=np.int64)
    bad = is_failed(status)
    if failing_statuses:
        bad &= np.isin(status, list(failing_statuses))
    values = w["upstream_addr"].astype(str).to_numpy()
    codes, uniques = pd.factorize(values)
    n_req = np.bincount(codes, minlength=len(uniques))
    # Per distinct $upstream_addr value: its failed rows' count, first and last position
    # (rows are sorted by time), in one pass rather than a mask per value.
    fpos = np.flatnonzero(bad)
    fcodes = codes[fpos]
    n_fail = np.bincount(fcodes, minlength=len(uniques))
    first_at = np.full(len(uniques), len(w), dtype=np.int64)
    last_at = np.full(len(uniques), -1, dtype=np.int64)
    np.minimum.at(first_at, fcodes, fpos)
    np.maximum.at(last_at, fcodes, fpos)
    tried: dict[str, int] = {}
    for code, value in enumerate(uniques.tolist()):
        addrs = split_upstream_addr(str(value))
        for addr in addrs:
            tried[addr] = tried.get(addr, 0) + int(n_req[code])
        if not addrs or not n_fail[code]:
            continue
        first, last = w.iloc[int(first_at[code])], w.iloc[int(last_at[code])]
        for addr in addrs:
            use = uses.setdefault(addr, AddressUse(addr))
            use.see(float(first["ts"]), float(last["ts"]), str(first["host"]),
                    f"{source_path(int(first['source']))}:{int(first['line'])}",
                    int(first["status"]))
            use.failed_requests += int(n_fail[code])
    for addr, n in tried.items():
        if addr in uses:
            uses[addr].requests = n
    return uses


def worth_linking(use: AddressUse) -> bool:
    """An address with error-log lines, or whose requests failed often enough in the access
    logs (a trickle of application 500s through a healthy backend is not a link to make)."""
    if use.errors:
        return True
    return (use.failed_requests >= ACCESS_MIN_FAILED
            and use.failed_requests >= ACCESS_FAILED_SHARE * max(use.requests, 1))


def link_text(address: str, mapping: Mapping, view: _View | None, at: float, ts: Any) -> str:
    """The sentence under a timeline entry (plain text: the writers escape it)."""
    if mapping.host is None or view is None:
        return f"{address} could not be tied to a host: {mapping.why}"
    how = {"nginx_conf": f"from the nginx config: {mapping.why}",
           "host_name": "by its name",
           "timing": f"inferred from timing: {mapping.why}"}[mapping.how or ""]
    return (f"{address} is {mapping.host} ({how}). {mapping.host}'s own logs around "
            f"{ts(at)}: {view.summary}")


def resolve_links(uses: dict[str, AddressUse], dataset: Dataset, actions: Sequence[Action],
                  errors: pd.DataFrame, bin_s: int, ts: Any) -> dict[str, Link]:
    """Tie every address to a host and read that host's own logs at the first error.

    Returns:
        address -> its :class:`Link`.
    """
    agg = dataset.agg
    traces: dict[str, HostTrace] = {}
    if not agg.minutes.empty:
        counts_by_host = dict(tuple(agg.counts.groupby(agg.counts["host"].astype(str),
                                                       sort=True)))
        for host, minutes in agg.minutes.groupby(agg.minutes["host"].astype(str), sort=True):
            traces[str(host)] = HostTrace(minutes, counts_by_host[str(host)])
    hosts = sorted(set(traces) | {str(h) for h in errors["host"].dropna().unique() if h}
                   | {s.host for s in dataset.sources if s.format.startswith("nginx")})
    servers = upstream_servers(dataset.nginx_conf)
    span = agg.span()
    end = span[1] if span else max((u.last_ts for u in uses.values()), default=0.0)
    out: dict[str, Link] = {}
    for addr in sorted(uses):
        use = uses[addr]
        mapping = map_address(use, hosts, servers, traces, float(bin_s), end, ts)
        view = None
        if mapping.host is not None:
            view = backend_view(mapping.host, use.first_ts, float(bin_s), dataset, actions,
                                errors, traces.get(mapping.host), ts)
        out[addr] = Link(
            address=addr,
            proxy=use.first_proxy,
            host=mapping.host,
            how=mapping.how,
            why=mapping.why,
            mapping_source=mapping.where or None,
            summary=view.summary if view else None,
            source=(view.source or None) if view else None,
            text=link_text(addr, mapping, view, use.first_ts, ts),
        )
    return out
