-- The case a keyed raise keeps for its replays (idempotency.raised, 0009)
-- was turned into jsonb by to_jsonb: 7.4% of PostgreSQL's CPU at the raise
-- peak (perf, BENCHMARKS.md), about 10 us a case. It is now a row of a
-- composite type of its own, stored as it is: 190 bytes where the jsonb
-- took about 600, and a quarter less WAL per raise. Only a replay, when a
-- client retries, turns it into grid_case, through jsonb as before.
--
-- case_raised holds grid_case's columns as of this migration and stays so:
-- a column added to grid_case later comes out NULL in the replay of a case
-- raised before it, as it did with the jsonb. (A column of grid_case's own
-- row type would instead stop ALTER TABLE grid_case from adding a column
-- with a default.)

CREATE TYPE case_raised AS (
    id bigint,
    node_id bigint,
    origin_node_id bigint,
    state smallint,
    title text,
    description text,
    category text,
    contact text,
    household text,
    service_item text,
    urgency smallint,
    channel text,
    reporter text,
    handler text,
    received_at timestamp with time zone,
    level_since timestamp with time zone,
    accept_due timestamp with time zone,
    accept_warn50 timestamp with time zone,
    accept_warn80 timestamp with time zone,
    resolve_due timestamp with time zone,
    resolve_warn50 timestamp with time zone,
    resolve_warn80 timestamp with time zone,
    warned smallint,
    next_check timestamp with time zone,
    overdue boolean,
    first_accepted_at timestamp with time zone,
    accepted_at timestamp with time zone,
    resolved_at timestamp with time zone,
    closed_at timestamp with time zone,
    result_note text,
    outcome smallint,
    void_reason smallint,
    duplicate_of bigint,
    escalations integer,
    timeout_escalations integer,
    reworks integer,
    suspend_requested boolean,
    suspend_reason text,
    suspended_from smallint,
    accept_left_ms bigint,
    resolve_left_ms bigint,
    callback_at timestamp with time zone,
    callback_solved boolean,
    satisfaction smallint
);

-- The keys kept so far (at most a day's: keys expire after 24 h) change
-- with the column.
ALTER TABLE idempotency
    ALTER COLUMN raised TYPE case_raised
    USING jsonb_populate_record(NULL::case_raised, raised);

-- As in 0009 but for the kept case: written as a case_raised row, read
-- back through jsonb.
CREATE OR REPLACE FUNCTION case_raise_batch(p_node_ids bigint[], p_titles text[],
                                            p_descriptions text[], p_categories text[],
                                            p_contacts text[], p_households text[],
                                            p_service_items text[], p_urgencies int[],
                                            p_channels text[], p_actors text[], p_keys text[],
                                            p_hashes bytea[], p_now_ms bigint)
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
                    WHEN o.result IS NULL AND (o.raised).id IS NULL THEN 'lost'
                    ELSE 'replay' END,
               o.result,
               CASE WHEN o.method = 'RaiseCase' AND o.request_hash = u.hash
                         AND o.result IS NULL AND (o.raised).id IS NOT NULL
                    THEN jsonb_populate_record(NULL::grid_case, to_jsonb(o.raised)) END
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
               ROW(r.id, r.node_id, r.origin_node_id, r.state, r.title, r.description, r.category,
                   r.contact, r.household, r.service_item, r.urgency, r.channel, r.reporter,
                   r.handler, r.received_at, r.level_since, r.accept_due, r.accept_warn50,
                   r.accept_warn80, r.resolve_due, r.resolve_warn50, r.resolve_warn80, r.warned,
                   r.next_check, r.overdue, r.first_accepted_at, r.accepted_at, r.resolved_at,
                   r.closed_at, r.result_note, r.outcome, r.void_reason, r.duplicate_of,
                   r.escalations, r.timeout_escalations, r.reworks, r.suspend_requested,
                   r.suspend_reason, r.suspended_from, r.accept_left_ms, r.resolve_left_ms,
                   r.callback_at, r.callback_solved, r.satisfaction)::case_raised
          FROM unnest(fresh) WITH ORDINALITY AS f(i, k)
          JOIN unnest(cases) WITH ORDINALITY AS r ON r.ordinality = f.k
         WHERE p_keys[f.i] IS NOT NULL
         ORDER BY f.k;
    END IF;

    PERFORM case_raise_log(cases);

    RETURN QUERY
    SELECT f.i, 'new'::text, NULL::bytea, cases[f.k]
      FROM unnest(fresh) WITH ORDINALITY AS f(i, k);
END
$$;
