"""Which topic carries which source, and the decoder for it: the table the worker is built from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from schemas.records import SourceRecord
from schemas.settings import Settings
from streams.stages.decode import SizeLimits, decode_agent_usage
from streams.stages.sources.base import SourceDecoded
from streams.stages.sources.entra import decode_entra
from streams.stages.sources.okta import decode_okta
from streams.stages.sources.osquery import decode_osquery

Decoder = Callable[[SourceRecord], SourceDecoded]


@dataclass(frozen=True)
class UsageSourceSpec:
    """One usage source: its name (``agent``, ``osquery``, ...), its topic and its decoder."""

    name: str
    topic: str
    decode: Decoder

    def dead_letter_topic(self, suffix: str) -> str:
        return self.topic + suffix


def usage_sources(settings: Settings) -> list[UsageSourceSpec]:
    kafka, ingest = settings.kafka, settings.ingest
    limits = SizeLimits(ingest.max_message_bytes, ingest.max_event_bytes)
    return [
        UsageSourceSpec("agent", kafka.agent_topic, partial(decode_agent_usage, limits=limits)),
        UsageSourceSpec(
            "osquery", kafka.osquery_topic, partial(decode_osquery, interval_seconds=ingest.osquery_interval_seconds)
        ),
        UsageSourceSpec("okta", kafka.okta_topic, decode_okta),
        UsageSourceSpec("entra", kafka.entra_topic, decode_entra),
    ]
