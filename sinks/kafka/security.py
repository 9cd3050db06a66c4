"""How every Kafka client Seatmeter makes connects: one place, so no client is made without
the configured SASL and TLS options."""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.helpers import create_ssl_context

from schemas.settings import KafkaSettings


class TlsFilesError(OSError):
    """The CA, certificate or key cannot be loaded: a configuration error, found at connect time."""


def tls_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context for ``SSL`` and ``SASL_SSL`` (``None`` otherwise): the broker verified
    against ``ssl_cafile`` or the system's CAs, and the client certificate when one is set."""
    if not kafka.uses_tls:
        return None
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=kafka.ssl_cafile,
            certfile=kafka.ssl_certfile,
            keyfile=kafka.ssl_keyfile,
            password=kafka.ssl_key_password.get_secret_value() or None,
        )
    except ssl.SSLError as exc:
        # OpenSSL's own message ("PEM lib") names neither the file nor the likely cause.
        files = f"ssl_cafile {kafka.ssl_cafile}, ssl_certfile {kafka.ssl_certfile}, ssl_keyfile {kafka.ssl_keyfile}"
        raise TlsFilesError(f"cannot load the TLS files ({files}; is ssl_key_password right?): {exc}") from exc
    return context


def security_options(kafka: KafkaSettings) -> dict[str, Any]:
    """aiokafka's security keyword arguments; with the defaults, exactly PLAINTEXT as before."""
    options: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.uses_tls:
        options["ssl_context"] = tls_context(kafka)
    if kafka.uses_sasl:
        options.update(
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=kafka.sasl_password.get_secret_value(),
        )
    return options


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka producer, consumer or admin client."""
    return {"bootstrap_servers": kafka.bootstrap_servers, **security_options(kafka)}


def describe(kafka: KafkaSettings) -> str:
    """Where and how Seatmeter connects, for messages: never the password."""
    how = f"{kafka.security_protocol} {kafka.sasl_mechanism} as {kafka.sasl_username}"
    return f"{kafka.bootstrap_servers} ({how if kafka.uses_sasl else kafka.security_protocol})"


async def connection_failure(kafka: KafkaSettings) -> str:
    """Why the first bootstrap server refuses us (aiokafka reports only "unable to bootstrap"
    and logs the cause): a failed authentication or certificate check, in one line."""
    host, _, port = kafka.bootstrap_servers.split(",")[0].strip().rpartition(":")
    try:
        conn = await create_conn(host, int(port), request_timeout_ms=10_000, **security_options(kafka))
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return reason + missing_client_certificate_hint(kafka, exc)
    conn.close()
    return "the first server accepts a connection now; another server may be the one refusing"


def missing_client_certificate_hint(kafka: KafkaSettings, exc: BaseException) -> str:
    """A broker that requires a client certificate (mutual TLS) and gets none just closes the
    connection after the handshake: name the settings that are missing, since nothing else will."""
    if not kafka.uses_tls or kafka.ssl_certfile is not None:
        return ""
    text = f"{type(exc).__name__} {exc}".casefold()
    if not any(sign in text for sign in ("closed", "reset", "certificate_required", "handshake", "eof")):
        return ""
    return (
        f"; the broker may require a client certificate, and none is set: set SEATMETER_KAFKA__SSL_CERTFILE "
        f"and SEATMETER_KAFKA__SSL_KEYFILE (security protocol {kafka.security_protocol})"
    )
