"""The cluster rendering of the migrations: the same schema on a sharded, replicated ClickHouse cluster.

With ``SEATMETER_WAREHOUSE__CLUSTER`` set, each statement of a migration is rendered for that
cluster (a name from the servers' ``remote_servers`` config) instead of run as written:

* ``CREATE TABLE t`` makes ``t_local`` on every host, its MergeTree-family engine replaced by the
  Replicated one (one replica set per shard, in Keeper under ``/clickhouse/tables/{shard}/...``),
  and ``t`` itself as a ``Distributed`` table over ``t_local``. Everything that reads or writes the
  warehouse keeps using ``t``: writers insert through it, views and queries read through it.
* Rows go to shards by the table's key in :data:`SHARDING_KEYS`, always a function of the leading
  ``ORDER BY`` columns, so every version of a row (ReplacingMergeTree keeps the latest per sorting
  key) lands on one shard and ``FINAL``, which collapses versions shard by shard, stays exact.
  One license pool, one session key, one device, one source partition each live on one shard.
* Views get ``ON CLUSTER`` and read the Distributed tables; an ``IN`` subquery becomes
  ``GLOBAL IN``, computed once by the host running the query and shipped to the shards, because
  a view's outer read is sent to every shard and a plain ``IN (SELECT ... FROM t)`` would read
  the Distributed table again from each of them, which ClickHouse refuses by default.
* A materialized view must read the local table: it fires on the block inserted into its source,
  and inserts land in ``t_local`` on the shard (the Distributed table stores nothing). Its ``TO``
  target stays the Distributed name, so its rows are routed by the target's own sharding key.
  A materialized view without ``TO`` is refused: its hidden inner table would not be replicated.
* ``ALTER TABLE t`` goes to ``t_local`` on the cluster; column changes go to ``t`` as well,
  because a Distributed table keeps its own copy of the columns.
* ``INSERT`` (a migration's seed row) goes through the Distributed table synchronously, so the
  statements after it, and the ledger, see the row.

Anything else (a statement kind, engine or shape not listed here) is refused by
:class:`ClusterRenderingError` rather than passed through unchanged: a statement that ran on one
host only would leave the cluster's hosts with different schemas.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from schemas.settings import CLUSTER_NAME

LOCAL_SUFFIX = "_local"
REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/"
REPLICA_NAME = "{replica}"
SYNC_INSERT_SETTINGS: Mapping[str, int] = {"insert_distributed_sync": 1}
"""An insert into a Distributed table returns once the shards hold the rows. The setting's old
name: servers since 23.x call it ``distributed_foreground_insert`` and still accept this one."""

SHARDING_KEYS: Mapping[str, str] = {
    "schema_migrations": "version",
    "product_usage_1m_parts": "cityHash64(source_topic, source_partition)",
    "dead_letters": "cityHash64(source_topic, source_partition)",
    "license_pools": "cityHash64(pool_id)",
    "directory_people": "cityHash64(user_key)",
    "inventory_software": "cityHash64(device_id)",
    "agent_health": "cityHash64(device_id)",
    "usage_session_versions": "cityHash64(product, user_key, device_id)",
    "usage_definitions": "cityHash64(definition_version, product)",
    "catalog_products": "cityHash64(product)",
    "pool_usage_1m_versions": "cityHash64(pool_id)",
    "source_activity": "cityHash64(kind, subject)",
    "source_last_seen": "cityHash64(kind, subject)",
    "alerts": "cityHash64(rule, subject)",
    "warehouse_identity": "cityHash64(created_at, warehouse_id)",
    "pseudonym_keys": "cityHash64(key_id)",
}
"""Per table, the shard a row goes to. Each key uses only leading ``ORDER BY`` columns, so all the
versions of a row share a shard. ``product_usage_1m_parts`` is keyed by source partition: a
partition's batches, its record of progress (``max(batch_last_offset)``) and each batch's insert
deduplication token stay on one shard. Sessions are keyed by (product, user, device), which fixes
a session id, so a session's versions and its deletion row meet on one shard."""

