"""The pipeline through a real broker's SASL and TLS listeners, and a refused login that ends the
CLI with one clear line. The broker is started here (``secured_kafka``); nothing is mocked."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from sinks.kafka.client import ensure_topics, pipeline_topics, produce
from tests.integration.harness import SEATMETER, Pipeline, agent_sample
from tests.integration.secured_broker import SecuredBroker

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

WRONG = "not-the-password"  # noqa: S105


def secured_pipeline(broker: SecuredBroker, tmp_path, protocol: str, mechanism: str) -> Pipeline:
    pipeline = Pipeline(root=tmp_path, warehouse_url=f"chdb://{tmp_path / 'warehouse'}")
    pipeline.extra_env.update(broker.env(protocol, mechanism))
    return pipeline


def refused(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEATMETER, *args], env=pipeline.env, cwd=pipeline.root, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [
        pytest.param("SASL_PLAINTEXT", "SCRAM-SHA-512", id="SASL_PLAINTEXT SCRAM-SHA-512", marks=pytest.mark.slow),
        pytest.param("SASL_SSL", "SCRAM-SHA-256", id="SASL_SSL SCRAM-SHA-256 with the CA file"),
        pytest.param("SSL", "PLAIN", id="SSL with a client certificate", marks=pytest.mark.slow),
    ],
)
def test_the_pipeline_runs_through_a_secured_listener(secured_kafka, tmp_path, protocol, mechanism):
    pipeline = secured_pipeline(secured_kafka, tmp_path, protocol, mechanism)
    kafka = secured_kafka.settings(protocol, mechanism, agent_topic=pipeline.topic)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    events = [agent_sample(f"WS-{i}", f"user{i}", "excel.exe", end, f"sec-{protocol}-{i}") for i in range(3)]
    asyncio.run(ensure_topics(kafka, pipeline_topics(kafka)))
    asyncio.run(produce(kafka, pipeline.topic, events))
    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_events_consumed_total", len(events), timeout=60)
        pipeline.wait_caught_up(timeout=60)
    finally:
        assert worker.stop() == 0
    rows = pipeline.query("SELECT arrayJoin(event_ids) AS id FROM product_usage_1m_parts WHERE event_count > 0")
    assert sorted(r["id"] for r in rows) == sorted(f"sec-{protocol}-{i}" for i in range(3))


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [
        pytest.param("SASL_PLAINTEXT", "PLAIN", id="SASL_PLAINTEXT PLAIN"),
        pytest.param("SASL_PLAINTEXT", "SCRAM-SHA-256", id="SASL_PLAINTEXT SCRAM-SHA-256"),
        pytest.param("SASL_SSL", "SCRAM-SHA-512", id="SASL_SSL SCRAM-SHA-512"),
    ],
)
def test_every_mechanism_logs_in(secured_kafka, tmp_path, protocol, mechanism):
    pipeline = secured_pipeline(secured_kafka, tmp_path, protocol, mechanism)
    assert "uncommitted messages: 0" in pipeline.cli("lag", timeout=60)


def test_a_wrong_password_ends_the_cli_with_one_clear_line(secured_kafka, tmp_path):
    pipeline = secured_pipeline(secured_kafka, tmp_path, "SASL_PLAINTEXT", "SCRAM-SHA-512")
    pipeline.extra_env["SEATMETER_KAFKA__SASL_PASSWORD"] = WRONG
    done = refused(pipeline, "lag", "--wait", "--timeout", "30")
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        f"error: Kafka at {pipeline.env['SEATMETER_KAFKA__BOOTSTRAP_SERVERS']} (SASL_PLAINTEXT SCRAM-SHA-512 as "
        "seatmeter-it): [Error 58] SaslAuthenticationFailed: Authentication failed during authentication due to "
        "invalid credentials with SASL mechanism SCRAM-SHA-512"
    ]
    assert WRONG not in done.stdout + done.stderr


def test_a_broker_certificate_from_an_unknown_ca_is_refused(secured_kafka, tmp_path):
    pipeline = secured_pipeline(secured_kafka, tmp_path, "SASL_SSL", "SCRAM-SHA-512")
    del pipeline.extra_env["SEATMETER_KAFKA__SSL_CAFILE"]
    done = refused(pipeline, "lag")
    assert done.returncode == 3
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_ssl_listener_refuses_a_client_without_a_certificate(secured_kafka, tmp_path):
    pipeline = secured_pipeline(secured_kafka, tmp_path, "SSL", "PLAIN")
    for name in ("CERTFILE", "KEYFILE", "KEY_PASSWORD"):
        del pipeline.extra_env[f"SEATMETER_KAFKA__SSL_{name}"]
    done = refused(pipeline, "lag")
    assert done.returncode == 3 and len(done.stderr.strip().splitlines()) == 1
    assert "set SEATMETER_KAFKA__SSL_CERTFILE and SEATMETER_KAFKA__SSL_KEYFILE" in done.stderr


def test_a_worker_without_the_client_certificate_names_the_missing_setting(secured_kafka, tmp_path):
    pipeline = secured_pipeline(secured_kafka, tmp_path, "SSL", "PLAIN")
    for name in ("CERTFILE", "KEYFILE", "KEY_PASSWORD"):
        del pipeline.extra_env[f"SEATMETER_KAFKA__SSL_{name}"]
    done = refused(pipeline, "worker")
    assert done.returncode == 3
    assert "set SEATMETER_KAFKA__SSL_CERTFILE and SEATMETER_KAFKA__SSL_KEYFILE" in done.stderr
