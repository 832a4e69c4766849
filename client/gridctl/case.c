/* gridctl case ...: the request queue of the grid, as the people working it
 * see it. raise puts a need, complaint or opinion into a node's inbox and
 * prints its number; show prints one case with its history; ls lists an
 * inbox or a subtree's cases (following page tokens up to --limit); claim
 * accepts the next waiting case of a node; every other sub-command is one
 * transition of the lifecycle (register, void, accept, start, resolve,
 * check, close, rework, escalate, send-down, suspend, resume, reopen,
 * callback) and prints the case's new state in one line. The server decides
 * who may do what and in which state (proto/case.proto, migration 0005);
 * gridctl only reads the command line, makes the call and shows the answer.
 * Dispatched from main.c; report.c shares the names of states below.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/args.h"
#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/pager.h"
#include "client/gridctl/session.h"
#include "client/gridctl/table.h"
#include "common/strutil.h"
#include "common/utf8.h"

#define DEFAULT_LIMIT 100
#define PAGE_SIZE 500
#define MAX_STATES 16
/* Display columns of a title in 'case ls'; longer ones are cut. */
#define TITLE_COLUMNS 40

static const char case_help[] =
    "Usage: gridctl case COMMAND [ARGS...]\n"
    "\n"
    "Cases are the needs, complaints and opinions of residents, raised at a node\n"
    "of the grid and rising level by level until someone solves them:\n"
    "received -> registered -> accepted -> in progress -> resolved -> checked\n"
    "(by someone other than the handler) -> closed, then the reporter is called\n"
    "back. A level that misses its deadline passes the case up by itself.\n"
    "\n"
    "Commands:\n"
    "  raise NODE TITLE [--desc TEXT] [--category C] [--urgency U] [--channel C] ...\n"
    "                                  put a case into NODE's inbox; prints its number\n"
    "  show ID                         every field of a case and its history\n"
    "  ls NODE [--subtree] [--state S ...] [--category C] [--overdue] [--all]\n"
    "                                  the cases in NODE's inbox (or its subtree)\n"
    "  claim NODE                      accept the next waiting case of NODE\n"
    "  register ID                     take a received case into the register\n"
    "  void ID REASON [--duplicate-of N]\n"
    "                                  drop a case: out_of_scope, invalid, duplicate\n"
    "  accept ID                       take a case on: you become its handler\n"
    "  start ID                        start working on it (handler)\n"
    "  resolve ID --note RESULT        say what was done (handler)\n"
    "  check ID                        confirm the resolution (not the handler)\n"
    "  close ID OUTCOME                close it: fixed, no_action, not_ours (after a\n"
    "                                  check); withdrawn, duplicate (any time)\n"
    "  rework ID                       send a resolution back (not the handler)\n"
    "  escalate ID --note REASON       pass the case to the level above\n"
    "  send-down ID NODE               hand the case to a node below its own\n"
    "  suspend ID --note REASON        stop its clock (the level above approves)\n"
    "  resume ID                       start its clock again\n"
    "  reopen ID                       open a closed case again\n"
    "  callback ID --solved yes|no --satisfaction 1-5\n"
    "                                  what the reporter said when called back\n"
    "\n"
    "Every transition takes --note TEXT, kept in the case's history, and prints\n"
    "the case's new state in one line (with --json: the case). 'gridctl report\n"
    "cases' gives the figures. 'gridctl case COMMAND --help' tells more.\n"
    "\n"
    "Examples:\n"
    "  gridctl case raise WH-TZL-Z5-ZTY-B1 楼道灯坏了 --category facilities\n"
    "  gridctl case ls WH-TZL-Z5 --subtree --overdue\n"
    "  gridctl case accept 12 && gridctl case start 12\n"
    "  gridctl case show 12\n";

static const char raise_help[] =
    "Usage: gridctl case raise NODE TITLE [--desc TEXT] [--category C] [--contact C]\n"
    "                          [--household H] [--service S] [--urgency U] [--channel C]\n"
    "\n"
    "Raises a case in the inbox of NODE: a building head for their building, the\n"
    "service centre's counter on behalf of a resident, a hotline for where the\n"
    "caller lives. Prints the new case's number on standard output (and what\n"
    "happened on standard error), so that ID=$(gridctl case raise ...) works.\n"
    "With --json: the case.\n"
    "\n"
    "Options:\n"
    "  -d, --desc TEXT        what it is about, in detail\n"
    "  -c, --category C       a lower-case word: facilities, sanitation, safety,\n"
    "                         elderly, housing, ... (default: other); deadlines may\n"
    "                         differ by category\n"
    "  -C, --contact C        who to call back, when not you (name and phone)\n"
    "  -H, --household H      the household it concerns\n"
    "  -S, --service S        the outsourced service item it concerns, when known\n"
    "  -u, --urgency U        normal (default), urgent or emergency\n"
    "  -w, --channel C        how it came in: counter, phone, hotline, visit, app,\n"
    "                         letter, other (default)\n"
    "\n"
    "Examples:\n"
    "  gridctl case raise WH-TZL-Z5-ZTY-B1 楼道灯坏了 --desc '3楼到5楼的灯都不亮' \\\n"
    "      --category facilities --channel visit\n"
    "  gridctl case raise WH-TZL-Z5-ZTY 独居老人需要助餐 --category elderly \\\n"
    "      --contact '刘泽高 13800000099' --urgency urgent --channel phone\n"
    "  ID=$(gridctl case raise WH-TZL 噪音投诉 --category other --channel hotline)\n";

static const char show_help[] =
    "Usage: gridctl case show ID\n"
    "\n"
    "Prints every field of case ID (times in local time, each running deadline\n"
    "with how long is left, the node with its name) and its history as a\n"
    "table: TIME, EVENT, NODE, ACTOR, NOTE, oldest first.\n"
    "With --json: the case object with \"node_name\", \"origin_name\" and an\n"
    "\"events\" array of {\"seq\", \"kind\", \"at_ms\", \"node_code\", \"node_name\",\n"
    "\"from_node_code\", \"actor\", \"summary\"}.\n"
    "\n"
    "Examples:\n"
    "  gridctl case show 12\n"
    "  gridctl --json case show 12 | jq '.events[].kind'\n";

static const char ls_help[] =
    "Usage: gridctl case ls NODE [--subtree] [--state S ...] [--category C] [--overdue]\n"
    "                       [--all] [--limit N]\n"
    "\n"
    "Lists the open cases in the inbox of NODE, oldest first, as a table: ID,\n"
    "STATE, NODE, TITLE, RECEIVED, DUE (the deadline running now: to accept, or\n"
    "to resolve; \"overdue\" when this level missed one), HANDLER. A \"*\" after\n"
    "the state: a suspension waits for the level above to approve it.\n"
    "With --json: an array of cases.\n"
    "\n"
    "Options:\n"
    "  -r, --subtree        the cases of every node below NODE too\n"
    "  -s, --state S        only cases in state S: received, registered, accepted,\n"
    "                       in_progress, resolved, checked, closed, voided,\n"
    "                       suspended; repeat it or separate with commas\n"
    "  -c, --category C     only cases of this category\n"
    "  -o, --overdue        only cases whose level missed a deadline\n"
    "  -a, --all            closed and voided cases too\n"
    "  -l, --limit N        at most N cases (default 100; 0: all of them)\n"
    "\n"
    "Examples:\n"
    "  gridctl case ls WH-TZL-Z5-ZTY-B1                  # a building head's inbox\n"
    "  gridctl case ls WH-TZL-Z5 --subtree --overdue     # late anywhere in zone 5\n"
    "  gridctl case ls WH-TZL-Z5-ZTY --state resolved    # waiting for a check\n"
    "  gridctl --json case ls WH-TZL --subtree --all --limit 0 > tzl-cases.json\n";

static const char claim_help[] =
    "Usage: gridctl case claim NODE\n"
    "\n"
    "Accepts the next case waiting in the inbox of NODE (the most urgent first,\n"
    "then the oldest) and makes you its handler; someone claiming at the same\n"
    "moment gets another one. Exit code 3 when no case is waiting.\n"
    "With --json: the case.\n"
    "\n"
    "Examples:\n"
    "  gridctl case claim WH-TZL-Z5-ZTY-B1\n"
    "  while ID=$(gridctl --json case claim WH-TZL-Z5-ZTY | jq .id); do ...; done\n";

