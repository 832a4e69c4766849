/* The audit trail: every write leaves an entry with its actor, method, node
 * and summary, in the same transaction; the application cannot change or
 * delete entries; an entry edited, deleted or reordered by hand in the
 * database is found by VerifyAudit at the right place; and concurrent
 * writers on two gridd processes never fork the chain. */
#include <unistd.h>

#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define ROLE(x) GRID__V1__ROLE__ROLE_##x

static Grid__V1__Reply *verify(struct grid_client *c)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__VerifyAuditRequest m = GRID__V1__VERIFY_AUDIT_REQUEST__INIT;

	req.call_case = GRID__V1__REQUEST__CALL_VERIFY_AUDIT;
	req.verify_audit = &m;
	Grid__V1__Reply *r = itest_call(c, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	return r;
}

static Grid__V1__Reply *list(struct grid_client *c, const char *node, uint32_t n)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListAuditRequest m = GRID__V1__LIST_AUDIT_REQUEST__INIT;

	m.node_code = (char *)node;
	m.page_size = n;
	req.call_case = GRID__V1__REQUEST__CALL_LIST_AUDIT;
	req.list_audit = &m;
	return itest_call(c, &req);
}

/* Runs SQL as the database superuser with the append-only triggers off,
 * as someone tampering by hand would. */
static void tamper(struct itest_fix *f, const char *sql)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "BEGIN; SET LOCAL session_replication_role = replica; %s; COMMIT", sql);
	free(itest_sql(f->db.url, buf));
}

TEST(every_write_is_recorded)
{
	struct itest_fix f;
	Grid__V1__Reply *r;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(f.admin, "tzl", "tzl-password-1", ROLE(COMMUNITY_STAFF), "WH-TZL");
	struct grid_client *staff = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(staff, "tzl", "tzl-password-1", NULL), 0);
	ASSERT_EQ_INT(itest_rename_node(staff, "WH-TZL-Z5-FCD", "芳草地小区"), 0);
	/* A refused write leaves nothing. */
	ASSERT_EQ_INT(itest_rename_node(staff, "WH-YLDL", "x"), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(itest_rename_node(staff, "WH-TZL-Z5-FCD", ""), CODE(INVALID_ARGUMENT));

	r = list(f.admin, "", 10);
	ASSERT_EQ_INT(itest_code(r), 0);
	/* Newest first: the rename, tzl's login, the user's creation, the
	 * import, admin's login, the bootstrap. */
	ASSERT(r->list_audit->n_entries >= 6);
	Grid__V1__AuditEntry *e = r->list_audit->entries[0];
	ASSERT_EQ_STR(e->actor, "tzl");
	ASSERT_EQ_STR(e->method, "RenameNode");
	ASSERT_EQ_STR(e->node_code, "WH-TZL-Z5-FCD");
	ASSERT(strstr(e->summary, "芳草地") != NULL && strstr(e->summary, "芳草地小区") != NULL);
	ASSERT_EQ_STR(r->list_audit->entries[1]->method, "Login");
	ASSERT_EQ_STR(r->list_audit->entries[2]->method, "CreateUser");
	ASSERT_EQ_STR(r->list_audit->entries[2]->actor, ITEST_ADMIN);
	ASSERT_EQ_STR(r->list_audit->entries[3]->method, "ImportGrid");
	uint64_t last = r->list_audit->entries[0]->seq;
	ASSERT_EQ_UINT(r->list_audit->entries[r->list_audit->n_entries - 1]->seq, 1);
	grid_client_reply_free(r);

	/* The staff of 桐梓林 sees what happened there (the rename, and its
	 * own account being made there), not the rest. */
	r = list(staff, "", 50);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_audit->n_entries, 2);
	ASSERT_EQ_UINT(r->list_audit->entries[0]->seq, last);
	ASSERT_EQ_STR(r->list_audit->entries[1]->method, "CreateUser");
	ASSERT(strstr(r->list_audit->entries[1]->summary, "community_staff@WH-TZL") != NULL);
	grid_client_reply_free(r);
	r = list(staff, "WH-YLDL", 50);
	ASSERT_EQ_INT(itest_code(r), CODE(PERMISSION_DENIED));
	grid_client_reply_free(r);

	r = verify(f.admin);
	ASSERT(r->verify_audit->ok);
	ASSERT_EQ_UINT(r->verify_audit->rows_checked, last);
	grid_client_reply_free(r);
	grid_client_destroy(staff);
	itest_teardown(&f);
}

