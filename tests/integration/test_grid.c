/* Every grid method against a real gridd and PostgreSQL, on the sample
 * district: reads from the cache, writes through the database, the tree's
 * rules, the all-or-nothing import with its line numbers, export round
 * trips, and two gridd processes seeing each other's changes. */
#include <errno.h>
#include <unistd.h>

#include "common/status.h"
#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x

/* The sample grid: 51 nodes; 桐梓林社区 (WH-TZL) holds 37 of them. */
#define SAMPLE_NODES 51
#define TZL_NODES 37

/* --- request builders ------------------------------------------------------ */

static Grid__V1__Reply *list_children(struct grid_client *c, const char *code, uint32_t page,
				      const char *token, bool retired)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListChildrenRequest m = GRID__V1__LIST_CHILDREN_REQUEST__INIT;

	m.code = (char *)code;
	m.page_size = page;
	m.page_token = (char *)(token ? token : "");
	m.include_retired = retired;
	req.call_case = GRID__V1__REQUEST__CALL_LIST_CHILDREN;
	req.list_children = &m;
	return itest_call(c, &req);
}

static Grid__V1__Reply *subtree(struct grid_client *c, const char *code, uint32_t depth,
				uint32_t page, const char *token)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetSubtreeRequest m = GRID__V1__GET_SUBTREE_REQUEST__INIT;

	m.code = (char *)code;
	m.max_depth = depth;
	m.page_size = page;
	m.page_token = (char *)(token ? token : "");
	req.call_case = GRID__V1__REQUEST__CALL_GET_SUBTREE;
	req.get_subtree = &m;
	return itest_call(c, &req);
}

static Grid__V1__Reply *create(struct grid_client *c, const char *parent, const char *code,
			       const char *level, const char *name)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateNodeRequest m = GRID__V1__CREATE_NODE_REQUEST__INIT;

	m.parent_code = (char *)parent;
	m.code = (char *)code;
	m.level = (char *)level;
	m.name = (char *)name;
	m.leader_name = (char *)"赵六";
	m.leader_phone = (char *)"13800009999";
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_NODE;
	req.create_node = &m;
	return itest_call(c, &req);
}

static Grid__V1__Reply *move(struct grid_client *c, const char *code, const char *parent)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__MoveNodeRequest m = GRID__V1__MOVE_NODE_REQUEST__INIT;

	m.code = (char *)code;
	m.new_parent_code = (char *)parent;
	req.call_case = GRID__V1__REQUEST__CALL_MOVE_NODE;
	req.move_node = &m;
	return itest_call(c, &req);
}

static Grid__V1__Reply *retire(struct grid_client *c, const char *code, bool cascade)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RetireNodeRequest m = GRID__V1__RETIRE_NODE_REQUEST__INIT;

	m.code = (char *)code;
	m.cascade = cascade;
	req.call_case = GRID__V1__REQUEST__CALL_RETIRE_NODE;
	req.retire_node = &m;
	return itest_call(c, &req);
}

static Grid__V1__Reply *import(struct grid_client *c, const char *csv, bool dry_run)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ImportGridRequest m = GRID__V1__IMPORT_GRID_REQUEST__INIT;

	m.csv.data = (uint8_t *)csv;
	m.csv.len = strlen(csv);
	m.dry_run = dry_run;
	req.call_case = GRID__V1__REQUEST__CALL_IMPORT_GRID;
	req.import_grid = &m;
	return itest_call(c, &req);
}

/* --- reads ----------------------------------------------------------------- */

