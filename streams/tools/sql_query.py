"""``seatmeter sql``: a query's own ``FORMAT`` clause wins, as in clickhouse-client; else ``--format``."""

from __future__ import annotations

import re

from clickhouse_connect.driver.client import Client
from rich.table import Table

_LITERALS_AND_COMMENTS = re.compile(
    r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|--[^\n]*|#[^\n]*|/\*.*?\*/", re.S
)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*(?:\bSETTINGS\b[^;]*)?;?\s*$", re.I)


def format_clause(query: str) -> str | None:
    """The output format a query names in its trailing ``FORMAT`` clause, or None.

    String literals, quoted names and comments are blanked first, so ``'... FORMAT JSON'`` in a
    literal is not a clause.
    """
    code = _LITERALS_AND_COMMENTS.sub(lambda m: " " if m[0][0] in "-#/" else "''", query)
    match = _TRAILING_FORMAT.search(code)
    return match[1] if match else None


def formatted_result(client: Client, query: str, fmt: str) -> str:
    """The engine's own text for ``query``: in its FORMAT clause if it has one, else in ``fmt``."""
    if format_clause(query):
        return client.raw_query(query).decode()
    return client.raw_query(query, fmt=fmt).decode()


def result_table(client: Client, query: str) -> Table:
    result = client.query(query)
    table = Table(*result.column_names)
    for row in result.result_rows:
        table.add_row(*(str(v) for v in row))
    return table
