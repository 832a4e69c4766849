/* The accounts domain's core: its lifecycle, the registry of live
 * principals, authorization of every call, and following other processes'
 * changes; see auth.h.
 *
 * Principals are shared: every connection authenticated with the same
 * session token or API key points at one struct principal, found by the
 * token's hash. A change (logout, disabled account, revoked role or key)
 * updates that one object, so it reaches every connection at once. Changes
 * made by other gridd processes arrive as NOTIFY auth_changed and are read
 * back from the database.
 */
#include "server/auth/auth.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/buf.h"

#include "server/auth/auth_db.h"
#include "server/auth/auth_private.h"
#include "server/auth/perm.h"
#include "server/auth/token.h"
#include "server/config.h"
#include "server/db/pool.h"
#include "server/grid/grid.h"
#include "server/grid/tree.h"
#include "server/log.h"
#include "server/net/conn.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

/* last_used reaches the database at most this often per session. */
#define TOUCH_EVERY_MS 60000
/* Addresses remembered for throttling; the oldest go first. */
#define THROTTLE_MAX 10000
#define THROTTLE_WINDOW_MS (10 * 60 * 1000)
#define THROTTLE_MAX_WAIT_MS (15 * 60 * 1000)

struct throttle {
	char addr[48];
	unsigned failures;
	int64_t first_ms;
	int64_t blocked_until_ms;
};

int64_t auth_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct auth *auth_of(const struct rpc_call *call)
{
	return rpc_server(call)->auth;
}

static struct tree *auth_tree(const struct auth *a)
{
	return grid_tree(a->srv->grid);
}

/* --- the registry of principals ------------------------------------------ */

static uint64_t hash_principal(const void *elem)
{
	const struct principal *p = elem;
	uint64_t h;

	memcpy(&h, p->hash, sizeof(h));
	return h;
}

static int eq_principal(const void *elem, const void *key)
{
	return memcmp(((const struct principal *)elem)->hash, key, PRINCIPAL_HASH_SIZE) == 0;
}

struct principal *auth_principal_find(struct auth *a, const uint8_t hash[PRINCIPAL_HASH_SIZE])
{
	uint64_t h;

	memcpy(&h, hash, sizeof(h));
	return htab_find(&a->by_hash, hash, h);
}

struct principal *auth_principal_new(struct auth *a, enum principal_kind kind,
				     const uint8_t hash[PRINCIPAL_HASH_SIZE])
{
	struct principal *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->refs = 1;
	p->kind = kind;
	p->owner = a;
	memcpy(p->hash, hash, PRINCIPAL_HASH_SIZE);
	list_init(&p->link);
	if (htab_insert(&a->by_hash, p) < 0) {
		free(p);
		return NULL;
	}
	list_append(&a->principals, &p->link);
	return p;
}

void principal_ref(struct principal *p)
{
	p->refs++;
}

void principal_unref(struct principal *p)
{
	if (!p || --p->refs > 0)
		return;
	if (p->owner) {
		uint64_t h;
		memcpy(&h, p->hash, sizeof(h));
		htab_remove(&p->owner->by_hash, p->hash, h);
	}
	list_remove(&p->link);
	for (size_t i = 0; i < p->nmethods; i++)
		free(p->methods[i]);
	free(p->methods);
	free(p->grants);
	free(p->name);
	free(p->display_name);
	sodium_memzero(p->hash, sizeof(p->hash));
	free(p);
}

int auth_set_grants(struct principal *p, const PGresult *res)
{
	int n = PQntuples(res);
	struct grant *g = n ? calloc((size_t)n, sizeof(*g)) : NULL;

	if (n && !g)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		g[i].role = (int)auth_db_i64(res, i, 0);
		g[i].node_id = auth_db_i64(res, i, 1);
	}
	free(p->grants);
	p->grants = g;
	p->ngrants = (size_t)n;
	return 0;
}

