/* Logging in and out: Login, Authenticate (session token or API key),
 * Logout, WhoAmI, ChangePassword.
 *
 * A login is three steps on the loop with the slow part off it: read the
 * account, verify the password on the thread pool (an unknown username is
 * verified against a dummy hash, so it costs the same time), then create
 * the session, reset the failure count and note the login in the audit
 * trail in one transaction. Failures are throttled per account (in the
 * database, so every gridd process agrees) and per address (in memory).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "server/audit/audit.h"
#include "server/auth/auth_db.h"
#include "server/auth/auth_private.h"
#include "server/auth/token.h"
#include "server/config.h"
#include "server/db/pool.h"
#include "server/net/conn.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

#define BAD_LOGIN "wrong username or password"

struct login {
	struct rpc_call *call;
	struct auth *a;
	const char *username;
	char *password; /* wiped as soon as it is hashed */
	int64_t account_id;
	bool known, disabled;
	int64_t locked_ms; /* > 0: the account waits this long */
	char *display_name;
	char token[TOKEN_MAX];
	uint8_t hash[PRINCIPAL_HASH_SIZE];
	char hash_text[2 * PRINCIPAL_HASH_SIZE + 3];
	const char *params[4];
	const char *ok_params[2];
	const char *grant_params[1];
	char id_text[24], max_text[24];
	char *peer;
};

static void wipe(char *s)
{
	if (s)
		sodium_memzero(s, strlen(s));
}

static void on_failure_recorded(struct db_query *q, int status, void *data)
{
	struct login *l = data;

	rpc_fail(l->call, -ENOKEY, BAD_LOGIN);
}

