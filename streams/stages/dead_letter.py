"""Stage: rejections become dead letters that carry where they came from and why.

Headers on ``<topic>.dlq``: the original headers, plus ``seatmeter.original_topic``,
``seatmeter.original_partition``, ``seatmeter.original_offset``, ``seatmeter.original_key``, ``seatmeter.item_index``
(the event's place in an envelope, ``-1`` for a whole message), ``seatmeter.stage``,
``seatmeter.reason``, ``seatmeter.dead_lettered_at`` (ISO 8601, UTC) and ``seatmeter.sealed``
(``fernet-v1:<key id>`` when the payload is sealed, empty when stored as sent).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from schemas.records import DeadLetter, Rejection
from streams.stages.seal import Sealer

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
WHOLE_MESSAGE = -1


class NotADeadLetterError(ValueError):
    """A message on a dead-letter topic without Seatmeter's headers."""


def to_dead_letter(rejection: Rejection, now: datetime, sealer: Sealer | None) -> DeadLetter:
    """``sealer`` seals the payload (the default); ``None`` keeps it as sent (raw storage opted in)."""
    record = rejection.record
    return DeadLetter(
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        item_index=WHOLE_MESSAGE if rejection.item_index is None else rejection.item_index,
        stage=rejection.stage,
        reason=rejection.reason,
        payload=rejection.payload if sealer is None else sealer.seal(rejection.payload),
        dead_lettered_at=now,
        headers={name: value.decode("utf-8", "replace") for name, value in record.headers},
        sealed="" if sealer is None else sealer.label,
        source_key=(record.key or b"").decode("utf-8", "replace"),
    )


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
    kept = [(k, v.encode()) for k, v in letter.headers.items() if k not in ours]
    return kept + [(k, v.encode()) for k, v in ours.items()]


def read_dead_letter(payload: bytes, headers: Iterable[tuple[str, bytes]]) -> DeadLetter:
    """Rebuild a dead letter from a ``.dlq`` message, for the warehouse mirror and replays."""
    fields = {name: value.decode("utf-8", "replace") for name, value in headers}
    try:
        return DeadLetter(
            source_topic=fields[ORIGINAL_TOPIC],
            source_partition=int(fields[ORIGINAL_PARTITION]),
            source_offset=int(fields[ORIGINAL_OFFSET]),
            item_index=int(fields.get(ITEM_INDEX, WHOLE_MESSAGE)),
            stage=fields[STAGE],
            reason=fields[REASON],
            payload=payload,
            dead_lettered_at=datetime.fromisoformat(fields[DEAD_LETTERED_AT]).astimezone(UTC),
            headers={k: v for k, v in fields.items() if not k.startswith(PREFIX)},
            sealed=fields.get(SEALED, ""),
            source_key=fields.get(ORIGINAL_KEY, ""),
        )
    except (KeyError, ValueError) as exc:
        raise NotADeadLetterError(f"missing or malformed dead-letter header: {exc}") from exc
