"""Publishing a report folder whole: a reader sees the previous report or the new one.

Every output of a build is written into a fresh staging folder beside the target
(``.NAME.tmp-XXXX`` in the same parent, so on the same file system), and the staging folder
then takes the target's place in one step: ``renameat2(RENAME_EXCHANGE)`` on Linux, else two
renames. So

- a build killed at any moment (even SIGKILL) leaves the previous report as it was, or the new
  one whole; leftovers of a killed build are removed by the next one;
- nothing is written through a symlink planted at a report name: the files are created in a
  folder this process has just made, and the old folder's entries are replaced, not opened;
- a report file the user made read-only, or one that cannot be written, makes the build fail
  before anything in the target changed;
- two builds into one folder cannot mix their files: a build holds an exclusive lock on
  ``.NAME.lock`` beside the folder (``flock``, released by the kernel when the process dies,
  so a killed build never leaves a stale lock) and a second one is refused with a clear
  message.

Files in the folder that a build did not write (a user's notes) are kept: they are carried
into the new folder as hard links. What the last build wrote is listed in
:data:`MANIFEST` inside the folder, so that an output the new build no longer writes (a
``report.html`` from a build with other options) does not survive as a stale half of a mix.

Every writer goes through :func:`publish`; ``write_report`` is the one caller in the library.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from timeline import stopping
from timeline.errors import InputError
from timeline.sources import REPORT_MANIFEST

#: Names, one a line, of what the last build wrote into the folder (the folder's own files).
MANIFEST = REPORT_MANIFEST
#: Report names of builds from before the manifest existed: treated as the tool's own.
LEGACY_NAMES = frozenset({"postmortem.md", "timeline.json", "timeline.png"})

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
#: Locks this process holds, by resolved folder, with their open lock files and depth.
_held: dict[Path, tuple[int, int]] = {}


class ReportBusyError(InputError):
    """Another build is writing the same report folder."""


class Stage:
    """The staging folder a build writes its outputs into; records every name written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.names: list[str] = []

    def path(self, name: str) -> Path:
        """The path to write ``name`` (a relative path, e.g. ``timeline.png``) at; recorded."""
        rel = PurePosixPath(name)
        if rel.is_absolute() or not rel.parts or ".." in rel.parts or name == MANIFEST:
            raise ValueError(f"not a report name: {name!r}")
        target = self.root.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if name not in self.names:
            self.names.append(name)
        return target

    def write_text(self, name: str, text: str) -> Path:
        """Write a UTF-8 text output.

        The writers escape what they take from the input (escape.strip_control, json_safe);
        should a lone surrogate slip through one of them anyway, it is written as its
        ``\\udcxx`` escape rather than failing the whole report.
        """
        p = self.path(name)
        p.write_bytes(text.encode("utf-8", "backslashreplace"))
        return p

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write a binary output."""
        p = self.path(name)
        p.write_bytes(data)
        return p


def _real(outdir: Path) -> Path:
    # The folder -o names is the user's choice, symlink or not; the names inside it are not.
    return Path(os.path.realpath(outdir))


def _lock_path(real: Path) -> Path:
    return real.parent / f".{real.name}.lock"


@contextlib.contextmanager
def report_lock(outdir: Path) -> Iterator[None]:
    """Hold the exclusive lock of the report folder ``outdir`` (re-entrant in one process).

    Raises:
        ReportBusyError: another process holds it.
        InputError: the folder's parent cannot be made or the lock file cannot be opened.
    """
    real = _real(outdir)
    if real in _held:
        fd, depth = _held[real]
        _held[real] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _held[real]
            _held[real] = (fd, depth - 1)
        return
    lock = _lock_path(real)
    fd = _take_lock(lock, outdir)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[real] = (fd, 1)
        try:
            yield
        finally:
            del _held[real]
            # Removed while still held, so the folder's parent is left as it was found. A
            # build that opened the file just before sees, once it has the lock, that the
            # name no longer leads to it, and starts again (_take_lock).
            with contextlib.suppress(OSError):
                os.unlink(lock)
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


def _take_lock(lock: Path, outdir: Path) -> int:
    """Open and flock ``lock``; the descriptor of a lock file that is still at its name."""
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{outdir}: cannot write the report: {exc.strerror}") from None
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise InputError(f"{outdir}: cannot write the report: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise ReportBusyError(
                f"{outdir}: another build (pid {owner}) is writing this report folder; "
                "wait for it to finish, or give another -o folder") from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed it between our open and our flock: again


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); False where that is not supported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _own_names(folder: Path) -> set[str]:
    """What an earlier build wrote into ``folder`` (its manifest, else the legacy names)."""
    try:
        listed = (folder / MANIFEST).read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError, IsADirectoryError):
        listed = []
    own = {n for n in listed if n} | set(LEGACY_NAMES) | {MANIFEST}
    # A report name inside a subfolder makes the subfolder the report's (e.g. assets/x.css).
    own |= {PurePosixPath(n).parts[0] for n in listed if n}
    return own


def _carry(src: Path, dst: Path) -> None:
    """Mirror ``src`` into ``dst`` with hard links (files, symlinks) and new folders."""
    if src.is_dir() and not src.is_symlink():
        dst.mkdir(exist_ok=True)
        shutil.copystat(src, dst, follow_symlinks=False)
        for child in sorted(src.iterdir()):
            _carry(child, dst / child.name)
    elif not os.path.lexists(dst):
        os.link(src, dst, follow_symlinks=False)


def _clean_leftovers(real: Path) -> None:
    """Remove what a killed build left beside the folder (call with the lock held)."""
    parent = real.parent
    olds = sorted(parent.glob(f".{real.name}.old-*"))
    if olds and not os.path.lexists(real):
        # Killed between the two renames of the fallback: the old report goes back.
        os.rename(olds[-1], real)
        olds = olds[:-1]
    for p in [*parent.glob(f".{real.name}.tmp-*"), *olds]:
        shutil.rmtree(p, ignore_errors=True)


def publish(outdir: Path, fill: Callable[[Stage], object]) -> list[Path]:
    """Write a report folder whole: ``fill`` writes the outputs into a :class:`Stage`.

    Returns:
        The paths written, under ``outdir``, in the order ``fill`` wrote them.

    Raises:
        ReportBusyError: another build is writing the folder.
        InputError: ``outdir`` is not a folder.
        OSError: an output or the folder cannot be written (the old report is untouched).
    """
    with report_lock(outdir):
        real = _real(outdir)
        if os.path.lexists(real) and not real.is_dir():
            raise InputError(f"{outdir}: cannot write the report: it is not a folder")
        _clean_leftovers(real)
        stage_dir = real.parent / f".{real.name}.tmp-{secrets.token_hex(6)}"
        os.mkdir(stage_dir)  # mode 0o777 less the umask, as a folder made by mkdir -p
        try:
            stage = Stage(stage_dir)
            fill(stage)
            (stage_dir / MANIFEST).write_text("".join(f"{n}\n" for n in stage.names),
                                              encoding="utf-8")
            stopping.check()  # a stopped build must not replace the report
            _swap_in(stage_dir, real, stage.names)
        finally:
            shutil.rmtree(stage_dir, ignore_errors=True)
        return [outdir / n for n in stage.names]


def _swap_in(stage_dir: Path, real: Path, names: list[str]) -> None:
    """Put ``stage_dir`` in the place of ``real``; the old folder ends at ``stage_dir``."""
    if not real.is_dir():
        os.rename(stage_dir, real)
        return
    own = _own_names(real) | {PurePosixPath(n).parts[0] for n in names}
    for entry in sorted(real.iterdir()):
        if entry.name not in own:
            _carry(entry, stage_dir / entry.name)
    shutil.copystat(real, stage_dir)
    if _exchange(stage_dir, real):
        return
    old = real.parent / f".{real.name}.old-{secrets.token_hex(6)}"
    os.rename(real, old)
    os.rename(stage_dir, real)
    os.rename(old, stage_dir)
