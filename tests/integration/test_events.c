/* Live events: Subscribe pushes the events of a subtree, of the kinds asked
 * for, that the subscriber may see, within a second, whichever gridd
 * process wrote them; a replay from a seq joins the live stream with no gap
 * and no duplicate; a subscriber that does not read gets "missed" instead
 * of growing gridd's memory, and re-reads the gap with ListEvents; many
 * events of one transaction are read once; gridctl watch prints what
 * another process caused and ends cleanly on SIGINT.
 *
 * Events are written with SQL (event_emit, as the case and task modules
 * do in their transactions) and through RaiseCase on another gridd. The
 * subscribers speak the protocol themselves (tests/harness/raw.h) to see
 * every frame as it comes.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libpq-fe.h>

#include "common/buf.h"
#include "tests/harness/itest.h"
#include "tests/harness/raw.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define ROLE(x) GRID__V1__ROLE__ROLE_##x
#define PASS "events-password-1"

#define Z5 "WH-TZL-Z5"
#define Z5_B1 "WH-TZL-Z5-ZTY-B1" /* 梓潼苑 1栋 */
#define Z5_B2 "WH-TZL-Z5-SAZ-B2"
#define Z4_B1 "WH-TZL-Z4-Y6-B1"

/* --- writing events ------------------------------------------------------- */

/* One event, in a transaction of its own; returns its seq. */
static uint64_t emit(const char *url, const char *kind, const char *code, const char *from)
{
	char sql[1024], fromsql[200] = "NULL";
	uint64_t seq;

	if (from)
		snprintf(fromsql, sizeof(fromsql), "(SELECT id FROM grid_node WHERE code = '%s')",
			 from);
	snprintf(sql, sizeof(sql),
		 "SELECT event_emit('%s', (SELECT id FROM grid_node WHERE code = '%s'), %s, 7, "
		 "NULL, 'tester', 'summary of %s', NULL)",
		 kind, code, fromsql, kind);
	char *v = itest_sql(url, sql);
	ASSERT_NOT_NULL(v);
	seq = strtoull(v, NULL, 10);
	free(v);
	return seq;
}

/* n events in one transaction, alternating between the nodes a and b (b
 * NULL: all at a), each with a summary of summary_len bytes; returns the
 * first seq (they are consecutive). */
static uint64_t emit_many(const char *url, int n, const char *a, const char *b, int summary_len)
{
	char sql[1024];
	uint64_t first;

	snprintf(sql, sizeof(sql),
		 "SELECT min(s) FROM (SELECT event_emit('case.raised', (SELECT id FROM grid_node "
		 "WHERE code = CASE WHEN i %% 2 = 0 THEN '%s' ELSE '%s' END), NULL, i, NULL, "
		 "'tester', repeat('x', %d), NULL) AS s FROM generate_series(0, %d) i) q",
		 a, b ? b : a, summary_len, n - 1);
	char *v = itest_sql(url, sql);
	ASSERT_NOT_NULL(v);
	first = strtoull(v, NULL, 10);
	free(v);
	return first;
}

/* --- subscribers speaking the protocol ------------------------------------ */

static struct raw_stream *stream_open(const struct itest_gridd *g)
{
	struct raw_stream *st = malloc(sizeof(*st));

	ASSERT_NOT_NULL(st);
	raw_stream_open(st, g->address, NULL);
	raw_stream_hello(st);
	return st;
}

/* Logged in as username, or with token when username is NULL. */
static struct raw_stream *subscriber(const struct itest_gridd *g, const char *username,
				     const char *token)
{
	struct raw_stream *st = stream_open(g);

	if (username)
		raw_stream_login(st, username, PASS);
	else
		raw_stream_authenticate(st, token);
	return st;
}

static void stream_free(struct raw_stream *st)
{
	raw_stream_close(st);
	free(st);
}

/* The reply to id, skipping events; fails the test when the connection
 * ends first. */
static Grid__V1__ServerFrame *reply_to(struct raw_stream *st, uint64_t id)
{
	for (;;) {
		Grid__V1__ServerFrame *f = raw_stream_read(st);
		ASSERT_MSG(f != NULL, "the connection closed before the reply to %llu",
			   (unsigned long long)id);
		if (f->frame_case == GRID__V1__SERVER_FRAME__FRAME_REPLY && f->reply->id == id)
			return f;
		grid__v1__server_frame__free_unpacked(f, NULL);
	}
}

/* after_seq for "only new ones"; 0 asks for every event kept. */
#define LIVE UINT64_MAX

/* Subscribe; returns the status code, and the reply's last_seq. */
static int subscribe(struct raw_stream *st, uint64_t id, const char *node, const char *const *kinds,
		     uint64_t after_seq, uint64_t *ret_last)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__SubscribeRequest m = GRID__V1__SUBSCRIBE_REQUEST__INIT;
	size_t n = 0;
	int code;

	while (kinds && kinds[n])
		n++;
	m.node_code = (char *)node;
	m.kinds = (char **)kinds;
	m.n_kinds = n;
	m.from_first = after_seq == 0;
	m.after_seq = after_seq == LIVE ? 0 : after_seq;
	req.id = id;
	req.call_case = GRID__V1__REQUEST__CALL_SUBSCRIBE;
	req.subscribe = &m;
	raw_send(st->fd, &req);
	Grid__V1__ServerFrame *f = reply_to(st, id);
	code = f->reply->status->code;
	if (code == 0) {
		ASSERT_EQ_INT(f->reply->result_case, GRID__V1__REPLY__RESULT_SUBSCRIBE);
		if (ret_last)
			*ret_last = f->reply->subscribe->last_seq;
	}
	grid__v1__server_frame__free_unpacked(f, NULL);
	return code;
}

