"""What the server holds for its lifetime, handed to every tool call through the MCP lifespan.

One GLM client (one connection pool) serves every call; it is absent when no API key is configured,
so the server still starts and lists its tools, and each call explains how to set the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from .glm import GLMClient
from .settings import Settings


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    glm: GLMClient | None
