/* gridd's configuration: built-in defaults, then the INI file given with
 * --config, then GRID_DATABASE_URL from the environment, then command-line
 * flags, each overriding the one before. main.c fills it at start; the rest
 * of the server reads it and never changes it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "server/log.h"

#define CONFIG_MAX_LEVELS 16
#define CONFIG_MAX_HOURS 8	  /* [calendar] hours: intervals in a day */
#define CONFIG_MAX_DATES 4096	  /* [calendar] holidays, workdays: days in each list */
#define CONFIG_MAX_CASE_RULES 256 /* [cases] accept.LEVEL[.CATEGORY] and resolve.* keys */

/* A case deadline in working time: wd working days (a working day is the
 * length of the configured [calendar] hours of one day) plus ms, or none. */
enum config_duration_state {
	CONFIG_DURATION_UNSET, /* not configured: the next rule applies */
	CONFIG_DURATION_NONE,  /* "none": no deadline */
	CONFIG_DURATION_SET,
};

struct config_duration {
	enum config_duration_state state;
	uint32_t wd;
	uint64_t ms;
};

/* [cases] accept.LEVEL[.CATEGORY] and resolve.LEVEL[.CATEGORY], one entry per
 * (level, category) named in any of them. */
struct config_case_rule {
	char *level;	/* a name from [grid] levels (checked by config_check) */
	char *category; /* "" = every category of the level */
	struct config_duration accept, resolve;
};

/* A list of days, as days since 1970-01-01, sorted, each once. */
struct config_dates {
	int32_t *days;
	uint32_t n;
};

struct config {
	char *listen;		      /* [server] listen = HOST:PORT */
	char *server_name;	      /* [server] name */
	enum log_level log_level;     /* [server] log_level */
	uint32_t shutdown_timeout_ms; /* [server] shutdown_timeout_ms: drain limit */
	bool allow_remote_plaintext;  /* [server] plain TCP from non-loopback peers too */

	char *database_url;		/* [database] url (libpq conninfo or URI) */
	uint32_t pool_size;		/* [database] pool_size */
	uint32_t connect_wait_ms;	/* [database] connect_wait_ms: at start */
	uint32_t statement_timeout_ms;	/* [database] statement_timeout_ms */
	uint32_t db_connect_timeout_ms; /* [database] connect_timeout_ms: one attempt */
	uint32_t db_health_check_ms;	/* [database] health_check_ms: idle links probed */

	char *levels[CONFIG_MAX_LEVELS]; /* [grid] levels = a,b,c (top first) */
	uint32_t nlevels;

	uint32_t max_frame_before_login; /* [limits] ... */
	uint32_t max_frame;
	uint32_t max_inflight;
	uint32_t max_connections;
	uint32_t max_connections_per_address; /* from one IP address */
	uint32_t max_outbuf;
	uint32_t max_page_size;
	uint32_t default_page_size;
	uint32_t request_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t login_timeout_ms;
	uint32_t frame_timeout_ms; /* a frame begun must be whole within it; 0 = never */
	uint32_t send_timeout_ms;  /* output the peer takes none of for this long: cut */
	uint32_t outbuf_pause;	   /* unsent bytes at which reading stops (<= max_outbuf/2) */

	uint32_t session_idle_ms;     /* [auth] session_idle_ms */
	uint32_t session_max_ms;      /* [auth] session_max_ms: absolute lifetime */
	uint32_t pwhash_opslimit;     /* [auth] Argon2id cost; 0 = libsodium's interactive */
	uint32_t pwhash_memlimit_kib; /* [auth] Argon2id memory; 0 = interactive */
	uint32_t max_hashing;	      /* [auth] password hashes computed at once */
	uint32_t max_hash_queue;      /* [auth] waiting beyond that, then refused */
	uint32_t login_failures;      /* [auth] failures before throttling starts */

	char *tls_listen; /* [tls] listen = HOST:PORT; "" = no TLS listener */
	char *tls_cert;	  /* [tls] cert: PEM, the server's certificate (and chain) */
	char *tls_key;	  /* [tls] key: PEM, its private key */

	char *cal_timezone;			 /* [calendar] timezone (PostgreSQL's names) */
	uint8_t cal_days;			 /* [calendar] days: bit d-1 = ISO weekday d */
	uint16_t cal_hours[CONFIG_MAX_HOURS][2]; /* [calendar] hours: start, end in minutes
						    after midnight, in order, apart */
	uint32_t cal_nhours;
	struct config_dates cal_holidays; /* [calendar] holidays */
	struct config_dates cal_workdays; /* [calendar] workdays: make-up working days */

	struct config_duration case_accept;  /* [cases] accept: every level's default */
	struct config_duration case_resolve; /* [cases] resolve */
	struct config_case_rule *case_rules; /* [cases] accept.LEVEL..., resolve.LEVEL... */
	uint32_t ncase_rules;

	int ready_fd;	   /* --ready-fd only: -1 = none */
	char *config_path; /* --config only */
};

/* Fills the defaults. */
int config_init(struct config *c);
void config_finish(struct config *c);

/* Sets one key ("section", "key") from its text form. On error returns
 * -EINVAL / -ENOENT and writes a message into err. */
int config_set(struct config *c, const char *section, const char *key, const char *value, char *err,
	       size_t errlen);
/* Loads an INI file over the current values. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Cross-field checks after everything is loaded. */
int config_check(const struct config *c, char *err, size_t errlen);
/* Prints every key with its current value, INI style, for --print-config. */
void config_print(const struct config *c, FILE *f);

/* Milliseconds of working time in one working day: the [calendar] hours. */
uint64_t config_workday_ms(const struct config *c);
/* The deadline that applies to a case of category ("" = none given) at a
 * node of the named level: accept (resolve = false) or resolve. Looks at
 * [cases] FIELD.LEVEL.CATEGORY, then FIELD.LEVEL, then FIELD, then the
 * built-in default of that level name, then the built-in FIELD. Never
 * UNSET. */
struct config_duration config_case_duration(const struct config *c, const char *level,
					    const char *category, bool resolve);
/* A duration in milliseconds of working time; -1 for none. */
int64_t config_duration_ms(const struct config *c, const struct config_duration *d);
