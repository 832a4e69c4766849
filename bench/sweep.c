/* bench/sweep: how long the deadline sweep takes to escalate many overdue
 * cases (issue 5: 100,000 in at most 10 s).
 *
 * It makes a database of its own on the cluster given by --pg, starts
 * gridd-testclock from --build on it with the sample grid, and raises the
 * cases at the buildings: real cases with their deadlines and case.raised
 * events, as case_raise() (migration 0005, what RaiseCase runs) makes them
 * (one transaction, which is not measured). Then it moves gridd's clock 30 days on (AdvanceClock):
 * every case is past its time to accept at once. The figure is the time from that call until every
 * case has moved one level up, polled in the database every 20 ms; it then checks that each moved
 * exactly once, to its parent, with one case.timeout_escalated event each. Prints one line:
 *
 *   sweep_cases=100000 sweep_seconds=... sweep_cases_per_s=...
 *   sweep_db_cpu_s=... sweep_gridd_cpu_s=...
 *
 * (on one line), the last two being the CPU time PostgreSQL's sessions of
 * gridd and gridd itself used meanwhile (-1 when PostgreSQL's processes
 * are not visible in /proc), which other work on a shared machine skews
 * less than the wall clock.
 *
 * Run by hand or by the benchmark script; nothing in the test suite.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "tests/harness/itest.h"

#define DAY_MS (24 * 3600 * 1000LL)

static const char usage[] =
    "usage: sweep --pg CONNINFO --build DIR [--cases N] [--timeout SECONDS] [--keep]\n"
    "\n"
    "Times gridd's deadline sweep over N overdue cases (default 100000).\n"
    "  --pg CONNINFO   a superuser on a running PostgreSQL; a database is made\n"
    "                  there for the run and dropped after it (--keep keeps it)\n"
    "  --build DIR     a meson build directory with server/gridd-testclock\n"
    "  --timeout S     give up after S seconds of sweeping (default 300)\n"
    "Prints: sweep_cases=N sweep_seconds=S sweep_cases_per_s=R sweep_db_cpu_s=C\n"
    "        sweep_gridd_cpu_s=C (one line)\n"
    "Example: bench/sweep --pg \"$(tests/harness/pgcluster url var/pg)\" --build build\n";

static long query_long(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	long v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		bench_die("SQL failed: %s: %s", sql, PQresultErrorMessage(res));
	v = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static void exec_ok(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		bench_die("SQL failed: %s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
}

/* CPU seconds (user + system) the processes of this database's other
 * sessions (gridd's pool) have used so far; -1 when /proc does not show
 * them (PostgreSQL on another machine). */
static double backends_cpu(PGconn *pg)
{
	PGresult *res = PQexec(pg, "SELECT pid FROM pg_stat_activity WHERE "
				   "datname = current_database() AND pid <> pg_backend_pid()");
	double total = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		bench_die("pg_stat_activity: %s", PQresultErrorMessage(res));
	for (int i = 0; i < PQntuples(res); i++) {
		double cpu = bench_proc_cpu(atoi(PQgetvalue(res, i, 0)));
		if (cpu < 0) {
			total = -1;
			break;
		}
		total += cpu;
	}
	PQclear(res);
	return total;
}

static void advance_clock(struct grid_client *c, int64_t ms)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AdvanceClockRequest m = GRID__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Grid__V1__Reply *r;

	m.advance_ms = ms;
	req.call_case = GRID__V1__REQUEST__CALL_ADVANCE_CLOCK;
	req.advance_clock = &m;
	r = itest_call(c, &req);
	if (itest_code(r) != 0)
		bench_die("AdvanceClock: %s", r->status->message);
	grid_client_reply_free(r);
}

