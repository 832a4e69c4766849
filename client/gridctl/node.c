/* gridctl node ...: the grid tree, one node or a part of it at a time.
 * Reading: show, ls, tree, find. Writing: add, rename, leader, mv, retire.
 * Dispatched from main.c; every sub-command is one or a few blocking calls
 * (the lists follow page tokens to the end) and one printout, as text
 * (table.c, tree.c) or as JSON (output.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/args.h"
#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/pager.h"
#include "client/gridctl/table.h"
#include "client/gridctl/tree.h"

static const char node_help[] =
    "Usage: gridctl node COMMAND [ARGS...]\n"
    "\n"
    "Shows and edits the grid tree. Nodes are named by their code (e.g. WH-TZL\n"
    "for 桐梓林社区, WH-TZL-Z5 for its fifth zone, WH-TZL-Z5-ZTY for 梓潼苑).\n"
    "\n"
    "Commands:\n"
    "  show CODE                         all fields of a node and its path\n"
    "  ls [CODE] [--all]                 children of CODE, or the top-level nodes\n"
    "  tree CODE [--depth N] [--all]     the subtree of CODE drawn as a tree\n"
    "  find QUERY [--in CODE] [--level NAME] [--all] [--limit N]\n"
    "                                    nodes whose code or name contains QUERY\n"
    "  add PARENT CODE NAME [--level NAME] [--leader NAME] [--phone PHONE]\n"
    "                                    create a node (PARENT \"-\" or --top: top level)\n"
    "  rename CODE NAME                  give a node a new name\n"
    "  leader CODE NAME [PHONE]          set the person responsible for a node\n"
    "  mv CODE NEW_PARENT                move a node and its subtree\n"
    "  retire CODE [--cascade]           retire a node (with --cascade, its subtree)\n"
    "\n"
    "'gridctl node COMMAND --help' tells more.\n"
    "\n"
    "Examples:\n"
    "  gridctl node ls WH-TZL\n"
    "  gridctl node tree WH-TZL --depth 2\n";

static const char show_help[] =
    "Usage: gridctl node show CODE\n"
    "\n"
    "Prints every field of the node CODE and its path from the top of the grid,\n"
    "e.g. 武侯区 › 火车南站街道 › 桐梓林社区.\n"
    "With --json: the node object with a \"path\" array of {code, name}, top first.\n"
    "\n"
    "Examples:\n"
    "  gridctl node show WH-TZL\n"
    "  gridctl --json node show WH-TZL-Z5-ZTY\n";

static const char ls_help[] =
    "Usage: gridctl node ls [CODE] [--all]\n"
    "\n"
    "Lists the children of CODE, or the top-level nodes without CODE, as a table:\n"
    "CODE, LEVEL, NAME, LEADER, PHONE, CHILDREN (active children).\n"
    "\n"
    "Options:\n"
    "  -a, --all   include retired nodes, marked \"(retired)\"\n"
    "\n"
    "Examples:\n"
    "  gridctl node ls\n"
    "  gridctl node ls WH-TZL\n"
    "  gridctl --json node ls WH-TZL-Z5 --all\n";

static const char tree_help[] =
    "Usage: gridctl node tree CODE [--depth N] [--all]\n"
    "\n"
    "Draws the subtree of CODE, one node per line: name, code, leader.\n"
    "With --json: an array of nodes, every parent before its children.\n"
    "\n"
    "Options:\n"
    "  -d, --depth N   at most N levels below CODE (default: all)\n"
    "  -a, --all       include retired nodes, marked \"(retired)\"\n"
    "\n"
    "Examples:\n"
    "  gridctl node tree WH-TZL\n"
    "  gridctl node tree WH-TZL --depth 1\n"
    "  gridctl node tree WH-TZL-Z5 --all\n";

static const char find_help[] =
    "Usage: gridctl node find QUERY [--in CODE] [--level NAME] [--all] [--limit N]\n"
    "\n"
    "Finds nodes whose code contains QUERY (ignoring case) or whose name\n"
    "contains it, and lists them like 'node ls', with their parent's code.\n"
    "\n"
    "Options:\n"
    "  -i, --in CODE       only in the subtree of CODE\n"
    "  -l, --level NAME    only nodes of this level (e.g. courtyard)\n"
    "  -a, --all           include retired nodes\n"
    "  -n, --limit N       at most N results (default: the server's)\n"
    "\n"
    "Examples:\n"
    "  gridctl node find 梓潼\n"
    "  gridctl node find Z5 --in WH-TZL --level zone\n";

static const char add_help[] =
    "Usage: gridctl node add PARENT CODE NAME [--level NAME] [--leader NAME] [--phone PHONE]\n"
    "       gridctl node add --top CODE NAME [--level NAME] [--leader NAME] [--phone PHONE]\n"
    "\n"
    "Creates the node CODE named NAME under PARENT (\"-\" or --top: a top-level\n"
    "node) and prints it. Codes are ASCII, never change and are never reused.\n"
    "\n"
    "Options:\n"
    "  -t, --top            a top-level node (no PARENT argument)\n"
    "  -l, --level NAME     its level (default: the level below the parent's)\n"
    "  -L, --leader NAME    the person responsible for it\n"
    "  -p, --phone PHONE    the leader's phone\n"
    "\n"
    "Examples:\n"
    "  gridctl node add WH-TZL-Z5 WH-TZL-Z5-ZTY 梓潼苑 --leader 王芳 --phone 13800000000\n"
    "  gridctl node add WH-TZL WH-TZL-Z6 第六片区\n";

static const char rename_help[] = "Usage: gridctl node rename CODE NAME\n"
				  "\n"
				  "Gives the node CODE a new name (its code stays) and prints it.\n"
				  "\n"
				  "Example:\n"
				  "  gridctl node rename WH-TZL-Z5-ZTY 梓潼苑小区\n";

static const char leader_help[] =
    "Usage: gridctl node leader CODE NAME [PHONE]\n"
    "\n"
    "Sets the person responsible for the node CODE (a community's secretary,\n"
    "a zone head, a courtyard representative, a building head) and prints the\n"
    "node. An empty NAME (\"\") clears it.\n"
    "\n"
    "Examples:\n"
    "  gridctl node leader WH-TZL-Z5-ZTY 王芳 13800000000\n"
    "  gridctl node leader WH-TZL-Z5 李强\n";

static const char mv_help[] =
    "Usage: gridctl node mv CODE NEW_PARENT\n"
    "\n"
    "Moves the node CODE, with its whole subtree, under NEW_PARENT (\"-\": to the\n"
    "top level) and prints it.\n"
    "\n"
    "Example:\n"
    "  gridctl node mv WH-TZL-Z5-ZTY WH-TZL-Z4\n";

static const char retire_help[] =
    "Usage: gridctl node retire CODE [--cascade]\n"
    "\n"
    "Retires the node CODE: it stays in the records (its code is never reused)\n"
    "but no longer takes part in the grid. A node with active children is\n"
    "refused unless --cascade retires them too.\n"
    "\n"
    "Options:\n"
    "  -c, --cascade   retire the whole subtree\n"
    "\n"
    "Examples:\n"
    "  gridctl node retire WH-TZL-Z5-ZTY\n"
    "  gridctl node retire WH-TZL-Z5 --cascade\n";

/* The replies of a list call: every page, or the one reply of FindNodes. */
struct pages {
	Grid__V1__Reply *const *replies;
	size_t n;
};

