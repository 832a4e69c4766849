/* The task domain's lifecycle and the helpers its handlers share: who may
 * see a task, argument checks, scopes. See task.h and task_private.h.
 */
#include "server/task/task.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/strutil.h"
#include "common/utf8.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/auth/principal.h"
#include "server/config.h"
#include "server/db/pool.h"
#include "server/grid/grid.h"
#include "server/grid/tree.h"
#include "server/rpc/rpc.h"
#include "server/server.h"
#include "server/task/task_db.h"
#include "server/task/task_private.h"

int task_create(struct server *srv, struct tasks **ret)
{
	struct tasks *tm = calloc(1, sizeof(*tm));

	if (!tm)
		return -ENOMEM;
	tm->srv = srv;
	*ret = tm;
	return 0;
}

int task_start(struct tasks *tm)
{
	int r = db_pool_register(tm->srv->db, task_stmts, TASK_STMT_COUNT);

	if (r < 0)
		return r;
	task_sweep_start(tm);
	return 0;
}

void task_stop(struct tasks *tm)
{
	if (!tm || tm->stopped)
		return;
	tm->stopped = true;
	task_sweep_close(tm);
}

void task_destroy(struct tasks *tm)
{
	if (!tm)
		return;
	task_stop(tm);
	/* The timer's close callback has not run yet: it frees tm. */
	if (tm->timer_open) {
		tm->free_on_close = true;
		return;
	}
	free(tm);
}

struct tree *task_tree(const struct rpc_call *call)
{
	return grid_tree(rpc_server(call)->grid);
}

bool task_reaches(const struct rpc_call *call, unsigned perm, const struct tree_node *task_node,
		  unsigned target_level)
{
	const struct server *srv = rpc_server(call);
	const struct principal *p = auth_principal(call);
	const struct tree *t = task_tree(call);

	if (auth_allows(srv->auth, p, perm, task_node))
		return true;
	if (!task_node)
		return false;
	for (size_t i = 0; i < p->ngrants; i++) {
		const struct tree_node *gn;

		if (!(perm_of_role(p->grants[i].role) & perm) || !p->grants[i].node_id)
			continue;
		gn = tree_find_id(t, p->grants[i].node_id);
		if (gn && tree_is_ancestor(task_node, gn) && gn->level <= target_level)
			return true;
	}
	return false;
}

void task_refuse(struct rpc_call *call, uint64_t id, unsigned perm)
{
	const struct principal *p = auth_principal(call);

	if (auth_allows(rpc_server(call)->auth, p, perm, NULL)) {
		rpc_fail(call, -ENOENT, "task %" PRIu64 " not found", id);
		return;
	}
	rpc_fail(call, -EACCES, "%s on task %" PRIu64 " is not allowed for %s",
		 rpc_call_method(call)->name, id, auth_actor(p));
}

const struct tree_node *task_node_arg(struct rpc_call *call, const char *code)
{
	const struct tree_node *n;

	if (!code || !*code) {
		rpc_fail(call, -EINVAL, "node code is empty");
		return NULL;
	}
	n = tree_find_code(task_tree(call), code);
	if (!n)
		rpc_fail(call, -ENOENT, "node %s not found", code);
	return n;
}

int task_level_parse(const struct server *srv, const char *name, unsigned *ret_level)
{
	for (unsigned i = 0; i < srv->cfg->nlevels; i++) {
		if (strcmp(srv->cfg->levels[i], name) == 0) {
			*ret_level = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *task_level_name(const struct server *srv, unsigned level)
{
	return level < srv->cfg->nlevels ? srv->cfg->levels[level] : "unknown";
}

const char *task_check_text(struct arena *a, char *s, size_t max_chars, bool multiline,
			    bool required)
{
	str_trim(s);
	if (!utf8_valid(s, strlen(s)))
		return "is not valid UTF-8";
	if (required && !*s)
		return "is empty";
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c < 0x20 || c == 0x7f) && !(multiline && (c == '\n' || c == '\t')))
			return "contains a control character";
	}
	if (utf8_length(s) > max_chars) {
		const char *why = arena_printf(a, "is longer than %zu characters", max_chars);
		return why ? why : "is too long";
	}
	return NULL;
}

const char *task_scope_ids(struct rpc_call *call, unsigned perm)
{
	const struct principal *p = auth_principal(call);
	const struct tree_node *root = tree_root(task_tree(call));
	bool everything = false;
	struct buf b;
	const char *s;
	int r;

	buf_init(&b, 0);
	r = buf_putc(&b, '{');
	for (size_t i = 0; i < p->ngrants && r == 0 && !everything; i++) {
		if (!(perm_of_role(p->grants[i].role) & perm))
			continue;
		everything = !p->grants[i].node_id;
		if (!everything)
			r = buf_printf(&b, "%s%" PRId64, b.len > 1 ? "," : "",
				       p->grants[i].node_id);
	}
	/* The whole grid is the subtrees of its top-level nodes. */
	if (everything) {
		buf_reset(&b);
		r = buf_putc(&b, '{');
		for (uint32_t i = 0; i < root->nchildren && r == 0; i++)
			r = buf_printf(&b, "%s%" PRId64, i ? "," : "", root->children[i]->id);
	}
	if (r == 0)
		r = buf_putc(&b, '}');
	s = r == 0 && buf_cstr(&b) ? arena_strdup(rpc_arena(call), buf_cstr(&b)) : NULL;
	buf_finish(&b);
	return s;
}

const char *task_format_time(struct arena *a, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[64];

	if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		return arena_printf(a, "%" PRId64 " ms", ms);
	return arena_strdup(a, buf);
}

uint32_t task_page_size(const struct rpc_call *call, uint32_t asked)
{
	const struct config *cfg = rpc_server(call)->cfg;

	if (!asked)
		asked = cfg->default_page_size;
	return asked > cfg->max_page_size ? cfg->max_page_size : asked;
}
