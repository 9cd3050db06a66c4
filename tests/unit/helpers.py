"""Small builders for unit tests: plain values, no Kafka, no warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

from schemas.records import SourceRecord

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def agent_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "e-1",
        "schema_version": 2,
        "event_time": "2026-11-27T10:01:00Z",
        "device_id": "WS-1",
        "user": "CORP\\ana",
        "executable": {"path": "C:\\X\\EXCEL.EXE", "file_name": "EXCEL.EXE"},
        "kind": "sample",
        "active_seconds": 30,
        "idle_seconds": 30,
        "interval_seconds": 60,
    }
    event.update(overrides)
    return event


def record(value: Any, offset: int = 0, partition: int = 0, topic: str = "agent") -> SourceRecord:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return SourceRecord(topic=topic, partition=partition, offset=offset, value=raw)


def agent_fixtures() -> list[Path]:
    return sorted((FIXTURES / "agent").glob("*.json"))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
"""Any JSON value orjson can write: for decoders that must never raise."""