static const char void_help[] =
    "Usage: gridctl case void ID REASON [--duplicate-of N] [--note TEXT]\n"
    "\n"
    "Drops a case that was received or registered but is not one to handle.\n"
    "REASON: out_of_scope (not a matter for the grid), invalid, or duplicate\n"
    "(it repeats case N, given with --duplicate-of; the two are linked).\n"
    "\n"
    "Options:\n"
    "  -D, --duplicate-of N   the case it repeats (with duplicate)\n"
    "  -n, --note TEXT        why, kept in the case's history\n"
    "\n"
    "Examples:\n"
    "  gridctl case void 13 duplicate --duplicate-of 12\n"
    "  gridctl case void 14 out_of_scope --note '属于派出所管辖'\n";

static const char close_help[] =
    "Usage: gridctl case close ID OUTCOME [--duplicate-of N] [--note TEXT]\n"
    "\n"
    "Closes a case with an OUTCOME. After it has been checked: fixed, no_action\n"
    "(nothing needed doing) or not_ours (not the grid's responsibility). At any\n"
    "point while it is open: withdrawn (the reporter withdrew it) or duplicate\n"
    "(it repeats case N, given with --duplicate-of).\n"
    "\n"
    "Options:\n"
    "  -D, --duplicate-of N   the case it repeats (with duplicate)\n"
    "  -n, --note TEXT        kept in the case's history\n"
    "\n"
    "Examples:\n"
    "  gridctl case close 12 fixed\n"
    "  gridctl case close 15 withdrawn --note '居民来电撤回'\n"
    "  gridctl case close 16 duplicate --duplicate-of 12\n";

static const char send_down_help[] =
    "Usage: gridctl case send-down ID NODE [--note TEXT]\n"
    "\n"
    "Hands a case in your inbox to NODE, a node below the case's own (e.g. a\n"
    "zone sends an escalated case back to the building that can fix it). It\n"
    "arrives there registered, with that level's deadlines.\n"
    "\n"
    "Options:\n"
    "  -n, --note TEXT   what the level below should do, kept in the history\n"
    "\n"
    "Examples:\n"
    "  gridctl case send-down 12 WH-TZL-Z5-ZTY-B1 --note '请联系物业更换灯泡'\n";

static const char callback_help[] =
    "Usage: gridctl case callback ID --solved yes|no --satisfaction 1-5 [--note TEXT]\n"
    "\n"
    "Records the call-back of a closed case: whether the reporter says it was\n"
    "solved, and how satisfied they are, from 1 (very dissatisfied) to 5 (very\n"
    "satisfied). Done once per case, by the reporter or whoever calls them.\n"
    "\n"
    "Options:\n"
    "  -y, --solved yes|no       whether it was solved (required)\n"
    "  -s, --satisfaction 1-5    how satisfied the reporter is (required)\n"
    "  -n, --note TEXT           what they said\n"
    "\n"
    "Examples:\n"
    "  gridctl case callback 12 --solved yes --satisfaction 5\n"
    "  gridctl case callback 17 --solved no --satisfaction 2 --note '灯又坏了'\n";

/* The transitions that take nothing but a case number and a note. */
struct step {
	const char *name;
	Grid__V1__Request__CallCase call;
	const char *help;
};

static const char register_help[] =
    "Usage: gridctl case register ID [--note TEXT]\n"
    "\n"
    "Registers a received case: it is one for the grid to handle. The case\n"
    "stays in its inbox, waiting to be accepted.\n"
    "\n"
    "Examples:\n"
    "  gridctl case register 12\n";

static const char accept_help[] =
    "Usage: gridctl case accept ID [--note TEXT]\n"
    "\n"
    "Accepts a received or registered case in an inbox you work: you become\n"
    "its handler, and the time to resolve it runs. Only one of two people\n"
    "accepting at once gets it. ('case claim NODE' takes the next one.)\n"
    "\n"
    "Examples:\n"
    "  gridctl case accept 12\n";

static const char start_help[] = "Usage: gridctl case start ID [--note TEXT]\n"
				 "\n"
				 "Marks a case you accepted as in progress.\n"
				 "\n"
				 "Examples:\n"
				 "  gridctl case start 12 --note '已联系物业'\n";

static const char resolve_help[] =
    "Usage: gridctl case resolve ID --note RESULT\n"
    "\n"
    "Resolves a case you handle, saying what was done (required; --result is\n"
    "the same option). Someone other than you then checks it.\n"
    "\n"
    "Examples:\n"
    "  gridctl case resolve 12 --note '已更换3-5楼灯泡'\n";

static const char check_help[] =
    "Usage: gridctl case check ID [--note TEXT]\n"
    "\n"
    "Confirms the resolution of a case. The handler cannot check their own\n"
    "work; a courtyard representative checks a building head's, a zone leader\n"
    "a courtyard's. Then close it ('case close ID fixed') or send it back\n"
    "('case rework ID').\n"
    "\n"
    "Examples:\n"
    "  gridctl case check 12 --note '现场看过，灯亮了'\n";

static const char rework_help[] =
    "Usage: gridctl case rework ID [--note TEXT]\n"
    "\n"
    "Sends a resolved (or checked) case back to its handler: it is in progress\n"
    "again, with a fresh time to resolve. Not by the handler.\n"
    "\n"
    "Examples:\n"
    "  gridctl case rework 12 --note '4楼的灯还是不亮'\n";

static const char escalate_help[] =
    "Usage: gridctl case escalate ID [--note REASON]\n"
    "\n"
    "Passes a case this level cannot solve to the node above (--reason is the\n"
    "same option as --note). It keeps its received time; the level above gets\n"
    "its own deadlines and the case arrives there registered.\n"
    "\n"
    "Examples:\n"
    "  gridctl case escalate 12 --note '需要片区协调物业公司'\n";

static const char suspend_help[] =
    "Usage: gridctl case suspend ID --note REASON\n"
    "\n"
    "Stops the deadline clock of a case that cannot move for now (--reason is\n"
    "the same option as --note). Asked by whoever works the case, it is only a\n"
    "request until someone who manages cases one level up makes the same call\n"
    "(the reason may then be left out): that approves it.\n"
    "\n"
    "Examples:\n"
    "  gridctl case suspend 12 --note '等待业委会表决维修资金'     # the request\n"
    "  gridctl case suspend 12                                   # the approval\n";

static const char resume_help[] = "Usage: gridctl case resume ID [--note TEXT]\n"
				  "\n"
				  "Starts the clock of a suspended case again, with the time that\n"
				  "was left when it stopped; the case returns to its state then.\n"
				  "\n"
				  "Examples:\n"
				  "  gridctl case resume 12 --note '维修资金已批准'\n";

static const char reopen_help[] =
    "Usage: gridctl case reopen ID [--note TEXT]\n"
    "\n"
    "Opens a closed case again (the problem came back, the call-back said it\n"
    "was not solved): registered in the inbox it was closed in, with fresh\n"
    "deadlines.\n"
    "\n"
    "Examples:\n"
    "  gridctl case reopen 12 --note '回访称灯又坏了'\n";

enum {
	STEP_REGISTER,
	STEP_ACCEPT,
	STEP_START,
	STEP_RESOLVE,
	STEP_CHECK,
	STEP_REWORK,
	STEP_ESCALATE,
	STEP_SUSPEND,
	STEP_RESUME,
	STEP_REOPEN,
};

#define CALL(x) GRID__V1__REQUEST__CALL_##x

static const struct step steps[] = {
    [STEP_REGISTER] = {"register", CALL(REGISTER_CASE), register_help},
    [STEP_ACCEPT] = {"accept", CALL(ACCEPT_CASE), accept_help},
    [STEP_START] = {"start", CALL(START_CASE), start_help},
    [STEP_RESOLVE] = {"resolve", CALL(RESOLVE_CASE), resolve_help},
    [STEP_CHECK] = {"check", CALL(CHECK_CASE), check_help},
    [STEP_REWORK] = {"rework", CALL(REWORK_CASE), rework_help},
    [STEP_ESCALATE] = {"escalate", CALL(ESCALATE_CASE), escalate_help},
    [STEP_SUSPEND] = {"suspend", CALL(SUSPEND_CASE), suspend_help},
    [STEP_RESUME] = {"resume", CALL(RESUME_CASE), resume_help},
    [STEP_REOPEN] = {"reopen", CALL(REOPEN_CASE), reopen_help},
};

