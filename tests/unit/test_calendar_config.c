/* The [calendar] and [cases] settings of server/config.c: working days,
 * hours, holiday and make-up day lists, deadline durations, the order in
 * which the deadline keys apply, the errors (each naming key and value), and
 * --print-config output that reads back to the same settings.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "server/config.h"
#include "tests/harness/test.h"

#define HOUR 3600000LL

static char err[1024];

static void init(struct config *c)
{
	ASSERT_EQ_INT(config_init(c), 0);
	err[0] = '\0';
}

static void set_ok(struct config *c, const char *section, const char *key, const char *value)
{
	int r = config_set(c, section, key, value, err, sizeof(err));
	ASSERT_MSG(r == 0, "[%s] %s = %s: %d %s", section, key, value, r, err);
}

/* Sets a value that must be refused with a message containing each of the
 * NULL-terminated words. */
static void set_fails(struct config *c, const char *section, const char *key, const char *value,
		      int expect, const char *const *words)
{
	err[0] = '\0';
	ASSERT_EQ_INT(config_set(c, section, key, value, err, sizeof(err)), expect);
	for (; *words; words++)
		ASSERT_MSG(strstr(err, *words), "no \"%s\" in \"%s\"", *words, err);
}

static int64_t ms_of(struct config *c, const char *level, const char *category, bool resolve)
{
	struct config_duration d = config_case_duration(c, level, category, resolve);
	ASSERT(d.state != CONFIG_DURATION_UNSET);
	return config_duration_ms(c, &d);
}

/* config_print into a string (caller frees). */
static char *printed(const struct config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ASSERT_NOT_NULL(f);
	config_print(c, f);
	fclose(f);
	return text;
}

TEST(defaults)
{
	struct config c;

	init(&c);
	ASSERT_EQ_STR(c.cal_timezone, "Asia/Shanghai");
	ASSERT_EQ_UINT(c.cal_days, 0x1f);
	ASSERT_EQ_UINT(config_workday_ms(&c), 7 * HOUR); /* 09:00-12:00, 13:30-17:30 */
	ASSERT_EQ_INT(ms_of(&c, "building", "", false), 2 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "building", "", true), 2 * 7 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "courtyard", "water", false), 2 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "zone", "", false), 4 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "zone", "", true), 3 * 7 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "community", "", true), 5 * 7 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "subdistrict", "", false), 7 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "district", "", true), 10 * 7 * HOUR);
	/* A level name of one's own gets the built-in 4h / 3wd. */
	ASSERT_EQ_INT(ms_of(&c, "street", "", false), 4 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "street", "", true), 3 * 7 * HOUR);
	ASSERT_EQ_INT(config_check(&c, err, sizeof(err)), -EINVAL); /* no database */
	ASSERT(strstr(err, "no database"));
	set_ok(&c, "database", "url", "dbname=x");
	ASSERT_EQ_INT(config_check(&c, err, sizeof(err)), 0);
	config_finish(&c);
}

TEST(days)
{
	struct config c;

	init(&c);
	set_ok(&c, "calendar", "days", "sat,sun");
	ASSERT_EQ_UINT(c.cal_days, 0x60);
	set_ok(&c, "calendar", "days", "Mon, TUE,wed-fri");
	ASSERT_EQ_UINT(c.cal_days, 0x1f);
	set_ok(&c, "calendar", "days", "fri-mon"); /* wraps: fri, sat, sun, mon */
	ASSERT_EQ_UINT(c.cal_days, 0x71);
	set_ok(&c, "calendar", "days", "mon-sun");
	ASSERT_EQ_UINT(c.cal_days, 0x7f);
	const char *const unknown[] = {"[calendar] days = \"mon,funday\"", "unknown day \"funday\"",
				       NULL};
	set_fails(&c, "calendar", "days", "mon,funday", -EINVAL, unknown);
	const char *const empty[] = {"at least one working day", NULL};
	set_fails(&c, "calendar", "days", " , ", -EINVAL, empty);
	ASSERT_EQ_UINT(c.cal_days, 0x7f); /* a refused value changes nothing */
	config_finish(&c);
}

