/* Tasks through the client library and gridctl against real gridd
 * processes, on the sample grid: a task from 桐梓林社区 (WH-TZL) to every
 * building below it makes one assignment and one task.assigned event per
 * active building; progress rolls up right at the community, every zone and
 * every courtyard, overdue included once the clock (gridd-testclock) passes
 * the due time; reminders and overdue notices go out once per assignment
 * with two processes sweeping (and, deterministically, a sweep passes by
 * the tasks another holds); cancel and extend; a building head works its
 * own building's assignment only, and two people acknowledging at once
 * cannot both win; idempotent completion; gridctl's task commands. */
#include <math.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define ROLE(x) GRID__V1__ROLE__ROLE_##x
#define ASTATE(x) GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_##x
#define CALL(x) GRID__V1__REQUEST__CALL_##x
#define PASSWORD "task-password-1"
#define COMMUNITY "WH-TZL"
#define B1 "WH-TZL-Z5-ZTY-B1"
#define B2 "WH-TZL-Z5-ZTY-B2"
#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)

#define GRIDCTL(g, out, err, ...)                                                                  \
	itest_gridctl((g), NULL, (out), (err), (const char *const[]){__VA_ARGS__, NULL})

static const char *const testclock[] = {"--itest-testclock", NULL};

/* The active buildings of 桐梓林社区 in data/sample-grid.csv. */
static const char *const buildings[] = {
    "WH-TZL-Z1-Y1-B1",	 "WH-TZL-Z1-Y1-B2",   "WH-TZL-Z1-Y2-B1",   "WH-TZL-Z2-Y3-B1",
    "WH-TZL-Z2-Y3-B2",	 "WH-TZL-Z3-Y4-B1",   "WH-TZL-Z3-Y5-B1",   "WH-TZL-Z4-Y6-B1",
    "WH-TZL-Z4-Y6-B2",	 "WH-TZL-Z5-ZTY-B1",  "WH-TZL-Z5-ZTY-B2",  "WH-TZL-Z5-ZTY-B3",
    "WH-TZL-Z5-ZTY-B4",	 "WH-TZL-Z5-SAZ-B1",  "WH-TZL-Z5-SAZ-B2",  "WH-TZL-Z5-SAZ-B3",
    "WH-TZL-Z5-SJJY-B1", "WH-TZL-Z5-SJJY-B2", "WH-TZL-Z5-SJJY-B3", "WH-TZL-Z5-FCD-B1",
    "WH-TZL-Z5-FCD-B2",
};
#define NBUILDINGS (sizeof(buildings) / sizeof(buildings[0]))

/* The community, its zones and courtyards, in pre-order (children by
 * code). */
static const char *const above_buildings[] = {
    "WH-TZL",	     "WH-TZL-Z1",     "WH-TZL-Z1-Y1",	"WH-TZL-Z1-Y2",
    "WH-TZL-Z2",     "WH-TZL-Z2-Y3",  "WH-TZL-Z3",	"WH-TZL-Z3-Y4",
    "WH-TZL-Z3-Y5",  "WH-TZL-Z4",     "WH-TZL-Z4-Y6",	"WH-TZL-Z5",
    "WH-TZL-Z5-FCD", "WH-TZL-Z5-SAZ", "WH-TZL-Z5-SJJY", "WH-TZL-Z5-ZTY",
};
#define NABOVE (sizeof(above_buildings) / sizeof(above_buildings[0]))

struct fix {
	struct itest_db db;
	struct itest_gridd g;
	struct grid_client *admin;
};

static void setup(struct fix *f, const char *const *extra)
{
	itest_db_create(&f->db);
	itest_gridd_start(&f->g, f->db.url, extra);
	f->admin = itest_connect(&f->g);
	itest_import_file(f->admin, itest_sample_csv());
}

static void teardown(struct fix *f)
{
	grid_client_destroy(f->admin);
	ASSERT_EQ_INT(itest_gridd_stop(&f->g), 0);
	itest_db_drop(&f->db);
}

static struct grid_client *as(struct fix *f, const char *user, int role, const char *node,
			      char *ret_token)
{
	struct grid_client *c;

	itest_create_user(f->admin, user, PASSWORD, role, node);
	c = itest_connect_anonymous(&f->g);
	ASSERT_EQ_INT(itest_login(c, user, PASSWORD, ret_token), 0);
	return c;
}

static long sql_long(const struct fix *f, const char *sql)
{
	char *v = itest_sql(f->db.url, sql);
	long n = v ? atol(v) : -1;

	free(v);
	return n;
}

/* The server's clock (moved by AdvanceClock in gridd-testclock). */
static int64_t server_now(struct grid_client *c)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AdvanceClockRequest m = GRID__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Grid__V1__Reply *r;
	int64_t now;

	req.call_case = CALL(ADVANCE_CLOCK);
	req.advance_clock = &m;
	r = itest_call(c, &req);
	ASSERT_MSG(itest_code(r) == 0, "AdvanceClock: %s", r->status->message);
	now = r->advance_clock->now_ms;
	grid_client_reply_free(r);
	return now;
}

static void advance(struct grid_client *c, int64_t ms)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AdvanceClockRequest m = GRID__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Grid__V1__Reply *r;

	m.advance_ms = ms;
	req.call_case = CALL(ADVANCE_CLOCK);
	req.advance_clock = &m;
	r = itest_call(c, &req);
	ASSERT_MSG(itest_code(r) == 0, "AdvanceClock: %s", r->status->message);
	grid_client_reply_free(r);
}

static Grid__V1__Reply *issue(struct grid_client *c, const char *node, const char *title,
			      const char *level, int64_t due_ms, const char *key)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__IssueTaskRequest m = GRID__V1__ISSUE_TASK_REQUEST__INIT;

	m.node_code = (char *)node;
	m.title = (char *)title;
	m.body = (char *)"逐户走访，登记需要帮助的老人";
	m.target_level = (char *)level;
	m.due_at_ms = due_ms;
	req.call_case = CALL(ISSUE_TASK);
	req.issue_task = &m;
	req.idempotency_key = (char *)(key ? key : "");
	return itest_call(c, &req);
}

static uint64_t issue_ok(struct grid_client *c, const char *node, const char *level, int64_t due_ms)
{
	Grid__V1__Reply *r = issue(c, node, "看望独居老人", level, due_ms, NULL);
	uint64_t id;

	ASSERT_MSG(itest_code(r) == 0, "IssueTask: %s", r->status->message);
	id = r->issue_task->id;
	grid_client_reply_free(r);
	return id;
}

static int issue_code(struct grid_client *c, const char *node, const char *level, int64_t due)
{
	Grid__V1__Reply *r = issue(c, node, "看望独居老人", level, due, NULL);
	int code = itest_code(r);

	grid_client_reply_free(r);
	return code;
}

static Grid__V1__Reply *ack(struct grid_client *c, uint64_t id, const char *node)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AssignmentRequest m = GRID__V1__ASSIGNMENT_REQUEST__INIT;

	m.task_id = id;
	m.node_code = (char *)node;
	req.call_case = CALL(ACKNOWLEDGE_ASSIGNMENT);
	req.acknowledge_assignment = &m;
	return itest_call(c, &req);
}

