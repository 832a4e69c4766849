/* One client connection: reads frames, hands each request to the rpc layer,
 * queues framed replies and writes them out once per loop iteration.
 *
 * A connection is never freed inside its own callbacks. It is reference
 * counted: the socket holds one reference until its close callback, every
 * request in flight holds one. conn_close marks it closing; the last unref
 * frees it. rpc.c is the caller of everything below.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

struct conn;
struct principal;
struct server;

void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
uint64_t conn_id(const struct conn *c);
const char *conn_peer(const struct conn *c);
struct server *conn_server(const struct conn *c);
bool conn_is_closing(const struct conn *c);

/* Frames msg and queues it for writing (borrowed: packed before return).
 * When the unsent bytes would pass the limit the connection is closed and
 * -ENOBUFS returned. */
int conn_send(struct conn *c, const ProtobufCMessage *msg);

/* The Hello exchange is complete. */
void conn_set_ready(struct conn *c);
bool conn_is_ready(const struct conn *c);

/* Who the connection acts as; NULL before Login or Authenticate. Borrowed. */
struct principal *conn_principal(const struct conn *c);
/* Sets it (taking a reference) after a successful Login or Authenticate:
 * lifts the frame limit to max_frame and ends the login timeout. NULL (after
 * Logout) makes the connection anonymous again, with the small frame limit
 * and a fresh login timeout. */
void conn_set_principal(struct conn *c, struct principal *p);

/* A request of this connection finished (its reply, if any, is queued). */
void conn_request_done(struct conn *c);

/* Sends a connection-level error (a Reply with id 0 and this status), then
 * closes once it is written (or after a short linger). */
void conn_close_with_error(struct conn *c, int err, const char *message);
