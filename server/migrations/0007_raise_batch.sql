-- Group commit for raising cases. gridd coalesces the RaiseCase requests
-- that arrive while a batch is being written into the next batch, and
-- writes each batch with case_raise_batch in one transaction: one row lock
-- on the audit head, one WAL flush at commit, however many cases. Every
-- request is still answered only after its batch has committed.
--
-- Per case the result is the same as case_raise's (migration 0005): the
-- case at its node with that level's deadlines, a case.raised event, an
-- audit entry; and for a request with an idempotency key, its key claimed
-- in the same transaction as idempotency_begin (migration 0003) would,
-- except that a key seen before is reported per request instead of raised
-- as an error, so that one repeated key does not fail the others.

-- Nodes are never deleted (they are retired: retired_at), so a node id
-- once written stays valid. The tables every write appends to therefore do
-- not check their node ids with foreign keys: each check is a lookup plus
-- a FOR KEY SHARE lock on the node's row, taken by every concurrent writer
-- on the same few rows, and it cost a third of a raise. The writers take
-- their node ids from grid_node (the raise batch joins it), and this
-- trigger keeps the rows there for good.
CREATE FUNCTION grid_node_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'grid nodes are never deleted; retire them instead'
        USING ERRCODE = 'GR412';
END
$$;
CREATE TRIGGER grid_node_no_delete BEFORE DELETE ON grid_node
    FOR EACH ROW EXECUTE FUNCTION grid_node_keep();
CREATE TRIGGER grid_node_no_truncate BEFORE TRUNCATE ON grid_node
    FOR EACH STATEMENT EXECUTE FUNCTION grid_node_keep();
ALTER TABLE grid_case DROP CONSTRAINT grid_case_node_id_fkey,
                      DROP CONSTRAINT grid_case_origin_node_id_fkey;
ALTER TABLE grid_event DROP CONSTRAINT grid_event_node_id_fkey,
                       DROP CONSTRAINT grid_event_from_node_id_fkey;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_node_id_fkey;

