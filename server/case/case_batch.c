/* Group commit for RaiseCase. A durable commit costs a WAL flush, and
 * every write also takes the audit chain's head lock until it commits, so
 * one transaction per raise caps raises at one flush each, one after the
 * other. Instead, the raises that arrive while a batch is being written
 * wait in a queue and go together into the next batch (at the end of a
 * loop iteration, so that everything read in it goes together): one call of
 * case_raise_batch (migration 0009) in one transaction, sent with its COMMIT
 * in one round trip, with every case's event, audit entry and idempotency
 * key. Each request is answered only after its batch has committed. At low
 * load a batch holds one request, so a raise waits for no one.
 *
 * Keys: a request whose key is in a batch, being built or in flight, waits
 * in the queue for the next batch after that one is over, which then finds
 * the key with its case as raised and answers with it again. A key claimed
 * meanwhile by another writer (another gridd) makes the batch fail when
 * that one commits.
 *
 * When a batch fails for a reason that belongs to one of its requests
 * rather than to the database link (such a key, a rule of the database),
 * its requests are written again each in a batch of its own, so that only
 * the faulty one fails.
 *
 * Caller: case_raise (case_write.c) through case_batch_add; case.c stops the
 * queue on shutdown.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/htab.h"
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

/* An idempotency key in a batch: its principal's and its own. */
struct claim {
	const char *actor;
	const char *key;
	uint64_t hash;
};

static uint64_t claim_hash(const char *actor, const char *key)
{
	return htab_hash_str(key) * 31 + htab_hash_str(actor);
}

uint64_t case_claim_hash(const void *elem)
{
	return ((const struct claim *)elem)->hash;
}

int case_claim_eq(const void *elem, const void *key)
{
	const struct claim *a = elem, *b = key;

	return strcmp(a->key, b->key) == 0 && strcmp(a->actor, b->actor) == 0;
}

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
	bool alone; /* a request of a refused batch, written again by itself */
	struct claim *claims; /* of its keyed requests, in cs->raise_keys */
	size_t nclaims;
	struct buf arrays[A_COUNT];
	const char *params[A_COUNT + 1]; /* the arrays, the clock */
	struct arena arena;		 /* the clock parameter, the claims' strings */
};

static void flush(struct cases *cs);

/* Takes the keys of b's requests out of cs->raise_keys. */
static void release_keys(struct batch *b)
{
	for (size_t i = 0; i < b->nclaims; i++)
		htab_remove(&b->cs->raise_keys, &b->claims[i], b->claims[i].hash);
	b->nclaims = 0;
}

static void batch_free(struct batch *b)
{
	release_keys(b);
	for (size_t i = 0; i < A_COUNT; i++)
		buf_finish(&b->arrays[i]);
	arena_finish(&b->arena);
	free(b->claims);
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
	struct claim *c = &b->claims[b->nclaims];

	for (size_t i = 0; i < A_COUNT; i++) {
		if (db_array_elem(&b->arrays[i], v[i], b->n == 0) < 0)
			return -ENOMEM;
	}
	if (r->key) {
		/* In the batch's arena: r's goes when r is answered. */
		*c = (struct claim){arena_strdup(&b->arena, r->p[9]),
				    arena_strdup(&b->arena, r->key), claim_hash(r->p[9], r->key)};
		if (!c->actor || !c->key || htab_insert(&b->cs->raise_keys, c) < 0)
			return -ENOMEM;
		b->nclaims++;
	}
	b->reqs[b->n++] = r;
	return 0;
}

/* Whether a request with r's key is in a batch, in flight or being built:
 * r waits for the next one, so that a batch never meets its twin in the
 * database (case_raise_batch would fail on it). */
static bool key_taken(const struct cases *cs, const struct raise_req *r)
{
	struct claim k = {r->p[9], r->key, claim_hash(r->p[9], r->key)};

	return htab_find(&cs->raise_keys, &k, k.hash) != NULL;
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

/* Answers the requests not answered yet with their cases. */
static void reply_all(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct raise_req *r = b->reqs[i];
		if (!r)
			continue; /* answered already (a replay, a conflict) */
		b->reqs[i] = NULL;
		rpc_reply(r->call, r->result);
	}
}

/* Reads the batch's rows (after its commit) into each request's reply, or
 * answers it now: a conflict, a replay of a stored reply. -EPROTO when the
 * rows are not one per request, -ENOMEM. */
