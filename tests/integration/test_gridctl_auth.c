/* gridctl's accounts, roles, API keys and audit trail end to end, as the
 * people of the grid use them: logging in (password from stdin), the token
 * file it keeps, whoami, logging out for good, commands refused without a
 * session, accounts and roles scoped to a subtree (a zone leader sees his
 * zone and nothing else), disabled accounts, API keys limited to some calls
 * and revoked, and the audit trail naming who did what, down to a tampered
 * row found by audit verify. Every gridctl here runs without the harness's
 * admin session: it logs in itself, into a token file of this test.
 */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness/itest.h"

#define PASSWORD ITEST_ADMIN_PASSWORD "\n"

struct fix {
	struct itest_fix base; /* the sample grid imported */
	char dir[512];	       /* this test's files */
	char config_env[600];  /* XDG_CONFIG_HOME=dir/config */
	const char *env[3];    /* for itest_gridctl_env: the default token file */
};

static void setup(struct fix *f)
{
	static unsigned counter;

	itest_setup(&f->base, NULL, ITEST_WITH_SAMPLE);
	snprintf(f->dir, sizeof(f->dir), "%s/auth-%u", itest_tmpdir(), counter++);
	ASSERT(mkdir(f->dir, 0700) == 0);
	snprintf(f->config_env, sizeof(f->config_env), "XDG_CONFIG_HOME=%s/config", f->dir);
	/* The default token file under our XDG_CONFIG_HOME, not the
	 * harness's GRID_TOKEN_FILE. */
	f->env[0] = f->config_env;
	f->env[1] = "GRID_TOKEN_FILE=";
	f->env[2] = NULL;
}

/* gridctl with no credential but what the arguments and f->env give. */
#define CTL(f, in, out, err, ...)                                                                  \
	itest_gridctl_env(&(f)->base.g, (f)->env, (in), (out), (err),                              \
			  (const char *const[]){__VA_ARGS__, NULL})

/* f->dir/name, into buf. */
static const char *path_in(const struct fix *f, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", f->dir, name);
	return buf;
}

/* The line of text holding needle, copied into buf ("" when none). */
static const char *line_with(const char *text, const char *needle, char *buf, size_t size)
{
	const char *p = strstr(text, needle), *start, *end;

	buf[0] = '\0';
	if (!p)
		return buf;
	for (start = p; start > text && start[-1] != '\n'; start--)
		;
	end = strchr(p, '\n');
	if (!end)
		end = p + strlen(p);
	snprintf(buf, size, "%.*s", (int)(end - start), start);
	return buf;
}

/* Logs username in with password into token file path; returns the exit
 * code. */
static int login_to(struct fix *f, const char *path, const char *username, const char *password)
{
	char in[200];

	snprintf(in, sizeof(in), "%s\n", password);
	return CTL(f, in, NULL, NULL, "--token-file", path, "login", username, "--password-stdin");
}

/* Creates a user as the admin (logged in with token file admin) with one
 * role; asserts success. */
static void add_user(struct fix *f, const char *admin, const char *username, const char *password,
		     const char *grant)
{
	char in[200], *out, *err;

	snprintf(in, sizeof(in), "%s\n", password);
	int rc = CTL(f, in, &out, &err, "--token-file", admin, "user", "add", username, "--role",
		     grant, "--password-stdin");
	ASSERT_MSG(rc == 0, "user add %s: exit %d: %s", username, rc, err);
	free(out);
	free(err);
}

