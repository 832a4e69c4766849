/* One client connection: reads frames, hands each request to the rpc layer,
 * queues framed replies and writes them out once per loop iteration.
 *
 * A connection is never freed inside its own callbacks. It is reference
 * counted: the socket holds one reference until its close callback, every
 * request in flight holds one. conn_close marks it closing; the last unref
 * frees it. rpc.c is the caller of everything below, server/event/ of the
 * watcher (live events pushed outside of replies).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
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

/* A module that keeps state about a connection beyond single requests (the
 * live event subscriptions of server/event/) watches it. on_written runs
 * each time a write to the socket completes, so that output held back
 * while the connection was behind can go out now; on_close runs once, when
 * the connection starts to close, so that everything pointing at it lets
 * go (nothing may be sent from it). One watcher per connection; NULL
 * removes it. w and data are borrowed until removed or on_close ran. */
struct conn_watcher {
	void (*on_written)(struct conn *c, void *data);
	void (*on_close)(struct conn *c, void *data);
};
void conn_set_watcher(struct conn *c, const struct conn_watcher *w, void *data);
/* Bytes queued for the peer and not yet written to the socket: what
 * counts against max_outbuf. */
size_t conn_unsent(const struct conn *c);

/* Sends a connection-level error (a Reply with id 0 and this status), then
 * closes once it is written (or after a short linger). */
void conn_close_with_error(struct conn *c, int err, const char *message);
