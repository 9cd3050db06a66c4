from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.osquery import HostLine
from schemas.usage import ExecutableRef, SessionType, UsageKind, UsageSource
from streams.pipeline.decode.opening import STAGE, derived_event_id
from streams.pipeline.decode.osquery import (
    OsqueryDecoded,
    Platform,
    SkipReason,
    decode_osquery,
    is_service_account,
    normalize_path,
    platform_of,
    session_type,
)
from tests.unit.helpers import FIXTURES, json_values, record

OSQUERY = FIXTURES / "osquery"
INVALID = OSQUERY / "invalid"
SNAPSHOT, STOP = UsageKind.SNAPSHOT, UsageKind.STOP
SERVICE, NO_USER = SkipReason.SERVICE_ACCOUNT, SkipReason.NO_USER
WINDOWS_QUERY = "pack_seatmeter-usage_processes_windows"
EXCEL = "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE"


def decode_fixture(name: str, **options) -> OsqueryDecoded:
    return decode_osquery(record((OSQUERY / f"{name}.json").read_bytes(), topic="seatmeter.osquery-results"), **options)


def line(rows=None, **overrides):
    """A valid snapshot line of the Linux query; ``rows`` replaces its one row."""
    document = {
        "snapshot": rows if rows is not None else [row()],
        "action": "snapshot",
        "name": "pack_seatmeter-usage_processes_linux",
        "hostIdentifier": "lnx-build-07",
        "calendarTime": "Fri Nov 27 11:00:00 2026 UTC",
        "unixTime": 1795777200,
        "epoch": 0,
        "counter": 0,
        "numerics": False,
        "decorations": {"host_uuid": "9f3c2a10-5b7e-4d61-a2c4-7e8f90a1b2c3"},
    }
    document.update(overrides)
    return document


def row(**overrides):
    columns = {
        "pid": "48210",
        "name": "code",
        "path": "/usr/share/code/code",
        "start_time": "1795775611",
        "uid": "1000",
        "username": "chen",
        "platform": "linux",
    }
    columns.update(overrides)
    return columns


def usage_of(decoded: OsqueryDecoded):
    """Every row's usage event: snapshot rows' events, then the differential rows' (as changes)."""
    return decoded.events + [change.event for change in decoded.changes]


def assert_accounted(decoded: OsqueryDecoded) -> None:
    """Every row ends as an event, a change, a rejection or a skip; a refused line is one rejection and nothing else."""
    whole_line_refused = decoded.rows == 0 and len(decoded.rejections) == 1 and not usage_of(decoded)
    counted = len(usage_of(decoded)) + len(decoded.rejections) + sum(decoded.skipped.values())
    assert whole_line_refused or counted == decoded.rows
    assert all(r.reason and r.stage == STAGE for r in decoded.rejections)


# --- every fixture --------------------------------------------------------------------------------------------------

FIXTURE_CASES = [
    pytest.param(
        "windows_snapshot",
        [SNAPSHOT] * 4,
        ["ana"] * 4,
        {SERVICE: 1},
        "Europe/Berlin",
        id="windows snapshot, DWM skipped",
    ),
    pytest.param(
        "windows_snapshot_event_type", [SNAPSHOT], ["ana"], {}, "Europe/Berlin", id="windows snapshot as one event line"
    ),
    pytest.param(
        "windows_added_osquery_column_names", [SNAPSHOT], ["omar"], {}, None, id="windows added, osquery column names"
    ),
    pytest.param(
        "windows_batch_service_accounts", [SNAPSHOT], ["omar"], {SERVICE: 2}, None, id="windows batch, service accounts"
    ),
    pytest.param(
        "macos_differential_added", [SNAPSHOT], ["ben"], {}, "America/New_York", id="macos differential added"
    ),
    pytest.param(
        "macos_differential_removed", [STOP], ["ben"], {}, "America/New_York", id="macos differential removed"
    ),
    pytest.param(
        "macos_snapshot_all_processes", [SNAPSHOT] * 2, ["ben"] * 2, {SERVICE: 3}, None, id="macos select star snapshot"
    ),
    pytest.param(
        "linux_batch_diff_results",
        [SNAPSHOT, SNAPSHOT, SNAPSHOT, STOP],
        ["chen"] * 4,
        {},
        "Asia/Kolkata",
        id="linux batch diffResults",
    ),
    pytest.param(
        "linux_snapshot_numerics",
        [SNAPSHOT] * 2,
        ["chen", "dana"],
        {NO_USER: 1},
        "Asia/Kolkata",
        id="linux numerics, directory user without name",
    ),
    pytest.param("linux_snapshot_empty", [], [], {}, None, id="linux empty snapshot"),
    pytest.param("linux_legacy_hostname_strings", [SNAPSHOT], ["erin"], {}, None, id="legacy hostname and strings"),
]


