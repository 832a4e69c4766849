/* The task domain's writes: IssueTask, AcknowledgeAssignment,
 * CompleteAssignment, CancelTask, ExtendTask.
 *
 * Each checks its input against the cache first, for quick and precise
 * answers, then runs one task_* SQL function (migration 0006) and its audit
 * entry in one transaction through rpc_submit (idempotency keys). The SQL
 * checks states again under row locks, so of two people acting at once one
 * wins and the other gets FAILED_PRECONDITION. CancelTask and ExtendTask
 * name only a task: they load it first, to check the issuer's permission
 * on its node.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "server/audit/audit.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/db/array.h"
#include "server/db/pool.h"
#include "server/grid/tree.h"
#include "server/rpc/rpc.h"
#include "server/server.h"
#include "server/task/task.h"
#include "server/task/task_db.h"
#include "server/task/task_private.h"

#define TITLE_MAX 200
#define BODY_MAX 4000
#define REPORT_MAX 4000
#define NOTE_MAX 500
#define NUMBERS_MAX 32
#define NUMBER_NAME_MAX 64
/* Reported figures are counts and amounts; beyond this they are typos. */
#define NUMBER_VALUE_MAX 1e15
/* A due time further ahead is a typo too. */
#define DUE_MAX_AHEAD_MS (10LL * 366 * 24 * 3600 * 1000)

struct write_ctx {
	struct rpc_call *call;
	bool assignment; /* the reply is an Assignment, else a Task */
	/* CancelTask, ExtendTask: the write to run once the task is loaded. */
	enum task_stmt stmt;
	const char **params;
	uint64_t id;
};

static struct write_ctx *ctx_new(struct rpc_call *call, size_t nparams)
{
	struct write_ctx *ctx = arena_new(rpc_arena(call), struct write_ctx);

	if (ctx)
		ctx->params = arena_new_array(rpc_arena(call), const char *, nparams);
	if (!ctx || !ctx->params) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return NULL;
	}
	ctx->call = call;
	return ctx;
}

static void on_written(struct db_query *q, int status, void *data)
{
	struct write_ctx *ctx = data;
	struct rpc_call *call = ctx->call;
	struct arena *a = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	if (PQntuples(res) != 1) {
		rpc_fail(call, -EIO, "the change was made but could not be read back");
		return;
	}
	if (ctx->assignment) {
		Grid__V1__Assignment *m = task_db_assignment(res, 0, a);
		if (!m) {
			rpc_fail(call, -EIO, "the change was made but could not be read back");
			return;
		}
		rpc_reply(call, m);
		return;
	}
	struct task_row row;
	int r = task_db_task(res, 0, a, rpc_server(call)->cfg, &row);
	if (r < 0) {
		rpc_fail(call, r == -ENOMEM ? r : -EIO,
			 "the change was made but could not be read back");
		return;
	}
	rpc_reply(call, row.msg);
}

