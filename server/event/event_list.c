/* ListEvents, and what listings and subscriptions share: the kinds filter,
 * who may see which event, and the Event message of a row.
 *
 * Rights: a case event is seen by whoever holds case.read where it
 * happened, a task event by task.read, any other kind by either. ListEvents
 * and the replay of a subscription filter in SQL (so that a page is full
 * when more events follow); live events are checked here, against the
 * connection's principal as it is at that moment.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/auth/principal.h"
#include "server/config.h"
#include "server/event/event.h"
#include "server/event/event_private.h"
#include "server/grid/grid.h"
#include "server/grid/tree.h"
#include "server/net/conn.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

/* "case.raised" or a prefix "case.": lower-case words joined by one dot. */
static bool kind_ok(const char *k)
{
	size_t len = strlen(k), dots = 0;

	if (len == 0 || len > EVENT_KIND_MAX || k[0] == '.')
		return false;
	for (const char *p = k; *p; p++) {
		if (*p == '.')
			dots++;
		else if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
			return false;
	}
	return dots == 1;
}

int event_kinds_check(struct rpc_call *call, char **kinds, size_t nkinds)
{
	if (nkinds > EVENT_MAX_KINDS) {
		rpc_fail(call, -EINVAL, "at most %d kinds", EVENT_MAX_KINDS);
		return -EINVAL;
	}
	for (size_t i = 0; i < nkinds; i++) {
		if (!kind_ok(kinds[i])) {
			rpc_fail(call, -EINVAL,
				 "bad kind \"%.80s\": want a kind like case.raised, or a prefix "
				 "like case.",
				 kinds[i]);
			return -EINVAL;
		}
	}
	return 0;
}

bool event_kinds_match(const struct event_kinds *ks, const char *kind)
{
	if (ks->nkinds == 0)
		return true;
	for (size_t i = 0; i < ks->nkinds; i++) {
		const char *k = ks->kinds[i];
		size_t len = strlen(k);

		if (k[len - 1] == '.' ? strncmp(kind, k, len) == 0 : strcmp(kind, k) == 0)
			return true;
	}
	return false;
}

