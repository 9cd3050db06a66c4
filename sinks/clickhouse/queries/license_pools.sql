-- The license-pool view: every pool with its seats, seats in use at a minute (running: open;
-- active: used in that minute), the day's peak up to that minute and the alerts open for it.
-- Parameters: {at:DateTime} (the minute shown), {day_start:DateTime} (start of its UTC day).
SELECT
    p.pool_id                              AS pool_id,
    p.name                                 AS pool,
    p.license_model                        AS license_model,
    p.seats                                AS seats,
    ifNull(now_.running_in_use, 0)         AS in_use_now,
    ifNull(now_.active_in_use, 0)          AS active_now,
    ifNull(day_.peak, 0)                   AS peak_today,
    ifNull(open_.alerts, 0)                AS alerts_open
FROM (SELECT pool_id, name, license_model, seats FROM license_pools FINAL) AS p
LEFT JOIN
(
    SELECT pool_id, running_in_use, active_in_use
    FROM pool_usage_1m
    WHERE minute = {at:DateTime}
) AS now_ ON now_.pool_id = p.pool_id
LEFT JOIN
(
    SELECT pool_id, max(running_in_use) AS peak
    FROM pool_usage_1m
    WHERE minute BETWEEN {day_start:DateTime} AND {at:DateTime}
    GROUP BY pool_id
) AS day_ ON day_.pool_id = p.pool_id
LEFT JOIN
(
    SELECT subject AS pool_id, count() AS alerts
    FROM alerts FINAL
    WHERE state = 'open' AND subject_kind = 'pool'
    GROUP BY subject
) AS open_ ON open_.pool_id = p.pool_id
ORDER BY p.name
