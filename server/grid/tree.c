/* The grid cache; see tree.h. Nodes are indexed by id and by code in two
 * hash tables; each node's children are a sorted array. */
#include "server/grid/tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/htab.h"
#include "common/strutil.h"

struct tree {
	struct tree_node root;
	struct htab by_id;
	struct htab by_code;
	int64_t version;
};

static uint64_t hash_id(const void *elem)
{
	return htab_hash_u64((uint64_t)((const struct tree_node *)elem)->id);
}

static int eq_id(const void *elem, const void *key)
{
	return ((const struct tree_node *)elem)->id == *(const int64_t *)key;
}

static uint64_t hash_code(const void *elem)
{
	return htab_hash_str(((const struct tree_node *)elem)->code);
}

static int eq_code(const void *elem, const void *key)
{
	return strcmp(((const struct tree_node *)elem)->code, key) == 0;
}

struct tree *tree_create(void)
{
	struct tree *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->root.code = "";
	t->root.name = "";
	t->root.leader_name = "";
	t->root.leader_phone = "";
	htab_init(&t->by_id, hash_id, eq_id);
	htab_init(&t->by_code, hash_code, eq_code);
	return t;
}

static void node_free(struct tree_node *n)
{
	free((char *)n->code);
	free(n->children);
	free(n);
}

void tree_destroy(struct tree *t)
{
	size_t pos = 0;
	struct tree_node *n;

	if (!t)
		return;
	while ((n = htab_next(&t->by_id, &pos)))
		node_free(n);
	htab_finish(&t->by_id);
	htab_finish(&t->by_code);
	free(t->root.children);
	free(t);
}

struct tree_node *tree_find_code(const struct tree *t, const char *code)
{
	return htab_find(&t->by_code, code, htab_hash_str(code));
}

struct tree_node *tree_find_id(const struct tree *t, int64_t id)
{
	return htab_find(&t->by_id, &id, htab_hash_u64((uint64_t)id));
}

struct tree_node *tree_root(const struct tree *t)
{
	return (struct tree_node *)&t->root;
}

size_t tree_size(const struct tree *t)
{
	return t->by_id.count;
}

int64_t tree_version(const struct tree *t)
{
	return t->version;
}

void tree_set_version(struct tree *t, int64_t version)
{
	if (version > t->version)
		t->version = version;
}

bool tree_is_ancestor(const struct tree_node *anc, const struct tree_node *n)
{
	for (; n; n = n->parent)
		if (n == anc)
			return true;
	return false;
}

unsigned tree_depth(const struct tree_node *n)
{
	unsigned d = 0;

	for (; n->parent; n = n->parent)
		d++;
	return d;
}

/* Binary search: index of the first child whose code sorts at or after
 * code (strict: after). */
