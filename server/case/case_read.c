/* Reading cases: GetCase (with its events), ListCases (an inbox, or a
 * subtree's open cases, filtered, in pages), and CaseReport (figures per
 * node and period, computed in SQL, each printed with its definition).
 *
 * GetCase names only a case number, so its part of the grid is checked here
 * once the case is read: the caller must read cases where it is now, or be
 * the one who raised it (a resident following their own case). A missing
 * case and one out of reach get the same answer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/case/case.h"
#include "server/case/case_db.h"
#include "server/case/case_private.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/db/pool.h"
#include "server/grid/grid.h"
#include "server/grid/tree.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

static struct tree *tree_of(const struct rpc_call *call)
{
	return grid_tree(rpc_server(call)->grid);
}

/* --- GetCase -------------------------------------------------------------- */

struct get_ctx {
	struct rpc_call *call;
	uint64_t id;
	const char *params[1];
};

static void on_case(struct db_query *q, int status, void *data)
{
	struct get_ctx *g = data;
	struct rpc_call *call = g->call;
	struct server *srv = rpc_server(call);
	struct principal *p = auth_principal(call);
	PGresult *res = db_query_result(q, 0);
	Grid__V1__CaseDetail *out;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	if (PQntuples(res) != 1 ||
	    (!auth_allows(srv->auth, p, PERM_CASE_READ,
			  tree_find_id(tree_of(call), case_row_node(res, 0))) &&
	     strcmp(case_row_reporter(res, 0), auth_actor(p)) != 0)) {
		rpc_fail(call, -EACCES,
			 "case %" PRIu64 " is not within your part of the grid, or does not exist",
			 g->id);
		return;
	}
	out = arena_new(rpc_arena(call), Grid__V1__CaseDetail);
	if (!out)
		goto nomem;
	grid__v1__case_detail__init(out);
	out->case_ = case_row_msg(rpc_arena(call), tree_of(call), res, NULL, 0);
	if (!out->case_)
		goto nomem;
	if (db_query_result(q, 1)) {
		out->events = case_event_msgs(rpc_arena(call), tree_of(call), db_query_result(q, 1),
					      &out->n_events);
		if (!out->events)
			goto nomem;
	}
	rpc_reply(call, out);
	return;
nomem:
	rpc_fail(call, -ENOMEM, "out of memory");
}

void case_get(struct rpc_call *call)
{
	const Grid__V1__GetCaseRequest *in = rpc_request(call)->get_case;
	struct get_ctx *g = arena_new(rpc_arena(call), struct get_ctx);
	struct db_query *q = db_query_create(rpc_server(call)->db);
	int r;

	if (!g || !q) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	g->call = call;
	g->id = in->id;
	g->params[0] = arena_printf(rpc_arena(call), "%" PRIu64, in->id);
	r = db_query_add(q, &case_stmts[CASE_STMT_GET], g->params);
	if (r == 0 && in->with_events)
		r = db_query_add(q, &case_stmts[CASE_STMT_EVENTS], g->params);
	if (r < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_case, g);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

/* --- ListCases ------------------------------------------------------------ */

struct list_ctx {
	struct rpc_call *call;
	uint32_t limit;
	const char *params[8];
};

static void on_cases(struct db_query *q, int status, void *data)
{
	struct list_ctx *l = data;
	struct rpc_call *call = l->call;
	struct arena *a = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);
	Grid__V1__CaseList *out;
	struct case_cols cols;
	int n;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	n = PQntuples(res);
	out = arena_new(a, Grid__V1__CaseList);
	if (!out)
		goto nomem;
	grid__v1__case_list__init(out);
	out->cases = arena_new_array(a, Grid__V1__Case *, n ? (size_t)n : 1);
	if (!out->cases)
		goto nomem;
	case_cols_find(&cols, res);
	for (int i = 0; i < n; i++) {
		out->cases[i] = case_row_msg(a, tree_of(call), res, &cols, i);
		if (!out->cases[i])
			goto nomem;
	}
	out->n_cases = (size_t)n;
	out->next_page_token = (char *)"";
	if ((uint32_t)n == l->limit)
		out->next_page_token = arena_printf(a, "%" PRIu64, out->cases[n - 1]->id);
	rpc_reply(call, out);
	return;
nomem:
	rpc_fail(call, -ENOMEM, "out of memory");
}

