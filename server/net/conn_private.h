/* What net.c and conn.c share about a connection; nothing else includes
 * this. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <sys/socket.h>

#include <uv.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/list.h"

struct conn_watcher;
struct net;
struct net_addr;
struct tls_conn;
struct tls_server;

struct conn {
	struct net *net;
	struct list link;	/* net->conns */
	struct list dirty_link; /* net->dirty: has output to flush */
	struct list yield_link; /* net->yielded: input left for the next turn */
	uint64_t id;
	char peer[64];
	unsigned refs;
	uv_tcp_t tcp;
	uv_timer_t timer;   /* every deadline below, and the linger */
	uint64_t timer_due; /* loop ms the timer fires at; 0 = not armed */
	unsigned open_handles;
	struct frame_reader reader;
	struct buf out;	    /* framed replies not yet handed to uv_write */
	struct buf sending; /* bytes of the uv_write in progress */
	uv_write_t write_req;
	struct buf stash;      /* input kept while reading is paused */
	size_t stash_off;      /* where the unread part of the stash starts */
	struct tls_conn *tls;  /* TLS listener only; NULL once the socket is shut */
	struct buf cipher;     /* TLS: records not yet handed to uv_write */
	struct net_addr *addr; /* net.c's count of connections from the peer's IP */
	unsigned inflight;
	uint64_t last_active;	     /* loop ms of the last read or reply */
	uint64_t login_due;	     /* Hello and login by then; 0 once logged in */
	uint64_t frame_since;	     /* a partial frame waits since; 0 = none */
	uint64_t frames;	     /* complete frames read, ever */
	uint64_t turn_start;	     /* frames when this turn began */
	uint64_t stalled_since;	     /* output waits for the peer since; 0 = not */
	size_t stalled_queue;	     /* libuv's write queue then, to see progress */
	bool ready;		     /* Hello done */
	struct principal *principal; /* NULL until Login or Authenticate */
	/* Another module's interest in the connection: conn_set_watcher() */
	const struct conn_watcher *watcher;
	void *watcher_data;
	bool reading;
	bool paused;  /* too many requests in flight, or too much output unsent */
	bool yielded; /* paused until net.c gives it the next turn */
	bool closing;
	bool close_after_flush;
	bool shut;	/* socket closing: net.c has forgotten it */
	bool reset;	/* dropped for not reading: close with a reset */
	bool draining;	/* finish what is in flight, then close */
	bool peer_done; /* the peer closed its sending side */
	bool is_tls;
	bool tls_failed; /* the session broke: nothing more can be sent */
	bool tls_bye;	 /* close_notify queued (or impossible) */
};

/* conn.c, for net.c */
/* Accepts a connection from listener; ts (borrowed) makes it a TLS
 * connection. Stores the peer's address in *ret_peer. */
int conn_accept(struct net *n, uv_stream_t *listener, struct tls_server *ts, uint64_t id,
		struct conn **ret_conn, struct sockaddr_storage *ret_peer);
/* Starts reading and the login timeout. */
void conn_start(struct conn *c);
void conn_flush(struct conn *c);
void conn_begin_drain(struct conn *c);
void conn_close(struct conn *c, const char *reason);

/* net.c, for conn.c */
struct server *net_server(const struct net *n);
void net_mark_dirty(struct net *n, struct conn *c);
void net_conn_gone(struct net *n, struct conn *c);
/* c has had its turn; net marks it dirty in the next loop iteration, whose
 * flush resumes it. */
void net_yield(struct net *n, struct conn *c);
