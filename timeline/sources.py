"""Find input files, open them (plain or compressed), decide their format and host."""

from __future__ import annotations

import atexit
import bz2
import errno
import gzip
import hashlib
import lzma
import os
import re
import shutil
import stat
import sys
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any, BinaryIO

import parsers
from parsers import export, nginx_access, wrap
from parsers import log_format as lf
from timeline.errors import InputError
from timeline.filekinds import special_kind
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
_ROTATED = re.compile(r"^(?P<base>.*?)(?:\.(?P<n>\d+))?(?:\.(?:gz|bz2|xz))?\Z", re.DOTALL)
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
    #: Read from a stream (stdin, a pipe) into a temporary file of this machine: parsed
    #: here, not by remote workers.
    spooled: bool = False

    @property
    def format(self) -> str:
        """The parser's name, or ``unknown``."""
        return self.parser.NAME if self.parser is not None else "unknown"


#: How each compressed format starts (RFC 1952; bzip2's "BZh", level, block or end magic;
#: the xz stream header).
_MAGIC = re.compile(rb"(\x1f\x8b)|(BZh[1-9](?:1AY&SY|\x17rE8P\x90))|(\xfd7zXZ\x00)")
_BY_GROUP = (".gz", ".bz2", ".xz")
#: Enough bytes for any of them.
MAGIC_BYTES = 10


def compression_of(head: bytes) -> str:
    """The compression a file's first bytes show (".gz", ".bz2", ".xz"), or "".

    Decided by content, not by name, as ``file`` and lnav do: a rotated log gzipped under a
    plain name is read, and a file named ``.gz`` that holds plain lines (copied after
    ``gunzip -k``, or written by a tool that names before it compresses) is read as it is,
    instead of failing the build with "not a gzipped file".
    """
    m = _MAGIC.match(head)
    if m is None:
        return ""
    return _BY_GROUP[(m.lastindex or 1) - 1]


def compression(path: Path) -> str:
    """The compression of a regular file, from its first bytes (see :func:`compression_of`).

    A file that cannot be read falls back to its name; the open that follows reports why.
    """
    try:
        with open(path, "rb") as fh:
            return compression_of(fh.read(MAGIC_BYTES))
    except OSError:
        return path.suffix if path.suffix in _OPENERS else ""


def is_compressed(path: Path) -> bool:
    """Whether :func:`open_binary` decompresses this file (its bytes cannot be cut)."""
    return compression(path) != ""


def open_binary(path: Path) -> BinaryIO:
    """Open a log file for binary reading, decompressing gzip, bzip2 and xz (by content)."""
    opener = _OPENERS.get(compression(path))
    if opener is not None:
        fh: BinaryIO = opener(path, "rb")
        return fh
    return open(path, "rb")


def _naming_note(path: Path) -> str:
    """A note when a file's name and content disagree about compression, else ""."""
    named = path.suffix if path.suffix in _OPENERS else ""
    found = compression(path)
    if named == found:
        return ""
    if not found:
        return f"named {named} but not {named[1:]} data: read as plain text"
    return f"{found[1:]} data under a plain name: decompressed"


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


def host_label(name: str) -> str:
    """A host name taken from a folder or a wrapper's record, as text every output can hold.

    A folder name need not be UTF-8 (copied from a Latin-1 system): Python keeps its odd
    bytes as lone surrogates, which pandas cannot hash and no output can encode. Such a byte
    becomes its ``\\xHH`` spelling, the same one the reports use for file names.
    """
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte (a JSON \\ud800 escape)
        raw = name.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def _host_for(file: Path, host: str | None) -> str:
    """The host a file belongs to: ``--host``, else the name of the folder holding it."""
    return host_label(host or file.parent.resolve().name) or "localhost"


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


#: The file a report folder holds (its list of outputs): written by timeline.report.atomic,
#: and the mark by which a walk knows a report folder, to leave it out of the inputs.
REPORT_MANIFEST = ".incident-timeline-report"

#: Why a special file inside a folder is not read.
SPECIAL_NOTE = "read only when named as a path (it may block or never end)"


@dataclass
class _Found:
    """One entry met while walking a folder: a file to read, or why it is not read."""

    path: Path
    skip: str = ""
    #: ``os.stat`` of a file to read (size, identity).
    st: os.stat_result | None = None


def _walk(root: Path) -> list[_Found]:
    """Every entry under ``root``, depth first in name order, without following symlinked
    folders: files to read, and what is not read with the reason (hidden, unreadable,
    special, broken or looping symlinks, ignored suffixes)."""
    found: list[_Found] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            found.append(_Found(folder, f"folder not read: {exc.strerror or exc} "
                                "(make it readable to include its files)"))
            continue
        subdirs = []
        ours = _report_outputs(folder) if any(e.name == REPORT_MANIFEST for e in entries) \
            else set()
        for e in entries:
            p = Path(e.path)
            item = _Found(p, _OWN_OUTPUT) if e.name in ours else _classify(p, e)
            if item is None:
                subdirs.append(p)
            else:
                found.append(item)
        stack.extend(reversed(subdirs))
    return found


