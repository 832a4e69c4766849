/* libFuzzer target: how bytes become frames.
 *
 * Input: a flags byte, a count byte n (0-7), n chunk sizes, then a byte
 * stream. Two things read the stream:
 *
 * 1. common/frame.c's reader, fed in the chunks the sizes describe (as
 *    reads from a socket would cut it), with a limit the flags choose and a
 *    callback that sometimes asks to stop (as conn.c does when too many
 *    requests are in flight; the caller then feeds the rest again). The
 *    frames it delivers are compared with a plain reading of the whole
 *    stream: the same frames, the same refusal of an oversized header, the
 *    same bytes left over.
 * 2. A connection of the in-process server (harness.c), anonymous or
 *    logged in as the flags say, written the same chunks through a socket:
 *    conn.c's read path, limits and close, and rpc.c behind it. Its output
 *    must be well-formed, it must close once we stop sending, and a header
 *    over the limit must get a connection error.
 *
 * Built by scripts/fuzz with clang (-fsanitize=fuzzer); replayed over
 * fuzz/corpus/frame and fuzz/regressions/frame by the normal test suite
 * (replay.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "fuzz/harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CHUNKS 7

static const size_t reader_limits[] = {0, 1, 5, 64, 300, 16384};

struct chunks {
	size_t sizes[MAX_CHUNKS];
	size_t n;
};

/* The i-th piece of the stream: the chunk sizes in turn (0 = 1 byte),
 * cycling, so that a long stream is cut all along. */
static size_t chunk_size(const struct chunks *ch, size_t i, size_t left)
{
	size_t n = ch->n ? ch->sizes[i % ch->n] : left;

	if (n == 0)
		n = 1;
	return n < left ? n : left;
}

struct collected {
	const uint8_t *stream; /* the whole stream, for comparison */
	size_t expect_off;     /* where the next expected frame's header starts */
	size_t frames;
	unsigned stop_mask; /* bit i: stop after the i-th frame (mod 8) */
	size_t max;
};

static int on_frame(void *data, const uint8_t *payload, size_t len)
{
	struct collected *c = data;
	const uint8_t *hdr = c->stream + c->expect_off;
	uint32_t want = frame_get_header(hdr);

	if (want != len)
		fuzz_fail("frame %zu: the reader delivered %zu bytes, the header at %zu says %u",
			  c->frames, len, c->expect_off, want);
	if (len > c->max)
		fuzz_fail("frame %zu: %zu bytes delivered over the limit of %zu", c->frames, len,
			  c->max);
	if (len && memcmp(payload, hdr + FRAME_HEADER_SIZE, len) != 0)
		fuzz_fail("frame %zu: the payload differs from the stream's bytes", c->frames);
	c->expect_off += FRAME_HEADER_SIZE + len;
	c->frames++;
	return (c->stop_mask >> (c->frames % 8)) & 1;
}

/* The plain reading: frames until the stream ends or a header exceeds max.
 * Returns the number of whole frames; *ret_end is where they end,
 * *ret_oversize whether a header over the limit follows them. */
static size_t reference(const uint8_t *p, size_t len, size_t max, size_t *ret_end,
			bool *ret_oversize)
{
	size_t off = 0, n = 0;

	*ret_oversize = false;
	while (len - off >= FRAME_HEADER_SIZE) {
		uint32_t body = frame_get_header(p + off);
		if (body > max) {
			*ret_oversize = true;
			break;
		}
		if (len - off - FRAME_HEADER_SIZE < body)
			break;
		off += FRAME_HEADER_SIZE + body;
		n++;
	}
	*ret_end = off;
	return n;
}

