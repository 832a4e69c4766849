-- The grid tree: district, sub-district, community, zone, courtyard,
-- building. Level numbers are stored; their names are gridd's configuration.
--
-- Every change goes through the grid_* functions below, which check the
-- tree's rules under a lock (so several gridd processes can write at once),
-- stamp the rows they change with a new grid version and NOTIFY
-- grid_changed. Each gridd keeps an in-memory copy of the tree and, when
-- notified, reads back the rows whose version is newer than what it has.
-- Errors use gridd's own SQLSTATEs: GR400 invalid input, GR404 not found,
-- GR409 already exists, GR412 not allowed in the tree's current state.

CREATE EXTENSION IF NOT EXISTS ltree;

CREATE SEQUENCE grid_node_id_seq;

CREATE TABLE grid_node (
    id           bigint PRIMARY KEY DEFAULT nextval('grid_node_id_seq'),
    parent_id    bigint REFERENCES grid_node (id),
    level        smallint NOT NULL CHECK (level >= 0 AND level < 16),
    code         text NOT NULL UNIQUE
                 CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    leader_name  text NOT NULL DEFAULT '' CHECK (char_length(leader_name) <= 100),
    leader_phone text NOT NULL DEFAULT '' CHECK (leader_phone ~ '^[0-9+() -]{0,32}$'),
    retired_at   timestamptz,
    path         ltree NOT NULL,   -- ids from the top, e.g. 1.2.7
    version      bigint NOT NULL,  -- grid version of the last change
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((parent_id IS NULL) = (nlevel(path) = 1))
);
ALTER SEQUENCE grid_node_id_seq OWNED BY grid_node.id;

CREATE INDEX grid_node_path_idx ON grid_node USING gist (path);
CREATE INDEX grid_node_parent_idx ON grid_node (parent_id);
CREATE INDEX grid_node_version_idx ON grid_node (version);

-- One row: the version of the whole grid. Taking its row lock first
-- serializes grid writers, which makes versions commit in increasing order:
-- a reader that has seen version V has seen every change up to V.
CREATE TABLE grid_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO grid_version VALUES (true, 0);

-- What the functions return: the changed nodes, parents first.
CREATE TYPE grid_node_out AS (
    id           bigint,
    parent_id    bigint,
    level        smallint,
    code         text,
    name         text,
    leader_name  text,
    leader_phone text,
    retired      boolean,
    version      bigint,
    change       text      -- created, updated, unchanged, moved, retired
);

CREATE FUNCTION grid_bump() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    UPDATE grid_version SET version = version + 1 RETURNING version INTO v;
    -- Delivered at commit, once per transaction however often it is called.
    PERFORM pg_notify('grid_changed', '');
    RETURN v;
END
$$;

CREATE FUNCTION grid_out(n grid_node, p_change text) RETURNS grid_node_out
LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(n.id, n.parent_id, n.level, n.code, n.name, n.leader_name,
               n.leader_phone, n.retired_at IS NOT NULL, n.version,
               p_change)::grid_node_out
$$;

-- Looks a node up by code, for a change: raises GR404 when there is none
-- and GR412 when it is retired (unless p_allow_retired).
CREATE FUNCTION grid_lookup(p_code text, p_what text, p_allow_retired boolean)
RETURNS grid_node
LANGUAGE plpgsql AS $$
DECLARE
    n grid_node;
BEGIN
    SELECT * INTO n FROM grid_node WHERE code = p_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% % not found', p_what, p_code USING ERRCODE = 'GR404';
    END IF;
    IF n.retired_at IS NOT NULL AND NOT p_allow_retired THEN
        RAISE EXCEPTION '% % is retired', p_what, p_code USING ERRCODE = 'GR412';
    END IF;
    RETURN n;
END
$$;

