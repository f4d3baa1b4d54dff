"""Host names are log content (issue 14, group 6): with --host-from-line they come from the
client's Host header, so a request could plant a live Markdown link or <script> in the
report. Every place a host name appears goes through the same escaping."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from timeline.cli import app

runner = CliRunner()
EVIL = "[evil](http://x.example)<script>alert(1)</script>"


def _log(path: Path) -> None:
    lines = []
    for m in range(120):
        for k in range(20):
            host = EVIL if k % 2 else "shop.example"
            status = 502 if 60 <= m < 80 and k % 2 else 200
            lines.append(f"{host}:80 10.0.{k}.{m % 50} - - [20/Mar/2023:{10 + m // 60:02d}:"
                         f'{m % 60:02d}:{k * 2:02d} +0000] "GET / HTTP/1.1" {status} 12 "-" '
                         '"Mozilla/5.0"')
    path.write_text("\n".join(lines) + "\n")


def test_a_host_header_cannot_plant_markdown_or_html(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _log(log)
    out = tmp_path / "o"
    res = runner.invoke(app, ["build", str(log), "-o", str(out), "--host-from-line",
                              "--log-format", "vhost_combined"])
    assert res.exit_code == 0, res.output
    md = (out / "postmortem.md").read_text()
    assert "<script>" not in md and "[evil](" not in md
    # It is there, escaped, in "How the figures were computed" too (the case).
    method = md[md.index("### How the figures were computed"):]
    assert r"\[evil\](http://x.example)\<script\>" in method
    # No raw occurrence anywhere: every "evil" is preceded by an escaped bracket.
    assert all(md[i - 2:i] == "\\[" for i in (m.start() for m in re.finditer("evil", md)))
