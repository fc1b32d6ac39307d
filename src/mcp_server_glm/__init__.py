"""mcp-server-glm: an MCP server that gives agents the GLM platform (Z.AI and BigModel).

The version is written here once: the package build reads it (pyproject.toml), and serverInfo says it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
