"""Read an Nginx configuration tree: which ``log_format`` each access log was written with.

An SRE often has a copy of the server's ``/etc/nginx`` next to the logs of an outage. The
config says which ``log_format`` each ``access_log`` file uses, at which level each
``error_log`` was written, which ``server`` blocks listened where, and which sites in
``sites-available`` were not enabled. :func:`read_nginx_conf` collects that;
:func:`format_for` gives the format string that :class:`timeline.sources.Source.log_format`
needs for a log file found in the log folder, matched by its name.

The syntax is parsed by `crossplane <https://github.com/nginxinc/crossplane>`_. Each file is
parsed on its own (``single=True``) and ``include`` directives are resolved here, so that a
copy of a config whose includes name absolute paths (``include /etc/nginx/conf.d/*.conf;``)
is read from the copy rather than from the machine this runs on (see ``root`` of
:func:`read_nginx_conf`). Crossplane checks the directive contexts of the main file only: an
included file is parsed without knowing the block it is included into, so its syntax errors
(braces, quotes, end of file) are reported but a misplaced directive inside it is not.

Directives inside ``stream {}`` (TCP/UDP proxying) are left out of the HTTP formats, access
logs and servers: a stream access log is not an HTTP access log.
"""

from __future__ import annotations

import filecmp
import glob
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import NotRequired, TypedDict

import crossplane  # type: ignore[import-untyped]

from parsers.log_format import PREDEFINED
from timeline.errors import UsageError
from timeline.filekinds import special_kind


class Stmt(TypedDict):
    """One directive as crossplane parses it (its ``parsed`` lists hold these)."""

    directive: str
    #: Line of the directive in its file (1-based).
    line: int
    args: list[str]
    #: The directives inside ``{ }``, for a block directive.
    block: NotRequired[list[Stmt]]
    #: Indexes (into crossplane's ``config`` list) of the files an ``include`` pulled in.
    includes: NotRequired[list[int]]

#: ``access_log``/``error_log`` targets that are not files in the log folder.
_NOT_FILES = ("syslog:", "memory:")
#: Error-log levels, most verbose first (ngx_log.c).
LEVELS = ("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")
#: What log rotation appends to a name: ``.1``, ``.2.gz``, logrotate's ``-20230320.gz``.
_ROTATION = r"(?:[.-]\d+)?(?:\.(?:gz|bz2|xz|zst))?"
_VARIABLE = re.compile(r"\$(?:\{\w+\}|\w+)")
_GLOB_MAGIC = re.compile(r"[*?[]")
_SYMLINK_HOPS = 40


#: The timeouts after which a proxying module gives up and answers 504 (each defaults to
#: 60 s in Nginx: ngx_http_proxy_module.c and its fastcgi/uwsgi/scgi/grpc siblings).
TIMEOUT_DIRECTIVES = tuple(f"{m}_{w}_timeout" for m in ("proxy", "fastcgi", "uwsgi", "scgi",
                                                         "grpc")
                           for w in ("read", "connect", "send"))
#: Nginx's default for every one of them.
DEFAULT_TIMEOUT_S = 60.0
_TIME_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
               "M": 2592000.0, "y": 31536000.0}
_TIME_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")


def parse_time(text: str) -> float | None:
    """Seconds of an Nginx time value (``60``, ``60s``, ``1m30s``, ``500ms``; ngx_parse_time),
    or None when it is not one."""
    pos, total = 0, 0.0
    text = text.strip()
    while pos < len(text):
        m = _TIME_PART.match(text, pos)
        if m is None:
            return None
        total += int(m.group(1)) * _TIME_UNITS[m.group(2) or "s"]
        pos = m.end()
    return total if text else None


@dataclass
class ServerBlock:
    """One ``server {}`` block of the ``http {}`` context."""

    #: The config file holding it, relative to the main file's folder when inside it.
    file: str
    line: int
    #: Each ``listen`` directive's arguments joined by spaces (``"[::]:443 ssl http2"``).
    listen: list[str] = field(default_factory=list)
    server_names: list[str] = field(default_factory=list)
    #: A ``listen`` carries ``default_server`` (or the old spelling ``default``).
    default_server: bool = False

    @property
    def ssl(self) -> bool:
        """Whether any ``listen`` of the block has the ``ssl`` parameter."""
        return any("ssl" in spec.split()[1:] for spec in self.listen)


