"""Stage: which dead letters to send back to their source topic after a fix, and as what."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schemas.records import DeadLetter, SourceRecord
from streams.pipeline.dead_letters.letters import NotADeadLetterError, read_dead_letter
from streams.pipeline.dead_letters.seal import Sealer

REPLAYED_FROM = "seatmeter.replayed_from"


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    stage: str | None = None
    reason_contains: str | None = None

    def accepts(self, letter: DeadLetter) -> bool:
        if self.stage is not None and letter.stage != self.stage:
            return False
        return self.reason_contains is None or self.reason_contains.casefold() in letter.reason.casefold()


@dataclass(frozen=True, slots=True)
class Replay:
    """One message to produce again: to its original topic, with the payload as first sent."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def plan_replay(records: Iterable[SourceRecord], wanted: ReplayFilter, sealer: Sealer) -> list[Replay]:
    """Open and select dead letters; the key is the source's (device id for agents) when known."""
    plan = []
    for record in records:
        try:
            letter = read_dead_letter(record.value, record.headers)
        except NotADeadLetterError:
            continue
        if letter.original_bytes is not None or not wanted.accepts(letter):
            continue  # a letter cut to fit holds only the original's beginning
        value = sealer.unseal(letter.payload) if letter.sealed else letter.payload
        origin = f"{record.topic}:{record.partition}:{record.offset}"
        headers = (*((k, v.encode()) for k, v in letter.headers.items()), (REPLAYED_FROM, origin.encode()))
        plan.append(Replay(letter.source_topic, _source_key(letter), value, headers))
    return plan


def _source_key(letter: DeadLetter) -> bytes | None:
    return letter.source_key.encode() or None
