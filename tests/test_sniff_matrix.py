"""Every sample under tests/data/<format>/ is recognised as <format>, and by no other parser."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import parsers

DATA = Path(__file__).parent / "data"
# tests/data/wrap/ holds records around Nginx lines (parsers/wrap), not a format of its own:
# tests/test_wrap_samples.py reads them.
SAMPLES = sorted(
    p for p in DATA.glob("*/*")
    if p.is_file() and p.name != "README.md" and p.parent.is_dir() and p.parent.name != "wrap"
)

def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _head(path: Path) -> bytes:
    return path.read_bytes()[: parsers.SNIFF_BYTES]


@pytest.mark.parametrize(
    "path",
    SAMPLES,
    ids=_id,
)
def test_registry_picks_the_folder_format(path: Path) -> None:
    module = parsers.sniff(_head(path))
    assert module is not None, f"no parser recognises {_id(path)}"
    assert module.NAME == path.parent.name


def _pairs() -> list[Any]:
    out = []
    for path in SAMPLES:
        for module in parsers.REGISTRY:
            case_id = f"{module.NAME}-sniffs-{_id(path)}"
            out.append(pytest.param(path, module, id=case_id))
    return out


@pytest.mark.parametrize(("path", "module"), _pairs())
def test_sniff_matrix(path: Path, module: ModuleType) -> None:
    """Each parser accepts its own samples and refuses everyone else's."""
    assert module.sniff(_head(path)) == (module.NAME == path.parent.name)


def test_every_format_folder_has_samples_and_a_readme() -> None:
    names = {m.NAME for m in parsers.REGISTRY}
    for folder in (
        DATA / n for n in ("grafana", "pagerduty", "opsgenie", "datadog", "cloudwatch", "changes")
    ):
        assert folder.name in names
        assert (folder / "README.md").is_file(), folder
        assert any(p.name != "README.md" for p in folder.iterdir()), folder
