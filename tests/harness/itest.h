/* Helpers for integration tests: a fresh database per test on the throwaway
 * cluster scripts/test starts, a real gridd process started on a free port
 * (it reports the port through --ready-fd: no sleeps), blocking calls
 * through libgridclient, and running gridctl.
 *
 * Environment (set by scripts/test and tests/meson.build):
 *   GRID_TEST_DATABASE_URL  conninfo of a superuser on the test cluster
 *   GRID_TEST_PGCLUSTER     tests/harness/pgcluster, for private clusters
 *   GRIDD, GRIDCTL          the binaries under test
 *   GRID_SOURCE_ROOT        the repository, for data/ files
 * Without GRID_TEST_DATABASE_URL a test skips (exit 77).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "client/gridclient.h"
#include "tests/harness/test.h"

struct itest_db {
	char name[64];
	char url[512]; /* conninfo of the new database */
};

struct itest_gridd {
	pid_t pid;
	char address[80];      /* HOST:PORT it listens on */
	char admin_token[128]; /* a session of the bootstrap admin */
};

/* What most cases start from (itest_setup): a database of their own with a
 * gridd on it and, when asked, a client of the admin. */
struct itest_fix {
	struct itest_db db;
	struct itest_gridd g;
	struct grid_client *admin; /* with ITEST_WITH_ADMIN; else NULL */
};

/* Flags of itest_setup(). */
enum {
	ITEST_WITH_SAMPLE = 1 << 0, /* the sample grid imported (itest_sample_csv()) */
	ITEST_WITH_ADMIN = 1 << 1,  /* f->admin: connected, logged in as ITEST_ADMIN */
};

/* The first district admin every test database gets (whole grid). */
#define ITEST_ADMIN "admin"
#define ITEST_ADMIN_PASSWORD "itest-admin-password"

/* Skips the test when there is no test cluster. */
void itest_require_db(void);
/* Creates an empty database; fails the test on error. */
void itest_db_create(struct itest_db *db);
void itest_db_drop(struct itest_db *db);
/* Runs one SQL statement on db (blocking); returns the first value of the
 * first row as a malloc'd string (NULL when none). Fails the test on error. */
char *itest_sql(const char *url, const char *sql);

/* extra for itest_gridd_start: gridd-testclock with every hour of every
 * day working time, an hour to accept a case at every level and ten to
 * resolve it, so that moving the clock moves cases predictably. */
extern const char *const itest_fast_calendar[];
/* Starts gridd on 127.0.0.1:0 against url, with extra arguments (NULL
 * terminated list, may be NULL). Waits until it listens. A database without
 * accounts first gets ITEST_ADMIN (gridd bootstrap-admin); g->admin_token
 * is a fresh session of it. Password hashing runs with cheap limits unless
 * extra sets them. "--itest-testclock" in extra starts gridd-testclock
 * (GRIDD_TESTCLOCK), whose clock AdvanceClock moves. */
void itest_gridd_start(struct itest_gridd *g, const char *url, const char *const *extra);
/* SIGTERM and wait; returns the exit status (-1 when killed by a signal). */
int itest_gridd_stop(struct itest_gridd *g);
/* True while the process runs. */
bool itest_gridd_alive(struct itest_gridd *g);

/* A fresh database and gridd on it (extra as for itest_gridd_start), with
 * what flags (ITEST_WITH_*) ask for. */
void itest_setup(struct itest_fix *f, const char *const *extra, unsigned flags);
/* Closes f->admin, stops gridd asserting that it exits 0, and drops the
 * database. */
void itest_teardown(struct itest_fix *f);

/* A connected blocking client logged in as ITEST_ADMIN; fails the test
 * when it cannot connect or log in. */
struct grid_client *itest_connect(const struct itest_gridd *g);
/* The same on loop for asynchronous calls, authenticated with token (a
 * session or API key); runs the loop until both are done. */
struct grid_client *itest_connect_async(uv_loop_t *loop, const struct itest_gridd *g,
					const char *token);
/* Connected (Hello done) but not logged in. */
struct grid_client *itest_connect_anonymous(const struct itest_gridd *g);
/* Logs c in; returns the reply's status code and, on success, copies the
 * session token into ret_token (may be NULL; TOKEN size 128). */
