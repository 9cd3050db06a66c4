"""osquery process polls: each sighting of a person's process becomes a ``snapshot`` usage event.

One Kafka message is one osquery result log line (``schemas.osquery``). A poll cannot see focus or
input, so a sighting means only "running during the polling interval that ends at ``unixTime``":
``interval_seconds`` is the schedule's interval and ``active_seconds``/``idle_seconds`` stay unknown.
Snapshot rows are sightings. Differential rows are changes (:class:`ProcessChange`): ``added`` when
a process appears, ``removed`` when it is gone; ``streams.pipeline.decode.process_runs`` turns them into the
sightings a snapshot query would have logged. Every valid line also says its host was alive at
``unixTime`` (:class:`HostLine`); lines of the pack's heartbeat query say only that.

Rows are skipped (counted in :class:`OsqueryDecoded`, neither usage nor dead letters) when they belong
to a service account (see :func:`is_service_account`), name no user, or have no executable path.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import ValidationError

from schemas.osquery import (
    HostLine,
    OsqueryAction,
    OsqueryBatchLine,
    OsqueryEventLine,
    OsqueryLine,
    OsqueryProcessRow,
    ProcessChange,
    line_shape,
)
from schemas.records import SourceRecord
from schemas.usage import ExecutableRef, SessionType, UsageEvent, UsageKind, UsageSource
from streams.pipeline.decode.opening import (
    SourceDecoded,
    derived_event_id,
    describe_validation_error,
    open_object,
    reject,
)

DEFAULT_INTERVAL_SECONDS = 900.0
# The pack's heartbeat query selects this column; its lines are signs of life, not processes.
HEARTBEAT_COLUMN = "seatmeter_heartbeat"
# First uid given to people: Linux distributions (login.defs UID_MIN) and macOS (501 and up).
LINUX_FIRST_PERSON_UID = 1000
DARWIN_FIRST_PERSON_UID = 500
NOBODY_UIDS = frozenset({65534, 4294967294, -2})
POSIX_SERVICE_NAMES = frozenset({"root", "nobody", "nfsnobody"})
# SYSTEM, LOCAL SERVICE, NETWORK SERVICE; then per-service, IIS pool, Hyper-V VM, DWM and UMFD accounts.
WINDOWS_SERVICE_SIDS = frozenset({"S-1-5-18", "S-1-5-19", "S-1-5-20"})
WINDOWS_SERVICE_SID_PREFIXES = ("S-1-5-80-", "S-1-5-82-", "S-1-5-83-", "S-1-5-90-", "S-1-5-96-")
WINDOWS_SERVICE_NAMES = frozenset(
    {"system", "local service", "network service", "localsystem", "localservice", "networkservice"}
)
_WINDOWS_SESSION_ACCOUNT = re.compile(r"(?:dwm|umfd)-\d+")
_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
_DARWIN_ROOTS = ("/Applications/", "/System/", "/Library/", "/Users/", "/private/")
_DARWIN_DATA_VOLUME = "/System/Volumes/Data/"
_LINUX_DELETED = " (deleted)"
_SESSION_TYPES = frozenset(member.value for member in SessionType)
_SESSION_ALIASES = {
    "interactive": SessionType.CONSOLE,
    "cachedinteractive": SessionType.CONSOLE,
    "remoteinteractive": SessionType.RDP,
    "cachedremoteinteractive": SessionType.RDP,
}


class Platform(StrEnum):
    WINDOWS = "windows"
    DARWIN = "darwin"
    LINUX = "linux"
    POSIX = "posix"  # a POSIX path, platform unknown: the lower (macOS) uid threshold applies


class SkipReason(StrEnum):
    SERVICE_ACCOUNT = "service_account"
    NO_USER = "no_user"
    NO_PATH = "no_path"
    HEARTBEAT = "heartbeat"


@dataclass(slots=True)
class OsqueryDecoded(SourceDecoded):
    """:class:`SourceDecoded` plus the rows a line held, why rows were skipped, the differential
    rows as changes, and what the line says about its host (``None`` for a refused line).

    A valid line accounts for every row:
    ``rows == len(events) + len(changes) + row rejections + sum(skipped)``.
    """

    rows: int = 0
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    changes: list[ProcessChange] = field(default_factory=list)
    line: HostLine | None = None


@dataclass(frozen=True, slots=True)
class LineContext:
    """What every row of one line shares."""

    host: str
    query: str
    unix_time: int
    event_time: datetime
    device_timezone: str | None
    device_group: str | None
    interval_seconds: float
    source_instance: str


# (row, action, where in the line for reasons, index for the dead letter: None for the whole message)
Item = tuple[Any, OsqueryAction, str, int | None]


def decode_osquery(
    record: SourceRecord, interval_seconds: float = DEFAULT_INTERVAL_SECONDS, source_instance: str = "osquery"
) -> OsqueryDecoded:
    """Decode one result log line: event, snapshot or batch format, differential or snapshot query.

    ``interval_seconds`` is the scheduled query's interval. A bad row in a snapshot or batch is
    rejected alone; its neighbours still count. A line that is not a result line is rejected whole.
    """
    if not (math.isfinite(interval_seconds) and interval_seconds > 0):
        raise ValueError("interval_seconds must be a positive number of seconds")
    decoded = OsqueryDecoded()
    line = _parse_line(record)
    if isinstance(line, str):
        decoded.rejections.append(reject(record, line))
        return decoded
    context = line_context(line, interval_seconds, source_instance)
    items = _items(line)
    heartbeat = bool(items) and all(isinstance(item[0], dict) and HEARTBEAT_COLUMN in item[0] for item in items)
    decoded.line = host_line(line, items, heartbeat)
    for row, action, where, index in items:
        decoded.rows += 1
        if heartbeat:
            decoded.skipped[SkipReason.HEARTBEAT] += 1
        else:
            _decode_row(record, context, row, action, where, index, decoded)
    return decoded


def host_line(line: OsqueryLine, items: list[Item], heartbeat: bool) -> HostLine:
    """The line as a sign of life. Differential ``added`` rows at counter 0 are osquery's initial
    results: its differential state restarted, and every running process is logged again. A
    heartbeat names osquery's instance (a new one when its database was lost) and epoch."""
    differential = any(action is OsqueryAction.ADDED for _, action, _, _ in items)
    instance = str(items[0][0].get("instance_id", "")) if heartbeat else ""
    return HostLine(
        host=line.host_identifier,
        query=line.name,
        time_ms=line.unix_time * 1000,
        initial=differential and line.counter == 0,
        heartbeat=heartbeat,
        generation=f"{instance}:{line.epoch}" if heartbeat else "",
    )


