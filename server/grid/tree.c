/* The grid cache; see tree.h.
 *
 * Built to hold a city (about 870,000 nodes) in little memory and to load
 * it fast at start-up:
 * - nodes live in slabs of NODES_PER_SLAB, never freed one by one (a node
 *   is never removed: retired nodes stay), so there is no per-node malloc;
 *   the four strings of a node come from a string arena, except after an
 *   update, when they get a block of their own (own_strings);
 * - the two indexes (by id, by code) are open-addressing tables of 64-bit
 *   slots holding 32 bits of the key's hash and the node's slab index: a
 *   probe compares the hash bits and touches a node only when they match,
 *   and growing the table reads no node at all;
 * - tree_load_row/tree_load_finish take the rows in any order and link
 *   parents and children once at the end, so the database sends the table
 *   without sorting it.
 */
#include "server/grid/tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/htab.h"
#include "common/strutil.h"

#define NODES_PER_SLAB 4096
#define STRING_BLOCK (1u << 20)

/* An index slot: 0 when empty, else (hash low 32 bits) << 32 | (node index
 * + 1). The table's size is a power of two of at most 2^32 slots, so the
 * stored bits give the home slot again when it grows. */
struct index {
	uint64_t *slots;
	size_t cap;
	size_t count;
};

struct string_block {
	struct string_block *next;
	size_t used, size;
	char data[];
};

struct tree {
	struct tree_node root;
	struct tree_node **slabs;
	size_t nslabs, capslabs;
	uint32_t nnodes;
	struct index by_id;
	struct index by_code;
	struct string_block *strings;
	/* Parent ids of the nodes loaded by tree_load_row, by node index from
	 * load_first, until tree_load_finish links them. */
	int64_t *load_parents;
	uint32_t load_first, load_cap;
	int64_t version;
};

static struct tree_node *node_at(const struct tree *t, uint32_t i)
{
	return &t->slabs[i / NODES_PER_SLAB][i % NODES_PER_SLAB];
}

static uint64_t hash_id(int64_t id)
{
	return htab_hash_u64((uint64_t)id);
}

/* --- the indexes --------------------------------------------------------- */

static int index_resize(struct index *x, size_t cap)
{
	uint64_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t j = 0; j < x->cap; j++) {
		uint64_t s = x->slots[j];
		if (!s)
			continue;
		size_t i = (s >> 32) & (cap - 1);
		while (slots[i])
			i = (i + 1) & (cap - 1);
		slots[i] = s;
	}
	free(x->slots);
	x->slots = slots;
	x->cap = cap;
	return 0;
}

/* Room for n entries at a load of at most 1/2 after growing (3/4 before),
 * so a probe stays short. */
static int index_reserve(struct index *x, size_t n)
{
	size_t cap = x->cap ? x->cap : 16;

	if (n * 4 < x->cap * 3)
		return 0;
	while (n * 2 >= cap)
		cap *= 2;
	if (cap > ((size_t)1 << 32))
		return -ENOMEM;
	return index_resize(x, cap);
}

/* Adds node under hash. With eq, refuses (-EEXIST) when an entry equal to
 * key is there already: one probe sequence instead of a lookup and an
 * insert. */
static int index_insert_unique(const struct tree *t, struct index *x, uint64_t hash, uint32_t node,
			       bool (*eq)(const struct tree_node *n, const void *key),
			       const void *key)
{
	uint64_t want = hash & 0xffffffffu;
	size_t i;
	int r = index_reserve(x, x->count + 1);

	if (r < 0)
		return r;
	for (i = want & (x->cap - 1); x->slots[i]; i = (i + 1) & (x->cap - 1)) {
		uint64_t s = x->slots[i];
		if (eq && s >> 32 == want && eq(node_at(t, (uint32_t)(s & 0xffffffffu) - 1), key))
			return -EEXIST;
	}
	x->slots[i] = want << 32 | ((uint64_t)node + 1);
	x->count++;
	return 0;
}

static int index_insert(struct index *x, uint64_t hash, uint32_t node)
{
	return index_insert_unique(NULL, x, hash, node, NULL, NULL);
}

/* The slot of the entry whose hash bits match and that eq accepts, or
 * SIZE_MAX. */