int itest_login(struct grid_client *c, const char *username, const char *password, char *ret_token);
/* Authenticate with a session token or API key; returns the status code. */
int itest_authenticate(struct grid_client *c, const char *token);
/* Creates a user with one role ("" node = whole grid) through c; asserts
 * success. role is a Grid__V1__Role. */
void itest_create_user(struct grid_client *c, const char *username, const char *password, int role,
		       const char *node_code);
/* Sends req and returns the reply (caller frees with
 * grid_client_reply_free); fails the test on a transport error. */
Grid__V1__Reply *itest_call(struct grid_client *c, Grid__V1__Request *req);
/* The grid's CSV export below code ("" for all of it) in pages of page rows
 * (0: the server's default), the pages concatenated (malloc'd); their
 * number in *ret_pages unless NULL. */
char *itest_export_grid(struct grid_client *c, const char *code, uint32_t page, int *ret_pages);
/* The status code of a reply. */
int itest_code(const Grid__V1__Reply *r);
/* The status code of r, which it frees: for calls whose answer is only
 * their code, ASSERT_EQ_INT(itest_code_free(itest_call(c, &req)), 0). */
int itest_code_free(Grid__V1__Reply *r);
/* Pings through c and asserts a Pong with the server's clock. */
void itest_ping(struct grid_client *c);
/* GetNode code: the reply (caller frees), or only its status code. */
Grid__V1__Reply *itest_get_node_reply(struct grid_client *c, const char *code);
int itest_get_node(struct grid_client *c, const char *code);
/* RenameNode code to name; returns the status code. */
int itest_rename_node(struct grid_client *c, const char *code, const char *name);

/* Imports a CSV file or text through ImportGrid and asserts it succeeded. */
void itest_import_file(struct grid_client *c, const char *path);
/* data/sample-grid.csv */
const char *itest_sample_csv(void);
/* The whole file at path, NUL-terminated, its length in *ret_len when not
 * NULL; fails the test when it cannot be read. Caller frees. */
char *itest_read_file(const char *path, size_t *ret_len);

/* Runs gridctl with --server set to g and the given arguments, logged in as
 * ITEST_ADMIN (GRID_TOKEN set to g->admin_token); captures stdout and stderr
 * (malloc'd, NUL-terminated) and returns the exit code. stdin_text may be
 * NULL. */
int itest_gridctl(const struct itest_gridd *g, const char *stdin_text, char **ret_out,
		  char **ret_err, const char *const *args);
/* The same with the environment given as "NAME=VALUE" strings (NULL
 * terminated) instead: no GRID_TOKEN unless listed. */
int itest_gridctl_env(const struct itest_gridd *g, const char *const *env, const char *stdin_text,
		      char **ret_out, char **ret_err, const char *const *args);

/* Runs a program (argv[0] is its path; NULL terminated) with env added
 * ("NAME=VALUE", NULL terminated; may be NULL), stdin_text on its standard
 * input (NULL: /dev/null), and without the caller's GRID_SERVER, GRID_TOKEN,
 * GRID_API_KEY, GRID_PASSWORD or GRID_TOKEN_FILE. Captures stdout and stderr
 * as itest_gridctl does (NULL: dropped); returns the exit code, -1 when
 * killed. */
int itest_run(const char *const *argv, const char *const *env, const char *stdin_text,
	      char **ret_out, char **ret_err);

/* Runs tests/harness/pgcluster VERB DIR [MORE] (a private cluster; skips
 * the test when GRID_TEST_PGCLUSTER is not set); its output, trimmed, in
 * out. Fails the test when it fails. */
void itest_pgcluster(const char *verb, const char *dir, const char *more, char *out, size_t outlen);
/* A private cluster in the test's temporary directory under name, made
 * and started: its directory in dir, its conninfo in url. */
void itest_pgcluster_up(const char *name, char *dir, size_t dirlen, char *url, size_t urllen);

/* The number of newline characters in s. */
int itest_count_lines(const char *s);
/* Milliseconds of a monotonic clock. */
uint64_t itest_now_ms(void);
/* A temporary directory for this test process (removed by scripts/test's
 * cleanup of TMPDIR, or left for inspection). */
const char *itest_tmpdir(void);
