/* gridctl report ...: figures computed by the server, printed with what
 * each one counts. 'report cases' is the closed loop's report card for a
 * node and a period: cases received, closure and on-time closure, rework,
 * escalations (by hand and by timeout), what call-backs said, and how long
 * accepting and resolving took. Rates come from the server as fractions and
 * are shown as percentages. Dispatched from main.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/args.h"
#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/table.h"

static const char report_help[] =
    "Usage: gridctl report COMMAND [ARGS...]\n"
    "\n"
    "Figures about the grid's work, each printed with its definition.\n"
    "\n"
    "Commands:\n"
    "  cases NODE [--from WHEN] [--to WHEN]\n"
    "                                  the cases raised at NODE or below in a period\n"
    "\n"
    "'gridctl report COMMAND --help' tells more.\n"
    "\n"
    "Examples:\n"
    "  gridctl report cases WH-TZL --from 2025-03-01 --to 2025-04-01\n";

static const char cases_help[] =
    "Usage: gridctl report cases NODE [--from WHEN] [--to WHEN]\n"
    "\n"
    "The report on the cases raised at NODE or below it from WHEN to WHEN\n"
    "(the start included, the end not), wherever they went afterwards: how many\n"
    "came in, how many were closed and closed on time, sent back for rework,\n"
    "escalated (and how many by timeout), what the call-backs said, and the\n"
    "median times to accept and to resolve. Every figure is printed with its\n"
    "definition; rates as percentages (a rate with nothing to count is 0%).\n"
    "WHEN is YYYY-MM-DD, YYYY-MM-DDTHH:MM (local time) or a duration back from\n"
    "now: 24h, 30d, 2w. Without --from: every case so far; without --to: until\n"
    "now.\n"
    "With --json: {\"node_code\", \"from_ms\", \"to_ms\", \"figures\": [{\"name\",\n"
    "\"value\", \"definition\"}]}, rates as fractions from 0 to 1.\n"
    "\n"
    "Options:\n"
    "  -f, --from WHEN   the start of the period\n"
    "  -t, --to WHEN     the end of the period\n"
    "\n"
    "Examples:\n"
    "  gridctl report cases WH-TZL --from 2025-03-01 --to 2025-04-01   # March\n"
    "  gridctl report cases WH-TZL-Z5 --from 30d                       # the last 30 days\n"
    "  gridctl --json report cases WH --from 2025-01-01 > wuhou-2025.json\n";

static bool is_rate(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && strcmp(name + n - 5, "_rate") == 0;
}

/* 75.0%, 12, 3.5 */
static const char *value_text(const Grid__V1__ReportFigure *f, char *buf, size_t size)
{
	double v = f->value;

	if (is_rate(f->name))
		snprintf(buf, size, "%.1f%%", v * 100);
	else if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
		snprintf(buf, size, "%.0f", v);
	else
		snprintf(buf, size, "%.1f", v);
	return buf;
}

static int print_report(struct ctl *ctl, const Grid__V1__CaseReport *rep)
{
	struct buf out;
	int r = 0;

	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_object(&w);
		json_key(&w, "node_code");
		json_string(&w, rep->node_code);
		json_key(&w, "from_ms");
		json_int(&w, rep->from_ms);
		json_key(&w, "to_ms");
		json_int(&w, rep->to_ms);
		json_key(&w, "figures");
		json_begin_array(&w);
		for (size_t i = 0; i < rep->n_figures; i++) {
			json_begin_object(&w);
			json_key(&w, "name");
			json_string(&w, rep->figures[i]->name);
			json_key(&w, "value");
			json_double(&w, rep->figures[i]->value);
			json_key(&w, "definition");
			json_string(&w, rep->figures[i]->definition);
			json_end_object(&w);
		}
		json_end_array(&w);
		json_end_object(&w);
		r = output_json_flush(&w, &out);
		buf_finish(&out);
		return r;
	}

	char from[64], to[64];
	struct table *t;

	if (rep->from_ms > 0)
		ctl_format_time(rep->from_ms, false, from, sizeof(from));
	if (buf_printf(&out, "Cases raised at %s or below, %s%s until %s\n\n", rep->node_code,
		       rep->from_ms > 0 ? "from " : "", rep->from_ms > 0 ? from : "from the start",
		       ctl_format_time(rep->to_ms, false, to, sizeof(to))) < 0)
		r = -ENOMEM;
	t = table_create(3);
	if (!t)
		r = -ENOMEM;
	if (r == 0) {
		static const char *head[] = {"FIGURE", "VALUE", "DEFINITION"};

		table_align_right(t, 1);
		r = table_add_row(t, head);
	}
	for (size_t i = 0; i < rep->n_figures && r == 0; i++) {
		char value[64];
		const char *row[3] = {
		    rep->figures[i]->name,
		    value_text(rep->figures[i], value, sizeof(value)),
		    rep->figures[i]->definition[0] ? rep->figures[i]->definition : "-",
		};
		r = table_add_row(t, row);
	}
	if (r == 0)
		r = table_render(t, &out);
	table_destroy(t);
	r = r == 0 ? output_flush(&out) : output_oom();
	buf_finish(&out);
	return r;
}

static int report_cases(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {0},
	};
	const char *cmd = "report cases";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CaseReportRequest m = GRID__V1__CASE_REPORT_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[160];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hf:t:", opts)) != -1) {
		switch (opt) {
		case 'f':
			if (ctl_parse_time(ctl, cmd, "--from", optarg, -1, &m.from_ms))
				return CTL_EXIT_USAGE;
			break;
		case 't':
			if (ctl_parse_time(ctl, cmd, "--to", optarg, -1, &m.to_ms))
				return CTL_EXIT_USAGE;
			break;
		default:
			return opt == 'h' ? ctl_help(cases_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind < 1)
		return ctl_usage(ctl, cmd, "%s: want NODE, the part of the grid to report on", cmd);
	if (argc - optind > 1)
		return ctl_usage(ctl, cmd, "%s: unexpected argument '%s'", cmd, argv[optind + 1]);
	m.node_code = argv[optind];
	if (args_nonempty(ctl, cmd, "NODE", m.node_code))
		return CTL_EXIT_USAGE;
	if (m.to_ms && m.from_ms >= m.to_ms)
		return ctl_usage(ctl, cmd, "%s: --from must be before --to", cmd);
	snprintf(subject, sizeof(subject), "node %s", m.node_code);
	req.call_case = GRID__V1__REQUEST__CALL_CASE_REPORT;
	req.case_report = &m;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	r = print_report(ctl, reply->case_report);
	grid_client_reply_free(reply);
	return r;
}

static const struct ctl_command report_commands[] = {
    {"cases", report_cases},
    {NULL, NULL},
};

int report_main(struct ctl *ctl, int argc, char **argv)
{
	optind = 0;
	return ctl_dispatch(ctl, "report", report_commands, argc, argv, report_help);
}