def _parse_line(record: SourceRecord) -> OsqueryLine | str:
    document = open_object(record, "expected a JSON object: one osquery result log line")
    if isinstance(document, str):
        return document
    model = line_shape(document)
    if isinstance(model, str):
        return model
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        return describe_validation_error(exc)


def _items(line: OsqueryLine) -> list[Item]:
    if isinstance(line, OsqueryEventLine):
        return [(line.columns, line.action, "columns: ", None)]
    if isinstance(line, OsqueryBatchLine):
        added, removed = line.diff_results.added, line.diff_results.removed
        items: list[Item] = [(row, OsqueryAction.ADDED, f"diffResults.added[{i}]: ", i) for i, row in enumerate(added)]
        offset = len(added)  # dead-letter indexes run on through the removed rows
        return items + [
            (row, OsqueryAction.REMOVED, f"diffResults.removed[{i}]: ", offset + i) for i, row in enumerate(removed)
        ]
    return [(row, OsqueryAction.SNAPSHOT, f"snapshot[{i}]: ", i) for i, row in enumerate(line.snapshot)]


def _decode_row(
    record: SourceRecord,
    context: LineContext,
    row: Any,
    action: OsqueryAction,
    where: str,
    index: int | None,
    decoded: OsqueryDecoded,
) -> None:
    try:
        process = OsqueryProcessRow.model_validate(row)
    except ValidationError as exc:
        payload = record.value if index is None else orjson.dumps(row)
        decoded.rejections.append(reject(record, where + describe_validation_error(exc), payload=payload, index=index))
        return
    usage = to_usage_event(process, action, context)
    if isinstance(usage, SkipReason):
        decoded.skipped[usage] += 1
    elif action is OsqueryAction.SNAPSHOT:
        decoded.events.append(usage)
    else:
        run_id = derived_event_id("osquery", context.host, context.query, process.pid, process.start_time, usage.user,
                                  process.path)  # fmt: skip
        decoded.changes.append(ProcessChange(run_id, action is OsqueryAction.ADDED, usage))


