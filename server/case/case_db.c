/* SQL of the cases domain; see case_db.h. The rules are in the functions of
 * migration 0005; these statements call them. */
#include "server/case/case_db.h"

#include <stdlib.h>
#include <string.h>

#include "server/grid/tree.h"

#define MS(x) "(extract(epoch FROM " x ") * 1000)::bigint"

/* Columns read back from grid_case (SELECT * of the functions' rows). */
#define CASE_OUT "SELECT * FROM "

struct db_stmt case_stmts[CASE_STMT_COUNT] = {
    /* One row per request of a batch (case_batch.c): idx (1-based),
     * verdict, stored reply, and the case's columns (a new one, or the
     * replay of a key a batch kept with its case). */
    [CASE_STMT_RAISE_BATCH] = {"case_raise_batch",
			       "SELECT r.idx, r.verdict, r.stored, (r.c).* FROM case_raise_batch("
			       "$1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], "
			       "$6::text[], $7::text[], $8::int[], $9::text[], $10::text[], "
			       "$11::text[], $12::bytea[], $13::bigint) AS r",
			       13, 0},
    [CASE_STMT_STEP] = {"case_step",
			CASE_OUT "case_step($1::bigint, $2, $3::bigint[], $4, $5, $6::bigint)", 6,
			0},
    [CASE_STMT_VOID] = {"case_void",
			CASE_OUT "case_void($1::bigint, $2::bigint[], $3, $4::int, "
				 "nullif($5::bigint, 0), $6, $7::bigint)",
			7, 0},
    [CASE_STMT_CLOSE] = {"case_close",
			 CASE_OUT "case_close($1::bigint, $2::bigint[], $3, $4::int, "
				  "nullif($5::bigint, 0), $6, $7::bigint)",
			 7, 0},
    [CASE_STMT_SEND_DOWN] = {"case_send_down",
			     CASE_OUT "case_send_down($1::bigint, $2::bigint[], $3, $4::bigint, "
				      "$5, $6::bigint)",
			     6, 0},
    [CASE_STMT_SUSPEND] = {"case_suspend",
			   CASE_OUT "case_suspend($1::bigint, $2::bigint[], $3::bigint[], $4, $5, "
				    "$6::bigint)",
			   6, 0},
    [CASE_STMT_CALLBACK] = {"case_callback",
			    CASE_OUT "case_callback($1::bigint, $2::bigint[], $3, $4::boolean, "
				     "$5::int, $6, $7::bigint)",
			    7, 0},
    [CASE_STMT_CLAIM] = {"case_claim", CASE_OUT "case_claim($1::bigint, $2, $3::bigint)", 3, 0},
    /* The audit entry of a transition, about the node the case is at
     * after it (this runs after the transition, in its transaction). */
    [CASE_STMT_AUDIT] = {"case_audit",
			 "SELECT audit_append($1, $2, c.node_id, n.code, $4) FROM grid_case c "
			 "JOIN grid_node n ON n.id = c.node_id WHERE c.id = $3::bigint",
			 4, 0},
    [CASE_STMT_GET] = {"case_get", "SELECT * FROM grid_case WHERE id = $1::bigint", 1, 0},
    [CASE_STMT_EVENTS] = {"case_events",
			  "SELECT seq, " MS(
			      "at") ", kind, node_id, coalesce(from_node_id, 0), "
				    "coalesce(case_id, 0), coalesce(task_id, 0), actor, summary "
				    "FROM grid_event WHERE case_id = $1::bigint ORDER BY seq",
			  1, 0},
    /* Cases at node $1 (or in its subtree with $2), in the states $3
     * (NULL: every open state), of category $4 ('' any), overdue only
     * with $5, after id $6, at most $7, "now" $8. */
    [CASE_STMT_LIST] = {"case_list",
			"SELECT c.* FROM grid_case c WHERE "
			"(CASE WHEN $2::boolean THEN c.node_id IN (SELECT n.id FROM grid_node n, "
			"grid_node s WHERE s.id = $1::bigint AND n.path <@ s.path) "
			"ELSE c.node_id = $1::bigint END) "
			"AND (CASE WHEN $3::int[] IS NULL THEN c.state IN (1, 2, 3, 4, 5, 6, 9) "
			"ELSE c.state = ANY ($3::int[]) END) "
			"AND ($4 = '' OR c.category = $4) "
			"AND (NOT $5::boolean OR c.overdue OR (c.state IN (1, 2) AND "
			"c.accept_due <= case_now($8::bigint)) OR c.resolve_due <= "
			"case_now($8::bigint)) "
			"AND c.id > $6::bigint ORDER BY c.id LIMIT $7::int",
			8, 0},
    [CASE_STMT_SWEEP] = {"case_sweep", "SELECT case_sweep($1::bigint, $2::int)", 2, 0},
    /* Figures about cases raised in the subtree of $1 between $2 and $3
     * (ms); each with its definition in case_read.c. */
    [CASE_STMT_REPORT] =
	{"case_report",
	 "WITH c AS (SELECT g.* FROM grid_case g, grid_node n, grid_node s "
	 "WHERE s.id = $1::bigint AND n.id = g.origin_node_id AND n.path <@ s.path "
	 "AND g.received_at >= to_timestamp($2::bigint / 1000.0) "
	 "AND g.received_at < to_timestamp($3::bigint / 1000.0)) "
	 "SELECT count(*), "
	 "count(*) FILTER (WHERE state = 7), "
	 "count(*) FILTER (WHERE state = 7 AND timeout_escalations = 0 AND NOT overdue), "
	 "count(*) FILTER (WHERE resolved_at IS NOT NULL OR state IN (6, 7)), "
	 "count(*) FILTER (WHERE reworks > 0), "
	 "count(*) FILTER (WHERE escalations > 0), "
	 "count(*) FILTER (WHERE timeout_escalations > 0), "
	 "coalesce(sum(timeout_escalations), 0), "
	 "count(*) FILTER (WHERE callback_at IS NOT NULL), "
	 "count(*) FILTER (WHERE callback_solved), "
	 "count(*) FILTER (WHERE satisfaction >= 4), "
	 "coalesce(avg(satisfaction), 0), "
	 "coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "
	 "first_accepted_at - received_at)) / 60, 0), "
	 "coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "
	 "resolved_at - received_at)) / 3600, 0), "
	 "count(*) FILTER (WHERE state = 8) "
	 "FROM c",
	 3, 0},
};

