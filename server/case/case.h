/* The cases domain: needs, complaints and opinions that rise through the
 * grid until someone solves them (proto/case.proto). The queue and every
 * rule live in PostgreSQL (migration 0005): each call here checks its
 * input, names the caller's scope, and runs one function there; a sweep
 * timer escalates cases whose level missed a deadline. server.c creates,
 * starts and stops it; methods.c lists the handlers.
 */
#pragma once

#include <stddef.h>

struct cases;
struct rpc_call;
struct server;

int case_create(struct server *srv, struct cases **ret);
/* Registers the statements and starts the sweep timer. */
int case_start(struct cases *cs);
/* Stops the sweep (before the pool closes). */
void case_stop(struct cases *cs);
/* Accepts NULL. Frees once the timer has closed. */
void case_destroy(struct cases *cs);

void case_raise(struct rpc_call *call);
void case_get(struct rpc_call *call);
void case_list(struct rpc_call *call);
void case_register(struct rpc_call *call);
void case_void(struct rpc_call *call);
void case_accept(struct rpc_call *call);
void case_start_work(struct rpc_call *call);
void case_resolve(struct rpc_call *call);
void case_check(struct rpc_call *call);
void case_close(struct rpc_call *call);
void case_rework(struct rpc_call *call);
void case_escalate(struct rpc_call *call);
void case_send_down(struct rpc_call *call);
void case_suspend(struct rpc_call *call);
void case_resume(struct rpc_call *call);
void case_reopen(struct rpc_call *call);
void case_callback(struct rpc_call *call);
void case_claim(struct rpc_call *call);
void case_report(struct rpc_call *call);
