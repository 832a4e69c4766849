/* Configuration keys, their defaults and parsing; see config.h. One table
 * describes every key, so the INI loader, --set and --print-config agree. */
#include "server/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ini.h"
#include "common/strutil.h"

enum key_type {
	KEY_STR,
	KEY_U32,
	KEY_LOG_LEVEL,
	KEY_LEVELS,
	KEY_BOOL,
};

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset;
	uint32_t min, max; /* for KEY_U32 */
};

#define OFF(f) offsetof(struct config, f)

static const struct key keys[] = {
    {"server", "listen", KEY_STR, OFF(listen), 0, 0},
    {"server", "name", KEY_STR, OFF(server_name), 0, 0},
    {"server", "log_level", KEY_LOG_LEVEL, OFF(log_level), 0, 0},
    {"server", "shutdown_timeout_ms", KEY_U32, OFF(shutdown_timeout_ms), 0, 600000},
    {"server", "allow_remote_plaintext", KEY_BOOL, OFF(allow_remote_plaintext), 0, 0},
    {"database", "url", KEY_STR, OFF(database_url), 0, 0},
    {"database", "pool_size", KEY_U32, OFF(pool_size), 1, 64},
    {"database", "connect_wait_ms", KEY_U32, OFF(connect_wait_ms), 0, 3600000},
    {"database", "statement_timeout_ms", KEY_U32, OFF(statement_timeout_ms), 100, 3600000},
    {"grid", "levels", KEY_LEVELS, OFF(levels), 0, 0},
    {"limits", "max_frame_before_login", KEY_U32, OFF(max_frame_before_login), 1024, 1u << 24},
    {"limits", "max_frame", KEY_U32, OFF(max_frame), 1024, 1u << 26},
    {"limits", "max_inflight", KEY_U32, OFF(max_inflight), 1, 65536},
    {"limits", "max_connections", KEY_U32, OFF(max_connections), 1, 1000000},
    {"limits", "max_connections_per_address", KEY_U32, OFF(max_connections_per_address), 1,
     1000000},
    {"limits", "max_outbuf", KEY_U32, OFF(max_outbuf), 65536, 1u << 30},
    {"limits", "max_page_size", KEY_U32, OFF(max_page_size), 1, 100000},
    {"limits", "default_page_size", KEY_U32, OFF(default_page_size), 1, 100000},
    {"limits", "request_timeout_ms", KEY_U32, OFF(request_timeout_ms), 10, 3600000},
    {"limits", "idle_timeout_ms", KEY_U32, OFF(idle_timeout_ms), 0, 86400000},
    {"limits", "login_timeout_ms", KEY_U32, OFF(login_timeout_ms), 100, 600000},
    {"auth", "session_idle_ms", KEY_U32, OFF(session_idle_ms), 1000, 604800000},
    {"auth", "session_max_ms", KEY_U32, OFF(session_max_ms), 1000, 2592000000u},
    {"auth", "pwhash_opslimit", KEY_U32, OFF(pwhash_opslimit), 0, 64},
    {"auth", "pwhash_memlimit_kib", KEY_U32, OFF(pwhash_memlimit_kib), 0, 4194304},
    {"auth", "max_hashing", KEY_U32, OFF(max_hashing), 1, 64},
    {"auth", "max_hash_queue", KEY_U32, OFF(max_hash_queue), 0, 100000},
    {"auth", "login_failures", KEY_U32, OFF(login_failures), 1, 1000},
    {"tls", "listen", KEY_STR, OFF(tls_listen), 0, 0},
    {"tls", "cert", KEY_STR, OFF(tls_cert), 0, 0},
    {"tls", "key", KEY_STR, OFF(tls_key), 0, 0},
};

static const char *const default_levels[] = {"district", "subdistrict", "community",
					     "zone",	 "courtyard",	"building"};