@dataclass
class NginxConf:
    """What :func:`read_nginx_conf` found in a configuration tree."""

    #: ``log_format`` name -> format string (``"escape=json "`` prefixed when so declared);
    #: Nginx's built-in ``combined`` is always present.
    formats: dict[str, str] = field(default_factory=lambda: {"combined": PREDEFINED["combined"]})
    #: ``access_log`` path as written -> format name (``off``, syslog and memory left out).
    access_logs: dict[str, str] = field(default_factory=dict)
    #: ``error_log`` path as written -> level (``error`` when the directive gives none).
    error_logs: dict[str, str] = field(default_factory=dict)
    servers: list[ServerBlock] = field(default_factory=list)
    #: Files of ``sites-available`` (beside the main file) that no ``sites-enabled`` entry
    #: points at, relative to the main file's folder (``sites-available/blog``).
    unlinked_sites: list[str] = field(default_factory=list)
    #: Config files read, in the order Nginx includes them (as found, symlinks not followed).
    files: list[str] = field(default_factory=list)
    #: Each of ``files`` as crossplane parsed it (same order), for readers that look for
    #: more than this walk collects (timeline.links: the ``upstream`` blocks). Kept, not
    #: parsed again: a second parse by name would follow a symlink the walk refused.
    statements: list[list[Stmt]] = field(default_factory=list)
    #: Parse errors as ``file:line: message``.
    errors: list[str] = field(default_factory=list)
    #: Observations that are not errors (logs sent to syslog, includes matching nothing...).
    notes: list[str] = field(default_factory=list)
    #: Where the config lived on its server (``/etc/nginx``) when read from a copy.
    root: str | None = None
    #: The proxy timeouts (``proxy_read_timeout``, ``proxy_connect_timeout``,
    #: ``fastcgi_read_timeout``...) as written anywhere: directive -> [(seconds, file:line)].
    timeouts: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    #: ``"log_format NAME"``, ``"access_log PATH"``, ``"error_log PATH"`` and
    #: ``"stream access_log PATH"`` -> ``file:line`` of the directive.
    where: dict[str, str] = field(default_factory=dict)


