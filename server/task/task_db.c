/* SQL of the task domain; see task_db.h. */
#include "server/task/task_db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"

/* The columns of view task_out, in the order task_db_task reads them. */
#define TASK_COLS                                                                                  \
	"o.id, o.node_code, o.title, o.body, o.due_ms, o.target_level, o.state, o.issued_by, "     \
	"o.created_ms, o.assignments, o.node_id"

enum task_col {
	COL_ID,
	COL_NODE_CODE,
	COL_TITLE,
	COL_BODY,
	COL_DUE,
	COL_TARGET_LEVEL,
	COL_STATE,
	COL_ISSUED_BY,
	COL_CREATED,
	COL_ASSIGNMENTS,
	COL_NODE_ID,
	COL_TASK_COUNT,
};

/* The columns of view task_assignment_out (alias v), and whether it is
 * overdue at the time of parameter NOW. */
#define ASSIGNMENT_COLS(now)                                                                       \
	"v.task_id, v.node_code, v.state, v.report_text, v.numbers, v.acknowledged_ms, "           \
	"v.done_ms, v.done_by, v.title, v.due_ms, "                                                \
	"(v.state IN ('pending', 'acknowledged') AND v.due_at <= task_now(" now "::bigint))"

enum assignment_col {
	ACOL_TASK_ID,
	ACOL_NODE_CODE,
	ACOL_STATE,
	ACOL_REPORT,
	ACOL_NUMBERS,
	ACOL_ACKNOWLEDGED,
	ACOL_DONE,
	ACOL_DONE_BY,
	ACOL_TITLE,
	ACOL_DUE,
	ACOL_OVERDUE,
	ACOL_COUNT,
};

