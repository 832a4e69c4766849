/* gridd's entry point: command line, configuration, start-up, the loop.
 *
 *   gridd [OPTIONS]                          run the server in the foreground
 *   gridd migrate [OPTIONS]                  apply database migrations and exit
 *   gridd bootstrap-admin USERNAME [OPTIONS] create the first district admin
 *
 * Exit status: 0 after a clean stop, 1 when start-up fails, 2 for a usage
 * error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <uv.h>

#include "grid_version.h"
#include "server/auth/auth.h"
#include "server/config.h"
#include "server/db/migrate.h"
#include "server/log.h"
#include "server/server.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: gridd [OPTIONS]          run the server in the foreground\n"
	    "       gridd migrate [OPTIONS]  apply database migrations and exit\n"
	    "       gridd bootstrap-admin USERNAME [--display-name NAME] [OPTIONS]\n"
	    "                                create the first district admin of a fresh\n"
	    "                                database (whole grid); the password is read\n"
	    "                                from the terminal, or one line of stdin\n"
	    "\n"
	    "gridd keeps a district's grid (district > sub-district > community > zone >\n"
	    "courtyard > building) in PostgreSQL and serves it to gridctl and other\n"
	    "systems over TCP (length-prefixed protobuf, see proto/).\n"
	    "\n"
	    "Options (each overrides the configuration file):\n"
	    "  -c, --config FILE         read settings from an INI file\n"
	    "  -l, --listen HOST:PORT    address to listen on (default 127.0.0.1:7420;\n"
	    "                            port 0 picks a free port)\n"
	    "  -d, --database-url URL    libpq connection string or URI\n"
	    "                            (default: $GRID_DATABASE_URL)\n"
	    "      --levels LIST         level names, top first (default\n"
	    "                            district,subdistrict,community,zone,courtyard,building)\n"
	    "      --log-level LEVEL     debug, info, warn or error (default info)\n"
	    "      --set SECTION.KEY=VALUE  any setting, e.g. --set limits.max_inflight=64\n"
	    "      --ready-fd FD         once listening, write the bound HOST:PORT and a\n"
	    "                            newline to FD, then close it (for supervisors and tests)\n"
	    "      --print-config        print the effective settings and exit\n"
	    "      --display-name NAME   with bootstrap-admin: the admin's name\n"
	    "  -h, --help                this text\n"
	    "  -V, --version             the version\n"
	    "\n"
	    "Precedence: built-in defaults < --config file < GRID_DATABASE_URL < options.\n"
	    "SIGINT or SIGTERM stops gridd cleanly: requests in flight finish first.\n"
	    "\n"
	    "Examples:\n"
	    "  GRID_DATABASE_URL='host=/run/postgresql dbname=gridd' gridd\n"
	    "  gridd --config /etc/gridd.ini --listen 0.0.0.0:7420\n"
	    "  gridd migrate -d postgresql://gridd@db.example/gridd\n"
	    "  echo 'a long secret' | gridd bootstrap-admin admin --display-name 区管理员\n");
}

enum {
	OPT_LEVELS = 256,
	OPT_LOG_LEVEL,
	OPT_SET,
	OPT_READY_FD,
	OPT_PRINT_CONFIG,
	OPT_DISPLAY_NAME,
};

static int set_dotted(struct config *cfg, const char *arg, char *err, size_t errlen)
{
	char section[64], key[64];
	const char *dot = strchr(arg, '.'), *eq = strchr(arg, '=');

	if (!dot || !eq || dot > eq || (size_t)(dot - arg) >= sizeof(section) ||
	    (size_t)(eq - dot - 1) >= sizeof(key)) {
		snprintf(err, errlen, "--set %s: expected SECTION.KEY=VALUE", arg);
		return -EINVAL;
	}
	memcpy(section, arg, (size_t)(dot - arg));
	section[dot - arg] = '\0';
	memcpy(key, dot + 1, (size_t)(eq - dot - 1));
	key[eq - dot - 1] = '\0';
	return config_set(cfg, section, key, eq + 1, err, errlen);
}

static int write_ready(int fd, const char *address)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%s\n", address);
	ssize_t w = write(fd, line, (size_t)n);

	close(fd);
	return w == n ? 0 : -EIO;
}

static int run_migrate(const struct config *cfg)
{
	char err[1024];
	PGconn *pg = db_connect_wait(cfg->database_url, cfg->connect_wait_ms, err, sizeof(err));
	int r;

	if (!pg) {
		fprintf(stderr, "gridd: %s\n", err);
		return 1;
	}
	r = migrate_apply(pg, err, sizeof(err));
	PQfinish(pg);
	if (r < 0) {
		fprintf(stderr, "gridd: %s\n", err);
		return 1;
	}
	printf("gridd: %d migration%s applied; schema at %u\n", r, r == 1 ? "" : "s", nmigrations);
	return 0;
}

/* Reads the new admin's password: twice without echo from a terminal, or
 * one line from stdin (scripts). */
