"""Stage: sealing payloads that leave the ingest stage unparsed (dead letters, late events).

They may hold raw identities, and raw identities must not appear after ingest. Sealed with
authenticated encryption (Fernet) under a key derived from the pseudonym secret, they stay
replayable after a fix (``seatmeter dlq replay`` opens them) but unreadable on the topic, in
the warehouse and in backups. ``privacy.store_raw_identities`` turns sealing off.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from streams.pipeline.admit.pseudonymize import PseudonymKey

SCHEME = "fernet-v1"


class UnsealError(ValueError):
    """The payload was sealed under another key, or altered."""


@dataclass(frozen=True)
class Sealer:
    """Seals with a key derived from the pseudonym key, so one secret serves both purposes."""

    key: PseudonymKey

    @cached_property
    def _fernet(self) -> Fernet:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"seatmeter dead letters").derive(
            self.key.secret
        )
        return Fernet(base64.urlsafe_b64encode(derived))

    @property
    def label(self) -> str:
        """What goes in the ``seatmeter.sealed`` header: scheme and key id."""
        return f"{SCHEME}:{self.key.key_id}"

    def seal(self, payload: bytes) -> bytes:
        return self._fernet.encrypt(payload)

    @staticmethod
    def sealed_size(plaintext_bytes: int) -> int:
        """A Fernet token's length: version, time and IV, the padded ciphertext and the HMAC,
        in URL-safe base64."""
        token = 1 + 8 + 16 + (plaintext_bytes // 16 + 1) * 16 + 32
        return 4 * -(-token // 3)

    @classmethod
    def plaintext_room(cls, sealed_bytes: int) -> int:
        """The most plaintext whose sealed form fits in ``sealed_bytes`` (negative if none does)."""
        room = sealed_bytes * 3 // 4 - 57
        while room >= 0 and cls.sealed_size(room) > sealed_bytes:
            room -= 1
        return room

    def unseal(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken as exc:
            raise UnsealError("cannot open this payload with the configured key") from exc
