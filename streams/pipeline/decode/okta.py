"""Okta System Log: successful single sign-ons to apps become ``signin`` usage events.

What counts is a ``user.authentication.sso`` event ("User single sign on to app") whose outcome is
SUCCESS: Okta let the user into the app named by the event's ``AppInstance`` target. Every other
event is skipped without being judged further: failed or denied SSO attempts, Okta's own sign-ins
(``user.session.start``), policy evaluations, MFA steps, and OAuth token grants
(``app.oauth2.as.token.grant.*``, ``app.oauth2.token.grant.*``). Token grants do not count because
refresh-token renewals repeat them all day with no person present, client-credentials grants have no
user at all, and an OIDC app sign-in through Okta already logs its own ``user.authentication.sso``.
Skipped events are neither usage nor dead letters.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from schemas.okta import EVENT_HOOK_EVENT_TYPE, OktaEventHookDelivery, OktaLogEvent, OktaTarget
from schemas.records import SourceRecord
from schemas.usage import SaasAppRef, UsageEvent, UsageKind, UsageSource
from streams.pipeline.decode.opening import NotJson, SourceDecoded, describe_validation_error, open_json, reject

COUNTED_EVENT_TYPES = frozenset({"user.authentication.sso"})
COUNTED_OUTCOME = "SUCCESS"
APP_TARGET_TYPE = "AppInstance"
SIGN_IN_ACTOR_TYPE = "User"

# (item, where in the message for reasons, index for the dead letter: None for the whole message)
Item = tuple[Any, str, int | None]


def decode_okta(record: SourceRecord, source_instance: str = "okta") -> SourceDecoded:
    """Decode one message: a LogEvent, a JSON array of them (a System Log API page), or an Event Hook
    delivery ``{"eventType": "com.okta.event_hook", "data": {"events": [...]}}``.

    A bad event in an array or delivery is rejected alone; its neighbours still count.
    """
    decoded = SourceDecoded()
    document = open_json(record)
    items = document.reason if isinstance(document, NotJson) else _items(document)
    if isinstance(items, str):
        decoded.rejections.append(reject(record, items))
        return decoded
    for item, where, index in items:
        _decode_item(record, item, where, index, source_instance, decoded)
    return decoded


def _items(document: Any) -> list[Item] | str:
    """The LogEvents a message holds, or why the message as a whole is unusable."""
    if isinstance(document, list):
        return [(item, f"[{index}]: ", index) for index, item in enumerate(document)]
    if not isinstance(document, dict):
        return "expected a LogEvent object, a JSON array of LogEvents, or an Event Hook delivery"
    if document.get("eventType") != EVENT_HOOK_EVENT_TYPE:
        return [(document, "", None)]
    try:
        delivery = OktaEventHookDelivery.model_validate(document)
    except ValidationError as exc:
        return "event hook delivery: " + describe_validation_error(exc)
    return [(item, f"data.events[{index}]: ", index) for index, item in enumerate(delivery.data.events)]


def _decode_item(
    record: SourceRecord, item: Any, where: str, index: int | None, source_instance: str, decoded: SourceDecoded
) -> None:
    payload = record.value if index is None else orjson.dumps(item)
    event_type = item.get("eventType") if isinstance(item, dict) else None
    if not isinstance(event_type, str):
        reason = where + "expected a LogEvent object with a string eventType"
        decoded.rejections.append(reject(record, reason, payload=payload, index=index))
        return
    if event_type not in COUNTED_EVENT_TYPES:
        return
    try:
        event = OktaLogEvent.model_validate(item)
    except ValidationError as exc:
        reason = where + describe_validation_error(exc)
        decoded.rejections.append(reject(record, reason, payload=payload, index=index))
        return
    if event.outcome is None or event.outcome.result != COUNTED_OUTCOME:
        return
    usage = to_usage_event(event, source_instance)
    if isinstance(usage, str):
        decoded.rejections.append(reject(record, where + usage, payload=payload, index=index))
    else:
        decoded.events.append(usage)


def to_usage_event(event: OktaLogEvent, source_instance: str) -> UsageEvent | str:
    """The sign-in a successful SSO event records, or the reason (naming fields, never values) it cannot count.

    ``url`` stays empty: Okta logs no address of the app (``debugData.url`` is Okta's own endpoint).
    """
    actor = event.actor
    if actor is None:
        return "actor: required to name the user who signed in"
    if actor.type != SIGN_IN_ACTOR_TYPE:
        return f"actor.type: a sign-in must be performed by a {SIGN_IN_ACTOR_TYPE}"
    if not actor.alternate_id:
        return "actor.alternateId: required to name the user who signed in"
    app = _app_target(event.target or [])
    if app is None:
        return f"target: no {APP_TARGET_TYPE} target names the app"
    app_name = app.display_name or app.alternate_id
    if not app_name:
        return f"target: the {APP_TARGET_TYPE} target has neither displayName nor alternateId"
    return UsageEvent(
        event_id=f"okta:{event.uuid}",
        source=UsageSource.OKTA,
        source_instance=source_instance,
        event_time=event.published,
        user=actor.alternate_id,
        kind=UsageKind.SIGNIN,
        saas_app=SaasAppRef(name=app_name, app_id=app.id),
        device_id=None,
        interval_seconds=0.0,
        active_seconds=None,
    )


def _app_target(targets: list[OktaTarget]) -> OktaTarget | None:
    return next((target for target in targets if target.type == APP_TARGET_TYPE), None)
