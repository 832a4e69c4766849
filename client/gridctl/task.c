/* gridctl task ...: work issued down the grid and its progress rolling back
 * up. issue, cancel and extend are for the issuing level; ack and done for
 * the head of a target node (a building head); show, ls and progress for
 * anyone who may read tasks there. Dispatched from main.c; each command is
 * one call (ls follows page tokens) and one printout, as text (table.c,
 * tree.c) or as JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/args.h"
#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/pager.h"
#include "client/gridctl/table.h"
#include "client/gridctl/tree.h"
#include "common/strutil.h"

#define DEFAULT_LIMIT 100
#define PAGE_SIZE 500
#define MAX_NUMBERS 32

static const char task_help[] =
    "Usage: gridctl task COMMAND [ARGS...]\n"
    "\n"
    "Tasks move down the grid: a task issued at a node goes to every node of a\n"
    "target level below it (e.g. every building of 桐梓林社区 WH-TZL), one\n"
    "assignment each. Each assignment is acknowledged and then done with a\n"
    "report: a text and numbers such as households_visited=12. Progress rolls\n"
    "up through every level in between. Reminders go out as events when 24 h\n"
    "or a fifth of the task's time is left (whichever comes later), overdue\n"
    "notices when the due time passes.\n"
    "\n"
    "Commands:\n"
    "  issue NODE --title T --level LEVEL --due WHEN [--body B]\n"
    "                                  a task for every LEVEL node below NODE\n"
    "  show ID                         the task's fields\n"
    "  ls [NODE] [--all] [--limit N]   tasks issued at or below NODE, or reaching it\n"
    "  ls [NODE] --assignments [--task ID] [--state S] [--overdue]\n"
    "                                  the assignments at or below NODE\n"
    "  ack ID NODE                     acknowledge NODE's assignment\n"
    "  done ID NODE [--report TEXT] [--number NAME=VALUE ...]\n"
    "                                  report NODE's assignment as done\n"
    "  cancel ID [--note TEXT]         cancel the task (open assignments too)\n"
    "  extend ID --due WHEN            give the task a later due time\n"
    "  progress ID [NODE] [--depth N]  done/total, overdue and sums, level by level\n"
    "\n"
    "'gridctl task COMMAND --help' tells more.\n"
    "\n"
    "Examples:\n"
    "  # the district office asks every building of 桐梓林社区 to check on\n"
    "  # elderly residents living alone, within two weeks\n"
    "  gridctl task issue WH-TZL --title 看望独居老人 --level building --due 14d\n"
    "  gridctl task progress 7\n"
    "  gridctl task done 7 WH-TZL-Z5-ZTY-B1 --report 已走访 --number households_visited=12\n";

static const char issue_help[] =
    "Usage: gridctl task issue NODE --title TITLE --level LEVEL --due WHEN [--body BODY]\n"
    "\n"
    "Issues a task at NODE for every active node of LEVEL in its subtree (LEVEL\n"
    "must be below NODE's level): one assignment each, all made at once, each\n"
    "announced to its node as a task.assigned event. Prints the task's number\n"
    "alone (ID=$(gridctl task issue ...)); --json prints the whole task.\n"
    "WHEN is YYYY-MM-DD (midnight, local time), YYYY-MM-DDTHH:MM, or a duration\n"
    "from now: 36h, 7d, 2w.\n"
    "\n"
    "Options:\n"
    "  -t, --title TITLE   what to do (up to 200 characters)\n"
    "  -l, --level LEVEL   the level it goes to: zone, courtyard, building, ...\n"
    "  -d, --due WHEN      when it must be done\n"
    "  -b, --body BODY     details (up to 4000 characters)\n"
    "\n"
    "Examples:\n"
    "  # the district asks every building of 桐梓林社区 to check on elderly\n"
    "  # residents living alone\n"
    "  gridctl task issue WH-TZL --title 看望独居老人 --level building \\\n"
    "      --due 2025-12-10T18:00 --body '逐户走访，登记需要帮助的老人'\n"
    "  gridctl task issue WH-TZL-Z5 --title 清理楼道杂物 --level courtyard --due 7d\n";

static const char show_help[] =
    "Usage: gridctl task show ID\n"
    "\n"
    "Prints the task ID: title, where it was issued, its target level, due time,\n"
    "state, who issued it, how many assignments, and its body.\n"
    "With --json: {\"id\", \"node_code\", \"title\", \"body\", \"due_at_ms\",\n"
    "\"target_level\", \"state\", \"issued_by\", \"created_at_ms\", \"assignments\"}.\n"
    "\n"
    "Examples:\n"
    "  gridctl task show 7\n"
    "  gridctl --json task show 7\n";

static const char ls_help[] =
    "Usage: gridctl task ls [NODE] [--all] [--limit N]\n"
    "       gridctl task ls [NODE] --assignments [--task ID] [--state STATE] [--overdue]\n"
    "\n"
    "Lists the tasks issued at or below NODE and those reaching it from above\n"
    "(default: everywhere you may read tasks), newest first: ID, NODE, TITLE,\n"
    "TARGET, DUE, STATE, ASSIGNMENTS. Cancelled tasks only with --all.\n"
    "With --assignments: the assignments at or below NODE instead: TASK, NODE,\n"
    "STATE (overdue marked), DUE, DONE BY, TITLE.\n"
    "\n"
    "Options:\n"
    "  -a, --all           include cancelled tasks\n"
    "  -A, --assignments   list assignments, not tasks\n"
    "  -T, --task ID       (with --assignments) of this task only\n"
    "  -s, --state STATE   (with --assignments) pending, acknowledged, done or\n"
    "                      cancelled; may be given more than once\n"
    "  -o, --overdue       (with --assignments) only those past due and not done\n"
    "  -n, --limit N       at most N rows (default 100; 0: all of them)\n"
    "\n"
    "Examples:\n"
    "  gridctl task ls WH-TZL\n"
    "  gridctl task ls WH-TZL-Z5-ZTY-B1 --assignments --state pending\n"
    "  gridctl task ls WH-TZL --assignments --task 7 --overdue\n";

static const char ack_help[] =
    "Usage: gridctl task ack ID NODE\n"
    "\n"
    "Acknowledges the assignment of task ID at NODE: its head has seen it and\n"
    "is on it. Prints the assignment.\n"
    "\n"
    "Example:\n"
    "  gridctl task ack 7 WH-TZL-Z5-ZTY-B1\n";

static const char done_help[] =
    "Usage: gridctl task done ID NODE [--report TEXT] [--number NAME=VALUE ...]\n"
    "\n"
    "Reports the assignment of task ID at NODE as done (acknowledging it too if\n"
    "it was not), with a text and named numbers that add up in 'task progress'.\n"
    "A done assignment stays done: a second report is refused.\n"
    "\n"
    "Options:\n"
    "  -r, --report TEXT         what was done (up to 4000 characters)\n"
    "  -N, --number NAME=VALUE   a figure, e.g. households_visited=12; up to 32\n"
    "\n"
    "Examples:\n"
    "  gridctl task done 7 WH-TZL-Z5-ZTY-B1 --report '走访12户，2户需要送餐' \\\n"
    "      --number households_visited=12 --number need_help=2\n";

static const char cancel_help[] =
    "Usage: gridctl task cancel ID [--note TEXT]\n"
    "\n"
    "Cancels task ID: its assignments not yet done are cancelled and each of\n"
    "their nodes gets a task.cancelled event. Done ones keep their reports.\n"
    "\n"
    "Options:\n"
    "  -m, --note TEXT   why (up to 500 characters)\n"
    "\n"
    "Example:\n"
    "  gridctl task cancel 7 --note 已由街道统一安排\n";

static const char extend_help[] =
    "Usage: gridctl task extend ID --due WHEN\n"
    "\n"
    "Gives task ID a later due time (never an earlier one). Open assignments\n"
    "get a task.extended event; overdue ones are no longer overdue, and the\n"
    "reminder goes out again before the new due time.\n"
    "\n"
    "Options:\n"
    "  -d, --due WHEN   YYYY-MM-DD, YYYY-MM-DDTHH:MM, or a duration from now (3d)\n"
    "\n"
    "Example:\n"
    "  gridctl task extend 7 --due 2025-12-15\n";

static const char progress_help[] =
    "Usage: gridctl task progress ID [NODE] [--depth N]\n"
    "\n"
    "Draws the progress of task ID as a tree, from NODE (default: where it was\n"
    "issued, or your part of it) down to the level above its targets: per node\n"
    "done/total, how many acknowledged (done ones included), how many overdue,\n"
    "and the reported numbers summed.\n"
    "With --json: {\"task_id\", \"rows\": [{\"node_code\", \"node_name\", \"level\",\n"
    "\"total\", \"acknowledged\", \"done\", \"overdue\", \"sums\": {NAME: VALUE}}]},\n"
    "every node before the nodes below it.\n"
    "\n"
    "Options:\n"
    "  -d, --depth N   at most N levels below NODE\n"
    "\n"
    "Examples:\n"
    "  gridctl task progress 7\n"
    "  gridctl task progress 7 WH-TZL-Z5 --depth 1\n";

/* --- values ---------------------------------------------------------------- */

