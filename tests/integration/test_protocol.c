/* The wire protocol as a misbehaving or careless peer sees it, over raw
 * sockets: the Hello rule, frame limits before and after Hello, garbage,
 * reserved ids, unknown calls, many requests in one write, a half-closed
 * client, and gridd staying up through all of it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/frame.h"
#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x

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

static int raw_connect(const struct itest_gridd *g)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char host[64];
	const char *colon = strrchr(g->address, ':');
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT(fd >= 0 && colon);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - g->address), g->address);
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, host, &sin.sin_addr);
	ASSERT_MSG(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect: %s",
		   strerror(errno));
	return fd;
}

static void send_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len) {
		ssize_t k = write(fd, b, len);
		if (k < 0 && errno == EINTR)
			continue;
		ASSERT_MSG(k > 0, "write: %s", strerror(errno));
		b += k;
		len -= (size_t)k;
	}
}

static void send_request(int fd, Grid__V1__Request *req)
{
	size_t n = grid__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(n + 4);

	frame_put_header(buf, (uint32_t)n);
	grid__v1__request__pack(req, buf + 4);
	send_all(fd, buf, n + 4);
	free(buf);
}

/* Reads exactly len bytes; returns 0 on EOF, -1 on timeout. */
static int read_exact(int fd, uint8_t *p, size_t len, int timeout_ms)
{
	while (len) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		ssize_t k = read(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return 0;
		p += k;
		len -= (size_t)k;
	}
	return 1;
}

/* The next reply, or NULL when the server closed the connection. */
static Grid__V1__ServerFrame *read_frame(int fd)
{
	uint8_t hdr[4];
	int r = read_exact(fd, hdr, 4, 10000);

	ASSERT_MSG(r >= 0, "no frame from gridd within 10 s");
	if (r == 0)
		return NULL;
	uint32_t n = frame_get_header(hdr);
	ASSERT(n < (1u << 24));
	uint8_t *body = malloc(n ? n : 1);
	ASSERT_EQ_INT(read_exact(fd, body, n, 10000), 1);
	Grid__V1__ServerFrame *f = grid__v1__server_frame__unpack(NULL, n, body);
	free(body);
	ASSERT_NOT_NULL(f);
	return f;
}

/* True when the server closes the connection (after any frames). */
static bool closed_by_server(int fd)
{
	uint8_t b[256];

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, 10000) <= 0)
			return false;
		ssize_t k = read(fd, b, sizeof(b));
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return true;
		if (k < 0)
			return false;
	}
}

static void hello(int fd)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Hello h = GRID__V1__HELLO__INIT;
	Grid__V1__ServerFrame *f;

	h.protocol_version = 1;
	h.client_name = (char *)"raw-test";
	req.id = 1;
	req.call_case = GRID__V1__REQUEST__CALL_HELLO;
	req.hello = &h;
	send_request(fd, &req);
	f = read_frame(fd);
	ASSERT_NOT_NULL(f);
	ASSERT_EQ_INT(f->reply->status->code, CODE(OK));
	grid__v1__server_frame__free_unpacked(f, NULL);
}

static void login(int fd)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__LoginRequest m = GRID__V1__LOGIN_REQUEST__INIT;
	Grid__V1__ServerFrame *f;

	m.username = (char *)ITEST_ADMIN;
	m.password = (char *)ITEST_ADMIN_PASSWORD;
	req.id = 2;
	req.call_case = GRID__V1__REQUEST__CALL_LOGIN;
	req.login = &m;
	send_request(fd, &req);
	f = read_frame(fd);
	ASSERT_NOT_NULL(f);
	ASSERT_EQ_INT(f->reply->status->code, CODE(OK));
	grid__v1__server_frame__free_unpacked(f, NULL);
}

static void ping(int fd, uint64_t id)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Ping p = GRID__V1__PING__INIT;

	req.id = id;
	req.call_case = GRID__V1__REQUEST__CALL_PING;
	req.ping = &p;
	send_request(fd, &req);
}