static int set_levels(struct config *c, const char *value, char *err, size_t errlen)
{
	char *copy = strdup(value), *save = NULL, *tok;
	char *levels[CONFIG_MAX_LEVELS];
	uint32_t n = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		str_trim(tok);
		if (!*tok)
			continue;
		for (const char *p = tok; *p; p++) {
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
			      *p == '-')) {
				snprintf(
				    err, errlen,
				    "level name \"%s\": use lower-case letters, digits, '_' or '-'",
				    tok);
				goto fail;
			}
		}
		for (uint32_t i = 0; i < n; i++) {
			if (strcmp(levels[i], tok) == 0) {
				snprintf(err, errlen, "level name \"%s\" appears twice", tok);
				goto fail;
			}
		}
		if (n == CONFIG_MAX_LEVELS) {
			snprintf(err, errlen, "more than %d levels", CONFIG_MAX_LEVELS);
			goto fail;
		}
		levels[n] = strdup(tok);
		if (!levels[n])
			goto fail;
		n++;
	}
	if (n < 2) {
		snprintf(err, errlen, "levels needs at least two names, top first");
		goto fail;
	}
	for (uint32_t i = 0; i < c->nlevels; i++)
		free(c->levels[i]);
	memcpy(c->levels, levels, n * sizeof(levels[0]));
	c->nlevels = n;
	free(copy);
	return 0;
fail:
	for (uint32_t i = 0; i < n; i++)
		free(levels[i]);
	free(copy);
	return -EINVAL;
}

int config_set(struct config *c, const char *section, const char *name, const char *value,
	       char *err, size_t errlen)
{
	const struct key *k = NULL;
	char *base = (char *)c;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) {
			k = &keys[i];
			break;
		}
	}
	if (!k) {
		snprintf(err, errlen, "unknown setting [%s] %s", section, name);
		return -ENOENT;
	}
	switch (k->type) {
	case KEY_STR: {
		char **slot = (char **)(base + k->offset);
		char *v = strdup(value);
		if (!v)
			return -ENOMEM;
		free(*slot);
		*slot = v;
		return 0;
	}
	case KEY_U32: {
		uint32_t v;
		if (str_to_u32(value, &v) < 0 || v < k->min || v > k->max) {
			snprintf(err, errlen,
				 "[%s] %s = \"%s\": expected a whole number from %u to %u", section,
				 name, value, k->min, k->max);
			return -EINVAL;
		}
		*(uint32_t *)(base + k->offset) = v;
		return 0;
	}
	case KEY_LOG_LEVEL:
		if (log_level_parse(value, (enum log_level *)(base + k->offset)) < 0) {
			snprintf(err, errlen,
				 "[%s] %s = \"%s\": expected debug, info, warn or error", section,
				 name, value);
			return -EINVAL;
		}
		return 0;
	case KEY_LEVELS:
		return set_levels(c, value, err, errlen);
	case KEY_BOOL: {
		bool *slot = (bool *)(base + k->offset);
		if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
		    strcmp(value, "on") == 0 || strcmp(value, "1") == 0) {
			*slot = true;
		} else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
			   strcmp(value, "off") == 0 || strcmp(value, "0") == 0) {
			*slot = false;
		} else {
			snprintf(err, errlen, "[%s] %s = \"%s\": expected true or false", section,
				 name, value);
			return -EINVAL;
		}
		return 0;
	}
	}
	return -EINVAL;
}

int config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen = strdup("127.0.0.1:7420");
	c->server_name = strdup("gridd");
	c->log_level = LOG_INFO;
	c->shutdown_timeout_ms = 10000;
	c->database_url = strdup("");
	c->pool_size = 4;
	c->connect_wait_ms = 30000;
	c->statement_timeout_ms = 30000;
	c->max_frame_before_login = 16 * 1024;
	c->max_frame = 1024 * 1024;
	c->max_inflight = 128;
	c->max_connections = 10000;
	c->max_connections_per_address = 256;
	c->max_outbuf = 8 * 1024 * 1024;
	c->max_page_size = 5000;
	c->default_page_size = 500;
	c->request_timeout_ms = 10000;
	c->idle_timeout_ms = 0;
	c->login_timeout_ms = 30000;
	c->session_idle_ms = 2 * 3600 * 1000;
	c->session_max_ms = 12 * 3600 * 1000;
	c->pwhash_opslimit = 0;
	c->pwhash_memlimit_kib = 0;
	c->max_hashing = 2;
	c->max_hash_queue = 1000;
	c->login_failures = 5;
	c->tls_listen = strdup("");
	c->tls_cert = strdup("");
	c->tls_key = strdup("");
	c->ready_fd = -1;
	for (size_t i = 0; i < sizeof(default_levels) / sizeof(default_levels[0]); i++) {
		c->levels[i] = strdup(default_levels[i]);
		if (!c->levels[i])
			return -ENOMEM;
		c->nlevels++;
	}
	if (!c->listen || !c->server_name || !c->database_url || !c->tls_listen || !c->tls_cert ||
	    !c->tls_key)
		return -ENOMEM;
	return 0;
}

