/* The stalling TCP proxy of the fault tests; see stallproxy.h.
 *
 * Each accepted connection is a pair: the client side (a TCP socket from
 * gridd) and the upstream side (a unix socket to PostgreSQL). Each direction
 * has a queue of bytes read but not yet written; bytes are read into it
 * whatever the state, and written out only while the proxy is not stalled.
 * Reading stops while a queue holds more than QUEUE_MAX, which is all the
 * back-pressure a test needs. A side that ends (EOF or error) ends the pair
 * once what it sent has been written, which never happens while stalled.
 *
 * The test thread talks to the loop thread through one command slot, a
 * uv_async_t and a condition variable: every command returns once done.
 */
#include "tests/harness/stallproxy.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/list.h"
#include "tests/harness/test.h"

#define QUEUE_MAX (1u << 20)

enum cmd {
	CMD_NONE,
	CMD_STALL,
	CMD_RESUME,
	CMD_STOP,
};

struct queue {
	char *data;
	size_t len;
	bool writing; /* a write of earlier bytes is in flight */
	bool eof;     /* the reading side ended */
};

struct pair {
	struct stallproxy *p;
	struct list link;
	uv_tcp_t down;
	uv_pipe_t up;
	uv_connect_t connect;
	bool up_connected;
	bool ending;
	unsigned open_handles;
	unsigned stall_gen; /* p->stall_gen when accepted */
	struct queue to_up, to_down;
};

struct wreq {
	uv_write_t req;
	struct pair *pair;
	struct queue *q;
	char *data;
};

struct stallproxy {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_async_t wake;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t done;
	enum cmd cmd; /* under mu */
	char *upstream;
	int port;
	bool stalled;
	unsigned stall_gen;
	struct list pairs;
	/* Under mu, for the test thread. */
	unsigned open, open_before_stall, accepted;
};

static void pump(struct pair *pr);

static void count(struct stallproxy *p)
{
	unsigned open = 0, before = 0;
	struct list *l;

	for (l = p->pairs.next; l != &p->pairs; l = l->next) {
		struct pair *pr = (struct pair *)((char *)l - offsetof(struct pair, link));
		if (pr->to_up.eof || pr->ending)
			continue;
		open++;
		if (p->stalled && pr->stall_gen < p->stall_gen)
			before++;
	}
	pthread_mutex_lock(&p->mu);
	p->open = open;
	p->open_before_stall = before;
	pthread_mutex_unlock(&p->mu);
}

static void on_pair_closed(uv_handle_t *h)
{
	struct pair *pr = h->data;

	if (--pr->open_handles)
		return;
	free(pr->to_up.data);
	free(pr->to_down.data);
	free(pr);
}

static void pair_end(struct pair *pr)
{
	if (pr->ending)
		return;
	pr->ending = true;
	list_remove(&pr->link);
	uv_close((uv_handle_t *)&pr->down, on_pair_closed);
	uv_close((uv_handle_t *)&pr->up, on_pair_closed);
	count(pr->p);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	(void)h;
	b->base = malloc(hint);
	b->len = b->base ? hint : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct pair *pr = s->data;
	bool from_down = s == (uv_stream_t *)&pr->down;
	struct queue *q = from_down ? &pr->to_up : &pr->to_down;

	if (n > 0 && !pr->ending) {
		char *d = realloc(q->data, q->len + (size_t)n);
		if (!d)
			test_fail(__FILE__, __LINE__, "stallproxy: out of memory");
		memcpy(d + q->len, b->base, (size_t)n);
		q->data = d;
		q->len += (size_t)n;
		if (q->len > QUEUE_MAX)
			uv_read_stop(s);
	} else if (n < 0) {
		q->eof = true;
		uv_read_stop(s);
		if (from_down)
			count(pr->p);
	}
	free(b->base);
	if (!pr->ending)
		pump(pr);
}

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct pair *pr = w->pair;

	w->q->writing = false;
	free(w->data);
	free(w);
	if (pr->ending)
		return;
	if (status < 0) {
		pair_end(pr);
		return;
	}
	pump(pr);
}

/* Moves the bytes of q to dst; src is where they come from. */
static void pump_one(struct pair *pr, struct queue *q, uv_stream_t *src, uv_stream_t *dst)
{
	if (pr->ending || q->writing || !q->len)
		return;
	struct wreq *w = malloc(sizeof(*w));
	if (!w)
		test_fail(__FILE__, __LINE__, "stallproxy: out of memory");
	w->pair = pr;
	w->q = q;
	w->data = q->data;
	uv_buf_t b = uv_buf_init(q->data, (unsigned)q->len);
	q->data = NULL;
	q->len = 0;
	q->writing = true;
	if (uv_write(&w->req, dst, &b, 1, on_written) < 0) {
		q->writing = false;
		free(w->data);
		free(w);
		pair_end(pr);
		return;
	}
	if (!q->eof && !uv_is_active((uv_handle_t *)src))
		uv_read_start(src, on_alloc, on_read);
}

static void pump(struct pair *pr)
{
	if (pr->p->stalled || !pr->up_connected || pr->ending)
		return;
	pump_one(pr, &pr->to_up, (uv_stream_t *)&pr->down, (uv_stream_t *)&pr->up);
	if (pr->ending)
		return;
	pump_one(pr, &pr->to_down, (uv_stream_t *)&pr->up, (uv_stream_t *)&pr->down);
	if (pr->ending)
		return;
	/* A side that ended ends the pair once its bytes are through. */
	if ((pr->to_up.eof && !pr->to_up.len && !pr->to_up.writing) ||
	    (pr->to_down.eof && !pr->to_down.len && !pr->to_down.writing))
		pair_end(pr);
}