TEST(hours)
{
	struct config c;

	init(&c);
	set_ok(&c, "calendar", "hours", "13:30-17:30, 8:30-12:00");
	ASSERT_EQ_UINT(c.cal_nhours, 2);
	ASSERT_EQ_UINT(c.cal_hours[0][0], 8 * 60 + 30); /* sorted */
	ASSERT_EQ_UINT(c.cal_hours[1][1], 17 * 60 + 30);
	ASSERT_EQ_UINT(config_workday_ms(&c), 7 * HOUR + 30 * 60000);
	set_ok(&c, "calendar", "hours", "00:00-24:00");
	ASSERT_EQ_UINT(config_workday_ms(&c), 24 * HOUR);
	set_ok(&c, "calendar", "hours", "09:00-12:00,12:00-13:00"); /* touching is fine */

	const char *const overlap[] = {"[calendar] hours = \"09:00-12:00,11:00-14:00\"",
				       "09:00-12:00 and 11:00-14:00 overlap", NULL};
	set_fails(&c, "calendar", "hours", "09:00-12:00,11:00-14:00", -EINVAL, overlap);
	const char *const backwards[] = {"\"12:00-09:00\" is empty", NULL};
	set_fails(&c, "calendar", "hours", "12:00-09:00", -EINVAL, backwards);
	const char *const empty[] = {"\"09:00-09:00\" is empty", NULL};
	set_fails(&c, "calendar", "hours", "09:00-09:00", -EINVAL, empty);
	const char *const none[] = {"at least one interval", NULL};
	set_fails(&c, "calendar", "hours", "", -EINVAL, none);
	const char *const bad[] = {"\"9-17\" is not an interval HH:MM-HH:MM", NULL};
	set_fails(&c, "calendar", "hours", "9-17", -EINVAL, bad);
	const char *const late[] = {"\"22:00-24:30\" is not an interval", NULL};
	set_fails(&c, "calendar", "hours", "22:00-24:30", -EINVAL, late);
	const char *const minutes[] = {"\"09:60-10:00\" is not an interval", NULL};
	set_fails(&c, "calendar", "hours", "09:60-10:00", -EINVAL, minutes);
	ASSERT_EQ_UINT(c.cal_nhours, 2);
	ASSERT_EQ_UINT(config_workday_ms(&c), 4 * HOUR);
	config_finish(&c);
}

TEST(dates)
{
	struct config c;

	init(&c);
	set_ok(&c, "calendar", "holidays", "2027-01-01, 2026-10-01..2026-10-08,2026-10-03");
	ASSERT_EQ_UINT(c.cal_holidays.n, 9);	      /* sorted, each once */
	ASSERT_EQ_INT(c.cal_holidays.days[0], 20727); /* 2026-10-01 */
	ASSERT_EQ_INT(c.cal_holidays.days[8], 20819); /* 2027-01-01 */
	set_ok(&c, "calendar", "workdays", "2026-09-27,2026-10-10");
	ASSERT_EQ_UINT(c.cal_workdays.n, 2);
	set_ok(&c, "calendar", "holidays", "2028-02-29"); /* a leap day */

	const char *const feb30[] = {"[calendar] holidays = \"2026-02-30\"",
				     "\"2026-02-30\" is not a date YYYY-MM-DD", NULL};
	set_fails(&c, "calendar", "holidays", "2026-02-30", -EINVAL, feb30);
	const char *const feb29[] = {"\"2027-02-29\" is not a date", NULL};
	set_fails(&c, "calendar", "workdays", "2027-02-29", -EINVAL, feb29);
	const char *const backwards[] = {"\"2026-10-08..2026-10-01\": a range runs forward", NULL};
	set_fails(&c, "calendar", "holidays", "2026-10-08..2026-10-01", -EINVAL, backwards);
	const char *const long_range[] = {"spans at most a year", NULL};
	set_fails(&c, "calendar", "holidays", "2026-01-01..2027-06-01", -EINVAL, long_range);
	const char *const words[] = {"\"oct 1\" is not a date", NULL};
	set_fails(&c, "calendar", "holidays", "oct 1", -EINVAL, words);
	ASSERT_EQ_UINT(c.cal_holidays.n, 1);
	set_ok(&c, "calendar", "holidays", "");
	ASSERT_EQ_UINT(c.cal_holidays.n, 0);

	/* One day in both lists is a contradiction, found once both are
	 * known. */
	set_ok(&c, "database", "url", "dbname=x");
	set_ok(&c, "calendar", "holidays", "2026-10-01..2026-10-08");
	set_ok(&c, "calendar", "workdays", "2026-10-08");
	ASSERT_EQ_INT(config_check(&c, err, sizeof(err)), -EINVAL);
	ASSERT_MSG(strstr(err, "2026-10-08 is both in holidays and in workdays"), "%s", err);
	config_finish(&c);
}

