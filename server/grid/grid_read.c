/* The grid's read methods, answered from the in-memory tree without touching
 * the database: GetNode, ListChildren, GetSubtree, GetAncestors, FindNodes
 * and ExportGrid. Listings are bounded by the page size and continue from a
 * page token, which is the code of the last node of the previous page. */
#include <errno.h>
#include <string.h>

#include "common/csv.h"
#include "common/strutil.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/auth/principal.h"
#include "server/config.h"
#include "server/grid/grid.h"
#include "server/grid/grid_private.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

#define FIND_DEFAULT_LIMIT 50
#define EXPORT_DEFAULT_PAGE 1000

static uint32_t page_size(const struct rpc_call *call, uint32_t asked, uint32_t dflt)
{
	const struct config *cfg = rpc_server(call)->cfg;

	if (!asked)
		asked = dflt ? dflt : cfg->default_page_size;
	return asked > cfg->max_page_size ? cfg->max_page_size : asked;
}

/* A growing array of node messages in the call's arena. */
struct node_vec {
	Grid__V1__Node **v;
	size_t n, cap;
};

static int vec_push(struct node_vec *vec, struct arena *a, Grid__V1__Node *m)
{
	if (!m)
		return -ENOMEM;
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 16;
		Grid__V1__Node **v = arena_alloc(a, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		if (vec->n)
			memcpy(v, vec->v, vec->n * sizeof(*v));
		vec->v = v;
		vec->cap = cap;
	}
	vec->v[vec->n++] = m;
	return 0;
}

/* Adds n's message; on failure ends the call and returns false. */
static bool push_node(struct rpc_call *call, struct node_vec *vec, const struct tree_node *n)
{
	struct arena *a = rpc_arena(call);

	if (vec_push(vec, a, grid_node_msg(grid_of(call), a, n)) < 0) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return false;
	}
	return true;
}

/* Ends the call with the list (and the token of the next page). */
static void reply_nodes(struct rpc_call *call, struct node_vec *vec, const char *next)
{
	Grid__V1__NodeList *l = arena_new(rpc_arena(call), Grid__V1__NodeList);

	if (!l) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	grid__v1__node_list__init(l);
	l->n_nodes = vec->n;
	l->nodes = vec->v;
	l->next_page_token = (char *)(next ? next : "");
	rpc_reply(call, l);
}

void grid_get_node(struct rpc_call *call)
{
	const Grid__V1__GetNodeRequest *in = rpc_request(call)->get_node;
	struct grid *g = grid_of(call);
	struct tree_node *n = grid_lookup(call, in->code, "node");
	Grid__V1__Node *m;

	if (!n)
		return;
	m = grid_node_msg(g, rpc_arena(call), n);
	if (!m) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_reply(call, m);
}

/* Whether the caller reads the whole grid. */
static bool reads_everything(const struct rpc_call *call)
{
	return auth_allows(rpc_server(call)->auth, auth_principal(call), PERM_GRID_READ, NULL);
}

/* The top nodes of the caller's part of the grid: its grants' nodes that are
 * not below another of them, in code order. */
static size_t scope_roots(struct rpc_call *call, const struct tree_node ***ret)
{
	const struct principal *p = auth_principal(call);
	struct tree *t = grid_tree(grid_of(call));
	const struct tree_node **v;
	size_t n = 0;

	v = arena_new_array(rpc_arena(call), const struct tree_node *, p->ngrants + 1);
	if (!v)
		return 0;
	for (size_t i = 0; i < p->ngrants; i++) {
		const struct tree_node *gn;
		bool covered = false;
		if (!(perm_of_role(p->grants[i].role) & PERM_GRID_READ) || !p->grants[i].node_id)
			continue;
		gn = tree_find_id(t, p->grants[i].node_id);
		if (!gn)
			continue;
		for (size_t j = 0; j < p->ngrants && !covered; j++) {
			const struct tree_node *o = tree_find_id(t, p->grants[j].node_id);
			covered = j != i && o && o != gn && p->grants[j].node_id &&
				  (perm_of_role(p->grants[j].role) & PERM_GRID_READ) &&
				  tree_is_ancestor(o, gn);
		}
		for (size_t k = 0; k < n && !covered; k++)
			covered = v[k] == gn;
		if (!covered)
			v[n++] = gn;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && natcmp(v[j - 1]->code, v[j]->code) > 0; j--) {
			const struct tree_node *tmp = v[j];
			v[j] = v[j - 1];
			v[j - 1] = tmp;
		}
	*ret = v;
	return n;
}

