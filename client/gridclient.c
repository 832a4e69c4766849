/* libgridclient: one TCP connection to gridd on a libuv loop; see
 * gridclient.h. gridctl uses the blocking API, integrators and load tools
 * the asynchronous one.
 *
 * A client moves through one state machine: IDLE -> RESOLVING
 * (uv_getaddrinfo) -> CONNECTING (one uv_tcp_connect per resolved address
 * until one answers) -> HANDSHAKE (TLS only) -> HELLO (the Hello request is
 * out) -> READY -> CLOSED.
 * Any failure goes straight to CLOSED through fail_connection(), the one
 * way down, which fails every call still waiting. A client connects once;
 * a new connection is a new client.
 *
 * Calls live in three places at once: a hash table by request id (replies
 * come in any order), a list of all calls (to fail them in order on
 * connection loss), and a list sorted by deadline (one timer serves them
 * all). Calls beyond the server's max_inflight wait, packed, in a send queue
 * and go out as replies free room, so a caller may keep thousands in flight
 * without tripping the server's limit. Output is coalesced: while one
 * uv_write is on the wire, new frames gather in a second buffer that goes
 * out as one write when the first completes.
 *
 * Memory of the client is released only after the timer, every TCP handle
 * and a pending getaddrinfo have called back (refs counts them), so a
 * callback may destroy the client it was called for.
 *
 * TLS runs OpenSSL over two memory BIOs, so the socket stays libuv's: what
 * the socket delivers is written into the read BIO and decrypted until
 * OpenSSL wants more; frames are encrypted when they are flushed; whatever
 * OpenSSL writes (handshake, alerts, data) is moved into `tls_out` after
 * every call and leaves through the same one-write-at-a-time path.
 */
#include "client/gridclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/htab.h"
#include "common/list.h"
#include "common/status.h"
#include "grid_version.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_CALL_TIMEOUT_MS 30000
#define DEFAULT_MAX_FRAME FRAME_MAX_LIMIT
/* The client waits a little longer than the deadline it sends, so that the
 * server's own DEADLINE_EXCEEDED reply, which says more, usually wins. */
#define DEADLINE_GRACE_MS 500
#define READ_BUF_SIZE (64 * 1024)
/* A write buffer that grew past this for one large request is given back. */
#define WBUF_KEEP (1024 * 1024)
/* Plaintext per SSL_write and per SSL_read. */
#define TLS_CHUNK 16384

enum gc_state {
	GC_IDLE,
	GC_RESOLVING,
	GC_CONNECTING,
	GC_HANDSHAKE,
	GC_HELLO,
	GC_READY,
	GC_CLOSED,
};

/* One TCP attempt, and the connection if it succeeds. Allocated per
 * attempt because a handle that failed to connect cannot be reused and is
 * freed only in its close callback. */
struct gc_conn {
	uv_tcp_t tcp;
	uv_connect_t connect;
	struct grid_client *c;
};

struct gc_call {
	uint64_t id;
	grid_client_reply_cb cb; /* NULL once the caller stopped waiting */
	void *data;
	uint64_t deadline; /* loop time in ms */
	int call_case;	   /* Request.call, hence the expected Reply.result */
	bool sent;
	bool steal; /* the callback takes ownership of the reply */
	bool in_deadlines;
	bool in_sendq;
	uint8_t *frame; /* packed, while waiting in the send queue */
	size_t frame_len;
	struct list all;
	struct list by_deadline;
	struct list sendq;
};

struct grid_client {
	uv_loop_t *loop;
	uv_loop_t own_loop;
	bool private_loop;
	bool in_run; /* a blocking function is inside uv_run() */
	bool destroyed;
	unsigned refs; /* timer + TCP handles + pending getaddrinfo */

	char *client_name;
	unsigned connect_timeout_ms;
	unsigned call_timeout_ms;
	size_t max_frame;

	bool tls;
	bool tls_no_verify;
	char *ca_file;
	char *server_name; /* the name the certificate must carry */
	SSL_CTX *ssl_ctx;
	SSL *ssl;		 /* the connection's session, with its two BIOs */
	BIO *rbio;		 /* owned by ssl */
	BIO *wbio;		 /* owned by ssl */
	struct buf tls_out;	 /* records not yet handed to uv_write */
	uint8_t pbuf[TLS_CHUNK]; /* decrypted input */

	enum gc_state state;
	char *server; /* as given, for messages */
	uv_getaddrinfo_t gai;
	bool gai_pending;
	struct addrinfo *addrs;
	struct addrinfo *next_addr;
	int last_connect_err;
	struct gc_conn *conn;
	uv_timer_t timer; /* connect timeout, then call deadlines */

	grid_client_connect_cb connect_cb;
	void *connect_data;
	grid_client_event_cb event_cb;
	void *event_data;

	Grid__V1__Reply *hello; /* owned; result hello */
	uint32_t max_inflight;	/* from the server's limits; 0 = none */
	size_t max_request;	/* from the server's limits; 0 = none */

	struct htab calls; /* struct gc_call by id */
	struct list all;
	struct list deadlines;
	struct list sendq;
	size_t n_calls; /* calls whose callback is still due */
	size_t n_sent;	/* sent, reply not yet read (includes abandoned) */
	uint64_t next_id;

	struct frame_reader reader;
	uint8_t rbuf[READ_BUF_SIZE];
	struct buf out;	 /* frames not yet handed to uv_write */
	struct buf wbuf; /* frames on the wire */
	bool writing;
	uv_write_t write_req;

	char error[256];
};

