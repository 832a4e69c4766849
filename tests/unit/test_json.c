/* Unit tests for common/json.c, the streaming writer behind gridctl --json
 * and the server's dumps: exact compact and pretty output, string escaping
 * and U+FFFD replacement, number formats, and every kind of misuse.
 */
#include "tests/harness/test.h"

#include <errno.h>
#include <math.h>

#include "common/json.h"
#include "common/utf8.h"

struct fixture {
	struct buf out;
	struct json_writer w;
};

static void start(struct fixture *f, bool pretty)
{
	buf_init(&f->out, 0);
	json_writer_init(&f->w, &f->out, pretty);
}

/* Finishes the writer, checks it succeeded, and returns the text. */
static const char *text(struct fixture *f)
{
	ASSERT_EQ_INT(json_writer_finish(&f->w), 0);
	ASSERT(utf8_valid((const char *)f->out.data, f->out.len));
	return buf_cstr(&f->out);
}

static void write_node(struct json_writer *w)
{
	json_begin_object(w);
	json_key(w, "id");
	json_int(w, 42);
	json_key(w, "name");
	json_string(w, "桐梓林社区");
	json_key(w, "active");
	json_bool(w, true);
	json_key(w, "archived");
	json_bool(w, false);
	json_key(w, "parent");
	json_null(w);
	json_key(w, "children");
	json_begin_array(w);
	json_uint(w, 7);
	json_begin_object(w);
	json_key(w, "code");
	json_string(w, "B1");
	json_end_object(w);
	json_begin_array(w);
	json_end_array(w);
	json_end_array(w);
	json_key(w, "tags");
	json_begin_object(w);
	json_end_object(w);
	json_end_object(w);
}

TEST(compact_output)
{
	struct fixture f;

	start(&f, false);
	write_node(&f.w);
	ASSERT_EQ_STR(text(&f), "{\"id\":42,\"name\":\"桐梓林社区\",\"active\":true,"
				"\"archived\":false,\"parent\":null,"
				"\"children\":[7,{\"code\":\"B1\"},[]],\"tags\":{}}");
	buf_finish(&f.out);
}

TEST(pretty_output)
{
	struct fixture f;

	start(&f, true);
	write_node(&f.w);
	ASSERT_EQ_STR(text(&f), "{\n"
				"  \"id\": 42,\n"
				"  \"name\": \"桐梓林社区\",\n"
				"  \"active\": true,\n"
				"  \"archived\": false,\n"
				"  \"parent\": null,\n"
				"  \"children\": [\n"
				"    7,\n"
				"    {\n"
				"      \"code\": \"B1\"\n"
				"    },\n"
				"    []\n"
				"  ],\n"
				"  \"tags\": {}\n"
				"}");
	buf_finish(&f.out);
}

TEST(top_level_scalars_and_arrays)
{
	struct fixture f;

	start(&f, false);
	json_string(&f.w, "x");
	ASSERT_EQ_STR(text(&f), "\"x\"");
	buf_finish(&f.out);

	start(&f, true);
	json_begin_array(&f.w);
	json_int(&f.w, 1);
	json_string(&f.w, NULL);
	json_end_array(&f.w);
	ASSERT_EQ_STR(text(&f), "[\n  1,\n  null\n]");
	buf_finish(&f.out);
}

static const char *escaped(struct fixture *f, const char *s, size_t len)
{
	start(f, false);
	json_string_len(&f->w, s, len);
	return text(f);
}

#define ASSERT_ESCAPES(lit, expected)                                                              \
	do {                                                                                       \
		struct fixture f_;                                                                 \
		ASSERT_EQ_STR(escaped(&f_, lit, sizeof(lit) - 1), expected);                       \
		buf_finish(&f_.out);                                                               \
	} while (0)

TEST(string_escapes)
{
	ASSERT_ESCAPES("plain", "\"plain\"");
	ASSERT_ESCAPES("", "\"\"");
	ASSERT_ESCAPES("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	ASSERT_ESCAPES("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"");
	ASSERT_ESCAPES("\x01\x1f\x1b", "\"\\u0001\\u001f\\u001b\"");
	ASSERT_ESCAPES("a\0b", "\"a\\u0000b\"");
	/* DEL is allowed as is by RFC 8259. */
	ASSERT_ESCAPES("\x7f", "\"\x7f\"");
	ASSERT_ESCAPES("梓潼苑 \xF0\x9F\x98\x80 e\xCC\x81",
		       "\"梓潼苑 \xF0\x9F\x98\x80 e\xCC\x81\"");
}

