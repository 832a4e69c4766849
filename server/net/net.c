/* The listening sockets and the set of connections; see net.h.
 *
 * Connections with output or pending work are put on a dirty list; one
 * check handle (run once per loop iteration, after I/O) flushes them all, so
 * that the replies produced in one iteration leave in one write per
 * connection. A connection that had its turn (conn.c's FRAMES_PER_TURN)
 * waits on the yielded list; an idle handle, active while the list is not
 * empty, keeps the loop from blocking in poll and marks them dirty in the
 * next iteration, after everyone else's input of this one.
 *
 * Admission happens here, once per accepted socket, in on_connection():
 * the global limit, the loopback rule for plain TCP, then the count of
 * connections per IP address (a table of the addresses with connections
 * open, each entry freed with its last connection). A refused connection
 * gets a Reply with id 0 saying why, and is not counted for its address.
 *
 * Every connection is a file descriptor: at creation the soft limit on
 * open files is raised to the hard one, since the usual soft default
 * (1024) is far below max_connections and accept() failing with EMFILE
 * refuses clients without telling them why.
 */
#include "server/net/net.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>

#include "common/htab.h"
#include "server/log.h"
#include "server/net/conn.h"
#include "server/net/conn_private.h"
#include "server/net/tls.h"
#include "server/server.h"

struct listener {
	uv_tcp_t tcp;
	struct net *net;
	struct tls_server *tls; /* NULL: plain TCP */
	bool listening;
	int port;
	char bound[80];
};

/* Connections open from one IP address. */
struct net_addr {
	uint8_t ip[16]; /* IPv6, IPv4 as ::ffff:a.b.c.d */
	unsigned conns;
};

struct net {
	struct server *srv;
	struct listener plain;
	struct listener secure;
	struct htab addrs; /* struct net_addr by ip */
	struct list conns;
	struct list dirty;
	struct list yielded;
	unsigned nconns;
	uint64_t next_id;
	uv_check_t check;
	bool check_active;
	uv_idle_t idle; /* runs while yielded is not empty */
	bool idle_active;
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
	return n->plain.bound;
}

const char *net_tls_bound_address(const struct net *n)
{
	return n->secure.bound;
}

