/* The in-memory grid tree that gridd answers reads from.
 *
 * PostgreSQL is the record; this is gridd's copy, changed only through
 * tree_apply() with rows read back from the database (after this process's
 * own writes, and after NOTIFY for other processes' writes). Rows carry the
 * grid version of their last change, and a row older than what the tree
 * holds is ignored, so the order in which the two paths deliver a row does
 * not matter.
 *
 * Children are kept sorted by code in natural order (B2 before B10), which
 * gives stable listings and lets a page token be just the last code. A
 * sentinel root holds the top-level nodes. Pure data structure: no libuv, no
 * libpq; used by the grid domain (server/grid/) and tests/unit/test_tree.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tree_node {
	int64_t id;
	int64_t version;
	struct tree_node *parent;    /* the sentinel for top-level nodes; NULL for it */
	struct tree_node **children; /* sorted by natcmp(code), retired included */
	uint32_t nchildren;
	uint32_t capchildren;
	uint32_t active_children;
	uint16_t level;
	bool retired;
	bool own_strings; /* the strings are a malloc'd block, not the tree's arena */
	const char *code; /* these four share one allocation */
	const char *name;
	const char *leader_name;
	const char *leader_phone;
};

/* A node as read from the database. parent_id 0 means top level. */
struct tree_row {
	int64_t id;
	int64_t parent_id;
	int64_t version;
	uint16_t level;
	bool retired;
	const char *code;
	const char *name;
	const char *leader_name;
	const char *leader_phone;
};

struct tree;

struct tree *tree_create(void);
void tree_destroy(struct tree *t);

/* Inserts or updates the node of row (strings are copied). Returns 0, or
 * -ENOENT when the parent is not in the tree, -EEXIST when the code belongs
 * to another id, -ENOMEM. A row older than the node is skipped (returns 0).
 * ret_node (may be NULL) gets the node. */
int tree_apply(struct tree *t, const struct tree_row *row, struct tree_node **ret_node);

/* Bulk load, for the start-up: rows in any order (children may come
 * before their parents). Only into an empty tree (else -EBUSY).
 * tree_load_reserve (optional) makes room for about n nodes at once.
 * tree_load_row adds a node without linking it: -EEXIST when its id or code
 * is taken, -ENOMEM. tree_load_finish links every node to its parent and
 * sorts the children; the tree must not be read before. It fails with
 * -ENOENT when a parent is missing and -ELOOP when parents form a cycle,
 * *ret_code naming a node concerned (borrowed); the tree is then only fit
 * for tree_destroy. */
int tree_load_reserve(struct tree *t, size_t n);
int tree_load_row(struct tree *t, const struct tree_row *row);
int tree_load_finish(struct tree *t, const char **ret_code);

struct tree_node *tree_find_code(const struct tree *t, const char *code);
struct tree_node *tree_find_id(const struct tree *t, int64_t id);
/* The sentinel whose children are the top-level nodes. */
struct tree_node *tree_root(const struct tree *t);
size_t tree_size(const struct tree *t);

/* The newest grid version this tree has fully caught up with. */
int64_t tree_version(const struct tree *t);
void tree_set_version(struct tree *t, int64_t version);

/* True when anc is n or one of its ancestors. */
bool tree_is_ancestor(const struct tree_node *anc, const struct tree_node *n);
/* Distance from the sentinel: 1 for top-level nodes. */
unsigned tree_depth(const struct tree_node *n);

/* Index in parent->children of the first child whose code sorts after
 * code (natural order). */
uint32_t tree_child_after(const struct tree_node *parent, const char *code);

/* Pre-order walk of the subtree of top (top itself excluded when it is the
 * sentinel): the node after n, or NULL at the end. Retired nodes and what is
 * below them are skipped unless include_retired; max_depth (0 = no limit)
 * bounds the depth below top. Start with tree_preorder_first. */
struct tree_node *tree_preorder_first(const struct tree_node *top, bool include_retired);
struct tree_node *tree_preorder_next(const struct tree_node *top, const struct tree_node *n,
				     bool include_retired, unsigned max_depth);
