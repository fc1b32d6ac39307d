"""Side-by-side measurements of mcp-server-glm against a bare MCP server and direct API calls.

Run from the repository: `python -m benchmarks`. Nothing here is a timed test.
"""
