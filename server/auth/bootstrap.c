/* `gridd bootstrap-admin`: the first district admin of a fresh database.
 * There is no built-in account and no default password: someone who can
 * run gridd against the database creates the first admin, once, with a
 * password of their choosing; everyone else is created by people through
 * CreateUser. Runs before the loop, on a blocking connection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server/auth/auth.h"
#include "server/auth/auth_private.h"
#include "server/auth/hasher.h"
#include "server/config.h"

static int exec(PGconn *pg, const char *sql, int n, const char *const *params, char *err,
		size_t errlen, PGresult **ret_res)
{
	PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		PQclear(res);
		return -EIO;
	}
	if (ret_res)
		*ret_res = res;
	else
		PQclear(res);
	return 0;
}

int auth_bootstrap_admin(PGconn *pg, const struct config *cfg, const char *username,
			 const char *display_name, const char *password, char *err, size_t errlen)
{
	struct hasher_limits limits = {cfg->pwhash_opslimit,
				       (size_t)cfg->pwhash_memlimit_kib * 1024};
	char hash[crypto_pwhash_STRBYTES], summary[256];
	const char *why;
	PGresult *res;
	int r;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "cannot initialise libsodium");
		return -ENOMEM;
	}
	if ((why = auth_check_username(username)) || (why = auth_check_password(password))) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	if (hasher_hash_now(&limits, password, hash) < 0) {
		snprintf(err, errlen, "cannot hash the password (out of memory?)");
		return -ENOMEM;
	}
	snprintf(summary, sizeof(summary), "created the first district admin %s for the whole grid",
		 username);
	/* The lock makes "no account yet" and the insert one step, even when
	 * two people run this at once. */
	r = exec(pg, "BEGIN", 0, NULL, err, errlen, NULL);
	if (r == 0)
		r = exec(pg, "LOCK TABLE account IN EXCLUSIVE MODE", 0, NULL, err, errlen, NULL);
	if (r == 0)
		r = exec(pg, "SELECT count(*) FROM account", 0, NULL, err, errlen, &res);
	if (r == 0) {
		long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		if (n > 0) {
			snprintf(
			    err, errlen,
			    "the database has accounts already; create users with 'gridctl user "
			    "add' as an administrator");
			r = -EEXIST;
		}
	}
	if (r == 0) {
		const char *params[4] = {username, display_name, hash, summary};
		r = exec(pg,
			 "WITH a AS (INSERT INTO account (username, display_name, password_hash) "
			 "VALUES ($1, $2, $3) RETURNING id) "
			 "INSERT INTO role_grant (account_id, role, node_id, granted_by) "
			 "SELECT id, 1, NULL, 'bootstrap' FROM a",
			 3, params, err, errlen, NULL);
		if (r == 0)
			r = exec(pg,
				 "SELECT audit_append('bootstrap', 'BootstrapAdmin', NULL, '', $1)",
				 1, params + 3, err, errlen, NULL);
	}
	if (r == 0)
		r = exec(pg, "COMMIT", 0, NULL, err, errlen, NULL);
	else
		PQclear(PQexec(pg, "ROLLBACK"));
	sodium_memzero(hash, sizeof(hash));
	return r;
}
