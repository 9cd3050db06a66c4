"""The real clickhouse-connect HTTP client against the chDB-backed HTTP test fixture.

Every test here talks to ClickHouse's engine (through chDB) over real HTTP on
127.0.0.1 using clickhouse-connect's production ``http://`` client, unmodified. The
fixture is a test stand-in, not a ClickHouse server; see tests/support/chdb_http.py.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal

import chdb
import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.support.chdb_http import ChdbHttpServer
from tests.support.fixtures import FIXTURE_PASSWORD, chdb_http_server  # noqa: F401 - pytest fixture

pytestmark = pytest.mark.clickhouse

AUTH = {"Authorization": "Basic " + base64.b64encode(f"default:{FIXTURE_PASSWORD}".encode()).decode()}


def connect(**options):
    """clickhouse-connect's HTTP client as the warehouse configures it (no compression)."""
    return clickhouse_connect.get_client(compress=False, **options)


@pytest.fixture
def client(chdb_http_server):  # noqa: F811 - pytest fixture injection
    c = connect(host=chdb_http_server.host, port=chdb_http_server.port, username="default", password=FIXTURE_PASSWORD)
    try:
        yield c
    finally:
        c.close()


def _http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None):
    """A plain urllib request; returns (status, headers, body) for success and error alike."""
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as ex:
        with ex:
            return ex.code, ex.headers, ex.read()


# --------------------------------------------------------------------------- connect


def test_ping_and_connect_handshake(chdb_http_server):  # noqa: F811
    status, _, body = _http(chdb_http_server.base_url + "/ping")
    assert (status, body) == (200, b"Ok.\n")

    c = connect(host="127.0.0.1", port=chdb_http_server.port, username="default", password=FIXTURE_PASSWORD)
    try:
        assert c.ping() is True
        assert c.server_version == chdb_http_server.engine_version == chdb.engine_version
        # The handshake really went over HTTP to the engine: version, timezone and the
        # settings table were read from it.
        handshake = [r.query for r in chdb_http_server.requests]
        assert any(q.startswith("SELECT version(), timezone()") for q in handshake)
        assert any("FROM system.settings" in q for q in handshake)
        assert "insert_deduplication_token" in c.server_settings
        assert c.command("SELECT currentUser()") == "default"
    finally:
        c.close()


def test_dsn_connect_with_database(chdb_http_server):  # noqa: F811
    c = connect(dsn=chdb_http_server.dsn("default"))
    try:
        assert chdb_http_server.url == f"http://default:{FIXTURE_PASSWORD}@127.0.0.1:{chdb_http_server.port}"
        c.command("CREATE DATABASE seat_db")
        c.command("CREATE TABLE seat_db.t (x UInt8) ENGINE = MergeTree ORDER BY x")
        c.command("INSERT INTO seat_db.t VALUES (7)")
    finally:
        c.close()
    # The database in the dsn path becomes the request's current database.
    c2 = connect(dsn=chdb_http_server.dsn("seat_db"))
    try:
        assert c2.command("SELECT currentDatabase()") == "seat_db"
        assert c2.query("SELECT x FROM t").result_rows == [(7,)]
    finally:
        c2.close()


def test_wrong_password_is_rejected(chdb_http_server):  # noqa: F811
    with pytest.raises(DatabaseError) as info:
        connect(
            host="127.0.0.1",
            port=chdb_http_server.port,
            username="default",
            password="not-the-password",  # noqa: S106
        )
    assert info.value.code == 516
    assert "AUTHENTICATION_FAILED" in str(info.value)
    with pytest.raises(DatabaseError) as info:
        connect(host="127.0.0.1", port=chdb_http_server.port, username="someone", password=FIXTURE_PASSWORD)
    assert info.value.code == 516

    # On the wire: ClickHouse's status for AUTHENTICATION_FAILED and its exception header.
    wrong = {"Authorization": "Basic " + base64.b64encode(b"default:nope").decode()}
    status, headers, body = _http(chdb_http_server.base_url + "/", data=b"SELECT 1", headers=wrong)
    assert status == 403
    assert headers["X-ClickHouse-Exception-Code"] == "516"
    assert body.startswith(b"Code: 516. DB::Exception: default: Authentication failed")
    # ...and the right password over the same raw path works.
    status, _, body = _http(chdb_http_server.base_url + "/", data=b"SELECT 41 + 1", headers=AUTH)
    assert (status, body) == (200, b"42\n")


