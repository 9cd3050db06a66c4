"""Stage: the product an event counts under, named by the catalog (fingerprinting).

Applications count under their canonical product name, so ``EXCEL.EXE`` from Office 2010 and
``Microsoft Excel`` on a Mac count together. Background processes (updaters, crash reporters,
web-view hosts) never count as use. Executables the catalog does not know count under their
case-folded file name, so they stay visible (the shadow-IT report reads them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from schemas.catalog import Fingerprint
from schemas.usage import UsageEvent
from streams.pipeline.name.fingerprint import IdentityKey, Matcher


@dataclass(frozen=True, slots=True)
class ProductName:
    product: str
    category: str
    catalog_version: str


def name_product(event: UsageEvent, matcher: Matcher) -> ProductName | None:
    """``None`` for background processes: they are excluded from usage."""
    found = _fingerprint(event, matcher)
    if found.category == "background":
        return None
    if found.category == "application" and found.product:
        return _product_name(found.product, found.category, found.catalog_version)
    return _product_name(_fallback_name(event), found.category, found.catalog_version)


@lru_cache(maxsize=65_536)
def _product_name(product: str, category: str, catalog_version: str) -> ProductName:
    """One value per distinct name: a fleet runs few products, and every event is named."""
    return ProductName(product, category, catalog_version)


def _fingerprint(event: UsageEvent, matcher: Matcher) -> Fingerprint:
    executable, saas = event.executable, event.saas_app
    key: IdentityKey
    if executable is not None:
        key = (executable.path, executable.publisher, executable.product_name, executable.version,
               executable.sha256, None, None, None, None, None)  # fmt: skip
    else:
        key = ("", None, None, None, None, saas.name if saas else None, saas.url if saas else None, None, None, None)
    return matcher.lookup(key, False)


def _fallback_name(event: UsageEvent) -> str:
    if event.executable is not None:
        return event.executable.file_name.strip().casefold()
    if event.saas_app is not None:
        return event.saas_app.name.strip().casefold()
    return ""
