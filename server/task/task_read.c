/* The task domain's reads: GetTask, ListTasks, ListAssignments and
 * TaskProgress.
 *
 * Lists are keyset-paged (the page token is the last key sent) and scoped:
 * with a node, the dispatch table has checked it; without one, the caller
 * sees what lies under its own grants. GetTask and TaskProgress name a task
 * by id only, so they load it and check the caller's reach here
 * (task_reaches): one that does not exist and one out of reach get the same
 * answer.
 *
 * Progress is rolled up in C: the database groups the task's assignments by
 * the node above them (one pass, see TASK_STMT_PROGRESS), and each group's
 * counts and sums are added to every node from there up to the top of the
 * report, found in the grid cache. The rows are the cache's subtree in
 * pre-order, down to the level above the targets.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/htab.h"
#include "common/strutil.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/auth/principal.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/db/pool.h"
#include "server/grid/tree.h"
#include "server/rpc/rpc.h"
#include "server/server.h"
#include "server/task/task.h"
#include "server/task/task_db.h"
#include "server/task/task_private.h"

static const char *u64_text(struct rpc_call *call, uint64_t v)
{
	return arena_printf(rpc_arena(call), "%" PRIu64, v);
}

/* Submits a read of one statement; the call ends on failure. */
static void submit_read(struct rpc_call *call, enum task_stmt stmt, const char **params,
			db_query_cb cb, void *data)
{
	struct db_query *q = db_query_create(rpc_server(call)->db);
	int r;

	if (!q || db_query_add(q, &task_stmts[stmt], params) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), cb, data);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

static const char **params_new(struct rpc_call *call, size_t n)
{
	const char **p = arena_new_array(rpc_arena(call), const char *, n);

	if (!p)
		rpc_fail(call, -ENOMEM, "out of memory");
	return p;
}

/* The task of a GET result that the caller may read; else ends the call
 * (the same answer for missing and out of reach) and returns -1. */
static int loaded_task(struct rpc_call *call, struct db_query *q, int status, uint64_t id,
		       struct task_row *ret)
{
	PGresult *res = db_query_result(q, 0);
	int r;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return -1;
	}
	if (PQntuples(res) != 1) {
		task_refuse(call, id, PERM_TASK_READ);
		return -1;
	}
	r = task_db_task(res, 0, rpc_arena(call), rpc_server(call)->cfg, ret);
	if (r < 0) {
		rpc_fail(call, r == -ENOMEM ? r : -EIO, "task %" PRIu64 " could not be read", id);
		return -1;
	}
	if (!task_reaches(call, PERM_TASK_READ, tree_find_id(task_tree(call), ret->node_id),
			  ret->target_level)) {
		task_refuse(call, id, PERM_TASK_READ);
		return -1;
	}
	return 0;
}

/* --- GetTask ------------------------------------------------------------- */

static void on_get(struct db_query *q, int status, void *data)
{
	struct rpc_call *call = data;
	struct task_row row;

	if (loaded_task(call, q, status, rpc_request(call)->get_task->id, &row) == 0)
		rpc_reply(call, row.msg);
}

void task_get(struct rpc_call *call)
{
	const Grid__V1__GetTaskRequest *in = rpc_request(call)->get_task;
	const char **params;

	if (in->id == 0) {
		rpc_fail(call, -EINVAL, "task id is missing");
		return;
	}
	if (!(params = params_new(call, 1)))
		return;
	params[0] = u64_text(call, in->id);
	submit_read(call, TASK_STMT_GET, params, on_get, call);
}

/* --- ListTasks ----------------------------------------------------------- */

struct list_ctx {
	struct rpc_call *call;
	uint32_t limit;
};

/* The scope of a list, as the ids of the nodes whose subtrees it covers:
 * the node given (checked by the dispatch), or the caller's grants. NULL
 * with the call ended on failure. */
static const char *scope_param(struct rpc_call *call, const char *code)
{
	const char *ids;

	if (*code) {
		const struct tree_node *n = task_node_arg(call, code);
		if (!n)
			return NULL;
		ids = arena_printf(rpc_arena(call), "{%" PRId64 "}", n->id);
	} else {
		ids = task_scope_ids(call, PERM_TASK_READ);
	}
	if (!ids)
		rpc_fail(call, -ENOMEM, "out of memory");
	return ids;
}

