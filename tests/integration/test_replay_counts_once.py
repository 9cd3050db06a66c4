"""Offline replay on the real engine (chDB in this process): an event id counts once in a
warehouse whatever files, encodings and replays it came through; replay state and the
pseudonym key belong to the warehouse they were made for; a file with nothing valid is
dead-lettered, not a crash."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.settings import PrivacySettings, Settings, WarehouseSettings, WorkerSettings
from sinks.clickhouse.warehouse import connect_warehouse
from streams.runtime.keys import PseudonymKeyMismatchError
from streams.tools.offline import replay_files
from tests.integration.session_trace import KEY, build_trace
from tests.unit.helpers import FIXTURES, agent_event

pytestmark = pytest.mark.clickhouse

SECRET = KEY.secret.decode()


def settings(root: Path, warehouse: str = "warehouse", folder: str = "run", secret: str | None = SECRET) -> Settings:
    """A replay from ``root/folder`` into ``root/warehouse``; without a secret, the key file of the folder."""
    privacy: dict[str, Any] = {"pseudonym_key_file": root / folder / ".seatmeter" / "pseudonym.key"}
    if secret is not None:
        privacy["pseudonym_key"] = secret
    return Settings(
        warehouse=WarehouseSettings(url=f"chdb://{root / warehouse}"),
        worker=WorkerSettings(data_dir=root / folder / ".seatmeter" / "worker"),
        privacy=PrivacySettings(**privacy),
    )


def query(config: Settings, sql: str) -> list[tuple[Any, ...]]:
    client = connect_warehouse(config.warehouse)
    try:
        return [tuple(row) for row in client.query(sql).result_rows]
    finally:
        client.close()


def lines(path: Path, events: list[dict[str, Any]], end: bytes = b"\n") -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + end for e in events))
    return path


def sample(number: int) -> dict[str, Any]:
    return agent_event(event_id=f"e-{number}", event_time=f"2026-11-27T10:0{number}:00Z", active_seconds=30)


USAGE = "SELECT sum(active_seconds), sum(event_count) FROM product_usage_per_minute"


def test_overlapping_exports_count_each_event_once(tmp_path):
    config = settings(tmp_path)
    for name, numbers in (("a", [1, 2]), ("b", [3]), ("c", [3, 4])):
        replay_files(config, "agent", [lines(tmp_path / f"{name}.jsonl", [sample(n) for n in numbers])])
    assert query(config, USAGE) == [(Decimal(120), 4)]
    assert query(config, "SELECT sum(event_count) FROM usage_sessions") == [(4,)]


def test_the_same_export_with_windows_line_ends_counts_once(tmp_path):
    config = settings(tmp_path)
    events = [sample(n) for n in (1, 2, 3)]
    replay_files(config, "agent", [lines(tmp_path / "unix.jsonl", events)])
    summary = replay_files(config, "agent", [lines(tmp_path / "windows.jsonl", events, b"\r\n")])
    assert summary.messages == 3
    assert query(config, USAGE) == [(Decimal(90), 3)]
    assert query(config, "SELECT count(), sum(event_count) FROM usage_sessions") == [(1, 3)]


def test_an_okta_event_from_the_api_and_from_an_event_hook_is_one_signin(tmp_path):
    config = settings(tmp_path)
    hook = orjson.loads((FIXTURES / "okta" / "event_hook_delivery.json").read_bytes())
    sso = hook["data"]["events"][0]
    page = tmp_path / "api_page.json"
    page.write_bytes(orjson.dumps([sso]))
    replay_files(config, "okta", [page])
    replay_files(config, "okta", [FIXTURES / "okta" / "event_hook_delivery.json"])
    assert query(config, "SELECT sum(signins), sum(event_count) FROM usage_sessions") == [(1, 1)]


def test_an_entra_record_exported_twice_is_one_signin(tmp_path):
    config = settings(tmp_path)
    export = FIXTURES / "entra" / "eventhubs_sign_ins.json"
    replay_files(config, "entra", [export])
    first = query(config, "SELECT sum(signins), sum(event_count) FROM usage_sessions")
    records = orjson.loads(export.read_bytes())["records"]
    again = tmp_path / "reexported.json"
    again.write_bytes(orjson.dumps(list(reversed(records))))
    replay_files(config, "entra", [again])
    assert first[0][0] > 0
    assert query(config, "SELECT sum(signins), sum(event_count) FROM usage_sessions") == first


def test_replay_state_of_one_warehouse_is_not_carried_into_another(tmp_path):
    trace_a, trace_b = build_trace(seed=21, devices=2, hours=6), build_trace(seed=22, devices=2, hours=6)
    export_a = lines(tmp_path / "a.jsonl", [e.body for e in trace_a.events])
    export_b = lines(tmp_path / "b.jsonl", [e.body for e in trace_b.events])
    replay_files(settings(tmp_path, warehouse="wh-a"), "agent", [export_a])
    replay_files(settings(tmp_path, warehouse="wh-b"), "agent", [export_b])
    replay_files(settings(tmp_path, warehouse="wh-clean", folder="clean"), "agent", [export_b])
    sessions = "SELECT device_id, user_key, product, started_at, ended_at, active_seconds FROM usage_sessions"
    assert sorted(query(settings(tmp_path, warehouse="wh-b"), sessions)) == sorted(
        query(settings(tmp_path, warehouse="wh-clean", folder="clean"), sessions)
    )


def test_a_second_key_file_for_one_warehouse_is_refused(tmp_path):
    export = lines(tmp_path / "a.jsonl", [sample(1)])
    first, second = settings(tmp_path, folder="first", secret=None), settings(tmp_path, folder="second", secret=None)
    replay_files(first, "agent", [export])
    with pytest.raises(PseudonymKeyMismatchError, match="another key named 'k1'"):
        replay_files(second, "agent", [lines(tmp_path / "b.jsonl", [sample(2)])])
    replay_files(first, "agent", [lines(tmp_path / "c.jsonl", [sample(3)])])
    assert query(settings(tmp_path), "SELECT uniqExactArray(users) FROM product_usage_1m_parts") == [(1,)]


@pytest.mark.parametrize(
    ("path", "source"),
    [
        pytest.param(FIXTURES / "agent" / "invalid" / "naive_time.json", "agent", id="agent event without a zone"),
        pytest.param(FIXTURES / "osquery" / "windows_snapshot.json", "agent", id="osquery results as agent"),
    ],
)
def test_a_file_with_no_valid_event_is_dead_lettered_with_reasons(tmp_path, path, source):
    config = settings(tmp_path)
    summary = replay_files(config, source, [path])
    assert summary.dead_letters == summary.messages > 0
    letters = query(config, "SELECT stage, reason FROM dead_letters")
    assert len(letters) == summary.dead_letters
    assert all(stage and reason for stage, reason in letters)


SESSIONS = (
    "SELECT device_id, user_key, product, started_at, ended_at, running_seconds, active_seconds, event_count, "
    "signins FROM usage_sessions"
)


def test_a_replay_continues_the_sessions_another_writer_left_in_the_warehouse(tmp_path):
    """Two folders (two machines, or a streaming worker and a replay) write one warehouse: the
    second continues the sessions of the first, as one replay of everything would."""
    trace = build_trace(seed=23, devices=3, hours=8)
    events = [e.body for e in trace.time_sorted()]
    half = len(events) // 2
    first = lines(tmp_path / "first.jsonl", events[:half])
    second = lines(tmp_path / "second.jsonl", events[half:])
    replay_files(settings(tmp_path, folder="machine-1"), "agent", [first])
    replay_files(settings(tmp_path, folder="machine-2"), "agent", [second])
    whole = settings(tmp_path, warehouse="whole", folder="whole")
    replay_files(whole, "agent", [lines(tmp_path / "all.jsonl", events)])
    assert sorted(query(settings(tmp_path), SESSIONS)) == sorted(query(whole, SESSIONS))
