-- The working-time calendar and the per-level deadlines of cases.
--
-- A case's deadlines count working time only: the configured hours of each
-- working day (e.g. 09:00-12:00 and 13:30-17:30), on the configured
-- weekdays, minus holidays, plus make-up working days (调休), in one time
-- zone. gridd replaces both tables from its configuration at every start
-- (server/case/calendar.c calls calendar_replace); the rows inserted at the
-- end of this file are only what a database holds before the first start.
--
-- What the case module calls:
--   work_add(from, ms)            the instant when ms of working time have passed
--   work_between(from, to)        working milliseconds in [from, to)
--   case_deadlines(level, category, from)   the six deadlines of a case
--   case_deadline_ms(level, category)       the two durations alone
--
-- How the arithmetic stays cheap: the calendar is turned into a "working
-- clock", the number of working microseconds since an origin (local
-- midnight of Monday 2001-01-01). work_clock() reads that clock at an
-- instant and work_clock_at() finds the instant where it shows a value, both
-- in closed form: whole weeks by multiplication, the days of a week from a
-- table of 8 numbers, the exceptions (holidays and make-up days) by binary
-- search (width_bucket) over small sorted arrays, and the time of day from
-- the day's intervals the same way. No loop walks days or minutes, so a
-- deadline ten working days ahead costs what one an hour ahead does.
--
-- Exceptions: a holiday counts only on a weekday that is normally worked,
-- a make-up day only on one that is normally free; the others change
-- nothing and are left out. With x_cum the running sum of the exceptions
-- (+1 make-up day, -1 holiday) before a day, the day's working-day number
-- is
--   wdn(day) = weekpart(day) + x_cum[j],   j = the exceptions before day,
-- where weekpart counts the normally worked weekdays since the origin. The
-- working day numbered n is found from x_n (the wdn of the day after each
-- exception: non-decreasing, so binary-searchable): it gives j, hence
-- weekpart(day) = n - x_cum[j], hence the day: the worked weekday with that
-- weekpart, unless the next exception is a make-up day before it (then it is
-- that make-up day).
--
-- Every call would read the calendar and the deadline table again, and
-- that read (about 10 us) would cost more than all the arithmetic. So the
-- derived form of both tables (type work_cal) is kept as the constant
-- result of an IMMUTABLE function, work_cal_current(), which a trigger on
-- both tables redefines whenever they change. Each session's cached plans
-- hold the constant; redefining the function invalidates them everywhere,
-- so the next statement sees the new calendar. (IMMUTABLE is a promise
-- only between redefinitions: never use work_cal_current() in an index or
-- a stored generated column.)

CREATE TABLE work_calendar (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id), -- one row
    timezone    text NOT NULL,
    days        int[] NOT NULL,  -- ISO weekdays (1 = Monday) normally worked
    starts_ms   int[] NOT NULL,  -- working intervals of a day, local time,
    ends_ms     int[] NOT NULL,  --   milliseconds after midnight, in order
    holidays    date[] NOT NULL, -- days off, sorted
    workdays    date[] NOT NULL, -- make-up working days (调休), sorted
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- Deadlines per grid level (grid_node.level: 0 = top) and case category
-- ('' = any); level -1 is the default row. NULL = no deadline. gridd
-- writes one row per configured level, one per configured level and
-- category, and the default row, each fully resolved from its
-- configuration. Lookup: (level, category), else (level, ''), else the
-- default row.
CREATE TABLE case_deadline (
    level      int NOT NULL CHECK (level >= -1 AND level < 16),
    category   text NOT NULL DEFAULT '' CHECK (category ~ '^[a-z0-9_-]*$'),
    accept_ms  bigint CHECK (accept_ms > 0),
    resolve_ms bigint CHECK (resolve_ms > 0),
    PRIMARY KEY (level, category),
    CHECK (level >= 0 OR category = '')
);