# --------------------------------------------------------------------------- inserts and types

TYPED_DDL = """
CREATE TABLE seats (
    id UInt32,
    ts DateTime('UTC'),
    ts_ms DateTime64(3, 'UTC'),
    amount Decimal(18, 3),
    region LowCardinality(String),
    tags Array(String),
    attrs Map(String, String),
    note Nullable(String)
) ENGINE = MergeTree ORDER BY id
"""

COLUMNS = ["id", "ts", "ts_ms", "amount", "region", "tags", "attrs", "note"]

ROWS = [
    [
        1,
        datetime(2024, 5, 17, 12, 34, 56, tzinfo=UTC),
        datetime(2024, 5, 17, 12, 34, 56, 789000, tzinfo=UTC),
        Decimal("12345.678"),
        "eu-west",
        ["a", "b"],
        {"k": "v", "x": "y"},
        None,
    ],
    [
        2,
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2000, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
        Decimal("-0.001"),
        "us-east",
        [],
        {},
        "n\u00e9\t'quoted'",
    ],
]

COLUMN_DATA = [
    [3, 4],
    [datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)],
    [datetime(2030, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), datetime(2106, 2, 7, 6, 28, 15, 999000, tzinfo=UTC)],
    [Decimal("999999999999999.999"), Decimal("0.000")],
    ["eu-west", "ap-south"],
    [["x"], ["", "\u2603"]],
    [{"only": ""}, {"a": "1", "b": "2"}],
    ["x", None],
]

# The engine's own text rendering of what it stored, independent of client decoding.
STORED_AS_TEXT = [
    [
        1,
        "2024-05-17 12:34:56",
        "2024-05-17 12:34:56.789",
        "12345.678",
        "eu-west",
        "['a','b']",
        "{'k':'v','x':'y'}",
        None,
    ],
    [
        2,
        "1999-12-31 23:59:59",
        "2000-01-01 00:00:00.001",
        "-0.001",
        "us-east",
        "[]",
        "{}",
        "n\u00e9\t'quoted'",
    ],
    [
        3,
        "2030-01-02 03:04:05",
        "2030-01-02 03:04:05.006",
        "999999999999999.999",
        "eu-west",
        "['x']",
        "{'only':''}",
        "x",
    ],
    [
        4,
        "1970-01-01 00:00:01",
        "2106-02-07 06:28:15.999",
        "0",
        "ap-south",
        "['','\u2603']",
        "{'a':'1','b':'2'}",
        None,
    ],
]


