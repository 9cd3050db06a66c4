"""Microsoft Entra sign-in logs from an Event Hub: successful user sign-ins become ``signin`` events.

What counts is a record of category ``SignInLogs`` (interactive) or ``NonInteractiveUserSignInLogs``
(a client app signing in on the user's behalf, e.g. refreshing a token) whose result is success.
Every other record is skipped without being judged further: failures and interrupts (``resultType``
other than ``"0"``), service principal and managed identity sign-ins (no person signed in), and any
other category the diagnostic setting also streams (audit, provisioning, risk...). Skipped records are
neither usage nor dead letters.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from schemas.entra import EntraEventHubBody, EntraSignInRecord
from schemas.records import SourceRecord
from schemas.usage import SaasAppRef, UsageEvent, UsageKind, UsageSource
from streams.pipeline.decode.opening import SourceDecoded, describe_validation_error, open_object, reject

COUNTED_CATEGORIES = frozenset({"SignInLogs", "NonInteractiveUserSignInLogs"})
SUCCESS_CODE = 0


def decode_entra(record: SourceRecord, source_instance: str = "entra") -> SourceDecoded:
    """Decode one Event Hubs message ``{"records": [...]}`` from an Entra diagnostic setting.

    A message that is not such a body is one rejection; a bad record inside it is rejected alone,
    with its place in ``records``, and its neighbours still count.
    """
    decoded = SourceDecoded()
    document = open_object(record, "expected a JSON object with a 'records' list (an Event Hubs body)")
    if isinstance(document, str):
        decoded.rejections.append(reject(record, document))
        return decoded
    try:
        body = EntraEventHubBody.model_validate(document)
    except ValidationError as exc:
        decoded.rejections.append(reject(record, describe_validation_error(exc)))
        return decoded
    for index, item in enumerate(body.records):
        _decode_record(record, item, index, source_instance, decoded)
    return decoded


def _decode_record(record: SourceRecord, item: Any, index: int, source_instance: str, decoded: SourceDecoded) -> None:
    where = f"records[{index}]: "
    category = item.get("category") if isinstance(item, dict) else None
    if not isinstance(category, str):
        reason = where + "expected a record object with a string category"
        decoded.rejections.append(reject(record, reason, payload=orjson.dumps(item), index=index))
        return
    if category not in COUNTED_CATEGORIES:
        return
    try:
        sign_in = EntraSignInRecord.model_validate(item)
    except ValidationError as exc:
        reason = where + describe_validation_error(exc)
        decoded.rejections.append(reject(record, reason, payload=orjson.dumps(item), index=index))
        return
    if not succeeded(sign_in):
        return
    usage = to_usage_event(sign_in, source_instance)
    if isinstance(usage, str):
        decoded.rejections.append(reject(record, where + usage, payload=orjson.dumps(item), index=index))
    else:
        decoded.events.append(usage)


def succeeded(sign_in: EntraSignInRecord) -> bool:
    """Success when every result the record carries (``resultType``, ``status.errorCode``) is 0.

    A record that carries neither is not taken as success, and neither is one whose two fields disagree:
    counting a failed sign-in as use is the worse mistake.
    """
    status = sign_in.properties.status
    codes = [sign_in.result_type, None if status is None else status.error_code]
    present = [str(code).strip() for code in codes if code is not None]
    return bool(present) and all(code == str(SUCCESS_CODE) for code in present)


def to_usage_event(sign_in: EntraSignInRecord, source_instance: str) -> UsageEvent | str:
    """The sign-in a successful record records, or the reason (naming fields, never values) it cannot count."""
    properties = sign_in.properties
    if not properties.user_principal_name:
        return "properties.userPrincipalName: required to name the user who signed in"
    if not properties.app_display_name:
        return "properties.appDisplayName: required to name the app signed in to"
    event_time = properties.created_date_time or sign_in.time
    if event_time is None:
        return "properties.createdDateTime: required, or the record's time"
    device = properties.device_detail
    return UsageEvent(
        event_id=f"entra:{properties.id}",
        source=UsageSource.ENTRA,
        source_instance=source_instance,
        event_time=event_time,
        user=properties.user_principal_name,
        kind=UsageKind.SIGNIN,
        saas_app=SaasAppRef(name=properties.app_display_name, app_id=properties.app_id or None),
        device_id=(device.device_id or None) if device is not None else None,
        interval_seconds=0.0,
        active_seconds=None,
    )
