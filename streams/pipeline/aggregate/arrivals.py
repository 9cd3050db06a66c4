"""Stage: who sent data in a batch, for sync-gap alerts (a device or source that went silent)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from schemas.alerts import SubjectKind
from schemas.records import Arrival, SourceRecord
from schemas.usage import AgentHealth
from streams.pipeline.sessionize.sessions import KeyedObservation


def batch_arrivals(
    records: Iterable[SourceRecord],
    observations: Iterable[KeyedObservation],
    health: Iterable[AgentHealth],
    writer: str,
    now: datetime,
) -> list[Arrival]:
    """Every device with usage, every agent with a health report, every source topic read and
    the writer itself, seen ``now`` (the worker's clock; the data's clock in offline replay)."""
    subjects = {(SubjectKind.SOURCE, r.topic) for r in records}
    subjects |= {(SubjectKind.DEVICE, o.key.device_id) for o in observations if o.key.device_id}
    subjects |= {(SubjectKind.AGENT, h.device_id) for h in health}
    subjects.add((SubjectKind.WRITER, writer))
    return [Arrival(kind.value, subject, now) for kind, subject in sorted(subjects)]