def test_row_and_column_oriented_insert_round_trip(client, chdb_http_server):  # noqa: F811
    client.command(TYPED_DDL)

    summary = client.insert("seats", ROWS, column_names=COLUMNS)
    assert summary.written_rows == 2
    summary = client.insert("seats", COLUMN_DATA, column_names=COLUMNS, column_oriented=True)
    assert summary.written_rows == 2
    # clickhouse-connect streams "INSERT ... FORMAT Native" + Native blocks as the body.
    inserts = [r for r in chdb_http_server.requests if r.query.startswith("INSERT INTO")]
    assert [r.query.split("\n")[0] for r in inserts] == [
        "INSERT INTO `seats` (`id`, `ts`, `ts_ms`, `amount`, `region`, `tags`, `attrs`, `note`) FORMAT Native"
    ] * 2
    assert all(r.status == 200 and r.query.split("\n")[1].endswith("bytes of data>") for r in inserts)

    # What the engine stored, rendered by the engine.
    raw = client.raw_query(
        "SELECT id, toString(ts), toString(ts_ms), toString(amount), toString(region), toString(tags), "
        "toString(attrs), note FROM seats ORDER BY id",
        fmt="JSONCompactEachRow",
    ).decode()
    stored = [json.loads(line) for line in raw.splitlines()]
    assert stored == STORED_AS_TEXT

    # What clickhouse-connect decodes from the Native response (naive UTC by default).
    result = client.query(f"SELECT {', '.join(COLUMNS)} FROM seats ORDER BY id")  # noqa: S608
    assert result.column_names == tuple(COLUMNS)
    schema = [
        "UInt32",
        "DateTime('UTC')",
        "DateTime64(3, 'UTC')",
        "Decimal(18, 3)",
        "LowCardinality(String)",
        "Array(String)",
        "Map(String, String)",
        "Nullable(String)",
    ]
    assert [row[1] for row in client.query("DESCRIBE TABLE seats").result_rows] == schema
    # The fixture ignores client_protocol_version, so clickhouse-connect falls back to
    # protocol 0, and at protocol 0 ClickHouse's Native writer drops the timezone from
    # DateTime (not DateTime64) type names -- as a real server does for such clients.
    # The values are still exact instants, decoded in the server timezone (UTC).
    assert client.protocol_version == 0
    assert [t.name for t in result.column_types] == ["DateTime" if t == "DateTime('UTC')" else t for t in schema]
    naive = lambda d: d.astimezone(UTC).replace(tzinfo=None)  # noqa: E731
    expected = [
        (r[0], naive(r[1]), naive(r[2]), r[3], r[4], r[5], r[6], r[7])
        for r in ROWS + [list(row) for row in zip(*COLUMN_DATA, strict=True)]
    ]
    assert result.result_rows == expected
    amounts = [row[3] for row in result.result_rows]
    assert all(isinstance(a, Decimal) for a in amounts)
    assert str(amounts[0]) == "12345.678"

    # The same data timezone-aware, as the schema declares it.
    aware = client.query("SELECT ts, ts_ms FROM seats WHERE id = 1", tz_mode="aware").result_rows
    assert aware == [(ROWS[0][1], ROWS[0][2])]


