"""The dimensions a request is described by in the "what changed" table.

Each dimension maps a chunk of request rows (``parsers.base.REQUEST_COLUMNS`` plus
``host``) to one value per row, computed once per distinct raw value (a chunk holds few
distinct agents, paths or clients compared with its rows). ``""`` means the row carries no
value for the dimension: it still counts in the totals, it is never a row of the table.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from timeline.aggregate import PROBE_UA
from timeline.impact import route_of
from timeline.links import split_upstream_addr

#: The dimensions, in the order ties are broken in.
DIMENSIONS: tuple[str, ...] = (
    "upstream", "host", "route", "client_net", "status", "upstream_status", "method",
    "user_agent_class", "referer_host", "vhost", "size_band", "time_band",
)

#: Dimensions that describe the outcome itself: a failing request is failing *because*
#: of its status, so their rise is measured over all requests, never over the failing
#: ones (where a single failing status would always be 100%).
OUTCOME_DIMENSIONS = frozenset({"status", "upstream_status"})

#: Dimensions of the response rather than of the request or where it went: how it
#: failed (its status, a small error page, a 20 s wait for a timeout), not where. The
#: table lists them after the ones that locate the failure.
RESPONSE_DIMENSIONS = OUTCOME_DIMENSIONS | {"size_band", "time_band"}

#: Pairs of dimensions looked at together (one route on one upstream, one proxy to one
#: upstream, ...): few, of dimensions with few values, so the pairs stay bounded.
PAIRS: tuple[tuple[str, str], ...] = (
    ("route", "upstream"), ("route", "host"), ("host", "upstream"), ("vhost", "route"),
    ("method", "route"),
)

_BOT = re.compile(r"(?i)bot\b|crawler|spider|slurp|bingpreview|facebookexternalhit|"
                  r"semrush|ahrefs|yandex|baidu|petalbot|scrapy|headless")
_API = re.compile(r"(?i)^(?:curl|wget|python-requests|python-urllib|python-httpx|aiohttp|"
                  r"go-http-client|okhttp|java/|apache-httpclient|axios|node-fetch|undici|"
                  r"libwww-perl|ruby|php|guzzlehttp|dart|postmanruntime|insomnia|httpie|"
                  r"grpc|reqwest|k6/|locust|jmeter)")
_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$")
_BROWSER = re.compile(r"(?i)^mozilla/|^opera/")

#: Response size bands (bytes sent), upper bounds.
_SIZE_BANDS = ((0, "0 B"), (1024, "1 B-1 KiB"), (10240, "1-10 KiB"), (102400, "10-100 KiB"),
               (1048576, "100 KiB-1 MiB"))
#: Request time bands (seconds), upper bounds.
_TIME_BANDS = ((0.1, "<0.1 s"), (0.5, "0.1-0.5 s"), (1.0, "0.5-1 s"), (5.0, "1-5 s"),
               (30.0, "5-30 s"))


def user_agent_class(agent: str) -> str:
    """``monitor``, ``bot``, ``API client``, ``browser`` or ``other`` for a user agent."""
    if not agent or agent == "-":
        return "other"
    if PROBE_UA.search(agent):
        return "monitor"
    if _BOT.search(agent):
        return "bot"
    if _API.search(agent):
        return "API client"
    if _BROWSER.search(agent):
        return "browser"
    return "other"


def client_network(client: str) -> str:
    """The client's /24 (IPv4) or /48 (IPv6) network; ``""`` for what is no address."""
    m = _IPV4.match(client)
    if m is not None:
        if all(int(p) < 256 for p in m.groups()):
            return f"{m.group(1)}.{m.group(2)}.{m.group(3)}.0/24"
        return ""
    if ":" not in client:
        return ""
    try:
        packed = socket.inet_pton(socket.AF_INET6, client.strip())
    except OSError:
        return ""
    if packed[:12] == b"\0" * 10 + b"\xff\xff":  # ::ffff:a.b.c.d, an IPv4 client
        return f"{packed[12]}.{packed[13]}.{packed[14]}.0/24"
    groups = [packed[0] << 8 | packed[1], packed[2] << 8 | packed[3], packed[4] << 8 | packed[5]]
    # The canonical text (RFC 5952): the zeros ending the prefix join the "::".
    while groups and groups[-1] == 0:
        groups.pop()
    return ":".join(f"{g:x}" for g in groups) + "::/48"


def referer_host(referer: str) -> str:
    """The host part of a referer URL (``""`` for none)."""
    if not referer or referer == "-":
        return ""
    try:
        return (urlsplit(referer).hostname or "").lower()
    except ValueError:
        return ""


def last_upstream(value: str) -> str:
    """The last address a request tried (the one whose answer the client got)."""
    addrs = split_upstream_addr(value)
    return addrs[-1] if addrs else ""


def last_status(value: str) -> str:
    """The last upstream status of ``$upstream_status`` (``502, 200`` gives ``200``)."""
    parts = [p.strip() for p in re.split(r"[,:]", value) if p.strip() not in ("", "-")]
    return parts[-1] if parts else ""


