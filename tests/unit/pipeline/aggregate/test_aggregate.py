from datetime import UTC, datetime

import pytest

from schemas.agent import AgentUsageEvent
from schemas.records import PlacedUsage
from streams.pipeline.aggregate.minutes import MINUTE_MS, aggregate_usage, epoch_ms, spread_active_ms
from tests.unit.helpers import agent_event

T0 = epoch_ms(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("end_ms", "interval_ms", "active_ms", "expected"),
    [
        pytest.param(T0 + MINUTE_MS, MINUTE_MS, 30_000, [(T0, 30_000)], id="aligned minute"),
        pytest.param(T0 + 90_000, MINUTE_MS, 60_000, [(T0, 30_000), (T0 + MINUTE_MS, 30_000)], id="straddles two"),
        pytest.param(T0 + 90_000, 90_000, 90_000, [(T0, 60_000), (T0 + MINUTE_MS, 30_000)], id="uneven overlap"),
        pytest.param(T0 + 3 * MINUTE_MS, 3 * MINUTE_MS, 1, [(T0 + 2 * MINUTE_MS, 1)], id="one ms lands last"),
        pytest.param(T0 + 10_000, 0, 1_000, [(T0, 1_000)], id="zero interval books to its minute"),
        pytest.param(T0 + MINUTE_MS, MINUTE_MS, 0, [], id="no activity"),
    ],
)
def test_spread_active_ms(end_ms, interval_ms, active_ms, expected):
    assert spread_active_ms(end_ms, interval_ms, active_ms) == expected


@pytest.mark.parametrize("active_ms", [1, 7, 59_999, 123_457, 599_999])
@pytest.mark.parametrize("end_offset", [0, 1, 17_333, 59_999])
def test_spread_shares_always_sum_exactly(active_ms, end_offset):
    shares = spread_active_ms(T0 + end_offset + 10 * MINUTE_MS, 10 * MINUTE_MS, active_ms)
    assert sum(s for _, s in shares) == active_ms


def placed(user="u1", device="d1", product="excel.exe", partition=0, offset=0, **event):
    return PlacedUsage(
        event=AgentUsageEvent.model_validate(agent_event(user=user, device_id=device, **event)),
        product=product,
        user_key=f"key:{user}",
        topic="agent",
        partition=partition,
        offset=offset,
    )


def test_distinct_users_and_devices_per_product_minute():
    usages = [
        placed(user="ana", device="d1"),
        placed(user="ana", device="d2", offset=1),
        placed(user="ben", device="d2", offset=2),
        placed(user="ben", device="d2", offset=3, product="word.exe"),
    ]
    rollups = aggregate_usage(usages, {("agent", 0): 9})
    excel = next(r for r in rollups if r.product == "excel.exe")
    assert excel.users == ("key:ana", "key:ben")
    assert excel.devices == ("d1", "d2")
    assert excel.active_ms == 90_000
    assert excel.event_count == 3
    assert {r.batch_last_offset for r in rollups} == {9}


def test_idle_only_samples_count_events_but_not_users():
    [rollup] = aggregate_usage([placed(active_seconds=0, idle_seconds=60)], {("agent", 0): 0})
    assert rollup.users == ()
    assert rollup.active_ms == 0
    assert rollup.event_count == 1


def test_partitions_stay_apart_so_each_carries_its_own_offset():
    rollups = aggregate_usage(
        [placed(partition=0, offset=5), placed(partition=1, offset=7)], {("agent", 0): 5, ("agent", 1): 8}
    )
    assert [(r.source_partition, r.batch_last_offset) for r in rollups] == [(0, 5), (1, 8)]


def test_order_of_events_does_not_change_the_rollups():
    usages = [placed(user=f"u{i % 3}", offset=i, event_time=f"2026-11-27T10:0{i % 4}:30Z") for i in range(12)]
    marks = {("agent", 0): 11}
    assert aggregate_usage(usages, marks) == aggregate_usage(list(reversed(usages)), marks)
