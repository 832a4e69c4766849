/* Group commit for RaiseCase. A durable commit costs a WAL flush, and
 * every write also takes the audit chain's head lock until it commits, so
 * one transaction per raise caps raises at one flush each, one after the
 * other. Instead, the raises that arrive while a batch is being written
 * wait in a queue and go together into the next batch (at the end of a
 * loop iteration, so that everything read in it goes together): one call of
 * case_raise_batch (migrations 0007 and 0009) in one transaction, with every
 * case's event, audit entry and idempotency key. Each request is answered
 * only after its batch has committed. At low load a batch holds one
 * request, so a raise waits for no one.
 *
 * Keys: a request whose key is already in the batch being built waits for
 * the next one, so a batch never claims a key twice; a key claimed by a
 * batch still in flight is waited for by PostgreSQL (ON CONFLICT), and then
 * answered with the stored reply.
 *
 * When a batch fails for a reason that belongs to one of its requests
 * rather than to the database link (a rule of the database, say), its
 * requests are written again one by one through the ordinary path, so that
 * only the faulty one fails.
 *
 * Caller: case_raise (case_write.c) through case_batch_add; case.c stops the
 * queue on shutdown.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "server/case/case_db.h"
#include "server/case/case_private.h"
#include "server/clock.h"
#include "server/db/array.h"
#include "server/db/pool.h"
#include "server/grid/grid.h"
#include "server/grid/tree.h"
#include "server/log.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

/* Requests per batch at most: bounds the statement's size (a raise is at
 * most ~25 kB of text) and a batch's time in the database. */
#define BATCH_MAX 512
/* Batches in flight at once: the second one's inserts overlap the first
 * one's commit; both serialize on the audit head lock anyway. */
#define INFLIGHT_MAX 2
/* How long a request waits for the batch beside one in flight to grow as
 * large as that one (flush): bounds what the wait adds to a raise when
 * requests arrive steadily rather than all at once. */
#define HOLD_NS (2 * 1000 * 1000)

/* The array parameters of case_raise_batch, in its order. */
enum {
	A_NODE,
	A_TITLE,
	A_DESCRIPTION,
	A_CATEGORY,
	A_CONTACT,
	A_HOUSEHOLD,
	A_SERVICE_ITEM,
	A_URGENCY,
	A_CHANNEL,
	A_ACTOR,
	A_KEY,
	A_HASH,
	A_COUNT,
};

struct batch {
	struct cases *cs;
	struct raise_req **reqs; /* NULL once answered (r is in its call's arena) */
	size_t n;
	bool keyed; /* some request carries a key: store replies before COMMIT */
	struct buf arrays[A_COUNT];
	const char *params[A_COUNT + 2]; /* the arrays, the clock, whether to log */
	/* case_raise_log's arrays: the new cases' ids, then the principals,
	 * keys and replies of the keyed ones */
	struct buf log[4];
	const char *log_params[4];
	struct arena arena; /* the clock parameter */
};

static void flush(struct cases *cs);

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < A_COUNT; i++)
		buf_finish(&b->arrays[i]);
	for (size_t i = 0; i < 4; i++)
		buf_finish(&b->log[i]);
	arena_finish(&b->arena);
	free(b->reqs);
	free(b);
}

/* A batch is over (its requests all answered): the next may go. */
static void batch_done(struct batch *b)
{
	struct cases *cs = b->cs;

	cs->raise_inflight_reqs -= b->n;
	batch_free(b);
	cs->raise_inflight--;
	flush(cs);
}

static int close_arrays(struct buf *bufs, size_t n, const char **params)
{
	for (size_t i = 0; i < n; i++) {
		if (buf_putc(&bufs[i], '}') < 0 || !(params[i] = buf_cstr(&bufs[i])))
			return -ENOMEM;
	}
	return 0;
}

