-- Distinct people per pool whose sessions counted as use in the window, for the named-user and
-- subscription-seat overrun rule.
-- Parameters: {since:DateTime64(3)} (start of the window).
SELECT pp.pool_id, uniqExact(s.user_key) AS named_users
FROM usage_sessions AS s
INNER JOIN pool_products AS pp ON pp.product = s.product
WHERE s.counts_as_use = 1 AND s.ended_at >= {since:DateTime64(3)}
GROUP BY pp.pool_id
