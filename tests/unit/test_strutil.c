/* Unit tests for common/strutil.c: natural ordering of grid codes (and that
 * it is a total order qsort can rely on), strict decimal parsing, ASCII
 * case-insensitive search and trimming.
 */
#include "tests/harness/test.h"

#include <errno.h>

#include "common/strutil.h"

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

TEST(natcmp_examples)
{
	ASSERT_EQ_INT(natcmp("B2", "B10"), -1);
	ASSERT_EQ_INT(natcmp("B10", "B2"), 1);
	ASSERT_EQ_INT(natcmp("Z5", "Z10"), -1);
	ASSERT_EQ_INT(natcmp("a", "b"), -1);
	ASSERT_EQ_INT(natcmp("b", "a"), 1);
	ASSERT_EQ_INT(natcmp("B10", "B10"), 0);
	ASSERT_EQ_INT(natcmp("", ""), 0);
	ASSERT_EQ_INT(natcmp("", "a"), -1);
	ASSERT_EQ_INT(natcmp("a", "a1"), -1);
	ASSERT_EQ_INT(natcmp("a1", "a1b"), -1);
	ASSERT_EQ_INT(natcmp("2", "10"), -1);
	ASSERT_EQ_INT(natcmp("x9y", "x10a"), -1);
	ASSERT_EQ_INT(natcmp("B2-3", "B2-12"), -1);
	ASSERT_EQ_INT(natcmp("B", "b"), -1); /* bytewise outside digits */
	/* Runs longer than any integer type compare by value too. */
	ASSERT_EQ_INT(natcmp("x99999999999999999999999", "x100000000000000000000000"), -1);
	ASSERT_EQ_INT(natcmp("x100000000000000000000001", "x100000000000000000000000"), 1);
}

TEST(natcmp_leading_zeros_deterministic)
{
	/* Equal by value, so bytes decide: "B02" < "B2", and never 0. */
	ASSERT_EQ_INT(natcmp("B02", "B2"), -1);
	ASSERT_EQ_INT(natcmp("B2", "B02"), 1);
	ASSERT_EQ_INT(natcmp("B002", "B02"), -1);
	ASSERT_EQ_INT(natcmp("B0", "B00"), -1);
	/* Value decides before the tie-break does. */
	ASSERT_EQ_INT(natcmp("B02", "B3"), -1);
	ASSERT_EQ_INT(natcmp("B010", "B9"), 1);
}

/* clang-format off */
static const char *const codes[] = {
	"B10", "B2",  "B1",  "a",   "b",    "Z10",  "Z5",   "B02",  "B2a", "B",  "",
	"B01", "B1a", "10",  "9",   "09",   "B001", "x1y2", "x1y10", "x01y2", "A", "B2-12",
	"B2-3", "梓潼苑1", "梓潼苑10", "梓潼苑2", "B0",  "B00", "b2",   "b10",
};
/* clang-format on */
#define NCODES (sizeof(codes) / sizeof(codes[0]))

TEST(natcmp_is_a_total_order)
{
	for (size_t i = 0; i < NCODES; i++) {
		ASSERT_EQ_INT(natcmp(codes[i], codes[i]), 0);
		for (size_t j = 0; j < NCODES; j++) {
			int ij = natcmp(codes[i], codes[j]), ji = natcmp(codes[j], codes[i]);

			ASSERT_MSG(sign(ij) == -sign(ji), "not antisymmetric: \"%s\" \"%s\"",
				   codes[i], codes[j]);
			ASSERT_MSG((ij == 0) == (strcmp(codes[i], codes[j]) == 0),
				   "different strings compare equal: \"%s\" \"%s\"", codes[i],
				   codes[j]);
			for (size_t k = 0; k < NCODES; k++) {
				if (ij < 0 && natcmp(codes[j], codes[k]) < 0)
					ASSERT_MSG(natcmp(codes[i], codes[k]) < 0,
						   "not transitive: \"%s\" \"%s\" \"%s\"", codes[i],
						   codes[j], codes[k]);
			}
		}
	}
}

static int natcmp_qsort(const void *a, const void *b)
{
	return natcmp(*(const char *const *)a, *(const char *const *)b);
}

TEST(natcmp_sorts_codes)
{
	const char *sorted[NCODES];
	/* clang-format off */
	static const char *const want[] = {
		"",      "09",     "9",     "10",     "A",      "B",      "B0",      "B00",
		"B001",  "B01",    "B1",    "B1a",    "B02",    "B2",     "B2-3",    "B2-12",
		"B2a",   "B10",    "Z5",    "Z10",    "a",      "b",      "b2",      "b10",
		"x01y2", "x1y2",   "x1y10", "梓潼苑1", "梓潼苑2", "梓潼苑10",
	};
	/* clang-format on */

	ASSERT_EQ_UINT(sizeof(want) / sizeof(want[0]), NCODES);
	memcpy(sorted, codes, sizeof(sorted));
	qsort(sorted, NCODES, sizeof(sorted[0]), natcmp_qsort);
	for (size_t i = 0; i < NCODES; i++)
		ASSERT_EQ_STR(sorted[i], want[i]);
}

