"""Fault injection on the real broker and engine: each scenario injects its faults into a workload
whose truth the producer's ledger knows, and the verifier holds the warehouse against the ledger
(rollups per product and minute: users, devices, active seconds, events; dead letters; sessions,
against the same traffic replayed offline with no fault). ``make chaos`` runs them all; the two
marked ``chaos_ci`` also run in ``make test``."""

from __future__ import annotations

import random
import re
import shutil
import time
from collections.abc import Callable

import pytest

from tests.integration.chaos.faults import PrivateBroker, poison_messages
from tests.integration.chaos.ledger import Ledger
from tests.integration.chaos.scenario import (
    FAST_RESTARTS,
    add_offline_buffer,
    conclude,
    ledger_of,
    oracle,
    send,
)
from tests.integration.harness import EX_TEMPFAIL, Pipeline, Worker
from tests.support.chdb_http import ChdbHttpServer

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.chaos, pytest.mark.slow]


@pytest.mark.chaos_ci
def test_duplicate_delivery_counts_every_event_once(embedded_pipeline, tmp_path, record_findings):
    pipeline, ledger = embedded_pipeline, ledger_of(seed=41, devices=12, minutes=25)
    send(pipeline, ledger.messages)
    send(pipeline, ledger.messages)
    ledger.deliveries = 2
    ledger.note(f"the whole workload ({len(ledger.messages):,} messages) delivered twice")
    pipeline.run_until_caught_up()
    conclude("duplicate delivery", ledger, pipeline, record_findings, oracle(tmp_path / "oracle", ledger, {}))


@pytest.mark.chaos_ci
def test_poison_of_every_kind_mixed_into_good_traffic(embedded_pipeline, tmp_path, record_findings):
    pipeline, ledger = embedded_pipeline, ledger_of(seed=43, devices=10, minutes=20)
    messages = list(ledger.messages)
    for number, (name, value) in enumerate(poison_messages("dev-001").items(), start=1):
        at = number * len(messages) // 6
        messages.insert(at, ledger.add_poison(name, b"dev-001", value))
        ledger.note(f"poison before message {at:,}, on a good device's key: {name}")
    send(pipeline, messages)
    pipeline.run_until_caught_up()
    conclude("poison mixed into good traffic", ledger, pipeline, record_findings,
             oracle(tmp_path / "oracle", ledger, {}))  # fmt: skip


def test_kill_9_at_random_points_repeated(embedded_pipeline, tmp_path, record_findings):
    """Random points of a batch's life: before its insert, between insert and commit, while the
    session state is updated; enough kills that each is hit (the replayed-message count shows it)."""
    pipeline, ledger = embedded_pipeline, ledger_of(seed=47, devices=40, minutes=60)
    pipeline.extra_env.update(FAST_RESTARTS)
    send(pipeline, ledger.messages)
    rng, replayed = random.Random(9), 0.0
    for _ in range(5):
        at, pause = rng.randint(30, 300), rng.random()
        worker = pipeline.start_worker_reaching("seatmeter_messages_consumed_total", at)
        replayed += worker.metric("seatmeter_messages_already_written_total")
        time.sleep(pause)
        worker.kill()
        ledger.note(f"kill -9 after {at} messages consumed and {pause:.2f} s more")
    pipeline.run_until_caught_up()
    conclude("kill -9, five times", ledger, pipeline, record_findings, oracle(tmp_path / "oracle", ledger, {}))
    assert replayed > 0, "no batch was replayed, so no kill fell between an insert and its commit"


def test_kill_9_alongside_a_rebalance_between_two_workers(server_pipeline, tmp_path, record_findings):
    pipeline, ledger = server_pipeline, ledger_of(seed=53, devices=30, minutes=45)
    pipeline.extra_env.update(FAST_RESTARTS | {"SEATMETER_WORKER__STALL_TIMEOUT_SECONDS": "30"})
    send(pipeline, ledger.messages)
    first, second = pipeline.start_worker(), pipeline.start_worker("second")
    try:
        second = _reaching(pipeline, second, 20, ledger)
        first.kill()
        ledger.note("two workers share the partitions; kill -9 of the first once the second consumed 20")
        first = _reaching(pipeline, pipeline.start_worker(), 10, ledger)
        second.kill()
        ledger.note("the first restarted (a rebalance back); kill -9 of the second once it consumed 10")
        first = _catch_up_restarting(pipeline, first, ledger)
    finally:
        for worker in (first, second):
            if worker.process.poll() is None:
                assert worker.stop() == 0
    conclude("kill -9 with a rebalance", ledger, pipeline, record_findings, oracle(tmp_path / "oracle", ledger, {}))


def test_the_local_state_folder_deleted_between_runs(embedded_pipeline, tmp_path, record_findings):
    pipeline, ledger = embedded_pipeline, ledger_of(seed=59, devices=20, minutes=40)
    half = len(ledger.messages) // 2
    send(pipeline, ledger.messages[:half])
    pipeline.run_until_caught_up()
    shutil.rmtree(pipeline.root / "worker")
    ledger.note(f"worker state folder deleted after {half:,} of {len(ledger.messages):,} messages")
    send(pipeline, ledger.messages[half:])
    pipeline.run_until_caught_up()
    conclude("state folder deleted", ledger, pipeline, record_findings, oracle(tmp_path / "oracle", ledger, {}))


