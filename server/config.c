/* Configuration keys, their defaults and parsing; see config.h. One table
 * describes every key, so the INI loader, --set and --print-config agree.
 * The [cases] keys accept.LEVEL[.CATEGORY] and resolve.LEVEL[.CATEGORY] are
 * matched by their prefix; their level names are checked in config_check,
 * since [grid] levels may come later in the file. */
#include "server/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ini.h"
#include "common/strutil.h"

enum key_type {
	KEY_STR,
	KEY_U32,
	KEY_LOG_LEVEL,
	KEY_LEVELS,
	KEY_BOOL,
	KEY_DAYS,      /* [calendar] days */
	KEY_HOURS,     /* [calendar] hours */
	KEY_DATES,     /* [calendar] holidays, workdays */
	KEY_DURATION,  /* [cases] accept, resolve */
	KEY_CASE_RULE, /* [cases] accept.*, resolve.*: name is the prefix */
};

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset;
	uint32_t min, max; /* for KEY_U32 */
};

#define OFF(f) offsetof(struct config, f)

static const struct key keys[] = {
    {"server", "listen", KEY_STR, OFF(listen), 0, 0},
    {"server", "name", KEY_STR, OFF(server_name), 0, 0},
    {"server", "log_level", KEY_LOG_LEVEL, OFF(log_level), 0, 0},
    {"server", "shutdown_timeout_ms", KEY_U32, OFF(shutdown_timeout_ms), 0, 600000},
    {"server", "allow_remote_plaintext", KEY_BOOL, OFF(allow_remote_plaintext), 0, 0},
    {"database", "url", KEY_STR, OFF(database_url), 0, 0},
    {"database", "pool_size", KEY_U32, OFF(pool_size), 1, 64},
    {"database", "connect_wait_ms", KEY_U32, OFF(connect_wait_ms), 0, 3600000},
    {"database", "statement_timeout_ms", KEY_U32, OFF(statement_timeout_ms), 100, 3600000},
    {"database", "connect_timeout_ms", KEY_U32, OFF(db_connect_timeout_ms), 100, 600000},
    {"database", "health_check_ms", KEY_U32, OFF(db_health_check_ms), 100, 3600000},
    {"grid", "levels", KEY_LEVELS, OFF(levels), 0, 0},
    {"limits", "max_frame_before_login", KEY_U32, OFF(max_frame_before_login), 1024, 1u << 24},
    {"limits", "max_frame", KEY_U32, OFF(max_frame), 1024, 1u << 26},
    {"limits", "max_inflight", KEY_U32, OFF(max_inflight), 1, 65536},
    {"limits", "max_connections", KEY_U32, OFF(max_connections), 1, 1000000},
    {"limits", "max_connections_per_address", KEY_U32, OFF(max_connections_per_address), 1,
     1000000},
    {"limits", "max_outbuf", KEY_U32, OFF(max_outbuf), 65536, 1u << 30},
    {"limits", "max_page_size", KEY_U32, OFF(max_page_size), 1, 100000},
    {"limits", "default_page_size", KEY_U32, OFF(default_page_size), 1, 100000},
    {"limits", "request_timeout_ms", KEY_U32, OFF(request_timeout_ms), 10, 3600000},
    {"limits", "idle_timeout_ms", KEY_U32, OFF(idle_timeout_ms), 0, 86400000},
    {"limits", "login_timeout_ms", KEY_U32, OFF(login_timeout_ms), 100, 600000},
    {"limits", "frame_timeout_ms", KEY_U32, OFF(frame_timeout_ms), 0, 3600000},
    {"limits", "send_timeout_ms", KEY_U32, OFF(send_timeout_ms), 0, 3600000},
    {"limits", "outbuf_pause", KEY_U32, OFF(outbuf_pause), 4096, 1u << 30},
    {"auth", "session_idle_ms", KEY_U32, OFF(session_idle_ms), 1000, 604800000},
    {"auth", "session_max_ms", KEY_U32, OFF(session_max_ms), 1000, 2592000000u},
    {"auth", "pwhash_opslimit", KEY_U32, OFF(pwhash_opslimit), 0, 64},
    {"auth", "pwhash_memlimit_kib", KEY_U32, OFF(pwhash_memlimit_kib), 0, 4194304},
    {"auth", "max_hashing", KEY_U32, OFF(max_hashing), 1, 64},
    {"auth", "max_hash_queue", KEY_U32, OFF(max_hash_queue), 0, 100000},
    {"auth", "login_failures", KEY_U32, OFF(login_failures), 1, 1000},
    {"tls", "listen", KEY_STR, OFF(tls_listen), 0, 0},
    {"tls", "cert", KEY_STR, OFF(tls_cert), 0, 0},
    {"tls", "key", KEY_STR, OFF(tls_key), 0, 0},
    {"calendar", "timezone", KEY_STR, OFF(cal_timezone), 0, 0},
    {"calendar", "days", KEY_DAYS, OFF(cal_days), 0, 0},
    {"calendar", "hours", KEY_HOURS, OFF(cal_hours), 0, 0},
    {"calendar", "holidays", KEY_DATES, OFF(cal_holidays), 0, 0},
    {"calendar", "workdays", KEY_DATES, OFF(cal_workdays), 0, 0},
    {"cases", "accept", KEY_DURATION, OFF(case_accept), 0, 0},
    {"cases", "resolve", KEY_DURATION, OFF(case_resolve), 0, 0},
    {"cases", "accept.", KEY_CASE_RULE, OFF(case_rules), 0, 0},
    {"cases", "resolve.", KEY_CASE_RULE, OFF(case_rules), 0, 0},
};