static void fail_connection(struct grid_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void flush(struct grid_client *c);

/* ---- small helpers ---- */

static void set_error(struct grid_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct grid_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

static uint64_t call_hash(const void *elem)
{
	return htab_hash_u64(((const struct gc_call *)elem)->id);
}

static int call_eq(const void *elem, const void *key)
{
	return ((const struct gc_call *)elem)->id == *(const uint64_t *)key;
}

static struct gc_call *find_call(struct grid_client *c, uint64_t id)
{
	return htab_find(&c->calls, &id, htab_hash_u64(id));
}

/* The loop stays alive for a connection only while someone waits on it, so
 * uv_run() on a caller's loop returns when the work is done. */
static void update_ref(struct grid_client *c)
{
	if (!c->conn)
		return;
	if (c->state < GC_READY || c->n_calls > 0 || c->event_cb)
		uv_ref((uv_handle_t *)&c->conn->tcp);
	else
		uv_unref((uv_handle_t *)&c->conn->tcp);
}

static void free_client(struct grid_client *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ssl_ctx);
	buf_finish(&c->tls_out);
	free(c->ca_file);
	free(c->server_name);
	frame_reader_finish(&c->reader);
	buf_finish(&c->out);
	buf_finish(&c->wbuf);
	htab_finish(&c->calls);
	grid__v1__reply__free_unpacked(c->hello, NULL);
	if (c->addrs)
		uv_freeaddrinfo(c->addrs);
	free(c->server);
	free(c->client_name);
	free(c);
}

/* Frees a destroyed client on a caller's loop once nothing can call back.
 * On a private loop finish_private() does it after the loop is closed. */
static void maybe_free(struct grid_client *c)
{
	if (c->refs == 0 && c->destroyed && !c->private_loop)
		free_client(c);
}

static void on_conn_close(uv_handle_t *h)
{
	struct gc_conn *conn = container_of((uv_tcp_t *)h, struct gc_conn, tcp);
	struct grid_client *c = conn->c;

	free(conn);
	c->refs--;
	maybe_free(c);
}

static void on_timer_close(uv_handle_t *h)
{
	struct grid_client *c = h->data;

	c->refs--;
	maybe_free(c);
}

/* Moves what OpenSSL wrote into tls_out. */
static int tls_drain(struct grid_client *c)
{
	char *p = NULL;
	long n = BIO_get_mem_data(c->wbio, &p);
	int r = 0;

	if (n > 0) {
		r = buf_append(&c->tls_out, p, (size_t)n) < 0 ? -ENOMEM : 0;
		(void)BIO_reset(c->wbio);
	}
	return r;
}

/* Says goodbye with close_notify when it can leave at once: a clean end
 * looks like one to the server. Best effort; nothing waits for it. */
static void tls_goodbye(struct grid_client *c)
{
	uv_buf_t b;

	if (!c->ssl || !c->conn || c->writing || c->tls_out.len > 0 ||
	    !SSL_is_init_finished(c->ssl))
		return;
	ERR_clear_error();
	if (SSL_shutdown(c->ssl) < 0 || tls_drain(c) < 0 || c->tls_out.len == 0) {
		ERR_clear_error();
		return;
	}
	b = uv_buf_init((char *)c->tls_out.data, (unsigned)c->tls_out.len);
	(void)uv_try_write((uv_stream_t *)&c->conn->tcp, &b, 1);
	buf_reset(&c->tls_out);
}

static void close_conn(struct grid_client *c)
{
	struct gc_conn *conn = c->conn;

	if (!conn)
		return;
	tls_goodbye(c);
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->rbio = c->wbio = NULL;
	buf_finish(&c->tls_out);
	c->conn = NULL;
	uv_close((uv_handle_t *)&conn->tcp, on_conn_close);
}

/* ---- calls ---- */

/* Unlinks call from everything and frees it; the caller runs the callback. */
static void drop_call(struct grid_client *c, struct gc_call *call)
{
	htab_remove(&c->calls, &call->id, htab_hash_u64(call->id));
	list_remove(&call->all);
	if (call->in_deadlines) {
		list_remove(&call->by_deadline);
		/* A timer left at a removed call's deadline only fires early
		 * and re-arms; but with nothing left to wait for it must not
		 * keep the loop alive. */
		if (list_empty(&c->deadlines) && !c->destroyed && c->state == GC_READY)
			uv_timer_stop(&c->timer);
	}
	if (call->in_sendq)
		list_remove(&call->sendq);
	if (call->sent)
		c->n_sent--;
	if (call->cb)
		c->n_calls--;
	free(call->frame);
	free(call);
}

/* Fails every call with err. Callbacks may call back into the library
 * (even destroy), so each call is unlinked before its callback runs. */
static void fail_all(struct grid_client *c, int err)
{
	while (!list_empty(&c->all)) {
		struct gc_call *call = list_entry(c->all.next, struct gc_call, all);
		grid_client_reply_cb cb = call->cb;
		void *data = call->data;

		drop_call(c, call);
		if (cb)
			cb(c, err, NULL, data);
	}
}

/* Moves queued calls to the output while the server's limit allows. */
static int pump_sendq(struct grid_client *c)
{
	while (!list_empty(&c->sendq) && (c->max_inflight == 0 || c->n_sent < c->max_inflight)) {
		struct gc_call *call = list_entry(c->sendq.next, struct gc_call, sendq);

		if (buf_append(&c->out, call->frame, call->frame_len) < 0)
			return -ENOMEM;
		free(call->frame);
		call->frame = NULL;
		list_remove(&call->sendq);
		call->in_sendq = false;
		call->sent = true;
		c->n_sent++;
	}
	return 0;
}

static void on_timer(uv_timer_t *t);

/* Points the timer at the earliest deadline. */
static void arm_deadline_timer(struct grid_client *c)
{
	struct gc_call *first;
	uint64_t now;

	if (c->destroyed || c->state != GC_READY)
		return;
	if (list_empty(&c->deadlines)) {
		uv_timer_stop(&c->timer);
		return;
	}
	first = list_entry(c->deadlines.next, struct gc_call, by_deadline);
	now = uv_now(c->loop);
	uv_timer_start(&c->timer, on_timer, first->deadline > now ? first->deadline - now : 0, 0);
}

static void expire_calls(struct grid_client *c)
{
	uint64_t now = uv_now(c->loop);

	while (!c->destroyed && c->state == GC_READY && !list_empty(&c->deadlines)) {
		struct gc_call *call = list_entry(c->deadlines.next, struct gc_call, by_deadline);
		grid_client_reply_cb cb = call->cb;
		void *data = call->data;

		if (call->deadline > now)
			break;
		set_error(c, "no reply from %s within the deadline", c->server);
		if (call->sent) {
			/* The server still owes a reply and still counts the
			 * request against max_inflight: keep the id, forget the
			 * caller. The late reply is dropped when it comes. */
			list_remove(&call->by_deadline);
			call->in_deadlines = false;
			call->cb = NULL;
			call->data = NULL;
			c->n_calls--;
		} else {
			drop_call(c, call);
		}
		update_ref(c);
		if (cb)
			cb(c, -ETIMEDOUT, NULL, data);
	}
	arm_deadline_timer(c);
}

static void on_timer(uv_timer_t *t)
{
	struct grid_client *c = t->data;

	switch (c->state) {
	case GC_RESOLVING:
	case GC_CONNECTING:
		fail_connection(c, -ETIMEDOUT, "timed out connecting to %s after %u ms", c->server,
				c->connect_timeout_ms);
		break;
	case GC_HANDSHAKE:
		fail_connection(c, -ETIMEDOUT, "TLS handshake with %s did not finish within %u ms",
				c->server, c->connect_timeout_ms);
		break;
	case GC_HELLO:
		fail_connection(c, -ETIMEDOUT, "%s did not answer hello within %u ms", c->server,
				c->connect_timeout_ms);
		break;
	case GC_READY:
		expire_calls(c);
		break;
	default:
		break;
	}
}

/* Registers a call and packs req into the output or the send queue. */
static int start_call(struct grid_client *c, Grid__V1__Request *req, grid_client_reply_cb cb,
		      void *data, bool steal, bool internal)
{
	struct gc_call *call;
	uint32_t saved_deadline;
	unsigned timeout_ms;
	size_t n, total;
	bool send_now;
	uint8_t *p;
	int r;

	if (!req || req->call_case == GRID__V1__REQUEST__CALL__NOT_SET) {
		set_error(c, "request without a call");
		return -EINVAL;
	}
	if (!internal && req->call_case == GRID__V1__REQUEST__CALL_HELLO) {
		set_error(c, "hello is sent by the library");
		return -EINVAL;
	}
	if (c->destroyed)
		return -ECANCELED;
	if (internal ? c->state != GC_HELLO : c->state != GC_READY) {
		/* After a failure the error already says what happened. */
		if (c->state != GC_CLOSED)
			set_error(c, "not connected");
		return -ENOTCONN;
	}
	if (req->id == 0) {
		do {
			req->id = c->next_id++;
		} while (req->id == 0 || find_call(c, req->id));
	} else if (find_call(c, req->id)) {
		set_error(c, "request id %llu is already in flight", (unsigned long long)req->id);
		return -EEXIST;
	}

	saved_deadline = req->deadline_ms;
	if (req->deadline_ms == 0 && !internal)
		req->deadline_ms = c->call_timeout_ms;
	timeout_ms = req->deadline_ms;
	n = grid__v1__request__get_packed_size(req);
	if (n > UINT32_MAX - FRAME_HEADER_SIZE || (c->max_request && n > c->max_request)) {
		req->deadline_ms = saved_deadline;
		set_error(c, "request of %zu bytes is over the server's limit of %zu bytes", n,
			  c->max_request);
		return -EMSGSIZE;
	}
	total = FRAME_HEADER_SIZE + n;

	call = calloc(1, sizeof(*call));
	if (!call)
		goto nomem;
	call->id = req->id;
	call->cb = cb;
	call->data = data;
	call->call_case = (int)req->call_case;
	call->steal = steal;
	list_init(&call->all);
	list_init(&call->by_deadline);
	list_init(&call->sendq);

	send_now = list_empty(&c->sendq) && (c->max_inflight == 0 || c->n_sent < c->max_inflight);
	if (send_now) {
		p = buf_reserve(&c->out, total);
		if (!p)
			goto nomem_call;
	} else {
		p = call->frame = malloc(total);
		if (!p)
			goto nomem_call;
		call->frame_len = total;
	}
	frame_put_header(p, (uint32_t)n);
	grid__v1__request__pack(req, p + FRAME_HEADER_SIZE);
	req->deadline_ms = saved_deadline;

	r = htab_insert(&c->calls, call);
	if (r < 0) {
		free(call->frame);
		free(call);
		set_error(c, "out of memory");
		return r;
	}
	if (send_now) {
		buf_commit(&c->out, total);
		call->sent = true;
		c->n_sent++;
	} else {
		list_insert(c->sendq.prev, &call->sendq);
		call->in_sendq = true;
	}
	list_insert(c->all.prev, &call->all);
	c->n_calls++;

	if (!internal) {
		/* Deadlines are mostly equal, so the sorted insert usually
		 * stops at once at the tail. */
		struct list *pos = c->deadlines.prev;

		/* Outside a callback the loop's cached time may be old, and
		 * the call would time out at once. */
		uv_update_time(c->loop);
		call->deadline = uv_now(c->loop) + timeout_ms + DEADLINE_GRACE_MS;
		while (pos != &c->deadlines &&
		       list_entry(pos, struct gc_call, by_deadline)->deadline > call->deadline)
			pos = pos->prev;
		list_insert(pos, &call->by_deadline);
		call->in_deadlines = true;
		if (c->deadlines.next == &call->by_deadline)
			arm_deadline_timer(c);
	}
	update_ref(c);
	flush(c);
	return 0;

nomem_call:
	free(call);
nomem:
	req->deadline_ms = saved_deadline;
	set_error(c, "out of memory");
	return -ENOMEM;
}

/* ---- connection failure ---- */

static void fail_connection(struct grid_client *c, int err, const char *fmt, ...)
{
	enum gc_state prev = c->state;
	va_list ap;

	if (prev == GC_CLOSED)
		return;
	c->state = GC_CLOSED;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);

	if (c->gai_pending)
		uv_cancel((uv_req_t *)&c->gai);
	close_conn(c);
	if (!c->destroyed)
		uv_timer_stop(&c->timer);
	fail_all(c, err);
	if (prev < GC_READY && c->connect_cb) {
		grid_client_connect_cb cb = c->connect_cb;

		c->connect_cb = NULL;
		cb(c, err, c->connect_data);
	}
}