static int ack_code(struct grid_client *c, uint64_t id, const char *node)
{
	Grid__V1__Reply *r = ack(c, id, node);
	int code = itest_code(r);

	grid_client_reply_free(r);
	return code;
}

/* Numbers as "name=value,name=value" ("" for none). */
static Grid__V1__Reply *complete(struct grid_client *c, uint64_t id, const char *node,
				 const char *report, const char *numbers, const char *key)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CompleteAssignmentRequest m = GRID__V1__COMPLETE_ASSIGNMENT_REQUEST__INIT;
	Grid__V1__ReportNumber nums[8], *numv[8];
	char copy[256], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", numbers);
	for (char *p = strtok_r(copy, ",", &save); p && m.n_numbers < 8;
	     p = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(p, '=');
		ASSERT_NOT_NULL(eq);
		*eq = '\0';
		grid__v1__report_number__init(&nums[m.n_numbers]);
		nums[m.n_numbers].name = p;
		nums[m.n_numbers].value = atof(eq + 1);
		numv[m.n_numbers] = &nums[m.n_numbers];
		m.n_numbers++;
	}
	m.numbers = numv;
	m.task_id = id;
	m.node_code = (char *)node;
	m.report_text = (char *)report;
	req.call_case = CALL(COMPLETE_ASSIGNMENT);
	req.complete_assignment = &m;
	req.idempotency_key = (char *)(key ? key : "");
	return itest_call(c, &req);
}

static int complete_code(struct grid_client *c, uint64_t id, const char *node, const char *nums)
{
	Grid__V1__Reply *r = complete(c, id, node, "已走访", nums, NULL);
	int code = itest_code(r);

	grid_client_reply_free(r);
	return code;
}

static Grid__V1__Reply *progress(struct grid_client *c, uint64_t id, const char *node,
				 uint32_t depth)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__TaskProgressRequest m = GRID__V1__TASK_PROGRESS_REQUEST__INIT;

	m.task_id = id;
	m.node_code = (char *)(node ? node : "");
	m.depth = depth;
	req.call_case = CALL(TASK_PROGRESS);
	req.task_progress = &m;
	return itest_call(c, &req);
}

static Grid__V1__Reply *get_task(struct grid_client *c, uint64_t id)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetTaskRequest m = GRID__V1__GET_TASK_REQUEST__INIT;

	m.id = id;
	req.call_case = CALL(GET_TASK);
	req.get_task = &m;
	return itest_call(c, &req);
}

static Grid__V1__Reply *cancel(struct grid_client *c, uint64_t id)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CancelTaskRequest m = GRID__V1__CANCEL_TASK_REQUEST__INIT;

	m.id = id;
	m.note = (char *)"已由街道统一安排";
	req.call_case = CALL(CANCEL_TASK);
	req.cancel_task = &m;
	return itest_call(c, &req);
}

static Grid__V1__Reply *extend(struct grid_client *c, uint64_t id, int64_t due_ms)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ExtendTaskRequest m = GRID__V1__EXTEND_TASK_REQUEST__INIT;

	m.id = id;
	m.due_at_ms = due_ms;
	req.call_case = CALL(EXTEND_TASK);
	req.extend_task = &m;
	return itest_call(c, &req);
}

static int reply_code(Grid__V1__Reply *r)
{
	int code = itest_code(r);

	grid_client_reply_free(r);
	return code;
}

/* Assignments through ListAssignments, every page; node NULL = the caller's
 * own part. */
static size_t count_assignments(struct grid_client *c, const char *node, uint64_t task,
				bool overdue_only, uint32_t page_size)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListAssignmentsRequest m = GRID__V1__LIST_ASSIGNMENTS_REQUEST__INIT;
	char token[200] = "";
	size_t n = 0;

	m.node_code = (char *)(node ? node : "");
	m.task_id = task;
	m.overdue_only = overdue_only;
	m.page_size = page_size;
	req.call_case = CALL(LIST_ASSIGNMENTS);
	req.list_assignments = &m;
	for (int pages = 0; pages < 1000; pages++) {
		m.page_token = token;
		Grid__V1__Reply *r = itest_call(c, &req);
		ASSERT_MSG(itest_code(r) == 0, "ListAssignments: %s", r->status->message);
		n += r->list_assignments->n_assignments;
		ASSERT(page_size == 0 || r->list_assignments->n_assignments <= page_size);
		snprintf(token, sizeof(token), "%s", r->list_assignments->next_page_token);
		grid_client_reply_free(r);
		if (!token[0])
			return n;
	}
	ASSERT_MSG(false, "ListAssignments never ended");
	return 0;
}

/* --- issuing ----------------------------------------------------------------- */