/* The next event within timeout_ms (caller frees the frame; ->event), or
 * NULL when none comes. Fails the test when the connection closes. */
static Grid__V1__ServerFrame *next_event(struct raw_stream *st, int timeout_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		uint64_t now = itest_now_ms();
		bool closed;
		Grid__V1__ServerFrame *f =
		    raw_stream_next(st, now < deadline ? (int)(deadline - now) : 0, &closed);
		ASSERT_MSG(!closed, "gridd closed the subscriber's connection");
		if (!f)
			return NULL;
		if (f->frame_case == GRID__V1__SERVER_FRAME__FRAME_EVENT)
			return f;
		grid__v1__server_frame__free_unpacked(f, NULL);
	}
}

/* Asserts that the next event (within a second of now) is seq. */
static Grid__V1__ServerFrame *expect_event(struct raw_stream *st, uint64_t seq)
{
	uint64_t t0 = itest_now_ms();
	Grid__V1__ServerFrame *f = next_event(st, 1000);

	ASSERT_MSG(f != NULL, "no event within a second (waiting for seq %llu)",
		   (unsigned long long)seq);
	ASSERT_EQ_UINT(f->event->seq, seq);
	ASSERT(itest_now_ms() - t0 < 1000);
	return f;
}

static void expect_nothing(struct raw_stream *st, int ms)
{
	Grid__V1__ServerFrame *f = next_event(st, ms);

	ASSERT_MSG(f == NULL, "unexpected event seq %llu kind %s",
		   f ? (unsigned long long)f->event->seq : 0ULL, f ? f->event->kind : "");
}

static Grid__V1__Reply *list_events(struct grid_client *c, const char *node, uint64_t after,
				    uint32_t limit)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListEventsRequest m = GRID__V1__LIST_EVENTS_REQUEST__INIT;

	m.node_code = (char *)node;
	m.after_seq = after;
	m.limit = limit;
	req.call_case = GRID__V1__REQUEST__CALL_LIST_EVENTS;
	req.list_events = &m;
	return itest_call(c, &req);
}

/* The seqs of the events in node's subtree after `after`, as SQL sees them:
 * "12,14,16". Caller frees. */
static char *expected_seqs(const char *url, const char *node, uint64_t after)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(string_agg(e.seq::text, ',' ORDER BY e.seq), '') FROM grid_event "
		 "e JOIN grid_node n ON n.id = e.node_id WHERE e.seq > %llu AND n.path <@ (SELECT "
		 "path FROM grid_node WHERE code = '%s')",
		 (unsigned long long)after, node);
	return itest_sql(url, sql);
}

static void seq_append(struct buf *b, uint64_t seq)
{
	buf_printf(b, "%s%llu", b->len ? "," : "", (unsigned long long)seq);
}

static uint64_t raise_case(struct grid_client *c, const char *node, const char *title)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RaiseCaseRequest m = GRID__V1__RAISE_CASE_REQUEST__INIT;
	uint64_t id;

	m.node_code = (char *)node;
	m.title = (char *)title;
	m.description = (char *)"楼道灯不亮";
	m.category = (char *)"safety";
	m.channel = (char *)"counter";
	req.call_case = GRID__V1__REQUEST__CALL_RAISE_CASE;
	req.raise_case = &m;
	Grid__V1__Reply *r = itest_call(c, &req);
	ASSERT_MSG(itest_code(r) == 0, "RaiseCase: %s", r->status->message);
	id = r->raise_case->id;
	grid_client_reply_free(r);
	return id;
}

/* --- the cases -------------------------------------------------------------- */