TEST(login_whoami_logout)
{
	struct fix f;
	char file[700], old[700], cmd[2000], *out, *err, *text;
	struct stat st;
	FILE *fp;

	setup(&f);
	ASSERT_EQ_INT(CTL(&f, PASSWORD, &out, &err, "login", ITEST_ADMIN, "--password-stdin"), 0);
	ASSERT_MSG(strstr(out, "logged in to") && strstr(out, ITEST_ADMIN), "login said: %s", out);
	free(out);
	free(err);

	/* The token sits in the default file of this server, 0600 in a 0700
	 * directory, where gridctl found it and nobody else can read it. */
	const char *colon = strrchr(f.base.g.address, ':');
	snprintf(file, sizeof(file), "%s/config/gridctl/sessions/%.*s_%s", f.dir,
		 (int)(colon - f.base.g.address), f.base.g.address, colon + 1);
	ASSERT_MSG(stat(file, &st) == 0, "no token file %s", file);
	ASSERT_EQ_INT(st.st_mode & 0777, 0600);
	snprintf(old, sizeof(old), "%s/config/gridctl/sessions", f.dir);
	ASSERT(stat(old, &st) == 0);
	ASSERT_EQ_INT(st.st_mode & 0777, 0700);
	fp = fopen(file, "r");
	ASSERT_NOT_NULL(fp);
	text = calloc(1, 4096);
	ASSERT(fread(text, 1, 4095, fp) > 0);
	fclose(fp);
	ASSERT(strstr(text, "token=gs_") != NULL);
	ASSERT(strstr(text, "user=" ITEST_ADMIN "\n") != NULL);

	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "whoami"), 0);
	ASSERT_MSG(strstr(out, ITEST_ADMIN) && strstr(out, "测试管理员") &&
		       strstr(out, "district_admin@-") && strstr(out, "whole grid") &&
		       strstr(out, "session"),
		   "whoami said: %s", out);
	free(out);
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--json", "whoami"), 0);
	ASSERT_MSG(strstr(out, "\"kind\":\"user\"") && strstr(out, "\"username\":\"admin\"") &&
		       strstr(out, "\"display_name\":\"测试管理员\"") &&
		       strstr(out, "{\"role\":\"district_admin\",\"node_code\":\"\"") &&
		       !strstr(out, "\"expires_at_ms\":0,"),
		   "whoami --json said: %s", out);
	free(out);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "node", "show", "WH-TZL"), 0);

	/* Logging in again ends the session it replaces. */
	path_in(&f, "first.token", old, sizeof(old));
	snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", file, old);
	ASSERT_EQ_INT(system(cmd), 0);
	ASSERT_EQ_INT(CTL(&f, PASSWORD, NULL, NULL, "login", ITEST_ADMIN, "--password-stdin"), 0);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", old, "node", "show", "WH-TZL"), 4);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "node", "show", "WH-TZL"), 0);

	/* Keep a copy of the token file: after logout it must be useless. */
	path_in(&f, "old.token", old, sizeof(old));
	snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", file, old);
	ASSERT_EQ_INT(system(cmd), 0);

	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "logout"), 0);
	ASSERT_MSG(strstr(out, "logged out of"), "logout said: %s", out);
	free(out);
	ASSERT(access(file, F_OK) != 0);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, &err, "node", "show", "WH-TZL"), 4);
	ASSERT_MSG(strstr(err, "not logged in to") && strstr(err, "gridctl login"), "said: %s",
		   err);
	free(err);

	/* A second gridctl with the old token: revoked on the server. */
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, &err, "--token-file", old, "node", "show", "WH-TZL"), 4);
	snprintf(cmd, sizeof(cmd), "gridctl --token-file %s login admin", old);
	ASSERT_MSG(strstr(err, cmd) != NULL, "no '%s' in: %s", cmd, err);
	free(err);
	/* Logging out of an ended session only removes the file. */
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", old, "logout"), 0);
	ASSERT(access(old, F_OK) != 0);
	/* Nothing left to log out of. */
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "logout"), 0);
	free(text);
	itest_teardown(&f.base);
}

TEST(logout_with_the_server_gone_still_forgets)
{
	struct fix f;
	char token[700], *err;

	setup(&f);
	path_in(&f, "admin.token", token, sizeof(token));
	ASSERT_EQ_INT(login_to(&f, token, ITEST_ADMIN, ITEST_ADMIN_PASSWORD), 0);
	ASSERT_EQ_INT(itest_gridd_stop(&f.base.g), 0);
	/* The server cannot revoke it: the file goes all the same, and
	 * gridctl says what is left (exit 5, server unavailable). */
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, &err, "--token-file", token, "logout"), 5);
	ASSERT(access(token, F_OK) != 0);
	ASSERT_MSG(strstr(err, "removed") && strstr(err, "valid"), "said: %s", err);
	free(err);
	itest_db_drop(&f.base.db);
}