static int add_req(struct batch *b, struct raise_req *r)
{
	const char *v[A_COUNT] = {
	    [A_NODE] = r->p[0],		[A_TITLE] = r->p[1],   [A_DESCRIPTION] = r->p[2],
	    [A_CATEGORY] = r->p[3],	[A_CONTACT] = r->p[4], [A_HOUSEHOLD] = r->p[5],
	    [A_SERVICE_ITEM] = r->p[6], [A_URGENCY] = r->p[7], [A_CHANNEL] = r->p[8],
	    [A_ACTOR] = r->p[9],	[A_KEY] = r->key,      [A_HASH] = r->hash,
	};

	for (size_t i = 0; i < A_COUNT; i++) {
		if (db_array_elem(&b->arrays[i], v[i], b->n == 0) < 0)
			return -ENOMEM;
	}
	b->reqs[b->n++] = r;
	b->keyed |= r->key != NULL;
	return 0;
}

/* Whether a request with r's key is already in b. */
static bool key_taken(const struct batch *b, const struct raise_req *r)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct raise_req *o = b->reqs[i];
		if (o->key && strcmp(o->key, r->key) == 0 && strcmp(o->p[9], r->p[9]) == 0)
			return true;
	}
	return false;
}

static void fail_all(struct batch *b, int status, const char *msg)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->reqs[i])
			rpc_fail_db(b->reqs[i]->call, status, msg);
		b->reqs[i] = NULL;
	}
}

static bool link_failure(int status)
{
	return status == -EAGAIN || status == -ETIMEDOUT || status == -ECANCELED ||
	       status == -ENOMEM;
}

static void one_by_one(struct batch *b, const char *why);

static void on_committed(struct db_query *q, int status, void *data)
{
	struct batch *b = data;

	if (status < 0 && !link_failure(status)) {
		/* Refused at the end (a rule checked at commit, say). */
		one_by_one(b, db_query_error(q));
		batch_done(b);
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct raise_req *r = b->reqs[i];
		if (!r)
			continue; /* answered already (a replay, a conflict) */
		b->reqs[i] = NULL;
		if (status < 0)
			rpc_fail_db(r->call, status, db_query_error(q));
		else
			rpc_reply(r->call, r->result);
	}
	batch_done(b);
}

/* Reads the batch's rows: answers replays and conflicts now, keeps the new
 * cases' replies for after the commit. With q (a keyed batch, its
 * transaction still open), adds the second part: the keyed replies stored,
 * then the events and audit entries of the new cases. -ENOMEM or -EPROTO
 * when the rows cannot be used. */
static int read_rows(struct batch *b, PGresult *res, struct db_query *q)
{
	const struct tree *t = grid_tree(b->cs->srv->grid);
	int nrows = res ? PQntuples(res) : 0;
	int c_idx = res ? PQfnumber(res, "idx") : -1,
	    c_verdict = res ? PQfnumber(res, "verdict") : -1;
	int c_stored = res ? PQfnumber(res, "stored") : -1, c_id = res ? PQfnumber(res, "id") : -1;
	size_t nstore = 0, nnew = 0;
	struct case_cols cols;

	if (nrows != (int)b->n || c_idx < 0 || c_verdict < 0 || c_stored < 0 || c_id < 0)
		return -EPROTO;
	case_cols_find(&cols, res);
	for (int row = 0; row < nrows; row++) {
		long idx = strtol(PQgetvalue(res, row, c_idx), NULL, 10);
		const char *verdict = PQgetvalue(res, row, c_verdict);
		struct raise_req *r;

		if (idx < 1 || (size_t)idx > b->n || !b->reqs[idx - 1] || b->reqs[idx - 1]->result)
			return -EPROTO;
		r = b->reqs[idx - 1];
		if (strcmp(verdict, "new") == 0) {
			r->result = case_row_msg(rpc_arena(r->call), t, res, &cols, row);
			if (!r->result ||
			    db_array_elem(&b->log[0], PQgetvalue(res, row, c_id), nnew++ == 0) < 0)
				return -ENOMEM;
			if (!r->key)
				continue;
			const char *bytes = rpc_result_bytea(r->call, r->result);
			if (!bytes || db_array_elem(&b->log[1], r->p[9], nstore == 0) < 0 ||
			    db_array_elem(&b->log[2], r->key, nstore == 0) < 0 ||
			    db_array_elem(&b->log[3], bytes, nstore == 0) < 0)
				return -ENOMEM;
			nstore++;
			continue;
		}
		/* The key was seen before: this request changes nothing. */
		b->reqs[idx - 1] = NULL;
		if (strcmp(verdict, "replay") == 0)
			rpc_reply_bytea(r->call, PQgetvalue(res, row, c_stored));
		else if (strcmp(verdict, "conflict") == 0)
			rpc_fail(r->call, -EEXIST,
				 "idempotency key %s was used for a different request", r->key);
		else
			rpc_fail(r->call, -EIO,
				 "the first request with this idempotency key left no reply");
	}
	if (!q || nnew == 0)
		return 0;
	if (close_arrays(b->log, 4, b->log_params) < 0 ||
	    db_query_add(q, &case_stmts[CASE_STMT_RAISE_LOG], b->log_params) < 0)
		return -ENOMEM;
	return 0;
}