def test_query_parameters_and_settings(client, chdb_http_server):  # noqa: F811
    row = client.query(
        "SELECT {a:UInt32} + 1, {s:String}, {when:DateTime('UTC')}",
        parameters={"a": 41, "s": "it's\ta\\test", "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)},
    ).result_rows
    assert row == [(42, "it's\ta\\test", datetime(2024, 1, 2, 3, 4, 5))]

    # A per-query setting reaches the engine, and does not leak into the next query
    # (clickhouse-connect sends a session_id, so both run in the same fixture session).
    assert client.query("SELECT getSetting('max_block_size')", settings={"max_block_size": 777}).result_rows == [(777,)]
    assert client.query("SELECT getSetting('max_block_size')").result_rows != [(777,)]
    assert chdb_http_server.requests[-2].settings["max_block_size"] == "777"
    assert chdb_http_server.requests[-2].session_id

    # Session state is refused, not emulated: the project never sets any.
    with pytest.raises(DatabaseError) as info:
        client.command("SET max_threads = 1")
    assert info.value.code == 48

    # An unknown setting is the engine's error, as with a real server.
    with pytest.raises(DatabaseError) as info:
        client.query("SELECT 1", settings={"no_such_setting_xyz": 1})
    assert info.value.code == 115
    assert "no_such_setting_xyz" in str(info.value)


def test_long_bind_parameter_uses_form_encoding(client, chdb_http_server):  # noqa: F811
    long_value = "seat-" * 2000  # > 4096 bytes: clickhouse-connect switches to multipart/form-data
    assert client.query("SELECT length({v:String})", parameters={"v": long_value}).result_rows == [(len(long_value),)]
    last = chdb_http_server.requests[-1]
    assert last.headers["Content-Type"].startswith("multipart/form-data")
    assert "param_v" not in last.params


def _compressing_client(server: ChdbHttpServer, compress: str | bool):
    return clickhouse_connect.get_client(
        host="127.0.0.1", port=server.port, username="default", password=FIXTURE_PASSWORD, compress=compress
    )


def test_an_uncompressed_client_round_trips_a_chunked_insert(chdb_http_server):  # noqa: F811
    """``compress=False``, as the warehouse connects: chunked identity bodies both ways."""
    c = _compressing_client(chdb_http_server, False)
    try:
        c.command("CREATE TABLE z (id UInt32, s String) ENGINE = MergeTree ORDER BY id")
        rows = [[i, f"value-{i}" * 3] for i in range(2000)]
        c.insert("z", rows, column_names=["id", "s"])
        insert = [r for r in chdb_http_server.requests if r.query.startswith("INSERT")][-1]
        got = c.query("SELECT id, s FROM z ORDER BY id").result_rows
    finally:
        c.close()
    assert got == [tuple(r) for r in rows]
    assert insert.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Encoding" not in insert.headers


def test_compressed_bodies_are_refused_and_answers_come_uncompressed(chdb_http_server):  # noqa: F811
    c = _compressing_client(chdb_http_server, "gzip")
    try:
        c.command("CREATE TABLE z (id UInt32) ENGINE = MergeTree ORDER BY id")
        with pytest.raises(DatabaseError) as info:
            c.insert("z", [[1]], column_names=["id"])
        assert info.value.code == 48
        assert c.query("SELECT count() FROM z").result_rows == [(0,)]
    finally:
        c.close()


# --------------------------------------------------------------------------- engine features


def test_aggregating_merge_tree_with_uniq_exact_array_state_view(client):
    client.command(
        "CREATE TABLE seat_events (day Date, seat String, users Array(String)) ENGINE = MergeTree ORDER BY (day, seat)"
    )
    client.command(
        "CREATE TABLE seat_users_daily (day Date, users AggregateFunction(uniqExactArray, Array(String))) "
        "ENGINE = AggregatingMergeTree ORDER BY day"
    )
    client.command(
        "CREATE MATERIALIZED VIEW seat_users_mv TO seat_users_daily AS "
        "SELECT day, uniqExactArrayState(users) AS users FROM seat_events GROUP BY day"
    )
    d1, d2 = datetime(2024, 3, 1).date(), datetime(2024, 3, 2).date()
    first = client.insert(
        "seat_events",
        [[d1, "s1", ["alice", "bob"]], [d1, "s2", ["bob", "carol"]], [d2, "s1", ["dave"]]],
        column_names=["day", "seat", "users"],
    )
    # written_rows counts the view's rows too (3 source rows + 2 aggregated rows).
    assert first.written_rows == 5
    client.insert(
        "seat_events",
        [[d1, "s3", ["alice", "erin"]], [d2, "s2", ["dave", "dave", "frank"]]],
        column_names=["day", "seat", "users"],
    )
    query = "SELECT day, uniqExactArrayMerge(users) FROM seat_users_daily GROUP BY day ORDER BY day"
    assert client.query(query).result_rows == [(d1, 4), (d2, 2)]
    # Two inserts left two parts of partial states; merging them keeps the answer.
    assert client.command("SELECT count() FROM seat_users_daily") == 4
    client.command("OPTIMIZE TABLE seat_users_daily FINAL")
    assert client.command("SELECT count() FROM seat_users_daily") == 2
    assert client.query(query).result_rows == [(d1, 4), (d2, 2)]


def test_insert_deduplication_token_is_applied(client, chdb_http_server):  # noqa: F811
    client.command(
        "CREATE TABLE dedup (id UInt32) ENGINE = MergeTree ORDER BY id "
        "SETTINGS non_replicated_deduplication_window = 100"
    )
    client.insert("dedup", [[1], [2]], column_names=["id"], settings={"insert_deduplication_token": "batch-1"})
    # A retry of the same batch id with different bytes is still dropped: the token, not
    # the data hash, identifies the block, so the setting really reached the engine.
    client.insert("dedup", [[3]], column_names=["id"], settings={"insert_deduplication_token": "batch-1"})
    client.insert("dedup", [[4]], column_names=["id"], settings={"insert_deduplication_token": "batch-2"})
    assert client.query("SELECT id FROM dedup ORDER BY id").result_rows == [(1,), (2,), (4,)]
    tokens = [
        r.settings.get("insert_deduplication_token") for r in chdb_http_server.requests if r.query.startswith("INSERT")
    ]
    assert tokens == ["batch-1", "batch-1", "batch-2"]


# --------------------------------------------------------------------------- errors


def test_server_errors_surface_as_database_error(client):
    with pytest.raises(DatabaseError) as info:
        client.query("SELECT * FROM missing_seats")
    assert info.value.code == 60
    assert "UNKNOWN_TABLE" in str(info.value)
    assert "missing_seats" in str(info.value)

    with pytest.raises(DatabaseError) as info:
        client.command("CREATE TABLE bad (x UInt8) ENGINE = NoSuchEngine")
    assert "NoSuchEngine" in str(info.value)

    # An error raised by the engine while it consumes Native insert data.
    client.command("CREATE TABLE checked (x UInt8, CONSTRAINT positive CHECK x > 0) ENGINE = MergeTree ORDER BY x")
    with pytest.raises(DatabaseError) as info:
        client.insert("checked", [[1], [0]], column_names=["x"])
    assert "VIOLATED_CONSTRAINT" in str(info.value)
    assert client.command("SELECT count() FROM checked") == 0

    # The client is still usable after errors.
    assert client.command("SELECT 1") == 1


# --------------------------------------------------------------------------- lifecycle and limits


def _fixture_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("chdb-http-fixture")]


