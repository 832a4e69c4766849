/* Aligned text tables; see table.h. Used by gridctl's node.c and tree.c. */
#include "client/gridctl/table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

#define COLUMN_GAP "  "

struct table {
	size_t ncols;
	bool *right;
	char **cells; /* rows * ncols, row-major */
	size_t rows;
	size_t cap; /* rows allocated */
};

char *table_clean(const char *s)
{
	size_t n = strlen(s), i, j;
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	for (i = j = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f) {
			d[j++] = ' ';
		} else if (ch == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
			   (unsigned char)s[i + 1] <= 0x9f) {
			/* U+0080..U+009F: C1 controls, CSI among them. */
			d[j++] = ' ';
			i++;
		} else {
			d[j++] = (char)ch;
		}
	}
	d[j] = '\0';
	return d;
}

struct table *table_create(size_t ncols)
{
	struct table *t;

	if (ncols == 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	t->right = calloc(ncols, sizeof(*t->right));
	if (!t->right) {
		free(t);
		return NULL;
	}
	return t;
}

void table_destroy(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->rows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->right);
	free(t);
}

void table_align_right(struct table *t, size_t col)
{
	if (col < t->ncols)
		t->right[col] = true;
}

size_t table_rows(const struct table *t)
{
	return t->rows;
}

int table_add_row(struct table *t, const char *const *cells)
{
	char **row;

	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p;

		if (cap > SIZE_MAX / sizeof(*p) / t->ncols)
			return -ENOMEM;
		p = realloc(t->cells, cap * t->ncols * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->cells = p;
		t->cap = cap;
	}
	row = t->cells + t->rows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = table_clean(cells[i] ? cells[i] : "");
		if (!row[i]) {
			while (i > 0)
				free(row[--i]);
			return -ENOMEM;
		}
	}
	t->rows++;
	return 0;
}

int table_render(const struct table *t, struct buf *out)
{
	size_t *width = calloc(t->ncols, sizeof(*width));
	int r = 0;

	if (!width)
		return -ENOMEM;
	for (size_t i = 0; i < t->rows; i++)
		for (size_t j = 0; j < t->ncols; j++) {
			size_t w = utf8_width(t->cells[i * t->ncols + j]);
			if (w > width[j])
				width[j] = w;
		}
	for (size_t i = 0; i < t->rows && r == 0; i++) {
		char **row = t->cells + i * t->ncols;
		size_t last = t->ncols;

		/* Trailing empty cells are left out, and the last cell
		 * written is not padded: no trailing spaces. */
		while (last > 1 && row[last - 1][0] == '\0' && !t->right[last - 1])
			last--;
		for (size_t j = 0; j < last && r == 0; j++) {
			if (j > 0)
				r = buf_puts(out, COLUMN_GAP);
			if (r == 0 && !t->right[j] && j == last - 1)
				r = buf_puts(out, row[j]);
			else if (r == 0)
				r = utf8_pad(out, row[j], width[j], t->right[j]);
		}
		if (r == 0)
			r = buf_putc(out, '\n');
	}
	free(width);
	return r;
}