void config_finish(struct config *c)
{
	free(c->listen);
	free(c->server_name);
	free(c->database_url);
	free(c->config_path);
	free(c->tls_listen);
	free(c->tls_cert);
	free(c->tls_key);
	for (uint32_t i = 0; i < c->nlevels; i++)
		free(c->levels[i]);
	memset(c, 0, sizeof(*c));
}

struct load_ctx {
	struct config *c;
	char *err;
	size_t errlen;
};

static int on_ini_key(void *data, const char *section, const char *key, const char *value,
		      unsigned line)
{
	struct load_ctx *ctx = data;

	return config_set(ctx->c, section, key, value, ctx->err, ctx->errlen);
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx ctx = {c, err, errlen};
	char msg[256] = "";
	unsigned line = 0;
	char *text = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int r;

	f = fopen(path, "rb");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	for (;;) {
		if (len + 4096 > cap) {
			char *p;
			if (cap >= (1u << 20)) {
				fclose(f);
				free(text);
				snprintf(err, errlen, "%s: larger than 1 MiB", path);
				return -EFBIG;
			}
			cap = cap ? cap * 2 : 8192;
			p = realloc(text, cap);
			if (!p) {
				fclose(f);
				free(text);
				return -ENOMEM;
			}
			text = p;
		}
		size_t n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);

	ctx.err = msg;
	ctx.errlen = sizeof(msg);
	r = ini_parse(text ? text : "", len, on_ini_key, &ctx, &line);
	free(text);
	if (r < 0) {
		if (msg[0])
			snprintf(err, errlen, "%s:%u: %s", path, line, msg);
		else
			snprintf(err, errlen,
				 "%s:%u: syntax error (expected [section] or key = value)", path,
				 line);
	}
	return r;
}

int config_check(const struct config *c, char *err, size_t errlen)
{
	if (!c->database_url || !*c->database_url) {
		snprintf(err, errlen,
			 "no database: set GRID_DATABASE_URL, --database-url or [database] url");
		return -EINVAL;
	}
	if (c->max_frame_before_login > c->max_frame) {
		snprintf(err, errlen, "[limits] max_frame_before_login is larger than max_frame");
		return -EINVAL;
	}
	if (c->default_page_size > c->max_page_size) {
		snprintf(err, errlen, "[limits] default_page_size is larger than max_page_size");
		return -EINVAL;
	}
	if (*c->tls_listen && (!*c->tls_cert || !*c->tls_key)) {
		snprintf(err, errlen, "[tls] listen is set: [tls] cert and key are needed too");
		return -EINVAL;
	}
	return 0;
}

void config_print(const struct config *c, FILE *f)
{
	const char *section = "";
	const char *base = (const char *)c;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		if (strcmp(section, k->section) != 0) {
			fprintf(f, "%s[%s]\n", i ? "\n" : "", k->section);
			section = k->section;
		}
		fprintf(f, "%s = ", k->name);
		switch (k->type) {
		case KEY_STR:
			/* The database URL may hold a password. */
			if (k->offset == OFF(database_url) && strstr(c->database_url, "password"))
				fprintf(f, "(hidden: contains a password)\n");
			else
				fprintf(f, "%s\n", *(char *const *)(base + k->offset));
			break;
		case KEY_U32:
			fprintf(f, "%u\n", *(const uint32_t *)(base + k->offset));
			break;
		case KEY_LOG_LEVEL: {
			static const char *const names[] = {"debug", "info", "warn", "error"};
			fprintf(f, "%s\n", names[c->log_level]);
			break;
		}
		case KEY_BOOL:
			fprintf(f, "%s\n", *(const bool *)(base + k->offset) ? "true" : "false");
			break;
		case KEY_LEVELS:
			for (uint32_t j = 0; j < c->nlevels; j++)
				fprintf(f, "%s%s", j ? "," : "", c->levels[j]);
			fputc('\n', f);
			break;
		}
	}
}
