"""Media routes of the fake GLM API (glm-api.md §7, §8, §9, §2 item 10): image and video generation,
their async tasks polled at `async-result/{id}`, speech-to-text from multipart forms, and the CDN files
the generated URLs point at (`GET /media/<name>` at the server root, no key needed).

State lives in a `TaskBook` owned by the fake; each request sees it through a `Site` snapshot."""

import base64
import binascii
import contextlib
import dataclasses
import email.message
import email.parser
import email.utils
import io
import json
import random
import re
import struct
import threading
import time
import urllib.parse
import wave
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .api import (
    SSE_TYPE,
    ApiError,
    Fault,
    Reply,
    _flag,
    _int,
    json_reply,
    new_id,
    parse_json_object,
    pieces,
    sse,
)

# Image and video models per platform (glm-api.md §7, §8, §22 rows 11-13): Z.AI's newest reference lists
# only cogvideox-3 for video; BigModel adds the older CogVideoX models and Vidu.
IMAGE_MODELS = {
    "zai": frozenset({"glm-image", "cogview-4-250304"}),
    "bigmodel": frozenset({"glm-image", "cogview-4-250304", "cogview-4", "cogview-3-flash"}),
}
VIDEO_MODELS = {
    "zai": frozenset({"cogvideox-3"}),
    "bigmodel": frozenset(
        {
            "cogvideox-3",
            "cogvideox-2",
            "cogvideox-flash",
            "viduq1-text",
            "viduq1-image",
            "viduq1-start-end",
            "vidu2-image",
            "vidu2-start-end",
            "vidu2-reference",
        }
    ),
}
# The fields each route defines (ZOAS CreateImageRequest, AsyncCreateImageRequest, CogVideoX3Request +
# VideoCommonRequest; BigModel's pages add watermark_enabled and, for Vidu, its own fields).
IMAGE_FIELDS = frozenset({"model", "prompt", "quality", "size", "user_id"})
VIDEO_COMMON_FIELDS = frozenset({"model", "request_id", "user_id"})
COGVIDEOX_FIELDS = frozenset({"prompt", "image_url", "quality", "with_audio", "size", "fps", "duration"})
VIDU_TEXT_FIELDS = frozenset({"prompt", "style", "duration", "aspect_ratio", "size", "movement_amplitude"})
VIDU_IMAGE_FIELDS = frozenset({"prompt", "image_url", "duration", "size", "movement_amplitude", "with_audio"})
BIGMODEL_EXTRA_FIELDS = frozenset({"watermark_enabled"})
VIDEO_SIZES = frozenset(
    {"1280x720", "720x1280", "1024x1024", "1920x1080", "1080x1920", "2048x1080", "3840x2160"}
)
MAX_VIDEO_PROMPT = 512
# Input images of a video: formats by their bytes, and the largest decoded size.
COGVIDEOX_IMAGE_FORMATS = ("png", "jpeg")
VIDU_IMAGE_FORMATS = ("png", "jpeg", "webp")
COGVIDEOX_IMAGE_BYTES = 5 * 1024 * 1024
VIDU_IMAGE_BYTES = 50 * 1024 * 1024
ASR_MODELS = frozenset({"glm-asr-2512"})  # glm-asr is in neither reference: 1211
MAX_AUDIO_BYTES = 25 * 1024 * 1024
MAX_AUDIO_SECONDS = 30.0
MAX_HOTWORDS = 100
UNSUPPORTED_AUDIO = "transcriptions不支持当前文件格式"

MEDIA_SIZE = 64 * 1024  # default size of a fake video file
MEDIA_CHUNK = 1024 * 1024  # large bodies are produced and written this many bytes at a time
_ZEROS = bytes(MEDIA_CHUNK)
FTYP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
_MEDIA_NAME = re.compile(r"(?P<kind>image|cover|video)-[0-9A-Za-z_-]+\.(?P<ext>png|mp4)")