int main(int argc, char **argv)
{
	static const char *const extra[] = {"--itest-testclock", NULL};
	long ncases = 100000, timeout_s = 300;
	bool keep = false;
	struct itest_db db;
	struct itest_gridd g;
	struct grid_client *admin;
	char sql[1024];
	PGconn *pg;
	PGresult *res;

	bench_init(&argc, argv, usage);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cases") == 0 && i + 1 < argc)
			ncases = bench_parse_long("--cases", argv[++i]);
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout_s = bench_parse_long("--timeout", argv[++i]);
		else if (strcmp(argv[i], "--keep") == 0)
			keep = true;
		else {
			fprintf(stderr, "sweep: unknown argument %s\n%s", argv[i], usage);
			return 2;
		}
	}

	itest_db_create(&db);
	itest_gridd_start(&g, db.url, extra);
	admin = itest_connect(&g);
	itest_import_file(admin, itest_sample_csv());
	pg = PQconnectdb(db.url);
	if (PQstatus(pg) != CONNECTION_OK)
		bench_die("cannot connect to %s: %s", db.url, PQerrorMessage(pg));

	/* The cases, spread over every building (the lowest level, whose
	 * parents are courtyards), raised now by gridd's clock (offset 0
	 * so far: the wall clock). case_raise for one case per building;
	 * the others are copies of those with their own ids, titles and
	 * case.raised events: the rows case_raise would have written in the
	 * same transaction, about a hundred times faster. */
	uint64_t t = bench_mono_us();
	exec_ok(pg, "BEGIN");
	snprintf(sql, sizeof(sql),
		 "CREATE TEMP TABLE tpl ON COMMIT DROP AS "
		 "SELECT c.id, row_number() OVER (ORDER BY c.id) - 1 AS k FROM "
		 "(SELECT id FROM grid_node WHERE parent_id IS NOT NULL "
		 "AND level = (SELECT max(level) FROM grid_node)) b, "
		 "LATERAL case_raise(b.id, '超时测试', '', 'facilities', '', '', '', 0, "
		 "'other', 'bench', NULL) c");
	exec_ok(pg, sql);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO grid_case OVERRIDING SYSTEM VALUE SELECT r.* "
		 "FROM generate_series((SELECT count(*) FROM tpl), %ld) g "
		 "JOIN tpl ON tpl.k = g %% (SELECT count(*) FROM tpl) "
		 "JOIN grid_case c ON c.id = tpl.id, "
		 "LATERAL jsonb_populate_record(c, jsonb_build_object('id', "
		 "nextval(pg_get_serial_sequence('grid_case', 'id')), "
		 "'title', '超时测试 ' || g)) r",
		 ncases - 1);
	exec_ok(pg, sql);
	exec_ok(pg, "SELECT event_lock()");
	exec_ok(pg, "INSERT INTO grid_event (seq, at, kind, node_id, case_id, actor, summary) "
		    "SELECT nextval('grid_event_seq'), received_at, 'case.raised', node_id, id, "
		    "reporter, title FROM grid_case WHERE id NOT IN (SELECT id FROM tpl) "
		    "ORDER BY id");
	exec_ok(pg, "COMMIT");
	if (query_long(pg, "SELECT count(*) FROM grid_case") != ncases)
		bench_die("raising the cases made fewer than %ld", ncases);
	res = PQexec(pg, "VACUUM ANALYZE grid_case");
	PQclear(res);
	fprintf(stderr, "sweep: raised %ld cases in %.1f s\n", ncases,
		(double)(bench_mono_us() - t) / 1e6);
	if (query_long(pg, "SELECT count(*) FROM grid_case WHERE escalations > 0") != 0)
		bench_die("cases moved before their time");

	/* Everything is overdue from here. Each case moved adds one event;
	 * the newest seq is read from the index in microseconds, where a
	 * count over the cases would compete with the sweep for the CPU. */
	long base = query_long(pg, "SELECT coalesce(max(seq), 0) FROM grid_event");
	double db_cpu0 = backends_cpu(pg), gridd_cpu0 = bench_proc_cpu(g.pid);
	uint64_t t0 = bench_mono_us();
	advance_clock(admin, 30 * DAY_MS);
	long moved = 0;
	uint64_t t1 = t0;
	while (moved < ncases) {
		moved = query_long(pg, "SELECT coalesce(max(seq), 0) FROM grid_event") - base;
		t1 = bench_mono_us();
		if (t1 - t0 > (uint64_t)timeout_s * 1000000)
			bench_die("only %ld of %ld cases moved in %ld s", moved, ncases, timeout_s);
		if (moved < ncases)
			usleep(20000);
	}
	double secs = (double)(t1 - t0) / 1e6;
	double db_cpu = backends_cpu(pg) - db_cpu0, gridd_cpu = bench_proc_cpu(g.pid) - gridd_cpu0;

	/* A second pass of the sweep (every second) must find nothing. */
	sleep(2);
	long right = query_long(pg, "SELECT count(*) FROM grid_case c JOIN grid_node n "
				    "ON n.id = c.origin_node_id WHERE c.node_id = n.parent_id "
				    "AND c.state = 2 AND c.escalations = 1 "
				    "AND c.timeout_escalations = 1");
	long events = query_long(pg, "SELECT count(*) FROM grid_event "
				     "WHERE kind = 'case.timeout_escalated'");
	if (right != ncases || events != ncases)
		bench_die("%ld of %ld cases moved once to their parent; %ld escalation events",
			  right, ncases, events);

	/* What PostgreSQL spent on the sweep, and gridd: on a busy machine
	 * these move less than the wall time does. */
	printf("sweep_cases=%ld sweep_seconds=%.2f sweep_cases_per_s=%.0f sweep_db_cpu_s=%.2f "
	       "sweep_gridd_cpu_s=%.2f\n",
	       ncases, secs, (double)ncases / secs, db_cpu0 < 0 ? -1 : db_cpu,
	       gridd_cpu0 < 0 ? -1 : gridd_cpu);
	fflush(stdout);

	PQfinish(pg);
	grid_client_destroy(admin);
	if (itest_gridd_stop(&g) != 0)
		bench_die("gridd did not stop cleanly");
	if (!keep)
		itest_db_drop(&db);
	else
		fprintf(stderr, "sweep: kept database %s\n", db.name);
	return 0;
}
