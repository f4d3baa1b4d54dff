"""report.html in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

The page must load with no console error and no request but its own file:// URL, show every
section, render to a non-blank screenshot, print to A4 and Letter pages, follow the dark
setting, and, for logs whose paths, user agents, host names and alert names hold markup,
show that markup as text and run nothing (a sentinel a running script would set stays
unset). Also here: the formats ``--format`` writes, and byte-identical outputs across runs
and ``--jobs``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from timeline.cli import app

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

#: Ids of the sections every report with an incident has.
SECTIONS = ("summary", "chart", "key-times", "impact", "timeline", "detection", "actions",
            "misleading", "resolution", "root-cause", "measures", "appendix", "sources",
            "evidence", "method")

#: What the hostile input plants; a script that ran would set window.__pwned.
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
HOST = "web-<img src=x onerror=window.__pwned=1>"
ALERT = "<svg onload=window.__pwned=1>"

runner = CliRunner()


def _build(out: Path, *paths: Path, args: tuple[str, ...] = ()) -> Path:
    cwd = os.getcwd()
    os.chdir(paths[0].parent)
    try:
        result = runner.invoke(app, ["build", *(p.name for p in paths), "-o", str(out),
                                     "-q", *args])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return out


def _hostile_copy(dest: Path) -> Path:
    """The seed outage with markup in paths, user agents, the failing host's name, the
    alert's name and error-log requests, and a rejected line full of it."""
    root = dest / "hostile"
    shutil.copytree(SEED, root)
    (root / "web-3").rename(root / HOST)
    access = root / "lb-1" / "access.log"
    text = access.read_text()
    # Nginx writes a double quote inside a quoted field as \x22 (escape=default).
    text = text.replace("GET /api/cart HTTP", f"GET /api/cart/{SCRIPT} HTTP")
    text = text.replace('"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 '
                        'Firefox/110.0"', '"' + IMG.replace('"', "\\x22")
                        + ' javascript:window.__pwned=1"')
    text += f"javascript:window.__pwned=1 {SCRIPT} {IMG}\n"
    access.write_text(text)
    error = root / "lb-1" / "error.log"
    error.write_text(error.read_text().replace("GET /api/cart HTTP",
                                               f"GET /api/cart/{SCRIPT} HTTP"))
    alerts = root / "alertmanager" / "webhook.jsonl"
    alerts.write_text(alerts.read_text().replace("NginxHighErrorRate", ALERT))
    return root


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("html")
    hostile = _hostile_copy(base)
    built = {"seed": _build(base / "seed", SEED, args=("--format", "html,svg,md,json")),
             "hostile": _build(base / "hostile-out", hostile, args=("--format", "html,md"))}
    for name in TEMPLATES:
        built[f"seed-{name}"] = _build(base / f"seed-{name}", SEED,
                                       args=("--format", "html,md", "--template", name))
        built[f"hostile-{name}"] = _build(base / f"hostile-{name}", hostile,
                                          args=("--format", "html,md", "--template", name))
    return built


