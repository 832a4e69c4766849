/* What rpc.c and idempotency.c share about a call; nothing else includes
 * this. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "proto/rpc.pb-c.h"

struct conn;
struct idem;
struct rpc_method;
struct server;

struct rpc_call {
	struct arena arena;
	struct conn *conn;
	struct server *srv;
	const struct rpc_method *method;
	Grid__V1__Request *req;
	Grid__V1__Status status;
	Grid__V1__ErrorDetail **details;
	size_t ndetails, capdetails;
	uint64_t start_ns;
	uint64_t deadline; /* loop ms */
	struct idem *idem; /* an idempotent write in its transaction */
};

/* rpc.c: sends the OK reply at once and ends the call. */
void rpc_reply_now(struct rpc_call *call, void *result);

/* idempotency.c: called by rpc_reply while call->idem is set. Returns true
 * when it took over (the reply goes out after the commit). */
bool idem_reply(struct rpc_call *call, void *result);
/* Called by rpc_fail: the write failed, its transaction is rolled back. */
void idem_abandon(struct rpc_call *call);
