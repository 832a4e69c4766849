/* Every SQL statement of the accounts domain and the reading of its rows.
 * Changes other gridd processes must follow send NOTIFY auth_changed from
 * inside these statements, so the notice is delivered exactly when the
 * change commits. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "server/db/pool.h"

enum auth_stmt {
	AUTH_STMT_ACCOUNT_BY_NAME,
	AUTH_STMT_ACCOUNT_BY_ID,
	AUTH_STMT_LOGIN_FAILED,
	AUTH_STMT_LOGIN_OK,
	AUTH_STMT_SESSION_CREATE,
	AUTH_STMT_SESSION_LOOKUP,
	AUTH_STMT_SESSION_TOUCH,
	AUTH_STMT_SESSION_REVOKE,
	AUTH_STMT_SESSIONS_REVOKE_OTHERS,
	AUTH_STMT_GRANTS_BY_ACCOUNT,
	AUTH_STMT_GRANTS_BY_SESSION,
	AUTH_STMT_PASSWORD_OF,
	AUTH_STMT_PASSWORD_SET,
	AUTH_STMT_USER_CREATE,
	AUTH_STMT_USER_GET,
	AUTH_STMT_USER_LIST,
	AUTH_STMT_USER_SET_DISABLED,
	AUTH_STMT_GRANT,
	AUTH_STMT_REVOKE,
	AUTH_STMT_KEY_CREATE,
	AUTH_STMT_KEY_LOOKUP,
	AUTH_STMT_KEY_LIST,
	AUTH_STMT_KEY_REVOKE,
	AUTH_STMT_COUNT,
};

extern struct db_stmt auth_stmts[AUTH_STMT_COUNT];

/* Columns of AUTH_STMT_USER_GET and AUTH_STMT_USER_LIST. */
enum auth_user_col {
	USER_COL_ID,
	USER_COL_USERNAME,
	USER_COL_DISPLAY_NAME,
	USER_COL_PHONE,
	USER_COL_DISABLED,
	USER_COL_CREATED_MS,
	USER_COL_GRANTS, /* "role:node_id,role:node_id" */
};

int64_t auth_db_i64(const PGresult *res, int row, int col);
bool auth_db_bool(const PGresult *res, int row, int col);
/* Splits a PostgreSQL text[] literal ("{a,b}") into malloc'd strings. */
int auth_db_text_array(const char *literal, char ***ret_items, size_t *ret_n);
