"""The cluster rendering of the migrations, statement by statement, and the runner's choice of it.

The engine parses every rendered statement in ``tests/integration/test_cluster_migrations.py``;
here the rendering's rules are held case by case, without an engine.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, cast

import pytest
from clickhouse_connect.driver.client import Client
from pydantic import ValidationError

from schemas.settings import WarehouseSettings
from sinks.clickhouse.cluster import (
    LOCAL_SUFFIX,
    SHARDING_KEYS,
    ClusterRenderingError,
    render_for_cluster,
    split_commands,
)
from sinks.clickhouse.migrate import (
    LEDGER_TABLE,
    MigrationError,
    apply_migrations,
    bundled_migrations,
    ledger_statements,
    migration_script,
)

CLUSTER = "seatmeter"
ON = "ON CLUSTER 'seatmeter'"

# The single-server statements of every released migration, pinned: the cluster work must not
# change by a byte what a single server runs (the files themselves are pinned by the ledger).
SINGLE_SERVER = {
    "0001_create_product_usage_1m": "25b2027613c4237fb5eabd2b82cfbe6b9719f1e691f191e9ba321fef688a23eb",
    "0002_create_dead_letters": "0f89f29ea881d5214d6c2f14a38d3af578bcc3c823b6a9cb29cc4569361427d5",
    "0003_create_reference_tables": "7fd2170e3794b62c1d2ebb37e6e318b6ed9a9b8c672c49ab45462018b465a172",
    "0004_create_agent_health": "18ab3c2ecbf50208ac84c667fce1fdf4bac507149210cd65cd5daac6d0985c8b",
    "0005_create_usage_sessions": "c3ce400aa8f3b5b8a01942f8baf84e1e1022b355b7525be4c13f38dd0a7ab68a",
    "0006_create_license_pool_usage": "1363ae15ec25fffd36c37bbf48b07e3d6ad78d849f127d863b1b3a10fa9e5253",
    "0007_cap_minute_active_at_the_clock": "6ae4cc4705caec9242c225a3fefac817bed2eefd01a7bdc91fafd65872b781f5",
    "0008_create_warehouse_identity": "c18874a4204cd05e94e8b154f14b111ba9e5349d176449631e959c919e86245d",
}
LEDGER_DDL_SHA256 = "cdc1bda7c5ecf583b780b3c753f1a62834c2c1ab66f83d4a5a727cec30e62491"
_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\s*\(", re.M)
_ORDER_BY = re.compile(r"^ORDER BY \(?([^)\n]+)\)?$", re.M)


def bundled_tables() -> dict[str, str]:
    """Every table the migrations and the runner create, with its CREATE statement."""
    statements = ledger_statements() + [s for m in bundled_migrations() for s in m.statements()]
    return {match[1]: s for s in statements if (match := _TABLE.match(s.strip()))}


def test_single_server_statements_are_the_released_ones_byte_for_byte():
    for migration in bundled_migrations():
        name = f"{migration.version:04d}_{migration.name}"
        assert migration.statements("") == migration.statements()
        if name in SINGLE_SERVER:
            digest = hashlib.sha256("\0".join(migration.statements()).encode()).hexdigest()
            assert digest == SINGLE_SERVER[name], name
    assert hashlib.sha256(ledger_statements()[0].encode()).hexdigest() == LEDGER_DDL_SHA256


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        pytest.param(
            "CREATE TABLE IF NOT EXISTS license_pools\n(\n    pool_id String,\n    version UInt64,\n"
            "    is_deleted UInt8\n)\nENGINE = ReplacingMergeTree(version, is_deleted)\nORDER BY pool_id",
            [
                "CREATE TABLE IF NOT EXISTS license_pools_local ON CLUSTER 'seatmeter'\n(\n    pool_id String,\n"
                "    version UInt64,\n    is_deleted UInt8\n)\nENGINE = ReplicatedReplacingMergeTree("
                "'/clickhouse/tables/{shard}/{database}/license_pools_local', '{replica}', version, is_deleted)\n"
                "ORDER BY pool_id",
                "CREATE TABLE IF NOT EXISTS license_pools ON CLUSTER 'seatmeter' AS license_pools_local\n"
                "ENGINE = Distributed('seatmeter', currentDatabase(), 'license_pools_local', cityHash64(pool_id))",
            ],
            id="a replacing table: replicated local table with its arguments kept, Distributed by pool",
        ),
        pytest.param(
            "CREATE TABLE alerts (rule String, subject String, alert_id String) ENGINE = MergeTree\n"
            "ORDER BY (rule, subject, alert_id)",
            [
                "CREATE TABLE alerts_local ON CLUSTER 'seatmeter' (rule String, subject String, alert_id String) "
                "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/alerts_local', '{replica}')\n"
                "ORDER BY (rule, subject, alert_id)",
                "CREATE TABLE alerts ON CLUSTER 'seatmeter' AS alerts_local\n"
                "ENGINE = Distributed('seatmeter', currentDatabase(), 'alerts_local', cityHash64(rule, subject))",
            ],
            id="a plain MergeTree without arguments",
        ),
        pytest.param(
            "CREATE TABLE source_activity (kind String, subject String, n UInt64, m UInt64) "
            "ENGINE = SummingMergeTree((n, m)) ORDER BY (kind, subject)",
            [
                "CREATE TABLE source_activity_local ON CLUSTER 'seatmeter' (kind String, subject String, n UInt64, "
                "m UInt64) ENGINE = ReplicatedSummingMergeTree("
                "'/clickhouse/tables/{shard}/{database}/source_activity_local', '{replica}', (n, m)) "
                "ORDER BY (kind, subject)",
                "CREATE TABLE source_activity ON CLUSTER 'seatmeter' AS source_activity_local\n"
                "ENGINE = Distributed('seatmeter', currentDatabase(), 'source_activity_local', "
                "cityHash64(kind, subject))",
            ],
            id="engine arguments with parentheses of their own",
        ),
        pytest.param(
            "CREATE VIEW IF NOT EXISTS latest AS\nSELECT * FROM inventory_software FINAL\n"
            "WHERE (device_id, taken_at) IN (\n    SELECT device_id, max(taken_at) FROM inventory_software\n"
            "    GROUP BY device_id\n) AND os IN ('linux') AND product NOT IN (SELECT product FROM p)",
            [
                "CREATE VIEW IF NOT EXISTS latest ON CLUSTER 'seatmeter' AS\nSELECT * FROM inventory_software FINAL\n"
                "WHERE (device_id, taken_at) GLOBAL IN (\n    SELECT device_id, max(taken_at) FROM inventory_software\n"
                "    GROUP BY device_id\n) AND os IN ('linux') AND product GLOBAL NOT IN (SELECT product FROM p)",
            ],
            id="a view: ON CLUSTER, IN subqueries made GLOBAL, a list IN left alone",
        ),
        pytest.param(
            "CREATE OR REPLACE VIEW v AS SELECT a FROM t WHERE a GLOBAL IN (SELECT a FROM u)",
            ["CREATE OR REPLACE VIEW v ON CLUSTER 'seatmeter' AS SELECT a FROM t WHERE a GLOBAL IN (SELECT a FROM u)"],
            id="a replaced view, already GLOBAL",
        ),
        pytest.param(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS daily_mv TO usage_daily_rollup AS\n"
            "SELECT toDate(started_at) AS day, count() AS n FROM usage_session_versions GROUP BY day",
            [
                "CREATE MATERIALIZED VIEW IF NOT EXISTS daily_mv ON CLUSTER 'seatmeter' TO usage_daily_rollup AS\n"
                "SELECT toDate(started_at) AS day, count() AS n FROM usage_session_versions_local GROUP BY day",
            ],
            id="a materialized view: fires on the local table, writes through the Distributed target",
        ),
        pytest.param(
            "ALTER TABLE product_usage_1m_parts\n    ADD COLUMN IF NOT EXISTS use_keys Array(UInt64),\n"
            "    ADD PROJECTION IF NOT EXISTS p (SELECT minute, sumMap(use_keys, use_ms) GROUP BY minute)",
            [
                "ALTER TABLE product_usage_1m_parts_local ON CLUSTER 'seatmeter'\n"
                "    ADD COLUMN IF NOT EXISTS use_keys Array(UInt64),\n"
                "    ADD PROJECTION IF NOT EXISTS p (SELECT minute, sumMap(use_keys, use_ms) GROUP BY minute)",
                "ALTER TABLE product_usage_1m_parts ON CLUSTER 'seatmeter'\n"
                "    ADD COLUMN IF NOT EXISTS use_keys Array(UInt64)",
            ],
            id="an alter: everything on the local table, the column also on the Distributed one, after",
        ),
        pytest.param(
            "ALTER TABLE alerts DROP COLUMN IF EXISTS value",
            [
                "ALTER TABLE alerts ON CLUSTER 'seatmeter'\n    DROP COLUMN IF EXISTS value",
                "ALTER TABLE alerts_local ON CLUSTER 'seatmeter'\n    DROP COLUMN IF EXISTS value",
            ],
            id="a dropped column leaves the Distributed table first",
        ),
        pytest.param(
            "ALTER TABLE product_usage_1m_parts MATERIALIZE INDEX event_ids_bloom",
            ["ALTER TABLE product_usage_1m_parts_local ON CLUSTER 'seatmeter'\n    MATERIALIZE INDEX event_ids_bloom"],
            id="an index or projection command goes to the local table only",
        ),
        pytest.param(
            "INSERT INTO warehouse_identity (warehouse_id) SELECT generateUUIDv4()",
            [
                "INSERT INTO warehouse_identity (warehouse_id) SETTINGS insert_distributed_sync = 1 "
                "SELECT generateUUIDv4()"
            ],
            id="a seed row goes through the Distributed table, synchronously",
        ),
    ],
)
def test_a_statement_is_rendered_for_the_cluster(statement, expected):
    assert render_for_cluster(statement, CLUSTER) == expected


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        pytest.param("DROP TABLE alerts", "no cluster rendering for: DROP TABLE alerts", id="an unknown kind"),
        pytest.param(
            "CREATE TABLE scratch (a UInt8) ENGINE = MergeTree ORDER BY a", "scratch has no sharding key", id="no key"
        ),
        pytest.param(
            "CREATE TABLE alerts (a UInt8) ENGINE = Memory", "Memory has no Replicated counterpart", id="memory engine"
        ),
        pytest.param(
            "CREATE TABLE alerts (a UInt8) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY a",
            "ReplicatedMergeTree has no Replicated counterpart",
            id="already replicated",
        ),
        pytest.param(
            "CREATE VIEW v ON CLUSTER c AS SELECT 1", "already names a cluster", id="a statement with its own cluster"
        ),
        pytest.param(
            "CREATE MATERIALIZED VIEW mv AS SELECT a FROM alerts",
            "needs TO <table>",
            id="a materialized view with a hidden inner table",
        ),
        pytest.param(
            "INSERT INTO alerts SETTINGS async_insert = 1 VALUES (1)",
            "sets its own settings",
            id="an insert with settings of its own",
        ),
    ],
)
def test_a_statement_without_a_cluster_rendering_is_refused(statement, reason):
    with pytest.raises(ClusterRenderingError, match=re.escape(reason)):
        render_for_cluster(statement, CLUSTER)


@pytest.mark.parametrize(
    ("cluster", "on"),
    [
        pytest.param("prod-eu.1", "ON CLUSTER 'prod-eu.1'", id="a remote_servers name"),
        pytest.param("{cluster}", "ON CLUSTER '{cluster}'", id="a macro"),
    ],
)
def test_cluster_names_are_quoted(cluster, on):
    assert render_for_cluster("CREATE VIEW v AS SELECT 1", cluster) == [f"CREATE VIEW v {on} AS SELECT 1"]


@pytest.mark.parametrize("cluster", ["", "two words", "x'; DROP", "{a}{b}"])
def test_bad_cluster_names_are_refused(cluster):
    with pytest.raises(ClusterRenderingError, match="is not a remote_servers name"):
        render_for_cluster("CREATE VIEW v AS SELECT 1", cluster)


@pytest.mark.parametrize(
    ("commands", "parts"),
    [
        pytest.param("ADD COLUMN a UInt8, ADD COLUMN b UInt8", ["ADD COLUMN a UInt8", "ADD COLUMN b UInt8"], id="two"),
        pytest.param(
            "ADD COLUMN m Map(String, UInt8) DEFAULT map('a,b', 1), DROP INDEX i",
            ["ADD COLUMN m Map(String, UInt8) DEFAULT map('a,b', 1)", "DROP INDEX i"],
            id="commas in parentheses and strings",
        ),
        pytest.param("ADD PROJECTION p (SELECT a, b GROUP BY a, b)", ["ADD PROJECTION p (SELECT a, b GROUP BY a, b)"]),
    ],
)
def test_alter_commands_split_at_top_level_commas(commands, parts):
    assert split_commands(commands) == parts


@pytest.mark.parametrize("table", sorted(bundled_tables()))
def test_every_table_is_sharded_by_its_leading_sorting_columns(table):
    """FINAL collapses a row's versions shard by shard: they must all be on one shard."""
    order_by = [c.strip() for c in _ORDER_BY.findall(bundled_tables()[table])[0].split(",")]
    key = SHARDING_KEYS[table]
    used = re.findall(r"\w+", key.removeprefix("cityHash64"))
    assert used == order_by[: len(used)], f"{table}: shard key {key} against ORDER BY {order_by}"


