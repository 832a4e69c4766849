/* The limits a peer can run into, over raw sockets, each reached and its
 * documented reaction observed: connections from one IP address (the one
 * past the limit is told so and closed; the limit is announced in Hello,
 * frees up as connections leave and counts each address on its own); the
 * idle timeout; requests in flight per connection (reading stops); unsent
 * reply bytes (a peer that does not read is dropped). The frame and login
 * limits are in test_protocol.c, the total connection limit too. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/frame.h"
#include <libpq-fe.h>

#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define LIMIT 3

struct fix {
	struct itest_db db;
	struct itest_gridd g;
};

static void setup(struct fix *f, const char *const *extra)
{
	itest_db_create(&f->db);
	itest_gridd_start(&f->g, f->db.url, extra);
}

static void teardown(struct fix *f)
{
	ASSERT_EQ_INT(itest_gridd_stop(&f->g), 0);
	itest_db_drop(&f->db);
}

/* Connects to g from bind_ip (NULL: 127.0.0.1). */
static int raw_connect(const struct itest_gridd *g, const char *bind_ip)
{
	struct sockaddr_in sin = {.sin_family = AF_INET}, me = {.sin_family = AF_INET};
	const char *colon = strrchr(g->address, ':');
	const char *from = bind_ip ? bind_ip : "127.0.0.1";
	char host[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT(fd >= 0 && colon);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - g->address), g->address);
	if (strcmp(host, "0.0.0.0") == 0)
		snprintf(host, sizeof(host), "%s", from);
	ASSERT(inet_pton(AF_INET, from, &me.sin_addr) == 1);
	ASSERT_MSG(bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0, "bind: %s", strerror(errno));
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	ASSERT(inet_pton(AF_INET, host, &sin.sin_addr) == 1);
	ASSERT_MSG(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect: %s",
		   strerror(errno));
	return fd;
}

static void send_hello(int fd)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Hello h = GRID__V1__HELLO__INIT;
	size_t n;
	uint8_t *buf;

	h.protocol_version = 1;
	h.client_name = (char *)"limits-test";
	req.id = 1;
	req.call_case = GRID__V1__REQUEST__CALL_HELLO;
	req.hello = &h;
	n = grid__v1__request__get_packed_size(&req);
	buf = malloc(n + 4);
	frame_put_header(buf, (uint32_t)n);
	grid__v1__request__pack(&req, buf + 4);
	ASSERT_EQ_INT(write(fd, buf, n + 4), (ssize_t)(n + 4));
	free(buf);
}

/* The next frame, or NULL when the server closed the connection. */
static Grid__V1__ServerFrame *read_frame(int fd)
{
	uint8_t buf[4096];
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t k;

		if (len >= 4 && len >= 4 + frame_get_header(buf)) {
			Grid__V1__ServerFrame *f =
			    grid__v1__server_frame__unpack(NULL, frame_get_header(buf), buf + 4);
			ASSERT_NOT_NULL(f);
			return f;
		}
		ASSERT_MSG(poll(&pfd, 1, 10000) > 0, "no frame from gridd within 10 s");
		k = read(fd, buf + len, sizeof(buf) - len);
		if (k <= 0)
			return NULL;
		len += (size_t)k;
		ASSERT(len < sizeof(buf));
	}
}

static bool closed_by_server(int fd)
{
	uint8_t b[256];

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t k;

		if (poll(&pfd, 1, 10000) <= 0)
			return false;
		k = read(fd, b, sizeof(b));
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return true;
		if (k < 0)
			return false;
	}
}

/* Hello on a new connection; returns the reply's status code (-1 when
 * closed without one) and keeps the socket open in *ret_fd. */
static int try_hello(const struct itest_gridd *g, const char *from, int *ret_fd,
		     Grid__V1__ServerFrame **ret_frame)
{
	int fd = raw_connect(g, from);
	Grid__V1__ServerFrame *fr;
	int code;

	send_hello(fd);
	fr = read_frame(fd);
	code = fr ? (int)(fr->reply->status ? fr->reply->status->code : 0) : -1;
	*ret_fd = fd;
	if (ret_frame)
		*ret_frame = fr;
	else if (fr)
		grid__v1__server_frame__free_unpacked(fr, NULL);
	return code;
}

