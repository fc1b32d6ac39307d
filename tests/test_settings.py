"""Settings: environment names, platform and coding-plan URLs, flags over environment, clear refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mcp_server_glm.cli import build_parser, flag_of, load_settings
from mcp_server_glm.settings import Settings

GLM_VARIABLES = ("ZAI_API_KEY", "ZHIPUAI_API_KEY", "ZAI_BASE_URL", "ZHIPUAI_BASE_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("GLM_") or name in GLM_VARIABLES:
            monkeypatch.delenv(name)


def test_defaults_need_no_environment() -> None:
    settings = Settings()
    assert settings.api_key is None
    assert settings.api_base_url == "https://api.z.ai/api/paas/v4"
    assert settings.default_search_engine == "search-prime"
    assert settings.default_chat_search_engine == "search_pro_jina"


@pytest.mark.parametrize(
    ("platform", "coding", "url"),
    [
        ("zai", "0", "https://api.z.ai/api/paas/v4"),
        ("zai", "1", "https://api.z.ai/api/coding/paas/v4"),
        ("bigmodel", "0", "https://open.bigmodel.cn/api/paas/v4"),
        ("bigmodel", "true", "https://open.bigmodel.cn/api/coding/paas/v4"),
    ],
)
def test_base_url_follows_platform_and_coding_plan(
    monkeypatch: pytest.MonkeyPatch, platform: str, coding: str, url: str
) -> None:
    monkeypatch.setenv("GLM_PLATFORM", platform)
    monkeypatch.setenv("GLM_CODING_PLAN", coding)
    assert Settings().api_base_url == url


def test_bigmodel_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_PLATFORM", "bigmodel")
    assert Settings().default_search_engine == "search_std"
    assert Settings().default_chat_search_engine == "search_std"


def test_explicit_base_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_CODING_PLAN", "1")
    monkeypatch.setenv("ZHIPUAI_BASE_URL", "http://127.0.0.1:9/api/paas/v4/")
    assert Settings().api_base_url == "http://127.0.0.1:9/api/paas/v4"


def test_key_falls_back_to_zhipuai_name_and_zai_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIPUAI_API_KEY", "zhipu-key")
    key = Settings().api_key
    assert key is not None and key.get_secret_value() == "zhipu-key"
    monkeypatch.setenv("ZAI_API_KEY", "zai-key")
    key = Settings().api_key
    assert key is not None and key.get_secret_value() == "zai-key"


def test_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAI_API_KEY", "")
    monkeypatch.setenv("GLM_TIMEOUT", "")
    settings = Settings()
    assert settings.api_key is None
    assert settings.timeout == 120.0


def test_key_is_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAI_API_KEY", "very-secret-value")
    assert "very-secret-value" not in repr(Settings())


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_TIMEOUT", "50")
    monkeypatch.setenv("GLM_CHAT_MODEL", "glm-4.6")
    _, settings = load_settings(["--timeout", "7", "--coding-plan", "--platform", "BIGMODEL"])
    assert settings.timeout == 7.0
    assert settings.chat_model == "glm-4.6"
    assert settings.api_base_url == "https://open.bigmodel.cn/api/coding/paas/v4"


def test_every_setting_has_a_flag_naming_its_variable() -> None:
    help_text = build_parser().format_help()
    for name in Settings.model_fields:
        assert flag_of(name) in help_text
    for variable in (
        "ZAI_API_KEY",
        "ZHIPUAI_API_KEY",
        "ZAI_BASE_URL",
        "GLM_PLATFORM",
        "GLM_CODING_PLAN",
        "GLM_TIMEOUT",
        "GLM_CONNECT_TIMEOUT",
        "GLM_MAX_RETRIES",
        "GLM_CHAT_MODEL",
        "GLM_VISION_MODEL",
    ):
        assert variable in help_text


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--timeout", "-1"], {}, "timeout: Input should be greater than 0"),
        ([], {"GLM_PLATFORM": "mars"}, "platform: Input should be 'zai' or 'bigmodel'"),
        ([], {"ZAI_BASE_URL": "ftp://example.com"}, "must be an http(s) URL"),
    ],
)
def test_bad_configuration_is_one_clear_line(args: list[str], env: dict[str, str], expected: str) -> None:
    import os

    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("GLM_", "ZAI_", "ZHIPUAI_"))
    } | env
    done = subprocess.run(
        [sys.executable, "-m", "mcp_server_glm", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert "invalid configuration" in last
    assert expected in last


def test_the_database_url_is_a_secret_and_only_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().database_url is None
    url = "postgresql://glm:s3cret-pw@db.example:5432/glm"
    monkeypatch.setenv("GLM_DATABASE_URL", url)
    settings = Settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == url
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in str(settings.model_dump())

    monkeypatch.setenv("GLM_DATABASE_URL", "mysql://glm:s3cret-pw@db.example/glm")
    with pytest.raises(ValueError, match="must be a postgresql:// URL") as caught:
        Settings()
    assert "s3cret-pw" not in str(caught.value)
