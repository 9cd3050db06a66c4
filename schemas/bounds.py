"""What the warehouse can hold, as pydantic field types: a value admitted at the door fits every
column it is written to, so no insert fails on it later and no batch is stuck behind it.

ClickHouse refuses an integer outside its column's width, and ``DateTime`` (the TTL and the
minute rollups) holds 1970 to 2106. Event times are admitted from 1971 (an interval of up to a
week before the event must still start after 1970) to the end of 2099.
``tests/integration/test_column_bounds.py`` reads the migrated tables' column types and checks
every field that feeds a column against them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, Field

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
EARLIEST_EVENT_TIME = datetime(1971, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)

EventTime = Annotated[AwareDatetime, Field(ge=EARLIEST_EVENT_TIME, le=LATEST_EVENT_TIME)]
UInt32 = Annotated[int, Field(ge=0, le=UINT32_MAX)]
UInt64 = Annotated[int, Field(ge=0, le=UINT64_MAX)]