REPLICABLE_ENGINES = frozenset(
    {
        "MergeTree",
        "ReplacingMergeTree",
        "SummingMergeTree",
        "AggregatingMergeTree",
        "CollapsingMergeTree",
        "VersionedCollapsingMergeTree",
        "CoalescingMergeTree",
    }
)

_CREATE_TABLE = re.compile(r"^CREATE\s+TABLE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>\w+)(?=\s*\()", re.I)
_CREATE_VIEW = re.compile(
    r"^CREATE\s+(?P<orr>OR\s+REPLACE\s+)?VIEW\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>\w+)\s+AS\b", re.I
)
_CREATE_MATERIALIZED = re.compile(
    r"^CREATE\s+MATERIALIZED\s+VIEW\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>\w+)\s+"
    r"(?:TO\s+(?P<target>\w+)\s+)?AS\b(?P<select>.*)$",
    re.I | re.S,
)
_ALTER_TABLE = re.compile(r"^ALTER\s+TABLE\s+(?P<name>\w+)\s+(?P<commands>.+)$", re.I | re.S)
_INSERT = re.compile(r"^INSERT\s+INTO\s+(?P<name>\w+)\s*(?P<columns>\([^()]*\))?\s*(?P<rest>.+)$", re.I | re.S)
_ENGINE = re.compile(r"\bENGINE\s*=\s*(?P<engine>\w+)", re.I)
_ON_CLUSTER = re.compile(r"\bON\s+CLUSTER\b", re.I)
_SUBQUERY_IN = re.compile(r"(?<!GLOBAL )(?<!GLOBAL NOT )\b(?P<op>(?:NOT\s+)?IN)(?=\s*\(\s*(?:SELECT|WITH)\b)", re.I)
_FIRST_FROM = re.compile(r"\bFROM\s+(?P<source>\w+)\b(?!\s*\()", re.I)
_COLUMN_COMMAND = re.compile(r"^(?P<verb>ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b", re.I)


class ClusterRenderingError(ValueError):
    """A statement has no cluster rendering, or the cluster name cannot be used."""


def check_cluster_name(cluster: str) -> str:
    """The name as ``ON CLUSTER`` takes it, or the reason it cannot be used."""
    if not CLUSTER_NAME.match(cluster):
        raise ClusterRenderingError(
            f"cluster name {cluster!r} is not a remote_servers name (letters, digits, '_', '.', '-') "
            "or a macro such as '{cluster}'"
        )
    return f"'{cluster}'"


def local_table(name: str) -> str:
    return name + LOCAL_SUFFIX


def render_for_cluster(statement: str, cluster: str) -> list[str]:
    """The statements that do on ``cluster`` what ``statement`` does on a single server."""
    quoted = check_cluster_name(cluster)
    text = statement.strip()
    if _ON_CLUSTER.search(text):
        raise ClusterRenderingError(f"statement already names a cluster: {_head(text)}")
    for pattern, render in _RENDERERS:
        match = pattern.match(text)
        if match:
            return render(match, text, quoted)
    raise ClusterRenderingError(f"no cluster rendering for: {_head(text)}; extend sinks/clickhouse/cluster.py")


def _create_table(match: re.Match[str], text: str, cluster: str) -> list[str]:
    name, ine = match["name"], match["ine"] or ""
    if name not in SHARDING_KEYS:
        raise ClusterRenderingError(f"table {name} has no sharding key: add one to SHARDING_KEYS in {__name__}")
    engine = _ENGINE.search(text)
    if engine is None or engine["engine"] not in REPLICABLE_ENGINES:
        found = engine["engine"] if engine else "no engine"
        raise ClusterRenderingError(f"table {name}: {found} has no Replicated counterpart")
    end = _closing(text, engine.end()) if text.startswith("(", engine.end()) else engine.end()
    args = text[engine.end() + 1 : end - 1] if end > engine.end() else ""
    local = local_table(name)
    replicated = _replicated_engine(local, engine["engine"], args)
    columns, keys = text[match.end() : engine.start()], text[end:]
    create_local = f"CREATE TABLE {ine}{local} ON CLUSTER {cluster}{columns}{replicated}{keys}"
    create_distributed = (
        f"CREATE TABLE {ine}{name} ON CLUSTER {cluster} AS {local}\n"
        f"ENGINE = Distributed({cluster}, currentDatabase(), '{local}', {SHARDING_KEYS[name]})"
    )
    return [create_local, create_distributed]


