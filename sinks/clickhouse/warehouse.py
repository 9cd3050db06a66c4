"""The one way to reach the warehouse: clickhouse-connect, embedded (``chdb://PATH``) or server (``http(s)://``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from schemas.settings import WarehouseSettings
from sinks.clickhouse.cluster import SYNC_INSERT_SETTINGS
from sinks.clickhouse.migrate import Migration, apply_migrations

T = TypeVar("T")

EMBEDDED_SCHEME = "chdb"


class WarehouseInUseError(RuntimeError):
    """The embedded warehouse folder is held by another process (chDB allows one per folder)."""


def is_embedded(url: str) -> bool:
    return urlparse(url).scheme == EMBEDDED_SCHEME


def embedded_path(url: str) -> Path:
    parsed = urlparse(url)
    return Path(parsed.netloc + parsed.path)


def connect_warehouse(settings: WarehouseSettings) -> Client:
    """A client for the configured warehouse; the SQL it runs is the same for both kinds."""
    if is_embedded(settings.url):
        return _connect_embedded(settings)
    return clickhouse_connect.get_client(
        dsn=settings.url,
        username=settings.username,
        password=settings.password.get_secret_value(),
        database=settings.database,
        compress=False,
        # On a cluster an insert returns once the shards hold its rows, not once it is queued on the
        # server it reached: a batch is acked only when written, and read back right after.
        settings=dict(SYNC_INSERT_SETTINGS) if settings.cluster else None,
    )


def _connect_embedded(settings: WarehouseSettings) -> Client:
    path = embedded_path(settings.url)
    path.mkdir(parents=True, exist_ok=True)
    try:
        return clickhouse_connect.get_client(dsn=f"{EMBEDDED_SCHEME}://{path.resolve()}")
    except Exception as exc:
        if "lock" in str(exc).lower() or "EmbeddedServer" in str(exc):
            raise WarehouseInUseError(
                f"the embedded warehouse at {path} is in use by another process (a running worker?). "
                "Stop it first, or point SEATMETER_WAREHOUSE__URL at a ClickHouse server."
            ) from exc
        raise


class Warehouse:
    """A client confined to one thread, so blocking engine calls never stall the event loop."""

    def __init__(self, settings: WarehouseSettings) -> None:
        self._settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse")
        self._client: Client | None = None

    def open_blocking(self) -> None:
        """Connect on the warehouse thread; call before the event loop starts."""
        self._client = self._executor.submit(connect_warehouse, self._settings).result()

    def run_blocking(self, fun: Callable[..., T], *args: Any) -> T:
        return self._executor.submit(fun, self._require_client(), *args).result()

    def migrate_blocking(self) -> list[Migration]:
        """Apply the pending migrations, rendered for the configured cluster if one is set."""
        return self.run_blocking(partial(apply_migrations, cluster=self._settings.cluster))

    async def run(self, fun: Callable[..., T], *args: Any) -> T:
        """Run ``fun(client, *args)`` on the warehouse thread."""
        return await self._in_thread(fun, self._require_client(), *args)

    def close_blocking(self) -> None:
        if self._client is not None:
            self._executor.submit(self._client.close).result()
            self._client = None
        self._executor.shutdown(wait=True)

    def _require_client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the warehouse is not open: call open_blocking() first")
        return self._client

    async def _in_thread(self, fun: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fun, *args)
