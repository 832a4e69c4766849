/* Cases through the client library against real gridd processes: the whole
 * lifecycle with its guards and events; a case nobody accepts climbing
 * building -> courtyard -> zone -> community by timeout as the clock moves
 * (gridd-testclock), shown exactly so by its events and the report;
 * escalate racing accept; two processes sweeping the same overdue cases;
 * 50 identical raises with one idempotency key making one case. */
#include <unistd.h>

#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define ROLE(x) GRID__V1__ROLE__ROLE_##x
#define STATE(x) GRID__V1__CASE_STATE__CASE_##x
#define PASSWORD "case-password-1"
#define BUILDING "WH-TZL-Z5-ZTY-B1"
#define COURTYARD "WH-TZL-Z5-ZTY"
#define ZONE "WH-TZL-Z5"
#define COMMUNITY "WH-TZL"
#define HOUR (3600 * 1000LL)

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

static struct grid_client *as(struct fix *f, const char *user, int role, const char *node)
{
	struct grid_client *c;

	itest_create_user(f->admin, user, PASSWORD, role, node);
	c = itest_connect_anonymous(&f->g);
	ASSERT_EQ_INT(itest_login(c, user, PASSWORD, NULL), 0);
	return c;
}

static Grid__V1__Reply *raise_case(struct grid_client *c, const char *node, const char *title,
				   const char *key)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RaiseCaseRequest m = GRID__V1__RAISE_CASE_REQUEST__INIT;

	m.node_code = (char *)node;
	m.title = (char *)title;
	m.description = (char *)"楼道灯坏了，晚上很黑";
	m.category = (char *)"facilities";
	m.channel = (char *)"counter";
	req.call_case = GRID__V1__REQUEST__CALL_RAISE_CASE;
	req.raise_case = &m;
	req.idempotency_key = (char *)(key ? key : "");
	return itest_call(c, &req);
}

static uint64_t raise_ok(struct grid_client *c, const char *node, const char *title)
{
	Grid__V1__Reply *r = raise_case(c, node, title, NULL);
	uint64_t id;

	ASSERT_MSG(itest_code(r) == 0, "RaiseCase: %s", r->status->message);
	ASSERT_EQ_STR(r->raise_case->node_code, node);
	ASSERT_EQ_INT(r->raise_case->state, STATE(RECEIVED));
	id = r->raise_case->id;
	grid_client_reply_free(r);
	return id;
}

/* A note-only transition (call is the Request field's case). */
static Grid__V1__Reply *step(struct grid_client *c, Grid__V1__Request__CallCase call, uint64_t id,
			     const char *note)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CaseNoteRequest m = GRID__V1__CASE_NOTE_REQUEST__INIT;

	m.id = id;
	m.note = (char *)(note ? note : "");
	req.call_case = call;
	/* Every note-taking call shares the message type: any member of
	 * the union will do. */
	req.register_case = &m;
	return itest_call(c, &req);
}

static int step_code(struct grid_client *c, Grid__V1__Request__CallCase call, uint64_t id,
		     const char *note, int expect_state)
{
	Grid__V1__Reply *r = step(c, call, id, note);
	int code = itest_code(r);

	if (code == 0 && expect_state)
		ASSERT_MSG((int)r->register_case->state == expect_state, "state %d, expected %d",
			   (int)r->register_case->state, expect_state);
	grid_client_reply_free(r);
	return code;
}

#define CALL(x) GRID__V1__REQUEST__CALL_##x

static Grid__V1__CaseDetail *get(struct grid_client *c, uint64_t id, Grid__V1__Reply **ret)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetCaseRequest m = GRID__V1__GET_CASE_REQUEST__INIT;

	m.id = id;
	m.with_events = true;
	req.call_case = CALL(GET_CASE);
	req.get_case = &m;
	*ret = itest_call(c, &req);
	ASSERT_MSG(itest_code(*ret) == 0, "GetCase: %s", (*ret)->status->message);
	return (*ret)->get_case;
}

static void advance(struct grid_client *admin, int64_t ms)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AdvanceClockRequest m = GRID__V1__ADVANCE_CLOCK_REQUEST__INIT;

	m.advance_ms = ms;
	req.call_case = CALL(ADVANCE_CLOCK);
	req.advance_clock = &m;
	Grid__V1__Reply *r = itest_call(admin, &req);
	ASSERT_MSG(itest_code(r) == 0, "AdvanceClock: %s", r->status->message);
	grid_client_reply_free(r);
}