def test_every_fixture_has_a_case():
    listed = {case.values[0] for case in FIXTURE_CASES}
    assert listed == {path.stem for path in OSQUERY.glob("*.json")}


@pytest.mark.parametrize(("name", "kinds", "users", "skipped", "timezone"), FIXTURE_CASES)
def test_fixture_decodes_to_usage(name, kinds, users, skipped, timezone):
    decoded = decode_fixture(name)
    raw = orjson.loads((OSQUERY / f"{name}.json").read_bytes())
    host = raw.get("hostIdentifier") or raw.get("hostname")
    assert decoded.rejections == []
    assert [e.kind for e in usage_of(decoded)] == kinds
    assert [e.user for e in usage_of(decoded)] == users
    assert dict(decoded.skipped) == skipped
    assert_accounted(decoded)
    assert decoded.line is not None
    assert decoded.line.host == host
    for event in usage_of(decoded):
        assert event.source == UsageSource.OSQUERY
        assert event.source_instance == "osquery"
        assert event.device_id == host
        assert event.device_timezone == timezone
        assert event.event_time == datetime.fromtimestamp(int(raw["unixTime"]), tz=UTC)
        assert event.event_time.utcoffset().total_seconds() == 0
        assert event.interval_seconds == (0.0 if event.kind == STOP else 900.0)
        assert event.active_seconds is None
        assert event.idle_seconds is None
        assert event.session_type == SessionType.UNKNOWN
        assert event.executable is not None
        assert event.saas_app is None


@pytest.mark.parametrize(
    ("name", "index", "expected"),
    [
        pytest.param(
            "windows_snapshot",
            0,
            ExecutableRef(EXCEL, "EXCEL.EXE", "Microsoft Corporation", None, "16.0.17928.20114"),
            id="windows version and signer from the pack",
        ),
        pytest.param(
            "windows_snapshot",
            3,
            ExecutableRef("\\\\fileserver01\\apps\\LabTool\\labtool.exe", "labtool.exe"),
            id="windows share, unsigned, no version",
        ),
        pytest.param(
            "windows_added_osquery_column_names",
            0,
            ExecutableRef(
                "C:\\Program Files\\Autodesk\\AutoCAD 2025\\acad.exe", "acad.exe", "Autodesk, Inc.", None, "25.0.58.0"
            ),
            id="windows product_version and subject_name, forward slashes",
        ),
        pytest.param(
            "macos_differential_added",
            0,
            ExecutableRef(
                "/Applications/Adobe Photoshop 2025/Adobe Photoshop 2025.app/Contents/MacOS/Adobe Photoshop 2025",
                "Adobe Photoshop 2025",
                None,
                "Adobe Photoshop 2025",
                "26.1.0",
            ),
            id="macos bundle executable with bundle name and version",
        ),
        pytest.param(
            "macos_snapshot_all_processes",
            0,
            ExecutableRef("/Applications/Slack.app/Contents/MacOS/Slack", "Slack"),
            id="macos data volume prefix dropped",
        ),
        pytest.param(
            "linux_batch_diff_results",
            1,
            ExecutableRef("/usr/lib/firefox/firefox", "firefox"),
            id="linux file name from path, not comm",
        ),
        pytest.param(
            "linux_batch_diff_results",
            2,
            ExecutableRef("/usr/lib/slack/slack", "slack"),
            id="linux deleted mark dropped",
        ),
    ],
)
def test_executable_is_mapped_and_normalized(name, index, expected):
    assert usage_of(decode_fixture(name))[index].executable == expected


