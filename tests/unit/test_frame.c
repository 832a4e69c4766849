/* Framing: frames split at every byte, many frames in one read, the exact
 * limit and one past it, a zero-length frame, a callback that pauses, and
 * that an oversize header allocates nothing. */
#include <errno.h>

#include "common/buf.h"
#include "common/frame.h"
#include "tests/harness/test.h"

struct seen {
	int count;
	size_t lens[64];
	uint8_t first[64];
	int stop_after; /* pause after this many frames (0 = never) */
};

static int on_frame(void *data, const uint8_t *p, size_t len)
{
	struct seen *s = data;

	s->lens[s->count] = len;
	s->first[s->count] = len ? p[0] : 0;
	s->count++;
	return s->stop_after && s->count == s->stop_after ? 1 : 0;
}

static void put_frame(struct buf *b, uint8_t fill, size_t len)
{
	uint8_t hdr[4];

	frame_put_header(hdr, (uint32_t)len);
	buf_append(b, hdr, 4);
	for (size_t i = 0; i < len; i++)
		buf_putc(b, (char)(fill + (i == 0 ? 0 : 1)));
}

TEST(header_round_trip)
{
	uint8_t h[4];

	frame_put_header(h, 0x01020304u);
	ASSERT_EQ_UINT(h[0], 1);
	ASSERT_EQ_UINT(h[3], 4);
	ASSERT_EQ_UINT(frame_get_header(h), 0x01020304u);
	frame_put_header(h, 0xffffffffu);
	ASSERT_EQ_UINT(frame_get_header(h), 0xffffffffu);
}

TEST(many_frames_in_one_read)
{
	struct frame_reader r;
	struct buf b;
	struct seen s = {0};
	size_t used;

	buf_init(&b, 0);
	for (int i = 0; i < 10; i++)
		put_frame(&b, (uint8_t)('a' + i), (size_t)i * 7 + 1);
	frame_reader_init(&r, 1024);
	ASSERT_EQ_INT(frame_reader_feed(&r, b.data, b.len, &used, on_frame, &s), 0);
	ASSERT_EQ_UINT(used, b.len);
	ASSERT_EQ_INT(s.count, 10);
	for (int i = 0; i < 10; i++) {
		ASSERT_EQ_UINT(s.lens[i], (size_t)i * 7 + 1);
		ASSERT_EQ_UINT(s.first[i], 'a' + i);
	}
	ASSERT(!frame_reader_partial(&r));
	frame_reader_finish(&r);
	buf_finish(&b);
}

TEST(split_at_every_byte)
{
	struct buf b;

	buf_init(&b, 0);
	put_frame(&b, 'x', 5);
	put_frame(&b, 'y', 0);
	put_frame(&b, 'z', 300);
	/* Cut the stream at every possible point into two reads. */
	for (size_t cut = 0; cut <= b.len; cut++) {
		struct frame_reader r;
		struct seen s = {0};
		size_t used;

		frame_reader_init(&r, 1024);
		ASSERT_EQ_INT(frame_reader_feed(&r, b.data, cut, &used, on_frame, &s), 0);
		ASSERT_EQ_UINT(used, cut);
		ASSERT_EQ_INT(frame_reader_feed(&r, b.data + cut, b.len - cut, &used, on_frame, &s),
			      0);
		ASSERT_EQ_INT(s.count, 3);
		ASSERT_EQ_UINT(s.lens[0], 5);
		ASSERT_EQ_UINT(s.first[0], 'x');
		ASSERT_EQ_UINT(s.lens[1], 0);
		ASSERT_EQ_UINT(s.lens[2], 300);
		ASSERT_EQ_UINT(s.first[2], 'z');
		frame_reader_finish(&r);
	}
	buf_finish(&b);
}

TEST(one_byte_at_a_time)
{
	struct frame_reader r;
	struct buf b;
	struct seen s = {0};
	size_t used;

	buf_init(&b, 0);
	put_frame(&b, 'q', 17);
	put_frame(&b, 'r', 3);
	frame_reader_init(&r, 64);
	for (size_t i = 0; i < b.len; i++) {
		ASSERT_EQ_INT(frame_reader_feed(&r, b.data + i, 1, &used, on_frame, &s), 0);
		ASSERT_EQ_UINT(used, 1);
		if (i + 1 < 21)
			ASSERT_EQ_INT(s.count, 0);
	}
	ASSERT_EQ_INT(s.count, 2);
	ASSERT_EQ_UINT(s.lens[0], 17);
	ASSERT_EQ_UINT(s.lens[1], 3);
	frame_reader_finish(&r);
	buf_finish(&b);
}

