-- Seats in use per pool and minute (running: open; active: used in that minute), for the
-- overrun rule and the seat gauges.
-- Parameters: {start:DateTime} (first minute), {until:DateTime} (first minute after the window).
SELECT pool_id, minute, running_in_use, active_in_use
FROM pool_usage_1m
WHERE minute >= {start:DateTime} AND minute < {until:DateTime}