static void check_reader(const uint8_t *stream, size_t len, const struct chunks *ch, uint8_t flags)
{
	struct collected c = {stream, 0, 0, flags, 0};
	struct frame_reader r;
	size_t max =
	    reader_limits[(flags >> 4) % (sizeof(reader_limits) / sizeof(reader_limits[0]))];
	size_t off = 0, piece = 0, want_frames, want_end;
	bool want_oversize, oversize = false;

	c.max = max;
	frame_reader_init(&r, max);
	while (off < len) {
		size_t n = chunk_size(ch, piece++, len - off), used = 0;
		/* A stop leaves the rest of the piece to be fed again, as
		 * conn.c does with its stash. */
		while (n > 0) {
			int rc = frame_reader_feed(&r, stream + off, n, &used, on_frame, &c);
			if (used > n)
				fuzz_fail("the reader consumed %zu of %zu bytes", used, n);
			off += used;
			n -= used;
			if (rc == -EMSGSIZE) {
				oversize = true;
				break;
			}
			if (rc < 0)
				fuzz_fail("frame_reader_feed: %s", strerror(-rc));
			if (used == 0 && n > 0)
				fuzz_fail("the reader made no progress on %zu bytes", n);
		}
		if (oversize)
			break;
	}

	want_frames = reference(stream, len, max, &want_end, &want_oversize);
	if (c.frames != want_frames)
		fuzz_fail("the reader delivered %zu frames, the stream holds %zu", c.frames,
			  want_frames);
	if (oversize != want_oversize)
		fuzz_fail("the reader %s an oversized header, the stream %s one",
			  oversize ? "reported" : "did not report",
			  want_oversize ? "has" : "has not");
	if (oversize && off != want_end + FRAME_HEADER_SIZE)
		fuzz_fail("the oversized header ends at %zu, the reader said %zu",
			  want_end + FRAME_HEADER_SIZE, off);
	if (!oversize && frame_reader_buffered(&r) != len - want_end)
		fuzz_fail("the reader holds %zu bytes of a partial frame, %zu are left",
			  frame_reader_buffered(&r), len - want_end);
	if (!oversize && frame_reader_partial(&r) != (len > want_end))
		fuzz_fail("frame_reader_partial is wrong");
	frame_reader_finish(&r);
}

static void check_connection(const uint8_t *stream, size_t len, const struct chunks *ch,
			     uint8_t flags)
{
	enum fuzz_mode mode = (flags & 1) ? FUZZ_MODE_ADMIN : FUZZ_MODE_NEW;
	size_t limit = mode == FUZZ_MODE_ADMIN ? fuzz_max_frame() : fuzz_max_frame_before_login();
	struct fuzz_conn fc;
	struct fuzz_output out;
	size_t off = 0, piece = 0;
	bool oversize_first = len >= FRAME_HEADER_SIZE && frame_get_header(stream) > limit;

	fuzz_conn_open(&fc, mode);
	while (off < len && !fc.eof) {
		size_t n = chunk_size(ch, piece++, len - off);
		fuzz_conn_send(&fc, stream + off, n);
		off += n;
	}
	fuzz_conn_close(&fc);
	fuzz_output_parse(&fc, &out);
	/* The first frame is refused before anything is allocated for it. */
	if (oversize_first && (out.replies != 1 || out.conn_errors != 1))
		fuzz_fail("an oversized first frame got %zu replies, %zu connection errors",
			  out.replies, out.conn_errors);
	if (out.conn_errors > 1)
		fuzz_fail("%zu connection errors on one connection", out.conn_errors);
	fuzz_output_finish(&out);
	fuzz_conn_finish(&fc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunks ch = {{0}, 0};
	uint8_t flags;

	if (size < 2)
		return 0;
	flags = data[0];
	ch.n = data[1] % (MAX_CHUNKS + 1);
	data += 2;
	size -= 2;
	if (size < ch.n)
		return 0;
	for (size_t i = 0; i < ch.n; i++)
		ch.sizes[i] = data[i];
	data += ch.n;
	size -= ch.n;

	check_reader(data, size, &ch, flags);
	fuzz_init();
	check_connection(data, size, &ch, flags);
	return 0;
}
