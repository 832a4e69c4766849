-- Cases: needs, complaints and opinions raised at a node, rising level by
-- level until someone solves them. This table is the queue.
--
-- Every transition is one function below: it locks the case, checks that
-- the caller may act on it (p_scope: the ids of the nodes under which the
-- caller holds the needed permission, NULL for the whole grid), checks the
-- state, changes the row and records an event (case_event_add, which keeps
-- seq in commit order). Two people acting at once: the second waits for the
-- row lock, then finds the state changed and gets GR412.
--
-- Deadlines are per level and category (case_deadlines, migration 0004),
-- counted in working time from the case's arrival at its current node. The
-- sweep (case_sweep) finds cases past a warning or a deadline through
-- next_check, the earliest such moment still ahead, and escalates them one
-- level up when a deadline passes.
--
-- States are the numbers of CaseState in proto/case.proto: 1 received,
-- 2 registered, 3 accepted, 4 in progress, 5 resolved, 6 checked, 7 closed,
-- 8 voided, 9 suspended. Times: p_now_ms NULL means now().

CREATE TABLE grid_case (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id             bigint NOT NULL REFERENCES grid_node (id),
    origin_node_id      bigint NOT NULL REFERENCES grid_node (id),
    state               smallint NOT NULL CHECK (state BETWEEN 1 AND 9),
    title               text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description         text NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    category            text NOT NULL CHECK (category ~ '^[a-z0-9_-]{1,32}$'),
    contact             text NOT NULL DEFAULT '',
    household           text NOT NULL DEFAULT '',
    service_item        text NOT NULL DEFAULT '',
    urgency             smallint NOT NULL DEFAULT 0 CHECK (urgency BETWEEN 0 AND 2),
    channel             text NOT NULL DEFAULT 'other',
    reporter            text NOT NULL,
    handler             text,
    received_at         timestamptz NOT NULL,
    level_since         timestamptz NOT NULL,
    accept_due          timestamptz,
    accept_warn50       timestamptz,
    accept_warn80       timestamptz,
    resolve_due         timestamptz,
    resolve_warn50      timestamptz,
    resolve_warn80      timestamptz,
    warned              smallint NOT NULL DEFAULT 0,  -- bits: 1 accept 50%, 2 accept 80%,
                                                      --       4 resolve 50%, 8 resolve 80%
    next_check          timestamptz,
    overdue             boolean NOT NULL DEFAULT false,
    first_accepted_at   timestamptz,
    accepted_at         timestamptz,
    resolved_at         timestamptz,
    closed_at           timestamptz,
    result_note         text NOT NULL DEFAULT '',
    outcome             smallint NOT NULL DEFAULT 0,
    void_reason         smallint NOT NULL DEFAULT 0,
    duplicate_of        bigint REFERENCES grid_case (id),
    escalations         integer NOT NULL DEFAULT 0,
    timeout_escalations integer NOT NULL DEFAULT 0,
    reworks             integer NOT NULL DEFAULT 0,
    suspend_requested   boolean NOT NULL DEFAULT false,
    suspend_reason      text NOT NULL DEFAULT '',
    suspended_from      smallint,
    accept_left_ms      bigint,                        -- working time left when suspended
    resolve_left_ms     bigint,
    callback_at         timestamptz,
    callback_solved     boolean,
    satisfaction        smallint CHECK (satisfaction BETWEEN 1 AND 5)
);
CREATE INDEX grid_case_inbox_idx ON grid_case (node_id, state, id);
CREATE INDEX grid_case_check_idx ON grid_case (next_check) WHERE next_check IS NOT NULL;
CREATE INDEX grid_case_origin_idx ON grid_case (origin_node_id, received_at);

CREATE FUNCTION case_now(p_now_ms bigint) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_now_ms IS NULL THEN now() ELSE to_timestamp(p_now_ms / 1000.0) END
$$;

-- The earliest warning or deadline of c still ahead, or NULL.
CREATE FUNCTION case_next_check(c grid_case) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN c.state IN (1, 2, 3, 4) THEN least(
        CASE WHEN c.state IN (1, 2) AND c.warned & 1 = 0 THEN c.accept_warn50 END,
        CASE WHEN c.state IN (1, 2) AND c.warned & 2 = 0 THEN c.accept_warn80 END,
        CASE WHEN c.state IN (1, 2) THEN c.accept_due END,
        CASE WHEN c.warned & 4 = 0 THEN c.resolve_warn50 END,
        CASE WHEN c.warned & 8 = 0 THEN c.resolve_warn80 END,
        c.resolve_due) END
