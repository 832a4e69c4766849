/* The working-time calendar and the per-level deadlines, end to end: gridd
 * starts with [calendar] and [cases] settings, writes them into the database
 * (server/case/calendar.c), and the SQL functions the case module calls
 * (work_add, work_between, case_deadlines, case_deadline_ms; migration
 * 0004_calendar.sql) count working time by them. Also: bad settings stop
 * gridd with a message naming the key, a second gridd with the same
 * settings starts on the same database, and applies from several sessions
 * at once are serialized.
 *
 * The calendar is the one of the README: 09:00-12:00 and 13:30-17:30 in
 * Asia/Shanghai, Monday to Friday, the National Day week 2026-10-01..08 and
 * 2027-01-01 off, and the make-up working days Sunday 2026-09-27 and
 * Saturday 2026-10-10. Times below are local (+08).
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/itest.h"

#define HOUR 3600000LL
#define WD (7 * HOUR) /* one working day: 3 h + 4 h */

static const char *const calendar[] = {
    "--set", "calendar.timezone=Asia/Shanghai",
    "--set", "calendar.hours=09:00-12:00,13:30-17:30",
    "--set", "calendar.days=mon-fri",
    "--set", "calendar.holidays=2026-10-01..2026-10-08, 2027-01-01",
    "--set", "calendar.workdays=2026-09-27,2026-10-10",
    "--set", "cases.accept=3h",
    "--set", "cases.accept.building=1h",
    "--set", "cases.accept.building.water=30m",
    "--set", "cases.resolve.building.water=none",
    "--set", "cases.accept.community=none",
    NULL,
};

/* Levels (default set): 0 district, 1 subdistrict, 2 community, 3 zone,
 * 4 courtyard, 5 building. */

