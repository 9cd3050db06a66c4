"""The cluster variant of every migration, held against the real engine.

chDB has no Keeper and no second host, so ``ON CLUSTER`` DDL and Replicated engines cannot run
here. Two things can, and both are checked:

* the engine parses every statement of the cluster rendering, and the parsed statements have the
  cluster's shape: ``ON CLUSTER`` on all DDL, Replicated engines on the local tables, a
  Distributed table over each, views reading only Distributed tables;
* on a one-shard cluster that chDB does have (``remote_servers`` in a config file, the shard being
  this engine), the rendering runs with only ``ON CLUSTER`` and the Replicated engines' Keeper
  arguments taken out, in a database beside one migrated as a single server. The same rows,
  written by the real writers through the Distributed tables, give the same answer to every query
  in ``sinks/clickhouse/queries``, and every Distributed table has its local table's columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from schemas.records import ProductMinuteRollup
from sinks.clickhouse import queries
from sinks.clickhouse.cluster import LOCAL_SUFFIX, SHARDING_KEYS, SYNC_INSERT_SETTINGS
from sinks.clickhouse.migrate import apply_migrations, bundled_migrations, ledger_statements
from tests.integration.test_pool_usage import MIN, T0, session
from tests.integration.test_queries import CASES
from tests.integration.test_queries import write_rows as write_queried_rows

pytestmark = pytest.mark.clickhouse

CLUSTER = "seatmeter"
ONE_SHARD = f"""<clickhouse>
    <tcp_port>9000</tcp_port>
    <remote_servers>
        <{CLUSTER}><shard><replica><host>localhost</host><port>9000</port></replica></shard></{CLUSTER}>
    </remote_servers>
</clickhouse>
"""
WRITE_TIMES = {"pool_usage_stamps"}
"""Queries that answer when rows were written, which differs between the two warehouses."""
ON_CLUSTER = re.compile(rf" ON CLUSTER `?'?{CLUSTER}'?`?")
KEEPER_ARGUMENTS = re.compile(r"\bReplicated(\w*MergeTree)\('[^']*', '[^']*'(?:, )?")
LOCAL_ENGINE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (\w+)_local ON CLUSTER \S+ \(.*\) ENGINE = Replicated\w*MergeTree"
    r"\('/clickhouse/tables/\{shard\}/\{database\}/\1_local', '\{replica\}'"
)
DISTRIBUTED = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (\w+) ON CLUSTER \S+ AS \1_local "
    rf"ENGINE = Distributed\('{CLUSTER}', currentDatabase\(\), '\1_local', [^)]+\)+$"
)


def cluster_statements() -> list[str]:
    return ledger_statements(CLUSTER) + [s for m in bundled_migrations() for s in m.statements(CLUSTER)]


def single_statements() -> list[str]:
    return ledger_statements() + [s for m in bundled_migrations() for s in m.statements()]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A chDB engine that knows a one-shard cluster whose only host is itself."""
    folder = tmp_path_factory.mktemp("cluster")
    (folder / "config.xml").write_text(ONE_SHARD)
    admin = connect(folder, "default")
    for database in ("single", "sharded"):
        admin.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    yield folder
    admin.close()


def connect(folder: Path, database: str, settings: dict[str, Any] | None = None) -> Client:
    return clickhouse_connect.get_client(
        dsn=f"chdb://{folder / 'wh'}",
        database=database,
        settings=settings,
        chdb_options={"config-file": str(folder / "config.xml")},
    )


