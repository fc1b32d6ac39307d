"""`python -m mcp_server_glm`: the same as the `mcp-server-glm` command (also runnable as a script path)."""

from mcp_server_glm.cli import main

if __name__ == "__main__":
    main()