static char *q(const char *url, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *q(const char *url, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return itest_sql(url, sql);
}

/* work_add(from, ms) as local time "YYYY-MM-DD HH:MI:SS". */
#define EXPECT_ADD(url, from, ms, want)                                                            \
	do {                                                                                       \
		char *got_ = q(url,                                                                \
			       "SELECT to_char(work_add('%s+08', %lld) AT TIME ZONE "              \
			       "'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS')",                        \
			       from, (long long)(ms));                                             \
		ASSERT_MSG(got_ &&strcmp(got_, want) == 0, "work_add(%s, %lld) = %s, not %s",      \
			   from, (long long)(ms), got_ ? got_ : "NULL", want);                     \
		free(got_);                                                                        \
	} while (0)

#define EXPECT_BETWEEN(url, from, to, want)                                                        \
	do {                                                                                       \
		char *got_ = q(url, "SELECT work_between('%s+08', '%s+08')", from, to);            \
		ASSERT_MSG(got_ &&atoll(got_) == (long long)(want),                                \
			   "work_between(%s, %s) = %s, not %lld", from, to, got_ ? got_ : "NULL",  \
			   (long long)(want));                                                     \
		free(got_);                                                                        \
	} while (0)

static void setup(struct itest_fix *f)
{
	itest_setup(f, calendar, 0);
}

TEST(work_add_across_lunch_and_night)
{
	struct itest_fix f;

	setup(&f);
	/* Monday 2026-03-02. Lunch 12:00-13:30 does not count. */
	EXPECT_ADD(f.db.url, "2026-03-02 11:00", 2 * HOUR, "2026-03-02 14:30:00");
	EXPECT_ADD(f.db.url, "2026-03-02 10:00", 2 * HOUR, "2026-03-02 12:00:00");
	EXPECT_ADD(f.db.url, "2026-03-02 11:59:30", 60000, "2026-03-02 13:30:30");
	/* The night does not count either. */
	EXPECT_ADD(f.db.url, "2026-03-02 16:30", 2 * HOUR, "2026-03-03 10:00:00");
	EXPECT_ADD(f.db.url, "2026-03-02 17:00", 30 * 60000, "2026-03-02 17:30:00");
	EXPECT_ADD(f.db.url, "2026-03-02 17:00", 31 * 60000, "2026-03-03 09:01:00");
	/* Inside working time, 0 is now; outside, the next working moment. */
	EXPECT_ADD(f.db.url, "2026-03-02 10:15:07", 0, "2026-03-02 10:15:07");
	EXPECT_ADD(f.db.url, "2026-03-02 12:30", 0, "2026-03-02 13:30:00");
	EXPECT_ADD(f.db.url, "2026-03-02 12:00", 0, "2026-03-02 13:30:00");
	EXPECT_ADD(f.db.url, "2026-03-02 07:00", 0, "2026-03-02 09:00:00");
	EXPECT_ADD(f.db.url, "2026-03-02 07:00", HOUR, "2026-03-02 10:00:00");
	EXPECT_ADD(f.db.url, "2026-03-02 12:45", HOUR, "2026-03-02 14:30:00");
	EXPECT_ADD(f.db.url, "2026-03-02 23:00", HOUR, "2026-03-03 10:00:00");
	EXPECT_ADD(f.db.url, "2026-03-02 09:00", WD, "2026-03-02 17:30:00");
	itest_teardown(&f);
}

TEST(work_add_across_weekend_holidays_and_makeup_days)
{
	struct itest_fix f;

	setup(&f);
	/* Friday 16:30 + 3 h: Monday 11:00. From Saturday: Monday. */
	EXPECT_ADD(f.db.url, "2026-03-06 16:30", 3 * HOUR, "2026-03-09 11:00:00");
	EXPECT_ADD(f.db.url, "2026-03-07 10:00", HOUR, "2026-03-09 10:00:00");
	EXPECT_ADD(f.db.url, "2026-03-08 15:00", 0, "2026-03-09 09:00:00");
	/* Wednesday before the National Day week: next is Friday 10-09. */
	EXPECT_ADD(f.db.url, "2026-09-30 16:30", 2 * HOUR, "2026-10-09 10:00:00");
	EXPECT_ADD(f.db.url, "2026-10-03 10:00", 0, "2026-10-09 09:00:00");
	EXPECT_ADD(f.db.url, "2026-10-08 17:00", HOUR, "2026-10-09 10:00:00");
	/* Friday 10-09 + 2 h: the make-up Saturday 10-10. */
	EXPECT_ADD(f.db.url, "2026-10-09 16:30", 2 * HOUR, "2026-10-10 10:00:00");
	EXPECT_ADD(f.db.url, "2026-10-10 09:00", WD, "2026-10-10 17:30:00");
	EXPECT_ADD(f.db.url, "2026-10-10 17:00", HOUR, "2026-10-12 09:30:00");
	/* Saturday 09-26 is off; Sunday 09-27 is worked. */
	EXPECT_ADD(f.db.url, "2026-09-26 10:00", HOUR, "2026-09-27 10:00:00");
	EXPECT_ADD(f.db.url, "2026-09-25 17:00", HOUR, "2026-09-27 09:30:00");
	/* New Year's Day 2027 is a Friday off. */
	EXPECT_ADD(f.db.url, "2026-12-31 17:00", HOUR, "2027-01-04 09:30:00");
	itest_teardown(&f);
}

TEST(work_add_several_working_days)
{
	struct itest_fix f;

	setup(&f);
	EXPECT_ADD(f.db.url, "2026-03-02 10:00", 3 * WD, "2026-03-05 10:00:00");
	EXPECT_ADD(f.db.url, "2026-03-02 10:00", 10 * WD, "2026-03-16 10:00:00");
	/* From lunch, counting starts at 13:30: two days later at 13:30 in
	 * working time, which is the end of the morning, 12:00. */
	EXPECT_ADD(f.db.url, "2026-03-02 12:30", 2 * WD, "2026-03-04 12:00:00");
	/* Across the holiday week and both make-up days: Tue 09-29, Wed 09-30,
	 * Fri 10-09, Sat 10-10, Mon 10-12. */
	EXPECT_ADD(f.db.url, "2026-09-28 10:00", 5 * WD, "2026-10-12 10:00:00");
	EXPECT_ADD(f.db.url, "2026-09-25 10:00", 2 * WD, "2026-09-28 10:00:00");
	/* 30 working days from early September: well over a month. */
	EXPECT_ADD(f.db.url, "2026-09-01 09:00", 30 * WD, "2026-10-16 17:30:00");
	/* Far from the origin of the working clock, both ways. */
	EXPECT_ADD(f.db.url, "1999-12-31 16:00", 2 * HOUR, "2000-01-03 09:30:00");
	EXPECT_ADD(f.db.url, "2099-12-31 16:00", 2 * HOUR, "2100-01-01 09:30:00");
	itest_teardown(&f);
}

TEST(work_between_is_the_inverse)
{
	struct itest_fix f;
	char *bad;

	setup(&f);
	EXPECT_BETWEEN(f.db.url, "2026-03-02 11:00", "2026-03-02 14:30", 2 * HOUR);
	EXPECT_BETWEEN(f.db.url, "2026-03-06 16:30", "2026-03-09 10:00", 2 * HOUR);
	EXPECT_BETWEEN(f.db.url, "2026-03-02 00:00", "2026-03-09 00:00", 5 * WD);
	EXPECT_BETWEEN(f.db.url, "2026-09-28 00:00", "2026-10-12 00:00", 5 * WD);
	EXPECT_BETWEEN(f.db.url, "2026-10-03 00:00", "2026-10-05 00:00", 0);
	EXPECT_BETWEEN(f.db.url, "2026-03-02 14:30", "2026-03-02 11:00", 0);
	EXPECT_BETWEEN(f.db.url, "2026-03-02 10:00", "2026-03-02 10:00", 0);
	EXPECT_BETWEEN(f.db.url, "2026-03-02 10:00:00.5", "2026-03-02 10:00:01.7", 1200);

	/* Against a minute-by-minute count over three weeks around the
	 * holidays: every 37th minute as a start, several durations; and
	 * work_between(a, work_add(a, x)) = x from odd starting points. */
	free(itest_sql(
	    f.db.url,
	    "CREATE TABLE wm AS SELECT m, w, sum(w) OVER (ORDER BY m) - w AS before"
	    "  FROM (SELECT m, ((d = ANY ('{2026-09-27,2026-10-10}')"
	    "                   OR (extract(isodow FROM d) < 6"
	    "                       AND NOT d BETWEEN '2026-10-01' AND '2026-10-08'))"
	    "                  AND ((t >= '09:00' AND t < '12:00')"
	    "                       OR (t >= '13:30' AND t < '17:30')))::int AS w"
	    "          FROM generate_series(timestamptz '2026-09-24 00:00+08',"
	    "                               '2026-10-16 00:00+08', interval '1 minute') m,"
	    "               LATERAL (SELECT (m AT TIME ZONE 'Asia/Shanghai')::date AS d,"
	    "                               (m AT TIME ZONE 'Asia/Shanghai')::time AS t) l) x"));
	free(itest_sql(f.db.url, "CREATE TABLE wk AS SELECT before AS n, m FROM wm WHERE w = 1"));
	free(itest_sql(f.db.url, "ALTER TABLE wk ADD PRIMARY KEY (n)"));
	/* k minutes from a end with the k-th working minute from a; 0 is the
	 * first working minute. */
	bad = itest_sql(
	    f.db.url,
	    "SELECT count(*) || ' bad: ' || coalesce(min(a.m || ' +' || k), '')"
	    "  FROM wm a, unnest('{0,1,59,180,421,1260,2941}'::int[]) k,"
	    "       LATERAL (SELECT CASE WHEN k = 0 THEN m ELSE m + interval '1 minute' END"
	    "                  AS want FROM wk WHERE n = a.before + greatest(k - 1, 0)) e"
	    " WHERE extract(epoch FROM a.m)::bigint % 2220 = 0"
	    "   AND work_add(a.m, k * 60000::bigint) <> e.want");
	ASSERT_EQ_STR(bad, "0 bad: ");
	free(bad);
	bad = itest_sql(
	    f.db.url, "SELECT count(*) FROM wm a, wm b"
		      " WHERE extract(epoch FROM a.m)::bigint % 7860 = 0"
		      "   AND extract(epoch FROM b.m)::bigint % 8340 = 0"
		      "   AND work_between(a.m, b.m) <> greatest(b.before - a.before, 0) * 60000");
	ASSERT_EQ_STR(bad, "0");
	free(bad);
	bad = itest_sql(
	    f.db.url,
	    "SELECT count(*) FROM generate_series(timestamptz '2026-09-20 00:00:00.25+08',"
	    "                                     '2026-10-20 00:00+08', interval '53 min 7 s') a,"
	    "       unnest('{0,1,999,60000,9000000,25200000,75600000,1234567890}'::bigint[]) x"
	    " WHERE work_between(a, work_add(a, x)) <> x OR work_add(a, x) < a");
	ASSERT_EQ_STR(bad, "0");
	free(bad);
	itest_teardown(&f);
}

/* case_deadlines for (level, category) from Monday 2026-03-02 10:00, as
 * six local times ("-" for NULL) separated by spaces. */
static char *deadlines(const char *url, int level, const char *category)
{
	return q(
	    url, "SELECT concat_ws(' ', %s) FROM case_deadlines(%d, %s, '2026-03-02 10:00+08') d",
	    "coalesce(to_char(accept_due AT TIME ZONE 'Asia/Shanghai', 'DD HH24:MI'), '-'),"
	    "coalesce(to_char(accept_warn50 AT TIME ZONE 'Asia/Shanghai', 'DD HH24:MI'), '-'),"
	    "coalesce(to_char(accept_warn80 AT TIME ZONE 'Asia/Shanghai', 'DD HH24:MI'), '-'),"
	    "coalesce(to_char(resolve_due AT TIME ZONE 'Asia/Shanghai', 'DD HH24:MI'), '-'),"
	    "coalesce(to_char(resolve_warn50 AT TIME ZONE 'Asia/Shanghai', 'DD HH24:MI'), '-'),"
	    "coalesce(to_char(resolve_warn80 AT TIME ZONE 'Asia/Shanghai', 'DD HH24:MI'), '-')",
	    level, category);
}

#define EXPECT_DEADLINES(url, level, category, want)                                               \
	do {                                                                                       \
		char *got_ = deadlines(url, level, category);                                      \
		ASSERT_MSG(got_ &&strcmp(got_, want) == 0, "case_deadlines(%d, %s) = %s, not %s",  \
			   level, category, got_ ? got_ : "NULL", want);                           \
		free(got_);                                                                        \
	} while (0)

TEST(case_deadlines_fallback)
{
	struct itest_fix f;
	char *v;

	setup(&f);
	/* building + water: its own row, accept 30m, resolve none. */
	EXPECT_DEADLINES(f.db.url, 5, "'water'", "02 10:30 02 10:15 02 10:24 - - -");
	/* building + another category or none: the building row, accept 1h,
	 * resolve the built-in 2wd (14 h; 80% is 11 h 12 min). */
	EXPECT_DEADLINES(f.db.url, 5, "'noise'",
			 "02 11:00 02 10:30 02 10:48 04 10:00 03 10:00 03 15:42");
	EXPECT_DEADLINES(f.db.url, 5, "''",
			 "02 11:00 02 10:30 02 10:48 04 10:00 03 10:00 03 15:42");
	EXPECT_DEADLINES(f.db.url, 5, "NULL",
			 "02 11:00 02 10:30 02 10:48 04 10:00 03 10:00 03 15:42");
	/* zone: accept = 3h over the built-in 4h; resolve 3wd. */
	EXPECT_DEADLINES(f.db.url, 3, "'water'",
			 "02 14:30 02 11:30 02 13:54 05 10:00 03 15:00 04 14:18");
	/* community: accept none; resolve 5wd (from Monday: Monday). */
	EXPECT_DEADLINES(f.db.url, 2, "'water'", "- - - 09 10:00 04 15:00 06 10:00");
	/* A level with no row of its own: the default row (3h, 3wd). */
	EXPECT_DEADLINES(f.db.url, 9, "'water'",
			 "02 14:30 02 11:30 02 13:54 05 10:00 03 15:00 04 14:18");

	v = q(f.db.url,
	      "SELECT concat_ws(',', accept_ms, resolve_ms) FROM case_deadline_ms(5, 'water')");
	ASSERT_EQ_STR(v, "1800000");
	free(v);
	v = q(f.db.url,
	      "SELECT concat_ws(',', accept_ms, resolve_ms) FROM case_deadline_ms(5, 'x')");
	ASSERT_EQ_STR(v, "3600000,50400000");
	free(v);
	v = q(f.db.url,
	      "SELECT concat_ws(',', accept_ms, resolve_ms) FROM case_deadline_ms(2, '')");
	ASSERT_EQ_STR(v, "126000000");
	free(v);
	v = q(f.db.url,
	      "SELECT concat_ws(',', accept_ms, resolve_ms) FROM case_deadline_ms(0, '')");
	/* district: accept = 3h over the built-in 1wd; the built-in 10wd. */
	ASSERT_EQ_STR(v, "10800000,252000000");
	free(v);
	/* The table as written by gridd: the default row, six levels and the
	 * one category. */
	v = q(f.db.url,
	      "SELECT string_agg(level || '/' || category || '=' || coalesce(accept_ms::text, "
	      "'none'), ' ' ORDER BY level, category) FROM case_deadline");
	ASSERT_EQ_STR(v, "-1/=10800000 0/=10800000 1/=10800000 2/=none 3/=10800000 4/=10800000 "
			 "5/=3600000 5/water=1800000");
	free(v);
	itest_teardown(&f);
}

/* Runs gridd with the given --set values; returns its exit status and the
 * first 4 KiB of what it printed in out. */
static int run_gridd(const char *url, const char *const *sets, char *out, size_t size)
{
	const char *gridd = getenv("GRIDD");
	const char *argv[32];
	char path[512];
	int n = 0, st, fd;
	pid_t pid;
	ssize_t k;

	ASSERT_NOT_NULL(gridd);
	argv[n++] = gridd;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--database-url";
	argv[n++] = url;
	for (; *sets && n < 30; sets++) {
		argv[n++] = "--set";
		argv[n++] = *sets;
	}
	argv[n] = NULL;
	snprintf(path, sizeof(path), "%s/gridd-%d.out", itest_tmpdir(), (int)getpid());
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(gridd, (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	fd = open(path, O_RDONLY);
	ASSERT(fd >= 0);
	k = read(fd, out, size - 1);
	out[k > 0 ? k : 0] = '\0';
	close(fd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(config_errors_stop_gridd)
{
	static const struct {
		const char *set, *expect;
		int code;
	} cases[] = {
	    {"cases.accept.street=2h",
	     "[cases] accept.street = 2h: unknown level \"street\"; the levels are: district, "
	     "subdistrict, community, zone, courtyard, building",
	     2},
	    {"cases.resolve=3days",
	     "[cases] resolve = \"3days\": expected a working time such as 30m, 4h, 2h30m, 3wd", 2},
	    {"cases.accept.zone.water=0h", "[cases] accept.zone.water = \"0h\": expected", 2},
	    {"cases.accept.Zone=1h", "[cases] accept.Zone: expected accept.LEVEL", 2},
	    {"calendar.holidays=2026-10-01,2026-02-30",
	     "[calendar] holidays = \"2026-10-01,2026-02-30\": \"2026-02-30\" is not a date", 2},
	    {"calendar.workdays=2026-10-10..2026-10-09", "a range runs forward", 2},
	    {"calendar.hours=09:00-12:00,11:30-14:00",
	     "[calendar] hours = \"09:00-12:00,11:30-14:00\": 09:00-12:00 and 11:30-14:00 overlap",
	     2},
	    {"calendar.hours=17:00-09:00", "\"17:00-09:00\" is empty or ends before it starts", 2},
	    {"calendar.hours=", "[calendar] hours = \"\": at least one interval", 2},
	    {"calendar.days=mon-funday", "[calendar] days = \"mon-funday\": unknown day", 2},
	    {"calendar.holidays=2026-10-01", NULL, 0}, /* with the next: both lists */
	    {"calendar.timezone=Mars/Olympus",
	     "[calendar] timezone = \"Mars/Olympus\": time zone \"Mars/Olympus\" not recognized",
	     1},
	};
	struct itest_db db;
	char out[4096];

	itest_db_create(&db);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!cases[i].expect)
			continue;
		const char *const sets[] = {cases[i].set, NULL};
		int code = run_gridd(db.url, sets, out, sizeof(out));
		ASSERT_MSG(code == cases[i].code, "%s: exit %d, not %d:\n%s", cases[i].set, code,
			   cases[i].code, out);
		ASSERT_MSG(strstr(out, cases[i].expect), "%s: no \"%s\" in:\n%s", cases[i].set,
			   cases[i].expect, out);
	}
	const char *const both[] = {"calendar.holidays=2026-10-01..2026-10-08",
				    "calendar.workdays=2026-10-08", NULL};
	ASSERT_EQ_INT(run_gridd(db.url, both, out, sizeof(out)), 2);
	ASSERT_MSG(strstr(out, "[calendar] 2026-10-08 is both in holidays and in workdays"), "%s",
		   out);
	/* None of them wrote a calendar of its own (the timezone one reached
	 * the database): still the migration's. */
	char *tz =
	    itest_sql(db.url, "SELECT timezone || ' ' || cardinality(holidays) FROM work_calendar");
	ASSERT_EQ_STR(tz, "Asia/Shanghai 0");
	free(tz);
	itest_db_drop(&db);
}

TEST(second_gridd_same_config)
{
	struct itest_fix f;
	struct itest_gridd g2;
	char *before, *after;

	setup(&f);
	before = itest_sql(f.db.url, "SELECT applied_at FROM work_calendar");
	itest_gridd_start(&g2, f.db.url, calendar);
	ASSERT(itest_gridd_alive(&f.g));
	ASSERT(itest_gridd_alive(&g2));
	/* The same settings change nothing, so nothing is written. */
	after = itest_sql(f.db.url, "SELECT applied_at FROM work_calendar");
	ASSERT_EQ_STR(after, before);
	free(after);
	EXPECT_ADD(f.db.url, "2026-10-09 16:30", 2 * HOUR, "2026-10-10 10:00:00");
	ASSERT_EQ_INT(itest_gridd_stop(&g2), 0);
	free(before);
	itest_teardown(&f);
}

/* Another session's cached calendar follows a change: the derived
 * calendar lives in a function every session's plans fold in as a
 * constant, and replacing it must invalidate them. */
TEST(new_calendar_reaches_open_sessions)
{
	struct itest_fix f;
	struct itest_gridd g2;
	PGconn *pg;
	PGresult *res;
	const char *sql = "SELECT to_char(work_add('2026-03-02 17:00+08', 3600000) AT TIME ZONE "
			  "'Asia/Shanghai', 'DD HH24:MI')";

	setup(&f);
	pg = PQconnectdb(f.db.url);
	ASSERT_EQ_INT(PQstatus(pg), CONNECTION_OK);
	res = PQexec(pg, sql);
	ASSERT_EQ_STR(PQgetvalue(res, 0, 0), "03 09:30");
	PQclear(res);

	/* A gridd with other hours: its settings win. */
	const char *const other[] = {"--set", "calendar.hours=08:00-18:00", NULL};
	itest_gridd_start(&g2, f.db.url, other);
	res = PQexec(pg, sql);
	ASSERT_EQ_STR(PQgetvalue(res, 0, 0), "02 18:00");
	PQclear(res);
	ASSERT_EQ_INT(itest_gridd_stop(&g2), 0);

	/* A change by hand to a table is picked up too (the trigger). */
	free(itest_sql(f.db.url, "UPDATE case_deadline SET accept_ms = 60000 WHERE level = 5 AND "
				 "category = ''"));
	res = PQexec(pg, "SELECT accept_ms FROM case_deadline_ms(5, 'noise')");
	ASSERT_EQ_STR(PQgetvalue(res, 0, 0), "60000");
	PQclear(res);
	PQfinish(pg);
	itest_teardown(&f);
}

/* Concurrent applies: one transaction holds its apply open while three
 * more start; all must succeed once it commits (without the lock they
 * would trip over each other's deadline rows). */
TEST(concurrent_applies_serialized)
{
	struct itest_fix f;
	PGconn *pg[4];
	PGresult *res;
	char sql[1024];

	setup(&f);
	for (int i = 0; i < 4; i++) {
		pg[i] = PQconnectdb(f.db.url);
		ASSERT_EQ_INT(PQstatus(pg[i]), CONNECTION_OK);
	}
	res = PQexec(pg[0], "BEGIN");
	PQclear(res);
	for (int i = 0; i < 4; i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT calendar_replace('Asia/Shanghai', '{1,2,3,4,5}', '{%d}', "
			 "'{61200000}', '{}', '{}', '{-1,5}', '{\"\",\"\"}', '{%d,60000}', "
			 "'{NULL,NULL}')",
			 (8 + i) * 3600000, (i + 1) * 60000);
		ASSERT_EQ_INT(PQsendQuery(pg[i], sql), 1);
		if (i == 0) {
			/* Let the first one finish inside its open transaction. */
			while ((res = PQgetResult(pg[0])) != NULL) {
				ASSERT_EQ_INT(PQresultStatus(res), PGRES_TUPLES_OK);
				PQclear(res);
			}
		}
	}
	usleep(200 * 1000); /* the others are now waiting for the lock */
	res = PQexec(pg[0], "COMMIT");
	ASSERT_EQ_INT(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	for (int i = 1; i < 4; i++) {
		while ((res = PQgetResult(pg[i])) != NULL) {
			ASSERT_MSG(PQresultStatus(res) == PGRES_TUPLES_OK, "session %d: %s", i,
				   PQresultErrorMessage(res));
			PQclear(res);
		}
	}
	/* One of them won, whole: hours and deadlines of the same call. */
	res = PQexec(pg[0], "SELECT (starts_ms[1] / 3600000 - 7) || '=' || "
			    "(SELECT accept_ms / 60000 FROM case_deadline WHERE level = -1) "
			    "FROM work_calendar");
	const char *v = PQgetvalue(res, 0, 0);
	ASSERT_MSG(strcmp(v, "2=2") == 0 || strcmp(v, "3=3") == 0 || strcmp(v, "4=4") == 0, "%s",
		   v);
	PQclear(res);
	for (int i = 0; i < 4; i++)
		PQfinish(pg[i]);
	itest_teardown(&f);
}
