from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from studio_shared.settings import Env, Settings


def test_defaults_run_a_laptop_studio(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STUDIO_DATABASE_URL", "STUDIO_REDIS_URL", "STUDIO_ENV", "STUDIO_STORAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///.studio/studio.db"
    assert settings.redis_url is None and settings.embedded
    assert settings.storage_url == "file://.studio/storage"
    assert settings.graphiql_enabled


def test_environment_variables_use_the_studio_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("STUDIO_GRAPHQL_MAX_DEPTH", "7")
    settings = Settings()
    assert settings.redis_url == "redis://127.0.0.1:6379/0" and not settings.embedded
    assert settings.graphql_max_depth == 7


@pytest.mark.parametrize(
    ("jwt_secret", "secret_key", "complaint"),
    [
        (None, "k" * 40, "STUDIO_JWT_SECRET must be set"),
        ("j" * 40, None, "STUDIO_SECRET_KEY must be set"),
        ("short", "k" * 40, "at least 32 bytes"),
    ],
)
def test_production_refuses_missing_or_weak_secrets(
    jwt_secret: str | None, secret_key: str | None, complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        Settings(env=Env.PRODUCTION, jwt_secret=jwt_secret, secret_key=secret_key)


def test_production_with_real_secrets_turns_graphiql_off() -> None:
    settings = Settings(env=Env.PRODUCTION, jwt_secret="j" * 40, secret_key="k" * 40)
    assert not settings.graphiql_enabled
    assert settings.with_dev_secrets() is settings


def test_dev_secrets_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings(state_dir=tmp_path).with_dev_secrets()
    second = Settings(state_dir=tmp_path).with_dev_secrets()
    assert first.jwt_secret is not None and second.jwt_secret is not None
    assert first.jwt_secret.get_secret_value() == second.jwt_secret.get_secret_value()
    assert len(first.jwt_key().encode()) >= 32
    assert first.jwt_secret.get_secret_value() != first.secret_key.get_secret_value()  # type: ignore[union-attr]
    for name in ("jwt_secret", "secret_key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert "**" in repr(first.jwt_secret), "secrets never print"


def test_an_empty_redis_url_means_the_embedded_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_REDIS_URL", "")
    settings = Settings()
    assert settings.redis_url is None and settings.embedded
