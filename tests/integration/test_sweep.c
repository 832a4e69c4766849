/* The deadline sweep over more cases than one batch (case_sweep, migration
 * 0008; the timer in server/case/case.c): every case gets its warnings and
 * moves one level up exactly once, cases at the top are marked overdue, and
 * two gridd processes sweeping the same cases still move each once.
 *
 * The cases are raised with SQL through case_raise (what RaiseCase runs),
 * 3 batches and 7 more, in a few hundred milliseconds; gridd-testclock's
 * clock then moves past their deadlines. test_cases.c checks the exact
 * events of single cases; this checks that the batched, set-based sweep
 * gives each of many cases the same.
 */
#include <unistd.h>

#include "tests/harness/itest.h"

#define MINUTE (60 * 1000LL)
/* The sweep's batch (SWEEP_BATCH in server/case/case_private.h). */
#define BATCH 500
#define NCASES (3 * BATCH + 7)
#define NTOP 5

static long sql_long(const char *url, const char *sql)
{
	char *v = itest_sql(url, sql);
	long n;

	ASSERT_NOT_NULL(v);
	n = atol(v);
	free(v);
	return n;
}

/* n cases spread over the buildings and, with top, NTOP at the district,
 * raised now (gridd-testclock's clock has not moved yet). */
static void raise_many(const char *url, int n, bool top)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "WITH b AS (SELECT array_agg(id ORDER BY id) AS ids FROM grid_node "
		 "WHERE parent_id IS NOT NULL AND level = (SELECT max(level) FROM grid_node)) "
		 "SELECT count(*) FROM b, generate_series(0, %d) g, "
		 "LATERAL case_raise(b.ids[g %% cardinality(b.ids) + 1], '楼道灯坏了 ' || g, '', "
		 "'facilities', '', '', '', 0, 'other', 'sweeptest', NULL) c",
		 n - 1);
	ASSERT_EQ_INT(sql_long(url, sql), n);
	if (top)
		ASSERT_EQ_INT(sql_long(url, "SELECT count(*) FROM generate_series(1, 5) g, "
					    "LATERAL case_raise((SELECT id FROM grid_node "
					    "WHERE code = 'WH'), '顶层 ' || g, '', 'facilities', "
					    "'', '', '', 0, 'other', 'sweeptest', NULL) c"),
			      NTOP);
}

static void advance(struct grid_client *admin, int64_t ms)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AdvanceClockRequest m = GRID__V1__ADVANCE_CLOCK_REQUEST__INIT;

	m.advance_ms = ms;
	req.call_case = GRID__V1__REQUEST__CALL_ADVANCE_CLOCK;
	req.advance_clock = &m;
	ASSERT_EQ_INT(itest_code_free(itest_call(admin, &req)), 0);
}

/* Waits (the sweep runs every second) until sql counts want. */
static void wait_count(const char *url, const char *sql, long want)
{
	uint64_t deadline = itest_now_ms() + 20000;
	long have;

	for (;;) {
		have = sql_long(url, sql);
		if (have >= want || itest_now_ms() > deadline)
			break;
		usleep(100000);
	}
	ASSERT_MSG(have == want, "%s: %ld, expected %ld", sql, have, want);
}

/* The events of every case of the buildings, in seq order, the same for
 * all: "kinds" is the list expected. */
static void assert_building_events(const char *url, const char *kinds)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT c.id, string_agg(e.kind, ',' ORDER BY e.seq) AS k "
		 "FROM grid_case c JOIN grid_event e ON e.case_id = c.id "
		 "WHERE c.reporter = 'sweeptest' AND c.title NOT LIKE '顶层%%' GROUP BY c.id) x "
		 "WHERE k = '%s'",
		 kinds);
	ASSERT_EQ_INT(sql_long(url, sql), NCASES);
}