void grid_list_children(struct rpc_call *call)
{
	const Grid__V1__ListChildrenRequest *in = rpc_request(call)->list_children;
	struct grid *g = grid_of(call);
	uint32_t limit = page_size(call, in->page_size, 0);
	struct node_vec vec = {0};
	const struct tree_node *parent = tree_root(g->tree);
	const char *next = NULL;
	uint32_t i = 0;

	if (*in->code) {
		parent = grid_lookup(call, in->code, "node");
		if (!parent)
			return;
	} else if (!reads_everything(call)) {
		/* "The top" for someone with a part of the grid is that part. */
		const struct tree_node **roots = NULL;
		size_t n = scope_roots(call, &roots);
		for (size_t k = 0; k < n; k++) {
			if (*in->page_token && natcmp(roots[k]->code, in->page_token) <= 0)
				continue;
			if (roots[k]->retired && !in->include_retired)
				continue;
			if (vec.n == limit) {
				next = vec.v[vec.n - 1]->code;
				break;
			}
			if (!push_node(call, &vec, roots[k]))
				return;
		}
		reply_nodes(call, &vec, next);
		return;
	}
	if (*in->page_token)
		i = tree_child_after(parent, in->page_token);
	for (; i < parent->nchildren; i++) {
		const struct tree_node *c = parent->children[i];
		if (c->retired && !in->include_retired)
			continue;
		if (vec.n == limit) {
			next = vec.v[vec.n - 1]->code;
			break;
		}
		if (!push_node(call, &vec, c))
			return;
	}
	reply_nodes(call, &vec, next);
}

/* Where a pre-order page starts: the first node of the subtree, or the node
 * after the token's. NULL with the call failed when the token is bad; *empty
 * is set when the walk is simply over. */
static const struct tree_node *walk_start(struct rpc_call *call, const struct tree_node *top,
					  const char *token, bool include_retired,
					  unsigned max_depth, bool *empty)
{
	const struct tree_node *n;

	*empty = false;
	if (!*token) {
		n = tree_preorder_first(top, include_retired);
		*empty = n == NULL;
		return n;
	}
	n = tree_find_code(grid_of(call)->tree, token);
	if (!n || n == top || !tree_is_ancestor(top, n)) {
		rpc_fail(call, -EINVAL,
			 "page token %s is no longer inside this subtree (the grid changed); "
			 "start again without a token",
			 token);
		return NULL;
	}
	n = tree_preorder_next(top, n, include_retired, max_depth);
	*empty = n == NULL;
	return n;
}

void grid_get_subtree(struct rpc_call *call)
{
	const Grid__V1__GetSubtreeRequest *in = rpc_request(call)->get_subtree;
	uint32_t limit = page_size(call, in->page_size, 0);
	struct node_vec vec = {0};
	const struct tree_node *top, *n;
	const char *next = NULL;
	bool include_retired, empty;

	top = grid_lookup(call, in->code, "node");
	if (!top)
		return;
	/* Asking for a retired node's subtree means wanting to see it. */
	include_retired = in->include_retired || top->retired;
	n = walk_start(call, top, in->page_token, include_retired, in->max_depth, &empty);
	if (!n && !empty)
		return;
	for (; n; n = tree_preorder_next(top, n, include_retired, in->max_depth)) {
		if (vec.n == limit) {
			next = vec.v[vec.n - 1]->code;
			break;
		}
		if (!push_node(call, &vec, n))
			return;
	}
	reply_nodes(call, &vec, next);
}

