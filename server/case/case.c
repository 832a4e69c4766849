/* The cases domain's lifecycle and its sweep; see case.h.
 *
 * The sweep is a timer: each tick runs case_sweep (migration 0008, set-based
 * since 0005's loop), which handles a batch of cases whose warning or
 * deadline has come, in one transaction with SKIP LOCKED, so several gridd
 * processes may sweep the same database; a full batch runs the next one at
 * once (bench/sweep measures it). It also removes idempotency keys older
 * than a day.
 */
#include "server/case/case.h"

#include <errno.h>
#include <stdlib.h>

#include "server/case/case_db.h"
#include "server/case/case_private.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/log.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

#define SWEEP_EVERY_MS 1000
#define SWEEP_BATCH 500
#define EXPIRE_EVERY (3600 * 1000 / SWEEP_EVERY_MS)

struct cases *case_of(const struct rpc_call *call)
{
	return rpc_server(call)->cases;
}

static void sweep(struct cases *cs);

static void on_swept(struct db_query *q, int status, void *data)
{
	struct cases *cs = data;
	PGresult *res = db_query_result(q, 0);
	int n = 0;

	cs->sweeping = false;
	if (status == 0 && res && PQntuples(res) == 1)
		n = atoi(PQgetvalue(res, 0, 0));
	else if (status < 0 && status != -ECANCELED && status != -EAGAIN)
		log_warn("event=case_sweep_failed error=\"%s\"", db_query_error(q));
	if (n > 0)
		log_info("event=case_sweep cases=%d", n);
	/* A full batch: more are waiting. */
	if (n >= SWEEP_BATCH && !cs->stopped)
		sweep(cs);
}

static void sweep(struct cases *cs)
{
	struct db_query *q;

	if (cs->sweeping || cs->stopped)
		return;
	q = db_query_create(cs->srv->db);
	arena_finish(&cs->sweep_arena);
	arena_init(&cs->sweep_arena, 256);
	cs->sweep_params[0] = clock_sql_param(&cs->sweep_arena);
	cs->sweep_params[1] = SWEEP_BATCH_TEXT;
	if (!q || db_query_add(q, &case_stmts[CASE_STMT_SWEEP], cs->sweep_params) < 0) {
		db_query_destroy(q);
		return;
	}
	cs->sweeping = true;
	if (db_query_submit(q, 0, on_swept, cs) < 0)
		cs->sweeping = false; /* the database is away: next tick */
}

static void on_tick(uv_timer_t *t)
{
	struct cases *cs = t->data;

	sweep(cs);
	if (++cs->ticks % EXPIRE_EVERY == 0)
		idem_expire(cs->srv);
}

int case_create(struct server *srv, struct cases **ret)
{
	struct cases *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return -ENOMEM;
	cs->srv = srv;
	list_init(&cs->raise_queue);
	htab_init(&cs->raise_keys, case_claim_hash, case_claim_eq);
	arena_init(&cs->sweep_arena, 256);
	uv_timer_init(srv->loop, &cs->timer);
	cs->timer.data = cs;
	uv_check_init(srv->loop, &cs->raise_check);
	cs->raise_check.data = cs;
	cs->handles_open = 2;
	*ret = cs;
	return 0;
}

int case_start(struct cases *cs)
{
	int r = db_pool_register(cs->srv->db, case_stmts, CASE_STMT_COUNT);

	if (r < 0)
		return r;
	uv_timer_start(&cs->timer, on_tick, SWEEP_EVERY_MS, SWEEP_EVERY_MS);
	return 0;
}

void case_stop(struct cases *cs)
{
	if (!cs || cs->stopped)
		return;
	cs->stopped = true;
	uv_timer_stop(&cs->timer);
	case_batch_stop(cs);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct cases *cs = h->data;

	if (--cs->handles_open > 0)
		return;
	arena_finish(&cs->sweep_arena);
	htab_finish(&cs->raise_keys);
	free(cs);
}

void case_destroy(struct cases *cs)
{
	if (!cs)
		return;
	uv_close((uv_handle_t *)&cs->timer, on_handle_closed);
	uv_close((uv_handle_t *)&cs->raise_check, on_handle_closed);
}