TEST(append_only_for_the_application)
{
	struct itest_fix f;
	char *before, *after;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	before = itest_sql(f.db.url, "SELECT count(*) FROM audit_log");
	/* Without switching the triggers off, even the owner cannot. */
	const char *sqls[] = {"UPDATE audit_log SET summary = 'x' WHERE seq = 1",
			      "DELETE FROM audit_log WHERE seq = 1", "TRUNCATE audit_log"};
	for (int i = 0; i < 3; i++) {
		char cmd[512];
		snprintf(cmd, sizeof(cmd),
			 "DO $$ BEGIN %s; EXCEPTION WHEN SQLSTATE 'GR403' THEN NULL; END $$",
			 sqls[i]);
		free(itest_sql(f.db.url, cmd));
	}
	after = itest_sql(f.db.url, "SELECT count(*) FROM audit_log");
	ASSERT_EQ_STR(after, before);
	char *summary = itest_sql(f.db.url, "SELECT summary FROM audit_log WHERE seq = 1");
	ASSERT(strcmp(summary, "x") != 0);
	free(summary);
	free(before);
	free(after);
	itest_teardown(&f);
}

static void assert_broken_at(struct itest_fix *f, uint64_t seq, const char *word)
{
	Grid__V1__Reply *r = verify(f->admin);

	ASSERT_MSG(!r->verify_audit->ok, "tampering went unnoticed");
	ASSERT_EQ_UINT(r->verify_audit->first_bad_seq, seq);
	ASSERT_MSG(strstr(r->verify_audit->problem, word) != NULL, "problem: %s",
		   r->verify_audit->problem);
	grid_client_reply_free(r);
}

/* Six writes after the import, so there are entries on both sides. */
static void some_history(struct itest_fix *f)
{
	for (int i = 0; i < 6; i++) {
		char name[32];
		snprintf(name, sizeof(name), "名字%d", i);
		ASSERT_EQ_INT(itest_rename_node(f->admin, "WH-TZL-Z5-SAZ", name), 0);
	}
	Grid__V1__Reply *r = verify(f->admin);
	ASSERT(r->verify_audit->ok);
	grid_client_reply_free(r);
}

/* A trail with some history, then sql run on it by hand: VerifyAudit finds
 * the chain broken at seq, for a reason that says word. */
static void assert_tampering_found(const char *sql, uint64_t seq, const char *word)
{
	struct itest_fix f;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	some_history(&f);
	tamper(&f, sql);
	assert_broken_at(&f, seq, word);
	itest_teardown(&f);
}

TEST(an_edited_entry_is_found)
{
	assert_tampering_found("UPDATE audit_log SET summary = 'nothing happened' WHERE seq = 5", 5,
			       "edited");
	/* Edited and re-hashed with the same formula: the next link breaks. */
	assert_tampering_found(
	    "UPDATE audit_log SET actor = 'someone-else', hash = sha256(prev_hash || "
	    "audit_canonical(seq, at, 'someone-else', method, node_id, node_code, summary)) "
	    "WHERE seq = 5",
	    6, "link");
}

TEST(a_deleted_entry_is_found)
{
	struct itest_fix f;

	assert_tampering_found("DELETE FROM audit_log WHERE seq = 4", 4, "missing");

	/* The newest entries removed, head left alone. */
	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	some_history(&f);
	tamper(&f, "DELETE FROM audit_log WHERE seq >= (SELECT max(seq) - 1 FROM audit_log)");
	char *max = itest_sql(f.db.url, "SELECT max(seq) FROM audit_log");
	assert_broken_at(&f, strtoull(max, NULL, 10) + 1, "end");
	free(max);
	itest_teardown(&f);
}

TEST(reordered_entries_are_found)
{
	/* Swap the contents of entries 5 and 6, keeping their numbers. */
	assert_tampering_found("UPDATE audit_log a SET summary = b.summary, hash = b.hash, "
			       "prev_hash = b.prev_hash FROM audit_log b "
			       "WHERE (a.seq, b.seq) IN ((5, 6), (6, 5))",
			       5, "link");
}

