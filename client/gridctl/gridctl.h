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
	CTL_EXIT_AUDIT_BROKEN = 7, /* audit verify found the trail tampered with */
};

struct ctl {
	const char *server;
	bool json;
	unsigned timeout_ms;	    /* 0 = the library's defaults */
	struct grid_client *client; /* connected by the first ctl_call() */
	/* Credentials (session.c): */
	const char *token_file;	 /* --token-file; NULL = $GRID_TOKEN_FILE or the default */
	const char *api_key;	 /* --api-key; NULL = $GRID_API_KEY */
	bool anonymous;		 /* connect without authenticating (ping, login, logout) */
	struct session *session; /* the credential found by the first connect; owned */
	/* Idempotency (ctl_call): --idempotency-key, NULL = a random key per
	 * write; writes counts the writes made so far. */
	const char *idempotency_key;
	unsigned writes;
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
/* The client configuration ctl_connect() uses (server address checked,
 * TLS options), for commands that run the client on their own loop
 * (watch). 0, or prints the usage error and returns CTL_EXIT_USAGE. */
int ctl_client_config(struct ctl *ctl, struct grid_client_config *ret_cfg);

/* Makes one call (connecting first). On an OK reply with the call's result
 * stores the reply (caller frees it with grid_client_reply_free()) and
 * returns 0; otherwise prints the error naming subject, e.g. "node WH-X"
 * (details of a failed status are printed as "<detail_prefix>:LINE:
 * field: reason", detail_prefix NULL = "gridctl"), and returns the exit
 * code. A write (any call but the reads and the session's own) carries an
 * idempotency key (req's own when set, else the next of ctl's); a call
 * whose connection was lost or that was answered UNAVAILABLE is sent again
 * a few times, connecting again when needed: ctl->client may change. */
int ctl_call(struct ctl *ctl, Grid__V1__Request *req, Grid__V1__Reply **ret_reply,
	     const char *subject, const char *detail_prefix);

int ping_main(struct ctl *ctl, int argc, char **argv);
int node_main(struct ctl *ctl, int argc, char **argv);
int grid_main(struct ctl *ctl, int argc, char **argv);
/* auth.c */
int login_main(struct ctl *ctl, int argc, char **argv);
int logout_main(struct ctl *ctl, int argc, char **argv);
int whoami_main(struct ctl *ctl, int argc, char **argv);
int passwd_main(struct ctl *ctl, int argc, char **argv);
/* user.c, apikey.c, audit.c */
int user_main(struct ctl *ctl, int argc, char **argv);
int apikey_main(struct ctl *ctl, int argc, char **argv);
int audit_main(struct ctl *ctl, int argc, char **argv);
/* case.c, report.c */
int case_main(struct ctl *ctl, int argc, char **argv);
int report_main(struct ctl *ctl, int argc, char **argv);
/* watch.c */
int watch_main(struct ctl *ctl, int argc, char **argv);
/* task.c */
int task_main(struct ctl *ctl, int argc, char **argv);

/* Roles on the grid, shared by user.c, auth.c and apikey.c (in user.c).
 * A grant is written ROLE@NODE, with NODE "-" for the whole grid (as "-"
 * means the top in 'node add' and 'node mv'); ROLE is a name of
 * user_role_name() and may be written with '-' for '_', in any case. */
const char *user_role_name(int role); /* "zone_leader"; never NULL */
/* Parses ROLE@NODE; *ret_node points into s ("" for the whole grid).
 * 0, or prints a usage error for cmd and returns CTL_EXIT_USAGE. */
int user_parse_grant(struct ctl *ctl, const char *cmd, char *s, int *ret_role, char **ret_node);
/* "zone_leader@WH-TZL-Z5", "district_admin@-". */
void user_grant_text(int role, const char *node_code, char *buf, size_t size);
/* The key "roles" and its array, an object {"role", "node_code"} a grant;
 * with_names, each also has "node_name": names[i] (null when names is
 * NULL). */
struct json_writer;
void user_roles_json(struct json_writer *w, Grid__V1__RoleGrant *const *grants, size_t n,
		     bool with_names, const char *const *names);

/* Times (in main.c). Parses WHEN for cmd's option opt: YYYY-MM-DD,
 * YYYY-MM-DDTHH:MM[:SS] (or with a space for the T), local time; or a
 * duration N{s,m,h,d,w}, counted back from now when direction < 0 (24h =
 * a day ago) and forward when direction > 0 (90d = in 90 days). Stores
 * Unix milliseconds; 0, or prints a usage error and returns
 * CTL_EXIT_USAGE. */
int ctl_parse_time(struct ctl *ctl, const char *cmd, const char *opt, const char *s, int direction,
		   int64_t *ret_ms);
/* Unix milliseconds as local time, "2025-03-01 14:05" (with_seconds:
 * "2025-03-01 14:05:09"), into buf; returns buf. */
const char *ctl_format_time(int64_t ms, bool with_seconds, char *buf, size_t size);
/* Milliseconds of the wall clock. */
int64_t ctl_now_ms(void);
