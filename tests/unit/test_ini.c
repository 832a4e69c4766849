/* Unit tests for common/ini.c, the parser behind gridd --config. Each case
 * collects what the callback saw as "line section.key=<value>" lines and
 * compares the whole transcript, so order, trimming, sections and line
 * numbers are all checked at once.
 */
#include "tests/harness/test.h"

#include <errno.h>

#include "common/buf.h"
#include "common/ini.h"

struct seen {
	struct buf out;
	const char *reject_key; /* the callback fails on this key */
	int reject_err;
};

static int on_key(void *data, const char *section, const char *key, const char *value,
		  unsigned line)
{
	struct seen *s = data;

	buf_printf(&s->out, "%u %s.%s=<%s>\n", line, section, key, value);
	if (s->reject_key && strcmp(key, s->reject_key) == 0)
		return s->reject_err;
	return 0;
}

/* Parses text and returns the transcript; *ret_r and *ret_line get the
 * result (ret_line is 999 when the parser did not set it). */
static char *parse(const char *text, size_t len, int *ret_r, unsigned *ret_line)
{
	struct seen s = {.reject_key = NULL};

	buf_init(&s.out, 0);
	*ret_line = 999;
	*ret_r = ini_parse(text, len, on_key, &s, ret_line);
	buf_cstr(&s.out);
	return (char *)buf_steal(&s.out, NULL);
}

#define ASSERT_PARSES(text, expected)                                                              \
	do {                                                                                       \
		int r_;                                                                            \
		unsigned line_;                                                                    \
		char *t_ = parse(text, strlen(text), &r_, &line_);                                 \
		ASSERT_EQ_INT(r_, 0);                                                              \
		ASSERT_EQ_UINT(line_, 999);                                                        \
		ASSERT_EQ_STR(t_, expected);                                                       \
		free(t_);                                                                          \
	} while (0)

/* A syntax error at line want_line, after the callback saw expected. */
#define ASSERT_SYNTAX_ERROR(text, want_line, expected)                                             \
	do {                                                                                       \
		int r_;                                                                            \
		unsigned line_;                                                                    \
		char *t_ = parse(text, strlen(text), &r_, &line_);                                 \
		ASSERT_EQ_INT(r_, -EINVAL);                                                        \
		ASSERT_EQ_UINT(line_, want_line);                                                  \
		ASSERT_EQ_STR(t_, expected);                                                       \
		free(t_);                                                                          \
	} while (0)

TEST(sections_keys_and_comments)
{
	ASSERT_PARSES("# gridd configuration\n"
		      "name = gridd-1\n"
		      "\n"
		      "[listen]\n"
		      "port = 7420\n"
		      "  ; indented comment\n"
		      "address=0.0.0.0\n"
		      "\t\n"
		      "[database]\n"
		      "url = postgres://grid@localhost/grid?sslmode=disable\n"
		      "[limits]\n"
		      "max_frame = 1048576",
		      "2 .name=<gridd-1>\n"
		      "5 listen.port=<7420>\n"
		      "7 listen.address=<0.0.0.0>\n"
		      "10 database.url=<postgres://grid@localhost/grid?sslmode=disable>\n"
		      "12 limits.max_frame=<1048576>\n");
}

TEST(values_trimmed_and_quoted)
{
	ASSERT_PARSES("a =   spaced out  \t\n"
		      "b = \"  keeps inner  \"\n"
		      "c =\n"
		      "d = \"\"\n"
		      "e = say \"hi\"\n"
		      "f = \"x \"y\" z\"\n"
		      "g = pass#word;1\n"
		      "h = 桐梓林社区 \n"
		      "i = a = b\n",
		      "1 .a=<spaced out>\n"
		      "2 .b=<  keeps inner  >\n"
		      "3 .c=<>\n"
		      "4 .d=<>\n"
		      "5 .e=<say \"hi\">\n"
		      "6 .f=<x \"y\" z>\n"
		      "7 .g=<pass#word;1>\n"
		      "8 .h=<桐梓林社区>\n"
		      "9 .i=<a = b>\n");
}

TEST(names)
{
	ASSERT_PARSES("[ net.v4-x_1 ]\n"
		      "Key.name-2_x = 1\n"
		      "[another]\n"
		      "  k  =  v  \n",
		      "2 net.v4-x_1.Key.name-2_x=<1>\n"
		      "4 another.k=<v>\n");
}

TEST(crlf_and_byte_order_mark)
{
	ASSERT_PARSES("\xEF\xBB\xBF[s]\r\n"
		      "a = 1\r\n"
		      "\r\n"
		      "b = \"x \"\r\n"
		      "c = 3\r",
		      "2 s.a=<1>\n"
		      "4 s.b=<x >\n"
		      "5 s.c=<3>\n");
}

TEST(empty_input)
{
	ASSERT_PARSES("", "");
	ASSERT_PARSES("\n\n# only comments\n", "");
}

