/* The city-scale grid generator (bench/citygen) against a real gridd: a
 * small city loaded by COPY is served node for node as citygen describes it
 * (same count, same export as its own CSV; paths, parents and versions as
 * gridd's grid functions would have left them), stays writable, refuses a
 * second load, and reaches a gridd that was already running. With
 * GRID_TEST_LONG=1 the full city (3,000 communities, 858,320 nodes) starts
 * within the memory bound of issue 5; start time and memory are printed.
 * bench/city measures the same city for speed.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
/* A community: itself, 5 zones, 40 courtyards, 240 buildings. */
#define COMMUNITY_NODES (1 + 5 + 40 + 240)
#define RSS_LIMIT_MB 300

/* Nodes citygen makes for n communities: districts of 15 sub-districts of
 * 10 communities. */
static long city_nodes(long n)
{
	long subdistricts = (n + 9) / 10, districts = (subdistricts + 14) / 15;

	return districts + subdistricts + n * COMMUNITY_NODES;
}

/* Runs citygen with args (NULL terminated) and returns its exit code; its
 * standard output goes to out_path (NULL: dropped), its messages to
 * stderr, away from the TAP stream. */
static int citygen(const char *out_path, const char *const *args)
{
	const char *bin = getenv("CITYGEN");
	const char *argv[16] = {bin};
	size_t n = 1;
	char *out, *err;
	int st;

	if (!bin)
		test_fail(__FILE__, __LINE__, "CITYGEN is not set (tests/integration/meson.build)");
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	st = itest_run(argv, NULL, NULL, &out, &err);
	fputs(err, stderr);
	if (out_path) {
		FILE *f = fopen(out_path, "w");
		ASSERT_NOT_NULL(f);
		ASSERT_EQ_UINT(fwrite(out, 1, strlen(out), f), strlen(out));
		ASSERT_EQ_INT(fclose(f), 0);
	}
	free(out);
	free(err);
	return st;
}

/* Loads a city of n communities into a new database (migrated first). */
static void load_city(struct itest_db *db, const char *communities)
{
	itest_db_create(db);
	const char *args[] = {"--gridd", getenv("GRIDD"), "-d", db->url,
			      "-n",	 communities,	  "-q", NULL};
	ASSERT_EQ_INT(citygen(NULL, args), 0);
}

/* Nodes under the top-level nodes, counted through GetSubtree pages. */
static long count_served(struct grid_client *c, long *ret_buildings)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListChildrenRequest lc = GRID__V1__LIST_CHILDREN_REQUEST__INIT;
	Grid__V1__Reply *tops;
	long total = 0, buildings = 0;

	req.call_case = GRID__V1__REQUEST__CALL_LIST_CHILDREN;
	req.list_children = &lc;
	tops = itest_call(c, &req);
	ASSERT_EQ_INT(itest_code(tops), CODE(OK));
	for (size_t i = 0; i < tops->list_children->n_nodes; i++) {
		Grid__V1__GetSubtreeRequest st = GRID__V1__GET_SUBTREE_REQUEST__INIT;
		Grid__V1__Request sreq = GRID__V1__REQUEST__INIT;
		char token[80] = "";
		st.code = tops->list_children->nodes[i]->code;
		st.page_size = 5000;
		sreq.call_case = GRID__V1__REQUEST__CALL_GET_SUBTREE;
		sreq.get_subtree = &st;
		do {
			st.page_token = token;
			Grid__V1__Reply *r = itest_call(c, &sreq);
			ASSERT_EQ_INT(itest_code(r), CODE(OK));
			for (size_t k = 0; k < r->get_subtree->n_nodes; k++)
				buildings +=
				    strcmp(r->get_subtree->nodes[k]->level_name, "building") == 0;
			total += (long)r->get_subtree->n_nodes;
			snprintf(token, sizeof(token), "%s", r->get_subtree->next_page_token);
			grid_client_reply_free(r);
		} while (*token);
	}
	grid_client_reply_free(tops);
	if (ret_buildings)
		*ret_buildings = buildings;
	return total;
}

static Grid__V1__Node *get_node(struct grid_client *c, const char *code, Grid__V1__Reply **ret)
{
	*ret = itest_get_node_reply(c, code);
	ASSERT_MSG(itest_code(*ret) == CODE(OK), "GetNode %s: %s", code, (*ret)->status->message);
	return (*ret)->get_node;
}