TEST(get_node_reads_every_field)
{
	struct itest_fix f;
	Grid__V1__Reply *r;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	r = itest_get_node_reply(f.admin, "WH-TZL-Z5-ZTY");
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_STR(r->get_node->code, "WH-TZL-Z5-ZTY");
	ASSERT_EQ_STR(r->get_node->name, "梓潼苑");
	ASSERT_EQ_STR(r->get_node->parent_code, "WH-TZL-Z5");
	ASSERT_EQ_STR(r->get_node->level_name, "courtyard");
	ASSERT_EQ_UINT(r->get_node->level, 4);
	ASSERT_EQ_STR(r->get_node->leader_name, "刘燕");
	ASSERT_EQ_STR(r->get_node->leader_phone, "13800000024");
	ASSERT_EQ_UINT(r->get_node->child_count, 4);
	ASSERT(!r->get_node->retired);
	ASSERT(r->get_node->id > 0);
	grid_client_reply_free(r);

	r = itest_get_node_reply(f.admin, "NO-SUCH");
	ASSERT_EQ_INT(itest_code(r), CODE(NOT_FOUND));
	ASSERT(strstr(r->status->message, "NO-SUCH") != NULL);
	ASSERT(r->get_node == NULL);
	grid_client_reply_free(r);

	ASSERT_EQ_INT(itest_get_node(f.admin, ""), CODE(INVALID_ARGUMENT));
	itest_teardown(&f);
}

TEST(list_children_in_natural_order_with_pages)
{
	struct itest_fix f;
	Grid__V1__Reply *r;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	r = list_children(f.admin, "WH-TZL", 0, NULL, false);
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_UINT(r->list_children->n_nodes, 5);
	for (int i = 0; i < 5; i++) {
		char code[32];
		snprintf(code, sizeof(code), "WH-TZL-Z%d", i + 1);
		ASSERT_EQ_STR(r->list_children->nodes[i]->code, code);
	}
	ASSERT_EQ_STR(r->list_children->next_page_token, "");
	grid_client_reply_free(r);

	/* Pages of two: Z1 Z2 | Z3 Z4 | Z5. */
	r = list_children(f.admin, "WH-TZL", 2, NULL, false);
	ASSERT_EQ_UINT(r->list_children->n_nodes, 2);
	ASSERT_EQ_STR(r->list_children->next_page_token, "WH-TZL-Z2");
	grid_client_reply_free(r);
	r = list_children(f.admin, "WH-TZL", 2, "WH-TZL-Z2", false);
	ASSERT_EQ_UINT(r->list_children->n_nodes, 2);
	ASSERT_EQ_STR(r->list_children->nodes[0]->code, "WH-TZL-Z3");
	ASSERT_EQ_STR(r->list_children->next_page_token, "WH-TZL-Z4");
	grid_client_reply_free(r);
	r = list_children(f.admin, "WH-TZL", 2, "WH-TZL-Z4", false);
	ASSERT_EQ_UINT(r->list_children->n_nodes, 1);
	ASSERT_EQ_STR(r->list_children->nodes[0]->code, "WH-TZL-Z5");
	ASSERT_EQ_STR(r->list_children->next_page_token, "");
	grid_client_reply_free(r);

	/* Top level. */
	r = list_children(f.admin, "", 0, NULL, false);
	ASSERT_EQ_UINT(r->list_children->n_nodes, 1);
	ASSERT_EQ_STR(r->list_children->nodes[0]->code, "WH");
	ASSERT_EQ_STR(r->list_children->nodes[0]->parent_code, "");
	grid_client_reply_free(r);
	itest_teardown(&f);
}

