/* The working-time calendar and the per-level case deadlines in the
 * database (migration 0004_calendar.sql: tables work_calendar and
 * case_deadline, functions work_add, work_between, case_deadlines,
 * case_deadline_ms).
 *
 * server_start() calls calendar_apply() once, right after the migrations,
 * on its blocking start-up connection: it replaces both tables with what
 * the [calendar] and [cases] configuration says. The case module's SQL then
 * counts every deadline in that working time.
 */
#pragma once

#include <stddef.h>

#include <libpq-fe.h>

struct config;

/* Writes cfg's calendar and deadlines in one transaction (blocking; borrows
 * pg and cfg). Several gridd processes may do it at once: the database
 * serializes them, and one that changes nothing writes nothing. Returns 0,
 * or a negative errno with a message naming the setting in err (e.g. a time
 * zone PostgreSQL does not know). */
int calendar_apply(PGconn *pg, const struct config *cfg, char *err, size_t errlen);