TEST(subtree_kinds_and_within_a_second)
{
	struct itest_fix f;
	static const char *const some[] = {"case.escalated", "task.", NULL};
	Grid__V1__ServerFrame *e;
	uint64_t last = 99, s1, s2, s3, s4;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(f.admin, "z5", PASS, ROLE(ZONE_LEADER), Z5);
	struct raw_stream *all = subscriber(&f.g, "z5", NULL);
	struct raw_stream *few = subscriber(&f.g, "z5", NULL);
	struct raw_stream *grid = subscriber(&f.g, NULL, f.g.admin_token);
	ASSERT_EQ_INT(subscribe(all, 3, Z5, NULL, LIVE, &last), 0);
	ASSERT_EQ_UINT(last, 0); /* a fresh database has no events */
	ASSERT_EQ_INT(subscribe(few, 3, Z5, some, LIVE, NULL), 0);
	ASSERT_EQ_INT(subscribe(grid, 3, "", NULL, LIVE, NULL), 0);

	/* A building of the zone: within a second, with its names. */
	s1 = emit(f.db.url, "case.raised", Z5_B1, NULL);
	e = expect_event(all, s1);
	ASSERT_EQ_STR(e->event->kind, "case.raised");
	ASSERT_EQ_STR(e->event->node_code, Z5_B1);
	ASSERT_EQ_STR(e->event->node_name, "1栋");
	ASSERT_EQ_STR(e->event->actor, "tester");
	ASSERT_EQ_STR(e->event->summary, "summary of case.raised");
	ASSERT_EQ_UINT(e->event->case_id, 7);
	ASSERT(e->event->at_ms > 0);
	grid__v1__server_frame__free_unpacked(e, NULL);

	/* Another zone's event is not theirs; the whole grid's watcher sees
	 * both. */
	s2 = emit(f.db.url, "case.raised", Z4_B1, NULL);
	s3 = emit(f.db.url, "task.assigned", Z5_B2, NULL);
	grid__v1__server_frame__free_unpacked(expect_event(all, s3), NULL);
	grid__v1__server_frame__free_unpacked(expect_event(grid, s1), NULL);
	grid__v1__server_frame__free_unpacked(expect_event(grid, s2), NULL);
	grid__v1__server_frame__free_unpacked(expect_event(grid, s3), NULL);

	/* An escalation into the zone names where it came from. */
	s4 = emit(f.db.url, "case.escalated", Z5, "WH-TZL-Z5-ZTY");
	e = expect_event(all, s4);
	ASSERT_EQ_STR(e->event->from_node_code, "WH-TZL-Z5-ZTY");
	ASSERT_EQ_STR(e->event->node_name, "第五片区");
	grid__v1__server_frame__free_unpacked(e, NULL);
	grid__v1__server_frame__free_unpacked(expect_event(grid, s4), NULL);

	/* Kinds: an exact kind and a family; case.raised is neither. */
	grid__v1__server_frame__free_unpacked(expect_event(few, s3), NULL);
	grid__v1__server_frame__free_unpacked(expect_event(few, s4), NULL);
	expect_nothing(few, 300);
	expect_nothing(all, 100);

	/* A malformed kind is refused; Unsubscribe ends the flow. */
	static const char *const bad[] = {"Case Raised", NULL};
	ASSERT_EQ_INT(subscribe(few, 4, Z5, bad, LIVE, NULL), CODE(INVALID_ARGUMENT));
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__UnsubscribeRequest un = GRID__V1__UNSUBSCRIBE_REQUEST__INIT;
	req.id = 5;
	req.call_case = GRID__V1__REQUEST__CALL_UNSUBSCRIBE;
	req.unsubscribe = &un;
	raw_send(all->fd, &req);
	raw_stream_expect(all, 5, 0);
	uint64_t s5 = emit(f.db.url, "case.raised", Z5_B1, NULL);
	grid__v1__server_frame__free_unpacked(expect_event(grid, s5), NULL);
	expect_nothing(all, 200);

	/* ListEvents: the zone's events, of a kind, of a case. */
	Grid__V1__ListEventsRequest le = GRID__V1__LIST_EVENTS_REQUEST__INIT;
	static char *families[] = {(char *)"task.", (char *)"case.escalated"};
	le.node_code = (char *)Z5;
	le.kinds = families;
	le.n_kinds = 2;
	req = (Grid__V1__Request)GRID__V1__REQUEST__INIT;
	req.call_case = GRID__V1__REQUEST__CALL_LIST_EVENTS;
	req.list_events = &le;
	Grid__V1__Reply *r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_events->n_events, 2);
	ASSERT_EQ_UINT(r->list_events->events[0]->seq, s3);
	ASSERT_EQ_UINT(r->list_events->events[1]->seq, s4);
	ASSERT_EQ_STR(r->list_events->events[1]->from_node_code, "WH-TZL-Z5-ZTY");
	ASSERT_EQ_UINT(r->list_events->last_seq, s5);
	ASSERT(!r->list_events->more);
	grid_client_reply_free(r);
	emit(f.db.url, "case.closed", Z5_B1, NULL);
	char *v = itest_sql(f.db.url, "UPDATE grid_event SET case_id = 8 WHERE seq = (SELECT "
				      "max(seq) FROM grid_event) RETURNING seq");
	uint64_t s6 = strtoull(v, NULL, 10);
	free(v);
	le.n_kinds = 0;
	le.node_code = (char *)"";
	le.case_id = 8;
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_events->n_events, 1);
	ASSERT_EQ_UINT(r->list_events->events[0]->seq, s6);
	grid_client_reply_free(r);

	stream_free(all);
	stream_free(few);
	stream_free(grid);
	itest_teardown(&f);
}

TEST(events_from_another_gridd)
{
	struct itest_fix f;
	struct itest_gridd g2;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_gridd_start(&g2, f.db.url, NULL);
	struct raw_stream *st = subscriber(&f.g, NULL, f.g.admin_token);
	ASSERT_EQ_INT(subscribe(st, 3, Z5, NULL, LIVE, NULL), 0);

	/* A case raised through the other process reaches this one's
	 * subscriber within a second. */
	struct grid_client *c2 = itest_connect(&g2);
	uint64_t t0 = itest_now_ms();
	uint64_t id = raise_case(c2, Z5_B1, "楼道灯坏了");
	Grid__V1__ServerFrame *e = next_event(st, 1000);
	ASSERT_MSG(e != NULL, "no event within a second of the RaiseCase on the other gridd");
	ASSERT(itest_now_ms() - t0 < 1000);
	ASSERT_EQ_STR(e->event->kind, "case.raised");
	ASSERT_EQ_STR(e->event->node_code, Z5_B1);
	ASSERT_EQ_UINT(e->event->case_id, id);
	ASSERT_EQ_STR(e->event->actor, ITEST_ADMIN);
	uint64_t e_seq = e->event->seq;
	grid__v1__server_frame__free_unpacked(e, NULL);

	/* And the other way round: a subscriber of the second process gets
	 * what is committed anywhere. */
	struct raw_stream *st2 = subscriber(&g2, NULL, g2.admin_token);
	uint64_t last = 0;
	ASSERT_EQ_INT(subscribe(st2, 3, Z5, NULL, LIVE, &last), 0);
	uint64_t s = emit(f.db.url, "case.warning", Z5_B1, NULL);
	/* What comes is what follows last_seq: the case raised above too,
	 * when this process had not read it yet as the subscription began. */
	if (last < e_seq)
		grid__v1__server_frame__free_unpacked(expect_event(st2, e_seq), NULL);
	grid__v1__server_frame__free_unpacked(expect_event(st2, s), NULL);
	grid__v1__server_frame__free_unpacked(expect_event(st, s), NULL);

	/* A task issued for every building of the community, through the
	 * other process: one task.assigned per building of the zone, all in
	 * one transaction. */
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__IssueTaskRequest it = GRID__V1__ISSUE_TASK_REQUEST__INIT;
	it.node_code = (char *)"WH-TZL";
	it.title = (char *)"排查独居老人";
	it.body = (char *)"12月10日前走访";
	it.due_at_ms = (int64_t)time(NULL) * 1000 + 7 * 86400000LL;
	it.target_level = (char *)"building";
	req.call_case = GRID__V1__REQUEST__CALL_ISSUE_TASK;
	req.issue_task = &it;
	Grid__V1__Reply *r = itest_call(c2, &req);
	ASSERT_MSG(itest_code(r) == 0, "IssueTask: %s", r->status->message);
	uint64_t task = r->issue_task->id;
	grid_client_reply_free(r);
	char *v =
	    itest_sql(f.db.url, "SELECT count(*) FROM grid_node n, grid_node z WHERE z.code = "
				"'" Z5 "' AND n.path <@ z.path AND n.level = 5");
	int buildings = atoi(v), got = 0;
	free(v);
	ASSERT(buildings >= 10);
	for (Grid__V1__ServerFrame *fr; got < buildings && (fr = next_event(st, 1000)); got++) {
		ASSERT_EQ_STR(fr->event->kind, "task.assigned");
		ASSERT_EQ_UINT(fr->event->task_id, task);
		ASSERT(strncmp(fr->event->node_code, Z5 "-", strlen(Z5) + 1) == 0);
		grid__v1__server_frame__free_unpacked(fr, NULL);
	}
	ASSERT_EQ_INT(got, buildings);
	expect_nothing(st, 200);

	grid_client_destroy(c2);
	stream_free(st);
	stream_free(st2);
	ASSERT_EQ_INT(itest_gridd_stop(&g2), 0);
	itest_teardown(&f);
}

