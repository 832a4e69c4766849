/* Column-aligned text tables for gridctl's human output (node ls, node
 * find, the field list of node show, and the rows tree.c draws).
 *
 * Columns are separated by two spaces and padded by display width, not by
 * bytes, so Chinese names (two columns per character) line up with ASCII
 * codes. Lines carry no trailing spaces. Every cell is copied and cleaned of
 * control characters on the way in, so a name from the server can neither
 * break the layout nor send escape sequences to the terminal.
 */
#pragma once

#include <stddef.h>

#include "common/buf.h"

struct table;

/* A table of ncols columns (at least 1). NULL when out of memory. */
struct table *table_create(size_t ncols);
/* Accepts NULL. */
void table_destroy(struct table *t);

/* Pads the column on the left (numbers). */
void table_align_right(struct table *t, size_t col);

/* Appends a row of ncols cells (borrowed, copied; a NULL cell is empty).
 * A header is simply the first row. 0 or -ENOMEM. */
int table_add_row(struct table *t, const char *const *cells);
size_t table_rows(const struct table *t);

/* Appends the rendered table, one line per row, each ending in "\n".
 * 0 or -ENOMEM. */
int table_render(const struct table *t, struct buf *out);

/* A copy of s with C0/C1 control characters and DEL replaced by spaces;
 * the caller frees it. NULL when out of memory. */
char *table_clean(const char *s);
