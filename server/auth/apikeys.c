/* API keys of other city systems: CreateApiKey, ListApiKeys, RevokeApiKey.
 *
 * A key acts with the city_system role on its node's subtree, further
 * limited to the calls listed on it. Only its SHA-256 is stored; the secret
 * is shown once, in the reply that creates it. Revocation marks the live
 * principal at once here and, by NOTIFY, in every other process.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/buf.h"
#include "server/audit/audit.h"
#include "server/auth/auth_db.h"
#include "server/auth/auth_private.h"
#include "server/auth/perm.h"
#include "server/auth/token.h"
#include "server/db/pool.h"
#include "server/grid/grid.h"
#include "server/grid/tree.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

static const struct tree_node *node_of(const struct auth *a, int64_t id)
{
	return id ? tree_find_id(grid_tree(a->srv->grid), id) : NULL;
}

/* The row of key id in a key list, or -1. */
static int key_row(const PGresult *res, const char *id)
{
	for (int i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), id) == 0)
			return i;
	return -1;
}

static Grid__V1__ApiKey *key_msg(const struct auth *a, struct arena *arena, const PGresult *res,
				 int row)
{
	Grid__V1__ApiKey *k = arena_new(arena, Grid__V1__ApiKey);
	const struct tree_node *n;
	char **methods = NULL;
	size_t nmethods = 0;

	if (!k)
		return NULL;
	grid__v1__api_key__init(k);
	k->id = arena_strdup(arena, PQgetvalue(res, row, 0));
	k->name = arena_strdup(arena, PQgetvalue(res, row, 1));
	n = node_of(a, auth_db_i64(res, row, 2));
	k->node_code = (char *)(n ? n->code : "");
	if (auth_db_text_array(PQgetvalue(res, row, 3), &methods, &nmethods) < 0)
		return NULL;
	k->methods = arena_new_array(arena, char *, nmethods ? nmethods : 1);
	for (size_t i = 0; i < nmethods; i++) {
		if (k->methods)
			k->methods[i] = arena_strdup(arena, methods[i]);
		free(methods[i]);
	}
	free(methods);
	if (!k->id || !k->name || !k->methods)
		return NULL;
	k->n_methods = nmethods;
	k->expires_at_ms = auth_db_i64(res, row, 4);
	k->revoked = auth_db_bool(res, row, 5);
	k->created_at_ms = auth_db_i64(res, row, 6);
	k->created_by = arena_strdup(arena, PQgetvalue(res, row, 7));
	return k->created_by ? k : NULL;
}

/* --- CreateApiKey -------------------------------------------------------- */

struct create_key {
	struct rpc_call *call;
	char key[TOKEN_MAX];
	char id[TOKEN_KEY_ID_MAX];
	char hash_text[2 * TOKEN_HASH_SIZE + 3];
	const char *params[7];
};

