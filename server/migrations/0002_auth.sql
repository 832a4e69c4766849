-- Accounts, their roles on the grid, sessions, API keys, and the audit
-- trail. gridd hashes passwords (Argon2id) and tokens (SHA-256) itself; the
-- database never sees a password or a usable token.
--
-- Changes that other gridd processes must see at once (a logout, a disabled
-- account, a revoked role or key) are announced with NOTIFY auth_changed,
-- payload "account:ID", "session:HEX" or "key:ID".

CREATE TABLE account (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name  text NOT NULL DEFAULT '' CHECK (char_length(display_name) <= 100),
    phone         text NOT NULL DEFAULT '' CHECK (phone ~ '^[0-9+() -]{0,32}$'),
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A role on a node covers its subtree; node_id NULL covers the whole grid.
CREATE TABLE role_grant (
    account_id bigint NOT NULL REFERENCES account (id),
    role       smallint NOT NULL CHECK (role BETWEEN 1 AND 9),
    node_id    bigint REFERENCES grid_node (id),
    granted_by text NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (account_id, role, node_id)
);
CREATE INDEX role_grant_node_idx ON role_grant (node_id);

CREATE TABLE session (
    token_hash   bytea PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES account (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    peer         text NOT NULL DEFAULT ''
);
CREATE INDEX session_account_idx ON session (account_id);

CREATE TABLE api_key (
    id         text PRIMARY KEY,            -- the public part, "gk_" + 8 characters
    key_hash   bytea NOT NULL,
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    node_id    bigint REFERENCES grid_node (id),
    methods    text[] NOT NULL DEFAULT '{}',
    expires_at timestamptz,
    revoked_at timestamptz,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Role changes, checked and announced in one place.
CREATE FUNCTION auth_grant_role(p_username text, p_role int, p_node_id bigint, p_by text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
BEGIN
    SELECT id INTO uid FROM account WHERE username = p_username;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_username USING ERRCODE = 'GR404';
    END IF;
    INSERT INTO role_grant (account_id, role, node_id, granted_by)
    VALUES (uid, p_role, p_node_id, p_by) ON CONFLICT DO NOTHING;
    PERFORM pg_notify('auth_changed', 'account:' || uid);
    RETURN uid;
END
$$;

CREATE FUNCTION auth_revoke_role(p_username text, p_role int, p_node_id bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
BEGIN
    SELECT id INTO uid FROM account WHERE username = p_username;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_username USING ERRCODE = 'GR404';
    END IF;
    DELETE FROM role_grant
     WHERE account_id = uid AND role = p_role AND node_id IS NOT DISTINCT FROM p_node_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % does not hold that role there', p_username
            USING ERRCODE = 'GR404';
    END IF;
    PERFORM pg_notify('auth_changed', 'account:' || uid);
    RETURN uid;
END
$$;

-- The audit trail. Each row's hash is SHA-256(previous row's hash ||
-- canonical form of the row); audit_head holds the end of the chain, so
-- that an edited, deleted, inserted or reordered row breaks the chain where
-- it happened. The canonical form (audit_canonical) is reproduced exactly
-- by gridd's verifier.
CREATE TABLE audit_log (
    seq       bigint PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    method    text NOT NULL,
    node_id   bigint REFERENCES grid_node (id),
    node_code text NOT NULL,
    summary   text NOT NULL,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL
);
CREATE INDEX audit_log_node_idx ON audit_log (node_id, seq);
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE TABLE audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint NOT NULL,
    hash      bytea NOT NULL
);
INSERT INTO audit_head VALUES (true, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_canonical(p_seq bigint, p_at timestamptz, p_actor text, p_method text,
                                p_node_id bigint, p_node_code text, p_summary text)
RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(format('%s|%s|%s|%s:%s|%s:%s|%s:%s|%s:%s',
        p_seq, (extract(epoch FROM p_at) * 1000000)::bigint, p_node_id,
        octet_length(p_actor), p_actor, octet_length(p_method), p_method,
        octet_length(p_node_code), p_node_code, octet_length(p_summary), p_summary), 'UTF8')
$$;

-- Appends one entry. The head's row lock orders concurrent writers, so the
-- chain never forks; it is taken last in every writing transaction.
CREATE FUNCTION audit_append(p_actor text, p_method text, p_node_id bigint, p_node_code text,
                             p_summary text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    h audit_head;
    s bigint;
    t timestamptz := now();
    x bytea;
BEGIN
    SELECT * INTO h FROM audit_head FOR UPDATE;
    s := h.seq + 1;
    x := sha256(h.hash || audit_canonical(s, t, p_actor, p_method, p_node_id, p_node_code,
                                          p_summary));
    INSERT INTO audit_log (seq, at, actor, method, node_id, node_code, summary, prev_hash, hash)
    VALUES (s, t, p_actor, p_method, p_node_id, p_node_code, p_summary, h.hash, x);
    UPDATE audit_head SET seq = s, hash = x;
    RETURN s;
END
$$;

-- The application only ever appends.
CREATE FUNCTION audit_forbid_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only' USING ERRCODE = 'GR403';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_forbid_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_forbid_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
