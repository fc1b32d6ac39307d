"""Media references (local paths, data URLs, http(s) URLs) as each GLM API takes them: chat wants bare
base64 or a URL, the video API a full data URL; formats a model does not take are converted or refused.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from mcp.server.mcpserver import Context

from ..calls import app_state
from ..errors import BadArguments
from ..glm import catalog

MB = 1024 * 1024


async def video_image_for_api(
    ctx: Context[Any, Any], ref: str, model: str, formats: Sequence[str] | None
) -> str:
    """A video input image as the video API takes it: http(s) URLs as they are (once `_remote_url`
    let them through), local files and data URLs checked and inlined as a FULL data URL (the video API
    wants the MIME prefix, unlike chat). `formats` are the MIME types the model takes (None: not
    checked)."""
    if (url := _remote_url(ref)) is not None:
        return url
    picture = await app_state(ctx).files.read_input(ref, "image")
    if formats is not None and picture.mime_type not in formats:
        found = _format_name(picture.mime_type)
        accepted = " or ".join(_format_name(kind) for kind in formats)
        shown = "a data URL" if ref.startswith("data:") else f'"{picture.source}"'
        raise BadArguments(
            f"The image {shown} is {found}, which {model} does not take: it takes {accepted} images only "
            "(convert it first)."
        )
    return picture.data_url()


async def chat_image(ctx: Context[Any, Any], ref: str, formats: Sequence[str]) -> str:
    """An image reference as the chat API takes it in `image_url.url`: http(s) URLs as they are (the API
    fetches them); local files and data URLs checked like any input, converted to PNG when their
    format is not one of `formats` (MIME types), and sent as bare base64: the chat API refuses a
    `data:...;base64,` prefix (400, code 1210), which the video API on the contrary requires."""
    if (url := _remote_url(ref)) is not None:
        return url
    picture = await app_state(ctx).files.read_input(ref, "image")
    data = picture.data
    if picture.mime_type not in formats:
        from ..imaging import to_png

        names = " or ".join(_format_name(kind) for kind in formats)
        data = to_png(data, _named(picture.source), names)
    return base64.b64encode(data).decode("ascii")


def chat_video(ref: str) -> dict[str, Any]:
    """A chat `video_url` part: by http(s) URL only, the one form both platforms document (Z.AI's
    video_url.url is a "Video URL address"; neither takes an inline video)."""
    if (url := _remote_url(ref)) is None:
        raise BadArguments(
            f"Videos go to the chat API by http(s) URL only (it takes no inline video, mp4/mkv/mov up to "
            f"{catalog.MAX_VIDEO_BYTES // MB} MB): give a URL instead of {_shown(ref)}."
        )
    return {"type": "video_url", "video_url": {"url": url}}


async def chat_file(ctx: Context[Any, Any], ref: str, platform: str) -> dict[str, Any]:
    """A chat file part as `platform` writes it (catalog.FILE_PARTS): Z.AI's {type: "file", file:
    {file_url | file_data, filename}}, BigModel's {type: "file_url", file_url: {url}}. A local file or
    data URL is checked like any input and sent as a full data URL, where the platform takes one."""
    if (url := _remote_url(ref)) is not None:
        if catalog.FILE_PARTS[_platform(platform)] == "file_url":
            return {"type": "file_url", "file_url": {"url": url}}
        name = urlsplit(url).path.rstrip("/").rpartition("/")[2]
        return {"type": "file", "file": {"file_url": url, **({"filename": name} if name else {})}}
    if platform not in catalog.FILE_DATA_PLATFORMS:
        raise BadArguments(
            f"{platform} takes files by http(s) URL only (file_url parts, no inline data): give a URL "
            f"instead of {_shown(ref)}."
        )
    document = await app_state(ctx).files.read_input(ref, "file")
    name = "document" if document.source == "data URL" else PurePath(document.source).name
    return {"type": "file", "file": {"file_data": document.data_url(), "filename": name}}


def _platform(name: str) -> catalog.Platform:
    return "bigmodel" if name == "bigmodel" else "zai"


def _shown(ref: str) -> str:
    return "a data URL" if ref.startswith("data:") else f'"{ref}"'


def _remote_url(ref: str) -> str | None:
    """An http(s) URL (any letter case) the GLM API will fetch, or None for a local file or data URL.
    A URL naming no public host (localhost, a literal private or link-local address) is refused: GLM's
    servers would fetch it on the user's behalf."""
    from ..files import check_remote_url

    return check_remote_url(ref)


def _format_name(mime_type: str) -> str:
    return mime_type.removeprefix("image/").upper()


def _named(source: str) -> str:
    return "(data URL)" if source == "data URL" else f'"{source}"'
