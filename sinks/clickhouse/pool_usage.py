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

# Inserts that were running while the previous refresh read its marks may commit with an
# earlier write time; looking back this far past the mark catches them.
OVERLAP = timedelta(seconds=30)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
_STAMPS = """
SELECT
    (SELECT max(written_at) FROM usage_session_versions),
    (SELECT max(inserted_at) FROM product_usage_1m_parts),
    (SELECT max(updated_at) FROM license_pools),
    (SELECT max(recorded_at) FROM catalog_products)
"""
_DIRTY = """
SELECT least(
    ifNull((SELECT minOrNull(started_at) FROM usage_session_versions WHERE written_at > {since:DateTime64(3)}),
           toDateTime64('2106-01-01 00:00:00', 3, 'UTC')),
    ifNull((SELECT minOrNull(minute) FROM product_usage_1m_parts WHERE inserted_at > {since:DateTime64(3)}),
           toDateTime64('2106-01-01 00:00:00', 3, 'UTC')))
"""


class PoolUsageMaterializer:
    def __init__(self) -> None:
        self._since: datetime | None = None
        self._reference: tuple[Any, Any] | None = None

    def refresh(self, client: Client) -> int:
        """Bring ``pool_usage_1m`` up to date; returns the number of minute rows written."""
        sessions_at, parts_at, pools_at, catalog_at = client.query(_STAMPS).result_rows[0]
        reference = (pools_at, catalog_at)
        since = _EPOCH if self._since is None or reference != self._reference else self._since - OVERLAP
        start = _utc(client.query(_DIRTY, parameters={"since": since}).result_rows[0][0])
        written = 0
        if start.year < 2100:
            start = start.replace(second=0, microsecond=0)
            end_row = client.query("SELECT max(ended_at) FROM usage_session_versions").result_rows[0][0]
            end = max(_utc(end_row), start) + timedelta(minutes=2)
            written = self._recompute(client, start, end.replace(second=0, microsecond=0))
        self._since = max(_utc(sessions_at), _utc(parts_at))
        self._reference = reference
        return written

    def _recompute(self, client: Client, start: datetime, end: datetime) -> int:
        window = {"start": start.replace(tzinfo=None), "end": end.replace(tzinfo=None)}
        fresh = client.query(
            f"SELECT {', '.join(_COLUMNS)} FROM pool_usage_1m_compute(from_minute = {{start:DateTime}}, "  # noqa: S608
            "to_minute = {end:DateTime})",
            parameters=window,
        ).result_rows
        held = client.query(
            "SELECT pool_id, minute, pool_name, license_model, seats FROM pool_usage_1m "
            "WHERE minute >= {start:DateTime} AND minute < {end:DateTime}",
            parameters=window,
        ).result_rows
        computed_at = datetime.now(UTC)
        keys = {(row[0], _utc(row[1])) for row in fresh}
        rows = [[*row, computed_at] for row in fresh]
        rows += [[*row, 0, 0, 0, 0, 0, 0, 0, computed_at] for row in held if (row[0], _utc(row[1])) not in keys]
        if rows:
            client.insert("pool_usage_1m_versions", rows, column_names=[*_COLUMNS, "computed_at"])
        return len(rows)


def _utc(moment: Any) -> datetime:
    if not isinstance(moment, datetime):
        return _EPOCH
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
