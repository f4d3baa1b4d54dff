"""Compile an Nginx ``log_format`` string into a fast access-log parser.

:func:`compile_format` turns a format such as the ingress-nginx controller's ``upstreaminfo``
into one flat, anchored ``re`` pattern over bytes (one capture group per variable) and a
:class:`LogFormat` whose :meth:`LogFormat.rows_to_chunk` converts the matched groups, a chunk
at a time, into the columns of :data:`parsers.base.REQUEST_COLUMNS`. :func:`parse_with` is
the line loop, the same shape as :func:`parsers.nginx_access.parse`.

Facts this relies on (docs/nginx-facts.md, from the Nginx source):

* ``escape=default`` writes the bytes 0x00-0x1F, ``"``, ``\\``, 0x7F and 0x80-0xFF of a
  variable as ``\\xHH`` (uppercase hex). So a variable never contains a raw ``"``, and a
  ``\\x`` in a value is always an escape. A missing variable is written as ``-``.
* ``escape=json`` writes ``\\"``, ``\\\\``, ``\\n``... and ``\\u00XX``; bytes >= 0x80 are copied
  raw (invalid UTF-8 included). A missing variable is written as an empty string.
* ``escape=none`` writes values as they are; a missing variable is empty.
* The built-in variables ($status, $time_local, $time_iso8601, $msec, $request_time,
  $bytes_sent, $body_bytes_sent, $request_length, $pipe) are never escaped.
* Upstream variables are lists: ``", "`` between attempts in one upstream group, ``" : "``
  between groups, ``-`` for an attempt that was not measured.
"""

from __future__ import annotations

import calendar
import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from typing import Any, Literal, cast

import numpy as np

from parsers.base import (
    CHUNK_ROWS,
    ERROR_LINE,
    REQUEST_COLUMNS,
    CompactChunk,
    ParseOptions,
    ParseStats,
    block_lines,
    count_lines,
    empty_request_chunk,
    match_block,
    memo,
    parse_time_local,
    parse_time_local_many,
    valid_offset,
    valid_time,
)

Escape = Literal["default", "json", "none"]
Rows = list[tuple[int, tuple[bytes | None, ...]]]
TimeCache = dict[bytes, tuple[float, int]]

_COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)

#: Formats known by name. ``combined`` is Nginx's built-in default
#: (ngx_http_log_module.c); ``main`` is the one in nginx.org's and Debian's packaged
#: nginx.conf; ``common`` is the NCSA common log format; ``vhost_combined`` is the Nginx
#: spelling of Debian's Apache ``vhost_combined`` (``%v:%p`` before combined);
#: ``ingress_nginx`` is the ingress-nginx controller's default ``upstreaminfo``.
PREDEFINED: dict[str, str] = {
    "combined": _COMBINED,
    "main": _COMBINED + ' "$http_x_forwarded_for"',
    "common": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
    "vhost_combined": "$host:$server_port " + _COMBINED,
    "ingress_nginx": (
        _COMBINED + " $request_length $request_time [$proxy_upstream_name] "
        "[$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length "
        "$upstream_response_time $upstream_status $req_id"
    ),
}

# Nginx variable names are [A-Za-z0-9_]+, optionally written ${name}
# (ngx_http_log_compile_format); names are case-insensitive.
_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
# An error-log line mixed into an access log (seen in real files): "YYYY/MM/DD HH:MM:SS [".

# --- variable classes: what a value can look like, which decides its sub-pattern ---------
_TIME_LOCAL, _TIME_ISO, _MSEC = "time_local", "time_iso8601", "msec"
_STATUS, _NUMBER, _LIST, _CHAIN, _TOKEN = "status", "num", "list", "chain", "tok"
_TEXT, _WORD, _XFF = "txt", "word", "xff"
#: Names reserved for formats synthesised from JSON lines (:func:`sniff_json`): ``$_json_<n>``
#: captures a key that stands for no Nginx variable (matched, never made a column), and
#: ``${_json_dollar}`` is a literal ``$`` in a key such as ``"$remote_addr"``, which a
#: ``log_format`` string cannot otherwise spell.
_RESERVED = "_json_"
_DOLLAR = "_json_dollar"

# Numbers written with %O/%T.%03M/%ui: digits and dots, or "-" from hand-written logs.
_NUMBERS = frozenset(
    {
        "body_bytes_sent",
        "bytes_sent",
        "request_length",
        "request_time",
        "connection",
        "connection_requests",
        "server_port",
        "remote_port",
        "proxy_protocol_port",
        "realip_remote_port",
        "content_length",
        "pid",
    }
)
# Values that never contain a space (addresses, names from the config, protocol tokens).
_TOKENS = frozenset(
    {
        "realip_remote_addr",
        "server_addr",
        "proxy_protocol_addr",
        "host",
        "server_name",
        "hostname",
        "scheme",
        "https",
        "request_method",
        "server_protocol",
        "request_id",
        "req_id",
        "pipe",
        "gzip_ratio",
        "ssl_protocol",
        "ssl_cipher",
        "ssl_session_reused",
        "ssl_server_name",
        "http2",
        "http3",
        "binary_remote_addr",
    }
)
# Upstream variables that are per-attempt lists; $upstream_http_* and friends are not.
_UPSTREAM_TEXT_PREFIXES = ("upstream_http_", "upstream_cookie_", "upstream_trailer_")
# Free text that really holds spaces: headers (User-Agent, Cookie...), the request line, the
# decoded $uri. Other unknown variables are taken to be space-free where that matters.
_SPACED = frozenset({"request", "request_uri", "uri", "remote_user", "request_body", "args"})
_SPACED_PREFIXES = ("http_", "sent_http_", "cookie_", "arg_", "sent_trailer_") + (
    _UPSTREAM_TEXT_PREFIXES
)

_ITEM = rb'[^\s,"]+'
_JSON_STRING = rb'[^"\\]*(?:\\.[^"\\]*)*'


def _var_class(name: str) -> str:
    """The class of a variable (see the ``_TIME_LOCAL``... constants)."""
    if name in (_TIME_LOCAL, _TIME_ISO, _MSEC, _STATUS, _DOLLAR):
        return name
    if name in _NUMBERS:
        return _NUMBER
    if name == "remote_addr":
        return _CHAIN
    if name == "http_x_forwarded_for":
        return _XFF
    if name == "http_referer":
        return _WORD  # a URL: browsers never send a raw space in it
    if name.startswith("upstream_") and not name.startswith(_UPSTREAM_TEXT_PREFIXES):
        return _LIST
    if name in _TOKENS:
        return _TOKEN
    if name in _SPACED or name.startswith(_SPACED_PREFIXES):
        return _TEXT
    return _WORD


def _var_pattern(cls: str, nxt: bytes, escape: Escape) -> bytes:
    """The sub-pattern of one variable, given its class and the byte that follows it.

    ``nxt`` is the first byte of the literal text after the variable, ``b""`` at the end of
    the format and ``b"$"`` when another variable follows directly.
    """
    if cls == _TIME_LOCAL:
        # Fixed 26-char shape; the fields are checked by parse_time_local, so a bad date is
        # rejected as "bad timestamp" rather than "does not match".
        return rb'[^\s\]"]{20} [+-]\d{4}'
    if cls == _TIME_ISO:
        # Nginx writes %4d-%02d-%02dT%02d:%02d:%02d%c%02i:%02i; "Z" and a fraction of a
        # second from other writers (log shippers re-stamp JSON lines that way).
        return rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[+-]\d\d:\d\d|Z)"
    if cls == _DOLLAR:
        return rb"\$"
    if cls == _MSEC:
        return rb"\d+(?:\.\d+)?"
    if cls == _STATUS:
        return rb"\d{3}|-"
    if cls == _NUMBER:
        return rb"-|[\d.]*"
    if cls == _LIST:
        # "10.0.0.1:80, 10.0.0.2:80 : 10.0.1.1:80", "[2a02::7]:5000", "unix:/run/a.sock", "-";
        # empty under escape=json/none when no upstream was involved.
        return rb"(?:" + _ITEM + rb"(?:(?:, | : )" + _ITEM + rb")*)?"
    if cls == _CHAIN:
        # $remote_addr, sometimes rewritten to a forwarded-for chain "10.0.0.2, 10.0.0.1".
        return _ITEM + rb"(?:, " + _ITEM + rb")*"
    lazy = nxt == b"$"
    if cls == _TOKEN:
        return rb'[^\s"]*?' if lazy else rb'[^\s"]*'
    # Free text.
    if nxt == b'"':
        if escape == "default":
            return rb'[^"]*'  # exact: a variable never contains a raw '"'
        if escape == "json":
            return _JSON_STRING  # exact: '"' is always written as \"
        return rb"[^\r\n]*?"
    if nxt == b"":
        return rb"[^\r\n]*"
    if nxt in (b" ", b"\t") and cls != _TEXT:
        # Unquoted and followed by a space: space-free (a forwarded-for list keeps its ", ").
        # Letting every unquoted variable span spaces would make a line that does not match
        # cost O(spaces ** variables) in backtracking.
        word = rb'[^\s"]+' if escape == "default" else rb"\S+"
        if cls == _XFF:
            return rb"(?:" + word + rb"(?:, " + word + rb")*)?"
        return word[:-1] + b"*"
    # Followed by a space or other literal: the shortest value that lets the rest match.
    return rb'[^"\r\n]*?' if escape == "default" else rb"[^\r\n]*?"