TEST(syntax_errors_with_lines)
{
	ASSERT_SYNTAX_ERROR("a = 1\n\njust words\nb = 2\n", 3, "1 .a=<1>\n");
	ASSERT_SYNTAX_ERROR("a = 1\n[unterminated\nb = 2\n", 2, "1 .a=<1>\n");
	ASSERT_SYNTAX_ERROR("[s]\n = value\n", 2, "");
	ASSERT_SYNTAX_ERROR("[s]\nx=1\ny = \"open\n", 3, "2 s.x=<1>\n");
	ASSERT_SYNTAX_ERROR("k = \"\n", 1, "");
	ASSERT_SYNTAX_ERROR("\r\n\r\n[]\n", 3, "");
	ASSERT_SYNTAX_ERROR("[ ]\n", 1, "");
	ASSERT_SYNTAX_ERROR("[a] # comment\n", 1, "");
	ASSERT_SYNTAX_ERROR("[a b]\n", 1, "");
	ASSERT_SYNTAX_ERROR("[a]]\n", 1, "");
	ASSERT_SYNTAX_ERROR("ke y = 1\n", 1, "");
	ASSERT_SYNTAX_ERROR("k/ey = 1\n", 1, "");
	ASSERT_SYNTAX_ERROR("名称 = 1\n", 1, "");
	ASSERT_SYNTAX_ERROR("a\r\nb\r\n", 1, "");
	ASSERT_SYNTAX_ERROR("a=1\n=\n", 2, "1 .a=<1>\n");
}

TEST(nul_byte_is_an_error)
{
	static const char text[] = "a = 1\nb = x\0y\n";
	int r;
	unsigned line;
	char *t = parse(text, sizeof(text) - 1, &r, &line);

	ASSERT_EQ_INT(r, -EINVAL);
	ASSERT_EQ_UINT(line, 2);
	ASSERT_EQ_STR(t, "1 .a=<1>\n");
	free(t);
}

TEST(length_stops_the_parse)
{
	int r;
	unsigned line;
	char *t = parse("a = 1\nb = 2\n", 8, &r, &line);

	/* Only "a = 1\nb " is inside len: line 2 has no '='. */
	ASSERT_EQ_INT(r, -EINVAL);
	ASSERT_EQ_UINT(line, 2);
	free(t);
	t = parse("a = 12345", 5, &r, &line);
	ASSERT_EQ_INT(r, 0);
	ASSERT_EQ_STR(t, "1 .a=<1>\n");
	free(t);
}

TEST(line_length_limit)
{
	struct buf text;
	int r;
	unsigned line;
	char *t;

	/* "v = " plus 4092 bytes is 4096: accepted, even with a CR before
	 * the line end. */
	buf_init(&text, 0);
	buf_puts(&text, "[s]\nv = ");
	for (int i = 0; i < 4092; i++)
		buf_putc(&text, 'x');
	buf_puts(&text, "\r\nw = 1\n");
	t = parse((const char *)text.data, text.len, &r, &line);
	ASSERT_EQ_INT(r, 0);
	ASSERT_EQ_UINT(strlen(t), strlen("2 s.v=<>\n") + 4092 + strlen("3 s.w=<1>\n"));
	ASSERT(strstr(t, "\n3 s.w=<1>\n") != NULL);
	free(t);
	buf_finish(&text);

	/* One byte more is a syntax error on that line. */
	buf_init(&text, 0);
	buf_puts(&text, "[s]\nv = ");
	for (int i = 0; i < 4093; i++)
		buf_putc(&text, 'x');
	buf_puts(&text, "\nw = 1\n");
	t = parse((const char *)text.data, text.len, &r, &line);
	ASSERT_EQ_INT(r, -EINVAL);
	ASSERT_EQ_UINT(line, 2);
	ASSERT_EQ_STR(t, "");
	free(t);
	buf_finish(&text);

	/* A megabyte on one line is refused the same way. */
	buf_init(&text, 0);
	buf_puts(&text, "a = 1\n# ");
	for (int i = 0; i < (1 << 20); i++)
		buf_putc(&text, 'c');
	t = parse((const char *)text.data, text.len, &r, &line);
	ASSERT_EQ_INT(r, -EINVAL);
	ASSERT_EQ_UINT(line, 2);
	free(t);
	buf_finish(&text);
}

TEST(callback_error_stops_the_parse)
{
	const char *text = "[listen]\naddress = ::\n\nport = 99999\nbacklog = 5\n";
	struct seen s = {.reject_key = "port", .reject_err = -ERANGE};
	unsigned line = 0;

	buf_init(&s.out, 0);
	ASSERT_EQ_INT(ini_parse(text, strlen(text), on_key, &s, &line), -ERANGE);
	ASSERT_EQ_UINT(line, 4);
	ASSERT_EQ_STR(buf_cstr(&s.out), "2 listen.address=<::>\n4 listen.port=<99999>\n");
	buf_finish(&s.out);
}

TEST(line_pointer_may_be_null)
{
	struct seen s = {.reject_key = NULL};

	buf_init(&s.out, 0);
	ASSERT_EQ_INT(ini_parse("oops\n", 5, on_key, &s, NULL), -EINVAL);
	ASSERT_EQ_INT(ini_parse("a=1\n", 4, on_key, &s, NULL), 0);
	ASSERT_EQ_STR(buf_cstr(&s.out), "1 .a=<1>\n");
	buf_finish(&s.out);
}