def test_device_group_comes_from_decorations():
    assert {e.device_group for e in usage_of(decode_fixture("macos_differential_added"))} == {"design"}
    assert {e.device_group for e in decode_fixture("windows_snapshot").events} == {None}


# --- event ids ------------------------------------------------------------------------------------------------------


def test_event_id_is_derived_from_the_observation():
    [excel, *_] = decode_fixture("windows_snapshot").events
    parts = ("WS-0001", WINDOWS_QUERY, 11872, 1795766412, EXCEL, 1795770900, "snapshot")
    assert excel.event_id == derived_event_id("osquery", *parts)
    assert excel.event_id == "osquery:dbab8b2ef9b1435d3e049e173a97d26b"


def test_a_resent_line_gets_the_same_ids():
    raw = (OSQUERY / "linux_batch_diff_results.json").read_bytes()
    first = decode_osquery(record(raw, offset=10))
    again = decode_osquery(record(raw, offset=99, partition=3))
    assert [e.event_id for e in usage_of(first)] == [e.event_id for e in usage_of(again)]
    assert first.changes == again.changes
    assert len({e.event_id for e in usage_of(first)}) == len(usage_of(first))


def test_snapshot_formats_agree_on_ids():
    whole = decode_fixture("windows_snapshot").events[0]
    split = decode_fixture("windows_snapshot_event_type").events[0]
    assert whole == split


def test_numerics_do_not_change_ids():
    as_strings = decode_osquery(record(line()))
    as_numbers = decode_osquery(record(line([row(pid=48210, start_time=1795775611, uid=1000)], numerics=True)))
    assert as_strings.events == as_numbers.events


def test_batch_and_event_formats_agree_on_ids():
    header = {k: v for k, v in line().items() if k not in ("snapshot", "action")}
    batch = decode_osquery(record({**header, "diffResults": {"added": [row()], "removed": [row()]}}))
    added = decode_osquery(record({**header, "columns": row(), "action": "added"}))
    removed = decode_osquery(record({**header, "columns": row(), "action": "removed"}))
    assert batch.changes == added.changes + removed.changes
    assert added.changes[0].event.event_id != removed.changes[0].event.event_id
    assert added.changes[0].run_id == removed.changes[0].run_id


# --- time -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unix_time",
    [
        pytest.param(1795777200, id="number"),
        pytest.param("1795777200", id="string"),
        pytest.param(1795777200.0, id="whole float"),
    ],
)
def test_unix_time_becomes_utc(unix_time):
    [event] = decode_osquery(record(line(unixTime=unix_time))).events
    assert event.event_time == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    assert event.event_time.tzinfo == UTC


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({"decorations": {"timezone": "Europe/Berlin"}}, "Europe/Berlin", id="iana decoration"),
        pytest.param({"decorations": {"timezone": " Asia/Kolkata "}}, "Asia/Kolkata", id="padded"),
        pytest.param({"timezone": "America/Chicago"}, "America/Chicago", id="decorations at top level"),
        pytest.param({"decorations": {"timezone": "PST"}}, None, id="abbreviation ignored"),
        pytest.param({"decorations": {"timezone": "../../etc/passwd"}}, None, id="not a zone name"),
        pytest.param({"decorations": {"timezone": 2}}, None, id="not text"),
        pytest.param({"decorations": {}}, None, id="no decoration"),
    ],
)
def test_device_timezone_from_decorations(overrides, expected):
    [event] = decode_osquery(record(line(**overrides))).events
    assert event.device_timezone == expected


# --- who counts -----------------------------------------------------------------------------------------------------

DOMAIN_SID = "S-1-5-21-3623811015-3361044348-30300820-1104"