def _tokenize(fmt: str) -> list[tuple[bool, str]]:
    """Split a format into (is_variable, text) pieces; variable names are lowercased.

    Raises:
        ValueError: on a ``$`` that is not followed by a variable name (Nginx refuses it).
    """
    pieces: list[tuple[bool, str]] = []
    pos = 0
    for m in _VAR.finditer(fmt):
        if m.start() > pos:
            pieces.append((False, fmt[pos : m.start()]))
        pieces.append((True, (m.group(1) or m.group(2)).lower()))
        pos = m.end()
    if pos < len(fmt):
        pieces.append((False, fmt[pos:]))
    at = 0
    for is_var, text in pieces:
        if not is_var and "$" in text:
            raise ValueError(
                f"log_format: '$' at offset {at + text.index('$')} is not followed by a "
                "variable name"
            )
        at += len(text) + 1 if is_var else len(text)
    return pieces


# --- value decoding -------------------------------------------------------------------------
_XHH = re.compile(rb"\\x([0-9A-F]{2})")
_XHH_BYTES = {b"%02X" % i: bytes([i]) for i in range(256)}
_JSON_ESC = re.compile(rb'\\(?:u([0-9a-fA-F]{4})(?:\\u([0-9a-fA-F]{4}))?|(["\\/bfnrt]))')
_JSON_SIMPLE = {
    b'"': b'"',
    b"\\": b"\\",
    b"/": b"/",
    b"b": b"\b",
    b"f": b"\f",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
}


def unescape_default(value: bytes) -> bytes:
    """Undo Nginx ``escape=default``: ``\\xHH`` back to the byte it stands for."""
    return _XHH.sub(lambda m: _XHH_BYTES[m.group(1)], value)


def _json_sub(m: re.Match[bytes]) -> bytes:
    simple = m.group(3)
    if simple is not None:
        return _JSON_SIMPLE[simple]
    hi = int(m.group(1), 16)
    lo_text = m.group(2)
    if lo_text is None:
        return chr(hi).encode("utf-8", "surrogatepass")
    lo = int(lo_text, 16)
    if 0xD800 <= hi < 0xDC00 and 0xDC00 <= lo < 0xE000:
        return chr(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)).encode("utf-8")
    return (chr(hi) + chr(lo)).encode("utf-8", "surrogatepass")


def unescape_json(value: bytes) -> bytes:
    """Undo a JSON string escape (``\\"``, ``\\\\``, ``\\n``, ``\\u00XX``...) on raw bytes.

    Works on bytes rather than through ``json.loads`` because Nginx copies bytes >= 0x80 raw,
    so the "JSON" may not be valid UTF-8.
    """
    return _JSON_ESC.sub(_json_sub, value)


def split_upstream(value: bytes) -> list[list[bytes]]:
    """Split an upstream variable into groups of attempts.

    ``b"10.0.0.1:80, 10.0.0.2:80 : 10.0.1.1:80"`` gives
    ``[[b"10.0.0.1:80", b"10.0.0.2:80"], [b"10.0.1.1:80"]]``: ``", "`` separates retries inside
    one upstream group, ``" : "`` separates groups (X-Accel-Redirect, error_page). Entries are
    kept as written (``-`` is an attempt that was not measured). An empty value gives ``[]``.
    """
    if not value:
        return []
    return [group.split(b", ") for group in value.split(b" : ")]


def _sum_upstream(value: bytes) -> float:
    """Sum of the measured entries of an upstream time list; NaN when none was measured."""
    total = 0.0
    seen = False
    for group in split_upstream(value):
        for item in group:
            if item and item != b"-":
                try:
                    total += float(item)
                except ValueError:
                    continue
                seen = True
    return total if seen else math.nan


def parse_time_iso8601(text: bytes) -> tuple[float, int]:
    """Parse Nginx ``$time_iso8601`` (``2023-03-20T12:30:00+01:00``) to (epoch UTC, offset s).

    Also reads the forms other JSON writers use: ``Z`` for UTC and a fraction of a second
    (``2023-03-20T12:30:00.123Z``).

    Raises:
        ValueError: when the text is not a valid ``$time_iso8601``.
    """
    frac = 0.0
    if text[19:20] == b".":
        # A fraction of a second (not Nginx's, other writers'): ".123" before the zone.
        end = 20
        while text[end : end + 1].isdigit():
            end += 1
        if end == 20 or end > 29:
            raise ValueError("bad $time_iso8601")
        frac = float(text[19:end])
        text = text[:19] + text[end:]
    if len(text) == 25 and text[19:20] in (b"+", b"-") and text[22:23] == b":":
        if not valid_offset(int(text[20:22]), int(text[23:25])):
            raise ValueError("no such UTC offset")
        off = int(text[20:22]) * 3600 + int(text[23:25]) * 60
        if text[19:20] == b"-":
            off = -off
    elif len(text) == 20 and text[19:20] == b"Z":
        off = 0
    else:
        raise ValueError("bad $time_iso8601")
    if text[4:5] != b"-" or text[7:8] != b"-" or text[10:11] != b"T":
        raise ValueError("bad $time_iso8601")
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hh, mm, ss = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if not valid_time(year, month, day, hh, mm, ss):
        raise ValueError("no such date or time")
    epoch = calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0))
    return float(epoch - off) + frac, off


_TIME_PARSERS: dict[str, Callable[[bytes], tuple[float, int]]] = {
    _TIME_LOCAL: parse_time_local,
    _TIME_ISO: parse_time_iso8601,
}

_FIRST, _SECOND, _THIRD = itemgetter(0), itemgetter(1), itemgetter(2)
#: Values that mean "absent": ``-`` (escape=default) or empty (escape=json/none).
_ABSENT = frozenset((b"-", b""))


def _text(col: Sequence[bytes], unesc: Callable[[bytes], bytes] | None, mark: bytes) -> list[str]:
    """A column of raw values as ``str`` ("" when absent), unescaped only where needed.

    Each distinct value is converted once (:func:`~parsers.base.memo`): agents, referers,
    upstreams repeat a lot, and an escaped agent costs a regex substitution.
    """
    if unesc is None:
        return memo(col, lambda v: "" if v in _ABSENT else v.decode("utf-8", "backslashreplace"))
    return memo(col, lambda v: "" if v in _ABSENT else (
        unesc(v) if mark in v else v).decode("utf-8", "backslashreplace"))


def _split_request(req: str) -> tuple[str, str, str]:
    """Method, path and protocol of a decoded request line; garbage stays in the path (the
    same split as ``nginx_access._split_request``)."""
    parts = req.split(" ")
    if len(parts) == 3 and parts[0].isascii() and parts[0].isalpha():
        return parts[0], parts[1], parts[2]
    if len(parts) == 2 and parts[0].isascii() and parts[0].isalpha():
        return parts[0], parts[1], ""  # HTTP/0.9 "GET /"
    return "", req, ""


def _float_or_nan(v: bytes) -> float:
    try:
        return float(v)
    except ValueError:
        return math.nan


def _int_or(v: bytes, default: int) -> int:
    try:
        return int(v)
    except ValueError:
        return default


def _floats(col: Sequence[bytes]) -> list[float]:
    """Float seconds, NaN when absent. The fast path raises only on garbage like ``1.2.3``."""
    nan = math.nan
    try:
        return [nan if v in _ABSENT else float(v) for v in col]
    except ValueError:
        return [nan if v in _ABSENT else _float_or_nan(v) for v in col]