static const Grid__V1__NodeList *node_list(const Grid__V1__Reply *reply)
{
	switch (reply->result_case) {
	case GRID__V1__REPLY__RESULT_LIST_CHILDREN:
		return reply->list_children;
	case GRID__V1__REPLY__RESULT_GET_SUBTREE:
		return reply->get_subtree;
	case GRID__V1__REPLY__RESULT_GET_ANCESTORS:
		return reply->get_ancestors;
	case GRID__V1__REPLY__RESULT_FIND_NODES:
		return reply->find_nodes;
	default:
		return NULL;
	}
}

/* Iterates over every node of every page: *i and *j start at 0. */
static const Grid__V1__Node *pages_next(const struct pages *p, size_t *i, size_t *j)
{
	while (*i < p->n) {
		const Grid__V1__NodeList *l = node_list(p->replies[*i]);

		if (*j < l->n_nodes)
			return l->nodes[(*j)++];
		(*i)++;
		*j = 0;
	}
	return NULL;
}

static size_t pages_count(const struct pages *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += node_list(p->replies[i])->n_nodes;
	return n;
}

/* Every node of the pages as one JSON array. */
static int print_json_list(const struct pages *p)
{
	const Grid__V1__Node *n;
	struct json_writer w;
	struct buf out;
	size_t i = 0, j = 0;
	int r;

	buf_init(&out, 0);
	json_writer_init(&w, &out, false);
	json_begin_array(&w);
	while ((n = pages_next(p, &i, &j)))
		output_node_json(&w, n);
	json_end_array(&w);
	r = output_json_flush(&w, &out);
	buf_finish(&out);
	return r;
}

