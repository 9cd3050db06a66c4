"""Writers for reference data: each row versioned by its Kafka offset, so replays change nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.reference_changes import DeviceRetired, DirectoryChange, InventoryItems, PoolChange


@dataclass(frozen=True, slots=True)
class Versioned:
    """A decoded change and the offset of the message it came from."""

    change: Any
    offset: int
    received_at: datetime


def _insert(client: Client, table: str, columns: Sequence[str], rows: list[list[Any]]) -> int:
    if rows:
        client.insert(table, rows, column_names=list(columns))
    return len(rows)


class LicensePoolWriter:
    table = "license_pools"
    columns = (
        "pool_id", "name", "products", "suites", "license_model", "seats", "unit_cost", "currency",
        "term_start", "term_end", "renewal_date", "cost_centres", "vendor", "contract_ref", "version", "is_deleted",
    )  # fmt: skip

    def write(self, client: Client, changes: Sequence[Versioned]) -> int:
        return _insert(client, self.table, self.columns, [self._row(v.change, v.offset) for v in changes])

    @staticmethod
    def _row(change: PoolChange, offset: int) -> list[Any]:
        pool = change.entitlement
        if pool is None:
            return [change.pool_id, "", [], [], "", 0, 0, "", None, None, None, {}, "", "", offset, 1]
        return [
            pool.pool_id, pool.name, list(pool.products), list(pool.suites), pool.license_model, pool.seats,
            pool.unit_cost, pool.currency, pool.term_start, pool.term_end, pool.renewal_date,
            {c.cost_centre: c.share for c in pool.cost_centres}, pool.vendor or "", pool.contract_ref or "", offset, 0,
        ]  # fmt: skip


class DirectoryWriter:
    table = "directory_people"
    columns = (
        "user_key", "alias_keys", "manager_key", "display_name", "department", "cost_centre", "status",
        "leaving_date", "employee_type", "location", "key_id", "version", "is_deleted",
    )  # fmt: skip

    def write(self, client: Client, changes: Sequence[Versioned]) -> int:
        return _insert(client, self.table, self.columns, [self._row(v.change, v.offset) for v in changes])

    def departments(self, client: Client) -> dict[str, str]:
        """Department per pseudonym, aliases included: what a scope by department needs."""
        rows = client.query(
            "SELECT user_key, alias_keys, department FROM directory_people FINAL WHERE is_deleted = 0"
        ).result_rows
        found: dict[str, str] = {}
        for user_key, alias_keys, department in rows:
            for key in (user_key, *alias_keys):
                found[key] = department
        return found

    @staticmethod
    def _row(change: DirectoryChange, offset: int) -> list[Any]:
        person = change.entry
        if person is None:
            return [change.user_key, [], "", "", "", "", "", None, "", "", "", offset, 1]
        return [
            person.user_key, list(person.alias_keys), person.manager_key or "", person.display_name or "",
            person.department or "", person.cost_centre or "", person.status, person.leaving_date,
            person.employee_type or "", person.location or "", person.key_id, offset, 0,
        ]  # fmt: skip


class InventoryWriter:
    table = "inventory_software"
    columns = (
        "device_id", "snapshot_id", "taken_at", "source", "hostname", "os", "os_version", "cpu_cores",
        "cpu_sockets", "machine", "device_group", "environment", "name", "publisher", "version",
        "install_path", "install_date", "retired",
    )  # fmt: skip

    def write(self, client: Client, changes: Sequence[Versioned]) -> int:
        rows = [row for v in changes for row in self._rows(v.change, v.received_at)]
        return _insert(client, self.table, self.columns, rows)

    @staticmethod
    def _rows(change: InventoryItems | DeviceRetired, received_at: datetime) -> list[list[Any]]:
        if isinstance(change, DeviceRetired):
            retired = [change.device_id, "retired", received_at, "", "", "", "", None, None, "", "", ""]
            return [[*retired, "", "", "", "", None, 1]]
        d = change.device
        device = [
            change.device_id, change.snapshot_id, change.taken_at, change.source, d.hostname or "", d.os or "",
            d.os_version or "", d.cpu_cores, d.cpu_sockets, d.machine or "", d.device_group or "",
            str(d.environment),
        ]  # fmt: skip
        return [
            [*device, s.name, s.publisher or "", s.version or "", s.install_path or "", s.install_date, 0]
            for s in change.software
        ]