static void assert_refused(int fd, Grid__V1__ServerFrame *fr)
{
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
	ASSERT_EQ_STR(fr->reply->status->message, "too many connections from this address");
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(fd));
}

/* Opens n connections from one address that all pass Hello. The
 * harness's own connection, or one just closed, may still count for a
 * moment: until every one passes, they are closed and tried again. */
static void fill_up(const struct itest_gridd *g, const char *from, int *fds, int n)
{
	uint64_t deadline = itest_now_ms() + 5000;

	for (;;) {
		int ok = 0;

		for (int i = 0; i < n; i++)
			ok += try_hello(g, from, &fds[i], NULL) == CODE(OK);
		if (ok == n)
			return;
		for (int i = 0; i < n; i++)
			close(fds[i]);
		ASSERT_MSG(itest_now_ms() < deadline, "only %d of %d connections let in", ok, n);
		usleep(20000);
	}
}

TEST(per_address_limit)
{
	struct fix f;
	const char *const extra[] = {"--set", "limits.max_connections_per_address=3", NULL};
	Grid__V1__ServerFrame *fr;
	int fds[LIMIT], fd;
	bool ok = false;

	setup(&f, extra);
	ASSERT_EQ_INT(try_hello(&f.g, NULL, &fds[0], &fr), CODE(OK));
	/* Announced to the client. */
	ASSERT_NOT_NULL(fr->reply->hello->limits);
	ASSERT_EQ_UINT(fr->reply->hello->limits->max_connections_per_address, LIMIT);
	grid__v1__server_frame__free_unpacked(fr, NULL);
	close(fds[0]);
	fill_up(&f.g, NULL, fds, LIMIT);
	/* One too many: told why, then closed, before any Hello is read. */
	fd = raw_connect(&f.g, NULL);
	assert_refused(fd, read_frame(fd));
	close(fd);
	/* Refusals do not count against the address: the next is refused
	 * for the same reason, and the next after a leave is let in. */
	fd = raw_connect(&f.g, NULL);
	assert_refused(fd, read_frame(fd));
	close(fd);

	/* One leaves, another may come. */
	close(fds[0]);
	for (uint64_t deadline = itest_now_ms() + 5000; !ok && itest_now_ms() < deadline;) {
		ok = try_hello(&f.g, NULL, &fds[0], NULL) == CODE(OK);
		if (!ok) {
			close(fds[0]);
			usleep(20000);
		}
	}
	ASSERT_MSG(ok, "no room after a connection left");
	/* And no more than that. */
	fd = raw_connect(&f.g, NULL);
	assert_refused(fd, read_frame(fd));
	close(fd);
	for (int i = 0; i < LIMIT; i++)
		close(fds[i]);
	teardown(&f);
}

/* A non-loopback IPv4 address of this machine, or NULL. */
static const char *local_ip(void)
{
	static char ip[INET_ADDRSTRLEN];
	struct ifaddrs *ifs, *i;

	if (getifaddrs(&ifs) < 0)
		return NULL;
	ip[0] = '\0';
	for (i = ifs; i && !ip[0]; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip, sizeof(ip));
		if (strncmp(ip, "127.", 4) == 0)
			ip[0] = '\0';
	}
	freeifaddrs(ifs);
	return ip[0] ? ip : NULL;
}

TEST(limit_is_per_address)
{
	struct fix f;
	const char *ip = local_ip();
	const char *const extra[] = {"--listen", "0.0.0.0:0",
				     "--set",	 "limits.max_connections_per_address=2",
				     "--set",	 "server.allow_remote_plaintext=true",
				     NULL};
	int a[2], b[2], fd;

	if (!ip)
		TEST_SKIP("this machine has no non-loopback IPv4 address to connect from");
	setup(&f, extra);
	fill_up(&f.g, "127.0.0.1", a, 2);
	fd = raw_connect(&f.g, "127.0.0.1");
	assert_refused(fd, read_frame(fd));
	close(fd);
	/* Another address has its own two. */
	for (int i = 0; i < 2; i++)
		ASSERT_EQ_INT(try_hello(&f.g, ip, &b[i], NULL), CODE(OK));
	fd = raw_connect(&f.g, ip);
	assert_refused(fd, read_frame(fd));
	close(fd);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	teardown(&f);
}

/* --- after login: idle, in flight, unsent ---------------------------------- */

/* A stream of frames read in order, however the bytes arrive. */
struct stream {
	int fd;
	uint8_t buf[1 << 16];
	size_t len;
};

