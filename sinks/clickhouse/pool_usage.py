"""Keeps ``pool_usage_1m`` level with the sessions: recompute the minutes that changed.

Session versions and usage rows record when they were written. Each refresh finds the earliest
minute touched by anything written since the previous refresh (a late event can change a minute
days back), recomputes every pool from that minute on with ``pool_usage_1m_compute``, and writes
a new version of each minute, with zeros for minutes that no longer have use. A change to the
license pools or the catalog recomputes everything. Refreshing twice writes the same values
again, so a restart or a new leader needs no hand-over.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.moments import EPOCH, as_utc
from sinks.clickhouse import queries

# Inserts that were running while the previous refresh read its marks may commit with an
# earlier write time; looking back this far past the mark catches them.
OVERLAP = timedelta(seconds=30)
_COLUMNS = (
    "pool_id",
    "minute",
    "pool_name",
    "license_model",
    "seats",
    "running_in_use",
    "active_in_use",
    "idle_in_use",
    "running_users",
    "active_users",
    "running_devices",
    "active_devices",
)


class PoolUsageMaterializer:
    def __init__(self) -> None:
        self._since: datetime | None = None
        self._reference: tuple[Any, Any] | None = None

    def refresh(self, client: Client) -> int:
        """Bring ``pool_usage_1m`` up to date; returns the number of minute rows written."""
        sessions_at, parts_at, pools_at, catalog_at = client.query(queries.load("pool_usage_stamps")).result_rows[0]
        reference = (pools_at, catalog_at)
        since = EPOCH if self._since is None or reference != self._reference else self._since - OVERLAP
        start = _utc_or_epoch(
            client.query(queries.load("pool_usage_dirty_from"), parameters={"since": since}).result_rows[0][0]
        )
        written = 0
        if start.year < 2100:
            start = start.replace(second=0, microsecond=0)
            end_row = client.query(queries.load("pool_usage_last_session_end")).result_rows[0][0]
            end = max(_utc_or_epoch(end_row), start) + timedelta(minutes=2)
            written = self._recompute(client, start, end.replace(second=0, microsecond=0))
        self._since = max(_utc_or_epoch(sessions_at), _utc_or_epoch(parts_at))
        self._reference = reference
        return written

    def _recompute(self, client: Client, start: datetime, end: datetime) -> int:
        window = {"start": start.replace(tzinfo=None), "end": end.replace(tzinfo=None)}
        fresh = client.query(queries.load("pool_usage_compute"), parameters=window).result_rows
        held = client.query(queries.load("pool_usage_held"), parameters=window).result_rows
        computed_at = datetime.now(UTC)
        keys = {(row[0], _utc_or_epoch(row[1])) for row in fresh}
        rows = [[*row, computed_at] for row in fresh]
        rows += [
            [*row, 0, 0, 0, 0, 0, 0, 0, computed_at] for row in held if (row[0], _utc_or_epoch(row[1])) not in keys
        ]
        if rows:
            client.insert("pool_usage_1m_versions", rows, column_names=[*_COLUMNS, "computed_at"])
        return len(rows)


def _utc_or_epoch(moment: Any) -> datetime:
    if not isinstance(moment, datetime):
        return EPOCH
    return as_utc(moment)
