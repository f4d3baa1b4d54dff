"""The report folder is replaced whole (issue 14, group 4): never a mix of two reports, never
written through a symlink, a failed write leaves the previous report, one build at a time."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from timeline.cli import ExitCode, app
from timeline.report import ReportBusyError, Stage, publish, report_lock
from timeline.report.atomic import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "sample_logs" / "seed-outage"
runner = CliRunner()


def _report(text: str, *extra: str) -> Callable[[Stage], None]:
    def fill(stage: Stage) -> None:
        stage.write_text("postmortem.md", text)
        stage.write_text("timeline.json", text)
        for name in extra:
            stage.write_text(name, text)

    return fill


def _contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.name != MANIFEST}


def _leftovers(parent: Path, name: str) -> list[str]:
    # The lock file included: it is removed with the lock (nothing is left beside the folder).
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def test_a_new_report_replaces_the_old_one_whole(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    publish(out, _report("old", "report.html"))
    written = publish(out, _report("new"))
    assert written == [out / "postmortem.md", out / "timeline.json"]
    # The old build's report.html is its own: it does not survive next to the new report.
    assert _contents(out) == {"postmortem.md": "new", "timeline.json": "new"}
    assert _leftovers(tmp_path, "rep") == []


def test_files_the_user_put_in_the_folder_are_kept(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    publish(out, _report("old"))
    (out / "notes.txt").write_text("mine")
    (out / "drafts").mkdir()
    (out / "drafts" / "a.md").write_text("draft")
    publish(out, _report("new"))
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "drafts" / "a.md").read_text() == "draft"
    assert (out / "postmortem.md").read_text() == "new"


def test_a_symlink_at_a_report_name_is_not_followed(tmp_path: Path) -> None:
    """The issue's case: ``ln -s $PWD/victim.txt rep/postmortem.md`` then a build into rep."""
    out = tmp_path / "rep"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "postmortem.md").symlink_to(victim)
    (out / "timeline.json").symlink_to(tmp_path / "created-outside.json")
    result = runner.invoke(app, ["build", str(SEED), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "precious"
    assert not (tmp_path / "created-outside.json").exists()
    assert not (out / "postmortem.md").is_symlink()
    assert "12:30:00" in (out / "postmortem.md").read_text()


def test_a_failing_write_leaves_the_previous_report(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    publish(out, _report("old"))

    def broken(stage: Stage) -> None:
        stage.write_text("postmortem.md", "new")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        publish(out, broken)
    assert _contents(out) == {"postmortem.md": "old", "timeline.json": "old"}
    assert _leftovers(tmp_path, "rep") == []


@pytest.mark.parametrize("obstacle", ["read-only", "directory"])
def test_an_unwritable_report_file_is_replaced_cleanly(tmp_path: Path, obstacle: str) -> None:
    """A read-only ``timeline.json`` (or a folder at its name) once left a half-updated report:
    the new Markdown beside the old JSON."""
    out = tmp_path / "rep"
    publish(out, _report("old"))
    js = out / "timeline.json"
    if obstacle == "read-only":
        js.chmod(0o444)
    else:
        js.unlink()
        js.mkdir()
        (js / "x").write_text("x")
    result = runner.invoke(app, ["build", str(SEED), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert '"incidents"' in js.read_text()
    assert "12:30:00" in (out / "postmortem.md").read_text()


def test_a_second_build_into_a_folder_being_written_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    publish(out, _report("old"))
    # Another process's lock: a separate open file description on the same lock file.
    fd = os.open(tmp_path / ".rep.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, b"4242\n", 0)
        result = runner.invoke(app, ["build", str(SEED), "-o", str(out), "-q"])
        assert result.exit_code == ExitCode.INPUT
        assert "another build (pid 4242) is writing this report folder" in result.output
        assert "internal error" not in result.output
        with pytest.raises(ReportBusyError):
            publish(out, _report("new"))
    finally:
        os.close(fd)
    assert _contents(out) == {"postmortem.md": "old", "timeline.json": "old"}
    publish(out, _report("new"))  # free again once released
    assert (out / "postmortem.md").read_text() == "new"


def test_the_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    with report_lock(out), report_lock(out):
        publish(out, _report("new"))
    assert (out / "postmortem.md").read_text() == "new"


def test_leftovers_of_a_killed_build_are_cleaned(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    publish(out, _report("old"))
    (tmp_path / ".rep.tmp-dead").mkdir()
    (tmp_path / ".rep.tmp-dead" / "postmortem.md").write_text("half")
    publish(out, _report("new"))
    assert _leftovers(tmp_path, "rep") == []


def test_killed_between_the_fallback_renames_the_old_report_comes_back(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    publish(out, _report("old"))
    out.rename(tmp_path / ".rep.old-dead")
    publish(out, _report("new", "extra.txt"))
    assert _contents(out) == {"postmortem.md": "new", "timeline.json": "new", "extra.txt": "new"}
    assert _leftovers(tmp_path, "rep") == []


def test_a_symlinked_out_folder_is_written_where_it_points(tmp_path: Path) -> None:
    real = tmp_path / "reports" / "2023-03-20"
    publish(real, _report("old"))
    link = tmp_path / "latest"
    link.symlink_to(real)
    publish(link, _report("new"))
    assert link.is_symlink()
    assert (real / "postmortem.md").read_text() == "new"


def test_out_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "rep"
    f.write_text("not a folder")
    result = runner.invoke(app, ["build", str(SEED), "-o", str(f), "-q"])
    assert result.exit_code == ExitCode.INPUT
    assert "not a folder" in result.output
    assert f.read_text() == "not a folder"


def test_stage_refuses_names_outside_it(tmp_path: Path) -> None:
    stage = Stage(tmp_path)
    for bad in ("../x", "/etc/passwd", MANIFEST, ""):
        with pytest.raises(ValueError):
            stage.path(bad)



def test_a_lock_file_removed_under_a_waiting_build_is_taken_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock file is removed when its build ends. A build that opened it just before
    holds a descriptor of a file no longer at its name; its flock would succeed, and a third
    build creating the name anew would lock too. It must see that and open the name again."""
    out = tmp_path / "rep"
    lock = tmp_path / ".rep.lock"
    stale = os.open(lock, os.O_RDWR | os.O_CREAT)
    os.unlink(lock)  # what the holder does as it ends
    opened: list[int] = []
    real_open = os.open

    def opener(path: object, flags: int, mode: int = 0o777, **kw: object) -> int:
        if Path(str(path)) == lock and not opened:
            opened.append(stale)
            return stale
        fd = real_open(path, flags, mode, **kw)  # type: ignore[arg-type]
        if Path(str(path)) == lock:
            opened.append(fd)
        return fd

    monkeypatch.setattr(os, "open", opener)
    publish(out, _report("new"))
    assert len(opened) == 2, "the stale lock file was not given up"
    assert (out / "postmortem.md").read_text() == "new"
    assert _leftovers(tmp_path, "rep") == []
