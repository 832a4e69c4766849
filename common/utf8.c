/* UTF-8 validation, decoding and terminal display width; see utf8.h.
 *
 * The server checks every string a peer sends with utf8_valid(); gridctl
 * pads table columns with utf8_pad() so that Chinese names line up; the CSV
 * and JSON code decode with utf8_decode(). The width tables cover the scripts
 * a Chinese city office meets (CJK, kana, hangul, fullwidth forms, emoji and
 * the common combining marks); they are not a full implementation of UAX #11.
 */
#include "common/utf8.h"

#include <errno.h>
#include <string.h>

struct cp_range {
	uint32_t first;
	uint32_t last;
};

/* Sorted and non-overlapping, for the binary search in in_table(). */
/* clang-format off */
static const struct cp_range zero_width[] = {
	{0x0000, 0x001F},   /* C0 controls */
	{0x007F, 0x009F},   /* DEL and C1 controls */
	{0x0300, 0x036F},   /* combining diacritical marks */
	{0x0483, 0x0489},   /* Cyrillic combining marks */
	{0x0591, 0x05BD},   /* Hebrew points */
	{0x0610, 0x061A},   /* Arabic marks */
	{0x064B, 0x065F},   /* Arabic vowel marks */
	{0x1AB0, 0x1AFF},   /* combining diacritical marks extended */
	{0x1DC0, 0x1DFF},   /* combining diacritical marks supplement */
	{0x200B, 0x200F},   /* zero-width space, joiners, direction marks */
	{0x2028, 0x202E},   /* line and paragraph separators, embeddings */
	{0x2060, 0x2064},   /* word joiner and invisible operators */
	{0x20D0, 0x20FF},   /* combining marks for symbols */
	{0x302A, 0x302D},   /* ideographic tone marks */
	{0x3099, 0x309A},   /* combining kana voiced sound marks */
	{0xFE00, 0xFE0F},   /* variation selectors */
	{0xFE20, 0xFE2F},   /* combining half marks */
	{0xFEFF, 0xFEFF},   /* zero-width no-break space (BOM) */
};
/* clang-format on */

/* clang-format off */
static const struct cp_range wide[] = {
	{0x1100, 0x115F},   /* hangul jamo initial consonants */
	{0x2E80, 0x303E},   /* CJK radicals, Kangxi radicals, CJK symbols */
	{0x3041, 0x33FF},   /* kana, bopomofo, CJK compatibility */
	{0x3400, 0x4DBF},   /* CJK extension A */
	{0x4E00, 0x9FFF},   /* CJK unified ideographs */
	{0xA000, 0xA4CF},   /* Yi */
	{0xAC00, 0xD7A3},   /* hangul syllables */
	{0xF900, 0xFAFF},   /* CJK compatibility ideographs */
	{0xFE30, 0xFE4F},   /* CJK compatibility forms */
	{0xFF00, 0xFF60},   /* fullwidth forms */
	{0xFFE0, 0xFFE6},   /* fullwidth signs */
	{0x1F300, 0x1F64F}, /* pictographs and emoticons */
	{0x1F900, 0x1F9FF}, /* supplemental symbols and pictographs */
	{0x20000, 0x2FFFD}, /* CJK extensions B-F, supplementary plane */
	{0x30000, 0x3FFFD}, /* CJK extension G and later */
};
/* clang-format on */

static int in_table(uint32_t cp, const struct cp_range *t, size_t n)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp < t[mid].first)
			hi = mid;
		else if (cp > t[mid].last)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

int utf8_decode(const char *s, size_t len, uint32_t *ret_cp)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp, min;
	int n;

	if (len == 0)
		return -1;
	if (p[0] < 0x80) {
		*ret_cp = p[0];
		return 1;
	}
	/* 0x80-0xBF are continuation bytes and cannot start a sequence;
	 * 0xC0, 0xC1 and 0xF5-0xFF can only start overlong or out-of-range
	 * forms, which the minimum and maximum checks below reject too. */
	if ((p[0] & 0xE0) == 0xC0) {
		n = 2;
		cp = p[0] & 0x1F;
		min = 0x80;
	} else if ((p[0] & 0xF0) == 0xE0) {
		n = 3;
		cp = p[0] & 0x0F;
		min = 0x800;
	} else if ((p[0] & 0xF8) == 0xF0) {
		n = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len < (size_t)n)
		return -1;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*ret_cp = cp;
	return n;
}

int utf8_valid(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		int n;

		/* ASCII runs are the common case; skip the decoder for them. */
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_decode(s + i, len - i, &cp);
		if (n < 0)
			return 0;
		i += (size_t)n;
	}
	return 1;
}

int utf8_cp_width(uint32_t cp)
{
	/* Printable ASCII is by far the most frequent; answer it at once. */
	if (cp >= 0x20 && cp < 0x7F)
		return 1;
	/* Zero-width goes first: a few combining marks (the kana voiced sound
	 * marks, the ideographic tone marks) sit inside wide blocks. */
	if (in_table(cp, zero_width, sizeof(zero_width) / sizeof(zero_width[0])))
		return 0;
	if (in_table(cp, wide, sizeof(wide) / sizeof(wide[0])))
		return 2;
	return 1;
}

/* One step of the walks below: an invalid byte counts as a code point of
 * its own, one byte long, and *ret_valid tells the caller which it got. */
static size_t next_cp(const char *s, size_t len, uint32_t *ret_cp, int *ret_valid)
{
	int n = utf8_decode(s, len, ret_cp);

	if (n < 0) {
		*ret_valid = 0;
		return 1;
	}
	*ret_valid = 1;
	return (size_t)n;
}

size_t utf8_width(const char *s)
{
	size_t len = strlen(s), i = 0, width = 0;

	while (i < len) {
		uint32_t cp = 0;
		int valid;

		i += next_cp(s + i, len - i, &cp, &valid);
		width += valid ? (size_t)utf8_cp_width(cp) : 1;
	}
	return width;
}

size_t utf8_length(const char *s)
{
	size_t len = strlen(s), i = 0, count = 0;

	while (i < len) {
		uint32_t cp;
		int valid;

		i += next_cp(s + i, len - i, &cp, &valid);
		count++;
	}
	return count;
}

static int put_spaces(struct buf *out, size_t n)
{
	uint8_t *p;

	if (n == 0)
		return 0;
	p = buf_reserve(out, n);
	if (!p)
		return -ENOMEM;
	memset(p, ' ', n);
	buf_commit(out, n);
	return 0;
}

int utf8_pad(struct buf *out, const char *s, size_t width, int right)
{
	size_t w = utf8_width(s), pad = w < width ? width - w : 0;
	size_t start = out->len;
	int r;

	if (right) {
		r = put_spaces(out, pad);
		if (r == 0)
			r = buf_puts(out, s);
	} else {
		r = buf_puts(out, s);
		if (r == 0)
			r = put_spaces(out, pad);
	}
	/* Leave no half-padded cell behind when the buffer hits its limit. */
	if (r < 0)
		out->len = start;
	return r;
}
