"""Readable views of the warehouse for the terminal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client
from rich.table import Table

from schemas.catalog import Approval, Catalog, Product, SaasApp
from sinks.clickhouse import queries
from streams.pipeline.name.fingerprint import load_catalog

_ALL_TIME = {"start": datetime(1970, 1, 1), "end": datetime(2105, 12, 31)}
MEASURES_NOTE = "active: agents measured use; running: osquery saw it running; signed in: SSO sign-ins"


def users_per_minute(client: Client, minutes: int, products: int) -> Table | str:
    """A minute-by-product grid of users, centred on the fleet's busiest minute. Each source counts
    by the best measure it has; the first row names the measures each column rests on."""
    peak = busiest_minute(client)
    if peak is None:
        return "the warehouse holds no product usage yet"
    window = {"start": _shift(peak, -(minutes // 2)), "end": _shift(peak, minutes - minutes // 2 - 1)}
    cells = client.query(queries.load("users_per_minute"), parameters=window).result_rows
    totals: dict[str, int] = {}
    measures: dict[str, set[str]] = {}
    for _, product, users, names in cells:
        totals[product] = totals.get(product, 0) + users
        measures.setdefault(product, set()).update(names)
    top = sorted(totals, key=lambda p: (-totals[p], p))[:products]
    grid = {(minute, product): users for minute, product, users, _ in cells}
    title = f"Users per product per minute, {peak:%Y-%m-%d} UTC, around the busiest minute ({peak:%H:%M})"
    table = Table("minute", *top, title=title, caption=MEASURES_NOTE)
    table.add_row("measure", *(", ".join(sorted(measures[p])) for p in top), style="italic", end_section=True)
    for offset in range(minutes):
        minute = _shift(window["start"], offset)
        table.add_row(f"{minute:%H:%M}", *(str(grid.get((minute, p), 0)) for p in top))
    return table


def busiest_minute(client: Client) -> datetime | None:
    """The minute with the most users, each source counted by its best measure."""
    rows = client.query(queries.load("busiest_minute"), parameters=_ALL_TIME).result_rows
    return rows[0][0] if rows else None


def _shift(moment: datetime, minutes: int) -> datetime:
    return moment + timedelta(minutes=minutes)


@dataclass(frozen=True)
class ApprovalRules:
    """What makes known software approved: a license pool covering it (read from the warehouse),
    the approved list, or a license model exempt from review (free, open source)."""

    catalog: Catalog
    approved: tuple[Approval, ...] = ()
    exempt_license_models: tuple[str, ...] = ("free", "open_source")


def shadow_it(client: Client, since: datetime, rules: ApprovalRules | None = None) -> Table | str:
    """Unknown executables, and known products nobody licensed or approved, in use since ``since``.

    Without any pool or approval there is nothing to judge against (every paid product would be
    listed), so until then only unknown executables and applications the catalog does not know
    (named by their own evidence) are listed, and the title says why. Each product counts by the
    best measure its sources have, named in the ``measure`` column.
    """
    rules = rules or ApprovalRules(load_catalog())
    judge = bool(rules.approved) or client.query(queries.load("live_pool_count")).result_rows[0][0] > 0
    parameters = {"since": since, "judge_unapproved": judge, **_approval_parameters(rules)}
    result = client.query(queries.load("shadow_it"), parameters=parameters)
    if not result.result_rows:
        return _no_shadow_it(since, judge)
    scope = "unknown executables, uncatalogued and unapproved software" if judge else (
        "unknown executables and uncatalogued software (no license pools or approved list yet, "
        "so nothing is judged unapproved)"
    )  # fmt: skip
    table = Table(*result.column_names, title=f"Shadow IT since {since:%Y-%m-%d}: {scope}")
    for row in result.result_rows:
        table.add_row(*(str(v) for v in row))
    return table


def _no_shadow_it(since: datetime, judged: bool) -> str:
    if judged:
        return (
            f"no shadow IT since {since:%Y-%m-%d}: every executable in use is known, and every product in use "
            "is covered by a license pool, approved or exempt"
        )
    return (
        f"no unknown executables in use since {since:%Y-%m-%d} (no license pools or approved list yet, "
        "so nothing is judged unapproved)"
    )


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