static void on_list(struct db_query *q, int status, void *data)
{
	struct list_ctx *lc = data;
	struct rpc_call *call = lc->call;
	struct arena *a = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);
	Grid__V1__TaskList *out;
	int n;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	n = PQntuples(res);
	out = arena_new(a, Grid__V1__TaskList);
	if (!out)
		goto nomem;
	grid__v1__task_list__init(out);
	out->tasks = arena_new_array(a, Grid__V1__Task *, n ? (size_t)n : 1);
	if (!out->tasks)
		goto nomem;
	for (int i = 0; i < n; i++) {
		struct task_row row;
		int r = task_db_task(res, i, a, rpc_server(call)->cfg, &row);
		if (r == -ENOMEM)
			goto nomem;
		if (r < 0) {
			rpc_fail(call, -EIO, "a task could not be read");
			return;
		}
		out->tasks[out->n_tasks++] = row.msg;
	}
	out->next_page_token = (char *)"";
	if (n > 0 && (uint32_t)n == lc->limit) {
		out->next_page_token = arena_printf(a, "%" PRIu64, out->tasks[n - 1]->id);
		if (!out->next_page_token)
			goto nomem;
	}
	rpc_reply(call, out);
	return;
nomem:
	rpc_fail(call, -ENOMEM, "out of memory");
}

void task_list(struct rpc_call *call)
{
	const Grid__V1__ListTasksRequest *in = rpc_request(call)->list_tasks;
	struct list_ctx *lc = arena_new(rpc_arena(call), struct list_ctx);
	const char **params = params_new(call, TASK_LIST_NPARAMS);
	const char *scope;
	uint64_t before = INT64_MAX;

	if (!params)
		return;
	if (!lc) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (*in->page_token && (str_to_u64(in->page_token, &before) < 0 || before > INT64_MAX)) {
		rpc_fail(call, -EINVAL, "page token %s is not one this server sent",
			 in->page_token);
		return;
	}
	/* params lives in the call's arena, which a failure frees: store
	 * the scope only once it is known that the call goes on. */
	scope = scope_param(call, in->node_code);
	if (!scope)
		return;
	params[0] = scope;
	lc->call = call;
	lc->limit = task_page_size(call, in->page_size);
	params[1] = in->include_cancelled ? "true" : "false";
	params[2] = u64_text(call, before);
	params[3] = arena_printf(rpc_arena(call), "%u", lc->limit);
	submit_read(call, TASK_STMT_LIST, params, on_list, lc);
}

/* --- ListAssignments ----------------------------------------------------- */

static void on_list_assignments(struct db_query *q, int status, void *data)
{
	struct list_ctx *lc = data;
	struct rpc_call *call = lc->call;
	struct arena *a = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);
	Grid__V1__AssignmentList *out;
	int n;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	n = PQntuples(res);
	out = arena_new(a, Grid__V1__AssignmentList);
	if (!out)
		goto nomem;
	grid__v1__assignment_list__init(out);
	out->assignments = arena_new_array(a, Grid__V1__Assignment *, n ? (size_t)n : 1);
	if (!out->assignments)
		goto nomem;
	for (int i = 0; i < n; i++) {
		Grid__V1__Assignment *m = task_db_assignment(res, i, a);
		if (!m) {
			rpc_fail(call, -EIO, "an assignment could not be read");
			return;
		}
		out->assignments[out->n_assignments++] = m;
	}
	out->next_page_token = (char *)"";
	if (n > 0 && (uint32_t)n == lc->limit) {
		const Grid__V1__Assignment *last = out->assignments[n - 1];
		out->next_page_token =
		    arena_printf(a, "%" PRIu64 ":%s", last->task_id, last->node_code);
		if (!out->next_page_token)
			goto nomem;
	}
	rpc_reply(call, out);
	return;
nomem:
	rpc_fail(call, -ENOMEM, "out of memory");
}

static const char *state_name(Grid__V1__AssignmentState s)
{
	switch (s) {
	case GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_PENDING:
		return "pending";
	case GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_ACKNOWLEDGED:
		return "acknowledged";
	case GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_DONE:
		return "done";
	case GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_CANCELLED:
		return "cancelled";
	default:
		return NULL;
	}
}

