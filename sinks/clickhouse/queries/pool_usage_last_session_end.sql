-- The end of the latest session: pool_usage_1m is recomputed up to just past it.
SELECT max(ended_at) AS last_session_end
FROM usage_session_versions
