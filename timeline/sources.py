"""Find input files, open them (plain or compressed), decide their format and host."""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import os
import re
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import parsers
from parsers import export, nginx_access, wrap
from parsers import log_format as lf
from timeline.errors import InputError
from timeline.nginxconf import NginxConf, format_for

_gzip_open: Callable[[Path, str], Any] = gzip.open
#: What reading a damaged or truncated compressed file raises.
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, lzma.LZMAError, zlib.error)
try:
    # ISA-L's inflate: the same GzipFile API at 2.2x zlib's speed (0.49 s vs 1.10 s for a
    # 455 MB log here). Optional at run time: without its wheel, the stdlib's gzip reads.
    from isal import igzip, igzip_lib

    _gzip_open = igzip.open
    # (isal's stub declares IsalError as an instance; it is the exception class.)
    READ_ERRORS = (*READ_ERRORS, igzip_lib.IsalError)  # type: ignore[arg-type]
except ImportError:  # pragma: no cover - isal is a dependency; this is a safety net
    pass

_OPENERS: dict[str, Callable[[Path, str], Any]] = {
    ".gz": _gzip_open, ".bz2": bz2.open, ".xz": lzma.open}
# access.log, access.log.1, access.log.2.gz: the rotation number sorts older files first.
_ROTATED = re.compile(r"^(?P<base>.*?)(?:\.(?P<n>\d+))?(?:\.(?:gz|bz2|xz))?$")
#: Files we never try to parse (editor backups, archives of other kinds, our own outputs).
_IGNORED_SUFFIXES = (".png", ".jpg", ".zip", ".tar", ".pyc", ".swp")


@dataclass
class Source:
    """One input file (or stdin) with what discovery decided about it."""

    path: Path | None
    display: str
    host: str
    size: int
    parser: ModuleType | None = None
    skip_reason: str = ""
    #: The access log's ``log_format`` when it is not combined/main (given or recognised).
    log_format: str | None = None
    #: How the format was chosen, for the report.
    notes: list[str] = field(default_factory=list)
    #: The records the lines are wrapped in (``parsers.wrap``), or "".
    wrapper: str = ""

    @property
    def format(self) -> str:
        """The parser's name, or ``unknown``."""
        return self.parser.NAME if self.parser is not None else "unknown"


def is_compressed(path: Path) -> bool:
    """Whether :func:`open_binary` decompresses this file (its bytes cannot be cut)."""
    return path.suffix in _OPENERS


def open_binary(path: Path) -> BinaryIO:
    """Open a log file for binary reading, decompressing ``.gz``, ``.bz2`` and ``.xz``."""
    opener = _OPENERS.get(path.suffix)
    if opener is not None:
        fh: BinaryIO = opener(path, "rb")
        return fh
    return open(path, "rb")


