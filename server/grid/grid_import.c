/* ImportGrid: a district office's roster as CSV, applied all or nothing.
 *
 * The whole file is checked before anything is written, and every bad line
 * is reported with its line number (up to a limit), so a clerk fixes the
 * file once rather than once per error. Checks: the header names the
 * columns; each line has a well-formed code used once in the file, a known
 * level, a name, a plausible phone; its parent exists (in the grid or
 * earlier or later in the file) and is active; a child sits at a deeper
 * level than its parent; an existing node keeps its level and is not
 * retired. Since levels strictly increase downward, no set of lines passing
 * these checks can form a cycle, and sorting by level puts parents first.
 *
 * The rows then go to grid_import() in one statement (arrays), which
 * re-checks under the grid lock and applies them in one transaction.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/csv.h"
#include "common/htab.h"
#include "common/strutil.h"
#include "server/audit/audit.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/db/array.h"
#include "server/db/pool.h"
#include "server/grid/grid.h"
#include "server/grid/grid_db.h"
#include "server/grid/grid_private.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

#define IMPORT_MAX_ROWS 100000

enum column {
	COL_CODE,
	COL_PARENT,
	COL_LEVEL,
	COL_NAME,
	COL_LEADER,
	COL_PHONE,
	COL_COUNT,
};

static const char *const column_names[COL_COUNT] = {
    "code", "parent_code", "level", "name", "leader_name", "leader_phone",
};

enum change {
	CHANGE_CREATE,
	CHANGE_UPDATE,
	CHANGE_SAME,
};

struct row {
	unsigned line;
	char *f[COL_COUNT];
	unsigned level;
	struct row *parent_row;		  /* parent defined in the file */
	const struct tree_node *existing; /* node of the same code in the grid */
	enum change change;
	bool bad;
};

struct import {
	struct rpc_call *call;
	struct grid *g;
	struct auth *auth;
	struct principal *who;
	bool everywhere; /* the caller administers the whole grid */
	struct arena *a;
	struct row **rows; /* each in the arena: pointers stay put */
	size_t nrows, caprows;
	size_t nbad; /* lines with an error */
	struct htab by_code;
	int col[COL_COUNT]; /* field index of each column, -1 if absent */
	size_t ncols;
};

static uint64_t row_hash(const void *elem)
{
	return htab_hash_str(((const struct row *)elem)->f[COL_CODE]);
}

static int row_eq(const void *elem, const void *key)
{
	return strcmp(((const struct row *)elem)->f[COL_CODE], key) == 0;
}

/* Records an error for a line. Lines past the detail limit still count. */
static void bad(struct import *im, struct row *r, unsigned line, const char *field, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));

static void bad(struct import *im, struct row *r, unsigned line, const char *field, const char *fmt,
		...)
{
	char reason[512];
	va_list ap;

	if (!r || !r->bad)
		im->nbad++;
	if (r)
		r->bad = true;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	rpc_add_detail(im->call, line, field, "%s", reason);
}

static int parse_header(struct import *im, const struct csv_record *rec)
{
	bool ok = true;

	for (int c = 0; c < COL_COUNT; c++)
		im->col[c] = -1;
	im->ncols = rec->nfields;
	for (size_t i = 0; i < rec->nfields; i++) {
		char *name = arena_strdup(im->a, rec->fields[i]);
		int c;
		if (!name)
			return -ENOMEM;
		str_trim(name);
		for (c = 0; c < COL_COUNT; c++)
			if (strcasecmp(name, column_names[c]) == 0)
				break;
		if (c == COL_COUNT) {
			bad(im, NULL, rec->line, name,
			    "unknown column \"%s\"; the columns are code, parent_code, level, "
			    "name, "
			    "leader_name, leader_phone",
			    name);
			ok = false;
		} else if (im->col[c] >= 0) {
			bad(im, NULL, rec->line, name, "column \"%s\" appears twice", name);
			ok = false;
		} else {
			im->col[c] = (int)i;
		}
	}
	for (int c = 0; c <= COL_NAME; c++) {
		if (im->col[c] < 0) {
			bad(im, NULL, rec->line, column_names[c], "the header has no \"%s\" column",
			    column_names[c]);
			ok = false;
		}
	}
	return ok ? 0 : -EINVAL;
}

static struct row *row_add(struct import *im)
{
	struct row *r;

	if (im->nrows == im->caprows) {
		size_t cap = im->caprows ? im->caprows * 2 : 64;
		struct row **v = arena_alloc(im->a, cap * sizeof(*v));
		if (!v)
			return NULL;
		if (im->nrows)
			memcpy(v, im->rows, im->nrows * sizeof(*v));
		im->rows = v;
		im->caprows = cap;
	}
	r = arena_new(im->a, struct row);
	if (r)
		im->rows[im->nrows++] = r;
	return r;
}