static const char *const default_levels[] = {"district", "subdistrict", "community",
					     "zone",	 "courtyard",	"building"};

static int set_levels(struct config *c, const char *value, char *err, size_t errlen)
{
	char *copy = strdup(value), *save = NULL, *tok;
	char *levels[CONFIG_MAX_LEVELS];
	uint32_t n = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		str_trim(tok);
		if (!*tok)
			continue;
		for (const char *p = tok; *p; p++) {
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
			      *p == '-')) {
				snprintf(
				    err, errlen,
				    "level name \"%s\": use lower-case letters, digits, '_' or '-'",
				    tok);
				goto fail;
			}
		}
		for (uint32_t i = 0; i < n; i++) {
			if (strcmp(levels[i], tok) == 0) {
				snprintf(err, errlen, "level name \"%s\" appears twice", tok);
				goto fail;
			}
		}
		if (n == CONFIG_MAX_LEVELS) {
			snprintf(err, errlen, "more than %d levels", CONFIG_MAX_LEVELS);
			goto fail;
		}
		levels[n] = strdup(tok);
		if (!levels[n])
			goto fail;
		n++;
	}
	if (n < 2) {
		snprintf(err, errlen, "levels needs at least two names, top first");
		goto fail;
	}
	for (uint32_t i = 0; i < c->nlevels; i++)
		free(c->levels[i]);
	memcpy(c->levels, levels, n * sizeof(levels[0]));
	c->nlevels = n;
	free(copy);
	return 0;
fail:
	for (uint32_t i = 0; i < n; i++)
		free(levels[i]);
	free(copy);
	return -EINVAL;
}

/* [calendar] and [cases]: working days, hours, dates and durations. */

static const char *const day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* Built-in deadlines: lower levels are closer to the resident and accept
 * faster; higher ones take longer to resolve what reached them. A level
 * name not listed here gets the built-in accept and resolve. */
static const struct {
	const char *level;
	struct config_duration accept, resolve;
} builtin_deadlines[] = {
    {"building", {CONFIG_DURATION_SET, 0, 2 * 3600000}, {CONFIG_DURATION_SET, 2, 0}},
    {"courtyard", {CONFIG_DURATION_SET, 0, 2 * 3600000}, {CONFIG_DURATION_SET, 2, 0}},
    {"zone", {CONFIG_DURATION_SET, 0, 4 * 3600000}, {CONFIG_DURATION_SET, 3, 0}},
    {"community", {CONFIG_DURATION_SET, 0, 4 * 3600000}, {CONFIG_DURATION_SET, 5, 0}},
    {"subdistrict", {CONFIG_DURATION_SET, 1, 0}, {CONFIG_DURATION_SET, 10, 0}},
    {"district", {CONFIG_DURATION_SET, 1, 0}, {CONFIG_DURATION_SET, 10, 0}},
};
static const struct config_duration builtin_accept = {CONFIG_DURATION_SET, 0, 4 * 3600000};
static const struct config_duration builtin_resolve = {CONFIG_DURATION_SET, 3, 0};

static bool is_name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

/* A lower-case name of 1 to 63 characters from [a-z0-9_-]. */
static bool is_plain_name(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_name_char(s[i]))
			return false;
	return true;
}

/* Splits value at commas into trimmed, non-empty tokens, calling fn on each;
 * stops at the first error. */
static int each_token(const char *value, int (*fn)(void *data, char *tok), void *data)
{
	char *copy = strdup(value), *save = NULL, *tok;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save)) {
		str_trim(tok);
		if (*tok)
			r = fn(data, tok);
	}
	free(copy);
	return r;
}

