-- Seats in use per pool and minute, computed afresh from the sessions, in the column order of
-- pool_usage_1m_versions (less computed_at).
-- Parameters: {start:DateTime} (first minute), {end:DateTime} (first minute after the window).
SELECT
    pool_id,
    minute,
    pool_name,
    license_model,
    seats,
    running_in_use,
    active_in_use,
    idle_in_use,
    running_users,
    active_users,
    running_devices,
    active_devices
FROM pool_usage_1m_compute(from_minute = {start:DateTime}, to_minute = {end:DateTime})
