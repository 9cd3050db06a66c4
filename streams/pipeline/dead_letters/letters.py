"""Stage: rejections become dead letters that carry where they came from and why.

Headers on ``<topic>.dlq``: the original headers, plus ``seatmeter.original_topic``,
``seatmeter.original_partition``, ``seatmeter.original_offset``, ``seatmeter.original_key``, ``seatmeter.item_index``
(the event's place in an envelope, ``-1`` for a whole message), ``seatmeter.stage``,
``seatmeter.reason``, ``seatmeter.dead_lettered_at`` (ISO 8601, UTC) and ``seatmeter.sealed``
(``fernet-v1:<key id>`` when the payload is sealed, empty when stored as sent); and, when the
original was too large to carry whole, ``seatmeter.original_bytes`` and ``seatmeter.original_sha256``.

A dead letter is never larger than the producer may send (``kafka.max_message_bytes``): a sealed
payload is about 1.33 times the original, so a large original keeps only its beginning, and its
size and digest say what it was. Such a letter is kept for people; it cannot be replayed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from schemas.bounds import EARLIEST_EVENT_TIME, LATEST_EVENT_TIME
from schemas.records import DeadLetter, Rejection, SourceRecord
from streams.pipeline.dead_letters.seal import Sealer

PREFIX = "seatmeter."
ORIGINAL_TOPIC = PREFIX + "original_topic"
ORIGINAL_PARTITION = PREFIX + "original_partition"
ORIGINAL_OFFSET = PREFIX + "original_offset"
ORIGINAL_KEY = PREFIX + "original_key"
ITEM_INDEX = PREFIX + "item_index"
STAGE = PREFIX + "stage"
REASON = PREFIX + "reason"
DEAD_LETTERED_AT = PREFIX + "dead_lettered_at"
SEALED = PREFIX + "sealed"
ORIGINAL_BYTES = PREFIX + "original_bytes"
ORIGINAL_SHA256 = PREFIX + "original_sha256"
WHOLE_MESSAGE = -1
DEFAULT_LETTER_LIMIT = 1 << 20
# Kafka's record batch and record framing, with room to spare: what a message costs beyond its
# key, value and headers.
RECORD_OVERHEAD = 512
MAX_REASON_CHARS = 2000
POISON_STAGE = "process"
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class NotADeadLetterError(ValueError):
    """A message on a dead-letter topic without Seatmeter's headers."""


def to_dead_letter(
    rejection: Rejection, now: datetime, sealer: Sealer | None, limit: int = DEFAULT_LETTER_LIMIT
) -> DeadLetter:
    """``sealer`` seals the payload (the default); ``None`` keeps it as sent (raw storage opted in).
    The letter fits in ``limit`` bytes on the wire, the producer's maximum request size."""
    record = rejection.record
    letter = DeadLetter(
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        item_index=WHOLE_MESSAGE if rejection.item_index is None else rejection.item_index,
        stage=rejection.stage,
        reason=rejection.reason[:MAX_REASON_CHARS],
        payload=b"",
        dead_lettered_at=now,
        headers={name: value.decode("utf-8", "replace") for name, value in record.headers},
        sealed="" if sealer is None else sealer.label,
        source_key=(record.key or b"").decode("utf-8", "replace")[:MAX_REASON_CHARS],
    )
    size = len(rejection.payload)
    if wire_size(letter) + (size if sealer is None else sealer.sealed_size(size)) <= limit:
        return replace(letter, payload=_seal(rejection.payload, sealer))
    return _cut_to_fit(letter, rejection.payload, sealer, limit)  # sealing megabytes first would be waste


def poison_rejection(record: SourceRecord, error: Exception, attempts: int) -> Rejection:
    """A message whose processing kept failing: the error's class, never its text, which may
    hold the message's values."""
    reason = f"processing failed {attempts} times with {type(error).__name__}; set aside so its partition moves on"
    return Rejection(record, POISON_STAGE, reason, record.value)


def wire_size(letter: DeadLetter) -> int:
    """What the letter costs the producer: value, key, headers and the record's framing."""
    headers = sum(len(name) + len(value) for name, value in dead_letter_headers(letter))
    return len(letter.payload) + len(dead_letter_key(letter)) + headers + RECORD_OVERHEAD