static size_t index_lookup(const struct tree *t, const struct index *x, uint64_t hash,
			   bool (*eq)(const struct tree_node *n, const void *key), const void *key)
{
	uint64_t want = hash & 0xffffffffu;

	if (!x->cap)
		return SIZE_MAX;
	for (size_t i = want & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
		uint64_t s = x->slots[i];
		if (!s)
			return SIZE_MAX;
		if (s >> 32 == want && eq(node_at(t, (uint32_t)(s & 0xffffffffu) - 1), key))
			return i;
	}
}

/* Backward-shift deletion: no tombstones, so lookups never slow down after
 * many renames. */
static void index_delete(struct index *x, size_t i)
{
	size_t mask = x->cap - 1, j = i;

	for (;;) {
		j = (j + 1) & mask;
		uint64_t s = x->slots[j];
		if (!s)
			break;
		size_t home = (s >> 32) & mask;
		/* Move s back into the hole unless its home lies cyclically in
		 * (i, j]. */
		bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (!stays) {
			x->slots[i] = s;
			i = j;
		}
	}
	x->slots[i] = 0;
	x->count--;
}

static bool eq_id(const struct tree_node *n, const void *key)
{
	return n->id == *(const int64_t *)key;
}

static bool eq_code(const struct tree_node *n, const void *key)
{
	return strcmp(n->code, key) == 0;
}

static struct tree_node *index_node(const struct tree *t, const struct index *x, size_t slot)
{
	return slot == SIZE_MAX ? NULL : node_at(t, (uint32_t)(x->slots[slot] & 0xffffffffu) - 1);
}

/* --- storage ------------------------------------------------------------- */

/* The next free node, zeroed, with its index in *ret_index. */
static struct tree_node *node_alloc(struct tree *t, uint32_t *ret_index)
{
	struct tree_node *n;

	if (t->nnodes == UINT32_MAX - 1)
		return NULL;
	if (t->nnodes == t->nslabs * NODES_PER_SLAB) {
		if (t->nslabs == t->capslabs) {
			size_t cap = t->capslabs ? t->capslabs * 2 : 16;
			struct tree_node **v = realloc(t->slabs, cap * sizeof(*v));
			if (!v)
				return NULL;
			t->slabs = v;
			t->capslabs = cap;
		}
		t->slabs[t->nslabs] = malloc(NODES_PER_SLAB * sizeof(struct tree_node));
		if (!t->slabs[t->nslabs])
			return NULL;
		t->nslabs++;
	}
	*ret_index = t->nnodes;
	n = node_at(t, t->nnodes++);
	memset(n, 0, sizeof(*n));
	return n;
}

/* Gives back the node just allocated (an insert that failed half-way). */
static void node_unalloc(struct tree *t)
{
	t->nnodes--;
}

static char *arena_strings(struct tree *t, size_t len)
{
	struct string_block *b = t->strings;
	char *s;

	if (len > STRING_BLOCK / 4)
		return NULL; /* the caller falls back to malloc */
	if (!b || b->size - b->used < len) {
		b = malloc(sizeof(*b) + STRING_BLOCK);
		if (!b)
			return NULL;
		b->next = t->strings;
		b->used = 0;
		b->size = STRING_BLOCK;
		t->strings = b;
	}
	s = b->data + b->used;
	b->used += len;
	return s;
}

/* Copies the four strings of row into one block (from the arena unless
 * own), and points the node at them. */
static int strings_set(struct tree *t, struct tree_node *n, const struct tree_row *row, bool own)
{
	size_t lc = strlen(row->code) + 1, ln = strlen(row->name) + 1;
	size_t ll = strlen(row->leader_name) + 1, lp = strlen(row->leader_phone) + 1;
	size_t len = lc + ln + ll + lp;
	char *s = own ? NULL : arena_strings(t, len);

	if (!s) {
		s = malloc(len);
		if (!s)
			return -ENOMEM;
		own = true;
	}
	memcpy(s, row->code, lc);
	memcpy(s + lc, row->name, ln);
	memcpy(s + lc + ln, row->leader_name, ll);
	memcpy(s + lc + ln + ll, row->leader_phone, lp);
	if (n->own_strings)
		free((char *)n->code);
	n->code = s;
	n->name = s + lc;
	n->leader_name = s + lc + ln;
	n->leader_phone = s + lc + ln + ll;
	n->own_strings = own;
	return 0;
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
	return t;
}

void tree_destroy(struct tree *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nnodes; i++) {
		struct tree_node *n = node_at(t, i);
		free(n->children);
		if (n->own_strings)
			free((char *)n->code);
	}
	for (size_t i = 0; i < t->nslabs; i++)
		free(t->slabs[i]);
	free(t->slabs);
	while (t->strings) {
		struct string_block *b = t->strings;
		t->strings = b->next;
		free(b);
	}
	free(t->by_id.slots);
	free(t->by_code.slots);
	free(t->load_parents);
	free(t->root.children);
	free(t);
}

