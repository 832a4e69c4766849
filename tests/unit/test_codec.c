/* Requests through the same steps gridd takes: framed, cut by the frame
 * reader, decoded into an arena. A truncated or corrupted message must
 * decode to NULL (never crash, never read past the frame). */
#include <errno.h>
#include <stdbool.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/frame.h"
#include "proto/rpc.pb-c.h"
#include "tests/harness/test.h"

static size_t pack_create(uint8_t *out, size_t cap)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateNodeRequest m = GRID__V1__CREATE_NODE_REQUEST__INIT;
	size_t n;

	req.id = 77;
	req.idempotency_key = (char *)"k-1";
	req.deadline_ms = 1500;
	m.parent_code = (char *)"WH-TZL-Z5";
	m.code = (char *)"WH-TZL-Z5-NEW";
	m.name = (char *)"新院落";
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_NODE;
	req.create_node = &m;
	n = grid__v1__request__get_packed_size(&req);
	ASSERT(n <= cap);
	grid__v1__request__pack(&req, out);
	return n;
}

struct got {
	struct arena arena;
	Grid__V1__Request *req;
	int frames;
};

static int on_frame(void *data, const uint8_t *p, size_t len)
{
	struct got *g = data;

	g->frames++;
	g->req = grid__v1__request__unpack(arena_allocator(&g->arena), len, p);
	return 0;
}

TEST(request_survives_framing_and_arena_decoding)
{
	uint8_t body[256], wire[260];
	struct frame_reader r;
	struct got g = {0};
	size_t n = pack_create(body, sizeof(body)), used;

	frame_put_header(wire, (uint32_t)n);
	memcpy(wire + 4, body, n);
	arena_init(&g.arena, 0);
	frame_reader_init(&r, 16384);
	/* In three uneven pieces. */
	ASSERT_EQ_INT(frame_reader_feed(&r, wire, 3, &used, on_frame, &g), 0);
	ASSERT_EQ_INT(frame_reader_feed(&r, wire + 3, 10, &used, on_frame, &g), 0);
	ASSERT_EQ_INT(g.frames, 0);
	ASSERT_EQ_INT(frame_reader_feed(&r, wire + 13, n + 4 - 13, &used, on_frame, &g), 0);
	ASSERT_EQ_INT(g.frames, 1);
	ASSERT_NOT_NULL(g.req);
	ASSERT_EQ_UINT(g.req->id, 77);
	ASSERT_EQ_STR(g.req->idempotency_key, "k-1");
	ASSERT_EQ_UINT(g.req->deadline_ms, 1500);
	ASSERT_EQ_INT(g.req->call_case, GRID__V1__REQUEST__CALL_CREATE_NODE);
	ASSERT_EQ_STR(g.req->create_node->name, "新院落");
	ASSERT_EQ_STR(g.req->create_node->code, "WH-TZL-Z5-NEW");
	/* Everything the decoder allocated is in the arena. */
	ASSERT(g.arena.total > 0);
	frame_reader_finish(&r);
	arena_finish(&g.arena);
}

TEST(every_truncation_fails_to_decode)
{
	uint8_t body[256];
	size_t n = pack_create(body, sizeof(body));

	/* Every strict prefix that ends inside a field is rejected; a prefix
	 * that happens to end between fields is a valid, shorter message,
	 * which is why the frame carries the length. */
	int rejected = 0;
	for (size_t cut = 1; cut < n; cut++) {
		struct arena a;
		arena_init(&a, 0);
		Grid__V1__Request *req = grid__v1__request__unpack(arena_allocator(&a), cut, body);
		if (!req)
			rejected++;
		else
			ASSERT(req->call_case != GRID__V1__REQUEST__CALL_CREATE_NODE ||
			       req->create_node != NULL);
		arena_finish(&a);
	}
	ASSERT(rejected >= (int)n / 2);
}

TEST(corrupted_lengths_fail_to_decode)
{
	uint8_t body[256];
	size_t n = pack_create(body, sizeof(body));
	struct arena a;

	/* The create_node field (number 25, wire type 2: tag bytes CA 01)
	 * starts after id, key and deadline; claim it is far longer than the
	 * frame. */
	bool found = false;
	for (size_t i = 0; i + 2 < n && !found; i++) {
		if (body[i] == 0xca && body[i + 1] == 0x01) {
			body[i + 2] = 0x7f;
			found = true;
		}
	}
	ASSERT(found);
	arena_init(&a, 0);
	ASSERT(grid__v1__request__unpack(arena_allocator(&a), n, body) == NULL);
	arena_finish(&a);

	/* A varint that never ends. */
	static const uint8_t endless[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
					  0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	arena_init(&a, 0);
	ASSERT(grid__v1__request__unpack(arena_allocator(&a), sizeof(endless), endless) == NULL);
	arena_finish(&a);
}
