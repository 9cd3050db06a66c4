"""Instants as the pipeline and the warehouse exchange them: aware UTC datetimes and epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    """Exact integer milliseconds since the epoch (no float rounding), truncating microseconds."""
    since = moment - EPOCH
    return (since.days * 86_400 + since.seconds) * 1000 + since.microseconds // 1000


def from_epoch_ms(ms: int) -> datetime:
    """The aware UTC instant ``ms`` milliseconds after the epoch."""
    return EPOCH + timedelta(milliseconds=ms)


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive time (the warehouse returns them) is UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
