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
