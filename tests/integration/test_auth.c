/* Logging in and what sessions can do: wrong passwords, disabled accounts,
 * throttling per account and per address, idle and absolute expiry,
 * logout, revocation reaching another gridd process, password changes,
 * hashes upgraded when the limits rise, API keys limited to their calls,
 * and 100 logins at once while other requests keep flowing. */
#include <unistd.h>

#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define ROLE(x) GRID__V1__ROLE__ROLE_##x
#define PASSWORD "a-good-password"

static int set_disabled(struct grid_client *c, const char *user, bool disabled)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__SetUserDisabledRequest m = GRID__V1__SET_USER_DISABLED_REQUEST__INIT;

	m.username = (char *)user;
	m.disabled = disabled;
	req.call_case = GRID__V1__REQUEST__CALL_SET_USER_DISABLED;
	req.set_user_disabled = &m;
	return itest_code_free(itest_call(c, &req));
}

static int simple(struct grid_client *c, Grid__V1__Request__CallCase call)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__WhoAmIRequest w = GRID__V1__WHO_AM_IREQUEST__INIT;
	Grid__V1__LogoutRequest lo = GRID__V1__LOGOUT_REQUEST__INIT;

	req.call_case = call;
	if (call == GRID__V1__REQUEST__CALL_LOGOUT)
		req.logout = &lo;
	else
		req.who_am_i = &w;
	return itest_code_free(itest_call(c, &req));
}

TEST(login_wrong_password_and_unknown_user_say_the_same)
{
	struct itest_fix f;
	struct grid_client *c;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__LoginRequest m = GRID__V1__LOGIN_REQUEST__INIT;
	Grid__V1__Reply *a, *b;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(f.admin, "zhang", PASSWORD, ROLE(ZONE_LEADER), "WH-TZL-Z5");
	c = itest_connect_anonymous(&f.g);
	req.call_case = GRID__V1__REQUEST__CALL_LOGIN;
	req.login = &m;
	m.username = (char *)"zhang";
	m.password = (char *)"not-the-password";
	a = itest_call(c, &req);
	m.username = (char *)"nobody-here";
	b = itest_call(c, &req);
	ASSERT_EQ_INT(itest_code(a), CODE(UNAUTHENTICATED));
	ASSERT_EQ_INT(itest_code(b), CODE(UNAUTHENTICATED));
	ASSERT_EQ_STR(a->status->message, b->status->message);
	grid_client_reply_free(a);
	grid_client_reply_free(b);
	/* Still anonymous: nothing but the session calls. */
	ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z5"), CODE(UNAUTHENTICATED));
	/* The right password works, and the session sees its zone only. */
	ASSERT_EQ_INT(itest_login(c, "zhang", PASSWORD, NULL), 0);
	ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z5-ZTY"), 0);
	ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z4"), CODE(PERMISSION_DENIED));
	grid_client_destroy(c);
	itest_teardown(&f);
}

TEST(disabled_account_and_revocation_at_once_in_another_process)
{
	struct itest_fix f;
	struct itest_gridd other;
	struct grid_client *c;
	char token[128];

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(f.admin, "li", PASSWORD, ROLE(BUILDING_HEAD), "WH-TZL-Z5-ZTY-B1");
	/* li works through a second gridd on the same database. */
	itest_gridd_start(&other, f.db.url, NULL);
	c = itest_connect_anonymous(&other);
	ASSERT_EQ_INT(itest_login(c, "li", PASSWORD, token), 0);
	ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z5-ZTY-B1"), 0);

	/* Disabled through the first process: the second stops li soon. */
	ASSERT_EQ_INT(set_disabled(f.admin, "li", true), 0);
	uint64_t deadline = itest_now_ms() + 3000;
	int code = 0;
	while ((code = itest_get_node(c, "WH-TZL-Z5-ZTY-B1")) == 0 && itest_now_ms() < deadline)
		usleep(10000);
	ASSERT_EQ_INT(code, CODE(UNAUTHENTICATED));
	/* Neither the old token nor the password works any more. */
	struct grid_client *c2 = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_authenticate(c2, token), CODE(UNAUTHENTICATED));
	ASSERT_EQ_INT(itest_login(c2, "li", PASSWORD, NULL), CODE(UNAUTHENTICATED));
	/* Enabled again, li logs in afresh. */
	ASSERT_EQ_INT(set_disabled(f.admin, "li", false), 0);
	ASSERT_EQ_INT(itest_login(c2, "li", PASSWORD, NULL), 0);
	ASSERT_EQ_INT(itest_get_node(c2, "WH-TZL-Z5-ZTY-B1"), 0);
	grid_client_destroy(c2);
	grid_client_destroy(c);
	ASSERT_EQ_INT(itest_gridd_stop(&other), 0);
	itest_teardown(&f);
}

