"""Planning a direct import: the importer's messages, decoded as the worker decodes them."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import pytest

from schemas.reference import DirectoryRecord, Entitlement
from streams.pipeline.admit.pseudonymize import PseudonymKey, pseudonymize
from streams.pipeline.decode.reference import decode_directory, decode_entitlement
from streams.tools.importers import to_messages
from streams.tools.reference_import import ImportRefusedError, plan_import

KEY = PseudonymKey("k1", b"import-test-secret")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POOL = Entitlement.model_validate(
    {"pool_id": "cad", "name": "AutoCAD", "products": ["autodesk-autocad"], "license_model": "concurrent_user",
     "seats": 20, "unit_cost": "1", "currency": "EUR"}
)  # fmt: skip
PERSON = DirectoryRecord.model_validate({"user": "ana.silva@example.com", "display_name": "Ana", "department": "R&D"})


@pytest.mark.parametrize(
    ("messages", "decode", "expected"),
    [
        pytest.param(to_messages([POOL]), decode_entitlement, [("cad", 7)], id="a pool, versioned as given"),
        pytest.param(
            to_messages([PERSON], KEY),
            partial(decode_directory, key=KEY),
            [(pseudonymize("ana.silva@example.com", KEY), 7)],
            id="a person, under the worker's pseudonym",
        ),
    ],
)
def test_an_import_plans_the_rows_a_worker_would_write(messages, decode, expected):
    planned = plan_import("topic", messages, decode, 7, NOW)
    keys = [getattr(v.change, "pool_id", None) or v.change.user_key for v in planned]
    assert list(zip(keys, [v.offset for v in planned], strict=True)) == expected
    assert all(v.received_at == NOW for v in planned)


def test_a_person_keeps_no_display_name_unless_raw_names_may_be_stored():
    (planned,) = plan_import("topic", to_messages([PERSON], KEY), partial(decode_directory, key=KEY), 1, NOW)
    assert planned.change.entry.display_name is None
    assert planned.change.entry.department == "R&D"


def test_a_record_the_worker_would_refuse_writes_nothing():
    made_elsewhere = to_messages([PERSON], PseudonymKey("k2", b"another-secret"))
    with pytest.raises(ImportRefusedError, match="1 record.*made with another key"):
        plan_import("topic", made_elsewhere, partial(decode_directory, key=KEY), 1, NOW)