struct db_stmt task_stmts[TASK_STMT_COUNT] = {
    [TASK_STMT_ISSUE] = {"task_issue",
			 "SELECT " TASK_COLS
			 " FROM task_issue($1, $2, $3, $4::bigint, $5::int, $6, "
			 "$7::bigint, $8::bigint, $9::float8) o",
			 TASK_ISSUE_NPARAMS, 0},
    [TASK_STMT_GET] = {"task_get", "SELECT " TASK_COLS " FROM task_out o WHERE o.id = $1::bigint",
		       1, 0},
    /* Newest first: the tasks issued at or below one of the nodes $1, or
     * issued above one of them with an assignment below it. Open ones only
     * unless $2; ids below $3. */
    [TASK_STMT_LIST] =
	{"task_list",
	 "SELECT " TASK_COLS " FROM task_out o"
	 " WHERE EXISTS ("
	 "   SELECT 1 FROM grid_node s JOIN grid_node tn ON tn.id = o.node_id"
	 "    WHERE s.id = ANY($1::bigint[])"
	 "      AND (tn.path <@ s.path"
	 "           OR (tn.path @> s.path AND o.target_level >= s.level"
	 "               AND EXISTS (SELECT 1 FROM grid_node an"
	 "                   JOIN task_assignment a"
	 "                     ON a.task_id = o.id AND a.node_id = an.id"
	 "                  WHERE an.path <@ s.path AND an.level = o.target_level))))"
	 "   AND ($2::boolean OR o.state = 'open')"
	 "   AND o.id < $3::bigint"
	 " ORDER BY o.id DESC LIMIT $4::int",
	 TASK_LIST_NPARAMS, 0},
    /* The assignments below one of the nodes $1 (found through the path
     * index first, so that a building's or a courtyard's take
     * milliseconds), in the states $2 (empty: all), overdue at $4 only
     * when $3. Of every task: newest task first, then by node code, after
     * the key ($5, $6). */
    [TASK_STMT_LIST_ASSIGNMENTS] =
	{"task_list_assignments",
	 "SELECT " ASSIGNMENT_COLS(
	     "$4") " FROM task_assignment_out v"
		   " WHERE v.node_id IN (SELECT n.id FROM grid_node s"
		   "          JOIN grid_node n ON n.path <@ s.path WHERE s.id = ANY($1::bigint[]))"
		   "   AND (cardinality($2::text[]) = 0 OR v.state = ANY($2::text[]))"
		   "   AND (NOT $3::boolean OR (v.state IN ('pending', 'acknowledged')"
		   "        AND v.due_at <= task_now($4::bigint)))"
		   "   AND (v.task_id < $5::bigint"
		   "        OR (v.task_id = $5::bigint AND v.node_code COLLATE \"C\" > $6::text))"
		   " ORDER BY v.task_id DESC, v.node_code COLLATE \"C\" LIMIT $7::int",
	 TASK_LIST_ASSIGNMENTS_NPARAMS, 0},
    /* The same for one task, $5: by node code after $6. */
    [TASK_STMT_LIST_TASK_ASSIGNMENTS] =
	{"task_list_task_assignments",
	 "SELECT " ASSIGNMENT_COLS(
	     "$4") " FROM task_assignment_out v"
		   " WHERE v.task_id = $5::bigint"
		   "   AND v.node_id IN (SELECT n.id FROM grid_node s"
		   "          JOIN grid_node n ON n.path <@ s.path WHERE s.id = ANY($1::bigint[]))"
		   "   AND (cardinality($2::text[]) = 0 OR v.state = ANY($2::text[]))"
		   "   AND (NOT $3::boolean OR (v.state IN ('pending', 'acknowledged')"
		   "        AND v.due_at <= task_now($4::bigint)))"
		   "   AND v.node_code COLLATE \"C\" > $6::text"
		   " ORDER BY v.node_code COLLATE \"C\" LIMIT $7::int",
	 TASK_LIST_ASSIGNMENTS_NPARAMS, 0},
    [TASK_STMT_ACKNOWLEDGE] = {"task_acknowledge",
			       "SELECT " ASSIGNMENT_COLS("$4") " FROM task_acknowledge($1::bigint, "
							       "$2, $3, $4::bigint) v",
			       4, 0},
    [TASK_STMT_COMPLETE] = {"task_complete",
			    "SELECT " ASSIGNMENT_COLS(
				"$4") " FROM task_complete($1::bigint, $2, $3, "
				      "$4::bigint, $5, $6::text[], "
				      "$7::float8[]) v",
			    TASK_COMPLETE_NPARAMS, 0},
    [TASK_STMT_CANCEL] = {"task_cancel",
			  "SELECT " TASK_COLS " FROM task_cancel($1::bigint, $2, $3, $4::bigint) o",
			  4, 0},
    [TASK_STMT_EXTEND] = {"task_extend",
			  "SELECT " TASK_COLS " FROM task_extend($1::bigint, $2::bigint, $3, "
			  "$4::bigint, $5::bigint, $6::float8) o",
			  TASK_EXTEND_NPARAMS, 0},
    /* The assignments of task $1 at or below the node $2, grouped by the
     * node above them (the top node itself when it is an assignment's):
     * one pass over them (materialized), counted, and the numbers of the
     * done ones summed per name. The roll-up through the levels above is
     * done in C over the grid cache (task_read.c), from these few rows:
     * 50,000 assignments give 2,500 groups in about 0.2 s. */
    [TASK_STMT_PROGRESS] = {"task_progress",
			    "WITH a AS MATERIALIZED ("
			    "   SELECT CASE WHEN n.code = $2 THEN n.id ELSE n.parent_id END AS g,"
			    "          x.state, x.numbers,"
			    "          x.state IN ('pending', 'acknowledged')"
			    "            AND t.due_at <= task_now($3::bigint) AS overdue"
			    "     FROM task t"
			    "     JOIN task_assignment x ON x.task_id = t.id"
			    "     JOIN grid_node n ON n.id = x.node_id"
			    "    WHERE t.id = $1::bigint"
			    "      AND n.path <@ (SELECT path FROM grid_node WHERE code = $2))"
			    " SELECT g, NULL::text, count(*),"
			    "        count(*) FILTER (WHERE state IN ('acknowledged', 'done')),"
			    "        count(*) FILTER (WHERE state = 'done'),"
			    "        count(*) FILTER (WHERE overdue), NULL::float8"
			    "   FROM a GROUP BY g"
			    " UNION ALL"
			    " SELECT a.g, e.key, NULL, NULL, NULL, NULL, sum(e.value::float8)"
			    "   FROM a CROSS JOIN LATERAL jsonb_each_text(a.numbers) e"
			    "  WHERE a.state = 'done'"
			    "  GROUP BY a.g, e.key",
			    3, 0},
    [TASK_STMT_SWEEP] = {"task_sweep",
			 "SELECT reminders, overdue, more FROM task_sweep($1::bigint, $2::int)", 2,
			 0},
};

int task_db_i64(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -EPROTO;
	*ret = v;
	return 0;
}

static char *dup_value(const PGresult *res, int i, int col, struct arena *a)
{
	return arena_strdup(a, PQgetvalue(res, i, col));
}

static Grid__V1__TaskState task_state(const char *s)
{
	if (strcmp(s, "open") == 0)
		return GRID__V1__TASK_STATE__TASK_OPEN;
	if (strcmp(s, "cancelled") == 0)
		return GRID__V1__TASK_STATE__TASK_CANCELLED;
	return GRID__V1__TASK_STATE__TASK_STATE_UNSPECIFIED;
}

static Grid__V1__AssignmentState assignment_state(const char *s)
{
	if (strcmp(s, "pending") == 0)
		return GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_PENDING;
	if (strcmp(s, "acknowledged") == 0)
		return GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_ACKNOWLEDGED;
	if (strcmp(s, "done") == 0)
		return GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_DONE;
	if (strcmp(s, "cancelled") == 0)
		return GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_CANCELLED;
	return GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_STATE_UNSPECIFIED;
}

