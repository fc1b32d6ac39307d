"""The error tree and its one boundary: errors.py draws every class it defines where it sits, tools raise
the tree's classes (never a ToolError of their own), and `GLMServer.call_tool` makes each one line."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from mcp_server_glm import errors
from tests.conftest import in_process, text_of
from tests.fake_glm import FakeGLM, Fault

pytestmark = pytest.mark.anyio

SOURCE = Path(errors.__file__).parent
DRAWN = re.compile(r"^(?P<indent>[ |]*)\+-- (?P<name>\w+)", re.MULTILINE)


def drawn_tree() -> dict[str, str]:
    """Each class the docstring draws, with the class drawn above it (its base)."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = [(-1, "Exception")]
    for match in DRAWN.finditer(errors.__doc__ or ""):
        depth = len(match["indent"])
        while stack[-1][0] >= depth:
            stack.pop()
        parents[match["name"]] = stack[-1][1]
        stack.append((depth, match["name"]))
    return parents


def test_the_docstring_draws_every_class_under_its_base() -> None:
    defined = {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == errors.__name__
    }
    drawn = drawn_tree()
    assert set(drawn) == set(defined)
    for name, parent in drawn.items():
        assert defined[name].__bases__[0].__name__ == parent, name


def test_errors_imports_only_the_standard_library_and_glm_never_mcp() -> None:
    tree = ast.parse((SOURCE / "errors.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "re"}
    for path in (SOURCE / "glm").glob("*.py"):
        assert not re.search(r"^\s*(from|import) mcp\b", path.read_text(), re.MULTILINE), path.name


def test_no_tool_or_job_module_makes_its_own_tool_errors() -> None:
    found = [
        f"{path.relative_to(SOURCE)}: {pattern}"
        for folder in ("tools", "jobs")
        for path in sorted((SOURCE / folder).glob("*.py"))
        for pattern in ("upstream_errors", "raise ToolError", "ToolError(")
        if pattern in path.read_text()
    ]
    assert found == []


async def test_a_refused_key_is_one_line_naming_the_settings_to_check(fake: FakeGLM) -> None:
    async with in_process(fake, api_key="not-the-canary-key") as client:
        answer = await client.call_tool("glm_chat", {"prompt": "hi"})
        after = await client.call_tool("glm_chat", {"prompt": "hi"})
    assert answer.is_error
    text = text_of(answer)
    assert text.startswith("Error executing tool glm_chat: GLM API error (HTTP 401, code 1000): ")
    assert text.endswith(
        " Settings to check: the key, GLM_PLATFORM (zai or bigmodel) and GLM_CODING_PLAN."
    ), text
    assert "\n" not in text
    assert "not-the-canary-key" not in text
    # The server keeps serving: the next call is refused the same way (its own request id).
    assert re.sub(r"\[request [^]]+\]", "", text_of(after)) == re.sub(r"\[request [^]]+\]", "", text)


async def test_a_missing_key_is_the_tools_one_line(fake: FakeGLM) -> None:
    async with in_process(fake, api_key=None) as client:
        answer = await client.call_tool("web_search", {"query": "news"})
    assert answer.is_error
    assert text_of(answer) == (
        "Error executing tool web_search: No GLM API key is configured: set ZAI_API_KEY (or ZHIPUAI_API_KEY) "
        "in the server's environment to a key from the Z.AI or BigModel console, then restart the server."
    )
    assert fake.requests == []


async def test_a_job_the_api_cannot_be_asked_about_is_one_line_saying_what_to_do(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        handle = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 0})
        task_id = (handle.structured_content or {})["task_id"]
        fake.script("async-result", *[Fault(status=500, code="500", message="busy")] * 10)
        failing = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 5})
        fake.reset()
        fake.script("async-result", Fault(status=400, code="1214", message="bad id"))
        refused = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 5})
    assert failing.is_error and refused.is_error
    text = text_of(failing)
    checked = f"Error executing tool get_task: Task {task_id} could not be checked: GLM API error"
    assert text.startswith(f"{checked} (HTTP 500, code 500): busy [request "), text
    assert text.endswith(f"). The task is still recorded: call get_task with task_id {task_id} later."), text
    # A refused id is not worth asking about again later: no such advice.
    assert re.fullmatch(
        re.escape(f"{checked} (HTTP 400, code 1214): bad id [request ")
        + r"[^]]+\]\. The API refused a parameter value: check the arguments\.",
        text_of(refused),
    ), text_of(refused)


def test_a_job_whose_media_cannot_be_saved_says_get_task_saves_it_again() -> None:
    unsaved = errors.JobUnsaved("42", "The video task 42 succeeded but the API gave no media URL.")
    assert str(unsaved) == (
        "The video task 42 succeeded but the API gave no media URL. The job itself succeeded: call get_task "
        "with task_id 42 to try saving it again."
    )
