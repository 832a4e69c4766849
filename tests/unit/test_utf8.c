/* Unit tests for common/utf8.c: strict validation and decoding, the
 * display width tables gridctl lines up Chinese names with, and padding.
 */
#include "tests/harness/test.h"

#include <errno.h>

#include "common/utf8.h"

struct bytes {
	const char *s;
	size_t len;
};

/* clang-format off */
#define B(lit) {lit, sizeof(lit) - 1}
/* clang-format on */

TEST(valid_accepts_well_formed)
{
	/* clang-format off */
	static const struct bytes ok[] = {
		B(""),
		B("plain ascii, with ~ and \x7f"),
		B("a\0b"),                 /* NUL is a code point like any other */
		B("\xC2\x80"),             /* U+0080, smallest two-byte form */
		B("\xDF\xBF"),             /* U+07FF */
		B("\xE0\xA0\x80"),         /* U+0800, smallest three-byte form */
		B("\xED\x9F\xBF"),         /* U+D7FF, just below the surrogates */
		B("\xEE\x80\x80"),         /* U+E000, just above them */
		B("\xEF\xBF\xBF"),         /* U+FFFF */
		B("\xF0\x90\x80\x80"),     /* U+10000, smallest four-byte form */
		B("\xF4\x8F\xBF\xBF"),     /* U+10FFFF, the last code point */
		B("桐梓林社区 B1 梓潼苑"),
		B("\xF0\x9F\x98\x80"),     /* U+1F600 emoji */
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ASSERT_MSG(utf8_valid(ok[i].s, ok[i].len) == 1, "case %zu rejected", i);
}

TEST(valid_rejects_malformed)
{
	/* clang-format off */
	static const struct bytes bad[] = {
		B("\xC0\x80"),             /* overlong NUL */
		B("\xC1\xBF"),             /* overlong U+007F */
		B("\xE0\x80\x80"),         /* overlong three-byte */
		B("\xE0\x9F\xBF"),         /* overlong U+07FF */
		B("\xF0\x80\x80\x80"),     /* overlong four-byte */
		B("\xF0\x8F\xBF\xBF"),     /* overlong U+FFFF */
		B("\xED\xA0\x80"),         /* U+D800, a surrogate */
		B("\xED\xBF\xBF"),         /* U+DFFF */
		B("\xF4\x90\x80\x80"),     /* U+110000 */
		B("\xF5\x80\x80\x80"),     /* lead byte beyond the range */
		B("\xF8\x88\x80\x80\x80"), /* old five-byte form */
		B("\xFE"),
		B("\xFF"),
		B("\x80"),                 /* stray continuation */
		B("a\xBF"),
		B("\xE6\xA1"),             /* "桐" cut after two bytes */
		B("\xF0\x9F\x98"),         /* emoji cut after three */
		B("\xC3"),                 /* two-byte lead at the end */
		B("\xC3\x28"),             /* lead followed by ASCII */
		B("\xE6\x28\x90"),
		B("\xF0\x9F\x28\x80"),
		B("ok then \xE6\xA1\x90\xE6 cut"),
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_MSG(utf8_valid(bad[i].s, bad[i].len) == 0, "case %zu accepted", i);
}

TEST(valid_respects_length)
{
	const char *s = "桐梓"; /* E6 A1 90 E6 A2 93 */

	ASSERT_EQ_INT(utf8_valid(s, 6), 1);
	ASSERT_EQ_INT(utf8_valid(s, 3), 1);
	ASSERT_EQ_INT(utf8_valid(s, 5), 0);
	ASSERT_EQ_INT(utf8_valid(s, 2), 0);
	ASSERT_EQ_INT(utf8_valid(s, 0), 1);
}

TEST(decode_code_points)
{
	uint32_t cp = 0;

	ASSERT_EQ_INT(utf8_decode("A", 1, &cp), 1);
	ASSERT_EQ_UINT(cp, 0x41);
	ASSERT_EQ_INT(utf8_decode("\xC3\xA9", 2, &cp), 2);
	ASSERT_EQ_UINT(cp, 0xE9);
	ASSERT_EQ_INT(utf8_decode("桐", 3, &cp), 3);
	ASSERT_EQ_UINT(cp, 0x6850);
	ASSERT_EQ_INT(utf8_decode("\xF0\x9F\x98\x80xyz", 7, &cp), 4);
	ASSERT_EQ_UINT(cp, 0x1F600);
	ASSERT_EQ_INT(utf8_decode("\xF4\x8F\xBF\xBF", 4, &cp), 4);
	ASSERT_EQ_UINT(cp, 0x10FFFF);
	ASSERT_EQ_INT(utf8_decode("\0", 1, &cp), 1);
	ASSERT_EQ_UINT(cp, 0);
}

TEST(decode_failure_leaves_output_alone)
{
	/* clang-format off */
	static const struct bytes bad[] = {
		B(""), B("\xC0\x80"), B("\xED\xA0\x80"), B("\xF4\x90\x80\x80"), B("\x80"),
		B("\xE6\xA1"),
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t cp = 0xDEADBEEF;

		ASSERT_EQ_INT(utf8_decode(bad[i].s, bad[i].len, &cp), -1);
		ASSERT_EQ_UINT(cp, 0xDEADBEEF);
	}
	/* A complete sequence is refused when len cuts it. */
	uint32_t cp = 7;
	ASSERT_EQ_INT(utf8_decode("桐", 2, &cp), -1);
	ASSERT_EQ_UINT(cp, 7);
}

struct range {
	uint32_t first, last;
};

/* The ranges the width tables must cover, as specified. */
/* clang-format off */
static const struct range zero_ranges[] = {
	{0x0000, 0x001F}, {0x007F, 0x009F}, {0x0300, 0x036F}, {0x0483, 0x0489},
	{0x0591, 0x05BD}, {0x0610, 0x061A}, {0x064B, 0x065F}, {0x1AB0, 0x1AFF},
	{0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x2028, 0x202E}, {0x2060, 0x2064},
	{0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF},
};
/* clang-format on */

/* clang-format off */
static const struct range wide_ranges[] = {
	{0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
	{0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
	{0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
	{0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};
/* clang-format on */

TEST(cp_width_zero_ranges)
{
	for (size_t i = 0; i < sizeof(zero_ranges) / sizeof(zero_ranges[0]); i++) {
		const struct range *r = &zero_ranges[i];

		ASSERT_MSG(utf8_cp_width(r->first) == 0, "U+%04X", (unsigned)r->first);
		ASSERT_MSG(utf8_cp_width(r->last) == 0, "U+%04X", (unsigned)r->last);
		ASSERT_MSG(utf8_cp_width(r->first + (r->last - r->first) / 2) == 0,
			   "middle of U+%04X", (unsigned)r->first);
	}
}

TEST(cp_width_wide_ranges)
{
	for (size_t i = 0; i < sizeof(wide_ranges) / sizeof(wide_ranges[0]); i++) {
		const struct range *r = &wide_ranges[i];

		ASSERT_MSG(utf8_cp_width(r->first) == 2, "U+%04X", (unsigned)r->first);
		ASSERT_MSG(utf8_cp_width(r->last) == 2, "U+%04X", (unsigned)r->last);
		ASSERT_MSG(utf8_cp_width(r->first + (r->last - r->first) / 2) == 2,
			   "middle of U+%04X", (unsigned)r->first);
	}
}

TEST(cp_width_edges_are_narrow)
{
	/* Just outside each range: the binary search must not be off by one. */
	/* clang-format off */
	static const uint32_t narrow[] = {
		0x20,    0x7E,    0xA0,    0x2FF,   0x370,   0x482,   0x48A,   0x590,
		0x5BE,   0x60F,   0x61B,   0x64A,   0x660,   0x10FF,  0x1160,  0x1AAF,
		0x1B00,  0x1DBF,  0x1E00,  0x200A,  0x2010,  0x2027,  0x202F,  0x205F,
		0x2065,  0x20CF,  0x2100,  0x2E7F,  0x303F,  0xA4D0,  0xABFF,  0xD7A4,
		0xF8FF,  0xFB00,  0xFDFF,  0xFE10,  0xFE1F,  0xFE50,  0xFEFE,  0xFF61,
		0xFFDF,  0xFFE7,  0x1F2FF, 0x1F650, 0x1F8FF, 0x1FA00, 0x1FFFF, 0x2FFFE,
		0x2FFFF, 0x3FFFE, 0x40000, 0x10FFFF,
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(narrow) / sizeof(narrow[0]); i++)
		ASSERT_MSG(utf8_cp_width(narrow[i]) == 1, "U+%04X has width %d",
			   (unsigned)narrow[i], utf8_cp_width(narrow[i]));
}

TEST(cp_width_examples)
{
	ASSERT_EQ_INT(utf8_cp_width('a'), 1);
	ASSERT_EQ_INT(utf8_cp_width('\t'), 0);
	ASSERT_EQ_INT(utf8_cp_width(0xE9), 1);	  /* é precomposed */
	ASSERT_EQ_INT(utf8_cp_width(0x0301), 0);  /* combining acute */
	ASSERT_EQ_INT(utf8_cp_width(0x6850), 2);  /* 桐 */
	ASSERT_EQ_INT(utf8_cp_width(0x3042), 2);  /* あ */
	ASSERT_EQ_INT(utf8_cp_width(0xD55C), 2);  /* 한 */
	ASSERT_EQ_INT(utf8_cp_width(0xFF21), 2);  /* fullwidth A */
	ASSERT_EQ_INT(utf8_cp_width(0x3000), 2);  /* ideographic space */
	ASSERT_EQ_INT(utf8_cp_width(0xFF0C), 2);  /* fullwidth comma */
	ASSERT_EQ_INT(utf8_cp_width(0x1F600), 2); /* grinning face */
	ASSERT_EQ_INT(utf8_cp_width(0x200D), 0);  /* zero-width joiner */
	ASSERT_EQ_INT(utf8_cp_width(0xFE0F), 0);  /* emoji presentation selector */
	ASSERT_EQ_INT(utf8_cp_width(0xFEFF), 0);
	/* Combining marks inside a wide block still take no column. */
	ASSERT_EQ_INT(utf8_cp_width(0x3099), 0);
	ASSERT_EQ_INT(utf8_cp_width(0x302A), 0);
}

TEST(width_of_strings)
{
	ASSERT_EQ_UINT(utf8_width(""), 0);
	ASSERT_EQ_UINT(utf8_width("B12"), 3);
	ASSERT_EQ_UINT(utf8_width("桐梓林社区"), 10);
	ASSERT_EQ_UINT(utf8_width("B1 梓潼苑"), 9);
	ASSERT_EQ_UINT(utf8_width("e\xCC\x81"), 1); /* e + U+0301 */
	ASSERT_EQ_UINT(utf8_width("Cafe\xCC\x81 桐"), 7);
	ASSERT_EQ_UINT(utf8_width("\xEF\xBC\xA1\xEF\xBC\xA2"), 4); /* fullwidth AB */
	ASSERT_EQ_UINT(utf8_width("\xF0\x9F\x98\x80!"), 3);
	ASSERT_EQ_UINT(utf8_width("a\tb\x1b"), 2);
	ASSERT_EQ_UINT(utf8_width("\xEF\xBB\xBFid"), 2); /* BOM */
}

TEST(width_counts_invalid_bytes_as_one)
{
	ASSERT_EQ_UINT(utf8_width("\xFF"), 1);
	ASSERT_EQ_UINT(utf8_width("a\x80z"), 3);
	ASSERT_EQ_UINT(utf8_width("\xC0\x80"), 2);
	/* "桐" cut short: two stray bytes, then a good "梓". */
	ASSERT_EQ_UINT(utf8_width("\xE6\xA1梓"), 4);
	ASSERT_EQ_UINT(utf8_width("\xED\xA0\x80"), 3);
}

TEST(length_counts_code_points)
{
	ASSERT_EQ_UINT(utf8_length(""), 0);
	ASSERT_EQ_UINT(utf8_length("abc"), 3);
	ASSERT_EQ_UINT(utf8_length("桐梓林社区"), 5);
	ASSERT_EQ_UINT(utf8_length("B1 梓潼苑"), 6);
	ASSERT_EQ_UINT(utf8_length("e\xCC\x81"), 2);
	ASSERT_EQ_UINT(utf8_length("\xF0\x9F\x98\x80"), 1);
	ASSERT_EQ_UINT(utf8_length("a\xFF\x80z"), 4);
	ASSERT_EQ_UINT(utf8_length("\xE6\xA1"), 2);
}

static const char *padded(struct buf *b, const char *s, size_t width, int right)
{
	buf_reset(b);
	ASSERT_EQ_INT(utf8_pad(b, s, width, right), 0);
	return buf_cstr(b);
}

TEST(pad_left_and_right)
{
	struct buf b;

	buf_init(&b, 0);
	ASSERT_EQ_STR(padded(&b, "桐梓林", 10, 0), "桐梓林    ");
	ASSERT_EQ_STR(padded(&b, "桐梓林", 10, 1), "    桐梓林");
	ASSERT_EQ_STR(padded(&b, "B1", 4, 0), "B1  ");
	ASSERT_EQ_STR(padded(&b, "B1", 4, 1), "  B1");
	ASSERT_EQ_STR(padded(&b, "e\xCC\x81", 3, 0), "e\xCC\x81  ");
	ASSERT_EQ_STR(padded(&b, "", 3, 0), "   ");
	/* Exactly as wide, or wider: no padding and nothing cut. */
	ASSERT_EQ_STR(padded(&b, "桐梓", 4, 0), "桐梓");
	ASSERT_EQ_STR(padded(&b, "桐梓林社区", 4, 0), "桐梓林社区");
	ASSERT_EQ_STR(padded(&b, "桐梓林社区", 4, 1), "桐梓林社区");
	ASSERT_EQ_STR(padded(&b, "abc", 0, 1), "abc");
	buf_finish(&b);
}

TEST(pad_appends_and_lines_up_columns)
{
	static const char *names[] = {"桐梓林社区", "B1 梓潼苑", "Zone 5", "e\xCC\x81t\xC3\xA9"};
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t before = b.len;

		ASSERT_EQ_INT(buf_puts(&b, "| "), 0);
		ASSERT_EQ_INT(utf8_pad(&b, names[i], 12, 0), 0);
		ASSERT_EQ_INT(buf_puts(&b, " |"), 0);
		/* Each row is "| " + 12 columns + " |": 16 columns. */
		char row[128];
		memcpy(row, b.data + before, b.len - before);
		row[b.len - before] = '\0';
		ASSERT_EQ_UINT(utf8_width(row), 16);
		ASSERT_EQ_INT(buf_putc(&b, '\n'), 0);
	}
	ASSERT_EQ_STR(buf_cstr(&b), "| 桐梓林社区   |\n"
				    "| B1 梓潼苑    |\n"
				    "| Zone 5       |\n"
				    "| e\xCC\x81t\xC3\xA9          |\n");
	buf_finish(&b);
}

TEST(pad_fails_cleanly_at_buffer_limit)
{
	struct buf b;

	buf_init(&b, 8);
	ASSERT_EQ_INT(buf_puts(&b, "ab"), 0);
	ASSERT_EQ_INT(utf8_pad(&b, "cd", 10, 0), -ENOMEM);
	ASSERT_EQ_UINT(b.len, 2);
	ASSERT_EQ_INT(utf8_pad(&b, "cd", 10, 1), -ENOMEM);
	ASSERT_EQ_UINT(b.len, 2);
	ASSERT_EQ_INT(utf8_pad(&b, "cd", 6, 1), 0);
	ASSERT_EQ_STR(buf_cstr(&b), "ab    cd");
	buf_finish(&b);
}