def read_head(path: Path, size: int = parsers.SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of a file (after decompression).

    Raises:
        InputError: when the file cannot be read.
    """
    try:
        with open_binary(path) as fh:
            return fh.read(size)
    except PermissionError:
        raise InputError(f"{path}: permission denied (make the file readable)") from None
    except READ_ERRORS as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


def _rotation_key(path: Path) -> tuple[str, str, int]:
    """Sort key: same log together, the oldest rotation (highest number) first."""
    m = _ROTATED.match(path.name)
    assert m is not None
    n = int(m.group("n")) if m.group("n") else 0
    return (str(path.parent), m.group("base"), -n)


def _host_for(file: Path, host: str | None) -> str:
    """The host a file belongs to: ``--host``, else the name of the folder holding it."""
    return host or file.parent.resolve().name or "localhost"


def _names() -> list[str]:
    return [m.NAME for m in parsers.REGISTRY]


def _unrecognised(head: bytes) -> str:
    """Why no parser took a file whose first bytes are ``head``."""
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] in (b"{", b"[") and (depth := export.json_depth(body)) > export.MAX_JSON_DEPTH:
        return (f"JSON nested over {depth} levels deep in its first {len(head)} bytes: not an "
                "export of any supported format (they nest a few levels)")
    return ("not a recognised format (tried: " + ", ".join(_names())
            + "; an access log with its own log_format needs --log-format or --nginx-conf)")


def _use_json(src: Source, found: lf.JsonSniff) -> None:
    """Read ``src`` with the format its JSON keys gave, or skip it saying what is missing."""
    if found.problem:
        src.parser, src.skip_reason = None, found.problem
        return
    src.parser, src.log_format = nginx_access, found.spec
    src.notes.extend(found.notes())


def _choose_format(src: Source, head: bytes, given: str | None,
                   conf: NginxConf | None = None) -> None:
    """Access logs in other formats: ``--log-format``, the ``log_format`` nginx.conf gives
    this file (``--nginx-conf``), the format JSON lines' keys give, or a predefined one
    that fits."""
    if src.parser is not None and src.parser is not nginx_access:
        return
    # JSON lines describe themselves; a format the user gives (or nginx.conf gives) that
    # fits the file still comes first.
    found = lf.sniff_json(head)
    if found is not None and not found.access:
        found = None
    if conf is not None and src.path is not None and not given:
        spec, why = format_for(conf, str(src.path))
        if spec is not None:
            compiled = lf.compile_format(*lf.split_escape(spec))
            if not lf.first_lines_fail(head, compiled):
                src.parser, src.log_format = nginx_access, spec
                src.notes.append(why)
                return
            src.notes.append(f"{why} does not match its first lines; format guessed instead")
    if given:
        if not lf.first_lines_fail(head, lf.compile_format(*lf.split_escape(given))):
            src.parser, src.log_format = nginx_access, given
        elif found is not None:
            # One --log-format serves every file; a JSON log beside the logs it was given
            # for is still read by its keys.
            _use_json(src, found)
            if src.parser is not None:
                src.notes.insert(0, "--log-format does not match its first lines")
        elif src.parser is None:
            src.skip_reason = (f"not a recognised format; its first lines do not match "
                               f"--log-format either (tried: {', '.join(_names())}, "
                               "--log-format)")
        return
    if found is not None:
        _use_json(src, found)
        return
    guess = lf.guess_format(head)
    if guess is None or guess in ("combined", "main"):
        timed = lf.guess_timed(head)
        if timed is not None:
            src.parser, src.log_format = nginx_access, timed
            src.notes.append("log_format guessed from the shape of the fields after the user "
                             "agent: "
                             f"'{timed}' (--log-format or --nginx-conf overrides)")
        return
    # The hand-written combined/main parser also reads $host prefixes and forwarded-for
    # chains; switch when the predefined format fits at least as many of the first lines
    # (it then reads the fields after combined, such as ingress-nginx's upstream timings).
    lines = [ln for ln in head.split(b"\n") if ln.strip()][:20]
    fits = lf.compile_format(guess).regex.match
    if sum(1 for ln in lines if fits(ln)) >= sum(1 for ln in lines if nginx_access.fits(ln)):
        src.parser, src.log_format = nginx_access, guess


def _missing(path: Path) -> str:
    """Why an input path cannot be opened: absent, a symlink loop, or a dangling link."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop (a link that points back to itself); give the real path"
        if os.path.islink(path):
            return f"a symlink to {os.readlink(path)}, which does not exist"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission denied (make the folder above it readable)"
    return "no such file or directory"


def discover(paths: Sequence[str], *, host: str | None = None,
             log_format: str | None = None, conf: NginxConf | None = None) -> list[Source]:
    """Walk the given files and folders (recursively) and sniff every file's format.

    Args:
        paths: files, folders, or ``-`` for standard input.
        host: force this host name for every file (else the file's folder name).

    Returns:
        One :class:`Source` per file, in a stable order; unrecognised files are included
        with ``parser=None`` and a ``skip_reason``.

    Raises:
        InputError: a path does not exist or cannot be read.
    """
    sources: list[Source] = []
    for given in paths:
        if given == "-":
            sources.append(Source(None, "-", host or "stdin", 0))
            continue
        root = Path(given)
        if not root.exists():
            raise InputError(f"{given}: {_missing(root)}")
        if root.is_dir():
            files: list[Path] = []
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                files.extend(
                    Path(dirpath) / f
                    for f in filenames
                    if not f.startswith(".") and not f.endswith(_IGNORED_SUFFIXES)
                )
            files.sort(key=_rotation_key)
        else:
            files = [root]
        for f in files:
            display = str(f)
            if not os.access(f, os.R_OK):
                raise InputError(f"{display}: permission denied (make the file readable)")
            src = Source(f, display, _host_for(f, host), f.stat().st_size)
            head = _unwrap_head(src, read_head(f), host)
            if not head.strip():
                src.skip_reason = "empty file"
            else:
                src.parser = parsers.sniff(head)
                if src.parser is None:
                    src.skip_reason = _unrecognised(head)
                _choose_format(src, head, log_format, conf)
            sources.append(src)
    return sources


def _unwrap_head(src: Source, head: bytes, host: str | None) -> bytes:
    """The head the format is sniffed from: a wrapped file's inner lines (its wrapper and
    the host its records name are kept in ``src``), else ``head`` itself."""
    found = wrap.sniff(head, src.display)
    if found is None:
        return head
    src.wrapper = found.wrapper.NAME
    if found.host and not host:
        src.host = found.host
    src.notes.append(f"lines read from {found.wrapper.DESCRIPTION} records")
    return found.inner_head


def sniff_stdin(src: Source) -> BinaryIO:
    """Read stdin fully into memory so its head can be sniffed, and set its parser."""
    data = sys.stdin.buffer.read()
    src.size = len(data)
    head = _unwrap_head(src, data[: parsers.SNIFF_BYTES],
                        None if src.host == "stdin" else src.host)
    src.parser = parsers.sniff(head)
    if src.parser is nginx_access:
        found = lf.sniff_json(head)
        if found is not None and found.access:
            _use_json(src, found)
    if src.parser is None:
        src.skip_reason = src.skip_reason or _unrecognised(head)
    return io.BytesIO(data)
