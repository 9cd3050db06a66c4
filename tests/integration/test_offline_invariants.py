"""The offline path's invariants on the real engine (chDB in this process): the same events, cut
into any files, in any order within the lateness bound, repeated any number of times, with any
line ends, give the same ``usage_sessions``, ``usage_daily`` and ``pool_usage_1m``; and those
equal the truth computed in the test from the trace itself.

Each example replays a generated agent trace (``session_trace.build_trace``) into a fresh
warehouse, so the examples are few; the pure stages behind them have their own property tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.settings import PrivacySettings, Settings, WarehouseSettings, WorkerSettings
from sinks.clickhouse.migrate import apply_migrations
from sinks.clickhouse.warehouse import connect_warehouse
from streams.tools.offline import replay_files
from tests.integration.session_trace import KEY, Trace, build_trace

pytestmark = [pytest.mark.clickhouse]

SESSIONS = (
    "SELECT device_id, user_key, product, toString(started_at), toString(ended_at), running_seconds, "
    "active_seconds, idle_seconds, event_count FROM usage_sessions"
)
DAILY = (
    "SELECT toString(day), user_key, product, sessions, sessions_used, active_seconds, running_seconds, devices "
    "FROM usage_daily"
)
POOL_MINUTES = "SELECT pool_id, toString(minute), running_in_use, active_in_use FROM pool_usage_1m"
POOL = ["excel", "Excel seats", ["Microsoft Excel"], [], "concurrent_user", 2, 1, "USD", {}, "v", "", 1, 0]
POOL_COLUMNS = ["pool_id", "name", "products", "suites", "license_model", "seats", "unit_cost", "currency",
                "cost_centres", "vendor", "contract_ref", "version", "is_deleted"]  # fmt: skip


@dataclass(frozen=True)
class Tables:
    sessions: list[tuple[Any, ...]]
    daily: list[tuple[Any, ...]]
    pool_minutes: list[tuple[Any, ...]]


def replay_settings(warehouse: Path, state: Path) -> Settings:
    return Settings(
        warehouse=WarehouseSettings(url=f"chdb://{warehouse}"),
        worker=WorkerSettings(data_dir=state, batch_max_messages=97),
        privacy=PrivacySettings(pseudonym_key=KEY.secret.decode()),
    )


def replay_all(config: Settings, root: Path, files: list[bytes]) -> None:
    for number, content in enumerate(files):
        path = root / f"export-{number}.jsonl"
        path.write_bytes(content)
        replay_files(config, "agent", [path])


def read_tables(config: Settings) -> Tables:
    client = connect_warehouse(config.warehouse)
    try:
        read = [sorted(tuple(r) for r in client.query(sql).result_rows) for sql in (SESSIONS, DAILY, POOL_MINUTES)]
    finally:
        client.close()
    return Tables(*read)


def replayed(root: Path, files: list[bytes]) -> Tables:
    """Replay ``files`` in order into a fresh warehouse with one pool, and read the three tables."""
    config = replay_settings(root / "warehouse", root / "state")
    client = connect_warehouse(config.warehouse)
    apply_migrations(client)
    client.insert("license_pools", [POOL], column_names=POOL_COLUMNS)
    client.close()
    replay_all(config, root, files)
    return read_tables(config)


@pytest.fixture(scope="module")
def trace() -> Trace:
    return build_trace(seed=31, devices=3, hours=10)


@pytest.fixture(scope="module")
def baseline(trace: Trace, tmp_path_factory: pytest.TempPathFactory) -> Tables:
    """One file, in time order, replayed once: checked against the truth computed from the trace."""
    tables = replayed(tmp_path_factory.mktemp("baseline"), [jsonl([e.body for e in trace.time_sorted()])])
    assert [_plain(r) for r in tables.sessions] == [_plain(r) for r in trace.sessions()]
    assert [_plain(r) for r in tables.daily] == [_plain(r) for r in trace.daily()]
    assert tables.pool_minutes, "the pool saw no use: the trace does not exercise pool_usage_1m"
    return tables


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(Decimal(str(v)) if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) else str(v)
                 for v in row)  # fmt: skip


def jsonl(events: list[dict[str, Any]], end: bytes = b"\n") -> bytes:
    return b"".join(orjson.dumps(e) + end for e in events)


@st.composite
def deliveries(draw: st.DrawFn, events: int) -> list[tuple[list[int], bool]]:
    """Files as lists of event indexes: every event in at least one, some in several, each file
    in its own order, some with Windows line ends, some files sent again."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    cuts = sorted(rng.sample(range(1, events), draw(st.integers(0, 4))))
    bounds = [0, *cuts, events]
    order = list(range(events))
    if draw(st.booleans()):
        rng.shuffle(order)
    files = [order[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    repeats = [rng.sample(range(events), rng.randint(1, 20)) for _ in range(draw(st.integers(0, 2)))]
    chosen = [(sorted(f, key=lambda _: rng.random()), rng.random() < 0.3) for f in files + repeats]
    again = [chosen[i] for i in draw(st.lists(st.integers(0, len(chosen) - 1), max_size=2))]
    return chosen + again


def test_any_split_order_repeats_and_line_ends_give_the_same_tables(
    trace: Trace, baseline: Tables, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bodies = [e.body for e in trace.events]

    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(deliveries(len(bodies)))
    def check(files: list[tuple[list[int], bool]]) -> None:
        contents = [jsonl([bodies[i] for i in f], b"\r\n" if crlf else b"\n") for f, crlf in files]
        assert replayed(tmp_path_factory.mktemp("split"), contents) == baseline

    check()


def test_a_trace_in_two_halves_from_two_folders_gives_the_tables_of_one_replay(
    trace: Trace, baseline: Tables, tmp_path: Path
) -> None:
    """Two writers of one warehouse (a replay from another folder stands for a streaming worker):
    the second continues the first's sessions from the warehouse, with no local state of them."""
    events = [e.body for e in trace.time_sorted()]
    half = len(events) // 2
    assert replayed(tmp_path, [jsonl(events[:half])]) != baseline
    other_folder = replay_settings(tmp_path / "warehouse", tmp_path / "other-folder")
    replay_all(other_folder, tmp_path, [jsonl(events[half:])])
    assert read_tables(other_folder) == baseline
