import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.records import SourceRecord
from schemas.reference import CostCentreShare, DirectoryRecord
from streams.pipeline.admit.pseudonymize import PseudonymKey, pseudonymize
from streams.pipeline.decode.reference import decode_directory, decode_entitlement, key_stamp
from streams.tools.importers import ReferenceImportError, read_directory, read_entitlements, to_messages
from tests.unit.helpers import FIXTURES

REFERENCE = FIXTURES / "reference"
INVALID = REFERENCE / "invalid" / "import"
KEY = PseudonymKey("k1", b"importer-test-secret")
ENTITLEMENT_HEADER = "pool_id,name,products,suites,license_model,seats,unit_cost,currency,cost_centres"
DIRECTORY_HEADER = "user,aliases,display_name,department,manager,status,leaving_date"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding, newline="")
    return path


def problems_of(error: pytest.ExceptionInfo[ReferenceImportError]) -> list[tuple[int | None, int | None, str | None]]:
    return [(p.line, p.row, p.field) for p in error.value.problems]


def raw_identities(people: list[DirectoryRecord]) -> set[str]:
    names = {p.user for p in people} | {a for p in people for a in p.aliases} | {p.display_name or "" for p in people}
    names |= {p.manager for p in people if p.manager}
    return names - {""}


# --- parity ----------------------------------------------------------------------------------------------------------


def test_entitlements_read_the_same_from_json_csv_and_yaml():
    json_, csv_, yaml_ = (read_entitlements(REFERENCE / f"entitlements.{suffix}") for suffix in ("json", "csv", "yaml"))
    assert json_ == csv_ == yaml_
    assert len(json_) == 5


def test_directory_reads_the_same_from_csv_and_yaml():
    csv_, yaml_ = read_directory(REFERENCE / "directory.csv"), read_directory(REFERENCE / "directory.yaml")
    assert csv_ == yaml_
    assert len(csv_) == 10
    assert {p.department for p in csv_} == {"Finance", "Engineering", "Design", "Sales", "Analytics", "IT"}
    assert sorted((p.status, p.leaving_date) for p in csv_ if p.status in {"leaving", "left"}) == [
        ("leaving", date(2026, 12, 31)),
        ("left", date(2026, 10, 31)),
    ]


@pytest.mark.parametrize(
    ("pool_id", "license_model", "seats", "unit_cost", "currency", "covers", "allocation"),
    [
        pytest.param(
            "m365-e3",
            "subscription_seat",
            1200,
            "432.00",
            "USD",
            ("Microsoft 365 Apps", "Microsoft 365"),
            [("CC100", "0.6"), ("CC200", "0.4")],
            id="Microsoft 365 E3: subscription seats over two suites",
        ),
        pytest.param(
            "adobe-cc-all-apps",
            "named_user",
            45,
            "1019.88",
            "EUR",
            ("Adobe Creative Cloud",),
            [("CC400", "1")],
            id="Adobe Creative Cloud: named users",
        ),
        pytest.param(
            "autocad-network",
            "concurrent_user",
            20,
            "2550.00",
            "GBP",
            ("autodesk-autocad",),
            [("CC300", "0.75"), ("CC600", "0.25")],
            id="AutoCAD: concurrent users",
        ),
        pytest.param(
            "oracle-db-ee",
            "per_core",
            32,
            "23750.00",
            "USD",
            ("oracle-database",),
            [("CC600", "1")],
            id="Oracle Database: per core, perpetual",
        ),
        pytest.param(
            "tableau-creator",
            "named_user",
            25,
            "900.00",
            "USD",
            ("tableau-desktop", "tableau-prep-builder"),
            [("CC500", "0.5"), ("CC100", "0.5")],
            id="Tableau Creator: named users over two products",
        ),
    ],
)
@pytest.mark.parametrize("suffix", ["json", "csv", "yaml"])
def test_fixture_pools(suffix, pool_id, license_model, seats, unit_cost, currency, covers, allocation):
    pools = {p.pool_id: p for p in read_entitlements(REFERENCE / f"entitlements.{suffix}")}
    pool = pools[pool_id]
    assert (pool.license_model, pool.seats, pool.unit_cost, pool.currency) == (
        license_model,
        seats,
        Decimal(unit_cost),
        currency,
    )
    assert pool.products + pool.suites == covers
    assert pool.cost_centres == tuple(CostCentreShare(cost_centre=c, share=Decimal(s)) for c, s in allocation)