TEST(get_subtree_pre_order_depth_and_pages)
{
	struct itest_fix f;
	Grid__V1__Reply *r;
	char *token = NULL;
	size_t total = 0;
	int pages = 0;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	r = subtree(f.admin, "WH-TZL", 0, 1000, NULL);
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_UINT(r->get_subtree->n_nodes, TZL_NODES);
	ASSERT_EQ_STR(r->get_subtree->nodes[0]->code, "WH-TZL");
	ASSERT_EQ_STR(r->get_subtree->nodes[1]->code, "WH-TZL-Z1");
	ASSERT_EQ_STR(r->get_subtree->nodes[2]->code, "WH-TZL-Z1-Y1");
	ASSERT_EQ_STR(r->get_subtree->nodes[3]->code, "WH-TZL-Z1-Y1-B1");
	/* Every node's parent came before it. */
	for (size_t i = 1; i < r->get_subtree->n_nodes; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= strcmp(r->get_subtree->nodes[j]->code,
				       r->get_subtree->nodes[i]->parent_code) == 0;
		ASSERT_MSG(seen, "%s came before its parent", r->get_subtree->nodes[i]->code);
	}
	grid_client_reply_free(r);

	r = subtree(f.admin, "WH-TZL", 1, 0, NULL);
	ASSERT_EQ_UINT(r->get_subtree->n_nodes, 6);
	grid_client_reply_free(r);

	/* Pages of 5 add up to the whole, without repeats. */
	do {
		r = subtree(f.admin, "WH-TZL", 0, 5, token);
		ASSERT_EQ_INT(itest_code(r), CODE(OK));
		ASSERT(r->get_subtree->n_nodes <= 5);
		total += r->get_subtree->n_nodes;
		free(token);
		token = strdup(r->get_subtree->next_page_token);
		grid_client_reply_free(r);
		pages++;
	} while (*token);
	free(token);
	ASSERT_EQ_UINT(total, TZL_NODES);
	ASSERT_EQ_INT(pages, (TZL_NODES + 4) / 5);

	/* A token from another subtree is refused. */
	ASSERT_EQ_INT(itest_code_free(subtree(f.admin, "WH-TZL", 0, 5, "WH-YLDL-Z1")),
		      CODE(INVALID_ARGUMENT));
	itest_teardown(&f);
}

TEST(get_ancestors_root_first)
{
	struct itest_fix f;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetAncestorsRequest m = GRID__V1__GET_ANCESTORS_REQUEST__INIT;
	Grid__V1__Reply *r;
	const char *want[] = {"WH",	   "WH-HCNZ",	     "WH-TZL",
			      "WH-TZL-Z5", "WH-TZL-Z5-SJJY", "WH-TZL-Z5-SJJY-B2"};

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	m.code = (char *)"WH-TZL-Z5-SJJY-B2";
	req.call_case = GRID__V1__REQUEST__CALL_GET_ANCESTORS;
	req.get_ancestors = &m;
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_UINT(r->get_ancestors->n_nodes, 6);
	for (int i = 0; i < 6; i++)
		ASSERT_EQ_STR(r->get_ancestors->nodes[i]->code, want[i]);
	grid_client_reply_free(r);
	itest_teardown(&f);
}

TEST(find_nodes_by_code_name_leader_and_level)
{
	struct itest_fix f;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__FindNodesRequest m = GRID__V1__FIND_NODES_REQUEST__INIT;
	Grid__V1__Reply *r;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	req.call_case = GRID__V1__REQUEST__CALL_FIND_NODES;
	req.find_nodes = &m;

	m.query = (char *)"梓潼苑";
	r = itest_call(f.admin, &req);
	ASSERT_EQ_UINT(r->find_nodes->n_nodes, 1);
	ASSERT_EQ_STR(r->find_nodes->nodes[0]->code, "WH-TZL-Z5-ZTY");
	grid_client_reply_free(r);

	m.query = (char *)"wh-yldl-z2"; /* codes match case-insensitively */
	r = itest_call(f.admin, &req);
	ASSERT_EQ_UINT(r->find_nodes->n_nodes, 4);
	grid_client_reply_free(r);

	m.query = (char *)"张梅"; /* a leader */
	r = itest_call(f.admin, &req);
	ASSERT_EQ_UINT(r->find_nodes->n_nodes, 1);
	ASSERT_EQ_STR(r->find_nodes->nodes[0]->code, "WH-TZL-Z5-FCD");
	grid_client_reply_free(r);

	/* "第一片区" exists in both communities; restrict to one. */
	m.query = (char *)"第一片区";
	r = itest_call(f.admin, &req);
	ASSERT_EQ_UINT(r->find_nodes->n_nodes, 2);
	grid_client_reply_free(r);
	m.within_code = (char *)"WH-YLDL";
	r = itest_call(f.admin, &req);
	ASSERT_EQ_UINT(r->find_nodes->n_nodes, 1);
	ASSERT_EQ_STR(r->find_nodes->nodes[0]->code, "WH-YLDL-Z1");
	grid_client_reply_free(r);

	/* Buildings of 桐梓林: 21; with a limit of 5, 5. */
	m.query = (char *)"WH-TZL";
	m.within_code = (char *)"";
	m.level = (char *)"building";
	r = itest_call(f.admin, &req);
	ASSERT_EQ_UINT(r->find_nodes->n_nodes, 21);
	grid_client_reply_free(r);
	m.limit = 5;
	r = itest_call(f.admin, &req);
	ASSERT_EQ_UINT(r->find_nodes->n_nodes, 5);
	grid_client_reply_free(r);

	m.level = (char *)"street";
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(INVALID_ARGUMENT));
	ASSERT(strstr(r->status->message, "courtyard") != NULL);
	grid_client_reply_free(r);
	itest_teardown(&f);
}

