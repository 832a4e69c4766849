/* One client connection; see conn.h.
 *
 * Reading: libuv reads into one buffer shared by all connections (the loop
 * is single-threaded and each read is consumed before the next), the frame
 * reader cuts it into frames and each frame goes to rpc_handle_frame(). Only
 * a partial frame is copied into memory of the connection's own, so an idle
 * connection costs no buffers. When max_inflight requests are waiting for
 * the database, reading stops and the rest of the read is stashed until
 * requests finish.
 *
 * Writing: replies are framed into `out`; once per loop iteration (net.c's
 * check handle) `out` is swapped into `sending` and handed to one uv_write.
 * The two together may not pass max_outbuf: a peer that does not read its
 * replies is disconnected rather than allowed to grow our memory.
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

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;
	const struct config *cfg = conn_cfg(c);

	if (c->closing) {
		/* The peer did not take the last words within the linger. */
		conn_shut(c);
		return;
	}
	if (!c->principal) {
		conn_close_with_error(
		    c, -ETIMEDOUT, "no Hello and Login (or Authenticate) within the time allowed");
		return;
	}
	if (cfg->idle_timeout_ms && c->inflight == 0 &&
	    uv_now(t->loop) - c->last_active >= cfg->idle_timeout_ms) {
		conn_close_with_error(c, -ETIMEDOUT, "connection idle for too long");
		return;
	}
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
	uv_timer_stop(&c->timer);
	if (!p) {
		frame_reader_set_max(&c->reader, cfg->max_frame_before_login);
		uv_timer_start(&c->timer, on_timer, cfg->login_timeout_ms, 0);
		return;
	}
	frame_reader_set_max(&c->reader, cfg->max_frame);
	if (cfg->idle_timeout_ms) {
		unsigned every = cfg->idle_timeout_ms / 4 ? cfg->idle_timeout_ms / 4 : 1;
		uv_timer_start(&c->timer, on_timer, every, every);
	}
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
	c->inflight++;
	conn_ref(c);
	rpc_handle_frame(c, payload, len);
	if (c->closing) {
		conn_unref(c);
		return 1;
	}
	conn_unref(c);
	if (c->inflight >= conn_cfg(c)->max_inflight) {
		/* Back-pressure: requests wait in the socket, not in memory. */
		c->paused = true;
		if (c->reading) {
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = false;
		}
		return 1;
	}
	return 0;
}

/* Feeds bytes to the frame reader; keeps what a pause left unread. */
static void conn_feed(struct conn *c, const uint8_t *p, size_t len)
{
	size_t used = 0;
	int r = frame_reader_feed(&c->reader, p, len, &used, on_frame, c);

	if (r == -EMSGSIZE) {
		char msg[128];
		snprintf(msg, sizeof(msg), "frame larger than the limit of %zu bytes",
			 c->reader.max);
		conn_close_with_error(c, -EMSGSIZE, msg);
		return;
	}
	if (r < 0) {
		c->close_after_flush = false;
		conn_close(c, r == -ENOMEM ? "out_of_memory" : "read_error");
		return;
	}
	if (used < len && !c->closing && buf_append(&c->stash, p + used, len - used) < 0) {
		c->close_after_flush = false;
		conn_close(c, "out_of_memory");
	}
}

/* Hands decrypted input to the frame reader, or to the stash while
 * paused (the frame reader must not see more frames then). */
static void deliver(struct conn *c, const uint8_t *p, size_t len)
{
	if (c->closing || c->draining)
		return;
	if (!c->paused) {
		conn_feed(c, p, len);
		return;
	}
	if (buf_append(&c->stash, p, len) < 0) {
		c->close_after_flush = false;
		conn_close(c, "out_of_memory");
	}
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
		conn_feed(c, (const uint8_t *)b->base, (size_t)nread);
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
	/* Resuming and closing happen in conn_flush, outside of whatever
	 * callback finished the request. */
	mark_dirty(c);
}

static void on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	buf_finish(&c->sending);
	if (status < 0) {
		c->close_after_flush = false;
		conn_close(c, uv_err_name(status));
	} else {
		if (c->watcher && c->watcher->on_written && !c->closing)
			c->watcher->on_written(c, c->watcher_data);
		if (c->out.len > 0 || c->closing || c->draining)
			mark_dirty(c);
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
	if (c->paused && !c->closing && !c->draining && c->inflight < conn_cfg(c)->max_inflight) {
		struct buf stash = c->stash;
		buf_init(&c->stash, 0);
		c->paused = false;
		conn_feed(c, stash.data, stash.len);
		buf_finish(&stash);
		if (!c->paused)
			start_reading(c);
	}

	if (c->is_tls && tls_flush(c) < 0)
		return;

	struct buf *pending = c->is_tls ? &c->cipher : &c->out;

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
			buf_finish(&c->sending);
			c->close_after_flush = false;
			conn_close(c, uv_err_name(r));
			return;
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
	uv_timer_start(&c->timer, on_timer, conn_cfg(c)->login_timeout_ms, 0);
	start_reading(c);
}
