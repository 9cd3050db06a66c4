"""Which engine errors the writer retries: values the engine refuses are the rows' fault and go
to isolation at once; anything else is the warehouse's and is retried, on chDB and over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from schemas.settings import WarehouseSettings
from sinks.clickhouse.warehouse import Warehouse
from streams.runtime.inserter import RetryingInserter, UnwritableRowsError, WarehouseUnavailableError
from tests.support.fixtures import FIXTURE_PASSWORD

pytestmark = pytest.mark.clickhouse


@pytest.fixture(params=["embedded", "http"])
def warehouse(request, tmp_path) -> Iterator[Warehouse]:
    if request.param == "embedded":
        settings = WarehouseSettings(url=f"chdb://{tmp_path / 'warehouse'}")
    else:
        server = request.getfixturevalue("chdb_http_server")
        settings = WarehouseSettings(url=f"http://{server.host}:{server.port}", password=SecretStr(FIXTURE_PASSWORD))
    settings = settings.model_copy(
        update={"insert_retries": 3, "retry_backoff_max_seconds": 0.2, "insert_give_up_seconds": 1.5}
    )
    warehouse = Warehouse(settings)
    warehouse.open_blocking()
    warehouse.run_blocking(
        lambda client: client.command(
            "CREATE TABLE seats (seats UInt8, CONSTRAINT some CHECK seats > 0) ENGINE = MergeTree ORDER BY seats"
        )
    )
    try:
        yield warehouse
    finally:
        warehouse.close_blocking()


def insert_with(warehouse: Warehouse, write) -> None:
    asyncio.run(RetryingInserter(warehouse, warehouse._settings).insert("seats", write))  # noqa: SLF001


def test_rows_the_engine_refuses_are_not_retried(warehouse):
    attempts: list[int] = []

    def write(client):
        attempts.append(1)
        client.insert("seats", [[3], [0]], column_names=["seats"])
        return 2

    with pytest.raises(UnwritableRowsError, match=r"engine error 469 \(VIOLATED_CONSTRAINT\)"):
        insert_with(warehouse, write)
    assert attempts == [1], "a retry cannot make the rows fit"
    assert warehouse.run_blocking(lambda client: client.command("SELECT count() FROM seats")) == 0


def test_text_the_engine_cannot_parse_is_the_rows_fault(warehouse):
    with pytest.raises(UnwritableRowsError, match="engine error 6"):
        insert_with(warehouse, lambda client: client.command("INSERT INTO seats VALUES ('many')"))


def test_an_unknown_table_is_retried_then_stops_the_worker(warehouse):
    attempts: list[int] = []

    def write(client):
        attempts.append(1)
        client.insert("licence_seats", [[3]], column_names=["seats"])
        return 1

    with pytest.raises(WarehouseUnavailableError, match="failed after retries"):
        insert_with(warehouse, write)
    assert len(attempts) >= 4, "retried until both budgets (three retries, 1.5 s) were spent"
