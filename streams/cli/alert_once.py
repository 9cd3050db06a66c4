"""One alert evaluation outside a worker: the same evaluator, with a plain Kafka producer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from schemas.alerts import Alert
from schemas.settings import Settings
from sinks.clickhouse.warehouse import Warehouse
from sinks.http.alert_webhook import post_alerts
from sinks.kafka import client as kafka
from streams.pipeline.alerts.payload import alert_message, alertmanager_payload
from streams.runtime import metrics
from streams.runtime.alerting import AlertEvaluator


def change_line(alert: Alert) -> str:
    """One alert change as ``seatmeter alerts evaluate`` prints it: two episodes of one rule and subject
    differ by when they opened and resolved."""
    resolved = f", resolved {alert.resolved_at:%Y-%m-%d %H:%M}" if alert.resolved_at else ""
    opened = f"opened {alert.opened_at:%Y-%m-%d %H:%M}{resolved}"
    return f"{alert.state.value:8} {alert.rule.value:18} {opened}: {alert.summary}"


def evaluate_once(settings: Settings) -> list[Alert]:
    warehouse = Warehouse(settings.warehouse)
    warehouse.open_blocking()
    try:
        warehouse.migrate_blocking()
        return asyncio.run(_evaluate(settings, warehouse))
    finally:
        warehouse.close_blocking()


async def _evaluate(settings: Settings, warehouse: Warehouse) -> list[Alert]:
    topic = settings.alerts.topic

    async def publish(alerts: Sequence[Alert]) -> None:
        await kafka.ensure_topics(settings.kafka, [kafka.alerts_topic(topic, settings.kafka)])
        await kafka.produce(settings.kafka, topic, [alert_message(a) for a in alerts])

    async def notify(alerts: Sequence[Alert]) -> None:
        if settings.alerts.webhook_url:
            await post_alerts(
                settings.alerts.webhook_url.get_secret_value(),
                alertmanager_payload(alerts),
                settings.alerts.webhook_timeout_seconds,
                on_failure=metrics.WEBHOOK_FAILURES.inc,
            )

    return await AlertEvaluator(warehouse, settings.alerts, publish, notify).evaluate()