/* ---- output ---- */

static void on_write(uv_write_t *req, int status)
{
	struct grid_client *c = req->data;

	c->writing = false;
	if (c->wbuf.cap > WBUF_KEEP)
		buf_finish(&c->wbuf);
	else
		buf_reset(&c->wbuf);
	if (status < 0) {
		if (status != UV_ECANCELED)
			fail_connection(c, status, "writing to %s failed: %s", c->server,
					uv_strerror(status));
		return;
	}
	flush(c);
}

/* Encrypts the queued frames into tls_out. */
static int tls_encrypt(struct grid_client *c)
{
	const uint8_t *p = c->out.data;
	size_t len = c->out.len;

	while (len > 0) {
		int chunk = len > TLS_CHUNK ? TLS_CHUNK : (int)len;
		int n;

		ERR_clear_error();
		n = SSL_write(c->ssl, p, chunk);
		if (tls_drain(c) < 0)
			return -ENOMEM;
		if (n != chunk) {
			ERR_clear_error();
			return -EPROTO;
		}
		p += chunk;
		len -= (size_t)chunk;
	}
	if (c->out.cap > WBUF_KEEP)
		buf_finish(&c->out);
	else
		buf_reset(&c->out);
	return 0;
}

static void flush(struct grid_client *c)
{
	struct buf tmp, *src = &c->out;
	uv_buf_t b;
	int r;

	if (c->writing || !c->conn ||
	    (c->state != GC_HANDSHAKE && c->state != GC_HELLO && c->state != GC_READY))
		return;
	if (c->ssl) {
		if (c->out.len > 0 && c->state != GC_HANDSHAKE) {
			r = tls_encrypt(c);
			if (r < 0) {
				fail_connection(c, r, "TLS: cannot encrypt for %s: %s", c->server,
						strerror(-r));
				return;
			}
		}
		src = &c->tls_out;
	}
	if (src->len == 0)
		return;
	tmp = c->wbuf;
	c->wbuf = *src;
	*src = tmp;
	b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
	c->write_req.data = c;
	r = uv_write(&c->write_req, (uv_stream_t *)&c->conn->tcp, &b, 1, on_write);
	if (r < 0) {
		buf_reset(&c->wbuf);
		fail_connection(c, r, "writing to %s failed: %s", c->server, uv_strerror(r));
		return;
	}
	c->writing = true;
}

