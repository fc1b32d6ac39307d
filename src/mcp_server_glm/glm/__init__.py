"""An async adapter of the GLM platform's HTTP API (Z.AI and BigModel), independent of MCP.

`client.GLMClient` talks to one base URL; `streaming` assembles chat answers; `errors` types every
failure and maps responses to them; `models` shapes requests and answers; `jobs` waits for async jobs;
`catalog` knows the models. Nothing is imported here, so the catalogue is read without loading the
HTTP client.
"""