#: Why a file of a report of this tool, met while walking the inputs, is not read.
_OWN_OUTPUT = ("written by incident-timeline (an output of an earlier build, listed in "
               f"{REPORT_MANIFEST}): not read; give it as a path to read it")


def _report_outputs(folder: Path) -> set[str]:
    """The names a report written into ``folder`` holds (its manifest's first parts).

    A report written into the folder it reads (``-o outage`` or ``-o outage/report``) would
    otherwise be read back by the next build as a handful of unrecognised files. The
    manifest is small; a few KiB of it are enough.
    """
    try:
        with open(folder / REPORT_MANIFEST, "rb") as fh:
            text = fh.read(64 << 10).decode("utf-8", "replace")
    except OSError:
        return set()
    return {PurePosixPath(line).parts[0] for line in text.splitlines()
            if line.strip() and not PurePosixPath(line).is_absolute()}


def _classify(p: Path, e: os.DirEntry[str]) -> _Found | None:
    """A folder entry as a :class:`_Found`, or None for a folder to walk into."""
    hidden = e.name.startswith(".")
    try:
        is_link = e.is_symlink()
        st = os.stat(p)
    except OSError as exc:
        why = "symlink loop" if exc.errno == errno.ELOOP else (
            "broken symlink" if is_link else f"cannot read: {exc.strerror}")
        return _Found(p, why)
    if stat.S_ISDIR(st.st_mode):
        if hidden:
            return _Found(p, "hidden folder (its name starts with a dot): not read; give it "
                          "as a path to read it")
        if is_link:
            return _Found(p, "symlink to a folder: not followed (give the folder as a path)")
        return None
    if hidden:
        return _Found(p, "hidden file (its name starts with a dot): not read; give it as a "
                      "path to read it")
    if e.name.endswith(_IGNORED_SUFFIXES):
        return _Found(p, f"not a log ({p.suffix} files are not read)")
    kind = special_kind(st.st_mode)
    if kind:
        return _Found(p, f"{kind}: {SPECIAL_NOTE}")
    if not os.access(p, os.R_OK):
        return _Found(p, "permission denied (make the file readable)")
    return _Found(p, st=st)