TEST(without_a_session_only_ping)
{
	struct fix f;
	char *out, *err;

	setup(&f);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, &err, "node", "ls"), 4);
	ASSERT_MSG(strstr(err, "not logged in to") && strstr(err, f.base.g.address), "said: %s",
		   err);
	free(err);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, &err, "--json", "node", "show", "WH-TZL"), 4);
	ASSERT(strstr(err, "\"code\":\"UNAUTHENTICATED\"") != NULL);
	free(err);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "user", "ls"), 4);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "audit", "verify"), 4);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "whoami"), 4);
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "ping"), 0);
	ASSERT(strstr(out, "gridd") != NULL);
	free(out);

	/* A wrong password gets no session and leaves no file. */
	ASSERT_EQ_INT(
	    CTL(&f, "not-the-password\n", NULL, &err, "login", ITEST_ADMIN, "--password-stdin"), 4);
	ASSERT(strstr(err, "login") != NULL);
	free(err);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "node", "ls"), 4);
	/* Nor does a made-up token. */
	const char *bogus[] = {"GRID_TOKEN=gs_made_up_token", NULL};
	ASSERT_EQ_INT(itest_gridctl_env(&f.base.g, bogus, NULL, NULL, &err,
					(const char *const[]){"node", "ls", NULL}),
		      4);
	ASSERT(strstr(err, "GRID_TOKEN") != NULL);
	free(err);
	itest_teardown(&f.base);
}

TEST(an_expired_session_says_log_in_again)
{
	struct fix f;
	char token[700], hint[1400], *err;

	setup(&f);
	path_in(&f, "admin.token", token, sizeof(token));
	ASSERT_EQ_INT(login_to(&f, token, ITEST_ADMIN, ITEST_ADMIN_PASSWORD), 0);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", token, "node", "ls"), 0);
	/* Expire it behind gridd's back; a restarted gridd knows only the
	 * database. */
	ASSERT_EQ_INT(itest_gridd_stop(&f.base.g), 0);
	free(itest_sql(f.base.db.url,
		       "UPDATE session SET expires_at = now() - interval '1 minute'"));
	itest_gridd_start(&f.base.g, f.base.db.url, NULL);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, &err, "--token-file", token, "node", "ls"), 4);
	snprintf(hint, sizeof(hint), "gridctl --token-file %s login admin", token);
	ASSERT_MSG(strstr(err, "expired") && strstr(err, "log in again") && strstr(err, hint),
		   "said: %s", err);
	free(err);
	itest_teardown(&f.base);
}

TEST(passwd_changes_the_password)
{
	struct fix f;
	char admin[700], mine[700], *err;

	setup(&f);
	path_in(&f, "admin.token", admin, sizeof(admin));
	path_in(&f, "wangfang.token", mine, sizeof(mine));
	ASSERT_EQ_INT(login_to(&f, admin, ITEST_ADMIN, ITEST_ADMIN_PASSWORD), 0);
	add_user(&f, admin, "wangfang", "first-password-1", "courtyard_rep@WH-TZL-Z5-ZTY");
	ASSERT_EQ_INT(login_to(&f, mine, "wangfang", "first-password-1"), 0);
	/* A wrong current password changes nothing. */
	ASSERT(CTL(&f, "wrong-password-0\nsecond-password-2\n", NULL, NULL, "--token-file", mine,
		   "passwd", "--password-stdin") != 0);
	ASSERT_EQ_INT(CTL(&f, "first-password-1\nsecond-password-2\n", NULL, &err, "--token-file",
			  mine, "passwd", "--password-stdin"),
		      0);
	free(err);
	ASSERT_EQ_INT(login_to(&f, mine, "wangfang", "first-password-1"), 4);
	ASSERT_EQ_INT(login_to(&f, mine, "wangfang", "second-password-2"), 0);
	itest_teardown(&f.base);
}