static void on_key_created(struct db_query *q, int status, void *data)
{
	struct create_key *ck = data;
	struct rpc_call *call = ck->call;
	const Grid__V1__CreateApiKeyRequest *in = rpc_request(call)->create_api_key;
	struct arena *arena = rpc_arena(call);
	Grid__V1__CreateApiKeyReply *out = arena_new(arena, Grid__V1__CreateApiKeyReply);
	Grid__V1__ApiKey *k = arena_new(arena, Grid__V1__ApiKey);

	if (status < 0) {
		sodium_memzero(ck->key, sizeof(ck->key));
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	if (!out || !k) {
		sodium_memzero(ck->key, sizeof(ck->key));
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	grid__v1__create_api_key_reply__init(out);
	grid__v1__api_key__init(k);
	k->id = ck->id;
	k->name = in->name;
	k->node_code = in->node_code;
	k->methods = in->methods;
	k->n_methods = in->n_methods;
	k->expires_at_ms = in->expires_at_ms;
	k->created_at_ms = auth_db_i64(db_query_result(q, 0), 0, 0);
	k->created_by = (char *)auth_actor(auth_principal(call));
	out->key = ck->key;
	out->api_key = k;
	rpc_reply(call, out);
	sodium_memzero(ck->key, sizeof(ck->key));
}

void auth_create_api_key(struct rpc_call *call)
{
	const Grid__V1__CreateApiKeyRequest *in = rpc_request(call)->create_api_key;
	struct auth *a = auth_of(call);
	struct arena *arena = rpc_arena(call);
	struct create_key *ck = arena_new(arena, struct create_key);
	uint8_t hash[TOKEN_HASH_SIZE];
	struct db_query *q;
	int64_t node = 0;
	struct buf methods;
	int r;

	if (!ck) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (!*in->name || strlen(in->name) > 100) {
		rpc_fail(call, -EINVAL, "an API key needs a name of at most 100 characters");
		return;
	}
	if (in->expires_at_ms && in->expires_at_ms <= auth_now_ms()) {
		rpc_fail(call, -EINVAL, "the expiry is in the past");
		return;
	}
	if (auth_node_id(a, in->node_code, &node) < 0) {
		rpc_fail(call, -ENOENT, "node %s not found", in->node_code);
		return;
	}
	/* Every listed call must exist and be one a city system may make. */
	buf_init(&methods, 0);
	buf_putc(&methods, '{');
	for (size_t i = 0; i < in->n_methods; i++) {
		const struct rpc_method *m = rpc_method_by_name(in->methods[i]);
		if (!m || (m->perm != PERM_NONE &&
			   !(perm_of_role(GRID__V1__ROLE__ROLE_CITY_SYSTEM) & m->perm))) {
			buf_finish(&methods);
			rpc_fail(call, -EINVAL, "%s: %s", in->methods[i],
				 m ? "not a call a city system may make" : "no such call");
			return;
		}
		buf_printf(&methods, "%s%s", i ? "," : "", m->name);
	}
	buf_putc(&methods, '}');
	token_new_api_key(ck->key, ck->id);
	token_hash(ck->key, hash);
	token_bytea(hash, sizeof(hash), ck->hash_text);
	ck->call = call;
	ck->params[0] = ck->id;
	ck->params[1] = ck->hash_text;
	ck->params[2] = in->name;
	ck->params[3] = arena_printf(arena, "%" PRId64, node);
	ck->params[4] = buf_cstr(&methods) ? arena_strdup(arena, buf_cstr(&methods)) : NULL;
	ck->params[5] = arena_printf(arena, "%" PRId64, in->expires_at_ms);
	ck->params[6] = auth_actor(auth_principal(call));
	buf_finish(&methods);
	q = db_query_create(a->srv->db);
	r = q && ck->params[3] && ck->params[4] && ck->params[5] ? 0 : -ENOMEM;
	if (r == 0)
		r = db_query_add(q, &auth_stmts[AUTH_STMT_KEY_CREATE], ck->params);
	if (r == 0)
		r = audit_add_call(q, call, node_of(a, node),
				   "created API key %s (%s) for %s, calls %s", ck->id, in->name,
				   *in->node_code ? in->node_code : "the whole grid",
				   in->n_methods ? ck->params[4] : "all it may make");
	if (r < 0) {
		db_query_destroy(q);
		sodium_memzero(ck->key, sizeof(ck->key));
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	/* Not rpc_submit: an idempotency key would keep the reply, secret and
	 * all, in the database for a day. The secret is shown once; a client
	 * that lost the reply revokes the key by its name and makes another. */
	r = db_query_submit(q, rpc_time_left_ms(call), on_key_created, ck);
	if (r < 0) {
		sodium_memzero(ck->key, sizeof(ck->key));
		rpc_fail_db(call, r, "");
	}
}

/* --- ListApiKeys --------------------------------------------------------- */

static void on_keys(struct db_query *q, int status, void *data)
{
	struct rpc_call *call = data;
	struct auth *a = auth_of(call);
	struct principal *p = auth_principal(call);
	struct arena *arena = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);
	Grid__V1__ApiKeyList *out;
	int n;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	n = PQntuples(res);
	out = arena_new(arena, Grid__V1__ApiKeyList);
	if (!out)
		goto nomem;
	grid__v1__api_key_list__init(out);
	out->api_keys = arena_new_array(arena, Grid__V1__ApiKey *, n ? (size_t)n : 1);
	if (!out->api_keys)
		goto nomem;
	/* Keys are few; the caller sees those of the nodes it administers. */
	for (int i = 0; i < n; i++) {
		int64_t node = auth_db_i64(res, i, 2);
		if (!auth_allows(a, p, PERM_KEY_ADMIN, node_of(a, node)) ||
		    (node && !node_of(a, node)))
			continue;
		Grid__V1__ApiKey *k = key_msg(a, arena, res, i);
		if (!k)
			goto nomem;
		out->api_keys[out->n_api_keys++] = k;
	}
	rpc_reply(call, out);
	return;
nomem:
	rpc_fail(call, -ENOMEM, "out of memory");
}

void auth_list_api_keys(struct rpc_call *call)
{
	const Grid__V1__ListApiKeysRequest *in = rpc_request(call)->list_api_keys;
	const char **params = arena_new_array(rpc_arena(call), const char *, 1);
	struct db_query *q = db_query_create(auth_of(call)->srv->db);
	int r;

	if (!params || !q) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	params[0] = in->include_revoked ? "true" : "false";
	if (db_query_add(q, &auth_stmts[AUTH_STMT_KEY_LIST], params) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_keys, call);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

/* --- RevokeApiKey -------------------------------------------------------- */

struct revoke_key {
	struct rpc_call *call;
	const char *params[1];
	int64_t node;
};

static void end_key_sessions(void *data)
{
	struct revoke_key *rk = data;

	auth_revoke_key(auth_of(rk->call), rk->params[0]);
}

static void on_key_revoked(struct db_query *q, int status, void *data)
{
	struct revoke_key *rk = data;
	struct rpc_call *call = rk->call;
	PGresult *res = db_query_result(q, 1);
	Grid__V1__ApiKey *k;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	if (PQntuples(db_query_result(q, 0)) == 0) {
		/* Revoked meanwhile; with an idempotency key this rolls back. */
		rpc_fail(call, -EALREADY, "API key %s is already revoked", rk->params[0]);
		return;
	}
	rpc_after_commit(call, end_key_sessions, rk);
	int row = key_row(res, rk->params[0]);
	k = row >= 0 ? key_msg(auth_of(call), rpc_arena(call), res, row) : NULL;
	if (!k) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	k->revoked = true;
	rpc_reply(call, k);
}

static void on_key_to_revoke(struct db_query *q, int status, void *data)
{
	struct revoke_key *rk = data;
	struct rpc_call *call = rk->call;
	struct auth *a = auth_of(call);
	struct principal *p = auth_principal(call);
	PGresult *res = db_query_result(q, 0);
	struct db_query *rq;
	int r = -1;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	/* The key list statement holds every key: find this one. */
	r = key_row(res, rk->params[0]);
	if (r >= 0)
		rk->node = auth_db_i64(res, r, 2);
	if (r < 0 || !auth_allows(a, p, PERM_KEY_ADMIN, node_of(a, rk->node)) ||
	    (rk->node && !node_of(a, rk->node))) {
		rpc_fail(call, -EACCES, "%s may not revoke API key %s", auth_actor(p),
			 rk->params[0]);
		return;
	}
	/* A retry with an idempotency key gets the first reply instead. */
	if (auth_db_bool(res, r, 5) && !*rpc_request(call)->idempotency_key) {
		rpc_fail(call, -EALREADY, "API key %s is already revoked", rk->params[0]);
		return;
	}
	static const char *const all[] = {"true"};
	rq = db_query_create(a->srv->db);
	r = rq ? db_query_add(rq, &auth_stmts[AUTH_STMT_KEY_REVOKE], rk->params) : -ENOMEM;
	if (r == 0)
		r = db_query_add(rq, &auth_stmts[AUTH_STMT_KEY_LIST], all);
	if (r == 0)
		r = audit_add_call(rq, call, node_of(a, rk->node), "revoked API key %s",
				   rk->params[0]);
	if (r < 0) {
		db_query_destroy(rq);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_submit(call, rq, on_key_revoked, rk);
}

void auth_revoke_api_key(struct rpc_call *call)
{
	const Grid__V1__RevokeApiKeyRequest *in = rpc_request(call)->revoke_api_key;
	static const char *const all[] = {"true"};
	struct revoke_key *rk = arena_new(rpc_arena(call), struct revoke_key);
	struct db_query *q = db_query_create(auth_of(call)->srv->db);
	int r;

	if (!rk || !q) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rk->call = call;
	rk->params[0] = in->id;
	if (db_query_add(q, &auth_stmts[AUTH_STMT_KEY_LIST], all) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_key_to_revoke, rk);
	if (r < 0)
		rpc_fail_db(call, r, "");
}