/* Waits (the sweep runs every second) until the case is at node. */
static void wait_at(struct grid_client *c, uint64_t id, const char *node)
{
	uint64_t deadline = itest_now_ms() + 8000;

	for (;;) {
		Grid__V1__Reply *r;
		Grid__V1__CaseDetail *d = get(c, id, &r);
		bool there = strcmp(d->case_->node_code, node) == 0;
		grid_client_reply_free(r);
		if (there)
			return;
		ASSERT_MSG(itest_now_ms() < deadline, "case %llu never reached %s",
			   (unsigned long long)id, node);
		usleep(100000);
	}
}

/* Waits until the case has n events. */
static void wait_events(struct grid_client *c, uint64_t id, size_t n)
{
	uint64_t deadline = itest_now_ms() + 8000;

	for (;;) {
		Grid__V1__Reply *r;
		Grid__V1__CaseDetail *d = get(c, id, &r);
		size_t have = d->n_events;
		grid_client_reply_free(r);
		if (have >= n)
			return;
		ASSERT_MSG(itest_now_ms() < deadline, "case %llu has %zu events, not %zu",
			   (unsigned long long)id, have, n);
		usleep(100000);
	}
}

TEST(the_whole_lifecycle)
{
	struct fix f;
	struct grid_client *head, *rep, *leader, *resident;
	Grid__V1__Reply *r;
	uint64_t id;

	setup(&f, NULL);
	head = as(&f, "b1-head", ROLE(BUILDING_HEAD), BUILDING);
	rep = as(&f, "zty-rep", ROLE(COURTYARD_REP), COURTYARD);
	leader = as(&f, "z5-leader", ROLE(ZONE_LEADER), ZONE);
	resident = as(&f, "resident", ROLE(RESIDENT), BUILDING);

	/* A resident raises; the building head takes it through. */
	id = raise_ok(resident, BUILDING, "楼道灯不亮");
	ASSERT_EQ_INT(step_code(head, CALL(REGISTER_CASE), id, "", STATE(REGISTERED)), 0);
	ASSERT_EQ_INT(step_code(head, CALL(ACCEPT_CASE), id, "", STATE(ACCEPTED)), 0);
	/* Accepting twice: the second finds it taken. */
	ASSERT_EQ_INT(step_code(rep, CALL(ACCEPT_CASE), id, "", 0), CODE(FAILED_PRECONDITION));
	/* Only the handler works it. */
	ASSERT_EQ_INT(step_code(rep, CALL(START_CASE), id, "", 0), CODE(FAILED_PRECONDITION));
	ASSERT_EQ_INT(step_code(head, CALL(START_CASE), id, "", STATE(IN_PROGRESS)), 0);
	ASSERT_EQ_INT(step_code(head, CALL(RESOLVE_CASE), id, "", 0), CODE(INVALID_ARGUMENT));
	ASSERT_EQ_INT(step_code(head, CALL(RESOLVE_CASE), id, "换了灯泡", STATE(RESOLVED)), 0);
	/* A building head does not check work at all; the representative
	 * sends it back once, then it is done again and checked. */
	ASSERT_EQ_INT(step_code(head, CALL(CHECK_CASE), id, "", 0), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(step_code(rep, CALL(REWORK_CASE), id, "二楼也不亮", STATE(IN_PROGRESS)), 0);
	ASSERT_EQ_INT(step_code(head, CALL(RESOLVE_CASE), id, "两层都换了", STATE(RESOLVED)), 0);
	ASSERT_EQ_INT(step_code(rep, CALL(CHECK_CASE), id, "看过了", STATE(CHECKED)), 0);

	/* Who may check does not check their own work: the zone does. */
	uint64_t own = raise_ok(rep, COURTYARD, "院坝积水");
	ASSERT_EQ_INT(step_code(rep, CALL(ACCEPT_CASE), own, "", STATE(ACCEPTED)), 0);
	ASSERT_EQ_INT(step_code(rep, CALL(START_CASE), own, "", STATE(IN_PROGRESS)), 0);
	ASSERT_EQ_INT(step_code(rep, CALL(RESOLVE_CASE), own, "疏通了", STATE(RESOLVED)), 0);
	ASSERT_EQ_INT(step_code(rep, CALL(CHECK_CASE), own, "", 0), CODE(FAILED_PRECONDITION));
	ASSERT_EQ_INT(step_code(leader, CALL(CHECK_CASE), own, "", STATE(CHECKED)), 0);

	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CloseCaseRequest cl = GRID__V1__CLOSE_CASE_REQUEST__INIT;
	cl.id = id;
	cl.outcome = GRID__V1__CASE_OUTCOME__OUTCOME_FIXED;
	req.call_case = CALL(CLOSE_CASE);
	req.close_case = &cl;
	r = itest_call(rep, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_INT(r->close_case->state, STATE(CLOSED));
	ASSERT_EQ_INT(r->close_case->reworks, 1);
	grid_client_reply_free(r);

	/* The reporter is called back; only once. */
	Grid__V1__CaseCallbackRequest cb = GRID__V1__CASE_CALLBACK_REQUEST__INIT;
	cb.id = id;
	cb.solved = true;
	cb.satisfaction = 5;
	req.call_case = CALL(CASE_CALLBACK);
	req.case_callback = &cb;
	r = itest_call(resident, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT(r->case_callback->callback_done && r->case_callback->callback_solved);
	grid_client_reply_free(r);
	r = itest_call(resident, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(FAILED_PRECONDITION));
	grid_client_reply_free(r);

	/* Its history: one event per step, in order, with actors. */
	Grid__V1__CaseDetail *d = get(resident, id, &r);
	static const char *const kinds[] = {
	    "case.raised", "case.registered", "case.accepted", "case.started", "case.resolved",
	    "case.rework", "case.resolved",   "case.checked",  "case.closed",  "case.callback"};
	ASSERT_EQ_UINT(d->n_events, 10);
	for (size_t i = 0; i < 10; i++)
		ASSERT_EQ_STR(d->events[i]->kind, kinds[i]);
	ASSERT_EQ_STR(d->events[0]->actor, "resident");
	ASSERT_EQ_STR(d->events[0]->node_code, BUILDING);
	ASSERT_EQ_STR(d->events[0]->node_name, "1栋"); /* readable above its reach */
	ASSERT_EQ_STR(d->events[5]->actor, "zty-rep");
	ASSERT_EQ_STR(d->events[5]->summary, "二楼也不亮");
	for (size_t i = 1; i < 10; i++)
		ASSERT(d->events[i]->seq > d->events[i - 1]->seq);
	grid_client_reply_free(r);

	/* Reopened after close, it waits to be accepted again; the zone
	 * leader sends it down to the building again. */
	ASSERT_EQ_INT(step_code(head, CALL(REOPEN_CASE), id, "又坏了", 0), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(step_code(leader, CALL(REOPEN_CASE), id, "又坏了", STATE(REGISTERED)), 0);
	ASSERT_EQ_INT(step_code(head, CALL(ESCALATE_CASE), id, "需要物业", STATE(REGISTERED)), 0);
	d = get(leader, id, &r);
	ASSERT_EQ_STR(d->case_->node_code, COURTYARD);
	ASSERT_EQ_STR(d->case_->origin_code, BUILDING);
	ASSERT_EQ_UINT(d->case_->escalations, 1);
	grid_client_reply_free(r);
	/* Out of the building head's reach now. */
	ASSERT_EQ_INT(step_code(head, CALL(ACCEPT_CASE), id, "", 0), CODE(PERMISSION_DENIED));

	Grid__V1__SendDownCaseRequest sd = GRID__V1__SEND_DOWN_CASE_REQUEST__INIT;
	sd.id = id;
	sd.to_node_code = (char *)BUILDING;
	req.call_case = CALL(SEND_DOWN_CASE);
	req.send_down_case = &sd;
	r = itest_call(leader, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_STR(r->send_down_case->node_code, BUILDING);
	grid_client_reply_free(r);
	sd.to_node_code = (char *)"WH-TZL-Z4";
	r = itest_call(leader, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(PERMISSION_DENIED)); /* another zone */
	grid_client_reply_free(r);

	grid_client_destroy(head);
	grid_client_destroy(rep);
	grid_client_destroy(leader);
	grid_client_destroy(resident);
	teardown(&f);
}

TEST(suspension_needs_the_level_above_and_stops_the_clock)
{
	struct fix f;
	struct grid_client *head, *rep;
	Grid__V1__Reply *r;
	uint64_t id;

	setup(&f, itest_fast_calendar);
	head = as(&f, "b1-head", ROLE(BUILDING_HEAD), BUILDING);
	rep = as(&f, "zty-rep", ROLE(COURTYARD_REP), COURTYARD);
	id = raise_ok(head, BUILDING, "漏水");
	ASSERT_EQ_INT(step_code(head, CALL(ACCEPT_CASE), id, "", STATE(ACCEPTED)), 0);
	/* The head asks; it is only a request. */
	r = step(head, CALL(SUSPEND_CASE), id, "等物业配件");
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_INT(r->suspend_case->state, STATE(ACCEPTED));
	ASSERT(r->suspend_case->suspend_requested);
	grid_client_reply_free(r);
	/* The courtyard above approves. */
	r = step(rep, CALL(SUSPEND_CASE), id, "");
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_INT(r->suspend_case->state, STATE(SUSPENDED));
	ASSERT_EQ_INT(r->suspend_case->resolve_due_ms, 0);
	grid_client_reply_free(r);
	/* Far past its deadline while suspended: it does not move. */
	advance(f.admin, 20 * HOUR);
	sleep(2);
	Grid__V1__CaseDetail *d = get(head, id, &r);
	ASSERT_EQ_STR(d->case_->node_code, BUILDING);
	ASSERT_EQ_UINT(d->case_->timeout_escalations, 0);
	grid_client_reply_free(r);
	/* Resumed: the 10 h to resolve, less nothing used, count again. */
	r = step(head, CALL(RESUME_CASE), id, "配件到了");
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_INT(r->resume_case->state, STATE(ACCEPTED));
	ASSERT(r->resume_case->resolve_due_ms > 0);
	grid_client_reply_free(r);
	grid_client_destroy(head);
	grid_client_destroy(rep);
	teardown(&f);
}

TEST(void_and_duplicates_and_claim)
{
	struct fix f;
	struct grid_client *head;
	Grid__V1__Reply *r;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__VoidCaseRequest v = GRID__V1__VOID_CASE_REQUEST__INIT;

	setup(&f, NULL);
	head = as(&f, "b1-head", ROLE(BUILDING_HEAD), BUILDING);
	uint64_t a = raise_ok(head, BUILDING, "垃圾没收");
	uint64_t b = raise_ok(head, BUILDING, "垃圾没收（重复）");
	uint64_t c = raise_ok(head, BUILDING, "噪音");
	v.id = b;
	v.reason = GRID__V1__VOID_REASON__VOID_DUPLICATE;
	req.call_case = CALL(VOID_CASE);
	req.void_case = &v;
	r = itest_call(head, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(INVALID_ARGUMENT)); /* of which case? */
	grid_client_reply_free(r);
	v.duplicate_of = a;
	r = itest_call(head, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_INT(r->void_case->state, STATE(VOIDED));
	ASSERT_EQ_UINT(r->void_case->duplicate_of, a);
	grid_client_reply_free(r);

	/* Claiming takes the oldest waiting case, then the next, then none. */
	Grid__V1__ClaimCaseRequest cl = GRID__V1__CLAIM_CASE_REQUEST__INIT;
	cl.node_code = (char *)BUILDING;
	req.call_case = CALL(CLAIM_CASE);
	req.claim_case = &cl;
	r = itest_call(head, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->claim_case->id, a);
	ASSERT_EQ_STR(r->claim_case->handler, "b1-head");
	grid_client_reply_free(r);
	r = itest_call(head, &req);
	ASSERT_EQ_UINT(r->claim_case->id, c);
	grid_client_reply_free(r);
	r = itest_call(head, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(NOT_FOUND));
	grid_client_reply_free(r);

	/* The inbox lists what is open, oldest first. */
	Grid__V1__ListCasesRequest ls = GRID__V1__LIST_CASES_REQUEST__INIT;
	ls.node_code = (char *)BUILDING;
	req.call_case = CALL(LIST_CASES);
	req.list_cases = &ls;
	r = itest_call(head, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_cases->n_cases, 2);
	ASSERT_EQ_UINT(r->list_cases->cases[0]->id, a);
	grid_client_reply_free(r);
	ls.include_closed = true;
	ls.page_size = 2;
	r = itest_call(head, &req);
	ASSERT_EQ_UINT(r->list_cases->n_cases, 2);
	ASSERT(*r->list_cases->next_page_token);
	ls.page_token = r->list_cases->next_page_token;
	Grid__V1__Reply *r2 = itest_call(head, &req);
	ASSERT_EQ_UINT(r2->list_cases->n_cases, 1);
	ASSERT_EQ_UINT(r2->list_cases->cases[0]->id, c);
	grid_client_reply_free(r2);
	grid_client_reply_free(r);
	grid_client_destroy(head);
	teardown(&f);
}

TEST(nobody_accepts_it_climbs_by_timeout)
{
	struct fix f;
	struct grid_client *head;
	Grid__V1__Reply *r;
	uint64_t id;

	setup(&f, itest_fast_calendar);
	head = as(&f, "b1-head", ROLE(BUILDING_HEAD), BUILDING);
	id = raise_ok(head, BUILDING, "电梯停了");
	/* An hour to accept at each level: a warning at 30 and at 48 minutes,
	 * then, past the hour, one level up. */
	const char *up[] = {COURTYARD, ZONE, COMMUNITY};
	for (int level = 0; level < 3; level++) {
		advance(f.admin, 31 * 60000);
		wait_events(f.admin, id, 1 + level * 3 + 1);
		advance(f.admin, 18 * 60000);
		wait_events(f.admin, id, 1 + level * 3 + 2);
		advance(f.admin, 12 * 60000);
		wait_at(f.admin, id, up[level]);
	}

	Grid__V1__CaseDetail *d = get(f.admin, id, &r);
	ASSERT_EQ_STR(d->case_->origin_code, BUILDING);
	ASSERT_EQ_UINT(d->case_->escalations, 3);
	ASSERT_EQ_UINT(d->case_->timeout_escalations, 3);
	ASSERT_EQ_INT(d->case_->state, STATE(REGISTERED));
	/* Exactly: raised, then per level warnings at 50% and 80% and a
	 * timeout escalation, in order, with where it came from. */
	const char *path[] = {BUILDING, COURTYARD, ZONE, COMMUNITY};
	int ups = 0, warnings = 0;
	ASSERT_EQ_STR(d->events[0]->kind, "case.raised");
	for (size_t i = 1; i < d->n_events; i++) {
		Grid__V1__Event *e = d->events[i];
		if (strcmp(e->kind, "case.timeout_escalated") == 0) {
			ASSERT_EQ_STR(e->from_node_code, path[ups]);
			ASSERT_EQ_STR(e->node_code, path[ups + 1]);
			ASSERT_EQ_STR(e->actor, "system");
			ups++;
		} else {
			ASSERT_EQ_STR(e->kind, "case.warning");
			ASSERT_EQ_STR(e->node_code, path[ups]);
			warnings++;
		}
	}
	ASSERT_EQ_INT(ups, 3);
	ASSERT_EQ_INT(warnings, 6);
	grid_client_reply_free(r);

	/* The report of the community says the same. */
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CaseReportRequest rp = GRID__V1__CASE_REPORT_REQUEST__INIT;
	rp.node_code = (char *)COMMUNITY;
	req.call_case = CALL(CASE_REPORT);
	req.case_report = &rp;
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	double received = -1, timeouts = -1, escalated = -1, rate = -1;
	for (size_t i = 0; i < r->case_report->n_figures; i++) {
		Grid__V1__ReportFigure *fig = r->case_report->figures[i];
		ASSERT(*fig->definition);
		if (strcmp(fig->name, "received") == 0)
			received = fig->value;
		else if (strcmp(fig->name, "timeout_escalations") == 0)
			timeouts = fig->value;
		else if (strcmp(fig->name, "timeout_escalated_cases") == 0)
			escalated = fig->value;
		else if (strcmp(fig->name, "escalation_rate") == 0)
			rate = fig->value;
	}
	ASSERT(received == 1 && timeouts == 3 && escalated == 1 && rate == 1);
	grid_client_reply_free(r);
	grid_client_destroy(head);
	teardown(&f);
}

/* --- races ---------------------------------------------------------------- */

struct race {
	int done, ok;
	int codes[2];
};

static void on_race(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct race *rc = data;

	ASSERT_EQ_INT(status, 0);
	rc->codes[rc->done++] = (int)r->status->code;
	if (r->status->code == CODE(OK))
		rc->ok++;
}

TEST(escalate_racing_accept_one_wins)
{
	struct fix f;
	char head_token[128];
	struct grid_client *a, *b, *head;
	uv_loop_t loop;
	int wins_accept = 0, wins_escalate = 0;

	setup(&f, NULL);
	itest_create_user(f.admin, "b1-head", PASSWORD, ROLE(BUILDING_HEAD), BUILDING);
	head = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(head, "b1-head", PASSWORD, head_token), 0);
	uv_loop_init(&loop);
	a = itest_connect_async(&loop, &f.g, head_token);
	b = itest_connect_async(&loop, &f.g, f.g.admin_token);
	for (int i = 0; i < 100; i++) {
		uint64_t id = raise_ok(head, BUILDING, "竞争");
		struct race rc = {0};
		Grid__V1__Request ra = GRID__V1__REQUEST__INIT, rb = GRID__V1__REQUEST__INIT;
		Grid__V1__CaseNoteRequest m = GRID__V1__CASE_NOTE_REQUEST__INIT;
		m.id = id;
		m.note = (char *)"";
		ra.call_case = CALL(ACCEPT_CASE);
		ra.accept_case = &m;
		rb.call_case = CALL(ESCALATE_CASE);
		rb.escalate_case = &m;
		/* Both leave before either reply comes back. */
		ASSERT_EQ_INT(grid_client_call_async(a, &ra, on_race, &rc), 0);
		ASSERT_EQ_INT(grid_client_call_async(b, &rb, on_race, &rc), 0);
		while (rc.done < 2)
			uv_run(&loop, UV_RUN_ONCE);
		ASSERT_MSG(rc.ok == 1, "round %d: %d winners (%d, %d)", i, rc.ok, rc.codes[0],
			   rc.codes[1]);
		Grid__V1__Reply *r;
		Grid__V1__CaseDetail *d = get(f.admin, id, &r);
		if (d->case_->state == STATE(ACCEPTED)) {
			ASSERT_EQ_STR(d->case_->node_code, BUILDING);
			wins_accept++;
		} else {
			ASSERT_EQ_STR(d->case_->node_code, COURTYARD);
			ASSERT_EQ_INT(d->case_->state, STATE(REGISTERED));
			wins_escalate++;
		}
		grid_client_reply_free(r);
	}
	fprintf(stderr, "accept won %d, escalate won %d\n", wins_accept, wins_escalate);
	ASSERT_EQ_INT(wins_accept + wins_escalate, 100);
	grid_client_destroy(a);
	grid_client_destroy(b);
	uv_run(&loop, UV_RUN_DEFAULT);
	ASSERT_EQ_INT(uv_loop_close(&loop), 0);
	grid_client_destroy(head);
	teardown(&f);
}

TEST(two_processes_sweep_each_case_once)
{
	struct fix f;
	struct itest_gridd other;
	struct grid_client *c2;
	enum { N = 120 };

	setup(&f, itest_fast_calendar);
	itest_gridd_start(&other, f.db.url, itest_fast_calendar);
	c2 = itest_connect(&other);
	for (int i = 0; i < N; i++)
		raise_ok(f.admin, i % 2 ? BUILDING : "WH-TZL-Z5-SAZ-B2", "一起超时");
	/* Both clocks pass the deadline: both sweepers find them all. */
	advance(f.admin, HOUR + 60000);
	advance(c2, HOUR + 60000);
	uint64_t deadline = itest_now_ms() + 15000;
	char *moved = NULL;
	for (;;) {
		free(moved);
		moved = itest_sql(f.db.url, "SELECT count(*) FROM grid_case WHERE escalations > 0");
		if (atoi(moved) == N || itest_now_ms() > deadline)
			break;
		usleep(100000);
	}
	ASSERT_EQ_INT(atoi(moved), N);
	free(moved);
	/* Give a double move its chance, then count. */
	sleep(2);
	char *twice = itest_sql(f.db.url, "SELECT count(*) FROM grid_case WHERE escalations <> 1 "
					  "OR timeout_escalations <> 1");
	ASSERT_EQ_STR(twice, "0");
	free(twice);
	char *events = itest_sql(f.db.url, "SELECT count(*) FROM grid_event "
					   "WHERE kind = 'case.timeout_escalated'");
	ASSERT_EQ_INT(atoi(events), N);
	free(events);
	grid_client_destroy(c2);
	ASSERT_EQ_INT(itest_gridd_stop(&other), 0);
	teardown(&f);
}

/* --- idempotency ---------------------------------------------------------- */

struct same {
	int done;
	uint64_t ids[50];
	int codes[50];
};

static void on_raised(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct same *s = data;

	ASSERT_EQ_INT(status, 0);
	s->codes[s->done] = (int)r->status->code;
	s->ids[s->done] = r->raise_case ? r->raise_case->id : 0;
	s->done++;
}

TEST(fifty_identical_raises_with_one_key_make_one_case)
{
	struct fix f;
	struct grid_client *clients[50];
	struct same s = {0};
	uv_loop_t loop;

	setup(&f, NULL);
	uv_loop_init(&loop);
	for (int i = 0; i < 50; i++)
		clients[i] = itest_connect_async(&loop, &f.g, f.g.admin_token);
	for (int i = 0; i < 50; i++) {
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__RaiseCaseRequest m = GRID__V1__RAISE_CASE_REQUEST__INIT;
		m.node_code = (char *)BUILDING;
		m.title = (char *)"同一件事";
		/* The same fields as raise_case's, for the retry below. */
		m.description = (char *)"楼道灯坏了，晚上很黑";
		m.category = (char *)"facilities";
		m.channel = (char *)"counter";
		req.call_case = CALL(RAISE_CASE);
		req.raise_case = &m;
		req.idempotency_key = (char *)"hotline-20261126-0001";
		ASSERT_EQ_INT(grid_client_call_async(clients[i], &req, on_raised, &s), 0);
	}
	while (s.done < 50)
		uv_run(&loop, UV_RUN_ONCE);
	for (int i = 0; i < 50; i++) {
		ASSERT_MSG(s.codes[i] == 0, "raise %d: status %d", i, s.codes[i]);
		ASSERT_EQ_UINT(s.ids[i], s.ids[0]);
	}
	char *n = itest_sql(f.db.url, "SELECT count(*) FROM grid_case");
	ASSERT_EQ_STR(n, "1");
	free(n);
	n = itest_sql(f.db.url, "SELECT count(*) FROM grid_event WHERE kind = 'case.raised'");
	ASSERT_EQ_STR(n, "1");
	free(n);

	/* A retry later: the same reply. The key with another request: an
	 * error, and nothing written. */
	Grid__V1__Reply *r = raise_case(f.admin, BUILDING, "同一件事", "hotline-20261126-0001");
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->raise_case->id, s.ids[0]);
	grid_client_reply_free(r);
	r = raise_case(f.admin, BUILDING, "另一件事", "hotline-20261126-0001");
	ASSERT_EQ_INT(itest_code(r), CODE(ALREADY_EXISTS));
	grid_client_reply_free(r);
	n = itest_sql(f.db.url, "SELECT count(*) FROM grid_case");
	ASSERT_EQ_STR(n, "1");
	free(n);

	/* A transition retried with its key does not fail as "already
	 * accepted": it answers what it answered. */
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CaseNoteRequest m = GRID__V1__CASE_NOTE_REQUEST__INIT;
	m.id = s.ids[0];
	m.note = (char *)"";
	req.call_case = CALL(ACCEPT_CASE);
	req.accept_case = &m;
	req.idempotency_key = (char *)"accept-1";
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	uint64_t seq_state = r->accept_case->state;
	grid_client_reply_free(r);
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->accept_case->state, seq_state);
	grid_client_reply_free(r);
	req.idempotency_key = (char *)"";
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), CODE(FAILED_PRECONDITION));
	grid_client_reply_free(r);

	for (int i = 0; i < 50; i++)
		grid_client_destroy(clients[i]);
	uv_run(&loop, UV_RUN_DEFAULT);
	ASSERT_EQ_INT(uv_loop_close(&loop), 0);
	teardown(&f);
}