TEST(str_to_u32_accepts)
{
	uint32_t v = 1;

	ASSERT_EQ_INT(str_to_u32("0", &v), 0);
	ASSERT_EQ_UINT(v, 0);
	ASSERT_EQ_INT(str_to_u32("7420", &v), 0);
	ASSERT_EQ_UINT(v, 7420);
	ASSERT_EQ_INT(str_to_u32("007", &v), 0);
	ASSERT_EQ_UINT(v, 7);
	ASSERT_EQ_INT(str_to_u32("4294967295", &v), 0);
	ASSERT_EQ_UINT(v, UINT32_MAX);
}

TEST(str_to_u32_rejects)
{
	/* clang-format off */
	static const char *const garbage[] = {
		"", "-1", "+1", " 1", "1 ", "12a", "a12", "0x10", "1.5", "1e3", "１２", "4294967295\n",
	};
	/* clang-format on */
	uint32_t v = 12345;

	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		ASSERT_MSG(str_to_u32(garbage[i], &v) == -EINVAL, "accepted \"%s\"", garbage[i]);
	ASSERT_EQ_INT(str_to_u32(NULL, &v), -EINVAL);
	ASSERT_EQ_INT(str_to_u32("4294967296", &v), -ERANGE);
	ASSERT_EQ_INT(str_to_u32("18446744073709551615", &v), -ERANGE);
	ASSERT_EQ_INT(str_to_u32("99999999999999999999999", &v), -ERANGE);
	/* Written only on success. */
	ASSERT_EQ_UINT(v, 12345);
}

TEST(str_to_u64_range)
{
	uint64_t v = 3;

	ASSERT_EQ_INT(str_to_u64("18446744073709551615", &v), 0);
	ASSERT_EQ_UINT(v, UINT64_MAX);
	ASSERT_EQ_INT(str_to_u64("18446744073709551616", &v), -ERANGE);
	ASSERT_EQ_INT(str_to_u64("18446744073709551620", &v), -ERANGE);
	ASSERT_EQ_INT(str_to_u64("99999999999999999999", &v), -ERANGE);
	ASSERT_EQ_UINT(v, UINT64_MAX);
	ASSERT_EQ_INT(str_to_u64("4294967296", &v), 0);
	ASSERT_EQ_UINT(v, 4294967296ULL);
	ASSERT_EQ_INT(str_to_u64("-0", &v), -EINVAL);
}

TEST(casestr)
{
	const char *h = "Hello World";

	ASSERT(str_casestr(h, "world") == h + 6);
	ASSERT(str_casestr(h, "HELLO") == h);
	ASSERT(str_casestr(h, "o w") == h + 4);
	ASSERT(str_casestr(h, "") == h);
	ASSERT(str_casestr(h, "worlds") == NULL);
	ASSERT(str_casestr(h, "Hello World!") == NULL);
	ASSERT(str_casestr("", "a") == NULL);
	ASSERT(str_casestr("", "") != NULL);

	/* A partial match must not hide the real one that overlaps it. */
	const char *a = "aaab";
	ASSERT(str_casestr(a, "AAB") == a + 1);

	const char *zh = "桐梓林社区 Zone B2";
	ASSERT(str_casestr(zh, "社区") == zh + 9);
	ASSERT(str_casestr(zh, "zone b2") == zh + 16);
	ASSERT(str_casestr(zh, "社会") == NULL);
}

static const char *trimmed(char *buf, size_t size, const char *s)
{
	char *r;

	snprintf(buf, size, "%s", s);
	r = str_trim(buf);
	ASSERT(r == buf);
	return r;
}

TEST(trim)
{
	char b[64];

	ASSERT_EQ_STR(trimmed(b, sizeof(b), "  a b \t\n"), "a b");
	ASSERT_EQ_STR(trimmed(b, sizeof(b), "x"), "x");
	ASSERT_EQ_STR(trimmed(b, sizeof(b), ""), "");
	ASSERT_EQ_STR(trimmed(b, sizeof(b), " \t\r\n\v\f "), "");
	ASSERT_EQ_STR(trimmed(b, sizeof(b), "\r\n桐梓林 社区\r\n"), "桐梓林 社区");
	ASSERT_EQ_STR(trimmed(b, sizeof(b), "lead"), "lead");
	ASSERT_EQ_STR(trimmed(b, sizeof(b), "   tail"), "tail");
	ASSERT_EQ_STR(trimmed(b, sizeof(b), "head   "), "head");
}
