-- When each input of pool_usage_1m was last written: sessions and usage rows say how far the
-- minutes are level; a change to the license pools or the catalog recomputes everything.
SELECT
    (SELECT max(written_at) FROM usage_session_versions) AS sessions_written_at,
    (SELECT max(inserted_at) FROM product_usage_1m_parts) AS usage_written_at,
    (SELECT max(updated_at) FROM license_pools) AS pools_updated_at,
    (SELECT max(recorded_at) FROM catalog_products) AS catalog_recorded_at