/* The next frame within timeout_ms; NULL on timeout (*ret_closed false) or
 * when the server closed (*ret_closed true). */
static Grid__V1__ServerFrame *stream_next(struct stream *st, int timeout_ms, bool *ret_closed)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;

	*ret_closed = false;
	for (;;) {
		if (st->len >= 4 && st->len >= 4 + frame_get_header(st->buf)) {
			uint32_t n = frame_get_header(st->buf);
			Grid__V1__ServerFrame *f =
			    grid__v1__server_frame__unpack(NULL, n, st->buf + 4);
			ASSERT_NOT_NULL(f);
			memmove(st->buf, st->buf + 4 + n, st->len - 4 - n);
			st->len -= 4 + n;
			return f;
		}
		uint64_t now = itest_now_ms();
		if (now >= deadline)
			return NULL;
		struct pollfd pfd = {st->fd, POLLIN, 0};
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			return NULL;
		ssize_t k = read(st->fd, st->buf + st->len, sizeof(st->buf) - st->len);
		if (k <= 0) {
			*ret_closed = true;
			return NULL;
		}
		st->len += (size_t)k;
		ASSERT(st->len < sizeof(st->buf));
	}
}

static void send_req(int fd, Grid__V1__Request *req)
{
	size_t n = grid__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(n + 4);

	frame_put_header(buf, (uint32_t)n);
	grid__v1__request__pack(req, buf + 4);
	for (size_t off = 0; off < n + 4;) {
		ssize_t k = write(fd, buf + off, n + 4 - off);
		ASSERT_MSG(k > 0, "write: %s", strerror(errno));
		off += (size_t)k;
	}
	free(buf);
}

/* A connection past Hello and logged in as the test admin. */
static void logged_in(const struct itest_gridd *g, struct stream *st)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest m = GRID__V1__AUTHENTICATE_REQUEST__INIT;
	Grid__V1__ServerFrame *f;
	bool closed;

	st->fd = raw_connect(g, NULL);
	st->len = 0;
	send_hello(st->fd);
	f = stream_next(st, 10000, &closed);
	ASSERT(f && f->reply->status->code == CODE(OK));
	grid__v1__server_frame__free_unpacked(f, NULL);
	m.token = (char *)g->admin_token;
	req.id = 2;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &m;
	send_req(st->fd, &req);
	f = stream_next(st, 10000, &closed);
	ASSERT(f && f->reply->status->code == CODE(OK));
	grid__v1__server_frame__free_unpacked(f, NULL);
}

static void send_ping(int fd, uint64_t id)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Ping p = GRID__V1__PING__INIT;

	req.id = id;
	req.call_case = GRID__V1__REQUEST__CALL_PING;
	req.ping = &p;
	send_req(fd, &req);
}

TEST(idle_timeout)
{
	struct fix f;
	const char *const extra[] = {"--set", "limits.idle_timeout_ms=400", NULL};
	struct stream busy, quiet;
	Grid__V1__ServerFrame *fr;
	bool closed;

	setup(&f, extra);
	logged_in(&f.g, &busy);
	logged_in(&f.g, &quiet);
	/* The busy one talks every 100 ms for a second and stays. */
	for (uint64_t i = 0; i < 10; i++) {
		usleep(100000);
		send_ping(busy.fd, 10 + i);
		fr = stream_next(&busy, 5000, &closed);
		ASSERT_MSG(fr != NULL, "a busy connection was closed");
		grid__v1__server_frame__free_unpacked(fr, NULL);
	}
	/* The quiet one was told and closed meanwhile. */
	fr = stream_next(&quiet, 100, &closed);
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(DEADLINE_EXCEEDED));
	ASSERT(strstr(fr->reply->status->message, "idle") != NULL);
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(quiet.fd));
	close(busy.fd);
	close(quiet.fd);
	teardown(&f);
}

