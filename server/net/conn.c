/* One client connection; see conn.h.
 *
 * Reading: libuv reads into one buffer shared by all connections (the loop
 * is single-threaded and each read is consumed before the next), the frame
 * reader cuts it into frames and each frame goes to rpc_handle_frame(). Only
 * a partial frame is copied into memory of the connection's own, so an idle
 * connection costs no buffers. When max_inflight requests are waiting for
 * the database, or outbuf_pause bytes of replies wait for the peer, reading
 * stops and the rest of the read is stashed until requests finish and the
 * peer catches up: a client that pipelines without reading its replies is
 * held back by TCP, not by our memory. A connection also yields after
 * FRAMES_PER_TURN requests of one read, the rest waiting in the stash until
 * the next loop iteration (net.c's idle handle), so that one client
 * pipelining thousands of cheap requests does not keep everyone else
 * waiting for its whole read.
 *
 * Writing: replies are framed into `out`; once per loop iteration (net.c's
 * check handle) `out` goes to the socket with uv_try_write, and what the
 * kernel does not take at once is swapped into `sending` and handed to one
 * uv_write. (A uv_write costs a system call more than the write itself:
 * libuv re-arms the socket's epoll watcher when its queue drains, one
 * epoll_ctl per reply, a third of gridd's system calls under a raise load.)
 * The two together may not pass max_outbuf: a peer that does not read its
 * replies is disconnected rather than allowed to grow our memory.
 *
 * Deadlines, all on the connection's one timer, which fires at the
 * earliest and looks at all of them (a deadline that moved later only
 * costs a wasted wake-up): Hello and login within login_timeout_ms; a frame
 * once begun whole within frame_timeout_ms (a slow-loris peer trickling
 * bytes is cut, whether logged in or not); output that the peer takes
 * nothing of for send_timeout_ms is dropped with the connection; after
 * login, idle_timeout_ms without a request. The peer is told why with a
 * Reply of id 0, except when it is dropped for not reading (send timeout,
 * max_outbuf): that is only logged, and the socket is reset rather than
 * left to the kernel with our unread output.
 *
 * TLS (connections from the TLS listener) sits between the socket and both
 * paths, through tls.c: what libuv read is fed to the session and decrypted
 * until it wants more, and the plaintext takes the path above; at flush
 * time `out` is encrypted into `cipher`, which is what goes to uv_write.
 * Records OpenSSL makes on its own (handshake, tickets, alerts) land in
 * `cipher` too and leave with the next flush. A clean close sends
 * close_notify first. Unsent bytes are out + cipher + sending.
 */
#include "server/net/conn.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "proto/rpc.pb-c.h"
#include "server/auth/principal.h"
#include "server/config.h"
#include "server/log.h"
#include "server/net/conn_private.h"
#include "server/net/tls.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

#define READ_BUFFER_SIZE (64 * 1024)
#define LINGER_MS 2000
/* Requests taken from one connection's input per loop iteration: a few
 * hundred microseconds of cached reads, so that the others wait no longer
 * than that for their turn. */
#define FRAMES_PER_TURN 256

static char read_buffer[READ_BUFFER_SIZE];
static bool read_buffer_busy;
/* Decrypted input, consumed before the next read like read_buffer. */
static uint8_t plain_buffer[16384];

static const struct config *conn_cfg(const struct conn *c)
{
	return net_server(c->net)->cfg;
}

uint64_t conn_id(const struct conn *c)
{
	return c->id;
}

const char *conn_peer(const struct conn *c)
{
	return c->peer;
}

struct server *conn_server(const struct conn *c)
{
	return net_server(c->net);
}

bool conn_is_closing(const struct conn *c)
{
	return c->closing;
}

bool conn_is_ready(const struct conn *c)
{
	return c->ready;
}

void conn_ref(struct conn *c)
{
	c->refs++;
}

void conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	principal_unref(c->principal);
	frame_reader_finish(&c->reader);
	buf_finish(&c->out);
	buf_finish(&c->sending);
	buf_finish(&c->stash);
	buf_finish(&c->cipher);
	tls_conn_destroy(c->tls);
	free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles == 0)
		conn_unref(c);
}