class OneHostCluster:
    """Sends what the runner sends, without what a cluster of one chDB cannot run: the ``ON
    CLUSTER`` clause (no Keeper for the DDL queue) and the Replicated engines' Keeper path."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.sent: list[str] = []

    def command(self, cmd: str, parameters: Any = None, settings: Any = None) -> Any:
        self.sent.append(cmd)
        single_host = KEEPER_ARGUMENTS.sub(r"\1(", ON_CLUSTER.sub("", cmd))
        return self._client.command(single_host, parameters=parameters, settings=settings)

    def query(self, query: str, parameters: Any = None) -> Any:
        return self._client.query(query, parameters=parameters)

    def insert(self, table: str, data: Any, **kwargs: Any) -> Any:
        return self._client.insert(table, data, **kwargs)


def parsed(client: Client, statement: str) -> str:
    result = client.query("SELECT formatQuerySingleLine({sql:String})", parameters={"sql": statement})
    return str(result.result_rows[0][0])


@pytest.fixture(scope="module")
def parsed_cluster(engine: Path) -> list[str]:
    client = connect(engine, "default")
    try:
        return [parsed(client, statement) for statement in cluster_statements()]
    finally:
        client.close()


def test_the_engine_parses_every_cluster_statement_into_the_clusters_shape(parsed_cluster):
    creates = [s for s in parsed_cluster if s.startswith("CREATE TABLE")]
    local = {m[1] for s in creates if (m := LOCAL_ENGINE.match(s))}
    distributed = {m[1] for s in creates if (m := DISTRIBUTED.match(s))}
    assert len(local) + len(distributed) == len(creates), "a CREATE TABLE is neither local nor Distributed"
    assert local == distributed == set(SHARDING_KEYS)
    for statement in parsed_cluster:
        if statement.startswith(("CREATE", "ALTER")):
            assert ON_CLUSTER.search(statement), statement
        else:
            assert statement.startswith("INSERT INTO") and "SETTINGS insert_distributed_sync = 1" in statement


def test_views_read_the_distributed_tables_and_subqueries_are_global(parsed_cluster):
    views = [s for s in parsed_cluster if re.match(r"CREATE (OR REPLACE )?VIEW", s)]
    assert views
    for view in views:
        assert LOCAL_SUFFIX + " " not in view and not re.search(r"\w_local\b", view), view
        assert not re.search(r"(?<!GLOBAL )(?<!GLOBAL NOT )\bIN \(SELECT", view), view


def test_alters_go_to_the_local_tables_and_columns_to_both(parsed_cluster):
    alters = [s for s in parsed_cluster if s.startswith("ALTER")]
    assert alters and all(re.match(r"ALTER TABLE \w+ ON CLUSTER", s) for s in alters)
    for alter in alters:
        table = alter.split()[2]
        if not table.endswith(LOCAL_SUFFIX):
            assert "ADD COLUMN" in alter or "DROP COLUMN" in alter, f"only columns reach {table}: {alter}"


def test_the_single_server_statements_parse_without_any_cluster(engine):
    client = connect(engine, "default")
    try:
        for statement in single_statements():
            assert not re.search(r"ON CLUSTER|Replicated|Distributed|GLOBAL", parsed(client, statement))
    finally:
        client.close()


@pytest.fixture(scope="module")
def warehouses(engine: Path) -> Iterator[tuple[Client, Client, OneHostCluster]]:
    """The same rows in a single-server warehouse and one rendered for the one-shard cluster."""
    single = connect(engine, "single")
    sharded = connect(engine, "sharded", dict(SYNC_INSERT_SETTINGS))
    apply_migrations(single)
    runner = OneHostCluster(sharded)
    apply_migrations(runner, cluster=CLUSTER)  # type: ignore[arg-type]
    for client in (single, sharded):
        write_rows(client)
    yield single, sharded, runner
    single.close()
    sharded.close()


def write_rows(client: Client) -> None:
    """The rows of test_queries, with a second version of a session and a second partition's
    rollup, so that versions must collapse and rows spread over shards."""
    write_queried_rows(
        client,
        more_sessions=[session("b", "d1", "AutoCAD", 5, 9, version=2)],
        more_rollups=[ProductMinuteRollup(T0 + 2 * MIN, "AutoCAD", ("b",), ("d1",), 20_000, 1, "agent", 1, 3)],
    )


def test_the_runner_ran_the_whole_rendering_and_recorded_it(warehouses):
    _, sharded, runner = warehouses
    assert runner.sent[:2] == ledger_statements(CLUSTER)
    assert [s for s in runner.sent if not s.startswith("SELECT engine")] == cluster_statements()
    assert apply_migrations(OneHostCluster(sharded), cluster=CLUSTER) == []  # type: ignore[arg-type]
    assert sharded.command("SELECT count() FROM warehouse_identity") == 1


def tables(client: Client) -> dict[str, str]:
    rows = client.query("SELECT name, engine FROM system.tables WHERE database = currentDatabase()").result_rows
    return {str(name): str(engine) for name, engine in rows}


def columns(client: Client, table: str) -> list[tuple[str, str]]:
    rows = client.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
        "ORDER BY position",
        parameters={"t": table},
    ).result_rows
    return [(str(name), str(kind)) for name, kind in rows]


def test_every_table_is_distributed_over_a_local_table_with_the_same_columns(warehouses):
    single, sharded, _ = warehouses
    single_tables, sharded_tables = tables(single), tables(sharded)
    assert {n.removesuffix(LOCAL_SUFFIX) for n in sharded_tables} == set(single_tables)
    for name, engine in single_tables.items():
        if engine == "View":
            assert sharded_tables[name] == "View"
            continue
        assert sharded_tables[name] == "Distributed"
        assert sharded_tables[name + LOCAL_SUFFIX] == engine
        assert columns(sharded, name) == columns(sharded, name + LOCAL_SUFFIX) == columns(single, name), name


@pytest.mark.parametrize(("name", "parameters", "columns_read"), CASES)
def test_every_query_answers_as_on_a_single_server(warehouses, name, parameters, columns_read):
    single, sharded, _ = warehouses
    expected = single.query(queries.load(name), parameters=parameters)
    got = sharded.query(queries.load(name), parameters=parameters)
    assert list(got.column_names) == list(expected.column_names) == columns_read
    if name in WRITE_TIMES:
        assert len(got.result_rows) == len(expected.result_rows) == 1
        return
    assert expected.result_rows, f"{name}.sql matched nothing: the comparison would prove nothing"
    assert sorted(map(repr, got.result_rows)) == sorted(map(repr, expected.result_rows))