TEST(invalid_utf8_becomes_replacement_character)
{
#define FFFD "\xEF\xBF\xBD"
	ASSERT_ESCAPES("a\xFF-b", "\"a" FFFD "-b\"");
	ASSERT_ESCAPES("\xC0\x80", "\"" FFFD FFFD "\"");
	ASSERT_ESCAPES("\xED\xA0\x80", "\"" FFFD FFFD FFFD "\"");
	/* "桐" cut short, then a good "梓". */
	ASSERT_ESCAPES("\xE6\xA1梓", "\"" FFFD FFFD "梓\"");
	ASSERT_ESCAPES("\xE6\xA1", "\"" FFFD FFFD "\"");
	ASSERT_ESCAPES("x\x80\"", "\"x" FFFD "\\\"\"");
#undef FFFD
}

TEST(string_len_stops_at_len)
{
	struct fixture f;

	ASSERT_EQ_STR(escaped(&f, "B12345", 2), "\"B1\"");
	buf_finish(&f.out);
	/* A length that cuts a character in half yields U+FFFD, not half a
	 * character. */
	ASSERT_EQ_STR(escaped(&f, "桐梓", 4), "\"桐\xEF\xBF\xBD\"");
	buf_finish(&f.out);
}

TEST(keys_are_escaped)
{
	struct fixture f;

	start(&f, false);
	json_begin_object(&f.w);
	json_key(&f.w, "a\"b\n");
	json_int(&f.w, 1);
	json_key(&f.w, "名称");
	json_string(&f.w, "");
	json_end_object(&f.w);
	ASSERT_EQ_STR(text(&f), "{\"a\\\"b\\n\":1,\"名称\":\"\"}");
	buf_finish(&f.out);
}

TEST(integers_exact)
{
	struct fixture f;

	start(&f, false);
	json_begin_array(&f.w);
	json_int(&f.w, 0);
	json_int(&f.w, -1);
	json_int(&f.w, INT64_MAX);
	json_int(&f.w, INT64_MIN);
	json_uint(&f.w, UINT64_MAX);
	json_uint(&f.w, 0);
	json_end_array(&f.w);
	ASSERT_EQ_STR(text(&f), "[0,-1,9223372036854775807,-9223372036854775808,"
				"18446744073709551615,0]");
	buf_finish(&f.out);
}

static const char *double_text(struct fixture *f, double v)
{
	start(f, false);
	json_double(&f->w, v);
	return text(f);
}

TEST(doubles)
{
	struct fixture f;

	ASSERT_EQ_STR(double_text(&f, 0.1), "0.1");
	buf_finish(&f.out);
	ASSERT_EQ_STR(double_text(&f, -2.5), "-2.5");
	buf_finish(&f.out);
	ASSERT_EQ_STR(double_text(&f, 3), "3");
	buf_finish(&f.out);
	ASSERT_EQ_STR(double_text(&f, 1e300), "1e+300");
	buf_finish(&f.out);
	ASSERT_EQ_STR(double_text(&f, NAN), "null");
	buf_finish(&f.out);
	ASSERT_EQ_STR(double_text(&f, INFINITY), "null");
	buf_finish(&f.out);
	ASSERT_EQ_STR(double_text(&f, -INFINITY), "null");
	buf_finish(&f.out);
}

TEST(doubles_round_trip)
{
	/* clang-format off */
	static const double values[] = {
		1.0 / 3.0, 2.0 / 3.0, 0.1 + 0.2, 104.0658, 30.6598, 1e-300, 5e-324,
		1.7976931348623157e308, -123456789.123456789, 9007199254740993.0,
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct fixture f;
		const char *s = double_text(&f, values[i]);

		ASSERT_MSG(strtod(s, NULL) == values[i], "%s does not read back as %.17g", s,
			   values[i]);
		/* Nothing but a JSON number. */
		ASSERT_MSG(strspn(s, "0123456789+-.eE") == strlen(s), "not a number: %s", s);
		buf_finish(&f.out);
	}
}

TEST(nesting_up_to_the_limit)
{
	struct fixture f;
	struct buf want;

	start(&f, false);
	buf_init(&want, 0);
	for (int i = 0; i < JSON_MAX_DEPTH; i++) {
		json_begin_array(&f.w);
		buf_putc(&want, '[');
	}
	for (int i = 0; i < JSON_MAX_DEPTH; i++) {
		json_end_array(&f.w);
		buf_putc(&want, ']');
	}
	ASSERT_EQ_STR(text(&f), buf_cstr(&want));
	buf_finish(&f.out);
	buf_finish(&want);
}