/* The batch failed as a whole for a reason of the database's, not of its
 * link: write its requests one by one, so that only a faulty one fails. */
static void one_by_one(struct batch *b, const char *why)
{
	log_warn("event=case_batch_split requests=%zu error=\"%s\"", b->n, why);
	for (size_t i = 0; i < b->n; i++) {
		struct raise_req *r = b->reqs[i];
		b->reqs[i] = NULL;
		if (r)
			case_raise_alone(r);
	}
}

/* Plain batches (no keys): the rows come after the commit. */
static void on_written(struct db_query *q, int status, void *data)
{
	struct batch *b = data;
	int r;

	if (status < 0) {
		if (link_failure(status))
			fail_all(b, status, db_query_error(q));
		else
			one_by_one(b, db_query_error(q));
		batch_done(b);
		return;
	}
	r = read_rows(b, db_query_result(q, 0), NULL);
	if (r < 0)
		fail_all(b, -EIO, "the cases were raised but could not be read back");
	on_committed(q, 0, b);
}

/* Keyed batches: inside the transaction, which commits from here. */
static void on_rows(struct db_query *q, int status, void *data)
{
	struct batch *b = data;

	if (status < 0) {
		on_written(q, status, data);
		return;
	}
	if (read_rows(b, db_query_result(q, 0), q) < 0) {
		db_query_rollback(q, NULL, NULL);
		fail_all(b, -EIO, "a batch of raised cases could not be stored");
		batch_done(b);
		return;
	}
	if (db_query_commit(q, on_committed, b) < 0) {
		db_query_rollback(q, NULL, NULL);
		fail_all(b, -ENOMEM, "out of memory");
		batch_done(b);
	}
}

static struct batch *batch_new(struct cases *cs, size_t cap)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (!b || !(b->reqs = calloc(cap, sizeof(*b->reqs)))) {
		free(b);
		return NULL;
	}
	b->cs = cs;
	arena_init(&b->arena, 64);
	for (size_t i = 0; i < A_COUNT; i++) {
		buf_init(&b->arrays[i], 0);
		buf_putc(&b->arrays[i], '{');
	}
	for (size_t i = 0; i < 4; i++) {
		buf_init(&b->log[i], 0);
		buf_putc(&b->log[i], '{');
	}
	return b;
}

/* Fails every queued request. */
static void drain(struct cases *cs, int err, const char *msg)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &cs->raise_queue)
	{
		struct raise_req *r = list_entry(pos, struct raise_req, link);
		list_remove(&r->link);
		rpc_fail(r->call, err, "%s", msg);
	}
	cs->raise_queued = 0;
}