unsigned event_kind_perm(const char *kind)
{
	if (strncmp(kind, "case.", 5) == 0)
		return PERM_CASE_READ;
	if (strncmp(kind, "task.", 5) == 0)
		return PERM_TASK_READ;
	return PERM_CASE_READ | PERM_TASK_READ;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool event_may_see(const struct events *ev, const struct conn *c, const char *kind,
		   const struct tree_node *n)
{
	const struct principal *p = conn_principal(c);

	/* A watching terminal makes no calls, so the idle limit of sessions
	 * does not apply; a logout, a disabled account, a revoked key or role
	 * and the session's end do, at once. */
	if (!p || p->revoked)
		return false;
	if (p->expires_at_ms && wall_ms() >= p->expires_at_ms)
		return false;
	return auth_allows(ev->srv->auth, p, event_kind_perm(kind), n);
}

/* "{a,b}" of the kinds that end (prefix) or do not end in '.'. */
static const char *kinds_literal(struct arena *arena, const struct event_kinds *ks, bool prefix)
{
	struct buf b;
	const char *s;

	buf_init(&b, 0);
	buf_putc(&b, '{');
	for (size_t i = 0; i < ks->nkinds; i++) {
		const char *k = ks->kinds[i];
		/* Checked by event_kinds_check: nothing to quote. */
		if ((k[strlen(k) - 1] == '.') == prefix)
			buf_printf(&b, "%s%s", b.len > 1 ? "," : "", k);
	}
	buf_putc(&b, '}');
	s = buf_cstr(&b) ? arena_strdup(arena, buf_cstr(&b)) : NULL;
	buf_finish(&b);
	return s;
}

/* "{12,40}": the nodes where p holds perm (whole-grid grants aside). */
static const char *grant_nodes(struct arena *arena, const struct principal *p, unsigned perm)
{
	struct buf b;
	const char *s;

	buf_init(&b, 0);
	buf_putc(&b, '{');
	for (size_t i = 0; i < p->ngrants; i++) {
		if (!(perm_of_role(p->grants[i].role) & perm) || !p->grants[i].node_id)
			continue;
		buf_printf(&b, "%s%" PRId64, b.len > 1 ? "," : "", p->grants[i].node_id);
	}
	buf_putc(&b, '}');
	s = buf_cstr(&b) ? arena_strdup(arena, buf_cstr(&b)) : NULL;
	buf_finish(&b);
	return s;
}

int event_filter_init(struct event_filter *f, const struct events *ev, struct arena *arena,
		      const struct principal *p, const struct tree_node *top,
		      const struct event_kinds *ks)
{
	const struct auth *a = ev->srv->auth;

	f->node_id = top ? top->id : 0;
	f->exact_kinds = kinds_literal(arena, ks, false);
	f->prefix_kinds = kinds_literal(arena, ks, true);
	/* A right held on top or above it covers the whole subtree; one held
	 * below covers that part of it. */
	f->case_all = auth_allows(a, p, PERM_CASE_READ, top);
	f->task_all = auth_allows(a, p, PERM_TASK_READ, top);
	f->case_nodes = f->case_all ? "{}" : grant_nodes(arena, p, PERM_CASE_READ);
	f->task_nodes = f->task_all ? "{}" : grant_nodes(arena, p, PERM_TASK_READ);
	if (!f->exact_kinds || !f->prefix_kinds || !f->case_nodes || !f->task_nodes)
		return -ENOMEM;
	return 0;
}

void event_msg_init(Grid__V1__Event *m, const struct event_row *row)
{
	grid__v1__event__init(m);
	m->seq = row->seq;
	m->kind = (char *)row->kind;
	m->node_code = (char *)row->node_code;
	m->node_name = (char *)row->node_name;
	m->at_ms = row->at_ms;
	m->summary = (char *)row->summary;
	m->case_id = row->case_id;
	m->task_id = row->task_id;
	m->actor = (char *)row->actor;
	m->from_node_code = (char *)row->from_code;
}

/* --- ListEvents ----------------------------------------------------------- */

struct list_ctx {
	struct rpc_call *call;
	uint64_t after_seq;
	uint32_t limit;
};

static void on_list(struct db_query *q, int status, void *data)
{
	struct list_ctx *lc = data;
	struct rpc_call *call = lc->call;
	struct arena *a = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);
	Grid__V1__EventList *out;
	/* A reply stays well within the connection's output limit, however
	 * long the summaries. */
	size_t size = 0, budget = rpc_server(call)->cfg->max_outbuf / 4;
	uint64_t top = 0;
	int n;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	n = PQntuples(res);
	out = arena_new(a, Grid__V1__EventList);
	if (!out)
		goto nomem;
	grid__v1__event_list__init(out);
	out->events = arena_new_array(a, Grid__V1__Event *, n ? (size_t)n : 1);
	if (!out->events)
		goto nomem;
	for (int i = 0; i < n; i++) {
		struct event_row row;
		int r = event_db_list_row(res, i, &top, &row);

		if (r < 0) {
			rpc_fail(call, -EIO, "internal error reading events");
			return;
		}
		if (r > 0)
			continue;
		Grid__V1__Event *e = arena_new(a, Grid__V1__Event);
		if (!e)
			goto nomem;
		event_msg_init(e, &row);
		size += grid__v1__event__get_packed_size(e) + 8;
		/* The query asked for one more than the limit, to know. */
		if (out->n_events == lc->limit || (out->n_events > 0 && size > budget)) {
			out->more = true;
			break;
		}
		out->events[out->n_events++] = e;
	}
	/* A list that stopped early goes on after its last event; a complete
	 * one saw every event of its snapshot. */
	if (out->more)
		out->last_seq = out->events[out->n_events - 1]->seq;
	else
		out->last_seq = top > lc->after_seq ? top : lc->after_seq;
	rpc_reply(call, out);
	return;
nomem:
	rpc_fail(call, -ENOMEM, "out of memory");
}

void event_list(struct rpc_call *call)
{
	const Grid__V1__ListEventsRequest *in = rpc_request(call)->list_events;
	struct server *srv = rpc_server(call);
	struct arena *a = rpc_arena(call);
	struct list_ctx *lc = arena_new(a, struct list_ctx);
	struct event_kinds ks = {in->kinds, in->n_kinds};
	struct event_filter f = {0};
	const struct tree_node *top = NULL;
	struct db_query *q;
	int r;

	if (!lc) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (event_kinds_check(call, in->kinds, in->n_kinds) < 0)
		return;
	if (in->after_seq > INT64_MAX || in->case_id > INT64_MAX || in->task_id > INT64_MAX) {
		rpc_fail(call, -EINVAL, "after_seq, case_id and task_id are at most %" PRId64,
			 INT64_MAX);
		return;
	}
	if (*in->node_code) {
		top = tree_find_code(grid_tree(srv->grid), in->node_code);
		if (!top) {
			rpc_fail(call, -ENOENT, "node %s not found", in->node_code);
			return;
		}
	}
	lc->call = call;
	lc->after_seq = in->after_seq;
	lc->limit = in->limit ? in->limit : srv->cfg->default_page_size;
	if (lc->limit > srv->cfg->max_page_size)
		lc->limit = srv->cfg->max_page_size;
	if (event_filter_init(&f, srv->events, a, auth_principal(call), top, &ks) < 0) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	f.after_seq = in->after_seq;
	f.case_id = in->case_id;
	f.task_id = in->task_id;
	f.limit = lc->limit + 1;
	q = db_query_create(srv->db);
	if (!q) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = event_db_add_list(q, a, &f);
	if (r < 0) {
		db_query_destroy(q);
		rpc_fail(call, r, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_list, lc);
	if (r < 0)
		rpc_fail_db(call, r, "");
}