/* --- names of the protocol's enums --------------------------------------- */

/* Indexed by the enum's value; the CLI's words and the JSON's. */
static const char *const state_words[] = {
    NULL,	"received", "registered", "accepted", "in_progress",
    "resolved", "checked",  "closed",	  "voided",   "suspended",
};
static const char *const outcome_words[] = {
    NULL, "fixed", "no_action", "not_ours", "duplicate", "withdrawn",
};
/* What each outcome means, for 'case show'. */
static const char *const outcome_text[] = {
    NULL, "fixed", "no action needed", "not our responsibility", "duplicate", "withdrawn",
};
static const char *const void_words[] = {NULL, "out_of_scope", "invalid", "duplicate"};
static const char *const urgency_words[] = {"normal", "urgent", "emergency"};

#define NWORDS(a) (sizeof(a) / sizeof((a)[0]))

static const char *word(const char *const *words, size_t n, unsigned v)
{
	return v < n && words[v] ? words[v] : NULL;
}

static const char *or_else(const char *s, const char *other)
{
	return s ? s : other;
}

static const char *case_state_word(int state)
{
	const char *w = word(state_words, NWORDS(state_words), (unsigned)state);

	return w ? w : "unknown";
}

/* "in_progress" -> "in progress", for text meant to be read. */
static const char *spaced(const char *w, char *buf, size_t size)
{
	size_t i;

	for (i = 0; w[i] && i + 1 < size; i++)
		buf[i] = w[i] == '_' ? ' ' : w[i];
	buf[i] = '\0';
	return buf;
}

/* Finds s among words, ignoring case and taking '-' or ' ' for '_';
 * the index, or -1. */
static int word_find(const char *const *words, size_t n, const char *s)
{
	char norm[64];
	size_t i;

	for (i = 0; s[i] && i + 1 < sizeof(norm); i++) {
		char ch = s[i];

		if (ch == '-' || ch == ' ')
			ch = '_';
		else if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		norm[i] = ch;
	}
	if (s[i])
		return -1;
	norm[i] = '\0';
	for (size_t k = 0; k < n; k++)
		if (words[k] && strcmp(words[k], norm) == 0)
			return (int)k;
	return -1;
}

static int parse_id(struct ctl *ctl, const char *cmd, const char *what, const char *s,
		    uint64_t *ret_id)
{
	uint64_t v;

	if (*s == '#')
		s++;
	if (str_to_u64(s, &v) < 0 || v == 0)
		return ctl_usage(ctl, cmd, "%s: %s wants a case number, not '%s'", cmd, what, s);
	*ret_id = v;
	return 0;
}

/* --- showing cases -------------------------------------------------------- */

/* "3h 20m", "2d 4h", "12m", "under a minute" for a span of ms >= 0. */
static const char *span_text(int64_t ms, char *buf, size_t size)
{
	int64_t min = ms / 60000, h = min / 60, d = h / 24;

	if (min < 1)
		snprintf(buf, size, "under a minute");
	else if (h < 1)
		snprintf(buf, size, "%lldm", (long long)min);
	else if (d < 1)
		snprintf(buf, size, "%lldh %lldm", (long long)h, (long long)(min % 60));
	else
		snprintf(buf, size, "%lldd %lldh", (long long)d, (long long)(h % 24));
	return buf;
}

/* "2025-03-01 16:05 (3h 20m left)" or "... (overdue by 2h 5m)"; "-" when
 * the deadline is not running. */
static const char *due_text(int64_t due_ms, int64_t now_ms, char *buf, size_t size)
{
	char when[64], span[64];

	if (!due_ms) {
		snprintf(buf, size, "-");
		return buf;
	}
	ctl_format_time(due_ms, false, when, sizeof(when));
	if (due_ms >= now_ms)
		snprintf(buf, size, "%s (%s left)", when,
			 span_text(due_ms - now_ms, span, sizeof(span)));
	else
		snprintf(buf, size, "%s (overdue by %s)", when,
			 span_text(now_ms - due_ms, span, sizeof(span)));
	return buf;
}

/* The deadline running now: to accept while waiting, else to resolve. */
static int64_t running_due(const Grid__V1__Case *c)
{
	return c->accept_due_ms ? c->accept_due_ms : c->resolve_due_ms;
}

static void json_time_or_null(struct json_writer *w, const char *key, int64_t ms)
{
	json_key(w, key);
	if (ms)
		json_int(w, ms);
	else
		json_null(w);
}

static void json_word_or_null(struct json_writer *w, const char *key, const char *v)
{
	json_key(w, key);
	json_string(w, v); /* NULL writes null */
}

/* The fields of a case, without the braces; node_name and origin_name
 * (NULL: not known) are added when given. */
static void case_json_fields(struct json_writer *w, const Grid__V1__Case *c, const char *node_name,
			     const char *origin_name)
{
	json_key(w, "id");
	json_uint(w, c->id);
	json_key(w, "state");
	json_string(w, case_state_word(c->state));
	json_key(w, "node_code");
	json_string(w, c->node_code);
	if (node_name) {
		json_key(w, "node_name");
		json_string(w, node_name);
	}
	json_key(w, "origin_code");
	json_string(w, c->origin_code);
	if (origin_name) {
		json_key(w, "origin_name");
		json_string(w, origin_name);
	}
	json_key(w, "title");
	json_string(w, c->title);
	json_key(w, "description");
	json_string(w, c->description);
	json_key(w, "category");
	json_string(w, c->category);
	json_key(w, "contact");
	json_string(w, c->contact);
	json_key(w, "household");
	json_string(w, c->household);
	json_key(w, "service_item");
	json_string(w, c->service_item);
	json_key(w, "urgency");
	json_string(w, or_else(word(urgency_words, NWORDS(urgency_words), (unsigned)c->urgency),
			       "unknown"));
	json_key(w, "channel");
	json_string(w, c->channel);
	json_key(w, "reporter");
	json_string(w, c->reporter);
	json_key(w, "handler");
	json_string(w, c->handler);
	json_key(w, "received_at_ms");
	json_int(w, c->received_at_ms);
	json_key(w, "level_since_ms");
	json_int(w, c->level_since_ms);
	json_time_or_null(w, "accept_due_ms", c->accept_due_ms);
	json_time_or_null(w, "resolve_due_ms", c->resolve_due_ms);
	json_key(w, "overdue");
	json_bool(w, c->overdue);
	json_key(w, "result_note");
	json_string(w, c->result_note);
	json_word_or_null(w, "outcome",
			  word(outcome_words, NWORDS(outcome_words), (unsigned)c->outcome));
	json_word_or_null(w, "void_reason",
			  word(void_words, NWORDS(void_words), (unsigned)c->void_reason));
	json_key(w, "duplicate_of");
	if (c->duplicate_of)
		json_uint(w, c->duplicate_of);
	else
		json_null(w);
	json_key(w, "escalations");
	json_uint(w, c->escalations);
	json_key(w, "timeout_escalations");
	json_uint(w, c->timeout_escalations);
	json_key(w, "reworks");
	json_uint(w, c->reworks);
	json_key(w, "suspend_requested");
	json_bool(w, c->suspend_requested);
	json_key(w, "suspend_reason");
	json_string(w, c->suspend_reason);
	json_key(w, "callback");
	if (c->callback_done) {
		json_begin_object(w);
		json_key(w, "solved");
		json_bool(w, c->callback_solved);
		json_key(w, "satisfaction");
		json_uint(w, c->satisfaction);
		json_end_object(w);
	} else {
		json_null(w);
	}
	json_time_or_null(w, "closed_at_ms", c->closed_at_ms);
}

static void case_json(struct json_writer *w, const Grid__V1__Case *c)
{
	json_begin_object(w);
	case_json_fields(w, c, NULL, NULL);
	json_end_object(w);
}