def test_every_sharding_key_names_a_table_the_migrations_make():
    assert set(SHARDING_KEYS) == set(bundled_tables())


def test_every_bundled_statement_has_a_cluster_rendering():
    for migration in bundled_migrations():
        for statement in migration.statements():
            rendered = render_for_cluster(statement, CLUSTER)
            assert rendered and all(s != statement for s in rendered)
            assert all(ON in s or s.startswith("INSERT") for s in rendered), statement


def test_the_script_names_every_migration_and_ends_each_statement():
    script = migration_script(bundled_migrations(), CLUSTER)
    for migration in bundled_migrations():
        assert f"-- {migration.version:04d}_{migration.name}, on cluster {CLUSTER}\n" in script
    assert script.count(";\n") + 1 == sum(len(m.statements(CLUSTER)) for m in bundled_migrations()) + 2
    assert f"-- the ledger, {LEDGER_TABLE}, on a single server\n" in migration_script([])


class RecordingClient:
    """Stands in for a warehouse that holds nothing: records what the runner sends."""

    def __init__(self, ledger_engine: str = "Distributed") -> None:
        self.commands: list[str] = []
        self.inserts: list[tuple[str, Any]] = []
        self.ledger_engine = ledger_engine

    def command(self, cmd: str, parameters: Any = None) -> str:
        self.commands.append(cmd)
        return self.ledger_engine if cmd.startswith("SELECT engine") else ""

    def query(self, query: str) -> Any:
        return type("Result", (), {"result_rows": []})()

    def insert(self, table: str, data: Any, column_names: Any, settings: Any = None) -> None:
        self.inserts.append((table, settings))


