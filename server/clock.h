/* gridd's clock for deadlines. In production it is the wall clock, and SQL
 * functions that take a "now" get NULL, meaning the database's own now(),
 * so that every gridd process agrees. Built for tests (the gridd-testclock
 * binary, GRID_TEST_CLOCK defined), it can be moved forward by the
 * AdvanceClock call, and SQL gets the moved time; the production gridd
 * carries no such code. Used by the case and task modules and the sweeper.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"

/* Unix time in milliseconds, as the deadlines see it. */
int64_t clock_now_ms(void);
/* The value for an SQL "p_now_ms bigint" parameter: NULL in production
 * (the database's now()), the moved time in test builds. */
const char *clock_sql_param(struct arena *a);
/* Moves the clock; -ENOSYS in production builds. */
int clock_advance(int64_t ms);
bool clock_is_test(void);