-- The derived form of both tables, what the functions compute with.
CREATE TYPE work_cal AS (
    timezone   text,
    day_us     bigint,   -- working microseconds of one working day
    starts_us  bigint[], -- the day's intervals in microseconds after midnight
    ends_us    bigint[],
    cum_us     bigint[], -- working microseconds of the day before each interval
    week_n     int,      -- weekdays worked per week
    week_pre   int[],    -- [r + 1]: weekdays worked among the first r (from Monday)
    week_pos   int[],    -- day offsets (0 = Monday) of the weekdays worked
    x_day      int[],    -- exception days (days after 2001-01-01), a sentinel first
    x_add      int[],    -- +1 make-up day, -1 holiday (0 for the sentinel)
    x_cum      int[],    -- running sum of x_add
    x_n        int[],    -- working-day number of the day after each exception
    dl_keys    text[],   -- 'LEVEL/CATEGORY' of each case_deadline row
    dl_accept  bigint[], -- its accept_ms, resolve_ms
    dl_resolve bigint[]
);

CREATE FUNCTION work_cal_build() RETURNS work_cal
LANGUAGE plpgsql STABLE AS $$
DECLARE
    origin CONSTANT date := date '2001-01-01';
    cal work_calendar;
    r work_cal;
    total bigint := 0;
    e record;
    k int;
    w int;
BEGIN
    SELECT * INTO cal FROM work_calendar;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the working-time calendar is empty' USING ERRCODE = 'GR412';
    END IF;
    r.timezone := cal.timezone;
    r.starts_us := '{}';
    r.ends_us := '{}';
    r.cum_us := '{}';
    FOR i IN 1 .. cardinality(cal.starts_ms) LOOP
        r.starts_us := r.starts_us || cal.starts_ms[i]::bigint * 1000;
        r.ends_us := r.ends_us || cal.ends_ms[i]::bigint * 1000;
        r.cum_us := r.cum_us || total;
        total := total + (cal.ends_ms[i] - cal.starts_ms[i])::bigint * 1000;
    END LOOP;
    r.day_us := total;
    r.week_pre := '{0}';
    r.week_pos := '{}';
    FOR d IN 1 .. 7 LOOP
        IF d = ANY (cal.days) THEN
            r.week_pos := r.week_pos || (d - 1);
            r.week_pre := r.week_pre || (r.week_pre[d] + 1);
        ELSE
            r.week_pre := r.week_pre || r.week_pre[d];
        END IF;
    END LOOP;
    r.week_n := cardinality(r.week_pos);
    r.x_day := '{-2147483647}';
    r.x_add := '{0}';
    r.x_cum := '{0}';
    r.x_n := '{-2147483647}';
    -- Only the exceptions that change anything, in date order.
    FOR e IN
        SELECT d, -1 AS add FROM unnest(cal.holidays) d
         WHERE extract(isodow FROM d)::int = ANY (cal.days)
        UNION
        SELECT d, 1 FROM unnest(cal.workdays) d
         WHERE NOT extract(isodow FROM d)::int = ANY (cal.days)
        ORDER BY 1
    LOOP
        k := e.d - origin;
        r.x_day := r.x_day || k;
        r.x_add := r.x_add || e.add;
        r.x_cum := r.x_cum || (r.x_cum[cardinality(r.x_cum)] + e.add);
        -- weekpart(k + 1) + x_cum: the working-day number of the next day.
        w := ((k + 1) % 7 + 7) % 7;
        r.x_n := r.x_n || (((k + 1 - w) / 7) * r.week_n + r.week_pre[w + 1]
                           + r.x_cum[cardinality(r.x_cum)]);
    END LOOP;
    SELECT coalesce(array_agg(level || '/' || category ORDER BY level, category), '{}'),
           coalesce(array_agg(accept_ms ORDER BY level, category), '{}'),
           coalesce(array_agg(resolve_ms ORDER BY level, category), '{}')
      INTO r.dl_keys, r.dl_accept, r.dl_resolve
      FROM case_deadline;
    RETURN r;
END
$$;

-- What work_add and the others read: redefined by work_cal_refresh().
CREATE FUNCTION work_cal_current() RETURNS work_cal
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT NULL::work_cal $$;

