"""Every source's samples flow through the real broker into the warehouse, and nothing leaks.

The truth per source comes from running its decoder over the same fixture files; the decoders
themselves are checked case by case in the unit tests.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from schemas.records import SourceRecord
from schemas.settings import KafkaSettings, Settings
from sinks.kafka.client import ensure_topics, pipeline_topics, produce
from streams.pipeline.batch import default_matcher
from streams.pipeline.decode.process_runs import track_runs_batch
from streams.pipeline.name.product import name_product
from streams.runtime.sources import UsageSourceSpec, usage_sources
from tests.integration.harness import BOOTSTRAP, KAFKA, Pipeline
from tests.integration.test_ingest_contract import (
    CANARY,
    CANARY_PARTS,
    pipeline_topics_after_ingest,
    table_text,
    topic_text,
    warehouse_tables,
)

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEN_YEARS = str(10 * 365 * 86_400)
HORIZON_MS = 11 * 365 * 86_400_000


def sources_for(pipeline: Pipeline) -> list[UsageSourceSpec]:
    kafka = KafkaSettings(
        bootstrap_servers=BOOTSTRAP,
        agent_topic=pipeline.topic,
        osquery_topic=f"{pipeline.name}.osquery",
        okta_topic=f"{pipeline.name}.okta",
        entra_topic=f"{pipeline.name}.entra",
    )
    pipeline.extra_env.update(
        {
            "SEATMETER_KAFKA__OSQUERY_TOPIC": kafka.osquery_topic,
            "SEATMETER_KAFKA__OKTA_TOPIC": kafka.okta_topic,
            "SEATMETER_KAFKA__ENTRA_TOPIC": kafka.entra_topic,
            "SEATMETER_INGEST__ALLOWED_LATENESS_SECONDS": TEN_YEARS,
        }
    )
    asyncio.run(ensure_topics(KAFKA, pipeline_topics(kafka)))
    return usage_sources(Settings(kafka=kafka))


def fixture_payloads(source: str) -> list[bytes]:
    folder = FIXTURES / source
    return [p.read_bytes() for p in sorted(folder.glob("*.json")) + sorted((folder / "invalid").glob("*.json"))]


def expected(source: UsageSourceSpec, payloads: list[bytes]) -> tuple[Counter[str], int, int]:
    """Events per product, counting an event id once (fixtures of one source may describe the
    same observation in two formats), rejections, and health reports."""
    products: dict[str, str] = {}
    rejected = health = 0
    records = [SourceRecord(source.topic, 0, offset, payload) for offset, payload in enumerate(payloads)]
    items = [(record, source.decode(record)) for record in records]
    if source.tracks_runs:  # differential rows become sightings, as the worker's run stage makes them
        step = track_runs_batch({}, items, HORIZON_MS, int(time.time() * 1000))
        items = [(record, step.decoded[(record.topic, 0, record.offset)]) for record in records]
    for _, decoded in items:
        for event in decoded.events:
            name = name_product(event, default_matcher())
            if name is not None:
                products[event.event_id] = name.product
        rejected += len(decoded.rejections)
        health += len(decoded.health)
    return Counter(products.values()), rejected, health


def test_every_source_lands_in_the_warehouse(embedded_pipeline):
    pipeline = embedded_pipeline
    truth_events: Counter[str] = Counter()
    truth_rejected = truth_health = 0
    for source in sources_for(pipeline):
        payloads = fixture_payloads(source.name)
        assert payloads, f"no fixtures for {source.name}"
        events, rejected, health = expected(source, payloads)
        assert events, f"{source.name} fixtures hold no usable event"
        truth_events += events
        truth_rejected += rejected
        truth_health += health
        asyncio.run(produce(KAFKA, source.topic, [(b"fixture", p) for p in payloads]))
    pipeline.run_until_caught_up()
    rows = pipeline.query("SELECT product, sum(event_count) AS n FROM product_usage_per_minute GROUP BY product")
    assert {r["product"]: int(r["n"]) for r in rows} == dict(truth_events)
    dead = pipeline.query("SELECT count() AS n FROM dead_letters FINAL")
    assert int(dead[0]["n"]) == truth_rejected
    named = pipeline.query("SELECT DISTINCT category, catalog_version FROM product_usage_1m_parts")
    assert {r["category"] for r in named} <= {"application", "unknown"}
    assert all(r["catalog_version"] for r in named)
    assert truth_health > 0
    assert int(pipeline.query("SELECT count() AS n FROM agent_health FINAL")[0]["n"]) == truth_health


def with_canary(source: UsageSourceSpec, payload: bytes) -> bytes | None:
    """The fixture with its first user's identity replaced by the canary, wherever it appears."""
    decoded = source.decode(SourceRecord(source.topic, 0, 0, payload))
    usage = [*decoded.events, *(change.event for change in getattr(decoded, "changes", []))]
    if not usage:
        return None
    escaped = CANARY.replace("\\", "\\\\").encode()
    original = usage[0].user.replace("\\", "\\\\").encode()
    return payload.replace(original, escaped)


@pytest.mark.parametrize(
    "raw_storage", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["default", "raw storage opted in"]
)
def test_raw_identities_from_every_source_stay_out_of_topics_tables_and_logs(embedded_pipeline, raw_storage):
    """With raw storage opted in, the canary must show up in the dead letters: proof the search works."""
    pipeline = embedded_pipeline
    pipeline.extra_env["SEATMETER_WORKER__LOG_LEVEL"] = "debug"
    pipeline.extra_env["SEATMETER_PRIVACY__STORE_RAW_IDENTITIES"] = str(raw_storage).lower()
    sent = 0
    for source in sources_for(pipeline):
        canaries = [c for c in (with_canary(source, p) for p in fixture_payloads(source.name)) if c]
        broken = [c[: len(c) // 2] for c in canaries[:1]]
        asyncio.run(produce(KAFKA, source.topic, [(b"canary", p) for p in canaries + broken]))
        assert CANARY_PARTS[0] in topic_text(source.topic).casefold(), f"no canary sent to {source.name}"
        sent += len(canaries) + len(broken)
    assert sent >= 8
    pipeline.run_until_caught_up()
    inputs = {pipeline.topic, *(f"{pipeline.name}.{s}" for s in ("osquery", "okta", "entra"))}
    places = {f"topic {t}": topic_text(t) for t in pipeline_topics_after_ingest(pipeline) if t not in inputs}
    for table in warehouse_tables(pipeline):
        places[f"table {table}"] = table_text(pipeline, table)
    places["worker log"] = (pipeline.root / "worker.log").read_text(errors="replace")
    leaks = {place for place, text in places.items() if CANARY_PARTS[0] in text.casefold()}
    if raw_storage:
        assert "table dead_letters" in leaks
        assert {p for p in leaks if not p.endswith((".dlq", ".late", "dead_letters"))} == set()
    else:
        assert leaks == set()
    assert int(pipeline.query("SELECT count() AS n FROM dead_letters FINAL")[0]["n"]) >= 4