def test_stop_joins_threads_and_drops_connections(chdb_http_server):  # noqa: F811
    clients = [
        connect(host="127.0.0.1", port=chdb_http_server.port, password=FIXTURE_PASSWORD, username="default")
        for _ in range(3)
    ]
    for c in clients:
        assert c.command("SELECT 1") == 1
    assert _fixture_threads()  # keep-alive connections are being served
    chdb_http_server.stop()
    assert chdb_http_server.thread_names() == []
    assert _fixture_threads() == []
    for c in clients:
        c.close()
    chdb_http_server.stop()  # idempotent


def test_one_chdb_engine_path_per_process(chdb_http_server, tmp_path):  # noqa: F811
    """Documents chDB's limit: while one path is open, no other path (nor :memory:) can open."""
    other = ChdbHttpServer(str(tmp_path / "other-data"))
    with pytest.raises(Exception, match="already initialized with path"):
        other.start()
    with pytest.raises(Exception, match="already initialized with path"):
        chdb.query("SELECT 1")
    # A second connection to the *same* path is fine (each is its own session).
    same = chdb.connect(chdb_http_server.path)
    try:
        assert same.query("SELECT 1", "CSV").bytes() == b"1\n"
    finally:
        same.close()
    # Once the running fixture has closed every connection, another path can open.
    chdb_http_server.stop()
    with ChdbHttpServer(str(tmp_path / "other-data"), password="pw2") as second:  # noqa: S106
        c = connect(dsn=second.dsn())
        try:
            assert c.command("SELECT 2") == 2
        finally:
            c.close()
    assert chdb.query("SELECT 3", "CSV").bytes() == b"3\n"