void grid_get_ancestors(struct rpc_call *call)
{
	const Grid__V1__GetAncestorsRequest *in = rpc_request(call)->get_ancestors;
	struct grid *g = grid_of(call);
	struct arena *a = rpc_arena(call);
	const struct tree_node *n = grid_lookup(call, in->code, "node"), *p;
	struct node_vec vec = {0};
	size_t depth;

	if (!n)
		return;
	depth = tree_depth(n);
	vec.v = arena_alloc(a, depth * sizeof(*vec.v));
	if (!vec.v) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	vec.n = vec.cap = depth;
	/* Filled from the end: the root comes first in the reply. */
	for (p = n; p->parent; p = p->parent) {
		vec.v[--depth] = grid_node_msg(g, a, p);
		if (!vec.v[depth]) {
			rpc_fail(call, -ENOMEM, "out of memory");
			return;
		}
	}
	reply_nodes(call, &vec, NULL);
}

void grid_find_nodes(struct rpc_call *call)
{
	const Grid__V1__FindNodesRequest *in = rpc_request(call)->find_nodes;
	struct grid *g = grid_of(call);
	uint32_t limit = page_size(call, in->limit, FIND_DEFAULT_LIMIT);
	const struct tree_node *top = tree_root(g->tree), *n;
	struct node_vec vec = {0};
	unsigned level = 0;
	bool by_level = false;

	if (!*in->query) {
		rpc_fail(call, -EINVAL, "query is empty: give part of a code, a name or a leader");
		return;
	}
	if (*in->within_code) {
		top = grid_lookup(call, in->within_code, "node");
		if (!top)
			return;
	}
	if (*in->level) {
		if (grid_level_arg(call, in->level, &level) < 0)
			return;
		by_level = true;
	}
	/* Everywhere means the caller's part of the grid, for most callers. */
	const struct tree_node **tops = &top;
	size_t ntops = 1;
	if (!*in->within_code && !reads_everything(call))
		ntops = scope_roots(call, &tops);
	for (size_t k = 0; k < ntops; k++) {
		for (n = tree_preorder_first(tops[k], in->include_retired); n && vec.n < limit;
		     n = tree_preorder_next(tops[k], n, in->include_retired, 0)) {
			if (by_level && n->level != level)
				continue;
			if (!str_casestr(n->code, in->query) && !strstr(n->name, in->query) &&
			    !strstr(n->leader_name, in->query))
				continue;
			if (!push_node(call, &vec, n))
				return;
		}
	}
	reply_nodes(call, &vec, NULL);
}

void grid_export(struct rpc_call *call)
{
	static const char *const header[] = {"code", "parent_code", "level",
					     "name", "leader_name", "leader_phone"};
	const Grid__V1__ExportGridRequest *in = rpc_request(call)->export_grid;
	struct grid *g = grid_of(call);
	struct arena *a = rpc_arena(call);
	uint32_t limit = page_size(call, in->page_size, EXPORT_DEFAULT_PAGE);
	const struct tree_node *top = tree_root(g->tree), *n, *last = NULL;
	Grid__V1__ExportGridReply *out;
	struct buf csv;
	uint32_t count = 0;
	bool empty;
	int r = 0;

	if (*in->code) {
		top = grid_lookup(call, in->code, "node");
		if (!top)
			return;
	}
	n = walk_start(call, top, in->page_token, false, 0, &empty);
	if (!n && !empty)
		return;
	buf_init(&csv, 0);
	if (!*in->page_token)
		r = csv_write_record(&csv, header, 6);
	for (; n && r == 0; n = tree_preorder_next(top, n, false, 0)) {
		if (count == limit)
			break;
		const char *fields[6] = {n->code,
					 n->parent ? n->parent->code : "",
					 grid_level_name(g, n->level),
					 n->name,
					 n->leader_name,
					 n->leader_phone};
		r = csv_write_record(&csv, fields, 6);
		last = n;
		count++;
	}
	out = arena_new(a, Grid__V1__ExportGridReply);
	if (r < 0 || !out) {
		buf_finish(&csv);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	grid__v1__export_grid_reply__init(out);
	out->csv.len = csv.len;
	out->csv.data = arena_memdup(a, csv.data ? csv.data : (uint8_t *)"", csv.len);
	buf_finish(&csv);
	out->count = count;
	out->next_page_token = (char *)(n && last ? last->code : "");
	if (!out->csv.data) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_reply(call, out);
}
