"""``seatmeter import``: reference data from files to its compacted topic, or straight into a warehouse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from schemas.settings import Settings
from sinks.kafka import client as kafka
from streams.cli.broker import on_kafka
from streams.cli.common import console

T = TypeVar("T")

importer = typer.Typer(no_args_is_help=True, help="Import reference data kept in spreadsheets (CSV, YAML or JSON).")


FileArgument = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv, .yaml/.yml or .json file.")]
ToWarehouse = Annotated[
    bool,
    typer.Option(
        "--to-warehouse",
        help="Write straight into the configured warehouse, as a worker would, instead of publishing to Kafka "
        "(trials and offline replay without a broker).",
    ),
]


@importer.command("entitlements")
def import_entitlements(path: FileArgument, to_warehouse: ToWarehouse = False) -> None:
    """Publish license pools to the compacted entitlements topic, one message per pool, or with
    --to-warehouse write them into the warehouse as a worker would.

    Pools missing from the file are not deleted.
    """
    from streams.tools.importers import read_entitlements, to_messages

    settings = Settings()
    pools = _read_or_exit(read_entitlements, path)
    _deliver_reference(settings, "entitlements", to_messages(pools), f"license pools from {path}", to_warehouse)


@importer.command("directory")
def import_directory(path: FileArgument, to_warehouse: ToWarehouse = False) -> None:
    """Publish people to the compacted directory topic, pseudonymized here, one message per person,
    or with --to-warehouse write them into the warehouse as a worker would.

    Raw identities never reach Kafka unless SEATMETER_PRIVACY__STORE_RAW_IDENTITIES is true.
    People missing from the file are not deleted.
    """
    from streams.runtime.keys import load_pseudonym_key
    from streams.tools.importers import read_directory, to_messages

    settings = Settings()
    people = _read_or_exit(read_directory, path)
    key = load_pseudonym_key(settings.privacy)
    messages = to_messages(people, key, keep_display_name=settings.privacy.store_raw_identities)
    _deliver_reference(settings, "directory", messages, f"people from {path}", to_warehouse)


def _read_or_exit(read: Callable[[Path], list[T]], path: Path) -> list[T]:
    from streams.tools.importers import ReferenceImportError

    try:
        return read(path)
    except ReferenceImportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


def _deliver_reference(
    settings: Settings, source: str, messages: list[tuple[bytes, bytes]], what: str, to_warehouse: bool
) -> None:
    """To the source's compacted topic, or with ``--to-warehouse`` through the worker's decoder and
    writer into the warehouse."""
    if to_warehouse:
        from streams.tools.reference_import import import_into_warehouse

        table = import_into_warehouse(settings, source, messages)
        console.print(f"wrote {len(messages):,} {what} to the warehouse table {table}")
        return
    topic = settings.kafka.entitlements_topic if source == "entitlements" else settings.kafka.directory_topic
    on_kafka(settings, kafka.ensure_topics(settings.kafka, kafka.pipeline_topics(settings.kafka)))
    on_kafka(settings, kafka.produce(settings.kafka, topic, messages))
    console.print(f"published {len(messages):,} {what} to {topic}")
