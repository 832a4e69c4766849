/* Group commit of RaiseCase (server/case/case_batch.c): hundreds of raises
 * in flight at once, with and without idempotency keys, repeated keys and
 * keys reused for another request, must each get the answer they would get
 * alone: one case per request (one per key), its event and its audit entry,
 * nothing else. A raise the database refuses fails alone; the others of its
 * batch are written, and so are they when one of its keys is claimed
 * meanwhile by another writer. Nodes, which those rows name without
 * foreign keys, cannot be deleted. A key kept before migration 0010 changed
 * how the raised case is kept still replays after it. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define CALL(x) GRID__V1__REQUEST__CALL_##x

static const char *const buildings[] = {"WH-TZL-Z5-ZTY-B1", "WH-TZL-Z5-ZTY-B2", "WH-TZL-Z5-SAZ-B2"};

enum { PLAIN = 200, KEYED = 100, GROUPS = 10, PER_GROUP = 10 };
enum { TOTAL = PLAIN + KEYED + GROUPS * PER_GROUP };

struct sent {
	char title[64];
	char key[64];
	const char *node;
	int code;
	uint64_t id;
	int state;
	int64_t resolve_due_ms;
	bool answered;
};

struct wave {
	struct sent s[TOTAL];
	int answered;
	int mismatched; /* replies whose case is not what was asked */
};

struct slot {
	struct wave *w;
	struct sent *s;
};

static void on_reply(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct slot *sl = data;

	ASSERT_EQ_INT(status, 0);
	ASSERT_MSG(!sl->s->answered, "a request was answered twice");
	sl->s->answered = true;
	sl->s->code = (int)r->status->code;
	if (r->raise_case) {
		sl->s->id = r->raise_case->id;
		sl->s->state = (int)r->raise_case->state;
		sl->s->resolve_due_ms = r->raise_case->resolve_due_ms;
		if (strcmp(r->raise_case->title, sl->s->title) != 0 ||
		    strcmp(r->raise_case->node_code, sl->s->node) != 0)
			sl->w->mismatched++;
	}
	sl->w->answered++;
}

static void send_raise(struct grid_client *c, struct slot *sl)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RaiseCaseRequest m = GRID__V1__RAISE_CASE_REQUEST__INIT;

	m.node_code = (char *)sl->s->node;
	m.title = sl->s->title;
	m.description = (char *)"楼道灯坏了";
	m.category = (char *)"facilities";
	m.channel = (char *)"hotline";
	req.call_case = CALL(RAISE_CASE);
	req.raise_case = &m;
	req.idempotency_key = sl->s->key;
	ASSERT_EQ_INT(grid_client_call_async(c, &req, on_reply, sl), 0);
}

