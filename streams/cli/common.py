"""What every command group shares: the console, the settings, a warehouse client."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from clickhouse_connect.driver.client import Client
from rich.console import Console

from schemas.settings import Settings
from sinks.clickhouse.warehouse import connect_warehouse

console = Console(width=None if sys.stdout.isatty() else 160)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    jsonl = "JSONEachRow"


def settings() -> Settings:
    return Settings()


@contextmanager
def warehouse_client() -> Iterator[Client]:
    client = connect_warehouse(settings().warehouse)
    try:
        yield client
    finally:
        client.close()
