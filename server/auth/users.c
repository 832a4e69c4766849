/* Accounts and their roles: CreateUser, ListUsers, SetUserDisabled,
 * GrantRole, RevokeRole.
 *
 * Who may change whom: the dispatch table already checked that the caller
 * administers users on the call's node; here each grant is checked against
 * what the caller may hand out there (perm_may_grant: nobody gives more than
 * they hold), and disabling an account needs authority over every node
 * where it holds a role. Changes reach the affected sessions at once: in
 * this process directly, in others by NOTIFY from the same transaction.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/buf.h"
#include "common/utf8.h"
#include "server/audit/audit.h"
#include "server/auth/auth_db.h"
#include "server/auth/auth_private.h"
#include "server/auth/perm.h"
#include "server/config.h"
#include "server/db/pool.h"
#include "server/grid/grid.h"
#include "server/grid/tree.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

static const struct tree_node *node_of(const struct auth *a, int64_t id)
{
	return id ? tree_find_id(grid_tree(a->srv->grid), id) : NULL;
}

static const char *node_label(const struct auth *a, int64_t id)
{
	const struct tree_node *n = node_of(a, id);

	return !id ? "the whole grid" : n ? n->code : "?";
}

/* A User message from a USER_COLS row. */
static Grid__V1__User *user_msg(const struct auth *a, struct arena *arena, const PGresult *res,
				int row)
{
	Grid__V1__User *u = arena_new(arena, Grid__V1__User);
	const char *grants = PQgetvalue(res, row, USER_COL_GRANTS);
	size_t n = 0, k = 0;

	if (!u)
		return NULL;
	grid__v1__user__init(u);
	u->username = arena_strdup(arena, PQgetvalue(res, row, USER_COL_USERNAME));
	u->display_name = arena_strdup(arena, PQgetvalue(res, row, USER_COL_DISPLAY_NAME));
	u->phone = arena_strdup(arena, PQgetvalue(res, row, USER_COL_PHONE));
	u->disabled = auth_db_bool(res, row, USER_COL_DISABLED);
	u->created_at_ms = auth_db_i64(res, row, USER_COL_CREATED_MS);
	for (const char *p = grants; *p; p++)
		n += *p == ',';
	n += *grants ? 1 : 0;
	u->roles = arena_new_array(arena, Grid__V1__RoleGrant *, n ? n : 1);
	if (!u->username || !u->display_name || !u->phone || !u->roles)
		return NULL;
	for (const char *p = grants; *p && k < n;) {
		int role = atoi(p);
		const char *colon = strchr(p, ':');
		int64_t node = colon ? strtoll(colon + 1, NULL, 10) : 0;
		u->roles[k] = auth_grant_msg(a, arena, role, node);
		if (!u->roles[k])
			return NULL;
		k++;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	u->n_roles = k;
	return u;
}

/* Reads a role grant of a request; fails the call and returns -errno when
 * it is not one the caller may give (or take back). */
static int check_grant(struct rpc_call *call, const Grid__V1__RoleGrant *g, int64_t *ret_node)
{
	struct auth *a = auth_of(call);

	if (!g) {
		rpc_fail(call, -EINVAL, "no role given");
		return -EINVAL;
	}
	if (g->role < ROLE_MIN || g->role > ROLE_MAX) {
		rpc_fail(call, -EINVAL, "unknown role %d", (int)g->role);
		return -EINVAL;
	}
	if (g->role == GRID__V1__ROLE__ROLE_CITY_SYSTEM) {
		rpc_fail(call, -EINVAL, "city_system is the role of API keys, not of people");
		return -EINVAL;
	}
	if (auth_node_id(a, g->node_code, ret_node) < 0 &&
	    auth_allows(a, auth_principal(call), PERM_USER_ADMIN, NULL)) {
		/* Only a whole-grid administrator learns what does not exist. */
		rpc_fail(call, -ENOENT, "node %s not found", g->node_code);
		return -ENOENT;
	}
	if (auth_node_id(a, g->node_code, ret_node) < 0 ||
	    !auth_may_grant(a, auth_principal(call), g->role, *ret_node)) {
		/* Unknown nodes look like forbidden ones. */
		rpc_fail(call, -EACCES, "%s may not give or take the role %s on %s",
			 auth_actor(auth_principal(call)), perm_role_name(g->role),
			 *g->node_code ? g->node_code : "the whole grid");
		return -EACCES;
	}
	return 0;
}

/* Replies with the user row of res (statement index i). */
static void reply_user(struct rpc_call *call, PGresult *res)
{
	Grid__V1__User *u;

	if (!res || PQntuples(res) != 1) {
		rpc_fail(call, -ENOENT, "no such user");
		return;
	}
	u = user_msg(auth_of(call), rpc_arena(call), res, 0);
	if (!u) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_reply(call, u);
}

/* --- CreateUser ---------------------------------------------------------- */

struct create {
	struct rpc_call *call;
	const char *params[7];
	const char *get_params[1];
	const char *roles_text; /* "resident@WH-TZL-Z5-ZTY-B1, ..." */
	int64_t first_node;	/* where the audit entry is filed */
};

static void on_user_created(struct db_query *q, int status, void *data)
{
	struct create *c = data;

	if (status == -EEXIST) {
		rpc_fail(c->call, -EEXIST, "user %s exists already", c->params[0]);
		return;
	}
	if (status < 0) {
		rpc_fail_db(c->call, status, db_query_error(q));
		return;
	}
	reply_user(c->call, db_query_result(q, 1));
}

static void on_user_hashed(int status, const char *hash, void *data)
{
	struct create *c = data;
	struct rpc_call *call = c->call;
	struct db_query *q;
	int r;

	if (status < 0 || !hash) {
		rpc_fail(call, status == -ECANCELED ? -EAGAIN : -ENOMEM,
			 "cannot hash the password now; try again");
		return;
	}
	c->params[3] = arena_strdup(rpc_arena(call), hash);
	c->get_params[0] = c->params[0];
	q = db_query_create(auth_of(call)->srv->db);
	r = q && c->params[3] ? 0 : -ENOMEM;
	if (r == 0)
		r = db_query_add(q, &auth_stmts[AUTH_STMT_USER_CREATE], c->params);
	if (r == 0)
		r = db_query_add(q, &auth_stmts[AUTH_STMT_USER_GET], c->get_params);
	if (r == 0)
		r = audit_add_call(q, call, node_of(auth_of(call), c->first_node),
				   "created user %s (%s) with roles: %s", c->params[0],
				   c->params[1], c->roles_text);
	if (r < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_submit(call, q, on_user_created, c);
}

void auth_create_user(struct rpc_call *call)
{
	Grid__V1__CreateUserRequest *in = rpc_request(call)->create_user;
	struct auth *a = auth_of(call);
	struct arena *arena = rpc_arena(call);
	struct create *c = arena_new(arena, struct create);
	struct buf roles, nodes;
	const char *why;
	int r = 0;

	if (!c) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if ((why = auth_check_username(in->username)) ||
	    (why = auth_check_password(in->password))) {
		sodium_memzero(in->password, strlen(in->password));
		rpc_fail(call, -EINVAL, "%s", why);
		return;
	}
	if (!utf8_valid(in->display_name, strlen(in->display_name)) ||
	    utf8_length(in->display_name) > 100) {
		rpc_fail(call, -EINVAL,
			 "the display name must be valid UTF-8, at most 100 characters");
		return;
	}
	for (const char *p = in->phone; *p; p++) {
		if (!strchr("0123456789+-() ", *p) || strlen(in->phone) > 32) {
			rpc_fail(call, -EINVAL, "phone may hold only digits, spaces and + - ( )");
			return;
		}
	}
	struct buf text;
	buf_init(&roles, 0);
	buf_init(&nodes, 0);
	buf_init(&text, 0);
	buf_putc(&roles, '{');
	buf_putc(&nodes, '{');
	for (size_t i = 0; i < in->n_roles; i++) {
		int64_t node;
		if (check_grant(call, in->roles[i], &node) < 0) {
			buf_finish(&roles);
			buf_finish(&nodes);
			buf_finish(&text);
			return;
		}
		if (i == 0)
			c->first_node = node;
		buf_printf(&roles, "%s%d", i ? "," : "", (int)in->roles[i]->role);
		buf_printf(&nodes, "%s%" PRId64, i ? "," : "", node);
		buf_printf(&text, "%s%s@%s", i ? ", " : "", perm_role_name(in->roles[i]->role),
			   node ? in->roles[i]->node_code : "the whole grid");
	}
	buf_putc(&roles, '}');
	buf_putc(&nodes, '}');
	c->roles_text = arena_strdup(arena, buf_cstr(&text) && text.len ? buf_cstr(&text) : "none");
	buf_finish(&text);
	c->call = call;
	c->params[0] = in->username;
	c->params[1] = in->display_name;
	c->params[2] = in->phone;
	c->params[4] = buf_cstr(&roles) ? arena_strdup(arena, buf_cstr(&roles)) : NULL;
	c->params[5] = buf_cstr(&nodes) ? arena_strdup(arena, buf_cstr(&nodes)) : NULL;
	c->params[6] = auth_actor(auth_principal(call));
	buf_finish(&roles);
	buf_finish(&nodes);
	if (!c->params[4] || !c->params[5]) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = hasher_hash(a->hasher, in->password, on_user_hashed, c);
	sodium_memzero(in->password, strlen(in->password));
	if (r < 0)
		rpc_fail(call, -EAGAIN, "too many password hashes at once; try again");
}

/* --- ListUsers ----------------------------------------------------------- */

struct list_users {
	struct rpc_call *call;
	uint32_t limit;
	const char *params[4];
};

static void on_users(struct db_query *q, int status, void *data)
{
	struct list_users *lu = data;
	struct rpc_call *call = lu->call;
	struct arena *arena = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);
	Grid__V1__UserList *out;
	int n;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	n = PQntuples(res);
	out = arena_new(arena, Grid__V1__UserList);
	if (!out)
		goto nomem;
	grid__v1__user_list__init(out);
	out->users = arena_new_array(arena, Grid__V1__User *, n ? (size_t)n : 1);
	if (!out->users)
		goto nomem;
	for (int i = 0; i < n; i++) {
		out->users[i] = user_msg(auth_of(call), arena, res, i);
		if (!out->users[i])
			goto nomem;
	}
	out->n_users = (size_t)n;
	out->next_page_token = (char *)"";
	if ((uint32_t)n == lu->limit && n > 0)
		out->next_page_token = out->users[n - 1]->username;
	rpc_reply(call, out);
	return;
nomem:
	rpc_fail(call, -ENOMEM, "out of memory");
}

void auth_list_users(struct rpc_call *call)
{
	const Grid__V1__ListUsersRequest *in = rpc_request(call)->list_users;
	struct auth *a = auth_of(call);
	const struct config *cfg = a->srv->cfg;
	struct principal *p = auth_principal(call);
	struct arena *arena = rpc_arena(call);
	struct list_users *lu = arena_new(arena, struct list_users);
	bool everything = false;
	struct db_query *q;
	struct buf ids;
	int r;

	if (!lu) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	lu->call = call;
	lu->limit = in->page_size ? in->page_size : cfg->default_page_size;
	if (lu->limit > cfg->max_page_size)
		lu->limit = cfg->max_page_size;
	buf_init(&ids, 0);
	buf_putc(&ids, '{');
	if (*in->node_code) {
		int64_t id;
		if (auth_node_id(a, in->node_code, &id) < 0) {
			buf_finish(&ids);
			rpc_fail(call, -ENOENT, "node %s not found", in->node_code);
			return;
		}
		buf_printf(&ids, "%" PRId64, id);
	} else if (auth_allows(a, p, PERM_USER_ADMIN, NULL)) {
		everything = true;
	} else {
		for (size_t i = 0; i < p->ngrants; i++)
			if ((perm_of_role(p->grants[i].role) & PERM_USER_ADMIN) &&
			    p->grants[i].node_id)
				buf_printf(&ids, "%s%" PRId64, ids.len > 1 ? "," : "",
					   p->grants[i].node_id);
	}
	buf_putc(&ids, '}');
	lu->params[0] = in->page_token;
	lu->params[1] = everything ? "true" : "false";
	lu->params[2] = buf_cstr(&ids) ? arena_strdup(arena, buf_cstr(&ids)) : NULL;
	lu->params[3] = arena_printf(arena, "%u", lu->limit);
	buf_finish(&ids);
	q = db_query_create(a->srv->db);
	if (!q || !lu->params[2] || !lu->params[3] ||
	    db_query_add(q, &auth_stmts[AUTH_STMT_USER_LIST], lu->params) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_users, lu);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

/* --- SetUserDisabled ----------------------------------------------------- */

struct disable {
	struct rpc_call *call;
	bool disabled;
	int64_t account_id;
	int64_t first_node; /* where the audit entry is filed */
	char id_text[24];
	const char *params[2];
	const char *get_params[1];
};

static void end_sessions(void *data)
{
	struct disable *d = data;

	auth_revoke_account(auth_of(d->call), d->account_id);
}

static void on_disabled(struct db_query *q, int status, void *data)
{
	struct disable *d = data;

	if (status < 0) {
		rpc_fail_db(d->call, status, db_query_error(q));
		return;
	}
	if (d->disabled)
		rpc_after_commit(d->call, end_sessions, d);
	reply_user(d->call, db_query_result(q, 1));
}

static void on_user_to_disable(struct db_query *q, int status, void *data)
{
	struct disable *d = data;
	struct rpc_call *call = d->call;
	struct auth *a = auth_of(call);
	struct principal *p = auth_principal(call);
	PGresult *res = db_query_result(q, 0);
	const char *grants;
	struct db_query *uq;
	int r;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	/* Unknown users look like users outside the caller's reach. */
	if (PQntuples(res) != 1) {
		rpc_fail(call, -EACCES, "%s may not change user %s", auth_actor(p),
			 d->get_params[0]);
		return;
	}
	d->account_id = auth_db_i64(res, 0, USER_COL_ID);
	if (p->kind == PRINCIPAL_USER && p->account_id == d->account_id && d->disabled) {
		rpc_fail(call, -EBUSY, "you cannot disable your own account");
		return;
	}
	grants = PQgetvalue(res, 0, USER_COL_GRANTS);
	for (const char *g = grants; *g;) {
		const char *colon = strchr(g, ':');
		int64_t node = colon ? strtoll(colon + 1, NULL, 10) : 0;
		if (g == grants)
			d->first_node = node;
		if (!auth_allows(a, p, PERM_USER_ADMIN, node_of(a, node)) ||
		    (node && !node_of(a, node))) {
			rpc_fail(call, -EACCES, "%s may not change user %s, who holds a role on %s",
				 auth_actor(p), d->get_params[0], node_label(a, node));
			return;
		}
		g = strchr(g, ',');
		if (!g)
			break;
		g++;
	}
	if (!*grants && !auth_allows(a, p, PERM_USER_ADMIN, NULL) &&
	    !auth_allows_somewhere(p, PERM_USER_ADMIN)) {
		rpc_fail(call, -EACCES, "%s may not change user %s", auth_actor(p),
			 d->get_params[0]);
		return;
	}
	snprintf(d->id_text, sizeof(d->id_text), "%" PRId64, d->account_id);
	d->params[0] = d->id_text;
	d->params[1] = d->disabled ? "true" : "false";
	uq = db_query_create(a->srv->db);
	r = uq ? db_query_add(uq, &auth_stmts[AUTH_STMT_USER_SET_DISABLED], d->params) : -ENOMEM;
	if (r == 0)
		r = db_query_add(uq, &auth_stmts[AUTH_STMT_USER_GET], d->get_params);
	if (r == 0)
		r = audit_add_call(uq, call, node_of(a, d->first_node), "%s user %s",
				   d->disabled ? "disabled" : "enabled", d->get_params[0]);
	if (r < 0) {
		db_query_destroy(uq);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_submit(call, uq, on_disabled, d);
}

void auth_set_user_disabled(struct rpc_call *call)
{
	const Grid__V1__SetUserDisabledRequest *in = rpc_request(call)->set_user_disabled;
	struct disable *d = arena_new(rpc_arena(call), struct disable);
	struct db_query *q;
	int r;

	if (!d) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	d->call = call;
	d->disabled = in->disabled;
	d->get_params[0] = in->username;
	q = db_query_create(auth_of(call)->srv->db);
	if (!q || db_query_add(q, &auth_stmts[AUTH_STMT_USER_GET], d->get_params) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_user_to_disable, d);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

/* --- GrantRole, RevokeRole ----------------------------------------------- */

struct grant_ctx {
	struct rpc_call *call;
	bool revoke;
	int64_t account_id;
	char role_text[8], node_text[24];
	const char *params[4];
	const char *get_params[1];
};

/* Sessions of the user here pick up the change before we answer. */
static void apply_grant(void *data)
{
	struct grant_ctx *g = data;
	struct auth *a = auth_of(g->call);

	auth_reload_account(a, g->account_id);
	if (g->revoke)
		auth_revoke_grant(a, g->account_id, atoi(g->role_text),
				  strtoll(g->node_text, NULL, 10));
}

static void on_grant_done(struct db_query *q, int status, void *data)
{
	struct grant_ctx *g = data;
	PGresult *user = db_query_result(q, 1);

	/* The functions raise for an unknown user or a grant not held, and
	 * then nothing was written, audit entry included. */
	if (status < 0) {
		rpc_fail_db(g->call, status, db_query_error(q));
		return;
	}
	g->account_id = auth_db_i64(user, 0, USER_COL_ID);
	rpc_after_commit(g->call, apply_grant, g);
	reply_user(g->call, user);
}

static void grant_or_revoke(struct rpc_call *call, const char *username,
			    const Grid__V1__RoleGrant *grant, bool revoke)
{
	struct grant_ctx *g = arena_new(rpc_arena(call), struct grant_ctx);
	struct db_query *q;
	int64_t node;
	int r;

	if (!g) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (check_grant(call, grant, &node) < 0)
		return;
	g->call = call;
	g->revoke = revoke;
	snprintf(g->role_text, sizeof(g->role_text), "%d", (int)grant->role);
	snprintf(g->node_text, sizeof(g->node_text), "%" PRId64, node);
	g->params[0] = username;
	g->params[1] = g->role_text;
	g->params[2] = g->node_text;
	g->params[3] = auth_actor(auth_principal(call));
	g->get_params[0] = username;
	q = db_query_create(auth_of(call)->srv->db);
	r = q ? 0 : -ENOMEM;
	if (r == 0)
		r = db_query_add(q, &auth_stmts[revoke ? AUTH_STMT_REVOKE : AUTH_STMT_GRANT],
				 g->params);
	if (r == 0)
		r = db_query_add(q, &auth_stmts[AUTH_STMT_USER_GET], g->get_params);
	if (r == 0)
		r = audit_add_call(q, call, node_of(auth_of(call), node), "%s %s %s on %s",
				   revoke ? "took" : "gave", username, perm_role_name(grant->role),
				   *grant->node_code ? grant->node_code : "the whole grid");
	if (r < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_submit(call, q, on_grant_done, g);
}

void auth_grant_role(struct rpc_call *call)
{
	const Grid__V1__GrantRoleRequest *in = rpc_request(call)->grant_role;

	grant_or_revoke(call, in->username, in->grant, false);
}

void auth_revoke_role(struct rpc_call *call)
{
	const Grid__V1__RevokeRoleRequest *in = rpc_request(call)->revoke_role;

	grant_or_revoke(call, in->username, in->grant, true);
}
