-- The license pools the alert evaluator judges: each pool's latest version, with its seats.
SELECT pool_id, name, license_model, seats
FROM license_pools FINAL