static int parse_id(struct ctl *ctl, const char *cmd, const char *s, uint64_t *ret)
{
	if (str_to_u64(s, ret) < 0 || *ret == 0)
		return ctl_usage(ctl, cmd, "%s: ID must be a task number, not '%s'", cmd, s);
	return 0;
}

static const char *task_state_name(Grid__V1__TaskState s)
{
	switch (s) {
	case GRID__V1__TASK_STATE__TASK_OPEN:
		return "open";
	case GRID__V1__TASK_STATE__TASK_CANCELLED:
		return "cancelled";
	default:
		return "unknown";
	}
}

static const char *assignment_state_name(Grid__V1__AssignmentState s)
{
	switch (s) {
	case GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_PENDING:
		return "pending";
	case GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_ACKNOWLEDGED:
		return "acknowledged";
	case GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_DONE:
		return "done";
	case GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_CANCELLED:
		return "cancelled";
	default:
		return "unknown";
	}
}

static int assignment_state_parse(const char *s, Grid__V1__AssignmentState *ret)
{
	static const Grid__V1__AssignmentState all[] = {
	    GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_PENDING,
	    GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_ACKNOWLEDGED,
	    GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_DONE,
	    GRID__V1__ASSIGNMENT_STATE__ASSIGNMENT_CANCELLED,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, assignment_state_name(all[i])) == 0) {
			*ret = all[i];
			return 0;
		}
	return -EINVAL;
}

