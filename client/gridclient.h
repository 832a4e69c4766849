/* libgridclient: the C client of gridd.
 *
 * One struct grid_client is one TCP connection to gridd, optionally with TLS,
 * speaking the framed protobuf protocol of proto/rpc.proto. It runs on a libuv loop: either the
 * caller's (the async API, for tools that keep many requests in flight or
 * watch events) or a private one (the blocking API, for gridctl and simple
 * integrations). Requests are pipelined; replies are matched to calls by
 * request id whatever order they come back in.
 *
 * Return values follow libuv: 0 or a negative errno. A transport failure
 * (cannot connect, connection lost, a frame that does not decode) is a
 * negative errno; a reply from gridd is 0 with the reply's Status telling
 * the outcome. A call that fails synchronously never runs its callback.
 * The library never logs; grid_client_error() describes the last failure.
 *
 * libuv writes to sockets with write(2): a program that does not ignore
 * SIGPIPE (gridctl does) dies when gridd resets the connection mid-write.
 * With a private loop, events are delivered only while a blocking call runs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proto/rpc.pb-c.h"

#define GRID_PROTOCOL_VERSION 1
#define GRID_DEFAULT_PORT 7420

struct grid_client;

struct grid_client_config {
	const char *client_name;     /* sent in Hello; NULL = "libgridclient/<version>" */
	unsigned connect_timeout_ms; /* TCP connect + Hello; 0 = 5000 */
	unsigned call_timeout_ms;    /* every call without its own deadline_ms, also sent as
				      * deadline_ms; 0 = 30000 */
	size_t max_frame;	     /* largest frame accepted from the server; 0 = 64 MiB */

	/* TLS, for gridd's [tls] listener. The server's certificate must chain
	 * to a CA in ca_file (PEM; NULL = the system's trusted CAs) and name
	 * server_name (NULL = the host of the address given to connect: a DNS
	 * name or an IP address), unless tls_no_verify is set (tests only: it
	 * gives up all protection against someone in the middle). */
	bool tls;
	const char *ca_file;
	const char *server_name;
	bool tls_no_verify;
};

typedef void (*grid_client_connect_cb)(struct grid_client *c, int status, void *data);
/* reply is owned by the library and valid only during the callback; it is
 * NULL when status < 0. reply->status is never NULL, and when its code is OK
 * reply->result_case is the call's own case (same field number) or NOT_SET.
 * status is -ETIMEDOUT when no reply came within the call's deadline (its
 * deadline_ms, else call_timeout_ms, plus half a second); a late reply is
 * then dropped. */
typedef void (*grid_client_reply_cb)(struct grid_client *c, int status,
				     const Grid__V1__Reply *reply, void *data);
typedef void (*grid_client_event_cb)(struct grid_client *c, const Grid__V1__Event *event,
				     void *data);

/* Creates an unconnected client. loop is borrowed; NULL gives the client a
 * private loop and enables the blocking API. cfg is copied (NULL = defaults).
 * Returns NULL when out of memory.
 *
 * On a caller's loop the connection keeps the loop alive only while
 * connecting, while calls are in flight, or while an event callback is set,
 * so uv_run(UV_RUN_DEFAULT) returns when the work is done. */
struct grid_client *grid_client_create(uv_loop_t *loop, const struct grid_client_config *cfg);
/* Closes the connection; callbacks of calls still in flight (and the
 * connect callback, when still connecting) run with -ECANCELED before this
 * returns (async) or never (blocking). Accepts NULL. May be called from any
 * of the client's callbacks. On a caller's loop the memory is released in a
 * close callback, so the caller runs the loop afterwards. With a private
 * loop everything is freed before this returns; called from an event
 * callback during a blocking call, that call returns -ECANCELED and frees
 * the client. */
void grid_client_destroy(struct grid_client *c);

/* "HOST:PORT", "HOST" (port 7420) or "[v6addr]:PORT". Resolves, connects
 * (trying each address in turn) and exchanges Hello before cb runs with 0;
 * on failure cb gets a negative errno: -EHOSTUNREACH (unknown host),
 * -ECONNREFUSED and friends, -ETIMEDOUT (connect_timeout_ms passed), or the
 * errno of the server's refusal. With TLS, a failed handshake is
 * -ECONNABORTED, whether the server's certificate did not verify (does not
 * chain to the CA, or names another host) or the server does not speak TLS;
 * grid_client_error() says which. A client connects once: -EINVAL for a
 * malformed address or a CA file that does not load, -EALREADY/-EISCONN
 * when called again. */
int grid_client_connect_async(struct grid_client *c, const char *server, grid_client_connect_cb cb,
			      void *data);
/* Checks an address the way the connect functions read it, without
 * resolving it: 0, or -EINVAL when it is malformed. For command lines that
 * report a bad address as a usage error. */
int grid_client_check_address(const char *server);
/* Sends req (borrowed: packed before this returns). req->id is set by the
 * library when 0 (-EEXIST when a given id is already in flight).
 * Fails with -ENOTCONN before the Hello reply arrived and after the
 * connection was lost, -EMSGSIZE when the packed request is over the
 * server's max_frame. Calls beyond the server's max_inflight wait in the
 * client and go out as replies arrive. When the connection is lost every
 * call fails with the reason: -ECONNRESET (closed by the server), -EPROTO
 * (the server sent something that is not the protocol), or the errno of the
 * status of a connection-level error reply (id 0). */
int grid_client_call_async(struct grid_client *c, Grid__V1__Request *req, grid_client_reply_cb cb,
			   void *data);
void grid_client_set_event_cb(struct grid_client *c, grid_client_event_cb cb, void *data);

/* Blocking API (client created with loop == NULL): the same results as the
 * async calls, returned instead of called back. grid_client_call stores the
 * reply in *ret_reply (caller owns it: grid_client_reply_free) only when it
 * returns 0. Both return -EINVAL on a client with a caller's loop or when
 * called from one of the client's own callbacks. */
int grid_client_connect(struct grid_client *c, const char *server);
int grid_client_call(struct grid_client *c, Grid__V1__Request *req, Grid__V1__Reply **ret_reply);
void grid_client_reply_free(Grid__V1__Reply *reply);

/* The server's Hello reply; NULL before connected. Borrowed. */
const Grid__V1__HelloReply *grid_client_hello(const struct grid_client *c);
/* Describes the last failure; never NULL. Borrowed. */
const char *grid_client_error(const struct grid_client *c);
/* Calls whose callback has not run yet (sent or waiting to be sent). */
size_t grid_client_inflight(const struct grid_client *c);
