"""The ``seatmeter`` command: worker, migrate, simulate, sql, lag, schema export and reports."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from clickhouse_connect.driver.client import Client
from rich.console import Console
from rich.table import Table

from schemas.settings import Settings
from sinks import kafka
from sinks.kafka_security import connection_failure, describe
from sinks.migrate import apply_migrations
from sinks.warehouse import WarehouseInUseError, connect_warehouse
from streams.keys import PseudonymKeyMismatchError

T = TypeVar("T")

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

    settings = _settings()
    try:
        run_worker(settings)
    except KafkaError as exc:
        _exit_refused(settings, exc)
    except PseudonymKeyMismatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


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
    _on_kafka(settings, kafka.ensure_topics(settings.kafka, kafka.pipeline_topics(settings.kafka)))
    _on_kafka(settings, kafka.produce(settings.kafka, settings.kafka.agent_topic, traffic.messages))
    console.print(
        f"sent {traffic.events:,} events in {len(traffic.messages):,} messages from {devices} devices "
        f"to {settings.kafka.agent_topic} ({traffic.first_event:%Y-%m-%d %H:%M} to "
        f"{traffic.last_event:%Y-%m-%d %H:%M} UTC)"
    )
    table = Table("executable", "events", title="events sent per executable")
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
            for partition, count in _on_kafka(
                settings, kafka.consumer_group_lag(settings.kafka, settings.worker.app_id, topic)
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


@cli.command()
def correct(
    reason: Annotated[str, typer.Option(help="Why: an auditor reads this.")],
    path: Annotated[str | None, typer.Option(help="The exact executable path (case-insensitive).")] = None,
    path_glob: Annotated[str | None, typer.Option(help="A glob on the path, e.g. '*/tools/acme*.exe'.")] = None,
    sha256: Annotated[str | None, typer.Option(help="The executable's SHA-256.")] = None,
    product: Annotated[str | None, typer.Option(help="The catalog product id it really is.")] = None,
    category: Annotated[str | None, typer.Option(help="Or a category: application, background, unknown.")] = None,
    publish: Annotated[
        bool, typer.Option(help="Send it to the corrections topic, for every worker, instead of the local file.")
    ] = False,
) -> None:
    """Record a misclassification: it becomes a catalog override that running workers pick up.

    Without --publish it goes to the local overrides file, read by workers on this machine. With
    --publish it goes to the compacted corrections topic, read by every worker of the cluster; a
    newer correction for the same match replaces it, and `withdraw-correction` withdraws it.
    """
    from pydantic import ValidationError

    from schemas.catalog import Override
    from streams.catalog_source import append_override, check_override, correction_message

    settings = _settings()
    try:
        override = Override.model_validate(
            {"path": path, "path_glob": path_glob, "sha256": sha256, "product": product, "category": category,
             "reason": reason}
        )  # fmt: skip
        check_override(override)
    except ValidationError as exc:
        console.print(f"[red]not recorded: {exc.errors(include_input=False)[0]['msg']}[/red]")
        raise typer.Exit(1) from exc
    if publish:
        key, value = correction_message(override)
        version = _send_correction(settings, key, value)
        console.print(f"published {key.decode()} to {settings.catalog.topic}; workers without local corrections "
                      f"now use {version}")  # fmt: skip
        return
    catalog = append_override(settings.catalog.overrides_file, override)
    console.print(f"recorded in {settings.catalog.overrides_file}; catalog is now {catalog.version}")


@cli.command("withdraw-correction")
def withdraw_correction(
    path: Annotated[str | None, typer.Option(help="The exact path the correction matches.")] = None,
    path_glob: Annotated[str | None, typer.Option(help="The glob the correction matches.")] = None,
    sha256: Annotated[str | None, typer.Option(help="The SHA-256 the correction matches.")] = None,
) -> None:
    """Withdraw a published correction: a tombstone under its match on the corrections topic.

    Local corrections are withdrawn by editing the overrides file.
    """
    from streams.catalog_source import match_key

    settings = _settings()
    try:
        key = match_key(sha256=sha256, path=path, path_glob=path_glob)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    version = _send_correction(settings, key.encode(), None)
    console.print(f"withdrew {key} on {settings.catalog.topic}; workers without local corrections now use {version}")


def _send_correction(settings: Settings, key: bytes, value: bytes | None) -> str:
    """Publish one correction record and return the catalog version the topic now amounts to."""
    from streams.catalog_source import topic_catalog_version

    topic = settings.catalog.topic
    _on_kafka(settings, kafka.ensure_topics(settings.kafka, [kafka.catalog_topic(topic, settings.kafka)]))
    _on_kafka(settings, kafka.produce(settings.kafka, topic, [(key, value)]))
    return topic_catalog_version(_on_kafka(settings, kafka.read_to_end(settings.kafka, topic)), topic)


@cli.command("shadow-it")
def shadow_it_report(
    days: Annotated[int, typer.Option(min=1, max=400, help="How many days back to look.")] = 30,
) -> None:
    """Unknown executables and unapproved software, with their user and device counts.

    Unapproved: a catalog product that no license pool covers and that is not on the approved
    list (SEATMETER_CATALOG__APPROVED_FILE); free and open-source products are left out.
    """
    from streams.catalog_source import merged_catalog, read_approvals
    from streams.reports import ApprovalRules, shadow_it

    settings = _settings().catalog
    rules = ApprovalRules(
        merged_catalog(settings.overrides_file), read_approvals(settings.approved_file), settings.exempt_license_models
    )
    client = _connect()
    try:
        console.print(shadow_it(client, datetime.now(UTC) - timedelta(days=days), rules))
    finally:
        client.close()


def _on_kafka(settings: Settings, work: Coroutine[Any, Any, T]) -> T:
    """Run one Kafka call; a broker that cannot be reached or refuses us (a wrong password, an
    untrusted certificate) ends the command with one line on stderr and exit code 3."""
    with _aiokafka_silenced():
        try:
            return asyncio.run(work)
        except (KafkaError, OSError) as exc:
            _exit_refused(settings, exc)


def _exit_refused(settings: Settings, exc: Exception) -> NoReturn:
    # The one line below is the report: aiokafka (and asyncio, for the probe's closed
    # connection) would otherwise log the same failure again as tracebacks on the way out.
    for name in ("aiokafka", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    if isinstance(exc, KafkaConnectionError):
        reason = asyncio.run(connection_failure(settings.kafka))
    else:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    typer.echo(f"error: Kafka at {describe(settings.kafka)}: {reason}", err=True)
    raise typer.Exit(3) from None


@contextmanager
def _aiokafka_silenced() -> Iterator[None]:
    """aiokafka logs every failed connection attempt; ``_on_kafka`` reports the reason once."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _connect() -> Client:
    try:
        return connect_warehouse(_settings().warehouse)
    except WarehouseInUseError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cli()


