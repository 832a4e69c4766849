/* The event reader and the subscriptions; see event.h.
 *
 * The reader. One per process, for all subscribers: a round of reads
 * (`seq > cursor`, a page at a time while pages come back full) starts on
 * NOTIFY grid_events and after the listener reconnects; a notification
 * during a round asks for one more round after it, however many arrive.
 * Each event read is fanned out to every live subscription, then the cursor
 * moves past it. seq grows in commit order, so nothing committed later can
 * appear behind the cursor. The reader has a PostgreSQL connection of its
 * own (a pool of one): on the server's pool its reads would queue behind
 * the very writes that make the events, and a burst of raises would delay
 * every subscriber by the whole queue. Rounds start at most
 * READ_SPACING_MS apart, so that many small transactions in a row cost a
 * few reads, not one each (bench/fanout measures the delays).
 *
 * A subscription is live (takes events from the reader), replaying (reads
 * what it missed from the table itself, a page at a time, until it reaches
 * the reader's cursor; the reader skips it meanwhile, and since the switch
 * to live happens when both stand at the same seq, nothing is lost or sent
 * twice) or behind (owes the subscriber an Event "missed").
 *
 * Back-pressure. A connection's unsent output may reach [limits] max_outbuf
 * before it is dropped; events may fill half of it. When an event does not
 * fit, every live subscription of the connection falls behind: it keeps
 * the seq of the last event it handled and is skipped by the reader. Once
 * the peer has read its output down to an eighth (the connection watcher
 * tells us after each write), each such subscription sends one Event of
 * kind "missed" carrying that seq, for the subscriber to re-read with
 * ListEvents{after_seq}, and goes live again from the reader's cursor.
 * Replays only read the next page when the output is that low, so neither
 * path holds more than a page of rows in memory for anyone.
 *
 * Subscriptions live as long as the connection (or until Unsubscribe):
 * several per connection, each delivering its own events (an event two of
 * them match is sent twice). Who may see an event is checked against the
 * connection's principal as it is when the event goes out.
 */
#include "server/event/event.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "server/auth/auth.h"
#include "server/auth/principal.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/event/event_private.h"
#include "server/grid/grid.h"
#include "server/grid/tree.h"
#include "server/log.h"
#include "server/net/conn.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

#define REPLAY_PAGE 500
#define MAX_SUBS_PER_CONN 16
#define RETRY_MS 1000
#define READ_SPACING_MS 20

enum sub_state {
	SUB_LIVE,
	SUB_REPLAY,
	SUB_BEHIND,
};

struct ev_conn;

struct ev_sub {
	struct list link; /* ec->subs */
	struct ev_conn *ec;
	int64_t node_id; /* 0: the whole grid */
	char *node_code;
	struct event_kinds ks;
	/* Every event up to here was sent or is not for this subscription. */
	uint64_t pos;
	enum sub_state state;
	bool reading; /* a replay page is being read */
	bool dropped; /* gone while reading: the read frees it */
};

/* The subscriptions of one connection. */
struct ev_conn {
	struct events *ev;
	struct list link; /* ev->conns; empty once closed */
	struct conn *conn;
	struct list subs;
	unsigned nsubs;
	unsigned refs; /* 1 until the connection closes, 1 per replay read */
	bool closed;
};

struct replay {
	struct arena arena; /* the query's parameters */
	struct ev_sub *sub;
	uint64_t upto;
};

static size_t high_water(const struct events *ev)
{
	return ev->srv->cfg->max_outbuf / 2;
}

static size_t low_water(const struct events *ev)
{
	return ev->srv->cfg->max_outbuf / 8;
}

/* --- subscriptions ------------------------------------------------------- */

static void sub_free(struct ev_sub *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ks.nkinds; i++)
		free(s->ks.kinds[i]);
	free(s->ks.kinds);
	free(s->node_code);
	free(s);
}

