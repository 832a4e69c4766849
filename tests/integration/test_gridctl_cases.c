/* gridctl's case and report commands end to end, as the people of the grid
 * use them, each logged in with a token file of their own: a building head
 * raising and handling cases in 梓潼苑 building 1, the courtyard
 * representative checking (the handler may not check their own work), the
 * zone leader sending a case down and approving a suspension, the district
 * reading the report; show with its history in order, ls with its filters,
 * --json that parses, the exit codes. And idempotency: a write run again
 * with the same --idempotency-key prints the same case and changes nothing;
 * every write carries a fresh random key; a write whose connection is lost
 * after the server committed it, or that the server answers UNAVAILABLE, is
 * retried with the same key by gridctl itself and happens once (a proxy
 * between gridctl and gridd cuts the connection or answers in its place).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness/itest.h"
#include "tests/harness/raw.h"

#define PASSWORD "case-cli-password-1"
#define BUILDING "WH-TZL-Z5-ZTY-B1"
#define COURTYARD "WH-TZL-Z5-ZTY"
#define ZONE "WH-TZL-Z5"
#define ROLE(x) GRID__V1__ROLE__ROLE_##x

enum who { B1, REP, Z5, ADMIN, NWHO };
static const char *const usernames[NWHO] = {"zty_b1", "zty_rep", "z5_leader", ITEST_ADMIN};

struct fix {
	struct itest_fix base; /* the sample grid, f->base.admin connected */
	char dir[512];
	char token[NWHO][600]; /* token file of each user */
};

/* gridctl with no credential but the arguments' (the harness points
 * GRID_TOKEN_FILE nowhere). */
static const char *const no_env[] = {NULL};

static int ctl(struct fix *f, const char *in, char **out, char **err, const char *const *args)
{
	return itest_gridctl_env(&f->base.g, no_env, in, out, err, args);
}

