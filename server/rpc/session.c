/* Hello and Ping; see session.h. */
#include "server/rpc/session.h"

#include <errno.h>
#include <time.h>

#include "grid_version.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/net/conn.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

#define PROTOCOL_VERSION 1

void session_hello(struct rpc_call *call)
{
	const Grid__V1__Hello *in = rpc_request(call)->hello;
	const struct config *cfg = rpc_server(call)->cfg;
	struct arena *a = rpc_arena(call);
	Grid__V1__HelloReply *out;
	Grid__V1__Limits *limits;

	if (conn_is_ready(rpc_conn(call))) {
		rpc_fail(call, -EALREADY, "Hello was already received on this connection");
		return;
	}
	if (in->protocol_version != PROTOCOL_VERSION) {
		rpc_fail(call, -EBUSY,
			 "protocol version %u is not supported; this server speaks %d",
			 in->protocol_version, PROTOCOL_VERSION);
		return;
	}
	out = arena_new(a, Grid__V1__HelloReply);
	limits = arena_new(a, Grid__V1__Limits);
	if (!out || !limits) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	grid__v1__hello_reply__init(out);
	grid__v1__limits__init(limits);
	limits->max_frame_before_login = cfg->max_frame_before_login;
	limits->max_frame = cfg->max_frame;
	limits->max_inflight = cfg->max_inflight;
	limits->max_page_size = cfg->max_page_size;
	limits->idle_timeout_ms = cfg->idle_timeout_ms;
	limits->login_timeout_ms = cfg->login_timeout_ms;
	limits->max_connections = cfg->max_connections;
	limits->max_connections_per_address = cfg->max_connections_per_address;
	limits->max_outbuf = cfg->max_outbuf;
	out->protocol_version = PROTOCOL_VERSION;
	out->server_name = cfg->server_name;
	out->server_version = (char *)GRID_VERSION;
	out->limits = limits;
	out->n_level_names = cfg->nlevels;
	out->level_names = (char **)cfg->levels;
	conn_set_ready(rpc_conn(call));
	rpc_reply(call, out);
}

void session_advance_clock(struct rpc_call *call)
{
	const Grid__V1__AdvanceClockRequest *in = rpc_request(call)->advance_clock;
	Grid__V1__ClockReply *out = arena_new(rpc_arena(call), Grid__V1__ClockReply);
	int r;

	if (!out) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = clock_advance(in->advance_ms);
	if (r == -ENOSYS) {
		rpc_fail(call, r, "the clock moves only in test builds (gridd-testclock)");
		return;
	}
	if (r < 0) {
		rpc_fail(call, r, "the clock moves forward only");
		return;
	}
	grid__v1__clock_reply__init(out);
	out->now_ms = clock_now_ms();
	rpc_reply(call, out);
}

void session_ping(struct rpc_call *call)
{
	Grid__V1__Pong *out = arena_new(rpc_arena(call), Grid__V1__Pong);
	struct timespec ts;

	if (!out) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	grid__v1__pong__init(out);
	clock_gettime(CLOCK_REALTIME, &ts);
	out->server_time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	rpc_reply(call, out);
}
