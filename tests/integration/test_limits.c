/* The limits a peer can run into, over raw sockets, each reached and its
 * documented reaction observed: connections from one IP address (the one
 * past the limit is told so and closed; the limit is announced in Hello,
 * frees up as connections leave and counts each address on its own); the
 * idle timeout; requests in flight per connection (reading stops); unsent
 * reply bytes (a peer that does not read is held back, then dropped; more
 * of that in test_abuse.c). The frame and login
 * limits are in test_protocol.c, the total connection limit too. */
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "tests/harness/itest.h"
#include "tests/harness/raw.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define LIMIT 3
/* The address the connections come from, unless a case names another. */
#define LOOPBACK "127.0.0.1"

/* Hello on a new connection from the address from; returns the reply's
 * status code (-1 when closed without one) and keeps the socket open in
 * *ret_fd. */
static int try_hello(const struct itest_gridd *g, const char *from, int *ret_fd,
		     Grid__V1__ServerFrame **ret_frame)
{
	struct raw_stream st;
	Grid__V1__Request req;
	Grid__V1__Hello h;
	Grid__V1__ServerFrame *fr;
	int code;

	raw_stream_open(&st, g->address, from);
	raw_hello_request(&req, &h, 1);
	raw_send(st.fd, &req);
	fr = raw_stream_read(&st);
	code = fr ? (int)(fr->reply->status ? fr->reply->status->code : 0) : -1;
	*ret_fd = st.fd;
	if (ret_frame)
		*ret_frame = fr;
	else if (fr)
		grid__v1__server_frame__free_unpacked(fr, NULL);
	return code;
}

/* A new connection from the address from is refused before any Hello. */
static void assert_refused(const struct itest_gridd *g, const char *from)
{
	struct raw_stream st;
	Grid__V1__ServerFrame *fr;

	raw_stream_open(&st, g->address, from);
	fr = raw_stream_read(&st);
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
	ASSERT_EQ_STR(fr->reply->status->message, "too many connections from this address");
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(raw_stream_closed(&st, RAW_WAIT_MS));
	raw_stream_close(&st);
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
	struct itest_fix f;
	const char *const extra[] = {"--set", "limits.max_connections_per_address=3", NULL};
	Grid__V1__ServerFrame *fr;
	int fds[LIMIT];
	bool ok = false;

	itest_setup(&f, extra, 0);
	ASSERT_EQ_INT(try_hello(&f.g, LOOPBACK, &fds[0], &fr), CODE(OK));
	/* Announced to the client. */
	ASSERT_NOT_NULL(fr->reply->hello->limits);
	ASSERT_EQ_UINT(fr->reply->hello->limits->max_connections_per_address, LIMIT);
	grid__v1__server_frame__free_unpacked(fr, NULL);
	close(fds[0]);
	fill_up(&f.g, LOOPBACK, fds, LIMIT);
	/* One too many: told why, then closed, before any Hello is read. */
	assert_refused(&f.g, LOOPBACK);
	/* Refusals do not count against the address: the next is refused
	 * for the same reason, and the next after a leave is let in. */
	assert_refused(&f.g, LOOPBACK);

	/* One leaves, another may come. */
	close(fds[0]);
	for (uint64_t deadline = itest_now_ms() + 5000; !ok && itest_now_ms() < deadline;) {
		ok = try_hello(&f.g, LOOPBACK, &fds[0], NULL) == CODE(OK);
		if (!ok) {
			close(fds[0]);
			usleep(20000);
		}
	}
	ASSERT_MSG(ok, "no room after a connection left");
	/* And no more than that. */
	assert_refused(&f.g, LOOPBACK);
	for (int i = 0; i < LIMIT; i++)
		close(fds[i]);
	itest_teardown(&f);
}

TEST(limit_is_per_address)
{
	struct itest_fix f;
	const char *ip = raw_local_ip();
	const char *const extra[] = {"--listen", "0.0.0.0:0",
				     "--set",	 "limits.max_connections_per_address=2",
				     "--set",	 "server.allow_remote_plaintext=true",
				     NULL};
	int a[2], b[2];

	if (!ip)
		TEST_SKIP("this machine has no non-loopback IPv4 address to connect from");
	itest_setup(&f, extra, 0);
	fill_up(&f.g, LOOPBACK, a, 2);
	assert_refused(&f.g, LOOPBACK);
	/* Another address has its own two. */
	for (int i = 0; i < 2; i++)
		ASSERT_EQ_INT(try_hello(&f.g, ip, &b[i], NULL), CODE(OK));
	assert_refused(&f.g, ip);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	itest_teardown(&f);
}