def _png(width: int = 2, height: int = 2) -> bytes:
    """A real RGB PNG of a small checkerboard."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (
        b"\x00" + b"".join(b"\xff\xff\xff" if (x + y) % 2 else b"\x20\x60\xc0" for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


PNG = _png()


# ---------------------------------------------------------------- tasks


@dataclass(frozen=True)
class TaskPlan:
    """How async tasks created from now on end: after `polls` PROCESSING answers, or (when set) once
    `seconds` have passed since creation however often they were polled; then `outcome`
    ("SUCCESS" or "FAIL", the latter with `fail_code`/`fail_message`)."""

    polls: int = 2
    seconds: float | None = None
    outcome: str = "SUCCESS"
    fail_code: str = "1301"
    fail_message: str = "The generated video did not pass the content review."


@dataclass(frozen=True)
class Task:
    """One async task as the fake keeps it (snapshots of these are `FakeGLM.tasks`)."""

    id: str
    kind: str  # "video" or "image"
    model: str
    request_id: str
    created: float  # time.monotonic() at creation, like Recorded.time
    plan: TaskPlan
    polls: int = 0  # GET async-result/{id} answered so far
    prompt: str | None = None
    image_urls: tuple[str, ...] = ()  # as sent: http(s) URLs, data URLs or raw base64


class TaskBook:
    """The async tasks of one fake; ids are 19-digit strings, unique for the book's lifetime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._base = random.randrange(7 * 10**18, 8 * 10**18 - 10**12)
        self._serial = 0

    def create(self, kind: str, model: str, request_id: str | None, plan: TaskPlan, **inputs: Any) -> Task:
        with self._lock:
            self._serial += 1
            ident = str(self._base + self._serial)
            task = Task(ident, kind, model, request_id or ident, time.monotonic(), plan, **inputs)
            self._tasks[ident] = task
            return task

    def poll(self, ident: str) -> tuple[Task, bool] | None:
        """Count one poll of a task; the task as it was and whether it is done, or None if unknown."""
        with self._lock:
            task = self._tasks.get(ident)
            if task is None:
                return None
            plan = task.plan
            if plan.seconds is not None:
                done = time.monotonic() - task.created >= plan.seconds
            else:
                done = task.polls >= plan.polls
            self._tasks[ident] = dataclasses.replace(task, polls=task.polls + 1)
            return task, done

    def finish(self, ident: str) -> None:
        """End a task at its next poll (with its plan's outcome), however long its plan holds it."""
        with self._lock:
            task = self._tasks[ident]
            self._tasks[ident] = dataclasses.replace(
                task, plan=dataclasses.replace(task.plan, polls=0, seconds=None)
            )

    def replan(self, ident: str, plan: TaskPlan) -> None:
        """A task's plan from now on (its polls so far still count); KeyError for an unknown id."""
        with self._lock:
            self._tasks[ident] = dataclasses.replace(self._tasks[ident], plan=plan)

    def snapshot(self) -> dict[str, Task]:
        with self._lock:
            return dict(self._tasks)

    def clear(self) -> None:
        """Forget all tasks; ids keep growing."""
        with self._lock:
            self._tasks.clear()


# ---------------------------------------------------------------- the site