static void event_json(struct json_writer *w, const Grid__V1__Event *e)
{
	json_begin_object(w);
	json_key(w, "seq");
	json_uint(w, e->seq);
	json_key(w, "kind");
	json_string(w, e->kind);
	json_key(w, "at_ms");
	json_int(w, e->at_ms);
	json_key(w, "node_code");
	json_string(w, e->node_code);
	json_key(w, "node_name");
	json_string(w, e->node_name);
	json_key(w, "from_node_code");
	json_string(w, e->from_node_code);
	json_key(w, "actor");
	json_string(w, e->actor);
	json_key(w, "summary");
	json_string(w, e->summary);
	json_end_object(w);
}

/* Prints one case as JSON (--json output of the writes). */
static int print_case_json(const Grid__V1__Case *c)
{
	struct json_writer w;
	struct buf out;
	int r;

	buf_init(&out, 0);
	json_writer_init(&w, &out, false);
	case_json(&w, c);
	r = output_json_flush(&w, &out);
	buf_finish(&out);
	return r;
}

/* The names of a case's node and origin: from the case's own events when
 * they carry them, else asked with GetNode, quietly (someone following
 * their own case may not read the node it rose to: the code says enough). */
struct names {
	char node[256];
	char origin[256];
};

static const char *name_from_events(const Grid__V1__CaseDetail *d, const char *code)
{
	for (size_t i = d->n_events; i-- > 0;)
		if (strcmp(d->events[i]->node_code, code) == 0 && d->events[i]->node_name[0])
			return d->events[i]->node_name;
	return NULL;
}

static void lookup_name(struct ctl *ctl, const Grid__V1__CaseDetail *d, const char *code, char *buf,
			size_t size)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetNodeRequest get = GRID__V1__GET_NODE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const char *name = name_from_events(d, code);

	buf[0] = '\0';
	if (name) {
		snprintf(buf, size, "%s", name);
		return;
	}
	if (!ctl->client || !*code)
		return;
	get.code = (char *)code;
	req.call_case = CALL(GET_NODE);
	req.get_node = &get;
	if (grid_client_call(ctl->client, &req, &reply) < 0)
		return;
	if (reply->status->code == GRID__V1__CODE__CODE_OK &&
	    reply->result_case == GRID__V1__REPLY__RESULT_GET_NODE)
		snprintf(buf, size, "%s", reply->get_node->name);
	grid_client_reply_free(reply);
}

static void lookup_names(struct ctl *ctl, const Grid__V1__CaseDetail *d, struct names *n)
{
	lookup_name(ctl, d, d->case_->node_code, n->node, sizeof(n->node));
	if (strcmp(d->case_->origin_code, d->case_->node_code) == 0)
		snprintf(n->origin, sizeof(n->origin), "%s", n->node);
	else
		lookup_name(ctl, d, d->case_->origin_code, n->origin, sizeof(n->origin));
}

/* "WH-TZL-Z5-ZTY-B1 (1栋)" */
static const char *node_text(const char *code, const char *name, char *buf, size_t size)
{
	if (name)
		snprintf(buf, size, "%s (%s)", code, name);
	else
		snprintf(buf, size, "%s", code);
	return buf;
}

static int show_text(struct buf *out, const Grid__V1__CaseDetail *d, const struct names *names)
{
	const Grid__V1__Case *c = d->case_;
	int64_t now = ctl_now_ms();
	char id[32], node[320], origin[320], state[160], received[64], since[64], accept[160],
	    resolve[160], escal[64], reworks[32], outcome[160], callback[160], closed[64],
	    suspension[64], words[32];
	const char *outcome_s = word(outcome_text, NWORDS(outcome_text), (unsigned)c->outcome);
	const char *void_s = word(void_words, NWORDS(void_words), (unsigned)c->void_reason);
	struct table *t;
	int r = 0;

	snprintf(id, sizeof(id), "%" PRIu64, c->id);
	node_text(c->node_code, names->node[0] ? names->node : NULL, node, sizeof(node));
	node_text(c->origin_code, names->origin[0] ? names->origin : NULL, origin, sizeof(origin));
	snprintf(state, sizeof(state), "%s%s%s",
		 spaced(case_state_word(c->state), words, sizeof(words)),
		 c->overdue ? " (overdue: this level missed a deadline)" : "",
		 c->suspend_requested ? " (suspension requested)" : "");
	ctl_format_time(c->received_at_ms, true, received, sizeof(received));
	ctl_format_time(c->level_since_ms, true, since, sizeof(since));
	due_text(c->accept_due_ms, now, accept, sizeof(accept));
	due_text(c->resolve_due_ms, now, resolve, sizeof(resolve));
	snprintf(escal, sizeof(escal), "%u (%u by timeout)", c->escalations,
		 c->timeout_escalations);
	snprintf(reworks, sizeof(reworks), "%u", c->reworks);
	if (c->state == GRID__V1__CASE_STATE__CASE_VOIDED && void_s)
		snprintf(outcome, sizeof(outcome), "voided: %s",
			 spaced(void_s, words, sizeof(words)));
	else
		snprintf(outcome, sizeof(outcome), "%s", outcome_s ? outcome_s : "-");
	if (c->duplicate_of) {
		size_t len = strlen(outcome);
		snprintf(outcome + len, sizeof(outcome) - len, " (of case %" PRIu64 ")",
			 c->duplicate_of);
	}
	if (c->callback_done)
		snprintf(callback, sizeof(callback), "%s, satisfaction %u/5",
			 c->callback_solved ? "solved" : "not solved", c->satisfaction);
	else
		snprintf(callback, sizeof(callback), "-");
	if (c->closed_at_ms)
		ctl_format_time(c->closed_at_ms, true, closed, sizeof(closed));
	else
		snprintf(closed, sizeof(closed), "-");
	snprintf(suspension, sizeof(suspension), "%s",
		 c->suspend_requested ? "requested, waiting for the level above"
		 : c->state == GRID__V1__CASE_STATE__CASE_SUSPENDED ? "suspended"
								    : "-");
	const char *rows[][2] = {
	    {"case", id},
	    {"title", c->title},
	    {"state", state},
	    {"node", node},
	    {"raised at", origin},
	    {"category", c->category},
	    {"urgency",
	     or_else(word(urgency_words, NWORDS(urgency_words), (unsigned)c->urgency), "unknown")},
	    {"channel", c->channel[0] ? c->channel : "-"},
	    {"description", c->description[0] ? c->description : "-"},
	    {"contact", c->contact[0] ? c->contact : "-"},
	    {"household", c->household[0] ? c->household : "-"},
	    {"service item", c->service_item[0] ? c->service_item : "-"},
	    {"reporter", c->reporter[0] ? c->reporter : "-"},
	    {"handler", c->handler[0] ? c->handler : "-"},
	    {"received", received},
	    {"at this node since", since},
	    {"accept by", accept},
	    {"resolve by", resolve},
	    {"escalations", escal},
	    {"reworks", reworks},
	    {"suspension", suspension},
	    {"suspension reason", c->suspend_reason[0] ? c->suspend_reason : "-"},
	    {"result", c->result_note[0] ? c->result_note : "-"},
	    {"outcome", outcome},
	    {"closed", closed},
	    {"call-back", callback},
	};

	t = table_create(2);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && r == 0; i++)
		r = table_add_row(t, rows[i]);
	if (r == 0)
		r = table_render(t, out);
	table_destroy(t);
	if (r < 0)
		return r;

	if (buf_puts(out, "\nhistory:\n") < 0)
		return -ENOMEM;
	t = table_create(5);
	if (!t)
		return -ENOMEM;
	static const char *head[] = {"TIME", "EVENT", "NODE", "ACTOR", "NOTE"};
	r = table_add_row(t, head);
	for (size_t i = 0; i < d->n_events && r == 0; i++) {
		const Grid__V1__Event *e = d->events[i];
		char when[64], where[200];
		const char *kind = strncmp(e->kind, "case.", 5) == 0 ? e->kind + 5 : e->kind;

		if (e->from_node_code[0] && strcmp(e->from_node_code, e->node_code) != 0)
			snprintf(where, sizeof(where), "%s <- %s", e->node_code, e->from_node_code);
		else
			snprintf(where, sizeof(where), "%s", e->node_code);
		const char *row[5] = {
		    ctl_format_time(e->at_ms, true, when, sizeof(when)),
		    kind,
		    where,
		    e->actor[0] ? e->actor : "-",
		    e->summary,
		};
		r = table_add_row(t, row);
	}
	if (r == 0)
		r = table_render(t, out);
	table_destroy(t);
	return r;
}