/* A number as people write it: 12, 2.5, 1e+06 never shows up for counts. */
static void format_number(char *buf, size_t size, double v)
{
	snprintf(buf, size, "%.15g", v);
}

/* --- printing ---------------------------------------------------------------- */

static void task_json(struct json_writer *w, const Grid__V1__Task *t)
{
	json_begin_object(w);
	json_key(w, "id");
	json_uint(w, t->id);
	json_key(w, "node_code");
	json_string(w, t->node_code);
	json_key(w, "title");
	json_string(w, t->title);
	json_key(w, "body");
	json_string(w, t->body);
	json_key(w, "due_at_ms");
	json_int(w, t->due_at_ms);
	json_key(w, "target_level");
	json_string(w, t->target_level);
	json_key(w, "state");
	json_string(w, task_state_name(t->state));
	json_key(w, "issued_by");
	json_string(w, t->issued_by);
	json_key(w, "created_at_ms");
	json_int(w, t->created_at_ms);
	json_key(w, "assignments");
	json_uint(w, t->assignments);
	json_end_object(w);
}

static void numbers_json(struct json_writer *w, Grid__V1__ReportNumber *const *v, size_t n)
{
	json_begin_object(w);
	for (size_t i = 0; i < n; i++) {
		json_key(w, v[i]->name);
		json_double(w, v[i]->value);
	}
	json_end_object(w);
}

static void assignment_json(struct json_writer *w, const Grid__V1__Assignment *a)
{
	json_begin_object(w);
	json_key(w, "task_id");
	json_uint(w, a->task_id);
	json_key(w, "node_code");
	json_string(w, a->node_code);
	json_key(w, "state");
	json_string(w, assignment_state_name(a->state));
	json_key(w, "overdue");
	json_bool(w, a->overdue);
	json_key(w, "report_text");
	json_string(w, a->report_text);
	json_key(w, "numbers");
	numbers_json(w, a->numbers, a->n_numbers);
	json_key(w, "acknowledged_at_ms");
	json_int(w, a->acknowledged_at_ms);
	json_key(w, "done_at_ms");
	json_int(w, a->done_at_ms);
	json_key(w, "done_by");
	json_string(w, a->done_by);
	json_key(w, "task_title");
	json_string(w, a->task_title);
	json_key(w, "due_at_ms");
	json_int(w, a->due_at_ms);
	json_end_object(w);
}

static const char *when(int64_t ms, char *buf, size_t size)
{
	return ms ? ctl_format_time(ms, false, buf, size) : "-";
}

/* "households_visited=12 need_help=2" into buf (reset first). */
static const char *numbers_text(struct buf *b, Grid__V1__ReportNumber *const *v, size_t n)
{
	buf_reset(b);
	for (size_t i = 0; i < n; i++) {
		char num[64];
		format_number(num, sizeof(num), v[i]->value);
		buf_printf(b, "%s%s=%s", i ? " " : "", v[i]->name, num);
	}
	return buf_cstr(b) ? buf_cstr(b) : "";
}

static int print_task(struct ctl *ctl, const Grid__V1__Task *t, const char *headline)
{
	struct buf out;
	int r;

	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		task_json(&w, t);
		r = output_json_flush(&w, &out);
		buf_finish(&out);
		return r;
	}
	struct table *tab = table_create(2);
	char id[24], due[64], created[64], count[24];
	snprintf(id, sizeof(id), "%" PRIu64, t->id);
	snprintf(count, sizeof(count), "%u", t->assignments);
	const char *rows[][2] = {
	    {"id", id},
	    {"title", t->title},
	    {"issued at", t->node_code},
	    {"target", t->target_level},
	    {"due", when(t->due_at_ms, due, sizeof(due))},
	    {"state", task_state_name(t->state)},
	    {"issued by", t->issued_by},
	    {"created", when(t->created_at_ms, created, sizeof(created))},
	    {"assignments", count},
	};
	r = tab ? 0 : -ENOMEM;
	if (r == 0 && headline)
		r = buf_printf(&out, "%s\n", headline);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && r == 0; i++)
		r = table_add_row(tab, rows[i]);
	if (r == 0)
		r = table_render(tab, &out);
	if (r == 0 && t->body[0]) {
		/* The body keeps its lines; control characters go. */
		char *body = table_clean(t->body);
		r = body ? buf_printf(&out, "\n%s\n", body) : -ENOMEM;
		free(body);
	}
	r = r == 0 ? output_flush(&out) : output_oom();
	table_destroy(tab);
	buf_finish(&out);
	return r;
}

