/* Raising cases and every transition of their lifecycle.
 *
 * The checks that depend on the case itself (its state, where it is, who
 * handles it) are made by the SQL functions of migration 0005 under the
 * case's row lock, so two people acting at once cannot both win. What is
 * checked here: the input, and which part of the grid the caller may act
 * in, passed down as a list of node ids (auth_scope_param). A case outside
 * it and a case that does not exist get the same PERMISSION_DENIED.
 * Each write also records its audit entry, in the same transaction.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"
#include "server/audit/audit.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/case/case.h"
#include "server/case/case_db.h"
#include "server/case/case_private.h"
#include "server/clock.h"
#include "server/db/pool.h"
#include "server/grid/grid.h"
#include "server/grid/tree.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

static const char *const channels[] = {"counter", "phone",  "hotline", "visit",
				       "app",	  "letter", "other"};

static void on_case_written(struct db_query *q, int status, void *data)
{
	struct rpc_call *call = data;
	PGresult *res = db_query_result(q, 0);
	Grid__V1__Case *c;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	if (!res || PQntuples(res) != 1) {
		rpc_fail(call, -EIO, "the case was changed but could not be read back");
		return;
	}
	c = case_row_msg(rpc_arena(call), grid_tree(rpc_server(call)->grid), res, NULL, 0);
	if (!c) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_reply(call, c);
}

/* Runs one case statement, then the audit entry about where the case is
 * afterwards (a raise names its node itself). */