TEST(users_roles_and_a_zone_leaders_view)
{
	struct fix f;
	char admin[700], leader[700], line[1024], *out, *err;

	setup(&f);
	path_in(&f, "admin.token", admin, sizeof(admin));
	path_in(&f, "lijun.token", leader, sizeof(leader));
	ASSERT_EQ_INT(login_to(&f, admin, ITEST_ADMIN, ITEST_ADMIN_PASSWORD), 0);

	ASSERT_EQ_INT(CTL(&f, "lijun-password-1\n", &out, &err, "--token-file", admin, "user",
			  "add", "lijun", "--name", "李军", "--phone", "13800000100", "--role",
			  "zone_leader@WH-TZL-Z5", "--password-stdin"),
		      0);
	ASSERT_MSG(strstr(out, "zone_leader@WH-TZL-Z5") && strstr(out, "李军"), "said: %s", out);
	free(out);
	free(err);
	/* Role names with '-' and in capitals are the same roles. */
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "user", "grant", "lijun",
			  "Resident@WH-TZL-Z5-ZTY-B1"),
		      0);
	ASSERT(strstr(out, "resident@WH-TZL-Z5-ZTY-B1") && strstr(out, "zone_leader@WH-TZL-Z5"));
	free(out);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", admin, "user", "grant", "lijun",
			  "zone_leader"),
		      2);
	ASSERT_EQ_INT(
	    CTL(&f, NULL, NULL, NULL, "--token-file", admin, "user", "grant", "lijun", "mayor@WH"),
	    2);
	add_user(&f, admin, "zhou.min", "zhou-password-1", "building-head@WH-TZL-Z1");

	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "user", "ls", "WH-TZL"), 0);
	ASSERT(strstr(out, "USERNAME") == out);
	ASSERT(strstr(out, "ROLES") && strstr(out, "STATUS"));
	line_with(out, "lijun", line, sizeof(line));
	ASSERT_MSG(strstr(line, "李军") && strstr(line, "13800000100") &&
		       strstr(line, "zone_leader@WH-TZL-Z5") &&
		       strstr(line, "resident@WH-TZL-Z5-ZTY-B1") && strstr(line, "active"),
		   "lijun's line: %s", line);
	ASSERT(strstr(out, "building_head@WH-TZL-Z1") != NULL);
	free(out);
	/* Only the accounts with a role in the subtree. */
	ASSERT_EQ_INT(
	    CTL(&f, NULL, &out, NULL, "--token-file", admin, "--json", "user", "ls", "WH-TZL-Z5"),
	    0);
	ASSERT(strstr(out, "\"username\":\"lijun\"") && !strstr(out, "zhou.min"));
	free(out);

	/* The zone leader sees his zone, and nothing beside it. */
	ASSERT_EQ_INT(login_to(&f, leader, "lijun", "lijun-password-1"), 0);
	ASSERT_EQ_INT(
	    CTL(&f, NULL, &out, NULL, "--token-file", leader, "node", "show", "WH-TZL-Z5-ZTY"), 0);
	ASSERT(strstr(out, "梓潼苑") != NULL);
	free(out);
	ASSERT_EQ_INT(
	    CTL(&f, NULL, NULL, NULL, "--token-file", leader, "node", "tree", "WH-TZL-Z5"), 0);
	ASSERT_EQ_INT(
	    CTL(&f, NULL, NULL, &err, "--token-file", leader, "node", "show", "WH-TZL-Z1"), 4);
	free(err);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", leader, "node", "rename",
			  "WH-TZL-Z1", "改名"),
		      4);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", leader, "user", "grant", "lijun",
			  "district_admin@-"),
		      4);

	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "user", "revoke", "lijun",
			  "resident@WH-TZL-Z5-ZTY-B1"),
		      0);
	/* Named once: in "revoked ...", no longer among the roles. */
	const char *first = strstr(out, "resident@");
	ASSERT_MSG(first && !strstr(first + 1, "resident@"), "said: %s", out);
	free(out);

	/* Disabled: the session in use ends, and no new one. */
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "user", "disable", "lijun"),
		      0);
	ASSERT(strstr(out, "disabled") != NULL);
	free(out);
	ASSERT_EQ_INT(
	    CTL(&f, NULL, NULL, NULL, "--token-file", leader, "node", "show", "WH-TZL-Z5"), 4);
	ASSERT_EQ_INT(login_to(&f, leader, "lijun", "lijun-password-1"), 4);
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "user", "ls", "WH-TZL"), 0);
	ASSERT(strstr(out, "lijun") == NULL);
	free(out);
	ASSERT_EQ_INT(
	    CTL(&f, NULL, &out, NULL, "--token-file", admin, "user", "ls", "WH-TZL", "--all"), 0);
	line_with(out, "lijun", line, sizeof(line));
	ASSERT_MSG(strstr(line, "disabled") != NULL, "lijun's line: %s", line);
	free(out);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", admin, "user", "enable", "lijun"),
		      0);
	ASSERT_EQ_INT(login_to(&f, leader, "lijun", "lijun-password-1"), 0);
	ASSERT_EQ_INT(
	    CTL(&f, NULL, NULL, NULL, "--token-file", leader, "node", "show", "WH-TZL-Z5"), 0);
	itest_teardown(&f.base);
}

