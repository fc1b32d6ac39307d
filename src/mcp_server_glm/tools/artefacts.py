"""The files of a checkout that list the tools, made from the registry: manifest.json's `tools`, server.json's
GLM_TOOLS description and the README's tool list (between its markers). Written with listing.json by
`python -m mcp_server_glm.tools.listing`; a test fails while any of them is stale.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from .listing import Listed, load
from .spec import PLATFORM_NAMES, PLATFORMS

ROOT = Path(__file__).resolve().parents[3]  # the checkout: src/mcp_server_glm/tools/ is three levels down
README_START = "<!-- tools: made by python -m mcp_server_glm.tools.listing -->"
README_END = "<!-- /tools -->"


def notes(listed: Listed) -> str:
    """What a person must know to get the tool: a platform of its own, or naming it in GLM_TOOLS."""
    spec = listed.spec
    parts = []
    if set(spec.platforms) != set(PLATFORMS):
        parts.append(" and ".join(PLATFORM_NAMES.get(name, name) for name in spec.platforms) + " only")
    if not spec.default:
        parts.append("only when GLM_TOOLS names it")
    return f" ({'; '.join(parts)})" if parts else ""


def manifest(text: str, tools: dict[str, Listed]) -> str:
    data: dict[str, Any] = json.loads(text)
    data["tools"] = [
        {"name": name, "description": listed.spec.summary + notes(listed)} for name, listed in tools.items()
    ]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def server_json(text: str, tools: dict[str, Listed]) -> str:
    data: dict[str, Any] = json.loads(text)
    opt_in = [name for name, listed in tools.items() if not listed.spec.default]
    default = f"all but {', '.join(opt_in)}" if opt_in else "all"
    for package in data["packages"]:
        for variable in package["environmentVariables"]:
            if variable["name"] == "GLM_TOOLS":
                variable["description"] = (
                    f"Only these tools, comma-separated: {', '.join(tools)} (default: {default})."
                )
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def readme(text: str, tools: dict[str, Listed]) -> str:
    lines = [
        textwrap.fill(
            f"- **`{name}`** — {listed.spec.summary[:1].lower()}{listed.spec.summary[1:]}{notes(listed)}",
            width=105,
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
        for name, listed in tools.items()
    ]
    block = "\n".join([README_START, *lines, README_END])
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README.md has no {README_START} ... {README_END} block")
    return pattern.sub(lambda _: block, text, count=1)


MAKERS = {"manifest.json": manifest, "server.json": server_json, "README.md": readme}


def rendered(root: Path = ROOT) -> dict[Path, str]:
    """Each generated file of the checkout as the registry makes it now."""
    tools = load()
    return {
        root / name: make(((root / name).read_text(encoding="utf-8")), tools) for name, make in MAKERS.items()
    }


def write(root: Path = ROOT) -> list[Path]:
    """Rewrite the generated files, in a checkout (an installed package has none)."""
    if not (root / "manifest.json").is_file():
        return []
    made = rendered(root)
    for path, text in made.items():
        path.write_text(text, encoding="utf-8")
    return list(made)
