/* SQL of the grid domain; see grid_db.h. */
#include "server/grid/grid_db.h"

#include <errno.h>
#include <stdbool.h>
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

/* --- the start-up load: binary COPY -------------------------------------- */

/* Reads a binary COPY stream of NODE_COLS, one CopyData message at a time
 * (PostgreSQL sends one row per message, the file header with the first). */
struct copy_reader {
	const char *p, *end;
	bool header_done;
	bool trailer_seen;
	char *scratch; /* NUL-terminated copies of the row's strings */
	size_t scratch_cap;
};

static int get_bytes(struct copy_reader *c, size_t n, const char **ret)
{
	if ((size_t)(c->end - c->p) < n)
		return -EPROTO;
	*ret = c->p;
	c->p += n;
	return 0;
}

static int get_u32(struct copy_reader *c, uint32_t *ret)
{
	const char *b;
	int r = get_bytes(c, 4, &b);

	if (r == 0)
		*ret = (uint32_t)(uint8_t)b[0] << 24 | (uint32_t)(uint8_t)b[1] << 16 |
		       (uint32_t)(uint8_t)b[2] << 8 | (uint8_t)b[3];
	return r;
}

/* One field: its bytes, or NULL for SQL NULL. */
static int get_field(struct copy_reader *c, const char **ret, uint32_t *ret_len)
{
	uint32_t len;
	int r = get_u32(c, &len);

	if (r < 0)
		return r;
	*ret_len = 0;
	if (len == UINT32_MAX) {
		*ret = NULL;
		return 0;
	}
	*ret_len = len;
	return get_bytes(c, len, ret);
}

static int get_int(struct copy_reader *c, size_t size, bool nullable, int64_t *ret)
{
	const char *b;
	uint32_t len;
	uint64_t v = 0;
	int r = get_field(c, &b, &len);

	if (r < 0)
		return r;
	if (!b) {
		*ret = 0;
		return nullable ? 0 : -EPROTO;
	}
	if (len != size)
		return -EPROTO;
	for (size_t i = 0; i < size; i++)
		v = v << 8 | (uint8_t)b[i];
	/* Sign-extend the smaller integer types. */
	if (size < 8 && (v >> (size * 8 - 1)) & 1)
		v |= ~(uint64_t)0 << (size * 8);
	*ret = (int64_t)v;
	return 0;
}

/* Copies a text field into the scratch area at *off, NUL-terminated. */
static int get_text(struct copy_reader *c, size_t *off, const char **ret)
{
	const char *b;
	uint32_t len;
	int r = get_field(c, &b, &len);

	if (r < 0 || !b)
		return -EPROTO;
	if (memchr(b, '\0', len))
		return -EPROTO;
	if (*off + len + 1 > c->scratch_cap)
		return -EPROTO; /* sized from the message: cannot happen */
	memcpy(c->scratch + *off, b, len);
	c->scratch[*off + len] = '\0';
	*ret = c->scratch + *off;
	*off += len + 1;
	return 0;
}

static const char copy_signature[11] = "PGCOPY\n\377\r\n\0";

/* Parses one CopyData message into the tree. */
static int copy_message(struct copy_reader *c, struct tree *t, const char *msg, size_t len,
			const char **ret_code)
{
	int r;

	c->p = msg;
	c->end = msg + len;
	if (len + 4 > c->scratch_cap) {
		char *s = realloc(c->scratch, len + 4);
		if (!s)
			return -ENOMEM;
		c->scratch = s;
		c->scratch_cap = len + 4;
	}
	if (!c->header_done) {
		const char *sig;
		uint32_t flags, ext;
		const char *skip;
		if (get_bytes(c, sizeof(copy_signature), &sig) < 0 ||
		    memcmp(sig, copy_signature, sizeof(copy_signature)) != 0 ||
		    get_u32(c, &flags) < 0 || get_u32(c, &ext) < 0 || get_bytes(c, ext, &skip) < 0)
			return -EPROTO;
		c->header_done = true;
	}
	while (c->p < c->end) {
		const char *b;
		struct tree_row row;
		int64_t v = 0;
		size_t off = 0;
		if (c->trailer_seen || get_bytes(c, 2, &b) < 0)
			return -EPROTO;
		if ((uint8_t)b[0] == 0xff && (uint8_t)b[1] == 0xff) {
			c->trailer_seen = true;
			continue;
		}
		if (((uint8_t)b[0] << 8 | (uint8_t)b[1]) != GRID_COL_VERSION + 1)
			return -EPROTO;
		memset(&row, 0, sizeof(row));
		r = get_int(c, 8, false, &row.id);
		if (r == 0)
			r = get_int(c, 8, true, &row.parent_id);
		if (r == 0)
			r = get_int(c, 2, false, &v);
		if (r == 0 && (v < 0 || v > UINT16_MAX))
			r = -EPROTO;
		row.level = (uint16_t)v;
		if (r == 0)
			r = get_text(c, &off, &row.code);
		if (r == 0)
			r = get_text(c, &off, &row.name);
		if (r == 0)
			r = get_text(c, &off, &row.leader_name);
		if (r == 0)
			r = get_text(c, &off, &row.leader_phone);
		if (r == 0)
			r = get_int(c, 1, false, &v);
		row.retired = v != 0;
		if (r == 0)
			r = get_int(c, 8, false, &row.version);
		if (r < 0)
			return r;
		r = tree_load_row(t, &row);
		if (r < 0) {
			*ret_code = row.code;
			return r;
		}
	}
	return 0;
}