def _replicated_engine(local: str, engine: str, args: str) -> str:
    arguments = [f"'{REPLICA_PATH}{local}'", f"'{REPLICA_NAME}'"] + ([args.strip()] if args.strip() else [])
    return f"ENGINE = Replicated{engine}({', '.join(arguments)})"


def _create_view(match: re.Match[str], text: str, cluster: str) -> list[str]:
    head = text[: match.end() - len("AS")].rstrip()
    body = _SUBQUERY_IN.sub(lambda m: f"GLOBAL {m['op']}", text[match.end() :])
    return [f"{head} ON CLUSTER {cluster} AS{body}"]


def _create_materialized_view(match: re.Match[str], text: str, cluster: str) -> list[str]:
    name, target = match["name"], match["target"]
    if target is None:
        raise ClusterRenderingError(
            f"materialized view {name} needs TO <table> on a cluster: its inner table would not be replicated"
        )
    select = match["select"]
    source = _FIRST_FROM.search(select)
    if source is None:
        raise ClusterRenderingError(f"materialized view {name} must read a table, not a subquery or a function")
    reads_local = select[: source.start("source")] + local_table(source["source"]) + select[source.end("source") :]
    ine = match["ine"] or ""
    return [f"CREATE MATERIALIZED VIEW {ine}{name} ON CLUSTER {cluster} TO {target} AS{reads_local}"]


def _alter_table(match: re.Match[str], text: str, cluster: str) -> list[str]:
    name = match["name"]
    commands = split_commands(match["commands"])
    columns = [(c, m["verb"].upper()) for c in commands if (m := _COLUMN_COMMAND.match(c))]
    drops = [c for c, verb in columns if verb == "DROP"]
    others = [c for c, verb in columns if verb != "DROP"]

    def alter(table: str, chosen: list[str]) -> str:
        return f"ALTER TABLE {table} ON CLUSTER {cluster}\n    " + ",\n    ".join(chosen)

    # A Distributed table may lack a column its shards have, never the reverse: it drops first, adds last.
    before = [alter(name, drops)] if drops else []
    after = [alter(name, others)] if others else []
    return [*before, alter(local_table(name), commands), *after]


def _insert(match: re.Match[str], text: str, cluster: str) -> list[str]:
    rest = match["rest"]
    if rest.upper().startswith("SETTINGS"):
        raise ClusterRenderingError(f"insert into {match['name']} sets its own settings; the rendering adds them")
    columns = f" {match['columns']}" if match["columns"] else ""
    settings = ", ".join(f"{name} = {value}" for name, value in SYNC_INSERT_SETTINGS.items())
    return [f"INSERT INTO {match['name']}{columns} SETTINGS {settings} {rest}"]


def _closing(text: str, start: int) -> int:
    """The index just past the parenthesis that closes the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    raise ClusterRenderingError(f"unbalanced parentheses in: {_head(text)}")


def split_commands(commands: str) -> list[str]:
    """An ALTER's commands, split at the commas outside parentheses and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(commands):
        if quote:
            quote = "" if char == quote and commands[i - 1] != "\\" else quote
        elif char in "'`\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(commands[start:i].strip())
            start = i + 1
    parts.append(commands[start:].strip())
    return [part for part in parts if part]


def _head(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 80 else flat[:77] + "..."


_RENDERERS = (
    (_CREATE_TABLE, _create_table),
    (_CREATE_VIEW, _create_view),
    (_CREATE_MATERIALIZED, _create_materialized_view),
    (_ALTER_TABLE, _alter_table),
    (_INSERT, _insert),
)
