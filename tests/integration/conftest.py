from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.integration import secured_broker
from tests.integration.harness import BOOTSTRAP, Pipeline, broker_reachable
from tests.support.fixtures import FIXTURE_PASSWORD, chdb_http_server  # noqa: F401 - a fixture

__all__ = ["chdb_http_server"]


@pytest.fixture(scope="session")
def kafka_broker() -> str:
    if not broker_reachable():
        pytest.fail(f"no Kafka broker at {BOOTSTRAP}: start the local one with `make kafka-up`")
    if shutil.which("kcat") is None:
        pytest.fail("kcat is missing: `make setup` installs Debian's kcat")
    return BOOTSTRAP


@pytest.fixture(scope="session")
def secured_kafka(tmp_path_factory) -> Iterator[secured_broker.SecuredBroker]:
    """A broker of its own with SASL_PLAINTEXT, SASL_SSL and SSL (client certificate) listeners."""
    broker = secured_broker.start(tmp_path_factory.mktemp("secured-kafka"))
    try:
        yield broker
    finally:
        secured_broker.stop(broker)


@pytest.fixture
def embedded_pipeline(kafka_broker, tmp_path) -> Pipeline:
    """A pipeline whose warehouse is chDB in the worker's own process (the default deployment)."""
    return Pipeline(root=tmp_path, warehouse_url=f"chdb://{tmp_path / 'warehouse'}")


@pytest.fixture
def server_pipeline(kafka_broker, tmp_path, chdb_http_server) -> Iterator[Pipeline]:  # noqa: F811
    """A pipeline whose worker reaches the warehouse over HTTP, as it would a ClickHouse server."""
    host_port = chdb_http_server.url.rsplit("@", 1)[-1]
    yield Pipeline(
        root=tmp_path,
        warehouse_url=f"http://{host_port}",
        extra_env={"SEATMETER_WAREHOUSE__PASSWORD": FIXTURE_PASSWORD},
    )