/* --- authorization ------------------------------------------------------- */

bool auth_allows(const struct auth *a, const struct principal *p, unsigned perm,
		 const struct tree_node *n)
{
	for (size_t i = 0; i < p->ngrants; i++) {
		const struct grant *g = &p->grants[i];
		if (!(perm_of_role(g->role) & perm))
			continue;
		if (g->node_id == 0)
			return true;
		if (n) {
			const struct tree_node *gn = tree_find_id(auth_tree(a), g->node_id);
			if (gn && tree_is_ancestor(gn, n))
				return true;
		}
	}
	return false;
}

bool auth_allows_somewhere(const struct principal *p, unsigned perm)
{
	for (size_t i = 0; i < p->ngrants; i++)
		if (perm_of_role(p->grants[i].role) & perm)
			return true;
	return false;
}

bool auth_may_grant(const struct auth *a, const struct principal *p, int role, int64_t node_id)
{
	const struct tree_node *n = node_id ? tree_find_id(auth_tree(a), node_id) : NULL;

	if (node_id && !n)
		return false;
	for (size_t i = 0; i < p->ngrants; i++) {
		const struct grant *g = &p->grants[i];
		if (!perm_may_grant(g->role, role))
			continue;
		if (g->node_id == 0)
			return true;
		const struct tree_node *gn = tree_find_id(auth_tree(a), g->node_id);
		if (n && gn && tree_is_ancestor(gn, n))
			return true;
	}
	return false;
}

const char *auth_scope_param(struct rpc_call *call, unsigned perm)
{
	struct auth *a = auth_of(call);
	struct principal *p = auth_principal(call);
	struct buf b;
	const char *out;

	if (!p)
		return "{}";
	if (auth_allows(a, p, perm, NULL))
		return NULL;
	buf_init(&b, 0);
	buf_putc(&b, '{');
	for (size_t i = 0; i < p->ngrants; i++)
		if ((perm_of_role(p->grants[i].role) & perm) && p->grants[i].node_id)
			buf_printf(&b, "%s%" PRId64, b.len > 1 ? "," : "", p->grants[i].node_id);
	buf_putc(&b, '}');
	out = buf_cstr(&b) ? arena_strdup(rpc_arena(call), buf_cstr(&b)) : NULL;
	buf_finish(&b);
	return out ? out : "{}";
}

const char *auth_actor(const struct principal *p)
{
	return p && p->name ? p->name : "anonymous";
}

struct principal *auth_principal(const struct rpc_call *call)
{
	return conn_principal(rpc_conn(call));
}

/* A query about one principal, which it keeps alive until it is done. */
void auth_revoke_grant(struct auth *a, int64_t account_id, int role, int64_t node_id)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &a->principals)
	{
		struct principal *p = list_entry(pos, struct principal, link);
		if (p->kind != PRINCIPAL_USER || p->account_id != account_id)
			continue;
		for (size_t i = 0; i < p->ngrants; i++) {
			if (p->grants[i].role == role && p->grants[i].node_id == node_id) {
				p->grants[i] = p->grants[--p->ngrants];
				i--;
			}
		}
	}
}

struct principal_query {
	struct principal *p;
	char hash[2 * PRINCIPAL_HASH_SIZE + 3];
	const char *params[1];
};

static struct principal_query *principal_query_new(struct principal *p)
{
	struct principal_query *pq = calloc(1, sizeof(*pq));

	if (!pq)
		return NULL;
	pq->p = p;
	principal_ref(p);
	token_bytea(p->hash, PRINCIPAL_HASH_SIZE, pq->hash);
	pq->params[0] = p->kind == PRINCIPAL_USER ? pq->hash : p->name;
	return pq;
}

static void principal_query_free(struct principal_query *pq)
{
	principal_unref(pq->p);
	free(pq);
}

static void on_touch_done(struct db_query *q, int status, void *data)
{
	principal_query_free(data);
}

