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


@pytest.mark.parametrize("url, masked", [
    ("redis://h:6379/0?password=X1", "redis://h:6379/0?password=********"),
    ("redis://:pw1@h:6379/0?db=2", "redis://:********@h:6379/0?db=2"),
    ("postgresql+psycopg://u:p/w@h/db?sslpassword=S1&sslmode=require",
     "postgresql+psycopg://u:********@h/db?sslpassword=********&sslmode=require"),
    ("https://user:pw2@tb.example.com", "https://user:********@tb.example.com"),
    ("http://h/api?Token=T1&api_key=K1&x=1&secret=S2#top",
     "http://h/api?Token=********&api_key=********&x=1&secret=********#top"),
    ("postgresql+psycopg://atilax@db/atilax?pwd=P1&pass=P2",
     "postgresql+psycopg://atilax@db/atilax?pwd=********&pass=********"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("not a url", "not a url"),
])
def test_url_passwords_and_secret_query_parameters_are_masked(url, masked):
    assert mask_url_password(url) == masked


def test_secrets_inside_every_url_setting_never_printed(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("ATILAX_REDIS_URL", "redis://127.0.0.1:6379/0?password=redis-q-secret")
    monkeypatch.setenv("ATILAX_DATABASE_URL", "postgresql://atilax:db-user-secret@db/atilax?sslpassword=db-q-secret")
    monkeypatch.setenv("ATILAX_TB__URL", "https://admin:tb-url-secret@tb.example.com/?access_token=tb-q-secret")
    assert main(["config"]) == 0
    table = capsys.readouterr().out
    assert main(["config", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for text in (table, json.dumps(data)):
        for secret in ("redis-q-secret", "db-user-secret", "db-q-secret", "tb-url-secret", "tb-q-secret"):
            assert secret not in text
    assert data["redis_url"] == "redis://127.0.0.1:6379/0?password=********"
    assert data["database_url"] == "postgresql+psycopg://atilax:********@db/atilax?sslpassword=********"
    assert data["tb"]["url"] == "https://admin:********@tb.example.com/?access_token=********"


def test_log_lines_mask_secrets_in_urls():
    """What a library logs (httpx: ``HTTP Request: POST <url>``) and traceback text pass the masking filter."""
    import io
    import logging

    from tb_bridge.log_setup import SecretMaskingFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretMaskingFilter())
    logger = logging.getLogger("test.masking")
    logger.addHandler(handler)
    try:
        logger.warning("HTTP Request: %s %s", "POST", "https://user:log-pw@tb.example.com/api/x?token=log-token")
        try:
            raise ConnectionError("cannot reach redis://:exc-pw@h:6379/0?password=exc-q")
        except ConnectionError:
            logger.exception("buffer down")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "https://user:********@tb.example.com/api/x?token=********" in text
    assert "ConnectionError: cannot reach redis://:********@h:6379/0?password=********" in text
    assert not any(secret in text for secret in ("log-pw", "log-token", "exc-pw", "exc-q"))


@pytest.fixture
def root_logger():
    import logging

    root = logging.getLogger()
    level = root.level
    yield root
    root.setLevel(level)


@pytest.mark.parametrize("configured, verbose, expected", [
    ("ERROR", [], "ERROR"), ("debug", [], "DEBUG"), ("Warning", [], "WARNING"), (None, [], "INFO"),
    ("ERROR", ["-v"], "INFO"), ("ERROR", ["-vv"], "DEBUG"), ("DEBUG", ["-v"], "INFO"),
])
def test_log_level_setting_sets_the_level_and_v_overrides_it(monkeypatch, capsys, root_logger, configured, verbose,
                                                               expected):
    import logging

    if configured is not None:
        monkeypatch.setenv("ATILAX_LOG_LEVEL", configured)
    root_logger.setLevel(logging.CRITICAL)
    assert main([*verbose, "config", "--json"]) == 0
    assert logging.getLevelName(root_logger.level) == expected
    assert json.loads(capsys.readouterr().out)["log_level"] == (configured or "INFO").upper()


def test_log_level_from_the_config_file(tmp_path, monkeypatch, root_logger, capsys):
    import logging

    toml = tmp_path / "atilax.toml"
    toml.write_text('log_level = "error"\n', encoding="utf-8")
    monkeypatch.setenv("ATILAX_CONFIG", str(toml))  # restored afterwards (--config sets it for the process)
    assert main(["--config", str(toml), "config"]) == 0
    assert root_logger.level == logging.ERROR


def test_invalid_log_level_is_a_clear_error(monkeypatch, capsys, root_logger):
    monkeypatch.setenv("ATILAX_LOG_LEVEL", "loud")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "log_level: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in err
    assert "Traceback" not in err