static void submit(struct rpc_call *call, enum case_stmt stmt, const char **params, uint64_t id,
		   const struct tree_node *node, const char *summary)
{
	struct arena *a = rpc_arena(call);
	struct db_query *q = db_query_create(rpc_server(call)->db);
	int r = q ? db_query_add(q, &case_stmts[stmt], params) : -ENOMEM;

	if (r == 0 && node) {
		r = audit_add_call(q, call, node, "%s", summary);
	} else if (r == 0) {
		const char **ap = arena_new_array(a, const char *, 4);
		r = ap ? 0 : -ENOMEM;
		if (r == 0) {
			ap[0] = auth_actor(auth_principal(call));
			ap[1] = rpc_call_method(call)->name;
			ap[2] = arena_printf(a, "%" PRIu64, id);
			ap[3] = summary;
			r = db_query_add(q, &case_stmts[CASE_STMT_AUDIT], ap);
		}
	}
	if (r < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_submit(call, q, on_case_written, call);
}

/* Text fields: valid UTF-8 without control characters (newlines allowed
 * in long text), at most max characters. */
static const char *check_text(const char *s, size_t max, bool multiline)
{
	if (!utf8_valid(s, strlen(s)))
		return "is not valid UTF-8";
	for (const char *p = s; *p; p++)
		if (((unsigned char)*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t'))) ||
		    *p == 0x7f)
			return "contains a control character";
	if (utf8_length(s) > max)
		return max == 200 ? "is longer than 200 characters" : "is too long";
	return NULL;
}

static const char *check_category(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return "a category has 1 to 32 characters";
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-'))
			return "a category holds only lower-case letters, digits, '_' and '-'";
	return NULL;
}

void case_raise(struct rpc_call *call)
{
	Grid__V1__RaiseCaseRequest *in = rpc_request(call)->raise_case;
	struct arena *a = rpc_arena(call);
	const struct tree_node *n;
	const char **p, *why = "is empty";
	const char *category = *in->category ? in->category : "other";
	const char *channel = *in->channel ? in->channel : "other";
	const char *key = rpc_request(call)->idempotency_key;
	struct raise_req *r;
	bool known = false;

	n = tree_find_code(grid_tree(rpc_server(call)->grid), in->node_code);
	if (!n) {
		/* Only whole-grid callers get here with an unknown node. */
		rpc_fail(call, -ENOENT, "node %s not found", in->node_code);
		return;
	}
	if (n->retired) {
		rpc_fail(call, -EBUSY, "node %s is retired", n->code);
		return;
	}
	if (!*in->title || (why = check_text(in->title, 200, false))) {
		rpc_fail(call, -EINVAL, "title %s", why);
		return;
	}
	if ((why = check_text(in->description, 5000, true)) ||
	    (why = check_text(in->contact, 200, false)) ||
	    (why = check_text(in->household, 200, false)) ||
	    (why = check_text(in->service_item, 200, false))) {
		rpc_fail(call, -EINVAL, "a text field %s", why);
		return;
	}
	if ((why = check_category(category))) {
		rpc_fail(call, -EINVAL, "%s", why);
		return;
	}
	for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++)
		known |= strcmp(channel, channels[i]) == 0;
	if (!known) {
		rpc_fail(call, -EINVAL,
			 "unknown channel %s; the channels are counter, phone, hotline, visit, "
			 "app, letter, other",
			 channel);
		return;
	}
	if (in->urgency > GRID__V1__URGENCY__URGENCY_EMERGENCY) {
		rpc_fail(call, -EINVAL, "unknown urgency %d", (int)in->urgency);
		return;
	}
	p = arena_new_array(a, const char *, 10);
	if (!p) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	p[0] = arena_printf(a, "%" PRId64, n->id);
	p[1] = in->title;
	p[2] = in->description;
	p[3] = category;
	p[4] = in->contact;
	p[5] = in->household;
	p[6] = in->service_item;
	p[7] = arena_printf(a, "%d", (int)in->urgency);
	p[8] = channel;
	p[9] = auth_actor(auth_principal(call));
	r = arena_new(a, struct raise_req);
	if (!r) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r->call = call;
	r->p = p;
	if (*key) {
		if (strlen(key) > RPC_IDEM_KEY_MAX) {
			rpc_fail(call, -EINVAL, "an idempotency key has at most %d characters",
				 RPC_IDEM_KEY_MAX);
			return;
		}
		r->key = key;
		r->hash = rpc_request_hash(call);
	}
	if (!p[0] || !p[7] || (r->key && !r->hash)) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	case_batch_add(case_of(call), r);
}

/* The simple steps share one SQL function (case_step). */
static void step(struct rpc_call *call, uint64_t id, const char *name, unsigned perm,
		 const char *note)
{
	struct arena *a = rpc_arena(call);
	const char **p = arena_new_array(a, const char *, 6);

	if (!p) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (!id) {
		rpc_fail(call, -EINVAL, "no case number given");
		return;
	}
	p[0] = arena_printf(a, "%" PRIu64, id);
	p[1] = name;
	p[2] = auth_scope_param(call, perm);
	p[3] = auth_actor(auth_principal(call));
	p[4] = note;
	p[5] = clock_sql_param(a);
	submit(call, CASE_STMT_STEP, p, id, NULL,
	       arena_printf(a, "case %" PRIu64 " %s%s%s", id, name, *note ? ": " : "", note));
}

#define STEP(fn, req, name, perm)                                                                  \
	void fn(struct rpc_call *call)                                                             \
	{                                                                                          \
		const Grid__V1__CaseNoteRequest *in = rpc_request(call)->req;                      \
		step(call, in->id, name, perm, in->note);                                          \
	}

STEP(case_register, register_case, "registered", PERM_CASE_HANDLE)
STEP(case_accept, accept_case, "accepted", PERM_CASE_HANDLE)
STEP(case_start_work, start_case, "started", PERM_CASE_HANDLE)
STEP(case_resolve, resolve_case, "resolved", PERM_CASE_HANDLE)
STEP(case_check, check_case, "checked", PERM_CASE_CHECK)
STEP(case_rework, rework_case, "rework", PERM_CASE_CHECK)
STEP(case_escalate, escalate_case, "escalated", PERM_CASE_HANDLE)
STEP(case_resume, resume_case, "resumed", PERM_CASE_HANDLE)
STEP(case_reopen, reopen_case, "reopened", PERM_CASE_MANAGE)

/* Parameters shared by the other transitions: id, scope, actor. */
static const char **with_id(struct rpc_call *call, uint64_t id, unsigned perm, size_t n)
{
	struct arena *a = rpc_arena(call);
	const char **p = arena_new_array(a, const char *, n);

	if (!id) {
		rpc_fail(call, -EINVAL, "no case number given");
		return NULL;
	}
	if (!p) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return NULL;
	}
	p[0] = arena_printf(a, "%" PRIu64, id);
	p[1] = auth_scope_param(call, perm);
	p[2] = auth_actor(auth_principal(call));
	return p;
}

void case_void(struct rpc_call *call)
{
	const Grid__V1__VoidCaseRequest *in = rpc_request(call)->void_case;
	struct arena *a = rpc_arena(call);
	const char **p;

	if (in->reason < GRID__V1__VOID_REASON__VOID_OUT_OF_SCOPE ||
	    in->reason > GRID__V1__VOID_REASON__VOID_DUPLICATE) {
		rpc_fail(call, -EINVAL, "a case is voided as out of scope, invalid or a duplicate");
		return;
	}
	if (!(p = with_id(call, in->id, PERM_CASE_HANDLE, 7)))
		return;
	p[3] = arena_printf(a, "%d", (int)in->reason);
	p[4] = arena_printf(a, "%" PRIu64, in->duplicate_of);
	p[5] = in->note;
	p[6] = clock_sql_param(a);
	submit(call, CASE_STMT_VOID, p, in->id, NULL,
	       arena_printf(a, "case %" PRIu64 " voided (%d)", in->id, (int)in->reason));
}

