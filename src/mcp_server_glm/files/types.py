"""What the files package hands back: inputs read whole or left open on disk, and files it saved.

Plain data, shared by the package's modules and the tools that use them.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

# document: what GLM-OCR reads (PDF, PNG or JPEG); file: a document for a chat file part (PDF, Office, text)
MediaKind = Literal["image", "audio", "video", "document", "file"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class InputFile:
    data: bytes
    mime_type: str  # from the bytes, never from a declared type
    source: str  # the resolved path or the URL; "data URL" for a data URL

    @property
    def size(self) -> int:
        return len(self.data)

    def data_url(self) -> str:
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class OpenInput:
    """An input read from disk as it is used: the checked file itself, or a temporary file holding what a
    URL or data URL gave. `file` is positioned nowhere in particular: seek before reading."""

    file: BinaryIO
    size: int
    mime_type: str  # from the bytes, never from a declared type
    source: str


@dataclass(frozen=True, slots=True)
class SavedFile:
    path: Path
    name: str
    mime_type: str
    size: int
    source_url: str
