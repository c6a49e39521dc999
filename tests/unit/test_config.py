"""Configuration: precedence (kwargs > env > TOML > defaults), validation, secret masking."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from tb_bridge.cli.main import main
from tb_bridge.config import load_settings, mask_url_password


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("ATILAX_"):
            monkeypatch.delenv(key)


def test_defaults_are_embedded():
    settings = load_settings()
    assert settings.redis_url is None
    assert settings.database_url.startswith("sqlite:///")
    assert settings.limits.buffer_points == 288
    assert settings.scheduler.daily_hour == 6


def test_precedence_env_over_toml_and_kwargs_over_env(tmp_path, monkeypatch):
    toml = tmp_path / "atilax.toml"
    toml.write_text('transport = "mqtt"\n[tb]\nurl = "http://tb.example:8080"\nedge_port = 7171\n', encoding="utf-8")
    monkeypatch.setenv("ATILAX_CONFIG", str(toml))
    monkeypatch.setenv("ATILAX_TB__EDGE_PORT", "7272")
    settings = load_settings()
    assert settings.transport == "mqtt"
    assert settings.tb.url == "http://tb.example:8080"
    assert settings.tb.edge_port == 7272  # env beats the file
    assert load_settings(transport="inprocess").transport == "inprocess"  # kwargs beat both


def test_invalid_values_are_rejected(monkeypatch):
    monkeypatch.setenv("ATILAX_TRANSPORT", "carrier-pigeon")
    with pytest.raises(ValidationError, match="transport"):
        load_settings()


def test_missing_config_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("ATILAX_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_settings()


def test_postgres_scheme_uses_psycopg3():
    assert load_settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"


def test_secrets_never_printed(monkeypatch, capsys):
    monkeypatch.setenv("ATILAX_TB__PASSWORD", "hunter2-secret")
    monkeypatch.setenv("ATILAX_TB__EDGE_SECRET", "edge-secret-value")
    monkeypatch.setenv("ATILAX_REDIS_URL", "redis://:redispw@127.0.0.1:6379/0")
    assert main(["config"]) == 0
    table = capsys.readouterr().out
    assert main(["config", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for text in (table, json.dumps(data)):
        assert "hunter2-secret" not in text and "edge-secret-value" not in text and "redispw" not in text
    assert data["tb"]["password"] == "********"
    assert data["redis_url"] == "redis://:********@127.0.0.1:6379/0"
    assert "ATILAX_TB__EDGE_PORT" in table


def test_mask_url_password_keeps_urls_without_password():
    assert mask_url_password("sqlite:///atilax.db") == "sqlite:///atilax.db"
    assert mask_url_password("postgresql+psycopg://user:pw@h:5432/db") == "postgresql+psycopg://user:********@h:5432/db"
