-- Leases per job (issue 20, syncd/ledger/leases.py): who runs a channel's loops, the alert
-- mails, the scheduled reconciliation; the epoch rises at every takeover, and fenced writes
-- check it in their transaction.
CREATE TABLE leases (
    job        text PRIMARY KEY,
    holder     text NOT NULL,
    epoch      bigint NOT NULL,
    since_us   bigint NOT NULL,
    expires_us bigint NOT NULL
);

-- The database's clock, shared by daemons on several machines.
CREATE OR REPLACE FUNCTION syncd_now_us() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
$$;

-- Applies a plan made from an unlocked snapshot, in the statement's own transaction (one round
-- trip, committed with it): the rows are locked and read again, and the plan is written only if
-- they are still what the planner saw (the md5 of that snapshot's text); else SQLSTATE SY001,
-- nothing is written, and the caller plans again. A plan made for fenced jobs (issue 20) is
-- written only while each lease still has its holder and epoch; else SQLSTATE SY002.
CREATE OR REPLACE FUNCTION syncd_apply_plan(
    p_channels text[], p_ids text[], p_identifiers text[], p_strict boolean, p_now bigint,
    p_seen text, p_plan jsonb
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_fence record;
BEGIN
    FOR v_fence IN
        SELECT * FROM jsonb_to_recordset(COALESCE(p_plan -> 'fences', '[]'))
            AS f(job text, holder text, epoch bigint)
    LOOP
        PERFORM 1 FROM leases l
        WHERE l.job = v_fence.job AND l.holder = v_fence.holder AND l.epoch = v_fence.epoch
        FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'job %: the lease of % (epoch %) was taken by another daemon',
                v_fence.job, v_fence.holder, v_fence.epoch USING ERRCODE = 'SY002';
        END IF;
    END LOOP;
    IF md5(syncd_snapshot(p_channels, p_ids, p_identifiers, p_strict, true, p_now)) <> p_seen THEN
        RAISE EXCEPTION 'the rows of this batch changed since they were read'
            USING ERRCODE = 'SY001';
    END IF;
    PERFORM syncd_write_plan(p_plan, p_now);
END $$;