static struct ev_sub *sub_create(const char *node_code, int64_t node_id, char **kinds,
				 size_t nkinds)
{
	struct ev_sub *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	list_init(&s->link);
	s->node_id = node_id;
	s->node_code = strdup(node_code);
	s->ks.kinds = calloc(nkinds ? nkinds : 1, sizeof(char *));
	if (!s->node_code || !s->ks.kinds) {
		sub_free(s);
		return NULL;
	}
	for (size_t i = 0; i < nkinds; i++) {
		s->ks.kinds[i] = strdup(kinds[i]);
		if (!s->ks.kinds[i]) {
			sub_free(s);
			return NULL;
		}
		s->ks.nkinds++;
	}
	return s;
}

/* Unlinks s; a replay read in flight frees it when it comes back. */
static void sub_drop(struct ev_sub *s)
{
	list_remove(&s->link);
	s->ec->nsubs--;
	if (s->reading)
		s->dropped = true;
	else
		sub_free(s);
}

static void ec_unref(struct ev_conn *ec)
{
	if (--ec->refs > 0)
		return;
	list_remove(&ec->link);
	conn_unref(ec->conn);
	free(ec);
}

static void on_conn_written(struct conn *c, void *data);
static void on_conn_close(struct conn *c, void *data);

static const struct conn_watcher watcher = {
    .on_written = on_conn_written,
    .on_close = on_conn_close,
};

static struct ev_conn *ec_find(struct events *ev, struct conn *c)
{
	struct list *pos;

	for (pos = ev->conns.next; pos != &ev->conns; pos = pos->next) {
		struct ev_conn *ec = list_entry(pos, struct ev_conn, link);
		if (ec->conn == c)
			return ec;
	}
	return NULL;
}

static struct ev_conn *ec_get(struct events *ev, struct conn *c)
{
	struct ev_conn *ec = ec_find(ev, c);

	if (ec)
		return ec;
	ec = calloc(1, sizeof(*ec));
	if (!ec)
		return NULL;
	ec->ev = ev;
	ec->conn = c;
	ec->refs = 1;
	list_init(&ec->subs);
	conn_ref(c);
	list_append(&ev->conns, &ec->link);
	conn_set_watcher(c, &watcher, ec);
	return ec;
}

static void ec_drop_subs(struct ev_conn *ec)
{
	while (!list_empty(&ec->subs))
		sub_drop(list_entry(ec->subs.next, struct ev_sub, link));
}

static void on_conn_close(struct conn *c, void *data)
{
	struct ev_conn *ec = data;

	(void)c;
	ec->closed = true;
	list_remove(&ec->link);
	ec_drop_subs(ec);
	ec_unref(ec);
}

/* Queues e for the subscriber unless events would take more than their
 * share of its output: -ENOBUFS then (nothing is queued). */
static int push(struct ev_conn *ec, Grid__V1__Event *e)
{
	Grid__V1__ServerFrame frame = GRID__V1__SERVER_FRAME__INIT;
	size_t size;

	frame.frame_case = GRID__V1__SERVER_FRAME__FRAME_EVENT;
	frame.event = e;
	size = protobuf_c_message_get_packed_size(&frame.base) + FRAME_HEADER_SIZE;
	if (conn_unsent(ec->conn) + size > high_water(ec->ev))
		return -ENOBUFS;
	return conn_send(ec->conn, &frame.base);
}

/* The connection's output is full of events: its live subscriptions stop
 * here and will be told so. */
static void fall_behind(struct ev_conn *ec)
{
	struct list *pos;

	for (pos = ec->subs.next; pos != &ec->subs; pos = pos->next) {
		struct ev_sub *s = list_entry(pos, struct ev_sub, link);
		if (s->state == SUB_LIVE) {
			s->state = SUB_BEHIND;
			log_info("event=events_behind conn=%" PRIu64 " node=%s after_seq=%" PRIu64
				 " unsent=%zu",
				 conn_id(ec->conn), *s->node_code ? s->node_code : "-", s->pos,
				 conn_unsent(ec->conn));
		}
	}
}

