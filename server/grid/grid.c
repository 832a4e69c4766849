/* The grid domain's lifecycle, its sync with the database and the helpers
 * its handlers share; see grid.h and grid_private.h.
 *
 * Sync: every grid write bumps the grid version and NOTIFYs grid_changed in
 * its transaction. The server's listener connection receives that (from this
 * process and every other gridd on the database) and grid_sync() reads back
 * the rows newer than the cache's version. Versions commit in order (the
 * writers serialize on the version row), so nothing is skipped; after a
 * reconnect of the listener a sync catches up on whatever happened while it
 * was away.
 */
#include "server/grid/grid.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"
#include "common/utf8.h"
#include "server/config.h"
#include "server/db/pool.h"
#include "server/grid/grid_db.h"
#include "server/grid/grid_private.h"
#include "server/log.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

#define NAME_MAX_CHARS 100
#define PHONE_MAX 32
#define CODE_MAX 64

struct grid *grid_of(const struct rpc_call *call)
{
	return rpc_server(call)->grid;
}

const char *grid_level_name(const struct grid *g, unsigned level)
{
	const struct config *cfg = g->srv->cfg;

	return level < cfg->nlevels ? cfg->levels[level] : "unknown";
}

int grid_level_parse(const struct grid *g, const char *name, unsigned *ret_level)
{
	const struct config *cfg = g->srv->cfg;

	for (unsigned i = 0; i < cfg->nlevels; i++) {
		if (strcmp(cfg->levels[i], name) == 0) {
			*ret_level = i;
			return 0;
		}
	}
	return -EINVAL;
}

int grid_level_arg(struct rpc_call *call, const char *name, unsigned *ret_level)
{
	struct grid *g = grid_of(call);

	if (grid_level_parse(g, name, ret_level) == 0)
		return 0;
	rpc_fail(call, -EINVAL, "unknown level %s; the levels are: %s", name,
		 grid_level_list(g, rpc_arena(call)));
	return -EINVAL;
}

const char *grid_level_list(const struct grid *g, struct arena *a)
{
	const struct config *cfg = g->srv->cfg;
	size_t len = 1;
	char *s;

	for (unsigned i = 0; i < cfg->nlevels; i++)
		len += strlen(cfg->levels[i]) + 2;
	s = arena_alloc(a, len);
	if (!s)
		return "";
	s[0] = '\0';
	for (unsigned i = 0; i < cfg->nlevels; i++) {
		if (i)
			strcat(s, ", ");
		strcat(s, cfg->levels[i]);
	}
	return s;
}

Grid__V1__Node *grid_node_msg(const struct grid *g, struct arena *a, const struct tree_node *n)
{
	Grid__V1__Node *m = arena_new(a, Grid__V1__Node);

	if (!m)
		return NULL;
	grid__v1__node__init(m);
	m->id = n->id;
	m->code = (char *)n->code;
	m->parent_code = (char *)(n->parent ? n->parent->code : "");
	m->level = n->level;
	m->level_name = (char *)grid_level_name(g, n->level);
	m->name = (char *)n->name;
	m->leader_name = (char *)n->leader_name;
	m->leader_phone = (char *)n->leader_phone;
	m->retired = n->retired;
	m->child_count = n->active_children;
	return m;
}

struct tree_node *grid_lookup(struct rpc_call *call, const char *code, const char *what)
{
	struct tree_node *n;

	if (!code || !*code) {
		rpc_fail(call, -EINVAL, "%s code is empty", what);
		return NULL;
	}
	n = tree_find_code(grid_of(call)->tree, code);
	if (!n)
		rpc_fail(call, -ENOENT, "%s %s not found", what, code);
	return n;
}

const char *grid_check_code(const char *code)
{
	size_t len = strlen(code);

	if (len == 0)
		return "code is empty";
	if (len > CODE_MAX)
		return "code is longer than 64 characters";
	if (!((code[0] >= 'A' && code[0] <= 'Z') || (code[0] >= 'a' && code[0] <= 'z') ||
	      (code[0] >= '0' && code[0] <= '9')))
		return "code must start with an ASCII letter or digit";
	for (const char *p = code; *p; p++) {
		char c = *p;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return "code may hold only ASCII letters, digits, '-', '_' and '.'";
	}
	return NULL;
}

static const char *check_text(char *s, bool required)
{
	str_trim(s);
	if (!utf8_valid(s, strlen(s)))
		return "is not valid UTF-8 (save the file as UTF-8)";
	if (required && !*s)
		return "is empty";
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "contains a control character";
	if (utf8_length(s) > NAME_MAX_CHARS)
		return "is longer than 100 characters";
	return NULL;
}

const char *grid_check_name(char *name)
{
	return check_text(name, true);
}