/* Writes n events, one transaction each, alternating between Z5 and Z4,
 * from a child process (while the parent's subscriber replays). */
static pid_t writer(const char *url, int n)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT(pid >= 0);
	if (pid > 0)
		return pid;
	PGconn *pg = PQconnectdb(url);
	if (PQstatus(pg) != CONNECTION_OK)
		_exit(1);
	for (int i = 0; i < n; i++) {
		char sql[300];
		snprintf(
		    sql, sizeof(sql),
		    "SELECT event_emit('task.assigned', (SELECT id FROM grid_node WHERE code = "
		    "'%s'), NULL, NULL, %d, 'writer', '', NULL)",
		    i % 2 ? Z4_B1 : Z5_B2, i);
		PGresult *res = PQexec(pg, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			_exit(2);
		PQclear(res);
	}
	PQfinish(pg);
	_exit(0);
}

TEST(replay_joins_the_live_stream)
{
	struct itest_fix f;
	struct buf got;
	uint64_t first, after, sentinel;
	int st_code;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	/* 1200 events in the zone and 1200 outside, interleaved: more than
	 * two pages of replay. */
	first = emit_many(f.db.url, 2400, Z5_B1, Z4_B1, 20);
	after = first + 10;

	struct raw_stream *st = subscriber(&f.g, NULL, f.g.admin_token);
	pid_t pid = writer(f.db.url, 300);
	ASSERT_EQ_INT(subscribe(st, 3, Z5, NULL, after, NULL), 0);

	/* Everything after `after`, then what the writer adds meanwhile,
	 * then the sentinel: in order, each once. */
	int status;
	ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
	ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer failed");
	sentinel = emit(f.db.url, "case.closed", Z5_B1, NULL);
	buf_init(&got, 0);
	for (;;) {
		Grid__V1__ServerFrame *e = next_event(st, 5000);
		ASSERT_MSG(e != NULL, "the replay stopped after %zu bytes of seqs", got.len);
		ASSERT_MSG(strcmp(e->event->kind, "missed") != 0, "a prompt reader missed events");
		uint64_t seq = e->event->seq;
		seq_append(&got, seq);
		grid__v1__server_frame__free_unpacked(e, NULL);
		if (seq >= sentinel)
			break;
	}
	char *want = expected_seqs(f.db.url, Z5, after);
	ASSERT_EQ_STR(buf_cstr(&got), want);
	/* Every other one of the 1188 after `after`, 150 of the writer's, the
	 * sentinel. */
	st_code = 0;
	for (const char *p = want; *p; p++)
		st_code += *p == ',';
	ASSERT_EQ_INT(st_code + 1, 1194 + 150 + 1);
	free(want);
	buf_finish(&got);

	/* ListEvents pages through the same, with last_seq to go on from. */
	Grid__V1__Reply *r = list_events(f.admin, Z5, after, 100);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_events->n_events, 100);
	ASSERT_EQ_UINT(r->list_events->events[0]->seq, after + 2);
	ASSERT_EQ_UINT(r->list_events->last_seq, r->list_events->events[99]->seq);
	ASSERT(r->list_events->more);
	grid_client_reply_free(r);
	r = list_events(f.admin, Z5, sentinel - 1, 100);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_events->n_events, 1);
	ASSERT_EQ_UINT(r->list_events->last_seq, sentinel);
	ASSERT(!r->list_events->more);
	grid_client_reply_free(r);
	/* One task's events (the writer gave each its own task number). */
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListEventsRequest le = GRID__V1__LIST_EVENTS_REQUEST__INIT;
	le.task_id = 4;
	req.call_case = GRID__V1__REQUEST__CALL_LIST_EVENTS;
	req.list_events = &le;
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_events->n_events, 1);
	ASSERT_EQ_UINT(r->list_events->events[0]->task_id, 4);
	ASSERT_EQ_STR(r->list_events->events[0]->node_code, Z5_B2);
	grid_client_reply_free(r);
	/* Exactly the limit and nothing after: not "more". */
	r = list_events(f.admin, Z5, sentinel - 3, 1);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_events->n_events, 1);
	ASSERT(r->list_events->more);
	grid_client_reply_free(r);
	r = list_events(f.admin, Z5, sentinel - 1, 1);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_events->n_events, 1);
	ASSERT(!r->list_events->more);
	grid_client_reply_free(r);

	/* from_first: every event kept, from the very first. */
	struct raw_stream *all = subscriber(&f.g, NULL, f.g.admin_token);
	ASSERT_EQ_INT(subscribe(all, 3, Z5, NULL, 0, NULL), 0);
	want = expected_seqs(f.db.url, Z5, 0);
	Grid__V1__ServerFrame *e = next_event(all, 5000);
	ASSERT_NOT_NULL(e);
	ASSERT_EQ_UINT(e->event->seq, strtoull(want, NULL, 10));
	ASSERT(e->event->seq <= first + 1);
	grid__v1__server_frame__free_unpacked(e, NULL);
	free(want);
	stream_free(all);

	stream_free(st);
	itest_teardown(&f);
}

