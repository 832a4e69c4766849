/* The PostgreSQL pool and listener; see pool.h.
 *
 * Each connection is a small state machine (DOWN -> CONNECTING -> IDLE <->
 * BUSY, and back to DOWN on any failure) whose state changes only in
 * set_state(). Sockets are watched with uv_poll: while connecting, a fresh
 * poll handle is made after every PQconnectPoll step, because libpq may close
 * the socket and open another one (even with the same descriptor number)
 * between two steps. Once connected the connection is in pipeline mode and
 * always watched for reading, so a server that goes away is noticed at once
 * even when idle; writing readiness is watched only while PQflush has data
 * left.
 *
 * A query is sent as [Parse] Bind/Execute per statement, then one Sync; the
 * results come back as one result and a NULL per statement and a
 * PGRES_PIPELINE_SYNC at the end. struct expect records what is due next so
 * that results are matched to statements without guessing.
 *
 * A link can also stall without closing (a dead peer behind a NAT, a hung
 * proxy): no error ever comes. A query in flight is covered by its deadline
 * (on_tick). An idle pool connection gets a probe query ("SELECT 1" with the
 * health check interval as its deadline) once it has been idle that long,
 * and the listener a "SELECT 1" on its timer; no answer drops the
 * connection, which then reconnects like after any failure.
 */
#include "server/db/pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/strutil.h"
#include "server/log.h"

#define DEFAULT_SIZE 4
#define DEFAULT_QUERY_TIMEOUT_MS 30000
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_BACKOFF_MAX_MS 2000
#define DEFAULT_HEALTH_CHECK_MS 10000
#define BACKOFF_MIN_MS 50
#define TICK_MS 100
#define MAX_STMTS 1024

enum conn_state {
	CONN_DOWN, /* waiting for the retry timer */
	CONN_CONNECTING,
	CONN_IDLE,   /* connected, nothing in flight */
	CONN_BUSY,   /* a query (pool) or LISTEN (listener) in flight */
	CONN_CLOSED, /* pool closing: never reconnects */
};

enum expect_kind {
	EXPECT_PREPARE,
	EXPECT_QUERY,
	EXPECT_CONTROL, /* BEGIN, COMMIT, ROLLBACK */
	EXPECT_SYNC,
	EXPECT_PAUSE, /* an interactive transaction's first part is in */
};

/* Where an interactive transaction stands (db_query_set_interactive). */
enum phase {
	PHASE_SINGLE,	  /* not interactive: one batch and a Sync */
	PHASE_OPEN,	  /* BEGIN and the first statements sent, no Sync */
	PHASE_WAITING,	  /* their results are with the caller */
	PHASE_COMMITTING, /* more statements, COMMIT and Sync sent */
	PHASE_ROLLING_BACK,
};

struct expect {
	enum expect_kind kind;
	unsigned index; /* statement index in the query, or stmt->index for PREPARE */
	bool got_result;
};

struct db_conn {
	struct db_pool *pool;	      /* NULL for a listener */
	struct db_listener *listener; /* NULL for a pool connection */
	unsigned id;
	enum conn_state state;
	PGconn *pg;
	uv_poll_t *poll;
	int poll_events;
	uv_timer_t timer; /* retry backoff and connect timeout */
	unsigned backoff_ms;
	uint8_t *prepared;  /* per registered statement */
	struct db_query *q; /* in flight */
	struct expect *exp;
	size_t nexp, iexp, capexp;
	uint64_t last_used; /* pool: loop time the last query ended (or connected) */
	bool probing;	    /* listener: a health check is unanswered */
};

struct query_item {
	const struct db_stmt *stmt;
	const char *const *params;
};

struct db_query {
	struct db_pool *pool;
	struct db_query *next; /* FIFO link */
	struct query_item *items;
	PGresult **results;
	size_t n, cap;
	uint64_t deadline; /* loop time in ms */
	db_query_cb cb;
	void *data;
	char *error;
	char sqlstate[6];
	bool sent;
	bool interactive;
	bool probe;    /* the pool's health check, no caller */
	size_t hidden; /* leading statements db_query_result skips */
	enum phase phase;
	size_t nsent;	      /* items sent so far */
	struct db_conn *conn; /* while interactive and in progress */
};

struct db_pool {
	uv_loop_t *loop;
	char *conninfo;
	struct db_pool_options opt;
	struct db_conn *conns;
	unsigned nconns;
	unsigned up;		      /* connections IDLE or BUSY */
	bool down;		      /* every connection failed since the last was up */
	struct db_query *head, *tail; /* waiting queries */
	unsigned nqueued;
	struct db_stmt **stmts;
	unsigned nstmts;
	uv_timer_t tick; /* query deadlines */
	unsigned open_handles;
	bool closing;
	void (*close_cb)(void *data);
	void *close_data;
	db_pool_state_cb state_cb;
	void *state_data;
	struct db_stmt probe_stmt; /* registered first */
};