-- Rebuilds work_cal_current() from the tables (by the trigger below after
-- any change to them). The advisory lock serializes concurrent rebuilds:
-- two CREATE OR REPLACE of one function at once fail ("tuple concurrently
-- updated").
CREATE FUNCTION work_cal_refresh() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    -- The schema the migrations ran in, whatever this caller's search_path.
    ns text := (SELECT relnamespace::regnamespace::text FROM pg_class
                 WHERE oid = 'work_calendar'::regclass);
    cal work_cal;
BEGIN
    PERFORM pg_advisory_xact_lock(7420004);
    cal := work_cal_build();
    -- The value goes in as a quoted literal (%L): no part of it is SQL.
    EXECUTE format('CREATE OR REPLACE FUNCTION %s.work_cal_current() RETURNS %s.work_cal '
                   'LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
                   ns, ns, format('SELECT %L::%s.work_cal', cal::text, ns));
END
$$;

CREATE FUNCTION work_cal_on_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- While the calendar row is being replaced it may be missing.
    IF EXISTS (SELECT 1 FROM work_calendar) THEN
        PERFORM work_cal_refresh();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER work_calendar_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON work_calendar FOR EACH STATEMENT EXECUTE FUNCTION work_cal_on_change();
CREATE TRIGGER case_deadline_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON case_deadline FOR EACH STATEMENT EXECUTE FUNCTION work_cal_on_change();

-- Replaces the calendar and the deadlines (gridd at start, from its
-- configuration: calendar_apply). Days are ISO weekdays; intervals are
-- milliseconds after local midnight, in order, not overlapping; the
-- deadline arrays are parallel, NULL for "no deadline". Several gridd
-- processes may call this at once with the same values: the advisory lock
-- serializes them and a call that changes nothing writes nothing (so the
-- other sessions keep their cached calendar). Returns whether anything
-- changed. Raises GR400 on bad input.
CREATE FUNCTION calendar_replace(p_timezone text, p_days int[], p_starts_ms int[],
                                 p_ends_ms int[], p_holidays date[], p_workdays date[],
                                 p_levels int[], p_categories text[], p_accept_ms bigint[],
                                 p_resolve_ms bigint[])
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(cardinality(p_starts_ms), 0);
    days int[] := (SELECT array_agg(DISTINCT d ORDER BY d) FROM unnest(p_days) d);
    hol date[] := coalesce((SELECT array_agg(DISTINCT d ORDER BY d) FROM unnest(p_holidays) d
                             WHERE d IS NOT NULL), '{}');
    mk date[] := coalesce((SELECT array_agg(DISTINCT d ORDER BY d) FROM unnest(p_workdays) d
                            WHERE d IS NOT NULL), '{}');
    old work_calendar;
    same boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(7420004);
    BEGIN
        PERFORM now() AT TIME ZONE p_timezone;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'time zone "%" is not known to PostgreSQL', p_timezone
            USING ERRCODE = 'GR400';
    END;
    IF n = 0 OR n <> coalesce(cardinality(p_ends_ms), 0) THEN
        RAISE EXCEPTION 'working hours: at least one interval, each with a start and an end'
            USING ERRCODE = 'GR400';
    END IF;
    FOR i IN 1 .. n LOOP
        IF p_starts_ms[i] IS NULL OR p_ends_ms[i] IS NULL OR p_starts_ms[i] < 0
           OR p_ends_ms[i] > 86400000 OR p_starts_ms[i] >= p_ends_ms[i]
           OR (i > 1 AND p_starts_ms[i] < p_ends_ms[i - 1]) THEN
            RAISE EXCEPTION 'working hours: interval % is empty, outside the day or overlaps', i
                USING ERRCODE = 'GR400';
        END IF;
    END LOOP;
    IF days IS NULL OR days[1] < 1 OR days[cardinality(days)] > 7
       OR array_position(days, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'working days: ISO weekdays 1-7, at least one' USING ERRCODE = 'GR400';
    END IF;
    IF hol && mk THEN
        RAISE EXCEPTION 'a day cannot be both a holiday and a make-up working day'
            USING ERRCODE = 'GR400';
    END IF;
    IF coalesce(cardinality(p_levels), 0) <> coalesce(cardinality(p_categories), 0)
       OR coalesce(cardinality(p_levels), 0) <> coalesce(cardinality(p_accept_ms), 0)
       OR coalesce(cardinality(p_levels), 0) <> coalesce(cardinality(p_resolve_ms), 0) THEN
        RAISE EXCEPTION 'deadlines: the arrays differ in length' USING ERRCODE = 'GR400';
    END IF;

    SELECT * INTO old FROM work_calendar;
    same := FOUND AND old.timezone = p_timezone AND old.days = days
        AND old.starts_ms = p_starts_ms AND old.ends_ms = p_ends_ms
        AND old.holidays = hol AND old.workdays = mk
        AND NOT EXISTS (
            (SELECT level, category, accept_ms, resolve_ms FROM case_deadline
             EXCEPT ALL
             SELECT * FROM unnest(p_levels, p_categories, p_accept_ms, p_resolve_ms))
            UNION ALL
            (SELECT * FROM unnest(p_levels, p_categories, p_accept_ms, p_resolve_ms)
             EXCEPT ALL
             SELECT level, category, accept_ms, resolve_ms FROM case_deadline));
    IF same THEN
        RETURN false;
    END IF;

    DELETE FROM case_deadline;
    INSERT INTO case_deadline (level, category, accept_ms, resolve_ms)
    SELECT * FROM unnest(p_levels, p_categories, p_accept_ms, p_resolve_ms);
    DELETE FROM work_calendar;
    INSERT INTO work_calendar (timezone, days, starts_ms, ends_ms, holidays, workdays)
    VALUES (p_timezone, days, p_starts_ms, p_ends_ms, hol, mk);
    RETURN true;
END
$$;

-- The working clock at p_at: working microseconds since the origin.
CREATE FUNCTION work_clock(p_at timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
DECLARE
    c work_cal := work_cal_current();
    loc timestamp := p_at AT TIME ZONE c.timezone;
    k int;   -- the local day, in days after the origin
    t bigint; -- the local time of day in microseconds
    w int;   -- the day of the week, 0 = Monday
    j int;   -- the exceptions before day k
    j2 int;  -- the exceptions up to day k
    i int;   -- the interval of the day starting at or before t (0 = none)
BEGIN
    IF NOT isfinite(p_at) THEN
        RAISE EXCEPTION 'working time: % is not a point in time', p_at USING ERRCODE = 'GR400';
    END IF;
    k := loc::date - date '2001-01-01';
    t := (date_part('epoch', loc::time) * 1000000)::bigint;
    w := (k % 7 + 7) % 7;
    j := width_bucket(k - 1, c.x_day);
    j2 := width_bucket(k, c.x_day);
    i := width_bucket(t, c.starts_us);
    -- The working days before k, plus what has been worked today.
    RETURN (((k - w) / 7) * c.week_n + c.week_pre[w + 1] + c.x_cum[j]) * c.day_us
        + CASE WHEN i > 0 AND (CASE WHEN j2 > j THEN c.x_add[j2] > 0
                                    ELSE c.week_pre[w + 2] > c.week_pre[w + 1] END)
               THEN c.cum_us[i] + least(t, c.ends_us[i]) - c.starts_us[i]
               ELSE 0 END;
END
$$;

-- The instants where the working clock shows each of p_clocks (NULL for a
-- NULL). With p_end, the earliest such instant: a deadline falls at the end
-- of a stretch of work (12:00, not 13:30). Without, the instant where work
-- goes on: the next working moment. One call for several values, since a
-- call costs about as much as the arithmetic of one value.
CREATE FUNCTION work_clock_at(p_clocks bigint[], p_end boolean) RETURNS timestamptz[]
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
DECLARE
    c work_cal := work_cal_current();
    res timestamptz[] := array_fill(NULL::timestamptz, ARRAY[cardinality(p_clocks)]);
    e int := CASE WHEN p_end THEN 1 ELSE 0 END;
    x int := 0;
    clock bigint;
    v bigint;
    n int;    -- the working day, numbered from the origin
    r bigint; -- the working microseconds into it: (0, day_us] with p_end, else [0, day_us)
    i int;    -- the interval of the day where r is reached
    j int;    -- the exceptions before that day
    m int;    -- its weekpart
    s int;    -- its place among the weekdays worked
    k int;    -- the day, in days after the origin
BEGIN
    FOREACH clock IN ARRAY p_clocks LOOP
        x := x + 1;
        CONTINUE WHEN clock IS NULL;
        -- With p_end, the value is reached at the end of the microsecond
        -- before it: floor((clock - 1) / day_us).
        v := clock - e;
        n := (v - ((v % c.day_us) + c.day_us) % c.day_us) / c.day_us;
        r := clock - n::bigint * c.day_us;
        i := width_bucket(r - e, c.cum_us);
        j := width_bucket(n, c.x_n);
        m := n - c.x_cum[j];
        s := (m % c.week_n + c.week_n) % c.week_n;
        k := ((m - s) / c.week_n) * 7 + c.week_pos[s + 1];
        -- Past the last exception the subscripts give NULL: no change.
        IF c.x_add[j + 1] > 0 AND c.x_day[j + 1] < k THEN
            k := c.x_day[j + 1];
        END IF;
        res[x] := (timestamp '2001-01-01'
                   + (k * 86400000000::bigint + c.starts_us[i] + r - c.cum_us[i])
                     * interval '1 microsecond') AT TIME ZONE c.timezone;
    END LOOP;
    RETURN res;
END
$$;

-- The instant when p_ms milliseconds of working time have passed from
-- p_from (counting from the next working moment when p_from is outside
-- working time). p_ms = 0: the next working moment at or after p_from.
CREATE FUNCTION work_add(p_from timestamptz, p_ms bigint) RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
BEGIN
    IF p_ms < 0 THEN
        RAISE EXCEPTION 'work_add: negative duration %', p_ms USING ERRCODE = 'GR400';
    END IF;
    -- greatest: where a daylight-saving change repeats an hour of working
    -- time, the clock runs back, and the result must not.
    RETURN greatest(p_from, (work_clock_at(ARRAY[work_clock(p_from) + p_ms * 1000], p_ms > 0))[1]);
END
$$;

-- Working milliseconds in [p_from, p_to); 0 when p_to <= p_from.
CREATE FUNCTION work_between(p_from timestamptz, p_to timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
BEGIN
    IF p_to <= p_from THEN
        RETURN 0;
    END IF;
    RETURN greatest(0, (work_clock(p_to) - work_clock(p_from)) / 1000);
END
$$;

-- The durations for a case of p_category at a node of p_level: the row for
-- (level, category), else (level, ''), else the default row. NULL: no
-- deadline.
CREATE FUNCTION case_deadline_ms(p_level int, p_category text,
                                 OUT accept_ms bigint, OUT resolve_ms bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    c work_cal := work_cal_current();
    p int := coalesce(array_position(c.dl_keys, p_level || '/' || coalesce(p_category, '')),
                      array_position(c.dl_keys, p_level || '/'),
                      array_position(c.dl_keys, '-1/'));
BEGIN
    accept_ms := c.dl_accept[p];
    resolve_ms := c.dl_resolve[p];
END
$$;

-- The deadlines of a case of p_category arriving at a node of p_level at
-- p_from: accept and resolve, each due after its working time from p_from,
-- with warnings at 50% and 80% of that working time. All three NULL when
-- the duration is NULL (no deadline).
CREATE FUNCTION case_deadlines(p_level int, p_category text, p_from timestamptz,
                               OUT accept_due timestamptz, OUT accept_warn50 timestamptz,
                               OUT accept_warn80 timestamptz, OUT resolve_due timestamptz,
                               OUT resolve_warn50 timestamptz, OUT resolve_warn80 timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    c work_cal := work_cal_current();
    p int := coalesce(array_position(c.dl_keys, p_level || '/' || coalesce(p_category, '')),
                      array_position(c.dl_keys, p_level || '/'),
                      array_position(c.dl_keys, '-1/'));
    a bigint := c.dl_accept[p] * 1000;
    r bigint := c.dl_resolve[p] * 1000;
    base bigint;
    t timestamptz[];
BEGIN
    IF p_from IS NULL OR (a IS NULL AND r IS NULL) THEN
        RETURN;
    END IF;
    base := work_clock(p_from);
    t := work_clock_at(ARRAY[base + a, base + a / 2, base + a * 4 / 5,
                             base + r, base + r / 2, base + r * 4 / 5], true);
    accept_due := t[1];
    accept_warn50 := t[2];
    accept_warn80 := t[3];
    resolve_due := t[4];
    resolve_warn50 := t[5];
    resolve_warn80 := t[6];
END
$$;

INSERT INTO work_calendar (timezone, days, starts_ms, ends_ms, holidays, workdays)
VALUES ('Asia/Shanghai', '{1,2,3,4,5}', '{32400000,48600000}', '{43200000,63000000}', '{}', '{}');
INSERT INTO case_deadline (level, category, accept_ms, resolve_ms)
VALUES (-1, '', 4 * 3600000, 3 * 7 * 3600000);