/* ---- input ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *ret_buf)
{
	struct gc_conn *conn = container_of((uv_tcp_t *)h, struct gc_conn, tcp);

	*ret_buf = uv_buf_init((char *)conn->c->rbuf, sizeof(conn->c->rbuf));
}

static void handle_reply(struct grid_client *c, Grid__V1__ServerFrame *frame)
{
	Grid__V1__Reply *reply = frame->reply;
	struct gc_call *call;
	grid_client_reply_cb cb;
	void *data;
	bool stolen;
	int status = 0;

	if (reply->id == 0) {
		status_code code = reply->status ? reply->status->code : GRID__V1__CODE__CODE_OK;
		const char *msg = reply->status ? reply->status->message : "";
		int err = code == GRID__V1__CODE__CODE_OK ? -ECONNRESET : status_to_errno(code);

		fail_connection(c, err, "%s closed the connection: %s%s%s", c->server,
				status_name(code), *msg ? ": " : "", msg);
		return;
	}
	call = find_call(c, reply->id);
	if (!call)
		return; /* a call that timed out, or an id we never sent */
	if (!call->sent)
		return; /* cannot be a reply to it; ignore the confused server */

	if (!reply->status) {
		/* proto3 leaves an all-default Status out; callers may count on
		 * reply->status, so make the OK explicit. */
		reply->status = malloc(sizeof(*reply->status));
		if (reply->status)
			grid__v1__status__init(reply->status);
		else
			status = -ENOMEM;
	}
	if (status == 0 && reply->status->code == GRID__V1__CODE__CODE_OK &&
	    reply->result_case != GRID__V1__REPLY__RESULT__NOT_SET &&
	    (int)reply->result_case != call->call_case) {
		set_error(c, "%s answered request %llu with the wrong result", c->server,
			  (unsigned long long)reply->id);
		status = -EPROTO;
	}

	cb = call->cb;
	data = call->data;
	stolen = status == 0 && call->steal && cb;
	if (stolen) {
		frame->reply = NULL;
		frame->frame_case = GRID__V1__SERVER_FRAME__FRAME__NOT_SET;
	}
	drop_call(c, call);
	if (pump_sendq(c) < 0) {
		if (stolen)
			grid__v1__reply__free_unpacked(reply, NULL);
		fail_connection(c, -ENOMEM, "out of memory");
		if (cb)
			cb(c, -ENOMEM, NULL, data);
		return;
	}
	flush(c);
	update_ref(c);
	if (cb)
		cb(c, status, status == 0 ? reply : NULL, data);
}