/* The value of "key":"..." in JSON text, into buf. */
static const char *json_value(const char *json, const char *key, char *buf, size_t size)
{
	char pat[64];
	const char *p, *end;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(json, pat);
	ASSERT_MSG(p != NULL, "no %s in %s", key, json);
	p += strlen(pat);
	end = strchr(p, '"');
	ASSERT_NOT_NULL(end);
	snprintf(buf, size, "%.*s", (int)(end - p), p);
	return buf;
}

TEST(api_keys_allow_what_they_name)
{
	struct fix f;
	char admin[700], key[256], id[64], env_key[300], *out, *err;

	setup(&f);
	path_in(&f, "admin.token", admin, sizeof(admin));
	ASSERT_EQ_INT(login_to(&f, admin, ITEST_ADMIN, ITEST_ADMIN_PASSWORD), 0);
	ASSERT_EQ_INT(CTL(&f, NULL, &out, &err, "--token-file", admin, "apikey", "create",
			  "12345热线", "--node", "WH-TZL", "--method", "GetNode,get_ancestors",
			  "--method", "who-am-i", "--expires", "30d"),
		      0);
	/* stdout is the key alone; the warning is on stderr. */
	ASSERT_EQ_INT(itest_count_lines(out), 1);
	snprintf(key, sizeof(key), "%.*s", (int)strcspn(out, "\n"), out);
	ASSERT_MSG(strncmp(key, "gk_", 3) == 0, "key: %s", key);
	ASSERT_MSG(strstr(err, "only time") != NULL, "said: %s", err);
	free(out);
	free(err);

	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "--json", "apikey", "ls"),
		      0);
	ASSERT_MSG(strstr(out, "\"name\":\"12345热线\"") &&
		       strstr(out, "\"methods\":[\"GetNode\",\"GetAncestors\",\"WhoAmI\"]") &&
		       strstr(out, "\"node_code\":\"WH-TZL\""),
		   "apikey ls: %s", out);
	json_value(out, "id", id, sizeof(id));
	ASSERT(strncmp(key, id, strlen(id)) == 0 || strstr(key, id + 3) != NULL);
	free(out);

	/* Its calls, inside its subtree. */
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--api-key", key, "node", "show", "WH-TZL-Z5"), 0);
	ASSERT(strstr(out, "WH-TZL-Z5") != NULL);
	free(out);
	snprintf(env_key, sizeof(env_key), "GRID_API_KEY=%s", key);
	const char *env[] = {env_key, NULL};
	ASSERT_EQ_INT(itest_gridctl_env(&f.base.g, env, NULL, NULL, NULL,
					(const char *const[]){"node", "show", "WH-TZL", NULL}),
		      0);
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--api-key", key, "whoami"), 0);
	ASSERT_MSG(strstr(out, "api key") && strstr(out, id) && strstr(out, "GetNode"), "said: %s",
		   out);
	free(out);
	/* Not a call it was given, nor a node outside its subtree. */
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--api-key", key, "node", "ls", "WH-TZL"), 4);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--api-key", key, "node", "show", "WH-HCNZ"), 4);
	ASSERT_EQ_INT(
	    CTL(&f, NULL, NULL, NULL, "--api-key", key, "node", "rename", "WH-TZL-Z5", "x"), 4);

	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "apikey", "revoke", id), 0);
	ASSERT(strstr(out, "revoked") != NULL);
	free(out);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, &err, "--api-key", key, "node", "show", "WH-TZL-Z5"), 4);
	ASSERT(strstr(err, "API key") != NULL);
	free(err);
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "apikey", "ls"), 0);
	ASSERT(strstr(out, id) == NULL);
	free(out);
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "apikey", "ls", "--all"), 0);
	ASSERT(strstr(out, id) && strstr(out, "revoked"));
	free(out);
	/* Bad command lines are refused before anything is sent. */
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", admin, "apikey", "create", "x"), 2);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", admin, "apikey", "create", "x",
			  "--node", "WH", "--expires", "2001-01-01"),
		      2);
	itest_teardown(&f.base);
}

