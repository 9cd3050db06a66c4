"""Where the running catalog comes from: the bundled catalog, a local overrides file, and the
compacted corrections topic.

``seatmeter catalog correct`` appends to the local file, which workers on that machine check every few
seconds. ``seatmeter catalog correct --publish`` sends the correction to the topic instead, keyed by what
it matches: compaction keeps the newest correction per match, and a tombstone withdraws one.
Every worker reads the whole topic (all partitions, no consumer group), so a published
correction reaches every worker of a cluster within seconds, and a worker that starts later
reads it before naming its first event. The catalog version names each layer that is applied
(``2026.11.1+local.1a2b3c4d+topic.5e6f7a8b``), so every usage row records what named it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from prometheus_client import Counter
from pydantic import ValidationError

from schemas.catalog import Approval, ApprovalFile, Catalog, Override, OverrideFile
from schemas.records import SourceRecord
from schemas.settings import KafkaSettings
from sinks.kafka.client import TopicSpec, ensure_topics, read_to_end, topic_partitions
from sinks.kafka.records import source_record, stop_quietly
from sinks.kafka.security import client_options
from streams.pipeline.name.catalog_index import norm_path
from streams.pipeline.name.fingerprint import Matcher, build_matcher, load_catalog

log = logging.getLogger(__name__)

CORRECTION_SCHEMA_VERSION = 1
FOLLOW_RETRY_SECONDS = 5.0

# Kept beside its only user while streams/runtime/metrics.py is being reworked; it belongs there.
CATALOG_CORRECTIONS_INVALID = Counter(
    "seatmeter_catalog_corrections_invalid",
    "Records on the catalog corrections topic that were skipped as invalid.",
    ["topic"],
)


class InvalidCorrectionError(ValueError):
    """A record on the corrections topic that cannot be applied; the reason never quotes values."""


def match_key(*, sha256: str | None = None, path: str | None = None, path_glob: str | None = None) -> str:
    """The stable id of what a correction matches: the Kafka key that compaction keeps one value of."""
    if sum(x is not None for x in (sha256, path, path_glob)) != 1:
        raise ValueError("a correction matches exactly one of sha256, path, path_glob")
    if sha256 is not None:
        return f"sha256:{sha256.strip().lower()}"
    if path is not None:
        return f"path:{norm_path(path)}"
    return f"path_glob:{norm_path(path_glob or '')}"


def override_key(override: Override) -> str:
    return match_key(sha256=override.sha256, path=override.path, path_glob=override.path_glob)


def correction_message(override: Override) -> tuple[bytes, bytes]:
    """The keyed record that publishes a correction: the override as the local file holds it."""
    value = {"schema_version": CORRECTION_SCHEMA_VERSION, **override.model_dump(mode="json", exclude_none=True)}
    return override_key(override).encode(), orjson.dumps(value)


def read_correction(record: SourceRecord, products: frozenset[str]) -> tuple[str, Override | None]:
    """The match key and the override a record holds (``None`` for a tombstone: withdrawn)."""
    if not record.key:
        raise InvalidCorrectionError("no key")
    try:
        key = record.key.decode()
    except UnicodeDecodeError:
        raise InvalidCorrectionError("the key is not UTF-8") from None
    if not record.value:
        return key, None
    try:
        data = orjson.loads(record.value)
        if not isinstance(data, dict):
            raise InvalidCorrectionError("the value is not a JSON object")
        if data.pop("schema_version", CORRECTION_SCHEMA_VERSION) != CORRECTION_SCHEMA_VERSION:
            raise InvalidCorrectionError("unsupported schema_version")
        override = Override.model_validate(data)
    except orjson.JSONDecodeError:
        raise InvalidCorrectionError("the value is not JSON") from None
    except ValidationError as exc:
        error = exc.errors(include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "value"
        raise InvalidCorrectionError(f"{where}: {error['msg']}") from None
    if override_key(override) != key:
        raise InvalidCorrectionError("the key does not name the override's match")
    if override.product is not None and override.product not in products:
        raise InvalidCorrectionError(f"unknown product {override.product}")
    return key, override


@dataclass
class TopicCorrections:
    """The corrections topic's current state: the latest override per match key."""

    topic: str
    products: frozenset[str]
    entries: dict[str, Override] = field(default_factory=dict)

    def apply(self, records: Iterable[SourceRecord]) -> bool:
        """Apply records in order, skipping invalid ones with a log line; True if anything changed."""
        before = dict(self.entries)
        for record in records:
            try:
                key, override = read_correction(record, self.products)
            except InvalidCorrectionError as exc:
                CATALOG_CORRECTIONS_INVALID.labels(self.topic).inc()
                log.warning(
                    "skipping %s[%d]@%d on the catalog corrections topic: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    exc,
                )
                continue
            if override is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = override
        return self.entries != before

    @property
    def overrides(self) -> tuple[Override, ...]:
        """Sorted by key, so every worker merges (and digests) them in the same order."""
        return tuple(self.entries[key] for key in sorted(self.entries))


def read_local_overrides(path: Path) -> tuple[Override, ...]:
    if not path.exists():
        return ()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return OverrideFile.model_validate(data).overrides


def read_approvals(path: Path) -> tuple[Approval, ...]:
    """The approved-software list (``approved: [{product, reason}]``); none when the file is absent."""
    if not path.exists():
        return ()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return ApprovalFile.model_validate(data).approved