static int day_index(const char *s, size_t len)
{
	for (int i = 0; i < 7; i++)
		if (len == 3 && strncasecmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

struct days_ctx {
	uint8_t mask;
	char *bad; /* the token that failed */
};

static int on_day(void *data, char *tok)
{
	struct days_ctx *d = data;
	char *dash = strchr(tok, '-');
	int a, b;

	if (dash) {
		a = day_index(tok, (size_t)(dash - tok));
		b = day_index(dash + 1, strlen(dash + 1));
	} else {
		a = b = day_index(tok, strlen(tok));
	}
	if (a < 0 || b < 0) {
		d->bad = strdup(tok);
		return -EINVAL;
	}
	/* A range may wrap around the week end: fri-mon. */
	for (int i = a;; i = (i + 1) % 7) {
		d->mask |= (uint8_t)(1u << i);
		if (i == b)
			break;
	}
	return 0;
}

static int set_days(struct config *c, const char *value, char *err, size_t errlen)
{
	struct days_ctx d = {0, NULL};
	int r = each_token(value, on_day, &d);

	if (r == -ENOMEM)
		return r;
	if (r < 0 || d.mask == 0) {
		if (d.bad)
			snprintf(err, errlen,
				 "[calendar] days = \"%s\": unknown day \"%s\"; use mon, tue, wed, "
				 "thu, fri, sat, sun or a range such as mon-fri",
				 value, d.bad);
		else
			snprintf(err, errlen,
				 "[calendar] days = \"%s\": at least one working day, e.g. mon-fri",
				 value);
		free(d.bad);
		return -EINVAL;
	}
	c->cal_days = d.mask;
	return 0;
}

/* "HH:MM" with HH 0-24 (24 only as 24:00); minutes after midnight or -1. */
static int parse_hhmm(const char *s, size_t len)
{
	int h = 0, m;
	size_t i = 0;

	while (i < len && i < 2 && s[i] >= '0' && s[i] <= '9')
		h = h * 10 + (s[i++] - '0');
	if (i == 0 || i + 3 != len || s[i] != ':' || s[i + 1] < '0' || s[i + 1] > '5' ||
	    s[i + 2] < '0' || s[i + 2] > '9')
		return -1;
	m = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
	if (h > 24 || (h == 24 && m != 0))
		return -1;
	return h * 60 + m;
}

struct hours_ctx {
	uint16_t iv[CONFIG_MAX_HOURS][2];
	uint32_t n;
	char msg[160];
};

static int on_interval(void *data, char *tok)
{
	struct hours_ctx *h = data;
	char *dash = strchr(tok, '-');
	int a, b;

	if (!dash || (a = parse_hhmm(tok, (size_t)(dash - tok))) < 0 ||
	    (b = parse_hhmm(dash + 1, strlen(dash + 1))) < 0) {
		snprintf(h->msg, sizeof(h->msg), "\"%s\" is not an interval HH:MM-HH:MM", tok);
		return -EINVAL;
	}
	if (a >= b) {
		snprintf(h->msg, sizeof(h->msg),
			 "\"%s\" is empty or ends before it starts (hours past midnight are "
			 "not supported)",
			 tok);
		return -EINVAL;
	}
	if (h->n == CONFIG_MAX_HOURS) {
		snprintf(h->msg, sizeof(h->msg), "more than %d intervals", CONFIG_MAX_HOURS);
		return -EINVAL;
	}
	h->iv[h->n][0] = (uint16_t)a;
	h->iv[h->n][1] = (uint16_t)b;
	h->n++;
	return 0;
}

static int set_hours(struct config *c, const char *value, char *err, size_t errlen)
{
	struct hours_ctx h = {.n = 0};
	int r = each_token(value, on_interval, &h);

	if (r == -ENOMEM)
		return r;
	if (r == 0 && h.n == 0) {
		snprintf(h.msg, sizeof(h.msg), "at least one interval, e.g. 09:00-17:00");
		r = -EINVAL;
	}
	/* In order of their start (a handful: insertion sort), then apart. */
	for (uint32_t i = 1; r == 0 && i < h.n; i++)
		for (uint32_t j = i; j > 0 && h.iv[j][0] < h.iv[j - 1][0]; j--) {
			uint16_t t0 = h.iv[j][0], t1 = h.iv[j][1];
			h.iv[j][0] = h.iv[j - 1][0];
			h.iv[j][1] = h.iv[j - 1][1];
			h.iv[j - 1][0] = t0;
			h.iv[j - 1][1] = t1;
		}
	for (uint32_t i = 1; r == 0 && i < h.n; i++) {
		if (h.iv[i][0] < h.iv[i - 1][1]) {
			snprintf(h.msg, sizeof(h.msg),
				 "%02u:%02u-%02u:%02u and %02u:%02u-%02u:%02u overlap",
				 h.iv[i - 1][0] / 60, h.iv[i - 1][0] % 60, h.iv[i - 1][1] / 60,
				 h.iv[i - 1][1] % 60, h.iv[i][0] / 60, h.iv[i][0] % 60,
				 h.iv[i][1] / 60, h.iv[i][1] % 60);
			r = -EINVAL;
		}
	}
	if (r < 0) {
		snprintf(err, errlen, "[calendar] hours = \"%s\": %s", value, h.msg);
		return r;
	}
	memcpy(c->cal_hours, h.iv, sizeof(h.iv));
	c->cal_nhours = h.n;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int32_t days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int32_t)doe - 719468;
}

static void civil_from_days(int32_t z, int *ret_y, unsigned *ret_m, unsigned *ret_d)
{
	z += 719468;
	const int era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	const unsigned d = doy - (153 * mp + 2) / 5 + 1;
	const unsigned m = mp < 10 ? mp + 3 : mp - 9;

	*ret_y = (int)yoe + era * 400 + (m <= 2);
	*ret_m = m;
	*ret_d = d;
}

/* "YYYY-MM-DD", a real date from 1900 to 2999. */
static int parse_date(const char *s, size_t len, int32_t *ret_day)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned v[3] = {0, 0, 0}, widths[3] = {4, 2, 2};
	size_t p = 0;

	for (int f = 0; f < 3; f++) {
		if (f > 0 && (p >= len || s[p++] != '-'))
			return -EINVAL;
		for (unsigned i = 0; i < widths[f]; i++, p++) {
			if (p >= len || s[p] < '0' || s[p] > '9')
				return -EINVAL;
			v[f] = v[f] * 10 + (unsigned)(s[p] - '0');
		}
	}
	if (p != len || v[0] < 1900 || v[0] > 2999 || v[1] < 1 || v[1] > 12 || v[2] < 1)
		return -EINVAL;
	bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
	if (v[2] > mdays[v[1] - 1] + (v[1] == 2 && leap))
		return -EINVAL;
	*ret_day = days_from_civil((int)v[0], v[1], v[2]);
	return 0;
}

