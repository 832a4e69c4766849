/* PostgreSQL array literals for statement parameters: statements that take
 * a whole list at once ($1::text[]) get it as one text value, built here.
 * Callers: the *_db.c and write files that pass lists (task issue, grid
 * import, the raise batch).
 */
#pragma once

#include <stdbool.h>

#include "common/buf.h"

/* Appends s as one element of an array literal: quoted, with '"' and '\'
 * escaped, or NULL when s is NULL; preceded by a comma unless first. The
 * caller writes the braces. 0 or -ENOMEM. */
int db_array_elem(struct buf *b, const char *s, bool first);