/* Keeps the session's last use in the database roughly current, so that
 * idle expiry holds across processes and restarts. Fire and forget. */
static void touch_session(struct auth *a, struct principal *p, int64_t now)
{
	struct principal_query *pq;
	struct db_query *q;

	if (p->kind != PRINCIPAL_USER || now - p->persisted_ms < TOUCH_EVERY_MS)
		return;
	p->persisted_ms = now;
	pq = principal_query_new(p);
	q = db_query_create(a->srv->db);
	if (!pq || !q || db_query_add(q, &auth_stmts[AUTH_STMT_SESSION_TOUCH], pq->params) < 0) {
		db_query_destroy(q);
		if (pq)
			principal_query_free(pq);
		return;
	}
	if (db_query_submit(q, 0, on_touch_done, pq) < 0)
		principal_query_free(pq);
}

int auth_check_call(struct rpc_call *call, const struct rpc_method *m)
{
	struct auth *a = auth_of(call);
	struct principal *p = auth_principal(call);
	const char *code;
	int64_t now;

	if (m->perm == PERM_NONE)
		return 0;
	if (!p) {
		rpc_fail(call, -ENOKEY,
			 "log in first (Login, or Authenticate with a token or API key)");
		return -ENOKEY;
	}
	if (p->revoked) {
		rpc_fail(call, -EKEYREVOKED,
			 "the session has ended (logged out, account disabled or key revoked); log "
			 "in again");
		return -EKEYREVOKED;
	}
	now = auth_now_ms();
	if (p->expires_at_ms && now >= p->expires_at_ms) {
		rpc_fail(call, -EKEYEXPIRED, "the %s has expired; log in again",
			 p->kind == PRINCIPAL_USER ? "session" : "API key");
		return -EKEYEXPIRED;
	}
	if (p->kind == PRINCIPAL_USER &&
	    now - p->last_used_ms > (int64_t)a->srv->cfg->session_idle_ms) {
		p->revoked = true;
		rpc_fail(call, -EKEYEXPIRED,
			 "the session expired after %u minutes unused; log in again",
			 a->srv->cfg->session_idle_ms / 60000);
		return -EKEYEXPIRED;
	}
	p->last_used_ms = now;
	touch_session(a, p, now);

	/* A key's list of calls limits what it does on the grid; the calls
	 * about the session itself (WhoAmI, Logout) stay open to it. */
	if (p->nmethods && m->perm != PERM_SELF) {
		bool listed = false;
		for (size_t i = 0; i < p->nmethods && !listed; i++)
			listed = strcmp(p->methods[i], m->name) == 0;
		if (!listed) {
			rpc_fail(call, -EACCES, "this API key may not call %s", m->name);
			return -EACCES;
		}
	}
	if (m->perm == PERM_SELF)
		return 0;

	code = m->target ? m->target(rpc_request(call)) : "";
	if (!*code) {
		if (auth_allows(a, p, m->perm, NULL) ||
		    ((m->flags & RPC_SCOPED) && auth_allows_somewhere(p, m->perm)))
			return 0;
		if (m->flags & RPC_SCOPED)
			rpc_fail(call, -EACCES, "%s is not allowed for %s anywhere in the grid",
				 m->name, auth_actor(p));
		else
			rpc_fail(call, -EACCES, "%s on the whole grid is not allowed for %s",
				 m->name, auth_actor(p));
		return -EACCES;
	}
	/* A node that does not exist is refused like one outside the caller's
	 * subtree; only whole-grid callers learn it is missing. */
	const struct tree_node *n = tree_find_code(auth_tree(a), code);
	if (auth_allows(a, p, m->perm, n))
		return 0;
	rpc_fail(call, -EACCES, "%s on %s is not allowed for %s", m->name, code, auth_actor(p));
	return -EACCES;
}

/* --- messages ------------------------------------------------------------ */

