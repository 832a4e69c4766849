/* Unit tests for common/csv.c, the reader and writer behind grid import and
 * export. Most cases read a whole input and compare a transcript of every
 * record ("line:[field][field]") and every error ("!line:message") with the
 * exact expected text, so a wrong field, line number or resynchronisation
 * shows up as a readable difference.
 */
#include "tests/harness/test.h"

#include <errno.h>

#include "common/csv.h"
#include "common/utf8.h"

/* Reads data to the end and returns the transcript (free() it). */
static char *transcript_len(const char *data, size_t len)
{
	struct csv_reader *r = csv_reader_create(data, len);
	struct csv_record rec;
	struct buf out;
	int n, guard = 0;

	ASSERT_NOT_NULL(r);
	buf_init(&out, 0);
	while ((n = csv_reader_next(r, &rec)) != 0) {
		ASSERT_MSG(++guard < 100000, "reader does not advance");
		if (n < 0) {
			ASSERT_EQ_INT(n, -EINVAL);
			buf_printf(&out, "!%u:%s\n", csv_reader_error_line(r), csv_reader_error(r));
			continue;
		}
		ASSERT_EQ_INT(n, 1);
		buf_printf(&out, "%u:", rec.line);
		for (size_t i = 0; i < rec.nfields; i++)
			buf_printf(&out, "[%s]", rec.fields[i]);
		buf_putc(&out, '\n');
	}
	/* The end stays the end. */
	ASSERT_EQ_INT(csv_reader_next(r, &rec), 0);
	csv_reader_destroy(r);
	buf_cstr(&out);
	return (char *)buf_steal(&out, NULL);
}

static char *transcript(const char *data)
{
	return transcript_len(data, strlen(data));
}

#define ASSERT_READS(data, expected)                                                               \
	do {                                                                                       \
		char *t_ = transcript(data);                                                       \
		ASSERT_EQ_STR(t_, expected);                                                       \
		free(t_);                                                                          \
	} while (0)

TEST(simple_records)
{
	ASSERT_READS("code,name,level\nB1,梓潼苑,building\nB2,桐梓林社区,community\n",
		     "1:[code][name][level]\n"
		     "2:[B1][梓潼苑][building]\n"
		     "3:[B2][桐梓林社区][community]\n");
}

TEST(crlf_and_missing_final_newline)
{
	ASSERT_READS("a,b\r\nc,d\r\n", "1:[a][b]\n2:[c][d]\n");
	ASSERT_READS("a,b\nc,d", "1:[a][b]\n2:[c][d]\n");
	ASSERT_READS("a,b\r\nc,d\r", "1:[a][b]\n2:[c][d]\n");
	ASSERT_READS("only", "1:[only]\n");
}

TEST(empty_input)
{
	ASSERT_READS("", "");
	ASSERT_READS("\n\n\r\n", "");
	ASSERT_READS("\xEF\xBB\xBF", "");
	ASSERT_READS("\xEF\xBB\xBF\r\n", "");
}

TEST(byte_order_mark_skipped_only_at_start)
{
	ASSERT_READS("\xEF\xBB\xBFid,name\n1,x\n", "1:[id][name]\n2:[1][x]\n");
	/* Elsewhere the same bytes are data. */
	ASSERT_READS("a\n\xEF\xBB\xBFz\n", "1:[a]\n2:[\xEF\xBB\xBFz]\n");
}

TEST(empty_lines_skipped_with_line_numbers_kept)
{
	ASSERT_READS("\n\na\n\r\n\nb\n\n", "3:[a]\n6:[b]\n");
}

TEST(empty_and_blank_fields)
{
	ASSERT_READS(",a,,\n", "1:[][a][][]\n");
	ASSERT_READS(",\n", "1:[][]\n");
	/* A line of spaces is not empty: it is one field of spaces, kept. */
	ASSERT_READS("  \n x , y \n", "1:[  ]\n2:[ x ][ y ]\n");
	ASSERT_READS("\"\"\n", "1:[]\n");
}