/* The node table of ls and find. */
static int print_table(const struct pages *p, bool with_parent)
{
	static const char *head[] = {"CODE", "LEVEL", "NAME", "LEADER", "PHONE", "CHILDREN"};
	static const char *head_parent[] = {"CODE",   "LEVEL", "NAME",	  "PARENT",
					    "LEADER", "PHONE", "CHILDREN"};
	size_t ncols = with_parent ? 7 : 6;
	struct table *t;
	const Grid__V1__Node *n;
	struct buf label, out;
	size_t i = 0, j = 0;
	int r;

	if (pages_count(p) == 0) {
		output_notice("no nodes");
		return CTL_EXIT_OK;
	}
	t = table_create(ncols);
	r = t ? 0 : -ENOMEM;
	buf_init(&label, 0);
	buf_init(&out, 0);
	if (r == 0) {
		table_align_right(t, ncols - 1);
		r = table_add_row(t, with_parent ? head_parent : head);
	}
	while (r == 0 && (n = pages_next(p, &i, &j))) {
		char children[16];
		const char *row[7];
		size_t k = 0;

		snprintf(children, sizeof(children), "%u", n->child_count);
		row[k++] = n->code;
		row[k++] = n->level_name;
		row[k++] = output_node_label(n, &label);
		if (with_parent)
			row[k++] = n->parent_code;
		row[k++] = n->leader_name;
		row[k++] = n->leader_phone;
		row[k++] = children;
		r = table_add_row(t, row);
	}
	r = output_table(t, &out, r);
	table_destroy(t);
	buf_finish(&label);
	buf_finish(&out);
	return r;
}

static int print_tree(const struct pages *p)
{
	struct tree *t = tree_create(3);
	const Grid__V1__Node *n;
	struct buf label, out;
	size_t i = 0, j = 0;
	int r = t ? 0 : -ENOMEM;

	buf_init(&label, 0);
	buf_init(&out, 0);
	while (r == 0 && (n = pages_next(p, &i, &j))) {
		const char *cells[3] = {output_node_label(n, &label), n->code, n->leader_name};

		r = tree_add(t, n->code, n->parent_code, cells);
		if (r == -EEXIST)
			r = 0; /* the server repeated a node: draw it once */
	}
	if (r == 0)
		r = tree_render(t, &out);
	r = r == 0 ? output_flush(&out) : output_oom();
	tree_destroy(t);
	buf_finish(&label);
	buf_finish(&out);
	return r;
}

/* How a list of nodes is shown as text. */
enum shape {
	SHAPE_TABLE,		 /* ls */
	SHAPE_TABLE_WITH_PARENT, /* find */
	SHAPE_TREE,		 /* tree */
};

static int print_nodes(struct ctl *ctl, const struct pages *p, enum shape shape)
{
	if (ctl->json)
		return print_json_list(p);
	if (shape == SHAPE_TREE)
		return print_tree(p);
	return print_table(p, shape == SHAPE_TABLE_WITH_PARENT);
}

/* Calls req until its last page and prints the nodes of every page;
 * *token is the request's page_token. */
static int list_nodes(struct ctl *ctl, Grid__V1__Request *req, char **token, const char *subject,
		      enum shape shape)
{
	struct pager pager;
	int r;

	pager_init(&pager, ctl, req, token, subject, true);
	r = pager_fetch_all(&pager);
	if (r == CTL_EXIT_OK) {
		const struct pages pages = {pager.replies, pager.n};

		r = print_nodes(ctl, &pages, shape);
	}
	pager_finish(&pager);
	return r;
}

/* One node: its fields (and path), or its JSON object. path (may be NULL)
 * is GetAncestors' list; retired_count >= 0 adds that key. */
