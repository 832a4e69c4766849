/* Integration test helpers; see itest.h. */
#include "tests/harness/itest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define START_TIMEOUT_MS 30000

uint64_t itest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void itest_require_db(void)
{
	const char *url = getenv("GRID_TEST_DATABASE_URL");

	if (!url || !*url)
		TEST_SKIP("GRID_TEST_DATABASE_URL is not set (scripts/test sets it)");
}

static PGconn *connect_or_fail(const char *url)
{
	PGconn *pg = PQconnectdb(url);

	if (PQstatus(pg) != CONNECTION_OK)
		test_fail(__FILE__, __LINE__, "cannot connect to %s: %s", url, PQerrorMessage(pg));
	return pg;
}

char *itest_sql(const char *url, const char *sql)
{
	PGconn *pg = connect_or_fail(url);
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	char *v = NULL;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		test_fail(__FILE__, __LINE__, "SQL failed: %s: %s", sql, PQresultErrorMessage(res));
	if (st == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0)
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(pg);
	return v;
}

void itest_db_create(struct itest_db *db)
{
	static unsigned counter;
	const char *base = getenv("GRID_TEST_DATABASE_URL");
	char sql[128];

	itest_require_db();
	snprintf(db->name, sizeof(db->name), "gridtest_%d_%u_%lu", (int)getpid(), counter++,
		 (unsigned long)(itest_now_ms() % 100000));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db->name);
	free(itest_sql(base, sql));
	/* A later dbname overrides an earlier one in a conninfo string. */
	snprintf(db->url, sizeof(db->url), "%s dbname=%s", base, db->name);
}

void itest_db_drop(struct itest_db *db)
{
	const char *base = getenv("GRID_TEST_DATABASE_URL");
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
	free(itest_sql(base, sql));
}

static const char *env_or_fail(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		test_fail(__FILE__, __LINE__, "%s is not set (tests/meson.build sets it)", name);
	return v;
}

/* Cheap Argon2id for tests: logins in every test, under ASan too, must not
 * cost a second each. Tests of the real limits pass their own. */
static const char *const cheap_hash[] = {"--set", "auth.pwhash_opslimit=1", "--set",
					 "auth.pwhash_memlimit_kib=8192"};

static bool extra_sets_hash(const char *const *extra)
{
	for (; extra && *extra; extra++)
		if (strstr(*extra, "auth.pwhash_"))
			return true;
	return false;
}