TEST(revoked_role_reaches_live_sessions)
{
	struct itest_fix f;
	struct grid_client *c;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RevokeRoleRequest m = GRID__V1__REVOKE_ROLE_REQUEST__INIT;
	Grid__V1__RoleGrant g = GRID__V1__ROLE_GRANT__INIT;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(f.admin, "wang", PASSWORD, ROLE(COURTYARD_REP), "WH-TZL-Z5-SAZ");
	c = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(c, "wang", PASSWORD, NULL), 0);
	ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z5-SAZ"), 0);
	g.role = ROLE(COURTYARD_REP);
	g.node_code = (char *)"WH-TZL-Z5-SAZ";
	m.username = (char *)"wang";
	m.grant = &g;
	req.call_case = GRID__V1__REQUEST__CALL_REVOKE_ROLE;
	req.revoke_role = &m;
	Grid__V1__Reply *r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->revoke_role->n_roles, 0);
	grid_client_reply_free(r);
	/* Same process: effective before the reply came back. */
	ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z5-SAZ"), CODE(PERMISSION_DENIED));
	/* Revoking it again: nothing to revoke. */
	ASSERT_EQ_INT(itest_code_free(itest_call(f.admin, &req)), CODE(NOT_FOUND));
	grid_client_destroy(c);
	itest_teardown(&f);
}

/* Account writes retried with their idempotency key get the first reply:
 * a revocation twice is not "nothing to revoke", and its effect on live
 * sessions comes with the commit. */
TEST(account_writes_retried_with_a_key)
{
	struct itest_fix f;
	struct grid_client *c;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RevokeRoleRequest m = GRID__V1__REVOKE_ROLE_REQUEST__INIT;
	Grid__V1__SetUserDisabledRequest d = GRID__V1__SET_USER_DISABLED_REQUEST__INIT;
	Grid__V1__RoleGrant g = GRID__V1__ROLE_GRANT__INIT;
	Grid__V1__Reply *r;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(f.admin, "wang", PASSWORD, ROLE(COURTYARD_REP), "WH-TZL-Z5-SAZ");
	c = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(c, "wang", PASSWORD, NULL), 0);
	g.role = ROLE(COURTYARD_REP);
	g.node_code = (char *)"WH-TZL-Z5-SAZ";
	m.username = (char *)"wang";
	m.grant = &g;
	req.call_case = GRID__V1__REQUEST__CALL_REVOKE_ROLE;
	req.revoke_role = &m;
	req.idempotency_key = (char *)"revoke-wang-1";
	for (int i = 0; i < 2; i++) {
		r = itest_call(f.admin, &req);
		ASSERT_MSG(itest_code(r) == 0, "attempt %d: %s", i, r->status->message);
		ASSERT_EQ_UINT(r->revoke_role->n_roles, 0);
		grid_client_reply_free(r);
		ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z5-SAZ"), CODE(PERMISSION_DENIED));
	}
	char *n =
	    itest_sql(f.db.url, "SELECT count(*) FROM audit_log WHERE summary LIKE 'took wang%'");
	ASSERT_EQ_STR(n, "1");
	free(n);

	/* Disabling with a key ends the session once committed; again, the
	 * same answer. */
	d.username = (char *)"wang";
	d.disabled = true;
	req.call_case = GRID__V1__REQUEST__CALL_SET_USER_DISABLED;
	req.set_user_disabled = &d;
	req.idempotency_key = (char *)"disable-wang-1";
	for (int i = 0; i < 2; i++) {
		r = itest_call(f.admin, &req);
		ASSERT_EQ_INT(itest_code(r), 0);
		ASSERT(r->set_user_disabled->disabled);
		grid_client_reply_free(r);
	}
	ASSERT_EQ_INT(simple(c, GRID__V1__REQUEST__CALL_WHO_AM_I), CODE(UNAUTHENTICATED));
	grid_client_destroy(c);
	itest_teardown(&f);
}