class _Reader:
    """Walks the files of one config tree into a :class:`NginxConf`."""

    def __init__(self, main: Path, root: PurePosixPath | None) -> None:
        self.main = main
        self.dir = main.parent
        self.root = root
        self.infer = root is None
        self.conf = NginxConf()
        self.parsed: dict[Path, list[Stmt]] = {}
        self.stack: list[Path] = []
        self.server: ServerBlock | None = None

    # --- paths ----------------------------------------------------------------------------
    def display(self, path: Path) -> str:
        """A path relative to the main file's folder when inside it, else as it is."""
        try:
            return path.relative_to(self.dir).as_posix()
        except ValueError:
            return str(path)

    def mapped(self, server_path: str) -> Path | None:
        """The copy's path for an absolute server path under ``root``, else None."""
        if self.root is None:
            return None
        try:
            rel = PurePosixPath(server_path).relative_to(self.root)
        except ValueError:
            return None
        return self.dir / rel

    def inside(self, real: Path) -> bool:
        """Whether a resolved path lies in the copied tree (the main file's folder)."""
        base = os.path.realpath(self.dir)
        return str(real) == base or str(real).startswith(base.rstrip(os.sep) + os.sep)

    def local_target(self, path: Path) -> Path:
        """Follow symlinks, mapping absolute targets under ``root`` into the copy."""
        for _ in range(_SYMLINK_HOPS):
            if not path.is_symlink():
                break
            target = os.readlink(path)
            if os.path.isabs(target):
                path = self.mapped(target) or Path(target)
            else:
                path = path.parent / target
        return path

    def _infer_root(self, pattern: str) -> None:
        """Guess where the config lived from an absolute include that the copy holds.

        The shallowest prefix of the include that, replaced by the main file's folder, gives
        files (other than the main file) wins: ``/etc/nginx/conf.d/*.conf`` next to
        ``copy/conf.d/a.conf`` gives ``/etc/nginx``.
        """
        server = PurePosixPath(pattern)
        main = os.path.realpath(self.main)
        for prefix in reversed(server.parents):
            rel = server.relative_to(prefix).as_posix()
            hits = self._expand(glob.escape(str(self.dir)) + "/" + rel, magic=True)
            if hits and all(os.path.realpath(h) != main for h in hits):
                self.root = prefix
                self.conf.root = str(prefix)
                return

    @staticmethod
    def _expand(pattern: str, *, magic: bool) -> list[str]:
        if magic:
            return sorted(glob.glob(pattern))
        return [pattern] if os.path.exists(pattern) else []

    def include(self, pattern: str, at: str) -> list[Path]:
        """The files an ``include`` names, as found in the copy (Nginx sorts glob matches)."""
        magic = bool(_GLOB_MAGIC.search(pattern))
        if os.path.isabs(pattern):
            if self.infer and self.root is None:
                self._infer_root(pattern)
            local = self.mapped(pattern)
            if local is None:
                spec = pattern
            else:
                rel = local.relative_to(self.dir).as_posix()
                spec = glob.escape(str(self.dir)) + "/" + rel if magic else str(local)
        else:
            local = self.dir / pattern
            spec = glob.escape(str(self.dir)) + "/" + pattern if magic else str(local)
        if os.path.isabs(pattern) and local is None:
            # A copied config never reads the analysing machine's files: an absolute path
            # outside the tree the copy stands for is not in the copy.
            where = f"{self.root}, which {self.display(self.dir) or '.'} stands for" \
                if self.root is not None else "the copied tree"
            self.conf.errors.append(f"{at}: include {pattern}: not in the copy (outside "
                                    f"{where}; the analysing machine's files are not read)")
            return []
        hits = self._expand(spec, magic=magic)
        if not hits:
            if magic:
                self.conf.notes.append(f"{at}: include {pattern} matches no file")
            else:
                shown = f" (looked for {self.display(local)})" if local is not None else ""
                self.conf.errors.append(
                    f"{at}: include {pattern}: no such file or directory{shown}"
                )
        return [Path(h) for h in hits]

    # --- parsing --------------------------------------------------------------------------
    def read(self, path: Path, ctx: tuple[str, ...]) -> None:
        """Parse one file with crossplane (once) and walk it in context ``ctx``."""
        shown = self.display(path)
        local = self.local_target(path)
        real = Path(os.path.realpath(local))
        if real in self.stack:
            self.conf.errors.append(f"{shown}: included from itself (include loop)")
            return
        if not self.inside(real):
            self.conf.errors.append(f"{shown}: points outside the copied tree ({local}); not "
                                    "read (the analysing machine's files are not read)")
            return
        if local.is_dir():
            self.conf.notes.append(f"{shown}: a folder matched by an include (skipped)")
            return
        kind = _special(real)
        if kind:
            self.conf.errors.append(f"{shown}: {kind}, not a config file; not read")
            return
        stmts = self.parsed.get(real)
        if stmts is None:
            payload = crossplane.parse(
                str(local), single=True, catch_errors=True, check_ctx=not ctx and path == self.main
            )
            config = payload["config"][0]
            for err in config["errors"]:
                self.error(shown, str(local), err.get("line"), str(err["error"]))
            stmts = list(config["parsed"])
            self.parsed[real] = stmts
            self.conf.files.append(str(path))
            self.conf.statements.append(stmts)
        self.stack.append(real)
        try:
            self.walk(stmts, ctx, shown)
        finally:
            self.stack.pop()

    def error(self, shown: str, local: str, line: int | None, message: str) -> None:
        """Record a crossplane error as ``file:line: message``."""
        for suffix in (f" in {local}:{line}", f" in {local}"):
            if message.endswith(suffix):
                message = message[: -len(suffix)]
                break
        text = f"{shown}:{line}: {message}" if line is not None else f"{shown}: {message}"
        if text not in self.conf.errors:
            self.conf.errors.append(text)

    def walk(self, stmts: list[Stmt], ctx: tuple[str, ...], shown: str) -> None:
        """Collect the directives of one block (and of the files it includes)."""
        for stmt in stmts:
            directive: str = stmt["directive"]
            args: list[str] = stmt["args"]
            at = f"{shown}:{stmt['line']}"
            if directive == "include" and args:
                for path in self.include(args[0], at):
                    self.read(path, ctx)
                continue
            if args:
                self.directive(directive, args, ctx, at)
            if "block" in stmt:
                outer = self.server
                if directive == "server" and ctx == ("http",):
                    self.server = ServerBlock(shown, int(stmt["line"]))
                    self.conf.servers.append(self.server)
                try:
                    self.walk(stmt["block"], (*ctx, directive), shown)
                finally:
                    self.server = outer

    def directive(self, directive: str, args: list[str], ctx: tuple[str, ...], at: str) -> None:
        """One simple directive with arguments."""
        conf = self.conf
        http = ctx[:1] == ("http",)
        if directive in TIMEOUT_DIRECTIVES and http:
            seconds = parse_time(args[0])
            if seconds is None:
                conf.errors.append(f'{at}: invalid time "{args[0]}" in {directive}')
            else:
                conf.timeouts.setdefault(directive, []).append((seconds, at))
        elif directive == "error_log":
            target = args[0]
            if target == "stderr" or target.startswith(_NOT_FILES):
                conf.notes.append(f"{at}: error_log {target} is not a file in the log folder")
            elif len(args) > 1 and args[1] not in LEVELS:
                conf.errors.append(f'{at}: invalid log level "{args[1]}" in error_log')
            elif target not in conf.error_logs:
                conf.error_logs[target] = args[1] if len(args) > 1 else "error"
                conf.where[f"error_log {target}"] = at
        elif directive == "log_format" and http and len(args) >= 2:
            self.log_format(args, at)
        elif directive == "access_log" and ctx[:1] == ("stream",):
            conf.where.setdefault(f"stream access_log {args[0]}", at)
        elif directive == "access_log" and http:
            self.access_log(args, at)
        elif self.server is not None and ctx == ("http", "server"):
            if directive == "listen":
                self.server.listen.append(" ".join(args))
                if "default_server" in args[1:] or "default" in args[1:]:
                    self.server.default_server = True
            elif directive == "server_name":
                self.server.server_names.extend(args)

    def log_format(self, args: list[str], at: str) -> None:
        name, rest = args[0], args[1:]
        prefix = ""
        if rest[0].startswith("escape="):
            escape = rest[0].partition("=")[2]
            rest = rest[1:]
            if escape in ("json", "none"):
                prefix = f"escape={escape} "
        if not rest:
            self.conf.errors.append(f"{at}: log_format {name} has no format string")
        elif name in self.conf.formats:
            first = self.conf.where.get(f"log_format {name}", "Nginx's built-in")
            self.conf.errors.append(
                f"{at}: duplicate log_format name {name!r} (first defined at {first})"
            )
        else:
            # Nginx joins the quoted pieces of a format without a separator.
            self.conf.formats[name] = prefix + "".join(rest)
            self.conf.where[f"log_format {name}"] = at

    def access_log(self, args: list[str], at: str) -> None:
        target = args[0]
        if target == "off":
            return
        if target.startswith(_NOT_FILES):
            self.conf.notes.append(f"{at}: access_log {target} is not a file in the log folder")
            return
        name = args[1] if len(args) > 1 else "combined"
        known = self.conf.access_logs.get(target)
        if known is None:
            self.conf.access_logs[target] = name
            self.conf.where[f"access_log {target}"] = at
        elif known != name:
            first = self.conf.where[f"access_log {target}"]
            self.conf.notes.append(
                f"{at}: access_log {target} written with log_format {name!r} as well as "
                f"{known!r} ({first}): its lines mix two formats"
            )

    def unlinked_sites(self) -> list[str]:
        """``sites-available`` files that no ``sites-enabled`` entry points at.

        A regular file in ``sites-enabled`` with the same name and content also counts as
        a link: copying a tree without ``-a`` turns the symlinks into copies.
        """
        available, enabled = self.dir / "sites-available", self.dir / "sites-enabled"
        if not available.is_dir():
            return []
        targets: set[str] = set()
        copies: list[Path] = []
        if enabled.is_dir():
            for entry in enabled.iterdir():
                if entry.is_symlink():
                    targets.add(os.path.realpath(self.local_target(entry)))
                elif entry.is_file():
                    copies.append(entry)
        unlinked = []
        for site in sorted(available.iterdir()):
            if site.name.startswith(".") or not site.is_file():
                continue
            if os.path.realpath(self.local_target(site)) in targets:
                continue
            if any(c.name == site.name and filecmp.cmp(c, site, shallow=False) for c in copies):
                continue
            unlinked.append(self.display(site))
        return unlinked