/* out: 16 bytes. Days come from parse_date (years 1900-2999). */
static void format_date(int32_t day, char *out)
{
	int y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	snprintf(out, 16, "%04d-%02u-%02u", y % 10000, m % 100, d % 100);
}

struct dates_ctx {
	int32_t *days;
	uint32_t n, cap;
	char msg[160];
};

static int on_dates(void *data, char *tok)
{
	struct dates_ctx *d = data;
	char *dots = strstr(tok, "..");
	int32_t first, last;

	if (dots) {
		char *b = dots + 2;
		*dots = '\0';
		str_trim(tok);
		while (*b == ' ' || *b == '\t')
			b++;
		if (parse_date(tok, strlen(tok), &first) < 0 ||
		    parse_date(b, strlen(b), &last) < 0) {
			snprintf(d->msg, sizeof(d->msg),
				 "\"%s..%s\" is not a range of dates YYYY-MM-DD..YYYY-MM-DD", tok,
				 b);
			return -EINVAL;
		}
		if (last < first || last - first > 366) {
			snprintf(d->msg, sizeof(d->msg),
				 "\"%s..%s\": a range runs forward and spans at most a year", tok,
				 b);
			return -EINVAL;
		}
	} else if (parse_date(tok, strlen(tok), &first) < 0) {
		snprintf(d->msg, sizeof(d->msg), "\"%s\" is not a date YYYY-MM-DD", tok);
		return -EINVAL;
	} else {
		last = first;
	}
	for (int32_t day = first; day <= last; day++) {
		if (d->n == CONFIG_MAX_DATES) {
			snprintf(d->msg, sizeof(d->msg), "more than %d days", CONFIG_MAX_DATES);
			return -EINVAL;
		}
		if (d->n == d->cap) {
			uint32_t cap = d->cap ? d->cap * 2 : 64;
			int32_t *p = realloc(d->days, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			d->days = p;
			d->cap = cap;
		}
		d->days[d->n++] = day;
	}
	return 0;
}

static int cmp_day(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

static int set_dates(struct config *c, const struct key *k, const char *value, char *err,
		     size_t errlen)
{
	struct config_dates *slot = (struct config_dates *)((char *)c + k->offset);
	struct dates_ctx d = {NULL, 0, 0, ""};
	uint32_t n = 0;
	int r = each_token(value, on_dates, &d);

	if (r < 0) {
		if (r != -ENOMEM)
			snprintf(err, errlen, "[%s] %s = \"%s\": %s", k->section, k->name, value,
				 d.msg);
		free(d.days);
		return r;
	}
	if (d.n)
		qsort(d.days, d.n, sizeof(*d.days), cmp_day);
	for (uint32_t i = 0; i < d.n; i++)
		if (n == 0 || d.days[n - 1] != d.days[i])
			d.days[n++] = d.days[i];
	free(slot->days);
	slot->days = d.days;
	slot->n = n;
	return 0;
}

/* "none", or parts NUMBER UNIT with the units wd (working days), h, m, s, in
 * that order, each at most once: 30m, 4h, 2h30m, 3wd, 1wd4h. */
static int parse_duration(const char *value, struct config_duration *ret)
{
	static const char *const units[] = {"wd", "h", "m", "s"};
	static const uint64_t unit_ms[] = {0, 3600000, 60000, 1000};
	struct config_duration d = {CONFIG_DURATION_SET, 0, 0};
	const char *p = value;
	int next = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strcasecmp(p, "none") == 0) {
		*ret = (struct config_duration){CONFIG_DURATION_NONE, 0, 0};
		return 0;
	}
	if (!*p)
		return -EINVAL;
	while (*p) {
		uint64_t n = 0;
		size_t digits = 0, ulen = 0;
		int u;

		while (p[digits] >= '0' && p[digits] <= '9') {
			n = n * 10 + (uint64_t)(p[digits] - '0');
			if (++digits > 6)
				return -EINVAL;
		}
		p += digits;
		while ((p[ulen] >= 'a' && p[ulen] <= 'z'))
			ulen++;
		for (u = next; u < 4; u++)
			if (strlen(units[u]) == ulen && strncmp(p, units[u], ulen) == 0)
				break;
		if (digits == 0 || u == 4)
			return -EINVAL;
		if (u == 0)
			d.wd = (uint32_t)n;
		else
			d.ms += n * unit_ms[u];
		next = u + 1;
		p += ulen;
	}
	if (d.wd == 0 && d.ms == 0)
		return -EINVAL;
	*ret = d;
	return 0;
}

static void format_duration(const struct config_duration *d, char *out, size_t size)
{
	size_t n = 0;
	uint64_t ms = d->ms;

	if (d->state != CONFIG_DURATION_SET) {
		snprintf(out, size, "none");
		return;
	}
	out[0] = '\0';
	if (d->wd)
		n += (size_t)snprintf(out + n, size - n, "%uwd", d->wd);
	if (n < size && ms >= 3600000)
		n += (size_t)snprintf(out + n, size - n, "%" PRIu64 "h", ms / 3600000);
	ms %= 3600000;
	if (n < size && ms >= 60000)
		n += (size_t)snprintf(out + n, size - n, "%" PRIu64 "m", ms / 60000);
	ms %= 60000;
	if (n < size && ms >= 1000)
		snprintf(out + n, size - n, "%" PRIu64 "s", ms / 1000);
}

static const char duration_help[] =
    "expected a working time such as 30m, 4h, 2h30m, 3wd (working days) or none";

static int set_duration(struct config *c, const struct key *k, const char *value, char *err,
			size_t errlen)
{
	struct config_duration *slot = (struct config_duration *)((char *)c + k->offset);

	if (parse_duration(value, slot) < 0) {
		snprintf(err, errlen, "[%s] %s = \"%s\": %s", k->section, k->name, value,
			 duration_help);
		return -EINVAL;
	}
	return 0;
}

/* accept.LEVEL[.CATEGORY] or resolve.LEVEL[.CATEGORY] = DURATION. */
static int set_case_rule(struct config *c, const char *name, const char *value, char *err,
			 size_t errlen)
{
	bool resolve = strncmp(name, "resolve.", 8) == 0;
	const char *level = name + (resolve ? 8 : 7);
	const char *dot = strchr(level, '.');
	size_t llen = dot ? (size_t)(dot - level) : strlen(level);
	const char *category = dot ? dot + 1 : "";
	struct config_case_rule *rule = NULL;
	struct config_duration d;

	if (!is_plain_name(level, llen) || (dot && !is_plain_name(category, strlen(category)))) {
		snprintf(err, errlen,
			 "[cases] %s: expected %s.LEVEL or %s.LEVEL.CATEGORY (lower-case letters, "
			 "digits, '_' or '-')",
			 name, resolve ? "resolve" : "accept", resolve ? "resolve" : "accept");
		return -ENOENT;
	}
	if (parse_duration(value, &d) < 0) {
		snprintf(err, errlen, "[cases] %s = \"%s\": %s", name, value, duration_help);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < c->ncase_rules; i++) {
		struct config_case_rule *x = &c->case_rules[i];
		if (strlen(x->level) == llen && strncmp(x->level, level, llen) == 0 &&
		    strcmp(x->category, category) == 0) {
			rule = x;
			break;
		}
	}
	if (!rule) {
		struct config_case_rule *p;
		if (c->ncase_rules == CONFIG_MAX_CASE_RULES) {
			snprintf(err, errlen,
				 "[cases] %s: more than %d levels and categories with "
				 "deadlines of their own",
				 name, CONFIG_MAX_CASE_RULES);
			return -EINVAL;
		}
		p = realloc(c->case_rules, (c->ncase_rules + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->case_rules = p;
		rule = &p[c->ncase_rules];
		memset(rule, 0, sizeof(*rule));
		rule->level = strndup(level, llen);
		rule->category = strdup(category);
		if (!rule->level || !rule->category) {
			free(rule->level);
			free(rule->category);
			return -ENOMEM;
		}
		c->ncase_rules++;
	}
	if (resolve)
		rule->resolve = d;
	else
		rule->accept = d;
	return 0;
}

static const struct config_case_rule *find_rule(const struct config *c, const char *level,
						const char *category)
{
	for (uint32_t i = 0; i < c->ncase_rules; i++)
		if (strcmp(c->case_rules[i].level, level) == 0 &&
		    strcmp(c->case_rules[i].category, category) == 0)
			return &c->case_rules[i];
	return NULL;
}

struct config_duration config_case_duration(const struct config *c, const char *level,
					    const char *category, bool resolve)
{
	const struct config_case_rule *r;

#define FIELD(x) (resolve ? (x).resolve : (x).accept)
	if (category && *category && (r = find_rule(c, level, category)) &&
	    FIELD(*r).state != CONFIG_DURATION_UNSET)
		return FIELD(*r);
	if ((r = find_rule(c, level, "")) && FIELD(*r).state != CONFIG_DURATION_UNSET)
		return FIELD(*r);
#undef FIELD
	if ((resolve ? c->case_resolve : c->case_accept).state != CONFIG_DURATION_UNSET)
		return resolve ? c->case_resolve : c->case_accept;
	for (size_t i = 0; i < sizeof(builtin_deadlines) / sizeof(builtin_deadlines[0]); i++)
		if (strcmp(builtin_deadlines[i].level, level) == 0)
			return resolve ? builtin_deadlines[i].resolve : builtin_deadlines[i].accept;
	return resolve ? builtin_resolve : builtin_accept;
}

uint64_t config_workday_ms(const struct config *c)
{
	uint64_t ms = 0;

	for (uint32_t i = 0; i < c->cal_nhours; i++)
		ms += (uint64_t)(c->cal_hours[i][1] - c->cal_hours[i][0]) * 60000;
	return ms;
}

int64_t config_duration_ms(const struct config *c, const struct config_duration *d)
{
	if (d->state != CONFIG_DURATION_SET)
		return -1;
	return (int64_t)(d->wd * config_workday_ms(c) + d->ms);
}

int config_set(struct config *c, const char *section, const char *name, const char *value,
	       char *err, size_t errlen)
{
	const struct key *k = NULL;
	char *base = (char *)c;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		if (keys[i].type == KEY_CASE_RULE
			? strncmp(keys[i].name, name, strlen(keys[i].name)) == 0
			: strcmp(keys[i].name, name) == 0) {
			k = &keys[i];
			break;
		}
	}
	if (!k) {
		snprintf(err, errlen, "unknown setting [%s] %s", section, name);
		return -ENOENT;
	}
	switch (k->type) {
	case KEY_STR: {
		char **slot = (char **)(base + k->offset);
		char *v = strdup(value);
		if (!v)
			return -ENOMEM;
		free(*slot);
		*slot = v;
		return 0;
	}
	case KEY_U32: {
		uint32_t v;
		if (str_to_u32(value, &v) < 0 || v < k->min || v > k->max) {
			snprintf(err, errlen,
				 "[%s] %s = \"%s\": expected a whole number from %u to %u", section,
				 name, value, k->min, k->max);
			return -EINVAL;
		}
		*(uint32_t *)(base + k->offset) = v;
		return 0;
	}
	case KEY_LOG_LEVEL:
		if (log_level_parse(value, (enum log_level *)(base + k->offset)) < 0) {
			snprintf(err, errlen,
				 "[%s] %s = \"%s\": expected debug, info, warn or error", section,
				 name, value);
			return -EINVAL;
		}
		return 0;
	case KEY_LEVELS:
		return set_levels(c, value, err, errlen);
	case KEY_BOOL: {
		bool *slot = (bool *)(base + k->offset);
		if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
		    strcmp(value, "on") == 0 || strcmp(value, "1") == 0) {
			*slot = true;
		} else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
			   strcmp(value, "off") == 0 || strcmp(value, "0") == 0) {
			*slot = false;
		} else {
			snprintf(err, errlen, "[%s] %s = \"%s\": expected true or false", section,
				 name, value);
			return -EINVAL;
		}
		return 0;
	}
	case KEY_DAYS:
		return set_days(c, value, err, errlen);
	case KEY_HOURS:
		return set_hours(c, value, err, errlen);
	case KEY_DATES:
		return set_dates(c, k, value, err, errlen);
	case KEY_DURATION:
		return set_duration(c, k, value, err, errlen);
	case KEY_CASE_RULE:
		return set_case_rule(c, name, value, err, errlen);
	}
	return -EINVAL;
}