/* --- after login: idle, in flight, unsent ---------------------------------- */

/* A connection past Hello and logged in as the test admin. */
static void logged_in(const struct itest_gridd *g, struct raw_stream *st)
{
	raw_stream_open(st, g->address, LOOPBACK);
	raw_stream_hello(st);
	raw_stream_authenticate(st, g->admin_token);
}

TEST(idle_timeout)
{
	struct itest_fix f;
	const char *const extra[] = {"--set", "limits.idle_timeout_ms=400", NULL};
	struct raw_stream busy, quiet;
	Grid__V1__ServerFrame *fr;
	bool closed;

	itest_setup(&f, extra, 0);
	logged_in(&f.g, &busy);
	logged_in(&f.g, &quiet);
	/* The busy one talks every 100 ms for a second and stays. */
	for (uint64_t i = 0; i < 10; i++) {
		usleep(100000);
		raw_send_ping(busy.fd, 10 + i);
		fr = raw_stream_next(&busy, 5000, &closed);
		ASSERT_MSG(fr != NULL, "a busy connection was closed");
		grid__v1__server_frame__free_unpacked(fr, NULL);
	}
	/* The quiet one was told and closed meanwhile. */
	fr = raw_stream_next(&quiet, 100, &closed);
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(DEADLINE_EXCEEDED));
	ASSERT(strstr(fr->reply->status->message, "idle") != NULL);
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(raw_stream_closed(&quiet, RAW_WAIT_MS));
	raw_stream_close(&busy);
	raw_stream_close(&quiet);
	itest_teardown(&f);
}

TEST(inflight_limit_stops_reading)
{
	struct itest_fix f;
	const char *const extra[] = {"--set", "limits.max_inflight=2", NULL};
	struct raw_stream st;
	Grid__V1__ServerFrame *fr;
	bool closed;
	PGconn *locker;

	itest_setup(&f, extra, ITEST_WITH_SAMPLE);
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
		raw_send(st.fd, &req);
	}
	raw_send_ping(st.fd, 999);

	/* Two are in flight, blocked; the server reads nothing more, so the
	 * ping, though instant, is not answered... */
	fr = raw_stream_next(&st, 700, &closed);
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
		fr = raw_stream_next(&st, 10000, &closed);
		ASSERT_MSG(fr != NULL, "only %d of 11 replies", got);
		ASSERT_EQ_INT(fr->reply->status->code, CODE(OK));
		pong |= fr->reply->id == 999;
		grid__v1__server_frame__free_unpacked(fr, NULL);
		got++;
	}
	ASSERT(pong);
	raw_stream_close(&st);
	itest_teardown(&f);
}

TEST(unsent_output_limit_drops_a_peer_that_does_not_read)
{
	struct itest_fix f;
	const char *const extra[] = {"--set",	    "limits.max_outbuf=65536",
				     "--set",	    "limits.send_timeout_ms=1000",
				     "--log-level", "info",
				     NULL};
	struct raw_stream st;
	int small = 4096, sent = 0, got = 0;
	bool closed = false;

	itest_setup(&f, extra, ITEST_WITH_SAMPLE);
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
		struct pollfd pfd = {st.fd, POLLOUT, 0};
		if (poll(&pfd, 1, 2000) <= 0)
			break; /* the server stopped reading: it is at its limits */
		size_t n;
		uint8_t *buf = raw_pack(&req, &n);
		ssize_t k = send(st.fd, buf, n, MSG_NOSIGNAL);
		free(buf);
		if (k < 0) {
			closed = true;
			break;
		}
		sent++;
	}
	/* Reading stopped once the replies owed passed outbuf_pause; the
	 * replies wait for a reader that does not come: past send_timeout_ms
	 * the server hangs up. */
	usleep(3000 * 1000);
	/* Reading now: some replies, then the end, well short of all. */
	for (;;) {
		Grid__V1__ServerFrame *fr = raw_stream_next(&st, 5000, &closed);
		if (!fr)
			break;
		got++;
		grid__v1__server_frame__free_unpacked(fr, NULL);
	}
	fprintf(stderr, "sent %d exports, read %d replies before the close\n", sent, got);
	ASSERT_MSG(closed, "gridd kept a connection that reads nothing");
	ASSERT(got < sent);
	/* And it goes on serving everyone else. */
	grid_client_destroy(itest_connect(&f.g));
	raw_stream_close(&st);
	itest_teardown(&f);
}
