/* SQL of the grid domain; see grid_db.h. */
#include "server/grid/grid_db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODE_COLS                                                                                  \
	"id, parent_id, level, code, name, leader_name, leader_phone, retired_at IS NOT NULL, "    \
	"version"

struct db_stmt grid_stmts[GRID_STMT_COUNT] = {
    [GRID_STMT_SYNC] = {"grid_sync",
			"SELECT " NODE_COLS " FROM grid_node WHERE version > $1"
			" ORDER BY nlevel(path), id",
			1, 0},
    [GRID_STMT_CREATE] = {"grid_create", "SELECT * FROM grid_create_node($1, $2, $3, $4, $5, $6)",
			  6, 0},
    [GRID_STMT_UPDATE] = {"grid_update", "SELECT * FROM grid_update_node($1, $2, $3, $4)", 4, 0},
    [GRID_STMT_MOVE] = {"grid_move", "SELECT * FROM grid_move_node($1, $2)", 2, 0},
    [GRID_STMT_RETIRE] = {"grid_retire", "SELECT * FROM grid_retire_node($1, $2)", 2, 0},
    [GRID_STMT_IMPORT] = {"grid_import",
			  "SELECT * FROM grid_import($1::int[], $2::text[], $3::text[],"
			  " $4::int[], $5::text[], $6::text[], $7::text[])",
			  7, 0},
};

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

int grid_db_row(const PGresult *res, int i, struct tree_row *ret)
{
	int64_t level;

	if (PQnfields(res) < GRID_COL_VERSION + 1)
		return -EPROTO;
	memset(ret, 0, sizeof(*ret));
	if (parse_i64(PQgetvalue(res, i, GRID_COL_ID), &ret->id) < 0)
		return -EPROTO;
	if (!PQgetisnull(res, i, GRID_COL_PARENT_ID) &&
	    parse_i64(PQgetvalue(res, i, GRID_COL_PARENT_ID), &ret->parent_id) < 0)
		return -EPROTO;
	if (parse_i64(PQgetvalue(res, i, GRID_COL_LEVEL), &level) < 0 || level < 0 ||
	    level > UINT16_MAX)
		return -EPROTO;
	ret->level = (uint16_t)level;
	ret->code = PQgetvalue(res, i, GRID_COL_CODE);
	ret->name = PQgetvalue(res, i, GRID_COL_NAME);
	ret->leader_name = PQgetvalue(res, i, GRID_COL_LEADER_NAME);
	ret->leader_phone = PQgetvalue(res, i, GRID_COL_LEADER_PHONE);
	ret->retired = PQgetvalue(res, i, GRID_COL_RETIRED)[0] == 't';
	if (parse_i64(PQgetvalue(res, i, GRID_COL_VERSION), &ret->version) < 0)
		return -EPROTO;
	return 0;
}

static int exec_simple(PGconn *pg, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		snprintf(err, errlen, "loading the grid: %s", PQresultErrorMessage(res));
	PQclear(res);
	return ok ? 0 : -EIO;
}

int grid_db_load(PGconn *pg, struct tree *t, char *err, size_t errlen)
{
	PGresult *res;
	int64_t version = 0;
	int r;

	/* The version and the rows must come from one snapshot, or a change
	 * committed in between would be skipped by the next sync. */
	r = exec_simple(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen);
	if (r < 0)
		return r;
	res = PQexec(pg, "SELECT version FROM grid_version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    parse_i64(PQgetvalue(res, 0, 0), &version) < 0) {
		snprintf(err, errlen, "loading the grid: %s", PQresultErrorMessage(res));
		PQclear(res);
		r = -EIO;
		goto out;
	}
	PQclear(res);

	/* Row by row, so a city-sized grid never sits in memory twice. */
	if (!PQsendQuery(pg, "SELECT " NODE_COLS " FROM grid_node ORDER BY nlevel(path), id") ||
	    !PQsetSingleRowMode(pg)) {
		snprintf(err, errlen, "loading the grid: %s", PQerrorMessage(pg));
		r = -EIO;
		goto out;
	}
	while ((res = PQgetResult(pg))) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE) {
			struct tree_row row;
			if (r == 0 && grid_db_row(res, 0, &row) < 0) {
				snprintf(err, errlen, "loading the grid: a row does not parse");
				r = -EPROTO;
			}
			if (r == 0) {
				r = tree_apply(t, &row, NULL);
				if (r < 0)
					snprintf(err, errlen, "loading the grid: node %s: %s",
						 row.code, strerror(-r));
			}
		} else if (st != PGRES_TUPLES_OK && r == 0) {
			snprintf(err, errlen, "loading the grid: %s", PQresultErrorMessage(res));
			r = -EIO;
		}
		PQclear(res);
	}
out : {
	char ignored[128];
	exec_simple(pg, "COMMIT", ignored, sizeof(ignored));
}
	if (r == 0)
		tree_set_version(t, version);
	return r;
}

int grid_db_array_elem(struct buf *b, const char *s, int first)
{
	int r = first ? 0 : buf_putc(b, ',');

	if (r == 0)
		r = buf_putc(b, '"');
	for (; r == 0 && *s; s++) {
		if (*s == '"' || *s == '\\')
			r = buf_putc(b, '\\');
		if (r == 0)
			r = buf_putc(b, *s);
	}
	if (r == 0)
		r = buf_putc(b, '"');
	return r;
}