static int print_assignment(struct ctl *ctl, const Grid__V1__Assignment *a)
{
	struct buf out, nums;
	int r;

	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		assignment_json(&w, a);
		r = output_json_flush(&w, &out);
		buf_finish(&out);
		return r;
	}
	buf_init(&nums, 0);
	struct table *tab = table_create(2);
	char task[24], due[64], ack[64], done[64], state[64];
	snprintf(task, sizeof(task), "%" PRIu64, a->task_id);
	snprintf(state, sizeof(state), "%s%s", assignment_state_name(a->state),
		 a->overdue ? " (overdue)" : "");
	const char *rows[][2] = {
	    {"task", task},
	    {"title", a->task_title},
	    {"node", a->node_code},
	    {"state", state},
	    {"due", when(a->due_at_ms, due, sizeof(due))},
	    {"acknowledged", when(a->acknowledged_at_ms, ack, sizeof(ack))},
	    {"done", when(a->done_at_ms, done, sizeof(done))},
	    {"done by", a->done_by[0] ? a->done_by : "-"},
	    {"report", a->report_text[0] ? a->report_text : "-"},
	    {"numbers", a->n_numbers ? numbers_text(&nums, a->numbers, a->n_numbers) : "-"},
	};
	r = tab ? 0 : -ENOMEM;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && r == 0; i++)
		r = table_add_row(tab, rows[i]);
	if (r == 0)
		r = table_render(tab, &out);
	r = r == 0 ? output_flush(&out) : output_oom();
	table_destroy(tab);
	buf_finish(&nums);
	buf_finish(&out);
	return r;
}

/* --- issue, show ----------------------------------------------------------- */

