"""osquery scheduled-query result log lines, as osqueryd's logger plugins (``kafka_producer`` among them) emit them.

One line is one JSON object. Every line carries the same header (query ``name``, ``hostIdentifier``,
``calendarTime``, ``unixTime``, ``epoch``, ``counter``, ``numerics``, ``decorations``); the rows come in
one of three shapes, told apart by which key holds them:

- ``columns``: the event format (``--logger_event_type=true``, the default): one row per line, with
  ``action`` ``added`` or ``removed`` for differential queries, or ``snapshot`` when
  ``--logger_snapshot_event_type=true`` splits a snapshot into one line per row.
- ``snapshot``: a snapshot query's whole result in one line, ``action`` ``snapshot``.
- ``diffResults``: the batch format (``--logger_event_type=false``): ``added`` and ``removed`` arrays.

Older osquery releases wrote ``hostname`` instead of ``hostIdentifier`` and numbers as strings; both are
read. Unknown top-level keys (``--decorations_top_level``, future fields) and extra columns are tolerated:
only what Seatmeter reads is required. Rows stay raw dictionaries here so that the decoder can judge each
one alone; :class:`OsqueryProcessRow` is what a usable process row looks like.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from schemas.usage import UsageEvent

# osquery's clock must say something between 2000-01-01 and 2100-01-01 UTC to be believed.
MIN_UNIX_TIME = 946_684_800
MAX_UNIX_TIME = 4_102_444_800
MAX_ROWS = 100_000


def _blank_to_none(value: object) -> object:
    """osquery logs SQL NULL (an unmatched LEFT JOIN) as an empty string."""
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _none_to_empty(value: object) -> object:
    return "" if value is None else value


class OsqueryAction(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    SNAPSHOT = "snapshot"


Row = dict[str, Any]
HostIdentifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
UnixTime = Annotated[int, Field(ge=MIN_UNIX_TIME, le=MAX_UNIX_TIME)]
Counter = Annotated[int, Field(ge=0)]
Text = Annotated[str, BeforeValidator(_none_to_empty), Field(max_length=4096)]
OptionalInt = Annotated[int | None, BeforeValidator(_blank_to_none)]
OptionalText = Annotated[Annotated[str, Field(max_length=512)] | None, BeforeValidator(_blank_to_none)]
Sha256 = Annotated[Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None, BeforeValidator(_blank_to_none)]


class OsqueryLogHeader(BaseModel):
    """What every result line says about where and when its rows were seen."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: Annotated[str, Field(min_length=1, max_length=1024)]
    host_identifier: HostIdentifier = Field(validation_alias=AliasChoices("hostIdentifier", "hostname"))
    calendar_time: str = Field("", alias="calendarTime")
    unix_time: UnixTime = Field(alias="unixTime")
    epoch: Counter = 0
    counter: Counter | None = None  # absent in lines of old releases: then no restart can be told
    numerics: bool = False
    decorations: dict[str, Any] = Field(default_factory=dict)


class OsqueryEventLine(OsqueryLogHeader):
    """Event format: one row in ``columns``."""

    action: OsqueryAction
    columns: Row


class OsquerySnapshotLine(OsqueryLogHeader):
    """A snapshot query's complete result at ``unixTime``."""

    action: Literal["snapshot"] = "snapshot"
    snapshot: Annotated[list[Row], Field(max_length=MAX_ROWS)]


class OsqueryDiffResults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    added: Annotated[list[Row], Field(max_length=MAX_ROWS)] = Field(default_factory=list)
    removed: Annotated[list[Row], Field(max_length=MAX_ROWS)] = Field(default_factory=list)


class OsqueryBatchLine(OsqueryLogHeader):
    """Batch format: every change of one differential run in one line."""

    diff_results: OsqueryDiffResults = Field(alias="diffResults")


OsqueryLine = OsqueryEventLine | OsquerySnapshotLine | OsqueryBatchLine

LINE_SHAPES: dict[str, type[OsqueryEventLine] | type[OsquerySnapshotLine] | type[OsqueryBatchLine]] = {
    "columns": OsqueryEventLine,
    "snapshot": OsquerySnapshotLine,
    "diffResults": OsqueryBatchLine,
}


def line_shape(
    document: dict[str, Any],
) -> type[OsqueryEventLine] | type[OsquerySnapshotLine] | type[OsqueryBatchLine] | str:
    """The model for a parsed line, chosen by the key that holds its rows, or why none fits."""
    present = [key for key in LINE_SHAPES if key in document]
    if len(present) == 1:
        return LINE_SHAPES[present[0]]
    if present:
        return f"expected only one of 'columns', 'snapshot' or 'diffResults', found {present}"
    return "expected an osquery result line holding its rows in 'columns', 'snapshot' or 'diffResults'"


class OsqueryProcessRow(BaseModel):
    """A row of Seatmeter's process query (``deploy/osquery/packs/seatmeter-usage.conf``).

    ``pid``, ``name``, ``path`` and ``username`` must be present (``path`` and ``username`` may be empty:
    osquery could not read them, or the ``users`` join found nobody). The rest is optional. Version columns
    are read under the names the pack gives them, then under osquery's own column names, so a hand-written
    query joining ``file`` (Windows) or ``apps`` (macOS) works too.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)

    pid: Annotated[int, Field(ge=0, le=2**32)]
    name: Text
    path: Text
    username: Annotated[str, BeforeValidator(_none_to_empty), Field(max_length=256)]
    start_time: OptionalInt = None
    uid: OptionalInt = None
    user_sid: OptionalText = None
    platform: OptionalText = None
    session_type: OptionalText = None
    publisher: OptionalText = Field(None, validation_alias=AliasChoices("publisher", "subject_name", "authority"))
    product_name: OptionalText = Field(None, validation_alias=AliasChoices("product_name", "bundle_name"))
    version: OptionalText = Field(
        None, validation_alias=AliasChoices("version", "product_version", "file_version", "bundle_short_version")
    )
    sha256: Sha256 = None


@dataclass(frozen=True, slots=True)
class HostLine:
    """What a valid result line says about its host, whatever its rows: osqueryd ran at ``time_ms``."""

    host: str
    query: str
    time_ms: int
    initial: bool = False  # a differential line with counter 0: osquery's state restarted
    heartbeat: bool = False
    generation: str = ""  # a heartbeat's osquery instance id and epoch: a new one means a restarted state


@dataclass(frozen=True, slots=True)
class ProcessChange:
    """A differential row: the process ``run_id`` appeared (``added``) or is gone at the line's time.
    ``event`` is the row as a usage event (the sighting's template)."""

    run_id: str
    added: bool
    event: UsageEvent
