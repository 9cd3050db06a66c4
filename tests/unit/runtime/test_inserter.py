"""A failing warehouse is retried for the give-up budget, not just a number of times, so a short
outage is ridden out; past the budget the failure is infrastructure."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from schemas.settings import WarehouseSettings
from streams.runtime.inserter import RetryingInserter, WarehouseUnavailableError


class Outage:
    """Stands in for the warehouse adapter: every call fails until ``ends_after`` seconds."""

    def __init__(self, ends_after: float) -> None:
        self.ends_at = time.monotonic() + ends_after
        self.calls = 0

    async def run(self, write: Any) -> int:
        self.calls += 1
        if time.monotonic() < self.ends_at:
            raise ConnectionRefusedError("warehouse away")
        return 3


def settings(give_up: float, backoff: float = 0.02) -> WarehouseSettings:
    return WarehouseSettings(insert_retries=1, retry_backoff_max_seconds=backoff, insert_give_up_seconds=give_up)


def test_an_outage_shorter_than_the_budget_is_ridden_out():
    outage, retries = Outage(ends_after=0.4), []
    inserter = RetryingInserter(outage, settings(give_up=2), on_retry=lambda: retries.append(1))  # type: ignore[arg-type]
    assert asyncio.run(inserter.insert("t", lambda client: 3)) == 3
    assert outage.calls > 2, "two attempts (insert_retries=1) would have given up inside the outage"
    assert len(retries) == outage.calls - 1


def test_past_the_budget_the_failure_is_infrastructure():
    outage = Outage(ends_after=60)
    inserter = RetryingInserter(outage, settings(give_up=0.3))  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(WarehouseUnavailableError, match="failed after retries"):
        asyncio.run(inserter.insert("t", lambda client: 3))
    assert 0.3 <= time.monotonic() - started < 5


def test_a_stop_ends_the_retries_of_a_failing_insert():
    """A stop during an outage is not held up for the rest of the give-up budget."""
    inserter = RetryingInserter(Outage(ends_after=60), settings(give_up=60, backoff=30))  # type: ignore[arg-type]

    async def stop_soon() -> float:
        insert = asyncio.ensure_future(inserter.insert("t", lambda client: 3))
        await asyncio.sleep(0.3)
        inserter.stop_retrying()
        started = time.monotonic()
        with pytest.raises(WarehouseUnavailableError, match="abandoned, the worker is stopping"):
            await insert
        return time.monotonic() - started

    assert asyncio.run(stop_soon()) < 1
