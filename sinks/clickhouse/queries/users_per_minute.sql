-- Users per product and minute, each counted by the best measure its source has:
--   active     agents measure focused use (product_usage_1m_parts, minutes with active time);
--   running    osquery only sees the process running (sessions without measured activity);
--   signed in  SSO logs see sign-ins (unmeasured sessions with a sign-in).
-- A session covers the minutes from its start to its end, as pool_usage_1m counts them.
-- Parameters: {start:DateTime}, {end:DateTime} (inclusive minutes).
SELECT
    minute,
    product,
    uniqExact(user_key)                             AS users,
    arraySort(groupUniqArray(measure))              AS measures
FROM
(
    SELECT minute, product, arrayJoin(users) AS user_key, 'active' AS measure
    FROM product_usage_1m_parts
    WHERE minute BETWEEN {start:DateTime} AND {end:DateTime} AND active_ms > 0
    UNION ALL
    SELECT minute, product, user_key, measure
    FROM
    (
        SELECT
            product,
            user_key,
            if(signins > 0, 'signed in', 'running') AS measure,
            arrayJoin(arrayMap(
                i -> toStartOfMinute(started_at) + toIntervalMinute(i),
                range(toUInt32(dateDiff('minute', toStartOfMinute(started_at),
                    toStartOfMinute(greatest(started_at, ended_at - toIntervalMillisecond(1)))) + 1))
            )) AS minute
        FROM usage_sessions
        WHERE activity_measured = 0
          AND ended_at >= {start:DateTime} AND started_at < {end:DateTime} + INTERVAL 1 MINUTE
    )
    WHERE minute BETWEEN {start:DateTime} AND {end:DateTime}
)
GROUP BY minute, product
