"""Who counts as a user: the user key (``--user-key``) and the clients that are not users
(``--exclude-client``).

This module imports nothing from the rest of :mod:`timeline` but the errors, so the first
pass (aggregation) can use the same rules as the impact measurement without an import
cycle.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from timeline.errors import UsageError

#: ``--user-key FIELD`` values and the request column each reads. Bare names are the
#: columns of the requests table; ``$names`` are the log_format variables that feed them.
USER_KEY_FIELDS: dict[str, str] = {
    "remote_user": "remote_user",
    "$remote_user": "remote_user",
    "forwarded_for": "forwarded_for",
    "$http_x_forwarded_for": "forwarded_for",
}

#: A log_format variable name, as given to --user-key.
_VARIABLE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")

#: Field values that mean "not set": Nginx writes ``-`` for an empty variable.
_UNSET = ("", "-")


@dataclass(frozen=True)
class UserKey:
    """How requests are grouped into users.

    Attributes:
        spec: the ``--user-key`` value as given (``ip``, ``ip+ua`` or a field).
        column: the request column read for a field key, else None.
        description: the key in words, for the report's method text.
    """

    spec: str
    column: str | None
    description: str

    @property
    def is_field(self) -> bool:
        """True for a field key (which falls back to the client address when unset)."""
        return self.column is not None


def parse_user_key(spec: str) -> UserKey:
    """Check a ``--user-key`` value and say what it means.

    Raises:
        UsageError: the value is neither ``ip``, ``ip+ua`` nor a field the requests table
            keeps.
    """
    if spec == "ip":
        return UserKey(spec, None, "client addresses")
    if spec == "ip+ua":
        return UserKey(spec, None, "pairs of client address and user agent")
    column = USER_KEY_FIELDS.get(spec)
    if column is None:
        known = ", ".join(USER_KEY_FIELDS)
        if _VARIABLE.fullmatch(spec):
            # Any other log_format variable ($cookie_session, $http_x_user_id...): the
            # custom-format parser keeps it as a var_<name> column.
            column = "var_" + spec[1:].lower()
        else:
            raise UsageError(f"--user-key {spec}: unknown field (use ip, ip+ua, a log_format "
                             f"variable such as $cookie_session, or one of {known})")
    return UserKey(spec, column, f"{column} values, or the client address where the field "
                   "is empty or -")


def user_keys(rows: pd.DataFrame, key: UserKey) -> np.ndarray:
    """The user of each row, as strings that are only compared, never shown.

    A field key falls back to the client address where the field is empty or ``-``; the
    prefixes keep a field value from colliding with an address.
    """
    clients = rows["client"].astype(str).to_numpy(dtype=object)
    if key.spec == "ip":
        return clients
    if key.spec == "ip+ua":
        # A tab cannot occur in either: Nginx escapes control bytes in both.
        out: np.ndarray = (rows["client"].astype(str) + "\t"
                           + rows["user_agent"].astype(str)).to_numpy(dtype=object)
        return out
    assert key.column is not None
    if key.column not in rows:
        # No access log in the window logs the variable: every request falls back.
        fallback: np.ndarray = "ip:" + clients
        return fallback
    values = rows[key.column].astype(str)
    if key.column == "forwarded_for":
        # The first address of X-Forwarded-For is the original client; later ones are the
        # proxies it passed through, which differ between paths for the same user.
        values = values.str.split(",", n=1).str[0].str.strip()
    unset = values.isin(_UNSET).to_numpy(dtype=bool)
    return np.where(unset, "ip:" + clients, ("f:" + values).to_numpy(dtype=object))


RuleKind = Literal["net", "ua", "path"]


@dataclass(frozen=True)
class ClientRule:
    """One ``--exclude-client`` pattern, parsed.

    Attributes:
        text: the pattern as given, for the report.
        kind: ``net`` (an address or network), ``ua`` (user-agent regex) or ``path``
            (clients that request nothing but paths under this prefix).
    """

    text: str
    kind: RuleKind
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    regex: re.Pattern[str] | None = None
    prefix: str = ""


def parse_exclusions(patterns: Sequence[str]) -> tuple[ClientRule, ...]:
    """Parse ``--exclude-client`` patterns: an IP, a CIDR network, ``ua:REGEX`` or
    ``path:PREFIX``.

    Raises:
        UsageError: a pattern is none of these.
    """
    rules: list[ClientRule] = []
    for text in patterns:
        rules.append(_parse_rule(text))
    return tuple(rules)


def _parse_rule(text: str) -> ClientRule:
    where = f"--exclude-client {text}"
    if text.startswith("ua:"):
        body = text[3:]
        if not body:
            raise UsageError(f"{where}: empty regular expression (it would match everyone)")
        try:
            regex = re.compile(body)
        except re.error as exc:
            raise UsageError(f"{where}: bad regular expression: {exc}") from None
        return ClientRule(text, "ua", regex=regex)
    if text.startswith("path:"):
        prefix = text[5:]
        if not prefix.startswith("/"):
            raise UsageError(f"{where}: a path prefix starts with /, e.g. path:/metrics")
        return ClientRule(text, "path", prefix=prefix)
    try:
        # strict=False: 10.0.0.1/8 means the network 10.0.0.0/8, as in nginx's allow/deny.
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise UsageError(f"{where}: not an IP address, CIDR network (10.0.0.0/8, "
                         "2001:db8::/32), ua:REGEX or path:PREFIX") from None
    return ClientRule(text, "net", network=network)


def client_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A logged client address as an address (IPv4-mapped IPv6 as IPv4), or None for a
    unix socket, a hostname or ``-``."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None  # unix: sockets, hostnames, "-"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        # A dual-stack listener logs IPv4 clients as ::ffff:a.b.c.d.
        return addr.ipv4_mapped
    return addr


def match_exclusions(rows: pd.DataFrame, rules: Sequence[ClientRule]) -> np.ndarray:
    """The index of the first rule that excludes each row, or -1.

    Address and user-agent rules are tested per row (on the distinct values only). A path
    rule excludes a client (address) only when every request it made in ``rows`` falls
    under one of the path prefixes given; its rows are then attributed to the first prefix
    each one matches.
    """
    n = len(rows)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0 or not rules:
        return out
    clients = rows["client"].astype(str)
    codes, uniques = pd.factorize(clients)
    addrs = [client_address(str(c)) for c in uniques]
    ua_codes: np.ndarray | None = None
    ua_uniques: pd.Index | None = None
    paths: pd.Series | None = None
    path_rules = [(i, r) for i, r in enumerate(rules) if r.kind == "path"]
    path_only: np.ndarray | None = None
    if path_rules:
        paths = rows["path"].astype(str)
        under = paths.str.startswith(tuple(r.prefix for _, r in path_rules)).to_numpy(
            dtype=np.bool_)
        # Clients whose every request is under one of the prefixes.
        path_only = pd.Series(under).groupby(codes).transform("all").to_numpy(dtype=np.bool_)
    for i, rule in enumerate(rules):
        free = out < 0
        if not free.any():
            break
        hit: np.ndarray
        if rule.kind == "net":
            net = rule.network
            assert net is not None
            # An address of the other IP version is never in the network (False, no error).
            per_client = np.array([a is not None and a in net for a in addrs],
                                  dtype=np.bool_)
            hit = per_client[codes]
        elif rule.kind == "ua":
            if ua_codes is None or ua_uniques is None:
                ua_codes, ua_uniques = pd.factorize(rows["user_agent"].astype(str))
            regex = rule.regex
            assert regex is not None
            per_ua = np.array([regex.search(str(u)) is not None for u in ua_uniques],
                              dtype=np.bool_)
            hit = per_ua[ua_codes]
        else:
            assert paths is not None and path_only is not None
            hit = path_only & paths.str.startswith(rule.prefix).to_numpy(dtype=np.bool_)
        out[free & hit] = i
    return out
