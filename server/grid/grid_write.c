/* The grid's single-node writes: CreateNode, RenameNode, SetLeader,
 * MoveNode, RetireNode.
 *
 * Each checks its input and the tree's rules against the cache first, for
 * quick and precise answers, then runs the grid_* SQL function, which checks
 * the same rules again under a lock (another gridd may have changed the
 * tree meanwhile) and commits. Only then is the cache updated from the rows
 * the function returned and the reply sent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/audit/audit.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/db/pool.h"
#include "server/grid/grid.h"
#include "server/grid/grid_db.h"
#include "server/grid/grid_private.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

enum write_kind {
	WRITE_NODE,   /* reply with the node */
	WRITE_RETIRE, /* reply with the node and how many were retired */
};

struct write_ctx {
	struct rpc_call *call;
	enum write_kind kind;
};

static void on_write_done(struct db_query *q, int status, void *data)
{
	struct write_ctx *ctx = data;
	struct rpc_call *call = ctx->call;
	struct grid *g = grid_of(call);
	struct arena *a = rpc_arena(call);
	struct tree_node *first;
	PGresult *res = db_query_result(q, 0);
	int applied;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	applied = grid_apply_result(g, res, &first);
	if (!first) {
		rpc_fail(call, -EIO, "the change was made but could not be read back");
		return;
	}
	Grid__V1__Node *node = grid_node_msg(g, a, first);
	if (!node) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (ctx->kind == WRITE_RETIRE) {
		Grid__V1__RetireNodeReply *out = arena_new(a, Grid__V1__RetireNodeReply);
		if (!out) {
			rpc_fail(call, -ENOMEM, "out of memory");
			return;
		}
		grid__v1__retire_node_reply__init(out);
		out->node = node;
		out->retired_count = (uint32_t)applied;
		rpc_reply(call, out);
		return;
	}
	rpc_reply(call, node);
}

/* Runs one statement for the call, and its audit entry about node in the
 * same transaction; params live in the call's arena. */
static void submit(struct rpc_call *call, enum grid_stmt stmt, const char **params,
		   enum write_kind kind, const struct tree_node *node, const char *summary)
{
	struct server *srv = rpc_server(call);
	struct write_ctx *ctx = arena_new(rpc_arena(call), struct write_ctx);
	struct db_query *q = db_query_create(srv->db);
	int r;

	if (!ctx || !q) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	ctx->call = call;
	ctx->kind = kind;
	r = db_query_add(q, &grid_stmts[stmt], params);
	if (r == 0)
		r = audit_add_call(q, call, node, "%s", summary ? summary : "");
	if (r < 0) {
		db_query_destroy(q);
		rpc_fail(call, r, "out of memory");
		return;
	}
	rpc_submit(call, q, on_write_done, ctx);
}

static const char **params_new(struct rpc_call *call, size_t n)
{
	const char **p = arena_new_array(rpc_arena(call), const char *, n);

	if (!p)
		rpc_fail(call, -ENOMEM, "out of memory");
	return p;
}

/* Text fields arrive in the decoded request, which lives in the arena and
 * may be trimmed in place. */
static char *field(char *s)
{
	return s ? s : (char *)"";
}

/* Checks (and trims) the text fields given; NULL means "not part of this
 * request". Ends the call and returns false on the first bad one. */
static bool fields_ok(struct rpc_call *call, char *name, char *leader, char *phone)
{
	const char *why;

	if (name && (why = grid_check_name(name))) {
		rpc_fail(call, -EINVAL, "name %s", why);
		return false;
	}
	if (leader && (why = grid_check_leader(leader))) {
		rpc_fail(call, -EINVAL, "leader name %s", why);
		return false;
	}
	if (phone && (why = grid_check_phone(phone))) {
		rpc_fail(call, -EINVAL, "%s", why);
		return false;
	}
	return true;
}

void grid_create_node(struct rpc_call *call)
{
	Grid__V1__CreateNodeRequest *in = rpc_request(call)->create_node;
	struct grid *g = grid_of(call);
	struct arena *a = rpc_arena(call);
	const struct tree_node *parent = NULL;
	const char *why, **params;
	unsigned level;

	if ((why = grid_check_code(in->code))) {
		rpc_fail(call, -EINVAL, "code %s: %s", in->code, why);
		return;
	}
	if (!fields_ok(call, field(in->name), field(in->leader_name), field(in->leader_phone)))
		return;
	if (*in->parent_code) {
		parent = grid_lookup(call, in->parent_code, "parent");
		if (!parent)
			return;
		if (parent->retired) {
			rpc_fail(call, -EBUSY, "parent %s is retired", parent->code);
			return;
		}
	}
	if (*in->level) {
		if (grid_level_arg(call, in->level, &level) < 0)
			return;
	} else {
		level = parent ? parent->level + 1u : 0;
		if (level >= g->srv->cfg->nlevels) {
			rpc_fail(call, -EBUSY, "%s is at the lowest level; nothing goes below it",
				 parent->code);
			return;
		}
	}
	if (parent && level <= parent->level) {
		rpc_fail(call, -EBUSY, "a %s cannot be placed under %s, a %s",
			 grid_level_name(g, level), parent->code,
			 grid_level_name(g, parent->level));
		return;
	}
	if (!parent && level != 0) {
		rpc_fail(call, -EBUSY, "a %s needs a parent; only a %s stands at the top",
			 grid_level_name(g, level), grid_level_name(g, 0));
		return;
	}
	if (tree_find_code(g->tree, in->code)) {
		rpc_fail(call, -EEXIST, "code %s is already taken", in->code);
		return;
	}
	if (!(params = params_new(call, 6)))
		return;
	params[0] = in->parent_code;
	params[1] = in->code;
	params[2] = arena_printf(a, "%u", level);
	params[3] = in->name;
	params[4] = in->leader_name;
	params[5] = in->leader_phone;
	submit(call, GRID_STMT_CREATE, params, WRITE_NODE, parent,
	       arena_printf(a, "created %s %s (%s) under %s", in->code, in->name,
			    grid_level_name(g, level), parent ? parent->code : "no parent"));
}

