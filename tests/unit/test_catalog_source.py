import os

import pytest
from pydantic import ValidationError

from schemas.catalog import ExecutableIdentity, Override
from streams.catalog_source import CatalogWatcher, append_override, merged_catalog
from streams.stages.fingerprint import fingerprint

TOOL = ExecutableIdentity(exe_path="C:\\Tools\\acme-cad.exe")


def test_without_local_overrides_the_bundled_catalog_is_used(tmp_path):
    catalog = merged_catalog(tmp_path / "none.yaml")
    assert "+local" not in catalog.version


def test_a_correction_renames_and_changes_the_catalog_version(tmp_path):
    path = tmp_path / "overrides.yaml"
    catalog = append_override(
        path, Override(path_glob="*/acme-cad.exe", product="autodesk-autocad", reason="site install")
    )
    assert "+local." in catalog.version
    watcher = CatalogWatcher(path, period=0)
    assert fingerprint(watcher.current(), TOOL).product == "AutoCAD"


def test_a_correction_naming_an_unknown_product_is_refused_and_not_written(tmp_path):
    path = tmp_path / "overrides.yaml"
    with pytest.raises(ValidationError):
        append_override(path, Override(path_glob="*/x.exe", product="no-such-product", reason="typo"))
    assert not path.exists()


def test_the_watcher_picks_up_a_changed_file_without_a_restart(tmp_path):
    path = tmp_path / "overrides.yaml"
    watcher = CatalogWatcher(path, period=0)
    assert fingerprint(watcher.current(), TOOL).category == "unknown"
    append_override(path, Override(path_glob="*/acme-cad.exe", category="background", reason="licence server"))
    os.utime(path, (1, 1))
    assert fingerprint(watcher.current(), TOOL).category == "background"