/* gridd bootstrap-admin, when the database has no account yet. */
static void bootstrap_admin(const char *url, const char *const *extra)
{
	const char *gridd = env_or_fail("GRIDD");
	const char *argv[64];
	char *count;
	int n = 0, fds[2], st;
	pid_t pid;

	argv[n++] = gridd;
	argv[n++] = "bootstrap-admin";
	argv[n++] = ITEST_ADMIN;
	argv[n++] = "--display-name";
	argv[n++] = "测试管理员";
	argv[n++] = "--database-url";
	argv[n++] = url;
	if (!extra_sets_hash(extra))
		for (size_t i = 0; i < 4; i++)
			argv[n++] = cheap_hash[i];
	for (; extra && *extra && n < 62; extra++)
		if (strcmp(*extra, "--itest-testclock") != 0)
			argv[n++] = *extra;
	argv[n] = NULL;
	ASSERT(pipe(fds) == 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		dup2(fds[0], 0);
		close(fds[1]);
		dup2(2, 1);
		execv(gridd, (char *const *)argv);
		_exit(127);
	}
	close(fds[0]);
	ASSERT(write(fds[1], ITEST_ADMIN_PASSWORD "\n", strlen(ITEST_ADMIN_PASSWORD) + 1) > 0);
	close(fds[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	/* It refuses a database that has accounts already: a second gridd
	 * on the same database, say. Anything else is a failure. */
	count = itest_sql(url, "SELECT count(*) FROM account WHERE username = '" ITEST_ADMIN "'");
	bool have = count && strcmp(count, "1") == 0;
	free(count);
	ASSERT_MSG(have, "gridd bootstrap-admin failed");
}

/* "--itest-testclock" in extra: run gridd-testclock instead of gridd. */
static bool wants_testclock(const char *const *extra)
{
	for (; extra && *extra; extra++)
		if (strcmp(*extra, "--itest-testclock") == 0)
			return true;
	return false;
}

void itest_gridd_start(struct itest_gridd *g, const char *url, const char *const *extra)
{
	const char *gridd = env_or_fail(wants_testclock(extra) ? "GRIDD_TESTCLOCK" : "GRIDD");
	const char *argv[64];
	char fdarg[16];
	int fds[2], n = 0;
	size_t len = 0;

	if (pipe(fds) < 0)
		test_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
	snprintf(fdarg, sizeof(fdarg), "%d", fds[1]);
	argv[n++] = gridd;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--ready-fd";
	argv[n++] = fdarg;
	argv[n++] = "--database-url";
	argv[n++] = url;
	argv[n++] = "--log-level";
	argv[n++] = getenv("GRID_TEST_LOG_LEVEL") ? getenv("GRID_TEST_LOG_LEVEL") : "warn";
	if (!extra_sets_hash(extra))
		for (size_t i = 0; i < 4; i++)
			argv[n++] = cheap_hash[i];
	for (; extra && *extra && n < 62; extra++)
		if (strcmp(*extra, "--itest-testclock") != 0)
			argv[n++] = *extra;
	argv[n] = NULL;

	memset(g, 0, sizeof(*g));
	bootstrap_admin(url, extra);

	fflush(stdout);
	fflush(stderr);
	g->pid = fork();
	if (g->pid < 0)
		test_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	if (g->pid == 0) {
		/* A failed assertion ends the test process at once; its gridd
		 * must not outlive it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		/* stdout is the TAP stream: keep gridd off it. */
		dup2(2, 1);
		execv(gridd, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", gridd, strerror(errno));
		_exit(127);
	}
	close(fds[1]);

	/* Read "HOST:PORT\n" from the ready descriptor. */
	uint64_t deadline = itest_now_ms() + START_TIMEOUT_MS;
	while (len < sizeof(g->address) - 1) {
		struct pollfd pfd = {fds[0], POLLIN, 0};
		uint64_t now = itest_now_ms();
		if (now >= deadline)
			test_fail(__FILE__, __LINE__, "gridd did not become ready in time");
		int r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t k = read(fds[0], g->address + len, sizeof(g->address) - 1 - len);
		if (k <= 0) {
			int st;
			waitpid(g->pid, &st, 0);
			test_fail(__FILE__, __LINE__,
				  "gridd exited before it was ready (status %d)",
				  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		}
		len += (size_t)k;
		if (memchr(g->address, '\n', len))
			break;
	}
	close(fds[0]);
	g->address[len] = '\0';
	char *nl = strchr(g->address, '\n');
	if (nl)
		*nl = '\0';

	struct grid_client *c = itest_connect_anonymous(g);
	ASSERT_EQ_INT(itest_login(c, ITEST_ADMIN, ITEST_ADMIN_PASSWORD, g->admin_token), 0);
	grid_client_destroy(c);
}

bool itest_gridd_alive(struct itest_gridd *g)
{
	int st;

	return g->pid > 0 && waitpid(g->pid, &st, WNOHANG) == 0;
}

int itest_gridd_stop(struct itest_gridd *g)
{
	int st;

	if (g->pid <= 0)
		return -1;
	kill(g->pid, SIGTERM);
	while (waitpid(g->pid, &st, 0) < 0 && errno == EINTR)
		;
	g->pid = 0;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return -1;
}

void itest_setup(struct itest_fix *f, const char *const *extra, unsigned flags)
{
	struct grid_client *c;

	itest_db_create(&f->db);
	itest_gridd_start(&f->g, f->db.url, extra);
	f->admin = NULL;
	if (!(flags & (ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN)))
		return;
	c = itest_connect(&f->g);
	if (flags & ITEST_WITH_SAMPLE)
		itest_import_file(c, itest_sample_csv());
	if (flags & ITEST_WITH_ADMIN)
		f->admin = c;
	else
		grid_client_destroy(c);
}

void itest_teardown(struct itest_fix *f)
{
	grid_client_destroy(f->admin);
	f->admin = NULL;
	ASSERT_EQ_INT(itest_gridd_stop(&f->g), 0);
	itest_db_drop(&f->db);
}

static void on_async_connected(struct grid_client *c, int status, void *data)
{
	ASSERT_EQ_INT(status, 0);
	(*(int *)data)++;
}

static void on_async_authn(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	ASSERT_EQ_INT(status, 0);
	ASSERT_EQ_INT(r->status->code, GRID__V1__CODE__CODE_OK);
	(*(int *)data)++;
}

struct grid_client *itest_connect_async(uv_loop_t *loop, const struct itest_gridd *g,
					const char *token)
{
	struct grid_client *c = grid_client_create(loop, NULL);
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest m = GRID__V1__AUTHENTICATE_REQUEST__INIT;
	int n = 0;

	ASSERT_NOT_NULL(c);
	ASSERT_EQ_INT(grid_client_connect_async(c, g->address, on_async_connected, &n), 0);
	while (n < 1)
		uv_run(loop, UV_RUN_ONCE);
	m.token = (char *)token;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &m;
	ASSERT_EQ_INT(grid_client_call_async(c, &req, on_async_authn, &n), 0);
	while (n < 2)
		uv_run(loop, UV_RUN_ONCE);
	return c;
}

struct grid_client *itest_connect_anonymous(const struct itest_gridd *g)
{
	struct grid_client_config cfg = {.client_name = "itest", .call_timeout_ms = 30000};
	struct grid_client *c = grid_client_create(NULL, &cfg);
	int r;

	ASSERT_NOT_NULL(c);
	r = grid_client_connect(c, g->address);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "cannot connect to gridd at %s: %s", g->address,
			  grid_client_error(c));
	return c;
}

struct grid_client *itest_connect(const struct itest_gridd *g)
{
	struct grid_client *c = itest_connect_anonymous(g);
	int code = itest_authenticate(c, g->admin_token);

	ASSERT_MSG(code == 0, "cannot authenticate as %s: status %d", ITEST_ADMIN, code);
	return c;
}

int itest_login(struct grid_client *c, const char *username, const char *password, char *ret_token)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__LoginRequest m = GRID__V1__LOGIN_REQUEST__INIT;
	Grid__V1__Reply *r;
	int code;

	m.username = (char *)username;
	m.password = (char *)password;
	req.call_case = GRID__V1__REQUEST__CALL_LOGIN;
	req.login = &m;
	r = itest_call(c, &req);
	code = itest_code(r);
	if (code == 0 && ret_token)
		snprintf(ret_token, 128, "%s", r->login->token);
	grid_client_reply_free(r);
	return code;
}

int itest_authenticate(struct grid_client *c, const char *token)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest m = GRID__V1__AUTHENTICATE_REQUEST__INIT;

	m.token = (char *)token;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &m;
	return itest_code_free(itest_call(c, &req));
}

void itest_create_user(struct grid_client *c, const char *username, const char *password, int role,
		       const char *node_code)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateUserRequest m = GRID__V1__CREATE_USER_REQUEST__INIT;
	Grid__V1__RoleGrant g = GRID__V1__ROLE_GRANT__INIT, *grants[1] = {&g};
	Grid__V1__Reply *r;

	m.username = (char *)username;
	m.password = (char *)password;
	m.display_name = (char *)username;
	g.role = (Grid__V1__Role)role;
	g.node_code = (char *)node_code;
	if (role) {
		m.roles = grants;
		m.n_roles = 1;
	}
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_USER;
	req.create_user = &m;
	r = itest_call(c, &req);
	ASSERT_MSG(itest_code(r) == 0, "CreateUser %s: %s", username, r->status->message);
	grid_client_reply_free(r);
}