/* Tells a subscription that fell behind where to re-read from, and takes
 * it live again. False when even that does not fit yet. */
static bool send_missed(struct ev_sub *s)
{
	struct events *ev = s->ec->ev;
	Grid__V1__Event m = GRID__V1__EVENT__INIT;

	m.seq = s->pos;
	m.kind = (char *)"missed";
	m.node_code = s->node_code;
	m.at_ms = clock_now_ms();
	m.summary = (char *)"events were missed: re-read them with ListEvents after this seq";
	if (push(s->ec, &m) < 0)
		return false;
	log_info("event=events_missed conn=%" PRIu64 " node=%s after_seq=%" PRIu64
		 " resume_seq=%" PRIu64,
		 conn_id(s->ec->conn), *s->node_code ? s->node_code : "-", s->pos, ev->cursor);
	s->pos = ev->cursor;
	s->state = SUB_LIVE;
	return true;
}

static void replay_next(struct ev_sub *s);

/* Whatever a connection was held back for, once its output is low: the
 * "missed" events owed, the next pages of replays. */
static void ec_service(struct ev_conn *ec)
{
	struct list *pos, *next;

	if (ec->closed || conn_unsent(ec->conn) > low_water(ec->ev))
		return;
	ec->refs++;
	for (pos = ec->subs.next; pos != &ec->subs && !ec->closed; pos = next) {
		struct ev_sub *s = list_entry(pos, struct ev_sub, link);

		next = pos->next;
		if (s->state == SUB_BEHIND) {
			if (!send_missed(s))
				break;
		} else if (s->state == SUB_REPLAY) {
			replay_next(s);
		}
	}
	ec_unref(ec);
}

static void on_conn_written(struct conn *c, void *data)
{
	(void)c;
	ec_service(data);
}

/* --- replays -------------------------------------------------------------- */

static void on_replay(struct db_query *q, int status, void *data)
{
	struct replay *rp = data;
	struct ev_sub *s = rp->sub;
	struct ev_conn *ec = s->ec;
	struct events *ev = ec->ev;
	const struct tree *t = grid_tree(ev->srv->grid);
	bool complete = true;
	size_t nevents = 0;

	s->reading = false;
	if (s->dropped) {
		sub_free(s);
		goto out;
	}
	if (ec->closed)
		goto out;
	if (status < 0) {
		/* The subscriber re-reads what could not be replayed. */
		log_warn("event=events_replay_failed conn=%" PRIu64 " after_seq=%" PRIu64
			 " error=\"%s\"",
			 conn_id(ec->conn), s->pos, db_query_error(q));
		s->state = SUB_BEHIND;
		ec_service(ec);
		goto out;
	}
	PGresult *res = db_query_result(q, 0);
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct event_row row;
		uint64_t top;
		int r = event_db_list_row(res, i, &top, &row);

		if (r > 0)
			continue;
		if (r < 0) {
			log_error("event=events_bad_row conn=%" PRIu64, conn_id(ec->conn));
			complete = false;
			s->state = SUB_BEHIND;
			break;
		}
		nevents++;
		/* The rights were checked by the query; the principal may have
		 * changed since. */
		const struct tree_node *node = tree_find_id(t, row.node_id);
		if (node && !event_may_see(ev, ec->conn, row.kind, node)) {
			s->pos = row.seq;
			continue;
		}
		Grid__V1__Event m;
		event_msg_init(&m, &row);
		r = push(ec, &m);
		if (ec->closed)
			goto out;
		if (r < 0) {
			/* The rest of the page is read again once the output
			 * has room. */
			complete = false;
			break;
		}
		s->pos = row.seq;
	}
	if (complete && nevents < REPLAY_PAGE && s->pos < rp->upto)
		s->pos = rp->upto;
	ec_service(ec);