static int on_frame(void *arg, const uint8_t *payload, size_t len)
{
	struct grid_client *c = arg;
	Grid__V1__ServerFrame *frame;

	frame = grid__v1__server_frame__unpack(NULL, len, payload);
	if (!frame) {
		fail_connection(c, -EPROTO, "%s sent a frame that does not decode", c->server);
		return -EPROTO;
	}
	switch (frame->frame_case) {
	case GRID__V1__SERVER_FRAME__FRAME_REPLY:
		handle_reply(c, frame);
		break;
	case GRID__V1__SERVER_FRAME__FRAME_EVENT:
		if (c->event_cb && c->state == GC_READY)
			c->event_cb(c, frame->event, c->event_data);
		break;
	default:
		break; /* a frame kind from a newer server */
	}
	grid__v1__server_frame__free_unpacked(frame, NULL);
	/* A callback may have closed or destroyed the client: stop reading. */
	return c->state == GC_CLOSED || c->destroyed ? 1 : 0;
}

/* Plaintext from the server to the frame reader. */
static void feed_frames(struct grid_client *c, const uint8_t *p, size_t len)
{
	size_t consumed;
	int r = frame_reader_feed(&c->reader, p, len, &consumed, on_frame, c);

	if (r == -EMSGSIZE)
		fail_connection(c, -EPROTO, "%s sent a frame over the limit of %zu bytes",
				c->server, c->max_frame);
	else if (r < 0)
		fail_connection(c, r, "reading from %s failed: %s", c->server, strerror(-r));
}

static void send_hello(struct grid_client *c);

/* Fails the connection after a TLS failure during the handshake, saying
 * why as precisely as OpenSSL lets us. */
static void tls_handshake_failed(struct grid_client *c)
{
	long v = SSL_get_verify_result(c->ssl);
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	bool not_tls =
	    ERR_GET_LIB(e) == ERR_LIB_SSL && (ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER ||
					      ERR_GET_REASON(e) == SSL_R_PACKET_LENGTH_TOO_LONG ||
					      ERR_GET_REASON(e) == SSL_R_RECORD_LENGTH_MISMATCH);
	char why[160], hint[160] = "";

	snprintf(why, sizeof(why), "%s", reason ? reason : "protocol error");
	ERR_clear_error();
	switch (v) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		snprintf(hint, sizeof(hint), " (it is not issued for %s)", c->server_name);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		if (c->ca_file)
			snprintf(hint, sizeof(hint), " (no CA in %s signed it)", c->ca_file);
		else
			snprintf(hint, sizeof(hint), " (no CA the system trusts signed it)");
		break;
	default:
		break;
	}
	if (v != X509_V_OK)
		fail_connection(c, -ECONNABORTED,
				"TLS handshake with %s failed: the server's certificate does not "
				"verify: %s%s",
				c->server, X509_verify_cert_error_string(v), hint);
	else
		fail_connection(c, -ECONNABORTED, "TLS handshake with %s failed: %s%s", c->server,
				why, not_tls ? " (is that a TLS port?)" : "");
}

/* Ciphertext from the socket: drives the handshake, then decrypts all
 * there is and feeds it to the frame reader. */
static void tls_input(struct grid_client *c, const uint8_t *p, size_t len)
{
	if (BIO_write(c->rbio, p, (int)len) != (int)len) {
		fail_connection(c, -ENOMEM, "out of memory");
		return;
	}
	if (c->state == GC_HANDSHAKE) {
		int n, e;

		ERR_clear_error();
		n = SSL_do_handshake(c->ssl);
		e = n == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
		if (tls_drain(c) < 0) {
			fail_connection(c, -ENOMEM, "out of memory");
			return;
		}
		if (e == SSL_ERROR_WANT_READ) {
			flush(c);
			return;
		}
		if (e != SSL_ERROR_NONE) {
			tls_handshake_failed(c);
			return;
		}
		send_hello(c);
		if (c->state != GC_HELLO)
			return;
	}
	for (;;) {
		int n, e;

		ERR_clear_error();
		n = SSL_read(c->ssl, c->pbuf, sizeof(c->pbuf));
		e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
		if (tls_drain(c) < 0) {
			fail_connection(c, -ENOMEM, "out of memory");
			return;
		}
		if (e == SSL_ERROR_NONE) {
			feed_frames(c, c->pbuf, (size_t)n);
			if (c->state == GC_CLOSED || c->destroyed)
				return;
			continue;
		}
		if (e == SSL_ERROR_WANT_READ)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			fail_connection(c, -ECONNRESET, "connection closed by %s", c->server);
			return;
		}
		{
			unsigned long err = ERR_peek_last_error();
			const char *reason = err ? ERR_reason_error_string(err) : NULL;
			char why[160];

			snprintf(why, sizeof(why), "%s", reason ? reason : "protocol error");
			ERR_clear_error();
			fail_connection(c, -EPROTO, "TLS error on the connection to %s: %s",
					c->server, why);
			return;
		}
	}
	flush(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct gc_conn *conn = container_of((uv_tcp_t *)s, struct gc_conn, tcp);
	struct grid_client *c = conn->c;

	if (conn != c->conn || nread == 0)
		return;
	if (nread < 0) {
		if (c->state == GC_HANDSHAKE)
			fail_connection(c, -ECONNABORTED,
					"TLS handshake with %s failed: the server closed the "
					"connection%s",
					c->server, nread == UV_EOF ? "" : " abruptly");
		else if (nread == UV_EOF)
			fail_connection(c, -ECONNRESET, "connection closed by %s", c->server);
		else
			fail_connection(c, (int)nread, "connection to %s lost: %s", c->server,
					uv_strerror((int)nread));
		return;
	}
	if (c->ssl) {
		tls_input(c, (const uint8_t *)b->base, (size_t)nread);
		return;
	}
	feed_frames(c, (const uint8_t *)b->base, (size_t)nread);
}