def _ints(col: Sequence[bytes], absent: int) -> list[int]:
    """Integers, ``absent`` when the value is ``-``, empty or not an integer."""
    try:
        return [absent if v in _ABSENT else int(v) for v in col]
    except ValueError:
        return [absent if v in _ABSENT else _int_or(v, absent) for v in col]


#: Variables a requests column stands for; the others are kept as ``var_<name>``.
_COLUMN_VARIABLES = frozenset({
    "remote_addr", "realip_remote_addr", "remote_user", "request", "request_method",
    "request_uri", "uri", "server_protocol", "status", "body_bytes_sent", "bytes_sent",
    "http_referer", "http_user_agent", "http_x_forwarded_for", "request_time",
    "upstream_addr", "upstream_status", "upstream_response_time", "host", "server_name",
    "http_host", "time_local", "time_iso8601", "msec"})



def _parse_or_nan(parse: Callable[[bytes], tuple[float, int]], v: bytes) -> tuple[float, int]:
    try:
        return parse(v)
    except ValueError:
        return math.nan, 0



# --- JSON objects ---------------------------------------------------------------------------
# A one-line JSON object read member by member, keeping each value's raw bytes (quotes
# included): Nginx's escape=json output is not always JSON (raw invalid UTF-8, an unquoted
# "$upstream_response_time" written as "0.001, 0.002" or as nothing), so json.loads is no use.
_J_OPEN = re.compile(rb"[ \t]*\{")
_J_CLOSE = re.compile(rb"[ \t]*\}")
_J_KEY = re.compile(rb'[ \t]*"([^"\\]*(?:\\.[^"\\]*)*)"[ \t]*:[ \t]*')
_J_BARE_ITEM = rb'[^\s,{}\[\]"][^\s,{}"]*'
# A string, or a bare token (number, true/false/null, "-", an unquoted upstream list), or
# nothing (a bare variable Nginx found empty).
_J_VALUE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|(?:' + _J_BARE_ITEM + rb"(?:(?:, | : )"
                      + _J_BARE_ITEM + rb")*)?")
