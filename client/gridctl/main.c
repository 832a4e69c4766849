/* gridctl: the command line of gridd. main() parses the global options,
 * dispatches to a command group (ping.c, node.c, grid.c, auth.c, user.c,
 * apikey.c, audit.c, case.c, report.c), and ends with the exit code the
 * command returned. This file also holds what every command shares: option
 * parsing with uniform messages, the connection (one per invocation, made
 * by the first call, on libgridclient's blocking API, authenticated through
 * session.c right after it opens), the one-call helper that gives every
 * write an idempotency key, retries what was lost or refused as
 * unavailable, and turns every failure into a message and an exit code,
 * and reading and showing times.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/session.h"
#include "common/strutil.h"
#include "grid_version.h"

#define DEFAULT_SERVER "127.0.0.1:7420"

static const char main_help[] =
    "Usage: gridctl [--server HOST:PORT] [--tls] [--ca FILE] [--json] [--timeout SECONDS]\n"
    "               COMMAND [ARGS...]\n"
    "\n"
    "gridctl talks to gridd, the community grid governance server: it shows and\n"
    "edits the grid tree (district, sub-district, community, zone, courtyard,\n"
    "building), imports and exports it as CSV, and manages the accounts, roles,\n"
    "API keys and audit trail. Log in first: every command but ping and help\n"
    "acts as you, within the part of the grid your roles cover.\n"
    "\n"
    "Commands:\n"
    "  ping                            check the server: name, version, round trip\n"
    "  login [USERNAME]                log in and keep the session for this server\n"
    "  logout                          end the session and forget it\n"
    "  whoami                          who you are logged in as, and your roles\n"
    "  passwd                          change your password\n"
    "  node show CODE                  all fields of a node and its path\n"
    "  node ls [CODE]                  the children of a node, or the top-level nodes\n"
    "  node tree CODE                  a subtree drawn as a tree\n"
    "  node find QUERY                 nodes whose code or name contains QUERY\n"
    "  node add PARENT CODE NAME       create a node (PARENT \"-\" for a top-level one)\n"
    "  node rename CODE NAME           rename a node\n"
    "  node leader CODE NAME [PHONE]   set who leads a node\n"
    "  node mv CODE NEW_PARENT         move a node and its subtree\n"
    "  node retire CODE                retire a node (--cascade: and its subtree)\n"
    "  grid import FILE                create and update nodes from a CSV roster\n"
    "  grid export [CODE]              write the grid or a subtree as CSV\n"
    "  user add|ls|disable|enable|grant|revoke\n"
    "                                  accounts and their roles (ROLE@NODE)\n"
    "  apikey create|ls|revoke         API keys of other city systems\n"
    "  audit ls|verify                 who changed what, and whether the trail is intact\n"
    "  case raise|show|ls|claim|accept|start|resolve|check|close|...\n"
    "                                  cases: needs and complaints rising up the grid\n"
    "  report cases NODE               figures on the cases of a subtree, defined\n"
    "  task issue|show|ls|ack|done|cancel|extend|progress\n"
    "                                  tasks down the grid, and their progress back up\n"
    "  watch NODE                      print the events of a subtree as they happen\n"
    "  help [COMMAND]                  this text, or a command's\n"
    "\n"
    "Global options:\n"
    "  -s, --server HOST:PORT  the server (default: $GRID_SERVER, else " DEFAULT_SERVER ");\n"
    "                          HOST alone means port 7420, [IPv6]:PORT also works\n"
    "  -j, --json              print JSON on stdout; errors as JSON on stderr:\n"
    "                          "
    "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":...,\"details\":[...]}}\n"
    "  -t, --timeout SECONDS   give up connecting, and waiting for each reply, after\n"
    "                          this long (default: 5 s to connect, 30 s per reply)\n"
    "      --tls               connect with TLS (gridd's [tls] listen port; also\n"
    "                          $GRID_TLS=1); the server's certificate must be valid\n"
    "                          for HOST and signed by a CA the system trusts\n"
    "      --ca FILE           trust the CA certificates in FILE (PEM) instead of the\n"
    "                          system's; implies --tls (also $GRID_CA)\n"
    "      --token-file FILE   keep the session in FILE (default: $GRID_TOKEN_FILE, else\n"
    "                          ~/.config/gridctl/sessions/HOST_PORT; $XDG_CONFIG_HOME\n"
    "                          replaces ~/.config)\n"
    "      --api-key KEY       act as another city system with an API key (better:\n"
    "                          $GRID_API_KEY, which 'ps' does not show)\n"
    "      --idempotency-key KEY\n"
    "                          send the command's write with KEY (its further writes\n"
    "                          with KEY.2, KEY.3...): run again with the same KEY, it\n"
    "                          changes nothing more and prints the first answer.\n"
    "                          Without it every write gets a random key of its own;\n"
    "                          either way a write whose connection was lost, or that\n"
    "                          the server found unavailable, is retried a few times\n"
    "                          with the same key and so happens once\n"
    "  -h, --help              this text; 'gridctl COMMAND --help' for a command\n"
    "  -V, --version           print gridctl's version\n"
    "\n"
    "Credentials, first found wins: --api-key, --token-file, $GRID_API_KEY,\n"
    "$GRID_TOKEN (a session token), $GRID_TOKEN_FILE, the default token file.\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  other error (INTERNAL, UNKNOWN, UNIMPLEMENTED, ...)\n"
    "  2  usage error: bad command line, nothing was sent\n"
    "  3  not found\n"
    "  4  permission denied, not logged in, or the session expired\n"
    "  5  server unavailable: cannot connect, connection lost, UNAVAILABLE,\n"
    "     DEADLINE_EXCEEDED; the TLS handshake or the certificate check failed\n"
    "  6  request rejected: INVALID_ARGUMENT, ALREADY_EXISTS, FAILED_PRECONDITION,\n"
    "     OUT_OF_RANGE, RESOURCE_EXHAUSTED\n"
    "  7  audit verify: the audit trail is broken (rows edited, deleted or reordered)\n"
    "\n"
    "Examples:\n"
    "  gridctl ping\n"
    "  gridctl login zty_rep                    # asks for the password\n"
    "  gridctl node tree WH-TZL                 # 桐梓林社区 and everything below it\n"
    "  gridctl --json node show WH-TZL-Z5-ZTY   # 梓潼苑, as JSON\n"
    "  GRID_SERVER=gridd.example.org gridctl grid export -o roster.csv\n";

/* anonymous: the command connects without credentials (ping needs none,
 * login gets them, logout handles them itself). */
