/* What the files of the cases domain share: case.c (lifecycle, sweep),
 * case_write.c (raising and every transition), case_read.c (reads and the
 * report), case_db.c (SQL). */
#pragma once

#include <stdbool.h>

#include <uv.h>

#include "common/arena.h"
#include "common/htab.h"
#include "common/list.h"
#include "proto/case.pb-c.h"

struct rpc_call;
struct server;

#define SWEEP_BATCH_TEXT "500"

struct cases {
	struct server *srv;
	uv_timer_t timer;
	unsigned ticks;
	bool sweeping;
	bool stopped;
	struct arena sweep_arena; /* the sweep's parameters */
	const char *sweep_params[2];
	struct list raise_queue; /* raises waiting for the next batch */
	uv_check_t raise_check;	 /* sends them once the loop has read its input */
	int handles_open;
	size_t raise_queued;
	unsigned raise_inflight; /* batches being written */
	size_t raise_inflight_reqs; /* the requests in them */
	/* The idempotency keys in batches, in flight or being built
	 * (case_batch.c's struct claim) */
	struct htab raise_keys;
};

/* A RaiseCase request on its way through the batch (case_batch.c); in its
 * call's arena. */
struct raise_req {
	struct list link;
	struct rpc_call *call;
	/* node id, title, description, category, contact, household, service
	 * item, urgency, channel, actor: one element of each of
	 * case_raise_batch's arrays */
	const char **p;
	const char *key;     /* idempotency key, or NULL */
	const char *hash;    /* of the request, with a key */
	Grid__V1__Case *result;
	uint64_t queued_ns; /* uv_hrtime() when it joined the queue */
};

/* For raise_keys (case_batch.c). */
uint64_t case_claim_hash(const void *elem);
int case_claim_eq(const void *elem, const void *key);
/* Queues r for the next batch (case_batch.c). */
void case_batch_add(struct cases *cs, struct raise_req *r);
/* Fails the queued requests (shutdown). */
void case_batch_stop(struct cases *cs);

struct cases *case_of(const struct rpc_call *call);
