"""The license-pool view for the terminal: seats, in use, today's peak and open alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client
from rich.table import Table

from sinks.clickhouse import queries
from streams.tools.reports import busiest_minute

MINUTE_WORDS = ("now", "latest", "busiest")


def check_minute(at: str) -> str:
    """Refuse what ``resolve_minute`` cannot read, before anything is queried."""
    if at not in MINUTE_WORDS:
        try:
            datetime.fromisoformat(at)
        except ValueError:
            raise ValueError(f"expected {', '.join(MINUTE_WORDS)} or an ISO time such as 2026-12-01T09:30") from None
    return at


def resolve_minute(client: Client, at: str) -> datetime:
    """``now`` (the last complete minute), ``latest`` (the newest minute with usage), ``busiest``
    (the minute with the most users, each source by its best measure) or an ISO time."""
    if at == "now":
        return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    if at in ("latest", "busiest"):
        latest = _latest(client) if at == "latest" else busiest_minute(client)
        if latest is None or latest.year < 2000:
            return resolve_minute(client, "now")
        return datetime(latest.year, latest.month, latest.day, latest.hour, latest.minute, tzinfo=UTC)
    moment = datetime.fromisoformat(at)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).replace(second=0, microsecond=0)


def _latest(client: Client) -> datetime | None:
    rows = client.query(queries.load("latest_usage_minute")).result_rows
    return rows[0][0] if rows else None


def license_pool_view(client: Client, at: datetime) -> Table | str:
    day_start = at.replace(hour=0, minute=0)
    params = {"at": at.replace(tzinfo=None), "day_start": day_start.replace(tzinfo=None)}
    result = client.query(queries.load("license_pools"), parameters=params)
    if not result.result_rows:
        return (
            "no license pools yet: publish entitlements with `seatmeter import entitlements FILE` "
            "(add --to-warehouse without a broker)"
        )
    table = Table(
        "pool",
        "model",
        "seats",
        "in use",
        "active",
        "peak today",
        "alerts open",
        title=f"License pools at {at:%Y-%m-%d %H:%M} UTC (in use: open; active: used in that minute)",
    )
    for row in result.named_results():
        over = row["in_use_now"] > row["seats"] or row["alerts_open"] > 0
        style = "bold red" if over else None
        table.add_row(
            str(row["pool"]),
            str(row["license_model"]),
            str(row["seats"]),
            str(row["in_use_now"]),
            str(row["active_now"]),
            str(row["peak_today"]),
            str(row["alerts_open"]),
            style=style,
        )
    return table


def unlicensed_use(client: Client, since: datetime) -> Table | str:
    result = client.query(queries.load("unlicensed_use"), parameters={"since": since})
    if not result.result_rows:
        return "no unlicensed use: every licensable product in use is covered by a license pool"
    title = (
        f"Unlicensed use since {since:%Y-%m-%d} (no license pool covers these). Users and devices: every "
        "session, whether active (agents), running (osquery) or signed in (SSO); active hours: agents only"
    )
    table = Table(*result.column_names, title=title)
    for row in result.result_rows:
        table.add_row(*(str(v) for v in row))
    return table


def alert_list(client: Client, include_resolved: bool, limit: int = 200) -> Table | str:
    """Alerts as they stand, whoever evaluated them (the leader worker or ``seatmeter alerts evaluate``)."""
    params = {"include_resolved": int(include_resolved), "limit": limit}
    result = client.query(queries.load("alerts"), parameters=params)
    if not result.result_rows:
        return "no alerts" if include_resolved else "no open alerts"
    table = Table(*result.column_names, title="Alerts" if include_resolved else "Open alerts")
    for row in result.result_rows:
        table.add_row(*(str(v) for v in row), style="bold red" if row[0] == "open" else None)
    return table
