/* gridbench against a real gridd, briefly, so that the benchmark tool cannot
 * rot unnoticed: what it reports must match what it did (the requests it
 * counts, its zero errors) and what the database holds afterwards (one case
 * per raise it counted, one idempotency record per key, a resolved case per
 * claim, a task per task). Also its command-line errors and a refused token.
 * Each run lasts a second or two; bench/run is where the figures come from.
 *
 * GRIDBENCH (set by tests/integration/meson.build) is the binary under test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness/itest.h"

struct run {
	int status; /* exit code; -1 when killed */
	char *out, *err;
};

/* Runs gridbench with args (NULL terminated); with g, --server and the
 * admin's token come first. */
static void gridbench(const struct itest_gridd *g, const char *const *args, struct run *ret)
{
	const char *bin = getenv("GRIDBENCH");
	const char *argv[48];
	int n = 0;

	if (!bin || !*bin)
		TEST_SKIP("GRIDBENCH is not set");
	argv[n++] = bin;
	if (g) {
		argv[n++] = "--server";
		argv[n++] = g->address;
		argv[n++] = "--token";
		argv[n++] = g->admin_token;
	}
	for (; *args && n < 46; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	ret->status = itest_run(argv, NULL, NULL, &ret->out, &ret->err);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* The number after "key": in json, searching from the object that follows
 * "\"<within>\":{" (NULL: from the start, i.e. the top level, whose keys
 * gridbench writes before its nested objects). Fails the test when absent. */
static double json_num(const char *json, const char *within, const char *key)
{
	char pat[80];
	const char *p = json;
	char *end;
	double v;

	if (within) {
		snprintf(pat, sizeof(pat), "\"%s\":{", within);
		p = strstr(json, pat);
		ASSERT_MSG(p, "no \"%s\" object in %s", within, json);
	}
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(p, pat);
	ASSERT_MSG(p, "no \"%s\" in %s", key, json);
	p += strlen(pat);
	v = strtod(p, &end);
	ASSERT_MSG(end != p, "\"%s\" is not a number in %s", key, json);
	return v;
}

static long sql_long(const char *url, const char *sql)
{
	char *v = itest_sql(url, sql);
	long n;

	ASSERT_NOT_NULL(v);
	n = strtol(v, NULL, 10);
	free(v);
	return n;
}

/* A fixed number of raises: every one counted, every one in the database
 * with its idempotency record, all at buildings (the default targets); a
 * fixed number of claims, each resolving a case. */
TEST(raise_requests_are_in_the_database)
{
	struct itest_fix f;
	struct run r;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE);
	gridbench(&f.g,
		  (const char *const[]){"--op", "raise", "-c", "4", "-P", "4", "-n", "300",
					"--json", NULL},
		  &r);
	ASSERT_MSG(r.status == 0, "gridbench exited %d: %s", r.status, r.err);
	ASSERT_EQ_INT((int)json_num(r.out, NULL, "requests"), 300);
	ASSERT_EQ_INT((int)json_num(r.out, NULL, "ok"), 300);
	ASSERT_EQ_INT((int)json_num(r.out, NULL, "errors"), 0);
	ASSERT_EQ_INT((int)json_num(r.out, "raise", "ok"), 300);
	ASSERT(json_num(r.out, NULL, "throughput") > 0);
	/* The sample grid has 26 buildings. */
	ASSERT_EQ_INT((int)json_num(r.out, NULL, "nodes"), 26);
	run_free(&r);

	/* Ten more at one building, then ten claims there, one at a time:
	 * each finds a case and takes it through to resolved. */
	gridbench(&f.g,
		  (const char *const[]){"--op", "raise", "--node", "WH-TZL-Z5-ZTY-B1", "-c", "1",
					"-n", "10", "--json", NULL},
		  &r);
	ASSERT_MSG(r.status == 0, "gridbench exited %d: %s", r.status, r.err);
	ASSERT_EQ_INT((int)json_num(r.out, NULL, "ok"), 10);
	run_free(&r);
	gridbench(&f.g,
		  (const char *const[]){"--op", "claim", "--node", "WH-TZL-Z5-ZTY-B1", "-c", "1",
					"-n", "10", "--json", NULL},
		  &r);
	ASSERT_MSG(r.status == 0, "gridbench exited %d: %s", r.status, r.err);
	ASSERT_EQ_INT((int)json_num(r.out, "claim", "ok"), 10);
	ASSERT_EQ_INT((int)json_num(r.out, "claim", "empty"), 0);
	run_free(&r);

	ASSERT_EQ_INT(sql_long(f.db.url, "SELECT count(*) FROM grid_case"), 310);
	ASSERT_EQ_INT(sql_long(f.db.url, "SELECT count(*) FROM grid_case c JOIN grid_node n"
					 " ON n.id = c.origin_node_id WHERE n.level <> 5"),
		      0);
	ASSERT_EQ_INT(sql_long(f.db.url, "SELECT count(DISTINCT key) FROM idempotency"
					 " WHERE key LIKE 'gb-%' AND method = 'RaiseCase'"),
		      310);
	ASSERT_EQ_INT(sql_long(f.db.url, "SELECT count(*) FROM grid_case c JOIN grid_node n"
					 " ON n.id = c.node_id WHERE c.state = 5"
					 " AND n.code = 'WH-TZL-Z5-ZTY-B1'"),
		      10);
	itest_teardown(&f);
}

/* Every operation for a couple of seconds: none fails, each ran, and the
 * database agrees with the counts gridbench reports. */
TEST(mix_of_every_operation_matches_the_database)
{
	struct itest_fix f;
	struct run r;
	long raised, claimed, empty, tasks;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE);
	gridbench(&f.g,
		  (const char *const[]){"--mix", "raise=4,get=2,children=2,inbox=1,claim=2,task=1",
					"-c", "4", "-P", "2", "-d", "1.5", "--json", NULL},
		  &r);
	ASSERT_MSG(r.status == 0, "gridbench exited %d: %s", r.status, r.err);
	ASSERT_MSG(json_num(r.out, NULL, "errors") == 0, "errors: %s", r.out);
	ASSERT(json_num(r.out, NULL, "requests") > 0);
	ASSERT_EQ_INT((int)json_num(r.out, NULL, "requests"), (int)json_num(r.out, NULL, "ok"));
	for (const char *const *op =
		 (const char *const[]){"raise", "get", "children", "inbox", "claim", "task", NULL};
	     *op; op++)
		ASSERT_MSG(json_num(r.out, *op, "ok") > 0, "no %s: %s", *op, r.out);

	raised = (long)json_num(r.out, "raise", "ok");
	claimed = (long)json_num(r.out, "claim", "ok");
	empty = (long)json_num(r.out, "claim", "empty");
	tasks = (long)json_num(r.out, "task", "ok");
	ASSERT_EQ_INT(sql_long(f.db.url, "SELECT count(*) FROM grid_case"), raised);
	/* A claim that found a case took it through to resolved. */
	ASSERT_EQ_INT(sql_long(f.db.url, "SELECT count(*) FROM grid_case WHERE state = 5"),
		      claimed - empty);
	ASSERT_EQ_INT(sql_long(f.db.url, "SELECT count(*) FROM task"), tasks);
	run_free(&r);
	itest_teardown(&f);
}