TEST(durations)
{
	struct config c;
	struct {
		const char *text;
		int64_t ms;
	} ok[] = {
	    {"30m", 30 * 60000},   {"4h", 4 * HOUR},	 {"2h30m", 2 * HOUR + 30 * 60000},
	    {"3wd", 3 * 7 * HOUR}, {"1wd4h", 11 * HOUR}, {"90s", 90000},
	    {"none", -1},	   {"NONE", -1},
	};
	const char *const bad[] = {"2x",     "0h", "h",	  "30m2h", "4d",
				   "3wd3wd", "",   "-1h", "2 h",   "1234567h"};

	init(&c);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		set_ok(&c, "cases", "accept", ok[i].text);
		ASSERT_MSG(ms_of(&c, "zone", "", false) == ok[i].ms, "%s: %lld", ok[i].text,
			   (long long)ms_of(&c, "zone", "", false));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char key[64];
		snprintf(key, sizeof(key), "[cases] resolve = \"%s\": expected a working time",
			 bad[i]);
		const char *const words[] = {key, "3wd (working days) or none", NULL};
		set_fails(&c, "cases", "resolve", bad[i], -EINVAL, words);
	}
	/* A working day is as long as the hours, whichever comes first in
	 * the file. */
	set_ok(&c, "cases", "resolve.zone", "2wd");
	ASSERT_EQ_INT(ms_of(&c, "zone", "", true), 14 * HOUR);
	set_ok(&c, "calendar", "hours", "08:00-17:00");
	ASSERT_EQ_INT(ms_of(&c, "zone", "", true), 18 * HOUR);
	config_finish(&c);
}

TEST(deadline_precedence)
{
	struct config c;

	init(&c);
	/* The most specific key wins, field by field. */
	set_ok(&c, "cases", "accept.building.water", "30m");
	set_ok(&c, "cases", "resolve.building.fire", "1h");
	ASSERT_EQ_INT(ms_of(&c, "building", "water", false), 30 * 60000);
	ASSERT_EQ_INT(ms_of(&c, "building", "water", true), 2 * 7 * HOUR); /* built-in */
	ASSERT_EQ_INT(ms_of(&c, "building", "fire", false), 2 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "building", "fire", true), HOUR);
	ASSERT_EQ_INT(ms_of(&c, "building", "", false), 2 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "courtyard", "water", false), 2 * HOUR); /* other level */

	/* accept = applies to every level without accept.LEVEL, over the
	 * built-in per-level values. */
	set_ok(&c, "cases", "accept", "8h");
	set_ok(&c, "cases", "accept.zone", "1h");
	ASSERT_EQ_INT(ms_of(&c, "building", "", false), 8 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "community", "", false), 8 * HOUR);
	ASSERT_EQ_INT(ms_of(&c, "zone", "", false), HOUR);
	ASSERT_EQ_INT(ms_of(&c, "zone", "other", false), HOUR);
	ASSERT_EQ_INT(ms_of(&c, "building", "water", false), 30 * 60000);
	ASSERT_EQ_INT(ms_of(&c, "zone", "", true), 3 * 7 * HOUR); /* resolve untouched */

	/* none at a level, a value for one of its categories. */
	set_ok(&c, "cases", "resolve.community", "none");
	set_ok(&c, "cases", "resolve.community.elderly", "1wd");
	ASSERT_EQ_INT(ms_of(&c, "community", "", true), -1);
	ASSERT_EQ_INT(ms_of(&c, "community", "noise", true), -1);
	ASSERT_EQ_INT(ms_of(&c, "community", "elderly", true), 7 * HOUR);
	/* Setting a key again replaces it. */
	set_ok(&c, "cases", "accept.building.water", "45m");
	ASSERT_EQ_INT(ms_of(&c, "building", "water", false), 45 * 60000);
	ASSERT_EQ_UINT(c.ncase_rules, 5);
	config_finish(&c);
}

