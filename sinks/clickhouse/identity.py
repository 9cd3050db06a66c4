"""What a warehouse is, and which pseudonym keys wrote it (tables of migration 0008)."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client


class WarehouseIdentityError(RuntimeError):
    """The warehouse has no identity yet: its migrations have not been applied."""


def warehouse_id(client: Client) -> str:
    """The id the warehouse was given when it was made; the earliest, should two have raced."""
    rows = client.query(
        "SELECT toString(warehouse_id) FROM warehouse_identity ORDER BY created_at, warehouse_id LIMIT 1"
    ).result_rows
    if not rows:
        raise WarehouseIdentityError("the warehouse has no identity; run `seatmeter migrate` first")
    return str(rows[0][0])


def recorded_key_check(client: Client, key_id: str) -> str | None:
    """The check value first recorded for ``key_id``, or None if no process wrote with it yet."""
    rows = client.query(
        "SELECT argMin(key_check, recorded_at), count() FROM pseudonym_keys WHERE key_id = {id:String}",
        parameters={"id": key_id},
    ).result_rows
    check, count = rows[0]
    return str(check) if count else None


def record_key_check(client: Client, key_id: str, check: str) -> None:
    client.insert("pseudonym_keys", [[key_id, check]], column_names=["key_id", "key_check"])
