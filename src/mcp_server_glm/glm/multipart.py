"""A multipart/form-data request body that streams its one file from disk as it is sent.

Its length is known up front (sent as Content-Length), the file is read a chunk at a time in a worker
thread, and every iteration starts the file again from its start, so a retry re-sends the whole body.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass

import anyio


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file to upload: `chunks()` gives its `size` bytes from the start, each time it is called, with
    blocking reads (they are made in a worker thread)."""

    filename: str
    content_type: str
    size: int
    chunks: Callable[[], Iterator[bytes]]


class MultipartBody:
    """Text fields (in order; a name may repeat), then the file part `name`."""

    def __init__(self, fields: Sequence[tuple[str, str]], name: str, file: FilePart) -> None:
        boundary = secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_param(key)}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
            for key, value in fields
        ]
        head.append(
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{_param(name)}"; filename="{_param(file.filename)}"\r\n'
            f"Content-Type: {file.content_type}\r\n\r\n".encode()
        )
        self._head = b"".join(head)
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._file = file
        self.length = len(self._head) + file.size + len(self._tail)

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-Length": str(self.length)}

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._head
        chunks = self._file.chunks()
        sent = 0
        try:
            while (chunk := await anyio.to_thread.run_sync(_next, chunks)) is not None:
                sent += len(chunk)
                if sent > self._file.size:
                    break
                yield chunk
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if sent != self._file.size:
            # The declared Content-Length would be wrong: the connection is dropped, nothing is sent.
            raise ValueError(f"{self._file.filename} gave {sent} bytes, not the {self._file.size} declared")
        yield self._tail


def _next(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


def _param(value: str) -> str:
    """A quoted header parameter value, as browsers write one: quotes and line breaks escaped."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