struct db_listener {
	uv_loop_t *loop;
	char *conninfo;
	char *listen_sql;
	struct db_conn conn;
	db_notify_cb on_notify;
	db_ready_cb on_ready;
	void *data;
	unsigned connect_timeout_ms, health_check_ms;
	unsigned open_handles;
	bool closing;
};

static void conn_connect(struct db_conn *c);
static int send_control(struct db_conn *c, const char *sql);
static int send_sync(struct db_conn *c);
static int send_items(struct db_conn *c, struct db_query *q);
static int conn_flush(struct db_conn *c);
static void conn_fail(struct db_conn *c, const char *why);
static void pool_dispatch(struct db_pool *p);
static void query_finish(struct db_query *q, int status);

/* --- helpers ------------------------------------------------------------ */

static uv_loop_t *conn_loop(struct db_conn *c)
{
	return c->pool ? c->pool->loop : c->listener->loop;
}

static const char *conn_kind(struct db_conn *c)
{
	return c->pool ? "pool" : "listener";
}

static void pool_handle_closed(struct db_pool *p)
{
	if (--p->open_handles == 0) {
		void (*cb)(void *) = p->close_cb;
		void *data = p->close_data;
		for (unsigned i = 0; i < p->nconns; i++) {
			free(p->conns[i].prepared);
			free(p->conns[i].exp);
		}
		free(p->conns);
		free(p->stmts);
		free(p->conninfo);
		free(p);
		if (cb)
			cb(data);
	}
}

static void handle_closed(struct db_conn *c)
{
	if (c->pool) {
		pool_handle_closed(c->pool);
	} else {
		struct db_listener *l = c->listener;
		if (--l->open_handles == 0) {
			free(l->conninfo);
			free(l->listen_sql);
			free(l);
		}
	}
}

static void on_poll_closed(uv_handle_t *h)
{
	struct db_conn *c = h->data;

	free(h);
	handle_closed(c);
}

static void on_timer_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

static void poll_drop(struct db_conn *c)
{
	if (!c->poll)
		return;
	/* uv_close stops watching the descriptor before it returns, so
	 * PQfinish may close it right after. */
	uv_close((uv_handle_t *)c->poll, on_poll_closed);
	c->poll = NULL;
	c->poll_events = 0;
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Watches the connection's current socket for events, making a new poll
 * handle when fresh is set or the socket changed. */
static int poll_watch(struct db_conn *c, int events, bool fresh)
{
	int fd = PQsocket(c->pg);
	int r;

	if (fd < 0)
		return -EBADF;
	if (c->poll && (fresh || c->poll->io_watcher.fd != fd))
		poll_drop(c);
	if (!c->poll) {
		c->poll = malloc(sizeof(*c->poll));
		if (!c->poll)
			return -ENOMEM;
		r = uv_poll_init(conn_loop(c), c->poll, fd);
		if (r < 0) {
			free(c->poll);
			c->poll = NULL;
			return r;
		}
		c->poll->data = c;
		if (c->pool)
			c->pool->open_handles++;
		else
			c->listener->open_handles++;
	}
	if (events == c->poll_events)
		return 0;
	r = uv_poll_start(c->poll, events, on_poll);
	if (r == 0)
		c->poll_events = events;
	return r;
}

static void set_state(struct db_conn *c, enum conn_state s)
{
	bool was_up = c->state == CONN_IDLE || c->state == CONN_BUSY;
	bool is_up = s == CONN_IDLE || s == CONN_BUSY;

	c->state = s;
	if (!c->pool || was_up == is_up)
		return;
	struct db_pool *p = c->pool;
	if (is_up) {
		p->down = false;
		if (p->up++ == 0 && p->state_cb)
			p->state_cb(1, p->state_data);
	} else {
		if (--p->up == 0 && p->state_cb && !p->closing)
			p->state_cb(0, p->state_data);
	}
}

int db_errno_from_sqlstate(const char *s)
{
	if (!s || strlen(s) != 5)
		return -EIO;
	if (strcmp(s, "GR400") == 0)
		return -EINVAL;
	if (strcmp(s, "GR403") == 0)
		return -EACCES;
	if (strcmp(s, "GR404") == 0)
		return -ENOENT;
	if (strcmp(s, "GR409") == 0 || strcmp(s, "23505") == 0)
		return -EEXIST;
	if (strcmp(s, "GR412") == 0)
		return -EBUSY;
	if (strncmp(s, "22", 2) == 0 || strcmp(s, "23514") == 0 || strcmp(s, "23502") == 0)
		return -EINVAL;
	if (strcmp(s, "23503") == 0)
		return -ENOENT;
	/* Serialization failures and deadlocks: the transaction did nothing
	 * and a retry may succeed. So may the server being shut down or
	 * short of resources. */
	if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 || strncmp(s, "08", 2) == 0 ||
	    strncmp(s, "57P", 3) == 0 || strncmp(s, "53", 2) == 0)
		return -EAGAIN;
	if (strcmp(s, "57014") == 0)
		return -ETIMEDOUT;
	return -EIO;
}