/* RenameNode and SetLeader: one statement, NULL for what stays. */
static void update_node(struct rpc_call *call, const char *code, char *name, char *leader,
			char *phone)
{
	const struct tree_node *n;
	const char **params;

	if (!(n = grid_lookup(call, code, "node")))
		return;
	if (!fields_ok(call, name, leader, phone))
		return;
	if (n->retired) {
		rpc_fail(call, -EBUSY, "node %s is retired", n->code);
		return;
	}
	if (!(params = params_new(call, 4)))
		return;
	params[0] = code;
	params[1] = name;
	params[2] = leader;
	params[3] = phone;
	submit(call, GRID_STMT_UPDATE, params, WRITE_NODE, n,
	       name ? arena_printf(rpc_arena(call), "renamed from %s to %s", n->name, name)
		    : arena_printf(rpc_arena(call), "leader from %s %s to %s %s", n->leader_name,
				   n->leader_phone, leader, phone));
}

void grid_rename_node(struct rpc_call *call)
{
	Grid__V1__RenameNodeRequest *in = rpc_request(call)->rename_node;

	update_node(call, in->code, field(in->name), NULL, NULL);
}

void grid_set_leader(struct rpc_call *call)
{
	Grid__V1__SetLeaderRequest *in = rpc_request(call)->set_leader;

	update_node(call, in->code, NULL, field(in->leader_name), field(in->leader_phone));
}

void grid_move_node(struct rpc_call *call)
{
	Grid__V1__MoveNodeRequest *in = rpc_request(call)->move_node;
	struct grid *g = grid_of(call);
	const struct tree_node *n, *p = NULL;
	const char **params;

	if (!(n = grid_lookup(call, in->code, "node")))
		return;
	if (n->retired) {
		rpc_fail(call, -EBUSY, "node %s is retired", n->code);
		return;
	}
	if (*in->new_parent_code) {
		/* The target check covered the node; the destination must be
		 * inside the caller's part of the grid too. */
		p = tree_find_code(g->tree, in->new_parent_code);
		if (!auth_allows(rpc_server(call)->auth, auth_principal(call), PERM_GRID_ADMIN,
				 p)) {
			rpc_fail(call, -EACCES, "MoveNode to %s is not allowed for %s",
				 in->new_parent_code, auth_actor(auth_principal(call)));
			return;
		}
		if (!(p = grid_lookup(call, in->new_parent_code, "new parent")))
			return;
		if (p->retired) {
			rpc_fail(call, -EBUSY, "new parent %s is retired", p->code);
			return;
		}
		if (tree_is_ancestor(n, p)) {
			rpc_fail(call, -ELOOP, "cannot move %s under %s: %s is inside its subtree",
				 n->code, p->code, p->code);
			return;
		}
		if (n->level <= p->level) {
			rpc_fail(call, -EBUSY, "a %s cannot be placed under %s, a %s",
				 grid_level_name(g, n->level), p->code,
				 grid_level_name(g, p->level));
			return;
		}
	} else if (!auth_allows(rpc_server(call)->auth, auth_principal(call), PERM_GRID_ADMIN,
				NULL)) {
		rpc_fail(call, -EACCES, "moving %s to the top is not allowed for %s", n->code,
			 auth_actor(auth_principal(call)));
		return;
	} else if (n->level != 0) {
		rpc_fail(call, -EBUSY, "a %s needs a parent; only a %s stands at the top",
			 grid_level_name(g, n->level), grid_level_name(g, 0));
		return;
	}
	if (!(params = params_new(call, 2)))
		return;
	params[0] = in->code;
	params[1] = in->new_parent_code;
	submit(call, GRID_STMT_MOVE, params, WRITE_NODE, n,
	       arena_printf(rpc_arena(call), "moved from under %s to under %s",
			    n->parent && n->parent->parent ? n->parent->code : "no parent",
			    p ? p->code : "no parent"));
}

void grid_retire_node(struct rpc_call *call)
{
	Grid__V1__RetireNodeRequest *in = rpc_request(call)->retire_node;
	const struct tree_node *n;
	const char **params;

	if (!(n = grid_lookup(call, in->code, "node")))
		return;
	if (n->retired) {
		rpc_fail(call, -EALREADY, "node %s is already retired", n->code);
		return;
	}
	if (n->active_children && !in->cascade) {
		rpc_fail(call, -ENOTEMPTY,
			 "node %s has %u active children: retire or move them first, or retire "
			 "the whole subtree (cascade)",
			 n->code, n->active_children);
		return;
	}
	if (!(params = params_new(call, 2)))
		return;
	params[0] = in->code;
	params[1] = in->cascade ? "true" : "false";
	submit(call, GRID_STMT_RETIRE, params, WRITE_RETIRE, n,
	       in->cascade ? "retired with its subtree" : "retired");
}