/* First pass: one line on its own. */
static int check_line(struct import *im, const struct csv_record *rec)
{
	struct row *r;
	const char *why;

	if (im->nrows == IMPORT_MAX_ROWS) {
		bad(im, NULL, rec->line, "", "more than %d lines; split the file", IMPORT_MAX_ROWS);
		return -E2BIG;
	}
	r = row_add(im);
	if (!r)
		return -ENOMEM;
	r->line = rec->line;
	for (int c = 0; c < COL_COUNT; c++) {
		const char *v = im->col[c] >= 0 && (size_t)im->col[c] < rec->nfields
				    ? rec->fields[im->col[c]]
				    : "";
		r->f[c] = arena_strdup(im->a, v);
		if (!r->f[c])
			return -ENOMEM;
	}
	if (rec->nfields != im->ncols) {
		bad(im, r, r->line, "", "expected %zu fields like the header, found %zu", im->ncols,
		    rec->nfields);
		return 0;
	}
	str_trim(r->f[COL_CODE]);
	str_trim(r->f[COL_PARENT]);
	str_trim(r->f[COL_LEVEL]);
	if ((why = grid_check_code(r->f[COL_CODE])))
		bad(im, r, r->line, "code", "%s", why);
	if (r->f[COL_PARENT][0] && (why = grid_check_code(r->f[COL_PARENT])))
		bad(im, r, r->line, "parent_code", "%s", why);
	if (grid_level_parse(im->g, r->f[COL_LEVEL], &r->level) < 0)
		bad(im, r, r->line, "level", "unknown level \"%s\"; the levels are: %s",
		    r->f[COL_LEVEL], grid_level_list(im->g, im->a));
	if ((why = grid_check_name(r->f[COL_NAME])))
		bad(im, r, r->line, "name", "name %s", why);
	if ((why = grid_check_leader(r->f[COL_LEADER])))
		bad(im, r, r->line, "leader_name", "leader name %s", why);
	if ((why = grid_check_phone(r->f[COL_PHONE])))
		bad(im, r, r->line, "leader_phone", "%s", why);
	if (!grid_check_code(r->f[COL_CODE])) {
		struct row *other =
		    htab_find(&im->by_code, r->f[COL_CODE], htab_hash_str(r->f[COL_CODE]));
		if (other) {
			bad(im, r, r->line, "code", "code %s already appears on line %u",
			    r->f[COL_CODE], other->line);
		} else if (htab_insert(&im->by_code, r) < 0) {
			return -ENOMEM;
		}
	}
	return 0;
}

/* Second pass: each line against its parent and the grid. */
/* A node the caller administers, or NULL: for a caller with a part of the
 * grid, nodes outside it are treated as absent, so the answers reveal
 * nothing about them. */
static const struct tree_node *visible(const struct import *im, const struct tree_node *n)
{
	return n && (im->everywhere || auth_allows(im->auth, im->who, PERM_GRID_ADMIN, n)) ? n
											   : NULL;
}