@dataclass(frozen=True)
class Site:
    """The fake's media state and settings, as seen by one request."""

    root_url: str
    book: TaskBook
    plan: TaskPlan = TaskPlan()
    unknown_task_status: int = 404
    media_size: int = MEDIA_SIZE
    platform: str = "zai"  # "zai" or "bigmodel": whose rules the routes apply
    media_png: bytes | None = None  # served for image-*.png and cover-*.png instead of PNG, when set

    def public(self, method: str, route: str, base: str, fault: Fault | None) -> Reply | None:
        """The reply to an unauthenticated CDN request, or None if this is no such request."""
        if base or not route.startswith("media/"):
            return None
        return media_file(method, route.removeprefix("media/"), fault, self.media_size, self.media_png)

    def route(
        self,
        method: str,
        route: str,
        body: bytes,
        form: dict[str, list[str]],
        files: dict[str, bytes],
        fault: Fault | None,
    ) -> Reply | None:
        """The reply of a media API route, or None if the route is not one of them."""
        if route in JSON_ROUTES:
            _require(method, "POST")
            return JSON_ROUTES[route](parse_json_object(body), self)
        if route == "audio/transcriptions":
            _require(method, "POST")
            return transcriptions(form, files, fault)
        if route == "async-result" or route.startswith("async-result/"):
            _require(method, "GET")
            return self.async_result(route.partition("/")[2])
        return None

    def url(self, name: str) -> str:
        return f"{self.root_url}/media/{name}"

    def async_result(self, ident: str) -> Reply:
        polled = self.book.poll(ident)
        if polled is None:
            raise ApiError(self.unknown_task_status, "1214", "task id not found")
        task, done = polled
        body: dict[str, Any] = {"model": task.model, "id": task.id, "request_id": task.request_id}
        if not done:
            body["task_status"] = "PROCESSING"
        elif task.plan.outcome == "FAIL":
            body["task_status"] = "FAIL"
            body["error"] = {"code": task.plan.fail_code, "message": task.plan.fail_message}
        elif task.kind == "video":
            body["task_status"] = "SUCCESS"
            body["video_result"] = [
                {"url": self.url(f"video-{task.id}.mp4"), "cover_image_url": self.url(f"cover-{task.id}.png")}
            ]
        else:
            body["task_status"] = "SUCCESS"
            body["image_result"] = [{"url": self.url(f"image-{task.id}.png")}]
        return json_reply(200, body)


def _require(method: str, allowed: str) -> None:
    if method != allowed:
        raise ApiError(405, "1222", f"Request method '{method}' is not supported.")


def _created(task: Task) -> Reply:
    body = {"model": task.model, "id": task.id, "request_id": task.request_id, "task_status": "PROCESSING"}
    return json_reply(200, body)


def _request_id(payload: dict[str, Any]) -> str | None:
    value = payload.get("request_id")
    return value if isinstance(value, str) and value else None


def _model(value: Any, known: frozenset[str]) -> str:
    if value is None or value == "":
        raise ApiError(400, "1214", "model:The model cannot be empty.")
    if not isinstance(value, str):
        raise ApiError(400, "1214", "model:The model must be a string.")
    if value.lower() not in known:
        raise ApiError(400, "1211")
    return value


def _prompt(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, "1214", "prompt:The prompt must be a string.")
    return value


def _choice(payload: dict[str, Any], field: str, allowed: tuple[Any, ...]) -> Any:
    value = payload.get(field)
    if value is not None and value not in allowed:
        options = ", ".join(str(a) for a in allowed)
        raise ApiError(400, "1214", f"{field}:The {field} must be one of {options}.")
    return value


def _only_fields(payload: dict[str, Any], allowed: frozenset[str], site: Site) -> None:
    """Refuse a field the route does not define. A null one passes: zai-sdk sends unset fields as null."""
    if site.platform == "bigmodel":
        allowed |= BIGMODEL_EXTRA_FIELDS
    unknown = sorted(key for key, value in payload.items() if key not in allowed and value is not None)
    if unknown:
        raise ApiError(400, "1210", f"{unknown[0]}:The parameter {unknown[0]} is not supported.")


def _user_id(payload: dict[str, Any]) -> None:
    """6 to 128 characters, a range (1210) as at the schema level; Z.AI's VideoCommonRequest states it in
    its description only, so for its videos this rule is the one that refuses."""
    value = payload.get("user_id")
    if value is not None and not (isinstance(value, str) and 6 <= len(value) <= 128):
        raise ApiError(400, "1210", "user_id:The user_id must be 6 to 128 characters.")


# ---------------------------------------------------------------- images


def _image_request(payload: dict[str, Any], model: str, site: Site) -> str:
    """Validate the fields, prompt, size and quality of an image request; return the prompt."""
    _only_fields(payload, IMAGE_FIELDS, site)
    prompt = _prompt(payload.get("prompt"))
    if prompt is None:
        raise ApiError(400, "1214", "prompt:The prompt cannot be empty.")
    # glm-image takes hd only (§22 row 11), the others hd or standard.
    _choice(payload, "quality", ("hd",) if model.lower() == "glm-image" else ("hd", "standard"))
    size = payload.get("size")
    if size is not None:
        _check_image_size(size, model.lower())
    _user_id(payload)
    return prompt