/* --- writes ---------------------------------------------------------------- */

TEST(create_node_and_its_rules)
{
	struct itest_fix f;
	Grid__V1__Reply *r;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	r = create(f.admin, "WH-TZL-Z5-FCD", "WH-TZL-Z5-FCD-B3", "", "3栋");
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_STR(r->create_node->code, "WH-TZL-Z5-FCD-B3");
	ASSERT_EQ_STR(r->create_node->level_name, "building"); /* one below the parent */
	ASSERT_EQ_STR(r->create_node->leader_name, "赵六");
	grid_client_reply_free(r);
	/* The write is in the cache and in the database. */
	r = itest_get_node_reply(f.admin, "WH-TZL-Z5-FCD");
	ASSERT_EQ_UINT(r->get_node->child_count, 3);
	grid_client_reply_free(r);
	char *n =
	    itest_sql(f.db.url, "SELECT count(*) FROM grid_node WHERE code = 'WH-TZL-Z5-FCD-B3'");
	ASSERT_EQ_STR(n, "1");
	free(n);

	ASSERT_EQ_INT(
	    itest_code_free(create(f.admin, "WH-TZL-Z5-FCD", "WH-TZL-Z5-FCD-B3", "", "again")),
	    CODE(ALREADY_EXISTS));
	ASSERT_EQ_INT(itest_code_free(create(f.admin, "WH-NOPE", "X1", "", "x")), CODE(NOT_FOUND));
	r = create(f.admin, "WH-TZL-Z5", "X2", "community", "x"); /* above its parent */
	ASSERT_EQ_INT(itest_code(r), CODE(FAILED_PRECONDITION));
	grid_client_reply_free(r);
	r = create(f.admin, "WH-TZL-Z5-FCD-B1", "X3", "", "x"); /* below the lowest level */
	ASSERT_EQ_INT(itest_code(r), CODE(FAILED_PRECONDITION));
	grid_client_reply_free(r);
	ASSERT_EQ_INT(itest_code_free(create(f.admin, "WH-TZL", "bad code!", "", "x")),
		      CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(itest_code_free(create(f.admin, "WH-TZL", "X4", "", "   ")),
		      CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(itest_code_free(create(f.admin, "WH-TZL", "X5", "planet", "x")),
		      CODE(INVALID_ARGUMENT));
	r = create(f.admin, "", "X6", "zone", "x"); /* only a district stands at the top */
	ASSERT_EQ_INT(itest_code(r), CODE(FAILED_PRECONDITION));
	grid_client_reply_free(r);
	/* A second district is fine. */
	r = create(f.admin, "", "JJ", "", "锦江区");
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_STR(r->create_node->level_name, "district");
	grid_client_reply_free(r);

	n = itest_sql(f.db.url, "SELECT count(*) FROM grid_node");
	ASSERT_EQ_INT(atoi(n), SAMPLE_NODES + 2);
	free(n);
	itest_teardown(&f);
}

TEST(rename_and_set_leader)
{
	struct itest_fix f;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RenameNodeRequest rn = GRID__V1__RENAME_NODE_REQUEST__INIT;
	Grid__V1__SetLeaderRequest sl = GRID__V1__SET_LEADER_REQUEST__INIT;
	Grid__V1__Reply *r;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	rn.code = (char *)"WH-TZL-Z1-Y1";
	rn.name = (char *)"  桐梓林北路院落 ";
	req.call_case = GRID__V1__REQUEST__CALL_RENAME_NODE;
	req.rename_node = &rn;
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_STR(r->rename_node->name, "桐梓林北路院落"); /* trimmed */
	ASSERT_EQ_STR(r->rename_node->leader_name, "陈强");    /* untouched */
	grid_client_reply_free(r);

	sl.code = (char *)"WH-TZL-Z1-Y1";
	sl.leader_name = (char *)"周七";
	sl.leader_phone = (char *)"+86 138 0000 7777";
	req.call_case = GRID__V1__REQUEST__CALL_SET_LEADER;
	req.set_leader = &sl;
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_STR(r->set_leader->name, "桐梓林北路院落");
	ASSERT_EQ_STR(r->set_leader->leader_name, "周七");
	grid_client_reply_free(r);
	char *v = itest_sql(
	    f.db.url, "SELECT name || '/' || leader_name || '/' || leader_phone FROM grid_node "
		      "WHERE code = 'WH-TZL-Z1-Y1'");
	ASSERT_EQ_STR(v, "桐梓林北路院落/周七/+86 138 0000 7777");
	free(v);

	sl.leader_phone = (char *)"call me";
	ASSERT_EQ_INT(itest_code_free(itest_call(f.admin, &req)), CODE(INVALID_ARGUMENT));
	itest_teardown(&f);
}

TEST(move_keeps_subtree_and_refuses_cycles)
{
	struct itest_fix f;
	Grid__V1__Reply *r;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	/* 芳草地 with its buildings moves from zone 5 to zone 4. */
	r = move(f.admin, "WH-TZL-Z5-FCD", "WH-TZL-Z4");
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_STR(r->move_node->parent_code, "WH-TZL-Z4");
	grid_client_reply_free(r);
	r = subtree(f.admin, "WH-TZL-Z4", 0, 0, NULL);
	ASSERT_EQ_UINT(r->get_subtree->n_nodes, 1 + 1 + 2 + 1 + 2); /* Z4, Y6+2, FCD+2 */
	grid_client_reply_free(r);
	r = itest_get_node_reply(f.admin, "WH-TZL-Z5");
	ASSERT_EQ_UINT(r->get_node->child_count, 3);
	grid_client_reply_free(r);
	/* The database's paths follow: the buildings are under zone 4 now. */
	char *v = itest_sql(
	    f.db.url, "SELECT count(*) FROM grid_node b, grid_node z WHERE z.code = 'WH-TZL-Z4'"
		      " AND b.path <@ z.path AND b.level = 5");
	ASSERT_EQ_STR(v, "4");
	free(v);

	/* Into its own subtree: refused, nothing changes. */
	ASSERT_EQ_INT(itest_code_free(move(f.admin, "WH-TZL-Z4", "WH-TZL-Z5-FCD")),
		      CODE(FAILED_PRECONDITION));
	ASSERT_EQ_INT(itest_code_free(move(f.admin, "WH-TZL", "WH-TZL-Z5-ZTY-B1")),
		      CODE(FAILED_PRECONDITION));
	/* Level rules: a courtyard cannot go under a courtyard. */
	ASSERT_EQ_INT(itest_code_free(move(f.admin, "WH-TZL-Z5-ZTY", "WH-TZL-Z5-SAZ")),
		      CODE(FAILED_PRECONDITION));
	r = itest_get_node_reply(f.admin, "WH-TZL-Z5-ZTY");
	ASSERT_EQ_STR(r->get_node->parent_code, "WH-TZL-Z5");
	grid_client_reply_free(r);
	itest_teardown(&f);
}

TEST(retire_keeps_history)
{
	struct itest_fix f;
	Grid__V1__Reply *r;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	r = retire(f.admin, "WH-TZL-Z5-SAZ", false);
	ASSERT_EQ_INT(itest_code(r), CODE(FAILED_PRECONDITION));
	ASSERT(strstr(r->status->message, "3 active children") != NULL);
	grid_client_reply_free(r);

	r = retire(f.admin, "WH-TZL-Z5-SAZ", true);
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_UINT(r->retire_node->retired_count, 4);
	ASSERT(r->retire_node->node->retired);
	grid_client_reply_free(r);

	/* Hidden from listings, still there with include_retired. */
	r = list_children(f.admin, "WH-TZL-Z5", 0, NULL, false);
	ASSERT_EQ_UINT(r->list_children->n_nodes, 3);
	grid_client_reply_free(r);
	r = list_children(f.admin, "WH-TZL-Z5", 0, NULL, true);
	ASSERT_EQ_UINT(r->list_children->n_nodes, 4);
	grid_client_reply_free(r);
	r = itest_get_node_reply(f.admin, "WH-TZL-Z5-SAZ-B2");
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT(r->get_node->retired);
	grid_client_reply_free(r);
	char *v =
	    itest_sql(f.db.url, "SELECT count(*) FROM grid_node WHERE retired_at IS NOT NULL");
	ASSERT_EQ_STR(v, "4");
	free(v);

	/* Retired nodes take no changes and their codes are not reused. */
	ASSERT_EQ_INT(itest_code_free(retire(f.admin, "WH-TZL-Z5-SAZ", true)),
		      CODE(FAILED_PRECONDITION));
	ASSERT_EQ_INT(itest_code_free(create(f.admin, "WH-TZL-Z5-SAZ", "X7", "", "x")),
		      CODE(FAILED_PRECONDITION));
	ASSERT_EQ_INT(itest_code_free(create(f.admin, "WH-TZL-Z5", "WH-TZL-Z5-SAZ", "", "x")),
		      CODE(ALREADY_EXISTS));
	ASSERT_EQ_INT(itest_code_free(move(f.admin, "WH-TZL-Z5-SAZ-B1", "WH-TZL-Z5-ZTY")),
		      CODE(FAILED_PRECONDITION));
	itest_teardown(&f);
}

/* --- import and export ------------------------------------------------------ */

TEST(import_with_bad_lines_changes_nothing)
{
	struct itest_fix f;
	Grid__V1__Reply *r;
	const char *csv =
	    "code,parent_code,level,name,leader_name,leader_phone\n"
	    "WH-NEW-1,WH-TZL-Z5,courtyard,新院落,甲,13800000100\n"  /* 2: fine */
	    "WH-NEW-2,WH-NOWHERE,courtyard,无父,乙,13800000101\n"   /* 3: parent missing */
	    "WH-NEW-3,WH-TZL-Z5,galaxy,坏层级,丙,13800000102\n"	    /* 4: level unknown */
	    "WH-NEW-1,WH-TZL-Z5,courtyard,重复,丁,13800000103\n"    /* 5: duplicate code */
	    "WH-NEW-4,WH-TZL-Z5,courtyard,,戊,13800000104\n"	    /* 6: no name */
	    "WH-NEW-5,WH-TZL-Z5,courtyard,ab\"c,己,1\n"		    /* 7: stray quote */
	    "WH-TZL-Z5,WH-TZL,zone,第五片区改名,张超,13800000023\n" /* 8: fine (update) */
	    "WH-NEW-6,WH-TZL-Z5,community,反了,庚,13800000105\n";   /* 9: above its parent */
	const unsigned bad_lines[] = {3, 4, 5, 6, 7, 9};
	char *before, *after;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	before = itest_export_grid(f.admin, "", 0, NULL);
	r = import(f.admin, csv, false);
	ASSERT_EQ_INT(itest_code(r), CODE(INVALID_ARGUMENT));
	ASSERT(strstr(r->status->message, "6 bad lines") != NULL);
	ASSERT_EQ_UINT(r->status->n_details, 6);
	for (size_t i = 0; i < 6; i++)
		ASSERT_MSG(r->status->details[i]->line == bad_lines[i], "detail %zu is line %u", i,
			   r->status->details[i]->line);
	ASSERT(strstr(r->status->details[0]->reason, "WH-NOWHERE") != NULL);
	ASSERT_EQ_STR(r->status->details[1]->field, "level");
	ASSERT(strstr(r->status->details[2]->reason, "line 2") != NULL);
	grid_client_reply_free(r);

	after = itest_export_grid(f.admin, "", 0, NULL);
	ASSERT_EQ_STR(after, before);
	char *v = itest_sql(f.db.url, "SELECT count(*) || ' ' || max(version) FROM grid_node");
	ASSERT_EQ_STR(v, "51 1");
	free(v);
	free(before);
	free(after);
	itest_teardown(&f);
}

TEST(import_creates_updates_and_moves_all_at_once)
{
	struct itest_fix f;
	Grid__V1__Reply *r;
	/* Children before their parent, a leader change and a move. */
	const char *csv = "\xEF\xBB\xBF"
			  "code,name,parent_code,level,leader_name,leader_phone\r\n"
			  "WH-TZL-Z6-A-B1,\"1栋, 东\",WH-TZL-Z6-A,building,壬,13800000201\r\n"
			  "WH-TZL-Z6-A,新院,WH-TZL-Z6,courtyard,辛,13800000200\r\n"
			  "WH-TZL-Z6,第六片区,WH-TZL,zone,庚,13800000199\r\n"
			  "WH-TZL-Z1-Y1,一号院落,WH-TZL-Z1,courtyard,新代表,13800000005\r\n"
			  "WH-TZL-Z1-Y2,二号院落,WH-TZL-Z6,courtyard,张磊,13800000008\r\n"
			  "WH-TZL-Z2,第二片区,WH-TZL,zone,陈军,13800000010\r\n";

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	r = import(f.admin, csv, true);
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT(r->import_grid->dry_run);
	ASSERT_EQ_UINT(r->import_grid->created, 3);
	ASSERT_EQ_UINT(r->import_grid->updated, 2);
	ASSERT_EQ_UINT(r->import_grid->unchanged, 1);
	grid_client_reply_free(r);
	r = itest_get_node_reply(f.admin, "WH-TZL-Z6");
	ASSERT_EQ_INT(itest_code(r), CODE(NOT_FOUND)); /* a dry run changes nothing */
	grid_client_reply_free(r);

	r = import(f.admin, csv, false);
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT(!r->import_grid->dry_run);
	ASSERT_EQ_UINT(r->import_grid->created, 3);
	ASSERT_EQ_UINT(r->import_grid->updated, 2);
	ASSERT_EQ_UINT(r->import_grid->unchanged, 1);
	grid_client_reply_free(r);

	r = itest_get_node_reply(f.admin, "WH-TZL-Z6-A-B1");
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_STR(r->get_node->name, "1栋, 东");
	grid_client_reply_free(r);
	r = itest_get_node_reply(f.admin, "WH-TZL-Z1-Y1");
	ASSERT_EQ_STR(r->get_node->leader_name, "新代表");
	grid_client_reply_free(r);
	r = itest_get_node_reply(f.admin, "WH-TZL-Z1-Y2");
	ASSERT_EQ_STR(r->get_node->parent_code, "WH-TZL-Z6");
	grid_client_reply_free(r);
	r = itest_get_node_reply(f.admin, "WH-TZL-Z6");
	ASSERT_EQ_UINT(r->get_node->child_count, 2);
	grid_client_reply_free(r);

	/* Again: nothing left to change. */
	r = import(f.admin, csv, false);
	ASSERT_EQ_INT(itest_code(r), CODE(OK));
	ASSERT_EQ_UINT(r->import_grid->unchanged, 6);
	grid_client_reply_free(r);
	itest_teardown(&f);
}

TEST(import_header_and_empty_files)
{
	struct itest_fix f;
	Grid__V1__Reply *r;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN);
	ASSERT_EQ_INT(itest_code_free(import(f.admin, "", false)), CODE(INVALID_ARGUMENT));
	r = import(f.admin, "code,parent_code,level,name\n", false);
	ASSERT_EQ_INT(itest_code(r), CODE(INVALID_ARGUMENT));
	ASSERT(strstr(r->status->message, "no lines") != NULL);
	grid_client_reply_free(r);
	r = import(f.admin, "code,parent,level,name\nWH,,district,武侯区\n", false);
	ASSERT_EQ_INT(itest_code(r), CODE(INVALID_ARGUMENT));
	ASSERT(r->status->n_details >= 1);
	ASSERT_EQ_UINT(r->status->details[0]->line, 1);
	grid_client_reply_free(r);
	r = import(f.admin, "code,parent_code,level,name\nWH,,district,\xff\xfe\n", false);
	ASSERT_EQ_INT(itest_code(r), CODE(INVALID_ARGUMENT));
	ASSERT(strstr(r->status->details[0]->reason, "UTF-8") != NULL);
	grid_client_reply_free(r);
	char *v = itest_sql(f.db.url, "SELECT count(*) FROM grid_node");
	ASSERT_EQ_STR(v, "0");
	free(v);
	itest_teardown(&f);
}

TEST(export_round_trips_into_a_fresh_grid)
{
	struct itest_fix a, b;
	char *one, *two, *paged;
	int pages;

	itest_setup(&a, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	one = itest_export_grid(a.admin, "", 0, NULL);
	ASSERT_EQ_INT(itest_count_lines(one), SAMPLE_NODES + 1);
	ASSERT(strncmp(one, "code,parent_code,level,name,leader_name,leader_phone\n", 53) == 0);
	paged = itest_export_grid(a.admin, "", 7, &pages);
	ASSERT_EQ_INT(pages, (SAMPLE_NODES + 6) / 7);
	ASSERT_EQ_STR(paged, one);

	char path[600];
	snprintf(path, sizeof(path), "%s/export.csv", itest_tmpdir());
	FILE *fp = fopen(path, "w");
	fputs(one, fp);
	fclose(fp);
	itest_setup(&b, NULL, ITEST_WITH_ADMIN);
	itest_import_file(b.admin, path);
	two = itest_export_grid(b.admin, "", 0, NULL);
	ASSERT_EQ_STR(two, one);

	/* A subtree export starts at its root. */
	free(two);
	two = itest_export_grid(a.admin, "WH-TZL-Z5", 0, NULL);
	ASSERT_EQ_INT(itest_count_lines(two), 1 + 1 + 4 + 12);
	ASSERT(strstr(two, "\nWH-TZL-Z5,WH-TZL,zone,第五片区,") != NULL);
	free(one);
	free(two);
	free(paged);
	itest_teardown(&b);
	itest_teardown(&a);
}

TEST(two_processes_share_one_grid)
{
	struct itest_fix f;
	struct itest_gridd other;
	struct grid_client *c2;
	Grid__V1__Reply *r;
	uint64_t deadline;
	bool seen = false;

	itest_setup(&f, NULL, ITEST_WITH_ADMIN | ITEST_WITH_SAMPLE);
	itest_gridd_start(&other, f.db.url, NULL);
	c2 = itest_connect(&other);
	/* The second process loaded the sample at start. */
	ASSERT_EQ_INT(itest_get_node(c2, "WH-TZL-Z5-ZTY"), CODE(OK));

	/* A change through the first shows up in the second by NOTIFY. */
	ASSERT_EQ_INT(
	    itest_code_free(create(f.admin, "WH-TZL-Z5-ZTY", "WH-TZL-Z5-ZTY-B5", "", "5栋")),
	    CODE(OK));
	deadline = itest_now_ms() + 3000;
	while (!seen && itest_now_ms() < deadline) {
		seen = itest_get_node(c2, "WH-TZL-Z5-ZTY-B5") == CODE(OK);
		if (!seen)
			usleep(20000);
	}
	ASSERT_MSG(seen, "the second gridd never saw the node created through the first");

	/* And the other way round, with a move. */
	ASSERT_EQ_INT(itest_code_free(move(c2, "WH-TZL-Z5-ZTY-B5", "WH-TZL-Z5-FCD")), CODE(OK));
	seen = false;
	deadline = itest_now_ms() + 3000;
	while (!seen && itest_now_ms() < deadline) {
		r = itest_get_node_reply(f.admin, "WH-TZL-Z5-ZTY-B5");
		seen = strcmp(r->get_node->parent_code, "WH-TZL-Z5-FCD") == 0;
		grid_client_reply_free(r);
		if (!seen)
			usleep(20000);
	}
	ASSERT_MSG(seen, "the first gridd never saw the move made through the second");
	grid_client_destroy(c2);
	ASSERT_EQ_INT(itest_gridd_stop(&other), 0);
	itest_teardown(&f);
}
