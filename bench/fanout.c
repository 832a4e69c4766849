/* bench/fanout: how late live events reach many subscribers (issue 5: with
 * 1,000 subscribed connections and 1,000 events/s, commit-to-subscriber
 * p99 at most 50 ms).
 *
 * It makes a database of its own on the cluster given by --pg and starts
 * gridd from --build on it with the sample grid. One login (Argon2 is
 * slow); every connection then authenticates with that session token. N
 * subscriber connections each Subscribe to the case.raised events of one
 * node: by default the zones of the sample grid, in turn (a community
 * terminal watching its zone), or all the same node with --node. Events
 * come at --rate per second, paced every 10 ms, over the buildings, and
 * take gridd's real path: commit, NOTIFY, gridd's reader, fan-out to the
 * subscriptions. By default (--source sql) a thread of this program writes
 * them with event_emit(), as the case and task modules do, a transaction
 * every 10 ms: the event's time (the start of that short transaction) is
 * then within a millisecond or so of its commit. With --source raise, 8
 * connections raise cases through gridd (RaiseCase) instead, and the
 * write's own time (the raise batch) counts in the figure too.
 *
 * For every event a subscriber receives during the measured seconds
 * (after a warm-up), the latency is the wall clock at receipt minus the
 * event's at_ms, the time of its transaction (at or before its commit; so
 * the figure is an upper bound of commit-to-subscriber). Everything runs
 * on this machine, one clock. The subscribers share one libuv loop here:
 * when this process runs out of CPU, its own queueing counts in the figure
 * too. Prints one line:
 *
 *   fanout_subscribers=1000 fanout_events_per_s=... fanout_deliveries_per_s=...
 *   fanout_p50_ms=... fanout_p99_ms=... fanout_max_ms=... fanout_missed=...
 *   fanout_gridd_cpu_pct=... fanout_self_cpu_pct=... fanout_raise_p50_ms=...
 *   fanout_raise_p99_ms=... fanout_after_ack_p50_ms=...
 *   fanout_after_ack_p99_ms=...
 *
 * fanout_after_ack_p50_ms/p99 measure each event from its write's
 * acknowledgement instead: the COMMIT returning to the writer thread
 * (--source sql), or the RaiseCase reply, sent after the commit (--source
 * raise). That is a lower bound of commit-to-subscriber, as fanout_p99_ms
 * is an upper one (negative when the event came first). The raise
 * latencies (RaiseCase sent to its reply; 0 with --source sql) tell how
 * much of an event's delay is the write's own.
 *
 * Run by hand or by the benchmark script; nothing in the test suite.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <uv.h>

#include "bench/bench_util.h"
#include "tests/harness/itest.h"

#define GENERATORS 8
#define TICK_MS 10

static const char usage[] =
    "usage: fanout --pg CONNINFO --build DIR [--subscribers N] [--rate EVENTS_PER_S]\n"
    "              [--seconds S] [--warmup S] [--node CODE] [--source sql|raise]\n"
    "\n"
    "Times live events from commit to N subscribers of gridd.\n"
    "  --pg CONNINFO     a superuser on a running PostgreSQL; a database is made\n"
    "                    there for the run and dropped after it\n"
    "  --build DIR       a meson build directory with server/gridd\n"
    "  --subscribers N   subscribed connections (default 1000)\n"
    "  --rate R          cases raised, hence events, per second (default 1000)\n"
    "  --seconds S       measured seconds (default 10), after --warmup S (default 2)\n"
    "  --node CODE       every subscriber watches CODE (default: the zones in turn)\n"
    "  --source sql      events written with event_emit() in one transaction every\n"
    "                    10 ms, on a connection of this program (the default)\n"
    "  --source raise    cases raised through gridd (RaiseCase) from 8 connections\n"
    "Prints: fanout_subscribers=N fanout_events_per_s=R fanout_deliveries_per_s=D\n"
    "        fanout_p50_ms=X fanout_p99_ms=Y fanout_max_ms=Z fanout_missed=M\n"
    "        fanout_gridd_cpu_pct=P fanout_self_cpu_pct=Q (one line; the CPU use of\n"
    "        gridd and of this program while measuring) fanout_raise_p50_ms=\n"
    "        fanout_raise_p99_ms= (RaiseCase sent to reply) fanout_after_ack_p50_ms=\n"
    "        fanout_after_ack_p99_ms= (event received minus its write's commit or reply)\n"
    "Example: bench/fanout --pg \"$(tests/harness/pgcluster url var/pg)\" --build build\n";

struct sub {
	struct grid_client *c;
	const char *node;
	struct bench *b;
};

struct bench {
	uv_loop_t loop;
	const char *address;
	const char *token;
	long nsubs, rate, seconds, warmup;
	struct sub *subs;
	long connected, subscribed, failed;
	struct grid_client *gen[GENERATORS];
	long gen_ready;
	char **zones, **buildings;
	size_t nzones, nbuildings;
	uv_timer_t tick;
	uint64_t start_us; /* when raising began */
	long raised, raise_ok, raise_failed;
	long raised_before, raised_during; /* the measured window's raises */
	/* --source sql: a thread of its own writes the events. */
	bool sql_source;
	const char *db_url;
	char *building_ids; /* "{1,2,...}" */
	pthread_t writer;
	atomic_long written;
	atomic_bool stop_writer;
	bool measuring, finished;
	int gridd_pid;
	double gridd_cpu0, gridd_cpu; /* CPU seconds gridd used while measuring */
	double self_cpu0, self_cpu;   /* and this process */
	/* Latencies of the events received while measuring, in ms. */
	double *lat;
	size_t nlat, caplat;
	long missed;
	/* Each event received while measuring, for the second figure. */
	struct got {
		uint64_t case_id;
		int64_t at_us; /* wall clock */
	} * got;
	/* When the reply of each case (by id) came; 0 before. */
	int64_t *replied_at;
	size_t nreplied_at;
	/* Latencies of the raises answered while measuring (send to reply). */
	double *rlat;
	size_t nrlat, caprlat;
};

