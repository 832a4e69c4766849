/* Tests of libgridclient against a scripted fake server: each case forks a
 * child that accepts one connection on 127.0.0.1:<port 0> and plays a
 * scenario with blocking sockets (a well-behaved server, one that answers
 * out of order, one that sends garbage, closes mid-frame, never answers,
 * enforces max_inflight...). The client side runs on libuv in the test
 * process and asserts statuses, ordering and clean shutdown
 * (uv_loop_close() == 0; ASan checks the rest).
 */
#include "tests/harness/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/gridclient.h"
#include "common/frame.h"

/* ---- fake server (child process, blocking) ---- */

static int read_full(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void write_full(int fd, const void *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)p + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EPIPE || errno == ECONNRESET))
			_exit(0); /* the client went away: fine for a fake */
		if (r <= 0)
			_exit(90);
		done += (size_t)r;
	}
}

static Grid__V1__Request *srv_read(int fd)
{
	uint8_t hdr[4], *body;
	uint32_t n;
	Grid__V1__Request *req;

	if (read_full(fd, hdr, 4) < 0)
		return NULL;
	n = frame_get_header(hdr);
	body = malloc(n ? n : 1);
	if (read_full(fd, body, n) < 0)
		_exit(91);
	req = grid__v1__request__unpack(NULL, n, body);
	free(body);
	if (!req)
		_exit(92);
	return req;
}

static void srv_send_frame(int fd, const Grid__V1__ServerFrame *f)
{
	size_t n = grid__v1__server_frame__get_packed_size(f);
	uint8_t *p = malloc(n + 4);

	frame_put_header(p, (uint32_t)n);
	grid__v1__server_frame__pack(f, p + 4);
	write_full(fd, p, n + 4);
	free(p);
}

static void srv_send_reply(int fd, Grid__V1__Reply *r)
{
	Grid__V1__ServerFrame f = GRID__V1__SERVER_FRAME__INIT;

	f.frame_case = GRID__V1__SERVER_FRAME__FRAME_REPLY;
	f.reply = r;
	srv_send_frame(fd, &f);
}

static void srv_reply_status(int fd, uint64_t id, Grid__V1__Code code, const char *msg)
{
	Grid__V1__Reply r = GRID__V1__REPLY__INIT;
	Grid__V1__Status st = GRID__V1__STATUS__INIT;

	st.code = code;
	st.message = (char *)msg;
	r.id = id;
	r.status = &st;
	srv_send_reply(fd, &r);
}

/* Answers a call the way gridd would, enough for these tests: Ping gets a
 * Pong, GetNode a node whose name is its code. */
static void srv_answer(int fd, const Grid__V1__Request *req)
{
	Grid__V1__Reply r = GRID__V1__REPLY__INIT;
	Grid__V1__Status st = GRID__V1__STATUS__INIT;
	Grid__V1__Pong pong = GRID__V1__PONG__INIT;
	Grid__V1__Node node = GRID__V1__NODE__INIT;

	r.id = req->id;
	r.status = &st;
	switch (req->call_case) {
	case GRID__V1__REQUEST__CALL_PING:
		pong.server_time_ms = (int64_t)req->id;
		r.result_case = GRID__V1__REPLY__RESULT_PING;
		r.ping = &pong;
		break;
	case GRID__V1__REQUEST__CALL_GET_NODE:
		node.code = req->get_node->code;
		node.name = req->get_node->code;
		r.result_case = GRID__V1__REPLY__RESULT_GET_NODE;
		r.get_node = &node;
		break;
	default:
		st.code = GRID__V1__CODE__CODE_UNIMPLEMENTED;
		break;
	}
	srv_send_reply(fd, &r);
}