/* The server still serves a fresh, well-behaved client. */
static void assert_still_serving(const struct itest_gridd *g)
{
	struct grid_client *c = itest_connect(g);
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Ping p = GRID__V1__PING__INIT;
	Grid__V1__Reply *r;

	req.call_case = GRID__V1__REQUEST__CALL_PING;
	req.ping = &p;
	r = itest_call(c, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT(r->ping->server_time_ms > 1700000000000LL);
	grid_client_reply_free(r);
	grid_client_destroy(c);
}

TEST(hello_reports_limits_and_levels)
{
	struct fix f;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Hello h = GRID__V1__HELLO__INIT;
	Grid__V1__ServerFrame *fr;
	const char *const extra[] = {"--set", "limits.max_inflight=7", NULL};
	int fd;

	setup(&f, extra);
	fd = raw_connect(&f.g);
	h.protocol_version = 1;
	req.id = 42;
	req.call_case = GRID__V1__REQUEST__CALL_HELLO;
	req.hello = &h;
	send_request(fd, &req);
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 42);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(OK));
	ASSERT_EQ_UINT(fr->reply->hello->protocol_version, 1);
	ASSERT_EQ_UINT(fr->reply->hello->limits->max_frame_before_login, 16384);
	ASSERT_EQ_UINT(fr->reply->hello->limits->max_frame, 1048576);
	ASSERT_EQ_UINT(fr->reply->hello->limits->max_inflight, 7);
	ASSERT_EQ_UINT(fr->reply->hello->n_level_names, 6);
	ASSERT_EQ_STR(fr->reply->hello->level_names[0], "district");
	ASSERT_EQ_STR(fr->reply->hello->level_names[5], "building");
	grid__v1__server_frame__free_unpacked(fr, NULL);

	/* A second Hello is refused but the connection stays. */
	req.id = 43;
	send_request(fd, &req);
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 43);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(FAILED_PRECONDITION));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ping(fd, 44);
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 44);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(OK));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	close(fd);

	/* An unknown protocol version is refused. */
	fd = raw_connect(&f.g);
	h.protocol_version = 2;
	req.id = 1;
	send_request(fd, &req);
	fr = read_frame(fd);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(FAILED_PRECONDITION));
	ASSERT(strstr(fr->reply->status->message, "speaks 1") != NULL);
	grid__v1__server_frame__free_unpacked(fr, NULL);
	close(fd);
	teardown(&f);
}

TEST(first_request_must_be_hello)
{
	struct fix f;
	Grid__V1__ServerFrame *fr;
	int fd;

	setup(&f, NULL);
	fd = raw_connect(&f.g);
	ping(fd, 5);
	fr = read_frame(fd);
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(FAILED_PRECONDITION));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(fd));
	close(fd);
	assert_still_serving(&f.g);
	teardown(&f);
}

TEST(frame_limits_before_and_after_login)
{
	struct fix f;
	Grid__V1__ServerFrame *fr;
	uint8_t hdr[4];
	int fd;

	setup(&f, NULL);
	/* Before Hello: 16 KiB; one byte more is refused at the header. */
	fd = raw_connect(&f.g);
	frame_put_header(hdr, 16 * 1024 + 1);
	send_all(fd, hdr, 4);
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(fd));
	close(fd);

	/* A header announcing 4 GiB: same answer, nothing allocated. */
	fd = raw_connect(&f.g);
	frame_put_header(hdr, 0xffffffffu);
	send_all(fd, hdr, 4);
	fr = read_frame(fd);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(fd));
	close(fd);

	/* The padded Ping below: 100 KiB, in an unknown field protobuf skips. */
	size_t pad = 100 * 1024;
	uint8_t *big = calloc(1, pad + 16);
	size_t n = 0;
	big[n++] = 0x08; /* id = 9 */
	big[n++] = 9;
	big[n++] = 0x5a; /* field 11 (ping), empty */
	big[n++] = 0;
	big[n++] = 0xfa; /* field 1999, length-delimited */
	big[n++] = 0x7c;
	big[n++] = (uint8_t)(0x80 | (pad & 0x7f));
	big[n++] = (uint8_t)(0x80 | ((pad >> 7) & 0x7f));
	big[n++] = (uint8_t)(pad >> 14);
	n += pad;
	frame_put_header(hdr, (uint32_t)n);

	/* After Hello but before logging in, the small limit still holds. */
	fd = raw_connect(&f.g);
	hello(fd);
	send_all(fd, hdr, 4);
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(fd));
	close(fd);

	/* Logged in, 100 KiB is fine (an import, say) but 1 MiB + 1 is not. */
	fd = raw_connect(&f.g);
	hello(fd);
	login(fd);
	send_all(fd, hdr, 4);
	send_all(fd, big, n);
	free(big);
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 9);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(OK));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	frame_put_header(hdr, 1024 * 1024 + 1);
	send_all(fd, hdr, 4);
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(fd));
	close(fd);
	assert_still_serving(&f.g);
	teardown(&f);
}

TEST(garbage_and_truncated_input)
{
	struct fix f;
	Grid__V1__ServerFrame *fr;
	static const uint8_t garbage[] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	/* A length-delimited field claiming 100 bytes with 2 present. */
	static const uint8_t truncated[] = {0, 0, 0, 4, 0x52, 100, 0x08, 0x01};
	int fd;

	setup(&f, NULL);
	fd = raw_connect(&f.g);
	send_all(fd, garbage, sizeof(garbage));
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(INVALID_ARGUMENT));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(fd));
	close(fd);

	fd = raw_connect(&f.g);
	hello(fd);
	send_all(fd, truncated, sizeof(truncated));
	fr = read_frame(fd);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(INVALID_ARGUMENT));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(fd));
	close(fd);

	/* Half a frame, then the peer vanishes. */
	fd = raw_connect(&f.g);
	send_all(fd, garbage, 6);
	close(fd);
	assert_still_serving(&f.g);
	teardown(&f);
}

