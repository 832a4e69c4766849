-- The raise batch of 0007, leaner. Profiled under a load of raises at 64
-- connections (BENCHMARKS.md), PostgreSQL spent its time less on writing
-- the rows than around them: parsing and planning a SQL function anew for
-- every audit entry, re-reading the cases it had just written, a statement
-- per entry for the audit chain, plans made anew on every call. And a
-- batch with idempotency keys went to PostgreSQL twice: once to claim the
-- keys and write the cases, once more, after gridd had made the replies,
-- to store them with the keys before COMMIT. Now the key keeps the case as
-- it was raised (idempotency.raised), a replay makes the reply from it
-- again, and a batch is one statement, in one round trip with its COMMIT.
-- The cases, events and audit entries are the same rows as before.

-- audit_canonical's body is STABLE (format and extract on a timestamptz
-- are), so declared IMMUTABLE it could never be inlined: each call was
-- parsed and planned on its own, once per audit entry of every writer.
ALTER FUNCTION audit_canonical(bigint, timestamptz, text, text, bigint, text, text) STABLE;

-- Appends several audit entries in order, as audit_append would one by one:
-- the chain is computed in a loop, then written by one INSERT.
CREATE OR REPLACE FUNCTION audit_append_many(p_actors text[], p_methods text[],
                                             p_node_ids bigint[], p_node_codes text[],
                                             p_summaries text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    h audit_head;
    t timestamptz := now();
    n int := coalesce(cardinality(p_actors), 0);
    hashes bytea[] := '{}';
    x bytea;
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    SELECT * INTO h FROM audit_head FOR UPDATE;
    x := h.hash;
    FOR k IN 1 .. n LOOP
        x := sha256(x || audit_canonical(h.seq + k, t, p_actors[k], p_methods[k],
                                         p_node_ids[k], p_node_codes[k], p_summaries[k]));
        hashes[k] := x;
    END LOOP;
    INSERT INTO audit_log (seq, at, actor, method, node_id, node_code, summary, prev_hash,
                           hash)
    SELECT h.seq + u.k, t, u.actor, u.method, u.node_id, u.code, u.summary,
           coalesce(lag(u.hash) OVER (ORDER BY u.k), h.hash), u.hash
      FROM unnest(p_actors, p_methods, p_node_ids, p_node_codes, p_summaries, hashes)
           WITH ORDINALITY AS u(actor, method, node_id, code, summary, hash, k)
     ORDER BY u.k;
    UPDATE audit_head SET seq = h.seq + n, hash = x;
END
$$;

-- The case as raised, as JSON without its NULLs: jsonb_populate_record
-- makes the row again, with NULL for a column missing (one that was NULL,
-- or added to grid_case since). Set only for RaiseCase keys claimed by a
-- batch; result holds the reply for every other write.
ALTER TABLE idempotency ADD COLUMN raised jsonb;

-- The events and audit entries of cases just raised (in id order), from
-- the rows as written. Last in its transaction: it takes the audit head's
-- lock, which every writer holds until it commits.
DROP FUNCTION case_raise_log(bigint[]);
CREATE FUNCTION case_raise_log(p_cases grid_case[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(cardinality(p_cases), 0);
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    PERFORM event_lock();
    INSERT INTO grid_event (seq, at, kind, node_id, from_node_id, case_id, task_id, actor,
                            summary)
    SELECT nextval('grid_event_seq'), c.received_at, 'case.raised', c.node_id, NULL, c.id,
           NULL, c.reporter, c.title
      FROM unnest(p_cases) WITH ORDINALITY AS c
     ORDER BY c.ordinality;
    PERFORM audit_append_many(
        ARRAY(SELECT c.reporter FROM unnest(p_cases) WITH ORDINALITY AS c ORDER BY c.ordinality),
        array_fill('RaiseCase'::text, ARRAY[n]),
        ARRAY(SELECT c.node_id FROM unnest(p_cases) WITH ORDINALITY AS c ORDER BY c.ordinality),
        ARRAY(SELECT (SELECT g.code FROM grid_node g WHERE g.id = c.node_id)
                FROM unnest(p_cases) WITH ORDINALITY AS c ORDER BY c.ordinality),
        ARRAY(SELECT 'raised: ' || c.title
                FROM unnest(p_cases) WITH ORDINALITY AS c ORDER BY c.ordinality));
END
$$;

-- Raises the cases of one batch, with their events, audit entries and
-- keys. The arrays are parallel, one element per request; p_keys[i] is
-- NULL for a request without an idempotency key. Returns one row per
-- request: its index, a verdict, and a stored reply or a case:
--   new       raised now: c is the case as saved
--   replay    the key was used before for the same request: stored is the
--             reply given then or, for a key a batch claimed, c is the
--             case as it was raised then
--   conflict  the key was used before for a different request
--   lost      the key's first request left no reply (cannot happen: the
--             reply is kept before the first request commits)
-- A key claimed by a transaction still in progress is waited for by the
-- INSERT below, which then fails (unique_violation) if that one commits:
-- gridd writes the batch's requests again one at a time, and the retried
-- one finds its twin here as a replay.
DROP FUNCTION case_raise_batch(bigint[], text[], text[], text[], text[], text[], text[], int[],
                               text[], text[], text[], bytea[], bigint, boolean);
CREATE FUNCTION case_raise_batch(p_node_ids bigint[], p_titles text[], p_descriptions text[],
                                 p_categories text[], p_contacts text[], p_households text[],
                                 p_service_items text[], p_urgencies int[], p_channels text[],
                                 p_actors text[], p_keys text[], p_hashes bytea[],
                                 p_now_ms bigint)
RETURNS TABLE (idx int, verdict text, stored bytea, c grid_case)
LANGUAGE plpgsql
-- Its statements (and those of the functions it calls) are planned once
-- per session: given the arrays, PostgreSQL found the plans made for each
-- call's values cheaper and kept making them, at a fifth of a small
-- batch's time, for the same plans.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    n int := coalesce(cardinality(p_node_ids), 0);
    nkeyed int := n - cardinality(array_positions(p_keys, NULL));
    seen int[] := '{}';
    fresh int[];
    ids bigint[];
    cases grid_case[];
    written int;
    seq regclass := pg_get_serial_sequence('grid_case', 'id');
BEGIN
    -- Keys seen before: answered from what was kept, and not raised again.
    IF nkeyed > 0 THEN
        SELECT coalesce(array_agg(u.i::int), '{}') INTO seen
          FROM unnest(p_actors, p_keys) WITH ORDINALITY AS u(actor, key, i)
          JOIN idempotency o ON o.principal = u.actor AND o.key = u.key;
    END IF;
    IF cardinality(seen) > 0 THEN
        RETURN QUERY
        SELECT u.i::int,
               CASE WHEN o.method <> 'RaiseCase' OR o.request_hash <> u.hash THEN 'conflict'
                    WHEN o.result IS NULL AND o.raised IS NULL THEN 'lost'
                    ELSE 'replay' END,
               o.result,
               CASE WHEN o.method = 'RaiseCase' AND o.request_hash = u.hash
                         AND o.result IS NULL AND o.raised IS NOT NULL
                    THEN jsonb_populate_record(NULL::grid_case, o.raised) END
          FROM unnest(p_actors, p_keys, p_hashes) WITH ORDINALITY AS u(actor, key, hash, i)
          JOIN idempotency o ON o.principal = u.actor AND o.key = u.key
         WHERE u.i = ANY (seen);
        fresh := ARRAY(SELECT i FROM generate_series(1, n) AS i WHERE NOT i = ANY (seen));
    ELSE
        fresh := ARRAY(SELECT generate_series(1, n));
    END IF;
    IF cardinality(fresh) = 0 THEN
        RETURN;
    END IF;

    -- Ids drawn in request order, so that the k-th fresh request gets the
    -- k-th id whatever order the INSERT below runs in.
    ids := ARRAY(SELECT nextval(seq) FROM generate_series(1, cardinality(fresh)) ORDER BY 1);

    WITH req AS (
        SELECT *
          FROM unnest(p_node_ids, p_titles, p_descriptions, p_categories, p_contacts,
                      p_households, p_service_items, p_urgencies, p_channels, p_actors)
               WITH ORDINALITY AS u(node_id, title, description, category, contact, household,
                                    service_item, urgency, channel, actor, i)
    ), src AS (
        SELECT f.id, r.node_id, r.title, r.description, r.category, r.contact, r.household,
               r.service_item, r.urgency, r.channel, r.actor, g.level
          FROM unnest(fresh, ids) AS f(i, id)
          JOIN req r ON r.i = f.i
          JOIN LATERAL (SELECT g.level FROM grid_node g WHERE g.id = r.node_id) g ON true
    ), dl AS (
        SELECT k.level, k.category, d.*
          FROM (SELECT DISTINCT src.level, src.category FROM src) AS k,
               LATERAL case_deadlines(k.level, k.category, t) AS d
    ), ins AS (
        INSERT INTO grid_case (id, node_id, origin_node_id, state, title, description, category,
                               contact, household, service_item, urgency, channel, reporter,
                               received_at, level_since, accept_due, accept_warn50,
                               accept_warn80, resolve_due, resolve_warn50, resolve_warn80,
                               warned, next_check)
        OVERRIDING SYSTEM VALUE
        SELECT s.id, s.node_id, s.node_id, 1, s.title, s.description, s.category, s.contact,
               s.household, s.service_item, s.urgency, s.channel, s.actor, t, t, d.accept_due,
               d.accept_warn50, d.accept_warn80, d.resolve_due, d.resolve_warn50,
               d.resolve_warn80, 0,
               case_next_check_of(1::smallint, 0::smallint, d.accept_warn50, d.accept_warn80,
                                  d.accept_due, d.resolve_warn50, d.resolve_warn80,
                                  d.resolve_due)
          FROM src s JOIN dl d ON d.level = s.level AND d.category = s.category
         ORDER BY s.id
        RETURNING grid_case)
    SELECT array_agg(ins.grid_case ORDER BY (ins.grid_case).id) INTO cases FROM ins;
    written := coalesce(cardinality(cases), 0);
    IF written <> cardinality(fresh) THEN
        RAISE EXCEPTION 'a node of the batch does not exist' USING ERRCODE = 'GR404';
    END IF;

    -- The keys, each with its case as raised; before the audit lock below,
    -- since this may wait for a twin's transaction.
    IF nkeyed > cardinality(seen) THEN
        INSERT INTO idempotency (principal, key, method, request_hash, raised)
        SELECT p_actors[f.i], p_keys[f.i], 'RaiseCase', p_hashes[f.i],
               jsonb_strip_nulls(to_jsonb(cases[f.k]))
          FROM unnest(fresh) WITH ORDINALITY AS f(i, k)
         WHERE p_keys[f.i] IS NOT NULL
         ORDER BY f.k;
    END IF;

    PERFORM case_raise_log(cases);

    RETURN QUERY
    SELECT f.i, 'new'::text, NULL::bytea, cases[f.k]
      FROM unnest(fresh) WITH ORDINALITY AS f(i, k);
END
$$;

-- The replies of keyed raises are kept by case_raise_batch now.
DROP FUNCTION idempotency_store_many(text[], text[], bytea[]);