struct tree_node *tree_find_code(const struct tree *t, const char *code)
{
	return index_node(t, &t->by_code,
			  index_lookup(t, &t->by_code, htab_hash_str(code), eq_code, code));
}

struct tree_node *tree_find_id(const struct tree *t, int64_t id)
{
	return index_node(t, &t->by_id, index_lookup(t, &t->by_id, hash_id(id), eq_id, &id));
}

struct tree_node *tree_root(const struct tree *t)
{
	return (struct tree_node *)&t->root;
}

size_t tree_size(const struct tree *t)
{
	return t->nnodes;
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

/* The slab index of n, through the id index (nodes do not carry it). */
static uint32_t node_index(const struct tree *t, const struct tree_node *n)
{
	size_t slot = index_lookup(t, &t->by_id, hash_id(n->id), eq_id, &n->id);

	return (uint32_t)(t->by_id.slots[slot] & 0xffffffffu) - 1;
}

/* Takes back a node that node_alloc just gave (nothing points at it). */
static void node_drop(struct tree *t, struct tree_node *n)
{
	if (n->own_strings)
		free((char *)n->code);
	node_unalloc(t);
}

/* A new node (at *idx) with row's values, in no index yet; NULL when out
 * of memory. Both ways in (tree_apply's insert, tree_load_row) start so. */
static struct tree_node *node_new(struct tree *t, const struct tree_row *row, uint32_t *idx)
{
	struct tree_node *n = node_alloc(t, idx);

	if (!n)
		return NULL;
	n->id = row->id;
	n->version = row->version;
	n->level = row->level;
	n->retired = row->retired;
	if (strings_set(t, n, row, false) < 0) {
		node_drop(t, n);
		return NULL;
	}
	return n;
}

static int node_insert(struct tree *t, const struct tree_row *row, struct tree_node *parent,
		       struct tree_node **ret_node)
{
	uint32_t idx;
	struct tree_node *n = node_new(t, row, &idx);
	int r;

	if (!n)
		return -ENOMEM;
	r = index_insert(&t->by_id, hash_id(n->id), idx);
	if (r < 0)
		goto fail;
	r = index_insert(&t->by_code, htab_hash_str(n->code), idx);
	if (r < 0)
		goto fail_id;
	r = child_add(parent, n);
	if (r < 0)
		goto fail_code;
	if (ret_node)
		*ret_node = n;
	return 0;
fail_code:
	index_delete(&t->by_code,
		     index_lookup(t, &t->by_code, htab_hash_str(n->code), eq_code, n->code));
fail_id:
	index_delete(&t->by_id, index_lookup(t, &t->by_id, hash_id(n->id), eq_id, &n->id));
fail:
	node_drop(t, n);
	return r;
}

static int node_update(struct tree *t, struct tree_node *n, const struct tree_row *row,
		       struct tree_node *parent)
{
	bool code_changed = strcmp(n->code, row->code) != 0;
	bool moved = n->parent != parent;
	int r;

	if (!moved && !code_changed && n->retired == row->retired) {
		r = strings_set(t, n, row, true);
		if (r < 0)
			return r;
	} else {
		/* Sorted positions depend on the code and the parent: take the
		 * node out, change it, put it back. */
		struct tree_node *old_parent = n->parent;
		size_t slot = code_changed ? index_lookup(t, &t->by_code, htab_hash_str(n->code),
							  eq_code, n->code)
					   : SIZE_MAX;
		child_remove(old_parent, n);
		r = strings_set(t, n, row, true);
		if (r < 0) {
			/* It left a free place in the old parent's array. */
			child_add(old_parent, n);
			return r;
		}
		if (code_changed) {
			if (slot != SIZE_MAX)
				index_delete(&t->by_code, slot);
			if (index_insert(&t->by_code, htab_hash_str(n->code), node_index(t, n)) < 0)
				return -ENOMEM;
		}
		n->retired = row->retired;
		if (child_add(parent, n) < 0) {
			/* Cannot grow the new parent's array: keep the node
			 * where it was rather than lose it. */
			if (child_add(old_parent, n) < 0)
				return -ENOMEM;
			return -ENOMEM;
		}
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

/* --- bulk load ------------------------------------------------------------ */

static bool load_allowed(const struct tree *t)
{
	return t->load_parents || (t->nnodes == 0 && t->root.nchildren == 0);
}

int tree_load_reserve(struct tree *t, size_t n)
{
	int r;

	if (!load_allowed(t))
		return -EBUSY;
	r = index_reserve(&t->by_id, t->nnodes + n);
	if (r == 0)
		r = index_reserve(&t->by_code, t->nnodes + n);
	return r;
}

int tree_load_row(struct tree *t, const struct tree_row *row)
{
	struct tree_node *n;
	uint32_t idx;
	int r;

	if (!load_allowed(t))
		return -EBUSY;
	if (t->nnodes == t->load_cap) {
		uint32_t cap = t->load_cap ? t->load_cap * 2 : 1024;
		int64_t *v = realloc(t->load_parents, (size_t)cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->load_parents = v;
		t->load_cap = cap;
	}
	n = node_new(t, row, &idx);
	if (!n)
		return -ENOMEM;
	r = index_insert_unique(t, &t->by_id, hash_id(n->id), idx, eq_id, &n->id);
	if (r == 0) {
		r = index_insert_unique(t, &t->by_code, htab_hash_str(n->code), idx, eq_code,
					n->code);
		if (r < 0)
			index_delete(&t->by_id,
				     index_lookup(t, &t->by_id, hash_id(n->id), eq_id, &n->id));
	}
	if (r < 0) {
		node_drop(t, n);
		return r;
	}
	t->load_parents[idx] = row->parent_id;
	return 0;
}

static int cmp_children(const void *a, const void *b)
{
	return natcmp((*(struct tree_node *const *)a)->code, (*(struct tree_node *const *)b)->code);
}

/* Gives p an array of exactly the size counted in capchildren. */
static int children_alloc(struct tree_node *p)
{
	if (!p->capchildren)
		return 0;
	p->children = malloc(p->capchildren * sizeof(*p->children));
	return p->children ? 0 : -ENOMEM;
}

int tree_load_finish(struct tree *t, const char **ret_code)
{
	uint32_t i, reached = 0;
	int r = 0;

	*ret_code = "";
	if (!t->load_parents)
		return t->nnodes || t->root.nchildren ? -EBUSY : 0;
	/* Parents first, counting each one's children in capchildren. Rows
	 * mostly come in the order they were written, siblings together:
	 * the last parent found is often the next one asked for. */
	struct tree_node *last = &t->root;
	int64_t last_id = 0;
	for (i = 0; i < t->nnodes; i++) {
		struct tree_node *n = node_at(t, i), *p = &t->root;
		if (t->load_parents[i] && t->load_parents[i] == last_id) {
			p = last;
		} else if (t->load_parents[i]) {
			p = tree_find_id(t, t->load_parents[i]);
			last = p;
			last_id = t->load_parents[i];
			if (!p) {
				*ret_code = n->code;
				r = -ENOENT;
				goto out;
			}
		}
		n->parent = p;
		p->capchildren++;
	}
	r = children_alloc(&t->root);
	for (i = 0; i < t->nnodes && r == 0; i++)
		r = children_alloc(node_at(t, i));
	if (r < 0)
		goto out;
	for (i = 0; i < t->nnodes; i++) {
		struct tree_node *n = node_at(t, i);
		n->parent->children[n->parent->nchildren++] = n;
		if (!n->retired)
			n->parent->active_children++;
	}
	qsort(t->root.children, t->root.nchildren, sizeof(*t->root.children), cmp_children);
	for (i = 0; i < t->nnodes; i++) {
		struct tree_node *n = node_at(t, i);
		if (n->nchildren > 1)
			qsort(n->children, n->nchildren, sizeof(*n->children), cmp_children);
	}
	/* A node in a cycle of parents cannot be reached from the top. */
	for (const struct tree_node *n = tree_preorder_first(&t->root, true); n;
	     n = tree_preorder_next(&t->root, n, true, 0))
		reached++;
	if (reached != t->nnodes) {
		r = -ELOOP;
		for (i = 0; i < t->nnodes && !**ret_code; i++) {
			const struct tree_node *n = node_at(t, i);
			uint32_t steps = 0;
			while (n->parent && steps++ <= t->nnodes)
				n = n->parent;
			if (n != &t->root)
				*ret_code = node_at(t, i)->code;
		}
	}
out:
	free(t->load_parents);
	t->load_parents = NULL;
	t->load_cap = 0;
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