def test_raw_http_interface_details(chdb_http_server):  # noqa: F811
    base, auth = chdb_http_server.base_url, AUTH

    # A query: TabSeparated by default, ClickHouse response headers.
    status, headers, body = _http(base + "/", data=b"SELECT 1, 'a'", headers=auth)
    assert (status, body) == (200, b"1\ta\n")
    assert headers["X-ClickHouse-Format"] == "TabSeparated"
    assert headers["X-ClickHouse-Timezone"] == chdb_http_server.server_timezone
    assert json.loads(headers["X-ClickHouse-Summary"])["read_rows"] == "1"
    # Queries come by POST only.
    status, headers, body = _http(base + "/?query=SELECT%201", headers=auth)
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (501, "48")

    # POST: the query parameter and the body are joined with a newline (INSERT data).
    assert _http(base + "/", data=b"CREATE TABLE p (x UInt8, s String) ENGINE = Memory", headers=auth)[0] == 200
    status, headers, body = _http(
        base + "/?query=INSERT%20INTO%20p%20FORMAT%20TSV", data=b"1\tone\n2\ttwo\n", headers=auth
    )
    assert (status, body) == (200, b"")
    assert "X-ClickHouse-Format" not in headers
    assert json.loads(headers["X-ClickHouse-Summary"])["written_rows"] == "2"
    status, headers, body = _http(
        base + "/", data=b"SELECT * FROM p ORDER BY x FORMAT JSONCompactEachRow", headers=auth
    )
    assert [json.loads(line) for line in body.splitlines()] == [[1, "one"], [2, "two"]]
    assert headers["X-ClickHouse-Format"] == "JSONCompactEachRow"

    # Sessions keep no state: a SET in one is refused, outside one it lasts for its request only.
    status, headers, _ = _http(base + "/?session_id=s1", data=b"SET max_threads = 1", headers=auth)
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (501, "48")
    assert _http(base + "/?max_threads=1", data=b"SELECT getSetting('max_threads')", headers=auth)[2] == b"1\n"
    assert _http(base + "/?session_id=s1", data=b"SELECT getSetting('max_threads')", headers=auth)[2] != b"1\n"

    # Refused, not emulated: ClickHouse-native compression.
    status, headers, _ = _http(base + "/?compress=1", data=b"SELECT 1", headers=auth)
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (501, "48")

    # Unknown paths are 404; /ping needs no credentials.
    assert _http(base + "/play")[0] == 404
    assert _http(base + "/ping")[2] == b"Ok.\n"


def test_concurrent_clients_are_served(chdb_http_server):  # noqa: F811
    setup = connect(dsn=chdb_http_server.dsn())
    setup.command("CREATE TABLE hits (worker UInt8, n UInt32) ENGINE = MergeTree ORDER BY (worker, n)")
    setup.close()
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            c = connect(dsn=chdb_http_server.dsn())
            try:
                for batch in range(5):
                    c.insert("hits", [[worker, batch * 10 + i] for i in range(10)], column_names=["worker", "n"])
                    assert c.query(
                        "SELECT count() FROM hits WHERE worker = {w:UInt8}", parameters={"w": worker}
                    ).result_rows == [((batch + 1) * 10,)]
            finally:
                c.close()
        except BaseException as ex:  # noqa: BLE001 - reported below
            errors.append(ex)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    check = connect(dsn=chdb_http_server.dsn())
    try:
        assert check.query("SELECT worker, count(), sum(n) FROM hits GROUP BY worker ORDER BY worker").result_rows == [
            (w, 50, sum(range(50))) for w in range(4)
        ]
    finally:
        check.close()


@pytest.mark.parametrize("rows", [9, 10, 11])
def test_insert_blocks_that_start_with_newline_bytes(client, rows):
    """10 rows and a 10-letter first column make a Native block start with two newline bytes,
    which chDB misreads as inline query data; the fixture passes the data as a file instead."""
    client.command("CREATE TABLE blocks (session_id UInt64, b String) ENGINE = MergeTree ORDER BY tuple()")
    client.insert("blocks", [[i, f"v{i}"] for i in range(rows)], column_names=["session_id", "b"])
    assert client.query("SELECT count(), sum(session_id) FROM blocks").result_rows == [(rows, sum(range(rows)))]
