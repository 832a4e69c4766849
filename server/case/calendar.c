/* Writes the [calendar] and [cases] configuration into the database at
 * start-up; see calendar.h. server_start() calls calendar_apply() after
 * migrate_apply(), before anything is served, so this file uses blocking
 * libpq on the start-up connection.
 *
 * The deadline table gets one row per configured level, one per level and
 * category named in a [cases] key, and the default row (level -1), each
 * resolved here from the configuration (config_case_duration), so that the
 * SQL lookup never has to combine rows. Working days ("3wd") become
 * milliseconds here too: a working day is the length of the configured
 * hours of one day.
 */
#include "server/case/calendar.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "server/config.h"
#include "server/log.h"

static const char sql_check_timezone[] = "SELECT now() AT TIME ZONE $1";

/* Dates travel as days since 1970-01-01, as the configuration keeps them. */
static const char sql_replace[] = "SELECT calendar_replace($1, $2::int[], $3::int[], $4::int[],"
				  " ARRAY(SELECT date '1970-01-01' + d FROM unnest($5::int[]) d),"
				  " ARRAY(SELECT date '1970-01-01' + d FROM unnest($6::int[]) d),"
				  " $7::int[], $8::text[], $9::bigint[], $10::bigint[])";

/* The array parameters of sql_replace ($2 to $10), as PostgreSQL array
 * literals. */
enum {
	P_DAYS,
	P_STARTS,
	P_ENDS,
	P_HOLIDAYS,
	P_WORKDAYS,
	P_LEVELS,
	P_CATEGORIES,
	P_ACCEPT,
	P_RESOLVE,
	NPARAMS
};

struct params {
	struct buf b[NPARAMS];
	unsigned nrows; /* case_deadline rows */
};

static int put_ms(struct buf *b, bool first, int64_t ms)
{
	if (ms < 0)
		return buf_printf(b, "%sNULL", first ? "" : ",");
	return buf_printf(b, "%s%" PRId64, first ? "" : ",", ms);
}

/* One case_deadline row. Categories are [a-z0-9_-] (config.c checks), so
 * they need no escaping inside the double quotes. */
static int add_row(struct params *p, const struct config *cfg, int level, const char *level_name,
		   const char *category)
{
	struct config_duration a = config_case_duration(cfg, level_name, category, false);
	struct config_duration r = config_case_duration(cfg, level_name, category, true);
	bool first = p->nrows == 0;
	int e = 0;

	e |= buf_printf(&p->b[P_LEVELS], "%s%d", first ? "" : ",", level);
	e |= buf_printf(&p->b[P_CATEGORIES], "%s\"%s\"", first ? "" : ",", category);
	e |= put_ms(&p->b[P_ACCEPT], first, config_duration_ms(cfg, &a));
	e |= put_ms(&p->b[P_RESOLVE], first, config_duration_ms(cfg, &r));
	p->nrows++;
	return e < 0 ? -ENOMEM : 0;
}

static int put_days(struct buf *b, const struct config_dates *d)
{
	int e = buf_putc(b, '{');

	for (uint32_t i = 0; i < d->n; i++)
		e |= buf_printf(b, "%s%" PRId32, i ? "," : "", d->days[i]);
	e |= buf_putc(b, '}');
	return e < 0 ? -ENOMEM : 0;
}

