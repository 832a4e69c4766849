/* Schema migrations and the start-up database connection.
 *
 * gridd carries its numbered migrations (server/migrations/NNNN_*.sql,
 * embedded at build time). At start, before the loop runs, main.c connects
 * with db_connect_wait() and calls migrate_apply(), which applies those not
 * yet recorded in schema_migration, each in its own transaction, under an
 * advisory lock so that several gridd processes starting together apply each
 * migration once. Start-up may block; nothing is being served yet.
 */
#pragma once

#include <stddef.h>

#include <libpq-fe.h>

struct migration {
	unsigned version;
	const char *name;
	const char *sql;
};

extern const struct migration migrations[];
extern const unsigned nmigrations;

/* Connects (blocking), retrying for up to wait_ms while the server is not
 * accepting connections yet. Returns NULL with a message in err. */
PGconn *db_connect_wait(const char *conninfo, unsigned wait_ms, char *err, size_t errlen);

/* Applies pending migrations. Returns the number applied (>= 0) or a
 * negative errno with a message in err. Refuses a database whose schema is
 * newer than this gridd. */
int migrate_apply(PGconn *pg, char *err, size_t errlen);