_J_SEP = re.compile(rb"[ \t]*([,}])")
_J_NESTED = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{\[]|[}\]]|[^"{}\[\]]+')
#: One member of a JSON line: key (decoded), start and end of its raw value, nested or not.
Member = tuple[str, int, int, bool]


def _json_key(raw: bytes) -> str:
    """A raw JSON key as text (escapes undone, invalid UTF-8 kept visible)."""
    return (unescape_json(raw) if b"\\" in raw else raw).decode("utf-8", "backslashreplace")


def _skip_nested(line: bytes, pos: int, end: int) -> int | None:
    """The end of the object or array that starts at ``pos``; None when it is not closed."""
    depth = 0
    for m in _J_NESTED.finditer(line, pos, end):
        tok = m.group()
        if tok in (b"{", b"["):
            depth += 1
        elif tok in (b"}", b"]"):
            depth -= 1
            if depth == 0:
                return m.end()
    return None


def json_members(line: bytes) -> list[Member] | str:
    """The members of a line holding one JSON object, or why the line is not one.

    Each member is ``(key, start, end, nested)``: ``line[start:end]`` is the value as written
    (a string with its quotes, a bare token, or a nested object/array when ``nested``).
    """
    end = len(line)
    while end and line[end - 1] in b"\r\n":
        end -= 1
    m = _J_OPEN.match(line, 0, end)
    if m is None:
        return "not a JSON object"
    bad = "malformed JSON object (cut short?)"
    pos = m.end()
    members: list[Member] = []
    closed = _J_CLOSE.match(line, pos, end)
    if closed is not None:
        pos = closed.end()
    else:
        while True:
            k = _J_KEY.match(line, pos, end)
            if k is None:
                return bad
            key, pos = _json_key(k.group(1)), k.end()
            if line[pos : pos + 1] in (b"{", b"["):
                stop = _skip_nested(line, pos, end)
                if stop is None:
                    return bad
                members.append((key, pos, stop, True))
                pos = stop
            else:
                v = _J_VALUE.match(line, pos, end)
                assert v is not None  # the pattern can match nothing
                members.append((key, pos, v.end(), False))
                pos = v.end()
            sep = _J_SEP.match(line, pos, end)
            if sep is None:
                return bad
            pos = sep.end()
            if sep.group(1) == b"}":
                break
    if line[pos:end].strip():
        return "text after the JSON object"
    return members


_REORDERED = ("some lines have their JSON keys in another order or set than the format; "
              "they were read one by one (slower)")
@functools.lru_cache(maxsize=256)
def _fits(var: str, quoted: bool) -> Callable[[bytes], bool | None]:
    """A test of one raw value against the pattern Nginx's ``var`` has there (True or None)."""
    pattern = re.compile(_var_pattern(_var_class(var), b'"' if quoted else b",", "json"))
    return lambda v: True if pattern.fullmatch(_inner(v)) else None


def _inner(value: bytes) -> bytes:
    """A raw JSON value without its quotes."""
    return value[1:-1] if value.startswith(b'"') else value


#: Variables without which a line of a JSON format is rejected when its key is missing.
_LINE_NEEDS = frozenset({_TIME_LOCAL, _TIME_ISO, _MSEC, _STATUS})


@dataclass(frozen=True)
class _JsonSlot:
    """One member of a JSON format: the literal text before its value, its key, whether the
    value is quoted, and the variables in the value."""

    prefix: bytes
    key: str
    quoted: bool
    variables: tuple[str, ...]


class _JsonTemplate:
    """A ``log_format`` that writes one flat JSON object, as a list of members.

    Nginx writes the keys in the format's order on every line, which the compiled pattern
    relies on. A line whose keys come in another order or set (a log shipper re-serialised
    it) is rebuilt here in the format's order, from its own raw values, and matched again:
    such lines are read, one by one and slower, rather than rejected for their key order.
    Why not reject them: they are the same requests, and a shipper that leaves out empty
    keys does so on some requests only (those without an upstream, say), so dropping them
    would skew the failure rate, not just shrink the sample. Values still go through the
    format's own pattern, so a value Nginx could not have written is rejected as before.
    """

    def __init__(self, slots: list[_JsonSlot], suffix: bytes) -> None:
        self.slots = slots
        self.suffix = suffix

    @classmethod
    def of(cls, pieces: list[tuple[bool, str]]) -> _JsonTemplate | None:
        """The template of a tokenised format; None when the format is not one flat
        JSON object with variables only in values."""
        names: list[str] = []
        out: list[bytes] = []
        for is_var, text in pieces:
            if not is_var:
                out.append(text.encode("utf-8"))
            elif text == _DOLLAR:
                out.append(b"$")
            else:
                out.append(b"\x00")  # a placeholder the member reader takes as a value
                names.append(text)
        rendered = b"".join(out)
        members = json_members(rendered)
        if isinstance(members, str) or not members:
            return None
        slots: list[_JsonSlot] = []
        pos = seen = 0
        for key, start, end, nested in members:
            if nested or "\x00" in key or b"\x00" in rendered[pos:start]:
                return None
            n = rendered.count(b"\x00", start, end)
            slots.append(_JsonSlot(rendered[pos:start], key, rendered[start:start + 1] == b'"',
                                   tuple(names[seen:seen + n])))
            seen += n
            pos = end
        return cls(slots, rendered[pos:].rstrip(b"\r\n"))

    def rebuild(self, raw: bytes) -> tuple[bytes | None, str]:
        """``raw`` rewritten with its values in the format's key order, or None and why.

        A key the line lacks is written as ``-`` (what Nginx writes for a missing variable
        under escape=default, read as absent); a line without the key of the time or the
        status is refused. ``null`` is absent too. A value is not requoted: a string where
        the format has a bare value (or the reverse) is not what the format writes, and the
        line is rejected. Keys the format does not have are left out.
        """
        members = json_members(raw)
        if isinstance(members, str):
            return None, members
        values: dict[str, bytes] = {}
        for key, start, end, nested in members:
            if nested:
                return None, f"nested JSON value in key {key!r} (Nginx writes flat objects)"
            values.setdefault(key, raw[start:end])
        out: list[bytes] = []
        for slot in self.slots:
            out.append(slot.prefix)
            v = values.get(slot.key)
            if v is None:
                if _LINE_NEEDS.intersection(slot.variables):
                    return None, f"no key {slot.key!r}"
                # Absent as escape=default writes it: "" does not fit $remote_addr.
                v = b'"-"' if slot.quoted else b"-"
            elif v == b"null":
                v = b'"-"' if slot.quoted else b"-"
            out.append(v)
        out.append(self.suffix)
        return b"".join(out), ""

    def misfit(self, line: bytes) -> str:
        """Why a rebuilt ``line`` does not match: the first key whose value does not fit its
        variable's pattern ("" when none is found)."""
        members = json_members(line)
        if isinstance(members, str):
            return ""
        for slot, (key, start, end, _) in zip(self.slots, members, strict=False):
            value = line[start:end]
            if slot.quoted != value.startswith(b'"'):
                return (f"value of key {key!r} is " + ("bare" if slot.quoted else "a string")
                        + " where the format has " + ("a string" if slot.quoted else "it bare"))
            if len(slot.variables) == 1 and not _fits(slot.variables[0], slot.quoted)(value):
                return f"value of key {key!r} does not fit ${slot.variables[0]}"
        return ""


class LogFormat:
    """A compiled ``log_format``: the line pattern and the converter of its groups.

    Attributes:
        fmt: the format string as given.
        escape: the ``escape=`` parameter of the format.
        name: the :data:`PREDEFINED` name of the format, or None for a custom one.
        regex: one flat, anchored bytes pattern; group *i* is ``variables[i]``.
        variables: variable names (lowercase, without ``$``) in group order.
    """

    def __init__(self, fmt: str, escape: Escape = "default", name: str | None = None) -> None:
        """Compile ``fmt``; see :func:`compile_format`."""
        if escape not in ("default", "json", "none"):
            raise ValueError(f"log_format: unknown escape={escape!r} (default, json or none)")
        self.fmt = fmt
        self.escape: Escape = escape
        self.name = name
        pieces = _tokenize(fmt)
        parts: list[bytes] = []
        self.variables: list[str] = []
        #: (variable name or None for literal text, its sub-pattern), in format order.
        self._pieces: list[tuple[str | None, bytes]] = []
        self._compact_cache: dict[bool, tuple[re.Pattern[bytes], re.Pattern[bytes],
                                              list[int], list[str]]] = {}
        self._blocks: tuple[re.Pattern[bytes], re.Pattern[bytes]] | None = None
        for i, (is_var, text) in enumerate(pieces):
            if not is_var:
                # Literal text is written by Nginx as it is in the format, never escaped.
                parts.append(re.escape(text.encode("utf-8")))
                self._pieces.append((None, parts[-1]))
                continue
            after = pieces[i + 1] if i + 1 < len(pieces) else None
            if after is None:
                nxt = b""
            elif after[0]:
                nxt = b"$"
            else:
                nxt = after[1].encode("utf-8")[:1]
            sub = _var_pattern(_var_class(text), nxt, escape)
            parts.append(b"(" + sub + b")")
            self._pieces.append((text, sub))
            self.variables.append(text)
        if not self.variables:
            raise ValueError("log_format: the format has no variables")
        self.regex: re.Pattern[bytes] = re.compile(b"".join(parts) + rb"\r?\n?\Z")
        # First occurrence wins when a variable is logged twice.
        index: dict[str, int] = {}
        for i, var in enumerate(self.variables):
            index.setdefault(var, i)
        self._index = index

        def first(*names: str) -> int | None:
            for n in names:
                if n in index:
                    return index[n]
            return None

        # Which groups feed which columns, decided once here rather than per row.
        self._msec = first(_MSEC)
        self._offset_var = _TIME_LOCAL if _TIME_LOCAL in index else _TIME_ISO
        self._offset_i = first(_TIME_LOCAL, _TIME_ISO)
        if self._offset_i is None and self._msec is None:
            raise ValueError(
                "log_format: the format has no time variable ($time_local, $time_iso8601 "
                "or $msec), so its lines cannot be placed on a timeline"
            )
        self._client = first("remote_addr", "realip_remote_addr")
        self._user = first("remote_user")
        self._request = first("request")
        self._method = first("request_method")
        self._uri = first("request_uri", "uri")
        self._proto = first("server_protocol")
        self._status = first("status")
        self._bytes = first("body_bytes_sent", "bytes_sent")
        self._referer = first("http_referer")
        self._ua = first("http_user_agent")
        self._xff = first("http_x_forwarded_for")
        self._rtime = first("request_time")
        self._uaddr = first("upstream_addr")
        self._ustatus = first("upstream_status")
        self._utime = first("upstream_response_time")
        self._vhost = first("host", "server_name", "http_host")
        self._extra = {v: i for v, i in index.items()
                       if v not in _COLUMN_VARIABLES and not v.startswith(_RESERVED)}
        self._unesc: Callable[[bytes], bytes] | None
        #: The members of a JSON-object format, to read lines whose keys Nginx did not
        #: write in the format's order (a log shipper's); None for other formats.
        self._json = _JsonTemplate.of(pieces) if escape == "json" else None
        self._reason = f"does not match log_format {self.label}"
        if escape == "default":
            self._unesc, self._mark = unescape_default, b"\\x"
        elif escape == "json":
            self._unesc, self._mark = unescape_json, b"\\"
        else:
            self._unesc, self._mark = None, b""

    def _compact(self, want_client: bool = False
                 ) -> tuple[re.Pattern[bytes], re.Pattern[bytes], list[int], list[str]]:
        """The first pass's block pattern (and its first-line form): the format's pattern
        with capture groups only for the time, status, user agent, forwarded-for and the
        latencies (and the client when asked), and the full pattern's group index of each
        capture. Built once per format and variant."""
        cached = self._compact_cache.get(want_client)
        if cached is None:
            cached = self._compact_cache[want_client] = self._build_compact(want_client)
        return cached

    def _build_compact(self, want_client: bool
                       ) -> tuple[re.Pattern[bytes], re.Pattern[bytes], list[int], list[str]]:
        client = ("remote_addr", "realip_remote_addr") if want_client else ()
        want = [v for v in (_MSEC if self._msec is not None else self._offset_var, "status",
                            "http_user_agent", "http_x_forwarded_for", "request_time",
                            "upstream_response_time", *client) if v in self._index]
        parts: list[bytes] = []
        taken: list[str] = []
        for var, sub in self._pieces:
            if var is None:
                parts.append(sub)
            elif var in want and var not in taken:
                parts.append(b"(" + sub + b")")
                taken.append(var)
            else:
                parts.append(b"(?:" + sub + b")")
        body = b"".join(parts) + rb"(?=\r?\n|\Z)"
        return (re.compile(b"\n" + body), re.compile(body), [self._index[v] for v in taken],
                taken)

    def _block_patterns(self) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
        """The full pattern in block form (every variable captured, in order): for the
        first line of a block, and behind a newline for the others (see
        :func:`~parsers.base.match_block`). Built once per format."""
        if self._blocks is None:
            body = b"".join(sub if var is None else b"(" + sub + b")"
                            for var, sub in self._pieces) + rb"(?=\r?\n|\Z)"
            self._blocks = (re.compile(body), re.compile(b"\n" + body))
        return self._blocks

    def compact_chunks(
        self, blocks: Iterable[bytes], stats: ParseStats, options: ParseOptions
    ) -> Iterator[CompactChunk]:
        """The first pass over blocks of whole lines: one ``findall`` per block.

        Yields compact chunks (``COMPACT_COLUMNS``, plus ``request_time`` and
        ``upstream_time`` arrays when the format logs them). A block some line of which the
        block pattern does not fit (:func:`~parsers.base.match_block`) goes line by line
        through the full pattern, with the same skip and reject reasons as
        :func:`parse_with`.
        """
        find, first_re, full_index, names = self._compact(options.want_client)
        match = self.regex.match
        first = options.first_line
        total = 0
        for buf in blocks:
            if not buf:
                continue
            n = count_lines(buf)
            total += n
            rows = match_block(buf, n, first_re, find)
            numbers: list[int] | range
            if rows is not None:
                numbers = range(first, first + n)
            else:
                rows, numbers = [], []
                pick = [i + 1 for i in full_index]
                valid = self._time_ok
                # The captures come in format order: the time is not always the first.
                ti = names.index(_MSEC if self._msec is not None else self._offset_var)
                for ln, raw in enumerate(block_lines(buf), start=first):
                    m = match(raw)
                    reason = ""
                    if m is None and raw.strip() and not ERROR_LINE.match(raw):
                        m, reason = self.rematch(raw, stats)
                    if m is not None:
                        row = m.group(*pick) if len(pick) > 1 else (m.group(pick[0]),)
                        # Checked here, not with the block's other times, so that rejects
                        # (and --on-bad-lines error) come in line order.
                        if not valid(row[ti]):
                            stats.reject(ln, "bad timestamp", row[ti], options)
                            continue
                        rows.append(row)
                        numbers.append(ln)
                    elif not raw.strip():
                        stats.skip("blank line")
                    elif ERROR_LINE.match(raw):
                        stats.skip("error-log line in an access log")
                    else:
                        stats.reject(ln, reason, raw, options)
            first += n
            yield self._compact_chunk(rows, numbers, names, stats, options)
        stats.lines = total
        stats.variant = self.label + ("" if self.escape == "default" else f" escape={self.escape}")

    def rematch(self, raw: bytes, stats: ParseStats) -> tuple[re.Match[bytes] | None, str]:
        """The match of a line the pattern does not fit as it is, or None and the reason.

        Only a JSON-object format gets a second try: the line rebuilt with its keys in the
        format's order (see :class:`_JsonTemplate`); a note says when that happened.
        """
        if self._json is None:
            return None, self._reason
        line, why = self._json.rebuild(raw)
        if line is None:
            return None, why
        m = self.regex.match(line)
        if m is None:
            return None, self._json.misfit(line) or self._reason
        if _REORDERED not in stats.notes:
            stats.notes.append(_REORDERED)
        return m, ""

    def _time_ok(self, raw: bytes) -> bool:
        """True when the format's time variable ``raw`` converts to a timestamp."""
        if self._msec is not None:
            return raw not in _ABSENT and math.isfinite(_float_or_nan(raw))
        try:
            _TIME_PARSERS[self._offset_var](raw)
        except ValueError:
            return False
        return True

    def _compact_chunk(self, rows: list[tuple[bytes, ...]], numbers: list[int] | range,
                       names: list[str], stats: ParseStats,
                       options: ParseOptions) -> CompactChunk:
        n = len(rows)
        cols: dict[str, tuple[bytes, ...]] = dict(zip(names, zip(*rows, strict=True),
                                                      strict=True)) if n else {}
        line = np.asarray(numbers, dtype=np.int64)
        if n == 0:
            empty: CompactChunk = {"ts": np.zeros(0), "status": np.zeros(0, dtype=np.int64),
                                   "user_agent": [], "forwarded": np.zeros(0, dtype=bool),
                                   "line": line}
            if "request_time" in names:
                empty["request_time"] = np.zeros(0)
            if "upstream_response_time" in names:
                empty["upstream_time"] = np.zeros(0)
            if options.want_client:
                empty["client"] = []
            return empty
        if self._msec is not None:
            ts = np.array(_floats(cols[_MSEC]), dtype=np.float64)
            ts[~np.isfinite(ts)] = np.nan
            offsets = None
        elif self._offset_var == _TIME_LOCAL:
            ts, offsets = parse_time_local_many(b"".join(cols[_TIME_LOCAL]), n)
        else:
            parse = _TIME_PARSERS[_TIME_ISO]
            seen = {v: _parse_or_nan(parse, v) for v in dict.fromkeys(cols[_TIME_ISO])}
            got = list(map(seen.__getitem__, cols[_TIME_ISO]))
            ts = np.array([g[0] for g in got], dtype=np.float64)
            offsets = np.array([g[1] for g in got], dtype=np.int64)
        if stats.utc_offset_s is None and offsets is not None and not np.isnan(ts[0]):
            stats.utc_offset_s = int(offsets[0])
        status = (memo(cols["status"], lambda v: _int_or(v, 0) if v not in _ABSENT else 0)
                  if "status" in cols else [0] * n)
        st = np.asarray(status, dtype=np.int64)
        ua: list[bytes] = list(cols["http_user_agent"]) if "http_user_agent" in cols else (
            [b""] * n)
        if "http_x_forwarded_for" in cols:
            fwd = memo(cols["http_x_forwarded_for"], lambda v: v not in _ABSENT)
            forwarded = np.asarray(fwd, dtype=bool)
        else:
            forwarded = np.zeros(n, dtype=bool)
        out: CompactChunk = {"ts": ts, "status": st, "user_agent": ua,
                             "forwarded": forwarded, "line": line}
        if options.want_client:
            raw = cols.get("remote_addr", cols.get("realip_remote_addr", (b"",) * n))
            out["client"] = [v.rsplit(b", ", 1)[-1] for v in raw]
        if "request_time" in cols:
            out["request_time"] = np.asarray(
                memo(cols["request_time"], lambda v: _floats((v,))[0]), dtype=np.float64)
        if "upstream_response_time" in cols:
            out["upstream_time"] = np.asarray(memo(
                cols["upstream_response_time"],
                lambda v: math.nan if v in _ABSENT else (
                    _sum_upstream(v) if b"," in v or b" : " in v else _float_or_nan(v))),
                dtype=np.float64)
        bad = np.isnan(ts)
        if bad.any():
            times = cols[_MSEC if self._msec is not None else self._offset_var]
            for i in np.flatnonzero(bad).tolist():
                stats.reject(int(line[i]), "bad timestamp", times[i], options)
            keep = ~bad
            flags = keep.tolist()
            kept: dict[str, Any] = {
                k: ([u for u, f in zip(v, flags, strict=True) if f] if isinstance(v, list)
                    else v[keep]) for k, v in cast(dict[str, Any], out).items()}
            out = cast(CompactChunk, kept)
        stats.parsed += len(out["ts"])
        if len(out["ts"]):
            stats.see_ts(float(out["ts"].min()))
            stats.see_ts(float(out["ts"].max()))
        return out

    @property
    def label(self) -> str:
        """The name of the format, or its first 40 characters, for messages."""
        if self.name is not None:
            return self.name
        if self._json is not None:
            # A JSON object's first 40 characters say little ('{"time":"$time_iso8601",...').
            return "JSON lines"
        return repr(self.fmt[:40] + ("..." if len(self.fmt) > 40 else ""))

    def __repr__(self) -> str:
        return f"LogFormat({self.fmt!r}, escape={self.escape!r})"

    def _timestamps(self, brows: list[tuple[int, tuple[bytes, ...]]], tcache: TimeCache,
                    stats: ParseStats, options: ParseOptions
                    ) -> tuple[list[tuple[int, tuple[bytes, ...]]], list[float]]:
        """The rows whose time parses, and their epoch times; the others are rejected
        with ``bad timestamp``."""
        keys: list[bytes]
        if self._msec is not None:
            # $msec is unique per line, so caching it would only grow the cache.
            keys = [g[self._msec] for _, g in brows]
            try:
                ts_col = [float(k) for k in keys]
            except ValueError:
                ts_col = [_float_or_nan(k) for k in keys]
            bad = {k for k, t in zip(keys, ts_col, strict=True) if not math.isfinite(t)}
        else:
            ti = cast(int, self._offset_i)
            keys = [g[ti] for _, g in brows]
            # Parse each distinct timestamp once (a second's worth of lines share one).
            bad = set()
            parse = _TIME_PARSERS[self._offset_var]
            for raw in set(keys).difference(tcache):
                try:
                    tcache[raw] = parse(raw)
                except ValueError:
                    bad.add(raw)
            ts_col = [] if bad else [tcache[k][0] for k in keys]
        if bad:
            kept: list[tuple[int, tuple[bytes, ...]]] = []
            for row, k in zip(brows, keys, strict=True):
                if k in bad:
                    stats.reject(row[0], "bad timestamp", k, options)
                else:
                    kept.append(row)
            brows = kept
            ts_col = (
                [float(g[self._msec]) for _, g in brows]
                if self._msec is not None
                else [tcache[g[cast(int, self._offset_i)]][0] for _, g in brows]
            )
        return brows, ts_col

    def _note_offset(self, groups: tuple[bytes, ...], tcache: TimeCache,
                     stats: ParseStats) -> None:
        """Record the file's UTC offset from the first row's time, when it carries one."""
        if self._offset_i is None:
            return
        raw = groups[self._offset_i]
        hit = tcache.get(raw)
        if hit is None:
            try:
                hit = _TIME_PARSERS[self._offset_var](raw)
            except ValueError:
                hit = None
            else:
                tcache[raw] = hit
        if hit is not None:
            stats.utc_offset_s = hit[1]

    def rows_to_chunk(
        self,
        rows: Rows,
        tcache: TimeCache,
        stats: ParseStats,
        options: ParseOptions,
    ) -> dict[str, list[Any]]:
        """Convert matched rows ``(line number, groups)`` into a columnar request chunk.

        Conversions run column by column over the whole chunk (comprehensions with local
        aliases), not per line. Rows whose timestamp is invalid are rejected with
        ``bad timestamp``. ``tcache`` maps raw ``$time_local``/``$time_iso8601`` bytes to
        ``(epoch, offset)``; timestamps repeat within a second, so each is parsed once.

        Returns:
            A dict with exactly the keys of :data:`REQUEST_COLUMNS`.
        """
        # Every group takes part in every match, so no value is None.
        brows, ts_col = self._timestamps(
            cast("list[tuple[int, tuple[bytes, ...]]]", rows), tcache, stats, options)
        n = len(brows)
        if n == 0:
            return empty_request_chunk()
        cols = list(zip(*[g for _, g in brows], strict=True))
        unesc, mark = self._unesc, self._mark
        out: dict[str, list[Any]] = {"ts": ts_col}

        if self._client is not None:
            out["client"] = memo(cols[self._client], lambda v: (
                v.rsplit(b", ", 1)[-1] if b", " in v else v).decode("utf-8", "backslashreplace"))
        else:
            out["client"] = [""] * n
        out["remote_user"] = (
            _text(cols[self._user], unesc, mark) if self._user is not None else [""] * n
        )

        method: list[str]
        path: list[str]
        proto: list[str]
        if self._request is not None:
            # Split on the decoded text (one decode per request instead of three), once per
            # distinct request line.
            parts = memo(cols[self._request], lambda v: _split_request(
                (unesc(v) if unesc is not None and mark in v else v).decode(
                    "utf-8", "backslashreplace")))
            method = list(map(_FIRST, parts))
            path = list(map(_SECOND, parts))
            proto = list(map(_THIRD, parts))
        else:
            blank = [""] * n
            method = _text(cols[self._method], unesc, mark) if self._method is not None else blank
            path = _text(cols[self._uri], unesc, mark) if self._uri is not None else blank[:]
            proto = _text(cols[self._proto], unesc, mark) if self._proto is not None else blank[:]
        out["method"], out["path"], out["protocol"] = method, path, proto

        out["status"] = _ints(cols[self._status], 0) if self._status is not None else [0] * n
        out["bytes_sent"] = _ints(cols[self._bytes], -1) if self._bytes is not None else [-1] * n
        for col, idx in (
            ("referer", self._referer),
            ("user_agent", self._ua),
            ("forwarded_for", self._xff),
        ):
            out[col] = _text(cols[idx], unesc, mark) if idx is not None else [""] * n
        nan = math.nan
        out["request_time"] = _floats(cols[self._rtime]) if self._rtime is not None else [nan] * n
        for col, idx in (("upstream_addr", self._uaddr), ("upstream_status", self._ustatus)):
            out[col] = _text(cols[idx], unesc, mark) if idx is not None else [""] * n
        if self._utime is not None:
            out["upstream_time"] = memo(cols[self._utime], lambda v: nan if v in _ABSENT else (
                _sum_upstream(v) if b"," in v or b" : " in v else _float_or_nan(v)))
        else:
            out["upstream_time"] = [nan] * n
        out["vhost"] = (
            _text(cols[self._vhost], unesc, mark) if self._vhost is not None else [""] * n
        )
        out["line"] = [ln for ln, _ in brows]

        stats.parsed += n
        stats.see_ts(min(ts_col))
        stats.see_ts(max(ts_col))
        if stats.utc_offset_s is None:
            self._note_offset(brows[0][1], tcache, stats)
        stats.variant = self.label + ("" if self.escape == "default" else f" escape={self.escape}")
        chunk = {c: out[c] for c in REQUEST_COLUMNS}
        # Variables no column stands for ($cookie_session, $http_x_user_id...) are kept as
        # "var_<name>" columns: the second pass may group users by one (--user-key).
        for name, idx in self._extra.items():
            chunk[f"var_{name}"] = _text(cols[idx], unesc, mark)
        return chunk


def compile_format(fmt: str, escape: Escape = "default") -> LogFormat:
    """Compile an Nginx ``log_format`` string (or a :data:`PREDEFINED` name) into a parser.

    ``fmt`` is the format as Nginx sees it after the config's quoting is removed, e.g.
    ``'$remote_addr [$time_local] "$request" $status'``. Literal text is matched exactly;
    each variable becomes a capture group whose pattern depends on the variable (``$status``
    is ``\\d{3}``, upstream variables are lists...) and on the character after it (a
    variable followed by ``"`` is ``[^"]*`` under escape=default). Unknown variables are
    accepted as opaque text. With ``escape="json"`` the same flat pattern is used instead of
    a JSON parser, which would fail on raw invalid UTF-8 and on unquoted upstream lists.

    Nginx does not escape spaces, so an unquoted variable followed by a space is ambiguous.
    ``$request``, ``$uri``, ``$remote_user`` and headers (``$http_*``...) take the shortest
    value that lets the rest of the line match; ``$http_referer``, ``$http_x_forwarded_for``
    (a ``", "`` list) and unknown variables are taken to hold no space there. A format with
    several unquoted header variables in a row still backtracks a lot on lines that do not
    match it (cost grows with spaces ** variables).

    Args:
        fmt: the format string, or the name of a :data:`PREDEFINED` format.
        escape: the format's ``escape=`` parameter.

    Raises:
        ValueError: when the format has a ``$`` without a name, no variables, or no time
            variable (``$time_local``, ``$time_iso8601`` or ``$msec``).
    """
    return _compile_cached(fmt, escape)


@functools.lru_cache(maxsize=64)
def _compile_cached(fmt: str, escape: Escape) -> LogFormat:
    # A LogFormat never changes once built, so one instance can serve every file.
    name = None
    if fmt in PREDEFINED:
        name, fmt = fmt, PREDEFINED[fmt]
    elif escape == "default":
        name = next((k for k, v in PREDEFINED.items() if v == fmt), None)
    return LogFormat(fmt, escape, name)


def parse_with(
    fmt: LogFormat, lines: Iterable[bytes], stats: ParseStats, options: ParseOptions
) -> Iterator[dict[str, list[Any]]]:
    """Parse access lines written with ``fmt`` into columnar request chunks.

    Lines are matched :data:`_BATCH_LINES` at a time with one ``findall`` (the block form of
    the full pattern); a batch some line of which does not fit goes line by line. Blank
    lines and error-log lines are skipped with a reason; lines that do not match are
    rejected with ``does not match log_format <name>`` (or, for a JSON format, a more
    precise reason). ``stats.lines`` is set at the end.
    """
    match = fmt.regex.match
    first_re, find = fmt._block_patterns()
    tcache: TimeCache = {}
    rows: Rows = []
    lineno = options.first_line - 1
    it = iter(lines)
    while batch := list(islice(it, _BATCH_LINES)):
        start = lineno + 1
        lineno += len(batch)
        # A batch of lines is matched as one block, one findall (as the first pass does);
        # a batch with a line the block pattern does not fit goes line by line.
        buf = b"".join(ln if ln.endswith(b"\n") else ln + b"\n" for ln in batch)
        found = match_block(buf, len(batch), first_re, find)
        if found is not None:
            rows.extend(zip(range(start, lineno + 1), found, strict=True))
        else:
            for ln, raw in enumerate(batch, start=start):
                m = match(raw)
                if m is None:
                    if not raw.strip():
                        stats.skip("blank line")
                        continue
                    if ERROR_LINE.match(raw):
                        stats.skip("error-log line in an access log")
                        continue
                    m, reason = fmt.rematch(raw, stats)
                    if m is None:
                        stats.reject(ln, reason, raw, options)
                        continue
                rows.append((ln, m.groups()))
        while len(rows) >= CHUNK_ROWS:  # chunks of CHUNK_ROWS rows, as line by line
            yield fmt.rows_to_chunk(rows[:CHUNK_ROWS], tcache, stats, options)
            del rows[:CHUNK_ROWS]
    stats.lines = lineno - options.first_line + 1
    if rows:
        yield fmt.rows_to_chunk(rows, tcache, stats, options)


#: Lines matched as one block by :func:`parse_with`.
_BATCH_LINES = 2048


#: Lines of a file's head looked at by :func:`first_lines_fail` and :func:`guess_format`.
HEAD_LINES = 20


def _head_lines(head: bytes) -> list[bytes]:
    """The first :data:`HEAD_LINES` non-blank lines of ``head``."""
    return [ln for ln in head.split(b"\n") if ln.strip()][:HEAD_LINES]


def first_lines_fail(head: bytes, fmt: LogFormat) -> bool:
    """True when none of the first 20 non-blank lines of ``head`` match ``fmt``."""
    match = fmt.regex.match
    return not any(match(ln) for ln in _head_lines(head))


def guess_format(head: bytes) -> str | None:
    """The :data:`PREDEFINED` format that matches most of the first 20 lines of ``head``.

    Ties go to the more specific (longer) format. None when no format matches any line.
    A line cut short at the end of ``head`` simply fails to match every format alike.
    """
    lines = _head_lines(head)
    best: tuple[int, int] = (0, 0)
    best_name = None
    for name, text in PREDEFINED.items():
        match = compile_format(name).regex.match
        hits = sum(1 for ln in lines if match(ln))
        if hits and (hits, len(text)) > best:
            best, best_name = (hits, len(text)), name
    return best_name


#: Timing fields people append to combined/main, in the shapes their guides publish: bare
#: ``$request_time [$upstream_addr $upstream_status] $upstream_response_time`` (most
#: "timed" formats on blogs and Q&A sites), NGINX's ``rt= uct= uht= urt=`` upstream-timing
#: format, and NGINX's ``main_ext``. Tried after combined and after main; the one that fits
#: the most of a file's first lines wins (ties: the longer format).
TIMING_TAILS: tuple[str, ...] = (
    " $request_time",
    " $request_time $upstream_response_time",
    " $request_time $upstream_addr $upstream_status $upstream_response_time",
    " $request_time $upstream_addr $upstream_response_time $upstream_status",
    ' "$request_time" "$upstream_response_time"',
    ' rt=$request_time uct="$upstream_connect_time" uht="$upstream_header_time"'
    ' urt="$upstream_response_time"',
    ' "$host" sn="$server_name" rt=$request_time ua="$upstream_addr" us="$upstream_status"'
    ' ut="$upstream_response_time" ul="$upstream_response_length"'
    " cs=$upstream_cache_status",
)


def guess_timed(head: bytes) -> str | None:
    """combined or main followed by one of :data:`TIMING_TAILS`, when one fits at least half
    of the first lines of ``head`` (and more of them than any other); else None.

    A trailing ``0.257 10.0.0.3:8080 200 0.257`` is the request's and the upstream's times:
    Nginx prints ``$request_time`` and ``$upstream_response_time`` with milliseconds
    (``%T.%03M``), so the shape is telling, but it is a guess, and the report says so.
    """
    lines = _head_lines(head)
    if not lines:
        return None
    best: tuple[int, int] = (0, 0)
    best_fmt = None
    for base in (PREDEFINED["main"], PREDEFINED["combined"]):
        for tail in TIMING_TAILS:
            fmt = base + tail
            match = compile_format(fmt).regex.match
            hits = sum(1 for ln in lines if match(ln))
            if hits and (hits, len(fmt)) > best:
                best, best_fmt = (hits, len(fmt)), fmt
    return best_fmt if best[0] * 2 >= len(lines) else None


def split_escape(spec: str) -> tuple[str, Escape]:
    """``"escape=json {...}"`` (Nginx's own syntax) into the format and its escaping."""
    head, _, rest = spec.partition(" ")
    if head in ("escape=default", "escape=json", "escape=none") and rest:
        return rest.strip(), head.split("=", 1)[1]  # type: ignore[return-value]
    return spec, "default"


# --- JSON lines without a format: the keys say which variable each value is ---------------
#: Keys that hold the time whatever their name says: the value's shape picks the variable.
_TIME_KEYS = frozenset({"time", "timestamp", "@timestamp", "ts", "date", "datetime", "@t",
                        "time_local", "time_iso8601", "msec", "log_time", "logtime"})
_ISO_SHAPE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[+-]\d\d:\d\d|Z)")
_LOCAL_SHAPE = re.compile(rb"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}")
# Epoch seconds (9-10 digits: 1973-2286), with Nginx's milliseconds or more. Epoch
# milliseconds as an integer (13 digits) are no Nginx variable and are not taken.
_MSEC_SHAPE = re.compile(rb"\d{9,10}(?:\.\d{1,9})?")
_TIME_SHAPES = ((_ISO_SHAPE, _TIME_ISO), (_LOCAL_SHAPE, _TIME_LOCAL), (_MSEC_SHAPE, _MSEC))