static int build_params(struct params *p, const struct config *cfg)
{
	int e = 0;

	for (int i = 0; i < NPARAMS; i++)
		buf_init(&p->b[i], 0);
	p->nrows = 0;

	e |= buf_putc(&p->b[P_DAYS], '{');
	for (int d = 0; d < 7; d++)
		if (cfg->cal_days & (1u << d))
			e |= buf_printf(&p->b[P_DAYS], "%s%d", p->b[P_DAYS].len > 1 ? "," : "",
					d + 1);
	e |= buf_putc(&p->b[P_DAYS], '}');
	e |= buf_putc(&p->b[P_STARTS], '{');
	e |= buf_putc(&p->b[P_ENDS], '{');
	for (uint32_t i = 0; i < cfg->cal_nhours; i++) {
		e |= buf_printf(&p->b[P_STARTS], "%s%u", i ? "," : "",
				cfg->cal_hours[i][0] * 60000u);
		e |= buf_printf(&p->b[P_ENDS], "%s%u", i ? "," : "", cfg->cal_hours[i][1] * 60000u);
	}
	e |= buf_putc(&p->b[P_STARTS], '}');
	e |= buf_putc(&p->b[P_ENDS], '}');
	e |= put_days(&p->b[P_HOLIDAYS], &cfg->cal_holidays);
	e |= put_days(&p->b[P_WORKDAYS], &cfg->cal_workdays);

	e |= buf_putc(&p->b[P_LEVELS], '{');
	e |= buf_putc(&p->b[P_CATEGORIES], '{');
	e |= buf_putc(&p->b[P_ACCEPT], '{');
	e |= buf_putc(&p->b[P_RESOLVE], '{');
	e |= add_row(p, cfg, -1, "", "");
	for (uint32_t l = 0; l < cfg->nlevels; l++)
		e |= add_row(p, cfg, (int)l, cfg->levels[l], "");
	for (uint32_t i = 0; i < cfg->ncase_rules; i++) {
		const struct config_case_rule *r = &cfg->case_rules[i];
		if (!*r->category)
			continue;
		for (uint32_t l = 0; l < cfg->nlevels; l++)
			if (strcmp(cfg->levels[l], r->level) == 0)
				e |= add_row(p, cfg, (int)l, r->level, r->category);
	}
	e |= buf_putc(&p->b[P_LEVELS], '}');
	e |= buf_putc(&p->b[P_CATEGORIES], '}');
	e |= buf_putc(&p->b[P_ACCEPT], '}');
	e |= buf_putc(&p->b[P_RESOLVE], '}');
	return e < 0 ? -ENOMEM : 0;
}

static void free_params(struct params *p)
{
	for (int i = 0; i < NPARAMS; i++)
		buf_finish(&p->b[i]);
}

/* The primary message of a failed result, without libpq's newline. */
static void result_message(PGconn *pg, const PGresult *res, char *out, size_t size)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	size_t n;

	snprintf(out, size, "%s", m ? m : PQerrorMessage(pg));
	n = strlen(out);
	while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
}

int calendar_apply(PGconn *pg, const struct config *cfg, char *err, size_t errlen)
{
	struct params p;
	const char *values[1 + NPARAMS];
	char msg[512], tzq[96];
	PGresult *res;
	bool changed;
	int r;

	/* The name is checked on its own first, for a message that names the
	 * setting rather than the SQL function. */
	values[0] = cfg->cal_timezone;
	res = PQexecParams(pg, sql_check_timezone, 1, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		result_message(pg, res, msg, sizeof(msg));
		snprintf(err, errlen, "[calendar] timezone = \"%s\": %s", cfg->cal_timezone, msg);
		PQclear(res);
		return -EINVAL;
	}
	PQclear(res);

	r = build_params(&p, cfg);
	if (r < 0) {
		free_params(&p);
		snprintf(err, errlen, "out of memory");
		return r;
	}
	values[0] = cfg->cal_timezone;
	for (int i = 0; i < NPARAMS; i++) {
		values[1 + i] = buf_cstr(&p.b[i]);
		if (!values[1 + i]) {
			free_params(&p);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	res = PQexecParams(pg, sql_replace, 1 + NPARAMS, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		result_message(pg, res, msg, sizeof(msg));
		snprintf(err, errlen, "cannot apply [calendar] and [cases]: %s", msg);
		PQclear(res);
		free_params(&p);
		return -EIO;
	}
	changed = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	log_info("event=calendar_applied changed=%d timezone=%s days=%s hours=%u holidays=%u "
		 "workdays=%u deadlines=%u workday_ms=%" PRIu64,
		 changed, log_quote(tzq, sizeof(tzq), cfg->cal_timezone), buf_cstr(&p.b[P_DAYS]),
		 cfg->cal_nhours, cfg->cal_holidays.n, cfg->cal_workdays.n, p.nrows,
		 config_workday_ms(cfg));
	free_params(&p);
	return 0;
}
