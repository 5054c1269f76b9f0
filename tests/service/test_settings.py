"""PINET_* environment variables as the service reads them."""

import pytest

from service.settings import Settings


def test_an_empty_api_key_variable_means_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINET_API_KEY", "")
    assert Settings().api_key is None
    monkeypatch.setenv("PINET_API_KEY", "s3cret")
    key = Settings().api_key
    assert key is not None and key.get_secret_value() == "s3cret"


def test_settings_come_from_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINET_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("PINET_CORS_ORIGINS", '["https://example.org"]')
    settings = Settings()
    assert settings.max_batch_size == 7 and settings.cors_origins == ["https://example.org"]
