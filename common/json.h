/* A small streaming JSON writer for gridctl's --json output and for the
 * server's machine-readable dumps. It tracks commas itself; strings are
 * escaped per RFC 8259 and invalid UTF-8 is replaced by U+FFFD so the
 * output is always valid JSON.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define JSON_MAX_DEPTH 32

struct json_writer {
	struct buf *out; /* borrowed */
	int depth;
	bool need_comma[JSON_MAX_DEPTH + 1];
	bool in_object[JSON_MAX_DEPTH + 1]; /* else an array (or the top level) */
	bool after_key;
	bool pretty; /* two-space indentation and newlines */
	int err;     /* first error (-ENOMEM, -EINVAL on misuse) */
};

void json_writer_init(struct json_writer *w, struct buf *out, bool pretty);
void json_begin_object(struct json_writer *w);
void json_end_object(struct json_writer *w);
void json_begin_array(struct json_writer *w);
void json_end_array(struct json_writer *w);
/* Inside an object, every value is preceded by its key. */
void json_key(struct json_writer *w, const char *key);
void json_string(struct json_writer *w, const char *s); /* NULL writes null */
void json_string_len(struct json_writer *w, const char *s, size_t len);
void json_int(struct json_writer *w, int64_t v);
void json_uint(struct json_writer *w, uint64_t v);
void json_double(struct json_writer *w, double v); /* non-finite writes null */
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);
/* 0, or the first error met; call at the end. A document left incomplete
 * (containers open, a key without its value, nothing written) is -EINVAL. */
int json_writer_finish(struct json_writer *w);
