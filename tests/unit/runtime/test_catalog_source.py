import os

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from schemas.catalog import ExecutableIdentity, Override
from schemas.records import SourceRecord
from streams.pipeline.name.fingerprint import fingerprint
from streams.runtime.catalog_source import (
    CatalogWatcher,
    InvalidCorrectionError,
    TopicCorrections,
    append_override,
    correction_message,
    merged_catalog,
    read_approvals,
    read_correction,
    read_local_overrides,
)

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


CORRECTION = Override(path_glob="*\\Tools\\ACME-cad.exe", product="autodesk-autocad", reason="site install")
TOPIC = "seatmeter.catalog-overrides"
PRODUCTS = frozenset({"autodesk-autocad"})


def on_topic(key: bytes | None, value: bytes, offset: int = 0) -> SourceRecord:
    return SourceRecord(TOPIC, 0, offset, value, key)


def test_a_correction_is_keyed_by_its_normalized_match():
    key, value = correction_message(CORRECTION)
    assert key == b"path_glob:*/tools/acme-cad.exe"
    assert read_correction(on_topic(key, value), PRODUCTS) == (key.decode(), CORRECTION)


def test_a_tombstone_withdraws_the_correction_under_its_key():
    assert read_correction(on_topic(b"sha256:" + b"a" * 64, b""), PRODUCTS) == ("sha256:" + "a" * 64, None)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param(None, correction_message(CORRECTION)[1], "no key", id="no key"),
        pytest.param(b"\xff", correction_message(CORRECTION)[1], "not UTF-8", id="key not UTF-8"),
        pytest.param(b"path:x", b"{not json", "not JSON", id="not JSON"),
        pytest.param(b"path:x", b"[1]", "not a JSON object", id="JSON but no object"),
        pytest.param(b"path:x", b'{"schema_version": 2}', "schema_version", id="newer schema"),
        pytest.param(b"path:x", b'{"path": "x", "product": "autodesk-autocad"}', "reason", id="no reason"),
        pytest.param(b"path:x", b'{"path": "x", "category": "app", "reason": "why"}', "category", id="bad category"),
        pytest.param(b"path:y", b'{"path": "x", "category": "background", "reason": "why"}', "key", id="other key"),
        pytest.param(b"path:x", b'{"path": "x", "product": "nope", "reason": "why"}', "unknown product", id="unknown"),
    ],
)
def test_invalid_records_are_refused_with_a_reason(key, value, reason):
    with pytest.raises(InvalidCorrectionError, match=reason):
        read_correction(on_topic(key, value), PRODUCTS)


def invalid_count() -> float:
    return REGISTRY.get_sample_value("seatmeter_catalog_corrections_invalid_total", {"topic": TOPIC}) or 0.0


def test_the_topic_state_keeps_the_newest_correction_per_match_and_skips_invalid_records():
    key, value = correction_message(CORRECTION)
    newer = CORRECTION.model_copy(update={"product": None, "category": "background", "reason": "licence server"})
    state = TopicCorrections(TOPIC, PRODUCTS)
    before = invalid_count()
    assert state.apply([on_topic(key, value, 0), on_topic(b"path:x", b"junk", 1), on_topic(*correction_message(newer))])
    assert state.overrides == (newer,)
    assert invalid_count() == before + 1
    assert not state.apply([on_topic(*correction_message(newer))])
    assert state.apply([on_topic(key, b"")]) and state.overrides == ()


def test_topic_corrections_rename_and_name_themselves_in_the_version(tmp_path):
    local = tmp_path / "overrides.yaml"
    append_override(local, Override(path_glob="*/acme-cad.exe", category="background", reason="local guess"))
    watcher = CatalogWatcher(local, period=3600)
    assert fingerprint(watcher.current(), TOOL).category == "background"
    watcher.use_topic_overrides((CORRECTION,))
    named = fingerprint(watcher.current(), TOOL)
    assert named.product == "AutoCAD"
    assert "+local." in named.catalog_version and "+topic." in named.catalog_version
    watcher.use_topic_overrides(())
    assert "+topic." not in fingerprint(watcher.current(), TOOL).catalog_version


def test_the_topic_digest_does_not_depend_on_arrival_order():
    other = Override(sha256="b" * 64, category="background", reason="agent")
    assert merged_catalog(None, (CORRECTION, other)).version != merged_catalog(None, (CORRECTION,)).version
    first, second = TopicCorrections(TOPIC, PRODUCTS), TopicCorrections(TOPIC, PRODUCTS)
    first.apply([on_topic(*correction_message(CORRECTION)), on_topic(*correction_message(other))])
    second.apply([on_topic(*correction_message(other)), on_topic(*correction_message(CORRECTION))])
    assert merged_catalog(None, first.overrides).version == merged_catalog(None, second.overrides).version


def test_a_local_correction_replaces_an_earlier_one_for_the_same_match(tmp_path):
    path = tmp_path / "overrides.yaml"
    append_override(path, Override(path_glob="*/acme-cad.exe", category="background", reason="first guess"))
    append_override(path, Override(path_glob="*/acme-cad.exe", product="autodesk-autocad", reason="site install"))
    assert len(read_local_overrides(path)) == 1
    assert fingerprint(CatalogWatcher(path, period=0).current(), TOOL).product == "AutoCAD"


def test_an_approved_list_is_read_from_its_file(tmp_path):
    path = tmp_path / "approved.yaml"
    assert read_approvals(path) == ()
    path.write_text("approved:\n  - {product: adobe-acrobat, reason: site agreement}\n")
    assert [a.product for a in read_approvals(path)] == ["adobe-acrobat"]
