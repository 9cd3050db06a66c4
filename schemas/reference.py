"""Reference data that usage is judged against: what is installed, what was bought, and who people are.

Three wire formats, one JSON object per Kafka message:

- :class:`InventorySnapshot` on ``seatmeter.inventory``, keyed by device id: a device's installed
  software at one moment. The latest snapshot of a device replaces the earlier ones.
- :class:`Entitlement` on ``seatmeter.entitlements``, keyed by pool id: one license pool. A null value
  (a Kafka tombstone) deletes the pool.
- :class:`DirectoryRecord` on ``seatmeter.directory``, keyed by the person's pseudonym: one person.
  A tombstone erases the person.

All three topics are compacted (``cleanup.policy=compact``): the topic itself holds the current state,
so a new worker reads it from the beginning and knows every pool, person and device.
The models are strict about shape (``extra="forbid"``), because a misspelt field in reference data
would otherwise be silently lost and skew every license position computed from it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas.usage import Environment

REFERENCE_SCHEMA_VERSION: Literal[1] = 1
INVENTORY_TOPIC = "seatmeter.inventory"
ENTITLEMENTS_TOPIC = "seatmeter.entitlements"
DIRECTORY_TOPIC = "seatmeter.directory"
MAX_SOFTWARE_ITEMS = 20_000
MAX_LIST_ITEMS = 500
MAX_ALIASES = 32
# streams.pipeline.admit.pseudonymize makes 128-bit pseudonyms in lower-case hex (schemas cannot import it).
PSEUDONYM_PATTERN = r"^[0-9a-f]{32}$"
_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)


def _blank_to_none(value: object) -> object:
    """Spreadsheets and inventory tools write "unknown" as an empty cell; it means the same as absent."""
    return None if isinstance(value, str) and not value.strip() else value


def _not_bool(value: object) -> object:
    """JSON ``true`` is not a count of seats or cores, although Python would take it as 1."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Count = Annotated[int, BeforeValidator(_not_bool)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