static long count(const struct itest_fix *f, const char *sql)
{
	char *v = itest_sql(f->db.url, sql);
	long n = atol(v);

	free(v);
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A wave's start: gridd with the sample district, n clients as admin. */
static void wave_start(struct itest_fix *f, uv_loop_t *loop, struct wave *w,
		       struct grid_client **c, int n)
{
	memset(w, 0, sizeof(*w));
	itest_setup(f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	uv_loop_init(loop);
	for (int i = 0; i < n; i++)
		c[i] = itest_connect_async(loop, &f->g, f->g.admin_token);
}

static void wave_end(struct itest_fix *f, uv_loop_t *loop, struct grid_client **c, int n)
{
	for (int i = 0; i < n; i++)
		grid_client_destroy(c[i]);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	itest_teardown(f);
}

TEST(raises_in_flight_together_are_each_answered_once)
{
	enum { CONNS = 8 };
	struct itest_fix f;
	struct grid_client *c[CONNS];
	static struct wave w;
	static struct slot slots[TOTAL];
	uint64_t ids[TOTAL];
	size_t nids = 0;
	uv_loop_t loop;

	wave_start(&f, &loop, &w, c, CONNS);
	for (int i = 0; i < TOTAL; i++) {
		struct sent *s = &w.s[i];
		s->node = buildings[i % 3];
		if (i < PLAIN) {
			snprintf(s->title, sizeof(s->title), "无键 %d", i);
		} else if (i < PLAIN + KEYED) {
			snprintf(s->title, sizeof(s->title), "有键 %d", i);
			snprintf(s->key, sizeof(s->key), "batch-key-%d", i);
		} else {
			/* Ten identical requests per group, spread over the
			 * connections so that they meet in and across batches. */
			int g = (i - PLAIN - KEYED) % GROUPS;
			snprintf(s->title, sizeof(s->title), "重复 %d", g);
			snprintf(s->key, sizeof(s->key), "batch-dup-%d", g);
			s->node = buildings[g % 3];
		}
		slots[i] = (struct slot){&w, s};
	}
	/* All written before any reply is read: they arrive together. */
	for (int i = 0; i < TOTAL; i++)
		send_raise(c[i % CONNS], &slots[i]);
	uint64_t deadline = itest_now_ms() + 60000;
	while (w.answered < TOTAL && itest_now_ms() < deadline)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ_INT(w.answered, TOTAL);
	ASSERT_EQ_INT(w.mismatched, 0);
	for (int i = 0; i < TOTAL; i++)
		ASSERT_MSG(w.s[i].code == 0, "raise %d (%s): status %d", i, w.s[i].title,
			   w.s[i].code);

	/* One case per request without a repeated key, all different. */
	for (int i = 0; i < PLAIN + KEYED; i++)
		ids[nids++] = w.s[i].id;
	for (int g = 0; g < GROUPS; g++) {
		uint64_t first = w.s[PLAIN + KEYED + g].id;
		for (int k = 0; k < PER_GROUP; k++)
			ASSERT_EQ_UINT(w.s[PLAIN + KEYED + k * GROUPS + g].id, first);
		ids[nids++] = first;
	}
	qsort(ids, nids, sizeof(ids[0]), cmp_u64);
	for (size_t i = 1; i < nids; i++)
		ASSERT_MSG(ids[i] != ids[i - 1], "case %llu answered to two requests",
			   (unsigned long long)ids[i]);
	ASSERT(ids[0] > 0);

	/* In the database: exactly those, each with one event and one audit
	 * entry, and the audit chain intact. */
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_case"), (long)nids);
	ASSERT_EQ_INT(count(&f, "SELECT count(DISTINCT case_id) FROM grid_event "
				"WHERE kind = 'case.raised'"),
		      (long)nids);
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_event WHERE kind = 'case.raised'"),
		      (long)nids);
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM audit_log WHERE method = 'RaiseCase'"),
		      (long)nids);
	/* Each key kept with its case as raised (migrations 0009, 0010). */
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM idempotency i JOIN grid_case c "
				"ON c.id = (i.raised).id "
				"WHERE i.key LIKE 'batch-%' AND i.result IS NULL"),
		      KEYED + GROUPS);
	/* Every event names its case's node. */
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_event e JOIN grid_case c "
				"ON c.id = e.case_id WHERE e.node_id <> c.node_id"),
		      0);
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__VerifyAuditRequest vm = GRID__V1__VERIFY_AUDIT_REQUEST__INIT;
	req.call_case = CALL(VERIFY_AUDIT);
	req.verify_audit = &vm;
	Grid__V1__Reply *r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT(r->verify_audit->ok);
	grid_client_reply_free(r);
	/* Node ids are not checked by foreign keys any more (migration 0007):
	 * a node with cases must stay, so no node can be deleted. */
	free(itest_sql(f.db.url,
		       "DO $$ BEGIN DELETE FROM grid_node WHERE code = 'WH-TZL-Z5-ZTY-B2'; "
		       "RAISE EXCEPTION 'a node was deleted'; "
		       "EXCEPTION WHEN SQLSTATE 'GR412' THEN NULL; END $$"));
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_node WHERE code = 'WH-TZL-Z5-ZTY-B2'"),
		      1);
	/* They went together: a batch's cases share their received time. */
	long instants = count(&f, "SELECT count(DISTINCT received_at) FROM grid_case");
	fprintf(stderr, "# %zu cases written in %ld transactions\n", nids, instants);
	ASSERT(instants < (long)nids);

	/* Later, when the case has moved on, a retry gets the first answer,
	 * not the case as it is now; a key reused for another request is
	 * refused; neither writes anything. */
	char *sql = NULL;
	ASSERT(asprintf(&sql,
			"UPDATE grid_case SET state = 3, resolve_due = resolve_due + "
			"interval '1 day' WHERE id = %llu",
			(unsigned long long)w.s[PLAIN + 7].id) > 0);
	free(itest_sql(f.db.url, sql));
	free(sql);
	struct sent retry = w.s[PLAIN + 7], other = w.s[PLAIN + KEYED + 3];
	struct slot rs = {&w, &retry}, os = {&w, &other};
	snprintf(other.title, sizeof(other.title), "另一件事");
	retry.answered = other.answered = false;
	w.answered = 0;
	send_raise(c[0], &rs);
	send_raise(c[1], &os);
	while (w.answered < 2)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ_INT(retry.code, 0);
	ASSERT_EQ_UINT(retry.id, w.s[PLAIN + 7].id);
	ASSERT_EQ_INT(retry.state, w.s[PLAIN + 7].state);
	ASSERT_EQ_INT(retry.resolve_due_ms, w.s[PLAIN + 7].resolve_due_ms);
	ASSERT(retry.resolve_due_ms > 0);
	ASSERT_EQ_INT(other.code, CODE(ALREADY_EXISTS));
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_case"), (long)nids);

	wave_end(&f, &loop, c, CONNS);
}

