"""Which topic carries which source, and the decoder for it: the table the worker is built from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from schemas.records import SourceRecord
from schemas.settings import Settings
from sinks.clickhouse.reference_writers import DirectoryWriter, InventoryWriter, LicensePoolWriter
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.decode.agent import SizeLimits, decode_agent_usage
from streams.pipeline.decode.entra import decode_entra
from streams.pipeline.decode.okta import decode_okta
from streams.pipeline.decode.opening import SourceDecoded
from streams.pipeline.decode.osquery import decode_osquery
from streams.pipeline.decode.reference import Decoded, decode_directory, decode_entitlement, decode_inventory
from streams.runtime.runner import ReferenceWriter

Decoder = Callable[[SourceRecord], SourceDecoded]


@dataclass(frozen=True)
class UsageSourceSpec:
    """One usage source: its name (``agent``, ``osquery``, ...), its topic and its decoder.

    ``keyed_by_device``: its producers key messages by device, so every copy of an event lands
    in one partition and the partition's own record of counted ids finds it. SSO messages
    (an API page, an event hook delivery, an Event Hubs batch) carry many users and have no
    such key, so their ids are looked up in the warehouse, once per batch (sign-ins are few).
    ``tracks_runs``: its differential rows need per-host run state (``process_runs``).
    """

    name: str
    topic: str
    decode: Decoder
    keyed_by_device: bool = True
    tracks_runs: bool = False

    def dead_letter_topic(self, suffix: str) -> str:
        return self.topic + suffix


def usage_sources(settings: Settings) -> list[UsageSourceSpec]:
    kafka, ingest = settings.kafka, settings.ingest
    limits = SizeLimits(ingest.max_message_bytes, ingest.max_event_bytes)
    return [
        UsageSourceSpec("agent", kafka.agent_topic, partial(decode_agent_usage, limits=limits)),
        UsageSourceSpec(
            "osquery",
            kafka.osquery_topic,
            partial(decode_osquery, interval_seconds=ingest.osquery_interval_seconds),
            tracks_runs=True,
        ),
        UsageSourceSpec("okta", kafka.okta_topic, decode_okta, keyed_by_device=False),
        UsageSourceSpec("entra", kafka.entra_topic, decode_entra, keyed_by_device=False),
    ]


@dataclass(frozen=True)
class ReferenceSourceSpec:
    """One reference-data topic: its decoder and the warehouse writer that mirrors it."""

    name: str
    topic: str
    decode: Callable[[SourceRecord], Decoded[Any]]
    writer: ReferenceWriter


def reference_sources(settings: Settings, key: PseudonymKey) -> list[ReferenceSourceSpec]:
    kafka = settings.kafka
    directory = partial(decode_directory, key=key, keep_display_name=settings.privacy.store_raw_identities)
    return [
        ReferenceSourceSpec("inventory", kafka.inventory_topic, decode_inventory, InventoryWriter()),
        ReferenceSourceSpec("entitlements", kafka.entitlements_topic, decode_entitlement, LicensePoolWriter()),
        ReferenceSourceSpec("directory", kafka.directory_topic, directory, DirectoryWriter()),
    ]
