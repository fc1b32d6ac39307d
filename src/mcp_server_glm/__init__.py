"""mcp-server-glm: an MCP server that gives agents the GLM platform (Z.AI and BigModel).

The version comes from the installed distribution's metadata, so serverInfo always matches the package.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mcp-server-glm")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