/* Whether the oldest queued request has waited HOLD_NS already. */
static bool waited_long(struct cases *cs)
{
	const struct raise_req *r = list_entry(cs->raise_queue.next, struct raise_req, link);

	return uv_hrtime() - r->queued_ns >= HOLD_NS;
}

/* Sends the queued requests as one batch, when one more may be in flight. */
static void flush(struct cases *cs)
{
	struct list *pos, *tmp;
	struct batch *b;
	struct db_query *q;
	uint64_t deadline = UINT64_MAX;
	size_t cap;

	if (cs->raise_queued == 0 || cs->raise_inflight >= INFLIGHT_MAX)
		return;
	/* Beside a batch in flight, only one at least as large, or one that
	 * has waited HOLD_NS: otherwise the replies of a batch, trickling back
	 * as new requests, would go out one or two at a time and fill both
	 * places with small batches, each costing the database nearly what a
	 * large one does. The queue is looked at again on every loop turn
	 * (on_check) and when a batch is over. */
	if (cs->raise_inflight > 0 &&
	    cs->raise_queued * cs->raise_inflight < cs->raise_inflight_reqs &&
	    !waited_long(cs))
		return;
	cap = cs->raise_queued < BATCH_MAX ? cs->raise_queued : BATCH_MAX;
	b = batch_new(cs, cap);
	q = b ? db_query_create(cs->srv->db) : NULL;
	if (!q)
		goto oom;
	list_for_each_safe(pos, tmp, &cs->raise_queue)
	{
		struct raise_req *r = list_entry(pos, struct raise_req, link);
		if (b->n == cap)
			break;
		if (r->key && key_taken(b, r))
			continue; /* the next batch */
		list_remove(&r->link);
		cs->raise_queued--;
		if (add_req(b, r) < 0) {
			rpc_fail(r->call, -ENOMEM, "out of memory");
			goto oom_batch;
		}
		uint64_t left = rpc_time_left_ms(r->call);
		deadline = left < deadline ? left : deadline;
	}
	if (close_arrays(b->arrays, A_COUNT, b->params) < 0)
		goto oom_batch;
	b->params[A_COUNT] = clock_sql_param(&b->arena);
	/* Keyed batches log after storing their replies, in the second part
	 * of their transaction (on_rows). */
	b->params[A_COUNT + 1] = b->keyed ? "false" : "true";
	if (db_query_add(q, &case_stmts[CASE_STMT_RAISE_BATCH], b->params) < 0)
		goto oom_batch;
	if (b->keyed)
		db_query_set_interactive(q);
	cs->raise_inflight++;
	cs->raise_inflight_reqs += b->n;
	int r = db_query_submit(q, deadline, b->keyed ? on_rows : on_written, b);
	if (r < 0) {
		/* q is freed; the pool is down. */
		fail_all(b, r, "");
		batch_done(b);
	}
	return;

oom_batch:
	fail_all(b, -ENOMEM, "out of memory");
oom:
	db_query_destroy(q);
	if (b)
		batch_free(b);
	/* Nothing may be in flight to flush the queue later. */
	log_warn("event=case_batch_failed error=\"out of memory\"");
	drain(cs, -ENOMEM, "out of memory");
}

static void on_check(uv_check_t *h)
{
	struct cases *cs = h->data;

	flush(cs);
	if (cs->raise_queued == 0)
		uv_check_stop(h);
}

void case_batch_add(struct cases *cs, struct raise_req *r)
{
	if (cs->stopped) {
		rpc_fail(r->call, -ECANCELED, "the server is stopping");
		return;
	}
	r->queued_ns = uv_hrtime();
	list_append(&cs->raise_queue, &r->link);
	cs->raise_queued++;
	/* Not at once: the other requests this loop iteration reads may be
	 * raises too, and go in the same batch. */
	uv_check_start(&cs->raise_check, on_check);
}

void case_batch_stop(struct cases *cs)
{
	uv_check_stop(&cs->raise_check);
	drain(cs, -ECANCELED, "the server is stopping");
}