static const struct {
	const char *name;
	int (*run)(struct ctl *ctl, int argc, char **argv);
	bool anonymous;
} commands[] = {
    {"ping", ping_main, true},	    {"login", login_main, true},    {"logout", logout_main, true},
    {"whoami", whoami_main, false}, {"passwd", passwd_main, false}, {"node", node_main, false},
    {"grid", grid_main, false},	    {"user", user_main, false},	    {"apikey", apikey_main, false},
    {"audit", audit_main, false},   {"case", case_main, false},	    {"report", report_main, false},
    {"task", task_main, false},	    {"watch", watch_main, false},   {NULL, NULL, false},
};

int ctl_help(const char *help)
{
	fputs(help, stdout);
	return CTL_EXIT_OK;
}

int ctl_usage(struct ctl *ctl, const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctl->json) {
		output_error(true, GRID__V1__CODE__CODE_INVALID_ARGUMENT, NULL, msg, NULL, 0, NULL);
	} else {
		fflush(stdout);
		fprintf(stderr, "gridctl: %s\nTry 'gridctl %s%s--help'.\n", msg, cmd ? cmd : "",
			cmd ? " " : "");
	}
	return CTL_EXIT_USAGE;
}

int ctl_getopt(struct ctl *ctl, const char *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	char spec[64];
	int opt;

	/* A leading ':' makes getopt report a missing value as ':' and say
	 * nothing itself; the messages below are gridctl's. */
	snprintf(spec, sizeof(spec), ":%s", shortopts);
	opterr = 0;
	opt = getopt_long(argc, argv, spec, longopts, NULL);
	if (opt == '?') {
		if (optopt)
			ctl_usage(ctl, cmd, "%s: unknown option '-%c'", cmd, optopt);
		else
			ctl_usage(ctl, cmd, "%s: unknown option '%s'", cmd, argv[optind - 1]);
		return '?';
	}
	if (opt == ':') {
		ctl_usage(ctl, cmd, "%s: option '%s' needs a value", cmd, argv[optind - 1]);
		return '?';
	}
	return opt;
}

