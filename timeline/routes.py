"""The route of a request path: the path without its query string, ids collapsed.

Its own module (numpy, pandas and ``re`` only) so that the second pass's workers
(``timeline.ingest``) work routes out without importing the analysis.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Routes are cut to this many characters: paths are attacker-controlled and unbounded.
ROUTE_CHARS = 100

# One path segment that is an id rather than a name, collapsed to ":id":
#   123 · 3f2504e0-4f89-11d3-9a0c-0305e82c3301 · 5f3a9c0b1e (hex, 8+ chars, a digit in it)
#   · dGhpc2lzYXRva2VuMTIz (base64/base64url, 20+ chars, a digit and a letter in it).
# Requiring a digit keeps words spelt in hex letters (/feedface/) and long slugs without
# numbers as names.
_ID_SEGMENT = re.compile(
    r"\d+"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?=[^/]*\d)[0-9a-fA-F]{8,}"
    r"|(?=[^/]*\d)(?=[^/]*[A-Za-z])[A-Za-z0-9_+-]{20,}={0,2}"
)


def route_of(path: str) -> str:
    """The route of a request path: no query string, ids collapsed to ``:id``.

    ``/api/orders/123/items?x=1`` becomes ``/api/orders/:id/items``. Numbers, UUIDs, hex
    ids of 8+ characters and long base64-like tokens are ids; the result is cut to
    :data:`ROUTE_CHARS` characters.
    """
    route = _ID_IN_PATH.sub(":id", path.split("?", 1)[0])
    return route if len(route) <= ROUTE_CHARS else route[: ROUTE_CHARS - 1] + "…"


def routes_of(paths: pd.Series | np.ndarray) -> np.ndarray:
    """:func:`route_of` of every path, computed once per distinct path."""
    codes, uniques = pd.factorize(np.asarray(paths, dtype=object).astype(str))
    routes: np.ndarray = np.array([route_of(str(p)) for p in uniques] or [""],
                                  dtype=object)[codes]
    return routes


# The same ids, found in a whole path at once: a whole segment (after "/" or at the start,
# up to "/" or the end) that is an id.
_ID_IN_PATH = re.compile(r"(?:^|(?<=/))(?:" + _ID_SEGMENT.pattern + r")(?=/|$)")