@pytest.mark.parametrize(
    ("user", "uid", "sid", "platform", "expected"),
    [
        pytest.param("SYSTEM", 18, "S-1-5-18", Platform.WINDOWS, True, id="windows SYSTEM"),
        pytest.param("LOCAL SERVICE", 19, None, Platform.WINDOWS, True, id="windows LOCAL SERVICE by name"),
        pytest.param("NT AUTHORITY\\NETWORK SERVICE", None, None, Platform.WINDOWS, True, id="windows qualified name"),
        pytest.param("MSSQLSERVER", 0, "S-1-5-80-3880718306-3832830129", Platform.WINDOWS, True, id="windows service"),
        pytest.param("DefaultAppPool", 0, "S-1-5-82-3006700770-424185619", Platform.WINDOWS, True, id="iis app pool"),
        pytest.param("UMFD-0", 0, None, Platform.WINDOWS, True, id="windows font driver host"),
        pytest.param("Window Manager\\DWM-3", 3, None, Platform.WINDOWS, True, id="windows desktop window manager"),
        pytest.param("WS-0001$", 1003, None, Platform.WINDOWS, True, id="windows machine account"),
        pytest.param("ana", 1104, DOMAIN_SID, Platform.WINDOWS, False, id="windows person"),
        pytest.param("Administrator", 500, None, Platform.WINDOWS, False, id="windows built-in administrator"),
        pytest.param("root", 0, None, Platform.LINUX, True, id="linux root"),
        pytest.param("systemd-timesync", 999, None, Platform.LINUX, True, id="linux system uid"),
        pytest.param("chen", 1000, None, Platform.LINUX, False, id="linux first person"),
        pytest.param("jdoe", 1234567, None, Platform.LINUX, False, id="linux directory user"),
        pytest.param("nobody", 65534, None, Platform.LINUX, True, id="linux nobody"),
        pytest.param("", 998, None, Platform.LINUX, True, id="linux system uid without name"),
        pytest.param("root", None, None, Platform.LINUX, True, id="root without uid"),
        pytest.param("chen", None, None, Platform.LINUX, False, id="person without uid"),
        pytest.param("_windowserver", 88, None, Platform.DARWIN, True, id="macos underscore account"),
        pytest.param("ben", 501, None, Platform.DARWIN, False, id="macos first person"),
        pytest.param("nobody", 4294967294, None, Platform.DARWIN, True, id="macos nobody unsigned"),
        pytest.param("ben", 501, None, Platform.POSIX, False, id="unknown posix keeps macos people"),
        pytest.param("daemon", 499, None, Platform.POSIX, True, id="unknown posix system uid"),
    ],
)
def test_service_accounts(user, uid, sid, platform, expected):
    assert is_service_account(user, uid, sid, platform) is expected


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        pytest.param({"uid": "0", "username": "root"}, SkipReason.SERVICE_ACCOUNT, id="root"),
        pytest.param({"uid": "1234567", "username": ""}, SkipReason.NO_USER, id="user not in users table"),
        pytest.param({"uid": "1000", "username": "   "}, SkipReason.NO_USER, id="blank user"),
        pytest.param({"path": ""}, SkipReason.NO_PATH, id="no path"),
        pytest.param({"path": None}, SkipReason.NO_PATH, id="null path"),
    ],
)
def test_rows_without_a_person_or_program_are_skipped_and_counted(columns, reason):
    decoded = decode_osquery(record(line([row(**columns), row(pid="1")])))
    assert decoded.rejections == []
    assert len(decoded.events) == 1
    assert decoded.skipped == {reason: 1}


# --- small rules ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "path", "expected"),
    [
        pytest.param("windows", "", Platform.WINDOWS, id="declared windows"),
        pytest.param("darwin", "/usr/bin/vim", Platform.DARWIN, id="declared darwin"),
        pytest.param("ubuntu", "/usr/bin/vim", Platform.LINUX, id="distribution id means linux"),
        pytest.param(None, "C:\\Windows\\notepad.exe", Platform.WINDOWS, id="drive letter"),
        pytest.param("", "\\\\server\\share\\tool.exe", Platform.WINDOWS, id="unc share"),
        pytest.param(None, "/Applications/Xcode.app/Contents/MacOS/Xcode", Platform.DARWIN, id="app bundle"),
        pytest.param(None, "/usr/bin/python3", Platform.POSIX, id="unknown posix"),
    ],
)
def test_platform_of(declared, path, expected):
    assert platform_of(declared, path) is expected