Grid__V1__Reply *itest_call(struct grid_client *c, Grid__V1__Request *req)
{
	Grid__V1__Reply *reply = NULL;
	int r = grid_client_call(c, req, &reply);

	if (r < 0)
		test_fail(__FILE__, __LINE__, "call failed: %s (%s)", strerror(-r),
			  grid_client_error(c));
	ASSERT_NOT_NULL(reply);
	return reply;
}

char *itest_export_grid(struct grid_client *c, const char *code, uint32_t page, int *ret_pages)
{
	char *out = strdup(""), *token = strdup("");
	size_t len = 0;
	int pages = 0;

	for (;;) {
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__ExportGridRequest m = GRID__V1__EXPORT_GRID_REQUEST__INIT;
		m.code = (char *)code;
		m.page_size = page;
		m.page_token = token;
		req.call_case = GRID__V1__REQUEST__CALL_EXPORT_GRID;
		req.export_grid = &m;
		Grid__V1__Reply *r = itest_call(c, &req);
		ASSERT_EQ_INT(itest_code(r), 0);
		out = realloc(out, len + r->export_grid->csv.len + 1);
		ASSERT_NOT_NULL(out);
		memcpy(out + len, r->export_grid->csv.data, r->export_grid->csv.len);
		len += r->export_grid->csv.len;
		out[len] = '\0';
		pages++;
		free(token);
		token = strdup(r->export_grid->next_page_token);
		grid_client_reply_free(r);
		if (!*token)
			break;
		ASSERT(pages < 100000);
	}
	free(token);
	if (ret_pages)
		*ret_pages = pages;
	return out;
}