TEST(issue_to_every_building_of_tongzilin)
{
	struct fix f;
	char sql[512];

	setup(&f, NULL);
	Grid__V1__Reply *r = issue(f.admin, COMMUNITY, "看望独居老人", "building",
				   (int64_t)time(NULL) * 1000 + 10 * DAY, NULL);
	ASSERT_MSG(itest_code(r) == 0, "IssueTask: %s", r->status->message);
	const Grid__V1__Task *t = r->issue_task;
	uint64_t id = t->id;
	ASSERT_EQ_UINT(t->assignments, NBUILDINGS);
	ASSERT_EQ_STR(t->node_code, COMMUNITY);
	ASSERT_EQ_STR(t->target_level, "building");
	ASSERT_EQ_STR(t->title, "看望独居老人");
	ASSERT_EQ_STR(t->issued_by, "admin");
	ASSERT_EQ_INT(t->state, GRID__V1__TASK_STATE__TASK_OPEN);
	grid_client_reply_free(r);

	/* One assignment and one task.assigned event per building, exactly
	 * the buildings of the sample. */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM task_assignment WHERE task_id = %llu",
		 (unsigned long long)id);
	ASSERT_EQ_INT(sql_long(&f, sql), NBUILDINGS);
	snprintf(sql, sizeof(sql),
		 "SELECT count(DISTINCT node_id) FROM grid_event WHERE kind = 'task.assigned' "
		 "AND task_id = %llu AND from_node_id = (SELECT id FROM grid_node WHERE code = "
		 "'WH-TZL')",
		 (unsigned long long)id);
	ASSERT_EQ_INT(sql_long(&f, sql), NBUILDINGS);
	ASSERT_EQ_INT(sql_long(&f, "SELECT count(*) FROM grid_event WHERE kind = 'task.assigned'"),
		      NBUILDINGS);
	for (size_t i = 0; i < NBUILDINGS; i++) {
		snprintf(
		    sql, sizeof(sql),
		    "SELECT count(*) FROM task_assignment a JOIN grid_node n ON n.id = "
		    "a.node_id WHERE a.task_id = %llu AND n.code = '%s' AND a.state = 'pending'",
		    (unsigned long long)id, buildings[i]);
		ASSERT_MSG(sql_long(&f, sql) == 1, "no assignment at %s", buildings[i]);
	}
	/* The audit trail has the issue, at the community. */
	ASSERT_EQ_INT(sql_long(&f, "SELECT count(*) FROM audit_log WHERE method = 'IssueTask' "
				   "AND node_code = 'WH-TZL'"),
		      1);
	/* Through the API: ListAssignments pages through all of them. */
	ASSERT_EQ_UINT(count_assignments(f.admin, COMMUNITY, id, false, 5), NBUILDINGS);
	ASSERT_EQ_UINT(count_assignments(f.admin, "WH-TZL-Z5", id, false, 0), 12);

	/* A retired building gets nothing. */
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RetireNodeRequest ret = GRID__V1__RETIRE_NODE_REQUEST__INIT;
	ret.code = (char *)"WH-TZL-Z5-FCD-B2";
	req.call_case = CALL(RETIRE_NODE);
	req.retire_node = &ret;
	ASSERT_EQ_INT(reply_code(itest_call(f.admin, &req)), 0);
	r = issue(f.admin, COMMUNITY, "清理楼道", "building", (int64_t)time(NULL) * 1000 + DAY,
		  NULL);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->issue_task->assignments, NBUILDINGS - 1);
	grid_client_reply_free(r);
	/* Courtyards of zone 5: four. */
	r = issue(f.admin, "WH-TZL-Z5", "清理楼道", "courtyard", (int64_t)time(NULL) * 1000 + DAY,
		  NULL);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->issue_task->assignments, 4);
	grid_client_reply_free(r);

	/* Refusals: the level must be below, the due time ahead, the node
	 * active and known. */
	int64_t later = (int64_t)time(NULL) * 1000 + DAY;
	ASSERT_EQ_INT(issue_code(f.admin, COMMUNITY, "community", later), CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(issue_code(f.admin, COMMUNITY, "district", later), CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(issue_code(f.admin, COMMUNITY, "street", later), CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(issue_code(f.admin, COMMUNITY, "building", (int64_t)time(NULL) * 1000 - 1000),
		      CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(issue_code(f.admin, "WH-NOPE", "building", later), CODE(NOT_FOUND));
	ASSERT_EQ_INT(issue_code(f.admin, "WH-TZL-Z5-FCD-B2", "building", later),
		      CODE(FAILED_PRECONDITION));
	r = issue(f.admin, COMMUNITY, "", "building", later, NULL);
	ASSERT_EQ_INT(reply_code(r), CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(sql_long(&f, "SELECT count(*) FROM task"), 3);
	/* Every task's, page by page across tasks. */
	ASSERT_EQ_UINT(count_assignments(f.admin, COMMUNITY, 0, false, 7),
		       NBUILDINGS + NBUILDINGS - 1 + 4);
	ASSERT_EQ_UINT(count_assignments(f.admin, NULL, 0, false, 0),
		       NBUILDINGS + NBUILDINGS - 1 + 4);
	teardown(&f);
}

/* --- roll-up ------------------------------------------------------------------ */

struct report {
	const char *code;
	bool done, acked;
	const char *numbers; /* "name=value,..." */
};

/* Done (with numbers) and acknowledged buildings of the roll-up test. */
static const struct report reports[] = {
    {"WH-TZL-Z1-Y1-B1", true, true, "households_visited=3"},
    {"WH-TZL-Z1-Y1-B2", true, true, "households_visited=5,need_help=1"},
    {"WH-TZL-Z3-Y5-B1", true, true, "households_visited=4,need_help=0"},
    {"WH-TZL-Z5-ZTY-B1", true, true, "households_visited=12,need_help=2"},
    {"WH-TZL-Z5-ZTY-B3", true, true, "households_visited=7.5"},
    {"WH-TZL-Z5-SAZ-B2", true, true, ""},
    {"WH-TZL-Z2-Y3-B1", false, true, ""},
    {"WH-TZL-Z5-ZTY-B2", false, true, ""},
};
#define NREPORTS (sizeof(reports) / sizeof(reports[0]))

static bool under(const char *building, const char *node)
{
	size_t n = strlen(node);

	return strncmp(building, node, n) == 0 && (building[n] == '-' || building[n] == '\0');
}

static const struct report *report_of(const char *building)
{
	for (size_t i = 0; i < NREPORTS; i++)
		if (strcmp(reports[i].code, building) == 0)
			return &reports[i];
	return NULL;
}

/* The sum of number name over the done buildings under node; -1 when none
 * reported it. */
static double expected_sum(const char *node, const char *name)
{
	double sum = -1;

	for (size_t i = 0; i < NREPORTS; i++) {
		char copy[128], *save = NULL;
		if (!reports[i].done || !under(reports[i].code, node))
			continue;
		snprintf(copy, sizeof(copy), "%s", reports[i].numbers);
		for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(p, '=');
			*eq = '\0';
			if (strcmp(p, name) == 0)
				sum = (sum < 0 ? 0 : sum) + atof(eq + 1);
		}
	}
	return sum;
}

/* Checks one row against the reports; past_due: every open one is overdue. */
static void check_row(const Grid__V1__ProgressRow *row, bool past_due)
{
	uint32_t total = 0, done = 0, acked = 0;
	static const char *const names[] = {"households_visited", "need_help"};

	for (size_t i = 0; i < NBUILDINGS; i++) {
		const struct report *rep = report_of(buildings[i]);
		if (!under(buildings[i], row->node_code))
			continue;
		total++;
		done += rep && rep->done;
		acked += rep && rep->acked;
	}
	ASSERT_MSG(row->total == total, "%s: total %u, expected %u", row->node_code, row->total,
		   total);
	ASSERT_MSG(row->done == done, "%s: done %u, expected %u", row->node_code, row->done, done);
	ASSERT_MSG(row->acknowledged == acked, "%s: acknowledged %u, expected %u", row->node_code,
		   row->acknowledged, acked);
	ASSERT_MSG(row->overdue == (past_due ? total - done : 0), "%s: overdue %u", row->node_code,
		   row->overdue);
	size_t nsums = 0;
	for (size_t k = 0; k < 2; k++) {
		double want = expected_sum(row->node_code, names[k]);
		const Grid__V1__ReportNumber *got = NULL;
		for (size_t j = 0; j < row->n_sums; j++)
			if (strcmp(row->sums[j]->name, names[k]) == 0)
				got = row->sums[j];
		if (want < 0) {
			ASSERT_MSG(!got, "%s: unexpected sum %s", row->node_code, names[k]);
			continue;
		}
		nsums++;
		ASSERT_MSG(got && fabs(got->value - want) < 1e-9, "%s: %s = %g, expected %g",
			   row->node_code, names[k], got ? got->value : -1, want);
	}
	ASSERT_EQ_UINT(row->n_sums, nsums);
}

static void check_progress_everywhere(struct grid_client *c, uint64_t id, bool past_due)
{
	/* At the community: every zone and courtyard, in pre-order. */
	Grid__V1__Reply *r = progress(c, id, NULL, 0);
	ASSERT_MSG(itest_code(r) == 0, "TaskProgress: %s", r->status->message);
	ASSERT_EQ_UINT(r->task_progress->n_rows, NABOVE);
	for (size_t i = 0; i < NABOVE; i++) {
		ASSERT_EQ_STR(r->task_progress->rows[i]->node_code, above_buildings[i]);
		check_row(r->task_progress->rows[i], past_due);
	}
	ASSERT_EQ_UINT(r->task_progress->rows[0]->total, NBUILDINGS);
	grid_client_reply_free(r);
	/* At each zone and each courtyard: that node first, then its own. */
	for (size_t i = 1; i < NABOVE; i++) {
		size_t expect = 0;
		r = progress(c, id, above_buildings[i], 0);
		ASSERT_MSG(itest_code(r) == 0, "TaskProgress %s: %s", above_buildings[i],
			   r->status->message);
		for (size_t k = 0; k < NABOVE; k++)
			expect += under(above_buildings[k], above_buildings[i]);
		ASSERT_EQ_UINT(r->task_progress->n_rows, expect);
		ASSERT_EQ_STR(r->task_progress->rows[0]->node_code, above_buildings[i]);
		for (size_t k = 0; k < r->task_progress->n_rows; k++)
			check_row(r->task_progress->rows[k], past_due);
		grid_client_reply_free(r);
	}
}

TEST(progress_rolls_up_to_every_zone_and_courtyard)
{
	struct fix f;

	setup(&f, testclock);
	int64_t now = server_now(f.admin);
	uint64_t id = issue_ok(f.admin, COMMUNITY, "building", now + 2 * DAY);
	/* Another task, so that nothing is counted across tasks. */
	uint64_t other = issue_ok(f.admin, COMMUNITY, "building", now + 2 * DAY);
	ASSERT_EQ_INT(complete_code(f.admin, other, "WH-TZL-Z4-Y6-B1", "households_visited=100"),
		      0);

	for (size_t i = 0; i < NREPORTS; i++) {
		if (reports[i].acked && !reports[i].done)
			ASSERT_EQ_INT(ack_code(f.admin, id, reports[i].code), 0);
		if (!reports[i].done)
			continue;
		/* Half of them acknowledged first, half straight to done. */
		if (i % 2)
			ASSERT_EQ_INT(ack_code(f.admin, id, reports[i].code), 0);
		ASSERT_EQ_INT(complete_code(f.admin, id, reports[i].code, reports[i].numbers), 0);
	}
	check_progress_everywhere(f.admin, id, false);

	/* depth 1: the community and its five zones. */
	Grid__V1__Reply *r = progress(f.admin, id, COMMUNITY, 1);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->task_progress->n_rows, 6);
	for (size_t k = 0; k < 6; k++)
		check_row(r->task_progress->rows[k], false);
	grid_client_reply_free(r);
	/* A building's own progress; a node off the task's way is refused. */
	r = progress(f.admin, id, B1, 0);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->task_progress->n_rows, 1);
	ASSERT_EQ_UINT(r->task_progress->rows[0]->total, 1);
	ASSERT_EQ_UINT(r->task_progress->rows[0]->done, 1);
	grid_client_reply_free(r);
	ASSERT_EQ_INT(reply_code(progress(f.admin, id, "WH-YLDL", 0)), CODE(INVALID_ARGUMENT));

	/* Past the due time, every assignment not done is overdue, at every
	 * level, and in the assignments' flags. */
	ASSERT_EQ_UINT(count_assignments(f.admin, COMMUNITY, id, true, 0), 0);
	advance(f.admin, 2 * DAY + HOUR);
	check_progress_everywhere(f.admin, id, true);
	ASSERT_EQ_UINT(count_assignments(f.admin, COMMUNITY, id, true, 4), NBUILDINGS - 6);
	ASSERT_EQ_UINT(count_assignments(f.admin, "WH-TZL-Z5-ZTY", id, true, 0), 2);
	teardown(&f);
}

/* --- the sweep ---------------------------------------------------------------- */

static long events_of(const struct fix *f, const char *kind)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM grid_event WHERE kind = '%s'", kind);
	return sql_long(f, sql);
}