TEST(quoted_fields)
{
	ASSERT_READS("\"a,b\",\"say \"\"hi\"\"\",\"\",\"\"\"\"\n", "1:[a,b][say \"hi\"][][\"]\n");
	ASSERT_READS("\"梓潼苑, B1\",x\r\n", "1:[梓潼苑, B1][x]\n");
	ASSERT_READS("x,\"last\"", "1:[x][last]\n");
}

TEST(quoted_newlines_keep_line_numbers)
{
	ASSERT_READS("1,\"line one\nline two\",x\n"
		     "2,y\n"
		     "\"a\r\nb\",z\r\n"
		     "\n"
		     "\"\n\n\n\"\n"
		     "3\n",
		     "1:[1][line one\nline two][x]\n"
		     "3:[2][y]\n"
		     "4:[a\r\nb][z]\n"
		     "7:[\n\n\n]\n"
		     "11:[3]\n");
}

TEST(bad_lines_reported_and_skipped)
{
	ASSERT_READS("a,b\n"
		     "c\"d,e\n"
		     "f,g\n"
		     "x,\"h\"i,j\n"
		     "k,l\n",
		     "1:[a][b]\n"
		     "!2:quote inside unquoted field 1\n"
		     "3:[f][g]\n"
		     "!4:text after closing quote in field 2\n"
		     "5:[k][l]\n");
}

TEST(bad_lines_after_multiline_record)
{
	ASSERT_READS("\"a\nb\",c\n"
		     "d,e\"\n"
		     "f\n",
		     "1:[a\nb][c]\n"
		     "!3:quote inside unquoted field 2\n"
		     "4:[f]\n");
}

TEST(text_after_closing_quote_variants)
{
	ASSERT_READS("\"ab\"c\nok\n", "!1:text after closing quote in field 1\n2:[ok]\n");
	ASSERT_READS("\"ab\" ,x\nok\n", "!1:text after closing quote in field 1\n2:[ok]\n");
	ASSERT_READS("1,2,\"ab\"\"\"x\nok", "!1:text after closing quote in field 3\n2:[ok]\n");
	/* The error is on the line where the quote closes. */
	ASSERT_READS("\"a\nb\"c\nok\n", "!2:text after closing quote in field 1\n3:[ok]\n");
}

TEST(unterminated_quote_runs_to_end)
{
	ASSERT_READS("a\n"
		     "b,\"open\n"
		     "c,d\n"
		     "e\n",
		     "1:[a]\n"
		     "!2:unterminated quoted field 2\n");
	ASSERT_READS("\"", "!1:unterminated quoted field 1\n");
	ASSERT_READS("x\n\n\"abc\"\"", "1:[x]\n!3:unterminated quoted field 1\n");
}

TEST(nul_byte_is_an_error)
{
	static const char in[] = "a,b\0c\nd\n";
	char *t = transcript_len(in, sizeof(in) - 1);

	ASSERT_EQ_STR(t, "!1:NUL byte in field 2\n2:[d]\n");
	free(t);

	/* Inside a quoted field that spans lines, the rest of that field is
	 * skipped too, rather than read as records. */
	static const char in2[] = "\"a\nb\0c\nd,e\",f\ng\n";
	t = transcript_len(in2, sizeof(in2) - 1);
	ASSERT_EQ_STR(t, "!2:NUL byte in field 1\n4:[g]\n");
	free(t);
}

TEST(bare_carriage_return_is_an_error)
{
	ASSERT_READS("a\rb,c\nd\n", "!1:carriage return without line feed in field 1\n2:[d]\n");
	ASSERT_READS("\"a\rb\",c\n", "1:[a\rb][c]\n");
}

static char *repeat_fields(size_t n)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%zu", i ? "," : "", i + 1);
	buf_cstr(&b);
	return (char *)buf_steal(&b, NULL);
}

