/* Streaming JSON writer; see json.h. gridctl's --json output and the
 * server's machine-readable dumps call it.
 *
 * The writer keeps, per open container, whether it is an object and
 * whether a comma is due, so callers only say what comes next. Misuse (a
 * value without its key in an object, a key in an array, closing the wrong
 * kind of container, nesting deeper than JSON_MAX_DEPTH, a second top-level
 * value) records -EINVAL in w->err; after the first error every call does
 * nothing, so a caller checks once, in json_writer_finish(). Pretty output
 * has no final newline; the caller adds one if it prints to a terminal.
 */
#include "common/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

void json_writer_init(struct json_writer *w, struct buf *out, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->pretty = pretty;
}

static void set_err(struct json_writer *w, int err)
{
	if (w->err == 0)
		w->err = err;
}

static void put(struct json_writer *w, const char *s, size_t n)
{
	if (w->err == 0 && buf_append(w->out, s, n) < 0)
		set_err(w, -ENOMEM);
}

static void put_str(struct json_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void newline_indent(struct json_writer *w, int depth)
{
	if (!w->pretty)
		return;
	put(w, "\n", 1);
	for (int i = 0; i < depth; i++)
		put(w, "  ", 2);
}

/* Everything a value needs before it: a check that a value may come here,
 * the comma and, in pretty mode, the line break. Returns false when the
 * value must not be written. */
static bool begin_value(struct json_writer *w)
{
	if (w->err)
		return false;
	if (w->depth == 0) {
		/* need_comma[0] marks that the one top-level value is done. */
		if (w->need_comma[0]) {
			set_err(w, -EINVAL);
			return false;
		}
		w->need_comma[0] = true;
		return true;
	}
	if (w->after_key) {
		w->after_key = false;
		return true;
	}
	if (w->in_object[w->depth]) {
		set_err(w, -EINVAL);
		return false;
	}
	if (w->need_comma[w->depth])
		put(w, ",", 1);
	newline_indent(w, w->depth);
	w->need_comma[w->depth] = true;
	return w->err == 0;
}

static void begin_container(struct json_writer *w, bool object)
{
	if (w->err)
		return;
	if (w->depth == JSON_MAX_DEPTH) {
		set_err(w, -EINVAL);
		return;
	}
	if (!begin_value(w))
		return;
	put(w, object ? "{" : "[", 1);
	w->depth++;
	w->need_comma[w->depth] = false;
	w->in_object[w->depth] = object;
}

static void end_container(struct json_writer *w, bool object)
{
	if (w->err)
		return;
	if (w->depth == 0 || w->in_object[w->depth] != object || w->after_key) {
		set_err(w, -EINVAL);
		return;
	}
	/* An empty container stays on one line: {} and []. */
	if (w->need_comma[w->depth])
		newline_indent(w, w->depth - 1);
	put(w, object ? "}" : "]", 1);
	w->depth--;
}

void json_begin_object(struct json_writer *w)
{
	begin_container(w, true);
}

void json_end_object(struct json_writer *w)
{
	end_container(w, true);
}

void json_begin_array(struct json_writer *w)
{
	begin_container(w, false);
}

void json_end_array(struct json_writer *w)
{
	end_container(w, false);
}

static void put_escaped(struct json_writer *w, const char *s, size_t len)
{
	size_t i = 0;

	put(w, "\"", 1);
	while (i < len && w->err == 0) {
		size_t run = i;
		unsigned char c;

		/* Copy plain ASCII in runs; stop at anything to escape or check. */
		while (run < len) {
			c = (unsigned char)s[run];
			if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80)
				break;
			run++;
		}
		put(w, s + i, run - i);
		i = run;
		if (i == len)
			break;

		c = (unsigned char)s[i];
		if (c >= 0x80) {
			uint32_t cp;
			int n = utf8_decode(s + i, len - i, &cp);

			if (n < 0) {
				put(w, "\xEF\xBF\xBD", 3); /* U+FFFD */
				i++;
			} else {
				put(w, s + i, (size_t)n);
				i += (size_t)n;
			}
			continue;
		}
		switch (c) {
		case '"':
			put(w, "\\\"", 2);
			break;
		case '\\':
			put(w, "\\\\", 2);
			break;
		case '\n':
			put(w, "\\n", 2);
			break;
		case '\r':
			put(w, "\\r", 2);
			break;
		case '\t':
			put(w, "\\t", 2);
			break;
		case '\b':
			put(w, "\\b", 2);
			break;
		case '\f':
			put(w, "\\f", 2);
			break;
		default: {
			char esc[8];

			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(w, esc, 6);
			break;
		}
		}
		i++;
	}
	put(w, "\"", 1);
}

void json_key(struct json_writer *w, const char *key)
{
	if (w->err)
		return;
	if (w->depth == 0 || !w->in_object[w->depth] || w->after_key || !key) {
		set_err(w, -EINVAL);
		return;
	}
	if (w->need_comma[w->depth])
		put(w, ",", 1);
	newline_indent(w, w->depth);
	w->need_comma[w->depth] = true;
	put_escaped(w, key, strlen(key));
	put_str(w, w->pretty ? ": " : ":");
	w->after_key = true;
}

void json_string_len(struct json_writer *w, const char *s, size_t len)
{
	if (!s) {
		json_null(w);
		return;
	}
	if (begin_value(w))
		put_escaped(w, s, len);
}

void json_string(struct json_writer *w, const char *s)
{
	json_string_len(w, s, s ? strlen(s) : 0);
}

void json_int(struct json_writer *w, int64_t v)
{
	char tmp[32];

	if (!begin_value(w))
		return;
	snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	put_str(w, tmp);
}

void json_uint(struct json_writer *w, uint64_t v)
{
	char tmp[32];

	if (!begin_value(w))
		return;
	snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	put_str(w, tmp);
}

void json_double(struct json_writer *w, double v)
{
	char tmp[40];

	/* JSON has no NaN or infinity. */
	if (!isfinite(v)) {
		json_null(w);
		return;
	}
	if (!begin_value(w))
		return;
	/* The shortest of 15, 16 or 17 significant digits that reads back as
	 * the same double: 0.1 prints as 0.1, not 0.10000000000000001. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* A locale may have set a decimal comma (or a longer separator);
	 * JSON wants a point. */
	size_t at = strspn(tmp, "0123456789+-eE");
	if (tmp[at]) {
		size_t sep = strcspn(tmp + at, "0123456789+-eE");

		tmp[at] = '.';
		memmove(tmp + at + 1, tmp + at + sep, strlen(tmp + at + sep) + 1);
	}
	put_str(w, tmp);
}

void json_bool(struct json_writer *w, bool v)
{
	if (begin_value(w))
		put_str(w, v ? "true" : "false");
}

void json_null(struct json_writer *w)
{
	if (begin_value(w))
		put_str(w, "null");
}

int json_writer_finish(struct json_writer *w)
{
	/* Unclosed containers, a dangling key, or nothing written at all
	 * would leave text that is not JSON. */
	if (w->depth != 0 || w->after_key || !w->need_comma[0])
		set_err(w, -EINVAL);
	return w->err;
}