TEST(a_raise_the_database_refuses_fails_alone)
{
	enum { N = 40, CONNS = 4 };
	struct itest_fix f;
	struct grid_client *c[CONNS];
	static struct wave w;
	static struct slot slots[N];
	uv_loop_t loop;

	wave_start(&f, &loop, &w, c, CONNS);
	/* A rule only the database knows: a title it refuses. */
	free(itest_sql(f.db.url,
		       "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ "
		       "BEGIN IF NEW.title LIKE 'poison%' THEN RAISE EXCEPTION 'poisoned title' "
		       "USING ERRCODE = 'GR400'; END IF; RETURN NEW; END $$"));
	free(itest_sql(f.db.url, "CREATE TRIGGER refuse_poison BEFORE INSERT ON grid_case "
				 "FOR EACH ROW EXECUTE FUNCTION refuse_poison()"));
	for (int i = 0; i < N; i++) {
		struct sent *s = &w.s[i];
		s->node = buildings[i % 3];
		snprintf(s->title, sizeof(s->title), "%s %d", i % 10 == 5 ? "poison" : "good", i);
		if (i % 2)
			snprintf(s->key, sizeof(s->key), "refuse-%d", i);
		slots[i] = (struct slot){&w, s};
	}
	for (int i = 0; i < N; i++)
		send_raise(c[i % CONNS], &slots[i]);
	while (w.answered < N)
		uv_run(&loop, UV_RUN_ONCE);
	for (int i = 0; i < N; i++) {
		if (i % 10 == 5)
			ASSERT_MSG(w.s[i].code == CODE(INVALID_ARGUMENT), "poison %d: status %d", i,
				   w.s[i].code);
		else
			ASSERT_MSG(w.s[i].code == 0, "raise %d: status %d", i, w.s[i].code);
	}
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_case"), N - N / 10);
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_case WHERE title LIKE 'poison%'"), 0);
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_event WHERE kind = 'case.raised'"),
		      N - N / 10);
	/* The refused ones kept no key: once the rule is gone, their retry
	 * raises them. */
	free(itest_sql(f.db.url, "DROP TRIGGER refuse_poison ON grid_case"));
	w.answered = 0;
	w.s[15].answered = false;
	send_raise(c[0], &slots[15]);
	while (w.answered < 1)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ_INT(w.s[15].code, 0);
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_case WHERE title LIKE 'poison%'"), 1);

	wave_end(&f, &loop, c, CONNS);
}