TEST(small_city_is_served_as_generated)
{
	struct itest_db db;
	struct itest_gridd g;
	struct grid_client *c;
	Grid__V1__Reply *r;
	Grid__V1__Node *n;
	char path[1024], *csv, *exported;
	long buildings = 0;

	itest_require_db();
	snprintf(path, sizeof(path), "%s/city.csv", itest_tmpdir());
	const char *csv_args[] = {"--csv", "-", "-n", "20", "-q", NULL};
	ASSERT_EQ_INT(citygen(path, csv_args), 0);
	load_city(&db, "20");
	itest_gridd_start(&g, db.url, NULL);
	c = itest_connect(&g);

	/* 1 district, 2 sub-districts, 20 communities of 286 nodes. */
	ASSERT_EQ_INT(count_served(c, &buildings), city_nodes(20));
	ASSERT_EQ_INT(city_nodes(20), 5723);
	ASSERT_EQ_INT(buildings, 20 * 240);

	/* One district, so gridd's code order is citygen's order: the export
	 * and the CSV citygen writes must agree byte for byte, names, leaders
	 * and phones included. */
	csv = itest_read_file(path, NULL);
	exported = itest_export_grid(c, "", 1000, NULL);
	ASSERT_EQ_INT(itest_count_lines(csv), city_nodes(20) + 1);
	ASSERT_EQ_STR(exported, csv);
	free(csv);
	free(exported);

	/* A building: where it sits, what it is called, who answers for it. */
	n = get_node(c, "JJ-S02-C03-Z4-Y27-B5", &r);
	ASSERT_EQ_STR(n->parent_code, "JJ-S02-C03-Z4-Y27");
	ASSERT_EQ_STR(n->level_name, "building");
	ASSERT_EQ_STR(n->name, "5栋");
	ASSERT(strlen(n->leader_name) >= 6); /* two or three Chinese characters */
	ASSERT_EQ_UINT(strlen(n->leader_phone), 11);
	ASSERT(strncmp(n->leader_phone, "139", 3) == 0);
	ASSERT_EQ_UINT(n->child_count, 0);
	grid_client_reply_free(r);
	n = get_node(c, "JJ-S02-C03-Z4-Y27", &r);
	ASSERT_EQ_STR(n->level_name, "courtyard");
	ASSERT_EQ_UINT(n->child_count, 6);
	grid_client_reply_free(r);
	n = get_node(c, "JJ-S02-C03", &r);
	ASSERT_EQ_STR(n->level_name, "community");
	ASSERT(strstr(n->name, "社区") != NULL);
	ASSERT_EQ_UINT(n->child_count, 5);
	grid_client_reply_free(r);
	n = get_node(c, "JJ", &r);
	ASSERT_EQ_STR(n->name, "锦江区");
	ASSERT_EQ_UINT(n->child_count, 2);
	grid_client_reply_free(r);
	/* The 20th community is the last: no 21st, no third sub-district. */
	n = get_node(c, "JJ-S02-C10-Z5-Y40-B6", &r);
	ASSERT_EQ_STR(n->name, "6栋");
	grid_client_reply_free(r);
	ASSERT_EQ_INT(itest_get_node(c, "JJ-S03"), CODE(NOT_FOUND));
	ASSERT_EQ_INT(itest_get_node(c, "JJ-S02-C10-Z5-Y41"), CODE(NOT_FOUND));

	/* The chain above a building, top first. */
	{
		static const char *const chain[] = {"JJ",
						    "JJ-S02",
						    "JJ-S02-C03",
						    "JJ-S02-C03-Z4",
						    "JJ-S02-C03-Z4-Y27",
						    "JJ-S02-C03-Z4-Y27-B5"};
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__GetAncestorsRequest m = GRID__V1__GET_ANCESTORS_REQUEST__INIT;
		m.code = "JJ-S02-C03-Z4-Y27-B5";
		req.call_case = GRID__V1__REQUEST__CALL_GET_ANCESTORS;
		req.get_ancestors = &m;
		r = itest_call(c, &req);
		ASSERT_EQ_INT(itest_code(r), CODE(OK));
		ASSERT_EQ_UINT(r->get_ancestors->n_nodes, 6);
		for (size_t i = 0; i < 6; i++) {
			ASSERT_EQ_STR(r->get_ancestors->nodes[i]->code, chain[i]);
			ASSERT_EQ_UINT(r->get_ancestors->nodes[i]->level, i);
		}
		grid_client_reply_free(r);
	}

	/* The rows as gridd's own functions write them: every path is the
	 * parent's plus the node's id, one grid version for all and the
	 * version row at it. */
	char *bad = itest_sql(db.url, "SELECT count(*) FROM grid_node c"
				      " LEFT JOIN grid_node p ON p.id = c.parent_id"
				      " WHERE c.path IS DISTINCT FROM"
				      " coalesce(p.path, ''::ltree) || c.id::text::ltree"
				      " OR nlevel(c.path) <> c.level + 1");
	ASSERT_EQ_STR(bad, "0");
	free(bad);
	char *same = itest_sql(db.url, "SELECT (SELECT version FROM grid_version) ="
				       " ALL (SELECT DISTINCT version FROM grid_node)");
	ASSERT_EQ_STR(same, "t");
	free(same);

	/* Still writable: a new building gets the next id of the sequence. */
	{
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__CreateNodeRequest m = GRID__V1__CREATE_NODE_REQUEST__INIT;
		m.parent_code = "JJ-S02-C03-Z4-Y27";
		m.code = "JJ-S02-C03-Z4-Y27-B7";
		m.name = "7栋";
		req.call_case = GRID__V1__REQUEST__CALL_CREATE_NODE;
		req.create_node = &m;
		r = itest_call(c, &req);
		ASSERT_MSG(itest_code(r) == CODE(OK), "CreateNode: %s", r->status->message);
		grid_client_reply_free(r);
		char *max = itest_sql(db.url, "SELECT max(id) FROM grid_node");
		n = get_node(c, "JJ-S02-C03-Z4-Y27-B7", &r);
		ASSERT_EQ_INT(n->id, strtoll(max, NULL, 10));
		ASSERT_EQ_INT(n->id, city_nodes(20) + 1);
		free(max);
		grid_client_reply_free(r);
	}

	/* A second load into a database with a grid changes nothing. */
	{
		const char *args[] = {"-d", db.url, "-n", "1", "-q", NULL};
		ASSERT(citygen(NULL, args) != 0);
		char *count = itest_sql(db.url, "SELECT count(*) FROM grid_node");
		ASSERT_EQ_INT(strtol(count, NULL, 10), city_nodes(20) + 1);
		free(count);
	}

	grid_client_destroy(c);
	ASSERT_EQ_INT(itest_gridd_stop(&g), 0);
	itest_db_drop(&db);
}

