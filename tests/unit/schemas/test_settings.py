from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.settings import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def all_variables() -> list[str]:
    return [
        f"SEATMETER_{section.upper()}__{name.upper()}"
        for section, field in Settings.model_fields.items()
        for name in field.annotation.model_fields  # type: ignore[union-attr]
    ]


@pytest.mark.parametrize("variable", all_variables())
def test_every_setting_is_documented_in_the_readme(variable):
    assert f"`{variable}`" in README.read_text()


def test_public_variables_are_read_with_nesting(monkeypatch):
    monkeypatch.setenv("SEATMETER_WAREHOUSE__URL", "http://ch.example:8123")
    monkeypatch.setenv("SEATMETER_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("SEATMETER_WAREHOUSE__PASSWORD", "s3cret")
    settings = Settings()
    assert settings.warehouse.url == "http://ch.example:8123"
    assert settings.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert "s3cret" not in repr(settings)


def test_default_warehouse_is_embedded_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert Settings().warehouse.url == f"chdb://{tmp_path.resolve()}/.seatmeter/warehouse"


def test_bad_values_are_refused_with_the_setting_named(monkeypatch):
    monkeypatch.setenv("SEATMETER_WORKER__BATCH_MAX_MESSAGES", "0")
    with pytest.raises(ValidationError, match="batch_max_messages"):
        Settings()
