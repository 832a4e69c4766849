/* Unit tests for gridctl's renderers, client/gridctl/table.c and tree.c:
 * exact output for columns that mix ASCII codes with Chinese names (two
 * columns per character), right alignment, cleaning of control characters,
 * and trees drawn with box-drawing branches whose code column lines up.
 *
 * The unit test programs link only common/ and the harness, so the two
 * renderer files (they need nothing else) are compiled in here.
 */
#include "tests/harness/test.h"

#include <errno.h>

#include "client/gridctl/table.c"
#include "client/gridctl/tree.c"

static const char *render_table(struct table *t, struct buf *out)
{
	buf_reset(out);
	ASSERT_EQ_INT(table_render(t, out), 0);
	return buf_cstr(out);
}

static const char *render_tree(struct tree *t, struct buf *out)
{
	buf_reset(out);
	ASSERT_EQ_INT(tree_render(t, out), 0);
	return buf_cstr(out);
}

TEST(table_aligns_by_display_width)
{
	struct table *t = table_create(3);
	struct buf out;

	buf_init(&out, 0);
	ASSERT_NOT_NULL(t);
	ASSERT_EQ_INT(table_add_row(t, (const char *[]){"CODE", "NAME", "LEADER"}), 0);
	ASSERT_EQ_INT(table_add_row(t, (const char *[]){"WH-TZL-Z5-ZTY", "梓潼苑", "王芳"}), 0);
	ASSERT_EQ_INT(table_add_row(t, (const char *[]){"WH-TZL", "桐梓林社区", "Zhang Ming"}), 0);
	ASSERT_EQ_INT(table_add_row(t, (const char *[]){"X", "abc", NULL}), 0);
	ASSERT_EQ_UINT(table_rows(t), 4);
	/* Column 1 is 13 wide (the longest code), column 2 is 10 wide
	 * (桐梓林社区: five characters of two columns each); two spaces
	 * between columns; the last cell of a line is not padded and an
	 * empty last cell leaves no trailing spaces. */
	ASSERT_EQ_STR(render_table(t, &out), "CODE           NAME        LEADER\n"
					     "WH-TZL-Z5-ZTY  梓潼苑      王芳\n"
					     "WH-TZL         桐梓林社区  Zhang Ming\n"
					     "X              abc\n");
	table_destroy(t);
	buf_finish(&out);
}

TEST(table_right_alignment_and_empty_cells)
{
	struct table *t = table_create(4);
	struct buf out;

	buf_init(&out, 0);
	table_align_right(t, 3);
	ASSERT_EQ_INT(table_add_row(t, (const char *[]){"CODE", "NAME", "LEADER", "CHILDREN"}), 0);
	ASSERT_EQ_INT(table_add_row(t, (const char *[]){"WH-TZL-Z5", "第五片区", "", "4"}), 0);
	ASSERT_EQ_INT(table_add_row(t, (const char *[]){"WH-TZL", "桐梓林社区", "张明", "12"}), 0);
	/* An empty cell in the middle is padded like any other; the number
	 * column is padded on the left, so its digits line up. */
	ASSERT_EQ_STR(render_table(t, &out), "CODE       NAME        LEADER  CHILDREN\n"
					     "WH-TZL-Z5  第五片区                   4\n"
					     "WH-TZL     桐梓林社区  张明          12\n");
	table_destroy(t);
	buf_finish(&out);
}

TEST(table_cleans_control_characters)
{
	struct table *t = table_create(2);
	struct buf out;
	char *c;

	buf_init(&out, 0);
	/* A name with a tab, a newline and an escape sequence must not break
	 * the line or reach the terminal; neither may a C1 CSI (U+009B). */
	ASSERT_EQ_INT(table_add_row(t, (const char *[]){"a\tb\nc", "\x1b[31mred\xc2\x9b"}), 0);
	ASSERT_EQ_INT(table_add_row(t, (const char *[]){"梓潼苑", "ok"}), 0);
	ASSERT_EQ_STR(render_table(t, &out), "a b c    [31mred \n"
					     "梓潼苑  ok\n");
	c = table_clean("plain 梓潼苑 ©");
	ASSERT_EQ_STR(c, "plain 梓潼苑 ©");
	free(c);
	table_destroy(t);
	buf_finish(&out);
}

TEST(table_empty_renders_nothing)
{
	struct table *t = table_create(2);
	struct buf out;

	buf_init(&out, 0);
	ASSERT_EQ_STR(render_table(t, &out), "");
	ASSERT(table_create(0) == NULL);
	table_destroy(NULL);
	table_destroy(t);
	buf_finish(&out);
}

static void add3(struct tree *t, const char *key, const char *parent, const char *name,
		 const char *leader)
{
	ASSERT_EQ_INT(tree_add(t, key, parent, (const char *[]){name, key, leader}), 0);
}