int task_db_task(const PGresult *res, int i, struct arena *a, const struct config *cfg,
		 struct task_row *ret)
{
	Grid__V1__Task *t;
	int64_t id, due, level, created, count, node_id;

	if (PQnfields(res) < COL_TASK_COUNT)
		return -EPROTO;
	if (task_db_i64(PQgetvalue(res, i, COL_ID), &id) < 0 ||
	    task_db_i64(PQgetvalue(res, i, COL_DUE), &due) < 0 ||
	    task_db_i64(PQgetvalue(res, i, COL_TARGET_LEVEL), &level) < 0 ||
	    task_db_i64(PQgetvalue(res, i, COL_CREATED), &created) < 0 ||
	    task_db_i64(PQgetvalue(res, i, COL_ASSIGNMENTS), &count) < 0 ||
	    task_db_i64(PQgetvalue(res, i, COL_NODE_ID), &node_id) < 0 || level < 0 || id <= 0 ||
	    count < 0)
		return -EPROTO;
	t = arena_new(a, Grid__V1__Task);
	if (!t)
		return -ENOMEM;
	grid__v1__task__init(t);
	t->id = (uint64_t)id;
	t->node_code = dup_value(res, i, COL_NODE_CODE, a);
	t->title = dup_value(res, i, COL_TITLE, a);
	t->body = dup_value(res, i, COL_BODY, a);
	t->due_at_ms = due;
	/* A level the configuration no longer names still shows as a number. */
	t->target_level = (uint64_t)level < cfg->nlevels
			      ? cfg->levels[level]
			      : arena_printf(a, "%lld", (long long)level);
	t->state = task_state(PQgetvalue(res, i, COL_STATE));
	t->issued_by = dup_value(res, i, COL_ISSUED_BY, a);
	t->created_at_ms = created;
	t->assignments = (uint32_t)count;
	if (!t->node_code || !t->title || !t->body || !t->target_level || !t->issued_by)
		return -ENOMEM;
	ret->msg = t;
	ret->node_id = node_id;
	ret->target_level = (unsigned)level;
	return 0;
}

/* "name=value" lines, sorted by name (view task_assignment_out). */
static int parse_numbers(const char *s, struct arena *a, Grid__V1__Assignment *out)
{
	size_t n = 0, k = 0;
	char *copy, *save = NULL, *line;

	if (!*s)
		return 0;
	for (const char *p = s; *p; p++)
		n += *p == '\n';
	n++;
	out->numbers = arena_new_array(a, Grid__V1__ReportNumber *, n);
	copy = arena_strdup(a, s);
	if (!out->numbers || !copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line && k < n;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '='), *end;
		Grid__V1__ReportNumber *num;

		if (!eq)
			return -EPROTO;
		*eq = '\0';
		num = arena_new(a, Grid__V1__ReportNumber);
		if (!num)
			return -ENOMEM;
		grid__v1__report_number__init(num);
		num->name = line;
		num->value = strtod(eq + 1, &end);
		if (end == eq + 1 || *end)
			return -EPROTO;
		out->numbers[k++] = num;
	}
	out->n_numbers = k;
	return 0;
}

Grid__V1__Assignment *task_db_assignment(const PGresult *res, int i, struct arena *a)
{
	Grid__V1__Assignment *m;
	int64_t task_id, ack, done, due;

	if (PQnfields(res) < ACOL_COUNT)
		return NULL;
	if (task_db_i64(PQgetvalue(res, i, ACOL_TASK_ID), &task_id) < 0 ||
	    task_db_i64(PQgetvalue(res, i, ACOL_ACKNOWLEDGED), &ack) < 0 ||
	    task_db_i64(PQgetvalue(res, i, ACOL_DONE), &done) < 0 ||
	    task_db_i64(PQgetvalue(res, i, ACOL_DUE), &due) < 0)
		return NULL;
	m = arena_new(a, Grid__V1__Assignment);
	if (!m)
		return NULL;
	grid__v1__assignment__init(m);
	m->task_id = (uint64_t)task_id;
	m->node_code = dup_value(res, i, ACOL_NODE_CODE, a);
	m->state = assignment_state(PQgetvalue(res, i, ACOL_STATE));
	m->overdue = PQgetvalue(res, i, ACOL_OVERDUE)[0] == 't';
	m->report_text = dup_value(res, i, ACOL_REPORT, a);
	m->acknowledged_at_ms = ack;
	m->done_at_ms = done;
	m->done_by = dup_value(res, i, ACOL_DONE_BY, a);
	m->task_title = dup_value(res, i, ACOL_TITLE, a);
	m->due_at_ms = due;
	if (!m->node_code || !m->report_text || !m->done_by || !m->task_title)
		return NULL;
	if (parse_numbers(PQgetvalue(res, i, ACOL_NUMBERS), a, m) < 0)
		return NULL;
	return m;
}
