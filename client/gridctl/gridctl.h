/* What gridctl's command files share: the invocation's context, the exit
 * codes, and the helpers main.c provides to parse options, connect and
 * make one call. Each command group (ping.c, node.c, grid.c) exports one
 * *_main() that main.c dispatches to.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "client/gridclient.h"

/* Documented in `gridctl --help`; scripts rely on them. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ERROR = 1, /* INTERNAL, UNKNOWN, anything else */
	CTL_EXIT_USAGE = 2, /* bad command line, found before connecting */
	CTL_EXIT_NOT_FOUND = 3,
	CTL_EXIT_DENIED = 4, /* PERMISSION_DENIED, UNAUTHENTICATED */
	CTL_EXIT_UNAVAILABLE =
	    5,		       /* cannot connect, connection lost, UNAVAILABLE, DEADLINE_EXCEEDED */
	CTL_EXIT_REJECTED = 6, /* INVALID_ARGUMENT, ALREADY_EXISTS, FAILED_PRECONDITION, ... */
};

struct ctl {
	const char *server;
	bool json;
	unsigned timeout_ms;	    /* 0 = the library's defaults */
	struct grid_client *client; /* connected by the first ctl_call() */
};

/* A command or sub-command: run gets argv[0] = its own name and parses
 * its options (--help among them) itself. Tables end with a NULL name. */
struct ctl_command {
	const char *name;
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

/* Runs the sub-command of a group named by argv[1] (argv[0] is the group),
 * or prints the group's help. Returns an exit code. */
int ctl_dispatch(struct ctl *ctl, const char *group, const struct ctl_command *cmds, int argc,
		 char **argv, const char *group_help);

/* getopt_long() with gridctl's messages: permutes (options may follow the
 * arguments), returns the option, -1 at the end, or '?' after printing a
 * usage error for cmd (the caller then returns CTL_EXIT_USAGE). Start each
 * command's parsing with optind = 0. */
int ctl_getopt(struct ctl *ctl, const char *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

/* Prints "gridctl: <message>" and a pointer to cmd's --help on stderr
 * (JSON with --json); returns CTL_EXIT_USAGE. */
int ctl_usage(struct ctl *ctl, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints help (stdout) and returns CTL_EXIT_OK. */
int ctl_help(const char *help);

/* Parses a whole unsigned decimal option value; prints the usage error. */
int ctl_parse_uint(struct ctl *ctl, const char *cmd, const char *opt, const char *s,
		   uint32_t *ret_v);

/* Connects unless connected. 0 or an exit code, the error printed. */
int ctl_connect(struct ctl *ctl);

/* Makes one call (connecting first). On an OK reply with the call's result
 * stores the reply (caller frees it with grid_client_reply_free()) and
 * returns 0; otherwise prints the error naming subject, e.g. "node WH-X"
 * (details of a failed status are printed as "<detail_prefix>:LINE:
 * field: reason", detail_prefix NULL = "gridctl"), and returns the exit
 * code. */
int ctl_call(struct ctl *ctl, Grid__V1__Request *req, Grid__V1__Reply **ret_reply,
	     const char *subject, const char *detail_prefix);

int ping_main(struct ctl *ctl, int argc, char **argv);
int node_main(struct ctl *ctl, int argc, char **argv);
int grid_main(struct ctl *ctl, int argc, char **argv);
