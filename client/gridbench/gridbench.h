/* gridbench's shared state: the options, the nodes it works on, the
 * connections and the statistics. One struct bench per process, on one
 * libuv loop; see gridbench.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "client/gridbench/hist.h"
#include "client/gridclient.h"

enum bench_exit {
	BENCH_EXIT_OK = 0,
	BENCH_EXIT_FAIL = 1,
	BENCH_EXIT_USAGE = 2,
};

enum op {
	OP_RAISE,
	OP_GET,
	OP_CHILDREN,
	OP_INBOX,
	OP_CLAIM,
	OP_TASK,
	OP_COUNT,
};

/* Status codes 0..16 (proto/status.proto). */
#define STATUS_CODES 17
#define MAX_TRANSPORT_KINDS 8

struct node_ref {
	char *code;
	char *parent_code; /* "" for a top-level node; NULL for a bare --node */
	char *level_name;
	uint32_t children;
};

struct node_vec {
	struct node_ref *v;
	size_t n, cap;
};

struct err_count {
	int err; /* negative errno of a transport failure */
	uint64_t count;
};

struct op_stats {
	uint64_t requests; /* completed within the measurement */
	uint64_t ok;
	uint64_t empty; /* claim: nothing to claim (counted in ok) */
	uint64_t errors;
	uint64_t codes[STATUS_CODES];
	struct err_count transport[MAX_TRANSPORT_KINDS];
	size_t ntransport;
	struct hist hist; /* latency of the ok ones */
};

struct bench;

struct conn {
	struct bench *b;
	struct grid_client *client;
	unsigned index;
	unsigned inflight;
	bool dead;
};

/* One operation in flight; claim takes three calls (steps). */
struct job {
	struct bench *b;
	struct conn *conn;
	enum op op;
	int step;
	bool counted; /* started after the warm-up */
	bool empty;
	const struct node_ref *node;
	uint64_t start_ns; /* sent, or scheduled (open loop) */
	uint64_t case_id;
	char key[48];
};

struct bench {
	/* Options */
	const char *server;
	unsigned connections;
	unsigned pipeline;
	unsigned weight[OP_COUNT];
	unsigned weight_sum;
	double duration_s; /* 0 with max_requests */
	unsigned long max_requests;
	double rate; /* 0 = closed loop */
	double warmup_s;
	const char *user;
	char *password;
	char *token;
	bool idempotency;
	unsigned timeout_ms;
	bool json;
	struct node_vec user_nodes;

	/* Nodes */
	struct node_vec targets;  /* raise, inbox, claim, task (at the parent) */
	struct node_vec readable; /* get */
	struct node_vec parents;  /* children */

	/* The run */
	uv_loop_t loop;
	uv_timer_t pace, end, warm;
	uv_signal_t sigint;
	struct conn *conns;
	unsigned ready, live, next_conn;
	uint64_t rng, run_id, keys, raises, tasks;
	uint64_t started, inflight;
	uint64_t t0_ns, measure_ns, stop_ns, last_done_ns;
	uint64_t end_ns; /* with a duration: the end of the schedule (open loop) */
	bool in_pump, stopping, finished, interrupted;

	struct op_stats stats[OP_COUNT];
};
