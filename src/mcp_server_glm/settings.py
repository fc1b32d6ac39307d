"""The server's configuration: one object, read once from the environment and flags, passed down.

Every field has an environment variable and a command-line flag (`cli.py` builds the flags from here).
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .glm import catalog

Platform = Literal["zai", "bigmodel"]

API_ROOTS: dict[Platform, str] = {
    "zai": "https://api.z.ai/api",
    "bigmodel": "https://open.bigmodel.cn/api",
}
# The engines each platform's standalone Web Search API takes, and its chat's built-in web_search tool
# (Z.AI names them differently in the two); the first is the default.
BIGMODEL_ENGINES = ("search_std", "search_pro", "search_pro_sogou", "search_pro_quark")
SEARCH_ENGINES: dict[Platform, tuple[str, ...]] = {"zai": ("search-prime",), "bigmodel": BIGMODEL_ENGINES}
CHAT_SEARCH_ENGINES: dict[Platform, tuple[str, ...]] = {
    "zai": ("search_pro_jina",),
    "bigmodel": BIGMODEL_ENGINES,
}
# The GLM Coding Plan's endpoint serves chat only; every other route goes to the general one.
CODING_PATH = "/coding/paas/v4"
GENERAL_PATH = "/paas/v4"

KEY_VARIABLES = ("ZAI_API_KEY", "ZHIPUAI_API_KEY")
MB = 1024 * 1024
REPLICA_ID = re.compile(r"[a-z0-9]{1,16}")  # kept short and plain: a proxy's map matches it in a header


def default_data_dir() -> Path:
    """The per-user data directory of the platform (XDG on Linux)."""
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "mcp-server-glm"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "mcp-server-glm"
    return Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "mcp-server-glm"


class Settings(BaseSettings):
    """What the server needs to reach the GLM platform and how it behaves."""

    model_config = SettingsConfigDict(
        env_prefix="GLM_",
        env_ignore_empty=True,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,  # an error about the key must not print the key
    )

    api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(*KEY_VARIABLES),
        description="API key from the Z.AI or BigModel console.",
    )
    base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ZAI_BASE_URL", "ZHIPUAI_BASE_URL"),
        description="API base URL of chat; overrides platform and coding plan. A Coding Plan URL "
        "(.../coding/paas/v4) sends the other tools to its general endpoint (.../paas/v4).",
    )
    platform: Platform = Field(
        default="zai",
        description="zai (api.z.ai, international) or bigmodel (open.bigmodel.cn, China).",
    )
    coding_plan: bool = Field(
        default=False,
        description="Send chat to the platform's GLM Coding Plan endpoint (/api/coding/paas/v4); "
        "the other tools always use the general endpoint, billed to the account balance.",
    )
    timeout: float = Field(
        default=120.0, gt=0, description="Seconds to wait for the API to send data (read timeout)."
    )
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for a connection.")
    max_retries: int = Field(
        default=3, ge=0, le=10, description="Retries of a failed call that is safe to repeat."
    )
    deadline: float = Field(
        default=300.0, gt=0, description="Seconds after which a failing call is no longer retried."
    )
    retry_backoff: float = Field(
        default=1.0, ge=0, description="Seconds before the first retry; doubles with each retry."
    )
    chat_model: str | None = Field(
        default=None,
        min_length=1,
        description="Model of glm_chat when a call names none (default: the platform's recommended one).",
    )
    vision_model: str | None = Field(
        default=None,
        min_length=1,
        description="Model of glm_chat with images (default: the platform's recommended vision model).",
    )
    search_engine: str | None = Field(
        default=None,
        description="Default engine of web_search (search-prime on zai, search_std on bigmodel).",
    )
    chat_search_engine: str | None = Field(
        default=None,
        description="Engine of glm_chat's web search (search_pro_jina on zai, search_std on bigmodel).",
    )
    image_model: str = Field(
        default="cogview-4-250304", min_length=1, description="Default model of generate_image."
    )
    video_model: str = Field(
        default="cogvideox-3", min_length=1, description="Default model of generate_video."
    )
    asr_model: str = Field(default="glm-asr-2512", min_length=1, description="Default model of transcribe.")
    video_wait: float = Field(
        default=50.0,
        ge=0,
        le=3600,
        description="Seconds generate_video and get_task wait by default (at most GLM_MAX_WAIT).",
    )
    max_wait: float = Field(
        default=55.0,
        ge=0,
        le=3600,
        description="Longest wait of one call for a job (many hosts cut a call at about 60 s); "
        "a larger wait_seconds is lowered to it.",
    )
    poll_interval: float = Field(
        default=1.0, gt=0, description="Shortest wait between two polls of a job, and before the first."
    )
    poll_max_interval: float = Field(default=30.0, gt=0, description="Longest wait between two polls.")
    tasks: bool = Field(
        default=True,
        description="Answer MCP task requests (2025-11-25 tasks, the 2026-07-28 tasks extension) for "
        "generate_video, glm-image, transcribe and parse_document; off: every call blocks as without tasks.",
    )
    inline_previews: bool = Field(
        default=True,
        description="Show generated images and video covers inline as previews of at most 512 KiB "
        "(off: only their path and glm://media link).",
    )
    data_dir: Path | None = Field(
        default=None, description="Where the task store lives (default: the per-user data directory)."
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("GLM_DATABASE_URL"),
        description="PostgreSQL URL of a store shared by replicas (unset: SQLite in the data dir).",
    )
    output_dir: Path | None = Field(
        default=None, description="Where generated media is saved (default: <data dir>/media)."
    )
    allowed_dirs: Annotated[list[Path] | None, NoDecode] = Field(
        default=None,
        description=f"Directories local input files may come from, separated by {os.pathsep!r} "
        "(default: home and the output directory).",
    )
    max_download_mb: int = Field(default=2048, gt=0, description="Largest media file downloaded, in MiB.")
    max_audio_mb: int = Field(default=500, gt=0, description="Largest audio input to transcribe, in MiB.")
    max_inline_mb: int = Field(
        default=50, gt=0, description="Largest total of images inlined into one chat request, in MiB."
    )
    max_inline_chars: int = Field(
        default=20000,
        ge=1000,
        le=200_000,  # with the layout blocks, a result stays well under 1 MiB
        description="Characters of a page or document shown inline in a result (the whole is saved).",
    )
    confirm_videos: Literal["never", "costly", "always"] = Field(
        default="costly",
        description="Ask the person before a video is submitted, when the client can ask: never, costly "
        "(4K, 60 fps, 10 s or with audio) or always.",
    )
    max_images_per_day: int | None = Field(
        default=None, ge=0, description="Images generate_image may make per day (UTC); unset: no cap."
    )
    max_videos_per_day: int | None = Field(
        default=None, ge=0, description="Videos generate_video may submit per day (UTC); unset: no cap."
    )
    max_searches_per_day: int | None = Field(
        default=None, ge=0, description="Searches web_search may make per day (UTC); unset: no cap."
    )
    max_speech_seconds_per_day: int | None = Field(
        default=None, ge=0, description="Seconds of audio transcribe may take per day (UTC); unset: no cap."
    )
    max_tokens_per_day: int | None = Field(
        default=None, ge=0, description="Tokens glm_chat may use per day (UTC); unset: no cap."
    )
    allow_hard_links: bool = Field(
        default=False,
        description="Read input files that have more than one hard link (another name may be outside "
        "the allowed directories).",
    )
    tools: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="Only these tools, comma-separated (default: all but the opt-in ones, which are "
        "served only when named here).",
        json_schema_extra={"flag": "--tools"},
    )
    transport: Literal["stdio", "streamable-http", "sse"] = Field(
        default="stdio",
        validation_alias=AliasChoices("GLM_MCP_TRANSPORT"),
        description="How clients connect: stdio, streamable-http (at /mcp) or sse (legacy, at /sse).",
    )
    host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("GLM_MCP_HOST"),
        description="Address the HTTP transports listen on.",
    )
    port: int = Field(
        default=8000,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("GLM_MCP_PORT"),
        description="Port of them.",
    )
    allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        validation_alias=AliasChoices("GLM_MCP_ALLOWED_HOSTS"),
        description="Host headers accepted over HTTP, comma-separated (needed for a non-loopback host).",
        json_schema_extra={"flag": "--allowed-host"},
    )
    auth_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("GLM_MCP_AUTH_TOKEN"),
        description="Bearer token every HTTP request must carry (required for a non-loopback host).",
    )
    auth_issuer: str | None = Field(
        default=None,
        description="OAuth sign-in over HTTP: the authorization server whose JWT access tokens are accepted "
        "(its issuer URL); not with GLM_MCP_AUTH_TOKEN.",
    )
    auth_audience: str | None = Field(
        default=None,
        description="The audience tokens must name (default: this server's URL, GLM_PUBLIC_URL + /mcp).",
    )
    auth_jwks_url: str | None = Field(
        default=None,
        description="Where the issuer's signing keys are (default: jwks_uri of its metadata).",
    )
    public_url: str | None = Field(
        default=None,
        description="The URL clients reach this server at, e.g. https://glm.example.com (default: "
        "http://host:port): the resource tokens are issued for.",
    )
    auth_read_scope: str = Field(
        default="glm:read", min_length=1, description="Scope a read-only tool's call needs (sign-in)."
    )
    auth_generate_scope: str = Field(
        default="glm:generate",
        min_length=1,
        description="Scope a call of a tool that makes something (images, videos, speech) needs.",
    )
    auth_admin_scope: str = Field(
        default="glm:admin", min_length=1, description="Scope that shows every user's usage in glm://usage."
    )
    user_rate_limit: int | None = Field(
        default=None, gt=0, description="Tool calls each signed-in user may make per minute; unset: no limit."
    )
    max_body_mb: int = Field(
        default=16,
        gt=0,
        le=1024,
        validation_alias=AliasChoices("GLM_MCP_MAX_BODY_MB"),
        description="Largest HTTP request body accepted, in MiB.",
    )
    max_connections: int = Field(
        default=512,
        ge=16,
        le=100_000,
        validation_alias=AliasChoices("GLM_MCP_MAX_CONNECTIONS"),
        description="Most HTTP connections held open at once (lowered to fit the open-files limit); "
        "at the cap the one idle longest is closed.",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        validation_alias=AliasChoices("GLM_MCP_HEADER_TIMEOUT"),
        description="Seconds an HTTP client has to send a request's headers.",
    )
    max_sessions: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        validation_alias=AliasChoices("GLM_MCP_MAX_SESSIONS"),
        description="Most Streamable HTTP sessions kept at once; at the cap the one idle longest is ended.",
    )
    replica_id: str | None = Field(
        default=None,
        description="This replica's name behind a proxy (1-16 lowercase letters or digits, e.g. r1): "
        "Streamable HTTP session ids start with it and a dot, so the proxy can route each session to "
        "its replica (unset: no prefix).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Logging level of the server's stderr log."
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def _clean_key(cls, value: object) -> object:
        """Surrounding whitespace (a .env with Windows line endings, a pasted newline) is dropped; a key
        with a control or non-ASCII character inside cannot be sent in a header and is refused, naming
        where it came from and never showing it."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            return value
        key = value.strip()
        if not key.isascii() or not key.isprintable():
            raise PydanticCustomError(
                "api_key",
                "the key in {source} has a control character (a line break, a tab) or a non-ASCII "
                "character inside it: set {source} again to the key exactly as the console shows it",
                {"source": _key_source(value)},
            )
        return key or None

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats the value: the URL may hold a password.
        if value is not None and not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (or unset, for SQLite in the data directory)")
        return value

    @field_validator("replica_id")
    @classmethod
    def _check_replica_id(cls, value: str | None) -> str | None:
        if value is not None and not REPLICA_ID.fullmatch(value):
            raise ValueError("must be 1 to 16 lowercase letters or digits, such as r1")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://api.z.ai/api/paas/v4")
        # OpenAI-style clients are given the whole chat URL; here every path is joined to the base.
        suffix = "/chat/completions"
        if value.lower().endswith(suffix):
            base = value[: -len(suffix)].rstrip("/")
            raise ValueError(f"{value} is the chat endpoint, not the base URL: set ZAI_BASE_URL to {base}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _drop_placeholders(cls, values: object) -> object:
        """A desktop host passes `${user_config.x}` through literally when the user left x empty:
        such a value means unset."""
        if not isinstance(values, dict):
            return values
        kept = {}
        for key, value in values.items():
            real = (
                [item for item in value if not _is_placeholder(item)] or None
                if isinstance(value, list)
                else value
            )
            if real is not None and not _is_placeholder(real):
                kept[key] = real
        return kept

    @field_validator("allowed_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: object) -> object:
        return _split(value, os.pathsep)

    @field_validator("tools", "allowed_hosts", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        return _split(value, ",")

    @field_validator("data_dir", "output_dir", "allowed_dirs", mode="after")
    @classmethod
    def _absolute(cls, value: Path | list[Path] | None) -> Path | list[Path] | None:
        if isinstance(value, list):
            return [path.expanduser().absolute() for path in value]
        return value.expanduser().absolute() if value is not None else None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def is_loopback(self) -> bool:
        """Whether the HTTP transports listen on this machine only."""
        host = self.host.strip("[]").lower()
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @field_validator("search_engine", "chat_search_engine")
    @classmethod
    def _check_engine(cls, value: str | None, info: ValidationInfo) -> str | None:
        platform: Platform = info.data.get("platform", "zai")
        known = (SEARCH_ENGINES if info.field_name == "search_engine" else CHAT_SEARCH_ENGINES)[platform]
        if value is not None and value not in known:
            raise ValueError(f"{value!r} is not an engine of {platform}: use {', '.join(known)}")
        return value

    @property
    def api_base_url(self) -> str:
        """The base chat is sent to: the Coding Plan endpoint when the plan is on."""
        if self.base_url:
            return self.base_url
        root = API_ROOTS[self.platform]
        return root + (CODING_PATH if self.coding_plan else GENERAL_PATH)

    @property
    def general_base_url(self) -> str:
        """The base of every route but chat (search, images, videos, speech, tasks): the general
        endpoint, also for a Coding Plan, whose endpoint serves chat only."""
        chat = self.api_base_url
        return chat[: -len(CODING_PATH)] + GENERAL_PATH if chat.endswith(CODING_PATH) else chat

    @property
    def on_coding_plan(self) -> bool:
        """Whether chat goes to a Coding Plan endpoint (set by the flag or by the base URL)."""
        return self.api_base_url != self.general_base_url

    @property
    def store_dir(self) -> Path:
        return self.data_dir or default_data_dir()

    @property
    def media_dir(self) -> Path:
        return self.output_dir or self.store_dir / "media"

    @property
    def input_dirs(self) -> list[Path]:
        # With sign-in, no default reaches the server's home: only the saved media (each user's own).
        return self.allowed_dirs or ([self.media_dir] if self.auth_issuer else [Path.home(), self.media_dir])

    @property
    def default_search_engine(self) -> str:
        return self.search_engine or SEARCH_ENGINES[self.platform][0]

    @property
    def default_chat_search_engine(self) -> str:
        return self.chat_search_engine or CHAT_SEARCH_ENGINES[self.platform][0]

    @property
    def default_chat_model(self) -> str:
        """glm_chat's model when a call names none: the setting, else the platform's recommended one."""
        return self.chat_model or catalog.default(self.platform, "chat")

    @property
    def default_vision_model(self) -> str:
        """glm_chat's model for a call with images that names none."""
        return self.vision_model or catalog.default(self.platform, "vision")


def _key_source(value: str) -> str:
    """The environment variable a raw key value came from (the flag when none holds it)."""
    return next((name for name in KEY_VARIABLES if os.environ.get(name) == value), "--api-key")


def _is_placeholder(value: object) -> bool:
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def _split(value: object, separator: str) -> object:
    """A list from a separated string, or from several (each possibly separated) given one by one."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        parts = [part.strip() for item in value for part in str(item).split(separator)]
        return [part for part in parts if part] or None
    return value


def environment_names(field: str) -> list[str]:
    """The environment variables a field is read from, in order of precedence."""
    info = Settings.model_fields[field]
    if isinstance(info.validation_alias, AliasChoices):
        return [str(choice) for choice in info.validation_alias.choices]
    return [f"GLM_{field.upper()}"]