/* Runs ctx's statement and the audit entry about node in one transaction. */
static void submit(struct write_ctx *ctx, const struct tree_node *node, const char *summary)
{
	struct rpc_call *call = ctx->call;
	struct db_query *q = db_query_create(rpc_server(call)->db);
	int r = q ? 0 : -ENOMEM;

	if (r == 0)
		r = db_query_add(q, &task_stmts[ctx->stmt], ctx->params);
	if (r == 0)
		r = audit_add_call(q, call, node, "%s", summary ? summary : "");
	if (r < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_submit(call, q, on_written, ctx);
}

/* Checks a due time from a request: ahead of gridd's clock, within reason.
 * Ends the call and returns false when it is not. */
static bool due_ok(struct rpc_call *call, int64_t due_ms)
{
	int64_t now = clock_now_ms();

	if (due_ms <= 0) {
		rpc_fail(call, -EINVAL, "the due time is missing");
		return false;
	}
	if (due_ms <= now) {
		rpc_fail(call, -EINVAL, "the due time %s has passed",
			 task_format_time(rpc_arena(call), due_ms));
		return false;
	}
	if (due_ms - now > DUE_MAX_AHEAD_MS) {
		rpc_fail(call, -EINVAL, "the due time %s is more than ten years ahead",
			 task_format_time(rpc_arena(call), due_ms));
		return false;
	}
	return true;
}

static const char *u64_text(struct rpc_call *call, uint64_t v)
{
	return arena_printf(rpc_arena(call), "%" PRIu64, v);
}

/* --- IssueTask ----------------------------------------------------------- */

void task_issue(struct rpc_call *call)
{
	Grid__V1__IssueTaskRequest *in = rpc_request(call)->issue_task;
	struct server *srv = rpc_server(call);
	struct arena *a = rpc_arena(call);
	const struct tree_node *n;
	struct write_ctx *ctx;
	const char *why;
	unsigned level;

	if (!(n = task_node_arg(call, in->node_code)))
		return;
	if (n->retired) {
		rpc_fail(call, -EBUSY, "node %s is retired", n->code);
		return;
	}
	if ((why = task_check_text(a, in->title, TITLE_MAX, false, true))) {
		rpc_fail(call, -EINVAL, "title %s", why);
		return;
	}
	if ((why = task_check_text(a, in->body, BODY_MAX, true, false))) {
		rpc_fail(call, -EINVAL, "body %s", why);
		return;
	}
	if (!*in->target_level || task_level_parse(srv, in->target_level, &level) < 0) {
		struct buf b;
		buf_init(&b, 0);
		for (unsigned i = n->level + 1u; i < srv->cfg->nlevels; i++)
			buf_printf(&b, "%s%s", i > n->level + 1u ? ", " : "", srv->cfg->levels[i]);
		rpc_fail(call, -EINVAL, "%s target level%s%s; the levels below %s are: %s",
			 *in->target_level ? "unknown" : "no", *in->target_level ? " " : "",
			 in->target_level, n->code, buf_cstr(&b) ? buf_cstr(&b) : "none");
		buf_finish(&b);
		return;
	}
	if (level <= n->level) {
		rpc_fail(call, -EINVAL,
			 "tasks go down the grid: the target level must be below %s, a %s", n->code,
			 task_level_name(srv, n->level));
		return;
	}
	if (!due_ok(call, in->due_at_ms))
		return;
	if (!(ctx = ctx_new(call, TASK_ISSUE_NPARAMS)))
		return;
	ctx->stmt = TASK_STMT_ISSUE;
	ctx->params[0] = n->code;
	ctx->params[1] = in->title;
	ctx->params[2] = in->body;
	ctx->params[3] = arena_printf(a, "%" PRId64, in->due_at_ms);
	ctx->params[4] = arena_printf(a, "%u", level);
	ctx->params[5] = auth_actor(auth_principal(call));
	ctx->params[6] = clock_sql_param(a);
	ctx->params[7] = arena_printf(a, "%lld", (long long)TASK_REMIND_BEFORE_MS);
	ctx->params[8] = arena_printf(a, "%g", TASK_REMIND_SHARE);
	submit(ctx, n,
	       arena_printf(a, "task \"%s\" for every %s below %s, due %s", in->title,
			    task_level_name(srv, level), n->code,
			    task_format_time(a, in->due_at_ms)));
}

/* --- AcknowledgeAssignment, CompleteAssignment --------------------------- */

/* The task id and node of an assignment request; ends the call and
 * returns NULL when one is missing. */
static const struct tree_node *assignment_args(struct rpc_call *call, uint64_t task_id,
					       const char *code)
{
	if (task_id == 0) {
		rpc_fail(call, -EINVAL, "task id is missing");
		return NULL;
	}
	return task_node_arg(call, code);
}

void task_acknowledge(struct rpc_call *call)
{
	Grid__V1__AssignmentRequest *in = rpc_request(call)->acknowledge_assignment;
	struct arena *a = rpc_arena(call);
	const struct tree_node *n;
	struct write_ctx *ctx;

	if (!(n = assignment_args(call, in->task_id, in->node_code)))
		return;
	if (!(ctx = ctx_new(call, 4)))
		return;
	ctx->assignment = true;
	ctx->stmt = TASK_STMT_ACKNOWLEDGE;
	ctx->params[0] = u64_text(call, in->task_id);
	ctx->params[1] = n->code;
	ctx->params[2] = auth_actor(auth_principal(call));
	ctx->params[3] = clock_sql_param(a);
	submit(ctx, n, arena_printf(a, "acknowledged task %" PRIu64, in->task_id));
}

static bool number_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > NUMBER_NAME_MAX ||
	    !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

/* The report's numbers as two array literals, names and values. Ends the
 * call and returns -EINVAL on a bad one. */
static int numbers_arg(struct rpc_call *call, const Grid__V1__CompleteAssignmentRequest *in,
		       const char **ret_names, const char **ret_values)
{
	struct arena *a = rpc_arena(call);
	struct buf names, values;
	int r = 0;

	if (in->n_numbers > NUMBERS_MAX) {
		rpc_fail(call, -EINVAL, "a report has at most %d numbers, not %zu", NUMBERS_MAX,
			 in->n_numbers);
		return -EINVAL;
	}
	for (size_t i = 0; i < in->n_numbers; i++) {
		const Grid__V1__ReportNumber *num = in->numbers[i];
		if (!number_name_ok(num->name)) {
			rpc_fail(call, -EINVAL,
				 "number name \"%s\": a letter, then letters, digits, '_', '.' or "
				 "'-', at most %d",
				 num->name, NUMBER_NAME_MAX);
			return -EINVAL;
		}
		if (!isfinite(num->value) || fabs(num->value) > NUMBER_VALUE_MAX) {
			rpc_fail(call, -EINVAL, "number %s: %g is not a reasonable figure",
				 num->name, num->value);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(in->numbers[j]->name, num->name) == 0) {
				rpc_fail(call, -EINVAL, "number %s is given twice", num->name);
				return -EINVAL;
			}
	}
	buf_init(&names, 0);
	buf_init(&values, 0);
	r = buf_putc(&names, '{');
	if (r == 0)
		r = buf_putc(&values, '{');
	for (size_t i = 0; i < in->n_numbers && r == 0; i++) {
		r = db_array_elem(&names, in->numbers[i]->name, i == 0);
		if (r == 0)
			r = buf_printf(&values, "%s%.17g", i ? "," : "", in->numbers[i]->value);
	}
	if (r == 0)
		r = buf_putc(&names, '}');
	if (r == 0)
		r = buf_putc(&values, '}');
	*ret_names = r == 0 ? arena_strdup(a, buf_cstr(&names)) : NULL;
	*ret_values = r == 0 ? arena_strdup(a, buf_cstr(&values)) : NULL;
	buf_finish(&names);
	buf_finish(&values);
	if (!*ret_names || !*ret_values) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void task_complete(struct rpc_call *call)
{
	Grid__V1__CompleteAssignmentRequest *in = rpc_request(call)->complete_assignment;
	struct arena *a = rpc_arena(call);
	const struct tree_node *n;
	struct write_ctx *ctx;
	const char *why, *names, *values;

	if (!(n = assignment_args(call, in->task_id, in->node_code)))
		return;
	if ((why = task_check_text(a, in->report_text, REPORT_MAX, true, false))) {
		rpc_fail(call, -EINVAL, "report %s", why);
		return;
	}
	if (numbers_arg(call, in, &names, &values) < 0)
		return;
	if (!(ctx = ctx_new(call, TASK_COMPLETE_NPARAMS)))
		return;
	ctx->assignment = true;
	ctx->stmt = TASK_STMT_COMPLETE;
	ctx->params[0] = u64_text(call, in->task_id);
	ctx->params[1] = n->code;
	ctx->params[2] = auth_actor(auth_principal(call));
	ctx->params[3] = clock_sql_param(a);
	ctx->params[4] = in->report_text;
	ctx->params[5] = names;
	ctx->params[6] = values;
	submit(ctx, n,
	       arena_printf(a, "completed task %" PRIu64 " with %zu number%s", in->task_id,
			    in->n_numbers, in->n_numbers == 1 ? "" : "s"));
}

/* --- CancelTask, ExtendTask ---------------------------------------------- */

/* The task is loaded: only its issuer's level may change it. */
static void on_loaded(struct db_query *q, int status, void *data)
{
	struct write_ctx *ctx = data;
	struct rpc_call *call = ctx->call;
	struct server *srv = rpc_server(call);
	struct arena *a = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);
	const struct tree_node *n;
	struct task_row row;
	int r;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	if (PQntuples(res) != 1) {
		task_refuse(call, ctx->id, PERM_TASK_ISSUE);
		return;
	}
	r = task_db_task(res, 0, a, srv->cfg, &row);
	if (r < 0) {
		rpc_fail(call, r == -ENOMEM ? r : -EIO, "task %" PRIu64 " could not be read",
			 ctx->id);
		return;
	}
	n = tree_find_id(task_tree(call), row.node_id);
	if (!auth_allows(srv->auth, auth_principal(call), PERM_TASK_ISSUE, n)) {
		task_refuse(call, ctx->id, PERM_TASK_ISSUE);
		return;
	}
	/* The state is the SQL's to check, after the idempotency key's: a
	 * retry of a cancellation that went through gets its first reply. */
	if (ctx->stmt == TASK_STMT_CANCEL)
		submit(ctx, n,
		       arena_printf(a, "cancelled task %" PRIu64 " \"%s\"%s%s", ctx->id,
				    row.msg->title, *ctx->params[2] ? ": " : "", ctx->params[2]));
	else
		submit(
		    ctx, n,
		    arena_printf(a, "extended task %" PRIu64 " \"%s\" from %s to %s", ctx->id,
				 row.msg->title, task_format_time(a, row.msg->due_at_ms),
				 task_format_time(a, rpc_request(call)->extend_task->due_at_ms)));
}

static void load_then_write(struct write_ctx *ctx)
{
	struct rpc_call *call = ctx->call;
	struct db_query *q = db_query_create(rpc_server(call)->db);
	const char **params = arena_new_array(rpc_arena(call), const char *, 1);
	int r;

	if (params)
		params[0] = ctx->params[0];
	if (!q || !params || db_query_add(q, &task_stmts[TASK_STMT_GET], params) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_loaded, ctx);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

void task_cancel(struct rpc_call *call)
{
	Grid__V1__CancelTaskRequest *in = rpc_request(call)->cancel_task;
	struct arena *a = rpc_arena(call);
	struct write_ctx *ctx;
	const char *why;

	if (in->id == 0) {
		rpc_fail(call, -EINVAL, "task id is missing");
		return;
	}
	if ((why = task_check_text(a, in->note, NOTE_MAX, false, false))) {
		rpc_fail(call, -EINVAL, "note %s", why);
		return;
	}
	if (!(ctx = ctx_new(call, 4)))
		return;
	ctx->id = in->id;
	ctx->stmt = TASK_STMT_CANCEL;
	ctx->params[0] = u64_text(call, in->id);
	ctx->params[1] = auth_actor(auth_principal(call));
	ctx->params[2] = in->note;
	ctx->params[3] = clock_sql_param(a);
	load_then_write(ctx);
}

void task_extend(struct rpc_call *call)
{
	Grid__V1__ExtendTaskRequest *in = rpc_request(call)->extend_task;
	struct arena *a = rpc_arena(call);
	struct write_ctx *ctx;

	if (in->id == 0) {
		rpc_fail(call, -EINVAL, "task id is missing");
		return;
	}
	if (!due_ok(call, in->due_at_ms))
		return;
	if (!(ctx = ctx_new(call, TASK_EXTEND_NPARAMS)))
		return;
	ctx->id = in->id;
	ctx->stmt = TASK_STMT_EXTEND;
	ctx->params[0] = u64_text(call, in->id);
	ctx->params[1] = arena_printf(a, "%" PRId64, in->due_at_ms);
	ctx->params[2] = auth_actor(auth_principal(call));
	ctx->params[3] = clock_sql_param(a);
	ctx->params[4] = arena_printf(a, "%lld", (long long)TASK_REMIND_BEFORE_MS);
	ctx->params[5] = arena_printf(a, "%g", TASK_REMIND_SHARE);
	load_then_write(ctx);
}
