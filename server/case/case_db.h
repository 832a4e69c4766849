/* Every SQL statement of the cases domain, and the reading of case and
 * event rows into messages. Callers: case.c, case_write.c, case_read.c. */
#pragma once

#include <libpq-fe.h>

#include "common/arena.h"
#include "proto/case.pb-c.h"
#include "server/db/pool.h"

struct tree;

enum case_stmt {
	CASE_STMT_RAISE_BATCH,
	CASE_STMT_STEP,
	CASE_STMT_VOID,
	CASE_STMT_CLOSE,
	CASE_STMT_SEND_DOWN,
	CASE_STMT_SUSPEND,
	CASE_STMT_CALLBACK,
	CASE_STMT_CLAIM,
	CASE_STMT_AUDIT,
	CASE_STMT_GET,
	CASE_STMT_EVENTS,
	CASE_STMT_LIST,
	CASE_STMT_SWEEP,
	CASE_STMT_REPORT,
	CASE_STMT_COUNT,
};

extern struct db_stmt case_stmts[CASE_STMT_COUNT];

/* The columns of grid_case that case_row_msg reads. */
enum case_col {
	CC_ID,
	CC_NODE_ID,
	CC_ORIGIN_NODE_ID,
	CC_STATE,
	CC_TITLE,
	CC_DESCRIPTION,
	CC_CATEGORY,
	CC_CONTACT,
	CC_HOUSEHOLD,
	CC_SERVICE_ITEM,
	CC_URGENCY,
	CC_CHANNEL,
	CC_REPORTER,
	CC_HANDLER,
	CC_RECEIVED_AT,
	CC_LEVEL_SINCE,
	CC_ACCEPT_DUE,
	CC_RESOLVE_DUE,
	CC_OVERDUE,
	CC_RESULT_NOTE,
	CC_OUTCOME,
	CC_DUPLICATE_OF,
	CC_ESCALATIONS,
	CC_TIMEOUT_ESCALATIONS,
	CC_REWORKS,
	CC_SUSPEND_REQUESTED,
	CC_SUSPEND_REASON,
	CC_CALLBACK_AT,
	CC_CALLBACK_SOLVED,
	CC_SATISFACTION,
	CC_CLOSED_AT,
	CC_VOID_REASON,
	CC_COUNT,
};

/* Their numbers in one result (-1 for a column it lacks): looked up once
 * per result rather than once per value, for results of many rows. */
struct case_cols {
	int c[CC_COUNT];
};
void case_cols_find(struct case_cols *cols, const PGresult *res);
/* The Case of row i of a grid_case result; strings in the arena, node codes
 * from the grid cache. cols from case_cols_find on res, or NULL to look
 * them up for this row alone. NULL when out of memory. */
Grid__V1__Case *case_row_msg(struct arena *a, const struct tree *t, const PGresult *res,
			     const struct case_cols *cols, int i);
/* The node id of row i (for scope checks). */
int64_t case_row_node(const PGresult *res, int i);
/* The reporter of row i. */
const char *case_row_reporter(const PGresult *res, int i);
/* Events of an event result (CASE_STMT_EVENTS' columns). */
Grid__V1__Event **case_event_msgs(struct arena *a, const struct tree *t, const PGresult *res,
				  size_t *ret_n);
