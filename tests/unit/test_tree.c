/* The grid cache: natural ordering of children, moves, retirement counts,
 * stale rows ignored, the pre-order walk with its depth limit and retired
 * subtrees, and the errors that keep the cache a tree. */
#include <errno.h>

#include "common/strutil.h"
#include "server/grid/tree.h"
#include "tests/harness/test.h"

static void add(struct tree *t, int64_t id, int64_t parent, uint16_t level, const char *code,
		int64_t version)
{
	struct tree_row row = {id, parent, version, level, false, code, code, "", ""};
	ASSERT_EQ_INT(tree_apply(t, &row, NULL), 0);
}

/* D1 > S1 > {C1 > {Z1, Z2, Z10}, C2} ; D2 */
static struct tree *sample(void)
{
	struct tree *t = tree_create();

	add(t, 1, 0, 0, "D1", 1);
	add(t, 2, 1, 1, "S1", 1);
	add(t, 3, 2, 2, "C1", 1);
	add(t, 4, 3, 3, "Z10", 1);
	add(t, 5, 3, 3, "Z2", 1);
	add(t, 6, 3, 3, "Z1", 1);
	add(t, 7, 2, 2, "C2", 1);
	add(t, 8, 0, 0, "D2", 1);
	return t;
}

static void walk(const struct tree_node *top, bool retired, unsigned depth, char *out, size_t len)
{
	out[0] = '\0';
	for (const struct tree_node *n = tree_preorder_first(top, retired); n;
	     n = tree_preorder_next(top, n, retired, depth)) {
		if (out[0])
			strncat(out, " ", len - strlen(out) - 1);
		strncat(out, n->code, len - strlen(out) - 1);
	}
}

TEST(children_sorted_naturally)
{
	struct tree *t = sample();
	struct tree_node *c1 = tree_find_code(t, "C1");

	ASSERT_NOT_NULL(c1);
	ASSERT_EQ_UINT(c1->nchildren, 3);
	ASSERT_EQ_STR(c1->children[0]->code, "Z1");
	ASSERT_EQ_STR(c1->children[1]->code, "Z2");
	ASSERT_EQ_STR(c1->children[2]->code, "Z10");
	ASSERT_EQ_UINT(c1->active_children, 3);
	ASSERT_EQ_UINT(tree_root(t)->nchildren, 2);
	ASSERT_EQ_UINT(tree_size(t), 8);
	ASSERT_EQ_UINT(tree_child_after(c1, "Z2"), 2);
	ASSERT_EQ_UINT(tree_child_after(c1, "Z10"), 3);
	ASSERT_EQ_UINT(tree_child_after(c1, "A"), 0);
	tree_destroy(t);
}

TEST(preorder_walk)
{
	struct tree *t = sample();
	char out[256];

	walk(tree_root(t), false, 0, out, sizeof(out));
	ASSERT_EQ_STR(out, "D1 S1 C1 Z1 Z2 Z10 C2 D2");
	walk(tree_find_code(t, "S1"), false, 0, out, sizeof(out));
	ASSERT_EQ_STR(out, "S1 C1 Z1 Z2 Z10 C2");
	walk(tree_find_code(t, "S1"), false, 1, out, sizeof(out));
	ASSERT_EQ_STR(out, "S1 C1 C2");
	walk(tree_find_code(t, "Z2"), false, 0, out, sizeof(out));
	ASSERT_EQ_STR(out, "Z2");
	tree_destroy(t);
}

TEST(retired_nodes_hidden_unless_asked)
{
	struct tree *t = sample();
	struct tree_row row = {3, 2, 2, 2, true, "C1", "C1", "", ""};
	char out[256];

	ASSERT_EQ_INT(tree_apply(t, &row, NULL), 0);
	ASSERT_EQ_UINT(tree_find_code(t, "S1")->active_children, 1);
	ASSERT_EQ_UINT(tree_find_code(t, "S1")->nchildren, 2);
	walk(tree_root(t), false, 0, out, sizeof(out));
	ASSERT_EQ_STR(out, "D1 S1 C2 D2");
	walk(tree_root(t), true, 0, out, sizeof(out));
	ASSERT_EQ_STR(out, "D1 S1 C1 Z1 Z2 Z10 C2 D2");
	tree_destroy(t);
}

TEST(move_keeps_subtree)
{
	struct tree *t = sample();
	struct tree_row row = {3, 8, 2, 2, false, "C1", "C1", "", ""};
	char out[256];

	ASSERT_EQ_INT(tree_apply(t, &row, NULL), 0);
	ASSERT(tree_find_code(t, "C1")->parent == tree_find_code(t, "D2"));
	ASSERT_EQ_UINT(tree_find_code(t, "S1")->active_children, 1);
	ASSERT_EQ_UINT(tree_find_code(t, "D2")->active_children, 1);
	walk(tree_find_code(t, "D2"), false, 0, out, sizeof(out));
	ASSERT_EQ_STR(out, "D2 C1 Z1 Z2 Z10");
	ASSERT(tree_is_ancestor(tree_find_code(t, "D2"), tree_find_code(t, "Z10")));
	ASSERT(!tree_is_ancestor(tree_find_code(t, "D1"), tree_find_code(t, "Z10")));
	tree_destroy(t);
}