static int task_issue(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"title", required_argument, NULL, 't'},
	    {"level", required_argument, NULL, 'l'},
	    {"due", required_argument, NULL, 'd'},
	    {"body", required_argument, NULL, 'b'},
	    {0},
	};
	const char *cmd = "task issue";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__IssueTaskRequest in = GRID__V1__ISSUE_TASK_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[160];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "ht:l:d:b:", opts)) != -1) {
		switch (opt) {
		case 't':
			in.title = optarg;
			break;
		case 'l':
			in.target_level = optarg;
			break;
		case 'd':
			if (ctl_parse_time(ctl, cmd, "--due", optarg, 1, &in.due_at_ms))
				return CTL_EXIT_USAGE;
			break;
		case 'b':
			in.body = optarg;
			break;
		default:
			return opt == 'h' ? ctl_help(issue_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want exactly one NODE", cmd);
	in.node_code = argv[optind];
	if (args_nonempty(ctl, cmd, "NODE", in.node_code))
		return CTL_EXIT_USAGE;
	if (!in.title[0])
		return ctl_usage(ctl, cmd, "%s: --title is required", cmd);
	if (!in.target_level[0])
		return ctl_usage(ctl, cmd, "%s: --level is required (e.g. building)", cmd);
	if (!in.due_at_ms)
		return ctl_usage(ctl, cmd, "%s: --due is required (e.g. 2025-12-10 or 7d)", cmd);
	snprintf(subject, sizeof(subject), "node %s", in.node_code);
	req.call_case = GRID__V1__REQUEST__CALL_ISSUE_TASK;
	req.issue_task = &in;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	if (ctl->json) {
		r = print_task(ctl, reply->issue_task, NULL);
	} else {
		/* The number alone on stdout, for ID=$(gridctl task issue ...),
		 * as case raise does; the words around it on stderr. */
		const Grid__V1__Task *t = reply->issue_task;
		printf("%" PRIu64 "\n", t->id);
		fflush(stdout);
		fprintf(stderr, "gridctl: issued task %" PRIu64 " to %u %s node%s\n", t->id,
			t->assignments, t->target_level, t->assignments == 1 ? "" : "s");
		r = CTL_EXIT_OK;
	}
	grid_client_reply_free(reply);
	return r;
}

static int task_show(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "task show";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetTaskRequest in = GRID__V1__GET_TASK_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[64];
	int r;

	if ((r = args_help_only(ctl, cmd, argc, argv, show_help)) >= 0)
		return r;
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want exactly one ID", cmd);
	if (parse_id(ctl, cmd, argv[optind], &in.id))
		return CTL_EXIT_USAGE;
	snprintf(subject, sizeof(subject), "task %" PRIu64, in.id);
	req.call_case = GRID__V1__REQUEST__CALL_GET_TASK;
	req.get_task = &in;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	r = print_task(ctl, reply->get_task, NULL);
	grid_client_reply_free(reply);
	return r;
}

/* --- ls ---------------------------------------------------------------------- */

/* Rows of the list in a page, and its next page token. */
static size_t page_rows(const Grid__V1__Reply *r, const char **ret_next)
{
	if (r->result_case == GRID__V1__REPLY__RESULT_LIST_TASKS) {
		*ret_next = r->list_tasks->next_page_token;
		return r->list_tasks->n_tasks;
	}
	*ret_next = r->list_assignments->next_page_token;
	return r->list_assignments->n_assignments;
}

/* Calls req page by page (kept in pg, which the caller finishes) until
 * limit rows (0: all). *token is the request's page_token, *page_size its
 * page size. *ret_more: there are more than limit. */
static int fetch(struct ctl *ctl, Grid__V1__Request *req, char **token, uint32_t *page_size,
		 uint32_t limit, const char *subject, struct pager *pg, bool *ret_more)
{
	const Grid__V1__HelloReply *hello;
	uint32_t page_max = PAGE_SIZE;
	size_t rows = 0;
	int r;

	*ret_more = false;
	pager_init(pg, ctl, req, token, subject, true);
	r = ctl_connect(ctl);
	if (r != CTL_EXIT_OK)
		return r;
	hello = grid_client_hello(ctl->client);
	if (hello && hello->limits && hello->limits->max_page_size &&
	    hello->limits->max_page_size < page_max)
		page_max = hello->limits->max_page_size;
	for (;;) {
		const Grid__V1__Reply *page = NULL;
		const char *next;
		size_t want = limit ? limit - rows : page_max;

		*page_size = (uint32_t)(want < page_max ? want : page_max);
		r = pager_next(pg, &page);
		if (r != CTL_EXIT_OK || !page)
			return r;
		rows += page_rows(page, &next);
		if (limit && rows >= limit) {
			*ret_more = rows > limit || next[0];
			return CTL_EXIT_OK;
		}
	}
}

static int print_tasks(struct ctl *ctl, const struct pager *p, uint32_t limit)
{
	static const char *head[] = {"ID",  "NODE",  "TITLE",	   "TARGET",
				     "DUE", "STATE", "ASSIGNMENTS"};
	struct table *t = NULL;
	struct json_writer w;
	struct buf out;
	size_t shown = 0;
	int r = 0;

	buf_init(&out, 0);
	if (ctl->json) {
		json_writer_init(&w, &out, false);
		json_begin_array(&w);
	} else {
		t = table_create(7);
		r = t ? table_add_row(t, head) : -ENOMEM;
		if (t)
			table_align_right(t, 6);
	}
	for (size_t i = 0; i < p->n && r == 0; i++) {
		const Grid__V1__TaskList *l = p->replies[i]->list_tasks;
		for (size_t j = 0; j < l->n_tasks && r == 0; j++) {
			const Grid__V1__Task *task = l->tasks[j];
			char id[24], due[64], count[16];

			if (limit && shown == limit)
				break;
			shown++;
			if (ctl->json) {
				task_json(&w, task);
				continue;
			}
			snprintf(id, sizeof(id), "%" PRIu64, task->id);
			snprintf(count, sizeof(count), "%u", task->assignments);
			const char *row[7] = {id,
					      task->node_code,
					      task->title,
					      task->target_level,
					      when(task->due_at_ms, due, sizeof(due)),
					      task_state_name(task->state),
					      count};
			r = table_add_row(t, row);
		}
	}
	if (ctl->json) {
		json_end_array(&w);
		r = output_json_flush(&w, &out);
	} else if (r == 0 && shown == 0) {
		fflush(stdout);
		fputs("gridctl: no tasks\n", stderr);
	} else if (r == 0) {
		r = table_render(t, &out);
		r = r == 0 ? output_flush(&out) : output_oom();
	} else {
		r = output_oom();
	}
	table_destroy(t);
	buf_finish(&out);
	return r;
}

static int print_assignments(struct ctl *ctl, const struct pager *p, uint32_t limit)
{
	static const char *head[] = {"TASK", "NODE", "STATE", "DUE", "DONE BY", "NUMBERS", "TITLE"};
	struct table *t = NULL;
	struct json_writer w;
	struct buf out, nums;
	size_t shown = 0;
	int r = 0;

	buf_init(&out, 0);
	buf_init(&nums, 0);
	if (ctl->json) {
		json_writer_init(&w, &out, false);
		json_begin_array(&w);
	} else {
		t = table_create(7);
		r = t ? table_add_row(t, head) : -ENOMEM;
	}
	for (size_t i = 0; i < p->n && r == 0; i++) {
		const Grid__V1__AssignmentList *l = p->replies[i]->list_assignments;
		for (size_t j = 0; j < l->n_assignments && r == 0; j++) {
			const Grid__V1__Assignment *a = l->assignments[j];
			char id[24], due[64], state[64];

			if (limit && shown == limit)
				break;
			shown++;
			if (ctl->json) {
				assignment_json(&w, a);
				continue;
			}
			snprintf(id, sizeof(id), "%" PRIu64, a->task_id);
			snprintf(state, sizeof(state), "%s%s", assignment_state_name(a->state),
				 a->overdue ? " (overdue)" : "");
			const char *row[7] = {
			    id,
			    a->node_code,
			    state,
			    when(a->due_at_ms, due, sizeof(due)),
			    a->done_by[0] ? a->done_by : "-",
			    a->n_numbers ? numbers_text(&nums, a->numbers, a->n_numbers) : "-",
			    a->task_title};
			r = table_add_row(t, row);
		}
	}
	if (ctl->json) {
		json_end_array(&w);
		r = output_json_flush(&w, &out);
	} else if (r == 0 && shown == 0) {
		fflush(stdout);
		fputs("gridctl: no assignments\n", stderr);
	} else if (r == 0) {
		r = table_render(t, &out);
		r = r == 0 ? output_flush(&out) : output_oom();
	} else {
		r = output_oom();
	}
	table_destroy(t);
	buf_finish(&nums);
	buf_finish(&out);
	return r;
}

static int task_ls(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"all", no_argument, NULL, 'a'},
	    {"assignments", no_argument, NULL, 'A'},
	    {"task", required_argument, NULL, 'T'},
	    {"state", required_argument, NULL, 's'},
	    {"overdue", no_argument, NULL, 'o'},
	    {"limit", required_argument, NULL, 'n'},
	    {0},
	};
	const char *cmd = "task ls";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListTasksRequest lt = GRID__V1__LIST_TASKS_REQUEST__INIT;
	Grid__V1__ListAssignmentsRequest la = GRID__V1__LIST_ASSIGNMENTS_REQUEST__INIT;
	Grid__V1__AssignmentState states[4];
	bool assignments = false, more = false, filters = false;
	uint32_t limit = DEFAULT_LIMIT;
	struct pager pages;
	char subject[160];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "haAT:s:on:", opts)) != -1) {
		switch (opt) {
		case 'a':
			lt.include_cancelled = true;
			break;
		case 'A':
			assignments = true;
			break;
		case 'T':
			if (parse_id(ctl, cmd, optarg, &la.task_id))
				return CTL_EXIT_USAGE;
			filters = true;
			break;
		case 's': {
			Grid__V1__AssignmentState s;
			if (assignment_state_parse(optarg, &s) < 0)
				return ctl_usage(ctl, cmd,
						 "%s: --state wants pending, acknowledged, done or "
						 "cancelled, not '%s'",
						 cmd, optarg);
			if (la.n_states < 4)
				states[la.n_states++] = s;
			filters = true;
			break;
		}
		case 'o':
			la.overdue_only = true;
			filters = true;
			break;
		case 'n':
			if (ctl_parse_uint(ctl, cmd, "--limit", optarg, &limit))
				return CTL_EXIT_USAGE;
			break;
		default:
			return opt == 'h' ? ctl_help(ls_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return ctl_usage(ctl, cmd, "%s: want at most one NODE", cmd);
	if (filters && !assignments)
		return ctl_usage(ctl, cmd, "%s: --task, --state and --overdue need --assignments",
				 cmd);
	if (assignments && lt.include_cancelled)
		return ctl_usage(ctl, cmd,
				 "%s: --all lists tasks; for cancelled assignments "
				 "use --state cancelled",
				 cmd);
	if (argc - optind == 1) {
		if (args_nonempty(ctl, cmd, "NODE", argv[optind]))
			return CTL_EXIT_USAGE;
		lt.node_code = la.node_code = argv[optind];
		snprintf(subject, sizeof(subject), "node %s", argv[optind]);
	} else {
		snprintf(subject, sizeof(subject), "tasks");
	}
	if (assignments) {
		la.states = states;
		req.call_case = GRID__V1__REQUEST__CALL_LIST_ASSIGNMENTS;
		req.list_assignments = &la;
		r = fetch(ctl, &req, &la.page_token, &la.page_size, limit, subject, &pages, &more);
		if (r == CTL_EXIT_OK)
			r = print_assignments(ctl, &pages, limit);
	} else {
		req.call_case = GRID__V1__REQUEST__CALL_LIST_TASKS;
		req.list_tasks = &lt;
		r = fetch(ctl, &req, &lt.page_token, &lt.page_size, limit, subject, &pages, &more);
		if (r == CTL_EXIT_OK)
			r = print_tasks(ctl, &pages, limit);
	}
	if (r == CTL_EXIT_OK && more && !ctl->json) {
		fflush(stdout);
		fprintf(stderr,
			"gridctl: the first %u; there are more (--limit N, or --limit 0 "
			"for all)\n",
			limit);
	}
	pager_finish(&pages);
	return r;
}

/* --- ack, done ----------------------------------------------------------- */

static int assignment_args(struct ctl *ctl, const char *cmd, int argc, char **argv,
			   uint64_t *ret_id, char **ret_node, char *subject, size_t size)
{
	if (argc - optind != 2)
		return ctl_usage(ctl, cmd, "%s: want ID NODE", cmd);
	if (parse_id(ctl, cmd, argv[optind], ret_id))
		return CTL_EXIT_USAGE;
	if (args_nonempty(ctl, cmd, "NODE", argv[optind + 1]))
		return CTL_EXIT_USAGE;
	*ret_node = argv[optind + 1];
	snprintf(subject, size, "task %" PRIu64 " at %s", *ret_id, *ret_node);
	return 0;
}

static int task_ack(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "task ack";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AssignmentRequest in = GRID__V1__ASSIGNMENT_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[160];
	int r;

	if ((r = args_help_only(ctl, cmd, argc, argv, ack_help)) >= 0)
		return r;
	if (assignment_args(ctl, cmd, argc, argv, &in.task_id, &in.node_code, subject,
			    sizeof(subject)))
		return CTL_EXIT_USAGE;
	req.call_case = GRID__V1__REQUEST__CALL_ACKNOWLEDGE_ASSIGNMENT;
	req.acknowledge_assignment = &in;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	r = print_assignment(ctl, reply->acknowledge_assignment);
	grid_client_reply_free(reply);
	return r;
}

/* NAME=VALUE into num; the name points into s. */
static int parse_number(struct ctl *ctl, const char *cmd, char *s, Grid__V1__ReportNumber *num)
{
	char *eq = strchr(s, '='), *end;

	if (!eq || eq == s || !eq[1])
		return ctl_usage(ctl, cmd, "%s: --number wants NAME=VALUE, not '%s'", cmd, s);
	*eq = '\0';
	num->name = s;
	errno = 0;
	num->value = strtod(eq + 1, &end);
	if (errno || *end || !isfinite(num->value))
		return ctl_usage(ctl, cmd, "%s: --number %s wants a number, not '%s'", cmd, s,
				 eq + 1);
	return 0;
}

static int task_done(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"report", required_argument, NULL, 'r'},
	    {"number", required_argument, NULL, 'N'},
	    {0},
	};
	const char *cmd = "task done";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CompleteAssignmentRequest in = GRID__V1__COMPLETE_ASSIGNMENT_REQUEST__INIT;
	Grid__V1__ReportNumber nums[MAX_NUMBERS];
	Grid__V1__ReportNumber *numv[MAX_NUMBERS];
	Grid__V1__Reply *reply = NULL;
	char subject[160];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hr:N:", opts)) != -1) {
		switch (opt) {
		case 'r':
			in.report_text = optarg;
			break;
		case 'N':
			if (in.n_numbers == MAX_NUMBERS)
				return ctl_usage(ctl, cmd, "%s: at most %d --number options", cmd,
						 MAX_NUMBERS);
			grid__v1__report_number__init(&nums[in.n_numbers]);
			if (parse_number(ctl, cmd, optarg, &nums[in.n_numbers]))
				return CTL_EXIT_USAGE;
			numv[in.n_numbers] = &nums[in.n_numbers];
			in.n_numbers++;
			break;
		default:
			return opt == 'h' ? ctl_help(done_help) : CTL_EXIT_USAGE;
		}
	}
	if (assignment_args(ctl, cmd, argc, argv, &in.task_id, &in.node_code, subject,
			    sizeof(subject)))
		return CTL_EXIT_USAGE;
	in.numbers = numv;
	req.call_case = GRID__V1__REQUEST__CALL_COMPLETE_ASSIGNMENT;
	req.complete_assignment = &in;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	r = print_assignment(ctl, reply->complete_assignment);
	grid_client_reply_free(reply);
	return r;
}

