"""The ingest contract on the real broker and engine: dead-letter replay, and no identity leaks."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas.settings import KafkaSettings
from sinks.kafka.client import ensure_topics, pipeline_topics, produce, read_to_end
from tests.integration.harness import BOOTSTRAP, KAFKA, Pipeline

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

CANARY = "CORP\\Zebulon.LeakCanary7731"
CANARY_PARTS = ("leakcanary7731",)


def event(event_id: str, minutes_ago: float, **overrides: object) -> dict[str, object]:
    end = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    body: dict[str, object] = {
        "event_id": event_id,
        "event_time": end.isoformat(),
        "device_id": "WS-LEAK",
        "user": CANARY,
        "executable": {"path": "C:\\Apps\\tool.exe", "file_name": "tool.exe"},
        "kind": "sample",
        "active_seconds": 30,
        "idle_seconds": 30,
        "interval_seconds": 60,
    }
    body.update(overrides)
    return body


def send(pipeline: Pipeline, documents: list[object]) -> None:
    kafka = KafkaSettings(bootstrap_servers=BOOTSTRAP, agent_topic=pipeline.topic)
    asyncio.run(ensure_topics(KAFKA, pipeline_topics(kafka)))
    messages = [(b"WS-LEAK", d if isinstance(d, bytes) else orjson.dumps(d)) for d in documents]
    asyncio.run(produce(KAFKA, pipeline.topic, messages))


def active_seconds(pipeline: Pipeline) -> float:
    rows = pipeline.query("SELECT sum(active_seconds) AS s FROM product_usage_per_minute")
    return float(rows[0]["s"] or 0)


def test_dead_letters_replayed_after_a_fix_are_counted(embedded_pipeline):
    pipeline = embedded_pipeline
    pipeline.extra_env["SEATMETER_INGEST__ALLOWED_CLOCK_SKEW_SECONDS"] = "0"
    send(pipeline, [{"events": [event("now", 5), event("ahead", -2)]}])
    pipeline.run_until_caught_up()
    assert active_seconds(pipeline) == 30
    [letter] = pipeline.query("SELECT stage, reason, sealed FROM dead_letters FINAL")
    assert letter["stage"] == "admit" and "ahead of the worker clock" in letter["reason"]
    assert letter["sealed"].startswith("fernet-v1:")

    del pipeline.extra_env["SEATMETER_INGEST__ALLOWED_CLOCK_SKEW_SECONDS"]
    out = pipeline.cli("dlq", "replay", "--stage", "admit")
    assert "1 of 1 dead letters selected" in out
    pipeline.run_until_caught_up()
    assert active_seconds(pipeline) == 60


def test_a_raw_identity_is_found_nowhere_after_ingest(embedded_pipeline):
    pipeline = embedded_pipeline
    pipeline.extra_env["SEATMETER_SCOPE__EXCLUDE_APPLICATIONS"] = '["secret-vault.exe"]'
    pipeline.extra_env["SEATMETER_WORKER__LOG_LEVEL"] = "debug"
    vault = {"path": "C:\\Vault\\secret-vault.exe", "file_name": "secret-vault.exe"}
    send(
        pipeline,
        [
            event("valid", 3),
            {"events": [event("in-envelope", 2), event("broken-in-envelope", 2, kind="resume")]},
            event("remote", 2, session_type="rdp", user="CTX\\svc", originating_user=CANARY),
            event("late", 60 * 24 * 9),
            event("future", -60),
            event("out-of-scope", 2, executable=vault),
            orjson.dumps(event("not-json", 1))[:-5],
            b'{"user": "' + CANARY.replace("\\", "\\\\").encode() + b'", "kind": 7}',
        ],
    )
    pipeline.run_until_caught_up()

    places = {f"topic {t}": topic_text(t) for t in pipeline_topics_after_ingest(pipeline)}
    places.update({f"table {t}": table_text(pipeline, t) for t in warehouse_tables(pipeline)})
    places["worker log"] = (pipeline.root / "worker.log").read_text(errors="replace")
    assert len(places) >= 6, places.keys()
    assert topic_text(pipeline.topic).casefold().count(CANARY_PARTS[0]) > 0, "the canary was never sent"
    leaks = [place for place, text in places.items() if any(part in text.casefold() for part in CANARY_PARTS)]
    assert leaks == []
    assert int(pipeline.query("SELECT count() AS n FROM dead_letters FINAL")[0]["n"]) == 4


def pipeline_topics_after_ingest(pipeline: Pipeline) -> list[str]:
    listing = subprocess.run(["kcat", "-L", "-b", BOOTSTRAP, "-J"], capture_output=True, check=True, timeout=60)
    names = [t["topic"] for t in orjson.loads(listing.stdout)["topics"]]
    return [n for n in names if n.startswith(pipeline.name) and n != pipeline.topic]


def topic_text(topic: str) -> str:
    records = asyncio.run(read_to_end(KAFKA, topic))
    return "\n".join(
        repr(r.key) + repr(r.value) + repr(r.headers) + r.value.decode("utf-8", "replace") for r in records
    )


def warehouse_tables(pipeline: Pipeline) -> list[str]:
    """Every table and view, except parameterized views (they need arguments, and read tables
    that are searched anyway)."""
    rows = pipeline.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND NOT (engine = 'View' AND position(create_table_query, '{') > 0)"
    )
    return [row["name"] for row in rows]


def table_text(pipeline: Pipeline, table: str) -> str:
    return pipeline.cli("sql", "--format", "csv", f"SELECT * FROM {table}")  # noqa: S608 - names from system.tables