TEST(a_running_gridd_follows_the_load)
{
	struct itest_fix f;
	uint64_t deadline;
	long seen = 0;

	itest_require_db();
	itest_setup(&f, NULL, ITEST_WITH_ADMIN);
	ASSERT_EQ_INT(itest_get_node(f.admin, "JJ"), CODE(NOT_FOUND));
	const char *args[] = {"-d", f.db.url, "-n", "3", "-q", NULL};
	ASSERT_EQ_INT(citygen(NULL, args), 0);
	/* The load NOTIFYs grid_changed like any grid write; gridd reads the
	 * new rows back. */
	deadline = itest_now_ms() + 20000;
	while (itest_now_ms() < deadline) {
		seen = count_served(f.admin, NULL);
		if (seen == city_nodes(3))
			break;
		usleep(100 * 1000);
	}
	ASSERT_EQ_INT(seen, city_nodes(3));
	itest_teardown(&f);
}

static long rss_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	ASSERT_NOT_NULL(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtol(line + strlen(field), NULL, 10);
	fclose(f);
	return kb;
}

TEST(full_city_starts_within_bounds)
{
	struct itest_db db;
	struct itest_gridd g;
	struct grid_client *c;
	uint64_t t0, t1;
	long rss, peak;

	if (!getenv("GRID_TEST_LONG") || strcmp(getenv("GRID_TEST_LONG"), "1") != 0)
		TEST_SKIP("the full city takes minutes: scripts/test --long (GRID_TEST_LONG=1)");
	itest_require_db();
	t0 = itest_now_ms();
	load_city(&db, "3000");
	t1 = itest_now_ms();
	printf("# citygen loaded %ld nodes in %.1f s\n", city_nodes(3000), (t1 - t0) / 1e3);
	t0 = itest_now_ms();
	itest_gridd_start(&g, db.url, NULL);
	t1 = itest_now_ms();
	rss = rss_kb(g.pid, "VmRSS:");
	peak = rss_kb(g.pid, "VmHWM:");
	/* Includes the bootstrap admin and a login; a figure, not a bound:
	 * bench/city measures the start itself. */
	printf("# gridd ready in %.1f s, rss %.1f MB, peak %.1f MB (bound %d MB)\n",
	       (t1 - t0) / 1e3, rss / 1024.0, peak / 1024.0, RSS_LIMIT_MB);
	ASSERT_MSG(rss <= RSS_LIMIT_MB * 1024L, "gridd holds %ld kB with the city", rss);
	c = itest_connect(&g);
	ASSERT_EQ_INT(count_served(c, NULL), 858320);
	ASSERT_EQ_INT(city_nodes(3000), 858320);
	grid_client_destroy(c);
	ASSERT_EQ_INT(itest_gridd_stop(&g), 0);
	itest_db_drop(&db);
}