Grid__V1__RoleGrant *auth_grant_msg(const struct auth *a, struct arena *arena, int role,
				    int64_t node_id)
{
	Grid__V1__RoleGrant *g = arena_new(arena, Grid__V1__RoleGrant);
	const struct tree_node *n;

	if (!g)
		return NULL;
	grid__v1__role_grant__init(g);
	g->role = (Grid__V1__Role)role;
	if (node_id) {
		n = tree_find_id(auth_tree(a), node_id);
		g->node_code = (char *)(n ? n->code : "?");
	}
	return g;
}

Grid__V1__Principal *auth_principal_msg(const struct auth *a, struct arena *arena,
					const struct principal *p)
{
	Grid__V1__Principal *m = arena_new(arena, Grid__V1__Principal);

	if (!m)
		return NULL;
	grid__v1__principal__init(m);
	m->kind = (char *)(p->kind == PRINCIPAL_USER ? "user" : "api_key");
	m->username = p->name;
	m->display_name = p->display_name;
	m->expires_at_ms = p->expires_at_ms;
	m->roles = arena_new_array(arena, Grid__V1__RoleGrant *, p->ngrants ? p->ngrants : 1);
	if (!m->roles)
		return NULL;
	for (size_t i = 0; i < p->ngrants; i++) {
		m->roles[i] = auth_grant_msg(a, arena, p->grants[i].role, p->grants[i].node_id);
		if (!m->roles[i])
			return NULL;
	}
	m->n_roles = p->ngrants;
	m->methods = p->methods;
	m->n_methods = p->nmethods;
	return m;
}

int auth_node_id(const struct auth *a, const char *code, int64_t *ret_id)
{
	const struct tree_node *n;

	if (!code || !*code) {
		*ret_id = 0;
		return 0;
	}
	n = tree_find_code(auth_tree(a), code);
	if (!n)
		return -ENOENT;
	*ret_id = n->id;
	return 0;
}

const char *auth_check_username(const char *u)
{
	size_t n = strlen(u);

	if (n < 2 || n > 64)
		return "a username has 2 to 64 characters";
	if (!((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= '0' && u[0] <= '9')))
		return "a username starts with a lower-case letter or a digit";
	for (const char *p = u; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-'))
			return "a username holds only lower-case letters, digits, '.', '_' and '-'";
	return NULL;
}

const char *auth_check_password(const char *password)
{
	size_t n = strlen(password);

	if (n < 10)
		return "a password needs at least 10 characters";
	if (n > 1024)
		return "a password has at most 1024 characters";
	return NULL;
}

/* --- revocation and following other processes ----------------------------- */

void auth_revoke_session(struct auth *a, const uint8_t hash[PRINCIPAL_HASH_SIZE])
{
	struct principal *p = auth_principal_find(a, hash);

	if (p)
		p->revoked = true;
}

void auth_revoke_account(struct auth *a, int64_t account_id)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &a->principals)
	{
		struct principal *p = list_entry(pos, struct principal, link);
		if (p->kind == PRINCIPAL_USER && p->account_id == account_id)
			p->revoked = true;
	}
}

void auth_revoke_key(struct auth *a, const char *key_id)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &a->principals)
	{
		struct principal *p = list_entry(pos, struct principal, link);
		if (p->kind == PRINCIPAL_API_KEY && strcmp(p->name, key_id) == 0)
			p->revoked = true;
	}
}

static void on_reload(struct db_query *q, int status, void *data)
{
	struct principal_query *pq = data;
	struct principal *p = pq->p;
	PGresult *res = db_query_result(q, 0);

	if (status == 0 && res) {
		if (p->kind == PRINCIPAL_USER) {
			/* session_lookup: disabled (3), revoked (4), expiry (5);
			 * then the grants. */
			if (PQntuples(res) != 1 || auth_db_bool(res, 0, 3) ||
			    auth_db_bool(res, 0, 4)) {
				p->revoked = true;
			} else {
				p->expires_at_ms = auth_db_i64(res, 0, 5);
				auth_set_grants(p, db_query_result(q, 1));
			}
		} else if (PQntuples(res) != 1 || auth_db_bool(res, 0, 4)) {
			p->revoked = true;
		}
	} else if (status != -ECANCELED) {
		log_warn("event=auth_reload_failed principal=%s error=\"%s\"", auth_actor(p),
			 db_query_error(q));
	}
	principal_query_free(pq);
}

