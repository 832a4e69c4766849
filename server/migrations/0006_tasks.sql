-- Tasks: work issued at a node for every node of a target level below it
-- (the district asks every building of a community to check on elderly
-- residents living alone). A task has one assignment per target node, all
-- created by one INSERT ... SELECT in the issuing transaction, with one
-- task.assigned event each. An assignment goes pending -> acknowledged ->
-- done (with a report: text and named numbers), or is cancelled with its
-- task.
--
-- Every change is one function below. Transitions are guarded in the
-- UPDATE's WHERE clause, so of two people acting at once the second finds
-- the state changed and gets GR412. Row locks are always taken before the
-- event lock (event_lock, the audit head), which every writer takes last:
-- that order keeps a completion and a cancellation from deadlocking.
--
-- Reminders and overdue notices are per task: the sweep (task_sweep) locks
-- a task whose reminder time or due time has come (FOR UPDATE SKIP LOCKED,
-- so several gridd processes may sweep at once), adds one event for each of
-- its open assignments and stamps the task, so each goes out exactly once.
-- Overdue itself is no stored state: an assignment is overdue while it is
-- pending or acknowledged past its task's due time.
--
-- Times: p_now_ms NULL means now() (gridd-testclock passes its own).

CREATE TABLE task (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id       bigint NOT NULL REFERENCES grid_node (id),
    title         text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    body          text NOT NULL DEFAULT '' CHECK (char_length(body) <= 4000),
    target_level  smallint NOT NULL CHECK (target_level >= 0 AND target_level < 16),
    state         text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'cancelled')),
    issued_by     text NOT NULL,
    created_at    timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    remind_at     timestamptz NOT NULL,  -- when the reminders go out
    reminded_at   timestamptz,           -- when they went out; NULL: not yet
    overdue_at    timestamptz,           -- when the overdue notices went out
    assignments   integer NOT NULL DEFAULT 0,
    cancelled_at  timestamptz,
    cancelled_by  text,
    cancel_note   text NOT NULL DEFAULT '' CHECK (char_length(cancel_note) <= 500),
    CHECK (due_at > created_at)
);
CREATE INDEX task_node_idx ON task (node_id, id);
CREATE INDEX task_remind_idx ON task (remind_at) WHERE state = 'open' AND reminded_at IS NULL;
CREATE INDEX task_overdue_idx ON task (due_at) WHERE state = 'open' AND overdue_at IS NULL;

-- No foreign keys here, on purpose: assignments are made only by
-- task_issue, from grid_node rows, in the transaction that makes their task,
-- and neither tasks nor nodes are ever deleted. A foreign key check per row
-- tripled the time of a district-wide task (50,000 rows: 1.6 s instead of
-- 0.5 s for this insert).
CREATE TABLE task_assignment (
    task_id          bigint NOT NULL,
    node_id          bigint NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'acknowledged', 'done', 'cancelled')),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    done_at          timestamptz,
    done_by          text,
    report_text      text NOT NULL DEFAULT '' CHECK (char_length(report_text) <= 4000),
    numbers          jsonb NOT NULL DEFAULT '{}',  -- {"households_visited": 12}
    PRIMARY KEY (task_id, node_id)
);
CREATE INDEX task_assignment_node_idx ON task_assignment (node_id, task_id);

CREATE FUNCTION task_now(p_now_ms bigint) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_now_ms IS NULL THEN now() ELSE to_timestamp(p_now_ms / 1000.0) END
$$;

