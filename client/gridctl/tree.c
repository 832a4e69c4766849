/* Box-drawn trees; see tree.h. Used by gridctl's node.c.
 *
 * Rendering links every item to its parent through a hash table of keys,
 * walks from each root in pre-order with an explicit stack (a server can
 * send a very deep chain without overflowing ours), and hands the rows,
 * branches prefixed to the labels, to table.c for alignment. Items that no
 * root reaches (a cycle in what the server sent) are drawn as roots, so
 * nothing is silently lost.
 */
#include "client/gridctl/tree.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/table.h"
#include "common/htab.h"

#define BRANCH_MID "├── "
#define BRANCH_LAST "└── "
#define TRUNK "│   "
#define SPACE "    "

struct tree_item {
	char *key;
	char *parent_key;
	char **cells;
	struct tree_item *parent; /* NULL for a root; set by tree_render() */
	struct tree_item *first_child, *last_child, *next_sibling;
	bool visited;
};

struct tree {
	size_t ncols;
	struct tree_item **items;
	size_t n, cap;
	struct htab by_key;
};

static uint64_t item_hash(const void *elem)
{
	return htab_hash_str(((const struct tree_item *)elem)->key);
}

static int item_eq(const void *elem, const void *key)
{
	return strcmp(((const struct tree_item *)elem)->key, key) == 0;
}

struct tree *tree_create(size_t ncols)
{
	struct tree *t;

	if (ncols == 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	htab_init(&t->by_key, item_hash, item_eq);
	return t;
}

static void item_free(struct tree_item *it, size_t ncols)
{
	if (!it)
		return;
	if (it->cells)
		for (size_t i = 0; i < ncols; i++)
			free(it->cells[i]);
	free(it->cells);
	free(it->key);
	free(it->parent_key);
	free(it);
}

void tree_destroy(struct tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		item_free(t->items[i], t->ncols);
	free(t->items);
	htab_finish(&t->by_key);
	free(t);
}

size_t tree_size(const struct tree *t)
{
	return t->n;
}

int tree_add(struct tree *t, const char *key, const char *parent_key, const char *const *cells)
{
	struct tree_item *it;

	if (!key)
		return -EINVAL;
	if (htab_find(&t->by_key, key, htab_hash_str(key)))
		return -EEXIST;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		struct tree_item **p = realloc(t->items, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->items = p;
		t->cap = cap;
	}
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->key = strdup(key);
	it->parent_key = strdup(parent_key ? parent_key : "");
	it->cells = calloc(t->ncols, sizeof(*it->cells));
	if (!it->key || !it->parent_key || !it->cells)
		goto nomem;
	for (size_t i = 0; i < t->ncols; i++) {
		it->cells[i] = strdup(cells[i] ? cells[i] : "");
		if (!it->cells[i])
			goto nomem;
	}
	if (htab_insert(&t->by_key, it) < 0)
		goto nomem;
	t->items[t->n++] = it;
	return 0;

nomem:
	item_free(it, t->ncols);
	return -ENOMEM;
}

static struct tree_item *first_unvisited(struct tree_item *it)
{
	while (it && it->visited)
		it = it->next_sibling;
	return it;
}

/* One row: prefix + label, then the other cells. */
static int add_row(struct table *tab, struct buf *label, const struct tree_item *it)
{
	const char **row = (const char **)it->cells;
	const char *saved = row[0];
	int r;

	if (buf_puts(label, it->cells[0]) < 0 || !buf_cstr(label))
		return -ENOMEM;
	row[0] = (const char *)label->data;
	r = table_add_row(tab, row);
	row[0] = saved;
	return r;
}

struct walk {
	struct tree_item **stack; /* the next item to draw at each depth */
	bool *more;		  /* whether depth d has items still to come */
	size_t cap;
};

static int walk_grow(struct walk *w)
{
	size_t cap = w->cap ? w->cap * 2 : 16;
	struct tree_item **s = realloc(w->stack, cap * sizeof(*s));
	bool *m;

	if (!s)
		return -ENOMEM;
	w->stack = s;
	m = realloc(w->more, cap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	w->more = m;
	w->cap = cap;
	return 0;
}

static int draw_from(struct table *tab, struct walk *w, struct buf *label, struct tree_item *root)
{
	size_t sp = 0;
	int r;

	root->visited = true;
	buf_reset(label);
	r = add_row(tab, label, root);
	if (r < 0)
		return r;
	if (w->cap == 0 && walk_grow(w) < 0)
		return -ENOMEM;
	w->stack[sp++] = first_unvisited(root->first_child);
	while (sp > 0) {
		struct tree_item *it = w->stack[sp - 1], *next;

		if (!it) {
			sp--;
			continue;
		}
		it->visited = true;
		next = first_unvisited(it->next_sibling);
		w->stack[sp - 1] = next;
		w->more[sp - 1] = next != NULL;

		buf_reset(label);
		for (size_t d = 0; d + 1 < sp; d++)
			if (buf_puts(label, w->more[d] ? TRUNK : SPACE) < 0)
				return -ENOMEM;
		if (buf_puts(label, next ? BRANCH_MID : BRANCH_LAST) < 0)
			return -ENOMEM;
		r = add_row(tab, label, it);
		if (r < 0)
			return r;

		if (sp == w->cap && walk_grow(w) < 0)
			return -ENOMEM;
		w->stack[sp++] = first_unvisited(it->first_child);
	}
	return 0;
}

int tree_render(const struct tree *t, struct buf *out)
{
	struct table *tab = table_create(t->ncols);
	struct walk w = {0};
	struct buf label;
	int r = 0;

	if (!tab)
		return -ENOMEM;
	buf_init(&label, 0);
	for (size_t i = 0; i < t->n; i++) {
		struct tree_item *it = t->items[i];

		it->parent = it->first_child = it->last_child = it->next_sibling = NULL;
		it->visited = false;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct tree_item *it = t->items[i], *p = NULL;

		if (it->parent_key[0])
			p = htab_find(&t->by_key, it->parent_key, htab_hash_str(it->parent_key));
		if (!p || p == it)
			continue;
		it->parent = p;
		if (p->last_child)
			p->last_child->next_sibling = it;
		else
			p->first_child = it;
		p->last_child = it;
	}
	/* Roots first, in the order added; then whatever a cycle hid. */
	for (int pass = 0; pass < 2 && r == 0; pass++)
		for (size_t i = 0; i < t->n && r == 0; i++) {
			struct tree_item *it = t->items[i];

			if (it->visited || (pass == 0 && it->parent))
				continue;
			r = draw_from(tab, &w, &label, it);
		}
	if (r == 0)
		r = table_render(tab, out);
	free(w.stack);
	free(w.more);
	buf_finish(&label);
	table_destroy(tab);
	return r;
}