static int print_node(struct ctl *ctl, const Grid__V1__Node *n, const Grid__V1__NodeList *path,
		      long retired_count)
{
	struct buf out;
	int r;

	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_object(&w);
		output_node_json_fields(&w, n);
		if (path) {
			json_key(&w, "path");
			json_begin_array(&w);
			for (size_t i = 0; i < path->n_nodes; i++) {
				json_begin_object(&w);
				json_key(&w, "code");
				json_string(&w, path->nodes[i]->code);
				json_key(&w, "name");
				json_string(&w, path->nodes[i]->name);
				json_end_object(&w);
			}
			json_end_array(&w);
		}
		if (retired_count >= 0) {
			json_key(&w, "retired_count");
			json_uint(&w, (uint64_t)retired_count);
		}
		json_end_object(&w);
		r = output_json_flush(&w, &out);
	} else {
		struct buf p;

		buf_init(&p, 0);
		r = 0;
		for (size_t i = 0; path && i < path->n_nodes && r == 0; i++)
			r = buf_printf(&p, "%s%s", i ? " › " : "", path->nodes[i]->name);
		if (r == 0 && retired_count >= 0)
			r = buf_printf(&out, "retired %ld node%s\n", retired_count,
				       retired_count == 1 ? "" : "s");
		if (r == 0)
			r = output_node_fields(&out, n, path ? buf_cstr(&p) : NULL);
		r = r == 0 ? output_flush(&out) : output_oom();
		buf_finish(&p);
	}
	buf_finish(&out);
	return r;
}

/* Subjects of error messages: "node WH-TZL". */
static const char *subject_of(char *buf, size_t size, const char *code)
{
	snprintf(buf, size, "node %s", code);
	return buf;
}

/* The node a write of add, rename, leader or mv answers with. */
static const Grid__V1__Node *written_node(const Grid__V1__Reply *reply)
{
	switch (reply->result_case) {
	case GRID__V1__REPLY__RESULT_CREATE_NODE:
		return reply->create_node;
	case GRID__V1__REPLY__RESULT_RENAME_NODE:
		return reply->rename_node;
	case GRID__V1__REPLY__RESULT_SET_LEADER:
		return reply->set_leader;
	case GRID__V1__REPLY__RESULT_MOVE_NODE:
		return reply->move_node;
	default:
		return NULL;
	}
}

/* Sends the write req about the node code and prints the node it answers
 * with. */
static int write_node(struct ctl *ctl, Grid__V1__Request *req, const char *code)
{
	Grid__V1__Reply *reply = NULL;
	char subject[160];
	int r;

	r = ctl_call(ctl, req, &reply, subject_of(subject, sizeof(subject), code), NULL);
	if (r != CTL_EXIT_OK)
		return r;
	r = print_node(ctl, written_node(reply), NULL, -1);
	grid_client_reply_free(reply);
	return r;
}

static int node_show(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "node show";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetNodeRequest get = GRID__V1__GET_NODE_REQUEST__INIT;
	Grid__V1__GetAncestorsRequest anc = GRID__V1__GET_ANCESTORS_REQUEST__INIT;
	Grid__V1__Reply *node = NULL, *path = NULL;
	char subject[160];
	int r;

	if ((r = args_help_only(ctl, cmd, argc, argv, show_help)) >= 0)
		return r;
	if (!(get.code = args_one(ctl, cmd, argc, argv, "CODE")))
		return CTL_EXIT_USAGE;
	subject_of(subject, sizeof(subject), get.code);

	req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
	req.get_node = &get;
	r = ctl_call(ctl, &req, &node, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	anc.code = get.code;
	req.id = 0;
	req.call_case = GRID__V1__REQUEST__CALL_GET_ANCESTORS;
	req.get_ancestors = &anc;
	r = ctl_call(ctl, &req, &path, subject, NULL);
	if (r == CTL_EXIT_OK)
		r = print_node(ctl, node->get_node, path->get_ancestors, -1);
	grid_client_reply_free(node);
	grid_client_reply_free(path);
	return r;
}

static int node_ls(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {ARGS_HELP_OPT, {"all", no_argument, NULL, 'a'}, {0}};
	const char *cmd = "node ls";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListChildrenRequest ls = GRID__V1__LIST_CHILDREN_REQUEST__INIT;
	char subject[160];
	int opt;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "ha", opts)) != -1) {
		if (opt == 'a')
			ls.include_retired = true;
		else
			return opt == 'h' ? ctl_help(ls_help) : CTL_EXIT_USAGE;
	}
	if (argc - optind > 1)
		return ctl_usage(ctl, cmd, "%s: want at most one CODE", cmd);
	if (argc - optind == 1) {
		if (args_nonempty(ctl, cmd, "CODE", argv[optind]))
			return CTL_EXIT_USAGE;
		ls.code = argv[optind];
		subject_of(subject, sizeof(subject), ls.code);
	} else {
		snprintf(subject, sizeof(subject), "top-level nodes");
	}
	req.call_case = GRID__V1__REQUEST__CALL_LIST_CHILDREN;
	req.list_children = &ls;
	return list_nodes(ctl, &req, &ls.page_token, subject, SHAPE_TABLE);
}

