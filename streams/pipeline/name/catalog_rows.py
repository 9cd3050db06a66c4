"""Stage: the catalog as warehouse rows, so SQL can tell which pool covers which product."""

from __future__ import annotations

from schemas.catalog import Catalog, Product, VersionScheme
from schemas.records import CatalogProductRow

UNLICENSED_MODELS = frozenset({"free", "open_source", "freemium"})


def catalog_product_rows(catalog: Catalog) -> list[CatalogProductRow]:
    """One row per product and SaaS app, named as usage rows name them. Suites include those an
    edition or a version label places the product in (Excel 2010 in Microsoft Office 2010)."""
    vendors = {v.id: v.name for v in catalog.vendors}
    rows = {
        p.name: CatalogProductRow(
            product=p.name,
            product_id=p.id,
            vendor=vendors.get(p.vendor, p.vendor),
            suites=_suites(p, catalog),
            license_model=p.license,
            licensable=p.license not in UNLICENSED_MODELS,
            catalog_version=catalog.version,
        )
        for p in catalog.products
    }
    for app in catalog.saas:
        rows.setdefault(
            app.name,
            CatalogProductRow(
                product=app.name,
                product_id=app.id,
                vendor=vendors.get(app.vendor, app.vendor),
                suites=(app.suite,) if app.suite else (),
                license_model=app.license,
                licensable=app.license not in UNLICENSED_MODELS and app.category == "application",
                catalog_version=catalog.version,
            ),
        )
    return [rows[name] for name in sorted(rows)]


def _suites(product: Product, catalog: Catalog) -> tuple[str, ...]:
    suites = {product.suite} | {e.suite for e in product.editions}
    scheme = product.versions
    if isinstance(scheme, str):
        scheme = catalog.version_schemes.get(scheme)
    if isinstance(scheme, VersionScheme):
        suites |= {label.suite for label in scheme.labels}
    return tuple(sorted(s for s in suites if s))