/* Queues the connection for conn_flush in this loop iteration. */
static void mark_dirty(struct conn *c)
{
	/* Once shut, the connection may outlive net itself (requests in
	 * flight keep it alive), so it must not touch net again. */
	if (!c->shut)
		net_mark_dirty(c->net, c);
}

/* True when every byte queued has been written, close_notify included. */
static bool output_done(const struct conn *c)
{
	if (c->out.len > 0 || c->cipher.len > 0 || c->sending.len > 0)
		return false;
	return !c->is_tls || c->tls_bye;
}

static void stop_reading(struct conn *c)
{
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void on_timer(uv_timer_t *t);

/* Closes the socket for good. */
static void conn_shut(struct conn *c)
{
	if (c->shut)
		return;
	c->shut = true;
	/* Nothing can be sent or received any more: the session's memory
	 * need not wait for the requests still in flight. */
	tls_conn_destroy(c->tls);
	c->tls = NULL;
	net_conn_gone(c->net, c);
	/* A peer dropped for not reading would otherwise keep up to a socket
	 * buffer of our output queued in the kernel, its FIN behind it, for
	 * as long as it does not read: reset instead. */
	if (!c->reset || uv_tcp_close_reset(&c->tcp, on_handle_closed) < 0)
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

void conn_close(struct conn *c, const char *reason)
{
	if (!c->closing) {
		const struct conn_watcher *w = c->watcher;

		c->closing = true;
		log_info("event=conn_close conn=%" PRIu64 " reason=%s inflight=%u", c->id, reason,
			 c->inflight);
		c->watcher = NULL;
		if (w)
			w->on_close(c, c->watcher_data);
		buf_finish(&c->stash);
		c->stash_off = 0;
		if (c->close_after_flush && c->tls && !c->tls_failed && c->out.len > 0 &&
		    !tls_conn_established(c->tls)) {
			/* The last words can only leave encrypted: keep reading
			 * until the handshake is done (the linger bounds it). */
			if (!c->reading &&
			    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
				c->reading = true;
		} else {
			stop_reading(c);
		}
		if (c->close_after_flush && !c->shut)
			uv_timer_start(&c->timer, on_timer, LINGER_MS, 0);
	}
	if (!c->close_after_flush || output_done(c))
		conn_shut(c);
	else
		mark_dirty(c); /* what is left, close_notify included */
}

/* Reading stops at this much unsent output. At most half of max_outbuf,
 * so that the replies of the requests already in flight still fit under
 * the hard limit. */
static size_t pause_at(const struct config *cfg)
{
	size_t half = cfg->max_outbuf / 2;

	return cfg->outbuf_pause < half ? cfg->outbuf_pause : half;
}

/* Whether more requests may be read: fewer than max_inflight at work and
 * the peer not too far behind with its replies. */
static bool may_read(const struct conn *c)
{
	const struct config *cfg = conn_cfg(c);

	return c->inflight < cfg->max_inflight && conn_unsent(c) < pause_at(cfg);
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

/* The next moment one of c's deadlines may pass; 0 for none. */
static uint64_t next_due(const struct conn *c)
{
	const struct config *cfg = conn_cfg(c);
	uint64_t due = c->login_due;

	if (c->frame_since && cfg->frame_timeout_ms)
		due = earliest(due, c->frame_since + cfg->frame_timeout_ms);
	if (c->stalled_since && cfg->send_timeout_ms)
		due = earliest(due, c->stalled_since + cfg->send_timeout_ms);
	if (c->principal && cfg->idle_timeout_ms && c->inflight == 0)
		due = earliest(due, c->last_active + cfg->idle_timeout_ms);
	return due;
}

/* Makes the timer fire by the next deadline. A timer already due earlier
 * is left alone: on_timer looks again when it fires. So a deadline that
 * keeps moving later (frames completing, the peer reading) does not touch
 * the loop's timer heap each time. */
static void arm(struct conn *c)
{
	uint64_t due, now;

	if (c->closing)
		return; /* the timer is the linger now */
	due = next_due(c);
	if (!due || (c->timer_due && c->timer_due <= due))
		return;
	now = uv_now(c->timer.loop);
	c->timer_due = due;
	uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;
	const struct config *cfg = conn_cfg(c);
	uint64_t now = uv_now(t->loop);
	char msg[96];

	c->timer_due = 0;
	if (c->closing) {
		/* The peer did not take the last words within the linger. */
		conn_shut(c);
		return;
	}
	if (c->login_due && now >= c->login_due) {
		conn_close_with_error(
		    c, -ETIMEDOUT, "no Hello and Login (or Authenticate) within the time allowed");
		return;
	}
	if (c->frame_since && cfg->frame_timeout_ms &&
	    now - c->frame_since >= cfg->frame_timeout_ms) {
		log_info("event=conn_frame_timeout conn=%" PRIu64 " peer=%s buffered=%zu", c->id,
			 c->peer, frame_reader_buffered(&c->reader));
		snprintf(msg, sizeof(msg), "a frame was begun but not finished within %u ms",
			 cfg->frame_timeout_ms);
		conn_close_with_error(c, -ETIMEDOUT, msg);
		return;
	}
	if (c->stalled_since && cfg->send_timeout_ms) {
		size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);

		if (q < c->stalled_queue) {
			/* The peer took some: slow, not gone. */
			c->stalled_queue = q;
			c->stalled_since = now;
		} else if (now - c->stalled_since >= cfg->send_timeout_ms) {
			/* Nothing can tell it why: it reads nothing. */
			log_warn("event=conn_send_timeout conn=%" PRIu64 " peer=%s unsent=%zu "
				 "waited_ms=%" PRIu64,
				 c->id, c->peer, conn_unsent(c), now - c->stalled_since);
			c->close_after_flush = false;
			c->reset = true;
			conn_close(c, "send_timeout");
			return;
		}
	}
	if (c->principal && cfg->idle_timeout_ms && c->inflight == 0 &&
	    now - c->last_active >= cfg->idle_timeout_ms) {
		conn_close_with_error(c, -ETIMEDOUT, "connection idle for too long");
		return;
	}
	arm(c);
}

void conn_set_ready(struct conn *c)
{
	c->ready = true;
}

void conn_set_watcher(struct conn *c, const struct conn_watcher *w, void *data)
{
	c->watcher = w;
	c->watcher_data = data;
}

size_t conn_unsent(const struct conn *c)
{
	return c->out.len + c->cipher.len + c->sending.len;
}

struct principal *conn_principal(const struct conn *c)
{
	return c->principal;
}

void conn_set_principal(struct conn *c, struct principal *p)
{
	const struct config *cfg = conn_cfg(c);

	if (p)
		principal_ref(p);
	principal_unref(c->principal);
	c->principal = p;
	if (c->closing)
		return; /* the linger timer runs */
	if (!p) {
		frame_reader_set_max(&c->reader, cfg->max_frame_before_login);
		c->login_due = uv_now(c->timer.loop) + cfg->login_timeout_ms;
	} else {
		frame_reader_set_max(&c->reader, cfg->max_frame);
		c->login_due = 0;
		c->last_active = uv_now(c->timer.loop);
	}
	arm(c);
}

int conn_send(struct conn *c, const ProtobufCMessage *msg)
{
	size_t size = protobuf_c_message_get_packed_size(msg);
	const struct config *cfg = conn_cfg(c);
	uint8_t *p;

	if (c->closing && !c->close_after_flush)
		return -ESHUTDOWN;
	if (c->out.len + c->cipher.len + c->sending.len + FRAME_HEADER_SIZE + size >
	    cfg->max_outbuf) {
		log_warn("event=conn_outbuf_full conn=%" PRIu64 " unsent=%zu limit=%u", c->id,
			 c->out.len + c->cipher.len + c->sending.len, cfg->max_outbuf);
		c->close_after_flush = false;
		c->reset = true;
		conn_close(c, "peer_not_reading");
		return -ENOBUFS;
	}
	p = buf_reserve(&c->out, FRAME_HEADER_SIZE + size);
	if (!p) {
		c->close_after_flush = false;
		conn_close(c, "out_of_memory");
		return -ENOMEM;
	}
	frame_put_header(p, (uint32_t)size);
	protobuf_c_message_pack(msg, p + FRAME_HEADER_SIZE);
	buf_commit(&c->out, FRAME_HEADER_SIZE + size);
	mark_dirty(c);
	return 0;
}

void conn_close_with_error(struct conn *c, int err, const char *message)
{
	Grid__V1__ServerFrame frame = GRID__V1__SERVER_FRAME__INIT;
	Grid__V1__Reply reply = GRID__V1__REPLY__INIT;
	Grid__V1__Status status = GRID__V1__STATUS__INIT;

	if (c->closing)
		return;
	status.code = status_from_errno(err);
	status.message = (char *)message;
	reply.id = 0;
	reply.status = &status;
	frame.frame_case = GRID__V1__SERVER_FRAME__FRAME_REPLY;
	frame.reply = &reply;
	log_info("event=conn_error conn=%" PRIu64 " status=%s message=\"%s\"", c->id,
		 status_name(status.code), message);
	if (conn_send(c, &frame.base) < 0)
		return;
	c->close_after_flush = true;
	conn_close(c, "protocol_error");
}

static int on_frame(void *data, const uint8_t *payload, size_t len)
{
	struct conn *c = data;

	if (c->closing || c->draining)
		return 1;
	c->frames++;
	c->inflight++;
	conn_ref(c);
	rpc_handle_frame(c, payload, len);
	if (c->closing) {
		conn_unref(c);
		return 1;
	}
	conn_unref(c);
	if (c->frames - c->turn_start >= FRAMES_PER_TURN && may_read(c)) {
		/* Enough for this turn; the rest waits in the stash until
		 * the next loop iteration. */
		c->paused = true;
		c->yielded = true;
		stop_reading(c);
		net_yield(c->net, c);
		return 1;
	}
	if (!may_read(c)) {
		/* Back-pressure: requests wait in the socket, not in memory,
		 * until the database answers and the peer reads. */
		log_debug("event=conn_pause conn=%" PRIu64 " inflight=%u unsent=%zu", c->id,
			  c->inflight, conn_unsent(c));
		c->paused = true;
		stop_reading(c);
		return 1;
	}
	return 0;
}

/* Starts the frame deadline when a read ends inside a new frame, stops it
 * when it ends at a boundary. While paused the wait is ours, not the
 * peer's. */
static void note_partial(struct conn *c, uint64_t frames_before)
{
	if (c->closing)
		return;
	if (c->paused || !frame_reader_partial(&c->reader)) {
		c->frame_since = 0;
		return;
	}
	if (!c->frame_since || c->frames != frames_before) {
		c->frame_since = uv_now(c->timer.loop);
		arm(c);
	}
}

/* Feeds bytes to the frame reader. Returns how many it took: fewer than
 * len when it paused (the caller stashes the rest), all of them when the
 * connection closed. */
static size_t conn_feed(struct conn *c, const uint8_t *p, size_t len)
{
	size_t used = 0;
	uint64_t frames_before = c->frames;
	int r;

	c->turn_start = c->frames;
	r = frame_reader_feed(&c->reader, p, len, &used, on_frame, c);
	if (r == -EMSGSIZE) {
		char msg[128];
		snprintf(msg, sizeof(msg), "frame larger than the limit of %zu bytes",
			 c->reader.max);
		conn_close_with_error(c, -EMSGSIZE, msg);
		return len;
	}
	if (r < 0) {
		c->close_after_flush = false;
		conn_close(c, r == -ENOMEM ? "out_of_memory" : "read_error");
		return len;
	}
	note_partial(c, frames_before);
	return c->closing ? len : used;
}

/* Keeps input that may not be read yet. */
static void stash_append(struct conn *c, const uint8_t *p, size_t len)
{
	if (len == 0 || c->closing || c->draining)
		return;
	if (buf_append(&c->stash, p, len) < 0) {
		c->close_after_flush = false;
		conn_close(c, "out_of_memory");
	}
}

/* Hands decrypted input to the frame reader, or to the stash while
 * paused (the frame reader must not see more frames then). */
static void deliver(struct conn *c, const uint8_t *p, size_t len)
{
	size_t used = 0;

	if (c->closing || c->draining)
		return;
	if (!c->paused)
		used = conn_feed(c, p, len);
	stash_append(c, p + used, len - used);
}

static void log_tls_failure(struct conn *c, bool handshake)
{
	char why[128];

	log_info("event=%s conn=%" PRIu64 " peer=%s error=%s",
		 handshake ? "tls_handshake_failed" : "tls_error", c->id, c->peer,
		 log_quote(why, sizeof(why), tls_conn_error(c->tls)));
}

/* Ciphertext from the socket: decrypts all of it, feeding the plaintext
 * on; drives the handshake. */
static void tls_input(struct conn *c, const uint8_t *p, size_t len)
{
	bool was_established = tls_conn_established(c->tls);

	if (c->tls_failed)
		return;
	if (tls_conn_feed(c->tls, p, len) < 0) {
		c->close_after_flush = false;
		conn_close(c, "out_of_memory");
		return;
	}
	for (;;) {
		ssize_t n = tls_conn_read(c->tls, plain_buffer, sizeof(plain_buffer));

		if (n > 0) {
			/* Closing, the handshake still runs for the last
			 * words, but what the peer says is no longer heard. */
			deliver(c, plain_buffer, (size_t)n);
			if (!c->tls)
				return; /* shut meanwhile */
			continue;
		}
		if (n == 0)
			break;
		if (n == -ESHUTDOWN) {
			/* close_notify: the peer is done sending, and gets
			 * the replies to what it sent. */
			log_debug("event=tls_close_notify conn=%" PRIu64, c->id);
			c->peer_done = true;
			conn_begin_drain(c);
			break;
		}
		if (n == -EPROTO) {
			log_tls_failure(c, !was_established);
			c->tls_failed = true;
			stop_reading(c);
			/* Whatever alert OpenSSL queued goes out, then the
			 * socket closes. */
			c->close_after_flush = true;
			conn_close(c, was_established ? "tls_error" : "tls_handshake_failed");
			return;
		}
		c->close_after_flush = false;
		conn_close(c, "out_of_memory");
		return;
	}
	if (!was_established && tls_conn_established(c->tls)) {
		log_debug("event=tls_established conn=%" PRIu64 " version=%s cipher=%s", c->id,
			  tls_conn_version(c->tls), tls_conn_cipher(c->tls));
		if (c->closing)
			stop_reading(c); /* the last words can go now */
	}
	if (c->cipher.len > 0 || (c->out.len > 0 && tls_conn_established(c->tls)))
		mark_dirty(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	/* The shared buffer is free again by the time libuv asks for the next
	 * one; the flag guards that assumption. */
	if (read_buffer_busy) {
		b->base = NULL;
		b->len = 0;
		return;
	}
	read_buffer_busy = true;
	b->base = read_buffer;
	b->len = sizeof(read_buffer);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = s->data;

	if (b->base == read_buffer)
		read_buffer_busy = false;
	if (nread == 0)
		return;
	if (nread == UV_EOF) {
		/* The peer is done sending; it still gets the replies to what
		 * it sent (a half-closed client may be waiting for them). A
		 * TLS peer should have said close_notify first; without it a
		 * truncation cannot be told from an end, but every reply
		 * already sent was complete, so it is an end all the same. */
		if (c->closing) {
			/* Only a TLS connection reads while closing, for its
			 * handshake; that will not finish now. */
			c->close_after_flush = false;
			conn_close(c, "eof");
			return;
		}
		if (c->tls)
			log_info("event=tls_eof_without_close_notify conn=%" PRIu64
				 " peer=%s established=%d",
				 c->id, c->peer, tls_conn_established(c->tls));
		c->peer_done = true;
		conn_begin_drain(c);
		return;
	}
	if (nread < 0) {
		c->close_after_flush = false;
		conn_close(c, uv_err_name((int)nread));
		return;
	}
	c->last_active = uv_now(s->loop);
	conn_ref(c);
	if (c->tls)
		tls_input(c, (const uint8_t *)b->base, (size_t)nread);
	else if (!c->closing)
		deliver(c, (const uint8_t *)b->base, (size_t)nread);
	conn_unref(c);
}

static void start_reading(struct conn *c)
{
	if (c->reading || c->closing || c->draining)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
		c->reading = true;
}

void conn_request_done(struct conn *c)
{
	c->inflight--;
	if (conn_cfg(c)->idle_timeout_ms && !c->closing) {
		/* Idle time counts from the last reply. */
		c->last_active = uv_now(c->timer.loop);
		arm(c);
	}
	/* Resuming and closing happen in conn_flush, outside of whatever
	 * callback finished the request. */
	mark_dirty(c);
}

/* All that was queued went out: by uv_write's callback, or at once. */
static void written(struct conn *c)
{
	c->stalled_since = 0;
	if (c->watcher && c->watcher->on_written && !c->closing)
		c->watcher->on_written(c, c->watcher_data);
	/* A paused reader may resume now that the peer caught up. */
	if (c->out.len > 0 || c->closing || c->draining || c->paused)
		mark_dirty(c);
}

/* A write failed: what it held is dropped, and so is the connection. */
static void write_failed(struct conn *c, struct buf *b, int err)
{
	buf_finish(b);
	c->stalled_since = 0;
	c->close_after_flush = false;
	conn_close(c, uv_err_name(err));
}

static void on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	if (status < 0) {
		write_failed(c, &c->sending, status);
	} else {
		buf_finish(&c->sending);
		written(c);
	}
	conn_unref(c);
}

/* Encrypts the queued replies into `cipher`, and close_notify after them
 * when the connection is closing cleanly. -1 when the connection closed. */
static int tls_flush(struct conn *c)
{
	if (!c->tls)
		return 0;
	if (c->out.len > 0 && !c->tls_failed && tls_conn_established(c->tls)) {
		int r = tls_conn_write(c->tls, c->out.data, c->out.len);

		/* An idle connection keeps no buffer. */
		buf_finish(&c->out);
		if (r < 0) {
			if (r == -EPROTO)
				log_tls_failure(c, false);
			c->tls_failed = true;
			c->close_after_flush = false;
			conn_close(c, r == -ENOMEM ? "out_of_memory" : "tls_error");
			return -1;
		}
	}
	if (c->closing && c->close_after_flush && !c->tls_bye &&
	    (c->out.len == 0 || c->tls_failed)) {
		c->tls_bye = true;
		if (c->tls_failed)
			buf_finish(&c->out); /* can never be sent */
		else if (tls_conn_shutdown(c->tls) == -ENOMEM) {
			c->close_after_flush = false;
			conn_close(c, "out_of_memory");
			return -1;
		}
	}
	return 0;
}

void conn_flush(struct conn *c)
{
	if (c->shut)
		return;

	/* Resume a paused reader: first the stashed input, then the socket. */
	if (c->paused && !c->yielded && !c->closing && !c->draining && may_read(c)) {
		struct buf stash = c->stash;
		size_t off = c->stash_off, used;

		buf_init(&c->stash, 0);
		c->stash_off = 0;
		c->paused = false;
		used = conn_feed(c, stash.data + off, stash.len - off);
		if (c->paused && !c->closing && c->stash.len == 0) {
			/* Paused again: the rest stays where it is, uncopied. */
			c->stash = stash;
			c->stash_off = off + used;
		} else {
			stash_append(c, stash.data + off + used, stash.len - off - used);
			buf_finish(&stash);
		}
		if (!c->paused)
			start_reading(c);
	}

	if (c->is_tls && tls_flush(c) < 0)
		return;

	struct buf *pending = c->is_tls ? &c->cipher : &c->out;

	if (c->sending.len == 0 && pending->len > 0) {
		uv_buf_t b = uv_buf_init((char *)pending->data, (unsigned)pending->len);
		int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);

		if (n < 0 && n != UV_EAGAIN) {
			write_failed(c, pending, n);
			return;
		}
		if (n > 0)
			buf_consume(pending, (size_t)n);
		if (pending->len == 0) {
			/* An idle connection keeps no buffer. */
			buf_finish(pending);
			written(c);
			if (c->shut)
				return;
		}
	}
	if (c->sending.len == 0 && pending->len > 0) {
		struct buf tmp = c->sending;
		uv_buf_t b;

		c->sending = *pending;
		*pending = tmp;
		b = uv_buf_init((char *)c->sending.data, (unsigned)c->sending.len);
		c->write_req.data = c;
		conn_ref(c);
		int r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
		if (r < 0) {
			conn_unref(c);
			write_failed(c, &c->sending, r);
			return;
		}
		size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
		if (q > 0) {
			/* The kernel did not take it all: the peer is behind,
			 * and has send_timeout_ms to take some. */
			c->stalled_since = uv_now(c->timer.loop);
			c->stalled_queue = q;
			arm(c);
		}
	}

	if (c->closing && c->close_after_flush && output_done(c)) {
		conn_shut(c);
	} else if (c->draining && !c->closing && c->inflight == 0 && c->out.len == 0 &&
		   c->cipher.len == 0 && c->sending.len == 0) {
		/* A TLS peer is told with close_notify that nothing was cut. */
		c->close_after_flush = c->is_tls;
		conn_close(c, c->peer_done ? "eof" : "shutdown");
	}
}

void conn_begin_drain(struct conn *c)
{
	if (c->closing)
		return;
	c->draining = true;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
	buf_finish(&c->stash);
	c->stash_off = 0;
	mark_dirty(c);
}

int conn_accept(struct net *n, uv_stream_t *listener, struct tls_server *ts, uint64_t id,
		struct conn **ret_conn, struct sockaddr_storage *ret_peer)
{
	struct server *srv = net_server(n);
	struct conn *c = calloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	int len = sizeof(ss), r;

	if (!c)
		return -ENOMEM;
	c->net = n;
	c->id = id;
	c->refs = 1; /* dropped when both handles are closed */
	list_init(&c->link);
	list_init(&c->dirty_link);
	list_init(&c->yield_link);
	frame_reader_init(&c->reader, srv->cfg->max_frame_before_login);
	buf_init(&c->out, 0);
	buf_init(&c->sending, 0);
	buf_init(&c->stash, 0);
	buf_init(&c->cipher, 0);
	uv_tcp_init(srv->loop, &c->tcp);
	uv_timer_init(srv->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->open_handles = 2;

	r = uv_accept(listener, (uv_stream_t *)&c->tcp);
	if (r == 0 && ts) {
		c->is_tls = true;
		c->tls = tls_conn_create(ts, &c->cipher);
		if (!c->tls)
			r = UV_ENOMEM;
	}
	if (r < 0) {
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
		uv_close((uv_handle_t *)&c->timer, on_handle_closed);
		return r;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	strcpy(c->peer, "?");
	memset(&ss, 0, sizeof(ss));
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		char host[48] = "";
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			uv_ip4_name(sin, host, sizeof(host));
			snprintf(c->peer, sizeof(c->peer), "%s:%d", host, ntohs(sin->sin_port));
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			uv_ip6_name(sin6, host, sizeof(host));
			snprintf(c->peer, sizeof(c->peer), "[%s]:%d", host, ntohs(sin6->sin6_port));
		}
	}
	c->last_active = uv_now(srv->loop);
	*ret_peer = ss;
	*ret_conn = c;
	return 0;
}

void conn_start(struct conn *c)
{
	c->login_due = uv_now(c->timer.loop) + conn_cfg(c)->login_timeout_ms;
	arm(c);
	start_reading(c);
}