@pytest.mark.parametrize(
    ("raw", "platform", "expected"),
    [
        pytest.param("c:/Tools/x.exe", Platform.WINDOWS, "C:\\Tools\\x.exe", id="forward slashes, lower drive"),
        pytest.param("\\\\?\\C:\\Tools\\x.exe", Platform.WINDOWS, "C:\\Tools\\x.exe", id="long path prefix"),
        pytest.param("\\??\\C:\\Tools\\x.exe", Platform.WINDOWS, "C:\\Tools\\x.exe", id="nt object prefix"),
        pytest.param("\\\\?\\UNC\\srv\\apps\\x.exe", Platform.WINDOWS, "\\\\srv\\apps\\x.exe", id="long unc prefix"),
        pytest.param("C:\\Tools\\\\bin\\x.exe", Platform.WINDOWS, "C:\\Tools\\bin\\x.exe", id="doubled backslash"),
        pytest.param("/usr/bin/vim (deleted)", Platform.LINUX, "/usr/bin/vim", id="linux deleted binary"),
        pytest.param("/opt//tool/bin/tool", Platform.LINUX, "/opt/tool/bin/tool", id="doubled slash"),
        pytest.param(
            "/System/Volumes/Data/Applications/Zoom.app/Contents/MacOS/zoom.us",
            Platform.DARWIN,
            "/Applications/Zoom.app/Contents/MacOS/zoom.us",
            id="macos data volume",
        ),
        pytest.param(
            "/Applications/Safari.app/Contents/MacOS/Safari",
            Platform.DARWIN,
            "/Applications/Safari.app/Contents/MacOS/Safari",
            id="macos bundle executable unchanged",
        ),
    ],
)
def test_normalize_path(raw, platform, expected):
    assert normalize_path(raw, platform) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("rdp", SessionType.RDP, id="seatmeter name"),
        pytest.param("CITRIX", SessionType.CITRIX, id="upper case"),
        pytest.param("RemoteInteractive", SessionType.RDP, id="windows remote logon type"),
        pytest.param("Interactive", SessionType.CONSOLE, id="windows console logon type"),
        pytest.param("ssh", SessionType.SSH, id="ssh"),
        pytest.param("Network", SessionType.UNKNOWN, id="unmapped logon type"),
        pytest.param("", SessionType.UNKNOWN, id="empty"),
        pytest.param(None, SessionType.UNKNOWN, id="absent"),
    ],
)
def test_session_type(value, expected):
    assert session_type(value) is expected


def test_session_type_column_reaches_the_event():
    [event] = decode_osquery(record(line([row(session_type="ssh")]))).events
    assert event.session_type == SessionType.SSH


def test_interval_and_source_instance_are_the_callers():
    header = {k: v for k, v in line().items() if k not in ("snapshot", "action")}
    batch = {**header, "diffResults": {"added": [row()], "removed": [row(pid="9")]}}
    decoded = decode_osquery(record(batch), interval_seconds=300.0, source_instance="osquery-emea")
    assert [(e.kind, e.interval_seconds) for e in usage_of(decoded)] == [(SNAPSHOT, 300.0), (STOP, 0.0)]
    assert {e.source_instance for e in usage_of(decoded)} == {"osquery-emea"}


@pytest.mark.parametrize("interval", [0.0, -900.0, float("nan"), float("inf")])
def test_interval_must_be_positive(interval):
    with pytest.raises(ValueError, match="interval_seconds"):
        decode_osquery(record(line()), interval_seconds=interval)