int config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen = strdup("127.0.0.1:7420");
	c->server_name = strdup("gridd");
	c->log_level = LOG_INFO;
	c->shutdown_timeout_ms = 10000;
	c->database_url = strdup("");
	c->pool_size = 4;
	c->connect_wait_ms = 30000;
	c->statement_timeout_ms = 30000;
	c->db_connect_timeout_ms = 5000;
	c->db_health_check_ms = 10000;
	c->max_frame_before_login = 16 * 1024;
	c->max_frame = 1024 * 1024;
	c->max_inflight = 128;
	c->max_connections = 10000;
	c->max_connections_per_address = 256;
	c->max_outbuf = 8 * 1024 * 1024;
	c->max_page_size = 5000;
	c->default_page_size = 500;
	c->request_timeout_ms = 10000;
	c->idle_timeout_ms = 0;
	c->login_timeout_ms = 30000;
	c->frame_timeout_ms = 30000;
	c->send_timeout_ms = 60000;
	c->outbuf_pause = 256 * 1024;
	c->session_idle_ms = 2 * 3600 * 1000;
	c->session_max_ms = 12 * 3600 * 1000;
	c->pwhash_opslimit = 0;
	c->pwhash_memlimit_kib = 0;
	c->max_hashing = 2;
	c->max_hash_queue = 1000;
	c->login_failures = 5;
	c->tls_listen = strdup("");
	c->tls_cert = strdup("");
	c->tls_key = strdup("");
	c->ready_fd = -1;
	c->cal_timezone = strdup("Asia/Shanghai");
	c->cal_days = 0x1f; /* mon-fri */
	/* Offices close for lunch: 09:00-12:00 and 13:30-17:30. */
	c->cal_hours[0][0] = 9 * 60;
	c->cal_hours[0][1] = 12 * 60;
	c->cal_hours[1][0] = 13 * 60 + 30;
	c->cal_hours[1][1] = 17 * 60 + 30;
	c->cal_nhours = 2;
	for (size_t i = 0; i < sizeof(default_levels) / sizeof(default_levels[0]); i++) {
		c->levels[i] = strdup(default_levels[i]);
		if (!c->levels[i])
			return -ENOMEM;
		c->nlevels++;
	}
	if (!c->listen || !c->server_name || !c->database_url || !c->tls_listen || !c->tls_cert ||
	    !c->tls_key || !c->cal_timezone)
		return -ENOMEM;
	return 0;
}

