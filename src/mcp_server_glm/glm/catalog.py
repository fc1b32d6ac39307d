"""The GLM model catalogue as data: which models exist, what each is for, which are free.

The platform's list moves fast, so names not listed here are still passed through to the API;
the catalogue only informs defaults, early checks (images sent to a text-only model) and listings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["chat", "vision", "image", "video", "asr"]


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    kind: Kind
    note: str = ""
    free: bool = False
    china_only: bool = False


MODELS: tuple[Model, ...] = (
    Model("glm-5.3", "chat", "newest flagship; thinking always on"),
    Model("glm-5.2", "chat", "flagship; reasoning effort levels"),
    Model("glm-5.1", "chat", "200K context, 128K output"),
    Model("glm-5", "chat", "200K context"),
    Model("glm-5-turbo", "chat", "200K context, fast"),
    Model("glm-4.7", "chat", "200K context; strong at coding"),
    Model("glm-4.7-flashx", "chat", "200K context, cheap"),
    Model("glm-4.7-flash", "chat", "200K context", free=True),
    Model("glm-4.6", "chat", "200K context"),
    Model("glm-4.5", "chat", "128K context"),
    Model("glm-4.5-x", "chat", "128K context, fast"),
    Model("glm-4.5-air", "chat", "128K context, light"),
    Model("glm-4.5-airx", "chat", "128K context, light and fast"),
    Model("glm-4.5-flash", "chat", "128K context", free=True),
    Model("glm-4-32b-0414-128k", "chat", "128K context, no thinking"),
    Model("glm-4-plus", "chat", "legacy", china_only=True),
    Model("glm-4-air-250414", "chat", "legacy", china_only=True),
    Model("glm-4-flash-250414", "chat", "legacy", free=True, china_only=True),
    Model("glm-4-long", "chat", "legacy; 1M context", china_only=True),
    Model("glm-z1-flash", "chat", "legacy reasoning model", free=True, china_only=True),
    Model("glm-5.3-flashx", "vision", "newest vision model, cheap"),
    Model("glm-5.3-flash", "vision", "newest vision model"),
    Model("glm-5v-turbo", "vision", "200K context"),
    Model("glm-4.6v", "vision", "128K context; thinking switch"),
    Model("glm-4.6v-flashx", "vision", "128K context, cheap"),
    Model("glm-4.6v-flash", "vision", "128K context", free=True),
    Model("glm-4.5v", "vision", "64K context; thinking always on"),
    Model("glm-4v-plus-0111", "vision", "legacy", china_only=True),
    Model("glm-4v-flash", "vision", "legacy", free=True, china_only=True),
    Model("glm-4.1v-thinking-flash", "vision", "legacy reasoning vision model", free=True, china_only=True),
    Model("glm-image", "image", "sync and async generation"),
    Model("cogview-4-250304", "image", "fast generation"),
    Model("cogview-4", "image", "fast generation", china_only=True),
    Model("cogview-3-flash", "image", "legacy", free=True, china_only=True),
    Model("cogvideox-3", "video", "text or image to video, up to 4K, 5 or 10 s"),
    Model("cogvideox-2", "video", "legacy"),
    Model("cogvideox-flash", "video", "legacy", free=True, china_only=True),
    Model("glm-asr-2512", "asr", "speech to text, wav/mp3 up to 30 s"),
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
