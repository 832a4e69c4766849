/* Raw sockets to gridd for the integration tests; see raw.h. */
#include "tests/harness/raw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/frame.h"
#include "tests/harness/itest.h"

int raw_connect(const char *addr, const char *bind_ip)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	const char *colon = strrchr(addr, ':');
	char host[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT(fd >= 0 && colon);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	if (bind_ip) {
		struct sockaddr_in me = {.sin_family = AF_INET};

		ASSERT(inet_pton(AF_INET, bind_ip, &me.sin_addr) == 1);
		ASSERT_MSG(bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0, "bind %s: %s",
			   bind_ip, strerror(errno));
		if (strcmp(host, "0.0.0.0") == 0)
			snprintf(host, sizeof(host), "%s", bind_ip);
	}
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	ASSERT(inet_pton(AF_INET, host, &sin.sin_addr) == 1);
	ASSERT_MSG(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect %s: %s", addr,
		   strerror(errno));
	return fd;
}

void raw_send_all(int fd, const void *p, size_t len)
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

uint8_t *raw_pack(const Grid__V1__Request *req, size_t *ret_len)
{
	size_t n = grid__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(n + 4);

	ASSERT_NOT_NULL(buf);
	frame_put_header(buf, (uint32_t)n);
	grid__v1__request__pack(req, buf + 4);
	*ret_len = n + 4;
	return buf;
}

void raw_send(int fd, const Grid__V1__Request *req)
{
	size_t len;
	uint8_t *buf = raw_pack(req, &len);

	raw_send_all(fd, buf, len);
	free(buf);
}

void raw_hello_request(Grid__V1__Request *req, Grid__V1__Hello *h, uint64_t id)
{
	grid__v1__request__init(req);
	grid__v1__hello__init(h);
	h->protocol_version = 1;
	h->client_name = (char *)"raw-test";
	req->id = id;
	req->call_case = GRID__V1__REQUEST__CALL_HELLO;
	req->hello = h;
}

void raw_ping_request(Grid__V1__Request *req, Grid__V1__Ping *p, uint64_t id)
{
	grid__v1__request__init(req);
	grid__v1__ping__init(p);
	req->id = id;
	req->call_case = GRID__V1__REQUEST__CALL_PING;
	req->ping = p;
}

void raw_send_ping(int fd, uint64_t id)
{
	Grid__V1__Request req;
	Grid__V1__Ping p;

	raw_ping_request(&req, &p, id);
	raw_send(fd, &req);
}

Grid__V1__ServerFrame *raw_take_frame(uint8_t *buf, size_t *len, size_t cap)
{
	Grid__V1__ServerFrame *f;
	uint32_t n;

	if (*len < 4)
		return NULL;
	n = frame_get_header(buf);
	ASSERT_MSG(n <= cap - 4, "gridd announced a frame of %u bytes, more than %zu", n, cap - 4);
	if (*len < 4 + (size_t)n)
		return NULL;
	f = grid__v1__server_frame__unpack(NULL, n, buf + 4);
	ASSERT_NOT_NULL(f);
	memmove(buf, buf + 4 + n, *len - 4 - n);
	*len -= 4 + (size_t)n;
	return f;
}

void raw_expect_reply(Grid__V1__ServerFrame *f, uint64_t id, int code)
{
	ASSERT_MSG(f, "connection closed while waiting for reply %llu", (unsigned long long)id);
	ASSERT_EQ_INT(f->frame_case, GRID__V1__SERVER_FRAME__FRAME_REPLY);
	ASSERT_EQ_UINT(f->reply->id, id);
	ASSERT_MSG(f->reply->status, "reply %llu carries no status", (unsigned long long)id);
	ASSERT_EQ_INT(f->reply->status->code, code);
	grid__v1__server_frame__free_unpacked(f, NULL);
}

bool raw_closed_within(int fd, int timeout_ms, size_t *ret_bytes, uint8_t *ret_first)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;
	uint8_t b[512];
	size_t total = 0;

	for (;;) {
		uint64_t now = itest_now_ms();
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t k;

		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0)
			return false;
		k = read(fd, b, sizeof(b));
		if (k == 0 || (k < 0 && errno == ECONNRESET)) {
			if (ret_bytes)
				*ret_bytes = total;
			return true;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return false;
		if (total == 0 && ret_first)
			*ret_first = b[0];
		total += (size_t)k;
	}
}

void raw_stream_open(struct raw_stream *st, const char *addr, const char *bind_ip)
{
	st->fd = raw_connect(addr, bind_ip);
	st->len = 0;
}

void raw_stream_close(struct raw_stream *st)
{
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
	st->len = 0;
}

Grid__V1__ServerFrame *raw_stream_next(struct raw_stream *st, int timeout_ms, bool *ret_closed)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;

	*ret_closed = false;
	for (;;) {
		Grid__V1__ServerFrame *f = raw_take_frame(st->buf, &st->len, sizeof(st->buf));
		struct pollfd pfd = {st->fd, POLLIN, 0};
		uint64_t now = itest_now_ms();
		ssize_t k;
		int r;

		if (f)
			return f;
		if (now >= deadline)
			return NULL;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		/* An incomplete frame fits (raw_take_frame checked its size),
		 * so there is room for more. */
		k = read(st->fd, st->buf + st->len, sizeof(st->buf) - st->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			*ret_closed = true;
			return NULL;
		}
		st->len += (size_t)k;
	}
}

Grid__V1__ServerFrame *raw_stream_read(struct raw_stream *st)
{
	bool closed;
	Grid__V1__ServerFrame *f = raw_stream_next(st, RAW_WAIT_MS, &closed);

	ASSERT_MSG(f || closed, "no frame from gridd within %d s", RAW_WAIT_MS / 1000);
	ASSERT_MSG(f || st->len == 0, "gridd closed the connection in the middle of a frame");
	return f;
}

void raw_stream_expect(struct raw_stream *st, uint64_t id, int code)
{
	raw_expect_reply(raw_stream_read(st), id, code);
}

bool raw_stream_closed(struct raw_stream *st, int timeout_ms)
{
	st->len = 0;
	return raw_closed_within(st->fd, timeout_ms, NULL, NULL);
}

void raw_stream_hello(struct raw_stream *st)
{
	Grid__V1__Request req;
	Grid__V1__Hello h;

	raw_hello_request(&req, &h, 1);
	raw_send(st->fd, &req);
	raw_stream_expect(st, 1, GRID__V1__CODE__CODE_OK);
}

void raw_stream_login(struct raw_stream *st, const char *username, const char *password)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__LoginRequest m = GRID__V1__LOGIN_REQUEST__INIT;

	m.username = (char *)username;
	m.password = (char *)password;
	req.id = 2;
	req.call_case = GRID__V1__REQUEST__CALL_LOGIN;
	req.login = &m;
	raw_send(st->fd, &req);
	raw_stream_expect(st, 2, GRID__V1__CODE__CODE_OK);
}

void raw_stream_authenticate(struct raw_stream *st, const char *token)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest m = GRID__V1__AUTHENTICATE_REQUEST__INIT;

	m.token = (char *)token;
	req.id = 2;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &m;
	raw_send(st->fd, &req);
	raw_stream_expect(st, 2, GRID__V1__CODE__CODE_OK);
}

const char *raw_local_ip(void)
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
