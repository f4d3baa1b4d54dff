"""README.md documents every option of ``build`` and every key of the JSON contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from tests.conftest import T0, make_dataset, request_row
from timeline import AnalysisOptions, build
from timeline.cli import app
from timeline.report import to_json

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _table_options() -> set[str]:
    """The options named in the first cell of the Usage options table."""
    cells = re.findall(r"^\| (`.+?) \|", README, flags=re.MULTILINE)
    return {opt for cell in cells for opt in re.findall(r"`(--?[\w-]+)", cell)
            + re.findall(r", (--?[\w-]+)", cell)}


def test_every_build_option_is_in_the_readme_table() -> None:
    # Typer may bring its own click: look at the command by its attributes.
    command = typer.main.get_command(app).commands["build"]  # type: ignore[attr-defined]
    params = [p for p in command.params if p.param_type_name == "option"]
    options = {o for p in params for o in p.opts} - {"--help"}
    assert sorted(o for o in options if o not in _table_options()) == []
    # The synopsis names each option once, by either spelling.
    usage = README[README.index("## Usage"):README.index("| option | meaning |")]
    assert [p.opts for p in params if not any(f"[{o} " in usage or f"[{o}]" in usage
                                              for o in p.opts)] == []


def test_every_json_key_is_in_the_readme_contract() -> None:
    rows = [request_row(T0 + i, "198.51.100.1", 200) for i in range(120)]
    doc = json.loads(to_json(build(make_dataset(rows), window=(T0, T0 + 60),
                                   options=AnalysisOptions(slo=99.9))))
    contract = README[README.index("The contract"):README.index("- **`timeline.png`**")]
    inc = doc["incidents"][0]
    keys = {*doc, "key_times", "durations", *inc["impact"], *inc["slo"], *inc["slo"]["burn_rate"],
            *inc["key_times"], *inc["key_times"]["impact_start"], *inc["durations"],
            *inc["impact"]["latency"], "links", "upstream_links"}
    keys -= {"requests_lost_estimate", "users_estimated", "users_measurable",
             "requests_failed_background", "failing_statuses"}  # older keys, not listed
    assert sorted(k for k in keys if f'"{k}"' not in contract) == []
