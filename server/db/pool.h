/* Asynchronous PostgreSQL access for gridd: a small pool of nonblocking libpq
 * connections driven by the libuv loop, and a listener connection for
 * LISTEN/NOTIFY.
 *
 * A db_query is a list of prepared statements that run, pipelined, in one
 * implicit transaction (one Sync): either all of them commit or none does.
 * Queries wait in a FIFO until a connection is free. Statements are declared
 * once per module (struct db_stmt) and prepared lazily on each connection,
 * again after every reconnect.
 *
 * A link that stalls without closing is noticed too: a query in flight past
 * its deadline drops its connection, and an idle connection (or the
 * listener) is probed with a round trip every health_check_ms.
 *
 * When PostgreSQL goes away the pool stays: queries in flight fail with
 * -EAGAIN, new queries are refused with -EAGAIN at once, and connections come
 * back with backoff. Callers map -EAGAIN to UNAVAILABLE ("safe to retry").
 *
 * Callers: the domain modules' *_db.c files (statements and queries),
 * server.c (create, close).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

struct db_pool;
struct db_query;
struct db_listener;

struct db_stmt {
	const char *name; /* prepared statement name, unique in the process */
	const char *sql;
	int nparams;
	unsigned index; /* set by db_pool_register() */
};

struct db_pool_options {
	unsigned size;		     /* connections; 0 = 4 */
	unsigned query_timeout_ms;   /* default deadline of a query; 0 = 30000 */
	unsigned connect_timeout_ms; /* one connection attempt; 0 = 5000 */
	unsigned backoff_max_ms;     /* reconnect backoff cap; 0 = 2000 */
	unsigned health_check_ms;    /* a connection idle this long is probed, and dropped
				      * when the probe is not answered within as long;
				      * 0 = 10000 */
};

/* status is 0 when every statement succeeded (their results are available
 * through db_query_result), or a negative errno: -EAGAIN (connection lost or
 * pool down: retry), -ETIMEDOUT (deadline passed; the outcome is unknown when
 * the query had been sent), -ECANCELED (pool closing), or the mapping of the
 * SQLSTATE of the failing statement (see db_errno_from_sqlstate). */
typedef void (*db_query_cb)(struct db_query *q, int status, void *data);
typedef void (*db_notify_cb)(void *data, const char *channel, const char *payload);
typedef void (*db_ready_cb)(void *data);
typedef void (*db_pool_state_cb)(int up, void *data);

/* conninfo is copied. Starts connecting on the loop at once. NULL when out
 * of memory. */
struct db_pool *db_pool_create(uv_loop_t *loop, const char *conninfo,
			       const struct db_pool_options *opt);
/* Closes every connection and handle; queries still queued or in flight fail
 * with -ECANCELED. The pool is freed once its handles are closed; cb (may be
 * NULL) runs then. Accepts NULL. */
void db_pool_close(struct db_pool *pool, void (*cb)(void *data), void *data);
/* Called whenever the pool goes from no usable connection to one, or back. */
void db_pool_set_state_cb(struct db_pool *pool, db_pool_state_cb cb, void *data);
/* Registers statements (the array is borrowed for the pool's lifetime). */
int db_pool_register(struct db_pool *pool, struct db_stmt *stmts, size_t n);
/* False once every connection has failed (queries are then refused at once)
 * until one is back. While the pool first connects, it counts as up. */
int db_pool_is_up(const struct db_pool *pool);
/* Counters for logs and tests. */
unsigned db_pool_connected(const struct db_pool *pool);
unsigned db_pool_queued(const struct db_pool *pool);

/* A new query, owned by the caller until submitted. NULL when out of
 * memory. */
struct db_query *db_query_create(struct db_pool *pool);
/* Appends a statement. params (stmt->nparams text values, NULL = SQL NULL)
 * are borrowed until the callback returns. */
int db_query_add(struct db_query *q, const struct db_stmt *stmt, const char *const *params);
/* Puts a statement before the others, hidden from db_query_result's
 * numbering (statement 0 stays the caller's first). For wrappers such as the
 * idempotency check. Before submitting. */
int db_query_add_first(struct db_query *q, const struct db_stmt *stmt, const char *const *params);
/* Queues the query. deadline_ms is relative to now (0 = pool default).
 * On success the pool owns q, calls cb exactly once, and frees q when cb
 * returns; cb may run before this returns (when the connection breaks while
 * the query is being sent), so set up what cb needs first. On failure
 * (-EAGAIN: the pool is down) q is freed and cb never runs. */
int db_query_submit(struct db_query *q, uint64_t deadline_ms, db_query_cb cb, void *data);
/* Interactive transactions, for writes that need their results before they
 * can finish (an idempotent write stores the reply it built from them):
 * the statements run inside BEGIN; when their results are in, cb runs with
 * the transaction still open, and must end it before returning, with
 * db_query_commit (after adding more statements with db_query_add, if any)
 * or db_query_rollback; otherwise it is rolled back. cb_end then runs once
 * the transaction is over, with its status (-ECANCELED after a rollback),
 * and q is freed after it. An error in the first part rolls back at once
 * and reaches cb with that error (cb_end never runs then). Set before
 * submitting. */
void db_query_set_interactive(struct db_query *q);
int db_query_commit(struct db_query *q, db_query_cb cb_end, void *data);
/* cb_end may be NULL. */
void db_query_rollback(struct db_query *q, db_query_cb cb_end, void *data);

/* Destroys a query that was never submitted. Accepts NULL. */
void db_query_destroy(struct db_query *q);

/* Inside the callback: the result of statement i (borrowed), or NULL.
 * Statements added with db_query_add_first are not counted. */
PGresult *db_query_result(struct db_query *q, size_t i);
/* Inside the callback of a failed query: a message for people, and the
 * SQLSTATE ("" when the failure was not PostgreSQL's). Borrowed. */
const char *db_query_error(const struct db_query *q);
const char *db_query_sqlstate(const struct db_query *q);

/* Maps a SQLSTATE to a negative errno. gridd's own functions raise:
 * GR400 -EINVAL, GR404 -ENOENT, GR409 -EEXIST, GR412 -EBUSY (precondition),
 * GR403 -EACCES. */
int db_errno_from_sqlstate(const char *sqlstate);

/* A libpq notice processor that drops notices. */
void db_ignore_notice(void *arg, const char *message);

/* A dedicated connection that LISTENs on the channels (a NULL-terminated
 * list of fixed identifiers, copied) and calls on_notify for each
 * notification, and on_ready after every (re)connect once LISTEN is in place
 * (a caller catches up on what it may have missed then). */
struct db_listener *db_listener_create(uv_loop_t *loop, const char *conninfo,
				       const char *const *channels, db_notify_cb on_notify,
				       db_ready_cb on_ready, void *data);
/* The listener's timeouts: one connection attempt, and the health check as
 * in db_pool_options (0 = the defaults, 5000 and 10000). */
void db_listener_set_timeouts(struct db_listener *l, unsigned connect_timeout_ms,
			      unsigned health_check_ms);
void db_listener_close(struct db_listener *l);