/* The peer's IP address as 16 bytes; false for anything but IP. */
static bool addr_key(const struct sockaddr *sa, uint8_t ip[16])
{
	if (sa->sa_family == AF_INET) {
		memset(ip, 0, 10);
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static bool ip_is_loopback(const uint8_t ip[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	return (memcmp(ip, mapped, 12) == 0 && ip[12] == 127) || memcmp(ip, one, 16) == 0;
}

bool net_is_loopback(const struct sockaddr *sa)
{
	uint8_t ip[16];

	return addr_key(sa, ip) && ip_is_loopback(ip);
}

static uint64_t ip_hash(const uint8_t ip[16])
{
	uint64_t a, b;

	memcpy(&a, ip, 8);
	memcpy(&b, ip + 8, 8);
	return htab_hash_u64(a ^ htab_hash_u64(b));
}

static uint64_t addr_hash(const void *elem)
{
	return ip_hash(((const struct net_addr *)elem)->ip);
}

static int addr_eq(const void *elem, const void *key)
{
	return memcmp(((const struct net_addr *)elem)->ip, key, 16) == 0;
}

/* The entry of ip, created with no connections when absent; NULL when out
 * of memory. */
static struct net_addr *addr_get(struct net *n, const uint8_t ip[16])
{
	struct net_addr *a = htab_find(&n->addrs, ip, ip_hash(ip));

	if (a)
		return a;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	memcpy(a->ip, ip, 16);
	if (htab_insert(&n->addrs, a) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

static void addr_put(struct net *n, struct net_addr *a)
{
	if (--a->conns > 0)
		return;
	htab_remove(&n->addrs, a->ip, ip_hash(a->ip));
	free(a);
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

/* Runs before poll. The connections marked here resume in the check
 * phase after it; the handle stays active until a turn finds the list
 * empty, since an active idle handle is what makes that poll return at
 * once instead of waiting for I/O. */
static void on_idle(uv_idle_t *h)
{
	struct net *n = h->data;

	if (list_empty(&n->yielded)) {
		uv_idle_stop(&n->idle);
		n->idle_active = false;
		return;
	}
	while (!list_empty(&n->yielded)) {
		struct conn *c = list_entry(n->yielded.next, struct conn, yield_link);
		list_remove(&c->yield_link);
		c->yielded = false;
		net_mark_dirty(n, c);
	}
}

void net_yield(struct net *n, struct conn *c)
{
	if (list_empty(&c->yield_link))
		list_append(&n->yielded, &c->yield_link);
	if (!n->idle_active && !uv_is_closing((uv_handle_t *)&n->idle)) {
		uv_idle_start(&n->idle, on_idle);
		n->idle_active = true;
	}
}

static void net_release(struct net *n)
{
	if (--n->open_handles > 0)
		return;
	void (*done)(void *) = n->done;
	void *data = n->done_data;
	tls_server_destroy(n->secure.tls);
	htab_finish(&n->addrs);
	free(n);
	if (done)
		done(data);
}

static void on_handle_closed(uv_handle_t *h)
{
	net_release(h->data);
}

static void on_listener_closed(uv_handle_t *h)
{
	net_release(((struct listener *)h->data)->net);
}

static void net_finish(struct net *n)
{
	log_info("event=net_drained");
	uv_close((uv_handle_t *)&n->check, on_handle_closed);
	uv_close((uv_handle_t *)&n->idle, on_handle_closed);
	uv_close((uv_handle_t *)&n->drain_timer, on_handle_closed);
}

void net_conn_gone(struct net *n, struct conn *c)
{
	list_remove(&c->link);
	list_remove(&c->dirty_link);
	list_remove(&c->yield_link);
	c->yielded = false;
	if (c->addr) {
		addr_put(n, c->addr);
		c->addr = NULL;
	}
	n->nconns--;
	if (n->draining && n->nconns == 0)
		net_finish(n);
}

static void on_connection(uv_stream_t *s, int status)
{
	struct listener *l = s->data;
	struct net *n = l->net;
	const struct config *cfg = n->srv->cfg;
	struct sockaddr_storage peer;
	struct net_addr *a;
	struct conn *c;
	uint8_t ip[16];
	bool is_ip;
	int r;

	if (status < 0) {
		log_warn("event=accept_failed error=%s", uv_err_name(status));
		return;
	}
	r = conn_accept(n, s, l->tls, ++n->next_id, &c, &peer);
	if (r < 0) {
		log_warn("event=accept_failed error=%s", uv_err_name(r));
		return;
	}
	list_append(&n->conns, &c->link);
	n->nconns++;
	log_info("event=conn_open conn=%" PRIu64 " peer=%s tls=%d conns=%u", c->id, c->peer,
		 l->tls != NULL, n->nconns);
	if (n->nconns > cfg->max_connections) {
		conn_close_with_error(c, -EUSERS, "too many connections; try again later");
		return;
	}
	is_ip = addr_key((const struct sockaddr *)&peer, ip);
	if (!l->tls && !cfg->allow_remote_plaintext && !(is_ip && ip_is_loopback(ip))) {
		/* Passwords and session tokens must not cross a network in
		 * the clear. */
		char msg[160];

		if (n->secure.listening)
			snprintf(msg, sizeof(msg),
				 "plain TCP is accepted from loopback only; use TLS on port %d",
				 n->secure.port);
		else
			snprintf(msg, sizeof(msg),
				 "plain TCP is accepted from loopback only, and this server has "
				 "no TLS listener");
		conn_close_with_error(c, -EACCES, msg);
		return;
	}
	if (is_ip) {
		a = addr_get(n, ip);
		if (!a) {
			c->close_after_flush = false;
			conn_close(c, "out_of_memory");
			return;
		}
		if (a->conns >= cfg->max_connections_per_address) {
			conn_close_with_error(c, -EUSERS, "too many connections from this address");
			return;
		}
		a->conns++;
		c->addr = a;
	}
	conn_start(c);
}

/* Raises the soft limit on open files to the hard limit, and warns when
 * even that leaves no room for max_connections. */
static void raise_nofile(const struct config *cfg)
{
	struct rlimit rl;
	/* Database connections, listeners, the event loop's own. */
	const rlim_t spare = 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = rl;

		/* An unlimited hard limit is still capped by fs.nr_open. */
		want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)cfg->max_connections + spare)
		log_warn("event=nofile_low limit=%llu max_connections=%u "
			 "hint=\"raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower "
			 "[limits] max_connections\"",
			 (unsigned long long)rl.rlim_cur, cfg->max_connections);
	else
		log_debug("event=nofile_limit limit=%llu", (unsigned long long)rl.rlim_cur);
}

struct net *net_create(struct server *srv)
{
	struct net *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	raise_nofile(srv->cfg);
	n->srv = srv;
	n->plain.net = n;
	n->secure.net = n;
	htab_init(&n->addrs, addr_hash, addr_eq);
	list_init(&n->conns);
	list_init(&n->dirty);
	list_init(&n->yielded);
	uv_check_init(srv->loop, &n->check);
	n->check.data = n;
	uv_idle_init(srv->loop, &n->idle);
	n->idle.data = n;
	uv_timer_init(srv->loop, &n->drain_timer);
	n->drain_timer.data = n;
	n->open_handles = 3;
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

static int listener_open(struct net *n, struct listener *l, const char *address, char *err,
			 size_t errlen)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), r;

	r = parse_address(address, &ss, err, errlen);
	if (r < 0)
		return r;
	uv_tcp_init(n->srv->loop, &l->tcp);
	l->tcp.data = l;
	n->open_handles++;
	l->listening = true;
	r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
	if (r < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", address, uv_strerror(r));
		return r;
	}
	if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0) {
		char host[48] = "";
		if (ss.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
			l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			snprintf(l->bound, sizeof(l->bound), "%s:%d", host, l->port);
		} else {
			uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
			l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
			snprintf(l->bound, sizeof(l->bound), "[%s]:%d", host, l->port);
		}
	}
	return 0;
}

int net_listen(struct net *n, const char *address, char *err, size_t errlen)
{
	return listener_open(n, &n->plain, address, err, errlen);
}

int net_listen_tls(struct net *n, const char *address, const char *cert_file, const char *key_file,
		   char *err, size_t errlen)
{
	int r = tls_server_create(cert_file, key_file, &n->secure.tls, err, errlen);

	if (r < 0)
		return r;
	return listener_open(n, &n->secure, address, err, errlen);
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
	if (n->plain.listening) {
		uv_close((uv_handle_t *)&n->plain.tcp, on_listener_closed);
		n->plain.listening = false;
	}
	if (n->secure.listening) {
		uv_close((uv_handle_t *)&n->secure.tcp, on_listener_closed);
		n->secure.listening = false;
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
