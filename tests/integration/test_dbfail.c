/* PostgreSQL going away under a running gridd: writes answer UNAVAILABLE
 * within a second (not after their deadline), reads keep coming from the
 * cache, gridd never exits, and once PostgreSQL is back writes succeed
 * again without restarting anything. Uses a private cluster (pgcluster) so
 * that stopping it disturbs no other test. */
#include <stdio.h>
#include <unistd.h>

#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x

static int create(struct grid_client *c, const char *code, uint64_t *ret_ms)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateNodeRequest m = GRID__V1__CREATE_NODE_REQUEST__INIT;
	uint64_t t0 = itest_now_ms();

	m.parent_code = (char *)"WH-TZL-Z5-ZTY";
	m.code = (char *)code;
	m.name = (char *)"新楼";
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_NODE;
	req.create_node = &m;
	int code_ = itest_code_free(itest_call(c, &req));
	if (ret_ms)
		*ret_ms = itest_now_ms() - t0;
	return code_;
}

TEST(postgres_stopped_and_restarted)
{
	char dir[600], url[1024], out[1024];
	struct itest_gridd g;
	struct grid_client *c;
	uint64_t ms, deadline;
	int code;

	itest_pgcluster_up("pg", dir, sizeof(dir), url, sizeof(url));

	itest_gridd_start(&g, url, NULL);
	c = itest_connect(&g);
	itest_import_file(c, itest_sample_csv());
	ASSERT_EQ_INT(create(c, "WH-TZL-Z5-ZTY-B5", NULL), CODE(OK));

	itest_pgcluster("stop", dir, NULL, out, sizeof(out));
	/* Writes: UNAVAILABLE, quickly, every time. */
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "WH-TZL-Z5-ZTY-D%d", i);
		code = create(c, name, &ms);
		ASSERT_EQ_INT(code, CODE(UNAVAILABLE));
		ASSERT_MSG(ms < 1000, "UNAVAILABLE took %llu ms", (unsigned long long)ms);
	}
	/* Reads: served from the cache, including the last write. */
	ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z5-ZTY-B5"), CODE(OK));
	ASSERT(itest_gridd_alive(&g));

	itest_pgcluster("start", dir, NULL, out, sizeof(out));
	deadline = itest_now_ms() + 15000;
	do {
		code = create(c, "WH-TZL-Z5-ZTY-B6", NULL);
		if (code != CODE(OK))
			usleep(50000);
	} while (code == CODE(UNAVAILABLE) && itest_now_ms() < deadline);
	ASSERT_EQ_INT(code, CODE(OK));
	ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z5-ZTY-B6"), CODE(OK));
	/* None of the refused writes happened. */
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM grid_node WHERE code LIKE 'WH-TZL-Z5-ZTY-D%%'");
	char *v = itest_sql(url, sql);
	ASSERT_EQ_STR(v, "0");
	free(v);

	grid_client_destroy(c);
	ASSERT_EQ_INT(itest_gridd_stop(&g), 0);
	itest_pgcluster("destroy", dir, NULL, out, sizeof(out));
}

TEST(gridd_waits_for_postgres_at_start)
{
	char dir[600], url[1024], out[1024];
	const char *const extra[] = {"--set", "database.connect_wait_ms=20000", NULL};
	struct itest_gridd g;
	pid_t starter;

	itest_require_db();
	snprintf(dir, sizeof(dir), "%s/pg2", itest_tmpdir());
	itest_pgcluster("init", dir, NULL, out, sizeof(out));
	itest_pgcluster("url", dir, NULL, url, sizeof(url));
	/* PostgreSQL comes up a moment after gridd starts waiting for it. */
	fflush(stdout);
	starter = fork();
	ASSERT(starter >= 0);
	if (starter == 0) {
		usleep(700000);
		itest_pgcluster("start", dir, NULL, out, sizeof(out));
		_exit(0);
	}
	itest_gridd_start(&g, url, extra);
	struct grid_client *c = itest_connect(&g);
	itest_import_file(c, itest_sample_csv());
	grid_client_destroy(c);
	ASSERT_EQ_INT(itest_gridd_stop(&g), 0);
	itest_pgcluster("destroy", dir, NULL, out, sizeof(out));
}
