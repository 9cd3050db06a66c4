"""Stage: raw user identities become keyed pseudonyms before anything leaves the ingest stage."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

PSEUDONYM_HEX_CHARS = 32


@dataclass(frozen=True, slots=True)
class PseudonymKey:
    """An HMAC key and the id recorded beside pseudonyms, so a rotation can be told apart.

    ``keep_identities`` (an explicit opt-in, ``SEATMETER_PRIVACY__PSEUDONYMIZE_USERS=false``)
    stores the canonical identity itself instead of a pseudonym, for deployments allowed to.
    """

    key_id: str
    secret: bytes
    keep_identities: bool = False

    @property
    def recorded_id(self) -> str:
        """What rows record as their pseudonym key: ``raw`` when identities are kept."""
        return "raw" if self.keep_identities else self.key_id


def canonical_identity(identity: str) -> str:
    """``CORP\\Alice`` and ``corp\\alice `` are one person to the directory, so one pseudonym."""
    return identity.strip().casefold()


@lru_cache(maxsize=1 << 16)
def pseudonymize(identity: str, key: PseudonymKey) -> str:
    """HMAC-SHA256 of the canonical identity, 128 bits in hex: stable per key, not reversible.

    Cached: a fleet has far fewer people than events, and the same key always gives the same answer.
    """
    if key.keep_identities:
        return canonical_identity(identity)
    digest = hmac.new(key.secret, canonical_identity(identity).encode(), hashlib.sha256)
    return digest.hexdigest()[:PSEUDONYM_HEX_CHARS]


KEY_CHECK_TEXT = b"seatmeter pseudonym key check"


def key_check(key: PseudonymKey) -> str:
    """A value that tells keys apart without revealing them: recorded in the warehouse per key id."""
    return hmac.new(key.secret, KEY_CHECK_TEXT, hashlib.sha256).hexdigest()[:16]


def key_mismatch(key: PseudonymKey, recorded: str | None, key_source: str) -> str | None:
    """Why ``key`` must not write a warehouse whose key ``key.key_id`` had the ``recorded``
    check value, or None when it may: a second key under one id makes second pseudonyms for
    the same people, so user counts would double."""
    if key.keep_identities or recorded is None or recorded == key_check(key):
        return None
    return (
        f"this warehouse's pseudonyms were made with another key named {key.key_id!r}, not the one from {key_source}.\n"
        "Use the warehouse's key (SEATMETER_PRIVACY__PSEUDONYM_KEY or SEATMETER_PRIVACY__PSEUDONYM_KEY_FILE), "
        "or give a new key its own SEATMETER_PRIVACY__PSEUDONYM_KEY_ID."
    )
