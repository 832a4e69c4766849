/* gridctl: the command line of gridd. main() parses the global options,
 * dispatches to a command group (ping.c, node.c, grid.c), and ends with the
 * exit code the command returned. This file also holds what every command
 * shares: option parsing with uniform messages, the connection (one per
 * invocation, made by the first call, on libgridclient's blocking API) and
 * the one-call helper that turns every failure into a message and an exit
 * code.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "common/strutil.h"
#include "grid_version.h"

#define DEFAULT_SERVER "127.0.0.1:7420"

static const char main_help[] =
    "Usage: gridctl [--server HOST:PORT] [--json] [--timeout SECONDS] COMMAND [ARGS...]\n"
    "\n"
    "gridctl talks to gridd, the community grid governance server: it shows and\n"
    "edits the grid tree (district, sub-district, community, zone, courtyard,\n"
    "building) and imports and exports it as CSV.\n"
    "\n"
    "Commands:\n"
    "  ping                            check the server: name, version, round trip\n"
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
    "  -h, --help              this text; 'gridctl COMMAND --help' for a command\n"
    "  -V, --version           print gridctl's version\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  other error (INTERNAL, UNKNOWN, UNIMPLEMENTED, ...)\n"
    "  2  usage error: bad command line, nothing was sent\n"
    "  3  not found\n"
    "  4  permission denied or not authenticated\n"
    "  5  server unavailable: cannot connect, connection lost, UNAVAILABLE,\n"
    "     DEADLINE_EXCEEDED\n"
    "  6  request rejected: INVALID_ARGUMENT, ALREADY_EXISTS, FAILED_PRECONDITION,\n"
    "     OUT_OF_RANGE, RESOURCE_EXHAUSTED\n"
    "\n"
    "Examples:\n"
    "  gridctl ping\n"
    "  gridctl node tree WH-TZL                 # 桐梓林社区 and everything below it\n"
    "  gridctl --json node show WH-TZL-Z5-ZTY   # 梓潼苑, as JSON\n"
    "  GRID_SERVER=gridd.example.org gridctl grid export -o roster.csv\n";

static const struct ctl_command commands[] = {
    {"ping", ping_main},
    {"node", node_main},
    {"grid", grid_main},
    {NULL, NULL},
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

int ctl_connect(struct ctl *ctl)
{
	struct grid_client_config cfg = {
	    .client_name = "gridctl/" GRID_VERSION,
	    .connect_timeout_ms = ctl->timeout_ms,
	    .call_timeout_ms = ctl->timeout_ms,
	};
	int r;

	if (ctl->client)
		return CTL_EXIT_OK;
	if (grid_client_check_address(ctl->server) < 0)
		return ctl_usage(ctl, NULL, "bad server address '%s': want HOST:PORT", ctl->server);
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
	return CTL_EXIT_OK;
}

int ctl_call(struct ctl *ctl, Grid__V1__Request *req, Grid__V1__Reply **ret_reply,
	     const char *subject, const char *detail_prefix)
{
	Grid__V1__Reply *reply = NULL;
	status_code code;
	int r;

	r = ctl_connect(ctl);
	if (r != CTL_EXIT_OK)
		return r;
	r = grid_client_call(ctl->client, req, &reply);
	if (r < 0) {
		code = output_code_for_errno(r);
		if (r == -EMSGSIZE)
			output_error(ctl->json, code, subject, grid_client_error(ctl->client), NULL,
				     0, NULL);
		else
			output_error(ctl->json, code, NULL, grid_client_error(ctl->client), NULL, 0,
				     NULL);
		return output_exit_code(code);
	}
	code = reply->status->code;
	if (code != GRID__V1__CODE__CODE_OK) {
		output_error(ctl->json, code, subject, reply->status->message,
			     reply->status->details, reply->status->n_details, detail_prefix);
		r = output_exit_code(code);
		grid_client_reply_free(reply);
		/* A status we do not know is still a failure. */
		return r == CTL_EXIT_OK ? CTL_EXIT_ERROR : r;
	}
	if ((int)reply->result_case != (int)req->call_case) {
		output_error(ctl->json, GRID__V1__CODE__CODE_INTERNAL, subject,
			     "the server's reply carries no result", NULL, 0, NULL);
		grid_client_reply_free(reply);
		return CTL_EXIT_ERROR;
	}
	*ret_reply = reply;
	return CTL_EXIT_OK;
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
	    {"server", required_argument, NULL, 's'},  {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},       {0},
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
	for (const struct ctl_command *c = commands; c->name; c++)
		if (strcmp(argv[0], c->name) == 0) {
			optind = 0;
			rc = c->run(&ctl, argc, argv);
			break;
		}
	if (rc < 0)
		rc = ctl_usage(&ctl, NULL, "unknown command '%s'", argv[0]);

	grid_client_destroy(ctl.client);
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