out:
	arena_finish(&rp->arena);
	free(rp);
	ec_unref(ec);
}

/* Reads the next page of a replay, when the subscriber has room for it;
 * or goes live once the replay has caught up with the reader. */
static void replay_next(struct ev_sub *s)
{
	struct ev_conn *ec = s->ec;
	struct events *ev = ec->ev;
	const struct principal *p = conn_principal(ec->conn);
	const struct tree_node *top = NULL;
	struct event_filter f = {0};
	struct replay *rp;
	struct db_query *q;
	int r;

	if (s->state != SUB_REPLAY || s->reading || ec->closed || ev->stopping)
		return;
	if (conn_unsent(ec->conn) > low_water(ev))
		return; /* on_conn_written comes back */
	if (s->pos >= ev->cursor || !p || p->revoked) {
		s->state = SUB_LIVE;
		if (s->pos < ev->cursor)
			s->pos = ev->cursor;
		log_debug("event=events_replayed conn=%" PRIu64 " node=%s seq=%" PRIu64,
			  conn_id(ec->conn), *s->node_code ? s->node_code : "-", s->pos);
		return;
	}
	if (s->node_id) {
		top = tree_find_id(grid_tree(ev->srv->grid), s->node_id);
		if (!top) {
			s->state = SUB_BEHIND;
			return;
		}
	}
	rp = calloc(1, sizeof(*rp));
	if (!rp)
		goto fail;
	arena_init(&rp->arena, 512);
	rp->sub = s;
	rp->upto = ev->cursor;
	if (event_filter_init(&f, ev, &rp->arena, p, top, &s->ks) < 0)
		goto fail;
	f.after_seq = s->pos;
	f.upto_seq = rp->upto;
	f.limit = REPLAY_PAGE;
	q = db_query_create(ev->srv->db);
	if (!q)
		goto fail;
	if (event_db_add_list(q, &rp->arena, &f) < 0) {
		db_query_destroy(q);
		goto fail;
	}
	/* The callback may run before submit returns. */
	s->reading = true;
	ec->refs++;
	r = db_query_submit(q, 0, on_replay, rp);
	if (r == 0)
		return;
	s->reading = false;
	ec->refs--;
fail:
	if (rp) {
		arena_finish(&rp->arena);
		free(rp);
	}
	/* The subscriber re-reads from where it stands. */
	s->state = SUB_BEHIND;
}

/* --- the reader ----------------------------------------------------------- */

/* The ids of an event's node and of every node above it: whether a
 * subscription covers the event is then a look through a few numbers,
 * worked out once per event rather than once per subscriber. */
#define PATH_MAX_IDS 32

struct path {
	int64_t ids[PATH_MAX_IDS];
	size_t n;
	bool deep; /* more levels than ids: covers() asks the tree */
};

static void path_init(struct path *p, const struct tree_node *n)
{
	p->n = 0;
	p->deep = false;
	/* The sentinel (parent NULL) is no node of the grid. */
	for (; n && n->parent; n = n->parent) {
		if (p->n == PATH_MAX_IDS) {
			p->deep = true;
			return;
		}
		p->ids[p->n++] = n->id;
	}
}

/* Whether the subscription covers events at n (whose path is p). */
static bool covers(const struct events *ev, const struct ev_sub *s, const struct tree_node *n,
		   const struct path *p)
{
	const struct tree_node *top;

	if (!s->node_id)
		return true;
	if (!p->deep) {
		for (size_t i = 0; i < p->n; i++)
			if (p->ids[i] == s->node_id)
				return true;
		return false;
	}
	top = tree_find_id(grid_tree(ev->srv->grid), s->node_id);
	return top && tree_is_ancestor(top, n);
}

