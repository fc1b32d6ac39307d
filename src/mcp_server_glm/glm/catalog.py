"""The GLM model catalogue as data: which models exist, what each is for, which are free.

The platform's list moves fast, so names not listed here are still passed through to the API;
the catalogue only informs defaults, early checks (images sent to a text-only model) and listings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["chat", "vision", "image", "video", "asr"]


K = 1024
BOTH = ("zai", "bigmodel")
CN = ("bigmodel",)


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    kind: Kind
    note: str = ""
    context: int | None = None  # tokens
    max_output: int | None = None  # tokens
    free: bool = False
    platforms: tuple[str, ...] = BOTH

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.name,
            "kind": self.kind,
            "context_tokens": self.context,
            "max_output_tokens": self.max_output,
            "free": self.free,
            "platforms": list(self.platforms),
            "note": self.note,
        }


MODELS: tuple[Model, ...] = (
    Model("glm-5.3", "chat", "newest flagship; thinking always on", None, 128 * K),
    Model("glm-5.2", "chat", "flagship; reasoning effort levels", None, 128 * K),
    Model("glm-5.1", "chat", "flagship", 200 * K, 128 * K),
    Model("glm-5", "chat", "", 200 * K, 128 * K),
    Model("glm-5-turbo", "chat", "fast", 200 * K, 128 * K),
    Model("glm-4.7", "chat", "strong at coding", 200 * K, 128 * K),
    Model("glm-4.7-flashx", "chat", "cheap", 200 * K, 128 * K),
    Model("glm-4.7-flash", "chat", "", 200 * K, 128 * K, free=True),
    Model("glm-4.6", "chat", "", 200 * K, 128 * K),
    Model("glm-4.5", "chat", "", 128 * K, 96 * K),
    Model("glm-4.5-x", "chat", "fast", 128 * K, 96 * K),
    Model("glm-4.5-air", "chat", "light", 128 * K, 96 * K),
    Model("glm-4.5-airx", "chat", "light and fast", 128 * K, 96 * K),
    Model("glm-4.5-flash", "chat", "", 128 * K, 96 * K, free=True),
    Model("glm-4-32b-0414-128k", "chat", "no thinking", 128 * K, 16 * K),
    Model("glm-4-plus", "chat", "legacy", 128 * K, 4 * K, platforms=CN),
    Model("glm-4-air-250414", "chat", "legacy", 128 * K, 16 * K, platforms=CN),
    Model("glm-4-flash-250414", "chat", "legacy", 128 * K, 16 * K, free=True, platforms=CN),
    Model("glm-4-long", "chat", "legacy; 1M context", 1024 * K, 4 * K, platforms=CN),
    Model("glm-z1-flash", "chat", "legacy reasoning model", 128 * K, 32 * K, free=True, platforms=CN),
    Model("glm-5.3-flashx", "vision", "newest vision model, cheap", None, 128 * K),
    Model("glm-5.3-flash", "vision", "newest vision model", None, 128 * K),
    Model("glm-5v-turbo", "vision", "", 200 * K, 128 * K),
    Model("glm-4.6v", "vision", "thinking switch", 128 * K, 32 * K),
    Model("glm-4.6v-flashx", "vision", "cheap", 128 * K, 32 * K),
    Model("glm-4.6v-flash", "vision", "", 128 * K, 32 * K, free=True),
    Model("glm-4.5v", "vision", "thinking always on", 64 * K, 16 * K),
    Model("glm-4v-plus-0111", "vision", "legacy", 16 * K, 8 * K, platforms=CN),
    Model("glm-4v-flash", "vision", "legacy", 16 * K, 1 * K, free=True, platforms=CN),
    Model("glm-4.1v-thinking-flash", "vision", "legacy reasoning", 64 * K, 16 * K, free=True, platforms=CN),
    Model("glm-image", "image", "best quality; hd by default (~20 s)"),
    Model("cogview-4-250304", "image", "fast (5-10 s)"),
    Model("cogview-4", "image", "fast", platforms=CN),
    Model("cogview-3-flash", "image", "legacy", free=True, platforms=CN),
    Model("cogvideox-3", "video", "text or image to video, up to 4K, 5 or 10 s"),
    Model("cogvideox-2", "video", "legacy"),
    Model("cogvideox-flash", "video", "legacy", free=True, platforms=CN),
    Model("glm-asr-2512", "asr", "speech to text; wav/mp3, 25 MB and 30 s per request"),
    Model("glm-asr", "asr", "legacy speech to text"),
)

_BY_NAME = {model.name: model for model in MODELS}


def find(name: str) -> Model | None:
    """The catalogue entry for a model name (case-insensitive), or None for an unlisted model."""
    return _BY_NAME.get(name.strip().lower())


def is_text_only(name: str) -> bool:
    """True only for a listed chat model: unlisted names get the benefit of the doubt."""
    model = find(name)
    return model is not None and model.kind == "chat"
