"""Finding the message that makes a batch fail, and setting only it aside."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from schemas.records import SourceRecord
from streams.runtime.isolate import SystemicFailureError, process_isolating


class WarehouseDown(Exception):
    pass


def batch(*values: str) -> list[SourceRecord]:
    return [SourceRecord("agent", 0, offset, value.encode()) for offset, value in enumerate(values)]


class Pipeline:
    """Fails a batch holding a value in ``poison``; ``flaky`` values fail the first time only."""

    def __init__(self, poison: set[str], flaky: set[str] = frozenset(), down: bool = False) -> None:
        self.poison, self.flaky, self.down = poison, set(flaky), down
        self.written: list[int] = []
        self.tries: Counter[int] = Counter()
        self.set_aside: list[tuple[int, str, int]] = []

    async def process(self, records):
        if self.down:
            raise WarehouseDown()
        for record in records:
            self.tries[record.offset] += 1
        values = {r.value.decode() for r in records}
        if values & self.poison:
            raise OverflowError("date value out of range")
        if values & self.flaky:
            self.flaky -= values
            raise KeyError("once")
        self.written.extend(r.offset for r in records)

    async def aside(self, record, error, attempts):
        self.set_aside.append((record.offset, type(error).__name__, attempts))


def run(pipeline: Pipeline, records: list[SourceRecord], attempts: int = 3) -> None:
    asyncio.run(
        process_isolating(records, pipeline.process, pipeline.aside, attempts, lambda e: isinstance(e, WarehouseDown))
    )


@pytest.mark.parametrize(
    ("values", "poison", "aside"),
    [
        pytest.param(("a", "b", "P", "c", "d"), {"P"}, [2], id="one poison among good ones"),
        pytest.param(("P", "a", "b", "c", "Q", "d", "e"), {"P", "Q"}, [0, 4], id="two poisons"),
        pytest.param(("P",), {"P"}, [0], id="a batch of one poison"),
        pytest.param(("a", "b"), set(), [], id="nothing fails"),
    ],
)
def test_only_the_poison_is_set_aside_and_every_other_message_is_written(values, poison, aside):
    pipeline = Pipeline(poison)
    records = batch(*values)
    run(pipeline, records)
    assert [offset for offset, _, _ in pipeline.set_aside] == aside
    assert sorted(pipeline.written) == [r.offset for r in records if r.offset not in aside]
    assert all(error == "OverflowError" and attempts == 3 for _, error, attempts in pipeline.set_aside)


def test_a_poison_is_tried_alone_a_bounded_number_of_times():
    pipeline = Pipeline({"P"})
    run(pipeline, batch("a", "P", "b", "c"), attempts=4)
    in_the_batch_and_its_half, alone = 2, 4
    assert pipeline.tries[1] == in_the_batch_and_its_half + alone


def test_a_message_that_fails_only_once_is_written_not_set_aside():
    pipeline = Pipeline(set(), flaky={"F"})
    run(pipeline, batch("a", "F", "b"))
    assert pipeline.set_aside == []
    assert sorted(pipeline.written) == [0, 1, 2]


def test_an_infrastructure_error_passes_through_and_nothing_is_set_aside():
    pipeline = Pipeline(set(), down=True)
    with pytest.raises(WarehouseDown):
        run(pipeline, batch("a", "b", "c"))
    assert pipeline.set_aside == []


def test_most_of_a_batch_failing_alone_is_a_bug_not_poison():
    pipeline = Pipeline({"P", "Q", "R"})
    with pytest.raises(SystemicFailureError, match="3 of 4 messages"):
        run(pipeline, batch("P", "Q", "R", "a"))
    assert pipeline.set_aside == []