def test_the_runner_sends_the_files_as_written_without_a_cluster():
    client = RecordingClient()
    apply_migrations(cast(Client, client))
    assert client.commands == ledger_statements() + [s for m in bundled_migrations() for s in m.statements()]
    assert {settings for _, settings in client.inserts} == {None}


def test_the_runner_sends_the_cluster_rendering_when_a_cluster_is_set():
    client = RecordingClient()
    applied = apply_migrations(cast(Client, client), cluster=CLUSTER)
    expected = [s for m in bundled_migrations() for s in m.statements(CLUSTER)]
    assert client.commands[:2] == ledger_statements(CLUSTER)
    assert client.commands[2].startswith("SELECT engine FROM system.tables")
    assert client.commands[3:] == expected
    assert client.inserts == [(LEDGER_TABLE, {"insert_distributed_sync": 1})] * len(applied)


def test_the_runner_refuses_a_cluster_over_a_single_server_warehouse():
    with pytest.raises(MigrationError, match="made for a single server"):
        apply_migrations(cast(Client, RecordingClient("ReplacingMergeTree")), cluster=CLUSTER)


def test_local_tables_are_named_apart_from_every_table():
    assert not any(table.endswith(LOCAL_SUFFIX) for table in bundled_tables())


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        pytest.param({"url": "chdb:///tmp/wh", "cluster": "c"}, "needs a ClickHouse server", id="embedded engine"),
        pytest.param({"url": "http://ch:8123", "cluster": "a b"}, "is no cluster name", id="not a name"),
    ],
)
def test_the_cluster_setting_is_checked(values, problem):
    with pytest.raises(ValidationError, match=problem):
        WarehouseSettings.model_validate(values)


def test_the_cluster_setting_takes_a_name_or_a_macro():
    assert WarehouseSettings(url="https://ch:8443", cluster="{cluster}").cluster == "{cluster}"
    assert WarehouseSettings(url="chdb:///tmp/wh").cluster == ""
