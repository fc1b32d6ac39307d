"""Local files the server may read: confined to the allowed directories, never hidden, never a device or
a hard link, opened one directory at a time from the root so that a swapped link cannot lead outside.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from ..errors import InputRefused
from .text import amount, scheme

MAX_PATH = 4096
MAX_NAME = 255

# No following a link and no waiting on a pipe, should the file have been swapped since the check.
FILE_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
# O_PATH (Linux) opens a directory to walk through it with search permission alone.
DIR_FLAGS = (
    (getattr(os, "O_PATH", 0) or os.O_RDONLY)
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)

OPENAT = os.open in os.supports_dir_fd  # not on Windows


class LocalFiles:
    """The allowed directories, and the checks a path must pass in them before it is read."""

    def __init__(self, allowed_dirs: Sequence[Path], *, allow_hard_links: bool = False) -> None:
        given = [Path(os.path.abspath(Path(root).expanduser())) for root in allowed_dirs]
        self.allowed_dirs = [root.resolve() for root in given]
        self._lexical_roots = [*given, *self.allowed_dirs]
        self.allow_hard_links = allow_hard_links

    def resolve_input(self, ref: str) -> Path:
        """The real path of an input given as a path or a file URL (other schemes are refused)."""
        found = scheme(ref)
        if found not in (None, "file") and not Path(ref).is_absolute():
            raise InputRefused(f"{found} URLs are not read; give a path, or a file, data, http or https URL")
        return self.resolve(ref)

    def resolve(self, ref: str) -> Path:
        """The real path of a local file (a path or a file:// URL) the server may read."""
        found = scheme(ref)
        if found == "file":
            text = file_url_path(ref)
        elif found is not None and not Path(ref).is_absolute():
            raise InputRefused("it is neither a local path nor a file:// URL")
        else:
            text = ref
        check_path_text(text)
        try:
            given = Path(text).expanduser()
        except RuntimeError:
            raise InputRefused("its ~ cannot be expanded to a home directory") from None
        if not given.is_absolute():
            raise InputRefused(
                "give an absolute path (or one starting with ~/); relative paths are ambiguous"
            )
        try:
            real = given.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise InputRefused("it does not exist") from None
        except RuntimeError:
            raise InputRefused("it is a symlink loop") from None
        except OSError as exc:
            raise InputRefused(f"it cannot be read ({exc.strerror or exc})") from None
        root = deepest_root(real, self.allowed_dirs)
        if root is None:
            allowed = ", ".join(str(root) for root in self.allowed_dirs) or "none are configured"
            raise InputRefused(f"it is outside the allowed directories ({allowed})")
        # Both where it really is and the name it was given by: a visible link into a hidden directory
        # and a hidden link pointing out are both refused. Only what lies below the root counts.
        lexical = Path(os.path.normpath(given))
        lexical_root = deepest_root(lexical, self._lexical_roots)
        named = lexical.relative_to(lexical_root).parts if lexical_root is not None else lexical.parts
        for part in (*real.relative_to(root).parts, *named):
            if part.startswith("."):
                raise InputRefused(f"hidden files and directories ({json.dumps(part)}) are never read")
        try:
            mode = os.stat(real).st_mode
        except OSError as exc:
            raise InputRefused(f"it cannot be read ({exc.strerror or exc})") from None
        if not stat.S_ISREG(mode):
            raise InputRefused(f"it is not a regular file (it is {file_type(mode)})")
        return real

    def read_checked(self, real: Path, limit: int) -> bytes:
        """At most `limit` bytes of a checked file; its size is checked before anything is read."""
        file, _ = self.open_checked(real, limit)
        with file:
            data = file.read(limit + 1)
        if len(data) > limit:
            raise InputRefused(f"it grew past the {amount(limit)} limit while being read")
        return data

    def open_checked(self, real: Path, limit: int) -> tuple[BinaryIO, int]:
        """The checked file `real` opened for reading, and its size, which is at most `limit`."""
        root = deepest_root(real, self.allowed_dirs)
        if root is None or real == root:
            raise InputRefused("it is outside the allowed directories")
        try:
            fd = open_below(root, real)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise InputRefused(
                    "a link appeared on its path while it was being opened; try again"
                ) from None
            raise InputRefused(f"it cannot be read ({exc.strerror or exc})") from None
        file = os.fdopen(fd, "rb")
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            file.close()
            raise InputRefused("it changed into something that is not a regular file")
        if status.st_nlink > 1 and not self.allow_hard_links:
            file.close()
            raise InputRefused(
                f"it has {status.st_nlink} hard links, and another name may lie outside the allowed "
                "directories; copy the file, or set GLM_ALLOW_HARD_LINKS=true to read such files"
            )
        if status.st_size > limit:
            file.close()
            raise InputRefused(f"it is {amount(status.st_size)}, more than the {amount(limit)} limit")
        return file, status.st_size


def file_url_path(ref: str) -> str:
    parts = urlsplit(ref)
    if parts.netloc not in ("", "localhost"):
        raise InputRefused("a file URL must name a local file (file:///path)")
    if parts.query or parts.fragment:
        raise InputRefused("a file URL with a query or fragment is not read")
    return unquote(parts.path)


def check_path_text(text: str) -> None:
    if "\0" in text:
        raise InputRefused("the path contains a NUL byte")
    if len(text) > MAX_PATH:
        raise InputRefused(f"the path is longer than {MAX_PATH} characters")
    if any(len(part) > MAX_NAME for part in text.split("/")):
        raise InputRefused(f"a path component is longer than {MAX_NAME} characters")


def deepest_root(path: Path, roots: Iterable[Path]) -> Path | None:
    inside = [root for root in roots if path.is_relative_to(root)]
    return max(inside, key=lambda root: len(root.parts)) if inside else None


def file_type(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def open_below(root: Path, real: Path) -> int:
    """A descriptor of `real`, a file below `root`, opened one component at a time from `root`, never
    following a link: a directory swapped for a symlink after the check makes it fail (ELOOP or
    ENOTDIR) rather than lead outside."""
    if not OPENAT:
        return _open_verified(root, real)
    *directories, name = real.relative_to(root).parts
    parent = os.open(root, DIR_FLAGS)
    try:
        for part in directories:
            child = os.open(part, DIR_FLAGS, dir_fd=parent)
            os.close(parent)
            parent = child
        return os.open(name, FILE_FLAGS, dir_fd=parent)
    finally:
        os.close(parent)


def _open_verified(root: Path, real: Path) -> int:
    """Where descriptors cannot anchor a walk: `real` opened by name, then kept only if the opened file
    is still `real` (its path as the system tells it, or failing that, the same file found there)."""
    fd = os.open(real, FILE_FLAGS)
    try:
        where = _descriptor_path(fd)
        if where is not None:
            same = where == real and where.is_relative_to(root)
        else:
            same = Path(os.path.realpath(real)) == real and os.path.samestat(os.fstat(fd), os.stat(real))
    except OSError:
        same = False
    if not same:
        os.close(fd)
        raise OSError(errno.ELOOP, "the file moved while it was opened")
    return fd


def _descriptor_path(fd: int) -> Path | None:
    """The real path of an open file, where the system tells it (Linux /proc, macOS F_GETPATH)."""
    with contextlib.suppress(OSError):
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    try:
        import fcntl
    except ImportError:
        return None
    getpath = getattr(fcntl, "F_GETPATH", None)
    if getpath is None:
        return None
    with contextlib.suppress(OSError):
        return Path(os.fsdecode(fcntl.fcntl(fd, getpath, bytes(1024)).rstrip(b"\0")))
    return None
