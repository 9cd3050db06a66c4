"""Stage 2 (provisional): the product an event counts under, until fingerprinting replaces it."""

from __future__ import annotations

from schemas.agent import Executable


def provisional_product(executable: Executable) -> str:
    """The executable's file name, case-folded, so ``EXCEL.EXE`` and ``excel.exe`` count together."""
    return executable.file_name.strip().casefold()
