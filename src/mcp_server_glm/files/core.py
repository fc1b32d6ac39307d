"""`Files`: every local file the server reads, every URL it fetches for a client and every file it writes,
tying the confinement, the sniffing, the SSRF guard, the one streaming fetch and the outputs together.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

import anyio
import httpx2

from ..errors import FetchFailed, FileRefused, InputRefused
from .fetch import Fetcher
from .local import LocalFiles
from .outputs import TEXT_TYPES, Outputs, output_stem, temporary_file
from .sniffing import SNIFF_BYTES, whole
from .text import amount, quote, scheme
from .types import InputFile, MediaKind, OpenInput, SavedFile


class Files:
    """Reads inputs from allowed directories and URLs, and saves downloads into the output directory.

    Owns two HTTP clients, opened on first use: a guarded one for URLs a client gave, and an
    unguarded one for media URLs the GLM API itself returned. Close it with `aclose()` or `async with`.
    """

    def __init__(
        self,
        *,
        allowed_dirs: Sequence[Path],
        output_dir: Path,
        input_limits: Mapping[MediaKind, int],
        max_download_bytes: int,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        total_timeout: float = 900.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        allow_hard_links: bool = False,
        temp_dir: Path | None = None,
        owned: Callable[[Path], Awaitable[None]] | None = None,
    ) -> None:
        self.local = LocalFiles(allowed_dirs, allow_hard_links=allow_hard_links)
        # A further check of each local input once resolved (with sign-in: the caller's own files);
        # it raises InputRefused.
        self.owned = owned
        self.allowed_dirs = self.local.allowed_dirs
        self.output_dir = Path(output_dir).expanduser().resolve()
        # Where unnamed temporary files go (decoded audio, what a URL input held); None: the system's.
        self.temp_dir = None if temp_dir is None else Path(os.path.abspath(Path(temp_dir).expanduser()))
        self.input_limits = dict(input_limits)
        self.max_download_bytes = max_download_bytes
        self.fetcher = Fetcher(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            total_timeout=total_timeout,
            transport=transport,
        )
        self.outputs = Outputs(self.output_dir)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    # -- inputs ----------------------------------------------------------------------------------

    def resolve_local(self, ref: str) -> Path:
        """The real path of a local file (a path or a file:// URL) the server may read."""
        try:
            return self.local.resolve(ref)
        except InputRefused as exc:
            raise FileRefused(f"file {quote(ref)} is refused: {exc}") from None

    async def read_input(self, ref: str, kind: MediaKind, *, limit: int | None = None) -> InputFile:
        """The bytes of an input given as a path or a file, data or http(s) URL, sniffed as `kind`, at most
        `limit` bytes (default: the kind's input limit)."""
        limit = limit or self.input_limits.get(kind, self.max_download_bytes)
        found = scheme(ref)
        with _refusals(ref, kind):
            if found in ("http", "https"):
                chunks: list[bytes] = []
                await self.fetcher.fetch(ref, guarded=True, limit=limit, write=chunks.append)
                data, source = b"".join(chunks), ref
            elif found == "data":
                data, source = _decode_data_url(ref, limit), "data URL"
            else:
                path = await anyio.to_thread.run_sync(self.local.resolve_input, ref)
                if self.owned is not None:
                    await self.owned(path)
                data, source = await anyio.to_thread.run_sync(self.local.read_checked, path, limit), str(path)
            mime_type = await anyio.to_thread.run_sync(whole, kind, io.BytesIO(data), len(data), data)
            return InputFile(data=data, mime_type=mime_type, source=source)

    @asynccontextmanager
    async def open_input(self, ref: str, kind: MediaKind) -> AsyncIterator[OpenInput]:
        """An input like `read_input` gives, as an open file instead of bytes in memory (for inputs too
        big to hold): a local file is opened once checked, what a URL or data URL holds is written to a
        temporary file first. The file is closed on leaving."""
        limit = self.input_limits.get(kind, self.max_download_bytes)
        found = scheme(ref)
        with _refusals(ref, kind):
            if found in ("http", "https") or found == "data":
                file, size = await self._keep(ref, limit)
                source = "data URL" if found == "data" else ref
            else:
                path = await anyio.to_thread.run_sync(self.local.resolve_input, ref)
                if self.owned is not None:
                    await self.owned(path)
                file, size = await anyio.to_thread.run_sync(self.local.open_checked, path, limit)
                source = str(path)
        try:
            with _refusals(ref, kind):
                file.seek(0)
                head = await anyio.to_thread.run_sync(file.read, SNIFF_BYTES)
                mime_type = await anyio.to_thread.run_sync(whole, kind, file, size, head)
                opened = OpenInput(file=file, size=size, mime_type=mime_type, source=source)
            yield opened
        finally:
            file.close()

    async def _keep(self, ref: str, limit: int) -> tuple[BinaryIO, int]:
        """What a URL or data URL holds, in an unnamed temporary file, and its size."""
        try:
            file = await anyio.to_thread.run_sync(temporary_file, self.temp_dir)
        except OSError as exc:
            raise FetchFailed(f"no temporary file to keep it in ({exc.strerror or exc})") from None
        try:
            if scheme(ref) == "data":
                await anyio.to_thread.run_sync(file.write, _decode_data_url(ref, limit))
            else:
                await self.fetcher.fetch(ref, guarded=True, limit=limit, write=file.write, blocking=True)
            return file, file.tell()
        except OSError as exc:
            file.close()
            raise FetchFailed(
                f"it could not be written to a temporary file ({exc.strerror or exc})"
            ) from None
        except BaseException:
            file.close()
            raise

    # -- outputs ---------------------------------------------------------------------------------

    async def download(self, url: str, *, kind: MediaKind, stem: str, guarded: bool = False) -> SavedFile:
        """Stream `url` into the output directory as `<stem><ext>` (or `<stem>-2<ext>`, ...).

        `guarded` for URLs a client gave; media URLs the GLM API returned are fetched unguarded.
        Nothing partial is left behind when it fails or is cancelled.
        """
        return await self.outputs.download(
            self.fetcher, url, kind=kind, stem=stem, guarded=guarded, limit=self.max_download_bytes
        )

    async def save_text(self, text: str, *, stem: str, ext: str = ".md") -> SavedFile:
        """Save text this server produced (a page read, a document parsed) in the output directory as
        `<stem><ext>` (or `<stem>-2<ext>`, ...), UTF-8, published whole or not at all. `ext` is ".md"
        or ".txt"; `stem` comes from `output_stem`, never from what was read."""
        return await self.outputs.save(text.encode("utf-8"), stem=stem, ext=ext, mime_type=TEXT_TYPES[ext])

    output_stem = staticmethod(output_stem)

    async def save_bytes(
        self, data: bytes, *, stem: str, ext: str, mime_type: str, kind: MediaKind | None = None
    ) -> SavedFile:
        """Save bytes the server made (joined speech, a file of vectors) into the output directory as
        `<stem><ext>` (or `<stem>-2<ext>`, ...), never replacing a file; `FileRefused` when they cannot be
        written or, given `kind`, are not that media in the format `ext` (".wav", ...) names. Take `stem`
        from `output_stem`, never from prompt text."""
        return await self.outputs.save(data, stem=stem, ext=ext, mime_type=mime_type, kind=kind)

    def open_saved(self, path: Path | str) -> BinaryIO:
        """A file this server saved (directly in the output directory), opened for reading without
        following a link; `FileRefused` when it is gone or lies elsewhere. Blocks: call it off the loop."""
        opened = self.outputs.open_saved(path)
        if opened is None:
            raise FileRefused(
                f"{quote(str(path))} is no longer a file in the output directory ({self.output_dir})"
            )
        return opened[0]

    async def saved_size(self, path: Path | str) -> int | None:
        """The size of a file this server saved in the output directory, or None when it is gone or lies
        elsewhere; the file system is asked in a worker thread, off the event loop."""
        opened = await anyio.to_thread.run_sync(self.outputs.open_saved, path)
        if opened is None:
            return None
        file, size = opened
        file.close()
        return size

    def temporary_file(self) -> BinaryIO:
        """An unnamed temporary file in the data directory (removed when closed), for what a tool makes
        on the way to a request, such as decoded audio. Blocks: call it off the loop."""
        try:
            return temporary_file(self.temp_dir)
        except OSError as exc:
            where = self.temp_dir or "the temporary directory"
            raise FileRefused(f"no temporary file could be made in {where}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _refusals(ref: str, kind: MediaKind) -> Iterator[None]:
    """Refusals and failures of reading an input, as one `FileRefused` line naming it."""
    shown = "data URL" if scheme(ref) == "data" else quote(ref)
    try:
        yield
    except FetchFailed as exc:
        raise FileRefused(f"{kind} {shown} could not be fetched: {exc}") from None
    except InputRefused as exc:
        raise FileRefused(f"{kind} {shown} is refused: {exc}") from None


def _decode_data_url(ref: str, limit: int) -> bytes:
    header, comma, payload = ref[len("data:") :].partition(",")
    if not comma or not header.lower().endswith(";base64"):
        raise InputRefused("only base64 data URLs (data:<type>;base64,...) are read")
    payload = payload.strip()
    if len(payload) * 3 // 4 > limit:
        raise InputRefused(
            f"it holds about {amount(len(payload) * 3 // 4)}, more than the {amount(limit)} limit"
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputRefused("its base64 payload is invalid") from None
    if len(data) > limit:
        raise InputRefused(f"it holds {amount(len(data))}, more than the {amount(limit)} limit")
    return data
