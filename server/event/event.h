/* Live events: what happens in the grid (rows of grid_event, written by the
 * case and task modules in their own transactions), pushed to the
 * connections that subscribed to a part of the grid, and listed for
 * re-reading.
 *
 * One reader per gridd process follows the table: on NOTIFY grid_events
 * (and after the listener reconnects) it reads the events after the last
 * one it saw, once for all subscribers, and fans them out to every
 * subscription whose subtree, kinds and caller's rights fit. A subscriber
 * that falls behind is not allowed to grow gridd's memory: it gets an
 * Event of kind "missed" once its output drains and re-reads the gap with
 * ListEvents.
 *
 * server.c creates, starts, feeds (notifications, listener reconnects) and
 * stops it; methods.c lists the three handlers.
 */
#pragma once

#include <stddef.h>

#include <libpq-fe.h>

struct events;
struct rpc_call;
struct server;

/* Reads where the event stream stands now (max(seq)) with the start-up
 * connection pg (blocking): subscribers get what is committed after that. */
int event_create(struct server *srv, PGconn *pg, struct events **ret_events, char *err,
		 size_t errlen);
/* Once the pool exists: registers the statements. */
int event_start(struct events *ev);
/* NOTIFY grid_events: something was committed; read it (coalesced with a
 * read in flight). */
void event_on_notify(struct events *ev);
/* The listener (re)connected: read whatever was committed meanwhile. */
void event_catch_up(struct events *ev);
/* Stops reading (before the pool closes). Accepts NULL. */
void event_stop(struct events *ev);
/* Accepts NULL. */
void event_destroy(struct events *ev);

void event_subscribe(struct rpc_call *call);
void event_unsubscribe(struct rpc_call *call);
void event_list(struct rpc_call *call);
