"""uv.lock, shipped in the .mcpb bundle so a host installs the versions CI tested, matches pyproject.toml
and resolves from PyPI only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_lock_matches_pyproject() -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        pytest.fail("uv is not installed in this environment: pip install -e '.[dev]'")
    # Offline: an up-to-date lock is checked from the files alone; a stale one cannot be resolved.
    done = subprocess.run(
        [uv, "lock", "--check", "--offline", "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"uv.lock is stale against pyproject.toml: run `uv lock`\n{done.stderr}"


def test_the_lock_resolves_from_pypi_only() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    sources = {
        package["name"]: package["source"]
        for package in lock["package"]
        if package["name"] != "mcp-server-glm"
    }
    assert sources
    stray = {
        name: source for name, source in sources.items() if source != {"registry": "https://pypi.org/simple"}
    }
    assert not stray, f"packages locked from elsewhere than PyPI (a host could not fetch them): {stray}"


def test_the_listing_is_stamped_with_the_locked_versions() -> None:
    """listing.json made with other mcp or pydantic versions than the lock's is rebuilt at every start of
    the bundle (which installs the lock): a slow start no test of behaviour would notice."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {package["name"]: package.get("version") for package in lock["package"]}
    listing = json.loads((ROOT / "src" / "mcp_server_glm" / "tools" / "listing.json").read_text())
    assert listing["made_with"] == {"mcp": locked["mcp"], "pydantic": locked["pydantic"]}
