/* The wire protocol as a misbehaving or careless peer sees it, over raw
 * sockets: the Hello rule, frame limits before and after Hello, garbage,
 * reserved ids, unknown calls, many requests in one write, a half-closed
 * client, and gridd staying up through all of it. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/frame.h"
#include "tests/harness/itest.h"
#include "tests/harness/raw.h"

#define CODE(x) GRID__V1__CODE__CODE_##x

/* The server still serves a fresh, well-behaved client. */
static void assert_still_serving(const struct itest_gridd *g)
{
	struct grid_client *c = itest_connect(g);

	itest_ping(c);
	grid_client_destroy(c);
}

/* The server answers with an error about the connection (id 0), then
 * closes it. */
static void expect_goodbye(struct raw_stream *st, int code)
{
	raw_stream_expect(st, 0, code);
	ASSERT(raw_stream_closed(st, RAW_WAIT_MS));
	raw_stream_close(st);
}

TEST(hello_reports_limits_and_levels)
{
	struct itest_fix f;
	struct raw_stream st;
	Grid__V1__Request req;
	Grid__V1__Hello h;
	Grid__V1__ServerFrame *fr;
	const char *const extra[] = {"--set", "limits.max_inflight=7", NULL};

	itest_setup(&f, extra, 0);
	raw_stream_open(&st, f.g.address, NULL);
	raw_hello_request(&req, &h, 42);
	raw_send(st.fd, &req);
	fr = raw_stream_read(&st);
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
	raw_send(st.fd, &req);
	raw_stream_expect(&st, 43, CODE(FAILED_PRECONDITION));
	raw_send_ping(st.fd, 44);
	raw_stream_expect(&st, 44, CODE(OK));
	raw_stream_close(&st);

	/* An unknown protocol version is refused. */
	raw_stream_open(&st, f.g.address, NULL);
	h.protocol_version = 2;
	req.id = 1;
	raw_send(st.fd, &req);
	fr = raw_stream_read(&st);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(FAILED_PRECONDITION));
	ASSERT(strstr(fr->reply->status->message, "speaks 1") != NULL);
	grid__v1__server_frame__free_unpacked(fr, NULL);
	raw_stream_close(&st);
	itest_teardown(&f);
}

TEST(first_request_must_be_hello)
{
	struct itest_fix f;
	struct raw_stream st;

	itest_setup(&f, NULL, 0);
	raw_stream_open(&st, f.g.address, NULL);
	raw_send_ping(st.fd, 5);
	expect_goodbye(&st, CODE(FAILED_PRECONDITION));
	assert_still_serving(&f.g);
	itest_teardown(&f);
}

TEST(frame_limits_before_and_after_login)
{
	struct itest_fix f;
	struct raw_stream st;
	Grid__V1__ServerFrame *fr;
	uint8_t hdr[4];

	itest_setup(&f, NULL, 0);
	/* Before Hello: 16 KiB; one byte more is refused at the header. */
	raw_stream_open(&st, f.g.address, NULL);
	frame_put_header(hdr, 16 * 1024 + 1);
	raw_send_all(st.fd, hdr, 4);
	expect_goodbye(&st, CODE(RESOURCE_EXHAUSTED));

	/* A header announcing 4 GiB: same answer, nothing allocated. */
	raw_stream_open(&st, f.g.address, NULL);
	frame_put_header(hdr, 0xffffffffu);
	raw_send_all(st.fd, hdr, 4);
	fr = raw_stream_read(&st);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(raw_stream_closed(&st, RAW_WAIT_MS));
	raw_stream_close(&st);

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
	raw_stream_open(&st, f.g.address, NULL);
	raw_stream_hello(&st);
	raw_send_all(st.fd, hdr, 4);
	expect_goodbye(&st, CODE(RESOURCE_EXHAUSTED));

	/* Logged in, 100 KiB is fine (an import, say) but 1 MiB + 1 is not. */
	raw_stream_open(&st, f.g.address, NULL);
	raw_stream_hello(&st);
	raw_stream_login(&st, ITEST_ADMIN, ITEST_ADMIN_PASSWORD);
	raw_send_all(st.fd, hdr, 4);
	raw_send_all(st.fd, big, n);
	free(big);
	raw_stream_expect(&st, 9, CODE(OK));
	frame_put_header(hdr, 1024 * 1024 + 1);
	raw_send_all(st.fd, hdr, 4);
	expect_goodbye(&st, CODE(RESOURCE_EXHAUSTED));
	assert_still_serving(&f.g);
	itest_teardown(&f);
}

TEST(garbage_and_truncated_input)
{
	struct itest_fix f;
	struct raw_stream st;
	Grid__V1__ServerFrame *fr;
	static const uint8_t garbage[] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	/* A length-delimited field claiming 100 bytes with 2 present. */
	static const uint8_t truncated[] = {0, 0, 0, 4, 0x52, 100, 0x08, 0x01};

	itest_setup(&f, NULL, 0);
	raw_stream_open(&st, f.g.address, NULL);
	raw_send_all(st.fd, garbage, sizeof(garbage));
	expect_goodbye(&st, CODE(INVALID_ARGUMENT));

	raw_stream_open(&st, f.g.address, NULL);
	raw_stream_hello(&st);
	raw_send_all(st.fd, truncated, sizeof(truncated));
	fr = raw_stream_read(&st);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(INVALID_ARGUMENT));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(raw_stream_closed(&st, RAW_WAIT_MS));
	raw_stream_close(&st);

	/* Half a frame, then the peer vanishes. */
	raw_stream_open(&st, f.g.address, NULL);
	raw_send_all(st.fd, garbage, 6);
	raw_stream_close(&st);
	assert_still_serving(&f.g);
	itest_teardown(&f);
}