void task_list_assignments(struct rpc_call *call)
{
	const Grid__V1__ListAssignmentsRequest *in = rpc_request(call)->list_assignments;
	struct arena *a = rpc_arena(call);
	struct list_ctx *lc = arena_new(a, struct list_ctx);
	const char **params = params_new(call, TASK_LIST_ASSIGNMENTS_NPARAMS);
	uint64_t after_task = INT64_MAX;
	const char *after_code = "", *scope;
	struct buf states;
	int r;

	if (!params)
		return;
	if (!lc) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	/* The token is "TASK:CODE" of the last row sent. */
	if (*in->page_token) {
		char *copy = arena_strdup(a, in->page_token),
		     *colon = copy ? strchr(copy, ':') : NULL;
		if (!colon || (*colon = '\0', str_to_u64(copy, &after_task) < 0) ||
		    after_task > INT64_MAX || (in->task_id && after_task != in->task_id)) {
			rpc_fail(call, -EINVAL, "page token %s is not one this server sent",
				 in->page_token);
			return;
		}
		after_code = colon + 1;
	}
	buf_init(&states, 0);
	r = buf_putc(&states, '{');
	for (size_t i = 0; i < in->n_states && r == 0; i++) {
		const char *s = state_name(in->states[i]);
		if (!s) {
			buf_finish(&states);
			rpc_fail(call, -EINVAL, "unknown assignment state %d", (int)in->states[i]);
			return;
		}
		r = buf_printf(&states, "%s%s", i ? "," : "", s);
	}
	if (r == 0)
		r = buf_putc(&states, '}');
	params[1] = r == 0 ? arena_strdup(a, buf_cstr(&states)) : NULL;
	buf_finish(&states);
	if (!params[1]) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	/* params lives in the call's arena, which a failure frees: store
	 * the scope only once it is known that the call goes on. */
	scope = scope_param(call, in->node_code);
	if (!scope)
		return;
	params[0] = scope;
	lc->call = call;
	lc->limit = task_page_size(call, in->page_size);
	params[2] = in->overdue_only ? "true" : "false";
	params[3] = clock_sql_param(a);
	params[4] = in->task_id ? u64_text(call, in->task_id) : u64_text(call, after_task);
	params[5] = after_code;
	params[6] = arena_printf(a, "%u", lc->limit);
	/* One task's are a statement of their own: its index finds them. */
	submit_read(call,
		    in->task_id ? TASK_STMT_LIST_TASK_ASSIGNMENTS : TASK_STMT_LIST_ASSIGNMENTS,
		    params, on_list_assignments, lc);
}

/* --- TaskProgress -------------------------------------------------------- */

struct sum {
	const char *name;
	double value;
};

/* One row of the report, kept in a hash table by node id while the groups
 * are added up. */
struct prow {
	int64_t id;
	const struct tree_node *node;
	uint32_t total, acknowledged, done, overdue;
	struct sum *sums;
	size_t nsums, capsums;
};

struct progress_ctx {
	struct rpc_call *call;
	uint64_t id;
	const struct tree_node *top;
	unsigned target_level;
	unsigned max_depth; /* below top; 0 = down to the level above the targets */
	const char *params[3];
	struct prow *rows; /* pre-order */
	size_t nrows, caprows, limit;
	struct htab by_id;
};

static uint64_t prow_hash(const void *elem)
{
	return htab_hash_u64((uint64_t)((const struct prow *)elem)->id);
}

static int prow_eq(const void *elem, const void *key)
{
	return ((const struct prow *)elem)->id == *(const int64_t *)key;
}

/* The rows of the report: n and, in pre-order, the nodes below it above
 * the target level (retired ones too: a retired node may hold assignments
 * made before; empty ones are dropped later). -EMSGSIZE past the limit. */