/* gridctl as one of the users, logged in through its token file. */
static int as(struct fix *f, enum who w, char **out, char **err, const char *const *args)
{
	const char *argv[64] = {"--token-file", f->token[w]};
	size_t n = 2;

	for (; *args && n < 63; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	return ctl(f, NULL, out, err, argv);
}

#define AS(f, who, out, err, ...)                                                                  \
	as((f), (who), (out), (err), (const char *const[]){__VA_ARGS__, NULL})

/* The arguments in one string, for messages. */
static const char *joined(const char *const *args, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (; *args && len + 1 < size; args++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? " " : "", *args);
	return buf;
}

/* Runs a command that must succeed; returns its stdout (caller frees). */
static char *ok(struct fix *f, enum who w, const char *const *args)
{
	char *out, *err, all[600];
	int rc = as(f, w, &out, &err, args);

	ASSERT_MSG(rc == 0, "%s: %s: exit %d: %s", usernames[w], joined(args, all, sizeof(all)), rc,
		   err);
	free(err);
	return out;
}

#define OK(f, who, ...) ok((f), (who), (const char *const[]){__VA_ARGS__, NULL})

/* Raises a case; returns its number, the one line on stdout. */
static unsigned long long raise_id(struct fix *f, enum who w, const char *const *args)
{
	const char *argv[64] = {"case", "raise"};
	size_t n = 2;
	char *out, *end;
	unsigned long long id;

	for (; *args && n < 63; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	out = ok(f, w, argv);
	id = strtoull(out, &end, 10);
	ASSERT_MSG(id > 0 && strcmp(end, "\n") == 0, "raise printed: '%s'", out);
	free(out);
	return id;
}

#define RAISE(f, who, ...) raise_id((f), (who), (const char *const[]){__VA_ARGS__, NULL})

static void login(struct fix *f, enum who w, const char *password)
{
	char in[200], *err;

	snprintf(in, sizeof(in), "%s\n", password);
	int rc = ctl(f, in, NULL, &err,
		     (const char *const[]){"--token-file", f->token[w], "login", usernames[w],
					   "--password-stdin", NULL});
	ASSERT_MSG(rc == 0, "login %s: exit %d: %s", usernames[w], rc, err);
	free(err);
}

static void setup(struct fix *f)
{
	static unsigned counter;

	itest_setup(&f->base, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	snprintf(f->dir, sizeof(f->dir), "%s/cases-%u", itest_tmpdir(), counter++);
	ASSERT(mkdir(f->dir, 0700) == 0);
	for (int w = 0; w < NWHO; w++)
		snprintf(f->token[w], sizeof(f->token[w]), "%s/%s.token", f->dir, usernames[w]);
	itest_create_user(f->base.admin, usernames[B1], PASSWORD, ROLE(BUILDING_HEAD), BUILDING);
	itest_create_user(f->base.admin, usernames[REP], PASSWORD, ROLE(COURTYARD_REP), COURTYARD);
	itest_create_user(f->base.admin, usernames[Z5], PASSWORD, ROLE(ZONE_LEADER), ZONE);
	login(f, B1, PASSWORD);
	login(f, REP, PASSWORD);
	login(f, Z5, PASSWORD);
	login(f, ADMIN, ITEST_ADMIN_PASSWORD);
}

static void assert_has(const char *text, const char *needle)
{
	ASSERT_MSG(text && strstr(text, needle), "no '%s' in:\n%s", needle, text ? text : "(null)");
}

/* assert_has() unless needle is NULL. */
static void assert_has_if(const char *text, const char *needle)
{
	if (needle)
		assert_has(text, needle);
}

static void assert_lacks(const char *text, const char *needle)
{
	ASSERT_MSG(!strstr(text, needle), "'%s' should not be in:\n%s", needle, text);
}

/* Asserts that the needles appear in text in this order. */
static void assert_in_order(const char *text, const char *const *needles)
{
	const char *p = text;

	for (; *needles; needles++) {
		const char *q = strstr(p, *needles);

		ASSERT_MSG(q, "'%s' missing (or out of order) in:\n%s", *needles, text);
		p = q + strlen(*needles);
	}
}

/* The one value of a query, as a number. */
static long long sql_num(struct fix *f, const char *sql)
{
	char *v = itest_sql(f->base.db.url, sql);
	long long n;

	ASSERT_MSG(v, "no value from: %s", sql);
	n = strtoll(v, NULL, 10);
	free(v);
	return n;
}

/* The first value of a query made with printf arguments (malloc'd). */
static char *sql_text(struct fix *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *sql_text(struct fix *f, const char *fmt, ...)
{
	char sql[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return itest_sql(f->base.db.url, sql);
}

/* --- a JSON checker: the whole text must be one JSON value ----------------- */

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_str(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *json_num(const char *p)
{
	const char *s = p;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		if (!(*++p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p > s ? p : NULL;
}

static const char *json_value(const char *p, int depth)
{
	if (depth > 64)
		return NULL;
	p = json_ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		bool object = *p == '{';

		p = json_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (object) {
				p = json_str(json_ws(p));
				if (!p || *(p = json_ws(p)) != ':')
					return NULL;
				p++;
			}
			p = json_value(p, depth + 1);
			if (!p)
				return NULL;
			p = json_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return json_str(p);
	if (strncmp(p, "true", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	if (strncmp(p, "null", 4) == 0)
		return p + 4;
	return json_num(p);
}

static void assert_json(const char *text)
{
	const char *end = json_value(text, 0);

	ASSERT_MSG(end && *json_ws(end) == '\0', "not one JSON value:\n%s", text);
}

/* A case number as an argument (a few at once, in turn). */
static const char *N(unsigned long long id)
{
	static char bufs[8][24];
	static unsigned i;
	char *b = bufs[i++ % 8];

	snprintf(b, sizeof(bufs[0]), "%llu", id);
	return b;
}

/* Asserts that out is exactly the line fmt makes (with one id, or two). */
#define ASSERT_LINE(out, ...)                                                                      \
	do {                                                                                       \
		char want_[512];                                                                   \
		snprintf(want_, sizeof(want_), __VA_ARGS__);                                       \
		ASSERT_EQ_STR((out), want_);                                                       \
	} while (0)

/* An exit code, with stderr checked to hold needle (NULL: not checked). */
#define ASSERT_FAILS(f, who, code, needle, ...)                                                    \
	do {                                                                                       \
		char *err_;                                                                        \
		int rc_ = AS((f), (who), NULL, &err_, __VA_ARGS__);                                \
		ASSERT_MSG(rc_ == (code), "%s: exit %d, not %d: %s", #__VA_ARGS__, rc_, (code),    \
			   err_);                                                                  \
		assert_has_if(err_, (needle));                                                     \
		free(err_);                                                                        \
	} while (0)

/* An ls that finds nothing: empty stdout, "no cases" on stderr. */
#define ASSERT_NO_CASES(f, who, ...)                                                               \
	do {                                                                                       \
		char *o_, *e_;                                                                     \
		int rc_ = AS((f), (who), &o_, &e_, "case", "ls", __VA_ARGS__);                     \
		ASSERT_MSG(rc_ == 0, "ls: exit %d: %s", rc_, e_);                                  \
		ASSERT_MSG(!*o_, "ls %s found:\n%s", #__VA_ARGS__, o_);                            \
		assert_has(e_, "no cases");                                                        \
		free(o_);                                                                          \
		free(e_);                                                                          \
	} while (0)

/* The line of text that starts with word and a space; "" when none. */
static const char *line_starting(const char *text, const char *word, char *buf, size_t size)
{
	size_t n = strlen(word);

	buf[0] = '\0';
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, word, n) == 0 && p[n] == ' ') {
			const char *end = strchr(p, '\n');
			snprintf(buf, size, "%.*s", (int)(end ? end - p : (long)strlen(p)), p);
			break;
		}
	}
	return buf;
}

/* A figure of 'report cases': its line holds the value and a definition. */
static void assert_figure(const char *report, const char *name, const char *value,
			  const char *definition)
{
	char line[600], cell[64];

	line_starting(report, name, line, sizeof(line));
	ASSERT_MSG(line[0], "no figure %s in:\n%s", name, report);
	snprintf(cell, sizeof(cell), " %s  ", value);
	ASSERT_MSG(strstr(line, cell), "figure %s is not %s: '%s'", name, value, line);
	if (definition)
		assert_has(line, definition);
}

TEST(lifecycle_through_gridctl)
{
	struct fix f;
	char *out, *err, *hist;
	unsigned long long id, m;

	setup(&f);
	ASSERT_EQ_INT(AS(&f, B1, &out, &err, "case", "raise", BUILDING, "楼道灯坏了", "--desc",
			 "3楼到5楼的灯都不亮", "--category", "facilities", "--channel", "visit",
			 "--contact", "陈平 13800000025"),
		      0);
	id = strtoull(out, NULL, 10);
	/* The number alone on stdout, for ID=$(gridctl case raise ...). */
	ASSERT_LINE(out, "%llu\n", id);
	free(out);
	out = calloc(1, 200);
	snprintf(out, 200, "case %llu received at " BUILDING, id);
	assert_has(err, out);
	free(out);
	free(err);
	ASSERT_EQ_INT(sql_num(&f, "SELECT count(*) FROM grid_case"), 1);
	out = sql_text(
	    &f,
	    "SELECT title || '|' || description || '|' || category || '|' || channel || "
	    "'|' || contact || '|' || reporter || '|' || state FROM grid_case WHERE id = %llu",
	    id);
	ASSERT_EQ_STR(out,
		      "楼道灯坏了|3楼到5楼的灯都不亮|facilities|visit|陈平 13800000025|zty_b1|1");
	free(out);

	/* The building head works it; each step answers with one line. */
	out = OK(&f, B1, "case", "register", N(id));
	ASSERT_LINE(out, "case %llu registered by zty_b1 at " BUILDING "\n", id);
	free(out);
	out = OK(&f, B1, "case", "accept", N(id));
	ASSERT_LINE(out, "case %llu accepted by zty_b1 at " BUILDING "\n", id);
	free(out);
	out = OK(&f, B1, "case", "start", N(id), "--note", "已联系物业");
	ASSERT_LINE(out, "case %llu started by zty_b1 at " BUILDING ", now in progress\n", id);
	free(out);
	/* A resolution says what was done: without it nothing is sent. */
	ASSERT_FAILS(&f, B1, 2, "--note", "case", "resolve", N(id));
	out = OK(&f, B1, "case", "resolve", N(id), "--note", "已更换3-5楼灯泡");
	ASSERT_LINE(out, "case %llu resolved by zty_b1 at " BUILDING "\n", id);
	free(out);

	/* Building heads do not check (exit 4), and nobody closes a case as
	 * fixed before it is checked (exit 6). */
	ASSERT_FAILS(&f, B1, 4, "not allowed", "case", "check", N(id));
	ASSERT_FAILS(&f, REP, 6, "checked", "case", "close", N(id), "fixed");
	out = OK(&f, REP, "case", "check", N(id), "--note", "现场看过，灯亮了");
	ASSERT_LINE(out, "case %llu checked by zty_rep at " BUILDING "\n", id);
	free(out);
	out = OK(&f, REP, "case", "close", N(id), "fixed");
	ASSERT_LINE(out, "case %llu closed (fixed) by zty_rep at " BUILDING "\n", id);
	free(out);
	out = OK(&f, B1, "case", "callback", N(id), "--solved", "yes", "--satisfaction", "5",
		 "--note", "很满意");
	ASSERT_LINE(out,
		    "case %llu call-back recorded by zty_b1 at " BUILDING
		    ": solved, satisfaction 5/5\n",
		    id);
	free(out);
	ASSERT_FAILS(&f, B1, 6, "already", "case", "callback", N(id), "--solved", "no",
		     "--satisfaction", "1");
	out =
	    sql_text(&f,
		     "SELECT state || '|' || outcome || '|' || handler || '|' || callback_solved "
		     "|| '|' || satisfaction || '|' || result_note FROM grid_case WHERE id = %llu",
		     id);
	ASSERT_EQ_STR(out, "7|1|zty_b1|true|5|已更换3-5楼灯泡");
	free(out);

	/* The handler does not check their own work even where they may
	 * check others': refused (exit 6), the zone leader checks it. */
	m = RAISE(&f, REP, COURTYARD, "院内健身器材损坏", "--category", "facilities");
	free(OK(&f, REP, "case", "accept", N(m)));
	free(OK(&f, REP, "case", "resolve", N(m), "--result", "已报修"));
	ASSERT_FAILS(&f, REP, 6, "someone else", "case", "check", N(m));
	out = OK(&f, Z5, "case", "check", N(m));
	ASSERT_LINE(out, "case %llu checked by z5_leader at " COURTYARD "\n", m);
	free(out);
	out = OK(&f, Z5, "case", "rework", N(m), "--note", "器材还是坏的");
	ASSERT_LINE(out,
		    "case %llu sent back for rework by z5_leader at " COURTYARD
		    ", now in progress again (rework 1)\n",
		    m);
	free(out);

	/* show: every field, the node with its name, the history in order
	 * (one row per event, eight of them). */
	out = OK(&f, REP, "case", "show", N(id));
	assert_has(out, "楼道灯坏了");
	assert_has(out, BUILDING " (1栋)");
	assert_has(out, "3楼到5楼的灯都不亮");
	assert_has(out, "陈平 13800000025");
	assert_has(out, "facilities");
	assert_has(out, "visit");
	assert_has(out, "已更换3-5楼灯泡");
	assert_has(out, "solved, satisfaction 5/5");
	{
		char st[200];
		line_starting(out, "state", st, sizeof(st));
		assert_has(st, "closed");
		line_starting(out, "outcome", st, sizeof(st));
		assert_has(st, "fixed");
		line_starting(out, "handler", st, sizeof(st));
		assert_has(st, "zty_b1");
	}
	hist = strstr(out, "\nhistory:\n");
	ASSERT_NOT_NULL(hist);
	assert_in_order(hist, (const char *const[]){"TIME", "EVENT", "NODE", "ACTOR", "NOTE",
						    "raised", "registered", "accepted", "started",
						    "已联系物业", "resolved", "已更换3-5楼灯泡",
						    "checked", "zty_rep", "现场看过，灯亮了",
						    "closed", "callback", "很满意", NULL});
	ASSERT_EQ_INT(itest_count_lines(hist + 1), 1 + 1 + 8);
	free(out);

	/* The same as JSON: parsable, the events in order. */
	out = OK(&f, REP, "--json", "case", "show", N(id));
	assert_json(out);
	{
		char key[64];
		snprintf(key, sizeof(key), "{\"id\":%llu,", id);
		assert_has(out, key);
	}
	assert_has(out, "\"state\":\"closed\"");
	assert_has(out, "\"node_code\":\"" BUILDING "\",\"node_name\":\"1栋\"");
	assert_has(out, "\"category\":\"facilities\"");
	assert_has(out, "\"urgency\":\"normal\"");
	assert_has(out, "\"handler\":\"zty_b1\"");
	assert_has(out, "\"outcome\":\"fixed\"");
	assert_has(out, "\"callback\":{\"solved\":true,\"satisfaction\":5}");
	assert_in_order(out, (const char *const[]){
				 "\"events\":[", "\"kind\":\"case.raised\"",
				 "\"kind\":\"case.registered\"", "\"kind\":\"case.accepted\"",
				 "\"kind\":\"case.started\"", "\"kind\":\"case.resolved\"",
				 "\"kind\":\"case.checked\"", "\"actor\":\"zty_rep\"",
				 "\"kind\":\"case.closed\"", "\"kind\":\"case.callback\"", NULL});
	free(out);

	/* ls: the open cases of an inbox; --all adds closed ones; the
	 * filters combine. */
	m = RAISE(&f, B1, BUILDING, "垃圾没人清运", "--category", "sanitation", "--urgency",
		  "urgent");
	out = OK(&f, B1, "case", "ls", BUILDING);
	assert_in_order(out, (const char *const[]){"ID", "STATE", "NODE", "TITLE", "RECEIVED",
						   "DUE", "HANDLER", "\n", N(m), "received",
						   BUILDING, "垃圾没人清运", NULL});
	assert_lacks(out, "楼道灯坏了");
	ASSERT_EQ_INT(itest_count_lines(out), 2);
	free(out);
	out = OK(&f, B1, "case", "ls", BUILDING, "--all");
	assert_in_order(out,
			(const char *const[]){"\n", "楼道灯坏了", "zty_b1", "垃圾没人清运", NULL});
	ASSERT_EQ_INT(itest_count_lines(out), 3);
	free(out);
	out = OK(&f, REP, "case", "ls", COURTYARD);
	assert_has(out, "院内健身器材损坏");
	assert_has(out, "in progress");
	assert_lacks(out, "垃圾没人清运");
	free(out);
	out = OK(&f, REP, "case", "ls", COURTYARD, "--subtree");
	assert_in_order(out, (const char *const[]){"院内健身器材损坏", "垃圾没人清运", NULL});
	free(out);
	out = OK(&f, REP, "case", "ls", COURTYARD, "--subtree", "--category", "facilities");
	assert_has(out, "院内健身器材损坏");
	assert_lacks(out, "垃圾没人清运");
	free(out);
	out = OK(&f, REP, "case", "ls", COURTYARD, "--subtree", "--category", "sanitation",
		 "--state", "received");
	assert_has(out, "垃圾没人清运");
	free(out);
	ASSERT_NO_CASES(&f, REP, COURTYARD, "--subtree", "--state", "registered,accepted");
	ASSERT_NO_CASES(&f, REP, COURTYARD, "--subtree", "--overdue");
	out = OK(&f, REP, "--json", "case", "ls", COURTYARD, "--subtree", "--all");
	assert_json(out);
	ASSERT(out[0] == '[');
	assert_in_order(out, (const char *const[]){"\"title\":\"楼道灯坏了\"",
						   "\"title\":\"院内健身器材损坏\"",
						   "\"title\":\"垃圾没人清运\"", NULL});
	assert_has(out, "\"urgency\":\"urgent\"");
	free(out);
	ASSERT_FAILS(&f, REP, 2, "unknown state", "case", "ls", COURTYARD, "--state", "done");
	/* --limit: the oldest N, and a word that there are more. */
	ASSERT_EQ_INT(
	    AS(&f, REP, &out, &err, "case", "ls", COURTYARD, "--subtree", "--all", "--limit", "2"),
	    0);
	ASSERT_EQ_INT(itest_count_lines(out), 3);
	assert_in_order(out, (const char *const[]){"楼道灯坏了", "院内健身器材损坏", NULL});
	assert_lacks(out, "垃圾没人清运");
	assert_has(err, "there are more");
	free(out);
	free(err);

	/* Out of reach (exit 4), not there (exit 3). */
	ASSERT_FAILS(&f, REP, 4, NULL, "case", "ls", ZONE);
	ASSERT_FAILS(&f, ADMIN, 3, NULL, "case", "ls", "WH-NOPE");
	ASSERT_FAILS(&f, B1, 4, NULL, "case", "show", "999999");
	ASSERT_FAILS(&f, B1, 4, NULL, "case", "accept", "999999");
	itest_teardown(&f.base);
}

TEST(escalate_send_down_and_suspend)
{
	struct fix f;
	char *out, *hist;
	unsigned long long e, s;

	setup(&f);
	e = RAISE(&f, B1, BUILDING, "小区门口路灯不亮", "--category", "facilities");
	out = OK(&f, B1, "case", "escalate", N(e), "--note", "楼栋解决不了");
	ASSERT_LINE(out, "case %llu escalated by zty_b1 to " COURTYARD ", now registered there\n",
		    e);
	free(out);
	ASSERT_NO_CASES(&f, B1, BUILDING);
	out = OK(&f, REP, "case", "ls", COURTYARD);
	assert_has(out, "小区门口路灯不亮");
	free(out);
	out = OK(&f, REP, "case", "escalate", N(e), "--reason", "需要片区协调");
	ASSERT_LINE(out, "case %llu escalated by zty_rep to " ZONE ", now registered there\n", e);
	free(out);
	/* Above the courtyard now: not theirs to send down. */
	ASSERT_FAILS(&f, REP, 4, NULL, "case", "send-down", N(e), BUILDING);
	out = OK(&f, Z5, "case", "send-down", N(e), BUILDING, "--note", "请楼长联系供电公司");
	ASSERT_LINE(out, "case %llu sent down by z5_leader to " BUILDING ", now registered there\n",
		    e);
	free(out);
	/* Down means below the case's node, which is the building now. */
	ASSERT_FAILS(&f, Z5, 6, "below", "case", "send-down", N(e), COURTYARD);
	out = sql_text(&f,
		       "SELECT n.code || '|' || c.escalations || '|' || c.state FROM grid_case c "
		       "JOIN grid_node n ON n.id = c.node_id WHERE c.id = %llu",
		       e);
	ASSERT_EQ_STR(out, BUILDING "|2|2");
	free(out);
	out = OK(&f, B1, "case", "show", N(e));
	assert_has(out, "2 (0 by timeout)");
	hist = strstr(out, "\nhistory:\n");
	ASSERT_NOT_NULL(hist);
	assert_in_order(hist, (const char *const[]){
				  "raised", "escalated", COURTYARD " <- " BUILDING, "zty_b1",
				  "楼栋解决不了", "escalated", ZONE " <- " COURTYARD, "zty_rep",
				  "需要片区协调", "sent_down", BUILDING " <- " ZONE, "z5_leader",
				  "请楼长联系供电公司", NULL});
	free(out);

	/* A suspension the courtyard asks for waits for the zone. */
	s = RAISE(&f, REP, COURTYARD, "加装电梯需要业主表决", "--category", "housing");
	free(OK(&f, REP, "case", "accept", N(s)));
	out = OK(&f, REP, "case", "suspend", N(s), "--note", "等待业委会表决");
	ASSERT_LINE(out,
		    "case %llu suspension requested by zty_rep at " COURTYARD
		    ", still accepted until the level above approves\n",
		    s);
	free(out);
	out = sql_text(
	    &f, "SELECT state || '|' || suspend_requested FROM grid_case WHERE id = %llu", s);
	ASSERT_EQ_STR(out, "3|true");
	free(out);
	ASSERT_FAILS(&f, REP, 6, "already", "case", "suspend", N(s), "--note", "再问一次");
	out = OK(&f, Z5, "case", "suspend", N(s));
	ASSERT_LINE(out,
		    "case %llu suspended by z5_leader at " COURTYARD ": its clock is stopped\n", s);
	free(out);
	out = sql_text(
	    &f, "SELECT state || '|' || suspend_requested FROM grid_case WHERE id = %llu", s);
	ASSERT_EQ_STR(out, "9|false");
	free(out);
	out = OK(&f, REP, "case", "ls", COURTYARD, "--state", "suspended");
	assert_has(out, "加装电梯需要业主表决");
	free(out);
	out = OK(&f, REP, "--json", "case", "show", N(s));
	assert_json(out);
	assert_has(out, "\"state\":\"suspended\"");
	assert_has(out, "\"accept_due_ms\":null,\"resolve_due_ms\":null");
	assert_has(out, "\"suspend_reason\":\"等待业委会表决\"");
	free(out);
	out = OK(&f, REP, "case", "resume", N(s), "--note", "业委会已表决");
	ASSERT_LINE(out, "case %llu resumed by zty_rep at " COURTYARD ", now accepted\n", s);
	free(out);
	out = OK(&f, REP, "case", "show", N(s));
	hist = strstr(out, "\nhistory:\n");
	ASSERT_NOT_NULL(hist);
	assert_in_order(hist, (const char *const[]){"raised", "accepted", "suspend_requested",
						    "等待业委会表决", "suspended", "z5_leader",
						    "resumed", "业委会已表决", NULL});
	free(out);
	itest_teardown(&f.base);
}

TEST(void_claim_and_report)
{
	struct fix f;
	char *out;
	unsigned long long a, b, d;

	setup(&f);
	a = RAISE(&f, B1, BUILDING, "3单元漏水", "--category", "housing");
	b = RAISE(&f, B1, BUILDING, "电梯困人", "--category", "safety", "--urgency", "emergency",
		  "--channel", "phone");
	d = RAISE(&f, B1, BUILDING, "3单元又漏水", "--category", "housing");

	/* A duplicate is voided, linked to the case it repeats. */
	ASSERT_FAILS(&f, B1, 2, "--duplicate-of", "case", "void", N(d), "duplicate");
	ASSERT_FAILS(&f, B1, 2, "unknown reason", "case", "void", N(d), "fixed");
	out = OK(&f, B1, "case", "void", N(d), "duplicate", "--duplicate-of", N(a), "--note",
		 "同一处漏水");
	ASSERT_LINE(out, "case %llu voided (duplicate of case %llu) by zty_b1 at " BUILDING "\n", d,
		    a);
	free(out);
	ASSERT_FAILS(&f, B1, 6, "voided", "case", "void", N(d), "invalid");
	out = sql_text(&f,
		       "SELECT state || '|' || void_reason || '|' || duplicate_of FROM grid_case "
		       "WHERE id = %llu",
		       d);
	{
		char want[64];
		snprintf(want, sizeof(want), "8|3|%llu", a);
		ASSERT_EQ_STR(out, want);
	}
	free(out);

	/* Claims take the most urgent case first, then the oldest. */
	out = OK(&f, B1, "case", "claim", BUILDING);
	ASSERT_LINE(out, "case %llu claimed by zty_b1 at " BUILDING ", now accepted: 电梯困人\n",
		    b);
	free(out);
	out = OK(&f, B1, "case", "claim", BUILDING);
	ASSERT_LINE(out, "case %llu claimed by zty_b1 at " BUILDING ", now accepted: 3单元漏水\n",
		    a);
	free(out);
	ASSERT_FAILS(&f, B1, 3, NULL, "case", "claim", BUILDING);

	/* b is fixed and its reporter called back; a is withdrawn. */
	free(OK(&f, B1, "case", "start", N(b)));
	free(OK(&f, B1, "case", "resolve", N(b), "--note", "已解救，电梯已检修"));
	free(OK(&f, REP, "case", "check", N(b)));
	free(OK(&f, REP, "case", "close", N(b), "fixed"));
	free(OK(&f, B1, "case", "callback", N(b), "--solved", "yes", "--satisfaction", "4"));
	out = OK(&f, B1, "case", "close", N(a), "withdrawn", "--note", "居民已自行修好");
	ASSERT_LINE(out, "case %llu closed (withdrawn) by zty_b1 at " BUILDING "\n", a);
	free(out);

	/* The district reads the report: three cases, two closed, one
	 * voided, one call-back that was solved and satisfied. */
	out = OK(&f, ADMIN, "report", "cases", BUILDING, "--from", "1h");
	assert_has(out, "Cases raised at " BUILDING " or below");
	assert_in_order(out, (const char *const[]){"FIGURE", "VALUE", "DEFINITION", NULL});
	assert_figure(out, "received", "3", "raised in the period");
	assert_figure(out, "closure_rate", "66.7%", "closed / received");
	assert_figure(out, "voided", "1", NULL);
	assert_figure(out, "escalation_rate", "0.0%", NULL);
	assert_figure(out, "rework_rate", "0.0%", NULL);
	assert_figure(out, "callbacks", "1", NULL);
	assert_figure(out, "solved_rate", "100.0%", NULL);
	assert_figure(out, "satisfaction_rate", "100.0%", NULL);
	assert_figure(out, "mean_satisfaction", "4", NULL);
	free(out);
	out = OK(&f, ADMIN, "--json", "report", "cases", BUILDING, "--from", "1h");
	assert_json(out);
	assert_has(out, "\"node_code\":\"" BUILDING "\"");
	assert_has(out, "{\"name\":\"received\",\"value\":3,\"definition\":\"");
	assert_has(out, "{\"name\":\"closure_rate\",\"value\":0.6666");
	assert_has(out, "\"definition\":\"closed / received\"");
	free(out);
	/* A period before any case counts nothing; the building head reads
	 * the figures of their building, not of the community. */
	out = OK(&f, ADMIN, "report", "cases", BUILDING, "--to", "2000-01-01");
	assert_figure(out, "received", "0", NULL);
	free(out);
	out = OK(&f, B1, "report", "cases", BUILDING);
	assert_figure(out, "received", "3", NULL);
	free(out);
	ASSERT_FAILS(&f, B1, 4, NULL, "report", "cases", "WH-TZL");
	ASSERT_FAILS(&f, ADMIN, 2, "--from", "report", "cases", BUILDING, "--from", "2025-13-01");
	ASSERT_FAILS(&f, ADMIN, 2, "before", "report", "cases", BUILDING, "--from", "2025-03-01",
		     "--to", "2025-02-01");
	itest_teardown(&f.base);
}

TEST(idempotency_key_makes_a_rerun_change_nothing)
{
	struct fix f;
	char *out, *again, *err, sql[256];
	unsigned long long id, x, y;

	setup(&f);
	out = OK(&f, B1, "--idempotency-key", "itest-raise-1", "case", "raise", BUILDING,
		 "停车位被占");
	id = strtoull(out, NULL, 10);
	ASSERT(id > 0);
	again = OK(&f, B1, "--idempotency-key", "itest-raise-1", "case", "raise", BUILDING,
		   "停车位被占");
	ASSERT_EQ_STR(again, out);
	free(again);
	free(out);
	ASSERT_EQ_INT(sql_num(&f, "SELECT count(*) FROM grid_case WHERE title = '停车位被占'"), 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM grid_event WHERE case_id = %llu AND kind = 'case.raised'",
		 id);
	ASSERT_EQ_INT(sql_num(&f, sql), 1);
	/* The first reply again, as JSON too. */
	out = OK(&f, B1, "--json", "--idempotency-key", "itest-raise-1", "case", "raise", BUILDING,
		 "停车位被占");
	assert_json(out);
	{
		char key[64];
		snprintf(key, sizeof(key), "{\"id\":%llu,\"state\":\"received\"", id);
		assert_has(out, key);
	}
	free(out);
	/* The same key for another request is refused. */
	ASSERT_FAILS(&f, B1, 6, "idempotency key", "--idempotency-key", "itest-raise-1", "case",
		     "raise", BUILDING, "另一件事");
	ASSERT_EQ_INT(sql_num(&f, "SELECT count(*) FROM grid_case"), 1);

	/* A transition run twice with one key is done once: the second run
	 * prints the first answer, where without the key it is refused. */
	out = OK(&f, B1, "--idempotency-key", "itest-accept-1", "case", "accept", N(id));
	again = OK(&f, B1, "--idempotency-key", "itest-accept-1", "case", "accept", N(id));
	ASSERT_EQ_STR(again, out);
	free(again);
	free(out);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM grid_event WHERE case_id = %llu AND kind = 'case.accepted'",
		 id);
	ASSERT_EQ_INT(sql_num(&f, sql), 1);
	ASSERT_FAILS(&f, B1, 6, "accepted", "case", "accept", N(id));

	/* Without the option every write has a key of its own: random, 32
	 * hex digits, never the same twice. */
	x = RAISE(&f, B1, BUILDING, "楼下噪音");
	y = RAISE(&f, B1, BUILDING, "楼下噪音");
	ASSERT(x != y);
	ASSERT_EQ_INT(sql_num(&f, "SELECT count(DISTINCT key) FROM idempotency WHERE principal = "
				  "'zty_b1' AND method = 'RaiseCase' AND key ~ '^[0-9a-f]{32}$'"),
		      2);
	/* Reads carry none. */
	free(OK(&f, B1, "case", "show", N(x)));
	free(OK(&f, B1, "case", "ls", BUILDING));
	ASSERT_EQ_INT(sql_num(&f, "SELECT count(*) FROM idempotency WHERE principal = 'zty_b1'"),
		      2 + 2);

	/* A key that is no key is a usage error: nothing is sent. */
	ASSERT_EQ_INT(
	    AS(&f, B1, NULL, &err, "--idempotency-key", "", "case", "raise", BUILDING, "x"), 2);
	assert_has(err, "--idempotency-key");
	free(err);
	ASSERT_EQ_INT(AS(&f, B1, NULL, NULL, "--idempotency-key", "two words", "case", "raise",
			 BUILDING, "x"),
		      2);
	ASSERT_EQ_INT(sql_num(&f, "SELECT count(*) FROM grid_case WHERE title = 'x'"), 0);
	itest_teardown(&f.base);
}

/* --- retries: a proxy between gridctl and gridd -------------------------- */

enum proxy_mode {
	PROXY_CUT_ONCE,		/* drops the connection instead of the first RaiseCase reply */
	PROXY_CUT_ALWAYS,	/* ... instead of every RaiseCase reply */
	PROXY_UNAVAILABLE_ONCE, /* answers the first RaiseCase itself: UNAVAILABLE */
};

struct proxy {
	enum proxy_mode mode;
	char upstream[80];
	char addr[80]; /* where gridctl connects */
	int lfd;
	int stop[2]; /* a pipe: written to stop the thread */
	pthread_t thread;
	/* What it saw; read after proxy_stop(). */
	int connections;
	int writes; /* RaiseCase requests from gridctl */
	char keys[8][160];
	int cuts, answered;
};

static bool send_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static uint32_t frame_len(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool send_unavailable(int fd, uint64_t id)
{
	Grid__V1__Status st = GRID__V1__STATUS__INIT;
	Grid__V1__Reply reply = GRID__V1__REPLY__INIT;
	Grid__V1__ServerFrame fr = GRID__V1__SERVER_FRAME__INIT;
	uint8_t buf[256];
	size_t n;

	st.code = GRID__V1__CODE__CODE_UNAVAILABLE;
	st.message = (char *)"itest proxy: busy, try again";
	reply.id = id;
	reply.status = &st;
	fr.frame_case = GRID__V1__SERVER_FRAME__FRAME_REPLY;
	fr.reply = &reply;
	n = grid__v1__server_frame__pack(&fr, buf + 4);
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	return send_all(fd, buf, n + 4);
}

#define PROXY_BUF (1 << 20)

/* Relays one connection of gridctl to gridd until either side ends it,
 * or the mode says to cut it. */
static void proxy_pump(struct proxy *p, int c)
{
	uint8_t *cb = malloc(PROXY_BUF), *sb = malloc(PROXY_BUF);
	size_t cl = 0, sl = 0;
	uint64_t cut_id = 0;
	int up = raw_connect(p->upstream, NULL);
	bool open = true;

	ASSERT(cb && sb);
	while (open) {
		struct pollfd pf[3] = {{c, POLLIN, 0}, {up, POLLIN, 0}, {p->stop[0], POLLIN, 0}};
		ssize_t n;

		if (poll(pf, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[2].revents)
			break;
		if (pf[0].revents) {
			n = recv(c, cb + cl, PROXY_BUF - cl, 0);
			if (n <= 0)
				break;
			cl += (size_t)n;
			while (open && cl >= 4 && cl >= 4 + (size_t)frame_len(cb)) {
				size_t len = 4 + frame_len(cb);
				Grid__V1__Request *req =
				    grid__v1__request__unpack(NULL, len - 4, cb + 4);
				bool forward = true;

				if (req && req->call_case == GRID__V1__REQUEST__CALL_RAISE_CASE) {
					if (p->writes < 8)
						snprintf(p->keys[p->writes], sizeof(p->keys[0]),
							 "%s", req->idempotency_key);
					p->writes++;
					cut_id = req->id;
					if (p->mode == PROXY_UNAVAILABLE_ONCE && !p->answered) {
						p->answered++;
						forward = false;
						open = send_unavailable(c, req->id);
					}
				}
				if (req)
					grid__v1__request__free_unpacked(req, NULL);
				if (forward && !send_all(up, cb, len))
					open = false;
				memmove(cb, cb + len, cl - len);
				cl -= len;
			}
		}
		if (open && pf[1].revents) {
			n = recv(up, sb + sl, PROXY_BUF - sl, 0);
			if (n <= 0)
				break;
			sl += (size_t)n;
			while (open && sl >= 4 && sl >= 4 + (size_t)frame_len(sb)) {
				size_t len = 4 + frame_len(sb);
				Grid__V1__ServerFrame *fr =
				    grid__v1__server_frame__unpack(NULL, len - 4, sb + 4);
				bool cut = fr &&
					   fr->frame_case == GRID__V1__SERVER_FRAME__FRAME_REPLY &&
					   cut_id && fr->reply->id == cut_id &&
					   (p->mode == PROXY_CUT_ALWAYS ||
					    (p->mode == PROXY_CUT_ONCE && !p->cuts));

				if (fr)
					grid__v1__server_frame__free_unpacked(fr, NULL);
				if (cut) {
					/* gridd committed and answered; gridctl never hears. */
					p->cuts++;
					open = false;
					break;
				}
				if (!send_all(c, sb, len))
					open = false;
				memmove(sb, sb + len, sl - len);
				sl -= len;
			}
		}
	}
	close(up);
	close(c);
	free(cb);
	free(sb);
}

static void *proxy_run(void *data)
{
	struct proxy *p = data;

	for (;;) {
		struct pollfd pf[2] = {{p->lfd, POLLIN, 0}, {p->stop[0], POLLIN, 0}};
		int c;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		c = accept(p->lfd, NULL, NULL);
		if (c < 0)
			continue;
		p->connections++;
		proxy_pump(p, c);
	}
	return NULL;
}

static void proxy_start(struct proxy *p, const char *upstream, enum proxy_mode mode)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	socklen_t len = sizeof(sa);

	memset(p, 0, sizeof(*p));
	p->mode = mode;
	snprintf(p->upstream, sizeof(p->upstream), "%s", upstream);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT(p->lfd >= 0);
	ASSERT(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	ASSERT(listen(p->lfd, 8) == 0);
	ASSERT(getsockname(p->lfd, (struct sockaddr *)&sa, &len) == 0);
	snprintf(p->addr, sizeof(p->addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	ASSERT(pipe(p->stop) == 0);
	ASSERT(pthread_create(&p->thread, NULL, proxy_run, p) == 0);
}

static void proxy_stop(struct proxy *p)
{
	ASSERT(write(p->stop[1], "x", 1) == 1);
	ASSERT(pthread_join(p->thread, NULL) == 0);
	close(p->stop[0]);
	close(p->stop[1]);
	close(p->lfd);
}

/* Raises title as the building head through the proxy; returns the exit
 * code, stdout in *ret_out. */
static int raise_via(struct fix *f, const struct proxy *p, const char *title, char **ret_out,
		     char **ret_err)
{
	struct itest_gridd via = f->base.g;

	snprintf(via.address, sizeof(via.address), "%s", p->addr);
	return itest_gridctl_env(&via, no_env, NULL, ret_out, ret_err,
				 (const char *const[]){"--token-file", f->token[B1], "case",
						       "raise", BUILDING, title, NULL});
}

static long long cases_titled(struct fix *f, const char *title)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM grid_case WHERE title = '%s'", title);
	return sql_num(f, sql);
}

TEST(lost_connection_and_unavailable_are_retried_once_done)
{
	struct fix f;
	struct proxy p;
	char *out, *err;
	int rc;

	setup(&f);

	/* gridd commits the case, the connection drops before the reply:
	 * gridctl connects again, sends the same request with the same key,
	 * and gets the first answer. One case. */
	proxy_start(&p, f.base.g.address, PROXY_CUT_ONCE);
	rc = raise_via(&f, &p, "断线后重试", &out, &err);
	proxy_stop(&p);
	ASSERT_MSG(rc == 0, "exit %d: %s", rc, err);
	ASSERT(strtoull(out, NULL, 10) > 0);
	free(out);
	free(err);
	ASSERT_EQ_INT(p.cuts, 1);
	ASSERT_EQ_INT(p.connections, 2);
	ASSERT_EQ_INT(p.writes, 2);
	ASSERT_EQ_INT(strlen(p.keys[0]), 32);
	ASSERT_EQ_STR(p.keys[1], p.keys[0]);
	ASSERT_EQ_INT(cases_titled(&f, "断线后重试"), 1);

	/* UNAVAILABLE: "not done, try again", on the same connection. */
	proxy_start(&p, f.base.g.address, PROXY_UNAVAILABLE_ONCE);
	rc = raise_via(&f, &p, "繁忙时重试", &out, &err);
	proxy_stop(&p);
	ASSERT_MSG(rc == 0, "exit %d: %s", rc, err);
	free(out);
	free(err);
	ASSERT_EQ_INT(p.answered, 1);
	ASSERT_EQ_INT(p.connections, 1);
	ASSERT_EQ_INT(p.writes, 2);
	ASSERT_EQ_INT(strlen(p.keys[0]), 32);
	ASSERT_EQ_STR(p.keys[1], p.keys[0]);
	ASSERT_EQ_INT(cases_titled(&f, "繁忙时重试"), 1);

	/* A connection that keeps dropping: a few tries, all with one key,
	 * then exit 5; the case exists once all the same. */
	proxy_start(&p, f.base.g.address, PROXY_CUT_ALWAYS);
	rc = raise_via(&f, &p, "一直断线", &out, &err);
	proxy_stop(&p);
	ASSERT_MSG(rc == 5, "exit %d: %s", rc, err);
	ASSERT_MSG(!*out, "printed: %s", out);
	free(out);
	free(err);
	ASSERT(p.writes >= 3 && p.writes <= 8);
	ASSERT_EQ_INT(p.cuts, p.writes);
	for (int i = 1; i < p.writes; i++)
		ASSERT_EQ_STR(p.keys[i], p.keys[0]);
	ASSERT_EQ_INT(cases_titled(&f, "一直断线"), 1);
	itest_teardown(&f.base);
}

/* --- the command line ----------------------------------------------------- */

TEST(help_and_usage_errors)
{
	static const char *const cmds[] = {
	    "raise",	"show",	     "ls",	"claim",  "register", "void",
	    "accept",	"start",     "resolve", "check",  "close",    "rework",
	    "escalate", "send-down", "suspend", "resume", "reopen",   "callback",
	};
	char *out, *err, want[80];

	/* Every command explains itself, with examples from the sample
	 * district; none of this needs a server. */
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ASSERT_EQ_INT(
		    itest_gridctl_env(NULL, no_env, NULL, &out, NULL,
				      (const char *const[]){"case", cmds[i], "--help", NULL}),
		    0);
		snprintf(want, sizeof(want), "Usage: gridctl case %s ", cmds[i]);
		assert_has(out, want);
		assert_has(out, "Examples:");
		snprintf(want, sizeof(want), "gridctl case %s ", cmds[i]);
		assert_has(strstr(out, "Examples:"), want);
		free(out);
	}
	ASSERT_EQ_INT(itest_gridctl_env(NULL, no_env, NULL, &out, NULL,
					(const char *const[]){"case", "--help", NULL}),
		      0);
	assert_has(out, "WH-TZL-Z5-ZTY-B1");
	free(out);
	ASSERT_EQ_INT(itest_gridctl_env(NULL, no_env, NULL, &out, NULL,
					(const char *const[]){"report", "cases", "--help", NULL}),
		      0);
	assert_has(out, "Usage: gridctl report cases NODE");
	assert_has(out, "gridctl report cases WH-TZL");
	free(out);
	ASSERT_EQ_INT(itest_gridctl_env(NULL, no_env, NULL, &out, NULL,
					(const char *const[]){"--help", NULL}),
		      0);
	assert_has(out, "case raise");
	assert_has(out, "report cases");
	assert_has(out, "--idempotency-key");
	free(out);

	/* Usage errors (exit 2) are found before connecting: there is no
	 * server here, which would be exit 5. */
	const char *const *bad[] = {
	    (const char *const[]){"case", NULL},
	    (const char *const[]){"case", "fly", NULL},
	    (const char *const[]){"case", "raise", BUILDING, NULL},
	    (const char *const[]){"case", "raise", BUILDING, "t", "--urgency", "soon", NULL},
	    (const char *const[]){"case", "show", "twelve", NULL},
	    (const char *const[]){"case", "show", "0", NULL},
	    (const char *const[]){"case", "accept", NULL},
	    (const char *const[]){"case", "accept", "12", "extra", NULL},
	    (const char *const[]){"case", "close", "12", NULL},
	    (const char *const[]){"case", "close", "12", "done", NULL},
	    (const char *const[]){"case", "close", "12", "fixed", "--duplicate-of", "3", NULL},
	    (const char *const[]){"case", "void", "12", "duplicate", NULL},
	    (const char *const[]){"case", "send-down", "12", NULL},
	    (const char *const[]){"case", "callback", "12", "--solved", "yes", NULL},
	    (const char *const[]){"case", "callback", "12", "--solved", "maybe", "--satisfaction",
				  "3", NULL},
	    (const char *const[]){"case", "callback", "12", "--solved", "yes", "--satisfaction",
				  "6", NULL},
	    (const char *const[]){"case", "ls", NULL},
	    (const char *const[]){"case", "ls", BUILDING, "--limit", "many", NULL},
	    (const char *const[]){"case", "claim", NULL},
	    (const char *const[]){"report", "cases", NULL},
	    (const char *const[]){"report", "cases", BUILDING, "--to", "yesterday", NULL},
	    (const char *const[]){"--idempotency-key", "", "case", "accept", "12", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const *args = bad[i];
		const char *full[16] = {"--server", "127.0.0.1:1", NULL};
		size_t n = 2;

		for (; *args && n < 15; args++)
			full[n++] = *args;
		full[n] = NULL;
		int rc = itest_gridctl_env(NULL, no_env, NULL, NULL, &err, full);
		ASSERT_MSG(rc == 2, "%s %s ...: exit %d: %s", full[2], full[3] ? full[3] : "", rc,
			   err);
		assert_has(err, "gridctl: ");
		free(err);
	}
	/* --json: the usage error as JSON on stderr. */
	ASSERT_EQ_INT(itest_gridctl_env(NULL, no_env, NULL, NULL, &err,
					(const char *const[]){"--json", "case", "show", "x", NULL}),
		      2);
	assert_json(err);
	assert_has(err, "\"code\":\"INVALID_ARGUMENT\"");
	free(err);
}