void case_close(struct rpc_call *call)
{
	const Grid__V1__CloseCaseRequest *in = rpc_request(call)->close_case;
	struct arena *a = rpc_arena(call);
	const char **p;

	if (in->outcome < GRID__V1__CASE_OUTCOME__OUTCOME_FIXED ||
	    in->outcome > GRID__V1__CASE_OUTCOME__OUTCOME_WITHDRAWN) {
		rpc_fail(call, -EINVAL,
			 "a case closes as fixed, no action needed, not our responsibility, "
			 "duplicate or withdrawn");
		return;
	}
	/* Withdrawn and duplicate close an open case at any point: those who
	 * handle cases may; the normal close after a check is the checker's. */
	unsigned perm = in->outcome >= GRID__V1__CASE_OUTCOME__OUTCOME_DUPLICATE
			    ? PERM_CASE_HANDLE | PERM_CASE_CHECK
			    : PERM_CASE_CHECK;
	if (!(p = with_id(call, in->id, perm, 7)))
		return;
	p[3] = arena_printf(a, "%d", (int)in->outcome);
	p[4] = arena_printf(a, "%" PRIu64, in->duplicate_of);
	p[5] = in->note;
	p[6] = clock_sql_param(a);
	submit(call, CASE_STMT_CLOSE, p, in->id, NULL,
	       arena_printf(a, "case %" PRIu64 " closed (%d)", in->id, (int)in->outcome));
}

void case_send_down(struct rpc_call *call)
{
	const Grid__V1__SendDownCaseRequest *in = rpc_request(call)->send_down_case;
	struct arena *a = rpc_arena(call);
	const struct tree_node *to;
	const char **p;

	to = tree_find_code(grid_tree(rpc_server(call)->grid), in->to_node_code);
	if (!to ||
	    !auth_allows(rpc_server(call)->auth, auth_principal(call), PERM_CASE_MANAGE, to)) {
		rpc_fail(call, -EACCES, "sending a case to %s is not allowed for %s",
			 in->to_node_code, auth_actor(auth_principal(call)));
		return;
	}
	if (!(p = with_id(call, in->id, PERM_CASE_MANAGE, 6)))
		return;
	p[3] = arena_printf(a, "%" PRId64, to->id);
	p[4] = in->note;
	p[5] = clock_sql_param(a);
	submit(call, CASE_STMT_SEND_DOWN, p, in->id, NULL,
	       arena_printf(a, "case %" PRIu64 " sent down to %s", in->id, to->code));
}

void case_suspend(struct rpc_call *call)
{
	const Grid__V1__CaseNoteRequest *in = rpc_request(call)->suspend_case;
	struct arena *a = rpc_arena(call);
	const char **p;

	if (!(p = with_id(call, in->id, PERM_CASE_HANDLE, 6)))
		return;
	/* Those who may approve: whoever manages cases one level up. */
	const char *approve = auth_scope_param(call, PERM_CASE_MANAGE);
	/* Shift: scope, approve scope, actor, reason, now. */
	p[3] = p[2];
	p[2] = approve;
	p[4] = in->note;
	p[5] = clock_sql_param(a);
	submit(call, CASE_STMT_SUSPEND, p, in->id, NULL,
	       arena_printf(a, "case %" PRIu64 " suspension: %s", in->id, in->note));
}

void case_callback(struct rpc_call *call)
{
	const Grid__V1__CaseCallbackRequest *in = rpc_request(call)->case_callback;
	struct arena *a = rpc_arena(call);
	const char **p;

	if (in->satisfaction < 1 || in->satisfaction > 5) {
		rpc_fail(call, -EINVAL, "satisfaction is a score from 1 to 5");
		return;
	}
	if (!(p = with_id(call, in->id, PERM_CASE_HANDLE, 7)))
		return;
	p[3] = in->solved ? "true" : "false";
	p[4] = arena_printf(a, "%u", in->satisfaction);
	p[5] = in->note;
	p[6] = clock_sql_param(a);
	submit(call, CASE_STMT_CALLBACK, p, in->id, NULL,
	       arena_printf(a, "case %" PRIu64 " call-back: solved %s, satisfaction %u", in->id,
			    in->solved ? "yes" : "no", in->satisfaction));
}

void case_claim(struct rpc_call *call)
{
	const Grid__V1__ClaimCaseRequest *in = rpc_request(call)->claim_case;
	struct arena *a = rpc_arena(call);
	const struct tree_node *n =
	    tree_find_code(grid_tree(rpc_server(call)->grid), in->node_code);
	const char **p = arena_new_array(a, const char *, 3);

	if (!n) {
		rpc_fail(call, -ENOENT, "node %s not found", in->node_code);
		return;
	}
	if (!p) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	p[0] = arena_printf(a, "%" PRId64, n->id);
	p[1] = auth_actor(auth_principal(call));
	p[2] = clock_sql_param(a);
	submit(call, CASE_STMT_CLAIM, p, 0, n, arena_printf(a, "claimed a case at %s", n->code));
}