static void deliver_live(struct ev_conn *ec, const struct tree_node *n, const struct path *path,
			 Grid__V1__Event *m)
{
	struct events *ev = ec->ev;
	struct list *pos;

	for (pos = ec->subs.next; pos != &ec->subs; pos = pos->next) {
		struct ev_sub *s = list_entry(pos, struct ev_sub, link);
		int r;

		if (s->state != SUB_LIVE || m->seq <= s->pos)
			continue;
		if (!covers(ev, s, n, path) || !event_kinds_match(&s->ks, m->kind) ||
		    !event_may_see(ev, ec->conn, m->kind, n)) {
			s->pos = m->seq;
			continue;
		}
		r = push(ec, m);
		if (ec->closed)
			return;
		if (r == -ENOBUFS) {
			fall_behind(ec);
			return;
		}
		if (r < 0)
			return;
		s->pos = m->seq;
	}
}

/* The node of an event in the cache. A node created in the event's own
 * transaction may not have reached the cache yet: its nearest cached
 * ancestor stands in, which is in the same subtrees (but for the node
 * itself) and under the same roles. */
static const struct tree_node *event_node(const struct events *ev, const struct event_row *row)
{
	const struct tree *t = grid_tree(ev->srv->grid);
	const struct tree_node *n = tree_find_id(t, row->node_id);
	const char *end;

	if (n)
		return n;
	end = row->node_path + strlen(row->node_path);
	while (!n && end > row->node_path) {
		const char *dot = end;
		while (dot > row->node_path && dot[-1] != '.')
			dot--;
		n = tree_find_id(t, strtoll(dot, NULL, 10));
		end = dot > row->node_path ? dot - 1 : dot;
	}
	return n;
}

static void fan_out(struct events *ev, const struct event_row *row)
{
	const struct tree_node *n = event_node(ev, row);
	struct list *pos, *next;
	Grid__V1__Event m;

	event_msg_init(&m, row);
	if (n) {
		struct path path;

		path_init(&path, n);
		for (pos = ev->conns.next; pos != &ev->conns; pos = next) {
			struct ev_conn *ec = list_entry(pos, struct ev_conn, link);

			next = pos->next;
			ec->refs++;
			deliver_live(ec, n, &path, &m);
			ec_unref(ec);
		}
	} else {
		log_warn("event=events_unknown_node seq=%" PRIu64 " node_id=%" PRId64, row->seq,
			 row->node_id);
	}
	ev->cursor = row->seq;
}

static void read_next(struct events *ev);
static void on_retry(uv_timer_t *t);

/* Subscribers wait (nothing is lost: the next read starts at the cursor);
 * the read is tried again in a while, and the first failure of a series
 * is logged. */
static void read_failed(struct events *ev, const char *why)
{
	char msg[256];

	if (!ev->failing)
		log_warn("event=events_read_failed after_seq=%" PRIu64 " error=%s", ev->cursor,
			 log_quote(msg, sizeof(msg), why));
	ev->failing = true;
	ev->reading = false;
	ev->again = false;
	uv_timer_start(&ev->retry, on_retry, RETRY_MS, 0);
}

static void on_read(struct db_query *q, int status, void *data)
{
	struct events *ev = data;
	PGresult *res;
	int n;

	if (ev->stopping) {
		ev->reading = false;
		goto out;
	}
	if (status < 0) {
		read_failed(ev, db_query_error(q));
		goto out;
	}
	if (ev->failing) {
		ev->failing = false;
		log_info("event=events_read_recovered after_seq=%" PRIu64, ev->cursor);
	}
	res = db_query_result(q, 0);
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct event_row row;

		if (event_db_next_row(res, i, &row) < 0) {
			log_error("event=events_bad_row after_seq=%" PRIu64, ev->cursor);
			continue;
		}
		fan_out(ev, &row);
	}
	ev->round_reads++;
	ev->round_rows += (size_t)n;
	arena_finish(&ev->read_arena);
	if (n == EVENT_NEXT_PAGE) {
		read_next(ev);
		return;
	}
	log_debug("event=events_fetched round=%" PRIu64 " reads=%u rows=%zu last_seq=%" PRIu64,
		  ev->rounds, ev->round_reads, ev->round_rows, ev->cursor);
	ev->reading = false;
	if (ev->again)
		event_on_notify(ev);
	return;
