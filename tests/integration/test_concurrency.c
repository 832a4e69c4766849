/* Many clients at once: 20 connections, each pipelining 100 requests
 * (reads of random nodes, listings, and writes), all in flight together on
 * one loop. Every reply must answer its own request: the node asked for,
 * the children of the node asked for, the node created. */
#include <unistd.h>

#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define CLIENTS 20
#define PER_CLIENT 100

static const char *const codes[] = {
    "WH",
    "WH-HCNZ",
    "WH-TZL",
    "WH-TZL-Z1",
    "WH-TZL-Z2",
    "WH-TZL-Z3",
    "WH-TZL-Z4",
    "WH-TZL-Z5",
    "WH-TZL-Z5-ZTY",
    "WH-TZL-Z5-SAZ",
    "WH-TZL-Z5-SJJY",
    "WH-TZL-Z5-FCD",
    "WH-YL",
    "WH-YLDL",
    "WH-YLDL-Z1",
    "WH-YLDL-Z2",
    "WH-TZL-Z1-Y1-B2",
    "WH-TZL-Z5-ZTY-B4",
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

struct pending {
	int kind; /* 0 GetNode, 1 ListChildren, 2 CreateNode */
	char code[48];
	struct run *run;
};

struct run {
	uv_loop_t *loop;
	struct grid_client *clients[CLIENTS];
	struct pending reqs[CLIENTS][PER_CLIENT];
	int connected, replies, wrong, failed, created;
	char first_error[256];
	char *token;
};

static void on_reply(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct pending *p = data;
	struct run *run = p->run;

	run->replies++;
	if (status < 0 || !r || r->status->code != CODE(OK)) {
		if (!run->first_error[0])
			snprintf(run->first_error, sizeof(run->first_error), "%s: status %d %s",
				 p->code, status, r ? r->status->message : "");
		run->failed++;
		return;
	}
	switch (p->kind) {
	case 0:
		if (!r->get_node || strcmp(r->get_node->code, p->code) != 0)
			run->wrong++;
		break;
	case 1:
		if (!r->list_children)
			run->wrong++;
		for (size_t i = 0; r->list_children && i < r->list_children->n_nodes; i++)
			if (strcmp(r->list_children->nodes[i]->parent_code, p->code) != 0)
				run->wrong++;
		break;
	case 2:
		if (!r->create_node || strcmp(r->create_node->code, p->code) != 0)
			run->wrong++;
		else
			run->created++;
		break;
	}
}

static void send_all(struct run *run, int ci)
{
	struct grid_client *c = run->clients[ci];

	for (int i = 0; i < PER_CLIENT; i++) {
		struct pending *p = &run->reqs[ci][i];
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__GetNodeRequest gn = GRID__V1__GET_NODE_REQUEST__INIT;
		Grid__V1__ListChildrenRequest lc = GRID__V1__LIST_CHILDREN_REQUEST__INIT;
		Grid__V1__CreateNodeRequest cn = GRID__V1__CREATE_NODE_REQUEST__INIT;

		p->run = run;
		p->kind = i % 20 == 19 ? 2 : i % 2;
		if (p->kind == 2) {
			snprintf(p->code, sizeof(p->code), "WH-TZL-Z5-ZTY-C%d-%d", ci, i);
			cn.parent_code = (char *)"WH-TZL-Z5-ZTY";
			cn.code = p->code;
			cn.name = (char *)"临时楼";
			req.call_case = GRID__V1__REQUEST__CALL_CREATE_NODE;
			req.create_node = &cn;
		} else {
			snprintf(p->code, sizeof(p->code), "%s", codes[(ci * 7 + i) % NCODES]);
			if (p->kind == 0) {
				gn.code = p->code;
				req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
				req.get_node = &gn;
			} else {
				lc.code = p->code;
				req.call_case = GRID__V1__REQUEST__CALL_LIST_CHILDREN;
				req.list_children = &lc;
			}
		}
		ASSERT_EQ_INT(grid_client_call_async(c, &req, on_reply, p), 0);
	}
	/* All of them are in flight before the first reply is read. */
	ASSERT_EQ_UINT(grid_client_inflight(c), PER_CLIENT);
}

static void on_authenticated(struct grid_client *c, int status, const Grid__V1__Reply *r,
			     void *data)
{
	struct run *run = data;

	ASSERT_MSG(status == 0 && r->status->code == CODE(OK), "authenticate: %s",
		   r ? r->status->message : grid_client_error(c));
	run->connected++;
	for (int i = 0; i < CLIENTS; i++)
		if (run->clients[i] == c)
			send_all(run, i);
}

static void on_connect(struct grid_client *c, int status, void *data)
{
	struct run *run = data;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest m = GRID__V1__AUTHENTICATE_REQUEST__INIT;

	ASSERT_MSG(status == 0, "connect: %s", grid_client_error(c));
	m.token = run->token;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &m;
	ASSERT_EQ_INT(grid_client_call_async(c, &req, on_authenticated, run), 0);
}

TEST(twenty_clients_pipelining_a_hundred_each)
{
	struct itest_db db;
	struct itest_gridd g;
	struct grid_client *setup_client;
	struct run *run = calloc(1, sizeof(*run));
	uv_loop_t loop;

	itest_db_create(&db);
	itest_gridd_start(&g, db.url, NULL);
	setup_client = itest_connect(&g);
	itest_import_file(setup_client, itest_sample_csv());
	grid_client_destroy(setup_client);

	uv_loop_init(&loop);
	run->loop = &loop;
	run->token = g.admin_token;
	for (int i = 0; i < CLIENTS; i++) {
		struct grid_client_config cfg = {.client_name = "itest-concurrency"};
		run->clients[i] = grid_client_create(&loop, &cfg);
		ASSERT_NOT_NULL(run->clients[i]);
		ASSERT_EQ_INT(
		    grid_client_connect_async(run->clients[i], g.address, on_connect, run), 0);
	}
	uint64_t deadline = itest_now_ms() + 60000;
	while (run->replies < CLIENTS * PER_CLIENT && itest_now_ms() < deadline)
		uv_run(&loop, UV_RUN_ONCE);

	ASSERT_EQ_INT(run->connected, CLIENTS);
	ASSERT_MSG(run->failed == 0, "%d requests failed; first: %s", run->failed,
		   run->first_error);
	ASSERT_EQ_INT(run->replies, CLIENTS * PER_CLIENT);
	ASSERT_EQ_INT(run->wrong, 0);
	ASSERT_EQ_INT(run->created, CLIENTS * (PER_CLIENT / 20));

	for (int i = 0; i < CLIENTS; i++)
		grid_client_destroy(run->clients[i]);
	uv_run(&loop, UV_RUN_DEFAULT);
	ASSERT_EQ_INT(uv_loop_close(&loop), 0);

	char *v = itest_sql(db.url, "SELECT count(*) FROM grid_node WHERE code LIKE '%-C%-%'");
	ASSERT_EQ_INT(atoi(v), CLIENTS * (PER_CLIENT / 20));
	free(v);
	free(run);
	ASSERT_EQ_INT(itest_gridd_stop(&g), 0);
	itest_db_drop(&db);
}
