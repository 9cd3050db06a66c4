-- When each source was last heard from, for sources silent since before the sync-gap window.
-- Parameters: {remembered:DateTime64(3)} (sources silent since before this are forgotten).
SELECT kind, subject, max(seen_at) AS last_arrival
FROM source_last_seen
WHERE seen_at >= {remembered:DateTime64(3)}
GROUP BY kind, subject
