/* PostgreSQL array literals; see array.h. */
#include "server/db/array.h"

int db_array_elem(struct buf *b, const char *s, bool first)
{
	int r = first ? 0 : buf_putc(b, ',');

	if (r == 0 && !s)
		return buf_puts(b, "NULL");
	if (r == 0)
		r = buf_putc(b, '"');
	for (; r == 0 && *s; s++) {
		if (*s == '"' || *s == '\\')
			r = buf_putc(b, '\\');
		if (r == 0)
			r = buf_putc(b, *s);
	}
	if (r == 0)
		r = buf_putc(b, '"');
	return r;
}
