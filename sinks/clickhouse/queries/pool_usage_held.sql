-- The minutes pool_usage_1m holds now in the window, so that minutes no longer in use get zeros.
-- Parameters: {start:DateTime} (first minute), {end:DateTime} (first minute after the window).
SELECT pool_id, minute, pool_name, license_model, seats
FROM pool_usage_1m
WHERE minute >= {start:DateTime} AND minute < {end:DateTime}