TEST(throttled_per_account)
{
	struct itest_fix f;
	struct grid_client *c;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__LoginRequest m = GRID__V1__LOGIN_REQUEST__INIT;
	const char *const extra[] = {"--set", "auth.login_failures=3", NULL};

	itest_setup(&f, extra, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(f.admin, "chen", PASSWORD, ROLE(RESIDENT), "WH-TZL-Z5-ZTY-B1");
	c = itest_connect_anonymous(&f.g);
	req.call_case = GRID__V1__REQUEST__CALL_LOGIN;
	req.login = &m;
	m.username = (char *)"chen";
	m.password = (char *)"wrong-wrong-wrong";
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ_INT(itest_code_free(itest_call(c, &req)), CODE(UNAUTHENTICATED));
	}
	/* Now even the right password waits. */
	m.password = (char *)PASSWORD;
	Grid__V1__Reply *r = itest_call(c, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(UNAUTHENTICATED));
	ASSERT(strstr(r->status->message, "try again in") != NULL);
	grid_client_reply_free(r);
	char *v = itest_sql(f.db.url, "SELECT failed_logins FROM account WHERE username = 'chen'");
	ASSERT_EQ_STR(v, "3");
	free(v);
	/* After the wait (1 s for the first lock) it works and resets. */
	uint64_t deadline = itest_now_ms() + 5000;
	int code;
	do {
		usleep(200000);
		code = itest_login(c, "chen", PASSWORD, NULL);
	} while (code != 0 && itest_now_ms() < deadline);
	ASSERT_EQ_INT(code, 0);
	v = itest_sql(f.db.url, "SELECT failed_logins FROM account WHERE username = 'chen'");
	ASSERT_EQ_STR(v, "0");
	free(v);
	grid_client_destroy(c);
	itest_teardown(&f);
}

TEST(throttled_per_address)
{
	struct itest_fix f;
	struct grid_client *c;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__LoginRequest m = GRID__V1__LOGIN_REQUEST__INIT;
	const char *const extra[] = {"--set", "auth.login_failures=2", NULL};
	Grid__V1__Reply *r;

	itest_setup(&f, extra, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	c = itest_connect_anonymous(&f.g);
	req.call_case = GRID__V1__REQUEST__CALL_LOGIN;
	req.login = &m;
	m.password = (char *)"guess-guess";
	/* Guessing across usernames: the address is blocked after 2 x 2. */
	for (int i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "guess%d", i);
		m.username = name;
		ASSERT_EQ_INT(itest_code_free(itest_call(c, &req)), CODE(UNAUTHENTICATED));
	}
	m.username = (char *)ITEST_ADMIN;
	m.password = (char *)ITEST_ADMIN_PASSWORD;
	r = itest_call(c, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(RESOURCE_EXHAUSTED));
	ASSERT(strstr(r->status->message, "from this address") != NULL);
	grid_client_reply_free(r);
	/* Bad tokens count the same way. */
	ASSERT_EQ_INT(itest_authenticate(c, "gs_made-up"), CODE(RESOURCE_EXHAUSTED));
	grid_client_destroy(c);
	itest_teardown(&f);
}

TEST(idle_and_absolute_expiry)
{
	struct itest_fix f;
	struct grid_client *c;
	const char *const idle[] = {"--set", "auth.session_idle_ms=1000", NULL};
	char token[128];

	itest_setup(&f, idle, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	c = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(c, ITEST_ADMIN, ITEST_ADMIN_PASSWORD, token), 0);
	/* Used often, it stays. */
	for (int i = 0; i < 4; i++) {
		usleep(400000);
		ASSERT_EQ_INT(itest_get_node(c, "WH"), 0);
	}
	/* Unused for longer than the idle limit, it ends. */
	usleep(1300000);
	ASSERT_EQ_INT(itest_get_node(c, "WH"), CODE(UNAUTHENTICATED));
	grid_client_destroy(c);
	grid_client_destroy(f.admin);
	f.admin = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_authenticate(f.admin, token), CODE(UNAUTHENTICATED));
	itest_teardown(&f);

	/* An absolute lifetime ends even a busy session. */
	const char *const max[] = {"--set", "auth.session_max_ms=1500", NULL};
	itest_setup(&f, max, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	c = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(c, ITEST_ADMIN, ITEST_ADMIN_PASSWORD, NULL), 0);
	uint64_t t0 = itest_now_ms();
	int code;
	while ((code = itest_get_node(c, "WH")) == 0 && itest_now_ms() - t0 < 5000)
		usleep(100000);
	ASSERT_EQ_INT(code, CODE(UNAUTHENTICATED));
	ASSERT(itest_now_ms() - t0 >= 1000);
	grid_client_destroy(c);
	itest_teardown(&f);
}