TEST(only_who_may_read)
{
	struct itest_fix f;
	static const char *const everything[] = {NULL};
	char key[128];

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(f.admin, "resident", PASS, ROLE(RESIDENT), Z5);
	itest_create_user(f.admin, "z4", PASS, ROLE(ZONE_LEADER), "WH-TZL-Z4");
	itest_create_user(f.admin, "z5", PASS, ROLE(ZONE_LEADER), Z5);

	/* Neither case.read nor task.read on the node: refused. */
	struct raw_stream *res = subscriber(&f.g, "resident", NULL);
	ASSERT_EQ_INT(subscribe(res, 3, Z5, everything, LIVE, NULL), CODE(PERMISSION_DENIED));
	struct raw_stream *z4 = subscriber(&f.g, "z4", NULL);
	ASSERT_EQ_INT(subscribe(z4, 3, Z5, NULL, LIVE, NULL), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(subscribe(z4, 4, "", NULL, LIVE, NULL), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(subscribe(z4, 5, "WH-TZL-Z4", NULL, LIVE, NULL), 0);
	struct grid_client *rc = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(rc, "resident", PASS, NULL), 0);
	Grid__V1__Reply *r = list_events(rc, Z5, 0, 10);
	ASSERT_EQ_INT(itest_code(r), CODE(PERMISSION_DENIED));
	grid_client_reply_free(r);
	grid_client_destroy(rc);

	/* A city system's key reads cases, not tasks: it gets the case
	 * events and not the task events, live and listed. */
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateApiKeyRequest ck = GRID__V1__CREATE_API_KEY_REQUEST__INIT;
	ck.name = (char *)"12345热线";
	ck.node_code = (char *)Z5;
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_API_KEY;
	req.create_api_key = &ck;
	r = itest_call(f.admin, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	snprintf(key, sizeof(key), "%s", r->create_api_key->key);
	grid_client_reply_free(r);
	struct raw_stream *ks = subscriber(&f.g, NULL, key);
	ASSERT_EQ_INT(subscribe(ks, 3, Z5, NULL, LIVE, NULL), 0);
	struct raw_stream *z5 = subscriber(&f.g, "z5", NULL);
	ASSERT_EQ_INT(subscribe(z5, 3, Z5, NULL, LIVE, NULL), 0);
	uint64_t t = emit(f.db.url, "task.assigned", Z5_B1, NULL);
	uint64_t c = emit(f.db.url, "case.raised", Z5_B1, NULL);
	grid__v1__server_frame__free_unpacked(expect_event(z5, t), NULL);
	grid__v1__server_frame__free_unpacked(expect_event(z5, c), NULL);
	grid__v1__server_frame__free_unpacked(expect_event(ks, c), NULL);
	struct grid_client *kc = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_authenticate(kc, key), 0);
	r = list_events(kc, Z5, 0, 10);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT_EQ_UINT(r->list_events->n_events, 1);
	ASSERT_EQ_UINT(r->list_events->events[0]->seq, c);
	ASSERT_EQ_UINT(r->list_events->last_seq, c);
	grid_client_reply_free(r);
	grid_client_destroy(kc);
	/* Zone 4's leader saw nothing of zone 5. */
	expect_nothing(z4, 100);

	/* A role revoked stops the flow at once, on the open subscription. */
	struct raw_stream *admin = subscriber(&f.g, NULL, f.g.admin_token);
	ASSERT_EQ_INT(subscribe(admin, 3, Z5, NULL, LIVE, NULL), 0);
	Grid__V1__RevokeRoleRequest rr = GRID__V1__REVOKE_ROLE_REQUEST__INIT;
	Grid__V1__RoleGrant grant = GRID__V1__ROLE_GRANT__INIT;
	grant.role = ROLE(ZONE_LEADER);
	grant.node_code = (char *)Z5;
	rr.username = (char *)"z5";
	rr.grant = &grant;
	req.call_case = GRID__V1__REQUEST__CALL_REVOKE_ROLE;
	req.revoke_role = &rr;
	ASSERT_EQ_INT(itest_code_free(itest_call(f.admin, &req)), 0);
	uint64_t after = emit(f.db.url, "case.raised", Z5_B1, NULL);
	/* Sent to both in the same pass: once the admin has it, z5 would. */
	grid__v1__server_frame__free_unpacked(expect_event(admin, after), NULL);
	expect_nothing(z5, 300);

	stream_free(res);
	stream_free(z4);
	stream_free(ks);
	stream_free(z5);
	stream_free(admin);
	itest_teardown(&f);
}

/* Reads events from st up to seq last (or past it). */
static void drain_until(struct raw_stream *st, uint64_t last)
{
	for (;;) {
		Grid__V1__ServerFrame *e = next_event(st, 5000);
		ASSERT_MSG(e != NULL, "events stopped before seq %llu", (unsigned long long)last);
		uint64_t seq = e->event->seq;
		grid__v1__server_frame__free_unpacked(e, NULL);
		if (seq >= last)
			return;
	}
}

/* A connection whose receive window is tiny: what gridd sends piles up in
 * gridd's output buffer. */
static struct raw_stream *slow_stream(const struct itest_gridd *g)
{
	struct raw_stream *st = malloc(sizeof(*st));
	struct sockaddr_in sin = {0};
	char host[80];
	int small = 4096;
	char *colon;

	ASSERT_NOT_NULL(st);
	snprintf(host, sizeof(host), "%s", g->address);
	colon = strrchr(host, ':');
	ASSERT_NOT_NULL(colon);
	*colon = '\0';
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	ASSERT_EQ_INT(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	st->fd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT(st->fd >= 0);
	ASSERT_EQ_INT(setsockopt(st->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	ASSERT_EQ_INT(connect(st->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	st->len = 0;
	raw_stream_hello(st);
	return st;
}

#define OUTBUF 131072

TEST(a_subscriber_that_does_not_read)
{
	static const char *const extra[] = {"--set", "limits.max_outbuf=131072", NULL};
	struct itest_fix f;
	const int n = 3000;
	uint64_t first, prev, last_live, missed = 0;
	size_t got = 0;
	struct buf seqs;

	itest_setup(&f, extra, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	struct raw_stream *slow = slow_stream(&f.g);
	raw_stream_authenticate(slow, f.g.admin_token);
	ASSERT_EQ_INT(subscribe(slow, 3, Z5, NULL, LIVE, NULL), 0);
	struct raw_stream *fast = subscriber(&f.g, NULL, f.g.admin_token);
	ASSERT_EQ_INT(subscribe(fast, 3, Z5, NULL, LIVE, NULL), 0);

	/* About 1.6 MB of events, 12 times the connection's output limit, then
	 * a sentinel. A page of the reader is more than an output buffer of
	 * this size holds, so the prompt subscriber may miss some too: it
	 * only shows when gridd has fanned everything out. */
	first = emit_many(f.db.url, n, Z5_B1, NULL, 500);
	uint64_t sentinel = emit(f.db.url, "case.closed", Z5_B1, NULL);
	drain_until(fast, sentinel);

	/* gridd has fanned everything out. Reading now, as a client should:
	 * events in order; on "missed", the gap re-read with ListEvents from
	 * its seq (the seq of the last event received); nothing twice. The
	 * kernel takes some of the output each time the subscriber falls
	 * behind, so it may fall behind more than once. The connection is
	 * never dropped for its output (next_event asserts it). */
	buf_init(&seqs, 0);
	prev = last_live = first - 1;
	for (;;) {
		Grid__V1__ServerFrame *e = next_event(slow, prev >= sentinel ? 500 : 5000);
		if (!e) {
			ASSERT_MSG(prev >= sentinel, "stuck after %llu", (unsigned long long)prev);
			break;
		}
		if (strcmp(e->event->kind, "missed") == 0) {
			/* The last event this subscription got live; the
			 * client may have read further since. */
			ASSERT_EQ_UINT(e->event->seq, last_live);
			ASSERT_EQ_STR(e->event->node_code, Z5);
			missed++;
			grid__v1__server_frame__free_unpacked(e, NULL);
			uint64_t after = prev;
			for (;;) {
				Grid__V1__Reply *r = list_events(f.admin, Z5, after, 100);
				ASSERT_EQ_INT(itest_code(r), 0);
				for (size_t i = 0; i < r->list_events->n_events; i++) {
					ASSERT(r->list_events->events[i]->seq > prev);
					prev = r->list_events->events[i]->seq;
					seq_append(&seqs, prev);
				}
				after = r->list_events->last_seq;
				bool more = r->list_events->more;
				grid_client_reply_free(r);
				if (!more)
					break;
			}
			continue;
		}
		/* Live events after a re-read may repeat what the list showed. */
		last_live = e->event->seq;
		if (e->event->seq > prev) {
			ASSERT_MSG(missed > 0 || e->event->seq == prev + 1, "gap before %llu",
				   (unsigned long long)e->event->seq);
			prev = e->event->seq;
			seq_append(&seqs, prev);
			got++;
		}
		grid__v1__server_frame__free_unpacked(e, NULL);
	}
	fprintf(stderr, "# slow subscriber: %zu of %d events live, %llu \"missed\"\n", got, n,
		(unsigned long long)missed);
	ASSERT(missed >= 1);
	ASSERT(got < (size_t)n);
	char *want = expected_seqs(f.db.url, Z5, first - 1);
	ASSERT_EQ_STR(buf_cstr(&seqs), want);
	free(want);
	buf_finish(&seqs);
	/* A listing stays within a quarter of the output limit: fewer than
	 * the 100 asked for, and "more". */
	Grid__V1__Reply *r = list_events(f.admin, Z5, first - 1, 100);
	ASSERT_EQ_INT(itest_code(r), 0);
	ASSERT(r->list_events->n_events > 10 && r->list_events->n_events < 100);
	ASSERT(r->list_events->more);
	ASSERT_EQ_UINT(r->list_events->last_seq,
		       r->list_events->events[r->list_events->n_events - 1]->seq);
	grid_client_reply_free(r);

	/* The subscription goes on with new events. */
	uint64_t s = emit(f.db.url, "case.raised", Z5_B1, NULL);
	grid__v1__server_frame__free_unpacked(expect_event(slow, s), NULL);
	ASSERT(itest_gridd_alive(&f.g));

	stream_free(slow);
	stream_free(fast);
	itest_teardown(&f);
}

/* Counts the lines of path that contain needle; the last one into
 * ret_last (may be NULL, size LINE). */
#define LINE 4096
static int count_lines(const char *path, const char *needle, char *ret_last)
{
	FILE *fp = fopen(path, "r");
	char line[LINE];
	int n = 0;

	ASSERT_NOT_NULL(fp);
	while (fgets(line, sizeof(line), fp)) {
		if (strstr(line, needle)) {
			n++;
			if (ret_last)
				memcpy(ret_last, line, sizeof(line));
		}
	}
	fclose(fp);
	return n;
}

TEST(one_read_per_transaction)
{
	static const char *const extra[] = {"--log-level", "debug", NULL};
	struct itest_fix f;
	char log[512], last[LINE];
	int saved, fd, before, after;

	/* gridd's log goes to a file (it inherits stderr). */
	snprintf(log, sizeof(log), "%s/gridd-events.log", itest_tmpdir());
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	itest_setup(&f, extra, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);

	struct raw_stream *st = subscriber(&f.g, NULL, f.g.admin_token);
	ASSERT_EQ_INT(subscribe(st, 3, Z5, NULL, LIVE, NULL), 0);
	/* Past the start-up reads. */
	uint64_t s = emit(f.db.url, "case.raised", Z5_B1, NULL);
	drain_until(st, s);

	/* 2500 events in one transaction: one NOTIFY, one round of reads
	 * (pages of 1000). */
	before = count_lines(log, "event=events_fetched", NULL);
	uint64_t first = emit_many(f.db.url, 2500, Z5_B1, NULL, 10);
	drain_until(st, first + 2499);
	after = count_lines(log, "event=events_fetched", last);
	ASSERT_EQ_INT(after - before, 1);
	ASSERT_MSG(strstr(last, " reads=3 ") && strstr(last, " rows=2500 "), "%s", last);

	/* 200 transactions in a burst: the notifications that come during a
	 * round are folded into one more round. */
	before = after;
	char *v = itest_sql(
	    f.db.url, "DO $$ BEGIN FOR i IN 1..200 LOOP PERFORM event_emit('case.warning', "
		      "(SELECT id FROM grid_node WHERE code = '" Z5_B1 "'), NULL, NULL, NULL, "
		      "'tester', '', NULL); COMMIT; END LOOP; END $$");
	free(v);
	s = emit(f.db.url, "case.raised", Z5_B1, NULL);
	drain_until(st, s);
	after = count_lines(log, "event=events_fetched", NULL);
	fprintf(stderr, "# 201 transactions read in %d rounds\n", after - before);
	ASSERT(after - before >= 1);
	ASSERT(after - before < 100);

	stream_free(st);
	itest_teardown(&f);
}

/* --- gridctl watch ---------------------------------------------------------- */

struct watcher {
	pid_t pid;
	int out; /* its stdout */
	int err; /* its stderr */
	char outbuf[4 << 20];
	size_t outlen;
	char errbuf[8192];
	size_t errlen;
};

static void watch_start(struct watcher *w, const struct itest_gridd *g, const char *const *args)
{
	const char *gridctl = getenv("GRIDCTL");
	int out[2], err[2];
	const char *argv[32];
	int n = 0;
	char token[200];

	ASSERT_MSG(gridctl != NULL, "GRIDCTL is not set");
	ASSERT(pipe(out) == 0 && pipe(err) == 0);
	argv[n++] = "gridctl";
	argv[n++] = "--server";
	argv[n++] = g->address;
	for (; *args && n < 30; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	snprintf(token, sizeof(token), "GRID_TOKEN=%s", g->admin_token);
	memset(w, 0, sizeof(*w));
	fflush(stdout);
	fflush(stderr);
	w->pid = fork();
	ASSERT(w->pid >= 0);
	if (w->pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		putenv(token);
		unsetenv("GRID_API_KEY");
		unsetenv("GRID_TOKEN_FILE");
		execv(gridctl, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	w->out = out[0];
	w->err = err[0];
}

/* Reads what the watcher writes until `want` appears in its stdout (err
 * false) or stderr, or timeout_ms pass. */
static bool watch_wait(struct watcher *w, bool err, const char *want, int timeout_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (strstr(err ? w->errbuf : w->outbuf, want))
			return true;
		uint64_t now = itest_now_ms();
		if (now >= deadline)
			return false;
		struct pollfd p[2] = {{w->out, POLLIN, 0}, {w->err, POLLIN, 0}};
		if (poll(p, 2, (int)(deadline - now)) <= 0)
			continue;
		if (p[0].revents) {
			ssize_t k =
			    read(w->out, w->outbuf + w->outlen, sizeof(w->outbuf) - 1 - w->outlen);
			if (k > 0)
				w->outbuf[w->outlen += (size_t)k] = '\0';
			else
				p[0].fd = -1;
		}
		if (p[1].revents) {
			ssize_t k =
			    read(w->err, w->errbuf + w->errlen, sizeof(w->errbuf) - 1 - w->errlen);
			if (k > 0)
				w->errbuf[w->errlen += (size_t)k] = '\0';
		}
	}
}

/* Waits for the watcher to exit; its exit code (-1: killed). */
static int watch_end(struct watcher *w)
{
	int st;

	ASSERT_EQ_INT(waitpid(w->pid, &st, 0), w->pid);
	close(w->out);
	close(w->err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(gridctl_watch)
{
	struct itest_fix f;
	struct itest_gridd g2;
	static struct watcher w, wj, wd;
	char want[128];

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_gridd_start(&g2, f.db.url, NULL);
	emit(f.db.url, "case.raised", Z5_B2, NULL); /* seq 1: --since 0 means "new only" */
	uint64_t old = emit(f.db.url, "case.warning", Z5_B2, NULL);

	static const char *const args[] = {"watch", Z5, NULL};
	watch_start(&w, &f.g, args);
	ASSERT_MSG(watch_wait(&w, true, "watching", 10000), "gridctl watch said: %s", w.errbuf);

	/* A case raised through the other gridd: one line, within a second. */
	struct grid_client *c2 = itest_connect(&g2);
	uint64_t id = raise_case(c2, Z5_B1, "电梯停运");
	snprintf(want, sizeof(want), "case.raised %s (1栋) case %llu by %s", Z5_B1,
		 (unsigned long long)id, ITEST_ADMIN);
	ASSERT_MSG(watch_wait(&w, false, want, 1000), "watch printed: %s", w.outbuf);
	ASSERT_EQ_INT(itest_count_lines(w.outbuf), 1);
	ASSERT(strstr(w.outbuf, "warning") == NULL); /* from before it started */
	kill(w.pid, SIGINT);
	ASSERT_EQ_INT(watch_end(&w), 0);

	/* --json and --since: the old event first, replayed, as JSON lines;
	 * --kind narrows to warnings. */
	char since[32];
	snprintf(since, sizeof(since), "%llu", (unsigned long long)(old - 1));
	const char *const jargs[] = {"--json",	     "watch",	Z5,    "--kind",
				     "case.warning", "--since", since, NULL};
	watch_start(&wj, &f.g, jargs);
	snprintf(want, sizeof(want), "{\"seq\":%llu,", (unsigned long long)old);
	ASSERT_MSG(watch_wait(&wj, false, want, 5000), "watch --json printed: %s (%s)", wj.outbuf,
		   wj.errbuf);
	ASSERT(strstr(wj.outbuf, "\"kind\":\"case.warning\"") != NULL);
	ASSERT(strstr(wj.outbuf, "\"node_code\":\"" Z5_B2 "\"") != NULL);
	ASSERT(strstr(wj.outbuf, "\"case_id\":7") != NULL);
	ASSERT(strstr(wj.outbuf, "case.raised") == NULL);
	kill(wj.pid, SIGINT);
	ASSERT_EQ_INT(watch_end(&wj), 0);
	/* --since 0: from the first event kept. */
	const char *const zargs[] = {"--json",	     "watch",	Z5,  "--kind",
				     "case.warning", "--since", "0", NULL};
	watch_start(&wj, &f.g, zargs);
	ASSERT_MSG(watch_wait(&wj, false, want, 5000), "watch --since 0 printed: %s (%s)",
		   wj.outbuf, wj.errbuf);
	kill(wj.pid, SIGINT);
	ASSERT_EQ_INT(watch_end(&wj), 0);

	/* The server goes away: said on stderr, exit 5. */
	const char *const dargs[] = {"watch", "-", NULL};
	watch_start(&wd, &g2, dargs);
	ASSERT_MSG(watch_wait(&wd, true, "watching the whole grid", 10000), "%s", wd.errbuf);
	grid_client_destroy(c2);
	ASSERT_EQ_INT(itest_gridd_stop(&g2), 0);
	ASSERT_MSG(watch_wait(&wd, true, "connection closed by", 5000), "%s", wd.errbuf);
	ASSERT_EQ_INT(watch_end(&wd), 5);

	/* Usage errors before connecting. */
	char *out = NULL, *err = NULL;
	const char *const bad[] = {"watch", NULL};
	ASSERT_EQ_INT(itest_gridctl(&f.g, NULL, &out, &err, bad), 2);
	free(out);
	free(err);
	const char *const denied[] = {"watch", "WH-NOPE", NULL};
	ASSERT_EQ_INT(itest_gridctl(&f.g, NULL, &out, &err, denied), 3);
	free(out);
	free(err);

	itest_teardown(&f);
}

TEST(gridctl_watch_reads_back_what_it_missed)
{
	/* Outputs this small make any burst too much: the 3000 events of one
	 * transaction come in pages larger than the events' share. */
	static const char *const extra[] = {"--set", "limits.max_outbuf=262144", NULL};
	static struct watcher w;
	struct itest_fix f;
	struct buf got;
	const int n = 3000;

	itest_setup(&f, extra, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	static const char *const args[] = {"watch", Z5, NULL};
	watch_start(&w, &f.g, args);
	ASSERT_MSG(watch_wait(&w, true, "watching", 10000), "gridctl watch said: %s", w.errbuf);
	uint64_t first = emit_many(f.db.url, n, Z5_B1, Z4_B1, 300);
	uint64_t last = emit(f.db.url, "case.closed", Z5_B2, NULL);
	char want_last[64];
	snprintf(want_last, sizeof(want_last), "#%llu case.closed", (unsigned long long)last);
	ASSERT_MSG(watch_wait(&w, false, want_last, 20000), "watch stopped at: %.300s",
		   w.outlen > 300 ? w.outbuf + w.outlen - 300 : w.outbuf);
	ASSERT_MSG(strstr(w.errbuf, "fell behind") != NULL, "it never fell behind: %s", w.errbuf);
	kill(w.pid, SIGINT);
	ASSERT_EQ_INT(watch_end(&w), 0);

	/* One line per event of the zone, in order, none missing, none twice. */
	buf_init(&got, 0);
	for (const char *p = w.outbuf; (p = strstr(p, " #")) != NULL; p += 2)
		seq_append(&got, strtoull(p + 2, NULL, 10));
	char *want = expected_seqs(f.db.url, Z5, first - 1);
	ASSERT_EQ_STR(buf_cstr(&got), want);
	ASSERT_EQ_INT(itest_count_lines(w.outbuf), n / 2 + 1);
	free(want);
	buf_finish(&got);
	itest_teardown(&f);
}
