"""Seatmeter: which licensed software is used, by whom and how much.

Commands are grouped by what people do: run the pipeline, move data in and out, keep the catalog,
watch license pools and alerts, print reports, administer the warehouse.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer._click.core import Context

from streams.cli import catalog, data, pipeline, pools, reports
from streams.cli.data_import import importer
from streams.cli.errors import ErrorBoundary

PANELS = RUN, DATA, CATALOG, POOLS, REPORTS, ADMIN = (
    "Running the pipeline",
    "Data in and out",
    "Catalog",
    "License pools and alerts",
    "Reports",
    "Administration",
)


class SeatmeterCommands(ErrorBoundary):
    """The help lists the panels in the order of ``PANELS``, not commands before groups."""

    def list_commands(self, ctx: Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: PANELS.index(self.commands[name].rich_help_panel or ADMIN))  # type: ignore[attr-defined]


cli = typer.Typer(
    cls=SeatmeterCommands, no_args_is_help=True, add_completion=False, help=__doc__, rich_markup_mode="markdown"
)


@cli.callback()
def global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback when a command fails.")] = False,
) -> None:
    """A failure prints one or two lines; --debug adds the traceback and debug logging."""
    if debug:
        logging.getLogger().setLevel(logging.DEBUG)
        return
    # The HTTP client logs each failed attempt; the error boundary reports the failure once.
    for name in ("urllib3", "clickhouse_connect"):
        logging.getLogger(name).setLevel(logging.ERROR)


for name, command, panel in (
    ("worker", pipeline.worker, RUN),
    ("lag", pipeline.lag, RUN),
    ("simulate", pipeline.simulate, RUN),
    ("replay", data.replay, DATA),
    ("sql", data.sql, DATA),
    ("export-schema", data.export_schema, DATA),
    ("pools", pools.pools, POOLS),
    ("migrate", pipeline.migrate, ADMIN),
):
    cli.command(name, rich_help_panel=panel)(command)

for name, group, panel in (
    ("import", importer, DATA),
    ("dlq", data.dead_letters, DATA),
    ("catalog", catalog.catalog, CATALOG),
    ("alerts", pools.alerts, POOLS),
    ("reports", reports.reports, REPORTS),
):
    cli.add_typer(group, name=name, rich_help_panel=panel)

RENAMED: dict[str, tuple[str, Callable[..., None]]] = {
    "report": ("reports users-per-minute", reports.users_per_minute),
    "shadow-it": ("reports shadow-it", reports.shadow_it),
    "unlicensed": ("reports unlicensed", reports.unlicensed),
    "fingerprint": ("catalog fingerprint", catalog.fingerprint),
    "correct": ("catalog correct", catalog.correct),
    "withdraw-correction": ("catalog withdraw", catalog.withdraw),
    "evaluate-alerts": ("alerts evaluate", pools.evaluate_alerts),
}
"""Old names, kept working (hidden from the help) for one release after the grouping."""


def _keep_old_name(old: str, new: str, command: Callable[..., None]) -> None:
    @functools.wraps(command)
    def renamed(*args: Any, **kwargs: Any) -> None:
        typer.echo(f"note: `seatmeter {old}` is now `seatmeter {new}`; the old name goes in a later release", err=True)
        command(*args, **kwargs)

    cli.command(old, hidden=True, help=f"Old name of `seatmeter {new}`.")(renamed)


for old, (new, command) in RENAMED.items():
    _keep_old_name(old, new, command)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cli()
