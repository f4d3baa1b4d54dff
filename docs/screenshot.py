"""Remake docs/report.png (top of report.html for the seed outage, in Chromium) and
docs/timeline.png (its chart): ``python docs/screenshot.py`` from the repository root.

Needs Debian's chromium and Playwright (the test extra), as tests/test_html_report.py.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timeline.cli import app  # noqa: E402


def main() -> None:
    """Build the seed's report, screenshot it, copy its chart."""
    out = Path(tempfile.mkdtemp())
    os.chdir(ROOT)
    app(["build", "sample_logs/seed-outage/", "-o", str(out), "-q"], standalone_mode=False)
    shutil.copyfile(out / "timeline.png", ROOT / "docs" / "timeline.png")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium")
                                     or "/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 1500})
        page.goto((out / "report.html").as_uri())
        page.screenshot(path=str(ROOT / "docs" / "report.png"))
        browser.close()
    shutil.rmtree(out)


if __name__ == "__main__":
    main()