void db_ignore_notice(void *arg, const char *message)
{
	/* libpq would print NOTICEs ("... already exists, skipping") on
	 * stderr, outside our log format; none of them needs acting on. */
}

/* --- queries ------------------------------------------------------------ */

struct db_query *db_query_create(struct db_pool *pool)
{
	struct db_query *q = calloc(1, sizeof(*q));

	if (q)
		q->pool = pool;
	return q;
}

int db_query_add(struct db_query *q, const struct db_stmt *stmt, const char *const *params)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 4;
		struct query_item *items = realloc(q->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		q->items = items;
		PGresult **results = realloc(q->results, cap * sizeof(*results));
		if (!results)
			return -ENOMEM;
		q->results = results;
		q->cap = cap;
	}
	q->items[q->n].stmt = stmt;
	q->items[q->n].params = params;
	q->results[q->n] = NULL;
	q->n++;
	return 0;
}

void db_query_destroy(struct db_query *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		PQclear(q->results[i]);
	free(q->results);
	free(q->items);
	free(q->error);
	free(q);
}

PGresult *db_query_result(struct db_query *q, size_t i)
{
	i += q->hidden;
	return i < q->n ? q->results[i] : NULL;
}

int db_query_add_first(struct db_query *q, const struct db_stmt *stmt, const char *const *params)
{
	int r = db_query_add(q, stmt, params);

	if (r < 0)
		return r;
	memmove(q->items + 1, q->items, (q->n - 1) * sizeof(*q->items));
	q->items[0].stmt = stmt;
	q->items[0].params = params;
	q->hidden++;
	return 0;
}

const char *db_query_error(const struct db_query *q)
{
	return q->error ? q->error : "";
}

const char *db_query_sqlstate(const struct db_query *q)
{
	return q->sqlstate;
}

static void query_set_error(struct db_query *q, const char *sqlstate, const char *msg)
{
	if (q->error)
		return; /* the first error is the one that matters */
	q->error = strdup(msg ? msg : "database error");
	snprintf(q->sqlstate, sizeof(q->sqlstate), "%s", sqlstate ? sqlstate : "");
}

static void query_finish(struct db_query *q, int status)
{
	if (status < 0 && !q->error) {
		const char *msg = status == -EAGAIN	 ? "database unavailable"
				  : status == -ETIMEDOUT ? "database query timed out"
				  : status == -ECANCELED ? "server shutting down"
							 : "database error";
		query_set_error(q, "", msg);
	}
	if (q->cb)
		q->cb(q, status, q->data);
	db_query_destroy(q);
}

static void queue_push(struct db_pool *p, struct db_query *q)
{
	q->next = NULL;
	if (p->tail)
		p->tail->next = q;
	else
		p->head = q;
	p->tail = q;
	p->nqueued++;
}

static struct db_query *queue_pop(struct db_pool *p)
{
	struct db_query *q = p->head;

	if (!q)
		return NULL;
	p->head = q->next;
	if (!p->head)
		p->tail = NULL;
	p->nqueued--;
	q->next = NULL;
	return q;
}

static void queue_fail_all(struct db_pool *p, int status)
{
	struct db_query *q;

	while ((q = queue_pop(p)))
		query_finish(q, status);
}

int db_query_submit(struct db_query *q, uint64_t deadline_ms, db_query_cb cb, void *data)
{
	struct db_pool *p = q->pool;

	/* While the pool starts, queries wait for the first connection. */
	if (p->closing || p->down || q->n == 0) {
		int r = q->n == 0 ? -EINVAL : p->closing ? -ECANCELED : -EAGAIN;
		db_query_destroy(q);
		return r;
	}
	q->cb = cb;
	q->data = data;
	q->deadline = uv_now(p->loop) + (deadline_ms ? deadline_ms : p->opt.query_timeout_ms);
	queue_push(p, q);
	pool_dispatch(p);
	return 0;
}

void db_query_set_interactive(struct db_query *q)
{
	q->interactive = true;
}

