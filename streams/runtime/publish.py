"""Sending from the worker: topics of raw bytes, dead letters and alerts acknowledged before a
batch may be acked, and the optional alert webhook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from schemas.alerts import Alert
from schemas.records import DeadLetter
from schemas.settings import Settings
from sinks.http.alert_webhook import post_alerts
from streams.pipeline.alerts.payload import alert_message, alertmanager_payload
from streams.pipeline.dead_letters.letters import dead_letter_headers, dead_letter_key
from streams.runtime import metrics


def raw_topic(app: faust.App, *names: str) -> Any:
    """Bytes in, bytes out: decoding is a stage of ours, so bad input reaches it and gets a reason."""
    return app.topic(*names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


async def publish_letters(topic: Any, letters: Sequence[DeadLetter]) -> None:
    """Send and wait for the broker's acknowledgement of every one, before the batch may be acked."""
    pending = [
        await topic.send(key=dead_letter_key(d), value=d.payload, headers=dead_letter_headers(d)) for d in letters
    ]
    for future in pending:
        await future


async def publish_alerts(topic: Any, alerts: Sequence[Alert]) -> None:
    pending = [await topic.send(key=key, value=value) for key, value in (alert_message(a) for a in alerts)]
    for future in pending:
        await future


def alert_notifier(settings: Settings) -> Callable[[Sequence[Alert]], Awaitable[None]]:
    """The webhook call for alert changes, or nothing when no webhook is configured."""
    secret = settings.alerts.webhook_url
    url = secret.get_secret_value() if secret else None

    async def notify(alerts: Sequence[Alert]) -> None:
        if url:
            payload = alertmanager_payload(alerts)
            await post_alerts(
                url, payload, settings.alerts.webhook_timeout_seconds, on_failure=metrics.WEBHOOK_FAILURES.inc
            )

    return notify