struct writer {
	struct grid_client *c;
	int done, failed;
	int n;
	const char *node;
};

static void on_renamed(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct writer *w = data;

	w->done++;
	if (status < 0 || r->status->code != CODE(OK))
		w->failed++;
}

static void on_writer_authenticated(struct grid_client *c, int status, const Grid__V1__Reply *r,
				    void *data)
{
	struct writer *w = data;

	ASSERT_EQ_INT(r->status->code, CODE(OK));
	for (int i = 0; i < w->n; i++) {
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__RenameNodeRequest m = GRID__V1__RENAME_NODE_REQUEST__INIT;
		char name[32];
		snprintf(name, sizeof(name), "并发%d", i);
		m.code = (char *)w->node;
		m.name = name;
		req.call_case = GRID__V1__REQUEST__CALL_RENAME_NODE;
		req.rename_node = &m;
		ASSERT_EQ_INT(grid_client_call_async(c, &req, on_renamed, w), 0);
	}
}

static char writer_token[128];

static void on_writer_connect(struct grid_client *c, int status, void *data)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest m = GRID__V1__AUTHENTICATE_REQUEST__INIT;

	ASSERT_EQ_INT(status, 0);
	m.token = writer_token;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &m;
	ASSERT_EQ_INT(grid_client_call_async(c, &req, on_writer_authenticated, data), 0);
}

TEST(concurrent_writers_never_fork_the_chain)
{
	static const char *const nodes[] = {"WH-TZL-Z1", "WH-TZL-Z2",  "WH-TZL-Z3",  "WH-TZL-Z4",
					    "WH-TZL-Z5", "WH-YLDL-Z1", "WH-YLDL-Z2", "WH-HCNZ"};
	struct itest_fix f;
	struct itest_gridd other;
	struct writer w[8] = {0};
	uv_loop_t loop;
	int done = 0;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_gridd_start(&other, f.db.url, NULL);
	snprintf(writer_token, sizeof(writer_token), "%s", f.g.admin_token);
	char *before = itest_sql(f.db.url, "SELECT count(*) FROM audit_log");
	uv_loop_init(&loop);
	for (int i = 0; i < 8; i++) {
		w[i].n = 25;
		w[i].node = nodes[i];
		w[i].c = grid_client_create(&loop, NULL);
		ASSERT_EQ_INT(grid_client_connect_async(w[i].c, i % 2 ? other.address : f.g.address,
							on_writer_connect, &w[i]),
			      0);
	}
	uint64_t t0 = itest_now_ms();
	while (done < 8 * 25 && itest_now_ms() - t0 < 60000) {
		uv_run(&loop, UV_RUN_ONCE);
		done = 0;
		for (int i = 0; i < 8; i++)
			done += w[i].done;
	}
	for (int i = 0; i < 8; i++) {
		ASSERT_EQ_INT(w[i].failed, 0);
		grid_client_destroy(w[i].c);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	ASSERT_EQ_INT(uv_loop_close(&loop), 0);
	ASSERT_EQ_INT(done, 200);

	char *after = itest_sql(f.db.url, "SELECT count(*) FROM audit_log");
	ASSERT_EQ_INT(atoi(after) - atoi(before), 200);
	/* One chain: numbers without gaps or repeats, each linked to the one
	 * before, and the whole verifies. */
	char *gaps = itest_sql(f.db.url, "SELECT count(*) FROM audit_log a JOIN audit_log b "
					 "ON b.seq = a.seq + 1 WHERE b.prev_hash <> a.hash");
	ASSERT_EQ_STR(gaps, "0");
	Grid__V1__Reply *r = verify(f.admin);
	ASSERT(r->verify_audit->ok);
	ASSERT_EQ_UINT(r->verify_audit->rows_checked, (uint64_t)atoi(after));
	grid_client_reply_free(r);
	free(before);
	free(after);
	free(gaps);
	ASSERT_EQ_INT(itest_gridd_stop(&other), 0);
	itest_teardown(&f);
}