TEST(reserved_id_and_unknown_call)
{
	struct fix f;
	Grid__V1__ServerFrame *fr;
	/* id 7, then field 999 (unknown to this server), empty. */
	static const uint8_t unknown[] = {0, 0, 0, 5, 0x08, 0x07, 0xba, 0x3e, 0x00};
	int fd;

	setup(&f, NULL);
	fd = raw_connect(&f.g);
	hello(fd);
	send_all(fd, unknown, sizeof(unknown));
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 7);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(UNIMPLEMENTED));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	/* Still usable. */
	ping(fd, 8);
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 8);
	grid__v1__server_frame__free_unpacked(fr, NULL);
	/* Id 0 is reserved for the connection itself. */
	ping(fd, 0);
	fr = read_frame(fd);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(INVALID_ARGUMENT));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(fd));
	close(fd);
	teardown(&f);
}

TEST(many_requests_in_one_write_and_half_close)
{
	struct fix f;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Ping p = GRID__V1__PING__INIT;
	uint8_t *buf;
	size_t one, n = 500, off = 0;
	bool seen[501] = {false};
	int fd;

	setup(&f, NULL);
	fd = raw_connect(&f.g);
	hello(fd);
	req.call_case = GRID__V1__REQUEST__CALL_PING;
	req.ping = &p;
	req.id = 1000;
	one = grid__v1__request__get_packed_size(&req) + 4;
	buf = malloc(one * n);
	for (size_t i = 1; i <= n; i++) {
		req.id = 1000 + i;
		size_t len = grid__v1__request__get_packed_size(&req);
		frame_put_header(buf + off, (uint32_t)len);
		grid__v1__request__pack(&req, buf + off + 4);
		off += len + 4;
	}
	send_all(fd, buf, off);
	free(buf);
	/* The client is done sending; it still gets every reply. */
	shutdown(fd, SHUT_WR);
	for (size_t i = 0; i < n; i++) {
		Grid__V1__ServerFrame *fr = read_frame(fd);
		ASSERT_MSG(fr != NULL, "connection closed after %zu of %zu replies", i, n);
		uint64_t id = fr->reply->id;
		ASSERT(id > 1000 && id <= 1000 + n);
		ASSERT(!seen[id - 1000]);
		seen[id - 1000] = true;
		ASSERT_EQ_INT(fr->reply->status->code, CODE(OK));
		grid__v1__server_frame__free_unpacked(fr, NULL);
	}
	ASSERT(closed_by_server(fd));
	close(fd);
	teardown(&f);
}

TEST(hello_timeout_closes_silent_peers)
{
	struct fix f;
	const char *const extra[] = {"--set", "limits.login_timeout_ms=300", NULL};
	Grid__V1__ServerFrame *fr;
	uint64_t t0;
	int fd;

	setup(&f, extra);
	fd = raw_connect(&f.g);
	t0 = itest_now_ms();
	fr = read_frame(fd);
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(DEADLINE_EXCEEDED));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(fd));
	ASSERT(itest_now_ms() - t0 < 5000);
	close(fd);
	teardown(&f);
}

TEST(connection_limit)
{
	struct fix f;
	const char *const extra[] = {"--set", "limits.max_connections=3", NULL};
	Grid__V1__ServerFrame *fr;
	int fds[3], extra_fd;

	setup(&f, extra);
	for (int i = 0; i < 3; i++) {
		fds[i] = raw_connect(&f.g);
		hello(fds[i]);
	}
	extra_fd = raw_connect(&f.g);
	fr = read_frame(extra_fd);
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(closed_by_server(extra_fd));
	close(extra_fd);
	/* One leaves, another may come. */
	close(fds[0]);
	uint64_t deadline = itest_now_ms() + 5000;
	bool ok = false;
	while (!ok && itest_now_ms() < deadline) {
		int fd = raw_connect(&f.g);
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__Hello h = GRID__V1__HELLO__INIT;
		h.protocol_version = 1;
		req.id = 1;
		req.call_case = GRID__V1__REQUEST__CALL_HELLO;
		req.hello = &h;
		send_request(fd, &req);
		fr = read_frame(fd);
		ok = fr && fr->reply->status->code == CODE(OK);
		if (fr)
			grid__v1__server_frame__free_unpacked(fr, NULL);
		close(fd);
		if (!ok)
			usleep(20000);
	}
	ASSERT(ok);
	close(fds[1]);
	close(fds[2]);
	teardown(&f);
}
