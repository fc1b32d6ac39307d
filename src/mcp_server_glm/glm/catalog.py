"""The GLM model catalogue as data: which models exist on which platform, their documented limits
(output tokens, images, prompt length, formats), how their thinking behaves, and which are defaults.

The platform's list moves fast, so names not listed here are still passed through to the API; the
catalogue decides defaults, the local checks that name a documented limit, and the glm://models listing.
Sources: Z.AI's API reference and the BigModel pages, as summarised in the project's API notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["chat", "vision", "image", "video", "asr", "ocr", "tts", "embedding", "rerank"]
Platform = Literal["zai", "bigmodel"]
# How a chat model thinks: "none" never; "auto" decides itself when enabled; "forced" always thinks when
# enabled (it can be disabled); "only" cannot be disabled at all (glm-5.3 family).
Thinking = Literal["none", "auto", "forced", "only"]

K = 1024
MB = 1024 * 1024
BOTH: tuple[Platform, ...] = ("zai", "bigmodel")
CN: tuple[Platform, ...] = ("bigmodel",)
ZAI: tuple[Platform, ...] = ("zai",)

# reasoning_effort values each model takes (glm-5.2 maps the OpenAI-style names onto its own levels).
EFFORT_53 = ("low", "high", "max")
EFFORT_52 = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

CHAT_IMAGE_FORMATS = ("image/png", "image/jpeg")
VIDU_IMAGE_FORMATS = ("image/png", "image/jpeg", "image/webp")
COGVIDEOX_SIZES = ("1280x720", "720x1280", "1024x1024", "1920x1080", "1080x1920", "2048x1080", "3840x2160")
SIZE_FORM = re.compile(r"\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*")  # how a size is written: WIDTHxHEIGHT in pixels
# Image sizes: the documented ones, and the rule a custom size must keep (glm-api.md, images `size`).
GLM_IMAGE_SIZES = ("1280x1280", "1568x1056", "1056x1568", "1472x1088", "1088x1472", "1728x960", "960x1728")
COGVIEW_SIZES = ("1024x1024", "768x1344", "864x1152", "1344x768", "1152x864", "1440x720", "720x1440")


@dataclass(frozen=True, slots=True)
class SizeRule:
    """Custom sizes an image model takes: each side `low`-`high` px and divisible by `step`, at most
    `pixels` in all. The documented sizes are taken even where they break it (glm-image's 1728x960)."""

    low: int
    high: int
    step: int
    pixels: int

    def allows(self, width: int, height: int) -> bool:
        sides_ok = all(self.low <= side <= self.high and side % self.step == 0 for side in (width, height))
        return sides_ok and width * height <= self.pixels

    def __str__(self) -> str:
        return (
            f"each side {self.low}-{self.high} px and divisible by {self.step}, "
            f"at most {self.pixels} pixels in all"
        )


GLM_IMAGE_RULE = SizeRule(1024, 2048, 32, 2**22)
COGVIEW_RULE = SizeRule(512, 2048, 16, 2**21)
COGVIDEOX_FIELDS = ("quality", "with_audio", "size", "fps", "duration")
VIDU_FIELDS = ("with_audio", "size", "duration", "movement_amplitude")
# How a chat file part is written on each platform (glm-api.md §22 row 9): Z.AI's
# {type: "file", file: {file_id | file_url | file_data, filename}}, BigModel's {type: "file_url",
# file_url: {url}} (URLs only, no base64). `file_data` is a full data: URL; `file_id` (Z.AI's file upload)
# only for the glm-5.3-flash family (`Model.file_ids`).
FILE_PARTS: dict[Platform, str] = {"zai": "file", "bigmodel": "file_url"}
FILE_DATA_PLATFORMS: tuple[Platform, ...] = ZAI
MAX_FILE_BYTES = 50 * MB  # one chat file part (Z.AI)
MAX_FILES = 50  # file parts per request ("with a maximum of 50")
MAX_VIDEO_BYTES = 200 * MB  # one chat video part (mp4, mkv, mov)
TTS_VOICES = ("tongtong", "chuichui", "xiaochen", "jam", "kazi", "douji", "luodo")  # or a cloned voice's id


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    kind: Kind
    note: str = ""
    context: int | None = None  # tokens
    max_output: int | None = None  # tokens: the largest max_tokens the model takes
    free: bool = False
    platforms: tuple[Platform, ...] = BOTH
    legacy: bool = False  # still served, never offered as a default
    # chat and vision
    thinking: Thinking = "none"
    efforts: tuple[str, ...] = ()  # reasoning_effort values; empty: the field is not sent
    max_images: int | None = None  # images per request (vision)
    base64_images: bool = True  # inline images allowed (glm-4v-flash takes URLs only)
    max_videos: int = 0  # video_url parts per request (by URL only: no reference takes inline video)
    video_first: bool = False  # a video_url part comes first in its message (BigModel's glm-4v-plus-0111)
    files: bool = False  # file parts (PDF, Word, ...) per request
    # Where `files` holds (None: on all its platforms), and whether a file part may name an uploaded file
    # (file_id); the part's form per platform is FILE_PARTS'.
    file_platforms: tuple[Platform, ...] | None = None
    file_ids: bool = False
    tokenizer: bool = False  # POST /tokenizer counts this model's prompts
    # image, video; tts (the input text), rerank (the query)
    max_prompt: int | None = None  # characters
    image_formats: tuple[str, ...] = CHAT_IMAGE_FORMATS  # MIME types of input images
    # Image and video request fields, per model: `fields` names the optional ones it takes (of quality,
    # with_audio, size, fps, duration, and Vidu's style, aspect_ratio, movement_amplitude; None: unknown,
    # all passed on); `image_counts` how many input images a video model takes (empty: unchecked);
    # `qualities`, `sizes`, `durations` and `frame_rates` the values it takes (empty: unchecked); `seconds`
    # its usual generation time; `async_route` whether it has the async image route
    # (POST /async/images/generations).
    fields: tuple[str, ...] | None = None
    image_counts: tuple[int, ...] = ()
    qualities: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    durations: tuple[int, ...] = ()
    frame_rates: tuple[int, ...] = ()
    size_rule: SizeRule | None = None  # image models: custom sizes beside the documented `sizes`
    seconds: float | None = None
    async_route: bool = False
    # ocr (layout_parsing): pages parsed per request on each platform ((platform, pages), ...), and the
    # largest image and PDF. embedding, rerank: inputs (texts, documents) per request, and each input's
    # most tokens or characters; embedding: the vector sizes it takes (the first is its default).
    # tts: the voices, and the speed and volume ranges ((low, high); volume's low is exclusive).
    max_pages: tuple[tuple[Platform, int], ...] = ()
    max_image_bytes: int | None = None
    max_pdf_bytes: int | None = None
    max_inputs: int | None = None
    max_input_tokens: int | None = None
    max_input_chars: int | None = None
    dimensions: tuple[int, ...] = ()
    voices: tuple[str, ...] = ()
    speeds: tuple[float, float] | None = None
    volumes: tuple[float, float] | None = None

    def on(self, platform: str) -> bool:
        return platform in self.platforms

    def pages_on(self, platform: str) -> int | None:
        """Pages an OCR model parses per request on `platform` (None: not listed)."""
        return next((pages for where, pages in self.max_pages if where == platform), None)

    def file_part(self, platform: str) -> str | None:
        """The chat part type that carries a file to this model on `platform` ("file" or "file_url"),
        or None when it takes no files there."""
        if not self.files or not self.on(platform):
            return None
        if self.file_platforms is not None and platform not in self.file_platforms:
            return None
        return next((part for where, part in FILE_PARTS.items() if where == platform), None)

    def takes(self, kind: Literal["video", "file"], platform: str) -> bool:
        """Whether this model takes video or file parts on `platform`."""
        if kind == "video":
            return self.max_videos > 0 and self.on(platform)
        return self.file_part(platform) is not None

    def as_dict(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "id": self.name,
            "kind": self.kind,
            "context_tokens": self.context,
            "max_output_tokens": self.max_output,
            "free": self.free,
            "platforms": list(self.platforms),
            "legacy": self.legacy,
            "note": self.note,
        }
        if self.kind in ("chat", "vision"):
            entry["thinking"] = self.thinking
            entry["reasoning_effort"] = list(self.efforts) or None
        if self.kind == "vision":
            entry.update(
                max_images=self.max_images,
                base64_images=self.base64_images,
                max_videos=self.max_videos,
                files=self.files,
                file_platforms=[where for where in self.platforms if self.file_part(where)],
                video_first=self.video_first,
                image_formats=list(self.image_formats),
            )
        if self.kind in ("image", "video"):
            entry["max_prompt_characters"] = self.max_prompt
            entry.update(
                fields=list(self.fields) if self.fields is not None else None,
                image_counts=list(self.image_counts) or None,
                qualities=list(self.qualities) or None,
                sizes=list(self.sizes) or None,
                durations=list(self.durations) or None,
                frame_rates=list(self.frame_rates) or None,
                async_route=self.async_route,
            )
        if self.kind == "video":
            entry["image_formats"] = list(self.image_formats)
        if self.kind == "ocr":
            entry.update(
                max_pages=dict(self.max_pages),
                max_image_bytes=self.max_image_bytes,
                max_pdf_bytes=self.max_pdf_bytes,
            )
        if self.kind == "tts":
            entry.update(
                max_input_characters=self.max_prompt,
                voices=list(self.voices),
                speed=list(self.speeds or ()) or None,
                volume=list(self.volumes or ()) or None,
            )
        if self.kind in ("embedding", "rerank"):
            entry.update(
                max_inputs=self.max_inputs,
                max_input_tokens=self.max_input_tokens,
                max_input_characters=self.max_input_chars,
            )
        if self.kind == "embedding":
            entry["dimensions"] = list(self.dimensions)
        if self.kind == "rerank":
            entry["max_query_characters"] = self.max_prompt
        if self.tokenizer:
            entry["tokenizer"] = True
        return entry


def _chat(name: str, note: str, context: int | None, out: int, **more: object) -> Model:
    return Model(name, "chat", note, context, out, **more)  # type: ignore[arg-type]


def _vision(name: str, note: str, context: int | None, out: int, **more: object) -> Model:
    return Model(name, "vision", note, context, out, **more)  # type: ignore[arg-type]


def _cogvideox(name: str, note: str, **more: object) -> Model:
    return Model(
        name,
        "video",
        note,
        legacy=True,
        max_prompt=512,
        fields=("quality", "with_audio", "size", "fps"),  # no duration (glm-api.md §8)
        image_counts=(0, 1),
        qualities=("speed", "quality"),
        frame_rates=(30, 60),
        **more,  # type: ignore[arg-type]
    )


def _vidu(name: str, note: str, sizes: tuple[str, ...], duration: int, **more: object) -> Model:
    more.setdefault("fields", VIDU_FIELDS)
    return Model(
        name,
        "video",
        note,
        platforms=CN,
        max_prompt=512,
        image_formats=VIDU_IMAGE_FORMATS,
        sizes=sizes,
        durations=(duration,),
        **more,  # type: ignore[arg-type]
    )


MODELS: tuple[Model, ...] = (
    _chat(
        "glm-5.3", "newest flagship; thinking always on", None, 128 * K, thinking="only", efforts=EFFORT_53
    ),
    _chat(
        "glm-5.2",
        "flagship; 1M context, reasoning effort",
        1024 * K,
        128 * K,
        thinking="auto",
        efforts=EFFORT_52,
    ),
    _chat("glm-5.1", "flagship", 200 * K, 128 * K, thinking="forced"),
    _chat("glm-5", "", 200 * K, 128 * K, thinking="forced"),
    _chat("glm-5-turbo", "fast", 200 * K, 128 * K, platforms=CN, thinking="forced"),
    _chat("glm-4.7", "strong at coding", 200 * K, 128 * K, thinking="forced"),
    _chat("glm-4.7-flashx", "cheap", 200 * K, 128 * K, thinking="auto"),
    _chat("glm-4.7-flash", "", 200 * K, 128 * K, free=True, thinking="auto"),
    _chat("glm-4.6", "", 200 * K, 128 * K, thinking="auto", tokenizer=True),
    _chat("glm-4.5", "", 128 * K, 96 * K, platforms=ZAI, thinking="auto", tokenizer=True),
    _chat("glm-4.5-x", "fast", 128 * K, 96 * K, platforms=ZAI, thinking="auto"),
    _chat("glm-4.5-air", "light", 128 * K, 96 * K, thinking="auto"),
    _chat("glm-4.5-airx", "light and fast", 128 * K, 96 * K, thinking="auto"),
    _chat("glm-4.5-flash", "", 128 * K, 96 * K, free=True, thinking="auto"),
    _chat("glm-4-32b-0414-128k", "no thinking", 128 * K, 16 * K, platforms=ZAI),
    _chat("glm-4-plus", "legacy", 128 * K, 4 * K, platforms=CN, legacy=True),
    _chat("glm-4-air-250414", "legacy", 128 * K, 16 * K, platforms=CN, legacy=True),
    _chat("glm-4-flash-250414", "legacy", 128 * K, 16 * K, free=True, platforms=CN, legacy=True),
    _chat("glm-4-long", "legacy; 1M context", 1024 * K, 4 * K, platforms=CN, legacy=True),
    _chat("glm-z1-flash", "legacy reasoning model", 128 * K, 32 * K, free=True, platforms=CN, legacy=True),
    _vision(
        "glm-5.3-flashx",
        "newest vision model, cheap",
        None,
        128 * K,
        thinking="only",
        efforts=EFFORT_53,
        max_images=150,
        max_videos=2,
        files=True,
        file_platforms=ZAI,
        file_ids=True,
    ),
    _vision(
        "glm-5.3-flash",
        "newest vision model",
        None,
        128 * K,
        thinking="only",
        efforts=EFFORT_53,
        max_images=150,
        max_videos=2,
        files=True,
        file_platforms=ZAI,
        file_ids=True,
    ),
    _vision(
        "glm-5v-turbo",
        "vision, fast",
        200 * K,
        128 * K,
        platforms=CN,
        thinking="forced",
        max_images=150,
        max_videos=2,
        files=True,
    ),
    _vision(
        "glm-4.6v",
        "thinking switch",
        128 * K,
        32 * K,
        thinking="auto",
        max_images=150,
        max_videos=2,
        files=True,
        tokenizer=True,
    ),
    _vision("glm-4.6v-flashx", "cheap", 128 * K, 32 * K, thinking="auto", max_images=150, max_videos=2),
    _vision("glm-4.6v-flash", "", 128 * K, 32 * K, free=True, thinking="auto", max_images=150, max_videos=2),
    _vision(
        "glm-4.5v",
        "thinking always on",
        64 * K,
        16 * K,
        platforms=ZAI,
        thinking="forced",
        max_images=50,
        max_videos=1,
        files=True,
    ),
    _vision(
        "autoglm-phone-multilingual",
        "phone-operating agent",
        None,
        4 * K,
        platforms=ZAI,
    ),
    _vision(
        "glm-4v-plus-0111",
        "legacy",
        16 * K,
        8 * K,
        platforms=CN,
        legacy=True,
        max_images=5,
        max_videos=1,
        video_first=True,
    ),
    _vision(
        "glm-4v-flash",
        "legacy; one image, by URL only",
        16 * K,
        1 * K,
        free=True,
        platforms=CN,
        legacy=True,
        max_images=1,
        base64_images=False,
    ),
    _vision(
        "glm-4.1v-thinking-flash",
        "legacy reasoning",
        64 * K,
        16 * K,
        free=True,
        platforms=CN,
        legacy=True,
        thinking="forced",
        max_images=5,
    ),
    Model(
        "glm-image",
        "image",
        "best quality; hd only (~20 s)",
        qualities=("hd",),
        sizes=GLM_IMAGE_SIZES,
        size_rule=GLM_IMAGE_RULE,
        seconds=20,
        async_route=True,
    ),
    Model(
        "cogview-4-250304",
        "image",
        "fast (5-10 s)",
        qualities=("hd", "standard"),
        sizes=COGVIEW_SIZES,
        size_rule=COGVIEW_RULE,
        seconds=10,
    ),
    Model(
        "cogview-4",
        "image",
        "fast",
        platforms=CN,
        qualities=("hd", "standard"),
        sizes=COGVIEW_SIZES,
        size_rule=COGVIEW_RULE,
        seconds=10,
    ),
    Model(
        "cogview-3-flash",
        "image",
        "legacy",
        free=True,
        platforms=CN,
        legacy=True,
        sizes=COGVIEW_SIZES,
        size_rule=COGVIEW_RULE,
    ),
    Model(
        "cogvideox-3",
        "video",
        "text or image to video, up to 4K, 5 or 10 s",
        max_prompt=512,
        fields=COGVIDEOX_FIELDS,
        image_counts=(0, 1, 2),
        qualities=("speed", "quality"),
        sizes=COGVIDEOX_SIZES,
        durations=(5, 10),
        frame_rates=(30, 60),
    ),
    _cogvideox("cogvideox-2", "legacy", platforms=CN),
    _cogvideox("cogvideox-flash", "legacy", free=True, platforms=CN),
    _vidu(
        "viduq1-text",
        "Vidu Q1, text to video, 1080p 5 s",
        ("1920x1080",),
        5,
        fields=("size", "duration", "movement_amplitude", "style", "aspect_ratio"),
        image_counts=(0,),
    ),
    _vidu("viduq1-image", "Vidu Q1, image to video, 1080p 5 s", ("1920x1080",), 5, image_counts=(1,)),
    _vidu(
        "viduq1-start-end", "Vidu Q1, first and last frames, 1080p 5 s", ("1920x1080",), 5, image_counts=(2,)
    ),
    _vidu("vidu2-image", "Vidu 2, image to video, 720p 4 s", ("1280x720",), 4, image_counts=(1,)),
    _vidu(
        "vidu2-start-end",
        "Vidu 2, first and last frames, 720p 4 s",
        ("1280x720", "480x360"),
        4,
        image_counts=(2,),
    ),
    _vidu(
        "vidu2-reference",
        "Vidu 2, 1-3 reference images, 720p 4 s",
        ("1280x720",),
        4,
        fields=(*VIDU_FIELDS, "aspect_ratio"),
        image_counts=(1, 2, 3),
    ),
    Model("glm-asr-2512", "asr", "speech to text; wav/mp3, 25 MB and 30 s per request"),
    Model(
        "glm-ocr",
        "ocr",
        "layout parsing of PDF, JPG and PNG to markdown",
        max_pages=(("zai", 30), ("bigmodel", 100)),
        max_image_bytes=10 * MB,
        max_pdf_bytes=50 * MB,
    ),
    Model(
        "glm-tts",
        "tts",
        "text to speech, 24 kHz wav or pcm",
        platforms=CN,
        max_prompt=1024,
        voices=TTS_VOICES,
        speeds=(0.5, 2.0),
        volumes=(0.0, 10.0),
    ),
    Model(
        "embedding-3",
        "embedding",
        "text embeddings",
        platforms=CN,
        max_inputs=64,
        max_input_tokens=3072,
        dimensions=(2048, 1024, 512, 256),
    ),
    Model(
        "embedding-2",
        "embedding",
        "text embeddings, older",
        platforms=CN,
        legacy=True,
        max_input_tokens=512,
        dimensions=(1024,),
    ),
    Model(
        "rerank",
        "rerank",
        "scores documents against a query",
        platforms=CN,
        max_prompt=4096,
        max_inputs=128,
        max_input_chars=4096,
    ),
    # Retired: no platform takes it any more; listed so that an old configuration gets a clear answer.
    Model("glm-asr", "asr", "retired name: use glm-asr-2512", platforms=(), legacy=True),
)

# Each platform's recommended model per kind: the defaults when settings name none.
DEFAULTS: dict[Platform, dict[Kind, str]] = {
    "zai": {
        "chat": "glm-5.3",
        "vision": "glm-5.3-flashx",
        "image": "cogview-4-250304",
        "video": "cogvideox-3",
        "asr": "glm-asr-2512",
        "ocr": "glm-ocr",
    },
    "bigmodel": {
        "chat": "glm-5.3",
        "vision": "glm-5.3-flashx",
        "image": "cogview-4-250304",
        "video": "cogvideox-3",
        "asr": "glm-asr-2512",
        "ocr": "glm-ocr",
        "tts": "glm-tts",
        "embedding": "embedding-3",
        "rerank": "rerank",
    },
}

_BY_NAME = {model.name: model for model in MODELS}


def find(name: str) -> Model | None:
    """The catalogue entry for a model name (case-insensitive), or None for an unlisted model."""
    return _BY_NAME.get(name.strip().lower())


def default(platform: Platform, kind: Kind) -> str:
    """The platform's recommended model of a kind."""
    return DEFAULTS[platform][kind]


def default_for(platform: Platform, kind: Literal["video", "file"], preferred: str) -> str:
    """The vision model to send videos or files to: `preferred` (the configured vision model) when it
    takes them on `platform`, else the first current vision model listed here that does."""
    entry = find(preferred)
    if entry is not None and entry.takes(kind, platform):
        return preferred
    return next(
        model.name
        for model in MODELS
        if model.kind == "vision" and not model.legacy and model.takes(kind, platform)
    )


def is_text_only(name: str) -> bool:
    """True only for a listed chat model: unlisted names get the benefit of the doubt."""
    model = find(name)
    return model is not None and model.kind == "chat"
