"""`get_task` of a job this server never recorded (submitted by another process or data directory)
that is already done: asked of the API and completed like any other job, over stdio."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest

from tests.conftest import CANARY_KEY, over_stdio, server_env
from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.stores import rows

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def submit_elsewhere(fake: FakeGLM) -> str:
    """A video job created straight at the API, as another client would."""
    response = httpx2.post(
        f"{fake.base_url}/videos/generations",
        json={"model": "cogvideox-3", "prompt": "a boat"},
        headers={"Authorization": f"Bearer {CANARY_KEY}"},
        timeout=10,
    )
    response.raise_for_status()
    task_id: str = response.json()["id"]
    return task_id


async def test_an_unknown_finished_job_is_downloaded_and_recorded(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(polls=0)  # done by the time anyone asks
    task_id = submit_elsewhere(fake)
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        first = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 5})
        again = await client.call_tool("get_task", {"task_id": task_id})
    assert not first.is_error, first.model_dump_json()
    job = first.structured_content or {}
    assert job["status"] == "SUCCESS"
    assert job["video_url"].endswith(f"video-{task_id}.mp4")
    video = Path(job["path"])
    assert video.parent == tmp_path / "data" / "media"
    assert video.read_bytes()[4:8] == b"ftyp"
    assert Path(job["cover_path"]).is_file()
    assert "saved to None" not in json.dumps(first.model_dump(mode="json"))
    assert len(fake.requests_to(f"async-result/{task_id}")) == 1  # the second call read the store
    assert (again.structured_content or {})["path"] == job["path"]
    [(status, result)] = rows(tmp_path / "data", "SELECT status, result FROM tasks WHERE id = ?", (task_id,))
    assert status == "SUCCESS"
    assert json.loads(result)["path"] == job["path"]