# --- CSV details -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f"{ENTITLEMENT_HEADER}\nm365,M365,,Microsoft 365 ; Microsoft 365 Apps ;,subscription_seat,10,1,USD,\n",
            {"suites": ("Microsoft 365", "Microsoft 365 Apps"), "cost_centres": ()},
            id="list cell trimmed, trailing separator ignored, empty cell absent",
        ),
        pytest.param(
            f"{ENTITLEMENT_HEADER}\nm365,M365,,Microsoft 365,named_user,10,1,USD, CC100 : 0.25 ;EU:CC200:0.75\n",
            {
                "cost_centres": (
                    CostCentreShare(cost_centre="CC100", share=Decimal("0.25")),
                    CostCentreShare(cost_centre="EU:CC200", share=Decimal("0.75")),
                )
            },
            id="allocation trimmed, a colon inside a cost centre name",
        ),
        pytest.param(
            "\ufeff"
            + ENTITLEMENT_HEADER.upper().replace(",", " , ")
            + "\nm365,M365,,Microsoft 365,named_user,10,1,usd,\n",
            {"currency": "USD"},
            id="Excel byte order mark, header case and spaces",
        ),
        pytest.param(
            f'{ENTITLEMENT_HEADER}\r\n\r\nm365,"M365, E3",,Microsoft 365,named_user,10,1,USD,\r\n,,,,,,,,\r\n',
            {"name": "M365, E3"},
            id="CRLF, quoted comma, blank and empty rows skipped",
        ),
    ],
)
def test_csv_cells(tmp_path, text, expected):
    [pool] = read_entitlements(write(tmp_path, "pools.csv", text))
    assert {name: getattr(pool, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param("empty.csv", "", id="empty csv"),
        pytest.param("header.csv", DIRECTORY_HEADER + "\n", id="header only"),
        pytest.param("empty.yaml", "# nobody yet\n", id="yaml with only a comment"),
        pytest.param("empty.json", "[]", id="empty json array"),
    ],
)
def test_files_without_records_read_as_none(tmp_path, name, text):
    assert read_directory(write(tmp_path, name, text)) == []


def test_directory_csv_lists_and_optional_cells(tmp_path):
    text = f"{DIRECTORY_HEADER}\nana@example.com,CORP\\ana;ana@corp.example.com,Ana,Finance,,LEFT,2026-10-31\n"
    [ana] = read_directory(write(tmp_path, "people.csv", text))
    assert ana.aliases == ("CORP\\ana", "ana@corp.example.com")
    assert (ana.manager, ana.status, ana.leaving_date) == (None, "left", date(2026, 10, 31))


