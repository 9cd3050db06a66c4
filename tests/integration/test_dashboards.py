"""The provisioned Grafana dashboards run against the real warehouse schema.

Every ClickHouse query in ``deploy/grafana/dashboards/*.json`` (panel targets and template
variable queries) is expanded to plain SQL and executed on a fresh embedded warehouse (chDB)
built by the project's own migrations, after seeding a few rows into ``product_usage_1m_parts``
and ``dead_letters``. Every Prometheus expression may only use the worker's documented metrics.

Macro expansion
---------------
The Grafana ClickHouse plugin (``grafana-clickhouse-datasource``) rewrites a few ``$__`` macros
on its backend before sending SQL to ClickHouse. :func:`expand_macros` reimplements the ones the
dashboards may use, with the same output shape as the plugin (times in whole seconds or in
milliseconds since the epoch, UTC):

==========================  ===================================================================
``$__timeFilter(col)``      ``col >= toDateTime(<from s>) AND col <= toDateTime(<to s>)``
``$__timeFilter_ms(col)``   same with ``fromUnixTimestamp64Milli(<ms>)`` bounds
``$__dateFilter(col)``      ``col >= toDate('<from day>') AND col <= toDate('<to day>')``
``$__fromTime``/``$__toTime``        ``toDateTime(<s>)``
``$__fromTime_ms``/``$__toTime_ms``  ``fromUnixTimestamp64Milli(<ms>)``
``$__timeInterval(col)``    ``toStartOfInterval(toDateTime(col), INTERVAL <interval s> second)``
``$__timeInterval_ms(col)`` ``toStartOfInterval(toDateTime64(col, 3), INTERVAL <ms> millisecond)``
``$__interval_s``           the panel interval in whole seconds (at least 1)
==========================  ===================================================================

Grafana template variables are expanded the way Grafana's frontend does it for the formats used
here: ``${name:singlequote}`` becomes ``'a','b'`` (quotes escaped), ``$name``/``${name}`` becomes
the raw values joined by commas. A variable set to "All" takes every value its own query returns,
so the ``product`` variable is resolved by running its query first. Anything left that still looks
like a macro or a variable fails the test, so a dashboard cannot use a macro this expander (and so
this test) does not understand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "deploy" / "grafana" / "dashboards"
DATASOURCES_FILE = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yml"
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"

CLICKHOUSE_TYPE = "grafana-clickhouse-datasource"
PROMETHEUS_TYPE = "prometheus"

# The worker's metrics (README / interface contract). Histograms expose _bucket/_sum/_count series.
WORKER_METRICS = frozenset(
    {
        "seatmeter_pool_seats",
        "seatmeter_pool_seats_in_use",
        "seatmeter_alerts_open",
        "seatmeter_alert_evaluation_timestamp_seconds",
        "seatmeter_events_consumed_total",
        "seatmeter_events_invalid_total",
        "seatmeter_dead_letters_total",
        "seatmeter_warehouse_rows_written_total",
        "seatmeter_warehouse_insert_errors_total",
        "seatmeter_consumer_lag",
    }
)
WORKER_HISTOGRAMS = frozenset({"seatmeter_warehouse_flush_seconds"})
ALLOWED_METRICS = WORKER_METRICS | {
    f"{h}{suffix}" for h in WORKER_HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")
}

# The dashboards are queried over six hours of yesterday (UTC), with a one-minute panel interval.
# Relative to today because the tables have TTLs (dead letters: 90 days): older seed rows could be
# dropped by a merge while the test runs.
RANGE_FROM = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
RANGE_TO = RANGE_FROM + timedelta(hours=6)
BEFORE_RANGE = RANGE_FROM - timedelta(hours=12)
INTERVAL_SECONDS = 60

TOPIC = "seatmeter.agent-usage"


# --------------------------------------------------------------------------- dashboard loading


@dataclass(frozen=True)
class Query:
    dashboard: str
    title: str  # panel title, or "var:<name>" for a template variable query
    text: str  # rawSql (ClickHouse) or expr (Prometheus)
    fmt: int | None  # ClickHouse format: 0 time series, 1 table; None for variables


def _dashboards() -> list[tuple[str, dict[str, Any]]]:
    files = sorted(DASHBOARD_DIR.glob("*.json"))
    assert files, f"no dashboards in {DASHBOARD_DIR}"
    return [(f.name, json.loads(f.read_text())) for f in files]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # collapsed rows keep their panels inside


def _ds_type(obj: dict[str, Any], default: dict[str, Any] | None = None) -> str | None:
    ds = obj.get("datasource") or default or {}
    return ds.get("type") if isinstance(ds, dict) else None


def _queries(kind: str) -> list[Query]:
    found: list[Query] = []
    for name, board in _dashboards():
        for panel in _panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                if _ds_type(target, panel.get("datasource")) != kind:
                    continue
                text = target.get("rawSql") if kind == CLICKHOUSE_TYPE else target.get("expr")
                assert text, f"{name}: panel {panel.get('title')!r} has an empty {kind} query"
                found.append(Query(name, panel["title"], text, target.get("format")))
        for var in board.get("templating", {}).get("list", []):
            if var.get("type") != "query" or _ds_type(var) != kind:
                continue
            q = var.get("query")
            if isinstance(q, dict):
                q = q.get("rawSql") if kind == CLICKHOUSE_TYPE else q.get("query")
            text = q
            assert text, f"{name}: variable {var['name']!r} has an empty query"
            found.append(Query(name, f"var:{var['name']}", text, None))
    return found


# --------------------------------------------------------------------------- macro expansion


def _epoch(t: datetime) -> int:
    return int(t.timestamp())


def _epoch_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _split_args(text: str, start: int) -> tuple[list[str], int]:
    """Arguments of a macro call whose "(" is at ``start``; returns them and the index after ")"."""
    depth, args, current, i = 0, [], [], start
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
            if depth > 1:
                current.append(ch)
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(current).strip())
                return [a for a in args if a], i + 1
            current.append(ch)
        elif ch == "," and depth == 1:
            args.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    raise ValueError(f"unbalanced parentheses in macro call: {text[start : start + 80]!r}")


def expand_macros(sql: str, start: datetime, end: datetime, interval_s: int) -> str:
    """Rewrite the ClickHouse plugin's ``$__`` macros the way the plugin's backend does."""
    interval_s = max(interval_s, 1)

    def call(name: str, args: list[str]) -> str:
        def one() -> str:
            if len(args) != 1:
                raise ValueError(f"$__{name} takes 1 argument, got {args}")
            return args[0]

        if name == "timeFilter":
            c = one()
            return f"{c} >= toDateTime({_epoch(start)}) AND {c} <= toDateTime({_epoch(end)})"
        if name == "timeFilter_ms":
            c = one()
            return (
                f"{c} >= fromUnixTimestamp64Milli({_epoch_ms(start)}) "
                f"AND {c} <= fromUnixTimestamp64Milli({_epoch_ms(end)})"
            )
        if name == "dateFilter":
            c = one()
            return f"{c} >= toDate('{start.date()}') AND {c} <= toDate('{end.date()}')"
        if name == "timeInterval":
            return f"toStartOfInterval(toDateTime({one()}), INTERVAL {interval_s} second)"
        if name == "timeInterval_ms":
            return f"toStartOfInterval(toDateTime64({one()}, 3), INTERVAL {interval_s * 1000} millisecond)"
        raise ValueError(f"macro $__{name}(...) is not supported by this test's expander")

    plain = {
        "fromTime": f"toDateTime({_epoch(start)})",
        "toTime": f"toDateTime({_epoch(end)})",
        "fromTime_ms": f"fromUnixTimestamp64Milli({_epoch_ms(start)})",
        "toTime_ms": f"fromUnixTimestamp64Milli({_epoch_ms(end)})",
        "interval_s": str(interval_s),
    }

    out, pos = [], 0
    for m in re.finditer(r"\$__(\w+)", sql):
        if m.start() < pos:
            continue  # inside the arguments of a macro already expanded
        out.append(sql[pos : m.start()])
        name = m.group(1)
        if m.end() < len(sql) and sql[m.end()] == "(":
            args, pos = _split_args(sql, m.end())
            out.append(call(name, args))
        elif name in plain:
            out.append(plain[name])
            pos = m.end()
        else:
            raise ValueError(f"macro $__{name} is not supported by this test's expander")
    out.append(sql[pos:])
    return "".join(out)


def expand_variables(sql: str, variables: dict[str, list[str]]) -> str:
    """Grafana's interpolation of ``${name:singlequote}``, ``${name}`` and ``$name``."""

    def values(name: str) -> list[str]:
        if name not in variables:
            raise ValueError(f"dashboard variable ${name} has no value in this test")
        return variables[name]

    def quoted(name: str) -> str:
        return ",".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values(name))

    def braced(m: re.Match[str]) -> str:
        name, fmt = m.group(1), m.group(2)
        if fmt in (None, "raw", "csv"):
            return ",".join(values(name))
        if fmt == "singlequote":
            return quoted(name)
        raise ValueError(f"variable format ${{{name}:{fmt}}} is not supported by this test")

    sql = re.sub(r"\$\{(\w+)(?::(\w+))?\}", braced, sql)
    return re.sub(r"\$(?!__)([A-Za-z_]\w*)", lambda m: ",".join(values(m.group(1))), sql)