static int case_show(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "case show";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetCaseRequest get = GRID__V1__GET_CASE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__CaseDetail *d;
	struct names names;
	char subject[64];
	struct buf out;
	int r;

	r = args_help_only(ctl, cmd, argc, argv, show_help);
	if (r >= 0)
		return r;
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want ID, the case's number", cmd);
	if (parse_id(ctl, cmd, "ID", argv[optind], &get.id))
		return CTL_EXIT_USAGE;
	get.with_events = true;
	snprintf(subject, sizeof(subject), "case %" PRIu64, get.id);
	req.call_case = CALL(GET_CASE);
	req.get_case = &get;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	d = reply->get_case;
	if (!d->case_) {
		grid_client_reply_free(reply);
		return output_internal(ctl->json, subject, "the server's reply carries no case");
	}
	lookup_names(ctl, d, &names);
	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_object(&w);
		case_json_fields(&w, d->case_, names.node, names.origin);
		json_key(&w, "events");
		json_begin_array(&w);
		for (size_t i = 0; i < d->n_events; i++)
			event_json(&w, d->events[i]);
		json_end_array(&w);
		json_end_object(&w);
		r = output_json_flush(&w, &out);
	} else {
		r = show_text(&out, d, &names) < 0 ? output_oom() : output_flush(&out);
	}
	buf_finish(&out);
	grid_client_reply_free(reply);
	return r;
}

/* --- case ls -------------------------------------------------------------- */

/* The cases to print, borrowed from the pages the pager keeps. */
struct cases {
	const Grid__V1__Case **v;
	size_t n, cap;
};

static int cases_add(struct cases *cs, const Grid__V1__Case *c)
{
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 64;
		const Grid__V1__Case **p = realloc(cs->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		cs->v = p;
		cs->cap = cap;
	}
	cs->v[cs->n++] = c;
	return 0;
}

/* The title cut to TITLE_COLUMNS display columns, with "…" when cut. */
static const char *short_title(const char *s, char *buf, size_t size)
{
	size_t len = strlen(s), i = 0, cols = 0;

	while (i < len) {
		uint32_t cp;
		int n = utf8_decode(s + i, len - i, &cp);
		int w = n > 0 ? utf8_cp_width(cp) : 1;

		if (n <= 0)
			n = 1;
		if (cols + (size_t)w > TITLE_COLUMNS - 1 && i + (size_t)n < len)
			break;
		cols += (size_t)w;
		i += (size_t)n;
	}
	if (i >= len || i + 4 > size) {
		snprintf(buf, size, "%.*s", (int)(i < size ? i : size - 1), s);
		return i >= len ? s : buf;
	}
	snprintf(buf, size, "%.*s…", (int)i, s);
	return buf;
}

static int print_cases(struct ctl *ctl, const struct cases *cs)
{
	static const char *head[] = {"ID", "STATE", "NODE", "TITLE", "RECEIVED", "DUE", "HANDLER"};
	struct table *t;
	struct buf out;
	int r;

	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_array(&w);
		for (size_t i = 0; i < cs->n; i++)
			case_json(&w, cs->v[i]);
		json_end_array(&w);
		r = output_json_flush(&w, &out);
		buf_finish(&out);
		return r;
	}
	if (cs->n == 0) {
		fflush(stdout);
		fputs("gridctl: no cases\n", stderr);
		return CTL_EXIT_OK;
	}
	t = table_create(7);
	r = t ? table_add_row(t, head) : -ENOMEM;
	if (t)
		table_align_right(t, 0);
	for (size_t i = 0; i < cs->n && r == 0; i++) {
		const Grid__V1__Case *c = cs->v[i];
		char id[32], st[32], title[4 * TITLE_COLUMNS + 8], received[64], due[96];
		int64_t dm = running_due(c);

		snprintf(id, sizeof(id), "%" PRIu64, c->id);
		spaced(case_state_word(c->state), st, sizeof(st));
		if (c->suspend_requested && strlen(st) + 2 < sizeof(st))
			strcat(st, " *");
		ctl_format_time(c->received_at_ms, false, received, sizeof(received));
		if (dm) {
			ctl_format_time(dm, false, due, sizeof(due));
			if (c->overdue || dm < ctl_now_ms())
				strcat(due, " overdue");
		} else {
			snprintf(due, sizeof(due), "%s", c->overdue ? "overdue" : "-");
		}
		const char *row[7] = {
		    id,
		    st,
		    c->node_code,
		    short_title(c->title, title, sizeof(title)),
		    received,
		    due,
		    c->handler[0] ? c->handler : "-",
		};
		r = table_add_row(t, row);
	}
	if (r == 0)
		r = table_render(t, &out);
	r = r == 0 ? output_flush(&out) : output_oom();
	table_destroy(t);
	buf_finish(&out);
	return r;
}

/* Adds the states named in s ("resolved,checked") to ls. */
static int add_states(struct ctl *ctl, const char *cmd, const char *s, Grid__V1__CaseState *states,
		      size_t *n)
{
	char copy[256], *save = NULL;

	if (snprintf(copy, sizeof(copy), "%s", s) >= (int)sizeof(copy))
		return ctl_usage(ctl, cmd, "%s: --state '%s' is too long", cmd, s);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int v = word_find(state_words, NWORDS(state_words), str_trim(tok));

		if (v < 0)
			return ctl_usage(ctl, cmd,
					 "%s: unknown state '%s'; the states are received, "
					 "registered, accepted, in_progress, resolved, checked, "
					 "closed, voided, suspended",
					 cmd, tok);
		if (*n == MAX_STATES)
			return ctl_usage(ctl, cmd, "%s: too many --state options", cmd);
		states[(*n)++] = (Grid__V1__CaseState)v;
	}
	return 0;
}

static int case_ls(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"subtree", no_argument, NULL, 'r'},
	    {"state", required_argument, NULL, 's'},
	    {"category", required_argument, NULL, 'c'},
	    {"overdue", no_argument, NULL, 'o'},
	    {"all", no_argument, NULL, 'a'},
	    {"limit", required_argument, NULL, 'l'},
	    {0},
	};
	const char *cmd = "case ls";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListCasesRequest ls = GRID__V1__LIST_CASES_REQUEST__INIT;
	Grid__V1__CaseState states[MAX_STATES];
	const Grid__V1__HelloReply *hello;
	struct cases cases = {0};
	struct pager pager;
	uint32_t limit = DEFAULT_LIMIT, page_max = PAGE_SIZE;
	size_t nstates = 0;
	bool more = false;
	char subject[160];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hrs:c:oal:", opts)) != -1) {
		switch (opt) {
		case 'r':
			ls.subtree = true;
			break;
		case 's':
			if (add_states(ctl, cmd, optarg, states, &nstates))
				return CTL_EXIT_USAGE;
			break;
		case 'c':
			ls.category = optarg;
			break;
		case 'o':
			ls.overdue_only = true;
			break;
		case 'a':
			ls.include_closed = true;
			break;
		case 'l':
			if (ctl_parse_uint(ctl, cmd, "--limit", optarg, &limit))
				return CTL_EXIT_USAGE;
			break;
		default:
			return opt == 'h' ? ctl_help(ls_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind < 1)
		return ctl_usage(ctl, cmd, "%s: want NODE, the inbox to list", cmd);
	if (argc - optind > 1)
		return ctl_usage(ctl, cmd, "%s: unexpected argument '%s'", cmd, argv[optind + 1]);
	ls.node_code = argv[optind];
	if (args_nonempty(ctl, cmd, "NODE", ls.node_code))
		return CTL_EXIT_USAGE;
	ls.states = states;
	ls.n_states = nstates;
	snprintf(subject, sizeof(subject), "node %s", ls.node_code);

	r = ctl_connect(ctl);
	if (r != CTL_EXIT_OK)
		return r;
	hello = grid_client_hello(ctl->client);
	if (hello && hello->limits && hello->limits->max_page_size &&
	    hello->limits->max_page_size < page_max)
		page_max = hello->limits->max_page_size;
	req.call_case = CALL(LIST_CASES);
	req.list_cases = &ls;
	pager_init(&pager, ctl, &req, &ls.page_token, subject, true);
	for (;;) {
		const Grid__V1__Reply *page;
		const Grid__V1__CaseList *l;
		size_t want = limit ? limit - cases.n : page_max, i;

		/* Ask for no more than is left to show. */
		ls.page_size = (uint32_t)(want < page_max ? want : page_max);
		r = pager_next(&pager, &page);
		if (r != CTL_EXIT_OK || !page)
			break;
		l = page->list_cases;
		for (i = 0; i < l->n_cases && (!limit || cases.n < limit) && r == 0; i++)
			if (cases_add(&cases, l->cases[i]) < 0)
				r = output_oom();
		if (r != CTL_EXIT_OK)
			break;
		if (limit && cases.n == limit) {
			more = i < l->n_cases || !pager.last;
			break;
		}
	}
	if (r == CTL_EXIT_OK)
		r = print_cases(ctl, &cases);
	if (r == CTL_EXIT_OK && more && !ctl->json) {
		fflush(stdout);
		fprintf(stderr,
			"gridctl: the oldest %u cases; there are more (--limit N, or --limit 0 for "
			"all)\n",
			limit);
	}
	pager_finish(&pager);
	free(cases.v);
	return r;
}

