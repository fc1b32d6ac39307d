"""`python -m mcp_server_glm`: the same as the `mcp-server-glm` command."""

from .cli import main

if __name__ == "__main__":
    main()