const char *grid_check_leader(char *leader_name)
{
	return check_text(leader_name, false);
}

const char *grid_check_phone(char *phone)
{
	str_trim(phone);
	if (strlen(phone) > PHONE_MAX)
		return "phone is longer than 32 characters";
	for (const char *p = phone; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == ' ' ||
		      *p == '(' || *p == ')'))
			return "phone may hold only digits, spaces and + - ( )";
	return NULL;
}

int grid_apply_result(struct grid *g, const PGresult *res, struct tree_node **ret_first)
{
	int n = PQntuples(res), applied = 0;

	if (ret_first)
		*ret_first = NULL;
	for (int i = 0; i < n; i++) {
		struct tree_row row;
		struct tree_node *node;
		int r = grid_db_row(res, i, &row);
		if (r == 0)
			r = tree_apply(g->tree, &row, &node);
		if (r < 0) {
			/* The cache missed something; the sync that this
			 * write's NOTIFY triggers will bring it back in line. */
			log_warn("event=grid_apply_failed code=%s error=%s",
				 r == -EPROTO ? "?" : row.code, strerror(-r));
			continue;
		}
		if (applied++ == 0 && ret_first)
			*ret_first = node;
	}
	return applied;
}

/* --- sync ---------------------------------------------------------------- */

struct sync_ctx {
	struct grid *g;
	char since[24];
	const char *params[1];
};

static void on_sync(struct db_query *q, int status, void *data)
{
	struct sync_ctx *ctx = data;
	struct grid *g = ctx->g;
	PGresult *res = db_query_result(q, 0);

	free(ctx);
	g->syncing = false;
	if (g->stopped)
		return;
	if (status == 0 && res) {
		int n = PQntuples(res), applied = 0;
		int64_t max = tree_version(g->tree);
		for (int i = 0; i < n; i++) {
			struct tree_row row;
			int r = grid_db_row(res, i, &row);
			if (r == 0)
				r = tree_apply(g->tree, &row, NULL);
			if (r < 0) {
				log_error("event=grid_sync_row_failed id=%" PRId64 " error=%s",
					  row.id, strerror(-r));
				continue;
			}
			if (row.version > max)
				max = row.version;
			applied++;
		}
		tree_set_version(g->tree, max);
		if (applied)
			log_info("event=grid_synced rows=%d version=%" PRId64 " nodes=%zu", applied,
				 max, tree_size(g->tree));
	} else {
		log_warn("event=grid_sync_failed error=\"%s\"", db_query_error(q));
		/* The listener's reconnect triggers the next attempt. */
	}
	if (g->resync) {
		g->resync = false;
		grid_sync(g);
	}
}

void grid_sync(struct grid *g)
{
	struct sync_ctx *ctx;
	struct db_query *q;

	if (g->stopped)
		return;
	if (g->syncing) {
		g->resync = true;
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	q = db_query_create(g->srv->db);
	if (!ctx || !q)
		goto fail;
	ctx->g = g;
	snprintf(ctx->since, sizeof(ctx->since), "%" PRId64, tree_version(g->tree));
	ctx->params[0] = ctx->since;
	if (db_query_add(q, &grid_stmts[GRID_STMT_SYNC], ctx->params) < 0)
		goto fail;
	/* Set before submitting: the callback may run before submit returns
	 * when the connection breaks while sending. */
	g->syncing = true;
	if (db_query_submit(q, 0, on_sync, ctx) < 0) {
		g->syncing = false;
		q = NULL; /* freed by the failed submit */
		goto fail;
	}
	return;
fail:
	db_query_destroy(q);
	free(ctx);
	log_warn("event=grid_sync_deferred reason=database_unavailable");
}

/* --- lifecycle ----------------------------------------------------------- */

int grid_create(struct server *srv, PGconn *pg, struct grid **ret_grid, char *err, size_t errlen)
{
	struct grid *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	g->srv = srv;
	g->tree = tree_create();
	if (!g->tree) {
		free(g);
		return -ENOMEM;
	}
	r = grid_db_load(pg, g->tree, err, errlen);
	if (r < 0) {
		grid_destroy(g);
		return r;
	}
	log_info("event=grid_loaded nodes=%zu version=%" PRId64, tree_size(g->tree),
		 tree_version(g->tree));
	*ret_grid = g;
	return 0;
}

int grid_start(struct grid *g)
{
	return db_pool_register(g->srv->db, grid_stmts, GRID_STMT_COUNT);
}

void grid_stop(struct grid *g)
{
	if (g)
		g->stopped = true;
}

struct tree *grid_tree(const struct grid *g)
{
	return g->tree;
}

void grid_destroy(struct grid *g)
{
	if (!g)
		return;
	tree_destroy(g->tree);
	free(g);
}