int itest_code(const Grid__V1__Reply *r)
{
	return r->status ? (int)r->status->code : 0;
}

int itest_code_free(Grid__V1__Reply *r)
{
	int code = itest_code(r);

	grid_client_reply_free(r);
	return code;
}

void itest_ping(struct grid_client *c)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Ping p = GRID__V1__PING__INIT;
	Grid__V1__Reply *r;

	req.call_case = GRID__V1__REQUEST__CALL_PING;
	req.ping = &p;
	r = itest_call(c, &req);
	ASSERT_EQ_INT(itest_code(r), GRID__V1__CODE__CODE_OK);
	ASSERT(r->ping->server_time_ms > 1700000000000LL);
	grid_client_reply_free(r);
}

Grid__V1__Reply *itest_get_node_reply(struct grid_client *c, const char *code)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetNodeRequest m = GRID__V1__GET_NODE_REQUEST__INIT;

	m.code = (char *)code;
	req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
	req.get_node = &m;
	return itest_call(c, &req);
}

int itest_get_node(struct grid_client *c, const char *code)
{
	return itest_code_free(itest_get_node_reply(c, code));
}

int itest_rename_node(struct grid_client *c, const char *code, const char *name)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RenameNodeRequest m = GRID__V1__RENAME_NODE_REQUEST__INIT;

	m.code = (char *)code;
	m.name = (char *)name;
	req.call_case = GRID__V1__REQUEST__CALL_RENAME_NODE;
	req.rename_node = &m;
	return itest_code_free(itest_call(c, &req));
}

char *itest_read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long len;

	if (!f)
		test_fail(__FILE__, __LINE__, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)len + 1);
	ASSERT_NOT_NULL(data);
	if (fread(data, 1, (size_t)len, f) != (size_t)len)
		test_fail(__FILE__, __LINE__, "%s: short read", path);
	data[len] = '\0';
	fclose(f);
	if (ret_len)
		*ret_len = (size_t)len;
	return data;
}

const char *itest_sample_csv(void)
{
	static char path[1024];

	snprintf(path, sizeof(path), "%s/data/sample-grid.csv", env_or_fail("GRID_SOURCE_ROOT"));
	return path;
}

void itest_import_file(struct grid_client *c, const char *path)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ImportGridRequest imp = GRID__V1__IMPORT_GRID_REQUEST__INIT;
	Grid__V1__Reply *reply;
	size_t len;
	char *data = itest_read_file(path, &len);

	imp.csv.data = (uint8_t *)data;
	imp.csv.len = len;
	req.call_case = GRID__V1__REQUEST__CALL_IMPORT_GRID;
	req.import_grid = &imp;
	reply = itest_call(c, &req);
	if (itest_code(reply) != 0)
		test_fail(__FILE__, __LINE__, "import of %s failed: %s", path,
			  reply->status->message);
	ASSERT(reply->import_grid && reply->import_grid->created > 0);
	grid_client_reply_free(reply);
	free(data);
}

int itest_count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

const char *itest_tmpdir(void)
{
	static char dir[512];

	if (!dir[0]) {
		const char *t = getenv("TMPDIR");
		/* A fresh directory each run: one left behind by an earlier run
		 * with the same pid must not be reused. */
		snprintf(dir, sizeof(dir), "%s/gridtest-%d-XXXXXX", t && *t ? t : "/tmp",
			 (int)getpid());
		ASSERT_NOT_NULL(mkdtemp(dir));
	}
	return dir;
}

