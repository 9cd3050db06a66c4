"""Readable views of the warehouse for the terminal."""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources

from clickhouse_connect.driver.client import Client
from rich.table import Table

_PEAK = "SELECT minute FROM product_usage_per_minute ORDER BY active_users DESC, minute LIMIT 1"
_TOP = """
SELECT product FROM product_usage_per_minute
WHERE minute BETWEEN {start:DateTime} AND {end:DateTime}
GROUP BY product ORDER BY sum(active_users) DESC, product LIMIT {limit:UInt32}
"""
_CELLS = """
SELECT minute, product, active_users FROM product_usage_per_minute
WHERE minute BETWEEN {start:DateTime} AND {end:DateTime} AND product IN {products:Array(String)}
"""


def active_users_per_minute(client: Client, minutes: int, products: int) -> Table | str:
    """A minute-by-product grid of active users, centred on the fleet's busiest minute."""
    peak_rows = client.query(_PEAK).result_rows
    if not peak_rows:
        return "the warehouse holds no product usage yet"
    peak = peak_rows[0][0]
    window = {"start": _shift(peak, -(minutes // 2)), "end": _shift(peak, minutes - minutes // 2 - 1)}
    top = [row[0] for row in client.query(_TOP, parameters={**window, "limit": products}).result_rows]
    cells = client.query(_CELLS, parameters={**window, "products": top}).result_rows
    grid = {(minute, product): users for minute, product, users in cells}
    title = f"Active users per product per minute, {peak:%Y-%m-%d} UTC, around the busiest minute ({peak:%H:%M})"
    table = Table("minute", *top, title=title)
    for offset in range(minutes):
        minute = _shift(window["start"], offset)
        table.add_row(f"{minute:%H:%M}", *(str(grid.get((minute, p), 0)) for p in top))
    return table


def _shift(moment: datetime, minutes: int) -> datetime:
    return moment + timedelta(minutes=minutes)


def shadow_it(client: Client, since: datetime) -> Table:
    """Unknown executables in use since ``since``: candidates for review or for the catalog."""
    sql = resources.files("streams.reports_sql").joinpath("shadow_it.sql").read_text()
    result = client.query(sql, parameters={"since": since})
    table = Table(
        *result.column_names, title=f"Shadow IT since {since:%Y-%m-%d}: executables the catalog does not know"
    )
    for row in result.result_rows:
        table.add_row(*(str(v) for v in row))
    return table
