/* The request layer: decodes a Request in its own arena, checks it, finds
 * its method in the dispatch table (methods.c) and runs the handler; then
 * builds the Reply, hands it to the connection and frees everything the
 * request allocated in one go.
 *
 * A handler receives a struct rpc_call and must end it exactly once, now or
 * from a later callback, with rpc_reply() or rpc_fail(). The result message
 * passed to rpc_reply() is the one in Reply.result with the same field
 * number as the call; it is packed before rpc_reply() returns, so it may
 * point into the grid cache or the arena.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "server/db/pool.h"
#include "proto/rpc.pb-c.h"

struct conn;
struct server;
struct rpc_call;

typedef void (*rpc_handler)(struct rpc_call *call);
/* The code of the node a request is about ("" for none or the whole grid). */
typedef const char *(*rpc_target_fn)(const Grid__V1__Request *req);

enum rpc_flags {
	RPC_BEFORE_HELLO = 1 << 0, /* allowed as the first request */
	RPC_WRITE = 1 << 1,	   /* changes data: logged at info level */
	RPC_SCOPED = 1 << 2,	   /* an empty target means "within the caller's
				    * own part of the grid": the handler filters */
};

struct rpc_method {
	Grid__V1__Request__CallCase call;
	const char *name;
	rpc_handler handler;
	unsigned flags;
	unsigned perm;	      /* enum perm (server/auth/perm.h) needed on the target */
	rpc_target_fn target; /* NULL: the call has no target node */
};

/* The dispatch table, in methods.c. */
extern const struct rpc_method rpc_methods[];
extern const size_t rpc_nmethods;

/* Checks that every method's call has a result field with the same number
 * and name in Reply. Run once at start; -EINVAL with a message on mismatch. */
int rpc_check_table(char *err, size_t errlen);

/* The method of a call name ("GetNode"), or NULL. */
const struct rpc_method *rpc_method_by_name(const char *name);
/* The method of the call being handled. */
const struct rpc_method *rpc_call_method(const struct rpc_call *call);

/* Called by conn.c for every complete frame. */
void rpc_handle_frame(struct conn *c, const uint8_t *payload, size_t len);

const Grid__V1__Request *rpc_request(const struct rpc_call *call);
struct arena *rpc_arena(struct rpc_call *call);
struct server *rpc_server(const struct rpc_call *call);
struct conn *rpc_conn(const struct rpc_call *call);
/* Milliseconds left before the request's deadline (at least 1). */
uint64_t rpc_time_left_ms(const struct rpc_call *call);

/* Ends the call with OK and result (borrowed). */
void rpc_reply(struct rpc_call *call, void *result);
/* Ends the call with the status for err and a message (printf format). */
void rpc_fail(struct rpc_call *call, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs the query of a write (instead of db_query_submit): when the request
 * carries an idempotency key, inside a transaction that also records the
 * key and, when cb calls rpc_reply, the result, so that a retry gets the
 * same reply and changes nothing. cb must end the call (rpc_reply or
 * rpc_fail) before it returns. On a failure to submit the call is ended
 * here. */
void rpc_submit(struct rpc_call *call, struct db_query *q, db_query_cb cb, void *data);
/* From cb of rpc_submit, before rpc_reply: runs fn(data) once the write is
 * committed (at once when it already is), and not at all when the commit
 * fails. For effects outside the database, such as revoking sessions. */
void rpc_after_commit(struct rpc_call *call, void (*fn)(void *data), void *data);
/* For writers that put many calls in one transaction (group commit, see
 * server/case/case_batch.c) and so claim their idempotency keys themselves
 * (migrations 0007, 0009): the SHA-256 of the call's request as bytea text
 * in the call's arena (NULL when out of memory), and the reply from a
 * result stored as bytea text by an earlier write with the key. */
#define RPC_IDEM_KEY_MAX 128
const char *rpc_request_hash(struct rpc_call *call);
void rpc_reply_bytea(struct rpc_call *call, const char *bytea);
/* Registers the idempotency statements (server.c, once the pool exists). */
int idem_start(struct server *srv);
/* Removes keys older than a day, a batch at a time (the sweeper). */
void idem_expire(struct server *srv);

/* Ends a call whose database query failed (status from db_query_cb or a
 * failed submit), with a message fit for the caller: retry advice for
 * UNAVAILABLE, the uncertainty of a timeout, the database's own words for
 * a rule it enforced, nothing internal for anything else. */
void rpc_fail_db(struct rpc_call *call, int status, const char *db_message);
/* Adds an ErrorDetail to the status of the reply still to be sent. */
int rpc_add_detail(struct rpc_call *call, unsigned line, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
size_t rpc_detail_count(const struct rpc_call *call);
/* Orders the details by line (stable), for replies that gather them in
 * several passes. */
void rpc_sort_details(struct rpc_call *call);