/* ---- connecting ---- */

static void on_hello(struct grid_client *c, int status, const Grid__V1__Reply *creply, void *data)
{
	Grid__V1__Reply *reply = (Grid__V1__Reply *)creply; /* stolen: ours now */
	const Grid__V1__HelloReply *h;
	grid_client_connect_cb cb;

	if (status < 0) {
		/* Either fail_connection() is already failing every call, or
		 * the reply was unusable and the connection must go now. */
		char msg[sizeof(c->error)];

		snprintf(msg, sizeof(msg), "%s", c->error);
		fail_connection(c, status, "%s", msg);
		return;
	}
	if (reply->status->code != GRID__V1__CODE__CODE_OK) {
		status_code code = reply->status->code;

		fail_connection(c, status_to_errno(code), "%s refused hello: %s%s%s", c->server,
				status_name(code), *reply->status->message ? ": " : "",
				reply->status->message);
		grid__v1__reply__free_unpacked(reply, NULL);
		return;
	}
	if (reply->result_case != GRID__V1__REPLY__RESULT_HELLO) {
		grid__v1__reply__free_unpacked(reply, NULL);
		fail_connection(c, -EPROTO, "%s answered hello without a hello reply", c->server);
		return;
	}
	h = reply->hello;
	if (h->protocol_version != GRID_PROTOCOL_VERSION) {
		unsigned v = h->protocol_version;

		grid__v1__reply__free_unpacked(reply, NULL);
		fail_connection(c, -EPROTONOSUPPORT, "%s speaks protocol %u, this client %d",
				c->server, v, GRID_PROTOCOL_VERSION);
		return;
	}
	c->hello = reply;
	if (h->limits) {
		c->max_inflight = h->limits->max_inflight;
		c->max_request = h->limits->max_frame;
	}
	c->state = GC_READY;
	uv_timer_stop(&c->timer);
	update_ref(c);
	cb = c->connect_cb;
	c->connect_cb = NULL;
	if (cb)
		cb(c, 0, c->connect_data);
}

/* Starts the TLS handshake on a fresh connection: the session, the name
 * the certificate must carry, the ClientHello. */
static int tls_start(struct grid_client *c)
{
	X509_VERIFY_PARAM *param;
	const char *name = c->server_name;
	unsigned char addr[16];
	bool is_ip;
	int n, e;

	ERR_clear_error();
	c->ssl = SSL_new(c->ssl_ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->rbio || !c->wbio) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		SSL_free(c->ssl);
		c->ssl = NULL;
		c->rbio = c->wbio = NULL;
		ERR_clear_error();
		return -ENOMEM;
	}
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_connect_state(c->ssl);
	is_ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
	if (!is_ip && SSL_set_tlsext_host_name(c->ssl, name) != 1)
		goto nomem;
	if (!c->tls_no_verify) {
		param = SSL_get0_param(c->ssl);
		/* No wildcard may stand for a partial label: "*.example"
		 * matches one whole label only. */
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name) != 1
			  : SSL_set1_host(c->ssl, name) != 1)
			goto nomem;
	}
	c->state = GC_HANDSHAKE;
	n = SSL_do_handshake(c->ssl);
	e = SSL_get_error(c->ssl, n);
	if (tls_drain(c) < 0)
		goto nomem;
	if (e != SSL_ERROR_WANT_READ) {
		tls_handshake_failed(c);
		return -ECONNABORTED;
	}
	flush(c);
	return 0;

nomem:
	ERR_clear_error();
	return -ENOMEM;
}

static void send_hello(struct grid_client *c)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Hello hello = GRID__V1__HELLO__INIT;
	int r;

	hello.protocol_version = GRID_PROTOCOL_VERSION;
	hello.client_name = c->client_name;
	req.call_case = GRID__V1__REQUEST__CALL_HELLO;
	req.hello = &hello;
	c->state = GC_HELLO;
	r = start_call(c, &req, on_hello, NULL, true, true);
	if (r < 0)
		fail_connection(c, r, "cannot send hello to %s: %s", c->server, strerror(-r));
}

static void try_next_addr(struct grid_client *c);

static void on_connect(uv_connect_t *req, int status)
{
	struct gc_conn *conn = container_of(req, struct gc_conn, connect);
	struct grid_client *c = conn->c;
	int r;

	if (conn != c->conn || c->state != GC_CONNECTING)
		return; /* abandoned: timed out or destroyed */
	if (status < 0) {
		c->last_connect_err = status;
		close_conn(c);
		try_next_addr(c);
		return;
	}
	uv_tcp_nodelay(&conn->tcp, 1);
	uv_tcp_keepalive(&conn->tcp, 1, 60);
	r = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
	if (r < 0) {
		fail_connection(c, r, "cannot read from %s: %s", c->server, uv_strerror(r));
		return;
	}
	if (!c->tls) {
		send_hello(c);
		return;
	}
	r = tls_start(c);
	if (r == -ENOMEM)
		fail_connection(c, r, "out of memory");
	/* Other failures were reported by tls_start itself. */
}