int db_query_commit(struct db_query *q, db_query_cb cb, void *data)
{
	struct db_conn *c = q->conn;
	int r;

	if (!q->interactive || q->phase != PHASE_WAITING || !c)
		return -EINVAL;
	q->cb = cb;
	q->data = data;
	q->phase = PHASE_COMMITTING;
	r = send_items(c, q);
	if (r == 0)
		r = send_control(c, "COMMIT");
	if (r == 0)
		r = send_sync(c);
	if (r == 0)
		r = conn_flush(c);
	if (r < 0)
		conn_fail(c, PQerrorMessage(c->pg));
	return 0;
}

void db_query_rollback(struct db_query *q, db_query_cb cb, void *data)
{
	struct db_conn *c = q->conn;

	if (!q->interactive || q->phase != PHASE_WAITING || !c)
		return;
	q->cb = cb;
	q->data = data;
	q->phase = PHASE_ROLLING_BACK;
	if (send_control(c, "ROLLBACK") < 0 || send_sync(c) < 0 || conn_flush(c) < 0)
		conn_fail(c, PQerrorMessage(c->pg));
}

/* --- sending ------------------------------------------------------------- */

static int expect_push(struct db_conn *c, enum expect_kind kind, unsigned index)
{
	if (c->nexp == c->capexp) {
		size_t cap = c->capexp ? c->capexp * 2 : 16;
		struct expect *e = realloc(c->exp, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		c->exp = e;
		c->capexp = cap;
	}
	c->exp[c->nexp].kind = kind;
	c->exp[c->nexp].index = index;
	c->exp[c->nexp].got_result = false;
	c->nexp++;
	return 0;
}

/* Flushes libpq's output buffer, watching for writability while some is
 * left. */
static int conn_flush(struct db_conn *c)
{
	int r = PQflush(c->pg);

	if (r < 0)
		return -EIO;
	return poll_watch(c, UV_READABLE | (r == 1 ? UV_WRITABLE : 0), false);
}

static int send_control(struct db_conn *c, const char *sql)
{
	if (!PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0))
		return -EIO;
	return expect_push(c, EXPECT_CONTROL, 0);
}

static int send_sync(struct db_conn *c)
{
	if (!PQpipelineSync(c->pg))
		return -EIO;
	return expect_push(c, EXPECT_SYNC, 0);
}

/* Sends the statements not sent yet. */
static int send_items(struct db_conn *c, struct db_query *q)
{
	for (size_t i = q->nsent; i < q->n; i++) {
		const struct db_stmt *st = q->items[i].stmt;
		if (!c->prepared[st->index]) {
			if (!PQsendPrepare(c->pg, st->name, st->sql, st->nparams, NULL))
				return -EIO;
			if (expect_push(c, EXPECT_PREPARE, st->index) < 0)
				return -ENOMEM;
			/* Marked now so that a second use in this query does
			 * not prepare again; undone if the Parse fails. */
			c->prepared[st->index] = 1;
		}
		if (!PQsendQueryPrepared(c->pg, st->name, st->nparams, q->items[i].params, NULL,
					 NULL, 0))
			return -EIO;
		if (expect_push(c, EXPECT_QUERY, (unsigned)i) < 0)
			return -ENOMEM;
	}
	q->nsent = q->n;
	return 0;
}

static int conn_send_query(struct db_conn *c, struct db_query *q)
{
	int r = 0;

	c->nexp = 0;
	c->iexp = 0;
	if (q->interactive) {
		/* BEGIN, the statements, and a flush instead of a Sync: the
		 * transaction stays open for what the caller adds. */
		q->phase = PHASE_OPEN;
		q->conn = c;
		r = send_control(c, "BEGIN");
		if (r == 0)
			r = send_items(c, q);
		if (r == 0 && !PQsendFlushRequest(c->pg))
			r = -EIO;
		if (r == 0)
			r = expect_push(c, EXPECT_PAUSE, 0);
	} else {
		r = send_items(c, q);
		if (r == 0)
			r = send_sync(c);
	}
	if (r < 0)
		return r;
	q->sent = true;
	return conn_flush(c);
}

static void pool_dispatch(struct db_pool *p)
{
	for (unsigned i = 0; i < p->nconns && p->head; i++) {
		struct db_conn *c = &p->conns[i];
		if (c->state != CONN_IDLE)
			continue;
		struct db_query *q = queue_pop(p);
		c->q = q;
		set_state(c, CONN_BUSY);
		int r = conn_send_query(c, q);
		if (r < 0) {
			conn_fail(c, PQerrorMessage(c->pg));
			continue;
		}
	}
}

/* --- receiving ----------------------------------------------------------- */