# --- clear errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected", "fragments"),
    [
        pytest.param(
            "entitlements_semicolon_delimited.csv",
            [(1, None, None)],
            ["columns must be separated by ','"],
            id="semicolon-separated csv",
        ),
        pytest.param(
            "entitlements_misspelt_column.csv",
            [(1, None, "seat"), (1, None, "seats")],
            ["unknown column", "required column missing"],
            id="misspelt column, named once",
        ),
        pytest.param(
            "entitlements_bad_rows.csv",
            [(3, 2, "seats"), (4, 3, "cost_centres"), (5, 4, "term_start"), (5, 4, "cost_centres"), (6, 5, "term_end")],
            [
                "greater than or equal to 0",
                "expected COST_CENTRE:SHARE pairs",
                "valid date",
                "shares must add up to exactly 1",
                "term_end must not be before term_start",
            ],
            id="every bad row at once, with its line and row",
        ),
        pytest.param(
            "entitlements_bad_values.yaml",
            [(7, 1, "currency"), (9, 1, "term_end"), (10, 1, "cost_centres")],
            ["should match pattern", "term_end must not be before", "valid tuple"],
            id="yaml: each problem at its field's own line",
        ),
        pytest.param(
            "entitlements_duplicate_pool.yaml",
            [(9, 2, "pool_id")],
            ["the same pool_id as row 1 (line 1)"],
            id="the same pool twice",
        ),
        pytest.param(
            "directory_bad_rows.csv",
            [(4, 3, "leaving_date"), (5, 4, "status"), (6, 5, "user"), (7, 6, "user")],
            ["required when status is leaving", "Input should be 'active'", "of row 1 (line 2)", "of row 2 (line 3)"],
            id="directory: leaving without date, unknown status, one person twice, a shared alias",
        ),
        pytest.param(
            "directory_missing_header.csv",
            [(1, None, None)],
            ["the first row must be the header"],
            id="no header row: data is not repeated as column names",
        ),
        pytest.param(
            "directory_keyed_by_user.yaml",
            [(1, None, None)],
            ["expected a list of mappings"],
            id="mapping keyed by user",
        ),
        pytest.param(
            "directory_unknown_field.yaml",
            [(3, 1, "(unnamed field)"), (5, 2, "departmnet")],
            ["Extra inputs are not permitted"] * 2,
            id="unknown fields: a misspelt one is named, an identity is not",
        ),
        pytest.param("directory_broken.yaml", [(3, None, None)], ["not valid YAML"], id="broken yaml"),
    ],
)
def test_invalid_files_name_file_line_row_and_field(fixture, expected, fragments):
    path = INVALID / fixture
    reader = read_directory if fixture.startswith("directory") else read_entitlements
    with pytest.raises(ReferenceImportError) as error:
        reader(path)
    assert problems_of(error) == expected
    for problem, fragment in zip(error.value.problems, fragments, strict=True):
        assert fragment in problem.message
        assert str(problem).startswith(f"{path}, ")
    message = str(error.value)
    for secret in ("chen", "Chen", "ana.silva", "asilva", "example.com", "Berlin", "EURO", "31/12/2019", "-3"):
        assert secret not in message


def test_every_invalid_import_fixture_is_tested():
    tested = {
        "entitlements_semicolon_delimited.csv",
        "entitlements_misspelt_column.csv",
        "entitlements_bad_rows.csv",
        "entitlements_bad_values.yaml",
        "entitlements_duplicate_pool.yaml",
        "directory_bad_rows.csv",
        "directory_missing_header.csv",
        "directory_keyed_by_user.yaml",
        "directory_unknown_field.yaml",
        "directory_broken.yaml",
    }
    assert {p.name for p in INVALID.iterdir()} == tested


@pytest.mark.parametrize(
    ("name", "text", "expected", "fragment"),
    [
        pytest.param("people.txt", "user\nana\n", [(None, None, None)], "unknown file type", id="unknown suffix"),
        pytest.param("people.json", "{", [(1, None, None)], "not valid JSON", id="broken json"),
        pytest.param("people.json", '{"user": "ana"}', [(None, None, None)], "JSON array", id="json object"),
        pytest.param("people.json", '["ana"]', [(None, 1, None)], "expected a mapping", id="json item not an object"),
        pytest.param("people.yaml", "- user: a\n- b\n", [(2, 2, None)], "expected a mapping", id="yaml item a string"),
        pytest.param(
            "people.yaml",
            "- user: a\n  status: active\n  status: left\n",
            [(3, 1, "status")],
            "field given twice",
            id="yaml key given twice",
        ),
        pytest.param(
            "people.yaml",
            "- user: a\n  pseudonymized_with: {key_id: k1, key_check: 0123456789abcdef}\n",
            [(2, 1, "pseudonymized_with")],
            "set by Seatmeter",
            id="wire-only field in a file",
        ),
        pytest.param(
            "people.csv",
            "user,status,user\nana,active,bob\n",
            [(1, None, "user")],
            "column named twice",
            id="column twice",
        ),
        pytest.param(
            "people.csv", "user,status\nana,active,extra\n", [(2, 1, None)], "3 cells", id="more cells than columns"
        ),
        pytest.param("people.csv", "user,\nana,x\n", [(2, 1, None)], "without a name", id="value under no column"),
        pytest.param(
            "people.yaml", "- user: a\n  department: 0100\n", [(2, 1, "department")], "valid string", id="yaml number"
        ),
    ],
)
def test_other_bad_files(tmp_path, name, text, expected, fragment):
    with pytest.raises(ReferenceImportError) as error:
        read_directory(write(tmp_path, name, text))
    assert problems_of(error) == expected
    assert fragment in str(error.value)