static void try_next_addr(struct grid_client *c)
{
	while (c->next_addr) {
		struct addrinfo *ai = c->next_addr;
		struct gc_conn *conn;
		int r;

		c->next_addr = ai->ai_next;
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		conn = calloc(1, sizeof(*conn));
		if (!conn) {
			fail_connection(c, -ENOMEM, "out of memory");
			return;
		}
		conn->c = c;
		r = uv_tcp_init(c->loop, &conn->tcp);
		if (r < 0) {
			free(conn);
			c->last_connect_err = r;
			continue;
		}
		c->refs++;
		c->conn = conn;
		r = uv_tcp_connect(&conn->connect, &conn->tcp, ai->ai_addr, on_connect);
		if (r < 0) {
			c->last_connect_err = r;
			close_conn(c);
			continue;
		}
		return;
	}
	fail_connection(c, c->last_connect_err ? c->last_connect_err : -EHOSTUNREACH,
			"cannot connect to %s: %s", c->server,
			c->last_connect_err ? uv_strerror(c->last_connect_err)
					    : "no usable address");
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct grid_client *c = req->data;

	c->gai_pending = false;
	c->refs--;
	if (c->state != GC_RESOLVING) {
		if (res)
			uv_freeaddrinfo(res);
		maybe_free(c);
		return;
	}
	if (status < 0) {
		/* EAI_* codes are not errno values; to a caller an unknown
		 * host is a server it cannot reach. */
		fail_connection(c, -EHOSTUNREACH, "cannot resolve %s: %s", c->server,
				uv_strerror(status));
		return;
	}
	c->addrs = res;
	c->next_addr = res;
	c->state = GC_CONNECTING;
	try_next_addr(c);
}

