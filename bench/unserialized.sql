-- bench/unserialized.sql: for bench/run's bounds part only, on a scratch
-- database it makes for the purpose. Never on a district's database.
--
-- Every write transaction of gridd serializes its commit twice, from its
-- first event to the end of its WAL flush: on the audit chain's head row
-- (event_lock, audit_append_many), so that event seqs rise in commit order
-- and the chain never forks; and on NOTIFY's queue lock, taken at commit.
-- This takes both away and keeps the work: the events are written as
-- before but without the lock and the NOTIFY, and the audit entries are
-- hashed as before but from a sequence of their own, without the head, so
-- the chain is not kept. The raise rate gridd reaches on it bounds what any
-- design that stops serializing commits (one that chains the audit entries
-- and orders the events after the commit) could give: such a design still
-- has that work to do later.

-- Far above the seqs the head gave out before this ran.
CREATE SEQUENCE unserialized_audit_seq START 1000000000000 INCREMENT 1000;

CREATE OR REPLACE FUNCTION event_lock() RETURNS void
LANGUAGE sql AS $$ SELECT $$;

CREATE OR REPLACE FUNCTION audit_append_many(p_actors text[], p_methods text[],
                                             p_node_ids bigint[], p_node_codes text[],
                                             p_summaries text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := now();
    n int := coalesce(cardinality(p_actors), 0);
    hashes bytea[] := '{}';
    x bytea := '\x00';
    s bigint;
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    IF n >= 1000 THEN
        RAISE EXCEPTION 'unserialized.sql: at most 999 entries a call';
    END IF;
    s := nextval('unserialized_audit_seq');
    FOR k IN 1 .. n LOOP
        x := sha256(x || audit_canonical(s + k, t, p_actors[k], p_methods[k],
                                         p_node_ids[k], p_node_codes[k], p_summaries[k]));
        hashes[k] := x;
    END LOOP;
    INSERT INTO audit_log (seq, at, actor, method, node_id, node_code, summary, prev_hash,
                           hash)
    SELECT s + u.k, t, u.actor, u.method, u.node_id, u.code, u.summary,
           coalesce(lag(u.hash) OVER (ORDER BY u.k), '\x00'), u.hash
      FROM unnest(p_actors, p_methods, p_node_ids, p_node_codes, p_summaries, hashes)
           WITH ORDINALITY AS u(actor, method, node_id, code, summary, hash, k)
     ORDER BY u.k;
END
$$;
