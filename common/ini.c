/* INI parser for gridd's --config file; see ini.h. server/config.c calls
 * ini_parse() and maps each key onto the configuration.
 *
 * Each line is copied into a fixed buffer before it is cut into section,
 * key and value, so the parser allocates nothing and a line longer than
 * INI_MAX_LINE is a syntax error rather than a reason to grow. A comment
 * is a whole line starting with '#' or ';'; inside a value those characters
 * are data, so that a password may contain them.
 */
#include "common/ini.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define INI_MAX_LINE 4096

struct parser {
	char line[INI_MAX_LINE + 1];
	char section[INI_MAX_LINE + 1];
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims spaces and tabs from both ends of s[0..*len) in place and returns
 * the new start. */
static char *trim(char *s, size_t *len)
{
	while (*len > 0 && is_blank(*s)) {
		s++;
		(*len)--;
	}
	while (*len > 0 && is_blank(s[*len - 1]))
		(*len)--;
	s[*len] = '\0';
	return s;
}

static bool is_name(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* "[name]": the name, trimmed, becomes the current section. */
static int parse_section(struct parser *p, char *s, size_t len)
{
	char *name;
	size_t n;

	/* The closing bracket must end the line. */
	if (len < 2 || s[len - 1] != ']')
		return -EINVAL;
	n = len - 2;
	name = trim(s + 1, &n);
	if (!is_name(name, n))
		return -EINVAL;
	memcpy(p->section, name, n + 1);
	return 0;
}

static int parse_key(struct parser *p, char *s, size_t len, unsigned line, ini_cb cb, void *data)
{
	char *eq = memchr(s, '=', len), *key, *value;
	size_t klen, vlen;

	if (!eq)
		return -EINVAL;
	klen = (size_t)(eq - s);
	key = trim(s, &klen);
	if (!is_name(key, klen))
		return -EINVAL;
	vlen = len - (size_t)(eq + 1 - s);
	value = trim(eq + 1, &vlen);
	if (vlen > 0 && value[0] == '"') {
		/* The quotes only protect the spaces inside; there are no
		 * escapes, so the last character must be the closing quote. */
		if (vlen < 2 || value[vlen - 1] != '"')
			return -EINVAL;
		value[vlen - 1] = '\0';
		value++;
	}
	return cb(data, p->section, key, value, line);
}

int ini_parse(const char *text, size_t len, ini_cb cb, void *data, unsigned *ret_line)
{
	struct parser p;
	size_t pos = 0;
	unsigned line = 0;
	int r;

	p.section[0] = '\0';
	/* Editors on Windows start UTF-8 files with a byte-order mark. */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
		char *s;

		line++;
		if (n > 0 && text[end - 1] == '\r')
			n--;
		/* A NUL would silently cut the line short for the callback. */
		if (n > INI_MAX_LINE || memchr(text + pos, '\0', n)) {
			r = -EINVAL;
			goto fail;
		}
		memcpy(p.line, text + pos, n);
		s = trim(p.line, &n);
		pos = nl ? end + 1 : len;

		if (n == 0 || s[0] == '#' || s[0] == ';')
			continue;
		if (s[0] == '[')
			r = parse_section(&p, s, n);
		else
			r = parse_key(&p, s, n, line, cb, data);
		if (r < 0)
			goto fail;
	}
	return 0;

fail:
	if (ret_line)
		*ret_line = line;
	return r;
}