def _special(path: Path) -> str:
    """What a file that is not a regular file or a folder is ("a FIFO"), else ""."""
    try:
        return special_kind(os.stat(path).st_mode)
    except OSError:
        return ""


def _main_file(path: str | Path) -> Path:
    """The main config file, checked readable.

    Raises:
        UsageError: it is missing, unreadable or a folder without an ``nginx.conf``.
    """
    main = Path(path)
    if main.is_dir() and (main / "nginx.conf").is_file():
        main = main / "nginx.conf"
    try:
        with open(main, "rb"):
            pass
    except FileNotFoundError:
        raise UsageError(f"--nginx-conf {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(
            f"--nginx-conf {path}: a folder without an nginx.conf (give the main config file)"
        ) from None
    except PermissionError:
        raise UsageError(
            f"--nginx-conf {path}: permission denied (make the file readable)"
        ) from None
    except OSError as exc:
        raise UsageError(f"--nginx-conf {path}: cannot read: {exc.strerror}") from None
    return main.absolute()


def read_nginx_conf(path: str | Path, *, root: str | Path | None = None) -> NginxConf:
    """Read an Nginx config tree with crossplane, following its ``include`` directives.

    Args:
        path: the main file (``nginx.conf``), or a folder holding one.
        root: where the main file's folder lived on its server (``/etc/nginx``). Absolute
            paths under it, in includes and in ``sites-enabled`` symlinks, are read from the
            main file's folder instead: ``include /etc/nginx/conf.d/*.conf;`` in
            ``copy/nginx.conf`` reads ``copy/conf.d/*.conf``. When None it is guessed from
            the first absolute include that the copy holds (see :attr:`NginxConf.root`);
            absolute paths it does not cover are read as written.

    Returns:
        The formats, logs and servers found; crossplane's errors in
        :attr:`NginxConf.errors` (reading goes on past them, as crossplane does).

    Raises:
        UsageError: the main file is missing or unreadable, or ``root`` is not absolute.
    """
    main = _main_file(path)
    server_root: PurePosixPath | None = None
    if root is not None:
        server_root = PurePosixPath(str(root))
        if not server_root.is_absolute():
            raise UsageError(
                f"--nginx-conf {path}: root {root} is not absolute (give where the config "
                "lived on its server, e.g. /etc/nginx)"
            )
    reader = _Reader(main, server_root)
    if server_root is not None:
        reader.conf.root = str(server_root)
    reader.read(main, ())
    reader.conf.unlinked_sites = reader.unlinked_sites()
    return reader.conf


