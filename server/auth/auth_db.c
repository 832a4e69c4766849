/* SQL of the accounts domain; see auth_db.h. */
#include "server/auth/auth_db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MS(x) "(extract(epoch FROM " x ") * 1000)::bigint"

#define USER_COLS                                                                                  \
	"a.id, a.username, a.display_name, a.phone, a.disabled, " MS(                              \
	    "a.created_at") ", "                                                                   \
			    "coalesce((SELECT string_agg(g.role || ':' || coalesce(g.node_id, "    \
			    "0), ',' "                                                             \
			    "ORDER BY g.role, g.node_id) FROM role_grant g WHERE g.account_id = "  \
			    "a.id), '')"

#define NOTIFY_ACCOUNT "pg_notify('auth_changed', 'account:' || "

struct db_stmt auth_stmts[AUTH_STMT_COUNT] = {
    [AUTH_STMT_ACCOUNT_BY_NAME] = {"auth_account_by_name",
				   "SELECT id, password_hash, disabled, "
				   "coalesce(" MS(
				       "locked_until - now()") ", 0), display_name "
							       "FROM account WHERE username = $1",
				   1, 0},
    [AUTH_STMT_ACCOUNT_BY_ID] = {"auth_account_by_id", "SELECT disabled FROM account WHERE id = $1",
				 1, 0},
    /* After login_failures failures in a row the account waits 1 s, then
     * 2 s, 4 s, ... up to 15 minutes, before a login may succeed. */
    [AUTH_STMT_LOGIN_FAILED] = {"auth_login_failed",
				"UPDATE account SET failed_logins = failed_logins + 1, "
				"locked_until = CASE WHEN failed_logins + 1 >= $2::int "
				"THEN now() + least(interval '1 second' * "
				"power(2, least(failed_logins + 1 - $2::int, 20)), "
				"interval '15 minutes') ELSE locked_until END "
				"WHERE id = $1",
				2, 0},
    [AUTH_STMT_LOGIN_OK] = {"auth_login_ok",
			    "UPDATE account SET failed_logins = 0, locked_until = NULL, "
			    "password_hash = coalesce($2, password_hash) WHERE id = $1",
			    2, 0},
    [AUTH_STMT_SESSION_CREATE] =
	{"auth_session_create",
	 "INSERT INTO session (token_hash, account_id, expires_at, peer) "
	 "VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond', $4) "
	 "RETURNING " MS("expires_at"),
	 4, 0},
    [AUTH_STMT_SESSION_LOOKUP] = {"auth_session_lookup",
				  "SELECT s.account_id, a.username, a.display_name, a.disabled, "
				  "s.revoked_at IS NOT NULL, " MS("s.expires_at") ", " MS(
				      "s.last_seen_at") " FROM session s JOIN account a "
							"ON a.id = s.account_id WHERE "
							"s.token_hash = $1",
				  1, 0},
    [AUTH_STMT_SESSION_TOUCH] = {"auth_session_touch",
				 "UPDATE session SET last_seen_at = now() "
				 "WHERE token_hash = $1 AND revoked_at IS NULL",
				 1, 0},
    [AUTH_STMT_SESSION_REVOKE] = {"auth_session_revoke",
				  "UPDATE session SET revoked_at = now() "
				  "WHERE token_hash = $1 AND revoked_at IS NULL "
				  "RETURNING pg_notify('auth_changed', "
				  "'session:' || encode(token_hash, 'hex'))",
				  1, 0},
    [AUTH_STMT_SESSIONS_REVOKE_OTHERS] = {"auth_sessions_revoke_others",
					  "WITH r AS (UPDATE session SET revoked_at = now() "
					  "WHERE account_id = $1 AND token_hash <> $2 "
					  "AND revoked_at IS NULL RETURNING 1) "
					  "SELECT (SELECT count(*) FROM r), " NOTIFY_ACCOUNT
					  "$1::text)",
					  2, 0},
    [AUTH_STMT_GRANTS_BY_ACCOUNT] = {"auth_grants_by_account",
				     "SELECT role, coalesce(node_id, 0) FROM role_grant "
				     "WHERE account_id = $1 ORDER BY role, node_id",
				     1, 0},
    [AUTH_STMT_GRANTS_BY_SESSION] = {"auth_grants_by_session",
				     "SELECT role, coalesce(node_id, 0) FROM role_grant "
				     "WHERE account_id = (SELECT account_id FROM session "
				     "WHERE token_hash = $1) ORDER BY role, node_id",
				     1, 0},
    [AUTH_STMT_PASSWORD_OF] = {"auth_password_of",
			       "SELECT password_hash FROM account WHERE id = $1", 1, 0},
    [AUTH_STMT_PASSWORD_SET] = {"auth_password_set",
				"UPDATE account SET password_hash = $2, updated_at = now() "
				"WHERE id = $1",
				2, 0},
    [AUTH_STMT_USER_CREATE] =
	{"auth_user_create",
	 "WITH a AS (INSERT INTO account (username, display_name, phone, "
	 "password_hash) VALUES ($1, $2, $3, $4) RETURNING id), "
	 "g AS (INSERT INTO role_grant (account_id, role, node_id, granted_by) "
	 "SELECT a.id, u.role, nullif(u.node, 0), $7 FROM a, "
	 "unnest($5::int[], $6::bigint[]) AS u(role, node) RETURNING 1) "
	 "SELECT a.id, (SELECT count(*) FROM g) FROM a",
	 7, 0},
    [AUTH_STMT_USER_GET] = {"auth_user_get",
			    "SELECT " USER_COLS " FROM account a WHERE a.username = $1", 1, 0},
    /* Users holding a role inside one of the subtrees $3, or all of them
     * when $2 (a whole-grid caller listing everything). */
    [AUTH_STMT_USER_LIST] = {"auth_user_list",
			     "SELECT " USER_COLS " FROM account a WHERE a.username > $1 AND "
			     "($2::boolean OR EXISTS (SELECT 1 FROM role_grant g "
			     "JOIN grid_node n ON n.id = g.node_id "
			     "JOIN grid_node s ON s.id = ANY($3::bigint[]) "
			     "WHERE g.account_id = a.id AND n.path <@ s.path)) "
			     "ORDER BY a.username LIMIT $4",
			     4, 0},
    [AUTH_STMT_USER_SET_DISABLED] = {"auth_user_set_disabled",
				     "UPDATE account SET disabled = $2, updated_at = now() "
				     "WHERE id = $1 RETURNING " NOTIFY_ACCOUNT "id)",
				     2, 0},
    [AUTH_STMT_GRANT] = {"auth_grant",
			 "SELECT auth_grant_role($1, $2::int, nullif($3::bigint, 0), $4)", 4, 0},
    [AUTH_STMT_REVOKE] = {"auth_revoke",
			  "SELECT auth_revoke_role($1, $2::int, nullif($3::bigint, 0))", 3, 0},
    [AUTH_STMT_KEY_CREATE] =
	{"auth_key_create",
	 "INSERT INTO api_key (id, key_hash, name, node_id, methods, expires_at, "
	 "created_by) VALUES ($1, $2, $3, nullif($4::bigint, 0), $5::text[], "
	 "CASE WHEN $6::bigint > 0 THEN to_timestamp($6::bigint / 1000.0) END, "
	 "$7) RETURNING " MS("created_at"),
	 7, 0},
    [AUTH_STMT_KEY_LOOKUP] = {"auth_key_lookup",
			      "SELECT key_hash, name, coalesce(node_id, 0), methods, "
			      "revoked_at IS NOT NULL, coalesce(" MS(
				  "expires_at") ", 0) "
						"FROM api_key WHERE id = $1",
			      1, 0},
    [AUTH_STMT_KEY_LIST] = {"auth_key_list",
			    "SELECT id, name, coalesce(node_id, 0), methods, "
			    "coalesce(" MS("expires_at") ", 0), revoked_at IS NOT NULL, " MS(
				"created_at") ", created_by FROM api_key "
					      "WHERE $1::boolean OR revoked_at IS NULL "
					      "ORDER BY created_at, id",
			    1, 0},
    [AUTH_STMT_KEY_REVOKE] = {"auth_key_revoke",
			      "UPDATE api_key SET revoked_at = now() WHERE id = $1 "
			      "AND revoked_at IS NULL RETURNING pg_notify('auth_changed', "
			      "'key:' || id)",
			      1, 0},
};

int64_t auth_db_i64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool auth_db_bool(const PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col)[0] == 't';
}

int auth_db_text_array(const char *literal, char ***ret_items, size_t *ret_n)
{
	size_t len = strlen(literal), n = 0, cap = 0;
	char **items = NULL;
	const char *p;

	*ret_items = NULL;
	*ret_n = 0;
	if (len < 2 || literal[0] != '{' || literal[len - 1] != '}')
		return -EPROTO;
	p = literal + 1;
	while (*p && *p != '}') {
		char buf[256];
		size_t k = 0;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (k + 1 < sizeof(buf))
					buf[k++] = *p;
			}
			if (*p == '"')
				p++;
		} else {
			for (; *p && *p != ',' && *p != '}'; p++)
				if (k + 1 < sizeof(buf))
					buf[k++] = *p;
		}
		buf[k] = '\0';
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			char **v = realloc(items, cap * sizeof(*v));
			if (!v)
				goto nomem;
			items = v;
		}
		items[n] = strdup(buf);
		if (!items[n])
			goto nomem;
		n++;
		if (*p == ',')
			p++;
	}
	*ret_items = items;
	*ret_n = n;
	return 0;
nomem:
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
	return -ENOMEM;
}
