"""The keying rule's watch: copies of one event counted under two partitions (or a partition and
a replay) are found in the warehouse, counted in a metric and logged, never passed over in silence.

Sources keyed by device send every copy of an event to one partition, whose record of counted
ids drops the copies; a producer that breaks the rule makes the second copy count again. The
group's leader looks at the last day's rows now and then, off the hot path; the
``event_ids_counted_more_than_once`` view lists every such id with where it was counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sinks.clickhouse.warehouse import Warehouse
from sinks.clickhouse.writers import ProductUsageWriter
from streams.runtime import metrics

log = logging.getLogger(__name__)

WINDOW = timedelta(days=1)


class DuplicateCheck:
    def __init__(self, warehouse: Warehouse, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._warehouse = warehouse
        self._clock = clock

    async def run(self) -> int:
        """How many ids of the last day were counted more than once (0 when the check failed)."""
        try:
            found = await self._warehouse.run(ProductUsageWriter().counted_more_than_once, self._clock() - WINDOW)
        except Exception:
            log.exception("the check for event ids counted more than once failed; it runs again later")
            return 0
        metrics.EVENT_IDS_COUNTED_MORE_THAN_ONCE.set(found)
        if found:
            log.warning(
                "%d event ids of the last day were counted under more than one partition or replay; sources "
                "must key every copy of an event to one partition (see the event_ids_counted_more_than_once view)",
                found,
            )
        return found