def dead_letter_key(letter: DeadLetter) -> bytes:
    """Letters of one source partition share a dead-letter partition, in their original order."""
    return f"{letter.source_topic}:{letter.source_partition}".encode()


def _seal(payload: bytes, sealer: Sealer | None) -> bytes:
    return payload if sealer is None else sealer.seal(payload)


def _cut_to_fit(letter: DeadLetter, original: bytes, sealer: Sealer | None, limit: int) -> DeadLetter:
    """The original's beginning, as much as fits, with its size and digest; the original's own
    headers are dropped if they alone take half the room."""
    digest = hashlib.sha256(original).hexdigest()
    cut = replace(letter, payload=b"", original_bytes=len(original), original_sha256=digest)
    if wire_size(cut) > limit // 2:
        cut = replace(cut, headers={})
    room = limit - wire_size(cut) - len(_cut_note(len(original), len(original), digest))
    kept = max(0, min(len(original), room if sealer is None else sealer.plaintext_room(room)))
    note = _cut_note(kept, len(original), digest)
    return replace(cut, payload=_seal(original[:kept], sealer), reason=cut.reason + note)


def _cut_note(kept: int, size: int, digest: str) -> str:
    return f" [payload cut to its first {kept} of {size} bytes, sha256 {digest}]"


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The original headers first, then ours, which win on a name clash."""
    ours = {
        ORIGINAL_TOPIC: letter.source_topic,
        ORIGINAL_PARTITION: str(letter.source_partition),
        ORIGINAL_OFFSET: str(letter.source_offset),
        ORIGINAL_KEY: letter.source_key,
        ITEM_INDEX: str(letter.item_index),
        STAGE: letter.stage,
        REASON: letter.reason,
        DEAD_LETTERED_AT: letter.dead_lettered_at.isoformat(),
        SEALED: letter.sealed,
    }
    if letter.original_bytes is not None:
        ours.update({ORIGINAL_BYTES: str(letter.original_bytes), ORIGINAL_SHA256: letter.original_sha256})
    kept = [(k, v.encode()) for k, v in letter.headers.items() if k not in ours]
    return kept + [(k, v.encode()) for k, v in ours.items()]


def read_dead_letter(payload: bytes, headers: Iterable[tuple[str, bytes]]) -> DeadLetter:
    """Rebuild a dead letter from a ``.dlq`` message, for the warehouse mirror and replays. Anyone
    can write to a ``.dlq`` topic, so every number and time must fit its ``dead_letters`` column."""
    fields = {name: value.decode("utf-8", "replace") for name, value in headers}
    try:
        return DeadLetter(
            source_topic=fields[ORIGINAL_TOPIC],
            source_partition=_within(fields[ORIGINAL_PARTITION], 0, INT32_MAX),
            source_offset=_within(fields[ORIGINAL_OFFSET], 0, INT64_MAX),
            item_index=_within(fields.get(ITEM_INDEX, str(WHOLE_MESSAGE)), WHOLE_MESSAGE, INT32_MAX),
            stage=fields[STAGE],
            reason=fields[REASON],
            payload=payload,
            dead_lettered_at=_moment(fields[DEAD_LETTERED_AT]),
            headers={k: v for k, v in fields.items() if not k.startswith(PREFIX)},
            sealed=fields.get(SEALED, ""),
            source_key=fields.get(ORIGINAL_KEY, ""),
            original_bytes=_within(fields[ORIGINAL_BYTES], 0, INT64_MAX) if ORIGINAL_BYTES in fields else None,
            original_sha256=fields.get(ORIGINAL_SHA256, ""),
        )
    except (KeyError, ValueError, OverflowError) as exc:
        raise NotADeadLetterError(f"missing or malformed dead-letter header: {exc}") from exc


def _within(text: str, low: int, high: int) -> int:
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} is outside {low}..{high}")
    return value


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None or not EARLIEST_EVENT_TIME <= moment <= LATEST_EVENT_TIME:
        raise ValueError(f"dead_lettered_at {text!r} is not a time from 1971 to 2099 with a UTC offset")
    return moment.astimezone(UTC)