static int read_password(char *out, size_t size)
{
	char again[256];
	struct termios old, quiet;
	bool tty = isatty(0);
	size_t n;

	if (tty) {
		tcgetattr(0, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSANOW, &quiet);
		fputs("Password for the new admin: ", stderr);
	}
	if (!fgets(out, (int)size, stdin))
		out[0] = '\0';
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	if (tty) {
		fputs("\nAgain: ", stderr);
		if (!fgets(again, sizeof(again), stdin))
			again[0] = '\0';
		again[strcspn(again, "\r\n")] = '\0';
		tcsetattr(0, TCSANOW, &old);
		fputc('\n', stderr);
		if (strcmp(out, again) != 0) {
			fprintf(stderr, "gridd: the passwords differ\n");
			return -EINVAL;
		}
	}
	return 0;
}

static int run_bootstrap(const struct config *cfg, const char *username, const char *display_name)
{
	char err[1024], password[256];
	PGconn *pg;
	int r;

	if (read_password(password, sizeof(password)) < 0)
		return 1;
	pg = db_connect_wait(cfg->database_url, cfg->connect_wait_ms, err, sizeof(err));
	if (!pg) {
		fprintf(stderr, "gridd: %s\n", err);
		return 1;
	}
	r = migrate_apply(pg, err, sizeof(err));
	if (r >= 0)
		r = auth_bootstrap_admin(pg, cfg, username, display_name, password, err,
					 sizeof(err));
	memset(password, 0, sizeof(password));
	PQfinish(pg);
	if (r < 0) {
		fprintf(stderr, "gridd: %s\n", err);
		return 1;
	}
	printf("gridd: created %s, district admin of the whole grid\n", username);
	return 0;
}

