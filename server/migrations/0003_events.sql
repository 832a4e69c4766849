-- Events: what happens in the grid (a case raised, escalated, closed; a task
-- assigned, done; a deadline warning), kept for history and re-reading, and
-- announced to every gridd process by NOTIFY grid_events so that each can
-- push them to its subscribers.
--
-- seq must increase in commit order, or a reader that has seen seq N could
-- miss a smaller seq committed later. Writers therefore take the audit
-- chain's head lock (held to commit) before drawing seq numbers: event_lock()
-- does that; event_emit() calls it. The NOTIFY carries no payload, so there
-- is at most one per transaction however many events it adds.

CREATE SEQUENCE grid_event_seq;

CREATE TABLE grid_event (
    seq          bigint PRIMARY KEY,
    at           timestamptz NOT NULL,
    kind         text NOT NULL CHECK (kind ~ '^[a-z_]+\.[a-z_]+$'),
    node_id      bigint NOT NULL REFERENCES grid_node (id),
    from_node_id bigint REFERENCES grid_node (id),
    case_id      bigint,
    task_id      bigint,
    actor        text NOT NULL,
    summary      text NOT NULL DEFAULT ''
);
CREATE INDEX grid_event_case_idx ON grid_event (case_id, seq) WHERE case_id IS NOT NULL;
CREATE INDEX grid_event_task_idx ON grid_event (task_id, seq) WHERE task_id IS NOT NULL;
CREATE INDEX grid_event_node_idx ON grid_event (node_id, seq);

-- Before drawing seq numbers in a transaction. Cheap to call again.
CREATE FUNCTION event_lock() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM audit_head FOR UPDATE;
    PERFORM pg_notify('grid_events', '');
END
$$;

CREATE FUNCTION event_emit(p_kind text, p_node_id bigint, p_from_node_id bigint,
                           p_case_id bigint, p_task_id bigint, p_actor text, p_summary text,
                           p_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    PERFORM event_lock();
    s := nextval('grid_event_seq');
    INSERT INTO grid_event (seq, at, kind, node_id, from_node_id, case_id, task_id, actor,
                            summary)
    VALUES (s, coalesce(p_at, now()), p_kind, p_node_id, p_from_node_id, p_case_id, p_task_id,
            p_actor, coalesce(p_summary, ''));
    RETURN s;
END
$$;

-- Idempotency keys: a write that carries a key stores its reply here in the
-- same transaction, so a retry with the key gets the first reply and changes
-- nothing. Kept at least 24 hours (the sweeper removes older ones).
CREATE TABLE idempotency (
    principal    text NOT NULL,
    key          text NOT NULL,
    method       text NOT NULL,
    request_hash bytea NOT NULL,
    result       bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_created_idx ON idempotency (created_at);

-- Claims a key for this transaction. A key seen before (committed, or
-- committed meanwhile by a concurrent twin, which this waits for) raises
-- GR208 when the request is the same, GR409 when it differs.
CREATE FUNCTION idempotency_begin(p_principal text, p_key text, p_method text,
                                  p_hash bytea)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    old idempotency;
BEGIN
    INSERT INTO idempotency (principal, key, method, request_hash)
    VALUES (p_principal, p_key, p_method, p_hash)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO old FROM idempotency WHERE principal = p_principal AND key = p_key;
    IF old.method <> p_method OR old.request_hash <> p_hash THEN
        RAISE EXCEPTION 'idempotency key % was used for a different request', p_key
            USING ERRCODE = 'GR409';
    END IF;
    RAISE EXCEPTION 'idempotency key % was used before', p_key USING ERRCODE = 'GR208';
END
$$;