/* Reads p's session (or key) and grants back from the database. */
static void reload_principal(struct auth *a, struct principal *p)
{
	struct principal_query *pq = principal_query_new(p);
	struct db_query *q = db_query_create(a->srv->db);
	int r = pq && q ? 0 : -ENOMEM;

	if (r == 0 && p->kind == PRINCIPAL_USER) {
		r = db_query_add(q, &auth_stmts[AUTH_STMT_SESSION_LOOKUP], pq->params);
		if (r == 0)
			r = db_query_add(q, &auth_stmts[AUTH_STMT_GRANTS_BY_SESSION], pq->params);
	} else if (r == 0) {
		r = db_query_add(q, &auth_stmts[AUTH_STMT_KEY_LOOKUP], pq->params);
	}
	if (r < 0) {
		db_query_destroy(q);
		if (pq)
			principal_query_free(pq);
		return;
	}
	if (db_query_submit(q, 0, on_reload, pq) < 0)
		principal_query_free(pq);
}

void auth_reload_account(struct auth *a, int64_t account_id)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &a->principals)
	{
		struct principal *p = list_entry(pos, struct principal, link);
		if (p->kind == PRINCIPAL_USER && p->account_id == account_id)
			reload_principal(a, p);
	}
}

void auth_on_notify(struct auth *a, const char *payload)
{
	if (a->stopped)
		return;
	if (strncmp(payload, "session:", 8) == 0) {
		uint8_t hash[PRINCIPAL_HASH_SIZE];
		size_t len = 0;
		if (sodium_hex2bin(hash, sizeof(hash), payload + 8, strlen(payload + 8), NULL, &len,
				   NULL) == 0 &&
		    len == sizeof(hash))
			auth_revoke_session(a, hash);
	} else if (strncmp(payload, "account:", 8) == 0) {
		auth_reload_account(a, strtoll(payload + 8, NULL, 10));
	} else if (strncmp(payload, "key:", 4) == 0) {
		auth_revoke_key(a, payload + 4);
	}
}

void auth_refresh(struct auth *a)
{
	struct list *pos, *tmp;

	if (a->stopped)
		return;
	/* The listener was away: anything may have changed meanwhile. */
	list_for_each_safe(pos, tmp, &a->principals)
	{
		reload_principal(a, list_entry(pos, struct principal, link));
	}
}

/* --- throttling of failed logins per address ------------------------------ */

static uint64_t hash_throttle(const void *elem)
{
	return htab_hash_str(((const struct throttle *)elem)->addr);
}

static int eq_throttle(const void *elem, const void *key)
{
	return strcmp(((const struct throttle *)elem)->addr, key) == 0;
}

static void peer_host(const char *peer, char out[48])
{
	const char *colon = strrchr(peer, ':');
	size_t n = colon ? (size_t)(colon - peer) : strlen(peer);

	if (n >= 48)
		n = 47;
	memcpy(out, peer, n);
	out[n] = '\0';
}

int auth_throttle_check(struct auth *a, const char *peer, int64_t now_ms, int64_t *ret_wait_ms)
{
	char host[48];
	struct throttle *t;

	peer_host(peer, host);
	t = htab_find(&a->throttle, host, htab_hash_str(host));
	if (!t || t->blocked_until_ms <= now_ms)
		return 0;
	*ret_wait_ms = t->blocked_until_ms - now_ms;
	return -EAGAIN;
}

