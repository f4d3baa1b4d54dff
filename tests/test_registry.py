"""The parser registry and the package layout."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest

import parsers
import timeline

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"


def test_every_parser_module_is_registered() -> None:
    # base, export, log_format and transport are helpers, not formats; wrap holds the
    # record layouts the formats arrive in (Docker, CRI, journald, log stores).
    helpers = {"base", "export", "log_format", "transport", "wrap"}
    modules = {m.name for m in pkgutil.iter_modules(parsers.__path__)} - helpers
    assert modules == {m.__name__.rsplit(".", 1)[1] for m in parsers.REGISTRY}


@pytest.mark.parametrize("module", parsers.REGISTRY, ids=lambda m: m.NAME)
def test_parser_module_contract(module: object) -> None:
    for attr in ("NAME", "DESCRIPTION", "TABLE", "LOCAL_TIME", "sniff", "parse"):
        assert hasattr(module, attr), attr
    assert module.TABLE in ("requests", "events")  # type: ignore[attr-defined]


def test_packages_resolve_inside_this_project() -> None:
    # "parsers" and "timeline" are generic names; another installed package must not shadow us.
    assert Path(parsers.__file__).resolve().parent == ROOT / "parsers"
    assert Path(timeline.__file__).resolve().parent == ROOT / "timeline"


EXPECTED = {"access.log": "nginx_access", "error.log": "nginx_error",
            "webhook.jsonl": "alertmanager"}


@pytest.mark.parametrize(
    "path", sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.parent != SAMPLES),
    ids=lambda p: str(p.relative_to(SAMPLES)))
def test_sniff_sample_logs(path: Path) -> None:
    module = parsers.sniff(path.read_bytes()[: parsers.SNIFF_BYTES])
    assert module is not None and module.NAME == EXPECTED[path.name]


def test_parse_errors_are_timeline_errors() -> None:
    # The root is defined in parsers.base (parsers import nothing from timeline).
    assert timeline.TimelineError is parsers.TimelineError
    assert issubclass(parsers.BadLineError, parsers.ParseError)
    assert issubclass(parsers.ParseError, timeline.TimelineError)


def test_block_parsers() -> None:
    # The engine hands blocks of lines to the parsers that read them (parse_blocks).
    assert [m.NAME for m in parsers.REGISTRY if isinstance(m, parsers.BlockParser)] == [
        "nginx_access"
    ]