@lru_cache(maxsize=256)
def _name_pattern(log_path: str) -> re.Pattern[str]:
    """A file name written by ``log_path``, rotated or not (``$vars`` match anything)."""
    base = log_path.rsplit("/", 1)[-1]
    pieces, pos = [], 0
    for m in _VARIABLE.finditer(base):
        pieces += [re.escape(base[pos : m.start()]), ".+"]
        pos = m.end()
    pieces.append(re.escape(base[pos:]))
    return re.compile("".join(pieces) + _ROTATION)


def _writers(paths: list[str], file_path: str) -> list[str]:
    """The configured log paths that write a file of this name (exact names preferred)."""
    name = PurePosixPath(file_path.replace("\\", "/")).name
    hits = [p for p in paths if _name_pattern(p).fullmatch(name)]
    exact = [p for p in hits if not _VARIABLE.search(p.rsplit("/", 1)[-1])]
    return exact or hits


def _normalised(fmt: str) -> str:
    return " ".join(fmt.split())


_PLAIN = {_normalised(PREDEFINED["combined"]), _normalised(PREDEFINED["main"])}


def format_for(conf: NginxConf, file_path: str) -> tuple[str | None, str]:
    """The ``log_format`` string an access log in the log folder was written with.

    The file is matched by name against the config's ``access_log`` paths, rotation
    suffixes allowed: ``/var/log/nginx/shop.access.log`` matches ``shop.access.log``,
    ``shop.access.log.1`` and ``shop.access.log.2.gz``.

    Args:
        conf: from :func:`read_nginx_conf`.
        file_path: a log file's path (only its name is used).

    Returns:
        The format string (``escape=json``-prefixed when so declared) for
        :attr:`timeline.sources.Source.log_format`, or None when it is the combined/main
        layout the default parser reads, or unknown; and a one-line explanation such as
        ``log_format "upstreaminfo" from nginx.conf:29 (access_log
        /var/log/nginx/shop.access.log at sites-enabled/shop:16)``.
    """
    name = PurePosixPath(file_path.replace("\\", "/")).name
    paths = _writers(list(conf.access_logs), file_path)
    if not paths:
        stream = _writers(
            [k.split(" ", 2)[2] for k in conf.where if k.startswith("stream access_log ")],
            file_path,
        )
        if stream:
            at = conf.where[f"stream access_log {stream[0]}"]
            return None, (
                f"{name} is written by a stream {{}} access_log ({at}): TCP/UDP "
                "sessions, not HTTP requests"
            )
        return None, f"no access_log in the nginx config writes {name}"
    names = sorted({conf.access_logs[p] for p in paths})
    if len(names) > 1:
        listed = ", ".join(f"{p} -> {conf.access_logs[p]}" for p in paths)
        return None, f"{name}: access logs of that name use different log_formats ({listed})"
    log_path, fmt_name = paths[0], names[0]
    via = f"(access_log {log_path} at {conf.where.get(f'access_log {log_path}', '?')})"
    fmt = conf.formats.get(fmt_name)
    if fmt is None:
        return None, f'log_format "{fmt_name}" is not defined in the nginx config {via}'
    defined = conf.where.get(f"log_format {fmt_name}")
    origin = f"from {defined}" if defined else "(built-in)"
    if _normalised(fmt) in _PLAIN:
        return None, f'log_format "{fmt_name}" {origin} is the combined/main layout {via}'
    return fmt, f'log_format "{fmt_name}" {origin} {via}'