TEST(audit_names_who_did_what)
{
	struct fix f;
	char admin[700], leader[700], line[1024], *out, *err;

	setup(&f);
	path_in(&f, "admin.token", admin, sizeof(admin));
	path_in(&f, "z5.token", leader, sizeof(leader));
	ASSERT_EQ_INT(login_to(&f, admin, ITEST_ADMIN, ITEST_ADMIN_PASSWORD), 0);
	add_user(&f, admin, "z5_leader", "z5-password-1", "zone_leader@WH-TZL-Z5");
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", admin, "node", "rename",
			  "WH-TZL-Z1", "桐梓林一片区"),
		      0);
	ASSERT_EQ_INT(login_to(&f, leader, "z5_leader", "z5-password-1"), 0);
	ASSERT_EQ_INT(CTL(&f, NULL, NULL, NULL, "--token-file", leader, "node", "leader",
			  "WH-TZL-Z5-ZTY", "王芳", "13800000024"),
		      0);

	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "audit", "ls"), 0);
	ASSERT(strstr(out, "TIME") == out);
	ASSERT(strstr(out, "ACTOR") && strstr(out, "METHOD") && strstr(out, "SUMMARY"));
	line_with(out, "CreateUser", line, sizeof(line));
	ASSERT_MSG(strstr(line, "admin") != NULL, "CreateUser line: %s", line);
	line_with(out, "RenameNode", line, sizeof(line));
	ASSERT_MSG(strstr(line, "admin") && strstr(line, "WH-TZL-Z1"), "RenameNode line: %s", line);
	line_with(out, "SetLeader", line, sizeof(line));
	ASSERT_MSG(strstr(line, "z5_leader") && strstr(line, "WH-TZL-Z5-ZTY"), "SetLeader line: %s",
		   line);
	/* Newest first. */
	ASSERT(strstr(out, "SetLeader") < strstr(out, "RenameNode"));
	free(out);

	/* A subtree's entries only, as JSON. */
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "--json", "audit", "ls",
			  "--node", "WH-TZL-Z5", "--since", "1h"),
		      0);
	ASSERT_MSG(strstr(out, "\"actor\":\"z5_leader\"") &&
		       strstr(out, "\"method\":\"SetLeader\"") &&
		       !strstr(out, "\"method\":\"RenameNode\""),
		   "audit ls --json: %s", out);
	free(out);
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "--json", "audit", "ls",
			  "--until", "2001-01-01"),
		      0);
	ASSERT_EQ_STR(out, "[]\n");
	free(out);
	ASSERT_EQ_INT(
	    CTL(&f, NULL, &out, &err, "--token-file", admin, "audit", "ls", "--limit", "1"), 0);
	ASSERT_EQ_INT(itest_count_lines(out), 2);
	ASSERT(strstr(out, "SetLeader") != NULL);
	ASSERT(strstr(err, "more") != NULL);
	free(out);
	free(err);

	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "audit", "verify"), 0);
	ASSERT_MSG(strstr(out, "audit trail intact: ") && !strstr(out, "intact: 0 "), "said: %s",
		   out);
	free(out);

	/* Someone with database access rewrites history, getting round the
	 * trigger that keeps the table append-only. */
	free(itest_sql(f.base.db.url, "SET session_replication_role = replica; "
				      "UPDATE audit_log SET summary = 'nothing happened' "
				      "WHERE seq = (SELECT max(seq) FROM audit_log)"));
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "audit", "verify"), 7);
	ASSERT_MSG(strstr(out, "audit trail BROKEN at entry ") != NULL, "said: %s", out);
	free(out);
	ASSERT_EQ_INT(CTL(&f, NULL, &out, NULL, "--token-file", admin, "--json", "audit", "verify"),
		      7);
	ASSERT(strstr(out, "\"ok\":false") != NULL);
	free(out);
	itest_teardown(&f.base);
}