TEST(case_key_errors)
{
	struct config c;

	init(&c);
	set_ok(&c, "database", "url", "dbname=x");
	const char *const upper[] = {"[cases] accept.Building: expected accept.LEVEL or "
				     "accept.LEVEL.CATEGORY",
				     NULL};
	set_fails(&c, "cases", "accept.Building", "2h", -ENOENT, upper);
	const char *const empty[] = {"[cases] resolve.: expected resolve.LEVEL", NULL};
	set_fails(&c, "cases", "resolve.", "2h", -ENOENT, empty);
	const char *const deep[] = {"expected accept.LEVEL", NULL};
	set_fails(&c, "cases", "accept.zone.a.b", "2h", -ENOENT, deep);
	const char *const other[] = {"unknown setting [cases] escalate", NULL};
	set_fails(&c, "cases", "escalate", "2h", -ENOENT, other);
	const char *const dur[] = {"[cases] accept.zone.water = \"soon\": expected a working time",
				   NULL};
	set_fails(&c, "cases", "accept.zone.water", "soon", -EINVAL, dur);
	ASSERT_EQ_UINT(c.ncase_rules, 0);

	/* Level names are checked against [grid] levels once everything is
	 * read: the levels may come after [cases] in the file. */
	set_ok(&c, "cases", "resolve.street.water", "4h");
	ASSERT_EQ_INT(config_check(&c, err, sizeof(err)), -EINVAL);
	ASSERT_MSG(strstr(err, "[cases] resolve.street.water = 4h: unknown level \"street\"; the "
			       "levels are: district, subdistrict, community, zone, courtyard, "
			       "building"),
		   "%s", err);
	set_ok(&c, "grid", "levels", "city,street,house");
	ASSERT_EQ_INT(config_check(&c, err, sizeof(err)), 0);
	config_finish(&c);
}

TEST(timezone_checked)
{
	struct config c;

	init(&c);
	set_ok(&c, "database", "url", "dbname=x");
	set_ok(&c, "calendar", "timezone", "Asia/Shang hai");
	ASSERT_EQ_INT(config_check(&c, err, sizeof(err)), -EINVAL);
	ASSERT_MSG(strstr(err, "[calendar] timezone = \"Asia/Shang hai\": expected a time zone"),
		   "%s", err);
	set_ok(&c, "calendar", "timezone", "");
	ASSERT_EQ_INT(config_check(&c, err, sizeof(err)), -EINVAL);
	set_ok(&c, "calendar", "timezone", "Europe/Berlin");
	ASSERT_EQ_INT(config_check(&c, err, sizeof(err)), 0);
	config_finish(&c);
}

TEST(print_reads_back)
{
	struct config c, again;
	char path[] = "/tmp/test_calendar_config.XXXXXX";
	char *first, *second;
	int fd;

	init(&c);
	set_ok(&c, "calendar", "timezone", "Asia/Urumqi");
	set_ok(&c, "calendar", "days", "mon-sat");
	set_ok(&c, "calendar", "hours", "14:00-18:00,08:30-12:00");
	set_ok(&c, "calendar", "holidays", "2026-10-01..2026-10-08,2027-01-01,2026-12-31");
	set_ok(&c, "calendar", "workdays", "2026-09-27");
	set_ok(&c, "cases", "resolve", "4wd");
	set_ok(&c, "cases", "accept.zone", "none");
	set_ok(&c, "cases", "accept.building.water", "1h30m");
	set_ok(&c, "cases", "resolve.building.water", "1wd2h");
	first = printed(&c);
	ASSERT_MSG(strstr(first, "[calendar]\ntimezone = Asia/Urumqi\n"
				 "days = mon,tue,wed,thu,fri,sat\n"
				 "hours = 08:30-12:00,14:00-18:00\n"
				 "holidays = 2026-10-01..2026-10-08,2026-12-31..2027-01-01\n"
				 "workdays = 2026-09-27\n\n[cases]\naccept = 4h\nresolve = 4wd\n"
				 "accept.district = 1wd\n"),
		   "%s", first);
	ASSERT_MSG(strstr(first, "accept.zone = none\n"), "%s", first);
	ASSERT_MSG(strstr(first, "accept.building = 2h\naccept.building.water = 1h30m\n"), "%s",
		   first);
	ASSERT_MSG(strstr(first, "resolve.building = 4wd\nresolve.building.water = 1wd2h\n"), "%s",
		   first);

	fd = mkstemp(path);
	ASSERT(fd >= 0);
	ASSERT_EQ_INT(write(fd, first, strlen(first)), (long long)strlen(first));
	close(fd);
	init(&again);
	ASSERT_MSG(config_load_file(&again, path, err, sizeof(err)) == 0, "%s", err);
	unlink(path);
	second = printed(&again);
	ASSERT_EQ_STR(second, first);
	free(first);
	free(second);
	config_finish(&c);
	config_finish(&again);
}