/* Runs loop for about ms milliseconds. */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
	uint64_t end = itest_now_ms() + ms;

	while (itest_now_ms() < end) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

static void pg_ok(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);

	ASSERT_MSG(PQresultStatus(res) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(pg));
	PQclear(res);
}

TEST(a_key_claimed_meanwhile_elsewhere_fails_only_its_request)
{
	enum { N = 12, CONNS = 3, TWIN = 5 };
	struct itest_fix f;
	struct grid_client *c[CONNS];
	static struct wave w;
	static struct slot slots[N];
	uv_loop_t loop;
	char *actor, *sql = NULL;

	wave_start(&f, &loop, &w, c, CONNS);
	for (int i = 0; i < N; i++) {
		struct sent *s = &w.s[i];
		s->node = buildings[i % 3];
		snprintf(s->title, sizeof(s->title), "孪生 %d", i);
		if (i % 2)
			snprintf(s->key, sizeof(s->key), "twin-%d", i);
		slots[i] = (struct slot){&w, s};
	}
	/* One raise first, to learn the admin's principal. */
	send_raise(c[0], &slots[0]);
	while (w.answered < 1)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ_INT(w.s[0].code, 0);
	actor = itest_sql(f.db.url, "SELECT reporter FROM grid_case");

	/* Another writer (another gridd, say) claims one of the keys in a
	 * transaction still open while the batch with that key is written:
	 * the batch waits for it, then fails on the key when it commits. */
	PGconn *other = PQconnectdb(f.db.url);
	ASSERT(PQstatus(other) == CONNECTION_OK);
	pg_ok(other, "BEGIN");
	ASSERT(asprintf(&sql,
			"INSERT INTO idempotency (principal, key, method, request_hash) "
			"VALUES ('%s', 'twin-%d', 'RaiseCase', '\\x00')",
			actor, TWIN) > 0);
	pg_ok(other, sql);
	free(sql);
	for (int i = 1; i < N; i++)
		send_raise(c[i % CONNS], &slots[i]);
	run_for(&loop, 500);
	ASSERT_MSG(!w.s[TWIN].answered, "the raise with the key claimed elsewhere did not wait");
	pg_ok(other, "COMMIT");
	PQfinish(other);
	uint64_t deadline = itest_now_ms() + 30000;
	while (w.answered < N && itest_now_ms() < deadline)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ_INT(w.answered, N);
	ASSERT_EQ_INT(w.mismatched, 0);
	/* Its request was not the other's: refused; the rest are raised. */
	for (int i = 0; i < N; i++) {
		if (i == TWIN)
			ASSERT_MSG(w.s[i].code == CODE(ALREADY_EXISTS), "twin: status %d",
				   w.s[i].code);
		else
			ASSERT_MSG(w.s[i].code == 0, "raise %d: status %d", i, w.s[i].code);
	}
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_case"), N - 1);
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM grid_event WHERE kind = 'case.raised'"),
		      N - 1);
	ASSERT_EQ_INT(count(&f, "SELECT count(*) FROM idempotency WHERE key LIKE 'twin-%' "
				"AND (raised).id IS NOT NULL"),
		      N / 2 - 1);
	free(actor);

	wave_end(&f, &loop, c, CONNS);
}

/* Asserts that the first value SQL gives is WANT. */
static void sql_is(const char *url, const char *sql, const char *want)
{
	char *v = itest_sql(url, sql);

	ASSERT_MSG(v && strcmp(v, want) == 0, "%s: \"%s\", not \"%s\"", sql, v ? v : "(none)",
		   want);
	free(v);
}

/* Two keyed raises at node 1, keys old-1 and old-2, through the batch function
 * as gridd calls it: a row per request,
 * "verdict|id|state|handler|title|result_note is empty|escalations". */