# --- rejections -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(INVALID.glob("*.json")), ids=lambda p: p.stem)
def test_invalid_fixture_is_rejected_with_its_reason(path):
    fragment = path.with_suffix(".reason").read_text().strip()
    decoded = decode_osquery(record(path.read_bytes()))
    assert usage_of(decoded) == []
    assert decoded.rejections
    for rejection in decoded.rejections:
        assert rejection.stage == STAGE
        assert fragment in rejection.reason
        assert "chen" not in rejection.reason
    assert_accounted(decoded)


def test_every_invalid_fixture_has_a_reason():
    assert {p.stem for p in INVALID.glob("*.json")} == {p.stem for p in INVALID.glob("*.reason")}


@pytest.mark.parametrize(
    ("payload", "reason_part"),
    [
        pytest.param(b"[1, 2]", "expected a JSON object", id="json array"),
        pytest.param(b'"snapshot"', "expected a JSON object", id="json string"),
        pytest.param(line(name=""), "name: String should have at least 1 character", id="empty query name"),
        pytest.param(line(hostIdentifier="  "), "hostIdentifier", id="blank host"),
        pytest.param(line(counter=-1), "counter", id="negative counter"),
        pytest.param(line(snapshot="rows"), "snapshot: Input should be a valid list", id="rows not a list"),
        pytest.param(line(snapshot=["row"]), "snapshot.0: Input should be a valid dictionary", id="row not an object"),
        pytest.param(line(action="added"), "action: Input should be 'snapshot'", id="snapshot with added action"),
    ],
)
def test_bad_lines_are_rejected_whole(payload, reason_part):
    decoded = decode_osquery(record(payload))
    assert decoded.events == []
    [rejection] = decoded.rejections
    assert rejection.item_index is None
    assert rejection.payload == record(payload).value
    assert reason_part in rejection.reason


def test_one_bad_row_costs_only_itself():
    header = {k: v for k, v in line().items() if k not in ("snapshot", "action")}
    batch = {**header, "diffResults": {"added": [row(), row(pid="1")], "removed": [row(pid="2"), row(pid="-5")]}}
    decoded = decode_osquery(record(batch))
    assert [e.kind for e in usage_of(decoded)] == [SNAPSHOT, SNAPSHOT, STOP]
    [rejection] = decoded.rejections
    assert rejection.item_index == 3
    assert rejection.reason.startswith("diffResults.removed[1]: pid: ")
    assert orjson.loads(rejection.payload) == row(pid="-5")
    assert_accounted(decoded)


def test_reasons_never_echo_the_offending_values():
    decoded = decode_osquery(record(line([row(pid="SECRET-PID-XYZ", username={"n": "SECRET-USER-XYZ"})])))
    [rejection] = decoded.rejections
    assert "SECRET" not in rejection.reason
    assert "pid" in rejection.reason
    assert "username" in rejection.reason


# --- never raises ---------------------------------------------------------------------------------------------------

column_values = json_values | st.sampled_from(["", "0", "501", "1000", "1795777200", "C:\\x.exe", "/usr/bin/x"])
rows = st.dictionaries(st.sampled_from([*row(), "user_sid", "session_type", "version", "sha256"]), column_values)
LINE_KEYS = [*line(), "columns", "diffResults", "hostname"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(raw):
    decoded = decode_osquery(record(raw))
    assert_accounted(decoded)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(LINE_KEYS), json_values, max_size=12))
def test_arbitrary_json_objects_end_as_events_rejections_or_nothing(document):
    decoded = decode_osquery(record(document))
    assert_accounted(decoded)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80) | json_values)