TEST(logout_ends_the_session_everywhere)
{
	struct itest_fix f;
	struct grid_client *a, *b;
	char token[128];

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	a = itest_connect_anonymous(&f.g);
	b = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(a, ITEST_ADMIN, ITEST_ADMIN_PASSWORD, token), 0);
	ASSERT_EQ_INT(itest_authenticate(b, token), 0);
	ASSERT_EQ_INT(simple(b, GRID__V1__REQUEST__CALL_WHO_AM_I), 0);
	ASSERT_EQ_INT(simple(a, GRID__V1__REQUEST__CALL_LOGOUT), 0);
	/* a is anonymous again; b shared the session, which is over. */
	ASSERT_EQ_INT(itest_get_node(a, "WH"), CODE(UNAUTHENTICATED));
	ASSERT_EQ_INT(itest_get_node(b, "WH"), CODE(UNAUTHENTICATED));
	grid_client_destroy(b);
	b = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_authenticate(b, token), CODE(UNAUTHENTICATED));
	char *v = itest_sql(f.db.url, "SELECT count(*) FROM session WHERE revoked_at IS NOT NULL");
	ASSERT_EQ_STR(v, "1");
	free(v);
	/* Only the hash of the token is stored. */
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM session WHERE token_hash::text LIKE '%%%s%%'", token + 3);
	v = itest_sql(f.db.url, sql);
	ASSERT_EQ_STR(v, "0");
	free(v);
	grid_client_destroy(a);
	grid_client_destroy(b);
	itest_teardown(&f);
}

TEST(change_password_ends_other_sessions)
{
	struct itest_fix f;
	struct grid_client *a, *b;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ChangePasswordRequest m = GRID__V1__CHANGE_PASSWORD_REQUEST__INIT;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(f.admin, "liu", PASSWORD, ROLE(RESIDENT), "WH-TZL-Z5-ZTY-B1");
	a = itest_connect_anonymous(&f.g);
	b = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(a, "liu", PASSWORD, NULL), 0);
	ASSERT_EQ_INT(itest_login(b, "liu", PASSWORD, NULL), 0);
	req.call_case = GRID__V1__REQUEST__CALL_CHANGE_PASSWORD;
	req.change_password = &m;
	m.old_password = (char *)"not-it-at-all";
	m.new_password = (char *)"another-good-one";
	ASSERT_EQ_INT(itest_code_free(itest_call(a, &req)), CODE(PERMISSION_DENIED));
	m.old_password = (char *)PASSWORD;
	m.new_password = (char *)"short";
	ASSERT_EQ_INT(itest_code_free(itest_call(a, &req)), CODE(INVALID_ARGUMENT));
	m.new_password = (char *)"another-good-one";
	ASSERT_EQ_INT(itest_code_free(itest_call(a, &req)), 0);
	ASSERT_EQ_INT(itest_get_node(a, "WH-TZL-Z5-ZTY-B1"), 0);
	ASSERT_EQ_INT(itest_get_node(b, "WH-TZL-Z5-ZTY-B1"), CODE(UNAUTHENTICATED));
	struct grid_client *c = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(c, "liu", PASSWORD, NULL), CODE(UNAUTHENTICATED));
	ASSERT_EQ_INT(itest_login(c, "liu", "another-good-one", NULL), 0);
	grid_client_destroy(c);
	grid_client_destroy(a);
	grid_client_destroy(b);
	itest_teardown(&f);
}