#define RAISE_TWO                                                                                  \
	"SELECT string_agg(concat_ws('|', r.verdict, (r.c).id, (r.c).state, "                      \
	"coalesce((r.c).handler, '-'), (r.c).title, (r.c).result_note = '', "                      \
	"(r.c).escalations), ' ' ORDER BY r.idx) "                                                 \
	"FROM case_raise_batch(ARRAY[1, 1]::bigint[], ARRAY['first', 'second'], ARRAY['', ''], "   \
	"ARRAY['other', 'other'], ARRAY['', ''], ARRAY['', ''], ARRAY['', ''], ARRAY[0, 0], "      \
	"ARRAY['app', 'app'], ARRAY['admin', 'admin'], ARRAY['old-1', 'old-2'], "                  \
	"ARRAY['\\x01', '\\x02']::bytea[], NULL) AS r"

/* Keys kept by a raise batch at schema 9 (the case as jsonb) are converted
 * by migration 0010 (the case as a case_raised row): a retry after the
 * upgrade still gets the case as first raised, though it moved on since. */
TEST(keys_kept_before_migration_0010_still_replay)
{
	static const char *const before[] = {
	    "0001_grid",  "0002_auth",	      "0003_events", "0004_calendar",	"0005_cases",
	    "0006_tasks", "0007_raise_batch", "0008_sweep",  "0009_raise_lean",
	};
	const char *root = getenv("GRID_SOURCE_ROOT"), *gridd = getenv("GRIDD");
	struct itest_db db;
	char path[600];

	ASSERT_MSG(root && gridd, "GRID_SOURCE_ROOT and GRIDD are set by meson");
	itest_db_create(&db);
	/* Schema 9, as gridd migrate leaves it. */
	free(itest_sql(db.url,
		       "CREATE TABLE schema_migration (version integer PRIMARY KEY,"
		       " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"));
	for (unsigned i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
		char *sql, mark[160];

		snprintf(path, sizeof(path), "%s/server/migrations/%s.sql", root, before[i]);
		sql = itest_read_file(path, NULL);
		/* One query string: one transaction, as gridd migrate runs it. */
		free(itest_sql(db.url, sql));
		snprintf(mark, sizeof(mark), "INSERT INTO schema_migration VALUES (%u, '%s')",
			 i + 1, before[i]);
		free(itest_sql(db.url, mark));
		free(sql);
	}
	free(itest_sql(db.url, "INSERT INTO grid_node (id, level, code, name, path, version) "
			       "VALUES (1, 2, 'C1', 'Community', 'C1', 1)"));
	sql_is(db.url, RAISE_TWO, "new|1|1|-|first|t|0 new|2|1|-|second|t|0");
	sql_is(db.url, "SELECT count(*) FROM idempotency WHERE raised IS NOT NULL", "2");
	/* The first case moves on: accepted, escalated. */
	free(itest_sql(db.url,
		       "UPDATE grid_case SET state = 2, handler = 'handler', escalations = 1 "
		       "WHERE id = 1"));

	const char *const argv[] = {gridd,  "migrate", "--database-url", db.url, "--log-level",
				    "warn", NULL};
	char *out = NULL, *err = NULL;
	int rc = itest_run(argv, NULL, NULL, &out, &err);
	ASSERT_MSG(rc == 0, "gridd migrate: %d: %s", rc, err ? err : "");
	free(out);
	free(err);
	sql_is(db.url, "SELECT max(version) >= 10 FROM schema_migration", "t");
	sql_is(db.url, "SELECT count(*) FROM idempotency WHERE (raised).id IS NOT NULL", "2");

	/* The same two requests again: both replayed, as they were raised. */
	sql_is(db.url, RAISE_TWO, "replay|1|1|-|first|t|0 replay|2|1|-|second|t|0");
	sql_is(db.url, "SELECT count(*) FROM grid_case", "2");
	itest_db_drop(&db);
}