def error_level_for(conf: NginxConf, file_path: str) -> tuple[str | None, str]:
    """The level an error log in the log folder was written at, matched like :func:`format_for`.

    Returns:
        The level (``warn``: only warn and more severe messages are in the file), or None
        when no ``error_log`` of that name is configured; and a one-line explanation.
    """
    name = PurePosixPath(file_path.replace("\\", "/")).name
    paths = _writers(list(conf.error_logs), file_path)
    if not paths:
        return None, f"no error_log in the nginx config writes {name}"
    levels = sorted({conf.error_logs[p] for p in paths})
    if len(levels) > 1:
        listed = ", ".join(f"{p} {conf.error_logs[p]}" for p in paths)
        return None, f"{name}: error logs of that name have different levels ({listed})"
    log_path, level = paths[0], levels[0]
    at = conf.where.get(f"error_log {log_path}", "?")
    return level, f"error_log {log_path} {level} at {at}: {level} and more severe messages"


def describe(conf: NginxConf) -> list[str]:
    """Human-readable lines for the report: formats, servers, logs, unlinked sites, errors."""
    head = f"nginx config: {len(conf.files)} files read"
    if conf.files:
        folder = str(Path(conf.files[0]).parent)
        head = f"nginx config {conf.files[0]}: {len(conf.files)} files read"
        if conf.root and os.path.realpath(folder) != conf.root:
            head += f" (absolute paths under {conf.root} read from {folder})"
    lines = [head]
    custom = [n for n in conf.formats if f"log_format {n}" in conf.where]
    if custom:
        lines.append(
            "log_format " + ", ".join(f"{n} ({conf.where[f'log_format {n}']})" for n in custom)
        )
    for srv in conf.servers:
        names = " ".join(srv.server_names) or "(no server_name)"
        listen = ", ".join(srv.listen) or "*:80 (no listen)"
        extra = " [default server]" if srv.default_server else ""
        lines.append(f"server {names} ({srv.file}:{srv.line}): listen {listen}{extra}")
    for path, fmt_name in conf.access_logs.items():
        lines.append(
            f"access_log {path}: log_format {fmt_name} "
            f"({conf.where.get(f'access_log {path}', '?')})"
        )
    for path, level in conf.error_logs.items():
        lines.append(
            f"error_log {path}: level {level} ({conf.where.get(f'error_log {path}', '?')})"
        )
    lines += [f"{site} has no link in sites-enabled" for site in conf.unlinked_sites]
    lines += [f"config error: {err}" for err in conf.errors]
    lines += [f"note: {note}" for note in conf.notes]
    return lines