TEST(field_count_limit)
{
	char *ok = repeat_fields(CSV_MAX_FIELDS), *bad = repeat_fields(CSV_MAX_FIELDS + 1);
	struct buf in;
	struct csv_record rec;
	struct csv_reader *r;

	buf_init(&in, 0);
	buf_printf(&in, "%s\n%s\n\"a\",b\n", ok, bad);
	r = csv_reader_create((const char *)in.data, in.len);
	ASSERT_NOT_NULL(r);
	ASSERT_EQ_INT(csv_reader_next(r, &rec), 1);
	ASSERT_EQ_UINT(rec.nfields, CSV_MAX_FIELDS);
	ASSERT_EQ_STR(rec.fields[0], "1");
	ASSERT_EQ_STR(rec.fields[CSV_MAX_FIELDS - 1], "64");
	ASSERT_EQ_INT(csv_reader_next(r, &rec), -EINVAL);
	ASSERT_EQ_STR(csv_reader_error(r), "more than 64 fields");
	ASSERT_EQ_UINT(csv_reader_error_line(r), 2);
	ASSERT_EQ_INT(csv_reader_next(r, &rec), 1);
	ASSERT_EQ_UINT(rec.line, 3);
	ASSERT_EQ_UINT(rec.nfields, 2);
	ASSERT_EQ_STR(rec.fields[0], "a");
	ASSERT_EQ_INT(csv_reader_next(r, &rec), 0);
	csv_reader_destroy(r);
	buf_finish(&in);
	free(ok);
	free(bad);
}

TEST(field_length_limit)
{
	struct buf in;
	struct csv_record rec;
	struct csv_reader *r;
	char *big = malloc(CSV_MAX_FIELD_LEN + 2);

	ASSERT_NOT_NULL(big);
	memset(big, 'x', CSV_MAX_FIELD_LEN + 1);
	big[CSV_MAX_FIELD_LEN + 1] = '\0';

	buf_init(&in, 0);
	/* Line 1: exactly the limit. Line 2: one byte over, unquoted. Lines
	 * 3-4: over inside quotes on line 4. Lines 5-6: over on line 5, and the
	 * rest of the quoted field, which looks like a record, is skipped with
	 * it. Line 7: the limit in quotes, where every "" counts as one byte.
	 * Line 8: fine. */
	buf_printf(&in, "%.*s\n", CSV_MAX_FIELD_LEN, big);
	buf_printf(&in, "a,%s\n", big);
	buf_printf(&in, "\"\n%s\",b\n", big);
	buf_printf(&in, "\"%s\nnot,a,record\",b\n", big);
	buf_puts(&in, "\"");
	for (int i = 0; i < CSV_MAX_FIELD_LEN; i++)
		buf_puts(&in, "\"\"");
	buf_puts(&in, "\"\nok\n");

	r = csv_reader_create((const char *)in.data, in.len);
	ASSERT_NOT_NULL(r);
	ASSERT_EQ_INT(csv_reader_next(r, &rec), 1);
	ASSERT_EQ_UINT(rec.line, 1);
	ASSERT_EQ_UINT(strlen(rec.fields[0]), CSV_MAX_FIELD_LEN);

	ASSERT_EQ_INT(csv_reader_next(r, &rec), -EINVAL);
	ASSERT_EQ_STR(csv_reader_error(r), "field 2 is longer than 4096 bytes");
	ASSERT_EQ_UINT(csv_reader_error_line(r), 2);

	ASSERT_EQ_INT(csv_reader_next(r, &rec), -EINVAL);
	ASSERT_EQ_STR(csv_reader_error(r), "field 1 is longer than 4096 bytes");
	ASSERT_EQ_UINT(csv_reader_error_line(r), 4);

	ASSERT_EQ_INT(csv_reader_next(r, &rec), -EINVAL);
	ASSERT_EQ_STR(csv_reader_error(r), "field 1 is longer than 4096 bytes");
	ASSERT_EQ_UINT(csv_reader_error_line(r), 5);

	ASSERT_EQ_INT(csv_reader_next(r, &rec), 1);
	ASSERT_EQ_UINT(rec.line, 7);
	ASSERT_EQ_UINT(rec.nfields, 1);
	ASSERT_EQ_UINT(strlen(rec.fields[0]), CSV_MAX_FIELD_LEN);
	ASSERT_EQ_INT(rec.fields[0][0], '"');

	ASSERT_EQ_INT(csv_reader_next(r, &rec), 1);
	ASSERT_EQ_UINT(rec.line, 8);
	ASSERT_EQ_STR(rec.fields[0], "ok");
	ASSERT_EQ_INT(csv_reader_next(r, &rec), 0);
	csv_reader_destroy(r);
	buf_finish(&in);
	free(big);
}

