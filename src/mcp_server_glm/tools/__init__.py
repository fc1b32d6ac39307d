"""The MCP tools, one capability per module: arguments in, GLM adapter call, a readable result out."""