-- The earliest warning or deadline still ahead of a case with these
-- values: case_next_check's rule on loose columns, so that a statement can
-- apply it to values it has not written yet.
CREATE FUNCTION case_next_check_of(p_state smallint, p_warned smallint,
                                   p_accept_warn50 timestamptz, p_accept_warn80 timestamptz,
                                   p_accept_due timestamptz, p_resolve_warn50 timestamptz,
                                   p_resolve_warn80 timestamptz, p_resolve_due timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_state IN (1, 2, 3, 4) THEN least(
        CASE WHEN p_state IN (1, 2) AND p_warned & 1 = 0 THEN p_accept_warn50 END,
        CASE WHEN p_state IN (1, 2) AND p_warned & 2 = 0 THEN p_accept_warn80 END,
        CASE WHEN p_state IN (1, 2) THEN p_accept_due END,
        CASE WHEN p_warned & 4 = 0 THEN p_resolve_warn50 END,
        CASE WHEN p_warned & 8 = 0 THEN p_resolve_warn80 END,
        p_resolve_due) END
$$;

-- One rule, two signatures.
CREATE OR REPLACE FUNCTION case_next_check(c grid_case) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT case_next_check_of(c.state, c.warned, c.accept_warn50, c.accept_warn80,
                              c.accept_due, c.resolve_warn50, c.resolve_warn80, c.resolve_due)
$$;

-- Appends several audit entries in order, as audit_append would one by one.
CREATE FUNCTION audit_append_many(p_actors text[], p_methods text[], p_node_ids bigint[],
                                  p_node_codes text[], p_summaries text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    h audit_head;
    t timestamptz := now();
    n int := coalesce(cardinality(p_actors), 0);
    x bytea;
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    SELECT * INTO h FROM audit_head FOR UPDATE;
    x := h.hash;
    -- Row by row, as audit_append, but the head is read and written once.
    FOR k IN 1 .. n LOOP
        INSERT INTO audit_log (seq, at, actor, method, node_id, node_code, summary, prev_hash,
                               hash)
        VALUES (h.seq + k, t, p_actors[k], p_methods[k], p_node_ids[k], p_node_codes[k],
                p_summaries[k], x,
                sha256(x || audit_canonical(h.seq + k, t, p_actors[k], p_methods[k],
                                            p_node_ids[k], p_node_codes[k], p_summaries[k])))
        RETURNING hash INTO x;
    END LOOP;
    UPDATE audit_head SET seq = h.seq + n, hash = x;
END
$$;

-- The events and audit entries of cases just raised, in id order. Last in
-- its transaction: it takes the audit head's lock, which every writer
-- holds until it commits, so the less happens after it the better.
CREATE FUNCTION case_raise_log(p_ids bigint[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    rows record;
BEGIN
    SELECT array_agg(c.id ORDER BY c.id) AS ids,
           array_agg(c.reporter ORDER BY c.id) AS actors,
           array_agg(c.node_id ORDER BY c.id) AS nodes,
           array_agg(g.code ORDER BY c.id) AS codes,
           array_agg('raised: ' || c.title ORDER BY c.id) AS summaries
      INTO rows
      FROM grid_case c JOIN grid_node g ON g.id = c.node_id
     WHERE c.id = ANY (p_ids);
    IF rows.ids IS NULL THEN
        RETURN;
    END IF;
    PERFORM event_lock();
    INSERT INTO grid_event (seq, at, kind, node_id, from_node_id, case_id, task_id, actor,
                            summary)
    SELECT nextval('grid_event_seq'), c.received_at, 'case.raised', c.node_id, NULL, c.id,
           NULL, c.reporter, c.title
      FROM grid_case c
     WHERE c.id = ANY (p_ids)
     ORDER BY c.id;
    PERFORM audit_append_many(rows.actors,
                              array_fill('RaiseCase'::text, ARRAY[cardinality(rows.ids)]),
                              rows.nodes, rows.codes, rows.summaries);
END
$$;

-- Raises the cases of one batch. The arrays are parallel, one element per
-- request; p_keys[i] is NULL for a request without an idempotency key.
-- With p_log, also their events and audit entries (case_raise_log); without,
-- the caller runs case_raise_log last, once it has stored the replies.
-- Returns one row per request: its index, a verdict and, for 'new', the
-- case as it was saved:
--   new       raised now
--   replay    the key was used before for the same request: stored holds
--             the reply given then
--   conflict  the key was used before for a different request
--   lost      the key's first request left no reply (cannot happen: the
--             reply is stored before the first request commits)
CREATE FUNCTION case_raise_batch(p_node_ids bigint[], p_titles text[], p_descriptions text[],
                                 p_categories text[], p_contacts text[], p_households text[],
                                 p_service_items text[], p_urgencies int[], p_channels text[],
                                 p_actors text[], p_keys text[], p_hashes bytea[],
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
    -- The arrays are read through unnest, never by subscript (which walks
    -- an array of text from its start every time).

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
    END IF;

    SELECT coalesce(array_agg(u.i::int ORDER BY u.i), '{}') INTO fresh
      FROM unnest(p_keys) WITH ORDINALITY AS u(key, i)
      LEFT JOIN unnest(claimed) AS cl(ci) ON cl.ci = u.i
     WHERE u.key IS NULL OR cl.ci IS NOT NULL;

    IF cardinality(claimed) < nkeyed THEN
        RETURN QUERY
        SELECT u.i::int,
               CASE WHEN o.method <> 'RaiseCase' OR o.request_hash <> u.hash THEN 'conflict'
                    WHEN o.result IS NULL THEN 'lost'
                    ELSE 'replay' END,
               o.result, NULL::grid_case
          FROM unnest(p_actors, p_keys, p_hashes) WITH ORDINALITY AS u(actor, key, hash, i)
          JOIN idempotency o ON o.principal = u.actor AND o.key = u.key
          LEFT JOIN unnest(claimed) AS cl(ci) ON cl.ci = u.i
         WHERE u.key IS NOT NULL AND cl.ci IS NULL;
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
        SELECT f.id, r.*, g.level
          FROM unnest(fresh, ids) AS f(i, id)
          JOIN req r ON r.i = f.i
          JOIN grid_node g ON g.id = r.node_id
    ), dl AS (
        SELECT k.level, k.category, d.*
          FROM (SELECT DISTINCT src.level, src.category FROM src) AS k,
               LATERAL case_deadlines(k.level, k.category, t) AS d
    )
    INSERT INTO grid_case (id, node_id, origin_node_id, state, title, description, category,
                           contact, household, service_item, urgency, channel, reporter,
                           received_at, level_since, accept_due, accept_warn50, accept_warn80,
                           resolve_due, resolve_warn50, resolve_warn80, warned, next_check)
    OVERRIDING SYSTEM VALUE
    SELECT s.id, s.node_id, s.node_id, 1, s.title, s.description, s.category, s.contact,
           s.household, s.service_item, s.urgency, s.channel, s.actor, t, t, d.accept_due,
           d.accept_warn50, d.accept_warn80, d.resolve_due, d.resolve_warn50, d.resolve_warn80,
           0,
           case_next_check_of(1::smallint, 0::smallint, d.accept_warn50, d.accept_warn80,
                              d.accept_due, d.resolve_warn50, d.resolve_warn80, d.resolve_due)
      FROM src s JOIN dl d ON d.level = s.level AND d.category = s.category
     ORDER BY s.id;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written <> cardinality(fresh) THEN
        RAISE EXCEPTION 'a node of the batch does not exist' USING ERRCODE = 'GR404';
    END IF;

    IF p_log THEN
        PERFORM case_raise_log(ids);
    END IF;

    RETURN QUERY
    SELECT f.i, 'new'::text, NULL::bytea, gc
      FROM unnest(fresh, ids) AS f(i, id)
      JOIN grid_case gc ON gc.id = f.id;
END
$$;

-- Stores the replies of a batch's keyed requests before it commits.
CREATE FUNCTION idempotency_store_many(p_principals text[], p_keys text[], p_results bytea[])
RETURNS void
LANGUAGE sql AS $$
    UPDATE idempotency o SET result = u.r
      FROM unnest(p_principals, p_keys, p_results) AS u(p, k, r)
     WHERE o.principal = u.p AND o.key = u.k
$$;