class _Seen:
    """Files already taken, to read each content once: the same file given twice (same
    device and inode), or the same bytes in two places (same size, then same SHA-256)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[int, int], str] = {}
        self.sizes: dict[int, list[tuple[Path, str]]] = {}
        self.digests: dict[Path, str] = {}

    def duplicate(self, path: Path, display: str, st: os.stat_result) -> str:
        """Why ``path`` is a duplicate of a file taken before, or "" (then it is taken)."""
        first = self.ids.get((st.st_dev, st.st_ino))
        if first is not None:
            return f"duplicate: the same file as {first} (given twice)"
        self.ids[(st.st_dev, st.st_ino)] = display
        if st.st_size == 0:
            return ""
        same_size = self.sizes.setdefault(st.st_size, [])
        if same_size:
            digest = self._digest(path)
            for other, shown in same_size:
                if self._digest(other) == digest:
                    return (f"duplicate: the same content as {shown} (SHA-256 "
                            f"{digest[:12]}...): read once")
        same_size.append((path, display))
        return ""

    def _digest(self, path: Path) -> str:
        if path not in self.digests:
            h = hashlib.sha256()
            try:
                with open(path, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        h.update(chunk)
            except OSError:
                return f"unreadable {path}"
            self.digests[path] = h.hexdigest()
        return self.digests[path]


def discover(paths: Sequence[str], *, host: str | None = None,
             log_format: str | None = None, conf: NginxConf | None = None,
             spool: Spool | None = None) -> list[Source]:
    """Walk the given files and folders (recursively) and sniff every file's format.

    Args:
        paths: files, folders, or ``-`` for standard input.
        host: force this host name for every file (else the file's folder name).
        spool: where standard input and pipes named as paths are copied, to be read twice
            (a temporary folder when None).

    Returns:
        One :class:`Source` per file, in a stable order; files not read (unrecognised,
        hidden, special files inside folders, duplicates, unreadable folders) are included
        with ``parser=None`` and a ``skip_reason``.

    Raises:
        InputError: a path does not exist or cannot be read.
    """
    sources: list[Source] = []
    seen = _Seen()
    spool = spool or Spool()
    how = _Sniffing(log_format, conf, host)
    for given in paths:
        if given == "-":
            sources.append(_from_stream(None, "-", host or "stdin", spool, how))
            continue
        root = Path(given)
        if not root.exists():
            raise InputError(f"{given}: {_missing(root)}")
        if root.is_dir():
            found = _walk(root)
            found.sort(key=lambda f: _rotation_key(f.path))
        else:
            found = [_Found(root, st=root.stat())]
        for f in found:
            display = str(f.path)
            if f.skip:
                sources.append(Source(f.path, display, _host_for(f.path, host), 0,
                                      skip_reason=f.skip))
                continue
            assert f.st is not None
            if special_kind(f.st.st_mode):
                # Named as a path (only then): a pipe, <(cmd), a device. Read once, into a
                # spool file both passes read.
                in_dev = str(f.path.parent.resolve()).startswith(("/dev", "/proc"))
                shown = (host or "pipe") if in_dev else _host_for(f.path, host)
                sources.append(_from_stream(f.path, display, shown, spool, how))
                continue
            if not os.access(f.path, os.R_OK):
                raise InputError(f"{display}: permission denied (make the file readable)")
            src = Source(f.path, display, _host_for(f.path, host), f.st.st_size)
            src.skip_reason = seen.duplicate(f.path, display, f.st)
            if not src.skip_reason:
                _sniff_file(src, how)
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
        src.host = host_label(found.host)
    src.notes.append(f"lines read from {found.wrapper.DESCRIPTION} records")
    return found.inner_head


@dataclass(frozen=True)
class _Sniffing:
    """What the user said about every input: ``--log-format``, ``--nginx-conf``,
    ``--host``."""

    log_format: str | None
    conf: NginxConf | None
    host: str | None


def _sniff_file(src: Source, how: _Sniffing) -> None:
    """Decide a regular file's format from its head."""
    assert src.path is not None
    if note := _naming_note(src.path):
        src.notes.append(note)
    try:
        head = read_head(src.path)
    except InputError:
        found = compression(src.path)
        if not found or src.path.suffix == found:
            raise  # a damaged archive the user named as one fails closed, naming it
        # A stray blob that merely starts like gzip (a core dump, a cache file) is not a
        # log anybody handed us: skipped with the reason, never fatal.
        src.skip_reason = f"starts like {found[1:]} data but does not inflate: not read"
        return
    _sniff_head(src, head, how)


def _sniff_head(src: Source, head: bytes, how: _Sniffing) -> None:
    """Decide a source's format from its first bytes (unwrapped first when wrapped)."""
    head = _unwrap_head(src, head, how.host)
    if not head.strip():
        src.skip_reason = "empty file"
        return
    src.parser = parsers.sniff(head)
    if src.parser is None:
        src.skip_reason = _unrecognised(head)
    _choose_format(src, head, how.log_format, how.conf)


class Spool:
    """A temporary folder for inputs that cannot be read twice (stdin, pipes, devices),
    removed when the process ends."""

    def __init__(self) -> None:
        self._dir: str | None = None

    def file(self, suffix: str) -> tuple[int, str]:
        """A new file in the folder: (descriptor, path)."""
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="incident-timeline-")
            atexit.register(shutil.rmtree, self._dir, True)
        return tempfile.mkstemp(suffix=suffix, dir=self._dir)


def _from_stream(path: Path | None, display: str, host: str, spool: Spool,
                 how: _Sniffing) -> Source:
    """A source that can be read once only (stdin when ``path`` is None, a FIFO, ``<(cmd)``,
    a device): sniff it from a bounded head first (nothing recognised: it is not read
    further, so ``/dev/zero`` costs 16 KiB), then copy it whole in blocks into a spool
    file that both passes read (memory stays one block)."""
    src = Source(None, display, host, 0)
    try:
        fh: BinaryIO = sys.stdin.buffer if path is None else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"{display}: cannot read: {exc.strerror}") from None
    try:
        head = _read_up_to(fh, parsers.SNIFF_BYTES)
        suffix = compression_of(head)
        if not suffix:  # compressed bytes are sniffed from what they inflate to, below
            _sniff_head(src, head, how)
            if src.parser is None:
                return src
        fd, name = spool.file(suffix)
        with os.fdopen(fd, "wb") as out:
            out.write(head)
            while block := fh.read(1 << 20):
                out.write(block)
        src.path, src.spooled = Path(name), True
        src.size = os.path.getsize(name)
        if suffix:
            _sniff_file(src, how)
        src.notes.append("read once from a stream and kept in a temporary file for the "
                         "second pass")
        return src
    except OSError as exc:
        raise InputError(f"{display}: cannot read: {exc.strerror or exc}") from None
    finally:
        if path is not None:
            fh.close()


def _read_up_to(fh: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes of a stream (a pipe may hand them out in several reads)."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        block = fh.read(size - got)
        if not block:
            break
        parts.append(block)
        got += len(block)
    return b"".join(parts)
