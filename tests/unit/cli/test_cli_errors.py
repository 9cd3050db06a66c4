"""The error boundary's classification: each known failure as the one line a person reads."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from pydantic import ValidationError

from schemas.settings import Settings
from sinks.clickhouse.warehouse import WarehouseInUseError
from streams.cli.errors import EXIT_KAFKA, EXIT_WAREHOUSE_IN_USE, describe_failure
from streams.tools.sql_query import format_clause

SERVER_TYPO = (
    "Received ClickHouse exception, code: 47, server response: Code: 47. DB::Exception: Unknown expression "
    "identifier `nope`. In scope SELECT nope FROM usage_sessions. (UNKNOWN_IDENTIFIER) (version 26.9.2.1) "
    "(for url http://127.0.0.1:8123)"
)
ENGINE_MISSING_TABLE = (
    "Code: 60. DB::Exception: Unknown table expression identifier 'license_pools'. In scope SELECT pool_id "
    "FROM license_pools FINAL. (UNKNOWN_TABLE)\nStack trace:\n0. DB::Exception::Exception() @ 0x1"
)
REFUSED = (
    "Error HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded (Caused by NewConnectionError("
    '"Failed to establish a new connection: [Errno 111] Connection refused")) executing HTTP request'
)


def settings_error() -> ValidationError:
    try:
        Settings.model_validate({"kafka": {"security_protocol": "SASL_SSL"}})
    except ValidationError as exc:
        return exc
    raise AssertionError("the settings were accepted")


@pytest.mark.parametrize(
    ("error", "message", "exit_code"),
    [
        pytest.param(
            DatabaseError(SERVER_TYPO),
            "warehouse: Unknown expression identifier `nope` (UNKNOWN_IDENTIFIER)",
            1,
            id="a server's error: the engine's message without query, version and url",
        ),
        pytest.param(
            DatabaseError(ENGINE_MISSING_TABLE),
            "warehouse: Unknown table expression identifier 'license_pools' (UNKNOWN_TABLE); "
            "if this warehouse is new, run `seatmeter migrate` first",
            1,
            id="an unmigrated warehouse: no stack trace, and what to do",
        ),
        pytest.param(
            OperationalError(REFUSED),
            "cannot reach the warehouse: Connection refused. Check SEATMETER_WAREHOUSE__URL and that the server runs.",
            1,
            id="an unreachable server",
        ),
        pytest.param(
            settings_error(),
            "invalid SEATMETER_KAFKA: security_protocol SASL_SSL needs sasl_username and sasl_password",
            1,
            id="refused settings are named by their environment variable",
        ),
        pytest.param(
            FileNotFoundError(2, "No such file or directory", "/data/export.jsonl"),
            "/data/export.jsonl: No such file or directory",
            1,
            id="a missing file: path and reason",
        ),
        pytest.param(WarehouseInUseError("in use"), "in use", EXIT_WAREHOUSE_IN_USE, id="a locked warehouse"),
        pytest.param(
            KafkaConnectionError("Unable to bootstrap"),
            "Kafka: KafkaConnectionError: Unable to bootstrap. Check SEATMETER_KAFKA__BOOTSTRAP_SERVERS and the "
            "security settings.",
            EXIT_KAFKA,
            id="an unreachable broker",
        ),
        pytest.param(
            ZeroDivisionError("division by zero"),
            "unexpected ZeroDivisionError: division by zero. This is a bug: rerun with `seatmeter --debug ...` "
            "and report the traceback.",
            1,
            id="anything else is called a bug, still in one line",
        ),
    ],
)
def test_a_failure_is_described_in_one_line(error, message, exit_code):
    failure = describe_failure(error)
    assert (failure.message, failure.exit_code) == (message, exit_code)
    assert "\n" not in failure.message


@pytest.mark.parametrize(
    ("query", "fmt"),
    [
        pytest.param("SELECT 1 FORMAT Vertical", "Vertical", id="a trailing clause"),
        pytest.param("select 1 format csvwithnames;\n", "csvwithnames", id="any case, a semicolon"),
        pytest.param("SELECT 1 FORMAT JSON SETTINGS max_threads = 1", "JSON", id="settings after the format"),
        pytest.param("SELECT 'FORMAT JSON'", None, id="inside a string literal"),
        pytest.param("SELECT 1 -- FORMAT JSON", None, id="inside a comment"),
        pytest.param("SELECT formatDateTime(now(), '%F') AS format", None, id="a function and an alias"),
        pytest.param("SELECT 1", None, id="no clause"),
    ],
)
def test_a_query_names_its_own_format(query, fmt):
    assert format_clause(query) == fmt
