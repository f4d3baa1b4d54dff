"""``--redact``: a copy of an analysis safe to share, with client addresses, user names,
cookies, query-string values and tokens replaced by stable keyed hashes.

A pseudonym is ``KIND-`` and the first 10 hex digits of HMAC-SHA256 over the value, keyed
with 32 random bytes drawn for the run (:class:`Redactor`); the key is never written
anywhere, so the same value has the same pseudonym throughout one report (the Markdown,
the JSON and the HTML of one build agree) and nobody can reverse it or match it against
another report. Only text is replaced: every count, ratio and time is the same as without
``--redact``. File paths and ``file:line`` citations are kept (they are the evidence), and
so are host names (the inputs' folder names: servers, not users).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import ipaddress
import re
import secrets
from typing import Any, TypeVar

import pandas as pd

from timeline.model import Analysis

#: What the report says when it was redacted.
REDACTION_NOTE = (
    "Redacted with `--redact`: client addresses, user names, cookies, query-string values "
    "and tokens are replaced by keyed hashes (`ip-…`, `user-…`, `cookie-…`, `q-…`, "
    "`token-…`). The key was random for this build and is not stored: a pseudonym is the "
    "same throughout this report only. Every figure is unchanged.")

#: Fields whose strings are kept: paths and ``file:line`` citations (the evidence), host
#: names, kinds and bases (the tool's own vocabulary).
KEEP_FIELDS = frozenset({
    "source", "source_file", "path", "mapping_source", "first_source", "host",
    "proxy", "kind", "basis", "format", "variant", "parser", "severity", "tz", "status",
    "affected_hosts", "edge_hosts", "signals", "failing_statuses", "how", "flag",
})
#: Attributes of alert events that hold a person's name.
USER_ATTRS = frozenset({"acknowledged_by", "closed_by", "username", "user", "owner",
                        "assignee", "resolved_by"})

_COOKIE = re.compile(r"(?i)\b((?:set-)?cookie[\"']?\s*[:=]\s*[\"']?)([^\"'\r\n]+)")
_PAIR = re.compile(r"([^=;\s,]+)=([^;\s,]*)")
_AUTH = re.compile(r"(?i)\b(bearer|basic|token|api[-_]?key)(\s+|[:=]\s*)([A-Za-z0-9._~+/\-]{8,}=*)")
_JWT = re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*")
_QUERY = re.compile(r"(?<=[\w/.\-])\?([^\s\"'#<>`|)\]]+)")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: ``$remote_addr - $remote_user [`` at the start of an access line (or of its excerpt).
_ACCESS_USER = re.compile(r"^((?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+) \S+ )"
                          r"([^\s\[\]-][^\s\[\]]*|-[^\s\[\]]+)(?= \[)")
_ERROR_USER = re.compile(r"(?i)\b(user\s+\")([^\"]+)(\")")
_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(/\d{1,2})?(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(\[?)((?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})(%\w+)?(\]?)"
                   r"(/\d{1,3})?(?![\w:])")
_TOKEN = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9_-]{32,}(?![\w-])")

T = TypeVar("T")


class Redactor:
    """Replaces sensitive values in text by keyed hashes; one instance per report."""

    def __init__(self, key: bytes | None = None) -> None:
        """``key`` is for tests; a report always draws a fresh random one."""
        self._key = key if key is not None else secrets.token_bytes(32)

    def pseudonym(self, kind: str, value: str) -> str:
        """``KIND-`` and 10 hex digits of the keyed hash of ``value``."""
        digest = hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind}-{digest[:10]}"

    def _ip(self, text: str) -> str:
        def v4(m: re.Match[str]) -> str:
            try:
                ipaddress.ip_address(m.group(1))
            except ValueError:
                return m.group()
            return self.pseudonym("ip", m.group(1)) + (m.group(2) or "")

        def v6(m: re.Match[str]) -> str:
            try:
                ipaddress.ip_address(m.group(2))
            except ValueError:
                return m.group()
            return (m.group(1) + self.pseudonym("ip", m.group(2).lower()) + m.group(4)
                    + (m.group(5) or ""))

        return _IPV6.sub(v6, _IPV4.sub(v4, text))

    def _query(self, m: re.Match[str]) -> str:
        parts = []
        for part in m.group(1).split("&"):
            name, eq, value = part.partition("=")
            if eq:
                parts.append(f"{name}={self.pseudonym('q', value)}" if value else part)
            else:
                parts.append(self.pseudonym("q", part) if part else part)
        return "?" + "&".join(parts)

    def text(self, text: str) -> str:
        """``text`` with every sensitive value replaced (idempotent on its own output)."""
        if not text:
            return text
        s = _COOKIE.sub(lambda m: m.group(1) + _PAIR.sub(
            lambda p: f"{p.group(1)}={self.pseudonym('cookie', p.group(2))}", m.group(2)), text)
        s = _AUTH.sub(lambda m: m.group(1) + m.group(2) + self.pseudonym("token", m.group(3)), s)
        s = _JWT.sub(lambda m: self.pseudonym("token", m.group()), s)
        s = _QUERY.sub(self._query, s)
        s = _EMAIL.sub(lambda m: self.pseudonym("user", m.group()), s)
        s = _ACCESS_USER.sub(lambda m: m.group(1) + self.pseudonym("user", m.group(2)), s)
        s = _ERROR_USER.sub(lambda m: m.group(1) + self.pseudonym("user", m.group(2))
                            + m.group(3), s)
        s = self._ip(s)
        return _TOKEN.sub(lambda m: self.pseudonym("token", m.group()), s)

    def value(self, obj: T, name: str = "") -> T:
        """A copy of ``obj`` (a string, list, dict, tuple or dataclass) with its text
        redacted; fields named in :data:`KEEP_FIELDS` are kept as they are."""
        out: Any
        if name in KEEP_FIELDS:
            return obj
        if isinstance(obj, str):
            out = self.pseudonym("user", obj) if name in USER_ATTRS and obj else self.text(obj)
        elif isinstance(obj, list):
            out = [self.value(v, name) for v in obj]
        elif isinstance(obj, tuple):
            out = tuple(self.value(v, name) for v in obj)
        elif isinstance(obj, dict):
            out = {k: self.value(v, k if isinstance(k, str) else name) for k, v in obj.items()}
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            # Frozen records (and options that validate on creation) are copied and their
            # fields set directly: the values are the same shape, only text changed.
            out = copy.copy(obj)
            for f in dataclasses.fields(obj):
                if isinstance(getattr(obj, f.name), pd.DataFrame):
                    continue
                object.__setattr__(out, f.name, self.value(getattr(obj, f.name), f.name))
        else:
            out = obj
        return out  # type: ignore[no-any-return]

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy of an events table with its text columns (message, sample, attrs) redacted."""
        out = frame.copy()
        for col in ("message", "sample"):
            if col in out:
                out[col] = out[col].map(lambda v: self.text(v) if isinstance(v, str) else v)
        if "attrs" in out:
            out["attrs"] = out["attrs"].map(lambda a: self.value(a) if isinstance(a, dict)
                                            else a)
        return out


def redact_analysis(analysis: Analysis, redactor: Redactor | None = None) -> Analysis:
    """A copy of ``analysis`` whose every output-bound text is redacted; the numbers are
    the same objects' values, so every figure in the report is unchanged."""
    r = redactor or Redactor()
    ds = analysis.dataset
    dataset = dataclasses.replace(
        ds, events=r.frame(ds.events), sources=r.value(ds.sources),
        config_notes=r.value(ds.config_notes))
    return dataclasses.replace(
        analysis, dataset=dataset, incidents=r.value(analysis.incidents),
        method=r.value(analysis.method), options=r.value(analysis.options))