void auth_throttle_fail(struct auth *a, const char *peer, int64_t now_ms)
{
	unsigned limit = a->srv->cfg->login_failures * 2;
	char host[48];
	struct throttle *t;

	peer_host(peer, host);
	t = htab_find(&a->throttle, host, htab_hash_str(host));
	if (!t) {
		/* A flood of addresses must not grow this without bound: forget
		 * the whole table rather than an address's history piecemeal. */
		if (a->nthrottle >= THROTTLE_MAX) {
			size_t pos = 0;
			struct throttle *old;
			while ((old = htab_next(&a->throttle, &pos)))
				free(old);
			htab_finish(&a->throttle);
			htab_init(&a->throttle, hash_throttle, eq_throttle);
			a->nthrottle = 0;
		}
		t = calloc(1, sizeof(*t));
		if (!t)
			return;
		snprintf(t->addr, sizeof(t->addr), "%s", host);
		if (htab_insert(&a->throttle, t) < 0) {
			free(t);
			return;
		}
		a->nthrottle++;
	}
	if (now_ms - t->first_ms > THROTTLE_WINDOW_MS) {
		t->failures = 0;
		t->first_ms = now_ms;
	}
	t->failures++;
	if (t->failures >= limit) {
		int64_t wait = 1000LL << (t->failures - limit < 20 ? t->failures - limit : 20);
		if (wait > THROTTLE_MAX_WAIT_MS)
			wait = THROTTLE_MAX_WAIT_MS;
		t->blocked_until_ms = now_ms + wait;
	}
}

void auth_throttle_clear(struct auth *a, const char *peer)
{
	char host[48];
	struct throttle *t;

	peer_host(peer, host);
	t = htab_remove(&a->throttle, host, htab_hash_str(host));
	if (t) {
		free(t);
		a->nthrottle--;
	}
}

/* --- lifecycle ----------------------------------------------------------- */

int auth_create(struct server *srv, struct auth **ret_auth, char *err, size_t errlen)
{
	struct auth *a = calloc(1, sizeof(*a));
	struct hasher_limits limits = {srv->cfg->pwhash_opslimit,
				       (size_t)srv->cfg->pwhash_memlimit_kib * 1024};

	if (!a || sodium_init() < 0) {
		free(a);
		snprintf(err, errlen, "cannot initialise libsodium");
		return -ENOMEM;
	}
	a->srv = srv;
	list_init(&a->principals);
	htab_init(&a->by_hash, hash_principal, eq_principal);
	htab_init(&a->throttle, hash_throttle, eq_throttle);
	a->hasher =
	    hasher_create(srv->loop, &limits, srv->cfg->max_hashing, srv->cfg->max_hash_queue);
	if (!a->hasher) {
		snprintf(err, errlen, "cannot set up password hashing (out of memory?)");
		auth_destroy(a);
		return -ENOMEM;
	}
	*ret_auth = a;
	return 0;
}

int auth_start(struct auth *a)
{
	return db_pool_register(a->srv->db, auth_stmts, AUTH_STMT_COUNT);
}

void auth_stop(struct auth *a)
{
	if (!a || a->stopped)
		return;
	a->stopped = true;
	hasher_close(a->hasher);
	a->hasher = NULL;
}

void auth_destroy(struct auth *a)
{
	struct list *pos, *tmp;
	size_t hpos = 0;
	struct throttle *t;

	if (!a)
		return;
	auth_stop(a);
	/* Connections are gone by now; principals still here were kept by
	 * queries that have finished as well. Detach them all. */
	list_for_each_safe(pos, tmp, &a->principals)
	{
		struct principal *p = list_entry(pos, struct principal, link);
		list_remove(&p->link);
		p->owner = NULL;
	}
	while ((t = htab_next(&a->throttle, &hpos)))
		free(t);
	htab_finish(&a->throttle);
	htab_finish(&a->by_hash);
	free(a);
}
