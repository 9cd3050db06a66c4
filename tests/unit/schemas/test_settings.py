from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.settings import KafkaSettings, Settings

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


def _kafka(**fields: object) -> KafkaSettings:
    return KafkaSettings.model_validate(fields)


SASL = {"security_protocol": "SASL_SSL", "sasl_username": "svc", "sasl_password": "pw"}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        pytest.param({"security_protocol": "SASL_PLAINTEXT"}, "needs sasl_username", id="SASL without a user"),
        pytest.param({**SASL, "sasl_password": ""}, "needs sasl_username and sasl_password", id="SASL, no password"),
        pytest.param({"ssl_cafile": __file__}, "does not use TLS", id="a CA file with PLAINTEXT"),
        pytest.param({"security_protocol": "SSL", "ssl_certfile": __file__}, "both ssl_certfile", id="cert, no key"),
        pytest.param({"security_protocol": "SSL", "ssl_keyfile": __file__}, "both ssl_certfile", id="key, no cert"),
        pytest.param(
            {"security_protocol": "SSL", "ssl_key_password": "x"}, "without ssl_keyfile", id="key password, no key"
        ),
        pytest.param({**SASL, "ssl_cafile": "/no/such/ca.pem"}, "no such file: ssl_cafile", id="a missing CA file"),
        pytest.param({"sasl_mechanism": "GSSAPI"}, "sasl_mechanism", id="an unsupported mechanism"),
    ],
)
def test_unusable_kafka_security_is_refused_with_the_reason(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        _kafka(**fields)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="PLAINTEXT by default"),
        pytest.param(SASL, id="SASL_SSL with the system CAs"),
        pytest.param({**SASL, "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512"}, id="SCRAM"),
        pytest.param(
            {"security_protocol": "SSL", "ssl_cafile": __file__, "ssl_certfile": __file__, "ssl_keyfile": __file__},
            id="mutual TLS",
        ),
    ],
)
def test_usable_kafka_security_is_accepted(fields):
    _kafka(**fields)


def test_a_refused_kafka_setting_does_not_print_the_password(monkeypatch):
    monkeypatch.setenv("SEATMETER_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SEATMETER_KAFKA__SASL_PASSWORD", "hunter2-secret")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "hunter2-secret" not in str(refused.value)