TEST(inflight_limit_stops_reading)
{
	struct fix f;
	const char *const extra[] = {"--set", "limits.max_inflight=2", NULL};
	struct stream st;
	Grid__V1__ServerFrame *fr;
	bool closed;
	PGconn *locker;

	setup(&f, extra);
	struct grid_client *c = itest_connect(&f.g);
	itest_import_file(c, itest_sample_csv());
	grid_client_destroy(c);
	logged_in(&f.g, &st);

	/* Hold the grid's write lock, so renames wait in the database. */
	locker = PQconnectdb(f.db.url);
	ASSERT(PQstatus(locker) == CONNECTION_OK);
	PQclear(PQexec(locker, "BEGIN"));
	PQclear(PQexec(locker, "SELECT * FROM grid_version FOR UPDATE"));

	/* Ten renames and a ping, in one go. */
	for (uint64_t i = 0; i < 10; i++) {
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__RenameNodeRequest m = GRID__V1__RENAME_NODE_REQUEST__INIT;
		char name[16];
		snprintf(name, sizeof(name), "等待%llu", (unsigned long long)i);
		m.code = (char *)"WH-TZL-Z5";
		m.name = name;
		req.id = 100 + i;
		req.call_case = GRID__V1__REQUEST__CALL_RENAME_NODE;
		req.rename_node = &m;
		send_req(st.fd, &req);
	}
	send_ping(st.fd, 999);

	/* Two are in flight, blocked; the server reads nothing more, so the
	 * ping, though instant, is not answered... */
	fr = stream_next(&st, 700, &closed);
	ASSERT_MSG(fr == NULL && !closed, "a reply came while two requests were blocked");
	char *waiting =
	    itest_sql(f.db.url, "SELECT count(*) FROM pg_stat_activity "
				"WHERE application_name = 'gridd' AND wait_event_type = "
				"'Lock'");
	ASSERT_EQ_STR(waiting, "2");
	free(waiting);

	/* ... until the lock goes: then all eleven come back. */
	PQclear(PQexec(locker, "COMMIT"));
	PQfinish(locker);
	int got = 0;
	bool pong = false;
	while (got < 11) {
		fr = stream_next(&st, 10000, &closed);
		ASSERT_MSG(fr != NULL, "only %d of 11 replies", got);
		ASSERT_EQ_INT(fr->reply->status->code, CODE(OK));
		pong |= fr->reply->id == 999;
		grid__v1__server_frame__free_unpacked(fr, NULL);
		got++;
	}
	ASSERT(pong);
	close(st.fd);
	teardown(&f);
}

TEST(unsent_output_limit_drops_a_peer_that_does_not_read)
{
	struct fix f;
	const char *const extra[] = {"--set", "limits.max_outbuf=65536", "--log-level", "info",
				     NULL};
	struct stream st;
	int small = 4096, sent = 0, got = 0;
	bool closed = false;

	setup(&f, extra);
	struct grid_client *c = itest_connect(&f.g);
	itest_import_file(c, itest_sample_csv());
	grid_client_destroy(c);
	logged_in(&f.g, &st);
	setsockopt(st.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));

	/* Exports of the whole grid (about 3 KB each), never read, until the
	 * server hangs up or 20 MB of replies are owed. */
	for (uint64_t i = 0; i < 7000 && !closed; i++) {
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__ExportGridRequest m = GRID__V1__EXPORT_GRID_REQUEST__INIT;
		req.id = 1000 + i;
		req.call_case = GRID__V1__REQUEST__CALL_EXPORT_GRID;
		req.export_grid = &m;
		size_t n = grid__v1__request__get_packed_size(&req);
		uint8_t buf[64];
		frame_put_header(buf, (uint32_t)n);
		grid__v1__request__pack(&req, buf + 4);
		struct pollfd pfd = {st.fd, POLLOUT, 0};
		if (poll(&pfd, 1, 2000) <= 0)
			break; /* the server stopped reading: it is at its limits */
		ssize_t k = send(st.fd, buf, n + 4, MSG_NOSIGNAL);
		if (k < 0) {
			closed = true;
			break;
		}
		sent++;
	}
	/* Reading now: some replies, then the end, well short of all. */
	for (;;) {
		Grid__V1__ServerFrame *fr = stream_next(&st, 5000, &closed);
		if (!fr)
			break;
		got++;
		grid__v1__server_frame__free_unpacked(fr, NULL);
	}
	fprintf(stderr, "sent %d exports, read %d replies before the close\n", sent, got);
	ASSERT_MSG(closed, "gridd kept a connection that reads nothing");
	ASSERT(got < sent);
	/* And it goes on serving everyone else. */
	c = itest_connect(&f.g);
	grid_client_destroy(c);
	close(st.fd);
	teardown(&f);
}