TEST(field_length_limit_hit_on_escaped_quote)
{
	struct buf in;
	char *t;

	/* The byte over the limit is a "" pair: skipping must still see it as
	 * a pair and not as the closing quote. */
	buf_init(&in, 0);
	buf_putc(&in, '"');
	for (int i = 0; i < CSV_MAX_FIELD_LEN; i++)
		buf_putc(&in, 'x');
	buf_puts(&in, "\"\"\nnot,a,record\",b\nok\n");
	t = transcript_len((const char *)in.data, in.len);
	ASSERT_EQ_STR(t, "!1:field 1 is longer than 4096 bytes\n3:[ok]\n");
	free(t);
	buf_finish(&in);
}

TEST(every_bad_line_collected_in_a_large_file)
{
	struct buf in;
	struct csv_record rec;
	struct csv_reader *r;
	unsigned records = 0, errors = 0, expect_line = 1;
	int n;

	/* 10000 lines; every 7th is malformed. */
	buf_init(&in, 0);
	for (unsigned i = 1; i <= 10000; i++) {
		if (i % 7 == 0)
			buf_printf(&in, "B%u,bad\"quote\n", i);
		else
			buf_printf(&in, "B%u,\"梓潼苑 %u\",%u\n", i, i, i * 3);
	}
	r = csv_reader_create((const char *)in.data, in.len);
	ASSERT_NOT_NULL(r);
	while ((n = csv_reader_next(r, &rec)) != 0) {
		char want[64];

		if (expect_line % 7 == 0) {
			ASSERT_EQ_INT(n, -EINVAL);
			ASSERT_EQ_UINT(csv_reader_error_line(r), expect_line);
			errors++;
		} else {
			ASSERT_EQ_INT(n, 1);
			ASSERT_EQ_UINT(rec.line, expect_line);
			ASSERT_EQ_UINT(rec.nfields, 3);
			snprintf(want, sizeof(want), "梓潼苑 %u", expect_line);
			ASSERT_EQ_STR(rec.fields[1], want);
			records++;
		}
		expect_line++;
	}
	ASSERT_EQ_UINT(errors, 10000 / 7);
	ASSERT_EQ_UINT(records, 10000 - 10000 / 7);
	csv_reader_destroy(r);
	buf_finish(&in);
}

TEST(no_error_before_the_first_one)
{
	struct csv_reader *r = csv_reader_create("a\n", 2);

	ASSERT_NOT_NULL(r);
	ASSERT_EQ_STR(csv_reader_error(r), "");
	ASSERT_EQ_UINT(csv_reader_error_line(r), 0);
	csv_reader_destroy(r);
	csv_reader_destroy(NULL);
}

static const char *written(struct buf *b, const char *const *fields, size_t n)
{
	buf_reset(b);
	ASSERT_EQ_INT(csv_write_record(b, fields, n), 0);
	return buf_cstr(b);
}

TEST(write_quotes_only_when_needed)
{
	/* clang-format off */
	static const char *const f[] = {
		"a", "b c", "x,y", "say \"hi\"", " lead", "trail ", "line\nbreak", "cr\rx", "",
		"桐梓林社区",
	};
	/* clang-format on */
	struct buf b;

	buf_init(&b, 0);
	ASSERT_EQ_STR(written(&b, f, sizeof(f) / sizeof(f[0])),
		      "a,b c,\"x,y\",\"say \"\"hi\"\"\",\" lead\",\"trail \","
		      "\"line\nbreak\",\"cr\rx\",,桐梓林社区\n");
	static const char *const q[] = {"\"", "\"\"", "a\"", ""};
	ASSERT_EQ_STR(written(&b, q, 4), "\"\"\"\",\"\"\"\"\"\",\"a\"\"\",\n");
	static const char *const one[] = {"B1"};
	ASSERT_EQ_STR(written(&b, one, 1), "B1\n");
	/* Only spaces at the ends call for quotes, not other blanks. */
	static const char *const tabs[] = {"\tB1", "B2\t", "B 3"};
	ASSERT_EQ_STR(written(&b, tabs, 3), "\tB1,B2\t,B 3\n");
	buf_finish(&b);
}

