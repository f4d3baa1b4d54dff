"""The installed package holds every module and template of the source tree.

README's first command installs with ``pip install .`` (not editable): a subpackage or a
data file missing from the package list works in the test suite's editable install and
fails on the user's machine. Build the wheel and compare it with the tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_holds_every_module_and_template(tmp_path: Path) -> None:
    # A clean copy: a build/ folder left in the checkout would hand the wheel files the
    # package list no longer names.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for top in ("timeline", "parsers"):
        shutil.copytree(ROOT / top, src / top, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    wheel = next(tmp_path.glob("*.whl"))
    inside = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        p.relative_to(ROOT).as_posix()
        for top in ("timeline", "parsers")
        for p in (ROOT / top).rglob("*")
        if p.is_file() and (p.suffix in (".py", ".j2")) and "__pycache__" not in p.parts
    }
    assert wanted, "no source files found"
    assert sorted(wanted - inside) == []