TEST(hashes_upgrade_when_limits_rise)
{
	struct itest_fix f;
	struct grid_client *c;
	const char *const stronger[] = {"--set", "auth.pwhash_opslimit=2", "--set",
					"auth.pwhash_memlimit_kib=16384", NULL};
	char *before, *after;

	/* Created with the tests' cheap limits (t=1, 8 MiB)... */
	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	before = itest_sql(f.db.url, "SELECT password_hash FROM account WHERE username = 'admin'");
	ASSERT(strstr(before, "$argon2id$") == before);
	ASSERT(strstr(before, "m=8192,t=1") != NULL);
	grid_client_destroy(f.admin);
	ASSERT_EQ_INT(itest_gridd_stop(&f.g), 0);
	/* ... then gridd runs with stronger ones: a login rewrites it. */
	itest_gridd_start(&f.g, f.db.url, stronger);
	f.admin = itest_connect(&f.g);
	after = itest_sql(f.db.url, "SELECT password_hash FROM account WHERE username = 'admin'");
	ASSERT(strstr(after, "m=16384,t=2") != NULL);
	c = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(c, ITEST_ADMIN, ITEST_ADMIN_PASSWORD, NULL), 0);
	grid_client_destroy(c);
	free(before);
	free(after);
	itest_teardown(&f);
}

TEST(api_key_limited_to_its_calls_and_subtree)
{
	struct itest_fix f;
	struct grid_client *c;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateApiKeyRequest m = GRID__V1__CREATE_API_KEY_REQUEST__INIT;
	char *methods[] = {(char *)"GetNode"};
	char key[128], id[32];

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	m.name = (char *)"12345 hotline";
	m.node_code = (char *)"WH-TZL";
	m.methods = methods;
	m.n_methods = 1;
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_API_KEY;
	req.create_api_key = &m;
	Grid__V1__Reply *r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	snprintf(key, sizeof(key), "%s", r->create_api_key->key);
	snprintf(id, sizeof(id), "%s", r->create_api_key->api_key->id);
	ASSERT(strncmp(key, "gk_", 3) == 0);
	ASSERT(strncmp(key, id, strlen(id)) == 0);
	grid_client_reply_free(r);
	/* Stored hashed only. */
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM api_key WHERE key_hash::text LIKE '%%%s%%'", key + 12);
	char *v = itest_sql(f.db.url, sql);
	ASSERT_EQ_STR(v, "0");
	free(v);

	c = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_authenticate(c, key), 0);
	ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z5"), 0);
	ASSERT_EQ_INT(itest_get_node(c, "WH-YLDL"), CODE(PERMISSION_DENIED)); /* other community */
	Grid__V1__Request ls = GRID__V1__REQUEST__INIT;
	Grid__V1__ListChildrenRequest lc = GRID__V1__LIST_CHILDREN_REQUEST__INIT;
	lc.code = (char *)"WH-TZL";
	ls.call_case = GRID__V1__REQUEST__CALL_LIST_CHILDREN;
	ls.list_children = &lc;
	r = itest_call(c, &ls);
	ASSERT_EQ_INT(itest_code(r), CODE(PERMISSION_DENIED)); /* not one of its calls */
	grid_client_reply_free(r);
	/* A mistyped key is turned away by its checksum. */
	key[20] = key[20] == 'A' ? 'B' : 'A';
	struct grid_client *c2 = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_authenticate(c2, key), CODE(UNAUTHENTICATED));
	grid_client_destroy(c2);

	/* Revoked: the live connection stops at once. */
	Grid__V1__RevokeApiKeyRequest rv = GRID__V1__REVOKE_API_KEY_REQUEST__INIT;
	rv.id = id;
	req.call_case = GRID__V1__REQUEST__CALL_REVOKE_API_KEY;
	req.revoke_api_key = &rv;
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT(r->revoke_api_key->revoked);
	grid_client_reply_free(r);
	ASSERT_EQ_INT(itest_get_node(c, "WH-TZL-Z5"), CODE(UNAUTHENTICATED));
	grid_client_destroy(c);
	itest_teardown(&f);
}

/* --- 100 logins at once --------------------------------------------------- */

#define LOGINS 100

static char storm_token[128];

struct storm {
	uv_timer_t timer; /* paces the reads: one every 2 ms */
	int logins_ok, logins_failed, logins_done;
	int pings, slow_pings;
	uint64_t worst_ping_ms, ping_sent;
	struct grid_client *pinger;
	bool stop;
};

static void on_login(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct storm *s = data;

	s->logins_done++;
	if (status == 0 && r->status->code == CODE(OK))
		s->logins_ok++;
	else
		s->logins_failed++;
}

