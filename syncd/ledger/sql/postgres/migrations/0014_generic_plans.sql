-- The apply functions' statements are index probes per key whatever the data (see schema.sql);
-- PostgreSQL still re-plans each one at every call when it judges a custom plan cheaper, and that
-- planning was most of their cost: syncd_snapshot took 0.76 ms a call, 0.30 ms with generic plans
-- (pgbench -f, one SKU, 3,000 calls; measured for issue 17). Generic plans, cached per session.
ALTER FUNCTION syncd_snapshot(text[], text[], text[], boolean, boolean, bigint)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION syncd_write_plan(jsonb, bigint) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION syncd_apply_plan(text[], text[], text[], boolean, bigint, text, jsonb)
    SET plan_cache_mode = force_generic_plan;