static int node_tree(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"all", no_argument, NULL, 'a'},
	    {"depth", required_argument, NULL, 'd'},
	    {0},
	};
	const char *cmd = "node tree";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetSubtreeRequest sub = GRID__V1__GET_SUBTREE_REQUEST__INIT;
	char subject[160];
	int opt;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "had:", opts)) != -1) {
		if (opt == 'a') {
			sub.include_retired = true;
		} else if (opt == 'd') {
			if (ctl_parse_uint(ctl, cmd, "--depth", optarg, &sub.max_depth))
				return CTL_EXIT_USAGE;
			if (sub.max_depth == 0)
				return ctl_usage(ctl, cmd, "%s: --depth must be at least 1", cmd);
		} else {
			return opt == 'h' ? ctl_help(tree_help) : CTL_EXIT_USAGE;
		}
	}
	if (!(sub.code = args_one(ctl, cmd, argc, argv, "CODE")))
		return CTL_EXIT_USAGE;
	subject_of(subject, sizeof(subject), sub.code);
	req.call_case = GRID__V1__REQUEST__CALL_GET_SUBTREE;
	req.get_subtree = &sub;
	return list_nodes(ctl, &req, &sub.page_token, subject, SHAPE_TREE);
}

static int node_find(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"in", required_argument, NULL, 'i'},
	    {"level", required_argument, NULL, 'l'},
	    {"all", no_argument, NULL, 'a'},
	    {"limit", required_argument, NULL, 'n'},
	    {0},
	};
	const char *cmd = "node find";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__FindNodesRequest find = GRID__V1__FIND_NODES_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[160];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hi:l:an:", opts)) != -1) {
		switch (opt) {
		case 'i':
			find.within_code = optarg;
			break;
		case 'l':
			find.level = optarg;
			break;
		case 'a':
			find.include_retired = true;
			break;
		case 'n':
			if (ctl_parse_uint(ctl, cmd, "--limit", optarg, &find.limit))
				return CTL_EXIT_USAGE;
			break;
		default:
			return opt == 'h' ? ctl_help(find_help) : CTL_EXIT_USAGE;
		}
	}
	if (!(find.query = args_one(ctl, cmd, argc, argv, "QUERY")))
		return CTL_EXIT_USAGE;
	req.call_case = GRID__V1__REQUEST__CALL_FIND_NODES;
	req.find_nodes = &find;
	/* What can be missing is the subtree searched. */
	r = ctl_call(ctl, &req, &reply,
		     find.within_code[0] ? subject_of(subject, sizeof(subject), find.within_code)
					 : NULL,
		     NULL);
	if (r != CTL_EXIT_OK)
		return r;
	{
		const struct pages pages = {&reply, 1};

		r = print_nodes(ctl, &pages, SHAPE_TABLE_WITH_PARENT);
	}
	grid_client_reply_free(reply);
	return r;
}

static int node_add(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"top", no_argument, NULL, 't'},
	    {"level", required_argument, NULL, 'l'},
	    {"leader", required_argument, NULL, 'L'},
	    {"phone", required_argument, NULL, 'p'},
	    {0},
	};
	const char *cmd = "node add";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateNodeRequest add = GRID__V1__CREATE_NODE_REQUEST__INIT;
	bool top = false;
	int opt, nargs;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "htl:L:p:", opts)) != -1) {
		switch (opt) {
		case 't':
			top = true;
			break;
		case 'l':
			add.level = optarg;
			break;
		case 'L':
			add.leader_name = optarg;
			break;
		case 'p':
			add.leader_phone = optarg;
			break;
		default:
			return opt == 'h' ? ctl_help(add_help) : CTL_EXIT_USAGE;
		}
	}
	nargs = argc - optind;
	if (top && nargs != 2)
		return ctl_usage(ctl, cmd, "%s: with --top, want CODE NAME", cmd);
	if (!top && nargs != 3)
		return ctl_usage(ctl, cmd, "%s: want PARENT CODE NAME (PARENT \"-\" for the top)",
				 cmd);
	if (!top) {
		const char *parent = argv[optind++];

		if (args_nonempty(ctl, cmd, "PARENT", parent))
			return CTL_EXIT_USAGE;
		if (strcmp(parent, "-") != 0)
			add.parent_code = (char *)parent;
	}
	add.code = argv[optind];
	add.name = argv[optind + 1];
	if (args_nonempty(ctl, cmd, "CODE", add.code) || args_nonempty(ctl, cmd, "NAME", add.name))
		return CTL_EXIT_USAGE;
	if (add.leader_phone[0] && !add.leader_name[0])
		return ctl_usage(ctl, cmd, "%s: --phone needs --leader", cmd);
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_NODE;
	req.create_node = &add;
	return write_node(ctl, &req, add.code);
}