static void conn_query_done(struct db_conn *c)
{
	struct db_query *q = c->q;
	int status = 0;

	/* A COMMIT that did not happen (an error before it, or in it) leaves
	 * the session in a failed transaction: roll it back first. */
	if (q->interactive && q->phase == PHASE_COMMITTING &&
	    PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
		q->phase = PHASE_ROLLING_BACK;
		c->nexp = c->iexp = 0;
		if (send_control(c, "ROLLBACK") < 0 || send_sync(c) < 0 || conn_flush(c) < 0)
			conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	c->q = NULL;
	q->conn = NULL;
	c->nexp = c->iexp = 0;
	c->last_used = uv_now(conn_loop(c));
	set_state(c, CONN_IDLE);
	if (q->error)
		status = db_errno_from_sqlstate(q->sqlstate);
	else if (q->phase == PHASE_ROLLING_BACK)
		status = -ECANCELED;
	query_finish(q, status);
	if (c->pool && !c->pool->closing)
		pool_dispatch(c->pool);
}

/* The first part of an interactive transaction is in: hand the results to
 * the caller, who commits or rolls back. */
static void conn_pause(struct db_conn *c)
{
	struct db_query *q = c->q;

	c->nexp = c->iexp = 0;
	if (q->error) {
		/* The server skipped the rest; end the failed transaction and
		 * report the error when that is done. */
		q->phase = PHASE_ROLLING_BACK;
		if (send_sync(c) < 0 || send_control(c, "ROLLBACK") < 0 || send_sync(c) < 0 ||
		    conn_flush(c) < 0)
			conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	q->phase = PHASE_WAITING;
	q->cb(q, 0, q->data);
	/* A caller that neither committed nor rolled back gets a rollback. */
	if (c->q == q && q->phase == PHASE_WAITING)
		db_query_rollback(q, NULL, NULL);
}

/* Consumes every result that has arrived. Returns <0 when the connection
 * must be dropped. */
static int conn_read_results(struct db_conn *c)
{
	while (c->q && c->iexp < c->nexp) {
		struct expect *e = &c->exp[c->iexp];
		PGresult *res;

		if (e->kind == EXPECT_PAUSE) {
			conn_pause(c);
			return 0;
		}
		if (PQisBusy(c->pg))
			return 0;
		res = PQgetResult(c->pg);
		if (!res) {
			/* The end of one statement's results. A NULL before
			 * any result means libpq has nothing for us yet. */
			if (e->kind == EXPECT_SYNC || !e->got_result)
				return 0;
			c->iexp++;
			continue;
		}

		ExecStatusType st = PQresultStatus(res);
		if (e->kind == EXPECT_SYNC) {
			PQclear(res);
			if (st != PGRES_PIPELINE_SYNC)
				return -EPROTO;
			if (++c->iexp < c->nexp)
				continue; /* a rollback follows */
			conn_query_done(c);
			return 0;
		}
		e->got_result = true;
		if (st == PGRES_FATAL_ERROR) {
			query_set_error(c->q, PQresultErrorField(res, PG_DIAG_SQLSTATE),
					PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
			if (e->kind == EXPECT_PREPARE) {
				c->prepared[e->index] = 0;
				log_error("event=db_prepare_failed stmt=%s error=\"%s\"",
					  c->pool->stmts[e->index]->name, c->q->error);
			}
		} else if (st == PGRES_PIPELINE_ABORTED) {
			/* A statement before this one failed; nothing ran. */
			if (e->kind == EXPECT_PREPARE)
				c->prepared[e->index] = 0;
		}
		if (e->kind == EXPECT_QUERY && st != PGRES_PIPELINE_ABORTED) {
			PQclear(c->q->results[e->index]);
			c->q->results[e->index] = res;
		} else {
			PQclear(res);
		}
	}
	return 0;
}

static void listener_drain_notifies(struct db_conn *c)
{
	PGnotify *n;

	/* Before LISTEN completed, on_ready's catch-up covers everything. */
	while ((n = PQnotifies(c->pg))) {
		if (c->state == CONN_IDLE)
			c->listener->on_notify(c->listener->data, n->relname, n->extra);
		PQfreemem(n);
		if (!c->pg)
			return;
	}
}

static void listener_read(struct db_conn *c)
{
	PGresult *res;

	/* Only the LISTEN command (BUSY) or a health check (probing) is ever
	 * in flight. */
	while ((c->state == CONN_BUSY || c->probing) && !PQisBusy(c->pg)) {
		res = PQgetResult(c->pg);
		if (!res) {
			c->probing = false;
			if (c->state != CONN_BUSY)
				break;
			set_state(c, CONN_IDLE);
			log_info("event=db_listen channel_ready=1");
			c->listener->on_ready(c->listener->data);
			break;
		}
		ExecStatusType st = PQresultStatus(res);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			log_error("event=db_listen_failed error=\"%s\"",
				  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		}
		PQclear(res);
	}
	listener_drain_notifies(c);
}

/* The listener's health check, every health_check_ms while connected: the
 * previous check (or LISTEN) still unanswered means the link is stuck. */
static void on_listener_health(uv_timer_t *t)
{
	struct db_conn *c = t->data;

	if (c->state == CONN_BUSY || c->probing) {
		conn_fail(c, "health check not answered; dropping the connection");
		return;
	}
	if (c->state != CONN_IDLE)
		return;
	if (!PQsendQuery(c->pg, "SELECT 1") || conn_flush(c) < 0) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	c->probing = true;
}

static void on_connected(struct db_conn *c)
{
	uv_timer_stop(&c->timer);
	c->backoff_ms = 0;
	if (PQsetnonblocking(c->pg, 1) != 0) {
		conn_fail(c, "cannot make the connection nonblocking");
		return;
	}
	if (c->pool) {
		if (!PQenterPipelineMode(c->pg)) {
			conn_fail(c, "cannot enter pipeline mode");
			return;
		}
		memset(c->prepared, 0, MAX_STMTS);
		if (poll_watch(c, UV_READABLE, true) < 0) {
			conn_fail(c, "cannot watch the connection");
			return;
		}
		log_info("event=db_connected kind=pool conn=%u", c->id);
		c->last_used = uv_now(conn_loop(c));
		set_state(c, CONN_IDLE);
		pool_dispatch(c->pool);
	} else {
		if (!PQsendQuery(c->pg, c->listener->listen_sql)) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		set_state(c, CONN_BUSY);
		c->probing = false;
		if (poll_watch(c, UV_READABLE, true) < 0 || conn_flush(c) < 0) {
			conn_fail(c, "cannot watch the connection");
			return;
		}
		unsigned every = c->listener->health_check_ms;
		uv_timer_start(&c->timer, on_listener_health, every, every);
		log_info("event=db_connected kind=listener");
	}
}

static void connect_step(struct db_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_OK:
		on_connected(c);
		return;
	case PGRES_POLLING_READING:
		if (poll_watch(c, UV_READABLE, true) < 0)
			conn_fail(c, "cannot watch the connection");
		return;
	case PGRES_POLLING_WRITING:
		if (poll_watch(c, UV_WRITABLE, true) < 0)
			conn_fail(c, "cannot watch the connection");
		return;
	case PGRES_POLLING_FAILED:
	default:
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct db_conn *c = h->data;

	if (c->state == CONN_CONNECTING) {
		connect_step(c);
		return;
	}
	if (c->state != CONN_IDLE && c->state != CONN_BUSY)
		return;
	if (status < 0) {
		conn_fail(c, uv_strerror(status));
		return;
	}
	if (events & UV_WRITABLE) {
		if (conn_flush(c) < 0) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
	}
	if (events & UV_READABLE) {
		if (!PQconsumeInput(c->pg)) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		if (c->listener) {
			listener_read(c);
		} else if (conn_read_results(c) < 0) {
			conn_fail(c, "unexpected result from the server");
			return;
		}
		/* Results may have freed the connection for the next query
		 * that is already being flushed; the poll mask is up to
		 * date either way. */
		if (c->pg && PQstatus(c->pg) == CONNECTION_BAD)
			conn_fail(c, PQerrorMessage(c->pg));
	}
}

/* --- connection lifecycle ------------------------------------------------ */

static void on_retry_timer(uv_timer_t *t)
{
	struct db_conn *c = t->data;

	if (c->state == CONN_DOWN)
		conn_connect(c);
	else if (c->state == CONN_CONNECTING)
		conn_fail(c, "connection attempt timed out");
}

static unsigned next_backoff(struct db_conn *c, unsigned max)
{
	unsigned b = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;

	if (b > max)
		b = max;
	c->backoff_ms = b;
	/* Up to a quarter of jitter, so that the connections of several
	 * gridd processes do not knock on the server in step. */
	return b - (unsigned)(rand() % (int)(b / 4 + 1));
}

static void conn_fail(struct db_conn *c, const char *why)
{
	struct db_query *q = c->q;
	bool was_up = c->state == CONN_IDLE || c->state == CONN_BUSY;
	char msg[256];

	if (c->state == CONN_CLOSED)
		return;
	snprintf(msg, sizeof(msg), "%s", why && *why ? why : "connection lost");
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '"')
			*p = ' ';
	if (was_up || c->backoff_ms == 0 || log_enabled(LOG_DEBUG))
		log_warn("event=db_conn_lost kind=%s conn=%u error=\"%s\"", conn_kind(c), c->id,
			 str_trim(msg));
	poll_drop(c);
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->q = NULL;
	c->nexp = c->iexp = 0;
	set_state(c, CONN_DOWN);
	if (q)
		query_finish(q, -EAGAIN);
	if (c->pool && c->pool->up == 0) {
		/* Nothing left to run queries on: fail fast until a connection
		 * is back, rather than let callers wait out their deadlines. */
		c->pool->down = true;
		queue_fail_all(c->pool, -EAGAIN);
	}

	unsigned max = c->pool ? c->pool->opt.backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
	uv_timer_start(&c->timer, on_retry_timer, next_backoff(c, max), 0);
}

static void conn_connect(struct db_conn *c)
{
	const char *conninfo = c->pool ? c->pool->conninfo : c->listener->conninfo;
	const char *const keys[] = {"dbname", "fallback_application_name", NULL};
	const char *const values[] = {conninfo, "gridd", NULL};
	unsigned timeout =
	    c->pool ? c->pool->opt.connect_timeout_ms : c->listener->connect_timeout_ms;

	c->pg = PQconnectStartParams(keys, values, 1);
	if (!c->pg) {
		conn_fail(c, "out of memory");
		return;
	}
	PQsetNoticeProcessor(c->pg, db_ignore_notice, NULL);
	set_state(c, CONN_CONNECTING);
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	uv_timer_start(&c->timer, on_retry_timer, timeout, 0);
	connect_step(c);
}

static void conn_init(struct db_conn *c, uv_loop_t *loop, unsigned id)
{
	c->id = id;
	c->state = CONN_DOWN;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
}

static void conn_close(struct db_conn *c)
{
	struct db_query *q = c->q;

	poll_drop(c);
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->q = NULL;
	set_state(c, CONN_CLOSED);
	if (q)
		query_finish(q, -ECANCELED);
	uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* --- the pool ------------------------------------------------------------ */

/* Sends the probe on every connection idle for a health check interval.
 * Nothing is waiting for these connections (the queue is empty whenever one
 * is idle), so the probe delays nobody but a query arriving meanwhile, by a
 * round trip. */
static void probe_idle(struct db_pool *p, uint64_t now)
{
	for (unsigned i = 0; i < p->nconns; i++) {
		struct db_conn *c = &p->conns[i];
		if (c->state != CONN_IDLE || now - c->last_used < p->opt.health_check_ms)
			continue;
		struct db_query *q = db_query_create(p);
		if (!q || db_query_add(q, &p->probe_stmt, NULL) < 0) {
			db_query_destroy(q);
			return;
		}
		q->probe = true;
		q->deadline = now + p->opt.health_check_ms;
		c->q = q;
		set_state(c, CONN_BUSY);
		if (conn_send_query(c, q) < 0)
			conn_fail(c, PQerrorMessage(c->pg));
	}
}

static void on_tick(uv_timer_t *t)
{
	struct db_pool *p = t->data;
	uint64_t now = uv_now(p->loop);
	struct db_query **link = &p->head, *q, *expired = NULL, **exp_tail = &expired;

	/* Queued queries past their deadline never reach PostgreSQL. They are
	 * unlinked first and finished after, since a callback may queue new
	 * queries. */
	p->tail = NULL;
	while ((q = *link)) {
		if (q->deadline <= now) {
			*link = q->next;
			p->nqueued--;
			q->next = NULL;
			*exp_tail = q;
			exp_tail = &q->next;
			continue;
		}
		p->tail = q;
		link = &q->next;
	}
	while ((q = expired)) {
		expired = q->next;
		query_finish(q, -ETIMEDOUT);
	}

	/* A query in flight past its deadline means the link or the server
	 * is stuck: give up on this connection so the others carry on. */
	for (unsigned i = 0; i < p->nconns; i++) {
		struct db_conn *c = &p->conns[i];
		if (c->state != CONN_BUSY || !c->q || c->q->deadline > now)
			continue;
		struct db_query *stuck = c->q;
		bool probe = stuck->probe;
		c->q = NULL;
		query_finish(stuck, -ETIMEDOUT);
		conn_fail(c, probe ? "health check not answered; dropping the connection"
				   : "query deadline passed; dropping the connection");
	}
	probe_idle(p, now);
}

struct db_pool *db_pool_create(uv_loop_t *loop, const char *conninfo,
			       const struct db_pool_options *opt)
{
	struct db_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->loop = loop;
	if (opt)
		p->opt = *opt;
	if (!p->opt.size)
		p->opt.size = DEFAULT_SIZE;
	if (!p->opt.query_timeout_ms)
		p->opt.query_timeout_ms = DEFAULT_QUERY_TIMEOUT_MS;
	if (!p->opt.connect_timeout_ms)
		p->opt.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	if (!p->opt.backoff_max_ms)
		p->opt.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
	if (!p->opt.health_check_ms)
		p->opt.health_check_ms = DEFAULT_HEALTH_CHECK_MS;
	p->conninfo = strdup(conninfo);
	p->conns = calloc(p->opt.size, sizeof(*p->conns));
	p->stmts = calloc(MAX_STMTS, sizeof(*p->stmts));
	if (!p->conninfo || !p->conns || !p->stmts)
		goto fail;
	p->nconns = p->opt.size;
	p->probe_stmt.name = "db_probe";
	p->probe_stmt.sql = "SELECT 1";
	db_pool_register(p, &p->probe_stmt, 1);
	for (unsigned i = 0; i < p->nconns; i++) {
		p->conns[i].prepared = calloc(MAX_STMTS, 1);
		if (!p->conns[i].prepared)
			goto fail;
	}
	uv_timer_init(loop, &p->tick);
	p->tick.data = p;
	p->open_handles = 1;
	uv_timer_start(&p->tick, on_tick, TICK_MS, TICK_MS);
	for (unsigned i = 0; i < p->nconns; i++) {
		p->conns[i].pool = p;
		conn_init(&p->conns[i], loop, i);
		p->open_handles++;
		conn_connect(&p->conns[i]);
	}
	return p;
fail:
	if (p->conns)
		for (unsigned i = 0; i < p->opt.size; i++)
			free(p->conns[i].prepared);
	free(p->conns);
	free(p->stmts);
	free(p->conninfo);
	free(p);
	return NULL;
}

static void on_tick_closed(uv_handle_t *h)
{
	pool_handle_closed(h->data);
}

void db_pool_close(struct db_pool *p, void (*cb)(void *data), void *data)
{
	if (!p || p->closing)
		return;
	p->closing = true;
	p->close_cb = cb;
	p->close_data = data;
	queue_fail_all(p, -ECANCELED);
	for (unsigned i = 0; i < p->nconns; i++)
		conn_close(&p->conns[i]);
	uv_close((uv_handle_t *)&p->tick, on_tick_closed);
}

void db_pool_set_state_cb(struct db_pool *p, db_pool_state_cb cb, void *data)
{
	p->state_cb = cb;
	p->state_data = data;
}

int db_pool_register(struct db_pool *p, struct db_stmt *stmts, size_t n)
{
	if (p->nstmts + n > MAX_STMTS)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		stmts[i].index = p->nstmts;
		p->stmts[p->nstmts++] = &stmts[i];
	}
	return 0;
}

int db_pool_is_up(const struct db_pool *p)
{
	return !p->down && !p->closing;
}

unsigned db_pool_connected(const struct db_pool *p)
{
	return p->up;
}

unsigned db_pool_queued(const struct db_pool *p)
{
	return p->nqueued;
}

/* --- the listener -------------------------------------------------------- */

struct db_listener *db_listener_create(uv_loop_t *loop, const char *conninfo,
				       const char *const *channels, db_notify_cb on_notify,
				       db_ready_cb on_ready, void *data)
{
	struct db_listener *l = calloc(1, sizeof(*l));
	struct buf sql;

	if (!l)
		return NULL;
	l->loop = loop;
	l->conninfo = strdup(conninfo);
	/* The channels are fixed identifiers of ours, never a peer's input;
	 * LISTEN takes no parameters, so they are quoted as identifiers. */
	buf_init(&sql, 0);
	for (const char *const *ch = channels; *ch; ch++)
		buf_printf(&sql, "LISTEN \"%s\";", *ch);
	l->listen_sql = buf_cstr(&sql) ? (char *)buf_steal(&sql, NULL) : NULL;
	buf_finish(&sql);
	if (!l->conninfo || !l->listen_sql) {
		free(l->conninfo);
		free(l->listen_sql);
		free(l);
		return NULL;
	}
	l->on_notify = on_notify;
	l->on_ready = on_ready;
	l->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	l->health_check_ms = DEFAULT_HEALTH_CHECK_MS;
	l->data = data;
	l->conn.listener = l;
	conn_init(&l->conn, loop, 0);
	l->open_handles = 1;
	conn_connect(&l->conn);
	return l;
}

void db_listener_set_timeouts(struct db_listener *l, unsigned connect_timeout_ms,
			      unsigned health_check_ms)
{
	l->connect_timeout_ms =
	    connect_timeout_ms ? connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	l->health_check_ms = health_check_ms ? health_check_ms : DEFAULT_HEALTH_CHECK_MS;
	/* The connect timeout counts from the next attempt (the first one is
	 * under way); the health check starts now when connected. */
	if (l->conn.state == CONN_IDLE || l->conn.state == CONN_BUSY)
		uv_timer_start(&l->conn.timer, on_listener_health, l->health_check_ms,
			       l->health_check_ms);
}

void db_listener_close(struct db_listener *l)
{
	if (!l || l->closing)
		return;
	l->closing = true;
	conn_close(&l->conn);
}