/* --- writes ----------------------------------------------------------------- */

/* Who is acting, for the one-line answers: the user of the session when
 * the token file says, else the case's handler for the steps that make
 * the caller the handler, else nobody named. */
static const char *actor_of(const struct ctl *ctl, const Grid__V1__Case *c, bool is_handler)
{
	if (ctl->session && ctl->session->user && ctl->session->user[0])
		return ctl->session->user;
	if (is_handler && c->handler[0])
		return c->handler;
	return NULL;
}

/* Prints "case 12 <what>[ by ACTOR] <prep> NODE<tail>" (or the case as
 * JSON) and frees the reply. */
static int print_done(struct ctl *ctl, Grid__V1__Reply *reply, const Grid__V1__Case *c,
		      const char *what, bool is_handler, const char *prep, const char *tail)
{
	const char *actor;
	char *clean;
	int r;

	if (ctl->json) {
		r = print_case_json(c);
		grid_client_reply_free(reply);
		return r;
	}
	actor = actor_of(ctl, c, is_handler);
	clean = table_clean(tail ? tail : "");
	printf("case %" PRIu64 " %s%s%s %s %s%s\n", c->id, what, actor ? " by " : "",
	       actor ? actor : "", prep ? prep : "at", c->node_code, clean ? clean : "");
	free(clean);
	grid_client_reply_free(reply);
	return CTL_EXIT_OK;
}

/* The Case in a write's reply (every case write answers with one). */
static const Grid__V1__Case *reply_case(const Grid__V1__Reply *reply)
{
	switch (reply->result_case) {
	case GRID__V1__REPLY__RESULT_RAISE_CASE:
		return reply->raise_case;
	case GRID__V1__REPLY__RESULT_REGISTER_CASE:
		return reply->register_case;
	case GRID__V1__REPLY__RESULT_VOID_CASE:
		return reply->void_case;
	case GRID__V1__REPLY__RESULT_ACCEPT_CASE:
		return reply->accept_case;
	case GRID__V1__REPLY__RESULT_START_CASE:
		return reply->start_case;
	case GRID__V1__REPLY__RESULT_RESOLVE_CASE:
		return reply->resolve_case;
	case GRID__V1__REPLY__RESULT_CHECK_CASE:
		return reply->check_case;
	case GRID__V1__REPLY__RESULT_CLOSE_CASE:
		return reply->close_case;
	case GRID__V1__REPLY__RESULT_REWORK_CASE:
		return reply->rework_case;
	case GRID__V1__REPLY__RESULT_ESCALATE_CASE:
		return reply->escalate_case;
	case GRID__V1__REPLY__RESULT_SEND_DOWN_CASE:
		return reply->send_down_case;
	case GRID__V1__REPLY__RESULT_SUSPEND_CASE:
		return reply->suspend_case;
	case GRID__V1__REPLY__RESULT_RESUME_CASE:
		return reply->resume_case;
	case GRID__V1__REPLY__RESULT_REOPEN_CASE:
		return reply->reopen_case;
	case GRID__V1__REPLY__RESULT_CASE_CALLBACK:
		return reply->case_callback;
	case GRID__V1__REPLY__RESULT_CLAIM_CASE:
		return reply->claim_case;
	default:
		return NULL;
	}
}

/* Makes a case write; 0 with the reply and its case, or the exit code. */
static int call_write(struct ctl *ctl, Grid__V1__Request *req, const char *subject,
		      Grid__V1__Reply **ret_reply, const Grid__V1__Case **ret_case)
{
	Grid__V1__Reply *reply = NULL;
	int r = ctl_call(ctl, req, &reply, subject, NULL);

	if (r != CTL_EXIT_OK)
		return r;
	*ret_case = reply_case(reply);
	if (!*ret_case) {
		grid_client_reply_free(reply);
		return output_internal(ctl->json, subject, "the server's reply carries no case");
	}
	*ret_reply = reply;
	return CTL_EXIT_OK;
}

static int case_raise(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"desc", required_argument, NULL, 'd'},
	    {"description", required_argument, NULL, 'd'},
	    {"category", required_argument, NULL, 'c'},
	    {"contact", required_argument, NULL, 'C'},
	    {"household", required_argument, NULL, 'H'},
	    {"service", required_argument, NULL, 'S'},
	    {"urgency", required_argument, NULL, 'u'},
	    {"channel", required_argument, NULL, 'w'},
	    {0},
	};
	const char *cmd = "case raise";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RaiseCaseRequest m = GRID__V1__RAISE_CASE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__Case *c;
	char subject[160];
	int opt, r, v;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hd:c:C:H:S:u:w:", opts)) != -1) {
		switch (opt) {
		case 'd':
			m.description = optarg;
			break;
		case 'c':
			m.category = optarg;
			break;
		case 'C':
			m.contact = optarg;
			break;
		case 'H':
			m.household = optarg;
			break;
		case 'S':
			m.service_item = optarg;
			break;
		case 'u':
			v = word_find(urgency_words, NWORDS(urgency_words), optarg);
			if (v < 0)
				return ctl_usage(
				    ctl, cmd,
				    "%s: --urgency is normal, urgent or emergency, not "
				    "'%s'",
				    cmd, optarg);
			m.urgency = (Grid__V1__Urgency)v;
			break;
		case 'w':
			m.channel = optarg;
			break;
		default:
			return opt == 'h' ? ctl_help(raise_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind < 2)
		return ctl_usage(ctl, cmd, "%s: want NODE and TITLE", cmd);
	if (argc - optind > 2)
		return ctl_usage(ctl, cmd,
				 "%s: unexpected argument '%s' (quote a TITLE with spaces)", cmd,
				 argv[optind + 2]);
	m.node_code = argv[optind];
	m.title = argv[optind + 1];
	if (args_nonempty(ctl, cmd, "NODE", m.node_code))
		return CTL_EXIT_USAGE;
	if (args_nonempty(ctl, cmd, "TITLE", m.title))
		return CTL_EXIT_USAGE;
	snprintf(subject, sizeof(subject), "node %s", m.node_code);
	req.call_case = CALL(RAISE_CASE);
	req.raise_case = &m;
	r = call_write(ctl, &req, subject, &reply, &c);
	if (r != CTL_EXIT_OK)
		return r;
	if (ctl->json) {
		r = print_case_json(c);
	} else {
		char due[160];

		/* The number alone on stdout, for ID=$(gridctl case raise ...);
		 * the words around it on stderr. */
		printf("%" PRIu64 "\n", c->id);
		fflush(stdout);
		fprintf(stderr, "gridctl: case %" PRIu64 " %s at %s; to be accepted by %s\n", c->id,
			case_state_word(c->state), c->node_code,
			due_text(c->accept_due_ms, ctl_now_ms(), due, sizeof(due)));
		r = CTL_EXIT_OK;
	}
	grid_client_reply_free(reply);
	return r;
}

