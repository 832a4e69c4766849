/* Request decoding, dispatch and replies; see rpc.h. */
#include "server/rpc/rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "server/auth/auth.h"
#include "server/log.h"
#include "server/net/conn.h"
#include "server/server.h"

/* An import reporting every bad line of a big file stays readable and
 * bounded. */
#define MAX_DETAILS 1000

#include "server/rpc/rpc_private.h"

static const struct rpc_method *method_by_call[512];

static const struct rpc_method *find_method(Grid__V1__Request__CallCase call)
{
	if (call <= 0 || (size_t)call >= sizeof(method_by_call) / sizeof(method_by_call[0]))
		return NULL;
	return method_by_call[call];
}

int rpc_check_table(char *err, size_t errlen)
{
	memset(method_by_call, 0, sizeof(method_by_call));
	for (size_t i = 0; i < rpc_nmethods; i++) {
		const struct rpc_method *m = &rpc_methods[i];
		const ProtobufCFieldDescriptor *req, *rep;

		req = protobuf_c_message_descriptor_get_field(&grid__v1__request__descriptor,
							      (unsigned)m->call);
		rep = protobuf_c_message_descriptor_get_field(&grid__v1__reply__descriptor,
							      (unsigned)m->call);
		if (!req || !rep || strcmp(req->name, rep->name) != 0 ||
		    rep->type != PROTOBUF_C_TYPE_MESSAGE ||
		    !(rep->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
			snprintf(err, errlen,
				 "method %s: Request field %d has no result of the same number "
				 "and name in Reply",
				 m->name, (int)m->call);
			return -EINVAL;
		}
		if ((size_t)m->call >= sizeof(method_by_call) / sizeof(method_by_call[0]) ||
		    method_by_call[m->call]) {
			snprintf(err, errlen, "method %s: call number %d taken twice or too large",
				 m->name, (int)m->call);
			return -EINVAL;
		}
		method_by_call[m->call] = m;
	}
	return 0;
}

const struct rpc_method *rpc_method_by_name(const char *name)
{
	for (size_t i = 0; i < rpc_nmethods; i++)
		if (strcmp(rpc_methods[i].name, name) == 0)
			return &rpc_methods[i];
	return NULL;
}

const struct rpc_method *rpc_call_method(const struct rpc_call *call)
{
	return call->method;
}

const Grid__V1__Request *rpc_request(const struct rpc_call *call)
{
	return call->req;
}

struct arena *rpc_arena(struct rpc_call *call)
{
	return &call->arena;
}

struct server *rpc_server(const struct rpc_call *call)
{
	return call->srv;
}

struct conn *rpc_conn(const struct rpc_call *call)
{
	return call->conn;
}

uint64_t rpc_time_left_ms(const struct rpc_call *call)
{
	uint64_t now = uv_now(call->srv->loop);

	return call->deadline > now ? call->deadline - now : 1;
}

size_t rpc_detail_count(const struct rpc_call *call)
{
	return call->ndetails;
}

int rpc_add_detail(struct rpc_call *call, unsigned line, const char *field, const char *fmt, ...)
{
	Grid__V1__ErrorDetail *d;
	va_list ap;

	if (call->ndetails >= MAX_DETAILS)
		return -E2BIG;
	if (call->ndetails == call->capdetails) {
		size_t cap = call->capdetails ? call->capdetails * 2 : 8;
		Grid__V1__ErrorDetail **v = arena_alloc(&call->arena, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		if (call->ndetails)
			memcpy(v, call->details, call->ndetails * sizeof(*v));
		call->details = v;
		call->capdetails = cap;
	}
	d = arena_new(&call->arena, Grid__V1__ErrorDetail);
	if (!d)
		return -ENOMEM;
	grid__v1__error_detail__init(d);
	d->line = line;
	d->field = arena_strdup(&call->arena, field ? field : "");
	va_start(ap, fmt);
	d->reason = arena_vprintf(&call->arena, fmt, ap);
	va_end(ap);
	if (!d->field || !d->reason)
		return -ENOMEM;
	call->details[call->ndetails++] = d;
	return 0;
}

void rpc_sort_details(struct rpc_call *call)
{
	/* Insertion sort: the list is short and usually almost sorted. */
	for (size_t i = 1; i < call->ndetails; i++) {
		Grid__V1__ErrorDetail *d = call->details[i];
		size_t j = i;
		while (j > 0 && call->details[j - 1]->line > d->line) {
			call->details[j] = call->details[j - 1];
			j--;
		}
		call->details[j] = d;
	}
}

static void call_free(struct rpc_call *call)
{
	struct conn *c = call->conn;

	arena_finish(&call->arena);
	free(call);
	conn_request_done(c);
	conn_unref(c);
}

static void log_call(struct rpc_call *call)
{
	uint64_t us = (uv_hrtime() - call->start_ns) / 1000;
	const char *name = call->method ? call->method->name : "?";
	enum log_level level = LOG_DEBUG;
	char msg[256];

	if (call->status.code != GRID__V1__CODE__CODE_OK)
		level = call->status.code == GRID__V1__CODE__CODE_INTERNAL ? LOG_ERROR : LOG_INFO;
	else if (call->method && (call->method->flags & RPC_WRITE))
		level = LOG_INFO;
	if (!log_enabled(level))
		return;
	log_line(level,
		 "event=request conn=%" PRIu64 " req=%" PRIu64 " method=%s status=%s us=%" PRIu64
		 "%s%s",
		 conn_id(call->conn), call->req ? call->req->id : 0, name,
		 status_name(call->status.code), us,
		 call->status.code != GRID__V1__CODE__CODE_OK ? " message=" : "",
		 call->status.code != GRID__V1__CODE__CODE_OK
		     ? log_quote(msg, sizeof(msg), call->status.message)
		     : "");
}

static void send_reply(struct rpc_call *call, void *result)
{
	Grid__V1__ServerFrame frame = GRID__V1__SERVER_FRAME__INIT;
	Grid__V1__Reply reply = GRID__V1__REPLY__INIT;

	reply.id = call->req->id;
	call->status.n_details = call->ndetails;
	call->status.details = call->details;
	reply.status = &call->status;
	if (result) {
		/* Reply.result has a field of the call's number (checked by
		 * rpc_check_table), so the descriptor says where it goes. */
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		    &grid__v1__reply__descriptor, (unsigned)call->method->call);
		*(uint32_t *)((char *)&reply + f->quantifier_offset) = (uint32_t)call->method->call;
		*(void **)((char *)&reply + f->offset) = result;
	}
	frame.frame_case = GRID__V1__SERVER_FRAME__FRAME_REPLY;
	frame.reply = &reply;
	if (!conn_is_closing(call->conn))
		conn_send(call->conn, &frame.base);
}

void rpc_reply(struct rpc_call *call, void *result)
{
	/* A write with an idempotency key stores its result before the
	 * reply goes out (idempotency.c comes back to rpc_reply_now). */
	if (call->idem && idem_reply(call, result))
		return;
	rpc_reply_now(call, result);
}

void rpc_reply_now(struct rpc_call *call, void *result)
{
	call->status.code = GRID__V1__CODE__CODE_OK;
	call->status.message = (char *)"";
	send_reply(call, result);
	log_call(call);
	call_free(call);
}

void rpc_fail(struct rpc_call *call, int err, const char *fmt, ...)
{
	va_list ap;

	call->status.code = status_from_errno(err);
	if (call->status.code == GRID__V1__CODE__CODE_OK)
		call->status.code = GRID__V1__CODE__CODE_INTERNAL;
	va_start(ap, fmt);
	call->status.message = arena_vprintf(&call->arena, fmt, ap);
	va_end(ap);
	if (!call->status.message)
		call->status.message = (char *)"out of memory";
	/* Nothing is stored for a failure: its transaction rolls back. */
	if (call->idem)
		idem_abandon(call);
	send_reply(call, NULL);
	log_call(call);
	call_free(call);
}

void rpc_fail_db(struct rpc_call *call, int status, const char *db_message)
{
	switch (status) {
	case -EAGAIN:
		rpc_fail(call, status, "database unavailable; try again");
		break;
	case -ETIMEDOUT:
		rpc_fail(call, status,
			 "the database did not answer in time; the change may or may not have been "
			 "made");
		break;
	case -ECANCELED:
		rpc_fail(call, -EAGAIN, "server shutting down; try again");
		break;
	case -EIO:
		log_error("event=db_error error=\"%s\"", db_message);
		rpc_fail(call, status, "internal database error");
		break;
	default:
		rpc_fail(call, status, "%s", db_message);
		break;
	}
}

void rpc_handle_frame(struct conn *c, const uint8_t *payload, size_t len)
{
	struct server *srv = conn_server(c);
	struct rpc_call *call = malloc(sizeof(*call));
	const struct rpc_method *m;
	uint32_t timeout;

	if (!call) {
		conn_request_done(c);
		conn_close_with_error(c, -ENOMEM, "server out of memory");
		return;
	}
	memset(call, 0, sizeof(*call));
	/* The first block is sized for a typical request and its reply. */
	arena_init(&call->arena, 4096);
	conn_ref(c);
	call->conn = c;
	call->srv = srv;
	call->start_ns = uv_hrtime();
	grid__v1__status__init(&call->status);

	call->req = grid__v1__request__unpack(arena_allocator(&call->arena), len, payload);
	if (!call->req) {
		conn_close_with_error(c, -EBADMSG, "frame is not a valid grid.v1.Request");
		call_free(call);
		return;
	}
	if (call->req->id == 0) {
		conn_close_with_error(c, -EINVAL,
				      "request id 0 is reserved; number requests from 1");
		call_free(call);
		return;
	}
	m = find_method(call->req->call_case);
	call->method = m;
	if (!conn_is_ready(c) && !(m && (m->flags & RPC_BEFORE_HELLO))) {
		conn_close_with_error(c, -EBUSY, "the first request on a connection must be Hello");
		call_free(call);
		return;
	}
	if (!m) {
		rpc_fail(call, -ENOSYS,
			 "the request carries no call this server knows (a newer client?)");
		return;
	}
	timeout = call->req->deadline_ms ? call->req->deadline_ms : srv->cfg->request_timeout_ms;
	call->deadline = uv_now(srv->loop) + timeout;
	if (auth_check_call(call, m) < 0)
		return;
	m->handler(call);
}
