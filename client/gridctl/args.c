/* The command-line checks the command files share; see args.h. */
#include "client/gridctl/args.h"

int args_help_only(struct ctl *ctl, const char *cmd, int argc, char **argv, const char *help)
{
	static const struct option opts[] = {ARGS_HELP_OPT, {0}};
	int opt = ctl_getopt(ctl, cmd, argc, argv, "h", opts);

	if (opt == -1)
		return -1;
	return opt == 'h' ? ctl_help(help) : CTL_EXIT_USAGE;
}

int args_none(struct ctl *ctl, const char *cmd, int argc, char **argv)
{
	if (argc - optind > 0)
		return ctl_usage(ctl, cmd, "%s: unexpected argument '%s'", cmd, argv[optind]);
	return 0;
}

int args_nonempty(struct ctl *ctl, const char *cmd, const char *what, const char *s)
{
	if (!*s)
		return ctl_usage(ctl, cmd, "%s: %s must not be empty", cmd, what);
	return 0;
}

char *args_one(struct ctl *ctl, const char *cmd, int argc, char **argv, const char *what)
{
	if (argc - optind != 1) {
		ctl_usage(ctl, cmd, "%s: want exactly one %s", cmd, what);
		return NULL;
	}
	if (args_nonempty(ctl, cmd, what, argv[optind]))
		return NULL;
	return argv[optind];
}