/* Runs a misuse scenario and checks it ends in -EINVAL and that nothing
 * was written after the misuse. */
#define ASSERT_MISUSE(setup, misuse)                                                               \
	do {                                                                                       \
		struct fixture f_;                                                                 \
		struct json_writer *w = &f_.w;                                                     \
		start(&f_, false);                                                                 \
		setup;                                                                             \
		ASSERT_EQ_INT(w->err, 0);                                                          \
		size_t len_ = f_.out.len;                                                          \
		misuse;                                                                            \
		ASSERT_EQ_INT(w->err, -EINVAL);                                                    \
		json_int(w, 1);                                                                    \
		json_end_object(w);                                                                \
		json_end_array(w);                                                                 \
		ASSERT_EQ_UINT(f_.out.len, len_);                                                  \
		ASSERT_EQ_INT(json_writer_finish(w), -EINVAL);                                     \
		buf_finish(&f_.out);                                                               \
	} while (0)

TEST(misuse_value_without_key)
{
	ASSERT_MISUSE(json_begin_object(w), json_int(w, 1));
	ASSERT_MISUSE(json_begin_object(w), json_string(w, "x"));
	ASSERT_MISUSE(json_begin_object(w), json_begin_array(w));
	ASSERT_MISUSE((json_begin_object(w), json_key(w, "a"), json_int(w, 1)), json_null(w));
}

TEST(misuse_keys)
{
	ASSERT_MISUSE((void)0, json_key(w, "a"));
	ASSERT_MISUSE(json_begin_array(w), json_key(w, "a"));
	ASSERT_MISUSE((json_begin_object(w), json_key(w, "a")), json_key(w, "b"));
	ASSERT_MISUSE((json_begin_object(w), json_key(w, "a")), json_end_object(w));
	ASSERT_MISUSE(json_begin_object(w), json_key(w, NULL));
}

TEST(misuse_wrong_end)
{
	ASSERT_MISUSE(json_begin_array(w), json_end_object(w));
	ASSERT_MISUSE(json_begin_object(w), json_end_array(w));
	ASSERT_MISUSE((void)0, json_end_object(w));
	ASSERT_MISUSE((void)0, json_end_array(w));
	ASSERT_MISUSE((json_begin_object(w), json_key(w, "a"), json_begin_array(w)),
		      json_end_object(w));
	ASSERT_MISUSE((json_begin_array(w), json_end_array(w)), json_end_array(w));
}

TEST(misuse_too_deep)
{
	ASSERT_MISUSE(for (int i = 0; i < JSON_MAX_DEPTH; i++) json_begin_array(w),
		      json_begin_array(w));
	ASSERT_MISUSE(for (int i = 0; i < JSON_MAX_DEPTH; i++) json_begin_array(w),
		      json_begin_object(w));
}

TEST(misuse_second_top_level_value)
{
	ASSERT_MISUSE(json_int(w, 1), json_int(w, 2));
	ASSERT_MISUSE((json_begin_object(w), json_end_object(w)), json_begin_array(w));
}

TEST(finish_rejects_incomplete_documents)
{
	struct fixture f;

	start(&f, false);
	ASSERT_EQ_INT(json_writer_finish(&f.w), -EINVAL);
	buf_finish(&f.out);

	start(&f, false);
	json_begin_object(&f.w);
	json_key(&f.w, "a");
	json_int(&f.w, 1);
	ASSERT_EQ_INT(f.w.err, 0);
	ASSERT_EQ_INT(json_writer_finish(&f.w), -EINVAL);
	buf_finish(&f.out);

	start(&f, false);
	json_begin_array(&f.w);
	json_begin_array(&f.w);
	json_end_array(&f.w);
	ASSERT_EQ_INT(json_writer_finish(&f.w), -EINVAL);
	buf_finish(&f.out);
}

TEST(out_of_memory_is_reported_and_sticks)
{
	struct fixture f;

	buf_init(&f.out, 16);
	json_writer_init(&f.w, &f.out, false);
	json_begin_array(&f.w);
	json_string(&f.w, "0123456789");
	ASSERT_EQ_INT(f.w.err, 0);
	json_string(&f.w, "0123456789");
	ASSERT_EQ_INT(f.w.err, -ENOMEM);
	/* Misuse after the first error does not replace it. */
	json_end_object(&f.w);
	ASSERT_EQ_INT(json_writer_finish(&f.w), -ENOMEM);
	buf_finish(&f.out);
}