static char **sql_column(const char *url, const char *sql, size_t *ret_n)
{
	PGconn *pg = PQconnectdb(url);
	PGresult *res;
	char **v;
	int n;

	if (PQstatus(pg) != CONNECTION_OK)
		bench_die("cannot connect: %s", PQerrorMessage(pg));
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		bench_die("SQL failed: %s: %s", sql, PQresultErrorMessage(res));
	n = PQntuples(res);
	v = calloc((size_t)n + 1, sizeof(*v));
	if (!v)
		bench_die("out of memory");
	for (int i = 0; i < n; i++)
		v[i] = strdup(PQgetvalue(res, i, 0));
	PQclear(res);
	PQfinish(pg);
	*ret_n = (size_t)n;
	return v;
}

static void on_event(struct grid_client *c, const Grid__V1__Event *e, void *data)
{
	struct bench *b = data;

	if (strcmp(e->kind, "missed") == 0) {
		b->missed++;
		return;
	}
	if (!b->measuring)
		return;
	if (b->nlat == b->caplat) {
		b->caplat = b->caplat ? b->caplat * 2 : 1 << 20;
		b->lat = realloc(b->lat, b->caplat * sizeof(*b->lat));
		b->got = realloc(b->got, b->caplat * sizeof(*b->got));
		if (!b->lat || !b->got)
			bench_die("out of memory");
	}
	/* The case's id, or with --source sql the event's number. */
	const char *num = strrchr(e->summary, '#');
	b->got[b->nlat].case_id =
	    b->sql_source ? (num ? strtoull(num + 1, NULL, 10) : UINT64_MAX) : e->case_id;
	b->got[b->nlat].at_us = bench_wall_us();
	b->lat[b->nlat] = (double)b->got[b->nlat].at_us / 1000.0 - (double)e->at_ms;
	b->nlat++;
}

