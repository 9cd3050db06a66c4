"""The shadow-IT report's SQL on the real engine: unknown executables and unapproved software."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client
from rich.table import Table

from schemas.catalog import Approval
from schemas.records import ProductMinuteRollup
from schemas.reference import Entitlement
from schemas.reference_changes import PoolChange
from schemas.settings import WarehouseSettings
from sinks.clickhouse.migrate import apply_migrations
from sinks.clickhouse.reference_writers import LicensePoolWriter, Versioned
from sinks.clickhouse.warehouse import connect_warehouse
from sinks.clickhouse.writers import ProductUsageWriter
from streams.pipeline.name.fingerprint import load_catalog
from streams.tools.reports import ApprovalRules, shadow_it

pytestmark = pytest.mark.clickhouse

MINUTE = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
SINCE = MINUTE - timedelta(days=30)


@pytest.fixture
def warehouse(tmp_path) -> Iterator[Client]:
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{tmp_path / 'wh'}"))
    apply_migrations(client)
    yield client
    client.close()


def used(product: str, category: str = "application", users: tuple[str, ...] = ("u1",)) -> ProductMinuteRollup:
    base = ProductMinuteRollup(MINUTE, product, users, ("d1",), 60_000, 1, "agent", 0, 1)
    return dataclasses.replace(base, category=category)


def pool(pool_id: str, offset: int, *, term_end: date | None = None, **covers: tuple[str, ...]) -> Versioned:
    entitlement = Entitlement.model_validate(
        {"pool_id": pool_id, "name": pool_id, "license_model": "subscription_seat", "seats": 10,
         "unit_cost": "1", "currency": "EUR", "term_end": term_end, **covers}
    )  # fmt: skip
    return Versioned(PoolChange(pool_id, entitlement), offset, MINUTE)


def listed(warehouse: Client, rules: ApprovalRules | None = None) -> dict[str, tuple[str, str, str]]:
    """software -> (reason, users, devices), as the report's table shows them."""
    table = shadow_it(warehouse, SINCE, rules)
    if isinstance(table, str):
        return {}
    software, users, devices, reasons = ([str(c) for c in column.cells] for column in table.columns[:4])
    return {name: (reason, u, d) for name, u, d, reason in zip(software, users, devices, reasons, strict=True)}


RULES = ApprovalRules(load_catalog(), (Approval(product="adobe-acrobat", reason="site agreement"),))


def test_unapproved_is_known_software_that_no_pool_covers_and_nobody_approved(warehouse):
    ProductUsageWriter().write(
        warehouse,
        [
            used("tool123.exe", "unknown", users=("u1", "u2")),
            used("Microsoft Excel"),  # covered by a pool's suite
            used("AutoCAD"),  # covered by a pool naming its id
            used("Slack"),  # covered by a pool naming it, in another case
            used("Adobe Photoshop", users=("u1", "u2", "u3")),  # covered by a pool that ended
            used("IntelliJ IDEA"),  # no pool; open-source Community edition does not exempt it
            used("Adobe Acrobat"),  # on the approved list
            used("Google Chrome"),  # free: exempt
            used("Notepad++"),  # open source: exempt
            used("Acme Licence Manager"),  # named by a local correction only, not in the catalog
        ],
    )
    LicensePoolWriter().write(
        warehouse,
        [
            pool("m365", 1, suites=("Microsoft 365 Apps",)),
            pool("cad", 2, products=("autodesk-autocad",)),
            pool("chat", 3, products=("SLACK",)),
            pool("cc-2024", 4, products=("adobe-photoshop",), term_end=SINCE.date() - timedelta(days=1)),
        ],
    )
    assert listed(warehouse, RULES) == {
        "Adobe Photoshop": ("unapproved", "3", "1"),
        "tool123.exe": ("unknown", "2", "1"),
        "IntelliJ IDEA": ("unapproved", "1", "1"),
        "Acme Licence Manager": ("uncatalogued", "1", "1"),
    }


def test_a_deleted_pool_covers_nothing(warehouse):
    ProductUsageWriter().write(warehouse, [used("AutoCAD")])
    cad = pool("cad", 1, products=("autodesk-autocad",))
    LicensePoolWriter().write(warehouse, [cad, Versioned(PoolChange("cad", None), 2, MINUTE)])
    assert listed(warehouse, RULES) == {"AutoCAD": ("unapproved", "1", "1")}


def test_without_pools_or_approvals_only_unknown_executables_are_listed(warehouse):
    ProductUsageWriter().write(warehouse, [used("tool123.exe", "unknown"), used("AutoCAD")])
    table = shadow_it(warehouse, SINCE, ApprovalRules(load_catalog()))
    assert isinstance(table, Table)
    assert "nothing is judged unapproved" in str(table.title)
    assert listed(warehouse) == {"tool123.exe": ("unknown", "1", "1")}


def test_an_application_named_by_its_own_evidence_is_listed_as_uncatalogued(warehouse):
    """Named by its signer and version resource: an application, yet nobody vetted it. It stays
    listed without pools (as it was when it counted as unknown) until it is covered or approved."""
    ProductUsageWriter().write(warehouse, [used("Widget Studio"), used("Northwind Ledger"), used("AutoCAD")])
    assert listed(warehouse) == {
        "Widget Studio": ("uncatalogued", "1", "1"),
        "Northwind Ledger": ("uncatalogued", "1", "1"),
    }
    approved = ApprovalRules(load_catalog(), (Approval(product="widget studio", reason="vetted 2026-11"),))
    LicensePoolWriter().write(warehouse, [pool("ledger", 1, products=("Northwind Ledger",))])
    assert listed(warehouse, approved) == {"AutoCAD": ("unapproved", "1", "1")}


def test_exempt_license_models_are_configurable(warehouse):
    ProductUsageWriter().write(warehouse, [used("Google Chrome"), used("Notepad++")])
    LicensePoolWriter().write(warehouse, [pool("m365", 1, suites=("Microsoft 365 Apps",))])
    rules = ApprovalRules(load_catalog(), exempt_license_models=("free",))
    assert listed(warehouse, rules) == {"Notepad++": ("unapproved", "1", "1")}


def test_the_window_leaves_older_use_out(warehouse):
    old = dataclasses.replace(used("tool123.exe", "unknown"), minute=SINCE - timedelta(minutes=1))
    ProductUsageWriter().write(warehouse, [old])
    assert listed(warehouse, RULES) == {}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        pytest.param(RULES, "no shadow IT since 2026-10-28: every executable in use is known", id="judged"),
        pytest.param(ApprovalRules(load_catalog()), "no unknown executables in use since 2026-10-28", id="not judged"),
    ],
)
def test_nothing_to_list_is_said_in_words(warehouse, rules, message):
    ProductUsageWriter().write(warehouse, [used("Google Chrome")])
    assert str(shadow_it(warehouse, SINCE, rules)).startswith(message)
