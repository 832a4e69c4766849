/* gridd under valgrind: no definite leak, and no memory error, after a clean
 * shutdown.
 *
 * gridd starts through a wrapper script that runs it under valgrind
 * (memcheck, --leak-check=full, definite leaks and memory errors counted as
 * errors with their own exit status), serves a few calls of every kind that
 * keeps state (login, a cached read, a case raised through the database, a
 * live subscription left open), and gets SIGTERM with its clients still
 * connected. It must exit 0, and valgrind's report must show no definite
 * leak. Slow (valgrind runs gridd some 20 times slower): behind
 * GRID_TEST_LONG=1 (scripts/test --long), skipped otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness/itest.h"

/* What valgrind exits with when it found something, so that it cannot be
 * taken for gridd's own status. */
#define VALGRIND_ERROR_EXIT 99

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	fclose(f);
	return s;
}

/* The path of valgrind on PATH, or NULL. */
static char *find_valgrind(void)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;
	static char found[4096];

	if (!path)
		return NULL;
	copy = strdup(path);
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(found, sizeof(found), "%s/valgrind", dir);
		if (access(found, X_OK) == 0) {
			free(copy);
			return found;
		}
	}
	free(copy);
	return NULL;
}

/* Points GRIDD at a script that runs the real gridd under valgrind, with
 * its report in log. */
static void wrap_gridd(const char *valgrind, const char *log)
{
	const char *gridd = getenv("GRIDD");
	char script[4096];
	FILE *f;

	ASSERT_MSG(gridd, "GRIDD is not set");
	snprintf(script, sizeof(script), "%s/gridd-valgrind.sh", itest_tmpdir());
	f = fopen(script, "w");
	ASSERT_MSG(f, "cannot write %s: %s", script, strerror(errno));
	fprintf(
	    f,
	    "#!/bin/sh\n"
	    "exec '%s' --quiet --leak-check=full --show-leak-kinds=definite "
	    "--errors-for-leak-kinds=definite --error-exitcode=%d --log-file='%s' '%s' \"$@\"\n",
	    valgrind, VALGRIND_ERROR_EXIT, log, gridd);
	ASSERT(fclose(f) == 0);
	ASSERT(chmod(script, 0755) == 0);
	ASSERT(setenv("GRIDD", strdup(script), 1) == 0);
}

static void get_node(struct grid_client *c, const char *code)
{
	Grid__V1__Reply *r = itest_get_node_reply(c, code);

	ASSERT_MSG(itest_code(r) == 0, "GetNode %s: %s", code, r->status->message);
	ASSERT_EQ_STR(r->get_node->code, code);
	grid_client_reply_free(r);
}

static void raise_case(struct grid_client *c, const char *node)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RaiseCaseRequest m = GRID__V1__RAISE_CASE_REQUEST__INIT;
	Grid__V1__Reply *r;

	m.node_code = (char *)node;
	m.title = (char *)"楼道灯坏了";
	m.category = (char *)"facilities";
	m.channel = (char *)"visit";
	req.call_case = GRID__V1__REQUEST__CALL_RAISE_CASE;
	req.raise_case = &m;
	req.idempotency_key = (char *)"valgrind-raise-1";
	r = itest_call(c, &req);
	ASSERT_MSG(itest_code(r) == 0, "RaiseCase: %s", r->status->message);
	ASSERT(r->raise_case->id > 0);
	grid_client_reply_free(r);
}

static void subscribe(struct grid_client *c, const char *node)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__SubscribeRequest m = GRID__V1__SUBSCRIBE_REQUEST__INIT;

	m.node_code = (char *)node;
	req.call_case = GRID__V1__REQUEST__CALL_SUBSCRIBE;
	req.subscribe = &m;
	ASSERT_EQ_INT(itest_code_free(itest_call(c, &req)), 0);
}

TEST(clean_shutdown_without_definite_leaks)
{
	struct itest_fix f;
	struct grid_client *watcher;
	char log[4096];
	char *report;
	const char *valgrind;
	int status;

	itest_require_db();
	if (!getenv("GRID_TEST_LONG") || strcmp(getenv("GRID_TEST_LONG"), "1") != 0)
		TEST_SKIP("long test (GRID_TEST_LONG=1, scripts/test --long)");
	valgrind = find_valgrind();
	ASSERT_MSG(valgrind, "valgrind is not installed (apt-get install valgrind; scripts/test "
			     "--long installs it)");
	snprintf(log, sizeof(log), "%s/valgrind-gridd.log", itest_tmpdir());
	wrap_gridd(valgrind, log);

	/* Login (the admin client), the import of the sample grid, reads
	 * from the cache, a write through the pool, a subscription. */
	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	watcher = itest_connect(&f.g);
	subscribe(watcher, "WH-TZL");
	get_node(f.admin, "WH-TZL-Z5-ZTY");
	raise_case(f.admin, "WH-TZL-Z5-ZTY-B1");
	raise_case(f.admin, "WH-TZL-Z5-ZTY-B1"); /* the stored reply */
	itest_ping(watcher);

	/* SIGTERM with both clients still connected and subscribed. */
	status = itest_gridd_stop(&f.g);
	report = slurp(log);
	ASSERT_MSG(report, "no valgrind report in %s", log);
	ASSERT_MSG(status == 0, "gridd under valgrind exited with %d%s; valgrind's report:\n%s",
		   status, status == VALGRIND_ERROR_EXIT ? " (valgrind found errors)" : "", report);
	ASSERT_MSG(!strstr(report, "definitely lost"), "valgrind's report:\n%s", report);
	free(report);

	grid_client_destroy(watcher);
	grid_client_destroy(f.admin);
	itest_db_drop(&f.db);
}