TEST(stale_rows_are_ignored)
{
	struct tree *t = sample();
	struct tree_row newer = {5, 3, 5, 3, false, "Z2", "new name", "王", "138"};
	struct tree_row older = {5, 3, 4, 3, false, "Z2", "old name", "", ""};
	struct tree_node *n;

	ASSERT_EQ_INT(tree_apply(t, &newer, &n), 0);
	ASSERT_EQ_STR(n->name, "new name");
	ASSERT_EQ_INT(tree_apply(t, &older, &n), 0);
	ASSERT_EQ_STR(n->name, "new name");
	ASSERT_EQ_STR(n->leader_name, "王");
	ASSERT_EQ_INT(n->version, 5);
	tree_destroy(t);
}

TEST(tree_rules)
{
	struct tree *t = sample();
	struct tree_row orphan = {20, 999, 2, 3, false, "X", "X", "", ""};
	struct tree_row dup = {21, 3, 2, 3, false, "Z1", "Z1", "", ""};
	struct tree_row cycle = {2, 5, 2, 1, false, "S1", "S1", "", ""};

	ASSERT_EQ_INT(tree_apply(t, &orphan, NULL), -ENOENT);
	ASSERT_EQ_INT(tree_apply(t, &dup, NULL), -EEXIST);
	ASSERT_EQ_INT(tree_apply(t, &cycle, NULL), -ELOOP);
	/* Nothing changed. */
	ASSERT_EQ_UINT(tree_size(t), 8);
	ASSERT(tree_find_code(t, "S1")->parent == tree_find_code(t, "D1"));
	tree_destroy(t);
}

TEST(depth_and_version)
{
	struct tree *t = sample();

	ASSERT_EQ_UINT(tree_depth(tree_find_code(t, "D1")), 1);
	ASSERT_EQ_UINT(tree_depth(tree_find_code(t, "Z10")), 4);
	tree_set_version(t, 7);
	tree_set_version(t, 3);
	ASSERT_EQ_INT(tree_version(t), 7);
	ASSERT(tree_find_id(t, 6) == tree_find_code(t, "Z1"));
	ASSERT(tree_find_id(t, 42) == NULL);
	tree_destroy(t);
}

TEST(many_nodes)
{
	struct tree *t = tree_create();
	char code[32];

	add(t, 1, 0, 0, "ROOT", 1);
	for (int i = 0; i < 20000; i++) {
		snprintf(code, sizeof(code), "N%d", i);
		add(t, i + 2, 1 + (i % 7 == 0 ? 0 : 1), (uint16_t)(i % 7 == 0 ? 1 : 2), code, 1);
	}
	ASSERT_EQ_UINT(tree_size(t), 20001);
	/* N0 (id 2) holds every N<i> with i not a multiple of 7, in natural
	 * order: N1 .. N6, N8, N9, N10, ... */
	struct tree_node *n0 = tree_find_code(t, "N0");
	ASSERT_EQ_UINT(n0->nchildren, 20000 - 2858);
	for (uint32_t i = 1; i < n0->nchildren; i++)
		ASSERT(natcmp(n0->children[i - 1]->code, n0->children[i]->code) < 0);
	ASSERT_EQ_STR(n0->children[0]->code, "N1");
	ASSERT_EQ_STR(n0->children[5]->code, "N6");
	ASSERT_EQ_STR(n0->children[6]->code, "N8");
	ASSERT_EQ_STR(n0->children[8]->code, "N10");
	ASSERT(tree_find_code(t, "N19998")->parent == n0);
	ASSERT(tree_find_code(t, "N19999")->parent == tree_find_code(t, "ROOT"));
	tree_destroy(t);
}

/* The start-up load takes rows in any order: children before parents gives
 * the same tree as tree_apply in parent order. */
