/* gridctl audit ...: the audit trail, every write with its actor, call,
 * node and time. ls shows it newest first for a subtree and a time window
 * (following page tokens up to --limit); verify asks the server to check
 * the hash chain and turns a broken chain into exit code 7. Dispatched from
 * main.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/args.h"
#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/pager.h"
#include "client/gridctl/table.h"

#define DEFAULT_LIMIT 100
#define PAGE_SIZE 500

static const char audit_help[] =
    "Usage: gridctl audit COMMAND [ARGS...]\n"
    "\n"
    "The audit trail: every change made through gridd, with who made it (a user\n"
    "or an API key), the call, the node and the time. The rows form a hash chain,\n"
    "so a row edited, deleted or reordered afterwards in the database shows.\n"
    "\n"
    "Commands:\n"
    "  ls [--node NODE] [--since WHEN] [--until WHEN] [--limit N]\n"
    "                                  the entries, newest first\n"
    "  verify                          check the whole chain (exit 7 when broken)\n"
    "\n"
    "'gridctl audit COMMAND --help' tells more.\n"
    "\n"
    "Examples:\n"
    "  gridctl audit ls --node WH-TZL --since 7d\n"
    "  gridctl audit verify\n";

static const char ls_help[] =
    "Usage: gridctl audit ls [--node NODE] [--since WHEN] [--until WHEN] [--limit N]\n"
    "\n"
    "Lists audit entries about the subtree of NODE (default: everything you may\n"
    "see), newest first, as a table: TIME (local), ACTOR, METHOD, NODE, SUMMARY.\n"
    "WHEN is YYYY-MM-DD, YYYY-MM-DDTHH:MM (local time) or a duration back from\n"
    "now: 30m, 24h, 7d, 2w.\n"
    "With --json: an array of {\"seq\", \"at_ms\", \"actor\", \"method\",\n"
    "\"node_code\", \"summary\"}.\n"
    "\n"
    "Options:\n"
    "  -n, --node NODE     only entries about NODE and below (\"-\": everything)\n"
    "  -s, --since WHEN    only entries at or after WHEN\n"
    "  -u, --until WHEN    only entries before WHEN\n"
    "  -l, --limit N       at most N entries (default 100; 0: all of them)\n"
    "\n"
    "Examples:\n"
    "  gridctl audit ls --since 24h                 # the last day\n"
    "  gridctl audit ls --node WH-TZL-Z5-ZTY --since 2025-03-01 --until 2025-04-01\n"
    "  gridctl --json audit ls --node WH-TZL --limit 0 > tzl-audit.json\n";

static const char verify_help[] =
    "Usage: gridctl audit verify\n"
    "\n"
    "Has the server walk the whole audit trail and check its hash chain. Prints\n"
    "\"audit trail intact: N entries checked\" and exits 0, or \"audit trail BROKEN\n"
    "at entry SEQ: PROBLEM\" and exits 7: a row was edited, deleted or reordered\n"
    "outside gridd, from SEQ on the trail cannot be trusted.\n"
    "With --json: {\"ok\", \"rows_checked\", \"first_bad_seq\", \"problem\"}.\n"
    "\n"
    "Examples:\n"
    "  gridctl audit verify\n"
    "  gridctl audit verify || mail -s 'gridd audit trail broken' ops@wuhou.example\n";

static void entry_json(struct json_writer *w, const Grid__V1__AuditEntry *e)
{
	json_begin_object(w);
	json_key(w, "seq");
	json_uint(w, e->seq);
	json_key(w, "at_ms");
	json_int(w, e->at_ms);
	json_key(w, "actor");
	json_string(w, e->actor);
	json_key(w, "method");
	json_string(w, e->method);
	json_key(w, "node_code");
	json_string(w, e->node_code);
	json_key(w, "summary");
	json_string(w, e->summary);
	json_end_object(w);
}

/* The entries to print: borrowed from the pages the pager keeps. */
struct entries {
	const Grid__V1__AuditEntry **v;
	size_t n, cap;
};

static int entries_add(struct entries *e, const Grid__V1__AuditEntry *entry)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		const Grid__V1__AuditEntry **p = realloc(e->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		e->v = p;
		e->cap = cap;
	}
	e->v[e->n++] = entry;
	return 0;
}

static int print_entries(struct ctl *ctl, const struct entries *e)
{
	static const char *head[] = {"TIME", "ACTOR", "METHOD", "NODE", "SUMMARY"};
	struct table *t;
	struct buf out;
	int r;

	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_array(&w);
		for (size_t i = 0; i < e->n; i++)
			entry_json(&w, e->v[i]);
		json_end_array(&w);
		r = output_json_flush(&w, &out);
		buf_finish(&out);
		return r;
	}
	if (e->n == 0) {
		output_notice("no audit entries");
		return CTL_EXIT_OK;
	}
	t = table_create(5);
	r = t ? table_add_row(t, head) : -ENOMEM;
	for (size_t i = 0; i < e->n && r == 0; i++) {
		char when[64];
		const char *row[5] = {
		    ctl_format_time(e->v[i]->at_ms, true, when, sizeof(when)),
		    e->v[i]->actor,
		    e->v[i]->method,
		    e->v[i]->node_code[0] ? e->v[i]->node_code : "-",
		    e->v[i]->summary,
		};
		r = table_add_row(t, row);
	}
	r = output_table(t, &out, r);
	table_destroy(t);
	buf_finish(&out);
	return r;
}

