import json
import logging
import stat

import pytest

from app.adapters.logging import setup_logging


@pytest.fixture
def log_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_API_SECRET", "s3cr3t-value-123")
    path = tmp_path / "home" / "app.log"
    setup_logging(path, level="DEBUG", secret_env_vars=["TEST_API_SECRET"])
    yield path
    setup_logging(None)


def lines(path):
    for handler in logging.getLogger("app").handlers:
        handler.flush()
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_event_is_one_json_line_with_its_fields(log_file):
    logging.getLogger("app.test").info("order placed", extra={"symbol": "BTCUSDT", "qty": 2})

    [entry] = lines(log_file)
    assert entry["event"] == "order placed"
    assert entry["symbol"] == "BTCUSDT"
    assert entry["qty"] == 2
    assert entry["level"] == "info"


def test_the_value_of_a_secret_env_var_never_reaches_the_file(log_file):
    logging.getLogger("app.test").warning(
        "signing with s3cr3t-value-123 failed", extra={"note": "s3cr3t-value-123"}
    )

    text = log_file.read_text()
    assert "s3cr3t-value-123" not in text
    assert "***" in text


def test_fields_named_like_secrets_are_masked(log_file):
    logging.getLogger("app.test").info("auth", extra={"api_key": "AKIA-something", "token": "t-1"})

    [entry] = lines(log_file)
    assert entry["api_key"] == "***"
    assert entry["token"] == "***"  # noqa: S105 - the masked value


def test_inline_key_value_secrets_in_messages_are_masked(log_file):
    logging.getLogger("app.test").error("request failed: api_key=abcdef123 &sign=9f9f9f")

    [entry] = lines(log_file)
    assert "abcdef123" not in entry["event"]
    assert "9f9f9f" not in entry["event"]


def test_the_log_file_and_its_folder_are_private(log_file):
    logging.getLogger("app.test").info("x")

    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o700
