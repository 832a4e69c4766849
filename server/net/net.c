/* The listening socket and the set of connections; see net.h.
 *
 * Connections with output or pending work are put on a dirty list; one
 * check handle (run once per loop iteration, after I/O) flushes them all, so
 * that the replies produced in one iteration leave in one write per
 * connection.
 */
#include "server/net/net.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/net/conn.h"
#include "server/net/conn_private.h"
#include "server/server.h"

struct net {
	struct server *srv;
	uv_tcp_t listener;
	bool listening;
	char bound[80];
	struct list conns;
	struct list dirty;
	unsigned nconns;
	uint64_t next_id;
	uv_check_t check;
	bool check_active;
	uv_timer_t drain_timer;
	bool draining;
	unsigned open_handles;
	void (*done)(void *data);
	void *done_data;
};

struct server *net_server(const struct net *n)
{
	return n->srv;
}

unsigned net_connections(const struct net *n)
{
	return n->nconns;
}

const char *net_bound_address(const struct net *n)
{
	return n->bound;
}

static void on_check(uv_check_t *h)
{
	struct net *n = h->data;
	struct list batch, *pos, *tmp;

	/* Flushing may mark connections dirty again; those wait for the next
	 * iteration. */
	list_init(&batch);
	if (!list_empty(&n->dirty)) {
		batch.next = n->dirty.next;
		batch.prev = n->dirty.prev;
		batch.next->prev = &batch;
		batch.prev->next = &batch;
		list_init(&n->dirty);
	}
	list_for_each_safe(pos, tmp, &batch)
	{
		struct conn *c = list_entry(pos, struct conn, dirty_link);
		list_remove(&c->dirty_link);
		conn_flush(c);
	}
	if (list_empty(&n->dirty) && n->check_active) {
		uv_check_stop(&n->check);
		n->check_active = false;
	}
}

void net_mark_dirty(struct net *n, struct conn *c)
{
	if (list_empty(&c->dirty_link))
		list_append(&n->dirty, &c->dirty_link);
	if (!n->check_active && !uv_is_closing((uv_handle_t *)&n->check)) {
		uv_check_start(&n->check, on_check);
		n->check_active = true;
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct net *n = h->data;

	if (--n->open_handles > 0)
		return;
	void (*done)(void *) = n->done;
	void *data = n->done_data;
	free(n);
	if (done)
		done(data);
}

static void net_finish(struct net *n)
{
	log_info("event=net_drained");
	uv_close((uv_handle_t *)&n->check, on_handle_closed);
	uv_close((uv_handle_t *)&n->drain_timer, on_handle_closed);
}

void net_conn_gone(struct net *n, struct conn *c)
{
	list_remove(&c->link);
	list_remove(&c->dirty_link);
	n->nconns--;
	if (n->draining && n->nconns == 0)
		net_finish(n);
}

static void on_connection(uv_stream_t *s, int status)
{
	struct net *n = s->data;
	const struct config *cfg = n->srv->cfg;
	struct conn *c;
	int r;

	if (status < 0) {
		log_warn("event=accept_failed error=%s", uv_err_name(status));
		return;
	}
	r = conn_accept(n, s, ++n->next_id, &c);
	if (r < 0) {
		log_warn("event=accept_failed error=%s", uv_err_name(r));
		return;
	}
	list_append(&n->conns, &c->link);
	n->nconns++;
	log_info("event=conn_open conn=%" PRIu64 " peer=%s conns=%u", c->id, c->peer, n->nconns);
	if (n->nconns > cfg->max_connections) {
		conn_close_with_error(c, -EUSERS, "too many connections; try again later");
		return;
	}
	conn_start(c);
}

struct net *net_create(struct server *srv)
{
	struct net *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->srv = srv;
	list_init(&n->conns);
	list_init(&n->dirty);
	uv_check_init(srv->loop, &n->check);
	n->check.data = n;
	uv_timer_init(srv->loop, &n->drain_timer);
	n->drain_timer.data = n;
	n->open_handles = 2;
	return n;
}

static int parse_address(const char *address, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[64];
	const char *colon = strrchr(address, ':');
	const char *h = address;
	size_t hlen;
	unsigned long port;
	char *end;

	if (!colon) {
		snprintf(err, errlen, "listen address \"%s\": expected HOST:PORT", address);
		return -EINVAL;
	}
	hlen = (size_t)(colon - address);
	if (hlen >= 2 && address[0] == '[' && address[hlen - 1] == ']') {
		h = address + 1;
		hlen -= 2;
	}
	port = strtoul(colon + 1, &end, 10);
	if (hlen == 0 || hlen >= sizeof(host) || *end || end == colon + 1 || port > 65535) {
		snprintf(err, errlen, "listen address \"%s\": expected HOST:PORT", address);
		return -EINVAL;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	snprintf(err, errlen, "listen address \"%s\": \"%s\" is not an IP address", address, host);
	return -EINVAL;
}

int net_listen(struct net *n, const char *address, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), r;

	r = parse_address(address, &ss, err, errlen);
	if (r < 0)
		return r;
	uv_tcp_init(n->srv->loop, &n->listener);
	n->listener.data = n;
	n->open_handles++;
	n->listening = true;
	r = uv_tcp_bind(&n->listener, (const struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&n->listener, 511, on_connection);
	if (r < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", address, uv_strerror(r));
		return r;
	}
	if (uv_tcp_getsockname(&n->listener, (struct sockaddr *)&ss, &len) == 0) {
		char host[48] = "";
		if (ss.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
			snprintf(n->bound, sizeof(n->bound), "%s:%d", host,
				 ntohs(((struct sockaddr_in *)&ss)->sin_port));
		} else {
			uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
			snprintf(n->bound, sizeof(n->bound), "[%s]:%d", host,
				 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
		}
	}
	return 0;
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct net *n = t->data;
	struct list *pos, *tmp;

	log_warn("event=drain_timeout conns=%u", n->nconns);
	list_for_each_safe(pos, tmp, &n->conns)
	{
		struct conn *c = list_entry(pos, struct conn, link);
		c->close_after_flush = false;
		conn_close(c, "shutdown_timeout");
	}
}

void net_drain(struct net *n, unsigned timeout_ms, void (*done)(void *data), void *data)
{
	struct list *pos, *tmp;

	if (n->draining)
		return;
	n->draining = true;
	n->done = done;
	n->done_data = data;
	if (n->listening) {
		uv_close((uv_handle_t *)&n->listener, on_handle_closed);
		n->listening = false;
	}
	log_info("event=net_drain conns=%u", n->nconns);
	if (n->nconns == 0) {
		net_finish(n);
		return;
	}
	uv_timer_start(&n->drain_timer, on_drain_timeout, timeout_ms, 0);
	list_for_each_safe(pos, tmp, &n->conns)
	{
		conn_begin_drain(list_entry(pos, struct conn, link));
	}
}