static int audit_ls(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"node", required_argument, NULL, 'n'},
	    {"since", required_argument, NULL, 's'},
	    {"until", required_argument, NULL, 'u'},
	    {"limit", required_argument, NULL, 'l'},
	    {0},
	};
	const char *cmd = "audit ls";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListAuditRequest ls = GRID__V1__LIST_AUDIT_REQUEST__INIT;
	const Grid__V1__HelloReply *hello;
	struct entries entries = {0};
	struct pager pager;
	uint32_t limit = DEFAULT_LIMIT, page_max = PAGE_SIZE;
	bool more = false;
	char subject[160];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hn:s:u:l:", opts)) != -1) {
		switch (opt) {
		case 'n':
			if (!*optarg)
				return ctl_usage(ctl, cmd,
						 "%s: --node must not be empty (\"-\": everything)",
						 cmd);
			ls.node_code = strcmp(optarg, "-") == 0 ? "" : optarg;
			break;
		case 's':
			if (ctl_parse_time(ctl, cmd, "--since", optarg, -1, &ls.since_ms))
				return CTL_EXIT_USAGE;
			break;
		case 'u':
			if (ctl_parse_time(ctl, cmd, "--until", optarg, -1, &ls.until_ms))
				return CTL_EXIT_USAGE;
			break;
		case 'l':
			if (ctl_parse_uint(ctl, cmd, "--limit", optarg, &limit))
				return CTL_EXIT_USAGE;
			break;
		default:
			return opt == 'h' ? ctl_help(ls_help) : CTL_EXIT_USAGE;
		}
	}
	if (args_none(ctl, cmd, argc, argv))
		return CTL_EXIT_USAGE;
	if (ls.since_ms && ls.until_ms && ls.since_ms >= ls.until_ms)
		return ctl_usage(ctl, cmd, "%s: --since must be before --until", cmd);
	if (ls.node_code[0])
		snprintf(subject, sizeof(subject), "node %s", ls.node_code);
	else
		snprintf(subject, sizeof(subject), "audit");

	r = ctl_connect(ctl);
	if (r != CTL_EXIT_OK)
		return r;
	hello = grid_client_hello(ctl->client);
	if (hello && hello->limits && hello->limits->max_page_size &&
	    hello->limits->max_page_size < page_max)
		page_max = hello->limits->max_page_size;
	req.call_case = GRID__V1__REQUEST__CALL_LIST_AUDIT;
	req.list_audit = &ls;
	pager_init(&pager, ctl, &req, &ls.page_token, subject, true);
	for (;;) {
		const Grid__V1__Reply *reply;
		const Grid__V1__AuditList *l;
		size_t want = limit ? limit - entries.n : page_max;

		ls.page_size = (uint32_t)(want < page_max ? want : page_max);
		r = pager_next(&pager, &reply);
		if (r != CTL_EXIT_OK || !reply)
			break;
		l = reply->list_audit;
		for (size_t i = 0; i < l->n_entries && r == 0; i++) {
			if (limit && entries.n == limit) {
				more = true;
				break;
			}
			if (entries_add(&entries, l->entries[i]) < 0)
				r = output_oom();
		}
		if (r != CTL_EXIT_OK || !l->next_page_token[0])
			break;
		if (limit && entries.n == limit) {
			more = true;
			break;
		}
	}
	if (r == CTL_EXIT_OK)
		r = print_entries(ctl, &entries);
	if (r == CTL_EXIT_OK && more && !ctl->json)
		output_notice("the newest %u entries; there are more (--limit N, or --limit 0 for "
			      "all)",
			      limit);
	free(entries.v);
	pager_finish(&pager);
	return r;
}

static int audit_verify(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "audit verify";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__VerifyAuditRequest v = GRID__V1__VERIFY_AUDIT_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__VerifyAuditReply *res;
	struct buf out;
	int r;

	if ((r = args_help_only(ctl, cmd, argc, argv, verify_help)) >= 0)
		return r;
	if (args_none(ctl, cmd, argc, argv))
		return CTL_EXIT_USAGE;
	req.call_case = GRID__V1__REQUEST__CALL_VERIFY_AUDIT;
	req.verify_audit = &v;
	r = ctl_call(ctl, &req, &reply, "audit verify", NULL);
	if (r != CTL_EXIT_OK)
		return r;
	res = reply->verify_audit;
	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_object(&w);
		json_key(&w, "ok");
		json_bool(&w, res->ok);
		json_key(&w, "rows_checked");
		json_uint(&w, res->rows_checked);
		json_key(&w, "first_bad_seq");
		json_uint(&w, res->first_bad_seq);
		json_key(&w, "problem");
		json_string(&w, res->problem);
		json_end_object(&w);
		r = output_json_flush(&w, &out);
	} else if (res->ok) {
		r = buf_printf(&out, "audit trail intact: %llu entr%s checked\n",
			       (unsigned long long)res->rows_checked,
			       res->rows_checked == 1 ? "y" : "ies") < 0
			? output_oom()
			: output_flush(&out);
	} else {
		char *problem = table_clean(res->problem[0] ? res->problem : "no reason given");

		r = buf_printf(&out, "audit trail BROKEN at entry %llu: %s\n",
			       (unsigned long long)res->first_bad_seq, problem ? problem : "") < 0
			? output_oom()
			: output_flush(&out);
		free(problem);
	}
	if (r == CTL_EXIT_OK && !res->ok)
		r = CTL_EXIT_AUDIT_BROKEN;
	buf_finish(&out);
	grid_client_reply_free(reply);
	return r;
}

static const struct ctl_command audit_commands[] = {
    {"ls", audit_ls},
    {"verify", audit_verify},
    {NULL, NULL},
};

int audit_main(struct ctl *ctl, int argc, char **argv)
{
	optind = 0;
	return ctl_dispatch(ctl, "audit", audit_commands, argc, argv, audit_help);
}