static int read_rows(struct batch *b, PGresult *res)
{
	const struct tree *t = grid_tree(b->cs->srv->grid);
	int nrows = res ? PQntuples(res) : 0;
	int c_idx = res ? PQfnumber(res, "idx") : -1,
	    c_verdict = res ? PQfnumber(res, "verdict") : -1;
	int c_stored = res ? PQfnumber(res, "stored") : -1;
	struct case_cols cols;

	if (nrows != (int)b->n || c_idx < 0 || c_verdict < 0 || c_stored < 0)
		return -EPROTO;
	case_cols_find(&cols, res);
	for (int row = 0; row < nrows; row++) {
		long idx = strtol(PQgetvalue(res, row, c_idx), NULL, 10);
		const char *verdict = PQgetvalue(res, row, c_verdict);
		struct raise_req *r;

		if (idx < 1 || (size_t)idx > b->n || !b->reqs[idx - 1] || b->reqs[idx - 1]->result)
			return -EPROTO;
		r = b->reqs[idx - 1];
		/* New, or a replay of a key a batch kept with its case. */
		if (strcmp(verdict, "new") == 0 ||
		    (strcmp(verdict, "replay") == 0 && PQgetisnull(res, row, c_stored))) {
			r->result = case_row_msg(rpc_arena(r->call), t, res, &cols, row);
			if (!r->result)
				return -ENOMEM;
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
	return 0;
}

static struct batch *batch_new(struct cases *cs, size_t cap);
static void submit(struct batch *b);

/* The batch failed as a whole for a reason of the database's, not of its
 * link: write its requests again each in a batch of its own, so that only
 * a faulty one fails (a request alone fails with its error). Such batches
 * do not wait for a place: they are few, and after a failure. */
static void one_by_one(struct batch *b, const char *why)
{
	log_warn("event=case_batch_split requests=%zu error=\"%s\"", b->n, why);
	release_keys(b);
	for (size_t i = 0; i < b->n; i++) {
		struct raise_req *r = b->reqs[i];
		struct batch *one;

		b->reqs[i] = NULL;
		if (!r)
			continue;
		one = batch_new(b->cs, 1);
		if (!one || add_req(one, r) < 0) {
			if (one)
				batch_free(one);
			rpc_fail(r->call, -ENOMEM, "out of memory");
			continue;
		}
		one->alone = true;
		submit(one);
	}
}

/* The rows come after the commit. */
static void on_written(struct db_query *q, int status, void *data)
{
	struct batch *b = data;

	if (status < 0) {
		if (link_failure(status) || b->alone)
			fail_all(b, status, db_query_error(q));
		else
			one_by_one(b, db_query_error(q));
		batch_done(b);
		return;
	}
	if (read_rows(b, db_query_result(q, 0)) < 0)
		fail_all(b, -EIO, "the cases were raised but could not be read back");
	reply_all(b);
	batch_done(b);
}

static struct batch *batch_new(struct cases *cs, size_t cap)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (!b || !(b->reqs = calloc(cap, sizeof(*b->reqs))) ||
	    !(b->claims = calloc(cap, sizeof(*b->claims)))) {
		if (b)
			free(b->reqs);
		free(b);
		return NULL;
	}
	b->cs = cs;
	arena_init(&b->arena, 64);
	for (size_t i = 0; i < A_COUNT; i++) {
		buf_init(&b->arrays[i], 0);
		buf_putc(&b->arrays[i], '{');
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

/* Sends b, its requests added, in a transaction of its own; answers them
 * all when it cannot. */
static void submit(struct batch *b)
{
	struct cases *cs = b->cs;
	struct db_query *q = db_query_create(cs->srv->db);
	uint64_t deadline = UINT64_MAX;
	int r;

	for (size_t i = 0; i < b->n; i++) {
		uint64_t left = rpc_time_left_ms(b->reqs[i]->call);
		deadline = left < deadline ? left : deadline;
	}
	cs->raise_inflight++;
	cs->raise_inflight_reqs += b->n;
	b->params[A_COUNT] = clock_sql_param(&b->arena);
	if (!q || close_arrays(b->arrays, A_COUNT, b->params) < 0 ||
	    db_query_add(q, &case_stmts[CASE_STMT_RAISE_BATCH], b->params) < 0) {
		db_query_destroy(q);
		fail_all(b, -ENOMEM, "out of memory");
		batch_done(b);
		return;
	}
	r = db_query_submit(q, deadline, on_written, b);
	if (r < 0) {
		/* q is freed; the pool is down. */
		fail_all(b, r, "");
		batch_done(b);
	}
}

/* Sends the queued requests as one batch, when one more may be in flight. */
static void flush(struct cases *cs)
{
	struct list *pos, *tmp;
	struct batch *b;
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
	if (!b) {
		/* Nothing may be in flight to flush the queue later. */
		log_warn("event=case_batch_failed error=\"out of memory\"");
		drain(cs, -ENOMEM, "out of memory");
		return;
	}
	list_for_each_safe(pos, tmp, &cs->raise_queue)
	{
		struct raise_req *r = list_entry(pos, struct raise_req, link);
		if (b->n == cap)
			break;
		if (r->key && key_taken(cs, r))
			continue; /* the next batch */
		list_remove(&r->link);
		cs->raise_queued--;
		if (add_req(b, r) < 0) {
			rpc_fail(r->call, -ENOMEM, "out of memory");
			fail_all(b, -ENOMEM, "out of memory");
			batch_free(b);
			log_warn("event=case_batch_failed error=\"out of memory\"");
			drain(cs, -ENOMEM, "out of memory");
			return;
		}
	}
	if (b->n == 0) {
		/* All of them wait for their twins' batches. */
		batch_free(b);
		return;
	}
	submit(b);
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
