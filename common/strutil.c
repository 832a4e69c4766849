/* String helpers; see strutil.h. */
#include "common/strutil.h"

#include <errno.h>
#include <string.h>

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int natcmp(const char *a, const char *b)
{
	const char *pa = a, *pb = b;

	while (*pa && *pb) {
		if (is_digit(*pa) && is_digit(*pb)) {
			const char *sa, *sb;
			size_t la, lb;
			int c;

			while (*pa == '0' && is_digit(pa[1]))
				pa++;
			while (*pb == '0' && is_digit(pb[1]))
				pb++;
			for (sa = pa; is_digit(*pa); pa++)
				;
			for (sb = pb; is_digit(*pb); pb++)
				;
			la = (size_t)(pa - sa);
			lb = (size_t)(pb - sb);
			if (la != lb)
				return la < lb ? -1 : 1;
			c = memcmp(sa, sb, la);
			if (c)
				return c < 0 ? -1 : 1;
			continue;
		}
		if (*pa != *pb)
			return (unsigned char)*pa < (unsigned char)*pb ? -1 : 1;
		pa++;
		pb++;
	}
	if (*pa || *pb)
		return *pa ? 1 : -1;
	/* Equal by value ("B02" and "B2"): fall back to bytes. */
	int c = strcmp(a, b);
	return c < 0 ? -1 : c > 0;
}

const char *str_casestr(const char *haystack, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return haystack;
	for (; *haystack; haystack++)
		if (strncasecmp(haystack, needle, n) == 0)
			return haystack;
	return NULL;
}

int str_to_u64(const char *s, uint64_t *ret_v)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!is_digit(*s))
			return -EINVAL;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret_v = v;
	return 0;
}

int str_to_u32(const char *s, uint32_t *ret_v)
{
	uint64_t v;
	int r = str_to_u64(s, &v);

	if (r < 0)
		return r;
	if (v > UINT32_MAX)
		return -ERANGE;
	*ret_v = (uint32_t)v;
	return 0;
}

static int is_space(char c)
{
	/* ASCII only: isspace() depends on the locale and could cut a byte
	 * off a UTF-8 character. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

char *str_trim(char *s)
{
	char *start = s, *end;

	while (is_space(*start))
		start++;
	if (start != s)
		memmove(s, start, strlen(start) + 1);
	end = s + strlen(s);
	while (end > s && is_space(end[-1]))
		*--end = '\0';
	return s;
}