/* --- cancel, extend ------------------------------------------------------ */

static int task_cancel(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT, {"note", required_argument, NULL, 'm'}, {0}};
	const char *cmd = "task cancel";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CancelTaskRequest in = GRID__V1__CANCEL_TASK_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[64], headline[64];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hm:", opts)) != -1) {
		if (opt == 'm')
			in.note = optarg;
		else
			return opt == 'h' ? ctl_help(cancel_help) : CTL_EXIT_USAGE;
	}
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want exactly one ID", cmd);
	if (parse_id(ctl, cmd, argv[optind], &in.id))
		return CTL_EXIT_USAGE;
	snprintf(subject, sizeof(subject), "task %" PRIu64, in.id);
	req.call_case = GRID__V1__REQUEST__CALL_CANCEL_TASK;
	req.cancel_task = &in;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	snprintf(headline, sizeof(headline), "cancelled task %" PRIu64, in.id);
	r = print_task(ctl, reply->cancel_task, headline);
	grid_client_reply_free(reply);
	return r;
}

static int task_extend(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT, {"due", required_argument, NULL, 'd'}, {0}};
	const char *cmd = "task extend";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ExtendTaskRequest in = GRID__V1__EXTEND_TASK_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[64], headline[64];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hd:", opts)) != -1) {
		if (opt == 'd') {
			if (ctl_parse_time(ctl, cmd, "--due", optarg, 1, &in.due_at_ms))
				return CTL_EXIT_USAGE;
		} else {
			return opt == 'h' ? ctl_help(extend_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want exactly one ID", cmd);
	if (parse_id(ctl, cmd, argv[optind], &in.id))
		return CTL_EXIT_USAGE;
	if (!in.due_at_ms)
		return ctl_usage(ctl, cmd, "%s: --due is required", cmd);
	snprintf(subject, sizeof(subject), "task %" PRIu64, in.id);
	req.call_case = GRID__V1__REQUEST__CALL_EXTEND_TASK;
	req.extend_task = &in;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	snprintf(headline, sizeof(headline), "extended task %" PRIu64, in.id);
	r = print_task(ctl, reply->extend_task, headline);
	grid_client_reply_free(reply);
	return r;
}

/* --- progress ------------------------------------------------------------- */

static int print_progress(struct ctl *ctl, const Grid__V1__TaskProgress *p)
{
	struct buf out, nums;
	int r = 0;

	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_object(&w);
		json_key(&w, "task_id");
		json_uint(&w, p->task_id);
		json_key(&w, "rows");
		json_begin_array(&w);
		for (size_t i = 0; i < p->n_rows; i++) {
			const Grid__V1__ProgressRow *row = p->rows[i];
			json_begin_object(&w);
			json_key(&w, "node_code");
			json_string(&w, row->node_code);
			json_key(&w, "node_name");
			json_string(&w, row->node_name);
			json_key(&w, "level");
			json_uint(&w, row->level);
			json_key(&w, "total");
			json_uint(&w, row->total);
			json_key(&w, "acknowledged");
			json_uint(&w, row->acknowledged);
			json_key(&w, "done");
			json_uint(&w, row->done);
			json_key(&w, "overdue");
			json_uint(&w, row->overdue);
			json_key(&w, "sums");
			numbers_json(&w, row->sums, row->n_sums);
			json_end_object(&w);
		}
		json_end_array(&w);
		json_end_object(&w);
		r = output_json_flush(&w, &out);
		buf_finish(&out);
		return r;
	}
	/* Rows come in pre-order; a node's parent is the nearest row before
	 * it on a higher level. */
	struct tree *t = tree_create(5);
	const Grid__V1__ProgressRow **stack = calloc(p->n_rows + 1, sizeof(*stack));
	size_t depth = 0;

	buf_init(&nums, 0);
	if (!t || !stack)
		r = -ENOMEM;
	for (size_t i = 0; i < p->n_rows && r == 0; i++) {
		const Grid__V1__ProgressRow *row = p->rows[i];
		char done[48], ack[48], overdue[48];

		while (depth && stack[depth - 1]->level >= row->level)
			depth--;
		snprintf(done, sizeof(done), "%u/%u done", row->done, row->total);
		snprintf(ack, sizeof(ack), "%u acknowledged", row->acknowledged);
		snprintf(overdue, sizeof(overdue), "%u overdue", row->overdue);
		const char *cells[5] = {row->node_name, row->node_code, done, ack, overdue};
		if (row->n_sums) {
			/* The sums go on the overdue cell: one column fewer keeps
			 * short lines short. */
			buf_reset(&nums);
			buf_printf(&nums, "%s", overdue);
			for (size_t k = 0; k < row->n_sums; k++) {
				char num[64];
				format_number(num, sizeof(num), row->sums[k]->value);
				buf_printf(&nums, "  %s=%s", row->sums[k]->name, num);
			}
			cells[4] = buf_cstr(&nums) ? buf_cstr(&nums) : overdue;
		}
		r = tree_add(t, row->node_code, depth ? stack[depth - 1]->node_code : NULL, cells);
		if (r == -EEXIST)
			r = 0; /* the server repeated a node: draw it once */
		stack[depth++] = row;
	}
	if (r == 0 && p->n_rows == 0) {
		fflush(stdout);
		fputs("gridctl: nothing to show\n", stderr);
	} else if (r == 0) {
		r = tree_render(t, &out);
		r = r == 0 ? output_flush(&out) : output_oom();
	} else {
		r = output_oom();
	}
	free(stack);
	tree_destroy(t);
	buf_finish(&nums);
	buf_finish(&out);
	return r;
}