def line_context(line: OsqueryLine, interval_seconds: float, source_instance: str) -> LineContext:
    """Host, query and time of a line; time zone and device group from its decorations when present.

    Decorations are read nested (``decorations.timezone``) or top level (``--decorations_top_level``).
    A time zone that is not an IANA name (``Europe/Berlin``) is ignored rather than guessed at.
    """
    decorations = {**(line.model_extra or {}), **line.decorations}
    zone = _text(decorations.get("timezone"), 64)
    return LineContext(
        host=line.host_identifier,
        query=line.name,
        unix_time=line.unix_time,
        event_time=datetime.fromtimestamp(line.unix_time, tz=UTC),
        device_timezone=zone if zone and _is_iana_zone(zone) else None,
        device_group=_text(decorations.get("device_group"), 256),
        interval_seconds=interval_seconds,
        source_instance=source_instance,
    )


def to_usage_event(row: OsqueryProcessRow, action: OsqueryAction, context: LineContext) -> UsageEvent | SkipReason:
    """The usage a process row records, or why it records none."""
    platform = platform_of(row.platform, row.path)
    user = row.username.strip()
    if is_service_account(user, row.uid, row.user_sid, platform):
        return SkipReason.SERVICE_ACCOUNT
    if not user:
        return SkipReason.NO_USER
    path = normalize_path(row.path, platform)
    if not path:
        return SkipReason.NO_PATH
    stopped = action is OsqueryAction.REMOVED
    start_time = "" if row.start_time is None else row.start_time
    return UsageEvent(
        event_id=derived_event_id(
            "osquery", context.host, context.query, row.pid, start_time, row.path, context.unix_time, action.value
        ),
        source=UsageSource.OSQUERY,
        source_instance=context.source_instance,
        event_time=context.event_time,
        user=user,
        kind=UsageKind.STOP if stopped else UsageKind.SNAPSHOT,
        executable=ExecutableRef(
            path=path,
            file_name=file_name(path, row.name, platform),
            publisher=_text(row.publisher, 512),
            product_name=_text(row.product_name, 512),
            version=_text(row.version, 128),
            sha256=row.sha256.lower() if row.sha256 else None,
        ),
        device_id=context.host,
        device_timezone=context.device_timezone,
        session_type=session_type(row.session_type),
        device_group=context.device_group,
        interval_seconds=0.0 if stopped else context.interval_seconds,
        active_seconds=None,
        idle_seconds=None,
    )


def platform_of(declared: str | None, path: str) -> Platform:
    """The row's ``platform`` column (the pack sets it; osquery names Linux by distribution), else the path's shape."""
    value = (declared or "").strip().casefold()
    if value == "windows":
        return Platform.WINDOWS
    if value in {"darwin", "macos"}:
        return Platform.DARWIN
    if value and value != "posix":
        return Platform.LINUX
    if _WINDOWS_PATH.match(path) or "\\" in path:
        return Platform.WINDOWS
    if ".app/" in path or path.startswith(_DARWIN_ROOTS):
        return Platform.DARWIN
    return Platform.POSIX


