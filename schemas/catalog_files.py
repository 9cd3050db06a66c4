"""The catalog's files: ``catalog.yaml`` and the files it names, read and checked against the schema.

The catalog is configuration the stages are given, so reading it sits here, beside its schema,
and not in the pure stages; errors name the file and the entry by id, for a catalog author.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from schemas.catalog import BackgroundFile, Catalog, CatalogHeader, OverrideFile, ProductFile, SaasFile, VendorFile

CATALOG_DIR = Path(__file__).resolve().parents[1] / "streams" / "catalog"
"""The bundled catalog (packaged with ``streams``)."""
_M = TypeVar("_M", bound=BaseModel)


class CatalogError(ValueError):
    """A catalog file is missing, is not YAML, or does not fit the schema."""


def load_catalog(source: Path | str | None = None) -> Catalog:
    """Load `catalog.yaml` (a file, or the directory holding it; default: the packaged one)."""
    header_path = Path(source) if source is not None else CATALOG_DIR
    if header_path.is_dir():
        header_path = header_path / "catalog.yaml"
    header = _read(header_path, CatalogHeader)
    base = header_path.parent
    try:
        return Catalog(
            version=header.version,
            neutral_publishers=header.neutral_publishers,
            heuristics=header.heuristics,
            suites=header.suites,
            version_schemes=header.version_schemes,
            vendors=tuple(v for f in header.vendors for v in _read(base / f, VendorFile).vendors),
            products=tuple(p for f in header.products for p in _read(base / f, ProductFile).products),
            background=tuple(b for f in header.background for b in _read(base / f, BackgroundFile).background),
            saas=tuple(s for f in header.saas for s in _read(base / f, SaasFile).saas),
            overrides=tuple(o for f in header.overrides for o in _read(base / f, OverrideFile).overrides),
        )
    except ValidationError as exc:
        raise CatalogError(f"{header_path}: {_describe(exc, None)}") from None


def _read(path: Path, model: type[_M]) -> _M:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {_describe(exc, data)}") from None


def _describe(exc: ValidationError, data: object) -> str:
    """Name entries by id rather than list index, so a catalog author can find them."""
    parts = []
    for err in exc.errors()[:10]:
        loc = [str(x) for x in err["loc"]]
        if isinstance(data, dict) and len(loc) > 1 and loc[1].isdigit():
            entries = data.get(loc[0])
            if isinstance(entries, list) and int(loc[1]) < len(entries) and isinstance(entries[int(loc[1])], dict):
                loc[1] = f"{loc[1]}(id={entries[int(loc[1])].get('id')})"
        parts.append(f"{'.'.join(loc) or 'catalog'}: {err['msg']}")
    return "; ".join(parts)