static void check_tree(struct import *im, struct row *r)
{
	struct grid *g = im->g;
	const char *code = r->f[COL_CODE], *pcode = r->f[COL_PARENT];
	unsigned parent_level = 0;
	bool has_parent = *pcode != '\0';

	r->existing = tree_find_code(g->tree, code);
	if (r->existing && !visible(im, r->existing)) {
		bad(im, r, r->line, "code", "code %s is taken or outside your part of the grid",
		    code);
		return;
	}
	if (r->existing && r->existing->retired) {
		bad(im, r, r->line, "code",
		    "code %s belongs to a retired node (codes are never reused)", code);
		return;
	}
	if (r->existing && r->existing->level != r->level) {
		bad(im, r, r->line, "level", "node %s is a %s; an import cannot change a level",
		    code, grid_level_name(g, r->existing->level));
		return;
	}
	if (has_parent && strcmp(pcode, code) == 0) {
		bad(im, r, r->line, "parent_code", "node %s cannot be its own parent", code);
		return;
	}
	if (has_parent) {
		struct row *p = htab_find(&im->by_code, pcode, htab_hash_str(pcode));
		const struct tree_node *pn = visible(im, tree_find_code(g->tree, pcode));
		if (p) {
			if (p->bad) {
				bad(im, r, r->line, "parent_code",
				    "parent %s is on line %u, which has errors", pcode, p->line);
				return;
			}
			r->parent_row = p;
			parent_level = p->level;
		} else if (pn && !pn->retired) {
			parent_level = pn->level;
		} else if (pn) {
			bad(im, r, r->line, "parent_code", "parent %s is retired", pcode);
			return;
		} else {
			bad(im, r, r->line, "parent_code",
			    im->everywhere ? "parent %s is neither in the grid nor in this file"
					   : "parent %s is neither in your part of the grid nor in "
					     "this file",
			    pcode);
			return;
		}
		if (r->level <= parent_level) {
			bad(im, r, r->line, "level", "a %s cannot be placed under a %s",
			    grid_level_name(g, r->level), grid_level_name(g, parent_level));
			return;
		}
	} else if (r->level != 0) {
		bad(im, r, r->line, "parent_code",
		    "a %s needs a parent; only a %s stands at the top",
		    grid_level_name(g, r->level), grid_level_name(g, 0));
		return;
	} else if (!im->everywhere) {
		bad(im, r, r->line, "parent_code",
		    "only an administrator of the whole grid adds top-level nodes");
		return;
	}

	if (!r->existing) {
		r->change = CHANGE_CREATE;
	} else {
		const struct tree_node *e = r->existing;
		const char *old_parent = e->parent ? e->parent->code : "";
		bool same = strcmp(old_parent, pcode) == 0 &&
			    strcmp(e->name, r->f[COL_NAME]) == 0 &&
			    strcmp(e->leader_name, r->f[COL_LEADER]) == 0 &&
			    strcmp(e->leader_phone, r->f[COL_PHONE]) == 0;
		r->change = same ? CHANGE_SAME : CHANGE_UPDATE;
	}
}

/* The lowest node above both (NULL: they only meet at the top). */
static const struct tree_node *common_ancestor(const struct tree_node *x, const struct tree_node *y)
{
	unsigned dx, dy;

	if (!x || !y)
		return NULL;
	dx = tree_depth(x);
	dy = tree_depth(y);
	for (; dx > dy; dx--)
		x = x->parent;
	for (; dy > dx; dy--)
		y = y->parent;
	while (x != y) {
		x = x->parent;
		y = y->parent;
	}
	return x && x->parent ? x : NULL;
}

/* The node the import is about, for the audit trail: the lowest one that
 * holds every line's node or parent in the grid. */
static const struct tree_node *import_scope(const struct import *im)
{
	const struct tree_node *top = NULL;
	bool first = true;

	for (size_t i = 0; i < im->nrows; i++) {
		const struct row *r = im->rows[i];
		const struct tree_node *n = r->existing;
		if (!n && !r->parent_row)
			n = *r->f[COL_PARENT] ? tree_find_code(im->g->tree, r->f[COL_PARENT])
					      : NULL;
		if (!n && r->parent_row)
			continue; /* hangs from another line of the file */
		if (!n)
			return NULL;
		top = first ? n : common_ancestor(top, n);
		first = false;
		if (!top)
			return NULL;
	}
	return top;
}

