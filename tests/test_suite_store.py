"""The suite's store switch (GLM_TEST_STORE, tests/support/stores.py): a server a test starts uses the
suite's engine, one store per data directory, and a test kept on SQLite gets none of PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_server_glm.settings import Settings
from mcp_server_glm.store import DB_NAME
from tests.conftest import in_process, server_env, settings_for
from tests.fake_glm import FakeGLM
from tests.support.stores import database_url_for, rows, suite_engine

pytestmark = pytest.mark.anyio


async def test_an_in_process_server_keeps_its_usage_on_the_suites_engine(
    fake: FakeGLM, tmp_path: Path
) -> None:
    async with in_process(fake) as client:
        assert not (await client.call_tool("glm_chat", {"prompt": "hi"})).is_error
    data = tmp_path / "data"
    assert [tool for (tool,) in rows(data, "SELECT tool FROM usage")] == ["glm_chat"]
    assert (data / DB_NAME).exists() == (suite_engine() == "sqlite")


def test_each_data_directory_has_a_store_of_its_own(fake: FakeGLM, tmp_path: Path) -> None:
    url = settings_for(fake).database_url
    other = settings_for(fake, data_dir=tmp_path / "other").database_url
    spawned = server_env(fake, GLM_DATA_DIR=str(tmp_path / "other")).get("GLM_DATABASE_URL")
    if suite_engine() == "sqlite":
        assert (url, other, spawned) == (None, None, None)
        return
    assert url is not None and other is not None
    assert url.get_secret_value() == database_url_for(tmp_path / "data")
    assert other.get_secret_value() == spawned == database_url_for(tmp_path / "other")
    assert url.get_secret_value() != spawned
    assert server_env(fake)["GLM_DATABASE_URL"] == url.get_secret_value()


@pytest.mark.sqlite_only("checks the marker itself")
def test_a_test_kept_on_sqlite_gets_no_database(fake: FakeGLM, tmp_path: Path) -> None:
    assert Settings().database_url is None
    assert settings_for(fake, data_dir=tmp_path / "other").database_url is None
    assert "GLM_DATABASE_URL" not in server_env(fake, GLM_DATA_DIR=str(tmp_path / "other"))