dlq = typer.Typer(no_args_is_help=True, help="Dead letters: replay them after a fix.")
cli.add_typer(dlq, name="dlq")


@dlq.command("replay")
def dlq_replay(
    stage: Annotated[str | None, typer.Option(help="Only dead letters from this stage (decode, admit).")] = None,
    reason_contains: Annotated[str | None, typer.Option(help="Only reasons containing this text.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Count what would be replayed; send nothing.")] = False,
) -> None:
    """Send dead letters back to the usage topic they came from, opened and with their original key.

    Replay after deploying the fix that makes them valid; replaying the same dead letters twice
    sends them twice.
    """
    from streams.keys import load_pseudonym_key
    from streams.stages.replay import ReplayFilter, plan_replay
    from streams.stages.seal import Sealer

    settings = _settings()
    records = [
        record
        for topic in settings.kafka.usage_topics
        for record in _on_kafka(settings, kafka.read_to_end(settings.kafka, topic + settings.kafka.dead_letter_suffix))
    ]
    sealer = Sealer(load_pseudonym_key(settings.privacy))
    plan = plan_replay(records, ReplayFilter(stage, reason_contains), sealer)
    console.print(f"{len(plan):,} of {len(records):,} dead letters selected for replay")
    if dry_run or not plan:
        return
    for topic in sorted({r.topic for r in plan}):
        chosen = [r for r in plan if r.topic == topic]
        messages = [(r.key, r.value) for r in chosen]
        _on_kafka(settings, kafka.produce(settings.kafka, topic, messages, [r.headers for r in chosen]))
        console.print(f"replayed {len(chosen):,} to {topic}")


@cli.command("fingerprint")
def fingerprint_command(
    explain: Annotated[bool, typer.Option(help="Add the reasoning behind each answer.")] = False,
    catalog: Annotated[
        Path | None, typer.Option(help="Catalog folder (default: the bundled one with local corrections).")
    ] = None,
) -> None:
    """Name executables or SaaS apps: JSON lines in on stdin, one JSON line out per input.

    Input fields: ``exe_path`` and optionally ``publisher``, ``product_name``, ``version``,
    ``sha256``; or ``saas_app`` and ``url``. Output: ``product``, ``vendor``, ``category``
    (application, background or unknown), ``suite``, ``edition``, ``version_group``,
    ``license_model``, ``eol``, ``shadow_it``, ``rule`` and more.
    """
    from streams.catalog_source import merged_catalog
    from streams.stages.fingerprint import build_matcher, fingerprint_lines, load_catalog

    loaded = load_catalog(catalog) if catalog else merged_catalog(_settings().catalog.overrides_file)
    matcher = build_matcher(loaded)
    out = sys.stdout.buffer
    for line in fingerprint_lines(matcher, sys.stdin.buffer, explain=explain):
        out.write(line + b"\n")
    out.flush()


