"""Every setting is documented: this fails when a `Settings` field is missing from the docs."""

from __future__ import annotations

from pathlib import Path

from mediagate.config import Settings

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_every_setting_is_in_docs_configuration() -> None:
    text = DOC.read_text()
    missing = [name for name in Settings.model_fields if f"`MEDIAGATE_{name.upper()}`" not in text]
    assert not missing, f"document these settings in docs/configuration.md: {missing}"


def test_toml_file_and_env_precedence(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    config = tmp_path / "mediagate.toml"
    config.write_text('port = 9100\nhost = "0.0.0.0"\n[plans.studio]\nrpm = 5\n')
    monkeypatch.setenv("MEDIAGATE_CONFIG_FILE", str(config))
    monkeypatch.setenv("MEDIAGATE_PORT", "9200")
    settings = Settings()
    assert settings.port == 9200 and settings.host == "0.0.0.0"
    assert settings.plans == {"studio": {"rpm": 5}}
    assert settings.base_url == "http://127.0.0.1:9200"