# The sizes the reference recommends, taken even where they break its custom-size rule (960 < 1024).
GLM_IMAGE_SIZES = frozenset(
    {"1280x1280", "1568x1056", "1056x1568", "1472x1088", "1088x1472", "1728x960", "960x1728"}
)


def _check_image_size(size: Any, model: str) -> None:
    if model == "glm-image" and size in GLM_IMAGE_SIZES:
        return
    low, step, pixels = (1024, 32, 2**22) if model == "glm-image" else (512, 16, 2**21)
    match = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", size) if isinstance(size, str) else None
    if match is not None:
        width, height = int(match[1]), int(match[2])
        if (
            all(low <= side <= 2048 and side % step == 0 for side in (width, height))
            and width * height <= pixels
        ):
            return
    raise ApiError(
        400,
        "1214",
        f"size:The size {size!r} is not supported by {model}: width and height must be {low}-2048 px, "
        f"divisible by {step}, and at most {pixels} pixels in all.",
    )


def image_generations(payload: dict[str, Any], site: Site) -> Reply:
    model = _model(payload.get("model"), IMAGE_MODELS[site.platform])
    _image_request(payload, model, site)
    body = {
        "created": int(time.time()),
        "data": [{"url": site.url(f"image-{new_id()}.png")}],
        "content_filter": [{"role": "assistant", "level": 3}],
    }
    return json_reply(200, body)


def async_image_generations(payload: dict[str, Any], site: Site) -> Reply:
    """AsyncCreateImageRequest: glm-image only (the model enum has nothing else), quality hd only."""
    model = _model(payload.get("model"), IMAGE_MODELS[site.platform])
    if model.lower() != "glm-image":
        raise ApiError(
            400, "1214", f"model:Asynchronous image generation supports only glm-image, not {model}."
        )
    prompt = _image_request(payload, model, site)
    task = site.book.create("image", model, None, site.plan, prompt=prompt)
    return _created(task)


# ---------------------------------------------------------------- videos


def _video_fields(model: str) -> frozenset[str]:
    if model.startswith("cogvideox"):
        extra = COGVIDEOX_FIELDS
    elif model == "viduq1-text":
        extra = VIDU_TEXT_FIELDS
    elif model == "vidu2-reference":
        extra = VIDU_IMAGE_FIELDS | {"aspect_ratio"}
    else:
        extra = VIDU_IMAGE_FIELDS
    return VIDEO_COMMON_FIELDS | extra


def video_generations(payload: dict[str, Any], site: Site) -> Reply:
    model = _model(payload.get("model"), VIDEO_MODELS[site.platform])
    kind = model.lower()
    _only_fields(payload, _video_fields(kind), site)
    prompt = _prompt(payload.get("prompt"))
    if prompt is not None and len(prompt) > MAX_VIDEO_PROMPT:
        raise ApiError(400, "1214", f"prompt:The prompt must be at most {MAX_VIDEO_PROMPT} characters.")
    urls = _image_urls(payload.get("image_url"), kind, site.platform)
    if prompt is None and not urls:
        raise ApiError(400, "1214", "prompt:The prompt and image_url cannot both be empty.")
    if kind == "viduq1-text" and prompt is None:
        raise ApiError(400, "1214", "prompt:The prompt cannot be empty.")
    quality = _choice(payload, "quality", ("speed", "quality"))
    _check_frames(kind, urls, quality)
    for url in urls:
        _check_video_image(url, kind)
    _flag(payload.get("with_audio"), "with_audio")
    _check_video_size(payload.get("size"), kind)
    if _int(payload.get("fps"), "fps") not in (None, 30, 60):
        raise ApiError(400, "1214", "fps:The fps must be 30 or 60.")
    durations = (5, 10) if kind.startswith("cogvideox") else (5,) if kind.startswith("viduq1") else (4,)
    if _int(payload.get("duration"), "duration") not in (None, *durations):
        raise ApiError(400, "1214", f"duration:The duration must be one of {', '.join(map(str, durations))}.")
    request_id = payload.get("request_id")
    if request_id is not None and not (isinstance(request_id, str) and 6 <= len(request_id) <= 64):
        raise ApiError(400, "1210", "request_id:The request_id must be 6 to 64 characters.")
    _user_id(payload)
    task = site.book.create("video", model, _request_id(payload), site.plan, prompt=prompt, image_urls=urls)
    return _created(task)