static void on_session_created(struct db_query *q, int status, void *data)
{
	struct login *l = data;
	struct rpc_call *call = l->call;
	struct arena *arena = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);
	struct principal *p;
	Grid__V1__LoginReply *out;
	int64_t now = auth_now_ms();

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	p = auth_principal_new(l->a, PRINCIPAL_USER, l->hash);
	out = arena_new(arena, Grid__V1__LoginReply);
	if (!p || !out) {
		principal_unref(p);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	p->account_id = l->account_id;
	p->name = strdup(l->username);
	p->display_name = strdup(l->display_name ? l->display_name : "");
	p->expires_at_ms = auth_db_i64(res, 0, 0);
	p->last_used_ms = now;
	p->persisted_ms = now;
	if (!p->name || !p->display_name || auth_set_grants(p, db_query_result(q, 2)) < 0) {
		principal_unref(p);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	auth_throttle_clear(l->a, conn_peer(rpc_conn(call)));
	conn_set_principal(rpc_conn(call), p);
	grid__v1__login_reply__init(out);
	out->token = arena_strdup(arena, l->token);
	out->expires_at_ms = p->expires_at_ms;
	out->principal = auth_principal_msg(l->a, arena, p);
	principal_unref(p); /* the connection holds it now */
	sodium_memzero(l->token, sizeof(l->token));
	if (!out->token || !out->principal) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_reply(call, out);
}

static void on_verified(int status, const char *new_hash, void *data)
{
	struct login *l = data;
	struct rpc_call *call = l->call;
	struct arena *arena = rpc_arena(call);
	struct db_query *q;
	int r;

	if (status == -ECANCELED) {
		rpc_fail(call, -EAGAIN, "server shutting down; try again");
		return;
	}
	if (status < 0 || !l->known) {
		auth_throttle_fail(l->a, conn_peer(rpc_conn(call)), auth_now_ms());
		if (!l->known || status != -EACCES) {
			rpc_fail(call, status == -ENOMEM ? -ENOMEM : -ENOKEY, BAD_LOGIN);
			return;
		}
		/* Count the failure against the account, then answer. */
		snprintf(l->id_text, sizeof(l->id_text), "%lld", (long long)l->account_id);
		snprintf(l->max_text, sizeof(l->max_text), "%u", l->a->srv->cfg->login_failures);
		l->params[0] = l->id_text;
		l->params[1] = l->max_text;
		q = db_query_create(l->a->srv->db);
		if (!q || db_query_add(q, &auth_stmts[AUTH_STMT_LOGIN_FAILED], l->params) < 0 ||
		    db_query_submit(q, 0, on_failure_recorded, l) < 0)
			rpc_fail(call, -ENOKEY, BAD_LOGIN);
		return;
	}
	if (l->locked_ms > 0) {
		rpc_fail(call, -ENOKEY,
			 "too many failed logins for this account; try again in %lld s",
			 (long long)(l->locked_ms + 999) / 1000);
		return;
	}
	if (l->disabled) {
		rpc_fail(call, -ENOKEY, "this account is disabled; ask your administrator");
		return;
	}

	token_new_session(l->token);
	token_hash(l->token, l->hash);
	token_bytea(l->hash, sizeof(l->hash), l->hash_text);
	snprintf(l->id_text, sizeof(l->id_text), "%lld", (long long)l->account_id);
	snprintf(l->max_text, sizeof(l->max_text), "%u", l->a->srv->cfg->session_max_ms);
	l->params[0] = l->hash_text;
	l->params[1] = l->id_text;
	l->params[2] = l->max_text;
	l->params[3] = l->peer;
	l->ok_params[0] = l->id_text;
	/* The limits changed since the stored hash was made: store the new
	 * one made from the same password. */
	l->ok_params[1] = new_hash ? arena_strdup(arena, new_hash) : NULL;
	l->grant_params[0] = l->id_text;
	q = db_query_create(l->a->srv->db);
	r = q ? 0 : -ENOMEM;
	if (r == 0)
		r = db_query_add(q, &auth_stmts[AUTH_STMT_SESSION_CREATE], l->params);
	if (r == 0)
		r = db_query_add(q, &auth_stmts[AUTH_STMT_LOGIN_OK], l->ok_params);
	if (r == 0)
		r = db_query_add(q, &auth_stmts[AUTH_STMT_GRANTS_BY_ACCOUNT], l->grant_params);
	if (r == 0)
		r = audit_add(q, arena, l->username, "Login", NULL, "logged in from %s", l->peer);
	if (r < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_session_created, l);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

static void on_account(struct db_query *q, int status, void *data)
{
	struct login *l = data;
	PGresult *res = db_query_result(q, 0);
	int r;

	if (status < 0) {
		wipe(l->password);
		rpc_fail_db(l->call, status, db_query_error(q));
		return;
	}
	const char *stored = NULL;
	if (PQntuples(res) == 1) {
		l->known = true;
		l->account_id = auth_db_i64(res, 0, 0);
		stored = PQgetvalue(res, 0, 1);
		l->disabled = auth_db_bool(res, 0, 2);
		l->locked_ms = auth_db_i64(res, 0, 3);
		l->display_name = arena_strdup(rpc_arena(l->call), PQgetvalue(res, 0, 4));
	}
	r = hasher_verify(l->a->hasher, stored, l->password, on_verified, l);
	wipe(l->password);
	if (r == -EAGAIN)
		rpc_fail(l->call, -EAGAIN, "too many logins at once; try again in a moment");
	else if (r < 0)
		rpc_fail(l->call, r, "cannot check the password now");
}

void auth_login(struct rpc_call *call)
{
	Grid__V1__LoginRequest *in = rpc_request(call)->login;
	struct auth *a = auth_of(call);
	struct login *l = arena_new(rpc_arena(call), struct login);
	struct db_query *q;
	int64_t wait;
	int r;

	if (!l) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (!*in->username || !*in->password || strlen(in->username) > 64 ||
	    strlen(in->password) > 1024) {
		wipe(in->password);
		rpc_fail(call, -ENOKEY, BAD_LOGIN);
		return;
	}
	if (auth_throttle_check(a, conn_peer(rpc_conn(call)), auth_now_ms(), &wait) < 0) {
		wipe(in->password);
		rpc_fail(call, -EUSERS,
			 "too many failed logins from this address; try again in %lld s",
			 (long long)(wait + 999) / 1000);
		return;
	}
	l->call = call;
	l->a = a;
	l->username = in->username;
	l->password = in->password;
	l->peer = arena_strdup(rpc_arena(call), conn_peer(rpc_conn(call)));
	l->params[0] = in->username;
	q = db_query_create(a->srv->db);
	if (!q || !l->peer ||
	    db_query_add(q, &auth_stmts[AUTH_STMT_ACCOUNT_BY_NAME], l->params) < 0) {
		db_query_destroy(q);
		wipe(in->password);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_account, l);
	if (r < 0) {
		wipe(in->password);
		rpc_fail_db(call, r, "");
	}
}

/* --- Authenticate -------------------------------------------------------- */

struct authn {
	struct rpc_call *call;
	struct auth *a;
	enum principal_kind kind;
	char key_id[TOKEN_KEY_ID_MAX];
	uint8_t hash[PRINCIPAL_HASH_SIZE];
	char hash_text[2 * PRINCIPAL_HASH_SIZE + 3];
	const char *params[1];
};

/* Attaches p to the connection and answers with it. */
static void authenticated(struct rpc_call *call, struct auth *a, struct principal *p)
{
	Grid__V1__Principal *out;

	conn_set_principal(rpc_conn(call), p);
	auth_throttle_clear(a, conn_peer(rpc_conn(call)));
	out = auth_principal_msg(a, rpc_arena(call), p);
	if (!out) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_reply(call, out);
}

static void authn_refuse(struct authn *an, int err, const char *why)
{
	auth_throttle_fail(an->a, conn_peer(rpc_conn(an->call)), auth_now_ms());
	rpc_fail(an->call, err, "%s", why);
}

static void on_session_lookup(struct db_query *q, int status, void *data)
{
	struct authn *an = data;
	PGresult *res = db_query_result(q, 0);
	const struct config *cfg = an->a->srv->cfg;
	int64_t now = auth_now_ms();
	struct principal *p;

	if (status < 0) {
		rpc_fail_db(an->call, status, db_query_error(q));
		return;
	}
	if (PQntuples(res) != 1 || auth_db_bool(res, 0, 4)) {
		authn_refuse(an, -EKEYREVOKED, "unknown or ended session; log in again");
		return;
	}
	if (auth_db_bool(res, 0, 3)) {
		authn_refuse(an, -EKEYREVOKED, "this account is disabled; ask your administrator");
		return;
	}
	if (auth_db_i64(res, 0, 5) <= now || now - auth_db_i64(res, 0, 6) > cfg->session_idle_ms) {
		authn_refuse(an, -EKEYEXPIRED, "the session has expired; log in again");
		return;
	}
	/* Another connection may have brought it in meanwhile. */
	p = auth_principal_find(an->a, an->hash);
	if (p) {
		authenticated(an->call, an->a, p);
		return;
	}
	p = auth_principal_new(an->a, PRINCIPAL_USER, an->hash);
	if (!p) {
		rpc_fail(an->call, -ENOMEM, "out of memory");
		return;
	}
	p->account_id = auth_db_i64(res, 0, 0);
	p->name = strdup(PQgetvalue(res, 0, 1));
	p->display_name = strdup(PQgetvalue(res, 0, 2));
	p->expires_at_ms = auth_db_i64(res, 0, 5);
	p->last_used_ms = now;
	p->persisted_ms = auth_db_i64(res, 0, 6);
	if (!p->name || !p->display_name || auth_set_grants(p, db_query_result(q, 1)) < 0) {
		principal_unref(p);
		rpc_fail(an->call, -ENOMEM, "out of memory");
		return;
	}
	authenticated(an->call, an->a, p);
	principal_unref(p);
}

static void on_key_lookup(struct db_query *q, int status, void *data)
{
	struct authn *an = data;
	PGresult *res = db_query_result(q, 0);
	uint8_t stored[PRINCIPAL_HASH_SIZE];
	size_t len = 0;
	struct principal *p;

	if (status < 0) {
		rpc_fail_db(an->call, status, db_query_error(q));
		return;
	}
	if (PQntuples(res) != 1 ||
	    sodium_hex2bin(stored, sizeof(stored), PQgetvalue(res, 0, 0) + 2,
			   strlen(PQgetvalue(res, 0, 0) + 2), NULL, &len, NULL) != 0 ||
	    len != sizeof(stored) || sodium_memcmp(stored, an->hash, sizeof(stored)) != 0 ||
	    auth_db_bool(res, 0, 4)) {
		authn_refuse(an, -EKEYREVOKED, "unknown or revoked API key");
		return;
	}
	int64_t expires = auth_db_i64(res, 0, 5);
	if (expires && expires <= auth_now_ms()) {
		authn_refuse(an, -EKEYEXPIRED, "the API key has expired");
		return;
	}
	p = auth_principal_find(an->a, an->hash);
	if (p) {
		authenticated(an->call, an->a, p);
		return;
	}
	p = auth_principal_new(an->a, PRINCIPAL_API_KEY, an->hash);
	if (!p) {
		rpc_fail(an->call, -ENOMEM, "out of memory");
		return;
	}
	p->name = strdup(an->key_id);
	p->display_name = strdup(PQgetvalue(res, 0, 1));
	p->expires_at_ms = expires;
	p->grants = calloc(1, sizeof(*p->grants));
	if (p->grants) {
		p->grants[0].role = GRID__V1__ROLE__ROLE_CITY_SYSTEM;
		p->grants[0].node_id = auth_db_i64(res, 0, 2);
		p->ngrants = 1;
	}
	if (!p->name || !p->display_name || !p->grants ||
	    auth_db_text_array(PQgetvalue(res, 0, 3), &p->methods, &p->nmethods) < 0) {
		principal_unref(p);
		rpc_fail(an->call, -ENOMEM, "out of memory");
		return;
	}
	authenticated(an->call, an->a, p);
	principal_unref(p);
}

void auth_authenticate(struct rpc_call *call)
{
	const char *token = rpc_request(call)->authenticate->token;
	struct auth *a = auth_of(call);
	struct authn *an = arena_new(rpc_arena(call), struct authn);
	const struct db_stmt *stmt;
	struct principal *p;
	struct db_query *q;
	int64_t wait;
	int r;

	if (!an) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	if (auth_throttle_check(a, conn_peer(rpc_conn(call)), auth_now_ms(), &wait) < 0) {
		rpc_fail(call, -EUSERS,
			 "too many failed attempts from this address; try again in %lld s",
			 (long long)(wait + 999) / 1000);
		return;
	}
	an->call = call;
	an->a = a;
	if (strncmp(token, TOKEN_SESSION_PREFIX, strlen(TOKEN_SESSION_PREFIX)) == 0 &&
	    strlen(token) < TOKEN_MAX) {
		an->kind = PRINCIPAL_USER;
		stmt = &auth_stmts[AUTH_STMT_SESSION_LOOKUP];
	} else if (token_api_key_id(token, an->key_id) == 0) {
		an->kind = PRINCIPAL_API_KEY;
		stmt = &auth_stmts[AUTH_STMT_KEY_LOOKUP];
	} else {
		authn_refuse(an, -ENOKEY, "not a session token (gs_...) or an API key (gk_...)");
		return;
	}
	token_hash(token, an->hash);
	token_bytea(an->hash, sizeof(an->hash), an->hash_text);

	/* Already live in this process: the registry is kept current. */
	p = auth_principal_find(a, an->hash);
	if (p && !p->revoked && (!p->expires_at_ms || p->expires_at_ms > auth_now_ms())) {
		authenticated(call, a, p);
		return;
	}
	an->params[0] = an->kind == PRINCIPAL_USER ? an->hash_text : an->key_id;
	q = db_query_create(a->srv->db);
	r = q ? db_query_add(q, stmt, an->params) : -ENOMEM;
	if (r == 0 && an->kind == PRINCIPAL_USER)
		r = db_query_add(q, &auth_stmts[AUTH_STMT_GRANTS_BY_SESSION], an->params);
	if (r < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call),
			    an->kind == PRINCIPAL_USER ? on_session_lookup : on_key_lookup, an);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

/* --- Logout, WhoAmI ------------------------------------------------------ */

struct logout {
	struct rpc_call *call;
	uint8_t hash[PRINCIPAL_HASH_SIZE];
	char hash_text[2 * PRINCIPAL_HASH_SIZE + 3];
	const char *params[1];
};

static void logged_out(struct rpc_call *call)
{
	Grid__V1__LogoutReply *out = arena_new(rpc_arena(call), Grid__V1__LogoutReply);

	conn_set_principal(rpc_conn(call), NULL);
	if (!out) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	grid__v1__logout_reply__init(out);
	rpc_reply(call, out);
}

static void on_logout(struct db_query *q, int status, void *data)
{
	struct logout *lo = data;

	if (status < 0) {
		rpc_fail_db(lo->call, status, db_query_error(q));
		return;
	}
	auth_revoke_session(auth_of(lo->call), lo->hash);
	logged_out(lo->call);
}

void auth_logout(struct rpc_call *call)
{
	struct principal *p = auth_principal(call);
	struct logout *lo;
	struct db_query *q;
	int r;

	/* An API key is not a session: the connection just forgets it. */
	if (p->kind != PRINCIPAL_USER) {
		logged_out(call);
		return;
	}
	lo = arena_new(rpc_arena(call), struct logout);
	q = db_query_create(auth_of(call)->srv->db);
	if (!lo || !q) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	lo->call = call;
	memcpy(lo->hash, p->hash, sizeof(lo->hash));
	token_bytea(lo->hash, sizeof(lo->hash), lo->hash_text);
	lo->params[0] = lo->hash_text;
	r = db_query_add(q, &auth_stmts[AUTH_STMT_SESSION_REVOKE], lo->params);
	if (r == 0)
		r = audit_add_call(q, call, NULL, "logged out");
	if (r < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_logout, lo);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

void auth_whoami(struct rpc_call *call)
{
	Grid__V1__Principal *out =
	    auth_principal_msg(auth_of(call), rpc_arena(call), auth_principal(call));

	if (!out) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	rpc_reply(call, out);
}

/* --- ChangePassword ------------------------------------------------------ */

struct pw_change {
	struct rpc_call *call;
	struct auth *a;
	struct principal *p; /* referenced for the duration */
	char *old_password, *new_password;
	char id_text[24];
	char hash_text[2 * PRINCIPAL_HASH_SIZE + 3];
	const char *params[2];
	const char *set_params[2];
	const char *others_params[2];
};

static void passwd_end(struct pw_change *pw)
{
	wipe(pw->old_password);
	wipe(pw->new_password);
	principal_unref(pw->p);
}

static void on_password_stored(struct db_query *q, int status, void *data)
{
	struct pw_change *pw = data;
	struct rpc_call *call = pw->call;
	struct list *pos, *tmp;
	Grid__V1__ChangePasswordReply *out;

	if (status < 0) {
		passwd_end(pw);
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	/* Every other session of the account ends; this one goes on. */
	list_for_each_safe(pos, tmp, &pw->a->principals)
	{
		struct principal *o = list_entry(pos, struct principal, link);
		if (o != pw->p && o->kind == PRINCIPAL_USER && o->account_id == pw->p->account_id)
			o->revoked = true;
	}
	passwd_end(pw);
	out = arena_new(rpc_arena(call), Grid__V1__ChangePasswordReply);
	if (!out) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	grid__v1__change_password_reply__init(out);
	rpc_reply(call, out);
}

static void on_new_hash(int status, const char *new_hash, void *data)
{
	struct pw_change *pw = data;
	struct rpc_call *call = pw->call;
	struct db_query *q;
	int r;

	if (status < 0 || !new_hash) {
		passwd_end(pw);
		rpc_fail(call, status == -ECANCELED ? -EAGAIN : -ENOMEM,
			 "cannot store the new password now");
		return;
	}
	pw->set_params[0] = pw->id_text;
	pw->set_params[1] = arena_strdup(rpc_arena(call), new_hash);
	token_bytea(pw->p->hash, PRINCIPAL_HASH_SIZE, pw->hash_text);
	pw->others_params[0] = pw->id_text;
	pw->others_params[1] = pw->hash_text;
	q = db_query_create(pw->a->srv->db);
	r = q && pw->set_params[1] ? 0 : -ENOMEM;
	if (r == 0)
		r = db_query_add(q, &auth_stmts[AUTH_STMT_PASSWORD_SET], pw->set_params);
	if (r == 0)
		r = db_query_add(q, &auth_stmts[AUTH_STMT_SESSIONS_REVOKE_OTHERS],
				 pw->others_params);
	if (r == 0)
		r = audit_add_call(q, call, NULL, "changed the password; other sessions ended");
	if (r < 0) {
		db_query_destroy(q);
		passwd_end(pw);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_password_stored, pw);
	if (r < 0) {
		passwd_end(pw);
		rpc_fail_db(call, r, "");
	}
}

static void on_old_checked(int status, const char *new_hash, void *data)
{
	struct pw_change *pw = data;
	int r;

	if (status == -EACCES) {
		passwd_end(pw);
		rpc_fail(pw->call, -EACCES, "the current password is wrong");
		return;
	}
	if (status < 0) {
		passwd_end(pw);
		rpc_fail(pw->call, status == -ECANCELED ? -EAGAIN : status,
			 "cannot check the password now");
		return;
	}
	r = hasher_hash(pw->a->hasher, pw->new_password, on_new_hash, pw);
	if (r < 0) {
		passwd_end(pw);
		rpc_fail(pw->call, -EAGAIN, "too many password changes at once; try again");
	}
}

static void on_stored_hash(struct db_query *q, int status, void *data)
{
	struct pw_change *pw = data;
	PGresult *res = db_query_result(q, 0);
	int r;

	if (status < 0 || PQntuples(res) != 1) {
		passwd_end(pw);
		rpc_fail_db(pw->call, status < 0 ? status : -EIO, db_query_error(q));
		return;
	}
	r = hasher_verify(pw->a->hasher, PQgetvalue(res, 0, 0), pw->old_password, on_old_checked,
			  pw);
	if (r < 0) {
		passwd_end(pw);
		rpc_fail(pw->call, -EAGAIN, "too many password changes at once; try again");
	}
}

void auth_change_password(struct rpc_call *call)
{
	Grid__V1__ChangePasswordRequest *in = rpc_request(call)->change_password;
	struct principal *p = auth_principal(call);
	struct pw_change *pw;
	struct db_query *q;
	const char *why;
	int r;

	if (p->kind != PRINCIPAL_USER) {
		wipe(in->old_password);
		wipe(in->new_password);
		rpc_fail(call, -EACCES, "an API key has no password");
		return;
	}
	if ((why = auth_check_password(in->new_password)) ||
	    strcmp(in->old_password, in->new_password) == 0) {
		wipe(in->old_password);
		wipe(in->new_password);
		rpc_fail(call, -EINVAL, "new password: %s",
			 why ? why : "it is the same as the current one");
		return;
	}
	pw = arena_new(rpc_arena(call), struct pw_change);
	q = db_query_create(auth_of(call)->srv->db);
	if (!pw || !q) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	pw->call = call;
	pw->a = auth_of(call);
	pw->p = p;
	principal_ref(p);
	pw->old_password = in->old_password;
	pw->new_password = in->new_password;
	snprintf(pw->id_text, sizeof(pw->id_text), "%lld", (long long)p->account_id);
	pw->params[0] = pw->id_text;
	r = db_query_add(q, &auth_stmts[AUTH_STMT_PASSWORD_OF], pw->params);
	if (r < 0) {
		db_query_destroy(q);
		passwd_end(pw);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_stored_hash, pw);
	if (r < 0) {
		passwd_end(pw);
		rpc_fail_db(call, r, "");
	}
}
