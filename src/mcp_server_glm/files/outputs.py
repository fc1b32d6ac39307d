"""What the server writes: downloads streamed into hidden `.part` files and published under generated
names (never replacing a file), stale parts of killed downloads swept, saved files read back confined.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, BinaryIO

import anyio

from ..errors import FetchFailed, FileRefused, InputRefused
from .fetch import Fetcher
from .local import open_below
from .sniffing import SNIFF_BYTES, expect, extension, sniff
from .text import quote
from .types import MediaKind, SavedFile

try:  # Unix: a download holds a lock on its temporary file, so a later start can tell a stale one
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
STALE_PART_SECONDS = 86400.0  # without file locks, a `.part` file this old is taken for a dead download's
# Where a file system cannot hard-link, publishing falls back to an exclusive create and a rename.
NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}
STEM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,199}")
EXT = re.compile(r"\.[a-z0-9]{1,8}")
TEXT_TYPES = {".md": "text/markdown", ".txt": "text/plain"}  # the text save_text writes: extension, MIME type


class Outputs:
    """The output directory: downloads saved into it, and the files saved there read back."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # Stale temporary files of killed downloads are removed from the output directory before this
        # process's first download; its other downloads wait for that, so no live one is ever swept.
        self._swept = False
        self._sweeping = anyio.Lock()

    async def download(
        self, fetcher: Fetcher, url: str, *, kind: MediaKind, stem: str, guarded: bool, limit: int
    ) -> SavedFile:
        """Stream `url` into the output directory as `<stem><ext>` (or `<stem>-2<ext>`, ...); nothing
        partial is left behind when it fails or is cancelled."""
        if not STEM.fullmatch(stem):
            raise ValueError(f"not a file name stem: {stem!r}")
        shown = quote(url)
        directory = self.directory
        try:
            await anyio.to_thread.run_sync(make_dirs, directory)
            if not self._swept:
                async with self._sweeping:
                    if not self._swept:
                        await anyio.to_thread.run_sync(remove_stale_parts, directory)
                        self._swept = True
            async with temporary(directory, stem) as (temp, out):
                size, head = await fetcher.fetch(
                    url, guarded=guarded, limit=limit, write=out.write, blocking=True
                )
                await anyio.to_thread.run_sync(out.close)
                # What the API returned must be the media asked for, not, say, an HTML error page.
                mime_type = expect(kind, head)
                ext = extension(head)
                with anyio.CancelScope(shield=True):  # once published, the caller must learn its name
                    path = await anyio.to_thread.run_sync(publish, temp, directory, stem, ext)
        except InputRefused as exc:
            raise FileRefused(f"download of {kind} {shown} is refused: {exc}") from None
        except FetchFailed as exc:
            raise FileRefused(f"download of {kind} {shown} failed: {exc}") from None
        except OSError as exc:
            raise FileRefused(f"cannot write to {directory}: {exc.strerror or exc}") from None
        return SavedFile(path=path, name=path.name, mime_type=mime_type, size=size, source_url=url)

    async def save(
        self, data: bytes, *, stem: str, ext: str, mime_type: str, kind: MediaKind | None = None
    ) -> SavedFile:
        """Write bytes the server made (joined speech, a file of vectors) into the output directory as
        `<stem><ext>` (or `<stem>-2<ext>`, ...), published like a download: never replacing a file,
        nothing partial left behind. With `kind`, the bytes must be that media in the format `ext` names."""
        if not STEM.fullmatch(stem) or not EXT.fullmatch(ext):
            raise ValueError(f"not a file name: {stem!r} {ext!r}")
        if kind is not None and sniff(data[:SNIFF_BYTES]) != (kind, ext):
            raise FileRefused(f"refused to save {kind} as {ext}: the bytes are not that format")
        directory = self.directory
        try:
            await anyio.to_thread.run_sync(make_dirs, directory)
            async with temporary(directory, stem) as (temp, out):
                await anyio.to_thread.run_sync(out.write, data)
                await anyio.to_thread.run_sync(out.close)
                with anyio.CancelScope(shield=True):  # once published, the caller must learn its name
                    path = await anyio.to_thread.run_sync(publish, temp, directory, stem, ext)
        except OSError as exc:
            raise FileRefused(f"cannot write to {directory}: {exc.strerror or exc}") from None
        return SavedFile(path=path, name=path.name, mime_type=mime_type, size=len(data), source_url="")

    def open_saved(self, path: Path | str) -> tuple[BinaryIO, int] | None:
        """A file saved directly in the output directory, opened for reading without following a link,
        and its size; None when it is gone, not a regular file, or not in the output directory."""
        return open_saved(self.directory, path)