TEST(bulk_load_any_order)
{
	static const struct tree_row rows[] = {
	    {6, 3, 1, 3, false, "Z1", "Z1", "", ""},   {4, 3, 1, 3, false, "Z10", "Z10", "", ""},
	    {8, 0, 1, 0, false, "D2", "D2", "", ""},   {3, 2, 1, 2, false, "C1", "C1", "", ""},
	    {5, 3, 1, 3, true, "Z2", "Z2", "王", "1"}, {7, 2, 1, 2, false, "C2", "C2", "", ""},
	    {2, 1, 1, 1, false, "S1", "S1", "", ""},   {1, 0, 1, 0, false, "D1", "D1", "", ""},
	};
	struct tree *t = tree_create();
	const char *bad;
	char out[256];

	ASSERT_EQ_INT(tree_load_reserve(t, 8), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		ASSERT_EQ_INT(tree_load_row(t, &rows[i]), 0);
	ASSERT_EQ_INT(tree_load_finish(t, &bad), 0);
	ASSERT_EQ_UINT(tree_size(t), 8);
	walk(tree_root(t), true, 0, out, sizeof(out));
	ASSERT_EQ_STR(out, "D1 S1 C1 Z1 Z2 Z10 C2 D2");
	walk(tree_root(t), false, 0, out, sizeof(out));
	ASSERT_EQ_STR(out, "D1 S1 C1 Z1 Z10 C2 D2");
	ASSERT_EQ_UINT(tree_find_code(t, "C1")->nchildren, 3);
	ASSERT_EQ_UINT(tree_find_code(t, "C1")->active_children, 2);
	ASSERT_EQ_UINT(tree_root(t)->nchildren, 2);
	ASSERT_EQ_STR(tree_find_id(t, 5)->leader_name, "王");
	ASSERT(tree_find_code(t, "Z10")->parent == tree_find_id(t, 3));
	/* Loaded once: later changes go through tree_apply. */
	ASSERT_EQ_INT(tree_load_row(t, &rows[0]), -EBUSY);
	add(t, 9, 3, 3, "Z3", 2);
	walk(tree_find_code(t, "C1"), false, 0, out, sizeof(out));
	ASSERT_EQ_STR(out, "C1 Z1 Z3 Z10");
	tree_destroy(t);
}

TEST(bulk_load_errors)
{
	struct tree_row d1 = {1, 0, 1, 0, false, "D1", "D1", "", ""};
	struct tree_row same_id = {1, 0, 1, 0, false, "D9", "D9", "", ""};
	struct tree_row same_code = {9, 0, 1, 0, false, "D1", "D1", "", ""};
	struct tree_row orphan = {2, 77, 1, 1, false, "S1", "S1", "", ""};
	struct tree_row a = {3, 4, 1, 1, false, "A", "A", "", ""};
	struct tree_row b = {4, 3, 1, 1, false, "B", "B", "", ""};
	struct tree *t = tree_create();
	const char *bad;

	ASSERT_EQ_INT(tree_load_row(t, &d1), 0);
	ASSERT_EQ_INT(tree_load_row(t, &same_id), -EEXIST);
	ASSERT_EQ_INT(tree_load_row(t, &same_code), -EEXIST);
	ASSERT_EQ_INT(tree_load_row(t, &orphan), 0);
	ASSERT_EQ_INT(tree_load_finish(t, &bad), -ENOENT);
	ASSERT_EQ_STR(bad, "S1");
	tree_destroy(t);

	/* Two nodes each other's parent: never reached from the top. */
	t = tree_create();
	ASSERT_EQ_INT(tree_load_row(t, &d1), 0);
	ASSERT_EQ_INT(tree_load_row(t, &a), 0);
	ASSERT_EQ_INT(tree_load_row(t, &b), 0);
	ASSERT_EQ_INT(tree_load_finish(t, &bad), -ELOOP);
	ASSERT_EQ_STR(bad, "A");
	tree_destroy(t);

	/* Not into a tree that has nodes. */
	t = sample();
	ASSERT_EQ_INT(tree_load_row(t, &same_code), -EBUSY);
	tree_destroy(t);
}

/* Codes renamed over and over: the code index deletes without tombstones
 * and must still find every node, old codes none. */
TEST(renames_keep_the_code_index)
{
	struct tree *t = tree_create();
	char code[32];

	add(t, 1, 0, 0, "ROOT", 1);
	for (int i = 0; i < 3000; i++) {
		snprintf(code, sizeof(code), "N%d", i);
		add(t, i + 2, 1, 1, code, 1);
	}
	for (int round = 1; round <= 3; round++)
		for (int i = 0; i < 3000; i += round) {
			struct tree_row row = {i + 2, 1, round + 1, 1, false, code, "x", "", ""};
			snprintf(code, sizeof(code), "R%d-%d", round, i);
			ASSERT_EQ_INT(tree_apply(t, &row, NULL), 0);
		}
	for (int i = 0; i < 3000; i++) {
		snprintf(code, sizeof(code), "N%d", i);
		ASSERT(tree_find_code(t, code) == NULL);
		int last = i % 3 == 0 ? 3 : i % 2 == 0 ? 2 : 1;
		snprintf(code, sizeof(code), "R%d-%d", last, i);
		ASSERT_MSG(tree_find_code(t, code) == tree_find_id(t, i + 2), "%s", code);
		ASSERT_EQ_STR(tree_find_id(t, i + 2)->name, "x");
	}
	ASSERT_EQ_UINT(tree_root(t)->children[0]->nchildren, 3000);
	tree_destroy(t);
}