/* The open loop starts requests on schedule and never more than the
 * schedule allows; the text report names the operation and the errors; a
 * node that is not there and a refused token stop it before the load. */
TEST(rate_text_report_and_refusals)
{
	struct itest_fix f;
	struct run r;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE);
	gridbench(&f.g,
		  (const char *const[]){"--op", "get", "-c", "2", "--rate", "200", "-d", "1",
					"--node", "WH-TZL-Z5-ZTY-B1", "--json", NULL},
		  &r);
	ASSERT_MSG(r.status == 0, "gridbench exited %d: %s", r.status, r.err);
	ASSERT(json_num(r.out, NULL, "requests") > 0);
	ASSERT(json_num(r.out, NULL, "requests") <= 201);
	ASSERT_EQ_INT((int)json_num(r.out, NULL, "nodes"), 1);
	ASSERT_EQ_INT((int)json_num(r.out, NULL, "errors"), 0);
	run_free(&r);

	/* A node outside the grid is refused before the load starts. */
	gridbench(&f.g, (const char *const[]){"--op", "raise", "--node", "NO-SUCH", NULL}, &r);
	ASSERT_EQ_INT(r.status, 1);
	ASSERT_MSG(strstr(r.err, "NO-SUCH") && strstr(r.err, "NOT_FOUND"), "stderr: %s", r.err);
	run_free(&r);

	gridbench(&f.g, (const char *const[]){"--op", "children", "-n", "50", NULL}, &r);
	ASSERT_MSG(r.status == 0, "gridbench exited %d: %s", r.status, r.err);
	ASSERT_MSG(strstr(r.out, "children") && strstr(r.out, "p99"), "stdout: %s", r.out);
	ASSERT_MSG(strstr(r.out, "errors by status code:\n  none"), "stdout: %s", r.out);
	run_free(&r);

	/* A token file as gridctl writes it. */
	{
		char path[600];
		FILE *tf;
		snprintf(path, sizeof(path), "%s/token", itest_tmpdir());
		tf = fopen(path, "w");
		ASSERT_NOT_NULL(tf);
		fprintf(tf, "server=%s\ntoken=%s\n", f.g.address, f.g.admin_token);
		fclose(tf);
		gridbench(NULL,
			  (const char *const[]){"--server", f.g.address, "--token-file", path,
						"--op", "get", "-n", "5", "--json", NULL},
			  &r);
		ASSERT_MSG(r.status == 0, "gridbench exited %d: %s", r.status, r.err);
		ASSERT_EQ_INT((int)json_num(r.out, "get", "ok"), 5);
		run_free(&r);
	}

	/* A refused token is reported with the server's code, and exits 1. */
	gridbench(NULL,
		  (const char *const[]){"--server", f.g.address, "--token", "gs_not_a_session",
					"--op", "get", "-n", "10", NULL},
		  &r);
	ASSERT_EQ_INT(r.status, 1);
	ASSERT_MSG(strstr(r.err, "UNAUTHENTICATED"), "stderr: %s", r.err);
	run_free(&r);
	itest_teardown(&f);
}

/* Bad command lines exit 2 with a message naming the problem, before any
 * connection. */
TEST(bad_arguments_exit_2)
{
	static const struct {
		const char *args[8];
		const char *says;
	} cases[] = {
	    {{"--op", "fly", NULL}, "unknown operation 'fly'"},
	    {{"-c", "0", "--token", "x", NULL}, "--connections: 0 is out of range"},
	    {{"--mix", "raise=x", "--token", "x", NULL}, "not a whole number"},
	    {{"--mix", "raise", "--token", "x", NULL}, "should be OP=WEIGHT"},
	    {{"-d", "2", "-n", "5", "--token", "x", NULL}, "exclude each other"},
	    {{"--op", "get", NULL}, "not logged in"},
	    {{"--server", "a:b:c", "--token", "x", NULL}, "not HOST:PORT"},
	    {{"--user", "admin", "--token", "x", NULL}, "exclude each other"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		gridbench(NULL, cases[i].args, &r);
		ASSERT_MSG(r.status == 2, "case %zu: exit %d", i, r.status);
		ASSERT_MSG(strstr(r.err, cases[i].says), "case %zu: stderr: %s", i, r.err);
		run_free(&r);
	}
}