int ctl_parse_uint(struct ctl *ctl, const char *cmd, const char *opt, const char *s,
		   uint32_t *ret_v)
{
	uint32_t v;

	if (str_to_u32(s, &v) < 0)
		return ctl_usage(ctl, cmd, "%s: %s wants a whole number, not '%s'", cmd, opt, s);
	*ret_v = v;
	return 0;
}

int64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *ctl_format_time(int64_t ms, bool with_seconds, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) ||
	    strftime(buf, size, with_seconds ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)ms);
	return buf;
}

/* "90d", "24h", "30m", "45s", "2w": milliseconds, or -1. */
static int64_t parse_duration(const char *s)
{
	static const struct {
		char unit;
		int64_t ms;
	} units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}, {'w', 604800000}};
	uint64_t n = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > 1000000000)
			return -1;
	}
	if (p == s || !p[0] || p[1])
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (units[i].unit == *p)
			return (int64_t)n * units[i].ms;
	return -1;
}

/* "2025-03-01", "2025-03-01T14:05", "2025-03-01 14:05:09" in local time:
 * Unix milliseconds, or -1. */
static int64_t parse_date(const char *s)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	struct tm tm = {0};
	time_t t;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	s += n;
	if (*s) {
		if (*s != 'T' && *s != ' ')
			return -1;
		s++;
		n = 0;
		if (sscanf(s, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
			return -1;
		s += n;
		if (*s) {
			n = 0;
			if (sscanf(s, ":%2d%n", &sec, &n) != 1 || n != 3 || s[n])
				return -1;
		}
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	/* mktime() takes 2025-02-30 for 2025-03-02: refuse what it moved. */
	if (t == (time_t)-1 || tm.tm_year != y - 1900 || tm.tm_mon != mo - 1 || tm.tm_mday != d ||
	    tm.tm_hour != h || tm.tm_min != mi || tm.tm_sec != sec)
		return -1;
	return (int64_t)t * 1000;
}

int ctl_parse_time(struct ctl *ctl, const char *cmd, const char *opt, const char *s, int direction,
		   int64_t *ret_ms)
{
	int64_t v = parse_duration(s);

	if (v >= 0) {
		*ret_ms = ctl_now_ms() + (direction < 0 ? -v : v);
		return 0;
	}
	v = parse_date(s);
	if (v >= 0) {
		*ret_ms = v;
		return 0;
	}
	return ctl_usage(ctl, cmd,
			 "%s: %s wants YYYY-MM-DD, YYYY-MM-DDTHH:MM or a duration like "
			 "24h, 7d, 2w, not '%s'",
			 cmd, opt, s);
}

int ctl_dispatch(struct ctl *ctl, const char *group, const struct ctl_command *cmds, int argc,
		 char **argv, const char *group_help)
{
	if (argc < 2)
		return ctl_usage(ctl, group, "%s: no command given", group);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return ctl_help(group_help);
	for (const struct ctl_command *c = cmds; c->name; c++)
		if (strcmp(argv[1], c->name) == 0)
			return c->run(ctl, argc - 1, argv + 1);
	return ctl_usage(ctl, group, "%s: unknown command '%s'", group, argv[1]);
}

/* --tls / $GRID_TLS, --ca / $GRID_CA */
static bool use_tls;
static const char *ca_file;

int ctl_client_config(struct ctl *ctl, struct grid_client_config *ret_cfg)
{
	if (grid_client_check_address(ctl->server) < 0)
		return ctl_usage(ctl, NULL, "bad server address '%s': want HOST:PORT", ctl->server);
	if (ca_file && access(ca_file, R_OK) < 0)
		return ctl_usage(ctl, NULL, "CA file %s: %s", ca_file, strerror(errno));
	*ret_cfg = (struct grid_client_config){
	    .client_name = "gridctl/" GRID_VERSION,
	    .connect_timeout_ms = ctl->timeout_ms,
	    .call_timeout_ms = ctl->timeout_ms,
	    .tls = use_tls,
	    .ca_file = ca_file,
	};
	return CTL_EXIT_OK;
}

int ctl_connect(struct ctl *ctl)
{
	struct grid_client_config cfg;
	int r;

	if (ctl->client)
		return CTL_EXIT_OK;
	r = ctl_client_config(ctl, &cfg);
	if (r != CTL_EXIT_OK)
		return r;
	/* Without a credential there is no point in connecting. */
	if (!ctl->anonymous && (r = session_require(ctl)) != CTL_EXIT_OK)
		return r;
	ctl->client = grid_client_create(NULL, &cfg);
	if (!ctl->client) {
		output_error(ctl->json, GRID__V1__CODE__CODE_RESOURCE_EXHAUSTED, NULL,
			     "out of memory", NULL, 0, NULL);
		return CTL_EXIT_ERROR;
	}
	r = grid_client_connect(ctl->client, ctl->server);
	if (r < 0) {
		status_code code = output_code_for_errno(r);

		output_error(ctl->json, code, NULL, grid_client_error(ctl->client), NULL, 0, NULL);
		/* Unless the server said something more precise (a refusal
		 * of our hello), a server we cannot talk to is unavailable. */
		r = output_exit_code(code);
		return r == CTL_EXIT_OK || r == CTL_EXIT_ERROR ? CTL_EXIT_UNAVAILABLE : r;
	}
	if (!ctl->anonymous)
		return session_authenticate(ctl);
	return CTL_EXIT_OK;
}

/* Retrying. A request whose connection was lost before the reply came, or
 * that the server answered UNAVAILABLE ("not done; safe to retry"), is sent
 * again a few times, after a short wait, on a new connection when the old
 * one is gone. A write carries an idempotency key, the same in every
 * attempt, so that the server does it once however many times it arrives:
 * a retry of a write that was done gets the first reply. */
#define CALL_ATTEMPTS 5
static const unsigned retry_wait_ms[CALL_ATTEMPTS - 1] = {100, 200, 400, 800};

/* Calls bound to the connection or to the credentials rather than about
 * the grid: never repeated behind the user's back on another connection
 * (a login, a changed password, a subscription) and sent without a key. */
static bool is_session_call(Grid__V1__Request__CallCase call)
{
	switch (call) {
	case GRID__V1__REQUEST__CALL_HELLO:
	case GRID__V1__REQUEST__CALL_LOGIN:
	case GRID__V1__REQUEST__CALL_AUTHENTICATE:
	case GRID__V1__REQUEST__CALL_LOGOUT:
	case GRID__V1__REQUEST__CALL_CHANGE_PASSWORD:
	case GRID__V1__REQUEST__CALL_SUBSCRIBE:
	case GRID__V1__REQUEST__CALL_UNSUBSCRIBE:
		return true;
	default:
		return false;
	}
}

/* Calls that change nothing. Every call not listed is taken for a write,
 * so that a new write is never sent without a key. */
static bool is_read_call(Grid__V1__Request__CallCase call)
{
	switch (call) {
	case GRID__V1__REQUEST__CALL_PING:
	case GRID__V1__REQUEST__CALL_GET_NODE:
	case GRID__V1__REQUEST__CALL_LIST_CHILDREN:
	case GRID__V1__REQUEST__CALL_GET_SUBTREE:
	case GRID__V1__REQUEST__CALL_GET_ANCESTORS:
	case GRID__V1__REQUEST__CALL_FIND_NODES:
	case GRID__V1__REQUEST__CALL_EXPORT_GRID:
	case GRID__V1__REQUEST__CALL_WHO_AM_I:
	case GRID__V1__REQUEST__CALL_LIST_USERS:
	case GRID__V1__REQUEST__CALL_LIST_API_KEYS:
	case GRID__V1__REQUEST__CALL_LIST_AUDIT:
	case GRID__V1__REQUEST__CALL_VERIFY_AUDIT:
	case GRID__V1__REQUEST__CALL_GET_CASE:
	case GRID__V1__REQUEST__CALL_LIST_CASES:
	case GRID__V1__REQUEST__CALL_CASE_REPORT:
	case GRID__V1__REQUEST__CALL_GET_TASK:
	case GRID__V1__REQUEST__CALL_LIST_TASKS:
	case GRID__V1__REQUEST__CALL_LIST_ASSIGNMENTS:
	case GRID__V1__REQUEST__CALL_TASK_PROGRESS:
	case GRID__V1__REQUEST__CALL_LIST_EVENTS:
		return true;
	default:
		return false;
	}
}

/* A write the server does not make idempotent (CreateApiKey: its reply
 * holds a secret the server does not keep): resent only when the server
 * said it was not done, never after a reply was lost. */
static bool is_unrepeatable_call(Grid__V1__Request__CallCase call)
{
	return call == GRID__V1__REQUEST__CALL_CREATE_API_KEY;
}

/* The key of the next write: --idempotency-key for the first write of the
 * command, KEY.2, KEY.3... for the ones after it (so a script that runs the
 * command again sends the same keys), else 16 random bytes in hex. 0, or
 * -errno when the system has no randomness to give. */
static int next_key(struct ctl *ctl, char *buf, size_t size)
{
	uint8_t raw[16];
	size_t got = 0;
	FILE *f;

	ctl->writes++;
	if (ctl->idempotency_key) {
		if (ctl->writes == 1)
			snprintf(buf, size, "%s", ctl->idempotency_key);
		else
			snprintf(buf, size, "%s.%u", ctl->idempotency_key, ctl->writes);
		return 0;
	}
	f = fopen("/dev/urandom", "rb");
	if (f) {
		got = fread(raw, 1, sizeof(raw), f);
		fclose(f);
	}
	if (got != sizeof(raw) || size < 2 * sizeof(raw) + 1)
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(buf + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Replaces a lost connection without a word: connects and authenticates
 * again with the credential found the first time. 0, or the status code of
 * the failure with its message in msg (UNAVAILABLE: worth another try). */
static status_code reconnect(struct ctl *ctl, char *msg, size_t size)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest auth = GRID__V1__AUTHENTICATE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	struct grid_client_config cfg;
	status_code code = GRID__V1__CODE__CODE_OK;
	int r;

	grid_client_destroy(ctl->client);
	ctl->client = NULL;
	/* The address and CA file passed this check at the first connect. */
	if (ctl_client_config(ctl, &cfg) != CTL_EXIT_OK) {
		snprintf(msg, size, "cannot connect again");
		return GRID__V1__CODE__CODE_INVALID_ARGUMENT;
	}
	ctl->client = grid_client_create(NULL, &cfg);
	if (!ctl->client) {
		snprintf(msg, size, "out of memory");
		return GRID__V1__CODE__CODE_RESOURCE_EXHAUSTED;
	}
	r = grid_client_connect(ctl->client, ctl->server);
	if (r == 0 && !ctl->anonymous && ctl->session) {
		auth.token = ctl->session->secret;
		req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
		req.authenticate = &auth;
		r = grid_client_call(ctl->client, &req, &reply);
	}
	if (r < 0) {
		code = output_code_for_errno(r);
		/* As in ctl_connect(): a server we cannot talk to is
		 * unavailable, unless it said something more precise. */
		if (output_exit_code(code) == CTL_EXIT_OK ||
		    output_exit_code(code) == CTL_EXIT_ERROR)
			code = GRID__V1__CODE__CODE_UNAVAILABLE;
		snprintf(msg, size, "%s", grid_client_error(ctl->client));
	} else if (reply && reply->status->code != GRID__V1__CODE__CODE_OK) {
		code = reply->status->code;
		snprintf(msg, size, "connected again, but the session was refused: %s",
			 reply->status->message);
	}
	grid_client_reply_free(reply);
	if (code != GRID__V1__CODE__CODE_OK) {
		grid_client_destroy(ctl->client);
		ctl->client = NULL;
	}
	return code;
}

int ctl_call(struct ctl *ctl, Grid__V1__Request *req, Grid__V1__Reply **ret_reply,
	     const char *subject, const char *detail_prefix)
{
	Grid__V1__Reply *reply = NULL;
	char *caller_key = req->idempotency_key;
	bool retry = !is_session_call(req->call_case);
	char key[160], msg[600];
	status_code code;
	int r, attempt;

	r = ctl_connect(ctl);
	if (r != CTL_EXIT_OK)
		return r;
	if (retry && !is_read_call(req->call_case) && !(caller_key && *caller_key)) {
		if (next_key(ctl, key, sizeof(key)) < 0) {
			output_error(ctl->json, GRID__V1__CODE__CODE_INTERNAL, NULL,
				     "cannot read /dev/urandom for an idempotency key", NULL, 0,
				     NULL);
			return CTL_EXIT_ERROR;
		}
		req->idempotency_key = key;
	}
	for (attempt = 1;; attempt++) {
		bool last = !retry || attempt == CALL_ATTEMPTS;

		if (attempt > 1)
			sleep_ms(retry_wait_ms[attempt - 2]);
		if (!ctl->client) {
			code = reconnect(ctl, msg, sizeof(msg));
			if (code != GRID__V1__CODE__CODE_OK) {
				if (code == GRID__V1__CODE__CODE_UNAVAILABLE && !last)
					continue;
				output_error(ctl->json, code, NULL, msg, NULL, 0, NULL);
				r = output_exit_code(code);
				break;
			}
		}
		req->id = 0;
		r = grid_client_call(ctl->client, req, &reply);
		if (r < 0) {
			code = output_code_for_errno(r);
			if (code == GRID__V1__CODE__CODE_UNAVAILABLE && !last &&
			    !is_unrepeatable_call(req->call_case)) {
				/* The connection is gone, or no longer to be trusted:
				 * the next attempt starts a new one. */
				grid_client_destroy(ctl->client);
				ctl->client = NULL;
				continue;
			}
			output_error(ctl->json, code, r == -EMSGSIZE ? subject : NULL,
				     grid_client_error(ctl->client), NULL, 0, NULL);
			r = output_exit_code(code);
			break;
		}
		code = reply->status->code;
		if (code == GRID__V1__CODE__CODE_UNAVAILABLE && !last) {
			grid_client_reply_free(reply);
			reply = NULL;
			continue;
		}
		if (code != GRID__V1__CODE__CODE_OK) {
			output_error(ctl->json, code, subject, reply->status->message,
				     reply->status->details, reply->status->n_details,
				     detail_prefix);
			r = output_exit_code(code);
			grid_client_reply_free(reply);
			/* A status we do not know is still a failure. */
			r = r == CTL_EXIT_OK ? CTL_EXIT_ERROR : r;
			break;
		}
		if ((int)reply->result_case != (int)req->call_case) {
			output_error(ctl->json, GRID__V1__CODE__CODE_INTERNAL, subject,
				     "the server's reply carries no result", NULL, 0, NULL);
			grid_client_reply_free(reply);
			r = CTL_EXIT_ERROR;
			break;
		}
		*ret_reply = reply;
		r = CTL_EXIT_OK;
		break;
	}
	/* The key lived on this stack: the request must not keep it. */
	req->idempotency_key = caller_key;
	return r;
}

/* The server keeps keys of up to 128 characters; room is left for the
 * ".N" of a command's further writes. */
#define KEY_MAX 100

static int check_key(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > KEY_MAX)
		return -EINVAL;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return -EINVAL;
	return 0;
}

/* "2", "0.5", "30s": seconds, at most a day. */
static int parse_timeout(const char *s, unsigned *ret_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || (*end && strcmp(end, "s") != 0) || !(v > 0) || v > 86400)
		return -EINVAL;
	*ret_ms = v * 1000 < 1 ? 1 : (unsigned)(v * 1000);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"token-file", required_argument, NULL, 'T'},
	    {"api-key", required_argument, NULL, 'K'},
	    {"tls", no_argument, NULL, 'S'},
	    {"ca", required_argument, NULL, 'C'},
	    {"idempotency-key", required_argument, NULL, 'I'},
	    {0},
	};
	static char help_opt[] = "--help";
	char *help_argv[] = {NULL, help_opt, NULL};
	struct ctl ctl = {0};
	const char *env = getenv("GRID_SERVER");
	int opt, rc;

	/* libuv writes to sockets with write(2): a server that resets the
	 * connection must give an error, not kill the process. */
	signal(SIGPIPE, SIG_IGN);

	ctl.server = env && *env ? env : DEFAULT_SERVER;
	env = getenv("GRID_TLS");
	use_tls =
	    env && (strcmp(env, "1") == 0 || strcmp(env, "yes") == 0 || strcmp(env, "true") == 0);
	env = getenv("GRID_CA");
	if (env && *env) {
		ca_file = env;
		use_tls = true;
	}
	/* The global options end at the command: '+' stops there. */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:s:jt:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			ctl.server = optarg;
			break;
		case 'j':
			ctl.json = true;
			break;
		case 't':
			if (parse_timeout(optarg, &ctl.timeout_ms) < 0)
				return ctl_usage(&ctl, NULL,
						 "--timeout wants a number of seconds, not '%s'",
						 optarg);
			break;
		case 'h':
			return ctl_help(main_help);
		case 'V':
			printf("gridctl %s (protocol %d)\n", GRID_VERSION, GRID_PROTOCOL_VERSION);
			return CTL_EXIT_OK;
		case 'T':
			if (!*optarg)
				return ctl_usage(&ctl, NULL, "--token-file wants a file name");
			ctl.token_file = optarg;
			break;
		case 'K':
			if (!*optarg)
				return ctl_usage(&ctl, NULL, "--api-key wants a key");
			ctl.api_key = optarg;
			break;
		case 'S':
			use_tls = true;
			break;
		case 'I':
			if (check_key(optarg) < 0)
				return ctl_usage(&ctl, NULL,
						 "--idempotency-key wants 1 to %d visible ASCII "
						 "characters, not '%s'",
						 KEY_MAX, optarg);
			ctl.idempotency_key = optarg;
			break;
		case 'C':
			if (!*optarg)
				return ctl_usage(&ctl, NULL, "--ca wants a file name");
			ca_file = optarg;
			use_tls = true;
			break;
		case ':':
			return ctl_usage(&ctl, NULL, "option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return ctl_usage(&ctl, NULL, "unknown option '-%c'", optopt);
			return ctl_usage(&ctl, NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage(&ctl, NULL, "no command given");

	argc -= optind;
	argv += optind;
	if (strcmp(argv[0], "help") == 0) {
		/* "help COMMAND" is "COMMAND --help". */
		if (argc < 2)
			return ctl_help(main_help);
		help_argv[0] = argv[1];
		argc = 2;
		argv = help_argv;
	}
	rc = -1;
	for (size_t i = 0; commands[i].name; i++)
		if (strcmp(argv[0], commands[i].name) == 0) {
			optind = 0;
			ctl.anonymous = commands[i].anonymous;
			rc = commands[i].run(&ctl, argc, argv);
			break;
		}
	if (rc < 0)
		rc = ctl_usage(&ctl, NULL, "unknown command '%s'", argv[0]);

	grid_client_destroy(ctl.client);
	session_free(ctl.session);
	if (fflush(stdout) != 0) {
		output_check_epipe(errno);
		fprintf(stderr, "gridctl: writing the output failed: %s\n", strerror(errno));
		if (rc == CTL_EXIT_OK)
			rc = CTL_EXIT_ERROR;
	} else if (ferror(stdout) && rc == CTL_EXIT_OK) {
		rc = CTL_EXIT_ERROR; /* reported when it happened */
	}
	return rc;
}
