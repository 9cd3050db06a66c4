"""Data in and out: offline replay, SQL, the producers' schemas, and dead letters."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sinks.kafka import client as kafka
from streams.cli.broker import on_kafka
from streams.cli.common import OutputFormat, console, settings, warehouse_client


class ReplaySource(StrEnum):
    agent = "agent"
    osquery = "osquery"
    okta = "okta"
    entra = "entra"


def replay(
    files: Annotated[
        list[Path], typer.Argument(exists=True, dir_okay=False, help="Exported files, replayed in the order given.")
    ],
    source: Annotated[ReplaySource, typer.Option("--source", help="The format of the files.")],
) -> None:
    """Run exported files through the pipeline into the warehouse, without Kafka (backfills,
    trials). The same files replayed again change nothing; docs/ describes the file layouts."""
    from streams.tools.offline import replay_files

    summary = replay_files(settings(), source.value, files)
    console.print(
        f"replayed {summary.messages:,} messages from {len(files)} file(s) as {summary.topic}: "
        f"{summary.dead_letters:,} dead letters, {summary.late:,} late events set aside, "
        f"{summary.alerts:,} alert changes"
    )


def sql(
    query: Annotated[str, typer.Argument(help="A ClickHouse SQL query; a FORMAT clause in it wins over --format.")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
) -> None:
    """Run a query against the configured warehouse and print the result."""
    from streams.tools.sql_query import format_clause, formatted_result, result_table

    with warehouse_client() as client:
        if output is OutputFormat.table and not format_clause(query):
            console.print(result_table(client, query))
        else:
            fmt = "CSVWithNames" if output is OutputFormat.csv else "JSONEachRow"
            sys.stdout.write(formatted_result(client, query, fmt))


def export_schema(
    out: Annotated[Path, typer.Option(help="Folder for the JSON Schema files.")] = Path("schemas/json"),
) -> None:
    """Write the JSON Schemas that producers validate against."""
    from schemas.json_schema import write_json_schemas

    for path in write_json_schemas(out):
        console.print(f"wrote {path}")


dead_letters = typer.Typer(no_args_is_help=True, help="Dead letters: replay them after a fix.")


@dead_letters.command("replay")
def replay_dead_letters(
    stage: Annotated[str | None, typer.Option(help="Only dead letters from this stage (decode, admit).")] = None,
    reason_contains: Annotated[str | None, typer.Option(help="Only reasons containing this text.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Count what would be replayed; send nothing.")] = False,
) -> None:
    """Send dead letters back to the usage topic they came from, opened and with their original key.

    Replay after deploying the fix that makes them valid; replaying the same dead letters twice
    sends them twice.
    """
    from streams.pipeline.dead_letters.replay import ReplayFilter, plan_replay
    from streams.pipeline.dead_letters.seal import Sealer
    from streams.runtime.keys import load_pseudonym_key

    config = settings()
    records = [
        record
        for topic in config.kafka.usage_topics
        for record in on_kafka(config, kafka.read_to_end(config.kafka, topic + config.kafka.dead_letter_suffix))
    ]
    sealer = Sealer(load_pseudonym_key(config.privacy))
    plan = plan_replay(records, ReplayFilter(stage, reason_contains), sealer)
    console.print(f"{len(plan):,} of {len(records):,} dead letters selected for replay")
    if dry_run or not plan:
        return
    for topic in sorted({r.topic for r in plan}):
        chosen = [r for r in plan if r.topic == topic]
        messages = [(r.key, r.value) for r in chosen]
        on_kafka(config, kafka.produce(config.kafka, topic, messages, [r.headers for r in chosen]))
        console.print(f"replayed {len(chosen):,} to {topic}")
