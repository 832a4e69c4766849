/* Every SQL statement of the task domain, and the reading of their rows
 * into protocol messages. The writes call the task_* functions of migration
 * 0006, which check states under row locks and add the events. Called by
 * task_write.c, task_read.c and task_sweep.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/arena.h"
#include "common/buf.h"
#include "proto/task.pb-c.h"
#include "server/db/pool.h"

struct config;

enum task_stmt {
	TASK_STMT_ISSUE,	    /* node, title, body, due_ms, level, actor, now, remind x2 */
	TASK_STMT_GET,		    /* id */
	TASK_STMT_LIST,		    /* scope ids, cancelled too, before id, limit */
	TASK_STMT_LIST_ASSIGNMENTS, /* scope ids, states, overdue only, now, after (task, */
	TASK_STMT_LIST_TASK_ASSIGNMENTS, /* code), limit; of one task: task, after code */
	TASK_STMT_ACKNOWLEDGE,		 /* task, node, actor, now */
	TASK_STMT_COMPLETE,		 /* task, node, actor, now, text, names[], values[] */
	TASK_STMT_CANCEL,		 /* task, actor, note, now */
	TASK_STMT_EXTEND,		 /* task, due_ms, actor, now, remind x2 */
	TASK_STMT_PROGRESS,		 /* task, top node code, now */
	TASK_STMT_SWEEP,		 /* now, batch */
	TASK_STMT_COUNT,
};

extern struct db_stmt task_stmts[TASK_STMT_COUNT];

/* Parameter counts, for the callers' arrays. */
#define TASK_ISSUE_NPARAMS 9
#define TASK_LIST_NPARAMS 4
#define TASK_LIST_ASSIGNMENTS_NPARAMS 7
#define TASK_COMPLETE_NPARAMS 7
#define TASK_EXTEND_NPARAMS 6

/* A task row: the message (strings in the arena) and what the handlers
 * check it against. */
struct task_row {
	Grid__V1__Task *msg;
	int64_t node_id;
	unsigned target_level;
};

/* Reads task row i of res (statements returning tasks) into *ret, level
 * names from cfg. -EPROTO when a value does not parse, -ENOMEM. */
int task_db_task(const PGresult *res, int i, struct arena *a, const struct config *cfg,
		 struct task_row *ret);
/* Reads assignment row i of res (statements returning assignments). NULL
 * when out of memory or a value does not parse. */
Grid__V1__Assignment *task_db_assignment(const PGresult *res, int i, struct arena *a);

/* Columns of TASK_STMT_PROGRESS: one row per group of assignments (the
 * node above them, or the top node itself when it is one) with the counts
 * and name NULL, and one per group and reported name with its sum. */
enum task_progress_col {
	TASK_PROGRESS_GROUP,
	TASK_PROGRESS_NAME,
	TASK_PROGRESS_TOTAL,
	TASK_PROGRESS_ACKNOWLEDGED,
	TASK_PROGRESS_DONE,
	TASK_PROGRESS_OVERDUE,
	TASK_PROGRESS_SUM,
};

/* Whole-number and text-to-number helpers for rows; -EPROTO on junk. */
int task_db_i64(const char *s, int64_t *ret);
