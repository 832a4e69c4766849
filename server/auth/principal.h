/* Who a connection acts as: a person (after Login, or Authenticate with a
 * session token) or another city system (Authenticate with an API key), with
 * the roles it holds on the grid. Shared by every connection using the same
 * session or key and reference counted; when an account, a session or a key
 * changes, the auth module updates the principal in place, so revocation
 * reaches every connection at once. Used by server/auth/, conn.c (one per
 * connection) and rpc.c (authorization).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/list.h"

#define PRINCIPAL_HASH_SIZE 32

struct auth;

enum principal_kind {
	PRINCIPAL_USER,
	PRINCIPAL_API_KEY,
};

struct grant {
	int role;	 /* Grid__V1__Role */
	int64_t node_id; /* 0 = the whole grid */
};

struct principal {
	unsigned refs;
	struct auth *owner; /* registry it is listed in; NULL once detached */
	enum principal_kind kind;
	int64_t account_id; /* users */
	char *name;	    /* username, or the key's id */
	char *display_name; /* the user's name, or the key's name */
	struct grant *grants;
	size_t ngrants;
	char **methods; /* API keys: allowed calls; none = all */
	size_t nmethods;
	uint8_t hash[PRINCIPAL_HASH_SIZE]; /* of the session token or the key */
	int64_t expires_at_ms;		   /* absolute; 0 = never */
	int64_t last_used_ms;		   /* wall clock, for idle expiry */
	int64_t persisted_ms;		   /* last_used last written to the database */
	bool revoked;			   /* logged out, disabled, key revoked */
	struct list link;		   /* auth module's registry */
};

void principal_ref(struct principal *p);
/* Accepts NULL. */
void principal_unref(struct principal *p);