static int exec_i64(PGconn *pg, const char *sql, int64_t *ret, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, sql);
	int r = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    parse_i64(PQgetvalue(res, 0, 0), ret) < 0) {
		snprintf(err, errlen, "loading the grid: %s", PQresultErrorMessage(res));
		r = -EIO;
	}
	PQclear(res);
	return r;
}

int grid_db_load(PGconn *pg, struct tree *t, char *err, size_t errlen)
{
	struct copy_reader c = {0};
	const char *code = "";
	PGresult *res;
	int64_t version = 0, estimate = 0;
	char *msg;
	int r, len;

	/* The version and the rows must come from one snapshot, or a change
	 * committed in between would be skipped by the next sync. */
	r = exec_simple(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen);
	if (r < 0)
		return r;
	r = exec_i64(pg, "SELECT version FROM grid_version", &version, err, errlen);
	/* The planner's row count, to size the indexes once instead of
	 * growing them through a city. */
	if (r == 0)
		r = exec_i64(pg,
			     "SELECT greatest(reltuples, 0)::bigint FROM pg_class"
			     " WHERE oid = 'grid_node'::regclass",
			     &estimate, err, errlen);
	if (r == 0 && estimate > 0 && tree_load_reserve(t, (size_t)estimate) < 0) {
		snprintf(err, errlen, "loading the grid: out of memory");
		r = -ENOMEM;
	}
	if (r < 0)
		goto out;

	/* Binary COPY, in table order: no sort in the database, no text to
	 * parse, one small message per row, so a city never sits in memory
	 * twice. tree_load_finish links parents and children at the end. */
	res = PQexec(pg, "COPY (SELECT " NODE_COLS " FROM grid_node) TO STDOUT (FORMAT binary)");
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		snprintf(err, errlen, "loading the grid: %s", PQresultErrorMessage(res));
		PQclear(res);
		r = -EIO;
		goto out;
	}
	PQclear(res);
	while ((len = PQgetCopyData(pg, &msg, 0)) > 0) {
		if (r == 0) {
			r = copy_message(&c, t, msg, (size_t)len, &code);
			if (r < 0)
				snprintf(err, errlen, "loading the grid: %s%s%s",
					 r == -EPROTO ? "a row does not parse" : strerror(-r),
					 *code ? ": node " : "", code);
		}
		PQfreemem(msg);
	}
	while ((res = PQgetResult(pg))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0) {
			snprintf(err, errlen, "loading the grid: %s", PQresultErrorMessage(res));
			r = -EIO;
		}
		PQclear(res);
	}
	if (r == 0 && c.header_done && !c.trailer_seen) {
		snprintf(err, errlen, "loading the grid: the node rows ended early");
		r = -EPROTO;
	}
	if (r == 0) {
		r = tree_load_finish(t, &code);
		if (r < 0)
			snprintf(err, errlen, "loading the grid: node %s: %s", code,
				 r == -ELOOP ? "its parents form a cycle" : strerror(-r));
	}
out : {
	char ignored[128];
	exec_simple(pg, "COMMIT", ignored, sizeof(ignored));
}
	free(c.scratch);
	if (r == 0)
		tree_set_version(t, version);
	return r;
}