TEST(write_edge_cases)
{
	static const char *const empty[] = {""};
	static const char *const with_null[] = {"a", NULL, "c"};
	const char *many[CSV_MAX_FIELDS + 1];
	struct buf b;

	buf_init(&b, 0);
	/* A lone empty field is quoted so the line is not read as empty. */
	ASSERT_EQ_STR(written(&b, empty, 1), "\"\"\n");
	ASSERT_EQ_STR(written(&b, with_null, 3), "a,,c\n");

	for (size_t i = 0; i < CSV_MAX_FIELDS + 1; i++)
		many[i] = "x";
	buf_reset(&b);
	ASSERT_EQ_INT(csv_write_record(&b, many, CSV_MAX_FIELDS + 1), -EINVAL);
	ASSERT_EQ_INT(csv_write_record(&b, many, 0), -EINVAL);
	ASSERT_EQ_UINT(b.len, 0);
	ASSERT_EQ_INT(csv_write_record(&b, many, CSV_MAX_FIELDS), 0);
	ASSERT_EQ_UINT(b.len, CSV_MAX_FIELDS * 2);
	buf_finish(&b);
}

TEST(write_fails_whole_at_buffer_limit)
{
	static const char *const f[] = {"abc", "d,e"};
	struct buf b;

	/* Room for one record and half of the next. */
	buf_init(&b, 15);
	ASSERT_EQ_INT(csv_write_record(&b, f, 2), 0); /* abc,"d,e"\n: 10 bytes */
	ASSERT_EQ_UINT(b.len, 10);
	ASSERT_EQ_INT(csv_write_record(&b, f, 2), -ENOMEM);
	ASSERT_EQ_UINT(b.len, 10);
	ASSERT_EQ_STR(buf_cstr(&b), "abc,\"d,e\"\n");
	buf_finish(&b);
}

TEST(write_then_read_round_trip)
{
	/* clang-format off */
	static const char *const rows[][5] = {
		{"code", "name", "note", "leader", "phone"},
		{"B1", "梓潼苑", "say \"hi\", then\nleave", " 王芳 ", "028-1234"},
		{"B2", "桐梓林社区", "", "\"", ",,,"},
		{"", "", "", "", ""},
		{"B3", "a\r\nb", "\n", "\r", "end "},
		{"\xEF\xBB\xBFx", "tab\there", "\"quoted\"", "'single'", "e\xCC\x81"},
	};
	/* clang-format on */
	const size_t nrows = sizeof(rows) / sizeof(rows[0]);
	struct buf out;
	struct csv_record rec;
	struct csv_reader *r;
	unsigned line = 1;

	buf_init(&out, 0);
	for (size_t i = 0; i < nrows; i++)
		ASSERT_EQ_INT(csv_write_record(&out, rows[i], 5), 0);
	ASSERT(utf8_valid((const char *)out.data, out.len));

	r = csv_reader_create((const char *)out.data, out.len);
	ASSERT_NOT_NULL(r);
	for (size_t i = 0; i < nrows; i++) {
		ASSERT_EQ_INT(csv_reader_next(r, &rec), 1);
		ASSERT_EQ_UINT(rec.nfields, 5);
		ASSERT_EQ_UINT(rec.line, line);
		for (size_t j = 0; j < 5; j++) {
			ASSERT_EQ_STR(rec.fields[j], rows[i][j]);
			for (const char *p = rows[i][j]; *p; p++)
				line += *p == '\n';
		}
		line++;
	}
	ASSERT_EQ_INT(csv_reader_next(r, &rec), 0);
	csv_reader_destroy(r);
	buf_finish(&out);
}

TEST(single_empty_field_round_trip)
{
	static const char *const empty[] = {""};
	static const char *const b1[] = {"B1"};
	struct buf out;
	char *t;

	buf_init(&out, 0);
	ASSERT_EQ_INT(csv_write_record(&out, b1, 1), 0);
	ASSERT_EQ_INT(csv_write_record(&out, empty, 1), 0);
	ASSERT_EQ_INT(csv_write_record(&out, b1, 1), 0);
	t = transcript_len((const char *)out.data, out.len);
	ASSERT_EQ_STR(t, "1:[B1]\n2:[]\n3:[B1]\n");
	free(t);
	buf_finish(&out);
}