def to_sql(query: Query, variables: dict[str, list[str]]) -> str:
    sql = expand_variables(query.text, variables)
    sql = expand_macros(sql, RANGE_FROM, RANGE_TO, INTERVAL_SECONDS)
    leftover = re.findall(r"\$\{?\w+", sql)
    assert not leftover, f"{query.dashboard} / {query.title}: unexpanded {leftover} in:\n{sql}"
    return sql


def test_expander_matches_the_plugin_shapes() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=1)
    sql = expand_macros(
        "SELECT $__timeInterval(t) AS time FROM x WHERE $__timeFilter(t) AND d < $__toTime_ms "
        "AND $__dateFilter(day) AND f(a, g(b)) = $__interval_s",
        start,
        end,
        30,
    )
    assert sql == (
        "SELECT toStartOfInterval(toDateTime(t), INTERVAL 30 second) AS time FROM x "
        "WHERE t >= toDateTime(1767225600) AND t <= toDateTime(1767229200) "
        "AND d < fromUnixTimestamp64Milli(1767229200000) "
        "AND day >= toDate('2026-01-01') AND day <= toDate('2026-01-01') AND f(a, g(b)) = 30"
    )
    assert expand_variables("p IN (${p:singlequote}) OR q = '$p'", {"p": ["a", "o'b"]}) == (
        "p IN ('a','o\\'b') OR q = 'a,o'b'"
    )
    with pytest.raises(ValueError, match="not supported"):
        expand_macros("SELECT $__conditionalAll(a, $b)", start, end, 1)