static int collect(struct progress_ctx *pc, const struct tree_node *n, unsigned depth)
{
	struct arena *a = rpc_arena(pc->call);
	int r;

	if (pc->nrows == pc->limit)
		return -EMSGSIZE;
	if (pc->nrows == pc->caprows) {
		size_t cap = pc->caprows ? pc->caprows * 2 : 64;
		struct prow *v = arena_alloc(a, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		if (pc->nrows)
			memcpy(v, pc->rows, pc->nrows * sizeof(*v));
		pc->rows = v;
		pc->caprows = cap;
	}
	struct prow *row = &pc->rows[pc->nrows++];
	memset(row, 0, sizeof(*row));
	row->id = n->id;
	row->node = n;
	if (pc->max_depth && depth >= pc->max_depth)
		return 0;
	for (uint32_t i = 0; i < n->nchildren; i++) {
		if (n->children[i]->level >= pc->target_level)
			continue;
		r = collect(pc, n->children[i], depth + 1);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_sum(struct arena *a, struct prow *row, const char *name, double value)
{
	for (size_t i = 0; i < row->nsums; i++)
		if (strcmp(row->sums[i].name, name) == 0) {
			row->sums[i].value += value;
			return 0;
		}
	if (row->nsums == row->capsums) {
		size_t cap = row->capsums ? row->capsums * 2 : 4;
		struct sum *v = arena_alloc(a, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		if (row->nsums)
			memcpy(v, row->sums, row->nsums * sizeof(*v));
		row->sums = v;
		row->capsums = cap;
	}
	row->sums[row->nsums++] = (struct sum){name, value};
	return 0;
}

static uint32_t col_u32(const PGresult *res, int i, int col)
{
	int64_t v = 0;

	task_db_i64(PQgetvalue(res, i, col), &v);
	return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Adds group row i to its node and every node above it up to the top. */
static int add_group(struct progress_ctx *pc, const PGresult *res, int i)
{
	struct arena *a = rpc_arena(pc->call);
	const struct tree_node *g;
	const char *name = NULL;
	int64_t gid;
	double sum = 0;

	if (task_db_i64(PQgetvalue(res, i, TASK_PROGRESS_GROUP), &gid) < 0)
		return -EPROTO;
	g = tree_find_id(task_tree(pc->call), gid);
	if (!PQgetisnull(res, i, TASK_PROGRESS_NAME)) {
		char *end;
		name = arena_strdup(a, PQgetvalue(res, i, TASK_PROGRESS_NAME));
		sum = strtod(PQgetvalue(res, i, TASK_PROGRESS_SUM), &end);
		if (!name)
			return -ENOMEM;
	}
	/* A node the cache does not know yet (created a moment ago by
	 * another process) counts from the next call on. */
	for (; g; g = g->parent) {
		struct prow *row = htab_find(&pc->by_id, &g->id, htab_hash_u64((uint64_t)g->id));
		if (row && name) {
			if (add_sum(a, row, name, sum) < 0)
				return -ENOMEM;
		} else if (row) {
			row->total += col_u32(res, i, TASK_PROGRESS_TOTAL);
			row->acknowledged += col_u32(res, i, TASK_PROGRESS_ACKNOWLEDGED);
			row->done += col_u32(res, i, TASK_PROGRESS_DONE);
			row->overdue += col_u32(res, i, TASK_PROGRESS_OVERDUE);
		}
		if (g == pc->top)
			break;
	}
	return 0;
}

static int cmp_sum(const void *x, const void *y)
{
	return strcmp(((const struct sum *)x)->name, ((const struct sum *)y)->name);
}

static Grid__V1__ProgressRow *row_msg(struct arena *a, const struct prow *row)
{
	Grid__V1__ProgressRow *m = arena_new(a, Grid__V1__ProgressRow);

	if (!m)
		return NULL;
	grid__v1__progress_row__init(m);
	m->node_code = (char *)row->node->code;
	m->node_name = (char *)row->node->name;
	m->level = row->node->level;
	m->total = row->total;
	m->acknowledged = row->acknowledged;
	m->done = row->done;
	m->overdue = row->overdue;
	if (row->nsums) {
		qsort(row->sums, row->nsums, sizeof(*row->sums), cmp_sum);
		m->sums = arena_new_array(a, Grid__V1__ReportNumber *, row->nsums);
		if (!m->sums)
			return NULL;
		for (size_t i = 0; i < row->nsums; i++) {
			Grid__V1__ReportNumber *num = arena_new(a, Grid__V1__ReportNumber);
			if (!num)
				return NULL;
			grid__v1__report_number__init(num);
			num->name = (char *)row->sums[i].name;
			num->value = row->sums[i].value;
			m->sums[i] = num;
		}
		m->n_sums = row->nsums;
	}
	return m;
}

static void on_progress(struct db_query *q, int status, void *data)
{
	struct progress_ctx *pc = data;
	struct rpc_call *call = pc->call;
	struct arena *a = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);
	Grid__V1__TaskProgress *out;
	int r = 0, n;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	htab_init(&pc->by_id, prow_hash, prow_eq);
	for (size_t i = 0; i < pc->nrows && r == 0; i++)
		r = htab_insert(&pc->by_id, &pc->rows[i]);
	n = PQntuples(res);
	for (int i = 0; i < n && r == 0; i++)
		r = add_group(pc, res, i);
	htab_finish(&pc->by_id);
	out = r == 0 ? arena_new(a, Grid__V1__TaskProgress) : NULL;
	if (out) {
		grid__v1__task_progress__init(out);
		out->task_id = pc->id;
		out->rows = arena_new_array(a, Grid__V1__ProgressRow *, pc->nrows);
		if (!out->rows)
			r = -ENOMEM;
	}
	for (size_t i = 0; out && r == 0 && i < pc->nrows; i++) {
		const struct prow *row = &pc->rows[i];
		Grid__V1__ProgressRow *m;
		/* Retired since, with nothing of this task: not part of it. */
		if (row->node->retired && row->total == 0 && row->node != pc->top)
			continue;
		m = row_msg(a, row);
		if (!m)
			r = -ENOMEM;
		else
			out->rows[out->n_rows++] = m;
	}
	if (r < 0 || !out) {
		rpc_fail(call, r == -EPROTO ? -EIO : -ENOMEM,
			 r == -EPROTO ? "the progress could not be read" : "out of memory");
		return;
	}
	rpc_reply(call, out);
}

/* The task is loaded: choose the top of the report, list its rows from
 * the cache, then ask for the assignments' groups. */
static void on_progress_task(struct db_query *q, int status, void *data)
{
	struct progress_ctx *pc = data;
	struct rpc_call *call = pc->call;
	const Grid__V1__TaskProgressRequest *in = rpc_request(call)->task_progress;
	const struct tree_node *tn;
	struct task_row row;
	int r;

	if (loaded_task(call, q, status, pc->id, &row) < 0)
		return;
	tn = tree_find_id(task_tree(call), row.node_id);
	pc->target_level = row.target_level;
	if (*in->node_code) {
		/* The dispatch checked the caller's right on the node. */
		pc->top = tree_find_code(task_tree(call), in->node_code);
		if (!pc->top || !tn || !tree_is_ancestor(tn, pc->top) ||
		    pc->top->level > row.target_level) {
			rpc_fail(call, -EINVAL,
				 "node %s is not on task %" PRIu64 "'s way from %s down to its %ss",
				 in->node_code, pc->id, row.msg->node_code, row.msg->target_level);
			return;
		}
	} else if (tn &&
		   auth_allows(rpc_server(call)->auth, auth_principal(call), PERM_TASK_READ, tn)) {
		pc->top = tn;
	} else {
		/* The task reaches the caller from above: report on the
		 * caller's own part of it. */
		const struct principal *p = auth_principal(call);
		for (size_t i = 0; i < p->ngrants; i++) {
			const struct tree_node *gn;
			if (!(perm_of_role(p->grants[i].role) & PERM_TASK_READ))
				continue;
			gn = tree_find_id(task_tree(call), p->grants[i].node_id);
			if (gn && tn && tree_is_ancestor(tn, gn) && gn->level <= row.target_level &&
			    (!pc->top || gn->level < pc->top->level ||
			     (gn->level == pc->top->level && natcmp(gn->code, pc->top->code) < 0)))
				pc->top = gn;
		}
		if (!pc->top) {
			task_refuse(call, pc->id, PERM_TASK_READ);
			return;
		}
	}
	pc->limit = rpc_server(call)->cfg->max_page_size;
	r = collect(pc, pc->top, 0);
	if (r == -EMSGSIZE) {
		rpc_fail(call, r,
			 "the progress of task %" PRIu64 " at %s has more than %zu rows; ask for "
			 "fewer levels (depth) or at a node further down",
			 pc->id, pc->top->code, pc->limit);
		return;
	}
	if (r < 0) {
		rpc_fail(call, r, "out of memory");
		return;
	}
	pc->params[0] = u64_text(call, pc->id);
	pc->params[1] = pc->top->code;
	pc->params[2] = clock_sql_param(rpc_arena(call));
	submit_read(call, TASK_STMT_PROGRESS, pc->params, on_progress, pc);
}

void task_progress(struct rpc_call *call)
{
	const Grid__V1__TaskProgressRequest *in = rpc_request(call)->task_progress;
	struct progress_ctx *pc;
	const char **params;

	if (in->task_id == 0) {
		rpc_fail(call, -EINVAL, "task id is missing");
		return;
	}
	if (*in->node_code && !task_node_arg(call, in->node_code))
		return;
	pc = arena_new(rpc_arena(call), struct progress_ctx);
	if (!pc || !(params = params_new(call, 1))) {
		if (!pc)
			rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	pc->call = call;
	pc->id = in->task_id;
	pc->max_depth = in->depth;
	params[0] = u64_text(call, in->task_id);
	submit_read(call, TASK_STMT_GET, params, on_progress_task, pc);
}