def _image_urls(value: Any, model: str, platform: str) -> tuple[str, ...]:
    """image_url as a tuple. Z.AI's cogvideox-3 takes an array only (CogVideoX3Request); BigModel's
    CogVideoX a string or an array; Vidu's -image models one string, -start-end and -reference arrays."""
    if value is None or value == "":
        return ()
    as_array = model.endswith(("-start-end", "-reference")) or (platform == "zai" and model == "cogvideox-3")
    as_string = model.endswith("-image")
    if isinstance(value, str) and not as_array:
        return (value,)
    if isinstance(value, list) and not as_string and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    shape = "an array of strings" if as_array else "a string" if as_string else "a string or an array"
    raise ApiError(400, "1214", f"image_url:The image_url of {model} must be {shape}.")


def _check_frames(model: str, urls: tuple[str, ...], quality: str | None) -> None:
    if len(urls) > 3:
        raise ApiError(400, "1214", "image_url:At most 3 images are supported.")
    if model.endswith(("-image", "-start-end", "-reference")) and not urls:
        raise ApiError(400, "1214", "image_url:The image_url cannot be empty.")
    if model.endswith("-start-end") and len(urls) != 2:
        raise ApiError(400, "1214", "image_url:A first and a last frame (2 images) are required.")
    if (model.endswith("-image") or model.startswith("cogvideox")) and len(urls) > (
        1 if model.endswith("-image") else 2
    ):
        raise ApiError(400, "1214", f"image_url:Too many images for {model}.")
    if model.startswith("cogvideox") and len(urls) == 2 and quality not in (None, "speed"):
        raise ApiError(400, "1214", "image_url:First and last frames are only supported with quality speed.")


def _check_video_image(ref: str, model: str) -> None:
    """An input image: an http(s) URL (not fetched here), a data URL, or (CogVideoX only: Vidu wants the
    MIME prefix) bare base64; inline ones are decoded and their bytes must be an accepted format."""
    if ref.startswith(("https://", "http://")):
        return
    vidu = model.startswith("vidu")
    formats = VIDU_IMAGE_FORMATS if vidu else COGVIDEOX_IMAGE_FORMATS
    match = re.fullmatch(r"data:image/[\w.+-]+;base64,\s*(.*)", ref, re.DOTALL)
    if match is None and (vidu or ref.startswith("data:")):
        raise ApiError(400, "1214", "image_url:The image_url must be a URL or a data:image/...;base64, URL.")
    encoded = match[1] if match is not None else ref
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "1214", "image_url:The image is not valid base64.") from None
    limit = VIDU_IMAGE_BYTES if vidu else COGVIDEOX_IMAGE_BYTES
    if len(data) > limit:
        raise ApiError(400, "1214", f"image_url:The image must be at most {limit // (1024 * 1024)} MB.")
    found = image_format(data)
    if found not in formats:
        raise ApiError(400, "1214", f"image_url:The image format must be one of {', '.join(formats)}.")


