"""The ``seatmeter`` command: worker, migrate, simulate, sql, lag, schema export and reports."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from clickhouse_connect.driver.client import Client
from rich.console import Console
from rich.table import Table

from schemas.settings import Settings
from sinks import kafka
from sinks.migrate import apply_migrations
from sinks.warehouse import WarehouseInUseError, connect_warehouse

cli = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
console = Console(width=None if sys.stdout.isatty() else 160)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    jsonl = "JSONEachRow"


def _settings() -> Settings:
    return Settings()


@cli.command()
def worker() -> None:
    """Run a stream worker: consume agent usage, write the warehouse, serve /metrics."""
    from streams.worker import run_worker

    run_worker(_settings())


@cli.command()
def migrate() -> None:
    """Apply pending warehouse migrations (safe to run again)."""
    client = _connect()
    applied = apply_migrations(client)
    client.close()
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing pending"
    console.print(f"migrations applied: {names}")


@cli.command()
def simulate(
    devices: Annotated[int, typer.Option(min=1, help="How many devices (one person each).")] = 40,
    seed: Annotated[int, typer.Option(help="Same seed, same fleet, same events.")] = 7,
    day: Annotated[str | None, typer.Option(help="Working day to simulate (YYYY-MM-DD); yesterday by default.")] = None,
) -> None:
    """Produce a simulated fleet's working day of agent events to Kafka and print what was sent."""
    from streams.simulate import simulate_day

    settings = _settings()
    when = date.fromisoformat(day) if day else (datetime.now(UTC) - timedelta(days=1)).date()
    traffic = simulate_day(seed, devices, when)
    asyncio.run(kafka.ensure_topics(settings.kafka.bootstrap_servers, kafka.pipeline_topics(settings.kafka)))
    asyncio.run(kafka.produce(settings.kafka.bootstrap_servers, settings.kafka.agent_topic, traffic.messages))
    console.print(
        f"sent {traffic.events:,} events in {len(traffic.messages):,} messages from {devices} devices "
        f"to {settings.kafka.agent_topic} ({traffic.first_event:%Y-%m-%d %H:%M} to "
        f"{traffic.last_event:%Y-%m-%d %H:%M} UTC)"
    )
    table = Table("product (provisional)", "events", title="events sent per product")
    for product, count in traffic.events_by_product.most_common():
        table.add_row(product, f"{count:,}")
    console.print(table)


@cli.command()
def sql(
    query: Annotated[str, typer.Argument(help="A ClickHouse SQL query.")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
) -> None:
    """Run a query against the configured warehouse and print the result."""
    client = _connect()
    try:
        if output is OutputFormat.table:
            result = client.query(query)
            table = Table(*result.column_names)
            for row in result.result_rows:
                table.add_row(*(str(v) for v in row))
            console.print(table)
        else:
            fmt = "CSVWithNames" if output is OutputFormat.csv else "JSONEachRow"
            sys.stdout.write(client.raw_query(query, fmt=fmt).decode())
    finally:
        client.close()


@cli.command()
def lag(
    wait: Annotated[bool, typer.Option(help="Wait until the worker has committed everything.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 300.0,
) -> None:
    """Print the worker group's uncommitted messages per partition of the pipeline's input topics."""
    settings = _settings()
    deadline = time.monotonic() + timeout
    while True:
        behind = {
            f"{topic}[{partition}]": count
            for topic in kafka.consumed_topics(settings.kafka)
            for partition, count in asyncio.run(
                kafka.consumer_group_lag(settings.kafka.bootstrap_servers, settings.worker.app_id, topic)
            ).items()
        }
        total = sum(behind.values())
        if not wait or total == 0:
            break
        if time.monotonic() > deadline:
            console.print(f"[red]still {total:,} messages behind after {timeout:.0f}s[/red]")
            raise typer.Exit(1)
        time.sleep(1)
    console.print(f"uncommitted messages: {total:,}", dict(sorted(behind.items())))


@cli.command("export-schema")
def export_schema(
    out: Annotated[Path, typer.Option(help="Folder for the JSON Schema files.")] = Path("schemas/json"),
) -> None:
    """Write the JSON Schemas that producers validate against."""
    from schemas.json_schema import write_json_schemas

    for path in write_json_schemas(out):
        console.print(f"wrote {path}")


@cli.command()
def report(
    minutes: Annotated[int, typer.Option(min=1, max=120, help="How many minutes to show.")] = 12,
    products: Annotated[int, typer.Option(min=1, max=20, help="How many products (most used first).")] = 8,
) -> None:
    """Per-product active users per minute, around the busiest minute in the warehouse."""
    from streams.reports import active_users_per_minute

    client = _connect()
    try:
        console.print(active_users_per_minute(client, minutes, products))
    finally:
        client.close()


def _connect() -> Client:
    try:
        return connect_warehouse(_settings().warehouse)
    except WarehouseInUseError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cli()