out:
	arena_finish(&ev->read_arena);
}

static void read_next(struct events *ev)
{
	struct db_query *q = db_query_create(ev->reader_db);
	int r;

	arena_init(&ev->read_arena, 128);
	if (!q || event_db_add_next(q, &ev->read_arena, ev->cursor) < 0) {
		db_query_destroy(q);
		r = -ENOMEM;
	} else {
		r = db_query_submit(q, 0, on_read, ev);
		if (r == 0)
			return;
	}
	arena_finish(&ev->read_arena);
	read_failed(ev, r == -EAGAIN ? "database unavailable" : strerror(-r));
}

void event_on_notify(struct events *ev)
{
	uint64_t now, since;

	if (!ev || !ev->started || ev->stopping)
		return;
	if (ev->reading) {
		ev->again = true;
		return;
	}
	/* The reader's connection answers at once, so without a pause a
	 * burst of small transactions would cost one read each: rounds start
	 * READ_SPACING_MS apart at most, and what commits meanwhile comes in
	 * the next one. An event after a quiet spell is read at once. */
	now = uv_now(ev->srv->loop);
	since = now - ev->round_started_ms;
	if (ev->rounds && since < READ_SPACING_MS) {
		uv_timer_start(&ev->retry, on_retry, READ_SPACING_MS - since, 0);
		return;
	}
	uv_timer_stop(&ev->retry);
	ev->round_started_ms = now;
	ev->reading = true;
	ev->again = false;
	ev->rounds++;
	ev->round_reads = 0;
	ev->round_rows = 0;
	read_next(ev);
}

void event_catch_up(struct events *ev)
{
	event_on_notify(ev);
}

static void on_retry(uv_timer_t *t)
{
	event_on_notify(t->data);
}

/* --- lifecycle ------------------------------------------------------------ */

int event_create(struct server *srv, PGconn *pg, struct events **ret_events, char *err,
		 size_t errlen)
{
	struct events *ev = calloc(1, sizeof(*ev));
	int r;

	if (!ev) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ev->srv = srv;
	list_init(&ev->conns);
	r = event_db_max_seq(pg, &ev->cursor, err, errlen);
	if (r < 0) {
		free(ev);
		return r;
	}
	uv_timer_init(srv->loop, &ev->retry);
	ev->retry.data = ev;
	*ret_events = ev;
	return 0;
}

int event_start(struct events *ev)
{
	const struct config *cfg = ev->srv->cfg;
	struct db_pool_options opt = {
	    .size = 1,
	    .query_timeout_ms = cfg->statement_timeout_ms,
	    .connect_timeout_ms = cfg->db_connect_timeout_ms,
	    .health_check_ms = cfg->db_health_check_ms,
	};
	int r = db_pool_register(ev->srv->db, event_stmts, EVENT_STMT_COUNT);

	if (r == 0) {
		ev->reader_db = db_pool_create(ev->srv->loop, cfg->database_url, &opt);
		r = ev->reader_db ? db_pool_register(ev->reader_db, &event_next_stmt, 1) : -ENOMEM;
	}
	if (r == 0)
		ev->started = true;
	log_debug("event=events_start seq=%" PRIu64, ev->cursor);
	return r;
}

static bool closed(const struct events *ev)
{
	return ev->retry_closed && !ev->reader_closing;
}

static void on_retry_closed(uv_handle_t *h)
{
	struct events *ev = h->data;

	ev->retry_closed = true;
	if (ev->free_on_close && closed(ev))
		free(ev);
}

static void on_reader_closed(void *data)
{
	struct events *ev = data;

	ev->reader_closing = false;
	ev->reader_db = NULL;
	if (ev->free_on_close && closed(ev))
		free(ev);
}

