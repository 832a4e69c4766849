/* The task sweep: a timer that, every TASK_SWEEP_INTERVAL_MS, runs one
 * statement (task_sweep in migration 0006) sending the reminders and
 * overdue notices that have come due, as events, a batch of tasks at a
 * time. The SQL skips tasks another gridd process holds, so every process
 * on the database may sweep; each notice goes out once. The time is gridd's
 * clock (clock_sql_param), so gridd-testclock's AdvanceClock moves it.
 *
 * Started by task_start, closed by task_stop (task.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/clock.h"
#include "server/db/pool.h"
#include "server/log.h"
#include "server/server.h"
#include "server/task/task_db.h"
#include "server/task/task_private.h"

static void on_tick(uv_timer_t *timer);

static void on_swept(struct db_query *q, int status, void *data)
{
	struct tasks *tm = data;
	PGresult *res = db_query_result(q, 0);
	int64_t reminders = 0, overdue = 0;
	bool more = false;

	tm->sweeping = false;
	if (status < 0) {
		/* The pool reports a database that went away; the next tick
		 * tries again. */
		if (status != -EAGAIN && status != -ECANCELED) {
			char quoted[256];
			log_warn("event=task_sweep_failed error=%s",
				 log_quote(quoted, sizeof(quoted), db_query_error(q)));
		}
		return;
	}
	if (PQntuples(res) == 1 && task_db_i64(PQgetvalue(res, 0, 0), &reminders) == 0 &&
	    task_db_i64(PQgetvalue(res, 0, 1), &overdue) == 0)
		more = PQgetvalue(res, 0, 2)[0] == 't';
	if (reminders || overdue)
		log_info("event=task_sweep reminders=%" PRId64 " overdue=%" PRId64, reminders,
			 overdue);
	/* A full batch: there may be more waiting; go on at once. */
	if (more && !tm->stopped && tm->timer_open)
		uv_timer_start(&tm->timer, on_tick, 0, TASK_SWEEP_INTERVAL_MS);
}

static void on_tick(uv_timer_t *timer)
{
	struct tasks *tm = timer->data;
	struct db_query *q;

	if (tm->stopped || tm->sweeping || !db_pool_is_up(tm->srv->db))
		return;
	q = db_query_create(tm->srv->db);
	if (!q)
		return;
	/* NULL in production: the database's now(), which every process
	 * shares. */
	if (clock_is_test()) {
		snprintf(tm->now, sizeof(tm->now), "%" PRId64, clock_now_ms());
		tm->params[0] = tm->now;
	} else {
		tm->params[0] = NULL;
	}
	snprintf(tm->batch, sizeof(tm->batch), "%d", TASK_SWEEP_BATCH);
	tm->params[1] = tm->batch;
	if (db_query_add(q, &task_stmts[TASK_STMT_SWEEP], tm->params) < 0) {
		db_query_destroy(q);
		return;
	}
	/* Set first: the callback may run before submit returns. */
	tm->sweeping = true;
	if (db_query_submit(q, 0, on_swept, tm) < 0)
		tm->sweeping = false;
}

void task_sweep_start(struct tasks *tm)
{
	uv_timer_init(tm->srv->loop, &tm->timer);
	tm->timer.data = tm;
	tm->timer_open = true;
	uv_timer_start(&tm->timer, on_tick, TASK_SWEEP_INTERVAL_MS, TASK_SWEEP_INTERVAL_MS);
}

static void on_closed(uv_handle_t *h)
{
	struct tasks *tm = h->data;

	tm->timer_open = false;
	if (tm->free_on_close)
		free(tm);
}

void task_sweep_close(struct tasks *tm)
{
	if (!tm->timer_open || uv_is_closing((uv_handle_t *)&tm->timer))
		return;
	uv_timer_stop(&tm->timer);
	uv_close((uv_handle_t *)&tm->timer, on_closed);
}
