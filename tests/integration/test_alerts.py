"""License-pool alerts on the real broker and engine: an overrun that opens and resolves at the
right minutes, concurrency equal to a count from the sessions, unlicensed use, sync gaps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.harness import Pipeline, agent_sample

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

ENTITLEMENTS = (
    "pool_id,name,products,suites,license_model,seats,unit_cost,currency,term_start,term_end,renewal_date,"
    "cost_centres,vendor,contract_ref,notes\n"
    "acad,AutoCAD network,autodesk-autocad,,concurrent_user,2,2550.00,GBP,2025-07-01,2028-06-30,2028-07-01,"
    "CC300:1,Autodesk,AD-1,\n"
)


def sample(device: str, user: str, exe: str, end: datetime, number: int) -> tuple[bytes, bytes]:
    return agent_sample(device, user, exe, end, f"{device}-{exe}-{number}")


def first_cells(table: str) -> list[str]:
    """The first column of a printed table's rows (continuation lines of wrapped rows skipped)."""
    cells = [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")]
    return [cell for cell in cells if cell]


def wait_for(pipeline: Pipeline, sql: str, done, timeout: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        try:
            rows = pipeline.query(sql)
        except AssertionError:
            rows = []  # the worker has not created the tables yet
        if rows and done(rows):
            return rows
        time.sleep(1)
    raise AssertionError(f"condition not met in {timeout}s; last rows: {rows}")


class _Receiver(BaseHTTPRequestHandler):
    """An Alertmanager-webhook receiver that keeps what it was sent."""

    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook
        length = int(self.headers.get("Content-Length", 0))
        type(self).bodies.append(orjson.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Receiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.bodies
    server.shutdown()
    thread.join()


def test_overrun_unlicensed_use_and_sync_gaps(server_pipeline: Pipeline, tmp_path: Path, webhook):
    pipeline = server_pipeline
    name = pipeline.name
    hook_url, received = webhook
    pipeline.extra_env.update(
        {
            "SEATMETER_KAFKA__ENTITLEMENTS_TOPIC": f"{name}.entitlements",
            "SEATMETER_KAFKA__INVENTORY_TOPIC": f"{name}.inventory",
            "SEATMETER_KAFKA__DIRECTORY_TOPIC": f"{name}.directory",
            "SEATMETER_ALERTS__TOPIC": f"{name}.alerts",
            "SEATMETER_ALERTS__EVALUATE_EVERY_SECONDS": "1",
            "SEATMETER_ALERTS__OVERRUN_OPEN_MINUTES": "3",
            "SEATMETER_ALERTS__OVERRUN_RESOLVE_MINUTES": "2",
            "SEATMETER_ALERTS__SYNC_GAP_HOURS": "0.006",
            "SEATMETER_ALERTS__QUIET_WEEKDAYS": "[]",
            "SEATMETER_ALERTS__WEBHOOK_URL": hook_url,
        }
    )
    entitlements = tmp_path / "entitlements.csv"
    entitlements.write_text(ENTITLEMENTS)
    pipeline.cli("import", "entitlements", str(entitlements))
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=40)
    messages = []
    for minute in range(1, 11):
        users = 3 if minute <= 6 else 1
        for n in range(users):
            messages.append(sample(f"ws-{n}", f"CORP\\\\cad{n}", "acad.exe", t0 + timedelta(minutes=minute), minute))
        messages.append(sample("ws-9", "CORP\\\\analyst", "tableau.exe", t0 + timedelta(minutes=minute), minute))
    pipeline.kcat_produce(messages)
    worker = pipeline.start_worker()
    try:
        overruns = wait_for(
            pipeline,
            "SELECT toString(opened_at) AS opened, toString(resolved_at) AS resolved, state, value "
            "FROM alerts FINAL WHERE rule = 'pool_overrun' AND subject = 'acad'",
            lambda rows: len(rows) == 1 and rows[0]["state"] == "resolved",
        )
        assert overruns[0]["opened"] == f"{t0:%Y-%m-%d %H:%M:%S}.000"
        assert overruns[0]["resolved"] == f"{t0 + timedelta(minutes=6):%Y-%m-%d %H:%M:%S}.000"
        assert overruns[0]["value"] == 3

        per_minute = {
            r["minute"]: int(r["running_in_use"])
            for r in pipeline.query(
                "SELECT toString(minute) AS minute, running_in_use FROM pool_usage_1m WHERE pool_id = 'acad'"
            )
        }
        sessions = pipeline.query(
            "SELECT user_key, toUnixTimestamp64Milli(started_at) AS s, toUnixTimestamp64Milli(ended_at) AS e "
            "FROM usage_sessions WHERE product = 'AutoCAD'"
        )
        brute: dict[str, set[str]] = {}
        for minute in range(20):
            start = int((t0 + timedelta(minutes=minute)).timestamp() * 1000)
            key = f"{t0 + timedelta(minutes=minute):%Y-%m-%d %H:%M:%S}"
            users = {str(s["user_key"]) for s in sessions if int(s["s"]) < start + 60_000 and int(s["e"]) > start}
            if users:
                brute[key] = users
        assert per_minute == {k: len(v) for k, v in brute.items()}

        unlicensed = wait_for(
            pipeline,
            "SELECT subject, state FROM alerts FINAL WHERE rule = 'unlicensed_use'",
            lambda rows: any(r["subject"] == "Tableau Desktop" and r["state"] == "open" for r in rows),
        )
        assert "AutoCAD" not in {r["subject"] for r in unlicensed}
        report = pipeline.cli("reports", "unlicensed")
        assert "Tableau Desktop" in report and "AutoCAD" not in report

        wait_for(
            pipeline,
            "SELECT subject, state FROM alerts FINAL WHERE rule = 'sync_gap' AND state = 'open'",
            lambda rows: {"device:ws-0", "device:ws-9"} <= {r["subject"] for r in rows},
        )
        pipeline.kcat_produce([sample("ws-0", "CORP\\\\cad0", "acad.exe", datetime.now(UTC), 99)])
        gaps = wait_for(
            pipeline,
            "SELECT subject, state FROM alerts FINAL "
            "WHERE rule = 'sync_gap' AND subject IN ('device:ws-0', 'device:ws-9')",
            lambda rows: (
                {(r["subject"], r["state"]) for r in rows} >= {("device:ws-0", "resolved"), ("device:ws-9", "open")}
            ),
        )
        assert gaps
        assert pipeline.kcat_count(f"{name}.alerts") >= 4
        open_now = first_cells(pipeline.cli("alerts"))
        assert open_now and set(open_now) == {"open"}, open_now
        assert "Tableau Desktop" in pipeline.cli("alerts")
        assert "resolved" in first_cells(pipeline.cli("alerts", "--all"))
        overruns_sent = [
            (a["status"], a["startsAt"], a["endsAt"])
            for body in received
            for a in body["alerts"]
            if a["labels"].get("rule") == "pool_overrun"
        ]
        assert (
            "resolved",
            f"{t0:%Y-%m-%dT%H:%M:%S}Z",
            f"{t0 + timedelta(minutes=6):%Y-%m-%dT%H:%M:%S}Z",
        ) in overruns_sent
    finally:
        assert worker.stop() == 0