static void srv_hello(int fd, uint32_t max_inflight)
{
	Grid__V1__Request *req = srv_read(fd);
	Grid__V1__Reply r = GRID__V1__REPLY__INIT;
	Grid__V1__Status st = GRID__V1__STATUS__INIT;
	Grid__V1__HelloReply h = GRID__V1__HELLO_REPLY__INIT;
	Grid__V1__Limits lim = GRID__V1__LIMITS__INIT;
	static char *levels[] = {"district", "subdistrict", "community",
				 "zone",     "courtyard",   "building"};

	if (!req || req->call_case != GRID__V1__REQUEST__CALL_HELLO ||
	    req->hello->protocol_version != 1 || req->id == 0)
		_exit(93);
	h.protocol_version = 1;
	h.server_name = "fake";
	h.server_version = "0.0.1";
	lim.max_frame = 1024 * 1024;
	lim.max_inflight = max_inflight;
	h.limits = &lim;
	h.n_level_names = 6;
	h.level_names = levels;
	r.id = req->id;
	r.status = &st;
	r.result_case = GRID__V1__REPLY__RESULT_HELLO;
	r.hello = &h;
	srv_send_reply(fd, &r);
	grid__v1__request__free_unpacked(req, NULL);
}

typedef void (*scenario_fn)(int fd);

struct server {
	pid_t pid;
	int port;
	char addr[64];
};

