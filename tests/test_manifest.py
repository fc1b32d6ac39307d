"""The MCP Bundle manifest (manifest.json) and the MCP Registry entry (server.json) against the real server.

A host turns the manifest's `user_config` into the arguments and environment of `uv run ... mcp-server-glm`;
these tests do that substitution the way the mcpb reference implementation does (`getMcpConfigForManifest`
in @anthropic-ai/mcpb) and check that every value the user gives arrives as the setting it names.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import tomllib
import typing
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_server_glm import __version__
from mcp_server_glm.cli import SECRET_FLAGS, load_settings
from mcp_server_glm.server import build_server
from mcp_server_glm.settings import Settings, environment_names
from mcp_server_glm.tools import listing
from tests.support.stdio import installed_server

ROOT = Path(__file__).resolve().parent.parent
MANIFEST: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
SERVER_JSON: dict[str, Any] = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
REGISTRY_SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
# The registry's own check of a server name (namespace/name, each starting and ending alphanumeric).
SERVER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9]/[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$")
PLACEHOLDER = re.compile(r"^\$\{(user_config\.[^}]+)\}$")

pytestmark = pytest.mark.anyio


@pytest.fixture
def clean_env(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No GLM setting from the outside, the conftest's GLM_ALLOWED_DIRS included; only the test's own data
    directory stays (no setting checked here depends on it)."""
    for name in list(os.environ):
        if name.startswith(("GLM_", "ZAI_", "ZHIPUAI_")) and name != "GLM_DATA_DIR":
            monkeypatch.delenv(name)


def substitute(value: Any, variables: dict[str, str | list[str]]) -> Any:
    """mcpb's replaceVariables: `${name}` inside strings is replaced by a single value; an array item that is
    exactly `${user_config.KEY}` becomes that value, or each of its values when it is a list; a variable
    without a value (unset, or an empty string) leaves the placeholder as it was."""
    if isinstance(value, str):
        for name, replacement in variables.items():
            if isinstance(replacement, str):
                value = value.replace("${" + name + "}", replacement)
        return value
    if isinstance(value, list):
        result: list[Any] = []
        for item in value:
            match = PLACEHOLDER.match(item) if isinstance(item, str) else None
            if match is None:
                result.append(substitute(item, variables))
                continue
            given = variables.get(match[1])
            if given is None or given == "":  # falsy in JavaScript; an empty list is not
                result.append(item)
            elif isinstance(given, list):
                result.extend(given)
            else:
                result.append(given)
        return result
    if isinstance(value, dict):
        return {key: substitute(item, variables) for key, item in value.items()}
    return value


def host_config(user_values: dict[str, Any]) -> dict[str, Any]:
    """The command, arguments and environment a host starts for these user values (mcpb's
    getMcpConfigForManifest): the manifest's defaults, overridden by the user's values; booleans become
    "true"/"false", lists stay lists, anything else becomes a string."""
    merged = {
        key: option["default"] for key, option in MANIFEST["user_config"].items() if "default" in option
    }
    merged.update(user_values)
    variables: dict[str, str | list[str]] = {
        "__dirname": str(ROOT),
        "pathSeparator": os.sep,
        "/": os.sep,
        "HOME": str(Path.home()),
    }
    for key, value in merged.items():
        if isinstance(value, list):
            variables[f"user_config.{key}"] = [str(item) for item in value]
        elif isinstance(value, bool):
            variables[f"user_config.{key}"] = "true" if value else "false"
        else:
            variables[f"user_config.{key}"] = str(value)
    config: dict[str, Any] = substitute(MANIFEST["server"]["mcp_config"], variables)
    return config