def _band(value: float, bands: tuple[tuple[float, str], ...], last: str) -> str:
    for upper, name in bands:
        if value <= upper:
            return name
    return last


def _mapped(values: pd.Series | np.ndarray, fn: Callable[[str], str]
            ) -> tuple[np.ndarray, list[str]]:
    """Codes and labels of ``fn`` over the values, ``fn`` called once per distinct value
    (a categorical column's categories are its distinct values already)."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy(dtype=np.int64)
        uniques = [str(u) for u in values.cat.categories]
        if (codes < 0).any():  # a missing value: its own code, labelled ""
            codes = np.where(codes < 0, len(uniques), codes)
            uniques.append("")
    else:
        raw, found = pd.factorize(np.asarray(values))
        codes, uniques = raw.astype(np.int64), [str(u) for u in found]
    labels = [fn(u) if u else "" for u in uniques]
    # Distinct raw values may share a label (two paths, one route): relabel.
    lab_codes, lab_uniques = pd.factorize(np.asarray(labels or [""], dtype=object))
    out = lab_codes[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    return out.astype(np.int64), [str(u) for u in lab_uniques]


def _networks(clients: pd.Series) -> tuple[np.ndarray, list[str]]:
    """:func:`client_network` of every client: the dotted IPv4 addresses (most of them)
    cut at their last dot in one vectorised step, the rest one by one."""
    if isinstance(clients.dtype, pd.CategoricalDtype):
        codes = clients.cat.codes.to_numpy(dtype=np.int64)
        uniques = pd.Series(clients.cat.categories.astype(str))
    else:
        raw, found = pd.factorize(np.asarray(clients))
        codes, uniques = raw.astype(np.int64), pd.Series([str(u) for u in found])
    v4 = uniques.str.fullmatch(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                               r"(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
    labels = (uniques.str.rsplit(".", n=1).str[0] + ".0/24").where(v4, "")
    rest = np.flatnonzero(~v4.to_numpy(dtype=bool))
    lab = labels.to_numpy(dtype=object, copy=True)
    for i in rest.tolist():
        lab[i] = client_network(str(uniques.iloc[i]))
    if (codes < 0).any():
        codes = np.where(codes < 0, len(lab), codes)
        lab = np.append(lab, "")
    lab_codes, lab_uniques = pd.factorize(lab if len(lab) else np.asarray([""], dtype=object))
    out = lab_codes[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    return out.astype(np.int64), [str(u) for u in lab_uniques]


def _size_band(n: float) -> str:
    if n < 0:
        return ""
    return _band(n, _SIZE_BANDS, ">1 MiB")


def _time_band(t: float) -> str:
    if t != t:  # NaN: not logged
        return ""
    return _band(t, _TIME_BANDS, ">30 s")


def _upstream_values(rows: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The last address tried, else the upstream the matched error-log line names
    (``error_upstream``, from :mod:`timeline.joins`): a combined log has no
    ``$upstream_addr``, but the proxy's error log names the peer it failed to reach."""
    codes, labels = _mapped(rows["upstream_addr"], last_upstream)
    if "error_upstream" not in rows:
        return codes, labels
    joined = np.asarray(rows["error_upstream"], dtype=object)
    missing = np.asarray(labels + [""], dtype=object)[codes] == ""
    if not missing.any():
        return codes, labels
    values = np.asarray(labels, dtype=object)[codes] if labels else np.full(len(codes), "")
    values = np.where(missing, joined, values)
    return _mapped(values, lambda s: s)


def encode(rows: pd.DataFrame) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Every dimension of a chunk of rows as (codes per row, label per code)."""
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    if rows.empty:
        return {d: (np.zeros(0, dtype=np.int64), []) for d in DIMENSIONS}
    out["upstream"] = _upstream_values(rows)
    out["host"] = _mapped(rows["host"], lambda s: s)
    paths = rows["route"] if "route" in rows else rows["path"]
    out["route"] = _mapped(paths, (lambda s: s) if "route" in rows else route_of)
    out["client_net"] = _networks(rows["client"])
    out["status"] = _mapped(rows["status"].to_numpy(dtype=np.int64),
                            lambda s: "000" if s == "0" else s)
    out["upstream_status"] = _mapped(rows["upstream_status"], last_status)
    out["method"] = _mapped(rows["method"], lambda s: s if s != "-" else "")
    out["user_agent_class"] = _mapped(rows["user_agent"], user_agent_class)
    out["referer_host"] = _mapped(rows["referer"], referer_host)
    out["vhost"] = _mapped(rows["vhost"], lambda s: s if s != "-" else "")
    sizes = pd.to_numeric(rows["bytes_sent"], errors="coerce").fillna(-1).to_numpy(float)
    out["size_band"] = _mapped(sizes, lambda s: _size_band(float(s)))
    times = pd.to_numeric(rows["request_time"], errors="coerce").to_numpy(float)
    out["time_band"] = _mapped(times, lambda s: _time_band(float(s)))
    return out