static int task_progress(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT, {"depth", required_argument, NULL, 'd'}, {0}};
	const char *cmd = "task progress";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__TaskProgressRequest in = GRID__V1__TASK_PROGRESS_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[160];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hd:", opts)) != -1) {
		if (opt == 'd') {
			if (ctl_parse_uint(ctl, cmd, "--depth", optarg, &in.depth))
				return CTL_EXIT_USAGE;
			if (in.depth == 0)
				return ctl_usage(ctl, cmd, "%s: --depth must be at least 1", cmd);
		} else {
			return opt == 'h' ? ctl_help(progress_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1 && argc - optind != 2)
		return ctl_usage(ctl, cmd, "%s: want ID [NODE]", cmd);
	if (parse_id(ctl, cmd, argv[optind], &in.task_id))
		return CTL_EXIT_USAGE;
	if (argc - optind == 2) {
		if (args_nonempty(ctl, cmd, "NODE", argv[optind + 1]))
			return CTL_EXIT_USAGE;
		in.node_code = argv[optind + 1];
		snprintf(subject, sizeof(subject), "task %" PRIu64 " at %s", in.task_id,
			 in.node_code);
	} else {
		snprintf(subject, sizeof(subject), "task %" PRIu64, in.task_id);
	}
	req.call_case = GRID__V1__REQUEST__CALL_TASK_PROGRESS;
	req.task_progress = &in;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	r = print_progress(ctl, reply->task_progress);
	grid_client_reply_free(reply);
	return r;
}

static const struct ctl_command task_commands[] = {
    {"issue", task_issue},   {"show", task_show},	  {"ls", task_ls},
    {"ack", task_ack},	     {"done", task_done},	  {"cancel", task_cancel},
    {"extend", task_extend}, {"progress", task_progress}, {NULL, NULL},
};

int task_main(struct ctl *ctl, int argc, char **argv)
{
	optind = 0;
	return ctl_dispatch(ctl, "task", task_commands, argc, argv, task_help);
}
