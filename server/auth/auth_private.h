/* What the files of the accounts domain share: auth.c (lifecycle, the
 * registry of principals, authorization, following other processes),
 * sessions.c (Login, Authenticate, Logout, WhoAmI, ChangePassword),
 * users.c, apikeys.c, bootstrap.c and auth_db.c (the SQL). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/arena.h"
#include "common/htab.h"
#include "common/list.h"
#include "proto/auth.pb-c.h"
#include "server/auth/auth.h"
#include "server/auth/hasher.h"
#include "server/auth/principal.h"

struct db_query;

struct auth {
	struct server *srv;
	struct hasher *hasher;
	struct list principals; /* every live principal */
	struct htab by_hash;	/* the same, by token or key hash */
	struct htab throttle;	/* failed logins per address */
	size_t nthrottle;
	bool stopped;
};

struct auth *auth_of(const struct rpc_call *call);

/* A new principal (one reference, registered under hash). */
struct principal *auth_principal_new(struct auth *a, enum principal_kind kind,
				     const uint8_t hash[PRINCIPAL_HASH_SIZE]);
/* The live principal of a token or key hash, or NULL. Borrowed. */
struct principal *auth_principal_find(struct auth *a, const uint8_t hash[PRINCIPAL_HASH_SIZE]);
/* Replaces p's grants with the rows (role, node_id) of res. */
int auth_set_grants(struct principal *p, const PGresult *res);
/* The Principal message (strings borrowed from p and the grid cache). */
Grid__V1__Principal *auth_principal_msg(const struct auth *a, struct arena *arena,
					const struct principal *p);
/* A RoleGrant message; node_id 0 = the whole grid. */
Grid__V1__RoleGrant *auth_grant_msg(const struct auth *a, struct arena *arena, int role,
				    int64_t node_id);
/* Resolves a grant's node code ("" = whole grid) to an id (0); -ENOENT. */
int auth_node_id(const struct auth *a, const char *code, int64_t *ret_id);
/* Whether the caller may hand out (or take back) role on the node. */
bool auth_may_grant(const struct auth *a, const struct principal *p, int role, int64_t node_id);

/* Revocations this process made itself, applied to its own principals
 * before the reply (other processes follow by NOTIFY). */
void auth_revoke_session(struct auth *a, const uint8_t hash[PRINCIPAL_HASH_SIZE]);
void auth_revoke_account(struct auth *a, int64_t account_id);
void auth_revoke_key(struct auth *a, const char *key_id);
/* Drops one grant from the account's live principals. */
void auth_revoke_grant(struct auth *a, int64_t account_id, int role, int64_t node_id);
/* Re-reads the account's grants and status for its live principals. */
void auth_reload_account(struct auth *a, int64_t account_id);

/* Per-address throttling of failed logins. peer is "HOST:PORT". */
int auth_throttle_check(struct auth *a, const char *peer, int64_t now_ms, int64_t *ret_wait_ms);
void auth_throttle_fail(struct auth *a, const char *peer, int64_t now_ms);
void auth_throttle_clear(struct auth *a, const char *peer);

/* Wall-clock milliseconds. */
int64_t auth_now_ms(void);
/* Password rules for new passwords; NULL when fine, else the reason. */
const char *auth_check_password(const char *password);
const char *auth_check_username(const char *username);