def test_any_timezone_decoration_is_kept_only_as_a_zone_name(zone):
    [event] = decode_osquery(record(line(decorations={"timezone": zone}))).events
    assert event.device_timezone is None or event.device_timezone == zone.strip()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(rows, max_size=6),
    st.sampled_from(["snapshot", "columns", "diffResults"]),
    st.sampled_from(["snapshot", "added", "removed"]),
)
def test_arbitrary_rows_in_valid_lines_are_all_accounted_for(generated, shape, action):
    header = {k: v for k, v in line().items() if k not in ("snapshot", "action")}
    if shape == "snapshot":
        document = {**header, "snapshot": generated, "action": "snapshot"}
    elif shape == "columns":
        document = {**header, "columns": generated[0] if generated else {}, "action": action}
    else:
        document = {**header, "diffResults": {"added": generated, "removed": generated[:2]}}
    decoded = decode_osquery(record(document))
    assert_accounted(decoded)
    assert decoded.rows == {"snapshot": len(generated), "columns": 1}.get(shape, len(generated) + len(generated[:2]))
    for event in usage_of(decoded):
        assert event.user.strip()
        assert event.executable is not None
        assert event.executable.path
        assert event.executable.file_name
        assert event.event_time.tzinfo == UTC


# --- signs of life and differential state ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            line(),
            HostLine("lnx-build-07", "pack_seatmeter-usage_processes_linux", 1795777200000),
            id="a snapshot line",
        ),  # fmt: skip
        pytest.param(
            {**line(), "snapshot": [{"instance_id": "7c4e", "seatmeter_heartbeat": "1"}], "epoch": 3},
            HostLine(
                "lnx-build-07",
                "pack_seatmeter-usage_processes_linux",
                1795777200000,
                heartbeat=True,
                generation="7c4e:3",
            ),
            id="a heartbeat names its osquery instance and epoch",
        ),  # fmt: skip
        pytest.param(
            {**{k: v for k, v in line().items() if k != "snapshot"}, "columns": row(), "action": "added"},
            HostLine("lnx-build-07", "pack_seatmeter-usage_processes_linux", 1795777200000, initial=True),
            id="added at counter 0: osquery's initial results",
        ),
        pytest.param(
            {
                **{k: v for k, v in line().items() if k not in ("snapshot", "counter")},
                "columns": row(),
                "action": "added",
            },
            HostLine("lnx-build-07", "pack_seatmeter-usage_processes_linux", 1795777200000),
            id="no counter (old releases): no restart can be told",
        ),
    ],
)
def test_every_valid_line_is_a_sign_of_life(document, expected):
    assert decode_osquery(record(document)).line == expected


def test_heartbeat_rows_are_skipped_not_dead_lettered():
    decoded = decode_osquery(record({**line(), "snapshot": [{"pid": "1", "seatmeter_heartbeat": "1"}]}))
    assert (decoded.events, decoded.rejections, dict(decoded.skipped)) == ([], [], {SkipReason.HEARTBEAT: 1})


def test_differential_rows_of_one_process_share_a_run():
    header = {k: v for k, v in line().items() if k not in ("snapshot", "action")}
    first = decode_osquery(record({**header, "columns": row(), "action": "added"}))
    later = decode_osquery(record({**header, "unixTime": 1795780800, "columns": row(), "action": "removed"}))
    other = decode_osquery(record({**header, "columns": row(pid="48211"), "action": "added"}))
    assert first.events == later.events == []
    assert [(c.added, c.run_id) for c in first.changes + later.changes] == [(True, first.changes[0].run_id)] + [
        (False, first.changes[0].run_id)
    ]
    assert other.changes[0].run_id != first.changes[0].run_id


def test_the_pack_has_a_heartbeat_at_the_process_queries_interval_routed_to_the_topic():
    deploy = FIXTURES.parents[1] / "deploy" / "osquery"
    queries = orjson.loads((deploy / "packs" / "seatmeter-usage.conf").read_bytes())["queries"]
    heartbeat = queries.pop("heartbeat")
    assert "AS seatmeter_heartbeat FROM osquery_info" in heartbeat["query"]
    assert "instance_id" in heartbeat["query"]
    assert heartbeat["snapshot"] is True
    assert {q["interval"] for q in queries.values()} == {heartbeat["interval"]}
    routed = orjson.loads((deploy / "seatmeter.conf").read_bytes())["kafka_topics"]["seatmeter.osquery-results"]
    assert set(routed) == {f"pack_seatmeter-usage_{name}" for name in [*queries, "heartbeat"]}
