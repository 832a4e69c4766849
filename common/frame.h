/* Framing of the wire protocol: a 4-byte big-endian length N, then N bytes
 * of one protobuf message.
 *
 * The reader is fed whatever bytes arrived and calls back once per complete
 * frame. It keeps at most one partial frame, in a block allocated only after
 * the header was checked against the limit, so a peer announcing a huge
 * frame costs nothing. Used by the server's connections and by the client
 * library; it knows nothing of sockets.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_SIZE 4
#define FRAME_MAX_LIMIT (64u * 1024 * 1024)

/* Called with one complete frame, borrowed for the duration of the call.
 * Return 0 to go on, a positive value to stop after this frame (the reader
 * reports how much it consumed), or a negative errno to fail. */
typedef int (*frame_cb)(void *data, const uint8_t *payload, size_t len);

struct frame_reader {
	size_t max; /* largest payload accepted */
	uint8_t hdr[FRAME_HEADER_SIZE];
	size_t hdr_len; /* header bytes of the partial frame so far */
	uint8_t *body;	/* partial body, exactly body_need bytes */
	size_t body_len;
	size_t body_need;
};

void frame_reader_init(struct frame_reader *r, size_t max);
void frame_reader_finish(struct frame_reader *r);
/* Changes the limit for frames whose header has not been read yet. */
void frame_reader_set_max(struct frame_reader *r, size_t max);
/* True when part of a frame is buffered. */
int frame_reader_partial(const struct frame_reader *r);
/* Bytes held for the partial frame. */
size_t frame_reader_buffered(const struct frame_reader *r);

/* Feeds len bytes. On success returns 0 and sets *ret_consumed to the bytes
 * used, which is less than len only when cb asked to stop. Errors:
 * -EMSGSIZE when a header announces more than the limit (*ret_consumed then
 * tells where that header ended), -ENOMEM, or whatever cb returned. After an
 * error the reader must not be fed again. */
int frame_reader_feed(struct frame_reader *r, const uint8_t *p, size_t len, size_t *ret_consumed,
		      frame_cb cb, void *data);

void frame_put_header(uint8_t out[FRAME_HEADER_SIZE], uint32_t len);
uint32_t frame_get_header(const uint8_t in[FRAME_HEADER_SIZE]);