static int node_rename(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "node rename";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RenameNodeRequest ren = GRID__V1__RENAME_NODE_REQUEST__INIT;
	int r;

	if ((r = args_help_only(ctl, cmd, argc, argv, rename_help)) >= 0)
		return r;
	if (argc - optind != 2)
		return ctl_usage(ctl, cmd, "%s: want CODE NAME", cmd);
	ren.code = argv[optind];
	ren.name = argv[optind + 1];
	if (args_nonempty(ctl, cmd, "CODE", ren.code) || args_nonempty(ctl, cmd, "NAME", ren.name))
		return CTL_EXIT_USAGE;
	req.call_case = GRID__V1__REQUEST__CALL_RENAME_NODE;
	req.rename_node = &ren;
	return write_node(ctl, &req, ren.code);
}

static int node_leader(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "node leader";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__SetLeaderRequest set = GRID__V1__SET_LEADER_REQUEST__INIT;
	int r;

	if ((r = args_help_only(ctl, cmd, argc, argv, leader_help)) >= 0)
		return r;
	if (argc - optind != 2 && argc - optind != 3)
		return ctl_usage(ctl, cmd, "%s: want CODE NAME [PHONE]", cmd);
	set.code = argv[optind];
	set.leader_name = argv[optind + 1];
	if (argc - optind == 3)
		set.leader_phone = argv[optind + 2];
	if (args_nonempty(ctl, cmd, "CODE", set.code))
		return CTL_EXIT_USAGE;
	if (set.leader_phone[0] && !set.leader_name[0])
		return ctl_usage(ctl, cmd, "%s: a PHONE needs a NAME", cmd);
	req.call_case = GRID__V1__REQUEST__CALL_SET_LEADER;
	req.set_leader = &set;
	return write_node(ctl, &req, set.code);
}

static int node_mv(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "node mv";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__MoveNodeRequest mv = GRID__V1__MOVE_NODE_REQUEST__INIT;
	int r;

	if ((r = args_help_only(ctl, cmd, argc, argv, mv_help)) >= 0)
		return r;
	if (argc - optind != 2)
		return ctl_usage(ctl, cmd, "%s: want CODE NEW_PARENT (\"-\" for the top)", cmd);
	mv.code = argv[optind];
	if (args_nonempty(ctl, cmd, "CODE", mv.code) ||
	    args_nonempty(ctl, cmd, "NEW_PARENT", argv[optind + 1]))
		return CTL_EXIT_USAGE;
	if (strcmp(argv[optind + 1], "-") != 0)
		mv.new_parent_code = argv[optind + 1];
	req.call_case = GRID__V1__REQUEST__CALL_MOVE_NODE;
	req.move_node = &mv;
	return write_node(ctl, &req, mv.code);
}

static int node_retire(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT, {"cascade", no_argument, NULL, 'c'}, {0}};
	const char *cmd = "node retire";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RetireNodeRequest ret = GRID__V1__RETIRE_NODE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[160];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hc", opts)) != -1) {
		if (opt == 'c')
			ret.cascade = true;
		else
			return opt == 'h' ? ctl_help(retire_help) : CTL_EXIT_USAGE;
	}
	if (!(ret.code = args_one(ctl, cmd, argc, argv, "CODE")))
		return CTL_EXIT_USAGE;
	subject_of(subject, sizeof(subject), ret.code);
	req.call_case = GRID__V1__REQUEST__CALL_RETIRE_NODE;
	req.retire_node = &ret;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	if (!reply->retire_node->node)
		r = output_internal(ctl->json, subject, "the server's reply carries no node");
	else
		r = print_node(ctl, reply->retire_node->node, NULL,
			       (long)reply->retire_node->retired_count);
	grid_client_reply_free(reply);
	return r;
}

static const struct ctl_command node_commands[] = {
    {"show", node_show},     {"ls", node_ls},
    {"tree", node_tree},     {"find", node_find},
    {"add", node_add},	     {"rename", node_rename},
    {"leader", node_leader}, {"mv", node_mv},
    {"retire", node_retire}, {NULL, NULL},
};

int node_main(struct ctl *ctl, int argc, char **argv)
{
	optind = 0;
	return ctl_dispatch(ctl, "node", node_commands, argc, argv, node_help);
}
