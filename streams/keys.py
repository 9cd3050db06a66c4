"""Where the pseudonymization key comes from: the configured secret, or a key file made once."""

from __future__ import annotations

import os
import secrets

from schemas.settings import PrivacySettings
from streams.stages.pseudonymize import PseudonymKey

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
