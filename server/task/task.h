/* The task domain: work issued at a node for every node of a target level
 * below it, one assignment per target node, acknowledged, done and reported
 * there, with its progress rolled up through the levels in between; and
 * the sweep that sends reminders and overdue notices as events.
 *
 * server.c creates, starts, stops and destroys the module; methods.c lists
 * the handlers below in the dispatch table.
 */
#pragma once

#include <stddef.h>

struct rpc_call;
struct server;
struct tasks;

/* A module for srv; nothing runs until task_start. 0 or -ENOMEM. */
int task_create(struct server *srv, struct tasks **ret);
/* Once the pool exists: registers the statements and starts the sweep
 * timer. 0 or a negative errno. */
int task_start(struct tasks *tm);
/* Before the pool closes: stops the sweep (a sweep in flight finishes or is
 * cancelled by the pool). */
void task_stop(struct tasks *tm);
/* After the pool closed. Accepts NULL. */
void task_destroy(struct tasks *tm);

void task_issue(struct rpc_call *call);
void task_get(struct rpc_call *call);
void task_list(struct rpc_call *call);
void task_list_assignments(struct rpc_call *call);
void task_acknowledge(struct rpc_call *call);
void task_complete(struct rpc_call *call);
void task_cancel(struct rpc_call *call);
void task_extend(struct rpc_call *call);
void task_progress(struct rpc_call *call);