static int by_level_then_line(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;

	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void on_import_done(struct db_query *q, int status, void *data)
{
	struct rpc_call *call = data;
	struct grid *g = grid_of(call);
	PGresult *res = db_query_result(q, 0);
	Grid__V1__ImportGridReply *out;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	out = arena_new(rpc_arena(call), Grid__V1__ImportGridReply);
	if (!out) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	grid__v1__import_grid_reply__init(out);
	grid_apply_result(g, res, NULL);
	for (int i = 0; i < PQntuples(res); i++) {
		const char *change = PQgetvalue(res, i, GRID_COL_CHANGE);
		if (strcmp(change, "created") == 0)
			out->created++;
		else if (strcmp(change, "unchanged") == 0)
			out->unchanged++;
		else
			out->updated++;
	}
	rpc_reply(call, out);
}

/* Builds the seven array parameters of grid_import(). */
static int build_params(struct import *im, struct row **sorted, size_t n, const char **params)
{
	struct buf b[7];
	int r = 0;

	for (int k = 0; k < 7; k++) {
		buf_init(&b[k], 0);
		r = r ? r : buf_putc(&b[k], '{');
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct row *row = sorted[i];
		char num[16];
		snprintf(num, sizeof(num), "%u", row->line);
		r = db_array_elem(&b[0], num, i == 0);
		snprintf(num, sizeof(num), "%u", row->level);
		r = r ? r : db_array_elem(&b[3], num, i == 0);
		r = r ? r : db_array_elem(&b[1], row->f[COL_CODE], i == 0);
		r = r ? r : db_array_elem(&b[2], row->f[COL_PARENT], i == 0);
		r = r ? r : db_array_elem(&b[4], row->f[COL_NAME], i == 0);
		r = r ? r : db_array_elem(&b[5], row->f[COL_LEADER], i == 0);
		r = r ? r : db_array_elem(&b[6], row->f[COL_PHONE], i == 0);
	}
	for (int k = 0; k < 7; k++) {
		if (r == 0)
			r = buf_putc(&b[k], '}');
		if (r == 0) {
			params[k] = arena_strndup(im->a, (const char *)b[k].data, b[k].len);
			if (!params[k])
				r = -ENOMEM;
		}
		buf_finish(&b[k]);
	}
	return r;
}

void grid_import(struct rpc_call *call)
{
	const Grid__V1__ImportGridRequest *in = rpc_request(call)->import_grid;
	struct import im = {.call = call,
			    .g = grid_of(call),
			    .a = rpc_arena(call),
			    .auth = rpc_server(call)->auth,
			    .who = auth_principal(call)};
	struct csv_reader *reader;
	struct csv_record rec;
	struct row **sorted = NULL;
	const char **params;
	size_t ngood = 0;
	bool header = true;
	int r;

	htab_init(&im.by_code, row_hash, row_eq);
	im.everywhere = auth_allows(im.auth, im.who, PERM_GRID_ADMIN, NULL);
	reader = csv_reader_create((const char *)in->csv.data, in->csv.len);
	if (!reader) {
		rpc_fail(call, -ENOMEM, "out of memory");
		goto out;
	}
	while ((r = csv_reader_next(reader, &rec)) != 0) {
		if (r == -EINVAL) {
			bad(&im, NULL, csv_reader_error_line(reader), "", "%s",
			    csv_reader_error(reader));
			if (header)
				break; /* without a header the lines mean nothing */
			continue;
		}
		if (r < 0)
			break;
		if (header) {
			header = false;
			r = parse_header(&im, &rec);
			if (r < 0)
				break;
			continue;
		}
		r = check_line(&im, &rec);
		if (r < 0)
			break;
	}
	csv_reader_destroy(reader);
	if (r == -ENOMEM) {
		rpc_fail(call, -ENOMEM, "out of memory");
		goto out;
	}
	if (im.nbad == 0 && header) {
		rpc_fail(call, -EINVAL,
			 "the file is empty: expected a header line "
			 "code,parent_code,level,name,leader_name,leader_phone");
		goto out;
	}
	/* Parents may come after their children in the file, so the tree
	 * checks wait until every line has been read. */
	for (size_t i = 0; i < im.nrows; i++)
		if (!im.rows[i]->bad)
			check_tree(&im, im.rows[i]);
	if (im.nbad == 0 && im.nrows == 0) {
		rpc_fail(call, -EINVAL, "the file has a header but no lines to import");
		goto out;
	}
	if (im.nbad) {
		rpc_sort_details(call);
		rpc_fail(call, -EINVAL, "import rejected: %zu bad line%s; nothing was changed%s",
			 im.nbad, im.nbad == 1 ? "" : "s",
			 rpc_detail_count(call) < im.nbad ? " (only the first are listed)" : "");
		goto out;
	}

	sorted = malloc(im.nrows * sizeof(*sorted));
	if (!sorted) {
		rpc_fail(call, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < im.nrows; i++)
		sorted[ngood++] = im.rows[i];
	qsort(sorted, ngood, sizeof(*sorted), by_level_then_line);

	if (in->dry_run) {
		Grid__V1__ImportGridReply *out = arena_new(im.a, Grid__V1__ImportGridReply);
		if (!out) {
			rpc_fail(call, -ENOMEM, "out of memory");
			goto out;
		}
		grid__v1__import_grid_reply__init(out);
		out->dry_run = true;
		for (size_t i = 0; i < ngood; i++) {
			if (sorted[i]->change == CHANGE_CREATE)
				out->created++;
			else if (sorted[i]->change == CHANGE_UPDATE)
				out->updated++;
			else
				out->unchanged++;
		}
		rpc_reply(call, out);
		goto out;
	}

	params = arena_new_array(im.a, const char *, 7);
	if (!params || build_params(&im, sorted, ngood, params) < 0) {
		rpc_fail(call, -ENOMEM, "out of memory");
		goto out;
	}
	struct db_query *q = db_query_create(rpc_server(call)->db);
	if (!q || db_query_add(q, &grid_stmts[GRID_STMT_IMPORT], params) < 0 ||
	    audit_add_call(q, call, import_scope(&im), "import of %zu lines", ngood) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		goto out;
	}
	rpc_submit(call, q, on_import_done, call);
out:
	free(sorted);
	htab_finish(&im.by_code);
}
