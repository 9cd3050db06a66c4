"""The optional alert webhook: an Alertmanager-style payload POSTed as JSON, best effort.

Alerts are also on the ``alerts`` topic and table, so a webhook that is down or slow must not hold
up the pipeline: one POST per call, bounded by the timeout, no retries. A failure is logged and
reported through ``on_failure`` (the worker passes the counter behind
``seatmeter_alert_webhook_failures_total``; metrics live in ``streams``), never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

log = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json", "User-Agent": "seatmeter-alerts"}


async def post_alerts(
    url: str, payload: Mapping[str, Any], timeout_seconds: float, *, on_failure: Callable[[], None]
) -> bool:
    """POST ``payload`` to ``url``; True when the receiver answered 2xx. Never raises (except
    cancellation): any failure calls ``on_failure`` once and returns False."""
    try:
        await _post(url, orjson.dumps(payload), aiohttp.ClientTimeout(total=timeout_seconds))
    except Exception as exc:  # any failure of a best-effort side channel: count it, go on
        log.warning("alert webhook POST to %s failed: %s", _where(url), _reason(exc))
        on_failure()
        return False
    return True


async def _post(url: str, body: bytes, timeout: aiohttp.ClientTimeout) -> None:
    # A session per POST: alerts change rarely, and nothing outlives the call.
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body, headers=JSON_HEADERS) as response,
    ):
        await response.read()
        response.raise_for_status()


def _where(url: str) -> str:
    """Scheme, host and port only: webhook URLs often carry a token in the path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _reason(exc: Exception) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