$$;

-- Puts c in node's inbox at t, with that level's deadlines from t.
CREATE FUNCTION case_arrive(c grid_case, p_node_id bigint, t timestamptz) RETURNS grid_case
LANGUAGE plpgsql AS $$
DECLARE
    d record;
BEGIN
    SELECT * INTO d
      FROM case_deadlines((SELECT level FROM grid_node WHERE id = p_node_id), c.category, t);
    c.node_id := p_node_id;
    c.level_since := t;
    c.accept_due := d.accept_due;
    c.accept_warn50 := d.accept_warn50;
    c.accept_warn80 := d.accept_warn80;
    c.resolve_due := d.resolve_due;
    c.resolve_warn50 := d.resolve_warn50;
    c.resolve_warn80 := d.resolve_warn80;
    c.warned := 0;
    c.overdue := false;
    c.handler := NULL;
    c.suspend_requested := false;
    RETURN c;
END
$$;

CREATE FUNCTION case_event_add(c grid_case, p_kind text, p_node_id bigint, p_from bigint,
                               p_actor text, p_note text, t timestamptz)
RETURNS void
LANGUAGE sql AS $$
    SELECT event_emit(p_kind, p_node_id, p_from, c.id, NULL, p_actor,
                      coalesce(nullif(p_note, ''), c.title), t)
$$;

-- Saves c (every column a transition may change) and its next check.
CREATE FUNCTION case_save(c grid_case) RETURNS grid_case
LANGUAGE plpgsql AS $$
BEGIN
    c.next_check := case_next_check(c);
    UPDATE grid_case SET
        node_id = c.node_id, state = c.state, handler = c.handler,
        level_since = c.level_since, accept_due = c.accept_due,
        accept_warn50 = c.accept_warn50, accept_warn80 = c.accept_warn80,
        resolve_due = c.resolve_due, resolve_warn50 = c.resolve_warn50,
        resolve_warn80 = c.resolve_warn80, warned = c.warned, next_check = c.next_check,
        overdue = c.overdue, first_accepted_at = c.first_accepted_at,
        accepted_at = c.accepted_at, resolved_at = c.resolved_at, closed_at = c.closed_at,
        result_note = c.result_note, outcome = c.outcome, void_reason = c.void_reason,
        duplicate_of = c.duplicate_of, escalations = c.escalations,
        timeout_escalations = c.timeout_escalations, reworks = c.reworks,
        suspend_requested = c.suspend_requested, suspend_reason = c.suspend_reason,
        suspended_from = c.suspended_from, accept_left_ms = c.accept_left_ms,
        resolve_left_ms = c.resolve_left_ms, callback_at = c.callback_at,
        callback_solved = c.callback_solved, satisfaction = c.satisfaction
     WHERE id = c.id;
    RETURN c;
END
$$;

-- Whether node n is inside one of the subtrees p_scope (NULL: everywhere).
CREATE FUNCTION case_in_scope(p_node_id bigint, p_scope bigint[]) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_scope IS NULL OR EXISTS (
        SELECT 1 FROM grid_node n, grid_node s
         WHERE n.id = p_node_id AND s.id = ANY (p_scope) AND n.path <@ s.path)
$$;

-- Locks case p_id for a transition by someone acting within p_scope. A
-- missing case and one outside the scope get the same answer.
CREATE FUNCTION case_lock(p_id bigint, p_scope bigint[]) RETURNS grid_case
LANGUAGE plpgsql AS $$
DECLARE
    c grid_case;
BEGIN
    SELECT * INTO c FROM grid_case WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR NOT case_in_scope(c.node_id, p_scope) THEN
        RAISE EXCEPTION 'case % is not within your part of the grid, or does not exist', p_id
            USING ERRCODE = 'GR403';
    END IF;
    RETURN c;
END
$$;

