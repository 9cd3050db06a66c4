"""Running the pipeline: the worker, its lag, a simulated fleet; and the warehouse's migrations."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from rich.table import Table

from sinks.clickhouse.migrate import apply_migrations, bundled_migrations, migration_script
from sinks.kafka import client as kafka
from streams.cli.broker import exit_refused, on_kafka
from streams.cli.common import console, settings, warehouse_client


def worker() -> None:
    """Run a stream worker: consume usage, write the warehouse, serve /metrics."""
    from streams.worker import run_worker

    config = settings()
    try:
        run_worker(config)
    except KafkaError as exc:
        exit_refused(config, exc)


def lag(
    wait: Annotated[bool, typer.Option(help="Wait until the worker has committed everything.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 300.0,
) -> None:
    """Print the worker group's uncommitted messages per partition of the pipeline's input topics."""
    config = settings()
    deadline = time.monotonic() + timeout
    while True:
        behind = {
            f"{topic}[{partition}]": count
            for topic in kafka.consumed_topics(config.kafka)
            for partition, count in on_kafka(
                config, kafka.consumer_group_lag(config.kafka, config.worker.app_id, topic)
            ).items()
        }
        total = sum(behind.values())
        if not wait or total == 0:
            break
        if time.monotonic() > deadline:
            console.print(f"[red]still {total:,} messages behind after {timeout:.0f}s[/red]")
            raise typer.Exit(1)
        time.sleep(1)
    waiting = {name: count for name, count in sorted(behind.items()) if count}
    console.print(f"uncommitted messages: {total:,}", waiting or "")


def simulate(
    devices: Annotated[int, typer.Option(min=1, help="How many devices (one person each).")] = 40,
    seed: Annotated[int, typer.Option(help="Same seed, same fleet, same events.")] = 7,
    day: Annotated[str | None, typer.Option(help="Working day to simulate (YYYY-MM-DD); yesterday by default.")] = None,
) -> None:
    """Produce a simulated fleet's working day of agent events to Kafka and print what was sent."""
    from streams.tools.simulate import simulate_day

    config = settings()
    when = date.fromisoformat(day) if day else (datetime.now(UTC) - timedelta(days=1)).date()
    traffic = simulate_day(seed, devices, when)
    on_kafka(config, kafka.ensure_topics(config.kafka, kafka.pipeline_topics(config.kafka)))
    on_kafka(config, kafka.produce(config.kafka, config.kafka.agent_topic, traffic.messages))
    console.print(
        f"sent {traffic.events:,} events in {len(traffic.messages):,} messages from {devices} devices "
        f"to {config.kafka.agent_topic} ({traffic.first_event:%Y-%m-%d %H:%M} to "
        f"{traffic.last_event:%Y-%m-%d %H:%M} UTC)"
    )
    table = Table("executable", "events", title="events sent per executable")
    for product, count in traffic.events_by_product.most_common():
        table.add_row(product, f"{count:,}")
    console.print(table)


def migrate(
    print_sql: Annotated[
        bool, typer.Option("--print", help="Print the SQL of every migration instead of applying (no connection).")
    ] = False,
    cluster: Annotated[
        str | None,
        typer.Option(help="With --print: render for this ClickHouse cluster (default SEATMETER_WAREHOUSE__CLUSTER)."),
    ] = None,
) -> None:
    """Apply pending warehouse migrations (safe to run again), or print their SQL."""
    if print_sql:
        typer.echo(migration_script(bundled_migrations(), settings().warehouse.cluster if cluster is None else cluster))
        return
    if cluster is not None:
        raise ValueError("--cluster goes with --print; a cluster is migrated by setting SEATMETER_WAREHOUSE__CLUSTER")
    config = settings().warehouse
    with warehouse_client() as client:
        applied = apply_migrations(client, cluster=config.cluster)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing pending"
    where = f" on cluster {config.cluster}" if config.cluster else ""
    console.print(f"migrations applied{where}: {names}")