static void on_login_connect(struct grid_client *c, int status, void *data)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__LoginRequest m = GRID__V1__LOGIN_REQUEST__INIT;

	ASSERT_EQ_INT(status, 0);
	m.username = (char *)ITEST_ADMIN;
	m.password = (char *)ITEST_ADMIN_PASSWORD;
	req.call_case = GRID__V1__REQUEST__CALL_LOGIN;
	req.login = &m;
	ASSERT_EQ_INT(grid_client_call_async(c, &req, on_login, data), 0);
}

static void send_ping(struct storm *s);

static void on_pace(uv_timer_t *t)
{
	struct storm *s = t->data;

	if (!s->stop)
		send_ping(s);
}

static void on_pong(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct storm *s = data;
	uint64_t ms = itest_now_ms() - s->ping_sent;

	if (s->stop)
		return; /* cancelled at the end */
	ASSERT_EQ_INT(status, 0);
	ASSERT_EQ_INT(r->status->code, CODE(OK));
	s->pings++;
	if (ms > s->worst_ping_ms)
		s->worst_ping_ms = ms;
	uv_timer_start(&s->timer, on_pace, 2, 0);
}

static void send_ping(struct storm *s)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetNodeRequest m = GRID__V1__GET_NODE_REQUEST__INIT;

	m.code = (char *)"WH-TZL-Z5-ZTY";
	req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
	req.get_node = &m;
	s->ping_sent = itest_now_ms();
	ASSERT_EQ_INT(grid_client_call_async(s->pinger, &req, on_pong, s), 0);
}

static void on_pinger_authenticated(struct grid_client *c, int status, const Grid__V1__Reply *r,
				    void *data)
{
	ASSERT_EQ_INT(r->status->code, CODE(OK));
	send_ping(data);
}

static void on_pinger_connect(struct grid_client *c, int status, void *data)
{
	struct storm *s = data;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest m = GRID__V1__AUTHENTICATE_REQUEST__INIT;

	ASSERT_EQ_INT(status, 0);
	m.token = storm_token;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &m;
	ASSERT_EQ_INT(grid_client_call_async(s->pinger, &req, on_pinger_authenticated, s), 0);
}

TEST(hundred_logins_at_once_while_others_are_served)
{
	struct itest_fix f;
	/* Hashes of some weight (libsodium's interactive limits cost about a
	 * third of a second each on these machines: 100 would take 16 s on
	 * two cores; these take a tenth of that). */
	const char *const real[] = {"--set", "auth.pwhash_opslimit=2", "--set",
				    "auth.pwhash_memlimit_kib=16384", NULL};
	struct grid_client *clients[LOGINS];
	struct storm s = {0};
	uv_loop_t loop;

	itest_setup(&f, real, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	snprintf(storm_token, sizeof(storm_token), "%s", f.g.admin_token);
	uv_loop_init(&loop);
	uv_timer_init(&loop, &s.timer);
	s.timer.data = &s;
	s.pinger = grid_client_create(&loop, NULL);
	ASSERT_EQ_INT(grid_client_connect_async(s.pinger, f.g.address, on_pinger_connect, &s), 0);
	for (int i = 0; i < LOGINS; i++) {
		clients[i] = grid_client_create(&loop, NULL);
		ASSERT_EQ_INT(
		    grid_client_connect_async(clients[i], f.g.address, on_login_connect, &s), 0);
	}
	uint64_t t0 = itest_now_ms();
	while (s.logins_done < LOGINS && itest_now_ms() - t0 < 120000)
		uv_run(&loop, UV_RUN_ONCE);
	s.stop = true;
	uint64_t took = itest_now_ms() - t0;
	fprintf(stderr, "%d logins in %llu ms; %d reads meanwhile, the slowest %llu ms\n",
		s.logins_ok, (unsigned long long)took, s.pings,
		(unsigned long long)s.worst_ping_ms);
	ASSERT_EQ_INT(s.logins_ok, LOGINS);
	/* Hashing is off the loop: reads kept flowing all along. */
	ASSERT(s.pings > 20);
	ASSERT_MSG(s.worst_ping_ms < 500, "a read waited %llu ms behind the logins",
		   (unsigned long long)s.worst_ping_ms);
	for (int i = 0; i < LOGINS; i++)
		grid_client_destroy(clients[i]);
	grid_client_destroy(s.pinger);
	uv_close((uv_handle_t *)&s.timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ASSERT_EQ_INT(uv_loop_close(&loop), 0);
	itest_teardown(&f);
}