static void on_up_connected(uv_connect_t *req, int status)
{
	struct pair *pr = req->data;

	if (pr->ending)
		return;
	if (status < 0) {
		pr->to_down.eof = true;
		pump(pr);
		/* Upstream refused: the pair ends when the proxy is not
		 * stalled; until then gridd's side just hangs, as it
		 * would. */
		if (!pr->p->stalled)
			pair_end(pr);
		return;
	}
	pr->up_connected = true;
	uv_read_start((uv_stream_t *)&pr->up, on_alloc, on_read);
	pump(pr);
}

static void on_accept(uv_stream_t *server, int status)
{
	struct stallproxy *p = server->data;
	struct pair *pr;

	if (status < 0)
		return;
	pr = calloc(1, sizeof(*pr));
	if (!pr)
		test_fail(__FILE__, __LINE__, "stallproxy: out of memory");
	pr->p = p;
	pr->stall_gen = p->stall_gen;
	uv_tcp_init(&p->loop, &pr->down);
	pr->down.data = pr;
	pr->open_handles = 2;
	uv_pipe_init(&p->loop, &pr->up, 0);
	pr->up.data = pr;
	list_append(&p->pairs, &pr->link);
	if (uv_accept(server, (uv_stream_t *)&pr->down) < 0) {
		pair_end(pr);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->accepted++;
	pthread_mutex_unlock(&p->mu);
	uv_read_start((uv_stream_t *)&pr->down, on_alloc, on_read);
	pr->connect.data = pr;
	uv_pipe_connect(&pr->connect, &pr->up, p->upstream, on_up_connected);
	count(p);
}

static void on_wake(uv_async_t *a)
{
	struct stallproxy *p = a->data;
	enum cmd cmd;
	struct list *l, *next;

	pthread_mutex_lock(&p->mu);
	cmd = p->cmd;
	pthread_mutex_unlock(&p->mu);
	switch (cmd) {
	case CMD_STALL:
		p->stalled = true;
		p->stall_gen++;
		break;
	case CMD_RESUME:
		p->stalled = false;
		for (l = p->pairs.next; l != &p->pairs; l = next) {
			next = l->next;
			pump((struct pair *)((char *)l - offsetof(struct pair, link)));
		}
		break;
	case CMD_STOP:
		while (!list_empty(&p->pairs))
			pair_end(
			    (struct pair *)((char *)p->pairs.next - offsetof(struct pair, link)));
		uv_close((uv_handle_t *)&p->listener, NULL);
		uv_close((uv_handle_t *)&p->wake, NULL);
		break;
	case CMD_NONE:
		return;
	}
	count(p);
	pthread_mutex_lock(&p->mu);
	p->cmd = CMD_NONE;
	pthread_cond_broadcast(&p->done);
	pthread_mutex_unlock(&p->mu);
}

static void *run(void *arg)
{
	struct stallproxy *p = arg;

	uv_run(&p->loop, UV_RUN_DEFAULT);
	return NULL;
}

struct stallproxy *stallproxy_start(const char *upstream_path)
{
	struct stallproxy *p = calloc(1, sizeof(*p));
	struct sockaddr_in sin;
	int len = sizeof(sin);

	ASSERT_NOT_NULL(p);
	p->upstream = strdup(upstream_path);
	ASSERT_NOT_NULL(p->upstream);
	list_init(&p->pairs);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->done, NULL);
	ASSERT_EQ_INT(uv_loop_init(&p->loop), 0);
	uv_tcp_init(&p->loop, &p->listener);
	p->listener.data = p;
	uv_ip4_addr("127.0.0.1", 0, &sin);
	ASSERT_EQ_INT(uv_tcp_bind(&p->listener, (struct sockaddr *)&sin, 0), 0);
	ASSERT_EQ_INT(uv_listen((uv_stream_t *)&p->listener, 128, on_accept), 0);
	ASSERT_EQ_INT(uv_tcp_getsockname(&p->listener, (struct sockaddr *)&sin, &len), 0);
	p->port = ntohs(sin.sin_port);
	uv_async_init(&p->loop, &p->wake, on_wake);
	p->wake.data = p;
	ASSERT_EQ_INT(pthread_create(&p->thread, NULL, run, p), 0);
	return p;
}

int stallproxy_port(const struct stallproxy *p)
{
	return p->port;
}

static void command(struct stallproxy *p, enum cmd cmd)
{
	pthread_mutex_lock(&p->mu);
	p->cmd = cmd;
	uv_async_send(&p->wake);
	while (p->cmd != CMD_NONE)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void stallproxy_stall(struct stallproxy *p)
{
	command(p, CMD_STALL);
}

void stallproxy_resume(struct stallproxy *p)
{
	command(p, CMD_RESUME);
}

static unsigned read_counter(struct stallproxy *p, const unsigned *v)
{
	unsigned n;

	pthread_mutex_lock(&p->mu);
	n = *v;
	pthread_mutex_unlock(&p->mu);
	return n;
}

unsigned stallproxy_open(struct stallproxy *p)
{
	return read_counter(p, &p->open);
}

unsigned stallproxy_open_before_stall(struct stallproxy *p)
{
	return read_counter(p, &p->open_before_stall);
}

unsigned stallproxy_accepted(struct stallproxy *p)
{
	return read_counter(p, &p->accepted);
}

void stallproxy_stop(struct stallproxy *p)
{
	if (!p)
		return;
	command(p, CMD_STOP);
	pthread_join(p->thread, NULL);
	uv_loop_close(&p->loop);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->done);
	free(p->upstream);
	free(p);
}
