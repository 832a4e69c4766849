/* Length-prefixed frame reader; see frame.h. Called by server/net/conn.c and
 * client/gridclient.c for every read from a socket. */
#include "common/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void frame_reader_init(struct frame_reader *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max > FRAME_MAX_LIMIT ? FRAME_MAX_LIMIT : max;
}

void frame_reader_finish(struct frame_reader *r)
{
	free(r->body);
	r->body = NULL;
	r->hdr_len = 0;
	r->body_len = 0;
	r->body_need = 0;
}

void frame_reader_set_max(struct frame_reader *r, size_t max)
{
	r->max = max > FRAME_MAX_LIMIT ? FRAME_MAX_LIMIT : max;
}

int frame_reader_partial(const struct frame_reader *r)
{
	return r->hdr_len > 0;
}

size_t frame_reader_buffered(const struct frame_reader *r)
{
	return r->hdr_len + r->body_len;
}

void frame_put_header(uint8_t out[FRAME_HEADER_SIZE], uint32_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}

uint32_t frame_get_header(const uint8_t in[FRAME_HEADER_SIZE])
{
	return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

static void reset_partial(struct frame_reader *r)
{
	free(r->body);
	r->body = NULL;
	r->hdr_len = 0;
	r->body_len = 0;
	r->body_need = 0;
}

int frame_reader_feed(struct frame_reader *r, const uint8_t *p, size_t len, size_t *ret_consumed,
		      frame_cb cb, void *data)
{
	size_t off = 0;
	int rc;

	*ret_consumed = 0;
	while (off < len) {
		/* Finish a header that an earlier read left incomplete. */
		if (r->hdr_len > 0 && r->hdr_len < FRAME_HEADER_SIZE) {
			size_t n = FRAME_HEADER_SIZE - r->hdr_len;
			if (n > len - off)
				n = len - off;
			memcpy(r->hdr + r->hdr_len, p + off, n);
			r->hdr_len += n;
			off += n;
			if (r->hdr_len < FRAME_HEADER_SIZE)
				break;
			r->body_need = frame_get_header(r->hdr);
			if (r->body_need > r->max) {
				*ret_consumed = off;
				return -EMSGSIZE;
			}
			if (r->body_need > 0) {
				r->body = malloc(r->body_need);
				if (!r->body)
					return -ENOMEM;
			}
		}

		/* Continue a partial body. */
		if (r->hdr_len == FRAME_HEADER_SIZE) {
			size_t n = r->body_need - r->body_len;
			if (n > len - off)
				n = len - off;
			if (n)
				memcpy(r->body + r->body_len, p + off, n);
			r->body_len += n;
			off += n;
			if (r->body_len < r->body_need)
				break;
			/* The frame is whole; hand it over, then forget it.
			 * The body is kept alive across the callback. */
			uint8_t *body = r->body;
			size_t blen = r->body_need;
			r->body = NULL;
			r->hdr_len = 0;
			r->body_len = 0;
			r->body_need = 0;
			rc = cb(data, body ? body : (const uint8_t *)"", blen);
			free(body);
			*ret_consumed = off;
			if (rc != 0)
				return rc < 0 ? rc : 0;
			continue;
		}

		/* At a frame boundary: take whole frames straight from the
		 * caller's bytes, without copying. */
		if (len - off >= FRAME_HEADER_SIZE) {
			uint32_t n = frame_get_header(p + off);
			if (n > r->max) {
				*ret_consumed = off + FRAME_HEADER_SIZE;
				return -EMSGSIZE;
			}
			if (len - off - FRAME_HEADER_SIZE >= n) {
				off += FRAME_HEADER_SIZE;
				rc = cb(data, p + off, n);
				off += n;
				*ret_consumed = off;
				if (rc != 0)
					return rc < 0 ? rc : 0;
				continue;
			}
			/* Only part of the body is here: keep it. */
			memcpy(r->hdr, p + off, FRAME_HEADER_SIZE);
			r->hdr_len = FRAME_HEADER_SIZE;
			r->body_need = n;
			r->body_len = 0;
			r->body = malloc(n);
			if (!r->body) {
				reset_partial(r);
				return -ENOMEM;
			}
			off += FRAME_HEADER_SIZE;
			continue;
		}

		/* Less than a header: keep the bytes. */
		memcpy(r->hdr, p + off, len - off);
		r->hdr_len = len - off;
		off = len;
	}
	*ret_consumed = off;
	return 0;
}
