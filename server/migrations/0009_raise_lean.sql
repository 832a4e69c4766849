-- The raise batch of 0007, leaner. Profiled under a load of raises at 64
-- connections (BENCHMARKS.md), PostgreSQL spent its time less on writing
-- the rows than around them: parsing and planning a SQL function anew for
-- every audit entry, re-reading the cases it had just written, and a
-- statement per entry for the audit chain. The results are the same rows
-- with the same values; only the work to get there is less.

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

-- The last part of a batch's transaction: stores the replies of its keyed
-- requests (none for a batch without keys), then writes the events and
-- audit entries of the cases raised, in id order. Last because it takes
-- the audit head's lock, which every writer holds until it commits. The
-- cases are read once, by their ids.
DROP FUNCTION case_raise_log(bigint[]);
CREATE FUNCTION case_raise_log(p_ids bigint[], p_principals text[], p_keys text[],
                               p_results bytea[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF cardinality(p_keys) > 0 THEN
        UPDATE idempotency o SET result = u.r
          FROM unnest(p_principals, p_keys, p_results) AS u(p, k, r)
         WHERE o.principal = u.p AND o.key = u.k;
    END IF;
    SELECT array_agg(c.id ORDER BY c.id) AS ids,
           array_agg(c.reporter ORDER BY c.id) AS actors,
           array_agg(c.node_id ORDER BY c.id) AS nodes,
           array_agg(g.code ORDER BY c.id) AS codes,
           array_agg(c.title ORDER BY c.id) AS titles,
           array_agg(c.received_at ORDER BY c.id) AS ats
      INTO r
      FROM unnest(p_ids) AS u(id)
      JOIN LATERAL (SELECT * FROM grid_case c WHERE c.id = u.id) c ON true
      JOIN LATERAL (SELECT g.code FROM grid_node g WHERE g.id = c.node_id) g ON true;
    IF r.ids IS NULL THEN
        RETURN;
    END IF;
    PERFORM event_lock();
    INSERT INTO grid_event (seq, at, kind, node_id, from_node_id, case_id, task_id, actor,
                            summary)
    SELECT nextval('grid_event_seq'), u.at, 'case.raised', u.node_id, NULL, u.id, NULL,
           u.actor, u.title
      FROM unnest(r.ids, r.ats, r.nodes, r.actors, r.titles)
           WITH ORDINALITY AS u(id, at, node_id, actor, title, k)
     ORDER BY u.k;
    PERFORM audit_append_many(r.actors,
                              array_fill('RaiseCase'::text, ARRAY[cardinality(r.ids)]),
                              r.nodes, r.codes,
                              ARRAY(SELECT 'raised: ' || x FROM unnest(r.titles) AS x));
END
$$;

-- As 0007's, but the cases come back from the INSERT itself instead of
-- being read again, and the log is the function above.
CREATE OR REPLACE FUNCTION case_raise_batch(p_node_ids bigint[], p_titles text[],
                                            p_descriptions text[], p_categories text[],
                                            p_contacts text[], p_households text[],
                                            p_service_items text[], p_urgencies int[],
                                            p_channels text[], p_actors text[],
                                            p_keys text[], p_hashes bytea[],
                                            p_now_ms bigint, p_log boolean)
RETURNS TABLE (idx int, verdict text, stored bytea, c grid_case)
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    n int := coalesce(cardinality(p_node_ids), 0);
    nkeyed int := n - cardinality(array_positions(p_keys, NULL));
    claimed int[] := '{}';
    fresh int[];
    ids bigint[];
    written bigint;
    seq regclass := pg_get_serial_sequence('grid_case', 'id');
BEGIN
    -- Claim the keys. A key another transaction is claiming right now is
    -- waited for (ON CONFLICT does), then found below with its reply.
    IF nkeyed > 0 THEN
        WITH req AS (
            SELECT * FROM unnest(p_actors, p_keys, p_hashes) WITH ORDINALITY AS u(actor, key, hash, i)
             WHERE u.key IS NOT NULL
        ), ins AS (
            INSERT INTO idempotency (principal, key, method, request_hash)
            SELECT req.actor, req.key, 'RaiseCase', req.hash FROM req ORDER BY req.i
            ON CONFLICT DO NOTHING
            RETURNING principal, key)
        SELECT coalesce(array_agg(req.i::int), '{}') INTO claimed
          FROM req JOIN ins ON ins.principal = req.actor AND ins.key = req.key;
        SELECT coalesce(array_agg(u.i::int ORDER BY u.i), '{}') INTO fresh
          FROM unnest(p_keys) WITH ORDINALITY AS u(key, i)
         WHERE u.key IS NULL OR u.i = ANY (claimed);
    ELSE
        fresh := ARRAY(SELECT generate_series(1, n));
    END IF;

    IF cardinality(claimed) < nkeyed THEN
        RETURN QUERY
        SELECT u.i::int,
               CASE WHEN o.method <> 'RaiseCase' OR o.request_hash <> u.hash THEN 'conflict'
                    WHEN o.result IS NULL THEN 'lost'
                    ELSE 'replay' END,
               o.result, NULL::grid_case
          FROM unnest(p_actors, p_keys, p_hashes) WITH ORDINALITY AS u(actor, key, hash, i)
          JOIN idempotency o ON o.principal = u.actor AND o.key = u.key
         WHERE u.key IS NOT NULL AND NOT u.i = ANY (claimed);
    END IF;
    IF cardinality(fresh) = 0 THEN
        RETURN;
    END IF;

    -- Ids drawn in request order, so that the k-th fresh request gets the
    -- k-th id whatever order the INSERT below runs in.
    ids := ARRAY(SELECT nextval(seq) FROM generate_series(1, cardinality(fresh)) ORDER BY 1);

    RETURN QUERY
    WITH req AS (
        SELECT *
          FROM unnest(p_node_ids, p_titles, p_descriptions, p_categories, p_contacts,
                      p_households, p_service_items, p_urgencies, p_channels, p_actors)
               WITH ORDINALITY AS u(node_id, title, description, category, contact, household,
                                    service_item, urgency, channel, actor, i)
    ), src AS (
        SELECT f.id, f.i, r.node_id, r.title, r.description, r.category, r.contact,
               r.household, r.service_item, r.urgency, r.channel, r.actor, g.level
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
    SELECT f.i, 'new'::text, NULL::bytea, ins.grid_case
      FROM ins JOIN unnest(fresh, ids) AS f(i, id) ON f.id = (ins.grid_case).id;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written <> cardinality(fresh) THEN
        RAISE EXCEPTION 'a node of the batch does not exist' USING ERRCODE = 'GR404';
    END IF;

    IF p_log THEN
        PERFORM case_raise_log(ids, '{}', '{}', '{}');
    END IF;
END
$$;

-- Stored by case_raise_log now.
DROP FUNCTION idempotency_store_many(text[], text[], bytea[]);
