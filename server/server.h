/* The gridd server object: the loop, the configuration, the database pool,
 * the network side and the domain modules, wired together. main.c creates
 * one, starts it and runs the loop; request handlers reach the parts they
 * need through it (rpc_call_server()).
 */
#pragma once

#include <stdbool.h>

#include <uv.h>

#include "server/config.h"

struct db_pool;
struct net;
struct grid;
struct auth;
struct cases;
struct events;
struct tasks;
struct db_listener;

struct server {
	uv_loop_t *loop;
	const struct config *cfg;
	struct db_pool *db;
	struct net *net;
	struct grid *grid;
	struct auth *auth;
	struct cases *cases;
	struct events *events;
	struct tasks *tasks;
	struct db_listener *listener; /* NOTIFY grid_changed, auth_changed, grid_events */
	uv_signal_t sig_int;
	uv_signal_t sig_term;
	uint64_t started_ms;
	bool stopping;
};

/* Loads what start-up needs from the database (blocking, before the loop
 * runs: migrations, the grid tree), then creates the pool and the listening
 * socket. Returns 0 or a negative errno with a message in err. */
int server_start(struct server *s, uv_loop_t *loop, const struct config *cfg, char *err,
		 size_t errlen);
/* Begins a clean stop: stop accepting, let requests in flight finish (up to
 * the shutdown timeout), close every connection and handle. uv_run returns
 * once everything is closed. Safe to call twice. */
void server_stop(struct server *s);
/* The address actually bound, e.g. "127.0.0.1:40123". */
const char *server_bound_address(const struct server *s);
