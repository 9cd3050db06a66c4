import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo

from schemas.settings import KafkaSettings, Settings

CONFIGURATION = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
TABLE_ROW = re.compile(r"^\| `(SEATMETER_\w+)` \| ([^|]+) \|", re.MULTILINE)


def setting_fields() -> dict[str, tuple[str, str, FieldInfo]]:
    """Every setting by its variable: its section, its name in the section and its field."""
    return {
        f"SEATMETER_{section.upper()}__{name.upper()}": (section, name, info)
        for section, field in Settings.model_fields.items()
        for name, info in field.annotation.model_fields.items()  # type: ignore[union-attr]
    }


def all_variables() -> list[str]:
    return list(setting_fields())


def documented_defaults() -> dict[str, str]:
    """The configuration tables' rows: variable to the default column, as written."""
    rows = TABLE_ROW.findall(CONFIGURATION.read_text())
    assert len(rows) == len({variable for variable, _ in rows}), "a setting has two rows"
    return {variable: default.strip() for variable, default in rows}


@pytest.mark.parametrize("variable", all_variables())
def test_every_setting_is_documented_in_the_configuration_page(variable):
    assert f"`{variable}`" in CONFIGURATION.read_text()
    assert variable in documented_defaults()


def test_the_configuration_page_documents_only_real_settings():
    assert set(documented_defaults()) <= set(all_variables())


@pytest.mark.parametrize("variable", all_variables())
def test_the_documented_default_is_the_models(variable, monkeypatch, tmp_path):
    """Given as the variable's value, the default the table shows reads as the model's default."""
    monkeypatch.chdir(tmp_path)
    section, name, info = setting_fields()[variable]
    default = info.get_default(call_default_factory=True)
    written = documented_defaults()[variable]
    if written == "unset":
        assert default is None
        return
    if written == "empty":
        assert (default.get_secret_value() if isinstance(default, SecretStr) else default) == ""
        return
    assert written.startswith("`") and written.endswith("`"), f"{variable}: default {written!r}"
    monkeypatch.setenv(variable, written.strip("`").replace("$PWD", str(Path.cwd())))
    assert getattr(getattr(Settings(), section), name) == default


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