/* Sets the note request of a step on req (the oneof member by call). */
static void set_note_request(Grid__V1__Request *req, Grid__V1__Request__CallCase call,
			     Grid__V1__CaseNoteRequest *m)
{
	req->call_case = call;
	switch (call) {
	case CALL(REGISTER_CASE):
		req->register_case = m;
		break;
	case CALL(ACCEPT_CASE):
		req->accept_case = m;
		break;
	case CALL(START_CASE):
		req->start_case = m;
		break;
	case CALL(RESOLVE_CASE):
		req->resolve_case = m;
		break;
	case CALL(CHECK_CASE):
		req->check_case = m;
		break;
	case CALL(REWORK_CASE):
		req->rework_case = m;
		break;
	case CALL(ESCALATE_CASE):
		req->escalate_case = m;
		break;
	case CALL(SUSPEND_CASE):
		req->suspend_case = m;
		break;
	case CALL(RESUME_CASE):
		req->resume_case = m;
		break;
	case CALL(REOPEN_CASE):
		req->reopen_case = m;
		break;
	default:
		break;
	}
}

/* Options every transition takes: --note (also --reason, --result). */
#define NOTE_OPTS                                                                                  \
	{"note", required_argument, NULL, 'n'}, {"reason", required_argument, NULL, 'n'},          \
	{                                                                                          \
		"result", required_argument, NULL, 'n'                                             \
	}

