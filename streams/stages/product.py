"""Stage 2 (provisional): the product an event counts under, until fingerprinting replaces it."""

from __future__ import annotations

from schemas.usage import UsageEvent


def provisional_product(event: UsageEvent) -> str:
    """The executable's file name (or the SaaS app's name), case-folded, so ``EXCEL.EXE`` and
    ``excel.exe`` count together."""
    if event.executable is not None:
        return event.executable.file_name.strip().casefold()
    if event.saas_app is not None:
        return event.saas_app.name.strip().casefold()
    return ""