CREATE FUNCTION case_state_name(s int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT (ARRAY['received', 'registered', 'accepted', 'in progress', 'resolved', 'checked',
                  'closed', 'voided', 'suspended'])[s]
$$;

CREATE FUNCTION case_require(c grid_case, p_states int[], p_doing text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT c.state = ANY (p_states) THEN
        RAISE EXCEPTION 'case % is %; it cannot be %', c.id, case_state_name(c.state), p_doing
            USING ERRCODE = 'GR412';
    END IF;
END
$$;

-- --- raising --------------------------------------------------------------

CREATE FUNCTION case_raise(p_node_id bigint, p_title text, p_description text,
                           p_category text, p_contact text, p_household text,
                           p_service_item text, p_urgency int, p_channel text, p_actor text,
                           p_now_ms bigint)
RETURNS SETOF grid_case
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    c grid_case;
BEGIN
    INSERT INTO grid_case (node_id, origin_node_id, state, title, description, category,
                           contact, household, service_item, urgency, channel, reporter,
                           received_at, level_since)
    VALUES (p_node_id, p_node_id, 1, p_title, p_description, p_category, p_contact,
            p_household, p_service_item, p_urgency, p_channel, p_actor, t, t)
    RETURNING * INTO c;
    c := case_save(case_arrive(c, p_node_id, t));
    PERFORM case_event_add(c, 'case.raised', c.node_id, NULL, p_actor, c.title, t);
    RETURN NEXT c;
END
$$;

-- --- transitions at the case's own level ------------------------------------

-- One function for the simple steps, by name: register, accept, start,
-- resolve, check, rework, escalate, resume, reopen.
CREATE FUNCTION case_step(p_id bigint, p_step text, p_scope bigint[], p_actor text,
                          p_note text, p_now_ms bigint)
RETURNS SETOF grid_case
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    c grid_case := case_lock(p_id, p_scope);
    parent bigint;
    from_node bigint := c.node_id;
    kind text := 'case.' || p_step;
    d record;
BEGIN
    CASE p_step
    WHEN 'registered' THEN
        PERFORM case_require(c, '{1}', 'registered');
        c.state := 2;
    WHEN 'accepted' THEN
        PERFORM case_require(c, '{1,2}', 'accepted');
        c.state := 3;
        c.handler := p_actor;
        c.accepted_at := t;
        c.first_accepted_at := coalesce(c.first_accepted_at, t);
    WHEN 'started' THEN
        PERFORM case_require(c, '{3}', 'started');
        IF c.handler IS DISTINCT FROM p_actor THEN
            RAISE EXCEPTION 'case % is handled by %; only they start it', p_id, c.handler
                USING ERRCODE = 'GR412';
        END IF;
        c.state := 4;
    WHEN 'resolved' THEN
        PERFORM case_require(c, '{3,4}', 'resolved');
        IF c.handler IS DISTINCT FROM p_actor THEN
            RAISE EXCEPTION 'case % is handled by %; only they resolve it', p_id, c.handler
                USING ERRCODE = 'GR412';
        END IF;
        IF coalesce(p_note, '') = '' THEN
            RAISE EXCEPTION 'a resolution needs a note saying what was done'
                USING ERRCODE = 'GR400';
        END IF;
        c.state := 5;
        c.result_note := p_note;
        c.resolved_at := t;
    WHEN 'checked' THEN
        PERFORM case_require(c, '{5}', 'checked');
        IF c.handler = p_actor THEN
            RAISE EXCEPTION 'case % was resolved by you; someone else checks it', p_id
                USING ERRCODE = 'GR412';
        END IF;
        c.state := 6;
    WHEN 'rework' THEN
        PERFORM case_require(c, '{5,6}', 'sent back for rework');
        IF c.handler = p_actor THEN
            RAISE EXCEPTION 'case % was resolved by you; someone else sends it back', p_id
                USING ERRCODE = 'GR412';
        END IF;
        c.state := 4;
        c.reworks := c.reworks + 1;
        c.resolved_at := NULL;
        -- The work starts again: a fresh time to resolve at this level.
        SELECT * INTO d FROM case_deadlines((SELECT level FROM grid_node WHERE id = c.node_id),
                                            c.category, t);
        c.resolve_due := d.resolve_due;
        c.resolve_warn50 := d.resolve_warn50;
        c.resolve_warn80 := d.resolve_warn80;
        c.warned := c.warned & 3;
    WHEN 'escalated' THEN
        PERFORM case_require(c, '{1,2,3,4}', 'escalated');
        -- Once someone has taken the case, the decision to pass it up is
        -- theirs: an accept and an escalation racing cannot both win.
        IF c.state IN (3, 4) AND c.handler IS DISTINCT FROM p_actor THEN
            RAISE EXCEPTION 'case % is handled by %; only they escalate it', p_id, c.handler
                USING ERRCODE = 'GR412';
        END IF;
        SELECT parent_id INTO parent FROM grid_node WHERE id = c.node_id;
        IF parent IS NULL THEN
            RAISE EXCEPTION 'case % is at the top of the grid; there is no level above',
                p_id USING ERRCODE = 'GR412';
        END IF;
        c := case_arrive(c, parent, t);
        c.state := 2;
        c.escalations := c.escalations + 1;
    WHEN 'resumed' THEN
        PERFORM case_require(c, '{9}', 'resumed');
        c.state := c.suspended_from;
        c.suspended_from := NULL;
        c.accept_due := CASE WHEN c.accept_left_ms IS NOT NULL
                             THEN work_add(t, c.accept_left_ms) END;
        c.resolve_due := CASE WHEN c.resolve_left_ms IS NOT NULL
                              THEN work_add(t, c.resolve_left_ms) END;
        -- Warnings already given stay given; the rest are past their time.
        c.accept_warn50 := NULL;
        c.accept_warn80 := NULL;
        c.resolve_warn50 := NULL;
        c.resolve_warn80 := NULL;
        c.accept_left_ms := NULL;
        c.resolve_left_ms := NULL;
    WHEN 'reopened' THEN
        PERFORM case_require(c, '{7}', 'reopened');
        c := case_arrive(c, c.node_id, t);
        c.state := 2;
        c.closed_at := NULL;
        c.outcome := 0;
    ELSE
        RAISE EXCEPTION 'unknown step %', p_step USING ERRCODE = 'GR400';
    END CASE;
    c := case_save(c);
    PERFORM case_event_add(c, kind, c.node_id,
                           CASE WHEN c.node_id <> from_node THEN from_node END, p_actor,
                           p_note, t);
    RETURN NEXT c;
END
$$;

CREATE FUNCTION case_void(p_id bigint, p_scope bigint[], p_actor text, p_reason int,
                          p_duplicate_of bigint, p_note text, p_now_ms bigint)
RETURNS SETOF grid_case
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    c grid_case := case_lock(p_id, p_scope);
BEGIN
    PERFORM case_require(c, '{1,2}', 'voided');
    IF p_reason = 3 AND (p_duplicate_of IS NULL OR p_duplicate_of = p_id OR
                         NOT EXISTS (SELECT 1 FROM grid_case WHERE id = p_duplicate_of)) THEN
        RAISE EXCEPTION 'a duplicate needs the number of the case it repeats'
            USING ERRCODE = 'GR400';
    END IF;
    c.state := 8;
    c.void_reason := p_reason;
    c.duplicate_of := CASE WHEN p_reason = 3 THEN p_duplicate_of END;
    c.closed_at := t;
    c := case_save(c);
    PERFORM case_event_add(c, 'case.voided', c.node_id, NULL, p_actor, p_note, t);
    RETURN NEXT c;
END
$$;

-- Closing: after a check with any outcome; from any open state when the
-- reporter withdrew it or it repeats another case.
CREATE FUNCTION case_close(p_id bigint, p_scope bigint[], p_actor text, p_outcome int,
                           p_duplicate_of bigint, p_note text, p_now_ms bigint)
RETURNS SETOF grid_case
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    c grid_case := case_lock(p_id, p_scope);
BEGIN
    IF p_outcome IN (4, 5) THEN
        PERFORM case_require(c, '{1,2,3,4,5,6,9}', 'closed');
    ELSE
        PERFORM case_require(c, '{6}', 'closed before it is checked');
    END IF;
    IF p_outcome = 4 AND (p_duplicate_of IS NULL OR p_duplicate_of = p_id OR
                          NOT EXISTS (SELECT 1 FROM grid_case WHERE id = p_duplicate_of)) THEN
        RAISE EXCEPTION 'a duplicate needs the number of the case it repeats'
            USING ERRCODE = 'GR400';
    END IF;
    c.state := 7;
    c.outcome := p_outcome;
    c.duplicate_of := CASE WHEN p_outcome = 4 THEN p_duplicate_of END;
    c.closed_at := t;
    c.suspended_from := NULL;
    c := case_save(c);
    PERFORM case_event_add(c, 'case.closed', c.node_id, NULL, p_actor, p_note, t);
    RETURN NEXT c;
END
$$;

-- Sending down: to a node below the case's current one.
CREATE FUNCTION case_send_down(p_id bigint, p_scope bigint[], p_actor text, p_to bigint,
                               p_note text, p_now_ms bigint)
RETURNS SETOF grid_case
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    c grid_case := case_lock(p_id, p_scope);
    from_node bigint := c.node_id;
BEGIN
    PERFORM case_require(c, '{1,2,3,4}', 'sent down');
    IF NOT EXISTS (SELECT 1 FROM grid_node n, grid_node cur
                    WHERE n.id = p_to AND cur.id = c.node_id AND n.path <@ cur.path
                      AND n.id <> cur.id AND n.retired_at IS NULL) THEN
        RAISE EXCEPTION 'case % can be sent only to an active node below its own', p_id
            USING ERRCODE = 'GR412';
    END IF;
    c := case_arrive(c, p_to, t);
    c.state := 2;
    c := case_save(c);
    PERFORM case_event_add(c, 'case.sent_down', p_to, from_node, p_actor, p_note, t);
    RETURN NEXT c;
END
$$;

-- Suspending: asked by whoever works the case; done when someone with
-- p_approve_scope over the level above (the node itself at the top) asks.
CREATE FUNCTION case_suspend(p_id bigint, p_scope bigint[], p_approve_scope bigint[],
                             p_actor text, p_reason text, p_now_ms bigint)
RETURNS SETOF grid_case
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    c grid_case := case_lock(p_id, p_scope);
    above bigint;
BEGIN
    PERFORM case_require(c, '{2,3,4}', 'suspended');
    IF coalesce(p_reason, '') = '' AND NOT c.suspend_requested THEN
        RAISE EXCEPTION 'a suspension needs a reason' USING ERRCODE = 'GR400';
    END IF;
    SELECT coalesce(parent_id, id) INTO above FROM grid_node WHERE id = c.node_id;
    IF case_in_scope(above, p_approve_scope) THEN
        c.suspended_from := c.state;
        c.state := 9;
        c.accept_left_ms := CASE WHEN c.suspended_from = 2 AND c.accept_due IS NOT NULL
                                 THEN work_between(t, c.accept_due) END;
        c.resolve_left_ms := CASE WHEN c.resolve_due IS NOT NULL
                                  THEN work_between(t, c.resolve_due) END;
        c.suspend_reason := coalesce(nullif(p_reason, ''), c.suspend_reason);
        c.suspend_requested := false;
        c.accept_due := NULL;
        c.resolve_due := NULL;
        c := case_save(c);
        PERFORM case_event_add(c, 'case.suspended', c.node_id, NULL, p_actor,
                               c.suspend_reason, t);
    ELSE
        IF c.suspend_requested THEN
            RAISE EXCEPTION 'case % already waits for its suspension to be approved one level up',
                p_id USING ERRCODE = 'GR412';
        END IF;
        c.suspend_requested := true;
        c.suspend_reason := p_reason;
        c := case_save(c);
        -- The request goes to the level that approves it.
        PERFORM case_event_add(c, 'case.suspend_requested', above, c.node_id, p_actor,
                               p_reason, t);
    END IF;
    RETURN NEXT c;
END
$$;

CREATE FUNCTION case_callback(p_id bigint, p_scope bigint[], p_actor text, p_solved boolean,
                              p_satisfaction int, p_note text, p_now_ms bigint)
RETURNS SETOF grid_case
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    c grid_case;
BEGIN
    SELECT * INTO c FROM grid_case WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR (c.reporter <> p_actor AND NOT case_in_scope(c.node_id, p_scope)) THEN
        RAISE EXCEPTION 'case % is not within your part of the grid, or does not exist', p_id
            USING ERRCODE = 'GR403';
    END IF;
    PERFORM case_require(c, '{7}', 'called back before it is closed');
    IF c.callback_at IS NOT NULL THEN
        RAISE EXCEPTION 'the call-back of case % is recorded already', p_id
            USING ERRCODE = 'GR412';
    END IF;
    c.callback_at := t;
    c.callback_solved := p_solved;
    c.satisfaction := p_satisfaction;
    c := case_save(c);
    PERFORM case_event_add(c, 'case.callback', c.node_id, NULL, p_actor,
                           format('solved: %s, satisfaction %s/5%s',
                                  CASE WHEN p_solved THEN 'yes' ELSE 'no' END, p_satisfaction,
                                  CASE WHEN coalesce(p_note, '') <> '' THEN '; ' || p_note
                                       ELSE '' END), t);
    RETURN NEXT c;
END
$$;

-- The oldest waiting case of a node (the most urgent first), accepted by
-- the caller; cases others are claiming at this moment are skipped.
CREATE FUNCTION case_claim(p_node_id bigint, p_actor text, p_now_ms bigint)
RETURNS SETOF grid_case
LANGUAGE plpgsql AS $$
DECLARE
    id bigint;
BEGIN
    SELECT c.id INTO id FROM grid_case c
     WHERE c.node_id = p_node_id AND c.state IN (1, 2)
     ORDER BY c.urgency DESC, c.received_at, c.id
     LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no case is waiting to be accepted there' USING ERRCODE = 'GR404';
    END IF;
    RETURN QUERY SELECT * FROM case_step(id, 'accepted', NULL, p_actor, '', p_now_ms);
END
$$;

-- --- the sweep ------------------------------------------------------------

-- Handles up to p_batch cases whose next check has come: a warning event
-- at 50% and 80% of a deadline, and when a deadline passes, the case moves
-- one level up by itself (at the top it is marked overdue). Skips cases
-- other sweepers hold, so several gridd processes may sweep at once; each
-- call is one transaction, so no lock outlives a batch. Returns how many.
CREATE FUNCTION case_sweep(p_now_ms bigint, p_batch int)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := case_now(p_now_ms);
    c grid_case;
    n integer := 0;
    parent bigint;
    from_node bigint;
    missed text;
BEGIN
    FOR c IN SELECT * FROM grid_case
              WHERE next_check <= t
              ORDER BY next_check
              LIMIT p_batch
                FOR UPDATE SKIP LOCKED LOOP
        n := n + 1;
        missed := CASE WHEN c.state IN (1, 2) AND c.accept_due <= t THEN 'accept'
                       WHEN c.resolve_due <= t THEN 'resolve' END;
        IF missed IS NOT NULL THEN
            SELECT parent_id INTO parent FROM grid_node WHERE id = c.node_id;
            IF parent IS NULL THEN
                c.overdue := true;
                c.accept_due := NULL;
                c.resolve_due := NULL;
                c.warned := 15;
                PERFORM case_event_add(c, 'case.warning', c.node_id, NULL, 'system',
                    format('missed the time to %s at the top of the grid', missed), t);
            ELSE
                from_node := c.node_id;
                c := case_arrive(c, parent, t);
                c.state := 2;
                c.escalations := c.escalations + 1;
                c.timeout_escalations := c.timeout_escalations + 1;
                PERFORM case_event_add(c, 'case.timeout_escalated', parent, from_node, 'system',
                    format('the time to %s ran out', missed), t);
            END IF;
        ELSE
            IF c.state IN (1, 2) AND c.warned & 1 = 0 AND c.accept_warn50 <= t THEN
                c.warned := c.warned | 1;
                PERFORM case_event_add(c, 'case.warning', c.node_id, NULL, 'system',
                    format('half the time to accept has passed (due %s)', c.accept_due), t);
            END IF;
            IF c.state IN (1, 2) AND c.warned & 2 = 0 AND c.accept_warn80 <= t THEN
                c.warned := c.warned | 3;
                PERFORM case_event_add(c, 'case.warning', c.node_id, NULL, 'system',
                    format('80%% of the time to accept has passed (due %s)', c.accept_due), t);
            END IF;
            IF c.warned & 4 = 0 AND c.resolve_warn50 <= t THEN
                c.warned := c.warned | 4;
                PERFORM case_event_add(c, 'case.warning', c.node_id, NULL, 'system',
                    format('half the time to resolve has passed (due %s)', c.resolve_due), t);
            END IF;
            IF c.warned & 8 = 0 AND c.resolve_warn80 <= t THEN
                c.warned := c.warned | 12;
                PERFORM case_event_add(c, 'case.warning', c.node_id, NULL, 'system',
                    format('80%% of the time to resolve has passed (due %s)', c.resolve_due),
                    t);
            END IF;
        END IF;
        PERFORM case_save(c);
    END LOOP;
    RETURN n;
END
$$;