def open_saved(directory: Path, path: Path | str) -> tuple[BinaryIO, int] | None:
    """`path`, a regular file directly in `directory`, opened for reading from the directory without
    following a link, and its size; None when it is gone, something else, or elsewhere."""
    try:
        root = Path(directory).resolve()
        real = Path(path).resolve()
        if real.parent != root:
            return None
        fd = open_below(root, real)
    except OSError:
        return None
    file = os.fdopen(fd, "rb")
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        file.close()
        return None
    return file, status.st_size


def temporary_file(directory: Path | None) -> BinaryIO:
    """An unnamed temporary file in `directory` (made private if missing; the system's when None),
    removed when closed."""
    if directory is not None:
        make_dirs(directory)
    return tempfile.TemporaryFile(dir=directory)


def output_stem(kind: str, task_id: str | None) -> str:
    """A file name stem like `image-20250101-120000-<task id>`; never made from prompt text."""
    when = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    tag = re.sub(r"[^A-Za-z0-9_-]", "", task_id or "")[:40] or secrets.token_hex(4)
    return f"{re.sub(r'[^A-Za-z0-9_-]', '', kind) or 'media'}-{when}-{tag}"


def make_dirs(directory: Path) -> None:
    """Create `directory` and its missing parents, each private to the user (0o700)."""
    missing: list[Path] = []
    path = directory
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    if not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))


@asynccontextmanager
async def temporary(directory: Path, stem: str) -> AsyncIterator[tuple[Path, IO[bytes]]]:
    """A new hidden `.part` file in `directory`, closed and removed on the way out."""
    with anyio.CancelScope(shield=True):  # so that no temporary file is ever created unseen
        temp, out = await anyio.to_thread.run_sync(create_temp, directory, stem)
    try:
        yield temp, out
    finally:
        # Plain system calls, so that they run even while the task is being cancelled.
        with contextlib.suppress(OSError):
            out.close()
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def create_temp(directory: Path, stem: str) -> tuple[Path, IO[bytes]]:
    temp = directory / f".{stem}-{secrets.token_hex(4)}.part"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temp, flags, 0o600)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until closed: the download is alive
    return temp, os.fdopen(fd, "wb")


def remove_stale_parts(directory: Path) -> None:
    """Remove the `.part` files that downloads killed mid-way left (kill -9, a crash): those no live
    download holds locked, whichever process it runs in."""
    try:
        entries = [entry for entry in os.scandir(directory) if entry.name.startswith(".")]
    except OSError:
        return
    for entry in entries:
        if not entry.name.endswith(".part") or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(OSError):
            if fcntl is None:
                if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_PART_SECONDS:
                    os.unlink(entry.path)
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a download in progress
            finally:
                os.close(fd)
            os.unlink(entry.path)
            log.info("Removed %s, left by a download that did not finish", entry.path)


def publish(temp: Path, directory: Path, stem: str, ext: str) -> Path:
    """Give the finished temporary file its final name, never replacing an existing file."""
    for final in _names(directory, stem, ext):
        try:
            os.link(temp, final)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in NO_HARD_LINKS:
                raise
            return _publish_by_rename(temp, directory, stem, ext)
        temp.unlink()
        return final
    raise FileExistsError(errno.EEXIST, f"too many files named {stem}-N{ext}")


def _publish_by_rename(temp: Path, directory: Path, stem: str, ext: str) -> Path:
    for final in _names(directory, stem, ext):
        try:
            os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        # The name is ours now (created exclusively), so the rename replaces nobody else's file.
        os.replace(temp, final)
        return final
    raise FileExistsError(errno.EEXIST, f"too many files named {stem}-N{ext}")


def _names(directory: Path, stem: str, ext: str) -> Iterator[Path]:
    yield directory / f"{stem}{ext}"
    for number in range(2, 10_000):
        yield directory / f"{stem}-{number}{ext}"