void config_finish(struct config *c)
{
	free(c->listen);
	free(c->server_name);
	free(c->database_url);
	free(c->config_path);
	free(c->tls_listen);
	free(c->tls_cert);
	free(c->tls_key);
	for (uint32_t i = 0; i < c->nlevels; i++)
		free(c->levels[i]);
	free(c->cal_timezone);
	free(c->cal_holidays.days);
	free(c->cal_workdays.days);
	for (uint32_t i = 0; i < c->ncase_rules; i++) {
		free(c->case_rules[i].level);
		free(c->case_rules[i].category);
	}
	free(c->case_rules);
	memset(c, 0, sizeof(*c));
}

struct load_ctx {
	struct config *c;
	char *err;
	size_t errlen;
};

static int on_ini_key(void *data, const char *section, const char *key, const char *value,
		      unsigned line)
{
	struct load_ctx *ctx = data;

	return config_set(ctx->c, section, key, value, ctx->err, ctx->errlen);
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx ctx = {c, err, errlen};
	char msg[256] = "";
	unsigned line = 0;
	char *text = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int r;

	f = fopen(path, "rb");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	for (;;) {
		if (len + 4096 > cap) {
			char *p;
			if (cap >= (1u << 20)) {
				fclose(f);
				free(text);
				snprintf(err, errlen, "%s: larger than 1 MiB", path);
				return -EFBIG;
			}
			cap = cap ? cap * 2 : 8192;
			p = realloc(text, cap);
			if (!p) {
				fclose(f);
				free(text);
				return -ENOMEM;
			}
			text = p;
		}
		size_t n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);

	ctx.err = msg;
	ctx.errlen = sizeof(msg);
	r = ini_parse(text ? text : "", len, on_ini_key, &ctx, &line);
	free(text);
	if (r < 0) {
		if (msg[0])
			snprintf(err, errlen, "%s:%u: %s", path, line, msg);
		else
			snprintf(err, errlen,
				 "%s:%u: syntax error (expected [section] or key = value)", path,
				 line);
	}
	return r;
}