TEST(exact_limit_is_accepted)
{
	struct frame_reader r;
	struct buf b;
	struct seen s = {0};
	size_t used;

	buf_init(&b, 0);
	put_frame(&b, 'L', 100);
	frame_reader_init(&r, 100);
	ASSERT_EQ_INT(frame_reader_feed(&r, b.data, b.len, &used, on_frame, &s), 0);
	ASSERT_EQ_INT(s.count, 1);
	ASSERT_EQ_UINT(s.lens[0], 100);
	frame_reader_finish(&r);
	buf_finish(&b);
}

TEST(over_limit_is_refused_before_allocating)
{
	struct frame_reader r;
	struct seen s = {0};
	uint8_t hdr[4];
	size_t used;

	/* Whole header in one read. */
	frame_put_header(hdr, 101);
	frame_reader_init(&r, 100);
	ASSERT_EQ_INT(frame_reader_feed(&r, hdr, 4, &used, on_frame, &s), -EMSGSIZE);
	ASSERT_EQ_INT(s.count, 0);
	ASSERT(r.body == NULL);
	frame_reader_finish(&r);

	/* Header split over reads, announcing 4 GiB - 1. */
	frame_put_header(hdr, 0xffffffffu);
	frame_reader_init(&r, 100);
	ASSERT_EQ_INT(frame_reader_feed(&r, hdr, 2, &used, on_frame, &s), 0);
	ASSERT_EQ_INT(frame_reader_feed(&r, hdr + 2, 2, &used, on_frame, &s), -EMSGSIZE);
	ASSERT(r.body == NULL);
	ASSERT_EQ_INT(s.count, 0);
	frame_reader_finish(&r);
}

TEST(limit_can_grow_after_hello)
{
	struct frame_reader r;
	struct buf b;
	struct seen s = {0};
	size_t used;

	buf_init(&b, 0);
	put_frame(&b, 'B', 500);
	frame_reader_init(&r, 100);
	frame_reader_set_max(&r, 1000);
	ASSERT_EQ_INT(frame_reader_feed(&r, b.data, b.len, &used, on_frame, &s), 0);
	ASSERT_EQ_INT(s.count, 1);
	frame_reader_finish(&r);
	buf_finish(&b);
}

TEST(pause_reports_consumed)
{
	struct frame_reader r;
	struct buf b;
	struct seen s = {.stop_after = 2};
	size_t used, frame = 4 + 10;

	buf_init(&b, 0);
	for (int i = 0; i < 4; i++)
		put_frame(&b, (uint8_t)('0' + i), 10);
	frame_reader_init(&r, 100);
	ASSERT_EQ_INT(frame_reader_feed(&r, b.data, b.len, &used, on_frame, &s), 0);
	ASSERT_EQ_INT(s.count, 2);
	ASSERT_EQ_UINT(used, 2 * frame);
	/* Feeding the rest later delivers the rest in order. */
	s.stop_after = 0;
	ASSERT_EQ_INT(frame_reader_feed(&r, b.data + used, b.len - used, &used, on_frame, &s), 0);
	ASSERT_EQ_INT(s.count, 4);
	ASSERT_EQ_UINT(s.first[3], '3');
	frame_reader_finish(&r);
	buf_finish(&b);
}

TEST(partial_frame_is_counted)
{
	struct frame_reader r;
	struct buf b;
	struct seen s = {0};
	size_t used;

	buf_init(&b, 0);
	put_frame(&b, 'p', 50);
	frame_reader_init(&r, 100);
	ASSERT_EQ_INT(frame_reader_feed(&r, b.data, 30, &used, on_frame, &s), 0);
	ASSERT(frame_reader_partial(&r));
	ASSERT_EQ_UINT(frame_reader_buffered(&r), 30);
	frame_reader_finish(&r);
	buf_finish(&b);
}
