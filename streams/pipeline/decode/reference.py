"""Reference data decoders: inventory snapshots, license pools and directory records, one Kafka message each.

All three topics are compacted, so a message is a change of state under its key: a new snapshot of a
device, a new version of a pool, a new version of a person. A tombstone (a null value) deletes the
key's state: the device is retired, the pool is gone, the person is erased. ``SourceRecord.value`` is
``bytes``, so the glue passes a Kafka null as ``b""``; JSON ``null`` is not a tombstone (compaction would
keep it) and is refused.

When a message has a key, it must name the same thing as the value (``device_id``, ``pool_id``, the
person), because a mismatched key would make compaction keep or drop the wrong state.

Directory identities are replaced by pseudonyms here, before anything else sees them; the display name
is dropped unless raw storage is allowed. Reasons name fields and rules, never values.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from pydantic import ValidationError

from schemas.records import Rejection, SourceRecord
from schemas.reference import (
    PSEUDONYM_PATTERN,
    DirectoryRecord,
    Entitlement,
    InventoryHeader,
    PseudonymStamp,
    SoftwareItem,
)
from schemas.reference_changes import DeviceRetired, DirectoryChange, DirectoryEntry, InventoryItems, PoolChange
from streams.pipeline.admit.pseudonymize import PseudonymKey, pseudonymize
from streams.pipeline.decode.opening import NotJson, describe_validation_error, open_json, reject

T = TypeVar("T", covariant=True)
C = TypeVar("C")
KEY_CHECK_TEXT = b"seatmeter pseudonym key check"
KEY_CHECK_HEX_CHARS = 16
_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)


@dataclass(frozen=True, slots=True)
class Decoded(Generic[T]):
    """What one message changes (nothing when it was refused), and the rejections it caused."""

    change: T | None = None
    rejections: tuple[Rejection, ...] = ()


def decode_inventory(record: SourceRecord) -> Decoded[InventoryItems | DeviceRetired]:
    """One snapshot (or a tombstone retiring the device keyed). A bad software item is refused alone."""
    key = _key_text(record)
    if not record.value:
        return _tombstone(record, key, DeviceRetired)
    document = _json_object(record, "an inventory snapshot")
    if isinstance(document, Rejection):
        return Decoded(rejections=(document,))
    try:
        header = InventoryHeader.model_validate(document)
    except ValidationError as exc:
        return Decoded(rejections=(reject(record, describe_validation_error(exc)),))
    if key is not None and key != header.device_id:
        return Decoded(rejections=(reject(record, "the message key does not match device_id"),))
    software, rejections = _software_items(record, header.software)
    items = InventoryItems(
        device_id=header.device_id,
        snapshot_id=header.snapshot_id,
        taken_at=header.taken_at,
        source=header.source,
        device=header.device,
        software=software,
        rejected_items=len(rejections),
    )
    return Decoded(items, rejections)


def _software_items(
    record: SourceRecord, raw: tuple[Any, ...]
) -> tuple[tuple[SoftwareItem, ...], tuple[Rejection, ...]]:
    software: list[SoftwareItem] = []
    rejections: list[Rejection] = []
    for index, item in enumerate(raw):
        try:
            software.append(SoftwareItem.model_validate(item))
        except ValidationError as exc:
            reason = f"software[{index}]: {describe_validation_error(exc)}"
            rejections.append(reject(record, reason, payload=orjson.dumps(item), index=index))
    return tuple(software), tuple(rejections)


def decode_entitlement(record: SourceRecord) -> Decoded[PoolChange]:
    """One license pool keyed by ``pool_id``; a tombstone deletes the pool."""
    key = _key_text(record)
    if not record.value:
        return _tombstone(record, key, lambda pool_id: PoolChange(pool_id, None))
    document = _json_object(record, "an entitlement")
    if isinstance(document, Rejection):
        return Decoded(rejections=(document,))
    try:
        entitlement = Entitlement.model_validate(document)
    except ValidationError as exc:
        return Decoded(rejections=(reject(record, describe_validation_error(exc)),))
    if key is not None and key != entitlement.pool_id:
        return Decoded(rejections=(reject(record, "the message key does not match pool_id"),))
    return Decoded(PoolChange(entitlement.pool_id, entitlement))


def decode_directory(
    record: SourceRecord, key: PseudonymKey, keep_display_name: bool = False
) -> Decoded[DirectoryChange]:
    """One person, pseudonymized with ``key``; a tombstone erases the person keyed.

    Raw identities are pseudonymized here. Identities that arrive as pseudonyms (``pseudonymized_with``)
    are kept only when they were made with this very key. ``display_name`` is kept only when
    ``keep_display_name`` says raw names may be stored.
    """
    kafka_key = _key_text(record)
    if not record.value:
        return _tombstone(record, kafka_key, lambda text: DirectoryChange(_person_key(text, key), None))
    document = _json_object(record, "a directory record")
    if isinstance(document, Rejection):
        return Decoded(rejections=(document,))
    try:
        person = DirectoryRecord.model_validate(document)
    except ValidationError as exc:
        return Decoded(rejections=(reject(record, describe_validation_error(exc)),))
    if person.pseudonymized_with is None:
        person = pseudonymize_directory_record(person, key, keep_display_name=True)
    elif person.pseudonymized_with != key_stamp(key):
        return Decoded(rejections=(reject(record, "pseudonymized_with: made with another key than this worker's"),))
    if kafka_key is not None and _person_key(kafka_key, key) != person.user:
        return Decoded(rejections=(reject(record, "the message key does not identify the record's user"),))
    return Decoded(DirectoryChange(person.user, _entry(person, key.key_id, keep_display_name)))


def pseudonymize_directory_record(
    person: DirectoryRecord, key: PseudonymKey, keep_display_name: bool = False
) -> DirectoryRecord:
    """The same person with ``user``, ``aliases`` and ``manager`` as pseudonyms, stamped with the key.

    Aliases that are the user, or each other, once pseudonymized (case and spacing differ) are dropped.
    """
    if person.pseudonymized_with is not None:
        raise ValueError("the record is pseudonymized already")
    user = pseudonymize(person.user, key)
    aliases = dict.fromkeys(pseudonymize(alias, key) for alias in person.aliases)
    aliases.pop(user, None)
    fields = person.model_dump(exclude={"user", "aliases", "manager", "display_name"})
    return DirectoryRecord.model_validate(
        {
            **fields,
            "user": user,
            "aliases": tuple(aliases),
            "manager": pseudonymize(person.manager, key) if person.manager else None,
            "display_name": person.display_name if keep_display_name else None,
            "pseudonymized_with": key_stamp(key),
        }
    )


def key_stamp(key: PseudonymKey) -> PseudonymStamp:
    """The key's id and a check value that proves the secret without revealing it."""
    check = hmac.new(key.secret, KEY_CHECK_TEXT, hashlib.sha256).hexdigest()[:KEY_CHECK_HEX_CHARS]
    return PseudonymStamp(key_id=key.key_id, key_check=check)