static int run_server(const struct config *cfg)
{
	struct server srv;
	uv_loop_t loop;
	char err[1024] = "";
	int r, rc = 0;

	uv_loop_init(&loop);
	r = server_start(&srv, &loop, cfg, err, sizeof(err));
	if (r < 0) {
		log_error("event=start_failed error=\"%s\"", err);
		fprintf(stderr, "gridd: %s\n", err);
		rc = 1;
		server_stop(&srv);
	} else if (cfg->ready_fd >= 0 &&
		   write_ready(cfg->ready_fd, server_bound_address(&srv)) < 0) {
		log_warn("event=ready_fd_failed fd=%d", cfg->ready_fd);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	r = uv_loop_close(&loop);
	if (r != 0) {
		log_error("event=loop_close_failed error=%s", uv_err_name(r));
		rc = 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"database-url", required_argument, NULL, 'd'},
	    {"levels", required_argument, NULL, OPT_LEVELS},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"set", required_argument, NULL, OPT_SET},
	    {"ready-fd", required_argument, NULL, OPT_READY_FD},
	    {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
	    {"display-name", required_argument, NULL, OPT_DISPLAY_NAME},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct config cfg;
	char err[512];
	const char *config_path = NULL, *env;
	bool print = false, migrate = false;
	const char *bootstrap_user = NULL, *display_name = "";
	int c, r, rc;

	/* Options are read twice: first to find --config, whose file the
	 * other options then override. */
	while ((c = getopt_long(argc, argv, "c:l:d:hV", options, NULL)) != -1) {
		if (c == 'c')
			config_path = optarg;
		else if (c == 'h') {
			usage(stdout);
			return 0;
		} else if (c == 'V') {
			printf("gridd %s\n", GRID_VERSION);
			return 0;
		} else if (c == '?') {
			fprintf(stderr, "Try 'gridd --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		if (strcmp(argv[optind], "migrate") == 0 && optind + 1 == argc) {
			migrate = true;
		} else if (strcmp(argv[optind], "bootstrap-admin") == 0 && optind + 2 == argc) {
			bootstrap_user = argv[optind + 1];
		} else if (strcmp(argv[optind], "bootstrap-admin") == 0) {
			fprintf(stderr,
				"gridd: bootstrap-admin needs one USERNAME\nTry 'gridd --help'.\n");
			return 2;
		} else {
			fprintf(stderr, "gridd: unexpected argument \"%s\"\nTry 'gridd --help'.\n",
				argv[optind]);
			return 2;
		}
	}

	if (config_init(&cfg) < 0) {
		fprintf(stderr, "gridd: out of memory\n");
		return 1;
	}
	rc = 2;
	if (config_path && config_load_file(&cfg, config_path, err, sizeof(err)) < 0)
		goto usage_error;
	env = getenv("GRID_DATABASE_URL");
	if (env && *env && config_set(&cfg, "database", "url", env, err, sizeof(err)) < 0)
		goto usage_error;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:l:d:hV", options, NULL)) != -1) {
		r = 0;
		switch (c) {
		case 'l':
			r = config_set(&cfg, "server", "listen", optarg, err, sizeof(err));
			break;
		case 'd':
			r = config_set(&cfg, "database", "url", optarg, err, sizeof(err));
			break;
		case OPT_LEVELS:
			r = config_set(&cfg, "grid", "levels", optarg, err, sizeof(err));
			break;
		case OPT_LOG_LEVEL:
			r = config_set(&cfg, "server", "log_level", optarg, err, sizeof(err));
			break;
		case OPT_SET:
			r = set_dotted(&cfg, optarg, err, sizeof(err));
			break;
		case OPT_READY_FD: {
			char *end;
			long fd = strtol(optarg, &end, 10);
			if (*end || fd < 0 || fd > 65535) {
				snprintf(err, sizeof(err),
					 "--ready-fd %s: expected a descriptor number", optarg);
				r = -EINVAL;
			}
			cfg.ready_fd = (int)fd;
			break;
		}
		case OPT_PRINT_CONFIG:
			print = true;
			break;
		case OPT_DISPLAY_NAME:
			display_name = optarg;
			break;
		default:
			break;
		}
		if (r < 0)
			goto usage_error;
	}

	if (print) {
		config_print(&cfg, stdout);
		config_finish(&cfg);
		return 0;
	}
	if (config_check(&cfg, err, sizeof(err)) < 0)
		goto usage_error;
	log_set_level(cfg.log_level);
	/* libuv writes to sockets with write(2): a peer gone away must be an
	 * error code, not a signal that kills the server. */
	signal(SIGPIPE, SIG_IGN);

	if (migrate)
		rc = run_migrate(&cfg);
	else if (bootstrap_user)
		rc = run_bootstrap(&cfg, bootstrap_user, display_name);
	else
		rc = run_server(&cfg);
	config_finish(&cfg);
	return rc;

usage_error:
	fprintf(stderr, "gridd: %s\nTry 'gridd --help'.\n", err);
	config_finish(&cfg);
	return rc;
}
