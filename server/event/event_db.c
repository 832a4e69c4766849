/* SQL of the event module; see event_db.h. */
#include "server/event/event_db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR(x) #x
#define XSTR(x) STR(x)

/* The columns of an event, with its node's code and name as they are now. */
#define EVENT_COLS                                                                                 \
	"e.seq, (extract(epoch FROM e.at) * 1000)::bigint, e.kind, e.node_id, n.code, n.name, "    \
	"coalesce(f.code, ''), coalesce(e.case_id, 0), coalesce(e.task_id, 0), e.actor, "          \
	"e.summary, n.path::text"
#define EVENT_FROM                                                                                 \
	"grid_event e JOIN grid_node n ON n.id = e.node_id "                                       \
	"LEFT JOIN grid_node f ON f.id = e.from_node_id"
enum { NCOLS = 12 };

/* Whether the caller may see event e at node n: case events need case.read
 * there ($6: everywhere in the subtree, else below one of the nodes $7),
 * task events task.read ($8, $9), anything else either. */
#define CASE_OK                                                                                    \
	"($6::boolean OR n.path <@ ARRAY(SELECT c.path FROM grid_node c WHERE c.id = "             \
	"ANY($7::bigint[])))"
#define TASK_OK                                                                                    \
	"($8::boolean OR n.path <@ ARRAY(SELECT t.path FROM grid_node t WHERE t.id = "             \
	"ANY($9::bigint[])))"

/* seq increases in commit order (migration 0003), so "after the last one
 * seen" never skips an event committed later. */
struct db_stmt event_next_stmt = {"event_next",
				  "SELECT " EVENT_COLS " FROM " EVENT_FROM
				  " WHERE e.seq > $1 ORDER BY e.seq LIMIT " XSTR(EVENT_NEXT_PAGE),
				  1, 0};

struct db_stmt event_stmts[EVENT_STMT_COUNT] = {
    /* The newest seq and the events come from one snapshot (one
     * statement), so a list that is not full has seen everything up to
     * that seq. $1 < seq <= $2, in the subtree of node $3 (0: all), of the
     * kinds $4 (exact) or $5 (prefixes), of case $10 and task $11 (0:
     * any), $12 at most. */
    [EVENT_STMT_LIST] =
	{"event_list",
	 "WITH top AS (SELECT coalesce(max(seq), 0) AS seq FROM grid_event) "
	 "SELECT top.seq, l.* FROM top LEFT JOIN LATERAL ("
	 "SELECT " EVENT_COLS " FROM " EVENT_FROM
	 " WHERE e.seq > $1::bigint AND e.seq <= $2::bigint"
	 " AND ($3::bigint = 0 OR n.path <@ "
	 "(SELECT s.path FROM grid_node s WHERE s.id = $3::bigint))"
	 " AND ((cardinality($4::text[]) = 0 AND cardinality($5::text[]) = 0)"
	 " OR e.kind = ANY($4::text[])"
	 " OR EXISTS (SELECT 1 FROM unnest($5::text[]) p WHERE starts_with(e.kind, p)))"
	 " AND ($10::bigint = 0 OR e.case_id = $10::bigint)"
	 " AND ($11::bigint = 0 OR e.task_id = $11::bigint)"
	 " AND CASE split_part(e.kind, '.', 1)"
	 " WHEN 'case' THEN " CASE_OK " WHEN 'task' THEN " TASK_OK " ELSE " CASE_OK " OR " TASK_OK
	 " END"
	 " ORDER BY e.seq LIMIT $12) l ON true ORDER BY l.seq",
	 12, 0},
};

int event_db_add_next(struct db_query *q, struct arena *arena, uint64_t after_seq)
{
	const char **params = arena_new_array(arena, const char *, 1);

	if (!params)
		return -ENOMEM;
	params[0] = arena_printf(arena, "%" PRIu64, after_seq);
	if (!params[0])
		return -ENOMEM;
	return db_query_add(q, &event_next_stmt, params);
}

int event_db_add_list(struct db_query *q, struct arena *arena, const struct event_filter *f)
{
	const char **p = arena_new_array(arena, const char *, 12);

	if (!p)
		return -ENOMEM;
	p[0] = arena_printf(arena, "%" PRIu64, f->after_seq);
	p[1] = arena_printf(arena, "%" PRIu64, f->upto_seq ? f->upto_seq : (uint64_t)INT64_MAX);
	p[2] = arena_printf(arena, "%" PRId64, f->node_id);
	p[3] = f->exact_kinds;
	p[4] = f->prefix_kinds;
	p[5] = f->case_all ? "true" : "false";
	p[6] = f->case_nodes;
	p[7] = f->task_all ? "true" : "false";
	p[8] = f->task_nodes;
	p[9] = arena_printf(arena, "%" PRIu64, f->case_id);
	p[10] = arena_printf(arena, "%" PRIu64, f->task_id);
	p[11] = arena_printf(arena, "%" PRIu32, f->limit);
	for (int i = 0; i < 12; i++)
		if (!p[i])
			return -ENOMEM;
	return db_query_add(q, &event_stmts[EVENT_STMT_LIST], p);
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EPROTO;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EPROTO;
	*ret = v;
	return 0;
}

static int parse_i64(const char *s, int64_t *ret)
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

/* The event in columns col .. col + NCOLS - 1 of row i. */
static int read_row(const PGresult *res, int i, int col, struct event_row *ret)
{
	uint64_t case_id, task_id, seq;
	int64_t at_ms, node_id;

	if (PQnfields(res) < col + NCOLS)
		return -EPROTO;
	if (parse_u64(PQgetvalue(res, i, col), &seq) < 0 ||
	    parse_i64(PQgetvalue(res, i, col + 1), &at_ms) < 0 ||
	    parse_i64(PQgetvalue(res, i, col + 3), &node_id) < 0 ||
	    parse_u64(PQgetvalue(res, i, col + 7), &case_id) < 0 ||
	    parse_u64(PQgetvalue(res, i, col + 8), &task_id) < 0)
		return -EPROTO;
	ret->seq = seq;
	ret->at_ms = at_ms;
	ret->kind = PQgetvalue(res, i, col + 2);
	ret->node_id = node_id;
	ret->node_code = PQgetvalue(res, i, col + 4);
	ret->node_name = PQgetvalue(res, i, col + 5);
	ret->from_code = PQgetvalue(res, i, col + 6);
	ret->case_id = case_id;
	ret->task_id = task_id;
	ret->actor = PQgetvalue(res, i, col + 9);
	ret->summary = PQgetvalue(res, i, col + 10);
	ret->node_path = PQgetvalue(res, i, col + 11);
	return 0;
}

int event_db_next_row(const PGresult *res, int i, struct event_row *ret)
{
	return read_row(res, i, 0, ret);
}

int event_db_list_row(const PGresult *res, int i, uint64_t *ret_top, struct event_row *ret)
{
	if (PQnfields(res) < 1 + NCOLS || parse_u64(PQgetvalue(res, i, 0), ret_top) < 0)
		return -EPROTO;
	if (PQgetisnull(res, i, 1))
		return 1;
	return read_row(res, i, 1, ret);
}

int event_db_max_seq(PGconn *pg, uint64_t *ret_seq, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, "SELECT coalesce(max(seq), 0) FROM grid_event");
	int r = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    parse_u64(PQgetvalue(res, 0, 0), ret_seq) < 0) {
		snprintf(err, errlen, "reading the newest event: %s", PQresultErrorMessage(res));
		r = -EIO;
	}
	PQclear(res);
	return r;
}
