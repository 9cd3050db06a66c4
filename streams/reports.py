"""Readable views of the warehouse for the terminal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

from clickhouse_connect.driver.client import Client
from rich.table import Table

from schemas.catalog import Approval, Catalog, Product, SaasApp
from streams.stages.fingerprint import load_catalog

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


@dataclass(frozen=True)
class ApprovalRules:
    """What makes known software approved: a license pool covering it (read from the warehouse),
    the approved list, or a license model exempt from review (free, open source)."""

    catalog: Catalog
    approved: tuple[Approval, ...] = ()
    exempt_license_models: tuple[str, ...] = ("free", "open_source")


_LIVE_POOLS = "SELECT count() FROM license_pools FINAL WHERE is_deleted = 0"


def shadow_it(client: Client, since: datetime, rules: ApprovalRules | None = None) -> Table:
    """Unknown executables, and known products nobody licensed or approved, in use since ``since``.

    Without any pool or approval there is nothing to judge against (every paid product would be
    listed), so until then only unknown executables and applications the catalog does not know
    (named by their own evidence) are listed, and the title says why.
    """
    rules = rules or ApprovalRules(load_catalog())
    judge = bool(rules.approved) or client.query(_LIVE_POOLS).result_rows[0][0] > 0
    sql = resources.files("streams.reports_sql").joinpath("shadow_it.sql").read_text()
    result = client.query(sql, parameters={"since": since, "judge_unapproved": judge, **_approval_parameters(rules)})
    scope = "unknown executables, uncatalogued and unapproved software" if judge else (
        "unknown executables and uncatalogued software (no license pools or approved list yet, "
        "so nothing is judged unapproved)"
    )  # fmt: skip
    table = Table(*result.column_names, title=f"Shadow IT since {since:%Y-%m-%d}: {scope}")
    for row in result.result_rows:
        table.add_row(*(str(v) for v in row))
    return table


def _approval_parameters(rules: ApprovalRules) -> dict[str, object]:
    """The catalog's products as the report's SQL takes them, keyed by the names usage rows carry."""
    terms: dict[str, tuple[set[str], set[str], set[str]]] = {}
    entries: list[Product | SaasApp] = [*rules.catalog.products, *rules.catalog.saas]
    for entry in entries:
        ids, suites, licenses = terms.setdefault(entry.name.lower(), (set(), set(), set()))
        ids.add(entry.id.lower())
        suites.update(s.lower() for s in _suites(rules.catalog, entry))
        licenses.update(_licenses(rules.catalog, entry))
    names = sorted(terms)
    exempt = set(rules.exempt_license_models)
    return {
        "names": names,
        "ids": [sorted(terms[n][0]) for n in names],
        "suites": [sorted(terms[n][1]) for n in names],
        "exempt": [n for n in names if terms[n][2] <= exempt],
        "approved": sorted({a.product.strip().lower() for a in rules.approved}),
    }


def _suites(catalog: Catalog, entry: Product | SaasApp) -> set[str]:
    """Every suite a product can belong to: a usage row does not record the edition or version."""
    found = {entry.suite} if entry.suite else set()
    if isinstance(entry, Product):
        scheme = catalog.version_schemes.get(entry.versions) if isinstance(entry.versions, str) else entry.versions
        found |= {e.suite for e in entry.editions if e.suite}
        found |= {label.suite for label in (scheme.labels if scheme else ()) if label.suite}
    return found


def _licenses(catalog: Catalog, entry: Product | SaasApp) -> set[str]:
    """Every license model a product can have: it is exempt only if all of them are."""
    found: set[str] = {entry.license}
    if isinstance(entry, Product):
        scheme = catalog.version_schemes.get(entry.versions) if isinstance(entry.versions, str) else entry.versions
        found |= {e.license for e in entry.editions if e.license}
        found |= {label.license for label in (scheme.labels if scheme else ()) if label.license}
    return found
