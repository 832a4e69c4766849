/* What event.c (the reader, subscriptions, back-pressure) and event_list.c
 * (ListEvents, and the filters both use) share; nothing else includes
 * this. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/arena.h"
#include "common/list.h"
#include "proto/rpc.pb-c.h"
#include "server/event/event_db.h"

struct conn;
struct principal;
struct rpc_call;
struct server;
struct tree_node;

/* Kinds a subscription or listing may name, and how long one may be. */
#define EVENT_MAX_KINDS 32
#define EVENT_KIND_MAX 64

struct events {
	struct server *srv;
	/* Every committed event up to here has been fanned out. */
	uint64_t cursor;
	bool started;
	bool stopping;
	/* The reader: one read at a time; a notification meanwhile asks for
	 * one more read after it (again), not one per notification. */
	bool reading;
	bool again;
	bool failing;	      /* the last read failed: retried by the timer */
	unsigned round_reads; /* in the current round */
	size_t round_rows;
	uint64_t rounds;
	uint64_t round_started_ms; /* loop time */
	struct arena read_arena;   /* the read's parameter */
	/* The reader's own connection: its reads do not wait behind the
	 * requests queued on the server's pool (a burst of writes is what
	 * makes events), so an event reaches subscribers one round trip
	 * after its NOTIFY, however busy the pool is. */
	struct db_pool *reader_db;
	uv_timer_t retry; /* a failed read is tried again; the next round waits */
	bool retry_closed;
	bool reader_closing;
	bool free_on_close; /* destroyed while the timer or the reader closed */
	struct list conns;  /* struct ev_conn */
};

/* A filter as a subscription keeps it and a listing takes it. */
struct event_kinds {
	char **kinds; /* exact kinds, or prefixes ending in '.'; none = all */
	size_t nkinds;
};

/* event_list.c */

/* Checks the kinds of a request; fails the call (INVALID_ARGUMENT) and
 * returns -EINVAL when one is malformed or there are too many. */
int event_kinds_check(struct rpc_call *call, char **kinds, size_t nkinds);
/* Whether kind is one of ks (exactly, or by a prefix ending in '.'). */
bool event_kinds_match(const struct event_kinds *ks, const char *kind);
/* The permission an event of kind needs to be seen where it happened. */
unsigned event_kind_perm(const char *kind);
/* Whether the connection's principal, as it is now, may see an event of
 * kind at n: logged in, not revoked or expired, the right permission. */
bool event_may_see(const struct events *ev, const struct conn *c, const char *kind,
		   const struct tree_node *n);
/* Fills the kinds, rights and subtree of f for principal p listing the
 * subtree of top (NULL: the whole grid); strings in arena. */
int event_filter_init(struct event_filter *f, const struct events *ev, struct arena *arena,
		      const struct principal *p, const struct tree_node *top,
		      const struct event_kinds *ks);
/* The Event message of a row (strings borrowed from it). */
void event_msg_init(Grid__V1__Event *m, const struct event_row *row);
