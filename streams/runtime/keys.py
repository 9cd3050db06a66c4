"""Where the pseudonymization key comes from: the configured secret, or a key file made once."""

from __future__ import annotations

import os
import secrets

from clickhouse_connect.driver.client import Client

from schemas.settings import PrivacySettings
from sinks.clickhouse.identity import record_key_check, recorded_key_check
from streams.pipeline.admit.pseudonymize import PseudonymKey, key_check, key_mismatch

KEY_BYTES = 32


def load_pseudonym_key(settings: PrivacySettings) -> PseudonymKey:
    key = _load_key(settings)
    if not settings.pseudonymize_users:
        return PseudonymKey(key.key_id, key.secret, keep_identities=True)
    return key


def _load_key(settings: PrivacySettings) -> PseudonymKey:
    """The configured secret, or one made once and kept in the key file; it also seals dead letters."""
    if settings.pseudonym_key is not None:
        return PseudonymKey(settings.pseudonym_key_id, settings.pseudonym_key.get_secret_value().encode())
    path = settings.pseudonym_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(KEY_BYTES))
    return PseudonymKey(settings.pseudonym_key_id, path.read_text().strip().encode())


class PseudonymKeyMismatchError(RuntimeError):
    """The key in use is not the one the warehouse was written with under the same key id."""


def key_source(settings: PrivacySettings) -> str:
    """Where the key in use came from, as a person would look for it."""
    if settings.pseudonym_key is not None:
        return "SEATMETER_PRIVACY__PSEUDONYM_KEY"
    return f"the key file {settings.pseudonym_key_file.resolve()}"


def bind_key_to_warehouse(client: Client, key: PseudonymKey, settings: PrivacySettings) -> None:
    """Record the key's check value in the warehouse the first time, refuse a different key later."""
    if key.keep_identities:
        return
    recorded = recorded_key_check(client, key.key_id)
    problem = key_mismatch(key, recorded, key_source(settings))
    if problem is not None:
        raise PseudonymKeyMismatchError(problem)
    if recorded is None:
        record_key_check(client, key.key_id, key_check(key))
