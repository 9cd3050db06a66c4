"""What a reference-data message changes: plain values between the decoders and the writers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from schemas.reference import DeviceFacts, DirectoryStatus, Entitlement, SoftwareItem


@dataclass(frozen=True, slots=True)
class InventoryItems:
    """A device's installed software as of ``taken_at``; replaces what the device had before.

    ``rejected_items`` counts software items refused alone: when it is not 0 the list is incomplete,
    and a missing item may not mean "uninstalled".
    """

    device_id: str
    snapshot_id: str
    taken_at: datetime
    source: str
    device: DeviceFacts
    software: tuple[SoftwareItem, ...]
    rejected_items: int = 0


@dataclass(frozen=True, slots=True)
class DeviceRetired:
    """A tombstone on the inventory topic: the device and its installs are gone."""

    device_id: str


@dataclass(frozen=True, slots=True)
class PoolChange:
    """A license pool's new state under ``pool_id``; ``entitlement`` is None when the pool was deleted."""

    pool_id: str
    entitlement: Entitlement | None

    @property
    def deleted(self) -> bool:
        return self.entitlement is None


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """A person with every identity replaced by a pseudonym made with ``key_id``."""

    user_key: str
    alias_keys: tuple[str, ...]
    manager_key: str | None
    display_name: str | None
    department: str | None
    cost_centre: str | None
    status: DirectoryStatus
    leaving_date: date | None
    employee_type: str | None
    location: str | None
    key_id: str


@dataclass(frozen=True, slots=True)
class DirectoryChange:
    """A person's new state under ``user_key``; ``entry`` is None when the person was erased."""

    user_key: str
    entry: DirectoryEntry | None

    @property
    def erased(self) -> bool:
        return self.entry is None