/* Splits "HOST:PORT", "HOST", "[V6]:PORT", "[V6]" or a bare IPv6 address. */
static int parse_server(const char *s, char *host, size_t host_size, char *port, size_t port_size)
{
	const char *h = s, *hend, *p = NULL;
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	if (*s == '[') {
		h = s + 1;
		hend = strchr(h, ']');
		if (!hend)
			return -EINVAL;
		if (hend[1] == ':')
			p = hend + 2;
		else if (hend[1] != '\0')
			return -EINVAL;
	} else {
		const char *colon = strchr(s, ':');

		if (colon && !strchr(colon + 1, ':')) {
			hend = colon;
			p = colon + 1;
		} else if (colon) {
			/* Several colons without brackets: only a bare IPv6
			 * address, which takes the default port. */
			struct in6_addr a6;

			if (inet_pton(AF_INET6, s, &a6) != 1)
				return -EINVAL;
			hend = s + strlen(s);
		} else {
			hend = s + strlen(s);
		}
	}
	if (hend == h || (size_t)(hend - h) >= host_size)
		return -EINVAL;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	if (!p) {
		snprintf(port, port_size, "%d", GRID_DEFAULT_PORT);
		return 0;
	}
	if (!*p || strlen(p) > 5)
		return -EINVAL;
	for (const char *q = p; *q; q++) {
		if (*q < '0' || *q > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*q - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	snprintf(port, port_size, "%lu", v);
	return 0;
}

/* ---- public API ---- */

int grid_client_check_address(const char *server)
{
	char host[NI_MAXHOST], port[8];

	return server && parse_server(server, host, sizeof(host), port, sizeof(port)) == 0
		   ? 0
		   : -EINVAL;
}

struct grid_client *grid_client_create(uv_loop_t *loop, const struct grid_client_config *cfg)
{
	struct grid_client *c = calloc(1, sizeof(*c));
	const char *name =
	    cfg && cfg->client_name ? cfg->client_name : "libgridclient/" GRID_VERSION;

	if (!c)
		return NULL;
	c->client_name = strdup(name);
	if (!c->client_name)
		goto fail;
	if (loop) {
		c->loop = loop;
	} else {
		if (uv_loop_init(&c->own_loop) < 0)
			goto fail;
		c->loop = &c->own_loop;
		c->private_loop = true;
	}
	c->connect_timeout_ms =
	    cfg && cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	c->call_timeout_ms =
	    cfg && cfg->call_timeout_ms ? cfg->call_timeout_ms : DEFAULT_CALL_TIMEOUT_MS;
	c->max_frame = cfg && cfg->max_frame ? cfg->max_frame : DEFAULT_MAX_FRAME;
	if (cfg && cfg->tls) {
		c->tls = true;
		c->tls_no_verify = cfg->tls_no_verify;
		if ((cfg->ca_file && !(c->ca_file = strdup(cfg->ca_file))) ||
		    (cfg->server_name && !(c->server_name = strdup(cfg->server_name))))
			goto fail;
	}
	frame_reader_init(&c->reader, c->max_frame);
	buf_init(&c->tls_out, 0);
	buf_init(&c->out, 0);
	buf_init(&c->wbuf, 0);
	htab_init(&c->calls, call_hash, call_eq);
	list_init(&c->all);
	list_init(&c->deadlines);
	list_init(&c->sendq);
	c->next_id = 1;
	c->state = GC_IDLE;
	c->gai.data = c;
	/* Cannot fail for a timer on an initialized loop. */
	uv_timer_init(c->loop, &c->timer);
	c->timer.data = c;
	c->refs = 1;
	snprintf(c->error, sizeof(c->error), "no error");
	return c;

fail:
	if (c->private_loop)
		uv_loop_close(c->loop);
	free(c->ca_file);
	free(c->server_name);
	free(c->client_name);
	free(c);
	return NULL;
}

/* Runs the private loop until every handle closed, then frees. */
static void finish_private(struct grid_client *c)
{
	while (c->refs > 0)
		if (uv_run(c->loop, UV_RUN_DEFAULT) == 0 && c->refs > 0)
			break; /* cannot happen: each ref is an active handle or request */
	uv_run(c->loop, UV_RUN_NOWAIT);
	uv_loop_close(c->loop);
	free_client(c);
}

void grid_client_destroy(struct grid_client *c)
{
	if (!c || c->destroyed)
		return;
	c->destroyed = true;
	c->event_cb = NULL;
	if (c->state != GC_CLOSED)
		fail_connection(c, -ECANCELED, "client destroyed");
	else
		fail_all(c, -ECANCELED);
	set_error(c, "client destroyed");
	uv_close((uv_handle_t *)&c->timer, on_timer_close);
	if (!c->private_loop)
		return;
	if (c->in_run) {
		/* Destroyed from a callback inside a blocking call: that call
		 * finishes the job when uv_run() returns. */
		uv_stop(c->loop);
		return;
	}
	finish_private(c);
}

/* The TLS context: protocol floor, trusted CAs, the name to expect. Done
 * before connecting so that a CA file that does not load is reported at
 * once. */
static int tls_setup(struct grid_client *c, const char *host)
{
	unsigned long e;
	SSL_CTX *ctx;

	if (c->ssl_ctx)
		return 0; /* an earlier attempt failed before connecting */
	if (!c->server_name) {
		c->server_name = strdup(host);
		if (!c->server_name) {
			set_error(c, "out of memory");
			return -ENOMEM;
		}
	}
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		ERR_clear_error();
		set_error(c, "out of memory");
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, c->tls_no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	if (c->ca_file ? SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1
		       : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		e = ERR_peek_last_error();
		set_error(c, "cannot load the CA certificates from %s: %s",
			  c->ca_file ? c->ca_file : "the system's store",
			  e && ERR_reason_error_string(e) ? ERR_reason_error_string(e)
							  : "unreadable");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return -EINVAL;
	}
	c->ssl_ctx = ctx;
	return 0;
}

int grid_client_connect_async(struct grid_client *c, const char *server, grid_client_connect_cb cb,
			      void *data)
{
	char host[NI_MAXHOST], port[8];
	struct addrinfo hints;
	int r;

	if (c->destroyed)
		return -ECANCELED;
	if (c->state != GC_IDLE) {
		set_error(c, "already connected or connecting");
		return c->state == GC_READY ? -EISCONN : -EALREADY;
	}
	if (!server || parse_server(server, host, sizeof(host), port, sizeof(port)) < 0) {
		set_error(c, "bad server address '%s' (want HOST:PORT)", server ? server : "");
		return -EINVAL;
	}
	if (c->tls) {
		r = tls_setup(c, host);
		if (r < 0)
			return r;
	}
	c->server = strdup(server);
	if (!c->server) {
		set_error(c, "out of memory");
		return -ENOMEM;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	r = uv_getaddrinfo(c->loop, &c->gai, on_resolved, host, port, &hints);
	if (r < 0) {
		set_error(c, "cannot resolve %s: %s", server, uv_strerror(r));
		free(c->server);
		c->server = NULL;
		return -EHOSTUNREACH;
	}
	c->gai_pending = true;
	c->refs++;
	c->state = GC_RESOLVING;
	c->connect_cb = cb;
	c->connect_data = data;
	uv_update_time(c->loop);
	uv_timer_start(&c->timer, on_timer, c->connect_timeout_ms, 0);
	return 0;
}

int grid_client_call_async(struct grid_client *c, Grid__V1__Request *req, grid_client_reply_cb cb,
			   void *data)
{
	return start_call(c, req, cb, data, false, false);
}

void grid_client_set_event_cb(struct grid_client *c, grid_client_event_cb cb, void *data)
{
	if (c->destroyed)
		return;
	c->event_cb = cb;
	c->event_data = data;
	update_ref(c);
}

struct sync_wait {
	bool done;
	int status;
	Grid__V1__Reply *reply;
};

/* Runs the private loop until w->done. Returns 0, or -ECANCELED when a
 * callback destroyed the client meanwhile (which is then freed). */
static int run_until(struct grid_client *c, struct sync_wait *w)
{
	c->in_run = true;
	while (!w->done && !c->destroyed) {
		if (uv_run(c->loop, UV_RUN_ONCE) == 0 && !w->done && !c->destroyed) {
			/* Nothing left that could finish the wait. */
			c->in_run = false;
			set_error(c, "internal error: nothing to wait for");
			return -EIO;
		}
	}
	c->in_run = false;
	if (c->destroyed) {
		finish_private(c);
		return -ECANCELED;
	}
	return 0;
}

static void on_sync_connect(struct grid_client *c, int status, void *data)
{
	struct sync_wait *w = data;

	w->done = true;
	w->status = status;
}

int grid_client_connect(struct grid_client *c, const char *server)
{
	struct sync_wait w = {0};
	int r;

	if (!c->private_loop || c->in_run)
		return -EINVAL;
	r = grid_client_connect_async(c, server, on_sync_connect, &w);
	if (r < 0)
		return r;
	r = run_until(c, &w);
	return r < 0 ? r : w.status;
}

static void on_sync_reply(struct grid_client *c, int status, const Grid__V1__Reply *reply,
			  void *data)
{
	struct sync_wait *w = data;

	w->done = true;
	w->status = status;
	w->reply = (Grid__V1__Reply *)reply; /* stolen: see start_call(steal) */
}

int grid_client_call(struct grid_client *c, Grid__V1__Request *req, Grid__V1__Reply **ret_reply)
{
	struct sync_wait w = {0};
	int r;

	if (!c->private_loop || c->in_run) {
		set_error(c,
			  "blocking call on a client without a private loop, or from its callback");
		return -EINVAL;
	}
	r = start_call(c, req, on_sync_reply, &w, true, false);
	if (r < 0)
		return r;
	r = run_until(c, &w);
	if (r < 0)
		return r;
	if (w.status < 0)
		return w.status;
	*ret_reply = w.reply;
	return 0;
}

void grid_client_reply_free(Grid__V1__Reply *reply)
{
	if (reply)
		grid__v1__reply__free_unpacked(reply, NULL);
}

const Grid__V1__HelloReply *grid_client_hello(const struct grid_client *c)
{
	return c->hello ? c->hello->hello : NULL;
}

const char *grid_client_error(const struct grid_client *c)
{
	return c->error;
}

size_t grid_client_inflight(const struct grid_client *c)
{
	return c->n_calls;
}