CREATE FUNCTION grid_check_level(p_parent grid_node, p_level int, p_code text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_parent.id IS NULL THEN
        IF p_level <> 0 THEN
            RAISE EXCEPTION 'node % at level % needs a parent: only the top level stands alone',
                p_code, p_level USING ERRCODE = 'GR412';
        END IF;
    ELSIF p_level <= p_parent.level THEN
        RAISE EXCEPTION 'node % at level % cannot be placed under % at level %',
            p_code, p_level, p_parent.code, p_parent.level USING ERRCODE = 'GR412';
    END IF;
END
$$;

CREATE FUNCTION grid_create_node(p_parent_code text, p_code text, p_level int,
                                 p_name text, p_leader_name text, p_leader_phone text)
RETURNS SETOF grid_node_out
LANGUAGE plpgsql AS $$
DECLARE
    v bigint := grid_bump();
    par grid_node;
    new_id bigint;
    n grid_node;
BEGIN
    IF p_parent_code <> '' THEN
        par := grid_lookup(p_parent_code, 'parent', false);
    END IF;
    PERFORM grid_check_level(par, p_level, p_code);
    IF EXISTS (SELECT 1 FROM grid_node WHERE code = p_code) THEN
        RAISE EXCEPTION 'code % is already taken', p_code USING ERRCODE = 'GR409';
    END IF;
    new_id := nextval('grid_node_id_seq');
    INSERT INTO grid_node (id, parent_id, level, code, name, leader_name, leader_phone,
                           path, version)
    VALUES (new_id, par.id, p_level, p_code, p_name, p_leader_name, p_leader_phone,
            CASE WHEN par.id IS NULL THEN text2ltree(new_id::text)
                 ELSE par.path || text2ltree(new_id::text) END,
            v)
    RETURNING * INTO n;
    RETURN NEXT grid_out(n, 'created');
END
$$;

CREATE FUNCTION grid_update_node(p_code text, p_name text, p_leader_name text,
                                 p_leader_phone text)
RETURNS SETOF grid_node_out
LANGUAGE plpgsql AS $$
DECLARE
    v bigint := grid_bump();
    n grid_node := grid_lookup(p_code, 'node', false);
BEGIN
    UPDATE grid_node
       SET name = coalesce(p_name, name),
           leader_name = coalesce(p_leader_name, leader_name),
           leader_phone = coalesce(p_leader_phone, leader_phone),
           version = v, updated_at = now()
     WHERE id = n.id
    RETURNING * INTO n;
    RETURN NEXT grid_out(n, 'updated');
END
$$;

-- Moves a node with its whole subtree; the paths below it follow.
CREATE FUNCTION grid_move(n grid_node, p_new_parent_code text, v bigint)
RETURNS grid_node
LANGUAGE plpgsql AS $$
DECLARE
    par grid_node;
    new_path ltree;
BEGIN
    IF p_new_parent_code <> '' THEN
        par := grid_lookup(p_new_parent_code, 'new parent', false);
        IF par.path <@ n.path THEN
            RAISE EXCEPTION 'cannot move % under %: % is inside its subtree',
                n.code, par.code, par.code USING ERRCODE = 'GR412';
        END IF;
    END IF;
    PERFORM grid_check_level(par, n.level, n.code);
    IF par.id IS NOT DISTINCT FROM n.parent_id THEN
        RETURN n;
    END IF;
    new_path := CASE WHEN par.id IS NULL THEN text2ltree(n.id::text)
                     ELSE par.path || text2ltree(n.id::text) END;
    UPDATE grid_node
       SET path = new_path || subpath(path, nlevel(n.path))
     WHERE path <@ n.path AND id <> n.id;
    UPDATE grid_node
       SET parent_id = par.id, path = new_path, version = v, updated_at = now()
     WHERE id = n.id
    RETURNING * INTO n;
    RETURN n;
END
$$;

CREATE FUNCTION grid_move_node(p_code text, p_new_parent_code text)
RETURNS SETOF grid_node_out
LANGUAGE plpgsql AS $$
DECLARE
    v bigint := grid_bump();
    n grid_node := grid_lookup(p_code, 'node', false);
BEGIN
    n := grid_move(n, p_new_parent_code, v);
    RETURN NEXT grid_out(n, 'moved');
END
$$;

CREATE FUNCTION grid_retire_node(p_code text, p_cascade boolean)
RETURNS SETOF grid_node_out
LANGUAGE plpgsql AS $$
DECLARE
    v bigint := grid_bump();
    n grid_node := grid_lookup(p_code, 'node', false);
    active int;
BEGIN
    SELECT count(*) INTO active
      FROM grid_node WHERE parent_id = n.id AND retired_at IS NULL;
    IF active > 0 AND NOT p_cascade THEN
        RAISE EXCEPTION 'node % has % active children: retire or move them first, or retire the whole subtree',
            p_code, active USING ERRCODE = 'GR412';
    END IF;
    RETURN QUERY
    WITH changed AS (
        UPDATE grid_node
           SET retired_at = now(), version = v, updated_at = now()
         WHERE path <@ n.path AND retired_at IS NULL
        RETURNING *
    )
    SELECT (grid_out(c::grid_node, 'retired')).*
      FROM changed c
     ORDER BY nlevel(c.path), c.id;
END
$$;

-- Applies a roster, all or nothing. The arrays hold one entry per CSV line,
-- parents before children (gridd orders them); p_lines carries the line
-- numbers for the messages.
CREATE FUNCTION grid_import(p_lines int[], p_codes text[], p_parents text[], p_levels int[],
                            p_names text[], p_leader_names text[], p_leader_phones text[])
RETURNS SETOF grid_node_out
LANGUAGE plpgsql AS $$
DECLARE
    v bigint := grid_bump();
    i int;
    par grid_node;
    n grid_node;
    new_id bigint;
    moved boolean;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_codes, 1), 0) LOOP
        par := NULL;
        IF p_parents[i] <> '' THEN
            SELECT * INTO par FROM grid_node WHERE code = p_parents[i];
            IF NOT FOUND THEN
                RAISE EXCEPTION 'line %: parent % not found', p_lines[i], p_parents[i]
                    USING ERRCODE = 'GR404';
            END IF;
            IF par.retired_at IS NOT NULL THEN
                RAISE EXCEPTION 'line %: parent % is retired', p_lines[i], p_parents[i]
                    USING ERRCODE = 'GR412';
            END IF;
        END IF;
        SELECT * INTO n FROM grid_node WHERE code = p_codes[i];
        IF NOT FOUND THEN
            PERFORM grid_check_level(par, p_levels[i], p_codes[i]);
            new_id := nextval('grid_node_id_seq');
            INSERT INTO grid_node (id, parent_id, level, code, name, leader_name,
                                   leader_phone, path, version)
            VALUES (new_id, par.id, p_levels[i], p_codes[i], p_names[i], p_leader_names[i],
                    p_leader_phones[i],
                    CASE WHEN par.id IS NULL THEN text2ltree(new_id::text)
                         ELSE par.path || text2ltree(new_id::text) END,
                    v)
            RETURNING * INTO n;
            RETURN NEXT grid_out(n, 'created');
            CONTINUE;
        END IF;
        IF n.retired_at IS NOT NULL THEN
            RAISE EXCEPTION 'line %: code % belongs to a retired node', p_lines[i], p_codes[i]
                USING ERRCODE = 'GR412';
        END IF;
        IF n.level <> p_levels[i] THEN
            RAISE EXCEPTION 'line %: node % is at level %; an import cannot change a level',
                p_lines[i], p_codes[i], n.level USING ERRCODE = 'GR412';
        END IF;
        moved := par.id IS DISTINCT FROM n.parent_id;
        IF moved THEN
            n := grid_move(n, coalesce(par.code, ''), v);
        END IF;
        IF n.name = p_names[i] AND n.leader_name = p_leader_names[i]
           AND n.leader_phone = p_leader_phones[i] THEN
            RETURN NEXT grid_out(n, CASE WHEN moved THEN 'updated' ELSE 'unchanged' END);
            CONTINUE;
        END IF;
        UPDATE grid_node
           SET name = p_names[i], leader_name = p_leader_names[i],
               leader_phone = p_leader_phones[i], version = v, updated_at = now()
         WHERE id = n.id
        RETURNING * INTO n;
        RETURN NEXT grid_out(n, 'updated');
    END LOOP;
END
$$;
