"""Apply the numbered SQL migrations in ``sinks/clickhouse/migrations/`` once each, in order, and record them.

Migrations are frozen once released: a changed file is refused, not re-applied. Statements in
a file end with ``;`` at the end of a line; lines starting with ``--`` are comments.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client

LEDGER_TABLE = "schema_migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)

_LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
"""


class MigrationError(RuntimeError):
    """The migrations on disk and the ones the warehouse recorded disagree."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        return [part.strip() for part in _STATEMENT_END.split(body) if part.strip()]


def bundled_migrations() -> list[Migration]:
    """The migrations shipped with this version of Seatmeter, in version order."""
    found = []
    for entry in resources.files("sinks.clickhouse.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return found


def applied_migrations(client: Client) -> dict[int, str]:
    client.command(_LEDGER_DDL)
    rows = client.query(f"SELECT version, checksum FROM {LEDGER_TABLE} FINAL").result_rows  # noqa: S608
    return {int(version): str(checksum) for version, checksum in rows}


def apply_migrations(client: Client, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply what is pending and return it; refuse to run if an applied migration was edited."""
    migrations = bundled_migrations() if migrations is None else migrations
    applied = applied_migrations(client)
    pending = []
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is None:
            pending.append(migration)
        elif recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} changed after it was applied; "
                "add a new migration instead of editing a released one"
            )
    for migration in pending:
        for statement in migration.statements():
            client.command(statement)
        client.insert(
            LEDGER_TABLE,
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
    return pending