static void start_server(struct server *s, scenario_fn fn)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	ASSERT(lfd >= 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ_INT(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ_INT(listen(lfd, 8), 0);
	ASSERT_EQ_INT(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
	fflush(NULL);
	s->pid = fork();
	ASSERT(s->pid >= 0);
	if (s->pid == 0) {
		int fd = accept(lfd, NULL, NULL);

		signal(SIGPIPE, SIG_IGN);
		if (fd < 0)
			_exit(94);
		close(lfd);
		fn(fd);
		close(fd);
		_exit(0);
	}
	close(lfd);
}

/* The child's exit status: 0 when its scenario went as planned. */
static int wait_server(struct server *s)
{
	int st;

	ASSERT_EQ_INT(waitpid(s->pid, &st, 0), s->pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static void poke_server(struct server *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)s->port);
	connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
}

/* ---- client helpers ---- */

struct result {
	int done;
	int status;
	uint64_t id;
	int64_t pong;
	char code[64];
	Grid__V1__Code st;
};

static void on_connect(struct grid_client *c, int status, void *data)
{
	struct result *r = data;

	r->done++;
	r->status = status;
}

static void on_reply(struct grid_client *c, int status, const Grid__V1__Reply *reply, void *data)
{
	struct result *r = data;

	r->done++;
	r->status = status;
	if (reply) {
		ASSERT_NOT_NULL(reply->status);
		r->id = reply->id;
		r->st = reply->status->code;
		if (reply->result_case == GRID__V1__REPLY__RESULT_PING)
			r->pong = reply->ping->server_time_ms;
		if (reply->result_case == GRID__V1__REPLY__RESULT_GET_NODE)
			snprintf(r->code, sizeof(r->code), "%s", reply->get_node->code);
	}
}

static void ping_req(Grid__V1__Request *req, Grid__V1__Ping *ping)
{
	grid__v1__request__init(req);
	grid__v1__ping__init(ping);
	req->call_case = GRID__V1__REQUEST__CALL_PING;
	req->ping = ping;
}

static struct grid_client *connect_async(uv_loop_t *loop, const char *addr,
					 const struct grid_client_config *cfg)
{
	struct grid_client *c = grid_client_create(loop, cfg);
	struct result r = {0};

	ASSERT_NOT_NULL(c);
	ASSERT_EQ_INT(grid_client_connect_async(c, addr, on_connect, &r), 0);
	while (!r.done)
		uv_run(loop, UV_RUN_ONCE);
	ASSERT_EQ_INT(r.done, 1);
	ASSERT_EQ_INT(r.status, 0);
	ASSERT_NOT_NULL(grid_client_hello(c));
	return c;
}

static void close_loop(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_DEFAULT);
	ASSERT_EQ_INT(uv_loop_close(loop), 0);
}

/* ---- scenarios ---- */

static void sc_echo(int fd)
{
	Grid__V1__Request *req;

	srv_hello(fd, 0);
	while ((req = srv_read(fd))) {
		srv_answer(fd, req);
		grid__v1__request__free_unpacked(req, NULL);
	}
}

TEST(blocking_ping_and_get_node)
{
	struct server s;
	struct grid_client *c;
	Grid__V1__Request req;
	Grid__V1__Ping ping;
	Grid__V1__GetNodeRequest get = GRID__V1__GET_NODE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;

	start_server(&s, sc_echo);
	c = grid_client_create(NULL, NULL);
	ASSERT_EQ_INT(grid_client_connect(c, s.addr), 0);
	ASSERT_EQ_STR(grid_client_hello(c)->server_name, "fake");
	ASSERT_EQ_UINT(grid_client_hello(c)->n_level_names, 6);
	ping_req(&req, &ping);
	ASSERT_EQ_INT(grid_client_call(c, &req, &reply), 0);
	ASSERT(req.id != 0);
	ASSERT_EQ_UINT(reply->id, req.id);
	ASSERT_EQ_INT(reply->result_case, GRID__V1__REPLY__RESULT_PING);
	ASSERT_EQ_INT(reply->ping->server_time_ms, (int64_t)req.id);
	grid_client_reply_free(reply);

	grid__v1__request__init(&req);
	get.code = "WH-TZL-Z5-ZTY";
	req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
	req.get_node = &get;
	ASSERT_EQ_INT(grid_client_call(c, &req, &reply), 0);
	ASSERT_EQ_STR(reply->get_node->code, "WH-TZL-Z5-ZTY");
	grid_client_reply_free(reply);

	/* A hello from the caller is refused locally. */
	{
		Grid__V1__Hello h = GRID__V1__HELLO__INIT;

		grid__v1__request__init(&req);
		req.call_case = GRID__V1__REQUEST__CALL_HELLO;
		req.hello = &h;
		ASSERT_EQ_INT(grid_client_call(c, &req, &reply), -EINVAL);
		grid__v1__request__init(&req);
		ASSERT_EQ_INT(grid_client_call(c, &req, &reply), -EINVAL);
	}
	ASSERT_EQ_INT(grid_client_connect(c, s.addr), -EISCONN);
	grid_client_destroy(c);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

static void sc_reverse(int fd)
{
	enum { N = 5000 };
	Grid__V1__Request **reqs = calloc(N, sizeof(*reqs));

	srv_hello(fd, 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++)
			if (!(reqs[i] = srv_read(fd)))
				_exit(95);
		for (int i = N - 1; i >= 0; i--) {
			srv_answer(fd, reqs[i]);
			grid__v1__request__free_unpacked(reqs[i], NULL);
		}
	}
	free(reqs);
	if (srv_read(fd))
		_exit(96);
}

TEST(many_in_flight_out_of_order)
{
	enum { N = 5000 };
	struct server s;
	uv_loop_t loop;
	struct grid_client *c;
	struct result *res = calloc(N, sizeof(*res));
	uint64_t ids[N];

	start_server(&s, sc_reverse);
	uv_loop_init(&loop);
	c = connect_async(&loop, s.addr, NULL);
	for (int round = 0; round < 2; round++) {
		memset(res, 0, N * sizeof(*res));
		for (int i = 0; i < N; i++) {
			Grid__V1__Request req;
			Grid__V1__Ping ping;

			ping_req(&req, &ping);
			ASSERT_EQ_INT(grid_client_call_async(c, &req, on_reply, &res[i]), 0);
			ids[i] = req.id;
		}
		ASSERT_EQ_UINT(grid_client_inflight(c), N);
		/* The loop returns by itself once every reply is in: the
		 * connection does not keep it alive when nothing waits. */
		uv_run(&loop, UV_RUN_DEFAULT);
		ASSERT_EQ_UINT(grid_client_inflight(c), 0);
		for (int i = 0; i < N; i++) {
			ASSERT_EQ_INT(res[i].done, 1);
			ASSERT_EQ_INT(res[i].status, 0);
			ASSERT_EQ_UINT(res[i].id, ids[i]);
			ASSERT_EQ_INT(res[i].pong, (int64_t)ids[i]);
		}
	}
	grid_client_destroy(c);
	close_loop(&loop);
	free(res);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

/* max_inflight 3: the server checks it never holds more than 3 unanswered
 * requests, answering them only after making sure no fourth arrives. */
static void sc_limit(int fd)
{
	Grid__V1__Request *held[3];
	int total = 0;

	srv_hello(fd, 3);
	while (total < 60) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		for (int i = 0; i < 3; i++)
			if (!(held[i] = srv_read(fd)))
				_exit(97);
		if (poll(&p, 1, 20) != 0)
			_exit(98); /* a fourth request came: the limit was broken */
		for (int i = 2; i >= 0; i--) {
			srv_answer(fd, held[i]);
			grid__v1__request__free_unpacked(held[i], NULL);
		}
		total += 3;
	}
}

TEST(respects_server_max_inflight)
{
	enum { N = 60 };
	struct server s;
	uv_loop_t loop;
	struct grid_client *c;
	struct result res[N] = {0};

	start_server(&s, sc_limit);
	uv_loop_init(&loop);
	c = connect_async(&loop, s.addr, NULL);
	for (int i = 0; i < N; i++) {
		Grid__V1__Request req;
		Grid__V1__Ping ping;

		ping_req(&req, &ping);
		ASSERT_EQ_INT(grid_client_call_async(c, &req, on_reply, &res[i]), 0);
	}
	ASSERT_EQ_UINT(grid_client_inflight(c), N);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < N; i++) {
		ASSERT_EQ_INT(res[i].done, 1);
		ASSERT_EQ_INT(res[i].status, 0);
	}
	grid_client_destroy(c);
	close_loop(&loop);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

static void sc_garbage(int fd)
{
	static const uint8_t junk[] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	Grid__V1__Request *req;

	srv_hello(fd, 0);
	req = srv_read(fd);
	write_full(fd, junk, sizeof(junk));
	grid__v1__request__free_unpacked(req, NULL);
	while ((req = srv_read(fd)))
		grid__v1__request__free_unpacked(req, NULL);
}

static void sc_midframe(int fd)
{
	static const uint8_t partial[] = {0, 0, 0, 100, 0x0a, 0x02, 0x08};
	Grid__V1__Request *req;

	srv_hello(fd, 0);
	req = srv_read(fd);
	write_full(fd, partial, sizeof(partial));
	grid__v1__request__free_unpacked(req, NULL);
	usleep(20000);
}

static void sc_oversize(int fd)
{
	static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 1, 2, 3};
	Grid__V1__Request *req;

	srv_hello(fd, 0);
	req = srv_read(fd);
	write_full(fd, huge, sizeof(huge));
	grid__v1__request__free_unpacked(req, NULL);
	while ((req = srv_read(fd)))
		grid__v1__request__free_unpacked(req, NULL);
}