# --------------------------------------------------------------------------- dashboard structure


def test_dashboards_are_well_formed() -> None:
    provisioned_uids = set(re.findall(r"^\s*uid:\s*(\S+)\s*$", DATASOURCES_FILE.read_text(), re.M))
    titles = set()
    for name, board in _dashboards():
        assert board.get("uid") and board.get("title"), name
        assert board["schemaVersion"] >= 39, f"{name}: schemaVersion {board['schemaVersion']} is old"
        assert board["title"] not in titles, f"duplicate dashboard title {board['title']!r}"
        titles.add(board["title"])
        ids = [p["id"] for p in _panels(board["panels"])]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for panel in _panels(board["panels"]):
            if panel["type"] == "row":
                continue
            for target in panel.get("targets", []):
                ds = target.get("datasource") or panel.get("datasource")
                where = f"{name}/{panel['title']}"
                assert ds["uid"] in provisioned_uids, f"{where}: datasource {ds} is not provisioned"
                if ds["type"] == CLICKHOUSE_TYPE:
                    # The plugin treats a target without pluginVersion as a v3 query and re-derives
                    # queryType from format, so all three must agree.
                    assert target.get("editorType") == "sql"
                    assert target.get("pluginVersion", "").startswith("4.")
                    shape = (target.get("format"), target.get("queryType"))
                    assert shape in {(0, "timeseries"), (1, "table")}, f"{where}: format/queryType {shape}"
    assert {"Seatmeter / Product usage", "Seatmeter / Pipeline health"} <= titles


# --------------------------------------------------------------------------- Prometheus expressions

_PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
    | {"and", "or", "unless", "inf", "nan"}
)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names referenced by a PromQL expression (or a label_values(...) variable query)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    text = re.sub(r"\$\{?\w+(:\w+)?\}?", " ", text)  # Grafana variables
    m = re.fullmatch(r"\s*label_values\((.*?)(,\s*\w+)?\)\s*", text, re.S)
    if m:
        text = m.group(1)
    names = set()
    for tok in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\()?", text):
        word, is_call = tok.group(1), tok.group(2)
        if is_call or word.lower() in _PROMQL_KEYWORDS or re.fullmatch(r"\d+\w*", word):
            continue
        names.add(word)
    return names