TEST(sweep_of_many_batches_warns_and_moves_every_case_once)
{
	struct itest_fix f;
	const char *url;

	itest_setup(&f, itest_fast_calendar, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	url = f.db.url;
	raise_many(url, NCASES, true);

	/* Half the time to accept: one warning each, nothing moves. */
	advance(f.admin, 31 * MINUTE);
	wait_count(url, "SELECT count(*) FROM grid_case WHERE warned = 1", NCASES + NTOP);
	ASSERT_EQ_INT(sql_long(url, "SELECT count(*) FROM grid_event WHERE kind = 'case.warning' "
				    "AND summary LIKE 'half the time to accept has passed (due %'"),
		      NCASES + NTOP);
	ASSERT_EQ_INT(sql_long(url, "SELECT count(*) FROM grid_case "
				    "WHERE next_check IS DISTINCT FROM accept_warn80"),
		      0);
	ASSERT_EQ_INT(sql_long(url, "SELECT count(*) FROM grid_case WHERE escalations > 0"), 0);

	/* Past the deadline: each building's case goes to its courtyard,
	 * the district's are overdue where they are. */
	advance(f.admin, 30 * MINUTE);
	wait_count(url, "SELECT count(*) FROM grid_case WHERE timeout_escalations > 0", NCASES);
	wait_count(url, "SELECT count(*) FROM grid_case WHERE overdue", NTOP);
	/* Another pass of the sweep (every second) must find nothing. */
	sleep(2);
	assert_building_events(url, "case.raised,case.warning,case.timeout_escalated");
	ASSERT_EQ_INT(sql_long(url, "SELECT count(*) FROM grid_case c "
				    "JOIN grid_node o ON o.id = c.origin_node_id "
				    "JOIN grid_event e ON e.case_id = c.id "
				    "AND e.kind = 'case.timeout_escalated' "
				    "WHERE c.node_id = o.parent_id AND e.node_id = o.parent_id "
				    "AND e.from_node_id = o.id AND e.actor = 'system' "
				    "AND e.summary = 'the time to accept ran out' "
				    "AND c.state = 2 AND c.escalations = 1 AND c.warned = 0 "
				    "AND c.handler IS NULL AND NOT c.overdue "
				    "AND c.level_since = e.at AND c.accept_due > e.at "
				    "AND c.next_check = c.accept_warn50"),
		      NCASES);
	/* The new deadlines are the courtyard's, from the moment it came. */
	ASSERT_EQ_INT(sql_long(url,
			       "SELECT count(*) FROM grid_case c, LATERAL case_deadlines("
			       "(SELECT level FROM grid_node WHERE id = c.node_id), "
			       "c.category, c.level_since) d "
			       "WHERE c.timeout_escalations = 1 AND c.accept_due = d.accept_due "
			       "AND c.accept_warn50 = d.accept_warn50 "
			       "AND c.accept_warn80 = d.accept_warn80 "
			       "AND c.resolve_due = d.resolve_due "
			       "AND c.resolve_warn50 = d.resolve_warn50 "
			       "AND c.resolve_warn80 = d.resolve_warn80"),
		      NCASES);
	ASSERT_EQ_INT(sql_long(url,
			       "SELECT count(*) FROM grid_case c JOIN grid_event e "
			       "ON e.case_id = c.id AND e.seq = (SELECT max(seq) "
			       "FROM grid_event WHERE case_id = c.id) "
			       "WHERE c.overdue AND c.warned = 15 AND c.accept_due IS NULL "
			       "AND c.resolve_due IS NULL AND c.next_check IS NULL "
			       "AND c.escalations = 0 AND e.kind = 'case.warning' AND e.summary = "
			       "'missed the time to accept at the top of the grid'"),
		      NTOP);
	itest_teardown(&f);
}

TEST(two_processes_sweeping_many_batches_move_each_case_once)
{
	struct itest_fix f;
	struct itest_gridd other;
	struct grid_client *c2;

	itest_setup(&f, itest_fast_calendar, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_gridd_start(&other, f.db.url, itest_fast_calendar);
	c2 = itest_connect(&other);
	raise_many(f.db.url, NCASES, false);
	/* Both clocks pass the deadline: both sweepers find every case. */
	advance(f.admin, 61 * MINUTE);
	advance(c2, 61 * MINUTE);
	wait_count(f.db.url, "SELECT count(*) FROM grid_case WHERE escalations > 0", NCASES);
	sleep(2);
	ASSERT_EQ_INT(sql_long(f.db.url, "SELECT count(*) FROM grid_case "
					 "WHERE escalations <> 1 OR timeout_escalations <> 1"),
		      0);
	assert_building_events(f.db.url, "case.raised,case.timeout_escalated");
	grid_client_destroy(c2);
	ASSERT_EQ_INT(itest_gridd_stop(&other), 0);
	itest_teardown(&f);
}
