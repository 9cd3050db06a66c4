"""Apply the numbered SQL migrations in ``sinks/clickhouse/migrations/`` once each, in order, and record them.

Migrations are frozen once released: a changed file is refused, not re-applied. Statements in
a file end with ``;`` at the end of a line; lines starting with ``--`` are comments.

On a ClickHouse cluster (``SEATMETER_WAREHOUSE__CLUSTER``) each statement, the ledger's included,
is rendered for the cluster by :mod:`sinks.clickhouse.cluster`; the ledger records the same
checksum, that of the file, either way. Without a cluster the files run exactly as written.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.cluster import SYNC_INSERT_SETTINGS, render_for_cluster

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

    def statements(self, cluster: str = "") -> list[str]:
        """The statements to run: as written, or rendered for ``cluster`` when one is named."""
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        written = [part.strip() for part in _STATEMENT_END.split(body) if part.strip()]
        return for_cluster(written, cluster)


def for_cluster(statements: list[str], cluster: str) -> list[str]:
    """``statements`` unchanged without a cluster, else each rendered for it."""
    if not cluster:
        return statements
    return [rendered for statement in statements for rendered in render_for_cluster(statement, cluster)]


def ledger_statements(cluster: str = "") -> list[str]:
    """The DDL of the ledger this runner keeps, as it runs it."""
    return for_cluster([_LEDGER_DDL], cluster)


def migration_script(migrations: list[Migration], cluster: str = "") -> str:
    """The SQL the runner would run for ``migrations`` on an empty warehouse, ledger first, to read."""
    where = f"on cluster {cluster}" if cluster else "on a single server"
    sections = [(f"the ledger, {LEDGER_TABLE}, {where}", ledger_statements(cluster))]
    sections += [(f"{m.version:04d}_{m.name}, {where}", m.statements(cluster)) for m in migrations]
    return "\n\n".join(f"-- {title}\n" + "\n\n".join(f"{s.strip()};" for s in sql) for title, sql in sections)


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


def applied_migrations(client: Client, cluster: str = "") -> dict[int, str]:
    for statement in ledger_statements(cluster):
        client.command(statement)
    if cluster:
        _refuse_single_server_ledger(client, cluster)
    rows = client.query(f"SELECT version, checksum FROM {LEDGER_TABLE} FINAL").result_rows  # noqa: S608
    return {int(version): str(checksum) for version, checksum in rows}


def _refuse_single_server_ledger(client: Client, cluster: str) -> None:
    """A warehouse made for one server stays one: the setting cannot turn its tables into shards."""
    engine = client.command(
        "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = {name:String}",
        parameters={"name": LEDGER_TABLE},
    )
    if engine != "Distributed":
        raise MigrationError(
            f"SEATMETER_WAREHOUSE__CLUSTER is {cluster} but this warehouse was made for a single server "
            f"({LEDGER_TABLE} is {engine}); unset it, or migrate into a new database on the cluster"
        )


def apply_migrations(
    client: Client, migrations: list[Migration] | None = None, *, cluster: str = ""
) -> list[Migration]:
    """Apply what is pending and return it; refuse to run if an applied migration was edited.

    ``cluster`` names the ClickHouse cluster the warehouse spans (``WarehouseSettings.cluster``);
    empty for a single server or chDB.
    """
    migrations = bundled_migrations() if migrations is None else migrations
    applied = applied_migrations(client, cluster)
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
        for statement in migration.statements(cluster):
            client.command(statement)
        client.insert(
            LEDGER_TABLE,
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
            # synchronous through the Distributed ledger, so that the next run reads what this one recorded
            settings=dict(SYNC_INSERT_SETTINGS) if cluster else None,
        )
    return pending
