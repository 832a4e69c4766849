/* Start-up connection and migrations; see migrate.h. */
#include "server/db/migrate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/db/pool.h"
#include "server/log.h"

/* An arbitrary constant naming gridd's migration lock. */
#define MIGRATE_LOCK_KEY "7420001"

PGconn *db_connect_wait(const char *conninfo, unsigned wait_ms, char *err, size_t errlen)
{
	const char *const keys[] = {"dbname", "fallback_application_name", NULL};
	const char *const values[] = {conninfo, "gridd", NULL};
	struct timespec start, now;
	unsigned delay_ms = 100;
	bool logged = false;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		PGconn *pg = PQconnectdbParams(keys, values, 1);
		if (pg && PQstatus(pg) == CONNECTION_OK) {
			PQsetNoticeProcessor(pg, db_ignore_notice, NULL);
			return pg;
		}
		snprintf(err, errlen, "cannot connect to the database: %s",
			 pg ? PQerrorMessage(pg) : "out of memory");
		/* libpq's messages end in a newline. */
		size_t n = strlen(err);
		while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
			err[--n] = '\0';
		PQfinish(pg);

		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed + (long)delay_ms > (long)wait_ms)
			return NULL;
		if (!logged) {
			log_warn("event=db_wait wait_ms=%u", wait_ms);
			logged = true;
		}
		struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
		if (delay_ms < 1000)
			delay_ms *= 2;
	}
}

static int exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		snprintf(err, errlen, "%s", PQresultErrorMessage(res));
	PQclear(res);
	return ok ? 0 : -EIO;
}

int migrate_apply(PGconn *pg, char *err, size_t errlen)
{
	char msg[1024];
	unsigned current = 0;
	int applied = 0, r;
	PGresult *res;

	/* The lock comes first: two processes creating the table at once
	 * would collide even with IF NOT EXISTS. */
	r = exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", msg, sizeof(msg));
	if (r < 0) {
		snprintf(err, errlen, "migrations: %s", msg);
		return r;
	}
	r = exec_ok(pg,
		    "CREATE TABLE IF NOT EXISTS schema_migration ("
		    " version integer PRIMARY KEY,"
		    " name text NOT NULL,"
		    " applied_at timestamptz NOT NULL DEFAULT now())",
		    msg, sizeof(msg));
	if (r < 0) {
		snprintf(err, errlen, "migrations: %s", msg);
		goto unlock;
	}

	res = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_migration");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "migrations: %s", PQresultErrorMessage(res));
		PQclear(res);
		r = -EIO;
		goto unlock;
	}
	current = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (current > nmigrations) {
		snprintf(err, errlen,
			 "the database schema is at migration %u but this gridd knows only %u: "
			 "run a newer gridd",
			 current, nmigrations);
		r = -EPROTO;
		goto unlock;
	}

	for (unsigned i = current; i < nmigrations; i++) {
		const struct migration *m = &migrations[i];
		char version[16];
		const char *params[2] = {version, m->name};

		snprintf(version, sizeof(version), "%u", m->version);
		r = exec_ok(pg, "BEGIN", msg, sizeof(msg));
		if (r == 0)
			r = exec_ok(pg, m->sql, msg, sizeof(msg));
		if (r == 0) {
			res = PQexecParams(
			    pg, "INSERT INTO schema_migration (version, name) VALUES ($1, $2)", 2,
			    NULL, params, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
				r = -EIO;
			}
			PQclear(res);
		}
		if (r == 0)
			r = exec_ok(pg, "COMMIT", msg, sizeof(msg));
		if (r < 0) {
			char ignored[64];
			exec_ok(pg, "ROLLBACK", ignored, sizeof(ignored));
			snprintf(err, errlen, "migration %s failed: %s", m->name, msg);
			goto unlock;
		}
		log_info("event=migration_applied version=%u name=%s", m->version, m->name);
		applied++;
	}
	r = applied;
unlock : {
	char ignored[64];
	exec_ok(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", ignored, sizeof(ignored));
}
	return r;
}
