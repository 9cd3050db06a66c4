"""Where the running catalog comes from: the bundled catalog plus a local overrides file.

Corrections (``seatmeter fingerprint correct``) append to the overrides file; workers check its
modification time every few seconds and rebuild their matcher when it changed, so a correction
takes effect without a restart.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import yaml

from schemas.catalog import Catalog, Override, OverrideFile
from streams.stages.fingerprint import Matcher, build_matcher, load_catalog


def read_local_overrides(path: Path) -> tuple[Override, ...]:
    if not path.exists():
        return ()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return OverrideFile.model_validate(data).overrides


def merged_catalog(overrides_file: Path) -> Catalog:
    """The bundled catalog with local overrides after its own (later entries win); the version
    gains a digest of the local file, so every row names the exact catalog that named it."""
    bundled = load_catalog()
    local = read_local_overrides(overrides_file)
    if not local:
        return bundled
    digest = hashlib.sha256(overrides_file.read_bytes()).hexdigest()[:8]
    return Catalog.model_validate(
        {
            **bundled.model_dump(),
            "version": f"{bundled.version}+local.{digest}",
            "overrides": (*bundled.overrides, *local),
        }
    )


def append_override(overrides_file: Path, override: Override) -> Catalog:
    """Record a correction, refusing one the catalog would not accept (e.g. an unknown product id)."""
    current = read_local_overrides(overrides_file)
    candidate = (*current, override)
    Catalog.model_validate({**load_catalog().model_dump(), "overrides": candidate})
    overrides_file.parent.mkdir(parents=True, exist_ok=True)
    document = {"overrides": [o.model_dump(exclude_none=True) for o in candidate]}
    overrides_file.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return merged_catalog(overrides_file)


class CatalogWatcher:
    """A matcher that is rebuilt when the overrides file changes; checked at most every ``period`` s."""

    def __init__(self, overrides_file: Path, period: float = 5.0) -> None:
        self._file = overrides_file
        self._period = period
        self._stamp = self._mtime()
        self._checked = time.monotonic()
        self.matcher: Matcher = build_matcher(merged_catalog(overrides_file))

    def current(self) -> Matcher:
        now = time.monotonic()
        if now - self._checked >= self._period:
            self._checked = now
            stamp = self._mtime()
            if stamp != self._stamp:
                self._stamp = stamp
                self.matcher = build_matcher(merged_catalog(self._file))
        return self.matcher

    def _mtime(self) -> float:
        return self._file.stat().st_mtime if self._file.exists() else 0.0