static bool is_level(const struct config *c, const char *name)
{
	for (uint32_t i = 0; i < c->nlevels; i++)
		if (strcmp(c->levels[i], name) == 0)
			return true;
	return false;
}

static int check_calendar(const struct config *c, char *err, size_t errlen)
{
	const char *tz = c->cal_timezone;
	uint32_t i = 0, j = 0;

	/* PostgreSQL has the final word on the name (calendar_apply); this
	 * catches what cannot be one. */
	if (!*tz || strlen(tz) > 63 ||
	    strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		       "0123456789/_+-:") != strlen(tz)) {
		snprintf(err, errlen,
			 "[calendar] timezone = \"%s\": expected a time zone name such as "
			 "Asia/Shanghai",
			 tz);
		return -EINVAL;
	}
	while (i < c->cal_holidays.n && j < c->cal_workdays.n) {
		int32_t h = c->cal_holidays.days[i], w = c->cal_workdays.days[j];
		if (h == w) {
			char day[16];
			format_date(h, day);
			snprintf(err, errlen,
				 "[calendar] %s is both in holidays and in workdays (make-up "
				 "working days)",
				 day);
			return -EINVAL;
		}
		if (h < w)
			i++;
		else
			j++;
	}
	for (uint32_t r = 0; r < c->ncase_rules; r++) {
		const struct config_case_rule *x = &c->case_rules[r];
		bool acc = x->accept.state != CONFIG_DURATION_UNSET;
		char dur[48];
		size_t n = 0;

		if (is_level(c, x->level))
			continue;
		format_duration(acc ? &x->accept : &x->resolve, dur, sizeof(dur));
		n = (size_t)snprintf(
		    err, errlen, "[cases] %s.%s%s%s = %s: unknown level \"%s\"; the levels are: ",
		    acc ? "accept" : "resolve", x->level, *x->category ? "." : "", x->category, dur,
		    x->level);
		for (uint32_t l = 0; l < c->nlevels && n < errlen; l++)
			n += (size_t)snprintf(err + n, errlen - n, "%s%s", l ? ", " : "",
					      c->levels[l]);
		return -EINVAL;
	}
	return 0;
}

