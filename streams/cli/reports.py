"""Reports: who uses what, software nobody approved, licensable use no pool covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from streams.cli.common import console, settings, warehouse_client

reports = typer.Typer(no_args_is_help=True, help="Reports: users per minute, shadow IT, unlicensed use.")
Days = Annotated[int, typer.Option(min=1, max=400, help="How many days back to look.")]


@reports.command("users-per-minute")
def users_per_minute(
    minutes: Annotated[int, typer.Option(min=1, max=120, help="How many minutes to show.")] = 12,
    products: Annotated[int, typer.Option(min=1, max=20, help="How many products (most used first).")] = 8,
) -> None:
    """Users per product per minute around the busiest minute, each source by its best measure:
    active (agents), running (osquery) or signed in (SSO); every column names its measures."""
    from streams.tools.reports import users_per_minute as report

    with warehouse_client() as client:
        console.print(report(client, minutes, products))


@reports.command("shadow-it")
def shadow_it(days: Days = 30) -> None:
    """Unknown executables and unapproved software, with their user and device counts.

    Unapproved: a catalog product that no license pool covers and that is not on the approved
    list (SEATMETER_CATALOG__APPROVED_FILE); free and open-source products are left out.
    """
    from streams.runtime.catalog_source import merged_catalog, read_approvals
    from streams.tools.reports import ApprovalRules
    from streams.tools.reports import shadow_it as report

    config = settings().catalog
    rules = ApprovalRules(
        merged_catalog(config.overrides_file), read_approvals(config.approved_file), config.exempt_license_models
    )
    with warehouse_client() as client:
        console.print(report(client, datetime.now(UTC) - timedelta(days=days), rules))


@reports.command("unlicensed")
def unlicensed(days: Days = 30) -> None:
    """Licensable products in use that no license pool covers, with user and device counts."""
    from streams.tools.pool_view import unlicensed_use

    with warehouse_client() as client:
        console.print(unlicensed_use(client, datetime.now(UTC) - timedelta(days=days)))