void event_stop(struct events *ev)
{
	if (!ev || ev->stopping)
		return;
	ev->stopping = true;
	uv_close((uv_handle_t *)&ev->retry, on_retry_closed);
	if (ev->reader_db) {
		/* A read in flight ends with -ECANCELED. */
		ev->reader_closing = true;
		db_pool_close(ev->reader_db, on_reader_closed, ev);
	}
}

void event_destroy(struct events *ev)
{
	if (!ev)
		return;
	event_stop(ev);
	/* Every connection has closed by now, and with it its
	 * subscriptions; this is for a start that failed half-way. */
	while (!list_empty(&ev->conns)) {
		struct ev_conn *ec = list_entry(ev->conns.next, struct ev_conn, link);
		conn_set_watcher(ec->conn, NULL, NULL);
		on_conn_close(ec->conn, ec);
	}
	if (closed(ev))
		free(ev);
	else
		ev->free_on_close = true;
}

/* --- Subscribe, Unsubscribe ----------------------------------------------- */

void event_subscribe(struct rpc_call *call)
{
	const Grid__V1__SubscribeRequest *in = rpc_request(call)->subscribe;
	struct server *srv = rpc_server(call);
	struct events *ev = srv->events;
	struct conn *c = rpc_conn(call);
	Grid__V1__SubscribeReply out = GRID__V1__SUBSCRIBE_REPLY__INIT;
	const struct tree_node *top = NULL;
	struct ev_conn *ec;
	struct ev_sub *s;

	if (event_kinds_check(call, in->kinds, in->n_kinds) < 0)
		return;
	if (in->after_seq > INT64_MAX) {
		rpc_fail(call, -EINVAL, "after_seq is at most %" PRId64, INT64_MAX);
		return;
	}
	if (*in->node_code) {
		top = tree_find_code(grid_tree(srv->grid), in->node_code);
		if (!top) {
			rpc_fail(call, -ENOENT, "node %s not found", in->node_code);
			return;
		}
	}
	if (conn_is_closing(c)) {
		rpc_fail(call, -ESHUTDOWN, "the connection is closing");
		return;
	}
	ec = ec_get(ev, c);
	if (!ec) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (ec->nsubs >= MAX_SUBS_PER_CONN) {
		rpc_fail(call, -ENOBUFS,
			 "at most %d subscriptions per connection; Unsubscribe drops them all",
			 MAX_SUBS_PER_CONN);
		return;
	}
	s = sub_create(in->node_code, top ? top->id : 0, in->kinds, in->n_kinds);
	if (!s) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	s->ec = ec;
	uint64_t after = in->from_first ? 0 : in->after_seq;
	if ((in->from_first || after) && after < ev->cursor) {
		s->state = SUB_REPLAY;
		s->pos = after;
	} else {
		s->state = SUB_LIVE;
		s->pos = after > ev->cursor ? after : ev->cursor;
	}
	list_append(&ec->subs, &s->link);
	ec->nsubs++;
	log_debug("event=subscribe conn=%" PRIu64 " node=%s kinds=%zu after_seq=%" PRIu64
		  " last_seq=%" PRIu64,
		  conn_id(c), *in->node_code ? in->node_code : "-", in->n_kinds, in->after_seq,
		  ev->cursor);

	/* The reply goes out before the first replayed event. */
	out.last_seq = ev->cursor;
	ec->refs++;
	rpc_reply(call, &out);
	if (s->state == SUB_REPLAY && !ec->closed)
		replay_next(s);
	ec_unref(ec);
}

void event_unsubscribe(struct rpc_call *call)
{
	struct events *ev = rpc_server(call)->events;
	Grid__V1__UnsubscribeReply out = GRID__V1__UNSUBSCRIBE_REPLY__INIT;
	struct ev_conn *ec = ec_find(ev, rpc_conn(call));

	if (ec)
		ec_drop_subs(ec);
	rpc_reply(call, &out);
}