TEST(reserved_id_and_unknown_call)
{
	struct itest_fix f;
	struct raw_stream st;
	Grid__V1__ServerFrame *fr;
	/* id 7, then field 999 (unknown to this server), empty. */
	static const uint8_t unknown[] = {0, 0, 0, 5, 0x08, 0x07, 0xba, 0x3e, 0x00};

	itest_setup(&f, NULL, 0);
	raw_stream_open(&st, f.g.address, NULL);
	raw_stream_hello(&st);
	raw_send_all(st.fd, unknown, sizeof(unknown));
	raw_stream_expect(&st, 7, CODE(UNIMPLEMENTED));
	/* Still usable. */
	raw_send_ping(st.fd, 8);
	fr = raw_stream_read(&st);
	ASSERT_EQ_UINT(fr->reply->id, 8);
	grid__v1__server_frame__free_unpacked(fr, NULL);
	/* Id 0 is reserved for the connection itself. */
	raw_send_ping(st.fd, 0);
	expect_goodbye(&st, CODE(INVALID_ARGUMENT));
	itest_teardown(&f);
}

TEST(many_requests_in_one_write_and_half_close)
{
	struct itest_fix f;
	struct raw_stream st;
	Grid__V1__Request req;
	Grid__V1__Ping p;
	uint8_t *buf;
	size_t one, n = 500, off = 0;
	bool seen[501] = {false};

	itest_setup(&f, NULL, 0);
	raw_stream_open(&st, f.g.address, NULL);
	raw_stream_hello(&st);
	raw_ping_request(&req, &p, 1000);
	one = grid__v1__request__get_packed_size(&req) + 4;
	buf = malloc(one * n);
	for (size_t i = 1; i <= n; i++) {
		req.id = 1000 + i;
		size_t len = grid__v1__request__get_packed_size(&req);
		frame_put_header(buf + off, (uint32_t)len);
		grid__v1__request__pack(&req, buf + off + 4);
		off += len + 4;
	}
	raw_send_all(st.fd, buf, off);
	free(buf);
	/* The client is done sending; it still gets every reply. */
	shutdown(st.fd, SHUT_WR);
	for (size_t i = 0; i < n; i++) {
		Grid__V1__ServerFrame *fr = raw_stream_read(&st);
		ASSERT_MSG(fr != NULL, "connection closed after %zu of %zu replies", i, n);
		uint64_t id = fr->reply->id;
		ASSERT(id > 1000 && id <= 1000 + n);
		ASSERT(!seen[id - 1000]);
		seen[id - 1000] = true;
		ASSERT_EQ_INT(fr->reply->status->code, CODE(OK));
		grid__v1__server_frame__free_unpacked(fr, NULL);
	}
	ASSERT(raw_stream_closed(&st, RAW_WAIT_MS));
	raw_stream_close(&st);
	itest_teardown(&f);
}

TEST(hello_timeout_closes_silent_peers)
{
	struct itest_fix f;
	struct raw_stream st;
	const char *const extra[] = {"--set", "limits.login_timeout_ms=1000", NULL};
	Grid__V1__ServerFrame *fr;
	uint64_t t0;

	itest_setup(&f, extra, 0);
	raw_stream_open(&st, f.g.address, NULL);
	t0 = itest_now_ms();
	fr = raw_stream_read(&st);
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(DEADLINE_EXCEEDED));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(raw_stream_closed(&st, RAW_WAIT_MS));
	ASSERT(itest_now_ms() - t0 < 5000);
	raw_stream_close(&st);
	itest_teardown(&f);
}

TEST(connection_limit)
{
	struct itest_fix f;
	const char *const extra[] = {"--set", "limits.max_connections=3", NULL};
	Grid__V1__ServerFrame *fr;
	struct raw_stream conns[3], st;

	itest_setup(&f, extra, 0);
	for (int i = 0; i < 3; i++) {
		raw_stream_open(&conns[i], f.g.address, NULL);
		raw_stream_hello(&conns[i]);
	}
	raw_stream_open(&st, f.g.address, NULL);
	fr = raw_stream_read(&st);
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(raw_stream_closed(&st, RAW_WAIT_MS));
	raw_stream_close(&st);
	/* One leaves, another may come. */
	raw_stream_close(&conns[0]);
	uint64_t deadline = itest_now_ms() + 5000;
	bool ok = false;
	while (!ok && itest_now_ms() < deadline) {
		Grid__V1__Request req;
		Grid__V1__Hello h;
		raw_stream_open(&st, f.g.address, NULL);
		raw_hello_request(&req, &h, 1);
		raw_send(st.fd, &req);
		fr = raw_stream_read(&st);
		ok = fr && fr->reply->status->code == CODE(OK);
		if (fr)
			grid__v1__server_frame__free_unpacked(fr, NULL);
		raw_stream_close(&st);
		if (!ok)
			usleep(20000);
	}
	ASSERT(ok);
	raw_stream_close(&conns[1]);
	raw_stream_close(&conns[2]);
	itest_teardown(&f);
}