def is_service_account(user: str, uid: int | None, sid: str | None, platform: Platform) -> bool:
    """Accounts that run software for the system, not for a person.

    Windows: the SYSTEM, LOCAL SERVICE and NETWORK SERVICE SIDs and names, per-service (``NT SERVICE``),
    IIS application pool, Hyper-V VM, ``DWM-n`` and ``UMFD-n`` accounts, and machine accounts (``NAME$``).
    Linux: uids below 1000. macOS: uids below 500 and ``_``-prefixed names. Everywhere: root and nobody.
    A POSIX row of unknown platform uses the macOS threshold, so no macOS person (uid 501 up) is dropped.
    """
    if platform is Platform.WINDOWS:
        return _is_windows_service(user, sid)
    name = user.casefold()
    if name in POSIX_SERVICE_NAMES or (platform is Platform.DARWIN and name.startswith("_")):
        return True
    if uid is None:
        return False
    if uid in NOBODY_UIDS:
        return True
    first_person = LINUX_FIRST_PERSON_UID if platform is Platform.LINUX else DARWIN_FIRST_PERSON_UID
    return 0 <= uid < first_person


def _is_windows_service(user: str, sid: str | None) -> bool:
    sid = (sid or "").strip().upper()
    if sid in WINDOWS_SERVICE_SIDS or sid.startswith(WINDOWS_SERVICE_SID_PREFIXES):
        return True
    name = user.rsplit("\\", 1)[-1].casefold()
    return name in WINDOWS_SERVICE_NAMES or name.endswith("$") or _WINDOWS_SESSION_ACCOUNT.fullmatch(name) is not None


def normalize_path(raw: str, platform: Platform) -> str:
    """One spelling per executable, keeping its case.

    Windows: backslashes, no ``\\\\?\\`` or ``\\??\\`` prefix, no doubled separators, drive letter upper case.
    macOS: the data volume's firmlinked ``/System/Volumes/Data`` prefix dropped. Linux: the
    `` (deleted)`` mark of a binary replaced on disk (an upgrade) dropped. POSIX: no doubled slashes.
    """
    path = raw.strip()
    if platform is Platform.WINDOWS:
        return _normalize_windows_path(path)
    if platform is not Platform.DARWIN and path.endswith(_LINUX_DELETED):
        path = path[: -len(_LINUX_DELETED)]
    path = re.sub(r"/{2,}", "/", path)
    if platform is not Platform.LINUX and path.startswith(_DARWIN_DATA_VOLUME):
        path = path[len(_DARWIN_DATA_VOLUME) - 1 :]
    return path


def _normalize_windows_path(path: str) -> str:
    path = path.replace("/", "\\")
    for prefix, replacement in (("\\\\?\\UNC\\", "\\\\"), ("\\\\?\\", ""), ("\\??\\", "")):
        if path.startswith(prefix):
            path = replacement + path[len(prefix) :]
            break
    share = path.startswith("\\\\")
    body = re.sub(r"\\{2,}", r"\\", path[2:] if share else path)
    if len(body) > 1 and body[1] == ":" and body[0].isascii() and body[0].isalpha():
        body = body[0].upper() + body[1:]
    return "\\\\" + body if share else body


def file_name(path: str, process_name: str, platform: Platform) -> str:
    """The executable's file name from its path: osquery's ``name`` is the Linux ``comm`` (cut to 15
    characters, and renamable by the process), so it is only the fallback."""
    separator = "\\" if platform is Platform.WINDOWS else "/"
    return path.rstrip(separator).rsplit(separator, 1)[-1] or process_name.strip() or path


def session_type(value: str | None) -> SessionType:
    """A ``session_type`` column, as a Seatmeter session type or a Windows logon type name."""
    key = re.sub(r"[\s_-]", "", (value or "").casefold())
    return SessionType(key) if key in _SESSION_TYPES else _SESSION_ALIASES.get(key, SessionType.UNKNOWN)


def _text(value: object, max_length: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if 0 < len(text) <= max_length else None


@functools.lru_cache(maxsize=1024)
def _is_iana_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
