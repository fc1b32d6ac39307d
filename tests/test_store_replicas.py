"""Two servers (replicas, each with its own data directory) sharing one PostgreSQL store: a job one of
them submitted is the other's to pick up, and usage is counted once, in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.types import CallToolResult

from mcp_server_glm.store import Store, UsageTotal
from tests.conftest import in_process
from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.postgres import Cluster

pytestmark = pytest.mark.anyio


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


async def test_a_job_submitted_by_one_replica_is_picked_up_by_the_other(
    fake: FakeGLM, tmp_path: Path, postgres_cluster: Cluster
) -> None:
    url = postgres_cluster.new_database()
    fake.task_plan = TaskPlan(seconds=60)
    async with in_process(fake, data_dir=tmp_path / "a", database_url=url, max_wait=0.2) as a:
        job = structured(await a.call_tool("generate_video", {"prompt": "a fox", "wait_seconds": 0.1}))
    assert job["status"] == "PROCESSING"

    async with in_process(fake, data_dir=tmp_path / "b", database_url=url, max_wait=0.2) as b:
        listed = structured(await b.call_tool("get_task", {}))
    assert [entry["task_id"] for entry in listed["jobs"]] == [job["task_id"]]
    assert len(fake.requests_to("videos/generations")) == 1
    assert not (tmp_path / "a" / "mcp-server-glm.db").exists()  # nothing went to SQLite

    async with await Store.open(tmp_path / "c", url) as store:
        assert await store.usage_totals() == [UsageTotal("generate_video", "cogvideox-3", 1, 1, "videos")]