def test_a_device_offline_for_three_days_uploads_its_buffer(embedded_pipeline, tmp_path, record_findings):
    four_days = {"SEATMETER_INGEST__ALLOWED_LATENESS_SECONDS": str(4 * 86_400)}
    pipeline, ledger = embedded_pipeline, ledger_of(seed=61, devices=10, minutes=20)
    pipeline.extra_env.update(four_days)
    buffer = add_offline_buffer(ledger.workload, "dev-traveller", days_ago=3, minutes=240, seed=61)
    ledger.workload.messages.extend(buffer)
    ledger.note(f"a device offline for 3 days uploads 240 minutes of use in {len(buffer)} envelopes")
    send(pipeline, ledger.messages)
    pipeline.run_until_caught_up()
    conclude("device offline for three days", ledger, pipeline, record_findings,
             oracle(tmp_path / "oracle", ledger, four_days))  # fmt: skip


def test_the_warehouse_unavailable_for_a_minute(server_pipeline, chdb_http_server: ChdbHttpServer, tmp_path,
                                                 record_findings):  # fmt: skip
    """The writer retries with bounded backoff and commits nothing; the lag and insert-error metrics
    (the inputs of the lag and insert-error alert rules) rise; nothing is dead-lettered for it."""
    pipeline, ledger = server_pipeline, ledger_of(seed=67, devices=15, minutes=30)
    pipeline.extra_env.update({"SEATMETER_WORKER__STALL_TIMEOUT_SECONDS": "300"})
    half = len(ledger.messages) // 2
    send(pipeline, ledger.messages[:half])
    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_messages_consumed_total", half)
        pipeline.wait_caught_up_or_explain(worker)
        chdb_http_server.stop()
        send(pipeline, ledger.messages[half:])
        ledger.note(f"warehouse stopped for 60 s, {len(ledger.messages) - half:,} messages sent meanwhile")
        time.sleep(60)
        worker.assert_alive()
        behind = _uncommitted(pipeline)
        errors = worker.metric("seatmeter_warehouse_insert_errors_total")
        lag = worker.metric("seatmeter_consumer_lag")
        chdb_http_server.start()
        ledger.note(f"at the outage's end: {behind:,} uncommitted, {errors:.0f} insert errors, lag gauge {lag:.0f}")
        pipeline.wait_caught_up_or_explain(worker)
    finally:
        assert worker.stop() == 0
    assert behind == len(ledger.messages) - half, "offsets were committed while the warehouse was away"
    assert errors > 0 and lag > 0
    conclude("warehouse away for a minute", ledger, pipeline, record_findings,
             oracle(tmp_path / "oracle", ledger, {}))  # fmt: skip


def test_the_broker_stopped_and_restarted_under_load(kafka_broker, tmp_path, record_findings):
    broker = PrivateBroker.start(tmp_path / "broker")
    try:
        root = tmp_path / "pipeline"
        root.mkdir()
        env = {"SEATMETER_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap, **FAST_RESTARTS}
        pipeline = Pipeline(root=root, warehouse_url=f"chdb://{root / 'warehouse'}", extra_env=env)
        ledger = ledger_of(seed=71, devices=30, minutes=45)
        send(pipeline, ledger.messages)
        worker = pipeline.start_worker_reaching("seatmeter_messages_consumed_total", 100)
        broker.down()
        ledger.note("broker stopped once the worker consumed 100 messages; restarted 30 s later")
        time.sleep(30)
        broker.up()
        worker = _catch_up_restarting(pipeline, worker, ledger)
        assert worker.stop() == 0
        conclude("broker stopped under load", ledger, pipeline, record_findings,
                 oracle(tmp_path / "oracle", ledger, {}))  # fmt: skip
    finally:
        broker.down()


def _reaching(pipeline: Pipeline, worker: Worker, consumed: int, ledger: Ledger) -> Worker:
    """The worker once it consumed ``consumed`` messages (see ``_restarting``)."""
    return _restarting(pipeline, worker, ledger, lambda w: w.wait_metric("seatmeter_messages_consumed_total", consumed))


def _catch_up_restarting(pipeline: Pipeline, worker: Worker, ledger: Ledger) -> Worker:
    """The worker once everything is committed (see ``_restarting``)."""
    return _restarting(pipeline, worker, ledger, lambda w: pipeline.wait_caught_up_or_explain(w, timeout=120))


def _restarting(
    pipeline: Pipeline, worker: Worker, ledger: Ledger, wait: Callable[[Worker], object], restarts: int = 3
) -> Worker:
    """``wait`` for the worker; like an orchestrator, restart it when it stopped itself for a
    restart (exit 75, its stall watchdog), at most ``restarts`` times. Returns the worker running."""
    for _ in range(restarts + 1):
        try:
            wait(worker)
            return worker
        except AssertionError:
            if worker.process.poll() != EX_TEMPFAIL:
                raise
            ledger.note(f"{worker.name} stopped itself (exit 75) and was restarted")
            worker = pipeline.start_worker(worker.name)
    raise AssertionError(f"{worker.name} still waiting after {restarts} restarts")


def _uncommitted(pipeline: Pipeline) -> int:
    out = pipeline.cli("lag")
    found = re.search(r"uncommitted messages: ([\d,]+)", out)
    assert found, out
    return int(found.group(1).replace(",", ""))