CREATE FUNCTION task_ms(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((extract(epoch FROM t) * 1000)::bigint, 0)
$$;

-- When the reminders of a task go out: when p_before_ms are left or when
-- p_share of its span is left, whichever comes later (24 h before a
-- ten-day task's due time, 20% of a short one's span before it).
CREATE FUNCTION task_remind_at(p_created timestamptz, p_due timestamptz, p_before_ms bigint,
                               p_share float8)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT greatest(p_due - p_before_ms * interval '1 millisecond',
                    p_due - (p_due - p_created) * p_share)
$$;

-- What the calls return: a task, an assignment (with its task's title and
-- due time, and the numbers as "name=value" lines sorted by name).
CREATE VIEW task_out AS
SELECT t.id, n.code AS node_code, t.title, t.body, task_ms(t.due_at) AS due_ms,
       t.target_level, t.state, t.issued_by, task_ms(t.created_at) AS created_ms,
       t.assignments, t.node_id
  FROM task t JOIN grid_node n ON n.id = t.node_id;

CREATE VIEW task_assignment_out AS
SELECT a.task_id, n.code AS node_code, a.state, a.report_text,
       coalesce((SELECT string_agg(e.key || '=' || e.value, E'\n' ORDER BY e.key)
                   FROM jsonb_each_text(a.numbers) e), '') AS numbers,
       task_ms(a.acknowledged_at) AS acknowledged_ms, task_ms(a.done_at) AS done_ms,
       coalesce(a.done_by, '') AS done_by, t.title, task_ms(t.due_at) AS due_ms,
       t.due_at, a.node_id, n.path
  FROM task_assignment a
  JOIN task t ON t.id = a.task_id
  JOIN grid_node n ON n.id = a.node_id;

-- --- issuing --------------------------------------------------------------

CREATE FUNCTION task_issue(p_node_code text, p_title text, p_body text, p_due_ms bigint,
                           p_target_level int, p_actor text, p_now_ms bigint,
                           p_remind_before_ms bigint, p_remind_share float8)
RETURNS SETOF task_out
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := task_now(p_now_ms);
    v_due timestamptz := to_timestamp(p_due_ms / 1000.0);
    n grid_node := grid_lookup(p_node_code, 'node', false);
    v_id bigint;
    v_count integer;
BEGIN
    IF p_target_level <= n.level THEN
        RAISE EXCEPTION 'the target level must be below %''s level', n.code
            USING ERRCODE = 'GR400';
    END IF;
    IF v_due <= v_now THEN
        RAISE EXCEPTION 'the due time % has passed', v_due USING ERRCODE = 'GR400';
    END IF;
    INSERT INTO task (node_id, title, body, target_level, issued_by, created_at, due_at,
                      remind_at)
    VALUES (n.id, p_title, p_body, p_target_level, p_actor, v_now, v_due,
            task_remind_at(v_now, v_due, p_remind_before_ms, p_remind_share))
    RETURNING id INTO v_id;

    -- Every active node of the target level in the subtree, in one go.
    INSERT INTO task_assignment (task_id, node_id)
    SELECT v_id, g.id FROM grid_node g
     WHERE g.path <@ n.path AND g.level = p_target_level AND g.retired_at IS NULL;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count = 0 THEN
        RAISE EXCEPTION 'there is no active node of the target level below %', n.code
            USING ERRCODE = 'GR412';
    END IF;
    UPDATE task SET assignments = v_count WHERE id = v_id;

    PERFORM event_lock();
    INSERT INTO grid_event (seq, at, kind, node_id, from_node_id, task_id, actor, summary)
    SELECT nextval('grid_event_seq'), v_now, 'task.assigned', a.node_id, n.id, v_id, p_actor,
           p_title
      FROM task_assignment a WHERE a.task_id = v_id;

    RETURN QUERY SELECT * FROM task_out WHERE id = v_id;
END
$$;

-- --- assignments ----------------------------------------------------------

-- Raises the error that explains why p_doing (acknowledge, complete) found
-- no assignment in a state it acts on. A missing task and a task without an
-- assignment at the node get the same answer.
CREATE FUNCTION task_assignment_refuse(p_task_id bigint, p_node_id bigint, p_node_code text,
                                       p_doing text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a task_assignment;
BEGIN
    SELECT * INTO a FROM task_assignment WHERE task_id = p_task_id AND node_id = p_node_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % has no assignment at %', p_task_id, p_node_code
            USING ERRCODE = 'GR404';
    END IF;
    IF a.state = 'cancelled' THEN
        RAISE EXCEPTION 'task % was cancelled', p_task_id USING ERRCODE = 'GR412';
    END IF;
    IF a.state = 'done' THEN
        RAISE EXCEPTION 'the assignment of task % at % was already done by % at %',
            p_task_id, p_node_code, a.done_by, a.done_at USING ERRCODE = 'GR412';
    END IF;
    RAISE EXCEPTION 'the assignment of task % at % was already acknowledged by % at %',
        p_task_id, p_node_code, a.acknowledged_by, a.acknowledged_at USING ERRCODE = 'GR412';
END
$$;

CREATE FUNCTION task_acknowledge(p_task_id bigint, p_node_code text, p_actor text,
                                 p_now_ms bigint)
RETURNS SETOF task_assignment_out
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := task_now(p_now_ms);
    v_node bigint := (SELECT id FROM grid_node WHERE code = p_node_code);
BEGIN
    UPDATE task_assignment SET state = 'acknowledged', acknowledged_at = v_now,
                               acknowledged_by = p_actor
     WHERE task_id = p_task_id AND node_id = v_node AND state = 'pending';
    IF NOT FOUND THEN
        PERFORM task_assignment_refuse(p_task_id, v_node, p_node_code, 'acknowledge');
    END IF;
    RETURN QUERY SELECT * FROM task_assignment_out
                  WHERE task_id = p_task_id AND node_id = v_node;
END
$$;

-- Done, from pending (acknowledged on the way) or acknowledged, with the
-- report: p_names[i] = p_values[i].
CREATE FUNCTION task_complete(p_task_id bigint, p_node_code text, p_actor text,
                              p_now_ms bigint, p_text text, p_names text[], p_values float8[])
RETURNS SETOF task_assignment_out
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := task_now(p_now_ms);
    v_node bigint := (SELECT id FROM grid_node WHERE code = p_node_code);
    v_title text;
BEGIN
    UPDATE task_assignment x
       SET state = 'done', done_at = v_now, done_by = p_actor,
           acknowledged_at = coalesce(x.acknowledged_at, v_now),
           acknowledged_by = coalesce(x.acknowledged_by, p_actor),
           report_text = p_text,
           numbers = (SELECT coalesce(jsonb_object_agg(u.name, u.value), '{}')
                        FROM unnest(p_names, p_values) AS u(name, value))
     WHERE x.task_id = p_task_id AND x.node_id = v_node
       AND x.state IN ('pending', 'acknowledged');
    IF NOT FOUND THEN
        PERFORM task_assignment_refuse(p_task_id, v_node, p_node_code, 'complete');
    END IF;
    SELECT title INTO v_title FROM task WHERE id = p_task_id;
    PERFORM event_emit('task.done', v_node, NULL, NULL, p_task_id, p_actor,
                       v_title || coalesce(': ' || nullif(left(p_text, 200), ''), ''), v_now);
    RETURN QUERY SELECT * FROM task_assignment_out
                  WHERE task_id = p_task_id AND node_id = v_node;
END
$$;

-- --- the issuer's changes -------------------------------------------------

-- The task for a change by its issuer: GR404 when there is none, GR412
-- when it is cancelled already. Locks its row.
CREATE FUNCTION task_lock_open(p_task_id bigint) RETURNS task
LANGUAGE plpgsql AS $$
DECLARE
    t task;
BEGIN
    SELECT * INTO t FROM task WHERE id = p_task_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % not found', p_task_id USING ERRCODE = 'GR404';
    END IF;
    IF t.state = 'cancelled' THEN
        RAISE EXCEPTION 'task % was cancelled', p_task_id USING ERRCODE = 'GR412';
    END IF;
    RETURN t;
END
$$;

-- Cancels the task and its assignments not yet done; a task.cancelled
-- event at each of those.
CREATE FUNCTION task_cancel(p_task_id bigint, p_actor text, p_note text, p_now_ms bigint)
RETURNS SETOF task_out
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := task_now(p_now_ms);
    t task := task_lock_open(p_task_id);
    v_nodes bigint[];
BEGIN
    UPDATE task SET state = 'cancelled', cancelled_at = v_now, cancelled_by = p_actor,
                    cancel_note = p_note
     WHERE id = t.id;
    -- The assignments' row locks first, the event lock after (see the top).
    WITH c AS (UPDATE task_assignment SET state = 'cancelled'
                WHERE task_id = t.id AND state IN ('pending', 'acknowledged')
            RETURNING node_id)
    SELECT array_agg(node_id ORDER BY node_id) INTO v_nodes FROM c;
    IF v_nodes IS NOT NULL THEN
        PERFORM event_lock();
        INSERT INTO grid_event (seq, at, kind, node_id, from_node_id, task_id, actor, summary)
        SELECT nextval('grid_event_seq'), v_now, 'task.cancelled', u.node_id, t.node_id, t.id,
               p_actor, t.title || coalesce(': ' || nullif(p_note, ''), '')
          FROM unnest(v_nodes) AS u(node_id);
    END IF;
    RETURN QUERY SELECT * FROM task_out WHERE id = t.id;
END
$$;

-- A later due time. The reminder time follows; reminders already sent go
-- out again when the new reminder time is still ahead, and overdue notices
-- again when the new due time passes. A task.extended event at each open
-- assignment.
CREATE FUNCTION task_extend(p_task_id bigint, p_due_ms bigint, p_actor text, p_now_ms bigint,
                            p_remind_before_ms bigint, p_remind_share float8)
RETURNS SETOF task_out
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := task_now(p_now_ms);
    v_due timestamptz := to_timestamp(p_due_ms / 1000.0);
    t task := task_lock_open(p_task_id);
    v_remind timestamptz;
BEGIN
    IF v_due <= t.due_at THEN
        RAISE EXCEPTION 'the new due time % is not later than the current one, %', v_due,
            t.due_at USING ERRCODE = 'GR400';
    END IF;
    IF v_due <= v_now THEN
        RAISE EXCEPTION 'the new due time % has passed', v_due USING ERRCODE = 'GR400';
    END IF;
    v_remind := task_remind_at(t.created_at, v_due, p_remind_before_ms, p_remind_share);
    UPDATE task SET due_at = v_due, remind_at = v_remind,
                    reminded_at = CASE WHEN v_remind > v_now THEN NULL ELSE reminded_at END,
                    overdue_at = NULL
     WHERE id = t.id;
    PERFORM event_lock();
    INSERT INTO grid_event (seq, at, kind, node_id, from_node_id, task_id, actor, summary)
    SELECT nextval('grid_event_seq'), v_now, 'task.extended', a.node_id, t.node_id, t.id,
           p_actor, format('%s: now due %s', t.title, v_due)
      FROM task_assignment a
     WHERE a.task_id = t.id AND a.state IN ('pending', 'acknowledged')
     ORDER BY a.node_id;
    RETURN QUERY SELECT * FROM task_out WHERE id = t.id;
END
$$;

-- --- the sweep ------------------------------------------------------------

-- Sends the reminders of up to p_batch tasks whose reminder time has come,
-- and the overdue notices of up to p_batch tasks whose due time has passed:
-- one event per assignment still pending or acknowledged. A task already
-- past due gets no reminder, only its overdue notices. Tasks another sweeper
-- holds are skipped; each call is one transaction. Returns how many events
-- of each kind, and whether a batch was full (more may be waiting).
CREATE FUNCTION task_sweep(p_now_ms bigint, p_batch int)
RETURNS TABLE (reminders integer, overdue integer, more boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := task_now(p_now_ms);
    t task;
    n integer;
    v_tasks integer := 0;
BEGIN
    reminders := 0;
    overdue := 0;
    FOR t IN SELECT * FROM task
              WHERE state = 'open' AND reminded_at IS NULL AND remind_at <= v_now
              ORDER BY remind_at
              LIMIT p_batch
                FOR UPDATE SKIP LOCKED LOOP
        v_tasks := v_tasks + 1;
        UPDATE task SET reminded_at = v_now WHERE id = t.id;
        CONTINUE WHEN t.due_at <= v_now;
        PERFORM event_lock();
        INSERT INTO grid_event (seq, at, kind, node_id, from_node_id, task_id, actor, summary)
        SELECT nextval('grid_event_seq'), v_now, 'task.reminder', a.node_id, t.node_id, t.id,
               'system', format('%s: due %s', t.title, t.due_at)
          FROM task_assignment a
         WHERE a.task_id = t.id AND a.state IN ('pending', 'acknowledged')
         ORDER BY a.node_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        reminders := reminders + n;
    END LOOP;
    more := v_tasks >= p_batch;

    v_tasks := 0;
    FOR t IN SELECT * FROM task
              WHERE state = 'open' AND overdue_at IS NULL AND due_at <= v_now
              ORDER BY due_at
              LIMIT p_batch
                FOR UPDATE SKIP LOCKED LOOP
        v_tasks := v_tasks + 1;
        UPDATE task SET overdue_at = v_now,
                        reminded_at = coalesce(reminded_at, v_now)
         WHERE id = t.id;
        PERFORM event_lock();
        INSERT INTO grid_event (seq, at, kind, node_id, from_node_id, task_id, actor, summary)
        SELECT nextval('grid_event_seq'), v_now, 'task.overdue', a.node_id, t.node_id, t.id,
               'system', format('%s: was due %s', t.title, t.due_at)
          FROM task_assignment a
         WHERE a.task_id = t.id AND a.state IN ('pending', 'acknowledged')
         ORDER BY a.node_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        overdue := overdue + n;
    END LOOP;
    more := more OR v_tasks >= p_batch;
    RETURN NEXT;
END
$$;