TEST(tree_draws_branches_and_aligns_codes)
{
	struct tree *t = tree_create(3);
	struct buf out;

	buf_init(&out, 0);
	add3(t, "WH-TZL", "", "桐梓林社区", "张明");
	add3(t, "WH-TZL-Z1", "WH-TZL", "第一片区", "李华");
	add3(t, "WH-TZL-Z1-A", "WH-TZL-Z1", "梓潼苑", "");
	add3(t, "WH-TZL-Z1-B", "WH-TZL-Z1", "Shengandu", "Bob");
	add3(t, "WH-TZL-Z5", "WH-TZL", "第五片区", NULL);
	add3(t, "WH-TZL-Z5-ZTY", "WH-TZL-Z5", "梓潼苑", "王芳");
	ASSERT_EQ_UINT(tree_size(t), 6);
	/* The label column is 17 wide ("│   └── Shengandu": 8 + 9); the
	 * code column starts at 19 on every line whatever the depth. */
	ASSERT_EQ_STR(render_tree(t, &out), "桐梓林社区         WH-TZL         张明\n"
					    "├── 第一片区       WH-TZL-Z1      李华\n"
					    "│   ├── 梓潼苑     WH-TZL-Z1-A\n"
					    "│   └── Shengandu  WH-TZL-Z1-B    Bob\n"
					    "└── 第五片区       WH-TZL-Z5\n"
					    "    └── 梓潼苑     WH-TZL-Z5-ZTY  王芳\n");
	tree_destroy(t);
	buf_finish(&out);
}

TEST(tree_any_order_and_several_roots)
{
	struct tree *t = tree_create(2);
	struct buf out;

	buf_init(&out, 0);
	/* Children before their parent; a node whose parent is not in the
	 * tree (a subtree's root) is a root; siblings keep their order. */
	ASSERT_EQ_INT(tree_add(t, "B1", "B", (const char *[]){"b1", "B1"}), 0);
	ASSERT_EQ_INT(tree_add(t, "A", "TOP", (const char *[]){"a", "A"}), 0);
	ASSERT_EQ_INT(tree_add(t, "B", NULL, (const char *[]){"b", "B"}), 0);
	ASSERT_EQ_INT(tree_add(t, "B2", "B", (const char *[]){"b2", "B2"}), 0);
	ASSERT_EQ_INT(tree_add(t, "A1", "A", (const char *[]){"a1", "A1"}), 0);
	ASSERT_EQ_STR(render_tree(t, &out), "a       A\n"
					    "└── a1  A1\n"
					    "b       B\n"
					    "├── b1  B1\n"
					    "└── b2  B2\n");
	/* Rendering twice gives the same drawing. */
	ASSERT_EQ_STR(render_tree(t, &out), "a       A\n"
					    "└── a1  A1\n"
					    "b       B\n"
					    "├── b1  B1\n"
					    "└── b2  B2\n");
	ASSERT_EQ_INT(tree_add(t, "B", "A", (const char *[]){"again", "B"}), -EEXIST);
	ASSERT_EQ_INT(tree_add(t, NULL, "A", (const char *[]){"x", "y"}), -EINVAL);
	tree_destroy(t);
	buf_finish(&out);
}

TEST(tree_survives_cycles_and_self_parents)
{
	struct tree *t = tree_create(1);
	struct buf out;

	buf_init(&out, 0);
	/* What a broken server might send: nothing may hang or vanish. */
	ASSERT_EQ_INT(tree_add(t, "X", "Y", (const char *[]){"x"}), 0);
	ASSERT_EQ_INT(tree_add(t, "Y", "X", (const char *[]){"y"}), 0);
	ASSERT_EQ_INT(tree_add(t, "S", "S", (const char *[]){"s"}), 0);
	ASSERT_EQ_STR(render_tree(t, &out), "s\n"
					    "x\n"
					    "└── y\n");
	tree_destroy(t);
	buf_finish(&out);
}

TEST(tree_deep_chain)
{
	enum { DEPTH = 3000 };
	struct tree *t = tree_create(1);
	struct buf out;
	char key[16], parent[16];
	const char *s;
	size_t lines = 0;

	buf_init(&out, 0);
	for (int i = 0; i < DEPTH; i++) {
		snprintf(key, sizeof(key), "N%d", i);
		snprintf(parent, sizeof(parent), "N%d", i - 1);
		ASSERT_EQ_INT(tree_add(t, key, i ? parent : NULL, (const char *[]){key}), 0);
	}
	s = render_tree(t, &out);
	for (const char *p = s; *p; p++)
		lines += *p == '\n';
	ASSERT_EQ_UINT(lines, DEPTH);
	/* The deepest line: 2998 levels of "    ", then "└── N2999". */
	ASSERT(out.len > 4 * (DEPTH - 2));
	ASSERT_EQ_STR(s + out.len - strlen("    └── N2999\n"), "    └── N2999\n");
	tree_destroy(t);
	tree_destroy(NULL);
	buf_finish(&out);
}