def test_unreadable_files_are_import_errors(tmp_path):
    for path in (tmp_path / "missing.csv", write(tmp_path, "latin1.csv", "user\nZoë\n", encoding="latin-1")):
        with pytest.raises(ReferenceImportError, match="cannot be read as UTF-8 text"):
            read_directory(path)


def test_many_problems_are_capped_in_the_message(tmp_path):
    text = "user,status\n" + "".join(f"u{i},gone\n" for i in range(80))
    with pytest.raises(ReferenceImportError) as error:
        read_directory(write(tmp_path, "people.csv", text))
    assert len(error.value.problems) == 80
    assert str(error.value).endswith("and 30 more")


# --- messages --------------------------------------------------------------------------------------------------------


def test_entitlement_messages_are_keyed_by_pool_and_round_trip():
    pools = read_entitlements(REFERENCE / "entitlements.csv")
    messages = to_messages(pools)
    assert [key for key, _ in messages] == [p.pool_id.encode() for p in pools]
    assert [orjson.loads(value)["unit_cost"] for _, value in messages][:2] == ["432.00", "1019.88"]  # money as text
    records = [SourceRecord("seatmeter.entitlements", 0, i, value, key) for i, (key, value) in enumerate(messages)]
    assert [decode_entitlement(r).change.entitlement for r in records] == pools


@pytest.mark.parametrize("path", [REFERENCE / "directory.csv", REFERENCE / "directory.yaml"], ids=lambda p: p.suffix)
def test_directory_messages_carry_no_raw_identity_by_default(path):
    people = read_directory(path)
    messages = to_messages(people, KEY)
    assert [key for key, _ in messages] == [pseudonymize(p.user, KEY).encode() for p in people]
    sent = b"".join(key + value for key, value in messages).decode()
    assert {name for name in raw_identities(people) if name in sent} == set()
    for (_, value), original in zip(messages, people, strict=True):
        document = orjson.loads(value)
        assert document["pseudonymized_with"] == key_stamp(KEY).model_dump()
        assert "display_name" not in document
        assert document["department"] == original.department


def test_display_names_travel_only_when_kept():
    people = read_directory(REFERENCE / "directory.csv")
    sent = b"".join(value for _, value in to_messages(people, KEY, keep_display_name=True)).decode()
    assert all(p.display_name in sent for p in people)
    assert not any(p.user in sent for p in people)


@pytest.mark.parametrize(
    ("keep_display_name", "display_sent"),
    [pytest.param(False, False, id="raw identities, no display names"), pytest.param(True, True, id="everything raw")],
)
def test_raw_identities_are_sent_only_when_asked(keep_display_name, display_sent):
    people = read_directory(REFERENCE / "directory.yaml")
    messages = to_messages(people, KEY, send_raw_identities=True, keep_display_name=keep_display_name)
    assert [key for key, _ in messages] == [pseudonymize(p.user, KEY).encode() for p in people]  # keys never raw
    values = [orjson.loads(value) for _, value in messages]
    assert [v["user"] for v in values] == [p.user for p in people]
    assert all(("display_name" in v) is display_sent for v in values)
    assert all("pseudonymized_with" not in v for v in values)


def test_directory_messages_need_the_key():
    with pytest.raises(ValueError, match="pseudonym key"):
        to_messages(read_directory(REFERENCE / "directory.csv"))


def test_importer_and_worker_agree_on_every_person():
    people = read_directory(REFERENCE / "directory.csv")
    changes = [
        decode_directory(SourceRecord("seatmeter.directory", 0, 0, v, k), KEY) for k, v in to_messages(people, KEY)
    ]
    assert all(c.rejections == () for c in changes)
    assert [c.change.user_key for c in changes] == [pseudonymize(p.user, KEY) for p in people]
    by_user = {c.change.user_key: c.change.entry for c in changes}
    farid = by_user[pseudonymize("farid.haddad@example.com", KEY)]
    assert (farid.status, farid.leaving_date, farid.manager_key) == (
        "leaving",
        date(2026, 12, 31),
        pseudonymize("eve.martin@example.com", KEY),
    )


# --- never raises anything else ---------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.sampled_from([".csv", ".yaml", ".json"]), st.booleans())
def test_any_text_is_read_or_refused_with_an_import_error(text, suffix, directory):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            (read_directory if directory else read_entitlements)(path)
        except ReferenceImportError as error:
            assert error.problems