def merged_catalog(overrides_file: Path | None, topic: tuple[Override, ...] = ()) -> Catalog:
    """The bundled catalog, then the local file, then the topic; a later correction for the same
    match replaces an earlier one. The version gains a digest per layer applied."""
    bundled = load_catalog()
    local = read_local_overrides(overrides_file) if overrides_file else ()
    if not local and not topic:
        return bundled
    version = bundled.version
    if local and overrides_file:
        version += f"+local.{hashlib.sha256(overrides_file.read_bytes()).hexdigest()[:8]}"
    if topic:
        version += f"+topic.{topic_digest(topic)}"
    overrides = _layered(bundled.overrides, local, topic)
    return Catalog.model_validate({**bundled.model_dump(), "version": version, "overrides": overrides})


def _layered(*layers: tuple[Override, ...]) -> tuple[Override, ...]:
    """Later layers win. The matcher lets the last sha256 or path entry win but the first
    matching glob, so globs go in reverse layer order (each layer keeping its own order)."""
    by_match = {override_key(o): (i, o) for i, layer in enumerate(layers) for o in layer}
    exact = [o for _, o in by_match.values() if o.path_glob is None]
    globs = [o for _, o in sorted(by_match.values(), key=lambda e: -e[0]) if o.path_glob is not None]
    return (*exact, *globs)


def topic_digest(overrides: tuple[Override, ...]) -> str:
    document = [o.model_dump(mode="json", exclude_none=True) for o in overrides]
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()[:8]


def check_override(override: Override) -> None:
    """Refuse a correction the catalog would not accept (e.g. an unknown product id)."""
    Catalog.model_validate({**load_catalog().model_dump(), "overrides": (override,)})


def append_override(overrides_file: Path, override: Override) -> Catalog:
    """Record a correction locally; it replaces an earlier one for the same match."""
    check_override(override)
    kept = [o for o in read_local_overrides(overrides_file) if override_key(o) != override_key(override)]
    overrides_file.parent.mkdir(parents=True, exist_ok=True)
    document = {"overrides": [o.model_dump(exclude_none=True) for o in (*kept, override)]}
    overrides_file.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return merged_catalog(overrides_file)


class CatalogWatcher:
    """The matcher in use: rebuilt when the overrides file changes (checked at most every
    ``period`` s) or when the corrections topic hands over a new state."""

    def __init__(self, overrides_file: Path, period: float = 5.0) -> None:
        self._file = overrides_file
        self._period = period
        self._topic: tuple[Override, ...] = ()
        self._stamp = self._mtime()
        self._checked = time.monotonic()
        self.matcher: Matcher = build_matcher(merged_catalog(overrides_file))

    def current(self) -> Matcher:
        now = time.monotonic()
        if now - self._checked >= self._period:
            self._checked = now
            stamp = self._mtime()
            if stamp != self._stamp:
                self._stamp = stamp
                self._rebuild()
        return self.matcher

    def use_topic_overrides(self, overrides: tuple[Override, ...]) -> None:
        """Take the corrections topic's current state; the next batch is named with it."""
        self._topic = overrides
        self._rebuild()

    def _rebuild(self) -> None:
        self.matcher = build_matcher(merged_catalog(self._file, self._topic))

    def _mtime(self) -> float:
        return self._file.stat().st_mtime if self._file.exists() else 0.0


class CorrectionsFollower:
    """Reads the whole corrections topic into a watcher: ``catch_up`` once before the worker
    names any event, then ``follow`` for as long as it runs."""

    def __init__(self, kafka: KafkaSettings, spec: TopicSpec, watcher: CatalogWatcher) -> None:
        self._kafka = kafka
        self._spec = spec
        self._watcher = watcher
        products = frozenset(p.id for p in load_catalog().products)
        self._state = TopicCorrections(spec.name, products)
        self._next: dict[int, int] = {}

    async def catch_up(self) -> None:
        await ensure_topics(self._kafka, [self._spec])
        records = await read_to_end(self._kafka, self._spec.name)
        self._next = {r.partition: r.offset + 1 for r in records}
        if self._state.apply(records):
            self._hand_over()

    async def follow(self) -> None:
        """Never returns; a broken connection is retried, so a worker never silently stops
        taking corrections."""
        while True:
            try:
                await self._follow_once()
            except Exception:
                log.exception("reading %s failed; retrying in %.0fs", self._spec.name, FOLLOW_RETRY_SECONDS)
                await asyncio.sleep(FOLLOW_RETRY_SECONDS)

    async def _follow_once(self) -> None:
        consumer = AIOKafkaConsumer(
            **client_options(self._kafka), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            await self._assign_all(consumer)
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                records = [source_record(m) for messages in batches.values() for m in messages]
                for record in records:
                    self._next[record.partition] = record.offset + 1
                if self._state.apply(records):
                    self._hand_over()
        finally:
            await stop_quietly(consumer)

    async def _assign_all(self, consumer: AIOKafkaConsumer) -> None:
        admin = AIOKafkaAdminClient(**client_options(self._kafka))
        await admin.start()
        try:
            tps = [TopicPartition(self._spec.name, p) for p in await topic_partitions(admin, self._spec.name)]
        finally:
            await admin.close()
        if not tps:
            raise RuntimeError(f"{self._spec.name} has no partitions")
        consumer.assign(tps)
        for tp in tps:
            if tp.partition in self._next:
                consumer.seek(tp, self._next[tp.partition])
            else:
                await consumer.seek_to_beginning(tp)

    def _hand_over(self) -> None:
        self._watcher.use_topic_overrides(self._state.overrides)
        log.info(
            "catalog %s in use (%d corrections from %s)",
            self._watcher.matcher.catalog.version,
            len(self._state.entries),
            self._spec.name,
        )


def topic_catalog_version(records: Iterable[SourceRecord], topic: str) -> str:
    """The version a worker without local corrections names rows with once it has read ``records``."""
    state = TopicCorrections(topic, frozenset(p.id for p in load_catalog().products))
    state.apply(records)
    return merged_catalog(None, state.overrides).version