/* Waits until there are want events of kind (or 15 s passed), lets the
 * sweepers run a few more rounds, and checks that the count held and that
 * no assignment got more than per_assignment of them. */
static void expect_events(const struct fix *f, const char *kind, long want, int per_assignment)
{
	uint64_t deadline = itest_now_ms() + 15000;
	char sql[512];

	while (events_of(f, kind) < want && itest_now_ms() < deadline)
		usleep(100000);
	ASSERT_MSG(events_of(f, kind) == want, "%s: %ld events, expected %ld", kind,
		   events_of(f, kind), want);
	/* Every sweeper ticks at least once a second. */
	usleep(1200000);
	ASSERT_MSG(events_of(f, kind) == want, "%s: %ld events after a while, expected %ld", kind,
		   events_of(f, kind), want);
	/* Once per assignment. */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT task_id, node_id FROM grid_event WHERE kind = '%s' "
		 "GROUP BY 1, 2 HAVING count(*) > %d) d",
		 kind, per_assignment);
	ASSERT_EQ_INT(sql_long(f, sql), 0);
}

TEST(reminders_and_overdue_once_with_two_sweepers)
{
	struct fix f;
	struct itest_gridd other;
	struct grid_client *c2;
	enum { SMALL = 24 }; /* more tasks than a sweep's batch */

	setup(&f, testclock);
	itest_gridd_start(&other, f.db.url, testclock);
	c2 = itest_connect(&other);
	int64_t now = server_now(f.admin);
	/* Ten days: the reminder goes out 24 h before the due time. */
	uint64_t id = issue_ok(f.admin, COMMUNITY, "building", now + 10 * DAY);
	for (int i = 0; i < SMALL; i++)
		issue_ok(f.admin, "WH-TZL-Z5-ZTY", "building", now + 10 * DAY);
	ASSERT_EQ_INT(complete_code(f.admin, id, B1, "households_visited=3"), 0);
	ASSERT_EQ_INT(ack_code(f.admin, id, B2), 0);
	long open = (long)NBUILDINGS - 1 + SMALL * 4;

	/* Not yet: 8 days in, nothing is due. */
	advance(f.admin, 8 * DAY);
	advance(c2, 8 * DAY);
	usleep(1200000);
	ASSERT_EQ_INT(events_of(&f, "task.reminder"), 0);

	/* 9 days and an hour in: reminders for every open assignment (the
	 * done one gets none, the acknowledged one does), from both sweepers
	 * together, once each. */
	advance(f.admin, DAY + HOUR);
	advance(c2, DAY + HOUR);
	expect_events(&f, "task.reminder", open, 1);
	ASSERT_EQ_INT(events_of(&f, "task.overdue"), 0);
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM grid_event WHERE kind = 'task.reminder' AND node_id = "
		 "(SELECT id FROM grid_node WHERE code = '%s')",
		 B1);
	ASSERT_EQ_INT(sql_long(&f, sql), SMALL); /* the small tasks' only */

	/* Past due: one overdue notice per open assignment. */
	advance(f.admin, DAY);
	advance(c2, DAY);
	expect_events(&f, "task.overdue", open, 1);
	ASSERT_EQ_INT(events_of(&f, "task.reminder"), open);

	/* Extended by two days: the flags clear, and the next reminder and
	 * overdue notice come again, once. */
	Grid__V1__Reply *r = extend(f.admin, id, server_now(f.admin) + 2 * DAY);
	ASSERT_MSG(itest_code(r) == 0, "ExtendTask: %s", r->status->message);
	grid_client_reply_free(r);
	ASSERT_EQ_UINT(count_assignments(f.admin, COMMUNITY, id, true, 0), 0);
	ASSERT_EQ_INT(events_of(&f, "task.extended"), NBUILDINGS - 1);
	advance(f.admin, DAY + HOUR);
	advance(c2, DAY + HOUR);
	expect_events(&f, "task.reminder", open + NBUILDINGS - 1, 2);
	advance(f.admin, DAY);
	advance(c2, DAY);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM grid_event WHERE kind = 'task.overdue' AND task_id = %llu",
		 (unsigned long long)id);
	uint64_t deadline = itest_now_ms() + 15000;
	while (sql_long(&f, sql) < 2 * ((long)NBUILDINGS - 1) && itest_now_ms() < deadline)
		usleep(100000);
	usleep(1200000);
	ASSERT_EQ_INT(sql_long(&f, sql), 2 * ((long)NBUILDINGS - 1));

	grid_client_destroy(c2);
	ASSERT_EQ_INT(itest_gridd_stop(&other), 0);
	teardown(&f);
}