def test_promql_metric_name_extraction() -> None:
    assert promql_metric_names(
        "histogram_quantile(0.95, sum by (le, table) "
        '(rate(seatmeter_warehouse_flush_seconds_bucket{instance=~"$instance"}[$__rate_interval])))'
    ) == {"seatmeter_warehouse_flush_seconds_bucket"}
    assert promql_metric_names("label_values(seatmeter_events_consumed_total, instance)") == {
        "seatmeter_events_consumed_total"
    }
    assert promql_metric_names("a / on (x) group_left (y) b offset 5m > bool 1") == {"a", "b"}


def test_prometheus_panels_use_only_worker_metrics() -> None:
    queries = _queries(PROMETHEUS_TYPE)
    assert queries, "no Prometheus queries found in the dashboards"
    for q in queries:
        names = promql_metric_names(q.text)
        assert names, f"{q.dashboard} / {q.title}: no metric in {q.text!r}"
        unknown = names - ALLOWED_METRICS
        assert not unknown, f"{q.dashboard} / {q.title}: unknown metrics {sorted(unknown)} in {q.text!r}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _rule_expressions(path: Path) -> list[str]:
    """``expr:`` values of a Prometheus rules file (plain or ``|`` block scalars), without a YAML parser."""
    lines = path.read_text().splitlines()
    exprs, i = [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        value = m.group(2).strip()
        if value in ("|", "|-", ">", ">-"):
            indent = len(m.group(1))
            block = []
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
                block.append(lines[i].strip())
                i += 1
            value = " ".join(block)
        exprs.append(value.strip("'\""))
    return exprs


def test_prometheus_rules_use_only_worker_metrics() -> None:
    files = sorted(RULES_DIR.glob("*.yml"))
    assert files
    for path in files:
        for expr in _rule_expressions(path):
            # `up` is Prometheus's own per-target series; recorded series are `level:metric:op`.
            unknown = {n for n in promql_metric_names(expr) if ":" not in n} - ALLOWED_METRICS - {"up"}
            assert not unknown, f"{path.name}: unknown metrics {sorted(unknown)} in {expr!r}"


# --------------------------------------------------------------------------- ClickHouse queries


def _at(hh_mm: str) -> datetime:
    hours, minutes = hh_mm.split(":")
    return RANGE_FROM + timedelta(hours=int(hours), minutes=int(minutes))


USAGE_ROWS = [
    # minute, product, users, devices, active_ms, event_count, partition, batch_last_offset
    (_at("01:00"), "Visual Studio Code", ["u1", "u2"], ["d1", "d2"], 90_500, 10, 0, 100),
    (_at("01:01"), "Visual Studio Code", ["u1"], ["d1"], 60_000, 5, 1, 200),
    (_at("02:00"), "Adobe Acrobat", ["u3"], ["d3"], 30_000, 2, 0, 101),
    # Outside the dashboard range: must not show up anywhere.
    (BEFORE_RANGE, "Retired Tool", ["u9"], ["d9"], 600_000, 40, 2, 50),
]

# Two batches of one person's two Acrobat windows in 02:00, written with their per-(device, user)
# figures: 90 s raw over a 48 s span, which the per-minute view caps at 48 s.
CAPPED_USAGE_ROWS = [
    # minute, product, users, devices, active_ms, event_count, partition, batch_last_offset, use
    (_at("02:00"), "Adobe Acrobat", ["u3"], ["d3"], 45_000, 1, 0, 102, (("d3", "u3"), 45_000, 0, 48_000)),
    (_at("02:00"), "Adobe Acrobat", ["u3"], ["d3"], 45_000, 1, 1, 201, (("d3", "u3"), 45_000, 6_000, 40_000)),
]
ACROBAT_ACTIVE_SECONDS = 30 + 48  # the row written before the per-(device, user) figures counts as stored

DEAD_LETTER_ROWS = [
    # dead_lettered_at, partition, offset, stage, reason, payload
    (_at("01:05"), 0, 7, "validate", "missing field: product", '{"user": "u1"}'),
    (_at("01:06"), 1, 9, "validate", "missing field: product", '{"user": "u2"}'),
    (_at("01:07"), 1, 9, "validate", "missing field: product", '{"user": "u2"}'),  # replayed duplicate
    (_at("03:00"), 2, 4, "decode", "invalid JSON", "{not json"),
    (BEFORE_RANGE, 0, 1, "decode", "invalid JSON", "x"),  # out of range
]

IN_RANGE_PRODUCTS = ["Adobe Acrobat", "Visual Studio Code"]

# License pools, the catalog they match against, and minutes of pool use (as the leader worker
# materializes them). 05:59 is the last complete minute of the range: the pools table's "now".
CATALOG_ROWS = [
    # product, product_id, license_model, licensable
    ("AutoCAD", "autodesk-autocad", "concurrent_user", 1),
    ("Adobe Acrobat", "adobe-acrobat", "named_user", 1),  # no pool covers it: unlicensed
    ("Visual Studio Code", "vscode", "free", 0),
]
POOL_ROWS = [
    # pool_id, name, products, license_model, seats
    ("cad", "AutoCAD network", ["autodesk-autocad"], "concurrent_user", 1),
    ("m365", "Microsoft 365", ["microsoft-365"], "subscription_seat", 50),
]
POOL_USAGE_ROWS = [
    # pool_id, minute, running_in_use, active_in_use
    ("cad", _at("01:00"), 2, 1),
    ("cad", _at("01:01"), 1, 1),
    ("cad", _at("05:58"), 3, 3),
    ("cad", _at("05:59"), 2, 0),
    ("cad", BEFORE_RANGE, 5, 5),  # out of range
]

# Sessions: measured ones (agent), one unmeasured (osquery-like), and one two weeks earlier so that
# the weekly panel, whose weeks overlap the range, still leaves it out.
SESSION_DEFINITION = "def-test"
SESSIONS_BEFORE = RANGE_FROM - timedelta(days=14)
SESSION_ROWS = [
    # user_key, device_id, product, started_at, running minutes, active minutes, measured, counts_as_use
    ("k-u1", "d1", "AutoCAD", _at("01:00"), 40, 30, 1, 1),
    ("k-u2", "d2", "AutoCAD", _at("01:00"), 2, 1, 1, 1),
    ("k-u3", "d3", "Adobe Acrobat", _at("02:00"), 5, 0, 0, 0),
    ("k-u1", "d1", "Visual Studio Code", _at("03:00"), 60, 45, 1, 1),
    ("k-u9", "d9", "Retired Tool", SESSIONS_BEFORE, 600, 600, 1, 1),  # out of range
]

ALERT_ROWS = [
    # alert_id, rule, subject_kind, subject, opened_at, resolved_at, value, threshold, summary
    ("a-open", "pool_overrun", "pool", "cad", _at("01:00"), None, 3, 1, "AutoCAD network: 3 in use against 1 seats"),
    ("a-unlic", "unlicensed_use", "product", "Adobe Acrobat", _at("02:00"), None, 1, 0, "Adobe Acrobat: unlicensed"),
    ("a-gap", "sync_gap", "device", "device:d5", _at("00:10"), _at("02:00"), 90_000, 86_400, "device d5: was silent"),
    ("a-old", "sync_gap", "device", "device:d6", BEFORE_RANGE, BEFORE_RANGE + timedelta(hours=1), 1, 1, "old"),
    # Opened after the range ended: not open at its end.
    ("a-later", "pool_overrun", "pool", "cad", RANGE_TO + timedelta(hours=1), None, 2, 1, "later"),
]

LAST_SEEN_ROWS = [
    # kind, subject, seen_at
    ("device", "d4", RANGE_TO - timedelta(hours=30)),  # a sync gap at the end of the range
    ("source", TOPIC, _at("05:58")),
    ("writer", "worker-1", _at("05:59")),
    ("device", "d8", RANGE_TO - timedelta(days=40)),  # silent so long it is forgotten
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # Imported here so the Prometheus checks above run even where the warehouse code cannot load.
    from schemas.settings import WarehouseSettings
    from sinks.clickhouse.migrate import apply_migrations
    from sinks.clickhouse.warehouse import connect_warehouse

    path = tmp_path_factory.mktemp("dashboards") / "wh"
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{path}"))
    apply_migrations(client)
    client.insert(
        "product_usage_1m_parts",
        [
            [minute, product, users, devices, active_ms, events, TOPIC, part, offset]
            for minute, product, users, devices, active_ms, events, part, offset in USAGE_ROWS
        ],
        column_names=[
            "minute",
            "product",
            "users",
            "devices",
            "active_ms",
            "event_count",
            "source_topic",
            "source_partition",
            "batch_last_offset",
        ],
    )
    client.insert(
        "product_usage_1m_parts",
        [
            [minute, product, users, devices, ms, events, TOPIC, part, offset, [7], [use_ms], [lo], [hi]]
            for minute, product, users, devices, ms, events, part, offset, (_, use_ms, lo, hi) in CAPPED_USAGE_ROWS
        ],
        column_names=["minute", "product", "users", "devices", "active_ms", "event_count", "source_topic",
                      "source_partition", "batch_last_offset", "use_keys", "use_active_ms", "use_from_ms", "use_to_ms"],
    )  # fmt: skip
    client.insert(
        "dead_letters",
        [
            [at, TOPIC, part, offset, stage, reason, payload, len(payload.encode()), {"agent": "test"}]
            for at, part, offset, stage, reason, payload in DEAD_LETTER_ROWS
        ],
        column_names=[
            "dead_lettered_at",
            "source_topic",
            "source_partition",
            "source_offset",
            "stage",
            "reason",
            "payload",
            "payload_bytes",
            "headers",
        ],
    )
    _seed_pools_and_sessions(client)
    yield client
    close = getattr(client, "close", None)
    if close:
        close()


def _seed_pools_and_sessions(client: Any) -> None:
    client.insert(
        "catalog_products",
        [[product, pid, "Vendor", [], model, licensable, "test"] for product, pid, model, licensable in CATALOG_ROWS],
        column_names=["product", "product_id", "vendor", "suites", "license_model", "licensable", "catalog_version"],
    )
    client.insert(
        "license_pools",
        [[pid, name, products, [], model, seats, 1, "USD", {}, "Vendor", "", 1, 0]
         for pid, name, products, model, seats in POOL_ROWS],
        column_names=["pool_id", "name", "products", "suites", "license_model", "seats", "unit_cost", "currency",
                      "cost_centres", "vendor", "contract_ref", "version", "is_deleted"],
    )  # fmt: skip
    pools = {pid: (name, model, seats) for pid, name, _, model, seats in POOL_ROWS}
    client.insert(
        "pool_usage_1m_versions",
        [[pid, minute, *pools[pid], running, active, running - active, running, active, running, active, minute]
         for pid, minute, running, active in POOL_USAGE_ROWS],
        column_names=["pool_id", "minute", "pool_name", "license_model", "seats", "running_in_use", "active_in_use",
                      "idle_in_use", "running_users", "active_users", "running_devices", "active_devices",
                      "computed_at"],
    )  # fmt: skip
    client.insert(
        "usage_definitions",
        [[SESSION_DEFINITION, "", 1800, 60, 30]],
        column_names=["definition_version", "product", "gap_seconds", "min_active_seconds", "weekly_active_minutes"],
    )
    client.insert(
        "usage_session_versions",
        [[i, device, user, product, start, start + timedelta(minutes=running), running * 60_000, active * 60_000,
          (running - active) * 60_000 * measured, 3, 1 - measured, measured, used, "console", "UTC",
          SESSION_DEFINITION, "k1", 3, 0]
         for i, (user, device, product, start, running, active, measured, used) in enumerate(SESSION_ROWS)],
        column_names=["session_id", "device_id", "user_key", "product", "started_at", "ended_at", "running_ms",
                      "active_ms", "idle_ms", "event_count", "signins", "activity_measured", "counts_as_use",
                      "session_type", "device_timezone", "definition_version", "pseudonym_key_id", "version",
                      "deleted"],
    )  # fmt: skip
    client.insert(
        "alerts",
        [[aid, rule, kind, subject, "open" if resolved is None else "resolved", opened, resolved, value, threshold,
          summary, RANGE_TO + timedelta(hours=2)]
         for aid, rule, kind, subject, opened, resolved, value, threshold, summary in ALERT_ROWS],
        column_names=["alert_id", "rule", "subject_kind", "subject", "state", "opened_at", "resolved_at", "value",
                      "threshold", "summary", "updated_at"],
    )  # fmt: skip
    client.insert(
        "source_last_seen", [list(row) for row in LAST_SEEN_ROWS], column_names=["kind", "subject", "seen_at"]
    )


@dataclass
class Result:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]


def _run(client: Any, sql: str) -> Result:
    r = client.query(sql)
    rows = [tuple(row) for row in r.result_rows]
    return Result(list(r.column_names), [t.name for t in r.column_types], rows)


@pytest.fixture(scope="module")
def results(warehouse: Any) -> dict[str, Result]:
    """Every ClickHouse query of every dashboard, run once; keyed by "dashboard/title[#n]"."""
    queries = _queries(CLICKHOUSE_TYPE)
    assert queries, "no ClickHouse queries found in the dashboards"
    variables: dict[str, list[str]] = {}
    out: dict[str, Result] = {}
    # Template variables first: "All" means every value the variable's query returns.
    for q in sorted(queries, key=lambda q: not q.title.startswith("var:")):
        sql = to_sql(q, variables)
        try:
            res = _run(warehouse, sql)
        except Exception as exc:  # noqa: BLE001 - report the dashboard, panel and SQL with the error
            pytest.fail(f"{q.dashboard} / {q.title}: query failed: {exc}\n{sql}")
        if q.title.startswith("var:"):
            variables[q.title[4:]] = [str(row[0]) for row in res.rows]
        key = f"{q.dashboard}/{q.title}"
        n = 1
        while key in out:
            n += 1
            key = f"{q.dashboard}/{q.title}#{n}"
        out[key] = res
        if q.fmt == 0:
            assert res.types and res.types[0].startswith("DateTime"), (
                f"{key}: a time series query must return its time column first, got {res.columns}"
            )
    return out


def _one(results: dict[str, Result], title: str) -> Result:
    hits = [r for k, r in results.items() if k.split("/", 1)[1] == title]
    assert len(hits) == 1, f"expected exactly one panel titled {title!r}, found {len(hits)}"
    return hits[0]


@pytest.mark.clickhouse
def test_every_clickhouse_query_returns_the_seeded_data(results: dict[str, Result]) -> None:
    for key, res in results.items():
        assert res.rows, f"{key}: returned no rows for the seeded data"
        flat = {str(v) for row in res.rows for v in row}
        assert "Retired Tool" not in flat, f"{key}: includes a product outside the time range"


@pytest.mark.clickhouse
def test_product_variable_lists_products_in_range(results: dict[str, Result]) -> None:
    assert [row[0] for row in _one(results, "var:product").rows] == IN_RANGE_PRODUCTS


@pytest.mark.clickhouse
def test_top_products(results: dict[str, Result]) -> None:
    res = _one(results, "Top products")
    assert res.column("product") == ["Visual Studio Code", "Adobe Acrobat"]
    # k-u3's unmeasured Acrobat session counts by its sign-in; no agent measured it.
    assert res.column("distinct_users") == [2, 2]
    assert res.column("distinct_devices") == [2, 1]
    assert res.column("measure") == ["active", "active, signed in"]
    assert res.column("events") == [15, 4]
    assert [float(h) for h in res.column("active_hours")] == [
        round(150.5 / 3600, 2),
        round(ACROBAT_ACTIVE_SECONDS / 3600, 2),
    ]


@pytest.mark.clickhouse
def test_usage_stats(results: dict[str, Result]) -> None:
    # u1, u2, u3 measured active; k-u3 only signed in (an unmeasured session) on d3.
    assert _one(results, "Distinct users (active, running or signed in)").rows == [(4,)]
    assert _one(results, "Distinct devices (active or running)").rows == [(3,)]
    assert float(_one(results, "Active hours (agents)").rows[0][0]) == round((150.5 + ACROBAT_ACTIVE_SECONDS) / 3600, 1)
    # (2 + 1 + 1) active users over a 360-minute range
    assert float(_one(results, "Average seats in use (active)").rows[0][0]) == round(4 / 360, 2)


@pytest.mark.clickhouse
def test_users_per_product_per_minute_by_each_sources_measure(results: dict[str, Result]) -> None:
    res = _one(results, "Users per product (active, running or signed in)")
    points = [(t.replace(tzinfo=UTC), p, n) for t, p, n in res.rows]
    # At 02:00 u3 is active and k-u3 signed in; k-u3's session covers 02:00 to 02:05.
    assert points == [
        (_at("01:00"), "Visual Studio Code", 2),
        (_at("01:01"), "Visual Studio Code", 1),
        (_at("02:00"), "Adobe Acrobat", 2),
        *((_at(f"02:0{m}"), "Adobe Acrobat", 1) for m in range(1, 5)),
    ]


@pytest.mark.clickhouse
def test_active_hours_per_product(results: dict[str, Result]) -> None:
    res = _one(results, "Active hours by product (agents)")
    assert res.column("product") == ["Visual Studio Code", "Adobe Acrobat"]
    series = _one(results, "Active hours per product (agents)")
    assert {row[1] for row in series.rows} == set(IN_RANGE_PRODUCTS)
    assert sum(float(row[2]) for row in series.rows) == pytest.approx((150.5 + ACROBAT_ACTIVE_SECONDS) / 3600)


@pytest.mark.clickhouse
def test_dead_letters_by_stage_and_reason(results: dict[str, Result]) -> None:
    res = _one(results, "Dead letters by stage and reason")
    columns = (res.column("stage"), res.column("reason"), res.column("dead_letters"))
    summary = list(zip(*columns, strict=True))
    # The replayed duplicate (same topic, partition, offset) counts once.
    assert summary == [("validate", "missing field: product", 2), ("decode", "invalid JSON", 1)]
    by_stage = _one(results, "Dead letters by stage")
    assert sum(row[2] for row in by_stage.rows) == 3
    latest = _one(results, "Latest dead letters")
    assert latest.column("source_offset") == [4, 9, 7]
    assert latest.column("dead_lettered_at")[0].replace(tzinfo=UTC) == _at("03:00")


@pytest.mark.clickhouse
def test_license_pools_table(results: dict[str, Result]) -> None:
    res = _one(results, "License pools")
    rows = {row[0]: dict(zip(res.columns, row, strict=True)) for row in res.rows}
    cad = rows["AutoCAD network"]
    # "Now" is the last complete minute of the range; the alert opened after the range does not count.
    assert (cad["in_use_now"], cad["active_now"], cad["in_use_pct"], cad["peak_today"]) == (2, 0, 200.0, 3)
    assert (cad["peak_90d"], cad["alerts_open"]) == (5, 1)
    assert (rows["Microsoft 365"]["in_use_now"], rows["Microsoft 365"]["alerts_open"]) == (0, 0)


@pytest.mark.clickhouse
def test_pool_series_fill_the_range_with_zeros(results: dict[str, Result]) -> None:
    res = _one(results, "Seats in use per pool")
    cad = {
        t.replace(tzinfo=UTC): (run, act, seats) for t, pool, run, act, seats in res.rows if pool == "AutoCAD network"
    }
    assert len(cad) == 6 * 60 + 1
    assert cad[_at("01:00")] == (2, 1, 1) and cad[_at("03:00")] == (0, 0, 1)
    idle = {(t.replace(tzinfo=UTC), pool): n for t, pool, n in _one(results, "Idle seats per pool").rows}
    assert idle[(_at("05:59"), "AutoCAD network")] == 2


@pytest.mark.clickhouse
def test_alerts_unlicensed_use_and_sync_gaps(results: dict[str, Result]) -> None:
    assert sorted(_one(results, "Open alerts").column("subject")) == ["Adobe Acrobat", "cad"]
    assert _one(results, "Recently resolved alerts").column("subject") == ["device:d5"]
    assert _one(results, "Unlicensed use").column("product") == ["Adobe Acrobat"]
    assert _one(results, "Sync gaps").rows[0][:2] == ("device", "d4")
    assert len(_one(results, "Sync gaps").rows) == 1


@pytest.mark.clickhouse
def test_sessions_dashboard(results: dict[str, Result]) -> None:
    assert _one(results, "Sessions").rows == [(4,)]
    per_day = _one(results, "Sessions per day by product")
    assert [(p, n) for _, p, n in per_day.rows] == [("Adobe Acrobat", 1), ("AutoCAD", 2), ("Visual Studio Code", 1)]
    hours = _one(results, "Active and idle hours per product")
    assert hours.rows[0] == ("Visual Studio Code", 0.75, 0.25, 0.0)
    assert hours.rows[2] == ("Adobe Acrobat", 0.0, 0.0, 0.08)  # unmeasured: neither active nor idle
    lengths = _one(results, "Session length distribution")
    assert len(lengths.rows) == 9 and sum(r[1] + r[2] for r in lengths.rows) == 4
    weekly = _one(results, "Users utilizing each product per week")
    assert [(p, n) for _, p, n in weekly.rows] == [("Adobe Acrobat", 0), ("AutoCAD", 1), ("Visual Studio Code", 1)]
    assert _one(results, "Top users by active hours").column("user_key") == ["k-u1", "k-u2", "k-u3"]