int config_check(const struct config *c, char *err, size_t errlen)
{
	if (!c->database_url || !*c->database_url) {
		snprintf(err, errlen,
			 "no database: set GRID_DATABASE_URL, --database-url or [database] url");
		return -EINVAL;
	}
	if (c->max_frame_before_login > c->max_frame) {
		snprintf(err, errlen, "[limits] max_frame_before_login is larger than max_frame");
		return -EINVAL;
	}
	if (c->default_page_size > c->max_page_size) {
		snprintf(err, errlen, "[limits] default_page_size is larger than max_page_size");
		return -EINVAL;
	}
	if (*c->tls_listen && (!*c->tls_cert || !*c->tls_key)) {
		snprintf(err, errlen, "[tls] listen is set: [tls] cert and key are needed too");
		return -EINVAL;
	}
	return check_calendar(c, err, errlen);
}

/* Runs of consecutive days as ranges: 2026-10-01..2026-10-08,2027-01-01. */
static void print_dates(FILE *f, const struct config_dates *d)
{
	for (uint32_t i = 0; i < d->n;) {
		uint32_t j = i;
		char a[16], b[16];

		while (j + 1 < d->n && d->days[j + 1] == d->days[j] + 1)
			j++;
		format_date(d->days[i], a);
		format_date(d->days[j], b);
		if (j > i)
			fprintf(f, "%s%s..%s", i ? "," : "", a, b);
		else
			fprintf(f, "%s%s", i ? "," : "", a);
		i = j + 1;
	}
	fputc('\n', f);
}

/* Each level's deadline as it applies (so that the output, read back, gives
 * the same deadlines), then the categories configured. */
static void print_case_rules(const struct config *c, FILE *f, bool resolve)
{
	const char *field = resolve ? "resolve" : "accept";
	char text[48];

	for (uint32_t l = 0; l < c->nlevels; l++) {
		struct config_duration d = config_case_duration(c, c->levels[l], "", resolve);
		format_duration(&d, text, sizeof(text));
		fprintf(f, "%s.%s = %s\n", field, c->levels[l], text);
	}
	for (uint32_t r = 0; r < c->ncase_rules; r++) {
		const struct config_case_rule *x = &c->case_rules[r];
		const struct config_duration *d = resolve ? &x->resolve : &x->accept;
		if (!*x->category || d->state == CONFIG_DURATION_UNSET)
			continue;
		format_duration(d, text, sizeof(text));
		fprintf(f, "%s.%s.%s = %s\n", field, x->level, x->category, text);
	}
}

void config_print(const struct config *c, FILE *f)
{
	const char *section = "";
	const char *base = (const char *)c;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		if (strcmp(section, k->section) != 0) {
			fprintf(f, "%s[%s]\n", i ? "\n" : "", k->section);
			section = k->section;
		}
		if (k->type != KEY_CASE_RULE)
			fprintf(f, "%s = ", k->name);
		switch (k->type) {
		case KEY_STR:
			/* The database URL may hold a password. */
			if (k->offset == OFF(database_url) && strstr(c->database_url, "password"))
				fprintf(f, "(hidden: contains a password)\n");
			else
				fprintf(f, "%s\n", *(char *const *)(base + k->offset));
			break;
		case KEY_U32:
			fprintf(f, "%u\n", *(const uint32_t *)(base + k->offset));
			break;
		case KEY_LOG_LEVEL: {
			static const char *const names[] = {"debug", "info", "warn", "error"};
			fprintf(f, "%s\n", names[c->log_level]);
			break;
		}
		case KEY_BOOL:
			fprintf(f, "%s\n", *(const bool *)(base + k->offset) ? "true" : "false");
			break;
		case KEY_LEVELS:
			for (uint32_t j = 0; j < c->nlevels; j++)
				fprintf(f, "%s%s", j ? "," : "", c->levels[j]);
			fputc('\n', f);
			break;
		case KEY_DAYS: {
			bool first = true;
			for (int d = 0; d < 7; d++)
				if (c->cal_days & (1u << d)) {
					fprintf(f, "%s%s", first ? "" : ",", day_names[d]);
					first = false;
				}
			fputc('\n', f);
			break;
		}
		case KEY_HOURS:
			for (uint32_t j = 0; j < c->cal_nhours; j++)
				fprintf(f, "%s%02u:%02u-%02u:%02u", j ? "," : "",
					c->cal_hours[j][0] / 60, c->cal_hours[j][0] % 60,
					c->cal_hours[j][1] / 60, c->cal_hours[j][1] % 60);
			fputc('\n', f);
			break;
		case KEY_DATES:
			print_dates(f, (const struct config_dates *)(base + k->offset));
			break;
		case KEY_DURATION: {
			struct config_duration d =
			    config_case_duration(c, "", "", k->offset == OFF(case_resolve));
			char text[48];
			format_duration(&d, text, sizeof(text));
			fprintf(f, "%s\n", text);
			break;
		}
		case KEY_CASE_RULE:
			print_case_rules(c, f, strcmp(k->name, "resolve.") == 0);
			break;
		}
	}
}
