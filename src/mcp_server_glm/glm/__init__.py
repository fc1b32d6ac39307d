"""An async adapter of the GLM platform's HTTP API (Z.AI and BigModel), independent of MCP.

`GLMClient` talks to one base URL; `errors` types every failure; `models` shapes requests and answers.
"""

from .client import GLMClient
from .errors import GLMError

__all__ = ["GLMClient", "GLMError"]