static uint32_t lower_bound(const struct tree_node *p, const char *code, bool strict)
{
	uint32_t lo = 0, hi = p->nchildren;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = natcmp(p->children[mid]->code, code);
		if (c < 0 || (strict && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t tree_child_after(const struct tree_node *parent, const char *code)
{
	return lower_bound(parent, code, true);
}

static int child_add(struct tree_node *p, struct tree_node *n)
{
	uint32_t i;

	if (p->nchildren == p->capchildren) {
		uint32_t cap = p->capchildren ? p->capchildren * 2 : 4;
		struct tree_node **v = realloc(p->children, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->children = v;
		p->capchildren = cap;
	}
	i = lower_bound(p, n->code, false);
	memmove(p->children + i + 1, p->children + i, (p->nchildren - i) * sizeof(*p->children));
	p->children[i] = n;
	p->nchildren++;
	if (!n->retired)
		p->active_children++;
	n->parent = p;
	return 0;
}

static void child_remove(struct tree_node *p, struct tree_node *n)
{
	uint32_t i = lower_bound(p, n->code, false);

	if (i >= p->nchildren || p->children[i] != n)
		return;
	memmove(p->children + i, p->children + i + 1,
		(p->nchildren - i - 1) * sizeof(*p->children));
	p->nchildren--;
	if (!n->retired)
		p->active_children--;
	n->parent = NULL;
}

/* Copies the four strings into one block. */
static char *strings_dup(const struct tree_row *row, const char **code, const char **name,
			 const char **leader, const char **phone)
{
	size_t lc = strlen(row->code) + 1, ln = strlen(row->name) + 1;
	size_t ll = strlen(row->leader_name) + 1, lp = strlen(row->leader_phone) + 1;
	char *s = malloc(lc + ln + ll + lp);

	if (!s)
		return NULL;
	memcpy(s, row->code, lc);
	memcpy(s + lc, row->name, ln);
	memcpy(s + lc + ln, row->leader_name, ll);
	memcpy(s + lc + ln + ll, row->leader_phone, lp);
	*code = s;
	*name = s + lc;
	*leader = s + lc + ln;
	*phone = s + lc + ln + ll;
	return s;
}

static int node_insert(struct tree *t, const struct tree_row *row, struct tree_node *parent,
		       struct tree_node **ret_node)
{
	struct tree_node *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->id = row->id;
	n->version = row->version;
	n->level = row->level;
	n->retired = row->retired;
	if (!strings_dup(row, &n->code, &n->name, &n->leader_name, &n->leader_phone)) {
		free(n);
		return -ENOMEM;
	}
	r = htab_insert(&t->by_id, n);
	if (r < 0)
		goto fail;
	r = htab_insert(&t->by_code, n);
	if (r < 0) {
		htab_remove(&t->by_id, &n->id, htab_hash_u64((uint64_t)n->id));
		goto fail;
	}
	r = child_add(parent, n);
	if (r < 0) {
		htab_remove(&t->by_id, &n->id, htab_hash_u64((uint64_t)n->id));
		htab_remove(&t->by_code, n->code, htab_hash_str(n->code));
		goto fail;
	}
	if (ret_node)
		*ret_node = n;
	return 0;
fail:
	node_free(n);
	return r;
}

static int node_update(struct tree *t, struct tree_node *n, const struct tree_row *row,
		       struct tree_node *parent)
{
	const char *code, *name, *leader, *phone;
	bool code_changed = strcmp(n->code, row->code) != 0;
	bool moved = n->parent != parent;

	if (!strings_dup(row, &code, &name, &leader, &phone))
		return -ENOMEM;
	/* Sorted positions depend on the code and the parent: take the node
	 * out, change it, put it back. */
	if (moved || code_changed || n->retired != row->retired) {
		struct tree_node *old_parent = n->parent;
		child_remove(old_parent, n);
		if (code_changed)
			htab_remove(&t->by_code, n->code, htab_hash_str(n->code));
		free((char *)n->code);
		n->code = code;
		n->name = name;
		n->leader_name = leader;
		n->leader_phone = phone;
		n->retired = row->retired;
		if (code_changed && htab_insert(&t->by_code, n) < 0)
			return -ENOMEM;
		if (child_add(parent, n) < 0) {
			/* Cannot grow the new parent's array: keep the node
			 * where it was rather than lose it. */
			if (child_add(old_parent, n) < 0)
				return -ENOMEM;
			return -ENOMEM;
		}
	} else {
		free((char *)n->code);
		n->code = code;
		n->name = name;
		n->leader_name = leader;
		n->leader_phone = phone;
	}
	n->level = row->level;
	n->version = row->version;
	return 0;
}

int tree_apply(struct tree *t, const struct tree_row *row, struct tree_node **ret_node)
{
	struct tree_node *parent = &t->root, *n, *other;
	int r;

	if (row->parent_id) {
		parent = tree_find_id(t, row->parent_id);
		if (!parent)
			return -ENOENT;
	}
	n = tree_find_id(t, row->id);
	other = tree_find_code(t, row->code);
	if (other && other != n)
		return -EEXIST;
	if (!n)
		return node_insert(t, row, parent, ret_node);
	if (row->version < n->version) {
		if (ret_node)
			*ret_node = n;
		return 0;
	}
	if (tree_is_ancestor(n, parent))
		return -ELOOP;
	r = node_update(t, n, row, parent);
	if (r == 0 && ret_node)
		*ret_node = n;
	return r;
}

static bool visible(const struct tree_node *n, bool include_retired)
{
	return include_retired || !n->retired;
}

struct tree_node *tree_preorder_first(const struct tree_node *top, bool include_retired)
{
	if (top->parent)
		return visible(top, include_retired) ? (struct tree_node *)top : NULL;
	/* The sentinel itself is not a node: start at its first child. */
	for (uint32_t i = 0; i < top->nchildren; i++)
		if (visible(top->children[i], include_retired))
			return top->children[i];
	return NULL;
}

struct tree_node *tree_preorder_next(const struct tree_node *top, const struct tree_node *n,
				     bool include_retired, unsigned max_depth)
{
	unsigned depth = tree_depth(n) - tree_depth(top);

	/* Down into the first visible child, when the depth allows. */
	if (!max_depth || depth < max_depth) {
		for (uint32_t i = 0; i < n->nchildren; i++)
			if (visible(n->children[i], include_retired))
				return n->children[i];
	}
	/* Else the next visible sibling of n or of its nearest ancestor. */
	while (n != top && n->parent) {
		const struct tree_node *p = n->parent;
		for (uint32_t i = tree_child_after(p, n->code); i < p->nchildren; i++)
			if (visible(p->children[i], include_retired))
				return p->children[i];
		n = p;
	}
	return NULL;
}