OptionalName = Annotated[Name | None, BeforeValidator(_blank_to_none)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]
OptionalLongText = Annotated[LongText | None, BeforeValidator(_blank_to_none)]
# Kafka keys: no spaces, so that a key typed into kcat or a spreadsheet cannot differ from the value's id.
Key = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][\w.:/@+-]*$")
]
Slug = Annotated[
    str, BeforeValidator(_lower), StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9._-]+$")
]
Version = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] | None, BeforeValidator(_blank_to_none)
]
Identity = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Sha256 = Annotated[
    Annotated[str, BeforeValidator(_lower), StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None,
    BeforeValidator(_blank_to_none),
]

OsFamily = Literal["windows", "macos", "linux", "unix", "other"]
Machine = Literal["physical", "virtual"]
LicenseModel = Literal["named_user", "concurrent_user", "per_device", "per_core", "subscription_seat"]
DirectoryStatus = Literal["active", "on_leave", "leaving", "left"]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- inventory -------------------------------------------------------------------------------------------------------


class DeviceFacts(_Wire):
    """What licensing rules ask about a device. Everything is optional: a feed may know little.

    ``cpu_cores`` counts physical cores over all sockets, not hardware threads: per-core licenses
    (Oracle, SQL Server, Windows Server) count cores.
    """

    hostname: OptionalName = None
    os: Annotated[OsFamily | None, BeforeValidator(_lower), BeforeValidator(_blank_to_none)] = None
    os_version: OptionalName = None
    cpu_cores: Annotated[Count, Field(ge=1, le=100_000)] | None = None
    cpu_sockets: Annotated[Count, Field(ge=1, le=1_024)] | None = None
    machine: Annotated[Machine | None, BeforeValidator(_lower), BeforeValidator(_blank_to_none)] = None
    device_group: OptionalName = None
    environment: Environment = Environment.UNKNOWN

    @field_validator("cpu_sockets")
    @classmethod
    def _sockets_hold_cores(cls, sockets: int | None, info: ValidationInfo) -> int | None:
        cores = info.data.get("cpu_cores")
        if sockets is not None and cores is not None and cores < sockets:
            raise ValueError("cpu_sockets must not exceed cpu_cores: every socket holds at least one core")
        return sockets


class SoftwareItem(_Wire):
    """One installed program as the inventory tool lists it (Add/Remove Programs, rpm, pkgutil...)."""

    name: LongText
    publisher: OptionalName = None
    version: Version = None
    install_path: OptionalLongText = None
    install_date: date | None = None
    sha256: Sha256 = None


class _InventoryBase(_Wire):
    schema_version: Literal[1] = REFERENCE_SCHEMA_VERSION
    snapshot_id: Key
    device_id: Key
    taken_at: AwareDatetime
    source: Slug
    device: DeviceFacts = DeviceFacts()

    @field_validator("taken_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class InventorySnapshot(_InventoryBase):
    """A device's installed software at ``taken_at`` (any UTC offset, normalized to UTC).

    ``source`` names the tool that took it: ``agent``, ``sccm``, ``intune``, ``jamf``, ``osquery``...
    The snapshot is complete: software missing from it is taken as not installed.
    """

    software: Annotated[tuple[SoftwareItem, ...], Field(max_length=MAX_SOFTWARE_ITEMS)] = ()


class InventoryHeader(_InventoryBase):
    """A snapshot with its software items left unjudged, so that one bad item is refused alone."""

    software: Annotated[tuple[Any, ...], Field(max_length=MAX_SOFTWARE_ITEMS)] = ()


# --- entitlements ----------------------------------------------------------------------------------------------------


class CostCentreShare(_Wire):
    """The share of a pool's cost that one cost centre carries."""

    cost_centre: Name
    share: Annotated[Decimal, Field(gt=0, le=1, max_digits=12, decimal_places=9)]


class Entitlement(_Wire):
    """A license pool: what was bought, how it is counted, what it costs, and who pays for it.

    ``products`` holds canonical product ids or names from the catalog, ``suites`` catalog suite names;
    at least one of the two is needed. ``seats`` counts the license model's unit: people for
    ``named_user`` and ``subscription_seat``, simultaneous users for ``concurrent_user``, devices for
    ``per_device``, cores for ``per_core``. ``unit_cost`` is the price of one seat for the whole term,
    exact (send it as a string). No ``term_end`` means perpetual. ``cost_centres`` shares add up to 1.
    """

    schema_version: Literal[1] = REFERENCE_SCHEMA_VERSION
    pool_id: Key
    name: Name
    products: Annotated[tuple[Name, ...], Field(max_length=MAX_LIST_ITEMS)] = ()
    suites: Annotated[tuple[Name, ...], Field(max_length=MAX_LIST_ITEMS)] = Field((), validate_default=True)
    license_model: Annotated[LicenseModel, BeforeValidator(_lower)]
    seats: Annotated[Count, Field(ge=0, le=100_000_000)]
    unit_cost: Annotated[Decimal, BeforeValidator(_not_bool), Field(ge=0, max_digits=18, decimal_places=6)]
    currency: Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{3}$")]
    term_start: date | None = None
    term_end: date | None = None
    renewal_date: date | None = None
    cost_centres: Annotated[tuple[CostCentreShare, ...], Field(max_length=MAX_LIST_ITEMS)] = ()
    vendor: OptionalName = None
    contract_ref: OptionalName = None
    notes: OptionalLongText = None

    @field_validator("suites")
    @classmethod
    def _covers_something(cls, suites: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not suites and not info.data.get("products", True):
            raise ValueError("a pool must cover at least one product or suite")
        return suites

    @field_validator("term_end")
    @classmethod
    def _ends_after_start(cls, end: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("term_start")
        if end is not None and start is not None and end < start:
            raise ValueError("term_end must not be before term_start")
        return end

    @field_validator("renewal_date")
    @classmethod
    def _renews_after_start(cls, renewal: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("term_start")
        if renewal is not None and start is not None and renewal < start:
            raise ValueError("renewal_date must not be before term_start")
        return renewal

    @field_validator("cost_centres")
    @classmethod
    def _shares_add_up(cls, shares: tuple[CostCentreShare, ...]) -> tuple[CostCentreShare, ...]:
        if not shares:
            return shares
        names = [share.cost_centre for share in shares]
        if len(set(names)) != len(names):
            raise ValueError("each cost centre may appear once")
        if sum(share.share for share in shares) != 1:
            raise ValueError("shares must add up to exactly 1")
        return shares


# --- directory -------------------------------------------------------------------------------------------------------


class PseudonymStamp(_Wire):
    """Says that ``user``, ``aliases`` and ``manager`` already are pseudonyms, and made with which key.

    ``key_check`` proves the key without revealing it (an HMAC of a fixed text), so a worker can refuse
    pseudonyms made with another secret under the same key id instead of silently failing to join them.
    """

    key_id: Name
    key_check: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]


class DirectoryRecord(_Wire):
    """One person as the directory or HR system knows them.

    ``user`` and ``aliases`` are the identities the person appears under in usage (UPN, email,
    ``DOMAIN\\name``); ``manager`` is the manager's identity. They are raw unless ``pseudonymized_with``
    is present; then they must be pseudonyms. ``leaving_date`` is required while ``status`` is ``leaving``.
    """

    schema_version: Literal[1] = REFERENCE_SCHEMA_VERSION
    user: Identity
    aliases: Annotated[tuple[Identity, ...], Field(max_length=MAX_ALIASES)] = ()
    display_name: OptionalName = None
    department: OptionalName = None
    cost_centre: OptionalName = None
    manager: Annotated[Identity | None, BeforeValidator(_blank_to_none)] = None
    status: Annotated[DirectoryStatus, BeforeValidator(_lower)] = "active"
    leaving_date: date | None = Field(None, validate_default=True)
    employee_type: OptionalName = None
    location: OptionalName = None
    pseudonymized_with: PseudonymStamp | None = None

    @field_validator("leaving_date")
    @classmethod
    def _leaving_has_a_date(cls, leaving: date | None, info: ValidationInfo) -> date | None:
        if leaving is None and info.data.get("status") == "leaving":
            raise ValueError("required when status is leaving")
        return leaving

    @model_validator(mode="after")
    def _stamped_identities_are_pseudonyms(self) -> DirectoryRecord:
        if self.pseudonymized_with is None:
            return self
        identities = [self.user, *self.aliases, *([self.manager] if self.manager else [])]
        if not all(_PSEUDONYM.fullmatch(identity) for identity in identities):
            raise ValueError("with pseudonymized_with, user, aliases and manager must be pseudonyms (32 hex digits)")
        return self
