/* libFuzzer target: request decoding and dispatch, up to the database.
 *
 * Input: one byte choosing who the connection is (its low bits, modulo
 * FUZZ_MODE_COUNT: before Hello, anonymous, or logged in with one of
 * several roles) and, in its top bit, whether the rest is one
 * grid.v1.Request or several, each after a length byte. They go to the
 * in-process server (harness.c) as frames on a fresh connection: rpc.c
 * decodes them, checks them, authorizes the call against the grid cache and
 * runs its handler, which answers from the cache or fails at the pool (no
 * PostgreSQL).
 *
 * What must hold, besides not crashing: the output is well-formed; a
 * request that decodes, has an id and may be made now gets exactly one
 * reply with its id; anything else gets exactly one connection error
 * (reply id 0) and the connection closes (see single() and pipelined()).
 *
 * Built by scripts/fuzz with clang (-fsanitize=fuzzer); replayed over
 * fuzz/corpus/request and fuzz/regressions/request by the normal test suite
 * (replay.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "fuzz/harness.h"
#include "proto/rpc.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the server should do with the request: answer it (its id), or
 * close the connection with an error. */
static bool expect_reply(enum fuzz_mode mode, const uint8_t *p, size_t len, size_t limit,
			 uint64_t *ret_id)
{
	Grid__V1__Request *req;
	bool ok;

	if (len > limit)
		return false;
	req = grid__v1__request__unpack(NULL, len, p);
	if (!req)
		return false;
	ok = req->id != 0 &&
	     (mode != FUZZ_MODE_NEW || req->call_case == GRID__V1__REQUEST__CALL_HELLO);
	*ret_id = req->id;
	grid__v1__request__free_unpacked(req, NULL);
	return ok;
}

/* One request alone: exactly one reply with its id, or one connection
 * error when the server must refuse it. */
static void single(enum fuzz_mode mode, const uint8_t *data, size_t size)
{
	struct fuzz_conn fc;
	struct fuzz_output out;
	uint8_t hdr[FRAME_HEADER_SIZE];
	size_t limit = mode >= FUZZ_MODE_ADMIN ? fuzz_max_frame() : fuzz_max_frame_before_login();
	uint64_t id = 0;
	bool answer = expect_reply(mode, data, size, limit, &id);

	fuzz_conn_open(&fc, mode);
	frame_put_header(hdr, (uint32_t)size);
	fuzz_conn_send(&fc, hdr, sizeof(hdr));
	fuzz_conn_send(&fc, data, size);
	fuzz_conn_close(&fc);

	fuzz_output_parse(&fc, &out);
	if (answer) {
		if (out.replies != 1 || out.ids[0] != id)
			fuzz_fail("request id %llu got %zu replies (first id %llu), expected one",
				  (unsigned long long)id, out.replies,
				  out.replies ? (unsigned long long)out.ids[0] : 0ULL);
	} else if (out.replies != 1 || out.conn_errors != 1) {
		fuzz_fail("a request the server must refuse got %zu replies, %zu of them "
			  "connection errors; expected one connection error",
			  out.replies, out.conn_errors);
	}
	fuzz_output_finish(&out);
	fuzz_conn_finish(&fc);
}

#define MAX_PIPELINED 64

/* Several requests, each a length byte and that many bytes, sent as frames
 * in one write (a pipelining client). Unless the connection was closed
 * with an error, every request was read, so every one must have decoded
 * with an id and got exactly one reply; either way no reply may carry an
 * id that was not asked for, nor come twice. */
static void pipelined(enum fuzz_mode mode, const uint8_t *data, size_t size)
{
	uint64_t ids[MAX_PIPELINED];
	bool used[MAX_PIPELINED] = {false};
	uint8_t stream[MAX_PIPELINED * (FRAME_HEADER_SIZE + 255)];
	size_t nreq = 0, len = 0, off = 0;
	struct fuzz_conn fc;
	struct fuzz_output out;

	while (off < size && nreq < MAX_PIPELINED) {
		size_t n = data[off++];
		Grid__V1__Request *req;
		if (n > size - off)
			n = size - off;
		req = grid__v1__request__unpack(NULL, n, data + off);
		ids[nreq++] = req ? req->id : 0;
		if (req)
			grid__v1__request__free_unpacked(req, NULL);
		frame_put_header(stream + len, (uint32_t)n);
		memcpy(stream + len + FRAME_HEADER_SIZE, data + off, n);
		len += FRAME_HEADER_SIZE + n;
		off += n;
	}

	fuzz_conn_open(&fc, mode);
	fuzz_conn_send(&fc, stream, len);
	fuzz_conn_close(&fc);
	fuzz_output_parse(&fc, &out);

	if (out.conn_errors > 1)
		fuzz_fail("%zu connection errors on one connection", out.conn_errors);
	for (size_t r = 0; r < out.replies; r++) {
		size_t i;
		if (out.ids[r] == 0)
			continue;
		for (i = 0; i < nreq; i++)
			if (!used[i] && ids[i] == out.ids[r])
				break;
		if (i == nreq)
			fuzz_fail("a reply with id %llu, which no request (left) had",
				  (unsigned long long)out.ids[r]);
		used[i] = true;
	}
	if (out.conn_errors == 0)
		for (size_t i = 0; i < nreq; i++)
			if (!used[i])
				fuzz_fail("request %zu of %zu (id %llu) got no reply and the "
					  "connection was not closed with an error",
					  i + 1, nreq, (unsigned long long)ids[i]);
	fuzz_output_finish(&out);
	fuzz_conn_finish(&fc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum fuzz_mode mode;

	if (size < 1)
		return 0;
	fuzz_init();
	mode = (enum fuzz_mode)((data[0] & 0x7f) % FUZZ_MODE_COUNT);
	if (data[0] & 0x80)
		pipelined(mode, data + 1, size - 1);
	else
		single(mode, data + 1, size - 1);
	return 0;
}