def image_format(data: bytes) -> str | None:
    """png, jpeg, webp or gif by the bytes' head; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def _check_video_size(size: Any, model: str) -> None:
    if size is None:
        return
    if model.startswith("cogvideox"):
        allowed: frozenset[str] = VIDEO_SIZES
    elif model.startswith("viduq1"):
        allowed = frozenset({"1920x1080"})
    elif model == "vidu2-start-end":
        allowed = frozenset({"1280x720", "480x360"})
    else:
        allowed = frozenset({"1280x720"})
    if size not in allowed:
        raise ApiError(400, "1214", f"size:The size must be one of {', '.join(sorted(allowed))}.")


# ---------------------------------------------------------------- speech to text


def parse_form(content_type: str | None, body: bytes) -> tuple[dict[str, list[str]], dict[str, bytes]]:
    """Text fields (repeated keys keep every value, in order) and file parts (first one per name) of a
    multipart/form-data body (or, tolerantly, the fields of a urlencoded one); empty for any other body."""
    form: dict[str, list[str]] = {}
    files: dict[str, bytes] = {}
    header = email.message.Message()
    header["Content-Type"] = content_type or "text/plain"
    if header.get_content_type() == "application/x-www-form-urlencoded":
        for name, value in urllib.parse.parse_qsl(
            body.decode("utf-8", errors="replace"), keep_blank_values=True
        ):
            form.setdefault(name, []).append(value)
        return form, files
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str) or not boundary:
        return form, files
    # The CRLF before each "--boundary" belongs to the delimiter; the first one may be missing.
    for part in (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))[1:]:
        if part.startswith(b"--"):
            break  # close delimiter
        head, _, content = part.partition(b"\r\n\r\n")
        headers = email.parser.BytesHeaderParser().parsebytes(head.removeprefix(b"\r\n"))
        param = headers.get_param("name", header="content-disposition")
        if param is None:
            continue
        name = email.utils.collapse_rfc2231_value(param)
        if headers.get_filename() is not None:
            files.setdefault(name, content)
        else:
            form.setdefault(name, []).append(content.decode("utf-8", errors="replace"))
    return form, files


def hotwords(form: dict[str, list[str]]) -> list[str]:
    """Hotwords however sent: repeated `hotwords` or `hotwords[]` fields, or a JSON-array string."""
    found: list[str] = []
    for value in form.get("hotwords", []) + form.get("hotwords[]", []):
        with contextlib.suppress(ValueError):
            parsed = json.loads(value)
            if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
                found.extend(parsed)
                continue
        found.append(value)
    return found


def _field(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _audio(form: dict[str, list[str]], files: dict[str, bytes]) -> bytes:
    if "file" in files:
        return files["file"]
    encoded = _field(form, "file_base64")
    if encoded:
        try:
            return base64.b64decode(encoded.partition("base64,")[2] or encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "1214", "file_base64:The file_base64 is not valid base64.") from None
    raise ApiError(400, "1214", "file:The file cannot be empty.")


def is_wav(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def is_mp3(data: bytes) -> bool:
    return data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


def wav_seconds(data: bytes) -> float:
    """Duration from a WAV header: by `wave`, or for formats it rejects from the fmt and data chunks."""
    with (
        contextlib.suppress(wave.Error, EOFError, struct.error, ZeroDivisionError),
        wave.open(io.BytesIO(data)) as audio,
    ):
        return int(audio.getnframes()) / int(audio.getframerate())
    byte_rate: int | None = None
    size: int | None = None
    offset = 12
    while offset + 8 <= len(data) and (byte_rate is None or size is None):
        kind, length = data[offset : offset + 4], int(struct.unpack_from("<I", data, offset + 4)[0])
        if kind == b"fmt " and offset + 20 <= len(data):
            byte_rate = int(struct.unpack_from("<I", data, offset + 16)[0])  # after format, channels, rate
        elif kind == b"data":
            size = length
        offset += 8 + length + (length & 1)
    if not byte_rate or size is None:
        raise ApiError(400, "1214", UNSUPPORTED_AUDIO)
    return size / byte_rate


def transcriptions(form: dict[str, list[str]], files: dict[str, bytes], fault: Fault | None) -> Reply:
    model = _model(_field(form, "model"), ASR_MODELS)
    data = _audio(form, files)
    if len(data) > MAX_AUDIO_BYTES:
        raise ApiError(400, "1214", "file:The file size exceeds 25 MB.")
    if is_wav(data):
        seconds = wav_seconds(data)
        if seconds > MAX_AUDIO_SECONDS:
            raise ApiError(400, "1214", "audio duration exceeds 30 seconds")
        text = f"Transcript of {seconds:.2f} s of audio."
    elif is_mp3(data):
        text = f"Transcript of an MP3 of {len(data)} bytes."
    else:
        raise ApiError(400, "1214", UNSUPPORTED_AUDIO)
    if len(hotwords(form)) > MAX_HOTWORDS:
        raise ApiError(400, "1214", f"hotwords:At most {MAX_HOTWORDS} hotwords are supported.")
    for name, low, high in (("request_id", 6, 64), ("user_id", 6, 128)):
        value = _field(form, name)
        if value is not None and not low <= len(value) <= high:
            raise ApiError(400, "1214", f"{name}:The {name} must be {low}-{high} characters.")
    if fault is not None and fault.content is not None:
        text = fault.content
    ident = new_id()
    created = int(time.time())
    if _flag(_field(form, "stream"), "stream"):
        return _transcript_stream(ident, created, model, text, fault)
    body = {
        "id": ident,
        "created": created,
        "request_id": _field(form, "request_id") or ident,
        "model": model,
    }
    return json_reply(200, {**body, "text": text})


def _transcript_stream(ident: str, created: int, model: str, text: str, fault: Fault | None) -> Reply:
    """delta events, a done event and [DONE]; `cut_after` cuts after that many events, `no_done`
    leaves out [DONE]."""
    head = {"id": ident, "created": created, "model": model}
    events = [sse({**head, "type": "transcript.text.delta", "delta": p}) for p in pieces(text)]
    events.append(sse({**head, "type": "transcript.text.done", "text": text}))
    cut = fault is not None and fault.cut_after is not None
    if fault is not None and fault.cut_after is not None:
        events = events[: fault.cut_after]
    elif not (fault is not None and fault.no_done):
        events.append(sse(b"[DONE]"))
    return Reply(
        200, (("Content-Type", SSE_TYPE), ("Cache-Control", "no-cache")), events=tuple(events), cut=cut
    )


# ---------------------------------------------------------------- CDN files


def media_file(
    method: str, name: str, fault: Fault | None, video_size: int, png: bytes | None = None
) -> Reply:
    """`image-*.png` / `cover-*.png`: `png`, by default a 2x2 PNG; `video-*.mp4`: an MP4 (ftyp box, then
    an mdat box of zeros) of `video_size` bytes, produced 1 MiB at a time. `fault.cut_after` bytes, then
    a reset."""
    if method not in ("GET", "HEAD"):
        return _plain(405, b"Method Not Allowed")
    match = _MEDIA_NAME.fullmatch(name)
    if match is None or (match["kind"] == "video") != (match["ext"] == "mp4"):
        return _plain(404, b"Not Found")
    if match["ext"] == "png":
        head = PNG if png is None else png
        total, content_type = len(head), "image/png"
    else:
        total = max(video_size, len(FTYP))
        rest = total - len(FTYP)
        mdat = struct.pack(">I", rest if rest < 2**32 else 0) + b"mdat" if rest >= 8 else b""
        head, content_type = FTYP + mdat, "video/mp4"
    limit = total
    if fault is not None and fault.cut_after is not None:
        limit = min(max(fault.cut_after, 0), total)
    chunks: Iterator[bytes] = iter(()) if method == "HEAD" else _chunks(head, limit)
    return Reply(
        200,
        (("Content-Type", content_type),),
        chunks=chunks,
        length=total,
        cut=method == "GET" and limit < total,
    )


def _chunks(head: bytes, total: int) -> Iterator[bytes]:
    """`head`, then zeros: `total` bytes in pieces of at most MEDIA_CHUNK."""
    for start in range(0, total, MEDIA_CHUNK):
        end = min(start + MEDIA_CHUNK, total)
        piece = head[start:end]
        yield piece + _ZEROS[: end - start - len(piece)]


def _plain(status: int, text: bytes) -> Reply:
    return Reply(status, (("Content-Type", "text/plain; charset=utf-8"),), text)


JSON_ROUTES: dict[str, Callable[[dict[str, Any], Site], Reply]] = {
    "images/generations": image_generations,
    "async/images/generations": async_image_generations,
    "videos/generations": video_generations,
}