def _aliases(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {alias: var for var, names in table.items() for alias in (var, *names)}


#: The names people give Nginx's fields in JSON, normalised (lower case, ``.``/``-`` -> ``_``).
_ALIASES = _aliases({
    "remote_addr": ("client_ip", "clientip", "ip", "client", "remote_ip", "remoteip",
                    "client_addr", "client_address", "remote_address", "remoteaddr",
                    "source_ip", "src_ip"),
    "request": ("request_line",),
    "request_method": ("method", "verb", "http_method", "http_request_method"),
    "request_uri": ("path", "url", "request_path", "request_url", "url_path",
                    "url_original"),
    "server_protocol": ("protocol", "proto", "http_version", "http_protocol"),
    "status": ("code", "status_code", "statuscode", "response", "response_code",
               "response_status", "http_status", "http_status_code",
               "http_response_status_code"),
    "body_bytes_sent": ("bytes", "size", "body_bytes", "body_size", "response_size",
                        "response_bytes"),
    "request_time": ("response_time", "responsetime", "duration", "latency",
                     "request_duration", "elapsed"),
    "upstream_response_time": ("upstream_time", "upstream_latency", "upstream_duration"),
    "upstream_addr": ("upstream", "upstream_address", "backend"),
    "upstream_status": ("upstream_code", "upstream_status_code"),
    "http_user_agent": ("ua", "user_agent", "agent", "useragent", "user_agent_original",
                        "http_useragent"),
    "http_referer": ("referer", "referrer", "http_referrer"),
    "http_x_forwarded_for": ("xff", "x_forwarded_for", "forwarded_for"),
    "remote_user": ("user", "auth_user"),
    "host": ("vhost", "virtual_host"),
    "request_id": ("req_id", "requestid", "x_request_id"),
})
#: Nginx variables taken by their own name (besides the families in _NGINX_PREFIXES).
_NGINX_VARIABLES = _NUMBERS | _TOKENS | _COLUMN_VARIABLES | _SPACED | frozenset({
    "query_string", "document_uri", "is_args", "request_completion", "request_filename",
    "content_type", "nginx_version", "server_port", "time_local", "time_iso8601", "msec",
    "status", "uri", "request_uri"})
_NGINX_PREFIXES = ("http_", "sent_http_", "sent_trailer_", "cookie_", "arg_", "upstream_",
                   "ssl_", "proxy_protocol_", "realip_")
_NAME = re.compile(r"[a-z0-9_]+")
#: Fields an access log is made of: two of these and a time make JSON lines an access log.
_ACCESS = frozenset({
    "status", "request", "request_uri", "uri", "request_method", "remote_addr",
    "http_user_agent", "body_bytes_sent", "bytes_sent", "request_time", "upstream_addr",
    "upstream_status", "upstream_response_time", "http_referer", "http_x_forwarded_for"})
_TIMES = frozenset({_TIME_LOCAL, _TIME_ISO, _MSEC})
_REQUESTS = frozenset({"request", "request_uri", "uri"})


def _normal_key(key: str) -> str:
    """A key as looked up: lower case, ``.``, ``-`` and spaces as ``_``, no leading ``$``."""
    norm = key.strip().lower().replace(".", "_").replace("-", "_").replace(" ", "_")
    return norm[1:] if norm.startswith("$") else norm


def _named_variable(norm: str) -> str | None:
    """The Nginx variable a (normalised) key names, by its name alone; None if none."""
    if norm in _ALIASES:
        return _ALIASES[norm]
    if _NAME.fullmatch(norm) and (norm in _NGINX_VARIABLES or norm.startswith(_NGINX_PREFIXES)):
        return norm
    return None


def _time_shape(value: bytes) -> str | None:
    """The time variable whose shape ``value`` has, or None."""
    inner = _inner(value)
    return next((var for shape, var in _TIME_SHAPES if shape.fullmatch(inner)), None)


def _most(values: Sequence[bytes], test: Callable[[bytes], Any]) -> Any:
    """The most common result of ``test`` over ``values`` when more than half of them give
    it, else None."""
    got = Counter(r for r in map(test, values) if r is not None)
    if not got:
        return None
    best, n = got.most_common(1)[0]
    return best if 2 * n > len(values) else None




def _map_key(key: str, values: Sequence[bytes], quoted: bool) -> tuple[str | None, str]:
    """The variable a key stands for, or None and why not, from its name and values."""
    norm = _normal_key(key)
    named = _named_variable(norm)
    if norm in _TIME_KEYS:
        var = _most(values, _time_shape)
        if var is None:
            shown = _inner(values[0])[:40].decode("utf-8", "backslashreplace")
            return None, (f"{shown!r} is not a time Nginx writes: $time_iso8601 "
                          "2023-03-20T12:30:00+00:00, $time_local 20/Mar/2023:12:30:00 +0000 "
                          "or $msec 1679315400.123")
        return var, ""
    if named is None:
        return None, "unknown key"
    if not _most(values, _fits(named, quoted)):
        return None, f"values do not look like ${named}"
    return named, ""


@dataclass(frozen=True)
class JsonKey:
    """One key of sniffed JSON lines: the Nginx variable it stands for, or why none."""

    key: str
    variable: str | None
    why: str = ""


@dataclass(frozen=True)
class JsonSniff:
    """What the first lines of a file of JSON objects say about it (see :func:`sniff_json`).

    Attributes:
        spec: the equivalent ``log_format`` with its escaping (``escape=json {...}``), as
            ``--log-format`` takes it; "" when no format could be made.
        keys: every key of the lines, in order, with its variable.
        problem: why the file cannot be read this way ("" when it can).
        access: the keys look like an access log's (a time and two request fields), so the
            file is an Nginx access log even when ``problem`` says it cannot be read.
    """

    spec: str
    keys: tuple[JsonKey, ...]
    problem: str
    access: bool

    def notes(self) -> list[str]:
        """The mapping, and the keys left unused, as notes for the report and ``inspect``."""
        used = ", ".join(f"{k.key} -> ${k.variable}" for k in self.keys if k.variable)
        out = [f"JSON lines; keys read as Nginx variables: {used} (--log-format overrides)"]
        unused = [f"{k.key} ({k.why})" for k in self.keys if not k.variable]
        if unused:
            out.append("JSON keys not used: " + ", ".join(unused))
        return out


def _looks_like_access(keys: Sequence[str], timed: bool) -> bool:
    """Two request fields among ``keys`` and a time (a time key, or ``timed``), or three
    request fields without a time (an access log whose time is missing or unreadable: it
    is told so rather than called unknown)."""
    norms = [_normal_key(k) for k in keys]
    fields = {_named_variable(n) for n in norms} & _ACCESS
    return len(fields) >= 3 or (len(fields) >= 2 and (timed or any(n in _TIME_KEYS
                                                                    for n in norms)))


def _missing(vars_: set[str], keys: Sequence[JsonKey]) -> str:
    """What a format with ``vars_`` lacks to place requests on a timeline, or ""."""
    need = []
    if not vars_ & _TIMES:
        timed = [f"{k.key!r}: {k.why}" for k in keys
                 if _normal_key(k.key) in _TIME_KEYS and not k.variable]
        need.append("a time (a key such as time, @timestamp or time_iso8601 holding "
                    "$time_iso8601, $time_local or $msec" + (f"; {timed[0]}" if timed else "")
                    + ")")
    if "status" not in vars_:
        need.append("the status (a key such as status or status_code)")
    if not vars_ & _REQUESTS:
        need.append("the request (a key such as request, uri or path)")
    return " and ".join(need)


def sniff_json(head: bytes) -> JsonSniff | None:
    """Recognise an access log written as one JSON object a line, from its first lines.

    Nginx's ``log_format ... escape=json '{"time":"$time_iso8601",...}'`` writes the same
    keys in the same order on every line, so the most common shape among the first lines
    (keys, their order, quoting and spacing) is turned back into the ``log_format`` that
    wrote it: each key becomes the variable its name says (``remote_addr``,
    ``$remote_addr``, ``client_ip``, ``ua``...; see ``docs/inputs.md``), a time key the
    variable its value's shape says, and other keys a ``$_json_<n>`` that is matched and
    not used. That format then reads the file like any other, one ``findall`` a block.

    Returns:
        None when most of the first lines are not JSON objects; else what was found, with
        ``problem`` set when the lines cannot be read (nested objects, no time, status or
        request) and ``--log-format`` is the way out.
    """
    lines = _head_lines(head)
    objects = [ln for ln in lines if ln.lstrip(b" \t").startswith(b"{")]
    if not objects or 2 * len(objects) < len(lines):
        return None
    shapes: dict[tuple[tuple[bytes, ...], tuple[bool, ...]], list[tuple[bytes, list[Member]]]]
    shapes = {}
    nested: list[Member] | None = None
    seen = 0
    for ln in objects:
        members = json_members(ln)
        if isinstance(members, str) or not members:
            continue
        seen += 1
        if any(m[3] for m in members):
            nested = nested or members
            continue
        cuts = [0] + [e for _, _, e, _ in members]
        literals = tuple(ln[a:s] for a, (_, s, _, _) in zip(cuts, members, strict=False))
        body_end = len(ln.rstrip(b"\r\n"))
        sig = (literals + (ln[cuts[-1]:body_end],),
               tuple(ln[s:s + 1] == b'"' for _, s, _, _ in members))
        shapes.setdefault(sig, []).append((ln, members))
    if 2 * seen < len(objects):
        return None
    if not shapes:
        assert nested is not None
        where = next(m[0] for m in nested if m[3])
        return JsonSniff("", (), f"JSON lines with nested objects (key {where!r}): Nginx's "
                         "log_format writes flat objects; flatten them, or give their "
                         "format with --log-format",
                         _looks_like_access([m[0] for m in nested], False))
    (literals, quoted), rows = max(shapes.items(), key=lambda kv: len(kv[1]))
    first_members = rows[0][1]
    parts: list[str] = []
    keys_out: list[JsonKey] = []
    taken: dict[str, str] = {}
    for i, (key, _, _, _) in enumerate(first_members):
        values = [ln[m[i][1]:m[i][2]] for ln, m in rows]
        var, why = _map_key(key, values, quoted[i])
        if var is not None:
            if var in taken:
                why = f"same field as {taken[var]!r}"
                var = None
            else:
                taken[var] = key
        try:
            literal = literals[i].decode("utf-8")
        except UnicodeDecodeError:
            return JsonSniff("", (), "JSON lines whose keys are not UTF-8", False)
        name = var or f"{_RESERVED}{i}"
        parts.append(literal.replace("$", "${" + _DOLLAR + "}"))
        parts.append(f'"${name}"' if quoted[i] else f"${name}")
        keys_out.append(JsonKey(key, var, why))
    try:
        parts.append(literals[-1].decode("utf-8"))
    except UnicodeDecodeError:
        return JsonSniff("", (), "JSON lines that are not UTF-8 outside their values", False)
    fmt = "".join(parts)
    keys = tuple(keys_out)
    timed = any(_time_shape(ln[m[i][1]:m[i][2]]) for ln, m in rows[:1]
                for i in range(len(m)))
    access = _looks_like_access([k.key for k in keys], timed)
    lack = _missing(set(taken), keys)
    if lack:
        return JsonSniff("", keys, f"JSON access log without {lack}; give its format with "
                         "--log-format 'escape=json {...}' (the log_format from nginx.conf)",
                         access)
    escape = _escape_of([ln[s:e] for ln, m in rows for _, s, e, _ in m if ln[s:s + 1] == b'"'])
    compiled = compile_format(fmt, escape)
    if not any(compiled.regex.match(ln) for ln, _ in rows):  # pragma: no cover - a bug
        return JsonSniff("", keys, "JSON lines whose keys were recognised, but whose lines "
                         "do not match the format made from them; give --log-format", access)
    return JsonSniff(f"escape={escape} {fmt}", keys, "", access)


_XHH_ESCAPE = re.compile(rb"\\x[0-9A-F]{2}")
_JSON_ESCAPE = re.compile(rb'\\["\\/bfnrtu]')


def _escape_of(values: Sequence[bytes]) -> Escape:
    """``default`` when the string values show Nginx's ``\\xHH`` escapes and no JSON escape
    (a JSON-shaped log_format without escape=json, as before Nginx 1.11.8), else ``json``."""
    if any(map(_XHH_ESCAPE.search, values)) and not any(map(_JSON_ESCAPE.search, values)):
        return "default"
    return "json"
