/* What the files of the task domain share: task.c (lifecycle, who may see
 * a task, argument checks), task_write.c, task_read.c and task_sweep.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/arena.h"

struct rpc_call;
struct server;
struct tree;
struct tree_node;

/* Reminders go out when this much time is left before the due time, or
 * this share of the task's span, whichever comes later (see
 * task_remind_at in migration 0006). */
#define TASK_REMIND_BEFORE_MS (24LL * 3600 * 1000)
#define TASK_REMIND_SHARE 0.2
/* The sweep runs this often, a batch of tasks of each kind at a time (and
 * again at once while batches come back full). */
#define TASK_SWEEP_INTERVAL_MS 1000
#define TASK_SWEEP_BATCH 20

struct tasks {
	struct server *srv;
	uv_timer_t timer;
	bool timer_open; /* initialized, not yet closed */
	bool stopped;
	bool free_on_close; /* destroyed while the timer was closing */
	bool sweeping;	    /* a sweep query is in flight */
	char now[24];
	char batch[16];
	const char *params[2];
};

/* task_sweep.c: the timer (started by task_start). */
void task_sweep_start(struct tasks *tm);
/* The timer's close callback frees tm when free_on_close is set. */
void task_sweep_close(struct tasks *tm);

/* The grid cache. */
struct tree *task_tree(const struct rpc_call *call);

/* Whether the caller holds perm on the task's node, or on a node inside
 * the task's reach (below its node, down to the target level): the head of
 * a building a district task went to sees that task. task_node NULL: only
 * whole-grid holders. */
bool task_reaches(const struct rpc_call *call, unsigned perm, const struct tree_node *task_node,
		  unsigned target_level);
/* Ends the call for task id that is missing or out of the caller's reach,
 * with the same answer for both (PERMISSION_DENIED naming the call and the
 * id); only callers with perm on the whole grid learn NOT_FOUND. */
void task_refuse(struct rpc_call *call, uint64_t id, unsigned perm);

/* The node code of a request, from the cache; on failure ends the call
 * (INVALID_ARGUMENT when empty, NOT_FOUND) and returns NULL. */
const struct tree_node *task_node_arg(struct rpc_call *call, const char *code);
/* Level number of a level name; -EINVAL when unknown. */
int task_level_parse(const struct server *srv, const char *name, unsigned *ret_level);
const char *task_level_name(const struct server *srv, unsigned level);

/* Trims s in place and checks it: valid UTF-8, at most max_chars
 * characters, no control characters (but newlines and tabs when
 * multiline), not empty when required. NULL when fine, else the reason
 * (in a, or static). */
const char *task_check_text(struct arena *a, char *s, size_t max_chars, bool multiline,
			    bool required);

/* The ids of the nodes where the caller holds perm (the top-level nodes
 * for a grant on the whole grid), as an array literal "{1,2}" in the
 * arena. NULL when out of memory. */
const char *task_scope_ids(struct rpc_call *call, unsigned perm);

/* Unix milliseconds as "2025-12-10 18:00 UTC", in the arena. */
const char *task_format_time(struct arena *a, int64_t ms);
/* A page size within the server's limits (0 = the default). */
uint32_t task_page_size(const struct rpc_call *call, uint32_t asked);
