/* The checks of a command line that gridctl's command files make alike
 * (node.c, grid.c, user.c, apikey.c, audit.c, auth.c, ping.c), each with
 * the same usage message (ctl_usage()) wherever it is made.
 */
#pragma once

#include <getopt.h>

#include "client/gridctl/gridctl.h"

/* The --help entry of every command's option table. */
#define ARGS_HELP_OPT                                                                              \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}

/* Parses the options of a command that takes none but --help: returns -1
 * when the command goes on, else the exit code it ends with (its help
 * printed, or a usage error). */
int args_help_only(struct ctl *ctl, const char *cmd, int argc, char **argv, const char *help);
/* A usage error unless no argument follows the options; 0 or
 * CTL_EXIT_USAGE. */
int args_none(struct ctl *ctl, const char *cmd, int argc, char **argv);
/* A usage error ("CMD: WHAT must not be empty") when s is empty; 0 or
 * CTL_EXIT_USAGE. */
int args_nonempty(struct ctl *ctl, const char *cmd, const char *what, const char *s);
/* The one argument that must follow the options, not empty: it, or NULL
 * after the usage error ("CMD: want exactly one WHAT", or the one above). */
char *args_one(struct ctl *ctl, const char *cmd, int argc, char **argv, const char *what);