def _entry(person: DirectoryRecord, key_id: str, keep_display_name: bool) -> DirectoryEntry:
    return DirectoryEntry(
        user_key=person.user,
        alias_keys=tuple(alias for alias in dict.fromkeys(person.aliases) if alias != person.user),
        manager_key=person.manager,
        display_name=person.display_name if keep_display_name else None,
        department=person.department,
        cost_centre=person.cost_centre,
        status=person.status,
        leaving_date=person.leaving_date,
        employee_type=person.employee_type,
        location=person.location,
        key_id=key_id,
    )


def _person_key(text: str, key: PseudonymKey) -> str:
    """A directory key is the person's pseudonym; a raw identity (another producer's choice) is pseudonymized."""
    return text if _PSEUDONYM.fullmatch(text) else pseudonymize(text, key)


def _key_text(record: SourceRecord) -> str | None:
    if not record.key:
        return None
    try:
        text = record.key.decode()
    except UnicodeDecodeError:
        return ""
    return text.strip()


def _tombstone(record: SourceRecord, key: str | None, change: Callable[[str], C]) -> Decoded[C]:
    """A tombstone deletes whatever its key names; without a usable key it deletes nothing."""
    if not key:
        return Decoded(rejections=(reject(record, "a tombstone (null value) needs a UTF-8 message key"),))
    return Decoded(change(key))


def _json_object(record: SourceRecord, what: str) -> dict[str, Any] | Rejection:
    document = open_json(record)
    if isinstance(document, NotJson):
        return reject(record, document.reason)
    if document is None:
        return reject(record, "JSON null is not a tombstone: send a Kafka null value to delete")
    if not isinstance(document, dict):
        return reject(record, f"expected a JSON object: {what}")
    return document