static char *slurp_fd(int fd)
{
	size_t len = 0, cap = 4096;
	char *s = malloc(cap);

	ASSERT_NOT_NULL(s);
	for (;;) {
		if (len + 1024 > cap) {
			cap *= 2;
			s = realloc(s, cap);
			ASSERT_NOT_NULL(s);
		}
		ssize_t k = read(fd, s + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	s[len] = '\0';
	return s;
}

int itest_gridctl(const struct itest_gridd *g, const char *stdin_text, char **ret_out,
		  char **ret_err, const char *const *args)
{
	char token[160];
	const char *env[2] = {token, NULL};

	snprintf(token, sizeof(token), "GRID_TOKEN=%s", g ? g->admin_token : "");
	return itest_gridctl_env(g, g ? env : NULL, stdin_text, ret_out, ret_err, args);
}

int itest_gridctl_env(const struct itest_gridd *g, const char *const *env, const char *stdin_text,
		      char **ret_out, char **ret_err, const char *const *args)
{
	/* Never the developer's own session file. */
	const char *envs[32] = {"GRID_TOKEN_FILE=/nonexistent/gridctl-token"};
	const char *argv[64];
	int n = 0, ne = 1;

	for (; env && *env && ne < 31; env++)
		envs[ne++] = *env;
	envs[ne] = NULL;
	argv[n++] = env_or_fail("GRIDCTL");
	if (g) {
		argv[n++] = "--server";
		argv[n++] = g->address;
	}
	for (; args && *args && n < 62; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	return itest_run(argv, envs, stdin_text, ret_out, ret_err);
}

int itest_run(const char *const *argv, const char *const *env, const char *stdin_text,
	      char **ret_out, char **ret_err)
{
	char outpath[600], errpath[600], inpath[600];
	int st;
	pid_t pid;

	snprintf(outpath, sizeof(outpath), "%s/run.out", itest_tmpdir());
	snprintf(errpath, sizeof(errpath), "%s/run.err", itest_tmpdir());
	snprintf(inpath, sizeof(inpath), "%s/run.in", itest_tmpdir());
	if (stdin_text) {
		FILE *f = fopen(inpath, "wb");
		ASSERT_NOT_NULL(f);
		fputs(stdin_text, f);
		fclose(f);
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		int in = open(stdin_text ? inpath : "/dev/null", O_RDONLY);
		int out = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		unsetenv("GRID_SERVER");
		unsetenv("GRID_TOKEN");
		unsetenv("GRID_API_KEY");
		unsetenv("GRID_PASSWORD");
		unsetenv("GRID_TOKEN_FILE");
		for (; env && *env; env++)
			putenv((char *)*env);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int fd = open(outpath, O_RDONLY);
	char *out = slurp_fd(fd);
	close(fd);
	fd = open(errpath, O_RDONLY);
	char *err = slurp_fd(fd);
	close(fd);
	if (ret_out)
		*ret_out = out;
	else
		free(out);
	if (ret_err)
		*ret_err = err;
	else
		free(err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void itest_pgcluster(const char *verb, const char *dir, const char *more, char *out, size_t outlen)
{
	const char *tool = getenv("GRID_TEST_PGCLUSTER");
	char cmd[1200];
	FILE *p;

	if (!tool || !*tool)
		TEST_SKIP("GRID_TEST_PGCLUSTER is not set (scripts/test sets it)");
	snprintf(cmd, sizeof(cmd), "'%s' %s '%s' %s 2>&1", tool, verb, dir, more ? more : "");
	fflush(stdout);
	fflush(stderr);
	p = popen(cmd, "r");
	ASSERT_NOT_NULL(p);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	ASSERT_MSG(st == 0, "pgcluster %s failed: %s", verb, out);
	while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
}

void itest_pgcluster_up(const char *name, char *dir, size_t dirlen, char *url, size_t urllen)
{
	char out[1024];

	itest_require_db();
	snprintf(dir, dirlen, "%s/%s", itest_tmpdir(), name);
	itest_pgcluster("init", dir, NULL, out, sizeof(out));
	itest_pgcluster("start", dir, NULL, out, sizeof(out));
	itest_pgcluster("url", dir, NULL, url, urllen);
}

const char *const itest_fast_calendar[] = {"--set",
					   "calendar.hours=00:00-24:00",
					   "--set",
					   "calendar.days=mon-sun",
					   "--set",
					   "cases.accept=1h",
					   "--set",
					   "cases.resolve=10h",
					   "--itest-testclock",
					   NULL};