static void on_subscribed(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct sub *s = data;

	if (status < 0 || r->status->code != 0)
		bench_die("Subscribe %s: %s", s->node,
			  status < 0 ? grid_client_error(c) : r->status->message);
	s->b->subscribed++;
}

static void on_sub_auth(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct sub *s = data;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__SubscribeRequest m = GRID__V1__SUBSCRIBE_REQUEST__INIT;
	char *kinds[] = {(char *)"case.raised"};

	if (status < 0 || r->status->code != 0)
		bench_die("Authenticate: %s",
			  status < 0 ? grid_client_error(c) : r->status->message);
	m.node_code = (char *)s->node;
	m.kinds = kinds;
	m.n_kinds = 1;
	req.call_case = GRID__V1__REQUEST__CALL_SUBSCRIBE;
	req.subscribe = &m;
	grid_client_set_event_cb(c, on_event, s->b);
	if (grid_client_call_async(c, &req, on_subscribed, s) < 0)
		bench_die("Subscribe: %s", grid_client_error(c));
}

static void authenticate(struct bench *b, struct grid_client *c, grid_client_reply_cb cb,
			 void *data)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest m = GRID__V1__AUTHENTICATE_REQUEST__INIT;

	m.token = (char *)b->token;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &m;
	if (grid_client_call_async(c, &req, cb, data) < 0)
		bench_die("Authenticate: %s", grid_client_error(c));
}

static void on_sub_connected(struct grid_client *c, int status, void *data)
{
	struct sub *s = data;

	if (status < 0)
		bench_die("connect: %s", grid_client_error(c));
	s->b->connected++;
	authenticate(s->b, c, on_sub_auth, s);
}

static void on_gen_auth(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct bench *b = data;

	if (status < 0 || r->status->code != 0)
		bench_die("Authenticate: %s",
			  status < 0 ? grid_client_error(c) : r->status->message);
	b->gen_ready++;
}

static void on_gen_connected(struct grid_client *c, int status, void *data)
{
	if (status < 0)
		bench_die("connect: %s", grid_client_error(c));
	authenticate(data, c, on_gen_auth, data);
}

static struct bench *the_bench; /* for the raises' callbacks, whose data is their send time */

static void on_raised(struct grid_client *c, int status, const Grid__V1__Reply *r, void *data)
{
	struct bench *b = the_bench;
	uint64_t sent = (uint64_t)(uintptr_t)data;

	if (b->measuring && b->nrlat < b->caprlat)
		b->rlat[b->nrlat++] = (double)(bench_mono_us() - sent) / 1000.0;

	if (status < 0 || r->status->code != 0) {
		b->raise_failed++;
		return;
	}
	b->raise_ok++;
	/* The reply leaves gridd after the commit. */
	if (r->raise_case && r->raise_case->id < b->nreplied_at)
		b->replied_at[r->raise_case->id] = bench_wall_us();
}

static void raise_one(struct bench *b)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RaiseCaseRequest m = GRID__V1__RAISE_CASE_REQUEST__INIT;

	m.node_code = b->buildings[(size_t)b->raised % b->nbuildings];
	m.title = (char *)"楼道灯坏了";
	m.category = (char *)"facilities";
	m.channel = (char *)"visit";
	req.call_case = GRID__V1__REQUEST__CALL_RAISE_CASE;
	req.raise_case = &m;
	if (grid_client_call_async(b->gen[b->raised % GENERATORS], &req, on_raised,
				   (void *)(uintptr_t)bench_mono_us()) < 0)
		bench_die("RaiseCase: %s", grid_client_error(b->gen[b->raised % GENERATORS]));
	b->raised++;
}