static void sc_conn_error(int fd)
{
	Grid__V1__Request *req;

	srv_hello(fd, 0);
	req = srv_read(fd);
	srv_reply_status(fd, 0, GRID__V1__CODE__CODE_RESOURCE_EXHAUSTED, "frame too large");
	grid__v1__request__free_unpacked(req, NULL);
}

static void sc_wrong_result(int fd)
{
	Grid__V1__Request *req;
	Grid__V1__Reply r = GRID__V1__REPLY__INIT;
	Grid__V1__Pong pong = GRID__V1__PONG__INIT;

	srv_hello(fd, 0);
	req = srv_read(fd); /* a GetNode, answered with a Pong */
	r.id = req->id;	    /* and no status at all: OK by default */
	r.result_case = GRID__V1__REPLY__RESULT_PING;
	r.ping = &pong;
	srv_send_reply(fd, &r);
	grid__v1__request__free_unpacked(req, NULL);
	req = srv_read(fd); /* a Ping, answered without status */
	r.id = req->id;
	srv_send_reply(fd, &r);
	grid__v1__request__free_unpacked(req, NULL);
	/* replies to ids never sent are ignored */
	srv_reply_status(fd, 987654, GRID__V1__CODE__CODE_OK, "");
	req = srv_read(fd);
	srv_answer(fd, req);
	grid__v1__request__free_unpacked(req, NULL);
	while ((req = srv_read(fd)))
		grid__v1__request__free_unpacked(req, NULL);
}