importer = typer.Typer(no_args_is_help=True, help="Import reference data kept in spreadsheets (CSV or YAML).")
cli.add_typer(importer, name="import")


FileArgument = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv, .yaml/.yml or .json file.")]


@importer.command("entitlements")
def import_entitlements(path: FileArgument) -> None:
    """Publish license pools to the compacted entitlements topic, one message per pool.

    Pools missing from the file are not deleted.
    """
    from streams.importers import read_entitlements, to_messages

    settings = _settings()
    pools = _read_or_exit(read_entitlements, path)
    _publish_reference(settings, settings.kafka.entitlements_topic, to_messages(pools), f"license pools from {path}")


@importer.command("directory")
def import_directory(path: FileArgument) -> None:
    """Publish people to the compacted directory topic, pseudonymized here, one message per person.

    Raw identities never reach Kafka unless SEATMETER_PRIVACY__STORE_RAW_IDENTITIES is true.
    People missing from the file are not deleted.
    """
    from streams.importers import read_directory, to_messages
    from streams.keys import load_pseudonym_key

    settings = _settings()
    people = _read_or_exit(read_directory, path)
    key = load_pseudonym_key(settings.privacy)
    messages = to_messages(people, key, keep_display_name=settings.privacy.store_raw_identities)
    _publish_reference(settings, settings.kafka.directory_topic, messages, f"people from {path}")


def _read_or_exit(read: Callable[[Path], list[T]], path: Path) -> list[T]:
    from streams.importers import ReferenceImportError

    try:
        return read(path)
    except ReferenceImportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


def _publish_reference(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]], what: str) -> None:
    _on_kafka(settings, kafka.ensure_topics(settings.kafka, kafka.pipeline_topics(settings.kafka)))
    _on_kafka(settings, kafka.produce(settings.kafka, topic, messages))
    console.print(f"published {len(messages):,} {what} to {topic}")


class ReplaySource(StrEnum):
    agent = "agent"
    osquery = "osquery"
    okta = "okta"
    entra = "entra"


@cli.command("replay")
def replay_command(
    files: Annotated[
        list[Path], typer.Argument(exists=True, dir_okay=False, help="Exported files, replayed in the order given.")
    ],
    source: Annotated[ReplaySource, typer.Option("--source", help="The format of the files.")],
) -> None:
    """Run exported files through the pipeline into the warehouse, without Kafka (backfills,
    trials). The same files replayed again change nothing; see the README for the file layouts."""
    from streams.offline import replay_files

    try:
        summary = replay_files(_settings(), source.value, files)
    except WarehouseInUseError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except PseudonymKeyMismatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    console.print(
        f"replayed {summary.messages:,} messages from {len(files)} file(s) as {summary.topic}: "
        f"{summary.dead_letters:,} dead letters, {summary.late:,} late events set aside, "
        f"{summary.alerts:,} alert changes"
    )


@cli.command("pools")
def pools_command(
    at: Annotated[
        str,
        typer.Option(help="The minute to show: now, latest (newest with usage), busiest (most users) or an ISO time."),
    ] = "now",
) -> None:
    """License pools: seats, seats in use, today's peak and open alerts."""
    from streams.pool_view import license_pool_view, resolve_minute

    client = _connect()
    try:
        console.print(license_pool_view(client, resolve_minute(client, at)))
    finally:
        client.close()


@cli.command("evaluate-alerts")
def evaluate_alerts_command() -> None:
    """Evaluate the alert rules once, as the leader worker does every few seconds; record and
    publish what changed. For a stopped pipeline (an embedded warehouse a worker holds is locked)."""
    from streams.alert_cli import evaluate_once

    try:
        changes = evaluate_once(_settings())
    except WarehouseInUseError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"alert evaluation: {len(changes)} alert(s) opened, resolved or updated")
    for alert in changes:
        console.print(f"  {alert.state.value:8} {alert.rule.value:18} {alert.summary}")


@cli.command("alerts")
def alerts_command(
    include_resolved: Annotated[
        bool, typer.Option("--all", help="Also the resolved and withdrawn ones, not only the open ones.")
    ] = False,
) -> None:
    """Alerts as they stand: overruns, named-user overruns, unlicensed use and sync gaps."""
    from streams.pool_view import alert_list

    client = _connect()
    try:
        console.print(alert_list(client, include_resolved))
    finally:
        client.close()


@cli.command("unlicensed")
def unlicensed_command(
    days: Annotated[int, typer.Option(min=1, max=400, help="How many days back to look.")] = 30,
) -> None:
    """Licensable products in use that no license pool covers, with user and device counts."""
    from streams.pool_view import unlicensed_use

    client = _connect()
    try:
        console.print(unlicensed_use(client, datetime.now(UTC) - timedelta(days=days)))
    finally:
        client.close()
