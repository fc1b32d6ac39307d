"""The `mcp-server-glm` command: flags and environment -> Settings -> the chosen transport, or `doctor`.

Every setting has a flag built from its field in settings.py, so `--help` always lists them all.
"""

from __future__ import annotations

import argparse
import logging
import sys
import typing
from collections.abc import Sequence
from typing import Any, NoReturn

from pydantic import ValidationError

from . import __version__
from .errors import ConfigError
from .settings import Settings, environment_names

log = logging.getLogger("mcp_server_glm")

SECRET_FLAGS = ("api_key", "auth_token")
COMMANDS = ("serve", "doctor")
QUIET_LOGGERS = ("httpx2", "httpcore2", "uvicorn.access")
SESSION_LOGGERS = ("mcp.server.streamable_http_manager", "mcp.server.streamable_http", "mcp.server.sse")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-server-glm",
        description="MCP server for the GLM platform (Z.AI and BigModel). Serves MCP over stdio (default), "
        "Streamable HTTP or SSE; `mcp-server-glm doctor` checks the configuration and the API key. "
        "Every flag can also be set by the environment variable shown; flags win.",
    )
    parser.add_argument(
        "command", nargs="?", choices=["serve", "doctor"], default="serve", help="serve (default) or doctor"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for name, field in Settings.model_fields.items():
        flag = flag_of(name)
        default = "" if field.default is None else f" Default: {field.default}."
        help_text = f"{field.description}{default} [env: {' or '.join(environment_names(name))}]"
        if name in SECRET_FLAGS:
            help_text += " Prefer the environment: a flag is visible to other local users."
        annotation = field.annotation
        options: dict[str, Any] = {"dest": name, "default": None, "help": help_text}
        if annotation is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(annotation) is typing.Literal:
            choices = typing.get_args(annotation)
            options.update(
                choices=choices, type=str.lower if all(c.islower() for c in choices) else str.upper
            )
        elif name == "allowed_hosts":
            options.update(action="append", metavar="HOST")
        elif name == "allowed_dirs":
            options.update(
                nargs="*", metavar="DIR"
            )  # a desktop host expands a list into several (or no) arguments
        else:
            kind: Any = annotation if annotation in (int, float) else str
            options.update(type=kind, metavar=name.upper())
        parser.add_argument(flag, **options)
    return parser


def flag_of(name: str) -> str:
    """The command-line flag of a setting: its own if it names one, else --the-field-name."""
    extra = Settings.model_fields[name].json_schema_extra
    own = extra.get("flag") if isinstance(extra, dict) else None
    return str(own or "--" + name.replace("_", "-"))


def load_settings(argv: Sequence[str] | None = None) -> tuple[str, Settings]:
    """The command and the settings, or an exit with one line saying what is wrong."""
    parser = build_parser()
    args = parser.parse_args(_command_first(list(sys.argv[1:] if argv is None else argv)))
    overrides = {name: value for name, value in vars(args).items() if value is not None and name != "command"}
    try:
        return args.command, Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in exc.errors(include_url=False)
        )
        parser.error(f"invalid configuration: {problems}")


def _command_first(argv: list[str]) -> list[str]:
    """The arguments with the command word moved to the front, so that a flag taking a list of
    values (`--allowed-dirs A B doctor`) never swallows it. The command is the first bare `serve` or
    `doctor` that is not the value of a flag taking one value."""
    single = {
        flag_of(name)
        for name, field in Settings.model_fields.items()
        if field.annotation is not bool and name != "allowed_dirs"
    }
    for index, word in enumerate(argv):
        if word in COMMANDS and not (index and argv[index - 1] in single):
            return [word, *argv[:index], *argv[index + 1 :]]
    return argv


def configure_logging(level: str) -> None:
    """Log to stderr: in stdio mode stdout carries the protocol and nothing else."""
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    if level != "DEBUG":
        # A line per HTTP request is noise at INFO (GLM failures are logged by the adapter), and the
        # SDK's session lines carry session ids, which work as credentials: both only at DEBUG.
        for noisy in (*QUIET_LOGGERS, *SESSION_LOGGERS):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> None:
    command, settings = load_settings(argv)
    if command == "doctor":
        # The report is the output; retry warnings would only interleave with it.
        configure_logging("DEBUG" if settings.log_level == "DEBUG" else "ERROR")
        from .doctor import run_doctor

        sys.exit(run_doctor(settings))
    configure_logging(settings.log_level)
    _warn_of_missing_dirs(settings)
    # Deferred: --help, --version and configuration errors stay instant.
    from .server import build_server
    from .transports import serve

    try:
        server = build_server(settings)
        serve(server, settings)
    except ConfigError as exc:
        _refuse(str(exc))


def _warn_of_missing_dirs(settings: Settings) -> None:
    """An allowed folder that does not exist is most likely a typo: no file there can be read."""
    for directory in settings.allowed_dirs or ():
        if directory != settings.media_dir and not directory.is_dir():
            log.warning("Allowed folder %s does not exist: no input file can come from it", directory)


def _refuse(message: str) -> NoReturn:
    print(f"mcp-server-glm: error: {message}", file=sys.stderr)
    sys.exit(2)
