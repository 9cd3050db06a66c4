import ssl
from pathlib import Path

import faust
import pytest

from schemas.settings import KafkaSettings
from sinks.kafka.security import TlsFilesError, client_options, describe, missing_client_certificate_hint, tls_context
from streams.runtime.tuning import broker_credentials

SCRAM = KafkaSettings(
    bootstrap_servers="k1:9096,k2:9096",
    security_protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="seatmeter",
    sasl_password="pw",  # noqa: S106 - a unit-test value
)


def test_default_settings_give_the_plaintext_options_of_before():
    assert client_options(KafkaSettings()) == {"bootstrap_servers": "localhost:9092", "security_protocol": "PLAINTEXT"}
    assert broker_credentials(KafkaSettings()) is None


def test_sasl_ssl_gives_sasl_options_and_a_verifying_tls_context():
    options = client_options(SCRAM)
    assert {k: v for k, v in options.items() if k != "ssl_context"} == {
        "bootstrap_servers": "k1:9096,k2:9096",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "seatmeter",
        "sasl_plain_password": "pw",
    }
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize(
    ("kafka", "protocol"),
    [
        pytest.param(SCRAM, "SASL_SSL", id="SASL_SSL"),
        pytest.param(SCRAM.model_copy(update={"security_protocol": "SASL_PLAINTEXT"}), "SASL_PLAINTEXT", id="SASL"),
        pytest.param(KafkaSettings(security_protocol="SSL"), "SSL", id="SSL"),
    ],
)
def test_faust_gets_the_same_security(kafka, protocol):
    credentials = broker_credentials(kafka)
    assert isinstance(credentials, faust.SSLCredentials | faust.SASLCredentials)
    assert credentials.protocol.value == protocol


def test_the_description_never_holds_the_password():
    assert describe(SCRAM) == "k1:9096,k2:9096 (SASL_SSL SCRAM-SHA-512 as seatmeter)"


def test_an_unreadable_key_names_the_files(tmp_path: Path):
    junk = tmp_path / "client.pem"
    junk.write_text("not a certificate")
    kafka = KafkaSettings(security_protocol="SSL", ssl_certfile=junk, ssl_keyfile=junk)
    with pytest.raises(TlsFilesError, match="ssl_keyfile .*client.pem"):
        tls_context(kafka)


@pytest.mark.parametrize(
    ("protocol", "certificate", "error", "hinted"),
    [
        pytest.param("SSL", False, ConnectionError("Connection at b:9093 closed"), True, id="SSL, no cert, closed"),
        pytest.param("SASL_SSL", False, ConnectionResetError("reset by peer"), True, id="SASL_SSL, no cert, reset"),
        pytest.param("SSL", True, ConnectionError("Connection at b:9093 closed"), False, id="a cert is set"),
        pytest.param("PLAINTEXT", False, ConnectionError("Connection at b:9092 closed"), False, id="no TLS"),
        pytest.param("SSL", False, ConnectionRefusedError("refused"), False, id="nothing listening"),
    ],
)
def test_a_closed_tls_connection_without_a_client_certificate_names_the_settings(
    protocol, certificate, error, hinted, tmp_path
):
    pem = tmp_path / "client.pem"
    pem.write_text("x")
    files = {"ssl_certfile": pem, "ssl_keyfile": pem} if certificate else {}
    sasl = {"sasl_username": "u", "sasl_password": "p"} if protocol.startswith("SASL") else {}
    kafka = KafkaSettings(security_protocol=protocol, **files, **sasl)
    hint = missing_client_certificate_hint(kafka, error)
    assert ("SEATMETER_KAFKA__SSL_CERTFILE" in hint) is hinted
