"""Escaping of log-derived text (attacker-controlled) for each output format."""

from __future__ import annotations

import html as _html
import re

# Characters with meaning in CommonMark/GFM inline text and tables. Line-start syntax (#, -,
# 1.) cannot occur: escaped text never starts a line and newlines become \x0a.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~&])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Lone surrogates: a file name's bytes that are not UTF-8 (Python keeps byte 0xHH as
# U+DCHH), or a \ud800 escape in a JSON export. No output encoding can write them.
_CONTROL_OR_SURROGATE = re.compile(_CONTROL.pattern[:-1] + "\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _shown(m: re.Match[str]) -> str:
    code = ord(m.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a non-UTF-8 name: show the byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def strip_control(text: str) -> str:
    """Replace control characters (incl. terminal escapes and bidi overrides) by ``\\xHH``,
    and lone surrogates (non-UTF-8 bytes of a file name) by the byte's ``\\xHH``."""
    return _CONTROL_OR_SURROGATE.sub(_shown, text)


def json_safe(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) that UTF-8 can encode.

    Lone surrogates can only stand inside JSON strings; each becomes its ``\\uXXXX`` escape,
    which a reader decodes back to the same string, as ``ensure_ascii=True`` would write it.
    """
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def md(text: object) -> str:
    """Escape text for Markdown inline content (also safe inside a table cell)."""
    return _MD_SPECIAL.sub(r"\\\1", strip_control(str(text)))


def md_code(text: object) -> str:
    """Wrap text in an inline code span that no backtick inside can close."""
    s = strip_control(str(text)).replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def terminal(text: object) -> str:
    """Text safe to print on a terminal: no escape sequences, no rich markup."""
    return strip_control(str(text)).replace("[", "\\[")


def mpl(text: object, limit: int = 60) -> str:
    """Text safe as a matplotlib label: no mathtext (``$``), no control bytes, bounded length."""
    s = strip_control(str(text)).replace("$", r"\$")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def html(text: object) -> str:
    """Escape text for HTML or XML content and quoted attribute values (SVG included)."""
    return _html.escape(strip_control(str(text)), quote=True)