void case_list(struct rpc_call *call)
{
	const Grid__V1__ListCasesRequest *in = rpc_request(call)->list_cases;
	const struct config *cfg = rpc_server(call)->cfg;
	struct arena *a = rpc_arena(call);
	struct list_ctx *l = arena_new(a, struct list_ctx);
	const struct tree_node *n = tree_find_code(tree_of(call), in->node_code);
	uint64_t after = 0;
	struct db_query *q;
	int r;

	if (!l) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (!n) {
		rpc_fail(call, -ENOENT, "node %s not found", in->node_code);
		return;
	}
	if (*in->page_token && sscanf(in->page_token, "%" SCNu64, &after) != 1) {
		rpc_fail(call, -EINVAL, "bad page token");
		return;
	}
	l->call = call;
	l->limit = in->page_size ? in->page_size : cfg->default_page_size;
	if (l->limit > cfg->max_page_size)
		l->limit = cfg->max_page_size;
	l->params[0] = arena_printf(a, "%" PRId64, n->id);
	l->params[1] = in->subtree ? "true" : "false";
	if (in->n_states) {
		char *s = arena_alloc(a, in->n_states * 4 + 3);
		if (!s) {
			rpc_fail(call, -ENOMEM, "out of memory");
			return;
		}
		strcpy(s, "{");
		for (size_t i = 0; i < in->n_states; i++) {
			if (in->states[i] < GRID__V1__CASE_STATE__CASE_RECEIVED ||
			    in->states[i] > GRID__V1__CASE_STATE__CASE_SUSPENDED) {
				rpc_fail(call, -EINVAL, "unknown case state %d",
					 (int)in->states[i]);
				return;
			}
			sprintf(s + strlen(s), "%s%d", i ? "," : "", (int)in->states[i]);
		}
		strcat(s, "}");
		l->params[2] = s;
	} else {
		l->params[2] = in->include_closed ? "{1,2,3,4,5,6,7,8,9}" : NULL;
	}
	l->params[3] = in->category;
	l->params[4] = in->overdue_only ? "true" : "false";
	l->params[5] = arena_printf(a, "%" PRIu64, after);
	l->params[6] = arena_printf(a, "%u", l->limit);
	l->params[7] = clock_sql_param(a);
	q = db_query_create(rpc_server(call)->db);
	if (!q || db_query_add(q, &case_stmts[CASE_STMT_LIST], l->params) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_cases, l);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

/* --- CaseReport ----------------------------------------------------------- */

struct report_ctx {
	struct rpc_call *call;
	int64_t from, to;
	const char *params[3];
};

static const char *const definitions[] = {
    "received: cases raised in the period at the node or below it (by where they were "
    "raised, wherever they are now)",
    "closure_rate: closed / received",
    "on_time_closure_rate: closed without ever missing a deadline (no timeout escalation, "
    "not overdue) / received",
    "rework_rate: resolutions sent back for rework at least once / cases resolved",
    "escalation_rate: escalated at least once, by hand or by timeout / received",
    "timeout_escalated_cases: cases escalated by timeout at least once",
    "timeout_escalations: escalations by timeout, counting each level",
    "solved_rate: call-backs that said it was solved / call-backs",
    "satisfaction_rate: call-backs with satisfaction 4 or 5 / call-backs",
    "mean_satisfaction: mean of the call-backs' satisfaction (1-5)",
    "median_minutes_to_accept: median wall-clock time from receipt to the first acceptance",
    "median_hours_to_resolve: median wall-clock time from receipt to resolution",
    "voided: cases voided (out of scope, invalid or duplicate)",
    "callbacks: cases whose reporter was called back",
};

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static int add_figure(struct arena *a, Grid__V1__CaseReport *r, const char *name, double v)
{
	Grid__V1__ReportFigure *f = arena_new(a, Grid__V1__ReportFigure);

	if (!f)
		return -ENOMEM;
	grid__v1__report_figure__init(f);
	f->name = (char *)name;
	f->value = v;
	f->definition = (char *)"";
	for (size_t i = 0; i < sizeof(definitions) / sizeof(definitions[0]); i++)
		if (strncmp(definitions[i], name, strlen(name)) == 0 &&
		    definitions[i][strlen(name)] == ':')
			f->definition = (char *)definitions[i] + strlen(name) + 2;
	r->figures[r->n_figures++] = f;
	return 0;
}

static void on_report(struct db_query *q, int status, void *data)
{
	struct report_ctx *rc = data;
	struct rpc_call *call = rc->call;
	struct arena *a = rpc_arena(call);
	const Grid__V1__CaseReportRequest *in = rpc_request(call)->case_report;
	PGresult *res = db_query_result(q, 0);
	Grid__V1__CaseReport *out;
	double v[15];

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	for (int i = 0; i < 15; i++)
		v[i] = strtod(PQgetvalue(res, 0, i), NULL);
	out = arena_new(a, Grid__V1__CaseReport);
	if (!out)
		goto nomem;
	grid__v1__case_report__init(out);
	out->node_code = in->node_code;
	out->from_ms = rc->from;
	out->to_ms = rc->to;
	out->figures = arena_new_array(a, Grid__V1__ReportFigure *, 16);
	if (!out->figures)
		goto nomem;
	/* Columns: 0 received, 1 closed, 2 closed on time, 3 resolved,
	 * 4 reworked, 5 escalated, 6 timeout-escalated cases, 7 timeout
	 * escalations, 8 call-backs, 9 solved, 10 satisfied, 11 mean
	 * satisfaction, 12 median minutes to accept, 13 median hours to
	 * resolve, 14 voided. */
	if (add_figure(a, out, "received", v[0]) < 0 ||
	    add_figure(a, out, "closure_rate", ratio(v[1], v[0])) < 0 ||
	    add_figure(a, out, "on_time_closure_rate", ratio(v[2], v[0])) < 0 ||
	    add_figure(a, out, "rework_rate", ratio(v[4], v[3])) < 0 ||
	    add_figure(a, out, "escalation_rate", ratio(v[5], v[0])) < 0 ||
	    add_figure(a, out, "timeout_escalated_cases", v[6]) < 0 ||
	    add_figure(a, out, "timeout_escalations", v[7]) < 0 ||
	    add_figure(a, out, "callbacks", v[8]) < 0 ||
	    add_figure(a, out, "solved_rate", ratio(v[9], v[8])) < 0 ||
	    add_figure(a, out, "satisfaction_rate", ratio(v[10], v[8])) < 0 ||
	    add_figure(a, out, "mean_satisfaction", v[11]) < 0 ||
	    add_figure(a, out, "median_minutes_to_accept", v[12]) < 0 ||
	    add_figure(a, out, "median_hours_to_resolve", v[13]) < 0 ||
	    add_figure(a, out, "voided", v[14]) < 0)
		goto nomem;
	rpc_reply(call, out);
	return;
nomem:
	rpc_fail(call, -ENOMEM, "out of memory");
}

void case_report(struct rpc_call *call)
{
	const Grid__V1__CaseReportRequest *in = rpc_request(call)->case_report;
	struct arena *a = rpc_arena(call);
	struct report_ctx *rc = arena_new(a, struct report_ctx);
	const struct tree_node *n = tree_find_code(tree_of(call), in->node_code);
	struct db_query *q;
	int r;

	if (!rc) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (!n) {
		rpc_fail(call, -ENOENT, "node %s not found", in->node_code);
		return;
	}
	rc->call = call;
	rc->from = in->from_ms;
	rc->to = in->to_ms ? in->to_ms : clock_now_ms() + 1;
	if (rc->to <= rc->from) {
		rpc_fail(call, -EINVAL, "the period ends before it starts");
		return;
	}
	rc->params[0] = arena_printf(a, "%" PRId64, n->id);
	rc->params[1] = arena_printf(a, "%" PRId64, rc->from);
	rc->params[2] = arena_printf(a, "%" PRId64, rc->to);
	q = db_query_create(rpc_server(call)->db);
	if (!q || db_query_add(q, &case_stmts[CASE_STMT_REPORT], rc->params) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_report, rc);
	if (r < 0)
		rpc_fail_db(call, r, "");
}