/* --source sql: every TICK_MS, one transaction with the events due by
 * then, written by event_emit() as the case and task modules write theirs
 * (so they take gridd's real path: NOTIFY, the reader, the fan-out), each
 * at a building in turn. On a thread of its own with its own connection,
 * so that its round trips do not hold up the subscribers' loop. */
static void *writer_main(void *data)
{
	struct bench *b = data;
	PGconn *pg = PQconnectdb(b->db_url);
	const char *sql = "SELECT count(event_emit('case.raised', n, NULL, NULL, NULL, 'fanout', "
			  "'楼道灯坏了 #' || i, NULL)) FROM (SELECT i, ($1::bigint[])[1 + (i % "
			  "cardinality($1::bigint[]))] AS n FROM generate_series($2::bigint, "
			  "$3::bigint) i) x";
	char from[32], to[32];

	if (PQstatus(pg) != CONNECTION_OK)
		bench_die("cannot connect: %s", PQerrorMessage(pg));
	while (!atomic_load(&b->stop_writer)) {
		uint64_t elapsed = bench_mono_us() - b->start_us;
		long due = (long)((double)elapsed / 1e6 * (double)b->rate);
		long have = atomic_load(&b->written);

		if (due > have) {
			const char *params[3] = {b->building_ids, from, to};
			PGresult *res;

			snprintf(from, sizeof(from), "%ld", have);
			snprintf(to, sizeof(to), "%ld", due - 1);
			res = PQexecParams(pg, sql, 3, NULL, params, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
				bench_die("event_emit: %s", PQresultErrorMessage(res));
			PQclear(res);
			/* Committed: the acknowledgement of these events. */
			int64_t now = bench_wall_us();
			for (long i = have; i < due && (size_t)i < b->nreplied_at; i++)
				b->replied_at[i] = now;
			atomic_store(&b->written, due);
		}
		usleep(TICK_MS * 1000);
	}
	PQfinish(pg);
	return NULL;
}

/* Keeps the raises at the rate: as many as are due by now. */
static void on_tick(uv_timer_t *t)
{
	struct bench *b = t->data;
	uint64_t now = bench_mono_us(), elapsed = now - b->start_us;
	long due = (long)((double)elapsed / 1e6 * (double)b->rate);

	if (!b->measuring && !b->finished && elapsed >= (uint64_t)b->warmup * 1000000) {
		b->measuring = true;
		b->raised_before = b->raised;
		b->gridd_cpu0 = bench_proc_cpu(b->gridd_pid);
		b->self_cpu0 = bench_proc_cpu(getpid());
	}
	if (elapsed >= (uint64_t)(b->warmup + b->seconds) * 1000000) {
		if (b->measuring) {
			b->measuring = false;
			b->finished = true;
			b->gridd_cpu = bench_proc_cpu(b->gridd_pid) - b->gridd_cpu0;
			b->self_cpu = bench_proc_cpu(getpid()) - b->self_cpu0;
			b->raised_during = b->raised - b->raised_before;
		}
		/* A second for the last events to arrive, then stop. */
		if (elapsed >= (uint64_t)(b->warmup + b->seconds + 1) * 1000000)
			uv_stop(&b->loop);
		return;
	}
	if (b->sql_source)
		b->raised = atomic_load(&b->written);
	else
		while (b->raised < due)
			raise_one(b);
}

static void run_until(struct bench *b, long *counter, long want, const char *what)
{
	uint64_t deadline = bench_mono_us() + 120 * 1000000ULL;

	while (*counter < want) {
		uv_run(&b->loop, UV_RUN_ONCE);
		if (bench_mono_us() > deadline)
			bench_die("%s: %ld of %ld after 120 s", what, *counter, want);
	}
}

static void raise_nofile(long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < need + 64)
		bench_die("%ld connections need more open files than the limit (%lu)", need,
			  (unsigned long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
	/* gridd allows 256 connections per address by default. */
	static const char *const extra[] = {"--set", "limits.max_connections_per_address=100000",
					    NULL};
	struct bench b = {
	    .nsubs = 1000, .rate = 1000, .seconds = 10, .warmup = 2, .sql_source = true};
	const char *node = NULL;
	struct itest_db db;
	struct itest_gridd g;
	struct grid_client *admin;
	struct grid_client_config cfg = {.client_name = "fanout", .call_timeout_ms = 60000};

	bench_init(&argc, argv, usage);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--subscribers") == 0 && i + 1 < argc)
			b.nsubs = bench_parse_long(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
			b.rate = bench_parse_long(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			b.seconds = bench_parse_long(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
			b.warmup = bench_parse_long(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--node") == 0 && i + 1 < argc)
			node = argv[++i];
		else if (strcmp(argv[i], "--source") == 0 && i + 1 < argc &&
			 (strcmp(argv[i + 1], "sql") == 0 || strcmp(argv[i + 1], "raise") == 0))
			b.sql_source = strcmp(argv[++i], "sql") == 0;
		else {
			fprintf(stderr, "fanout: unknown argument %s\n%s", argv[i], usage);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(b.nsubs + GENERATORS);

	itest_db_create(&db);
	itest_gridd_start(&g, db.url, extra);
	admin = itest_connect(&g);
	itest_import_file(admin, itest_sample_csv());
	grid_client_destroy(admin);
	b.address = g.address;
	b.gridd_pid = g.pid;
	b.token = g.admin_token;
	b.zones = sql_column(db.url,
			     "SELECT code FROM grid_node WHERE level = 3 AND retired_at IS NULL "
			     "ORDER BY code",
			     &b.nzones);
	b.buildings = sql_column(db.url,
				 "SELECT code FROM grid_node WHERE level = (SELECT max(level) "
				 "FROM grid_node) ORDER BY code",
				 &b.nbuildings);
	if (!b.nzones || !b.nbuildings)
		bench_die("the sample grid has no zones or buildings");

	uv_loop_init(&b.loop);
	the_bench = &b;
	b.caprlat = (size_t)(b.rate * (b.seconds + 1));
	b.rlat = calloc(b.caprlat, sizeof(*b.rlat));
	/* The database is new: case ids count from 1. */
	b.nreplied_at = (size_t)(b.rate * (b.warmup + b.seconds + 2) + 1);
	b.replied_at = calloc(b.nreplied_at, sizeof(*b.replied_at));
	if (!b.rlat || !b.replied_at)
		bench_die("out of memory");
	b.subs = calloc((size_t)b.nsubs, sizeof(*b.subs));
	if (!b.subs)
		bench_die("out of memory");
	for (long i = 0; i < b.nsubs; i++) {
		struct sub *s = &b.subs[i];

		s->b = &b;
		s->node = node ? node : b.zones[(size_t)i % b.nzones];
		s->c = grid_client_create(&b.loop, &cfg);
		if (!s->c || grid_client_connect_async(s->c, b.address, on_sub_connected, s) < 0)
			bench_die("connect: %s", s->c ? grid_client_error(s->c) : "out of memory");
		/* Not all at once: the listen backlog is finite. */
		if (i % 100 == 99)
			run_until(&b, &b.connected, i + 1, "connected");
	}
	run_until(&b, &b.subscribed, b.nsubs, "subscribed");
	for (int i = 0; i < GENERATORS && !b.sql_source; i++) {
		b.gen[i] = grid_client_create(&b.loop, &cfg);
		if (!b.gen[i] ||
		    grid_client_connect_async(b.gen[i], b.address, on_gen_connected, &b) < 0)
			bench_die("connect: out of memory");
	}
	if (!b.sql_source)
		run_until(&b, &b.gen_ready, GENERATORS, "generators");
	fprintf(stderr, "fanout: %ld subscribers on %s, %ld events/s %s\n", b.nsubs,
		node ? node : "the zones in turn", b.rate,
		b.sql_source ? "written with event_emit" : "from RaiseCase");

	uv_timer_init(&b.loop, &b.tick);
	b.tick.data = &b;
	b.start_us = bench_mono_us();
	if (b.sql_source) {
		size_t n;
		char **ids =
		    sql_column(db.url,
			       "SELECT '{' || string_agg(id::text, ',' ORDER BY code) || '}' "
			       "FROM grid_node WHERE level = (SELECT max(level) FROM grid_node)",
			       &n);
		b.db_url = db.url;
		b.building_ids = ids[0];
		free(ids);
		if (pthread_create(&b.writer, NULL, writer_main, &b) != 0)
			bench_die("cannot start the writer thread");
	}
	uv_timer_start(&b.tick, on_tick, TICK_MS, TICK_MS);
	uv_run(&b.loop, UV_RUN_DEFAULT);
	if (b.sql_source) {
		atomic_store(&b.stop_writer, true);
		pthread_join(b.writer, NULL);
		free(b.building_ids);
	}

	/* From the reply instead: the reply comes after the commit, so this
	 * is at most the commit-to-subscriber delay (the other at least). */
	double *rep = calloc(b.nlat ? b.nlat : 1, sizeof(*rep));
	size_t nrep = 0;
	if (!rep)
		bench_die("out of memory");
	for (size_t i = 0; i < b.nlat; i++) {
		uint64_t id = b.got[i].case_id;
		if (id < b.nreplied_at && b.replied_at[id])
			rep[nrep++] = (double)(b.got[i].at_us - b.replied_at[id]) / 1000.0;
	}
	double rep_p50 = bench_percentile(rep, nrep, 50), rep_p99 = bench_percentile(rep, nrep, 99);
	free(rep);
	long events = b.raised_during;
	double p50 = bench_percentile(b.lat, b.nlat, 50);
	double p99 = bench_percentile(b.lat, b.nlat, 99);
	double max = b.nlat ? b.lat[b.nlat - 1] : 0;
	printf("fanout_subscribers=%ld fanout_events_per_s=%.0f fanout_deliveries_per_s=%.0f "
	       "fanout_p50_ms=%.1f fanout_p99_ms=%.1f fanout_max_ms=%.1f fanout_missed=%ld "
	       "fanout_gridd_cpu_pct=%.0f fanout_self_cpu_pct=%.0f fanout_raise_p50_ms=%.1f "
	       "fanout_raise_p99_ms=%.1f fanout_after_ack_p50_ms=%.1f "
	       "fanout_after_ack_p99_ms=%.1f\n",
	       b.nsubs, (double)events / (double)b.seconds, (double)b.nlat / (double)b.seconds, p50,
	       p99, max, b.missed, 100.0 * b.gridd_cpu / (double)b.seconds,
	       100.0 * b.self_cpu / (double)b.seconds, bench_percentile(b.rlat, b.nrlat, 50),
	       bench_percentile(b.rlat, b.nrlat, 99), rep_p50, rep_p99);
	fflush(stdout);
	if (b.raise_failed)
		fprintf(stderr, "fanout: %ld raises failed\n", b.raise_failed);

	uv_close((uv_handle_t *)&b.tick, NULL);
	for (long i = 0; i < b.nsubs; i++)
		grid_client_destroy(b.subs[i].c);
	for (int i = 0; i < GENERATORS; i++)
		grid_client_destroy(b.gen[i]);
	uv_run(&b.loop, UV_RUN_DEFAULT);
	uv_loop_close(&b.loop);
	int st = itest_gridd_stop(&g);
	if (st != 0)
		bench_die("gridd did not stop cleanly (exit status %d)", st);
	itest_db_drop(&db);
	free(b.lat);
	free(b.rlat);
	free(b.got);
	free(b.replied_at);
	free(b.subs);
	return 0;
}
