-- The newest minute with product usage, for the license-pool view's `latest`.
SELECT max(minute) AS latest_minute
FROM product_usage_1m_parts