static int blocking_ping(struct grid_client *c, Grid__V1__Reply **reply)
{
	Grid__V1__Request req;
	Grid__V1__Ping ping;

	ping_req(&req, &ping);
	return grid_client_call(c, &req, reply);
}

static void expect_failure(scenario_fn fn, int err, const char *msg_part)
{
	struct server s;
	struct grid_client *c;
	Grid__V1__Reply *reply = NULL;

	start_server(&s, fn);
	c = grid_client_create(NULL, NULL);
	ASSERT_EQ_INT(grid_client_connect(c, s.addr), 0);
	ASSERT_EQ_INT(blocking_ping(c, &reply), err);
	ASSERT(reply == NULL);
	ASSERT_MSG(strstr(grid_client_error(c), msg_part), "error '%s' lacks '%s'",
		   grid_client_error(c), msg_part);
	/* Once lost, the connection stays lost, and says why. */
	ASSERT_EQ_INT(blocking_ping(c, &reply), -ENOTCONN);
	ASSERT(strstr(grid_client_error(c), msg_part));
	grid_client_destroy(c);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

TEST(garbage_frame_fails_connection)
{
	expect_failure(sc_garbage, -EPROTO, "does not decode");
}

TEST(close_mid_frame)
{
	expect_failure(sc_midframe, -ECONNRESET, "closed by");
}

TEST(oversize_frame_rejected_before_allocating)
{
	expect_failure(sc_oversize, -EPROTO, "over the limit");
}

TEST(connection_level_error_reply)
{
	expect_failure(sc_conn_error, -ENOBUFS, "frame too large");
}

TEST(wrong_result_and_missing_status)
{
	struct server s;
	struct grid_client *c;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetNodeRequest get = GRID__V1__GET_NODE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;

	start_server(&s, sc_wrong_result);
	c = grid_client_create(NULL, NULL);
	ASSERT_EQ_INT(grid_client_connect(c, s.addr), 0);
	get.code = "X";
	req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
	req.get_node = &get;
	ASSERT_EQ_INT(grid_client_call(c, &req, &reply), -EPROTO);
	ASSERT_EQ_INT(blocking_ping(c, &reply), 0);
	ASSERT_NOT_NULL(reply->status);
	ASSERT_EQ_INT(reply->status->code, GRID__V1__CODE__CODE_OK);
	grid_client_reply_free(reply);
	ASSERT_EQ_INT(blocking_ping(c, &reply), 0);
	grid_client_reply_free(reply);
	grid_client_destroy(c);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

static void sc_silent_hello(int fd)
{
	Grid__V1__Request *req = srv_read(fd);

	grid__v1__request__free_unpacked(req, NULL);
	usleep(500000);
}

TEST(hello_timeout)
{
	struct grid_client_config cfg = {.connect_timeout_ms = 100};
	struct server s;
	struct grid_client *c;
	uint64_t t0;

	start_server(&s, sc_silent_hello);
	c = grid_client_create(NULL, &cfg);
	t0 = uv_hrtime();
	ASSERT_EQ_INT(grid_client_connect(c, s.addr), -ETIMEDOUT);
	ASSERT((uv_hrtime() - t0) / 1000000 < 400);
	ASSERT(strstr(grid_client_error(c), "hello"));
	ASSERT(grid_client_hello(c) == NULL);
	grid_client_destroy(c);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

static void sc_slow(int fd)
{
	Grid__V1__Request *a, *b;

	srv_hello(fd, 0);
	a = srv_read(fd); /* answered only after the client gave up */
	usleep(800000);
	srv_answer(fd, a); /* late: must be dropped */
	b = srv_read(fd);
	srv_answer(fd, b);
	grid__v1__request__free_unpacked(a, NULL);
	grid__v1__request__free_unpacked(b, NULL);
	while ((a = srv_read(fd)))
		grid__v1__request__free_unpacked(a, NULL);
}

TEST(call_timeout_then_late_reply_dropped)
{
	struct grid_client_config cfg = {.call_timeout_ms = 100};
	struct server s;
	struct grid_client *c;
	Grid__V1__Request req;
	Grid__V1__Ping ping;
	Grid__V1__Reply *reply = NULL;
	uint64_t first;

	start_server(&s, sc_slow);
	c = grid_client_create(NULL, &cfg);
	ASSERT_EQ_INT(grid_client_connect(c, s.addr), 0);
	ping_req(&req, &ping);
	ASSERT_EQ_INT(grid_client_call(c, &req, &reply), -ETIMEDOUT);
	first = req.id;
	ASSERT_EQ_UINT(grid_client_inflight(c), 0);
	ping_req(&req, &ping);
	req.deadline_ms = 5000;
	ASSERT_EQ_INT(grid_client_call(c, &req, &reply), 0);
	ASSERT_EQ_UINT(reply->id, req.id);
	ASSERT(req.id != first);
	grid_client_reply_free(reply);
	grid_client_destroy(c);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

TEST(connect_refused_and_bad_addresses)
{
	struct server s;
	struct grid_client *c;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	char addr[64];

	/* A port nobody listens on: bound, not listening. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(a.sin_port));
	c = grid_client_create(NULL, NULL);
	ASSERT_EQ_INT(grid_client_connect(c, addr), -ECONNREFUSED);
	ASSERT(strstr(grid_client_error(c), "cannot connect"));
	grid_client_destroy(c);
	close(fd);

	static const char *bad[] = {"",	    "host:",  "host:0",	 "host:65536", "host:12x",
				    "[::1", "[::1]x", "[]:7420", ":7420",      "bad:port:x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = grid_client_create(NULL, NULL);
		ASSERT_MSG(grid_client_connect(c, bad[i]) == -EINVAL, "'%s' accepted", bad[i]);
		ASSERT_EQ_INT(grid_client_check_address(bad[i]), -EINVAL);
		grid_client_destroy(c);
	}
	static const char *good[] = {"h",     "h:1", "127.0.0.1:7420",	       "[::1]:7420",
				     "[::1]", "::1", "gridd.example.org:65535"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ASSERT_MSG(grid_client_check_address(good[i]) == 0, "'%s' refused", good[i]);
	ASSERT_EQ_INT(grid_client_check_address(NULL), -EINVAL);
	c = grid_client_create(NULL, NULL);
	ASSERT_EQ_INT(grid_client_connect(c, "no-such-host.invalid:7420"), -EHOSTUNREACH);
	grid_client_destroy(c);

	/* "localhost" may resolve to ::1 first; the client must go on to
	 * 127.0.0.1 where the server listens. */
	start_server(&s, sc_echo);
	snprintf(addr, sizeof(addr), "localhost:%d", s.port);
	c = grid_client_create(NULL, NULL);
	ASSERT_EQ_INT(grid_client_connect(c, addr), 0);
	grid_client_destroy(c);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

struct destroy_ctx {
	int replies;
	int cancelled;
	struct grid_client *c;
};

static void on_reply_destroy(struct grid_client *c, int status, const Grid__V1__Reply *reply,
			     void *data)
{
	struct destroy_ctx *d = data;

	if (status == -ECANCELED) {
		d->cancelled++;
		return;
	}
	ASSERT_EQ_INT(status, 0);
	d->replies++;
	/* The first reply destroys the client from inside its callback;
	 * every other call is cancelled before destroy returns. */
	grid_client_destroy(c);
	grid_client_destroy(c); /* harmless */
}

TEST(destroy_from_callback_cancels_the_rest)
{
	struct server s;
	uv_loop_t loop;
	struct grid_client *c;
	struct destroy_ctx d = {0};

	start_server(&s, sc_echo);
	uv_loop_init(&loop);
	c = connect_async(&loop, s.addr, NULL);
	for (int i = 0; i < 100; i++) {
		Grid__V1__Request req;
		Grid__V1__Ping ping;

		ping_req(&req, &ping);
		ASSERT_EQ_INT(grid_client_call_async(c, &req, on_reply_destroy, &d), 0);
	}
	close_loop(&loop);
	ASSERT_EQ_INT(d.replies, 1);
	ASSERT_EQ_INT(d.cancelled, 99);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

TEST(destroy_while_connecting)
{
	struct server s;
	uv_loop_t loop;
	struct grid_client *c;
	struct result r = {0};

	start_server(&s, sc_silent_hello);
	uv_loop_init(&loop);
	c = grid_client_create(&loop, NULL);
	ASSERT_EQ_INT(grid_client_connect_async(c, s.addr, on_connect, &r), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	grid_client_destroy(c);
	ASSERT_EQ_INT(r.done, 1);
	ASSERT_EQ_INT(r.status, -ECANCELED);
	close_loop(&loop);
	poke_server(&s); /* the client may never have reached accept() */
	ASSERT_EQ_INT(wait_server(&s), 0);

	/* Destroyed while getaddrinfo is still out. */
	uv_loop_init(&loop);
	c = grid_client_create(&loop, NULL);
	memset(&r, 0, sizeof(r));
	ASSERT_EQ_INT(grid_client_connect_async(c, "localhost:1", on_connect, &r), 0);
	grid_client_destroy(c);
	ASSERT_EQ_INT(r.status, -ECANCELED);
	close_loop(&loop);

	/* Destroyed before connecting at all, on either kind of loop. */
	uv_loop_init(&loop);
	grid_client_destroy(grid_client_create(&loop, NULL));
	close_loop(&loop);
	grid_client_destroy(grid_client_create(NULL, NULL));
	grid_client_destroy(NULL);
}

static void sc_events(int fd)
{
	Grid__V1__ServerFrame f = GRID__V1__SERVER_FRAME__INIT;
	Grid__V1__Event ev = GRID__V1__EVENT__INIT;
	Grid__V1__Request *req;

	srv_hello(fd, 0);
	req = srv_read(fd);
	ev.seq = 7;
	ev.kind = "case.raised";
	ev.node_code = "WH-TZL-Z5-ZTY";
	f.frame_case = GRID__V1__SERVER_FRAME__FRAME_EVENT;
	f.event = &ev;
	srv_send_frame(fd, &f);
	srv_answer(fd, req);
	grid__v1__request__free_unpacked(req, NULL);
	while ((req = srv_read(fd)))
		grid__v1__request__free_unpacked(req, NULL);
}

static void on_event(struct grid_client *c, const Grid__V1__Event *ev, void *data)
{
	int *seen = data;

	ASSERT_EQ_STR(ev->node_code, "WH-TZL-Z5-ZTY");
	*seen = (int)ev->seq;
}

TEST(events_before_reply)
{
	struct server s;
	struct grid_client *c;
	Grid__V1__Reply *reply = NULL;
	int seen = 0;

	start_server(&s, sc_events);
	c = grid_client_create(NULL, NULL);
	grid_client_set_event_cb(c, on_event, &seen);
	ASSERT_EQ_INT(grid_client_connect(c, s.addr), 0);
	ASSERT_EQ_INT(blocking_ping(c, &reply), 0);
	ASSERT_EQ_INT(seen, 7);
	grid_client_reply_free(reply);
	grid_client_destroy(c);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

static void sc_split(int fd)
{
	Grid__V1__Request *req;

	srv_hello(fd, 0);
	/* Replies dribbled out one byte at a time, then several glued
	 * together in one write. */
	for (int k = 0; k < 3; k++) {
		Grid__V1__ServerFrame f = GRID__V1__SERVER_FRAME__INIT;
		Grid__V1__Reply r = GRID__V1__REPLY__INIT;
		Grid__V1__Pong pong = GRID__V1__PONG__INIT;
		uint8_t buf[256];
		size_t n;

		req = srv_read(fd);
		r.id = req->id;
		r.result_case = GRID__V1__REPLY__RESULT_PING;
		r.ping = &pong;
		pong.server_time_ms = 42;
		f.frame_case = GRID__V1__SERVER_FRAME__FRAME_REPLY;
		f.reply = &r;
		n = grid__v1__server_frame__pack(&f, buf + 4);
		frame_put_header(buf, (uint32_t)n);
		for (size_t i = 0; i < n + 4; i++) {
			write_full(fd, buf + i, 1);
			usleep(1000);
		}
		grid__v1__request__free_unpacked(req, NULL);
	}
	while ((req = srv_read(fd)))
		grid__v1__request__free_unpacked(req, NULL);
}

TEST(replies_split_across_reads)
{
	struct server s;
	struct grid_client *c;
	Grid__V1__Reply *reply = NULL;

	start_server(&s, sc_split);
	c = grid_client_create(NULL, NULL);
	ASSERT_EQ_INT(grid_client_connect(c, s.addr), 0);
	for (int k = 0; k < 3; k++) {
		ASSERT_EQ_INT(blocking_ping(c, &reply), 0);
		ASSERT_EQ_INT(reply->ping->server_time_ms, 42);
		grid_client_reply_free(reply);
	}
	grid_client_destroy(c);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

TEST(request_over_server_limit)
{
	struct server s;
	struct grid_client *c;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ImportGridRequest imp = GRID__V1__IMPORT_GRID_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	static uint8_t big[2 * 1024 * 1024];

	start_server(&s, sc_echo);
	c = grid_client_create(NULL, NULL);
	ASSERT_EQ_INT(grid_client_connect(c, s.addr), 0);
	imp.csv.data = big;
	imp.csv.len = sizeof(big);
	req.call_case = GRID__V1__REQUEST__CALL_IMPORT_GRID;
	req.import_grid = &imp;
	ASSERT_EQ_INT(grid_client_call(c, &req, &reply), -EMSGSIZE);
	ASSERT_EQ_UINT(grid_client_inflight(c), 0);
	/* The connection is still good. */
	ASSERT_EQ_INT(blocking_ping(c, &reply), 0);
	grid_client_reply_free(reply);
	grid_client_destroy(c);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

static void sc_close_after_hello(int fd)
{
	srv_hello(fd, 0);
	Grid__V1__Request *req = srv_read(fd);
	grid__v1__request__free_unpacked(req, NULL);
	shutdown(fd, SHUT_RDWR);
}

TEST(connection_loss_fails_all_async_calls)
{
	struct server s;
	uv_loop_t loop;
	struct grid_client *c;
	struct result res[50] = {0};

	start_server(&s, sc_close_after_hello);
	uv_loop_init(&loop);
	c = connect_async(&loop, s.addr, NULL);
	for (int i = 0; i < 50; i++) {
		Grid__V1__Request req;
		Grid__V1__Ping ping;

		ping_req(&req, &ping);
		ASSERT_EQ_INT(grid_client_call_async(c, &req, on_reply, &res[i]), 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < 50; i++) {
		ASSERT_EQ_INT(res[i].done, 1);
		ASSERT_MSG(res[i].status == -ECONNRESET || res[i].status == -EPIPE, "status %d",
			   res[i].status);
	}
	ASSERT_EQ_UINT(grid_client_inflight(c), 0);
	grid_client_destroy(c);
	close_loop(&loop);
	ASSERT_EQ_INT(wait_server(&s), 0);
}

TEST(stale_loop_time_does_not_expire_new_calls)
{
	struct grid_client_config cfg = {.call_timeout_ms = 300};
	struct server s;
	uv_loop_t loop;
	struct grid_client *c;
	struct result r = {0};
	Grid__V1__Request req;
	Grid__V1__Ping ping;

	start_server(&s, sc_echo);
	uv_loop_init(&loop);
	c = connect_async(&loop, s.addr, &cfg);
	usleep(1000000); /* the program does something else; uv_now() is old */
	ping_req(&req, &ping);
	ASSERT_EQ_INT(grid_client_call_async(c, &req, on_reply, &r), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ASSERT_EQ_INT(r.done, 1);
	ASSERT_EQ_INT(r.status, 0);
	grid_client_destroy(c);
	close_loop(&loop);
	ASSERT_EQ_INT(wait_server(&s), 0);
}
