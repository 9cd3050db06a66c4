"""License pools and their alerts."""

from __future__ import annotations

from typing import Annotated

import typer

from streams.cli.common import console, settings, warehouse_client
from streams.tools.pool_view import check_minute


def pools(
    at: Annotated[
        str,
        typer.Option(
            help="The minute to show: now, latest (newest with usage), busiest (most users) or an ISO time.",
            parser=check_minute,
        ),
    ] = "now",
) -> None:
    """License pools: seats, seats in use, today's peak and open alerts."""
    from streams.tools.pool_view import license_pool_view, resolve_minute

    with warehouse_client() as client:
        console.print(license_pool_view(client, resolve_minute(client, at)))


IncludeResolved = Annotated[
    bool, typer.Option("--all", help="Also the resolved and withdrawn ones, not only the open ones.")
]
alerts = typer.Typer(
    invoke_without_command=True,
    help="Alerts: overruns, named-user overruns, unlicensed use and sync gaps. Without a command: `alerts list`.",
)


@alerts.callback()
def alerts_default(ctx: typer.Context, include_resolved: IncludeResolved = False) -> None:
    """`seatmeter alerts [--all]` lists them, as `alerts list` does."""
    if ctx.invoked_subcommand is None:
        list_alerts(include_resolved)


@alerts.command("list")
def list_alerts(include_resolved: IncludeResolved = False) -> None:
    """Alerts as they stand, open ones first."""
    from streams.tools.pool_view import alert_list

    with warehouse_client() as client:
        console.print(alert_list(client, include_resolved))


@alerts.command("evaluate")
def evaluate_alerts() -> None:
    """Evaluate the alert rules once, as the leader worker does every few seconds; record and
    publish what changed. For a stopped pipeline (an embedded warehouse a worker holds is locked)."""
    from streams.cli.alert_once import change_line, evaluate_once

    changes = evaluate_once(settings())
    console.print(f"alert evaluation: {len(changes)} alert(s) opened, resolved or updated")
    for alert in changes:
        console.print(f"  {change_line(alert)}", markup=False, highlight=False)
