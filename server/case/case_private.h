/* What the files of the cases domain share: case.c (lifecycle, sweep),
 * case_write.c (raising and every transition), case_read.c (reads and the
 * report), case_db.c (SQL). */
#pragma once

#include <stdbool.h>

#include <uv.h>

#include "common/arena.h"

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
};

struct cases *case_of(const struct rpc_call *call);
