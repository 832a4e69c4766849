/* Trees drawn with box-drawing characters for `gridctl node tree`.
 *
 * Items are added with their own key and their parent's key, in any order
 * (GetSubtree sends them in pre-order); an item whose parent is not in the
 * tree is a root. Children are drawn in the order they were added. The
 * first cell of each item is its label, drawn after the branches; the other
 * cells form columns that line up across all depths:
 *
 *   桐梓林社区        WH-TZL     张明
 *   ├── 第一片区      WH-TZL-Z1  李华
 *   │   └── 梓潼苑    WH-TZL-Z1-ZTY
 *   └── 第五片区      WH-TZL-Z5
 */
#pragma once

#include <stddef.h>

#include "common/buf.h"

struct tree;

/* A tree whose items have ncols cells (at least 1). NULL when out of memory. */
struct tree *tree_create(size_t ncols);
/* Accepts NULL. */
void tree_destroy(struct tree *t);

/* Adds an item. key, parent_key (NULL or "" for a root) and the ncols cells
 * are borrowed and copied. -EEXIST for a key already added, -EINVAL for a
 * NULL key, -ENOMEM. */
int tree_add(struct tree *t, const char *key, const char *parent_key, const char *const *cells);
size_t tree_size(const struct tree *t);

/* Appends the drawing, one line per item. 0 or -ENOMEM. Links the items
 * in scratch fields, so one tree is not rendered from two threads. */
int tree_render(const struct tree *t, struct buf *out);