/* Value of column c (a number from PQfnumber; -1 when absent) of row i,
 * NULL for SQL NULL. */
static const char *col(const PGresult *res, int i, int c)
{
	return c >= 0 && !PQgetisnull(res, i, c) ? PQgetvalue(res, i, c) : NULL;
}

static int64_t col_i64(const PGresult *res, int i, int c)
{
	const char *v = col(res, i, c);

	return v ? strtoll(v, NULL, 10) : 0;
}

static bool col_bool(const PGresult *res, int i, int c)
{
	const char *v = col(res, i, c);

	return v && v[0] == 't';
}

/* timestamptz text to Unix ms, through the server's parser of record. */
static int64_t col_ms(const PGresult *res, int i, int c)
{
	const char *v = col(res, i, c);
	struct tm tm = {0};
	int y, mo, d, h, mi, off_h = 0, off_m = 0, n = 0;
	double sec;
	char sign = '+';

	if (!v)
		return 0;
	/* "2026-11-26 09:30:00.123456+08" (ISO DateStyle, any time zone). */
	if (sscanf(v, "%d-%d-%d %d:%d:%lf%n", &y, &mo, &d, &h, &mi, &sec, &n) < 6)
		return 0;
	if (v[n] == '+' || v[n] == '-') {
		sign = v[n];
		sscanf(v + n + 1, "%d:%d", &off_h, &off_m);
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = (int)sec;
	int64_t t = (int64_t)timegm(&tm) * 1000 + (int64_t)((sec - (int)sec) * 1000 + 0.5);
	int64_t off = ((int64_t)off_h * 60 + off_m) * 60000;
	return sign == '+' ? t - off : t + off;
}

static char *str(struct arena *a, const PGresult *res, int i, int c)
{
	const char *v = col(res, i, c);

	return arena_strdup(a, v ? v : "");
}

static char *node_code(const struct tree *t, int64_t id)
{
	const struct tree_node *n = id ? tree_find_id(t, id) : NULL;

	return (char *)(n ? n->code : "");
}

static const char *const case_col_names[CC_COUNT] = {
    [CC_ID] = "id",
    [CC_NODE_ID] = "node_id",
    [CC_ORIGIN_NODE_ID] = "origin_node_id",
    [CC_STATE] = "state",
    [CC_TITLE] = "title",
    [CC_DESCRIPTION] = "description",
    [CC_CATEGORY] = "category",
    [CC_CONTACT] = "contact",
    [CC_HOUSEHOLD] = "household",
    [CC_SERVICE_ITEM] = "service_item",
    [CC_URGENCY] = "urgency",
    [CC_CHANNEL] = "channel",
    [CC_REPORTER] = "reporter",
    [CC_HANDLER] = "handler",
    [CC_RECEIVED_AT] = "received_at",
    [CC_LEVEL_SINCE] = "level_since",
    [CC_ACCEPT_DUE] = "accept_due",
    [CC_RESOLVE_DUE] = "resolve_due",
    [CC_OVERDUE] = "overdue",
    [CC_RESULT_NOTE] = "result_note",
    [CC_OUTCOME] = "outcome",
    [CC_DUPLICATE_OF] = "duplicate_of",
    [CC_ESCALATIONS] = "escalations",
    [CC_TIMEOUT_ESCALATIONS] = "timeout_escalations",
    [CC_REWORKS] = "reworks",
    [CC_SUSPEND_REQUESTED] = "suspend_requested",
    [CC_SUSPEND_REASON] = "suspend_reason",
    [CC_CALLBACK_AT] = "callback_at",
    [CC_CALLBACK_SOLVED] = "callback_solved",
    [CC_SATISFACTION] = "satisfaction",
    [CC_CLOSED_AT] = "closed_at",
    [CC_VOID_REASON] = "void_reason",
};

void case_cols_find(struct case_cols *cols, const PGresult *res)
{
	for (int c = 0; c < CC_COUNT; c++)
		cols->c[c] = PQfnumber(res, case_col_names[c]);
}

int64_t case_row_node(const PGresult *res, int i)
{
	return col_i64(res, i, PQfnumber(res, "node_id"));
}

const char *case_row_reporter(const PGresult *res, int i)
{
	const char *v = col(res, i, PQfnumber(res, "reporter"));

	return v ? v : "";
}

Grid__V1__Case *case_row_msg(struct arena *a, const struct tree *t, const PGresult *res,
			     const struct case_cols *cols, int i)
{
	Grid__V1__Case *c = arena_new(a, Grid__V1__Case);
	struct case_cols own;
	const int *k;

	if (!c)
		return NULL;
	if (!cols) {
		case_cols_find(&own, res);
		cols = &own;
	}
	k = cols->c;
	grid__v1__case__init(c);
	c->id = (uint64_t)col_i64(res, i, k[CC_ID]);
	c->node_code = node_code(t, col_i64(res, i, k[CC_NODE_ID]));
	c->origin_code = node_code(t, col_i64(res, i, k[CC_ORIGIN_NODE_ID]));
	c->state = (Grid__V1__CaseState)col_i64(res, i, k[CC_STATE]);
	c->title = str(a, res, i, k[CC_TITLE]);
	c->description = str(a, res, i, k[CC_DESCRIPTION]);
	c->category = str(a, res, i, k[CC_CATEGORY]);
	c->contact = str(a, res, i, k[CC_CONTACT]);
	c->household = str(a, res, i, k[CC_HOUSEHOLD]);
	c->service_item = str(a, res, i, k[CC_SERVICE_ITEM]);
	c->urgency = (Grid__V1__Urgency)col_i64(res, i, k[CC_URGENCY]);
	c->channel = str(a, res, i, k[CC_CHANNEL]);
	c->reporter = str(a, res, i, k[CC_REPORTER]);
	c->handler = str(a, res, i, k[CC_HANDLER]);
	c->received_at_ms = col_ms(res, i, k[CC_RECEIVED_AT]);
	c->level_since_ms = col_ms(res, i, k[CC_LEVEL_SINCE]);
	c->accept_due_ms = col_i64(res, i, k[CC_STATE]) <= 2 ? col_ms(res, i, k[CC_ACCEPT_DUE]) : 0;
	c->resolve_due_ms =
	    col_i64(res, i, k[CC_STATE]) <= 4 ? col_ms(res, i, k[CC_RESOLVE_DUE]) : 0;
	c->overdue = col_bool(res, i, k[CC_OVERDUE]);
	c->result_note = str(a, res, i, k[CC_RESULT_NOTE]);
	c->outcome = (Grid__V1__CaseOutcome)col_i64(res, i, k[CC_OUTCOME]);
	c->duplicate_of = (uint64_t)col_i64(res, i, k[CC_DUPLICATE_OF]);
	c->escalations = (uint32_t)col_i64(res, i, k[CC_ESCALATIONS]);
	c->timeout_escalations = (uint32_t)col_i64(res, i, k[CC_TIMEOUT_ESCALATIONS]);
	c->reworks = (uint32_t)col_i64(res, i, k[CC_REWORKS]);
	c->suspend_requested = col_bool(res, i, k[CC_SUSPEND_REQUESTED]);
	c->suspend_reason = str(a, res, i, k[CC_SUSPEND_REASON]);
	c->callback_done = col(res, i, k[CC_CALLBACK_AT]) != NULL;
	c->callback_solved = col_bool(res, i, k[CC_CALLBACK_SOLVED]);
	c->satisfaction = (uint32_t)col_i64(res, i, k[CC_SATISFACTION]);
	c->closed_at_ms = col_ms(res, i, k[CC_CLOSED_AT]);
	c->void_reason = (Grid__V1__VoidReason)col_i64(res, i, k[CC_VOID_REASON]);
	if (!c->title || !c->description || !c->category || !c->contact || !c->household ||
	    !c->service_item || !c->channel || !c->reporter || !c->handler || !c->result_note ||
	    !c->suspend_reason)
		return NULL;
	return c;
}

Grid__V1__Event **case_event_msgs(struct arena *a, const struct tree *t, const PGresult *res,
				  size_t *ret_n)
{
	int n = PQntuples(res);
	Grid__V1__Event **v = arena_new_array(a, Grid__V1__Event *, n ? (size_t)n : 1);

	if (!v)
		return NULL;
	for (int i = 0; i < n; i++) {
		Grid__V1__Event *e = arena_new(a, Grid__V1__Event);
		if (!e)
			return NULL;
		grid__v1__event__init(e);
		e->seq = strtoull(PQgetvalue(res, i, 0), NULL, 10);
		e->at_ms = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		e->kind = arena_strdup(a, PQgetvalue(res, i, 2));
		const struct tree_node *at =
		    tree_find_id(t, strtoll(PQgetvalue(res, i, 3), NULL, 10));
		e->node_code = (char *)(at ? at->code : "");
		e->node_name = (char *)(at ? at->name : "");
		e->from_node_code = node_code(t, strtoll(PQgetvalue(res, i, 4), NULL, 10));
		e->case_id = strtoull(PQgetvalue(res, i, 5), NULL, 10);
		e->task_id = strtoull(PQgetvalue(res, i, 6), NULL, 10);
		e->actor = arena_strdup(a, PQgetvalue(res, i, 7));
		e->summary = arena_strdup(a, PQgetvalue(res, i, 8));
		if (!e->kind || !e->actor || !e->summary)
			return NULL;
		v[i] = e;
	}
	*ret_n = (size_t)n;
	return v;
}
