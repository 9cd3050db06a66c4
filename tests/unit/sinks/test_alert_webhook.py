"""The webhook sink against a real HTTP server on 127.0.0.1 that records what it receives."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from schemas.settings import AlertSettings
from sinks.http.alert_webhook import post_alerts
from streams.runtime.metrics import WEBHOOK_FAILURES

PAYLOAD = {
    "version": "4",
    "status": "firing",
    "alerts": [{"labels": {"alertname": "SeatmeterSyncGap", "subject": "WS-1"}, "status": "firing"}],
}
FAILURES = "seatmeter_alert_webhook_failures_total"

pytestmark = pytest.mark.loopback


@dataclass
class Receiver:
    """Answers every POST with ``status`` after ``delay`` seconds and keeps what it was sent."""

    status: int = 200
    delay: float = 0.0
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path_qs, request.content_type, await request.read()))
        await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text="ok" if self.status < 300 else "broken")


def serve(receiver: Receiver, client: Callable[[str], Awaitable[bool]]) -> bool:
    """Start the receiver on a free port, run ``client(base_url)``, stop the receiver."""

    async def main() -> bool:
        app = web.Application()
        app.router.add_post("/{tail:.*}", receiver.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        try:
            return await client(f"http://{host}:{port}")
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def send(url: str, timeout: float | None = None) -> Callable[[str], Awaitable[bool]]:
    """The call the worker makes, with the settings' timeout unless told otherwise."""
    seconds = AlertSettings().webhook_timeout_seconds if timeout is None else timeout

    async def client(base: str) -> bool:
        return await post_alerts(url.format(base=base), PAYLOAD, seconds, on_failure=WEBHOOK_FAILURES.inc)

    return client


def failures() -> float:
    return REGISTRY.get_sample_value(FAILURES) or 0.0


def test_payload_is_posted_as_json():
    receiver = Receiver()
    before = failures()
    assert serve(receiver, send("{base}/hooks/seatmeter?token=s3cret"))
    assert receiver.requests == [("/hooks/seatmeter?token=s3cret", "application/json", orjson.dumps(PAYLOAD))]
    assert failures() == before


@pytest.mark.parametrize(
    ("receiver", "timeout", "reason"),
    [
        pytest.param(Receiver(status=500), None, "HTTP 500", id="server error"),
        pytest.param(Receiver(status=404), None, "HTTP 404", id="wrong path"),
        pytest.param(Receiver(delay=1.0), 0.1, "timed out", id="receiver too slow"),
    ],
)
def test_failure_is_logged_and_counted_never_raised(receiver, timeout, reason, caplog):
    before = failures()
    with caplog.at_level(logging.WARNING, logger="sinks.http.alert_webhook"):
        assert not serve(receiver, send("{base}/hook?token=s3cret", timeout))
    assert len(receiver.requests) == 1
    assert failures() == before + 1
    [record] = caplog.records
    assert reason in record.getMessage()
    assert "s3cret" not in record.getMessage()


def test_unreachable_receiver_is_counted():
    async def client(base: str) -> bool:
        return await send("http://127.0.0.1:9/hook", 1.0)(base)  # discard port: nothing listens

    before = failures()
    assert not serve(Receiver(), client)
    assert failures() == before + 1


def test_malformed_url_is_counted_not_raised():
    before = failures()
    assert not asyncio.run(post_alerts("not a url", PAYLOAD, 1.0, on_failure=WEBHOOK_FAILURES.inc))
    assert failures() == before + 1
