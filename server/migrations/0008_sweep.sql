-- The deadline sweep, set-based. case_sweep (migration 0005) walked its
-- batch one case at a time in plpgsql: for each case a lookup of the
-- parent, the deadlines of the new level, one UPDATE and one event_emit,
-- each a statement of its own: about 1 ms a case, so 100,000 overdue cases
-- took minutes and every batch held the event lock (the audit head, which
-- every writer takes) for half a second.
--
-- Now one batch is three statements: lock the batch (SKIP LOCKED, as
-- before), take the event lock once, then one statement that updates every
-- case of the batch and inserts all its events. Deadlines are computed
-- once per (level, category) of the batch instead of once per case: every
-- case escalated in a batch arrives at its new node at the same instant.
-- What each case becomes and which events it gets, in which order, is
-- exactly what the loop did (case by case in next_check order, a case's
-- events in the order the loop wrote them). The next-check rule it applies
-- to values not yet written, case_next_check_of, is in migration 0007.

-- Handles up to p_batch cases whose next check has come: a warning event
-- at 50% and 80% of a deadline, and when a deadline passes, the case moves
-- one level up by itself (at the top it is marked overdue). Skips cases
-- other sweepers hold, so several gridd processes may sweep at once; each
-- call is one transaction, so no lock outlives a batch. Returns how many.
CREATE OR REPLACE FUNCTION case_sweep(p_now_ms bigint, p_batch int)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    ids bigint[];
BEGIN
    -- The batch, in the order its events are written.
    SELECT array_agg(id ORDER BY next_check, id) INTO ids
      FROM (SELECT id, next_check FROM grid_case
             WHERE next_check <= t
             ORDER BY next_check
             LIMIT p_batch
               FOR UPDATE SKIP LOCKED) b;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    -- As event_emit would, before drawing seq numbers; once for the batch.
    PERFORM event_lock();

    WITH k AS MATERIALIZED (
        SELECT c.id, c.node_id, c.state, c.category, c.warned, c.accept_due, c.accept_warn50,
               c.accept_warn80, c.resolve_due, c.resolve_warn50, c.resolve_warn80,
               c.next_check, n.parent_id AS parent, p.level AS parent_level,
               CASE WHEN c.state IN (1, 2) AND c.accept_due <= t THEN 'accept'
                    WHEN c.resolve_due <= t THEN 'resolve' END AS missed
          FROM grid_case c
          JOIN grid_node n ON n.id = c.node_id
          LEFT JOIN grid_node p ON p.id = n.parent_id
         WHERE c.id = ANY (ids)
    ),
    -- What the loop decided for each case: move up (up), overdue at the
    -- top (top), or which warnings (each test on the bits as they were:
    -- no warning changes a bit another one tests).
    w AS MATERIALIZED (
        SELECT k.*,
               k.missed IS NOT NULL AND k.parent IS NOT NULL AS up,
               k.missed IS NOT NULL AND k.parent IS NULL AS top,
               coalesce(k.missed IS NULL AND k.state IN (1, 2) AND k.warned & 1 = 0
                        AND k.accept_warn50 <= t, false) AS a50,
               coalesce(k.missed IS NULL AND k.state IN (1, 2) AND k.warned & 2 = 0
                        AND k.accept_warn80 <= t, false) AS a80,
               coalesce(k.missed IS NULL AND k.warned & 4 = 0 AND k.resolve_warn50 <= t,
                        false) AS r50,
               coalesce(k.missed IS NULL AND k.warned & 8 = 0 AND k.resolve_warn80 <= t,
                        false) AS r80
          FROM k
    ),
    -- The deadlines at the new level (case_arrive's), once per kind of case.
    dl AS MATERIALIZED (
        SELECT x.parent_level, x.category, d.*
          FROM (SELECT DISTINCT parent_level, category FROM w WHERE up) x,
               LATERAL case_deadlines(x.parent_level, x.category, t) d
    ),
    nw AS (
        SELECT w.*, dl.accept_due AS n_accept_due, dl.accept_warn50 AS n_accept_warn50,
               dl.accept_warn80 AS n_accept_warn80, dl.resolve_due AS n_resolve_due,
               dl.resolve_warn50 AS n_resolve_warn50, dl.resolve_warn80 AS n_resolve_warn80,
               CASE WHEN w.top THEN 15
                    ELSE w.warned | CASE WHEN w.a50 THEN 1 ELSE 0 END
                                  | CASE WHEN w.a80 THEN 3 ELSE 0 END
                                  | CASE WHEN w.r50 THEN 4 ELSE 0 END
                                  | CASE WHEN w.r80 THEN 12 ELSE 0 END END::smallint AS n_warned
          FROM w
          LEFT JOIN dl ON w.up AND dl.parent_level = w.parent_level
                      AND dl.category = w.category
    ),
    upd AS (
        UPDATE grid_case g SET
            node_id = CASE WHEN nw.up THEN nw.parent ELSE g.node_id END,
            state = CASE WHEN nw.up THEN 2 ELSE g.state END,
            handler = CASE WHEN nw.up THEN NULL ELSE g.handler END,
            level_since = CASE WHEN nw.up THEN t ELSE g.level_since END,
            accept_due = CASE WHEN nw.up THEN nw.n_accept_due
                              WHEN nw.top THEN NULL ELSE g.accept_due END,
            accept_warn50 = CASE WHEN nw.up THEN nw.n_accept_warn50 ELSE g.accept_warn50 END,
            accept_warn80 = CASE WHEN nw.up THEN nw.n_accept_warn80 ELSE g.accept_warn80 END,
            resolve_due = CASE WHEN nw.up THEN nw.n_resolve_due
                               WHEN nw.top THEN NULL ELSE g.resolve_due END,
            resolve_warn50 = CASE WHEN nw.up THEN nw.n_resolve_warn50 ELSE g.resolve_warn50 END,
            resolve_warn80 = CASE WHEN nw.up THEN nw.n_resolve_warn80 ELSE g.resolve_warn80 END,
            warned = CASE WHEN nw.up THEN 0 ELSE nw.n_warned END,
            overdue = CASE WHEN nw.up THEN false WHEN nw.top THEN true ELSE g.overdue END,
            suspend_requested = CASE WHEN nw.up THEN false ELSE g.suspend_requested END,
            escalations = g.escalations + CASE WHEN nw.up THEN 1 ELSE 0 END,
            timeout_escalations = g.timeout_escalations + CASE WHEN nw.up THEN 1 ELSE 0 END,
            next_check = CASE
                WHEN nw.up THEN case_next_check_of(2::smallint, 0::smallint, nw.n_accept_warn50,
                                                   nw.n_accept_warn80, nw.n_accept_due,
                                                   nw.n_resolve_warn50, nw.n_resolve_warn80,
                                                   nw.n_resolve_due)
                WHEN nw.top THEN case_next_check_of(g.state, 15::smallint, g.accept_warn50,
                                                    g.accept_warn80, NULL, g.resolve_warn50,
                                                    g.resolve_warn80, NULL)
                ELSE case_next_check_of(g.state, nw.n_warned, g.accept_warn50,
                                        g.accept_warn80, g.accept_due, g.resolve_warn50,
                                        g.resolve_warn80, g.resolve_due) END
          FROM nw
         WHERE g.id = nw.id AND g.id = ANY (ids)
    ),
    ev AS (
        SELECT w.next_check, w.id AS case_id, 0 AS step, 'case.timeout_escalated' AS kind, w.parent AS node,
               w.node_id AS from_node, w.id, format('the time to %s ran out', w.missed) AS note
          FROM w WHERE w.up
        UNION ALL
        SELECT w.next_check, w.id, 0, 'case.warning', w.node_id, NULL, w.id,
               format('missed the time to %s at the top of the grid', w.missed)
          FROM w WHERE w.top
        UNION ALL
        SELECT w.next_check, w.id, 1, 'case.warning', w.node_id, NULL, w.id,
               format('half the time to accept has passed (due %s)', w.accept_due)
          FROM w WHERE w.a50
        UNION ALL
        SELECT w.next_check, w.id, 2, 'case.warning', w.node_id, NULL, w.id,
               format('80%% of the time to accept has passed (due %s)', w.accept_due)
          FROM w WHERE w.a80
        UNION ALL
        SELECT w.next_check, w.id, 3, 'case.warning', w.node_id, NULL, w.id,
               format('half the time to resolve has passed (due %s)', w.resolve_due)
          FROM w WHERE w.r50
        UNION ALL
        SELECT w.next_check, w.id, 4, 'case.warning', w.node_id, NULL, w.id,
               format('80%% of the time to resolve has passed (due %s)', w.resolve_due)
          FROM w WHERE w.r80
    )
    -- seq numbers drawn in the loop's order: the subquery is sorted
    -- before nextval runs on its rows.
    INSERT INTO grid_event (seq, at, kind, node_id, from_node_id, case_id, task_id, actor,
                            summary)
    SELECT nextval('grid_event_seq'), t, s.kind, s.node, s.from_node, s.id, NULL, 'system',
           s.note
      FROM (SELECT * FROM ev ORDER BY ev.next_check, ev.case_id, ev.step) s;
    RETURN cardinality(ids);
END
$$;
