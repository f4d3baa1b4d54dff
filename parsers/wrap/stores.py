"""Log stores' exports (filled in below)."""

from __future__ import annotations

from parsers.wrap import Wrapper

WRAPPERS: tuple[Wrapper, ...] = ()
TEXT_WRAPPERS: tuple[Wrapper, ...] = ()