#: The other built-in templates and the sections their report.html must show (the ones
#: their Markdown has, in its order).
TEMPLATES = {
    "google-sre": ("Summary", "Impact", "Root Causes", "Trigger", "Resolution", "Detection",
                   "Action Items", "Lessons Learned", "Timeline", "Supporting information"),
    "pagerduty": ("Overview", "What Happened", "Resolution", "Impact", "Responders",
                  "Timeline", "Root Cause(s)", "How'd We Do?", "Action Items", "Messaging"),
    "atlassian": ("Incident summary", "Leadup", "Fault", "Impact", "Detection", "Response",
                  "Recovery", "Timeline", "Five whys", "Root cause", "Lessons learned",
                  "Corrective actions"),
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright is missing: pip install -e '.[test]'")
    with sync_api.sync_playwright() as pw:
        # Playwright's own browser download is not used: Debian's chromium is driven.
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Visit:
    """A page opened from a file, with every console error and request recorded."""

    def __init__(self, browser: Any, path: Path, **context: Any) -> None:
        self.url = path.resolve().as_uri()
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(self.url, wait_until="load")

    def close(self) -> None:
        self.context.close()


def _pixels(png: bytes) -> np.ndarray:
    import matplotlib.image

    return np.asarray(matplotlib.image.imread(io.BytesIO(png), format="png"))


def test_seed_report_loads_clean_with_every_section(browser: Any,
                                                    reports: dict[str, Path]) -> None:
    v = Visit(browser, reports["seed"] / "report.html", viewport={"width": 1100, "height": 900})
    try:
        page = v.page
        assert v.errors == []
        assert v.requests == [v.url]
        for section in SECTIONS:
            assert page.locator(f"#{section}").count() == 1, section
        assert page.title().startswith("Postmortem (draft): 2023-03-20 config change on web-3")
        # The chart: a titled rectangle per bin, titled markers and spans in the lane.
        bins = page.locator("svg.tl-chart rect.tl-hit > title")
        assert bins.count() == 166
        assert "requests" in bins.nth(40).text_content()
        lane = page.eval_on_selector_all("svg.tl-chart g.tl-ev > title",
                                         "els => els.map(e => e.textContent)")
        assert any(t.startswith("Alert NginxHighErrorRate firing") for t in lane)
        assert sum("Nginx reloaded its configuration" in t for t in lane) == 2
        assert any("upstream_refused error-log lines" in t for t in lane)
        # Every timeline row links to an entry of the evidence appendix.
        rows = page.locator("#timeline tbody tr")
        assert rows.count() >= 9
        targets = page.eval_on_selector_all(
            "#timeline a[href^='#ev-']", "els => els.map(e => e.getAttribute('href'))")
        assert len(targets) >= rows.count()
        for href in set(targets):
            assert page.locator(f"#appendix tr{href}").count() == 1, href
        shot = _pixels(page.screenshot(full_page=True))
        assert shot.shape[0] > 2000 and float(shot[..., :3].std()) > 0.05
        # Not a blank page: a good share of pixels differ from the background.
        assert float((np.abs(shot[..., :3] - shot[0, 0, :3]).sum(axis=2) > 0.1).mean()) > 0.05
    finally:
        v.close()


def test_same_content_as_the_markdown(browser: Any, reports: dict[str, Path]) -> None:
    md = (reports["seed"] / "postmortem.md").read_text()
    doc = json.loads((reports["seed"] / "timeline.json").read_text())
    v = Visit(browser, reports["seed"] / "report.html")
    try:
        headings = v.page.eval_on_selector_all("h1, h2, h3", "els => els.map(e => e.textContent)")
        for heading in re.findall(r"^#{1,3} (.+)$", md, flags=re.MULTILINE):
            assert heading in headings, heading
        text = v.page.inner_text("body")
        inc = doc["incidents"][0]
        for entry in inc["timeline"]:
            assert entry["text"] in text, entry["text"]
        for cause in inc["causes"]:
            assert cause["summary"] in text
        for name, k in inc["key_times"].items():
            assert (k["evidence"] or k["reason"]) in text, name
    finally:
        v.close()


def test_dark_setting_and_print_pages(browser: Any, reports: dict[str, Path]) -> None:
    path = reports["seed"] / "report.html"
    colour = "getComputedStyle(document.documentElement).backgroundColor"
    light = Visit(browser, path, color_scheme="light")
    dark = Visit(browser, path, color_scheme="dark")
    try:
        assert light.page.evaluate(colour) == "rgb(255, 255, 255)"
        assert dark.page.evaluate(colour) == "rgb(22, 24, 29)"
        assert dark.errors == []
        # Printed, nothing runs off the right edge: the page's width less the margins
        # (A4 210 mm, Letter 8.5 in; 12 mm each side) at 96 px an inch.
        for width in (703, 725):
            page = browser.new_page(viewport={"width": width, "height": 1000})
            page.goto(light.url)
            page.emulate_media(media="print")
            wide = page.evaluate("[...document.querySelectorAll('body *')].filter(e => "
                                 "e.getBoundingClientRect().right > innerWidth + 0.5)"
                                 ".map(e => e.tagName + '#' + e.id)")
            assert wide == [], (width, wide[:5])
            page.close()
        # Printed: A4 and Letter pages of the right size, the content on more than one.
        for size, box in (("A4", b"595.9"), ("Letter", b"612 792")):
            pdf = light.page.pdf(format=size)
            pages = re.findall(rb"/Type\s*/Page\b(?!s)", pdf)
            assert pdf.startswith(b"%PDF") and 3 <= len(pages) <= 12, (size, len(pages))
            assert all(box in m for m in re.findall(rb"/MediaBox\s*\[[^\]]*\]", pdf))
    finally:
        light.close()
        dark.close()


def _ran_nothing(v: Visit) -> None:
    """No planted script ran, nothing was fetched, and nothing from the input became an
    element or an event handler."""
    page = v.page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert v.errors == []
    assert v.requests == [v.url]
    assert page.evaluate("document.querySelectorAll('script, img, iframe, object, "
                         "embed, foreignObject, svg svg').length") == 0
    handlers = page.evaluate("[...document.querySelectorAll('*')].flatMap(e => "
                             "[...e.attributes].map(a => a.name))"
                             ".filter(n => n.startsWith('on'))")
    assert handlers == []


def test_hostile_input_shows_as_text_and_runs_nothing(browser: Any,
                                                      reports: dict[str, Path]) -> None:
    v = Visit(browser, reports["hostile"] / "report.html")
    try:
        page = v.page
        _ran_nothing(v)
        text = page.inner_text("body")
        for planted in (SCRIPT, HOST, ALERT, "javascript:window.__pwned=1", "onerror="):
            assert planted in text, planted
        titles = page.eval_on_selector_all("svg.tl-chart title",
                                           "els => els.map(e => e.textContent).join('\\n')")
        assert f"Alert {ALERT} firing" in titles
    finally:
        v.close()


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_each_template_gives_its_own_sections_in_the_page(
        browser: Any, reports: dict[str, Path], name: str) -> None:
    """``--template google-sre`` wrote google-sre's Markdown but the default page: the
    page now shows the chosen template's text (the same as postmortem.md) and the chart."""
    v = Visit(browser, reports[f"seed-{name}"] / "report.html",
              viewport={"width": 1100, "height": 900})
    try:
        assert v.errors == [] and v.requests == [v.url]
        headings = v.page.eval_on_selector_all("main h2", "els => els.map(e => e.textContent)")
        assert [h for h in headings if h in TEMPLATES[name]] == list(TEMPLATES[name])
        assert v.page.locator("section#chart svg.tl-chart").count() == 1
        assert v.page.locator("table").count() >= 2  # the Markdown tables became tables
        text = v.page.inner_text("body")
        assert "12:30:00" in text and "TODO" in text
        shot = _pixels(v.page.screenshot(full_page=True))
        assert shot.std() > 0.05, "the page rendered blank"
    finally:
        v.close()


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_hostile_input_runs_nothing_in_any_template(browser: Any, reports: dict[str, Path],
                                                    name: str) -> None:
    v = Visit(browser, reports[f"hostile-{name}"] / "report.html")
    try:
        page = v.page
        _ran_nothing(v)
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        assert not [h for h in hrefs if h.lower().startswith("javascript:")], hrefs
        text = page.inner_text("body")
        assert HOST in text  # the failing host's name, as text
    finally:
        v.close()


def test_svg_file_stands_alone(browser: Any, reports: dict[str, Path]) -> None:
    v = Visit(browser, reports["seed"] / "timeline.svg")
    try:
        assert v.errors == [] and v.requests == [v.url]
        assert v.page.locator("rect.tl-hit").count() == 166
    finally:
        v.close()


def test_formats_and_byte_identical_across_jobs(tmp_path: Path) -> None:
    every = ("--format", "md,json,jsonl,png,svg,html")
    one = _build(tmp_path / "one", SEED, args=(*every, "--jobs", "1"))
    two = _build(tmp_path / "two", SEED, args=(*every, "--jobs", "2"))
    names = sorted(p.name for p in one.iterdir() if not p.name.startswith("."))
    assert names == ["postmortem.md", "report.html", "timeline.json", "timeline.jsonl",
                     "timeline.png", "timeline.svg"]
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    default = _build(tmp_path / "default", SEED)
    assert sorted(p.name for p in default.iterdir() if not p.name.startswith(".")) == [
        "postmortem.md", "report.html", "timeline.json", "timeline.png"]


def test_jsonl_is_what_timesketch_imports(tmp_path: Path) -> None:
    out = _build(tmp_path / "r", SEED, args=("--format", "jsonl,json"))
    lines = [json.loads(x) for x in (out / "timeline.jsonl").read_text().splitlines()]
    doc = json.loads((out / "timeline.json").read_text())
    assert len(lines) == len(doc["incidents"][0]["timeline"])
    for line, entry in zip(lines, doc["incidents"][0]["timeline"], strict=True):
        assert {"message", "datetime", "timestamp_desc", "timestamp"} <= line.keys()
        assert line["message"] == entry["text"] and line["source"] == entry["source"]
        assert line["datetime"].endswith("+00:00")
        assert line["datetime"][:19] == entry["ts"][:19]
    assert lines[0]["timestamp_desc"] == "Incident start"


def test_display_tz_shows_local_times_and_json_stays_utc(tmp_path: Path) -> None:
    utc = _build(tmp_path / "utc", SEED, args=("--format", "md,json,html"))
    berlin = _build(tmp_path / "berlin", SEED, args=("--format", "md,json,html,svg",
                                                     "--display-tz", "Europe/Berlin"))
    assert (utc / "timeline.json").read_bytes() == (berlin / "timeline.json").read_bytes()
    md = (berlin / "postmortem.md").read_text()
    assert "All times are Europe/Berlin" in md
    assert "from 2023-03-20 13:30:00 +01:00 to 2023-03-20 15:14:54 +01:00" in md
    assert "13:30:00 +01:00" in (berlin / "report.html").read_text()
    assert "time (Europe/Berlin)" in (berlin / "timeline.svg").read_text()


def test_bad_format_and_zone_are_usage_errors(tmp_path: Path) -> None:
    for args, what in ((("--format", "md,pdf"), "unknown format pdf"),
                       (("--display-tz", "Mars/Olympus"), "unknown time zone")):
        result = runner.invoke(app, ["build", str(SEED), "-o", str(tmp_path / "x"), *args])
        assert result.exit_code == 2 and what in result.output, result.output
        assert not (tmp_path / "x").exists()
