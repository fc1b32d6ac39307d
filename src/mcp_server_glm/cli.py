"""The `mcp-server-glm` command: flags and environment -> Settings -> the MCP server over stdio.

Every setting has a flag built from its field in settings.py, so `--help` always lists them all.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from . import __version__
from .settings import Settings, environment_names

log = logging.getLogger("mcp_server_glm")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-server-glm",
        description="MCP server for the GLM platform (Z.AI and BigModel). Speaks MCP over stdio. "
        "Every flag can also be set by the environment variable shown; flags win.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        env = " or ".join(environment_names(name))
        default = "" if field.default is None else f" Default: {field.default}."
        help_text = f"{field.description}{default} [env: {env}]"
        if name == "api_key":
            help_text += " Prefer the environment: a flag is visible to other local users."
        annotation = field.annotation
        if annotation is bool:
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif typing.get_origin(annotation) is typing.Literal:
            choices = typing.get_args(annotation)
            parser.add_argument(
                flag, dest=name, choices=choices, type=_lower_if(choices), default=None, help=help_text
            )
        else:
            kind: Any = annotation if annotation in (int, float) else str
            parser.add_argument(
                flag, dest=name, type=kind, default=None, metavar=name.upper(), help=help_text
            )
    return parser


def _lower_if(choices: tuple[Any, ...]) -> Any:
    if all(str(choice).islower() for choice in choices):
        return str.lower
    return str.upper


def load_settings(argv: Sequence[str] | None = None) -> Settings:
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = {name: value for name, value in vars(args).items() if value is not None}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in exc.errors(include_url=False)
        )
        parser.error(f"invalid configuration: {problems}")


def configure_logging(level: str) -> None:
    """Log to stderr: in stdio mode stdout carries the protocol and nothing else."""
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    if level != "DEBUG":
        # A line per HTTP request is noise at INFO; GLM failures are logged by the adapter.
        for noisy in ("httpx2", "httpcore2"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> None:
    settings = load_settings(argv)
    configure_logging(settings.log_level)
    from .server import build_server  # deferred: --help and --version stay instant

    server = build_server(settings)
    log.info("mcp-server-glm %s serving over stdio, API %s", __version__, settings.api_base_url)
    with contextlib.suppress(KeyboardInterrupt):
        server.run("stdio")
