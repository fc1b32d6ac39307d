"""What the server needs to list and run a tool, declared once in the tool's module as `SPEC`; the
listing, the instructions, the configured descriptions, the manifest, server.json and the README follow it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mcp.types import ToolAnnotations

PLATFORMS = ("zai", "bigmodel")
PLATFORM_NAMES = {"zai": "Z.AI", "bigmodel": "BigModel"}


@dataclass(frozen=True)
class ToolSpec:
    """One tool. `argument_texts` are descriptions of arguments whose defaults come from the settings,
    templates filled at start with Settings attributes (`{default_chat_model}`, `{max_wait:g}`)."""

    name: str  # also the name of the tool's function in its module
    title: str
    annotations: ToolAnnotations
    purpose: str  # the clause of the server's instructions that says what the tool is for
    summary: str  # one sentence for people: the manifest's tool list and the README's
    platforms: tuple[str, ...] = PLATFORMS  # where the tool is listed; elsewhere a call says where it is
    settings: tuple[str, ...] = ()  # the Settings fields it reads
    default: bool = True  # False: opt-in, listed only when GLM_TOOLS names it
    job: bool = False  # starts paid jobs that get_task follows
    # Runs as an MCP task when the client asks (2025-11-25 `execution.taskSupport: "optional"`; the
    # 2026-07-28 tasks extension): a job tool's task follows its GLM job (and survives a restart), any
    # other tool's task is a run of the tool in this process. See the tasks package.
    task_support: bool = False
    argument_texts: Mapping[str, str] = field(default_factory=dict)
    module: str = ""  # filled by the registry: the module that defines the function

    def data(self) -> dict[str, object]:
        """What listing.json keeps beside the tool's entry (which holds the title and annotations)."""
        return {
            "module": self.module,
            "purpose": self.purpose,
            "summary": self.summary,
            "platforms": list(self.platforms),
            "settings": list(self.settings),
            "default": self.default,
            "job": self.job,
            "task_support": self.task_support,
            "argument_texts": dict(self.argument_texts),
        }


# The description of `wait_seconds` in every tool that waits for a job.
WAIT_TEXT = (
    "Seconds to wait (0: none). Cut to GLM_MAX_WAIT ({max_wait:g} s): hosts drop calls near 60 s; "
    "get_task resumes."
)