static PGconn *pg_connect(const struct fix *f)
{
	PGconn *pg = PQconnectdb(f->db.url);

	ASSERT_MSG(PQstatus(pg) == CONNECTION_OK, "connect: %s", PQerrorMessage(pg));
	return pg;
}

/* Runs task_sweep on pg at now_ms: "reminders,overdue". */
static void sweep_on(PGconn *pg, int64_t now_ms, char *out, size_t size)
{
	char sql[160];
	PGresult *res;

	snprintf(sql, sizeof(sql), "SELECT reminders, overdue FROM task_sweep(%lld, 100)",
		 (long long)now_ms);
	res = PQexec(pg, sql);
	ASSERT_MSG(PQresultStatus(res) == PGRES_TUPLES_OK, "task_sweep: %s",
		   PQresultErrorMessage(res));
	snprintf(out, size, "%s,%s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
}

static void exec_ok(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);

	ASSERT_MSG(PQresultStatus(res) == PGRES_COMMAND_OK ||
		       PQresultStatus(res) == PGRES_TUPLES_OK,
		   "%s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
}

/* The sweep's guarantee, made deterministic: while one sweeper holds a
 * task (its transaction open), another passes it by at once instead of
 * waiting or sending its notices a second time, and after the first
 * commits there is nothing left to send. */
TEST(a_sweep_skips_the_tasks_another_holds)
{
	struct fix f;
	char a[64], b[64];

	setup(&f, NULL);
	int64_t now = (int64_t)time(NULL) * 1000;
	issue_ok(f.admin, COMMUNITY, "building", now + 10 * DAY);
	issue_ok(f.admin, "WH-TZL-Z5-ZTY", "building", now + 10 * DAY);
	PGconn *pa = pg_connect(&f), *pb = pg_connect(&f);
	/* A stuck sweeper would fail here instead of hanging the test. */
	exec_ok(pb, "SET statement_timeout = '3s'");

	exec_ok(pa, "BEGIN");
	sweep_on(pa, now + 9 * DAY + HOUR, a, sizeof(a));
	ASSERT_EQ_STR(a, "25,0");
	sweep_on(pb, now + 9 * DAY + HOUR, b, sizeof(b));
	ASSERT_EQ_STR(b, "0,0");
	exec_ok(pa, "COMMIT");
	sweep_on(pb, now + 9 * DAY + HOUR, b, sizeof(b));
	ASSERT_EQ_STR(b, "0,0");
	ASSERT_EQ_INT(events_of(&f, "task.reminder"), 25);

	/* The same for the overdue notices; one sweeper takes one task, the
	 * other the other, neither twice. */
	exec_ok(pa, "BEGIN");
	exec_ok(pa, "SELECT 1 FROM task WHERE id = (SELECT min(id) FROM task) FOR UPDATE");
	sweep_on(pb, now + 11 * DAY, b, sizeof(b));
	ASSERT_EQ_STR(b, "0,4");
	sweep_on(pa, now + 11 * DAY, a, sizeof(a));
	ASSERT_EQ_STR(a, "0,21");
	exec_ok(pa, "COMMIT");
	sweep_on(pb, now + 12 * DAY, b, sizeof(b));
	ASSERT_EQ_STR(b, "0,0");
	ASSERT_EQ_INT(events_of(&f, "task.overdue"), 25);
	PQfinish(pa);
	PQfinish(pb);
	teardown(&f);
}

/* --- cancel, extend ----------------------------------------------------------- */

TEST(cancel_and_extend)
{
	struct fix f;
	char tok[128];
	char sql[256];

	setup(&f, NULL);
	struct grid_client *rep = as(&f, "zty_rep", ROLE(COURTYARD_REP), "WH-TZL-Z5-ZTY", tok);
	struct grid_client *yldl = as(&f, "yldl_staff", ROLE(COMMUNITY_STAFF), "WH-YLDL", tok);
	struct grid_client *tzl = as(&f, "tzl_staff", ROLE(COMMUNITY_STAFF), COMMUNITY, tok);
	int64_t now = (int64_t)time(NULL) * 1000;
	uint64_t id = issue_ok(tzl, COMMUNITY, "building", now + 5 * DAY);
	ASSERT_EQ_INT(complete_code(tzl, id, B1, "households_visited=2"), 0);
	ASSERT_EQ_INT(ack_code(tzl, id, B2), 0);

	/* Extend: later only, by the issuing level. */
	ASSERT_EQ_INT(reply_code(extend(tzl, id, now + 4 * DAY)), CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(reply_code(extend(rep, id, now + 6 * DAY)), CODE(PERMISSION_DENIED));
	Grid__V1__Reply *r = extend(tzl, id, now + 7 * DAY);
	ASSERT_MSG(itest_code(r) == 0, "ExtendTask: %s", r->status->message);
	ASSERT_EQ_INT(r->extend_task->due_at_ms / 1000, (now + 7 * DAY) / 1000);
	grid_client_reply_free(r);
	ASSERT_EQ_INT(events_of(&f, "task.extended"), NBUILDINGS - 1);
	r = get_task(rep, id);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_INT(r->get_task->due_at_ms / 1000, (now + 7 * DAY) / 1000);
	grid_client_reply_free(r);

	/* Cancel: a courtyard below may not; another community cannot even
	 * tell the task exists. */
	Grid__V1__Reply *denied = cancel(yldl, id), *missing = cancel(yldl, 987654);
	ASSERT_EQ_INT(itest_code(denied), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(itest_code(missing), CODE(PERMISSION_DENIED));
	char a[256], b[256];
	snprintf(a, sizeof(a), "%s", denied->status->message);
	snprintf(b, sizeof(b), "%s", missing->status->message);
	char idtext[32];
	snprintf(idtext, sizeof(idtext), "task %llu ", (unsigned long long)id);
	char *pa = strstr(a, idtext), *pb = strstr(b, "task 987654 ");
	ASSERT(pa && pb);
	ASSERT_EQ_INT(pa - a, pb - b);
	ASSERT_EQ_STR(pa + strlen(idtext), pb + strlen("task 987654 "));
	grid_client_reply_free(denied);
	grid_client_reply_free(missing);
	ASSERT_EQ_INT(reply_code(get_task(yldl, id)), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(reply_code(cancel(rep, id)), CODE(PERMISSION_DENIED));
	/* The whole-grid admin learns a missing task is missing. */
	ASSERT_EQ_INT(reply_code(cancel(f.admin, 987654)), CODE(NOT_FOUND));

	r = cancel(tzl, id);
	ASSERT_MSG(itest_code(r) == 0, "CancelTask: %s", r->status->message);
	ASSERT_EQ_INT(r->cancel_task->state, GRID__V1__TASK_STATE__TASK_CANCELLED);
	grid_client_reply_free(r);
	/* The done one keeps its report; the others are cancelled, each
	 * told so. */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM task_assignment WHERE task_id = %llu AND state = "
		 "'cancelled'",
		 (unsigned long long)id);
	ASSERT_EQ_INT(sql_long(&f, sql), NBUILDINGS - 1);
	ASSERT_EQ_INT(events_of(&f, "task.cancelled"), NBUILDINGS - 1);
	ASSERT_EQ_INT(complete_code(tzl, id, B2, ""), CODE(FAILED_PRECONDITION));
	ASSERT_EQ_INT(ack_code(tzl, id, "WH-TZL-Z1-Y1-B1"), CODE(FAILED_PRECONDITION));
	ASSERT_EQ_INT(complete_code(tzl, id, B1, ""), CODE(FAILED_PRECONDITION));
	ASSERT_EQ_INT(reply_code(cancel(tzl, id)), CODE(FAILED_PRECONDITION));
	ASSERT_EQ_INT(reply_code(extend(tzl, id, now + 9 * DAY)), CODE(FAILED_PRECONDITION));
	/* Progress still adds up what was done. */
	r = progress(tzl, id, NULL, 1);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->task_progress->rows[0]->total, NBUILDINGS);
	ASSERT_EQ_UINT(r->task_progress->rows[0]->done, 1);
	ASSERT_EQ_UINT(r->task_progress->rows[0]->overdue, 0);
	grid_client_reply_free(r);
	/* Listed only when cancelled ones are asked for. */
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListTasksRequest lt = GRID__V1__LIST_TASKS_REQUEST__INIT;
	lt.node_code = (char *)COMMUNITY;
	req.call_case = CALL(LIST_TASKS);
	req.list_tasks = &lt;
	r = itest_call(tzl, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_tasks->n_tasks, 0);
	grid_client_reply_free(r);
	lt.include_cancelled = true;
	r = itest_call(tzl, &req);
	ASSERT_EQ_UINT(r->list_tasks->n_tasks, 1);
	grid_client_reply_free(r);

	grid_client_destroy(rep);
	grid_client_destroy(yldl);
	grid_client_destroy(tzl);
	teardown(&f);
}

/* --- who works what --------------------------------------------------------------- */

static Grid__V1__Reply *list_tasks(struct grid_client *c, const char *node)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListTasksRequest m = GRID__V1__LIST_TASKS_REQUEST__INIT;

	m.node_code = (char *)(node ? node : "");
	req.call_case = CALL(LIST_TASKS);
	req.list_tasks = &m;
	return itest_call(c, &req);
}

struct race {
	int done, ok, precondition;
};

static void on_race(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct race *rc = data;

	ASSERT_EQ_INT(status, 0);
	rc->done++;
	if (r->status->code == CODE(OK))
		rc->ok++;
	else if (r->status->code == CODE(FAILED_PRECONDITION))
		rc->precondition++;
}

TEST(building_head_works_its_own_building_only)
{
	struct fix f;
	char head_token[128], tok[128];

	setup(&f, NULL);
	struct grid_client *head = as(&f, "zty_b1", ROLE(BUILDING_HEAD), B1, head_token);
	struct grid_client *z4 = as(&f, "z4_leader", ROLE(ZONE_LEADER), "WH-TZL-Z4", tok);
	int64_t now = (int64_t)time(NULL) * 1000;
	uint64_t id = issue_ok(f.admin, COMMUNITY, "building", now + 3 * DAY);
	uint64_t elsewhere = issue_ok(f.admin, "WH-TZL-Z4", "building", now + 3 * DAY);

	/* The task reached the building: the head sees it, in a list too. */
	Grid__V1__Reply *r = get_task(head, id);
	ASSERT_MSG(itest_code(r) == 0, "GetTask: %s", r->status->message);
	grid_client_reply_free(r);
	r = list_tasks(head, NULL);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_tasks->n_tasks, 1);
	ASSERT_EQ_UINT(r->list_tasks->tasks[0]->id, id);
	grid_client_reply_free(r);
	r = list_tasks(z4, NULL);
	ASSERT_EQ_UINT(r->list_tasks->n_tasks, 2); /* its own and the community's */
	grid_client_reply_free(r);
	/* The zone 4 task is none of its business, like a task that does not
	 * exist. */
	ASSERT_EQ_INT(reply_code(get_task(head, elsewhere)), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(reply_code(get_task(head, 987654)), CODE(PERMISSION_DENIED));
	ASSERT_EQ_UINT(count_assignments(head, NULL, 0, false, 0), 1);

	/* Acknowledge and complete its own building; the building next door
	 * is not its. */
	ASSERT_EQ_INT(ack_code(head, id, B2), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(complete_code(head, id, B2, "households_visited=1"), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(ack_code(head, elsewhere, B1), CODE(NOT_FOUND));
	r = ack(head, id, B1);
	ASSERT_MSG(itest_code(r) == 0, "ack: %s", r->status->message);
	ASSERT_EQ_INT(r->acknowledge_assignment->state, ASTATE(ACKNOWLEDGED));
	grid_client_reply_free(r);
	ASSERT_EQ_INT(ack_code(head, id, B1), CODE(FAILED_PRECONDITION));
	r = complete(head, id, B1, "走访3户，1户需要送餐", "households_visited=3,need_help=1",
		     NULL);
	ASSERT_MSG(itest_code(r) == 0, "complete: %s", r->status->message);
	const Grid__V1__Assignment *as_done = r->complete_assignment;
	ASSERT_EQ_INT(as_done->state, ASTATE(DONE));
	ASSERT_EQ_STR(as_done->done_by, "zty_b1");
	ASSERT_EQ_STR(as_done->report_text, "走访3户，1户需要送餐");
	ASSERT_EQ_UINT(as_done->n_numbers, 2);
	ASSERT_EQ_STR(as_done->numbers[0]->name, "households_visited");
	ASSERT(as_done->numbers[0]->value == 3);
	grid_client_reply_free(r);
	ASSERT_EQ_INT(complete_code(head, id, B1, "households_visited=4"),
		      CODE(FAILED_PRECONDITION));
	ASSERT_EQ_INT(events_of(&f, "task.done"), 1);
	/* What its terminal watching the building sees: the task arriving,
	 * and its own report. */
	Grid__V1__Request lreq = GRID__V1__REQUEST__INIT;
	Grid__V1__ListEventsRequest le = GRID__V1__LIST_EVENTS_REQUEST__INIT;
	char *kinds[] = {(char *)"task."};
	le.node_code = (char *)B1;
	le.kinds = kinds;
	le.n_kinds = 1;
	lreq.call_case = CALL(LIST_EVENTS);
	lreq.list_events = &le;
	r = itest_call(head, &lreq);
	ASSERT_MSG(itest_code(r) == 0, "ListEvents: %s", r->status->message);
	ASSERT_EQ_UINT(r->list_events->n_events, 2);
	ASSERT_EQ_STR(r->list_events->events[0]->kind, "task.assigned");
	ASSERT_EQ_STR(r->list_events->events[0]->from_node_code, COMMUNITY);
	ASSERT_EQ_UINT(r->list_events->events[0]->task_id, id);
	ASSERT_EQ_STR(r->list_events->events[1]->kind, "task.done");
	ASSERT_EQ_STR(r->list_events->events[1]->actor, "zty_b1");
	grid_client_reply_free(r);
	/* Its progress is its building; the community's is not for it. */
	r = progress(head, id, NULL, 0);
	ASSERT_MSG(itest_code(r) == 0, "progress: %s", r->status->message);
	ASSERT_EQ_UINT(r->task_progress->n_rows, 1);
	ASSERT_EQ_STR(r->task_progress->rows[0]->node_code, B1);
	ASSERT_EQ_UINT(r->task_progress->rows[0]->done, 1);
	grid_client_reply_free(r);
	ASSERT_EQ_INT(reply_code(progress(head, id, COMMUNITY, 0)), CODE(PERMISSION_DENIED));
	/* Nor may it issue. */
	ASSERT_EQ_INT(issue_code(head, B1, "building", now + DAY), CODE(PERMISSION_DENIED));
	/* Bad reports are refused before anything changes. */
	ASSERT_EQ_INT(complete_code(f.admin, id, B2, "bad name=1"), CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(complete_code(f.admin, id, B2, "a=1,a=2"), CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(complete_code(f.admin, id, B2, "a=1e300"), CODE(INVALID_ARGUMENT));

	/* Two people acknowledging the same assignment at once: one wins,
	 * the other is told it was done already, for every building. */
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct grid_client *x = itest_connect_async(&loop, &f.g, f.g.admin_token);
	struct grid_client *y = itest_connect_async(&loop, &f.g, f.g.admin_token);
	uint64_t raced = issue_ok(f.admin, COMMUNITY, "building", now + DAY);
	for (size_t i = 0; i < NBUILDINGS; i++) {
		struct race rc = {0};
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__AssignmentRequest m = GRID__V1__ASSIGNMENT_REQUEST__INIT;
		m.task_id = raced;
		m.node_code = (char *)buildings[i];
		req.call_case = CALL(ACKNOWLEDGE_ASSIGNMENT);
		req.acknowledge_assignment = &m;
		ASSERT_EQ_INT(grid_client_call_async(x, &req, on_race, &rc), 0);
		ASSERT_EQ_INT(grid_client_call_async(y, &req, on_race, &rc), 0);
		while (rc.done < 2)
			uv_run(&loop, UV_RUN_ONCE);
		ASSERT_MSG(rc.ok == 1 && rc.precondition == 1, "%s: %d won, %d refused",
			   buildings[i], rc.ok, rc.precondition);
	}
	grid_client_destroy(x);
	grid_client_destroy(y);
	uv_run(&loop, UV_RUN_DEFAULT);
	ASSERT_EQ_INT(uv_loop_close(&loop), 0);

	grid_client_destroy(head);
	grid_client_destroy(z4);
	teardown(&f);
}

/* --- idempotency ------------------------------------------------------------------ */

TEST(complete_twice_with_one_key_gives_one_reply)
{
	struct fix f;

	setup(&f, NULL);
	int64_t now = (int64_t)time(NULL) * 1000;
	uint64_t id = issue_ok(f.admin, COMMUNITY, "building", now + DAY);
	Grid__V1__Reply *r1 = complete(f.admin, id, B1, "已走访", "households_visited=3", "k-1");
	Grid__V1__Reply *r2 = complete(f.admin, id, B1, "已走访", "households_visited=3", "k-1");
	ASSERT_MSG(itest_code(r1) == 0, "first: %s", r1->status->message);
	ASSERT_MSG(itest_code(r2) == 0, "retry: %s", r2->status->message);
	size_t n1 = grid__v1__assignment__get_packed_size(r1->complete_assignment);
	size_t n2 = grid__v1__assignment__get_packed_size(r2->complete_assignment);
	uint8_t p1[1024], p2[1024];
	ASSERT(n1 < sizeof(p1) && n1 == n2);
	grid__v1__assignment__pack(r1->complete_assignment, p1);
	grid__v1__assignment__pack(r2->complete_assignment, p2);
	ASSERT_EQ_MEM(p1, p2, n1);
	ASSERT(r1->complete_assignment->done_at_ms > 0);
	grid_client_reply_free(r1);
	grid_client_reply_free(r2);
	ASSERT_EQ_INT(events_of(&f, "task.done"), 1);
	ASSERT_EQ_INT(sql_long(&f, "SELECT count(*) FROM audit_log WHERE method = "
				   "'CompleteAssignment'"),
		      1);
	/* The same key with another report: refused, nothing changes. */
	r1 = complete(f.admin, id, B1, "已走访", "households_visited=4", "k-1");
	ASSERT_EQ_INT(itest_code(r1), CODE(ALREADY_EXISTS));
	grid_client_reply_free(r1);
	/* Without the key, a second completion is a second attempt. */
	ASSERT_EQ_INT(complete_code(f.admin, id, B1, "households_visited=3"),
		      CODE(FAILED_PRECONDITION));
	/* An issue retried with its key makes one task. */
	r1 = issue(f.admin, COMMUNITY, "同一个任务", "building", now + DAY, "issue-1");
	r2 = issue(f.admin, COMMUNITY, "同一个任务", "building", now + DAY, "issue-1");
	ASSERT_EQ_INT(itest_code(r1), 0);
	ASSERT_EQ_INT(itest_code(r2), 0);
	ASSERT_EQ_UINT(r1->issue_task->id, r2->issue_task->id);
	grid_client_reply_free(r1);
	grid_client_reply_free(r2);
	ASSERT_EQ_INT(sql_long(&f, "SELECT count(*) FROM task"), 2);
	ASSERT_EQ_INT(events_of(&f, "task.assigned"), 2 * NBUILDINGS);
	/* A cancellation retried with its key gets its first answer, not
	 * "cancelled already". */
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CancelTaskRequest ct = GRID__V1__CANCEL_TASK_REQUEST__INIT;
	ct.id = id;
	req.call_case = CALL(CANCEL_TASK);
	req.cancel_task = &ct;
	req.idempotency_key = (char *)"cancel-1";
	r1 = itest_call(f.admin, &req);
	r2 = itest_call(f.admin, &req);
	ASSERT_MSG(itest_code(r1) == 0, "cancel: %s", r1->status->message);
	ASSERT_MSG(itest_code(r2) == 0, "cancel retried: %s", r2->status->message);
	ASSERT_EQ_UINT(r2->cancel_task->id, id);
	ASSERT_EQ_INT(r2->cancel_task->state, GRID__V1__TASK_STATE__TASK_CANCELLED);
	grid_client_reply_free(r1);
	grid_client_reply_free(r2);
	ASSERT_EQ_INT(events_of(&f, "task.cancelled"), NBUILDINGS - 1);
	req.idempotency_key = (char *)"";
	ASSERT_EQ_INT(reply_code(itest_call(f.admin, &req)), CODE(FAILED_PRECONDITION));
	teardown(&f);
}

/* --- gridctl ----------------------------------------------------------------------- */

TEST(gridctl_task_commands)
{
	struct fix f;
	char head_token[128], env_token[200];
	char *out, *err;
	char id[32];

	setup(&f, NULL);
	grid_client_destroy(as(&f, "zty_b1", ROLE(BUILDING_HEAD), B1, head_token));

	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, &err, "task", "issue", COMMUNITY, "--title",
			      "看望独居老人", "--level", "building", "--due", "7d", "--body",
			      "逐户走访"),
		      0);
	ASSERT_MSG(strstr(err, "issued task") && strstr(err, "to 21 building nodes"),
		   "issue said: %s", err);
	char *v = itest_sql(f.db.url, "SELECT max(id) FROM task");
	snprintf(id, sizeof(id), "%s", v);
	free(v);
	/* The number alone, for scripts. */
	char line[40];
	snprintf(line, sizeof(line), "%s\n", id);
	ASSERT_EQ_STR(out, line);
	free(out);
	free(err);

	/* JSON for scripts. */
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, NULL, "--json", "task", "show", id), 0);
	ASSERT(strstr(out, "\"target_level\":\"building\"") != NULL);
	ASSERT(strstr(out, "\"assignments\":21") != NULL);
	free(out);
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, NULL, "task", "ls", COMMUNITY), 0);
	ASSERT_EQ_INT(itest_count_lines(out), 2);
	ASSERT(strstr(out, "看望独居老人") != NULL);
	free(out);

	/* The building head, with its own session. */
	snprintf(env_token, sizeof(env_token), "GRID_TOKEN=%s", head_token);
	const char *const env[] = {env_token, NULL};
	ASSERT_EQ_INT(itest_gridctl_env(&f.g, env, NULL, &out, &err,
					(const char *const[]){"task", "ack", id, B1, NULL}),
		      0);
	ASSERT(strstr(out, "acknowledged") != NULL);
	free(out);
	free(err);
	ASSERT_EQ_INT(itest_gridctl_env(&f.g, env, NULL, &out, &err,
					(const char *const[]){"task", "done", id, B2, NULL}),
		      4);
	free(out);
	free(err);
	ASSERT_EQ_INT(
	    itest_gridctl_env(&f.g, env, NULL, &out, &err,
			      (const char *const[]){"task", "done", id, B1, "--report", "走访12户",
						    "--number", "households_visited=12", "--number",
						    "need_help=2", NULL}),
	    0);
	ASSERT(strstr(out, "households_visited=12 need_help=2") != NULL);
	free(out);
	free(err);
	/* Done already: rejected (6). */
	ASSERT_EQ_INT(itest_gridctl_env(&f.g, env, NULL, &out, &err,
					(const char *const[]){"task", "done", id, B1, NULL}),
		      6);
	free(out);
	free(err);
	ASSERT_EQ_INT(itest_gridctl_env(&f.g, env, NULL, &out, &err,
					(const char *const[]){"task", "ls", "--assignments", NULL}),
		      0);
	ASSERT_EQ_INT(itest_count_lines(out), 2);
	ASSERT(strstr(out, B1) != NULL && strstr(out, "done") != NULL);
	free(out);
	free(err);

	/* The progress tree: the community, its zones and courtyards, each
	 * with done/total; sums where something was reported. */
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, &err, "task", "progress", id), 0);
	ASSERT_EQ_INT(itest_count_lines(out), (int)NABOVE);
	ASSERT(strstr(out, "桐梓林社区") == out);
	ASSERT(strstr(out, "1/21 done") != NULL);
	ASSERT(strstr(out, "1/12 done") != NULL);
	ASSERT(strstr(out, "1/4 done") != NULL);
	ASSERT(strstr(out, "households_visited=12") != NULL);
	ASSERT(strstr(out, "├── ") != NULL && strstr(out, "└── ") != NULL);
	free(out);
	free(err);
	ASSERT_EQ_INT(
	    GRIDCTL(&f.g, &out, NULL, "task", "progress", id, "WH-TZL-Z5", "--depth", "1"), 0);
	ASSERT_EQ_INT(itest_count_lines(out), 5);
	free(out);
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, NULL, "--json", "task", "progress", id, "WH-TZL-Z5-ZTY"),
		      0);
	ASSERT(strstr(out, "\"total\":4") != NULL);
	ASSERT(strstr(out, "\"sums\":{\"households_visited\":12,\"need_help\":2}") != NULL);
	free(out);

	/* Extend, cancel, and the exit codes. */
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, NULL, "task", "extend", id, "--due", "14d"), 0);
	ASSERT(strstr(out, "extended task") != NULL);
	free(out);
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, &err, "task", "extend", id, "--due", "1d"), 6);
	free(out);
	free(err);
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, NULL, "task", "cancel", id, "--note", "改期"), 0);
	ASSERT(strstr(out, "cancelled") != NULL);
	free(out);
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, &err, "task", "show", "987654"), 3);
	free(out);
	free(err);
	ASSERT_EQ_INT(itest_gridctl_env(&f.g, env, NULL, &out, &err,
					(const char *const[]){"task", "show", "987654", NULL}),
		      4);
	free(out);
	free(err);
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, &err, "task", "issue", COMMUNITY, "--title", "x"), 2);
	free(out);
	free(err);
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, &err, "task", "done", "abc", B1), 2);
	free(out);
	free(err);
	ASSERT_EQ_INT(GRIDCTL(&f.g, &out, &err, "task", "--help"), 0);
	ASSERT(strstr(out, "WH-TZL") != NULL);
	free(out);
	free(err);
	teardown(&f);
}