def started_settings(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings `uv run --directory <bundle> mcp-server-glm ARGS` starts with, given the host's env."""
    assert config["command"] == "uv"
    args: list[str] = config["args"]
    start = args.index("mcp-server-glm")
    assert args[:start] == ["run", "--frozen", "--directory", str(ROOT)]
    for name, value in config.get("env", {}).items():
        monkeypatch.setenv(name, value)
    command, settings = load_settings(args[start + 1 :])
    assert command == "serve"
    return settings


def help_variables() -> set[str]:
    """Every environment variable `mcp-server-glm --help` names."""
    result = subprocess.run(
        [installed_server(), "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    text = " ".join(result.stdout.split())
    return {name.strip() for group in re.findall(r"\[env: ([^\]]+)\]", text) for name in group.split(" or ")}


def setting_of(variable: str) -> str:
    """The Settings field an environment variable sets."""
    [field] = [name for name in Settings.model_fields if variable in environment_names(name)]
    return field


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_manifest_lists_the_registered_tools_the_server_lists(clean_env: None, platform: str) -> None:
    registered = listing.load()
    settings = Settings(api_key=None, platform=platform)  # type: ignore[arg-type]
    async with Client(build_server(settings)) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]
    shown = [tool["name"] for tool in MANIFEST["tools"]]
    assert shown == list(registered)  # every tool, an opt-in or one-platform tool with a note saying so
    opt_in = [name for name, listed in registered.items() if not listed.spec.default]
    assert opt_in and all(
        tool["description"].endswith("only when GLM_TOOLS names it)")
        for tool in MANIFEST["tools"]
        if tool["name"] in opt_in
    )
    assert listed == listing.defaults(registered, platform)
    assert all(tool["description"].strip() for tool in MANIFEST["tools"])
    assert MANIFEST["tools_generated"] is False


@pytest.mark.slow  # runs the installed server's --help
def test_manifest_variables_are_real_settings() -> None:
    known = help_variables()
    assert set(MANIFEST["server"]["mcp_config"]["env"]) <= known


def test_versions_match_the_package() -> None:
    installed = version("mcp-server-glm")
    assert "version" in PYPROJECT["dynamic"]  # read from the package, so the two cannot differ
    assert installed == __version__
    assert MANIFEST["version"] == installed
    assert SERVER_JSON["version"] == installed
    assert [package["version"] for package in SERVER_JSON["packages"]] == [installed]


def test_manifest_describes_a_uv_bundle_of_this_project() -> None:
    assert MANIFEST["manifest_version"] == "0.4"
    assert MANIFEST["name"] == PYPROJECT["name"]
    assert MANIFEST["license"] == PYPROJECT["license"]
    assert MANIFEST["compatibility"]["runtimes"]["python"] == PYPROJECT["requires-python"]
    assert sorted(MANIFEST["compatibility"]["platforms"]) == ["darwin", "linux", "win32"]
    server = MANIFEST["server"]
    assert server["type"] == "uv"
    assert (ROOT / server["entry_point"]).is_file()
    # --frozen: the host installs exactly uv.lock's versions, the ones CI tested.
    assert server["mcp_config"]["args"][:5] == [
        "run",
        "--frozen",
        "--directory",
        "${__dirname}",
        "mcp-server-glm",
    ]
    assert "mcp-server-glm" in PYPROJECT["scripts"]


def test_icon_is_a_512_pixel_png() -> None:
    data = (ROOT / MANIFEST["icon"]).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (512, 512)


def test_every_user_config_option_is_passed_to_the_server() -> None:
    options = MANIFEST["user_config"]
    config_text = json.dumps(MANIFEST["server"]["mcp_config"])
    used = set(re.findall(r"\$\{user_config\.([^}]+)\}", config_text))
    assert used == set(options)
    assert [key for key, option in options.items() if option.get("required")] == ["api_key"]
    assert options["api_key"]["sensitive"] is True
    for key, option in options.items():
        if option.get("multiple"):
            # A list can only be expanded into arguments, each placeholder standing alone.
            assert "${user_config." + key + "}" in MANIFEST["server"]["mcp_config"]["args"]
            assert "${user_config." + key + "}" not in json.dumps(MANIFEST["server"]["mcp_config"]["env"])


def test_user_values_reach_the_settings(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "out"
    inputs = [tmp_path / "photos", tmp_path / "audio", tmp_path / "with space"]
    config = host_config(
        {
            "api_key": "user-key-123",
            "platform": "bigmodel",
            "coding_plan": True,
            "output_dir": str(output),
            "allowed_dirs": [str(path) for path in inputs],
        }
    )
    assert config["args"][-4:] == ["--allowed-dirs", *map(str, inputs)]
    settings = started_settings(config, monkeypatch)
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "user-key-123"
    assert settings.platform == "bigmodel"
    assert settings.coding_plan is True
    assert settings.api_base_url == "https://open.bigmodel.cn/api/coding/paas/v4"
    assert settings.output_dir == output
    assert settings.allowed_dirs == inputs


def test_one_allowed_directory_and_the_plan_off(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = host_config(
        {"api_key": "k", "platform": "zai", "coding_plan": False, "allowed_dirs": [str(tmp_path)]}
    )
    settings = started_settings(config, monkeypatch)
    assert settings.coding_plan is False
    assert settings.api_base_url == "https://api.z.ai/api/paas/v4"
    assert settings.allowed_dirs == [tmp_path]


@pytest.mark.parametrize(
    "user_values",
    [
        pytest.param({"api_key": "k"}, id="never-filled"),
        pytest.param({"api_key": "k", "platform": "", "output_dir": ""}, id="emptied"),
    ],
)
def test_optional_values_left_empty_mean_the_defaults(
    user_values: dict[str, Any], clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = host_config(user_values)
    # What the host passes through literally when there is no value, and what it substitutes.
    assert "${user_config.allowed_dirs}" in config["args"]
    assert config["env"]["GLM_OUTPUT_DIR"] in ("${user_config.output_dir}", "")
    assert config["env"]["GLM_PLATFORM"] in ("zai", "")
    assert config["env"]["GLM_CODING_PLAN"] == "false"
    settings = started_settings(config, monkeypatch)
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "k"
    assert settings.platform == "zai"
    assert settings.coding_plan is False
    assert settings.output_dir is None
    assert settings.allowed_dirs is None
    assert settings.input_dirs == [Path.home(), settings.media_dir]


def test_an_emptied_directory_list_means_the_default(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = host_config({"api_key": "k", "allowed_dirs": []})
    assert config["args"][-1] == "--allowed-dirs"
    settings = started_settings(config, monkeypatch)
    assert settings.allowed_dirs is None


def test_registry_entry_has_the_current_shape() -> None:
    assert SERVER_JSON["$schema"] == REGISTRY_SCHEMA
    assert SERVER_NAME.match(SERVER_JSON["name"])
    assert SERVER_JSON["name"].endswith("/" + PYPROJECT["name"])
    assert 1 <= len(SERVER_JSON["description"]) <= 100
    [package] = SERVER_JSON["packages"]
    assert package["registryType"] == "pypi"
    assert package["identifier"] == PYPROJECT["name"]
    assert package["transport"] == {"type": "stdio"}
    names = [variable["name"] for variable in package["environmentVariables"]]
    assert len(names) == len(set(names))
    assert all(variable["description"].strip() for variable in package["environmentVariables"])


@pytest.mark.slow
def test_registry_variables_are_real_settings() -> None:
    [package] = SERVER_JSON["packages"]
    known = help_variables()
    secret_variables = {name for field in SECRET_FLAGS for name in environment_names(field)}
    for variable in package["environmentVariables"]:
        name = variable["name"]
        assert name in known, f"{name} is not a setting of mcp-server-glm --help"
        assert variable.get("isSecret", False) is (name in secret_variables), name
        assert variable.get("isRequired", False) is (name == "ZAI_API_KEY"), name
        field = Settings.model_fields[setting_of(name)]
        if "default" in variable:
            default = field.default
            if isinstance(default, bool):
                assert variable["default"] == str(default).lower(), name
                assert variable.get("format") == "boolean", name
            elif isinstance(default, int | float):
                assert float(variable["default"]) == default, name
                assert variable.get("format") == "number", name
            else:
                assert variable["default"] == default, name
        if "choices" in variable:
            assert variable["choices"] == list(typing.get_args(field.annotation)), name
    assert "ZAI_API_KEY" in {variable["name"] for variable in package["environmentVariables"]}