static int run_step(struct ctl *ctl, int argc, char **argv, int which)
{
	static const struct option opts[] = {ARGS_HELP_OPT, NOTE_OPTS, {0}};
	const struct step *s = &steps[which];
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CaseNoteRequest m = GRID__V1__CASE_NOTE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__Case *c;
	char cmd[32], subject[64], tail[400], st[32];
	int opt, r;

	snprintf(cmd, sizeof(cmd), "case %s", s->name);
	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hn:", opts)) != -1) {
		switch (opt) {
		case 'n':
			m.note = optarg;
			break;
		default:
			return opt == 'h' ? ctl_help(s->help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want ID, the case's number%s", cmd,
				 argc - optind > 1 ? " (give a note with --note TEXT)" : "");
	if (parse_id(ctl, cmd, "ID", argv[optind], &m.id))
		return CTL_EXIT_USAGE;
	if (which == STEP_RESOLVE && !*m.note)
		return ctl_usage(ctl, cmd, "%s: say what was done with --note RESULT", cmd);
	snprintf(subject, sizeof(subject), "case %" PRIu64, m.id);
	set_note_request(&req, s->call, &m);
	r = call_write(ctl, &req, subject, &reply, &c);
	if (r != CTL_EXIT_OK)
		return r;

	spaced(case_state_word(c->state), st, sizeof(st));
	tail[0] = '\0';
	switch (which) {
	case STEP_REGISTER:
		return print_done(ctl, reply, c, "registered", false, NULL, NULL);
	case STEP_ACCEPT:
		return print_done(ctl, reply, c, "accepted", true, NULL, NULL);
	case STEP_START:
		return print_done(ctl, reply, c, "started", true, NULL, ", now in progress");
	case STEP_RESOLVE:
		return print_done(ctl, reply, c, "resolved", true, NULL, NULL);
	case STEP_CHECK:
		return print_done(ctl, reply, c, "checked", false, NULL, NULL);
	case STEP_REWORK:
		snprintf(tail, sizeof(tail), ", now %s again (rework %u)", st, c->reworks);
		return print_done(ctl, reply, c, "sent back for rework", false, NULL, tail);
	case STEP_ESCALATE:
		snprintf(tail, sizeof(tail), ", now %s there", st);
		return print_done(ctl, reply, c, "escalated", false, "to", tail);
	case STEP_SUSPEND:
		if (c->state == GRID__V1__CASE_STATE__CASE_SUSPENDED)
			return print_done(ctl, reply, c, "suspended", false, NULL,
					  ": its clock is stopped");
		snprintf(tail, sizeof(tail), ", still %s until the level above approves", st);
		return print_done(ctl, reply, c, "suspension requested", false, NULL, tail);
	case STEP_RESUME:
		snprintf(tail, sizeof(tail), ", now %s", st);
		return print_done(ctl, reply, c, "resumed", false, NULL, tail);
	case STEP_REOPEN:
		snprintf(tail, sizeof(tail), ", now %s", st);
		return print_done(ctl, reply, c, "reopened", false, NULL, tail);
	default:
		snprintf(tail, sizeof(tail), ", now %s", st);
		return print_done(ctl, reply, c, s->name, false, NULL, tail);
	}
}

#define STEP_COMMAND(fn, which)                                                                    \
	static int fn(struct ctl *ctl, int argc, char **argv)                                      \
	{                                                                                          \
		return run_step(ctl, argc, argv, which);                                           \
	}

STEP_COMMAND(case_register, STEP_REGISTER)
STEP_COMMAND(case_accept, STEP_ACCEPT)
STEP_COMMAND(case_start, STEP_START)
STEP_COMMAND(case_resolve, STEP_RESOLVE)
STEP_COMMAND(case_check, STEP_CHECK)
STEP_COMMAND(case_rework, STEP_REWORK)
STEP_COMMAND(case_escalate, STEP_ESCALATE)
STEP_COMMAND(case_suspend, STEP_SUSPEND)
STEP_COMMAND(case_resume, STEP_RESUME)
STEP_COMMAND(case_reopen, STEP_REOPEN)

/* close and void: ID WORD [--duplicate-of N] [--note TEXT]. */
static int case_close(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT, NOTE_OPTS, {"duplicate-of", required_argument, NULL, 'D'}, {0}};
	/* Longer names people may type for the same outcomes. */
	static const char *const long_words[] = {
	    NULL, "fixed", "no_action_needed", "not_our_responsibility", "duplicate", "withdrawn",
	};
	const char *cmd = "case close";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CloseCaseRequest m = GRID__V1__CLOSE_CASE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__Case *c;
	char subject[64], what[96];
	int opt, r, v;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hn:D:", opts)) != -1) {
		switch (opt) {
		case 'n':
			m.note = optarg;
			break;
		case 'D':
			if (parse_id(ctl, cmd, "--duplicate-of", optarg, &m.duplicate_of))
				return CTL_EXIT_USAGE;
			break;
		default:
			return opt == 'h' ? ctl_help(close_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return ctl_usage(ctl, cmd,
				 "%s: want ID and OUTCOME (fixed, no_action, not_ours, "
				 "withdrawn, duplicate)",
				 cmd);
	if (parse_id(ctl, cmd, "ID", argv[optind], &m.id))
		return CTL_EXIT_USAGE;
	v = word_find(outcome_words, NWORDS(outcome_words), argv[optind + 1]);
	if (v < 0)
		v = word_find(long_words, NWORDS(long_words), argv[optind + 1]);
	if (v < 0)
		return ctl_usage(ctl, cmd,
				 "%s: unknown outcome '%s'; the outcomes are fixed, no_action, "
				 "not_ours, withdrawn, duplicate",
				 cmd, argv[optind + 1]);
	m.outcome = (Grid__V1__CaseOutcome)v;
	if (m.outcome == GRID__V1__CASE_OUTCOME__OUTCOME_DUPLICATE && !m.duplicate_of)
		return ctl_usage(ctl, cmd,
				 "%s: duplicate needs --duplicate-of N, the case it repeats", cmd);
	if (m.outcome != GRID__V1__CASE_OUTCOME__OUTCOME_DUPLICATE && m.duplicate_of)
		return ctl_usage(ctl, cmd, "%s: --duplicate-of goes with the outcome duplicate",
				 cmd);
	snprintf(subject, sizeof(subject), "case %" PRIu64, m.id);
	req.call_case = CALL(CLOSE_CASE);
	req.close_case = &m;
	r = call_write(ctl, &req, subject, &reply, &c);
	if (r != CTL_EXIT_OK)
		return r;
	if (c->duplicate_of)
		snprintf(what, sizeof(what), "closed (duplicate of case %" PRIu64 ")",
			 c->duplicate_of);
	else
		snprintf(
		    what, sizeof(what), "closed (%s)",
		    or_else(word(outcome_text, NWORDS(outcome_text), (unsigned)c->outcome), "?"));
	return print_done(ctl, reply, c, what, false, NULL, NULL);
}

static int case_void(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT, NOTE_OPTS, {"duplicate-of", required_argument, NULL, 'D'}, {0}};
	const char *cmd = "case void";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__VoidCaseRequest m = GRID__V1__VOID_CASE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__Case *c;
	char subject[64], what[96], words[32];
	int opt, r, v;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hn:D:", opts)) != -1) {
		switch (opt) {
		case 'n':
			m.note = optarg;
			break;
		case 'D':
			if (parse_id(ctl, cmd, "--duplicate-of", optarg, &m.duplicate_of))
				return CTL_EXIT_USAGE;
			break;
		default:
			return opt == 'h' ? ctl_help(void_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return ctl_usage(ctl, cmd,
				 "%s: want ID and REASON (out_of_scope, invalid, duplicate)", cmd);
	if (parse_id(ctl, cmd, "ID", argv[optind], &m.id))
		return CTL_EXIT_USAGE;
	v = word_find(void_words, NWORDS(void_words), argv[optind + 1]);
	if (v < 0)
		return ctl_usage(ctl, cmd,
				 "%s: unknown reason '%s'; a case is voided as out_of_scope, "
				 "invalid or duplicate",
				 cmd, argv[optind + 1]);
	m.reason = (Grid__V1__VoidReason)v;
	if (m.reason == GRID__V1__VOID_REASON__VOID_DUPLICATE && !m.duplicate_of)
		return ctl_usage(ctl, cmd,
				 "%s: duplicate needs --duplicate-of N, the case it repeats", cmd);
	if (m.reason != GRID__V1__VOID_REASON__VOID_DUPLICATE && m.duplicate_of)
		return ctl_usage(ctl, cmd, "%s: --duplicate-of goes with the reason duplicate",
				 cmd);
	snprintf(subject, sizeof(subject), "case %" PRIu64, m.id);
	req.call_case = CALL(VOID_CASE);
	req.void_case = &m;
	r = call_write(ctl, &req, subject, &reply, &c);
	if (r != CTL_EXIT_OK)
		return r;
	if (c->duplicate_of)
		snprintf(what, sizeof(what), "voided (duplicate of case %" PRIu64 ")",
			 c->duplicate_of);
	else
		snprintf(
		    what, sizeof(what), "voided (%s)",
		    spaced(or_else(word(void_words, NWORDS(void_words), (unsigned)c->void_reason),
				   "?"),
			   words, sizeof(words)));
	return print_done(ctl, reply, c, what, false, NULL, NULL);
}

static int case_send_down(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {ARGS_HELP_OPT, NOTE_OPTS, {0}};
	const char *cmd = "case send-down";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__SendDownCaseRequest m = GRID__V1__SEND_DOWN_CASE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__Case *c;
	char subject[64], tail[64], st[32];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hn:", opts)) != -1) {
		switch (opt) {
		case 'n':
			m.note = optarg;
			break;
		default:
			return opt == 'h' ? ctl_help(send_down_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return ctl_usage(ctl, cmd, "%s: want ID and NODE, the node to send it to", cmd);
	if (parse_id(ctl, cmd, "ID", argv[optind], &m.id))
		return CTL_EXIT_USAGE;
	m.to_node_code = argv[optind + 1];
	if (args_nonempty(ctl, cmd, "NODE", m.to_node_code))
		return CTL_EXIT_USAGE;
	snprintf(subject, sizeof(subject), "case %" PRIu64, m.id);
	req.call_case = CALL(SEND_DOWN_CASE);
	req.send_down_case = &m;
	r = call_write(ctl, &req, subject, &reply, &c);
	if (r != CTL_EXIT_OK)
		return r;
	snprintf(tail, sizeof(tail), ", now %s there",
		 spaced(case_state_word(c->state), st, sizeof(st)));
	return print_done(ctl, reply, c, "sent down", false, "to", tail);
}

static int case_callback(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    NOTE_OPTS,
	    {"solved", required_argument, NULL, 'y'},
	    {"satisfaction", required_argument, NULL, 's'},
	    {0},
	};
	const char *cmd = "case callback";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CaseCallbackRequest m = GRID__V1__CASE_CALLBACK_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__Case *c;
	bool have_solved = false, have_score = false;
	char subject[64], tail[96];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hn:y:s:", opts)) != -1) {
		switch (opt) {
		case 'n':
			m.note = optarg;
			break;
		case 'y':
			if (strcmp(optarg, "yes") == 0 || strcmp(optarg, "y") == 0 ||
			    strcmp(optarg, "true") == 0)
				m.solved = true;
			else if (strcmp(optarg, "no") == 0 || strcmp(optarg, "n") == 0 ||
				 strcmp(optarg, "false") == 0)
				m.solved = false;
			else
				return ctl_usage(ctl, cmd, "%s: --solved is yes or no, not '%s'",
						 cmd, optarg);
			have_solved = true;
			break;
		case 's':
			if (str_to_u32(optarg, &m.satisfaction) < 0 || m.satisfaction < 1 ||
			    m.satisfaction > 5)
				return ctl_usage(
				    ctl, cmd, "%s: --satisfaction is a score from 1 to 5, not '%s'",
				    cmd, optarg);
			have_score = true;
			break;
		default:
			return opt == 'h' ? ctl_help(callback_help) : CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want ID, the case's number", cmd);
	if (parse_id(ctl, cmd, "ID", argv[optind], &m.id))
		return CTL_EXIT_USAGE;
	if (!have_solved || !have_score)
		return ctl_usage(ctl, cmd, "%s: say --solved yes|no and --satisfaction 1-5", cmd);
	snprintf(subject, sizeof(subject), "case %" PRIu64, m.id);
	req.call_case = CALL(CASE_CALLBACK);
	req.case_callback = &m;
	r = call_write(ctl, &req, subject, &reply, &c);
	if (r != CTL_EXIT_OK)
		return r;
	snprintf(tail, sizeof(tail), ": %s, satisfaction %u/5",
		 c->callback_solved ? "solved" : "not solved", c->satisfaction);
	return print_done(ctl, reply, c, "call-back recorded", false, NULL, tail);
}

static int case_claim(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "case claim";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ClaimCaseRequest m = GRID__V1__CLAIM_CASE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__Case *c;
	char subject[160], tail[400];
	int r;

	r = args_help_only(ctl, cmd, argc, argv, claim_help);
	if (r >= 0)
		return r;
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want NODE, the inbox to take a case from", cmd);
	m.node_code = argv[optind];
	if (args_nonempty(ctl, cmd, "NODE", m.node_code))
		return CTL_EXIT_USAGE;
	snprintf(subject, sizeof(subject), "node %s", m.node_code);
	req.call_case = CALL(CLAIM_CASE);
	req.claim_case = &m;
	r = call_write(ctl, &req, subject, &reply, &c);
	if (r != CTL_EXIT_OK)
		return r;
	snprintf(tail, sizeof(tail), ", now accepted: %s", c->title);
	return print_done(ctl, reply, c, "claimed", true, NULL, tail);
}

static const struct ctl_command case_commands[] = {
    {"raise", case_raise},
    {"show", case_show},
    {"ls", case_ls},
    {"claim", case_claim},
    {"register", case_register},
    {"void", case_void},
    {"accept", case_accept},
    {"start", case_start},
    {"resolve", case_resolve},
    {"check", case_check},
    {"close", case_close},
    {"rework", case_rework},
    {"escalate", case_escalate},
    {"send-down", case_send_down},
    {"suspend", case_suspend},
    {"resume", case_resume},
    {"reopen", case_reopen},
    {"callback", case_callback},
    {NULL, NULL},
};

int case_main(struct ctl *ctl, int argc, char **argv)
{
	optind = 0;
	return ctl_dispatch(ctl, "case", case_commands, argc, argv, case_help);
}
