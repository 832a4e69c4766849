/* The accounts domain: who may do what where.
 *
 * Holds the live principals (struct principal) of this process, checks
 * every call against the dispatch table before its handler runs
 * (auth_check_call), follows changes made by other gridd processes (NOTIFY
 * auth_changed), and implements the account, session and API key calls.
 * server.c creates and stops it; rpc.c calls auth_check_call; handlers of
 * every domain ask auth_allows() for checks beyond the call's main target.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

struct auth;
struct config;
struct principal;
struct rpc_call;
struct rpc_method;
struct server;
struct tree_node;

int auth_create(struct server *srv, struct auth **ret_auth, char *err, size_t errlen);
/* Once the pool exists: registers the statements. */
int auth_start(struct auth *a);
/* Stops before the pool closes: waiting password hashes are cancelled. */
void auth_stop(struct auth *a);
void auth_destroy(struct auth *a);

/* NOTIFY auth_changed with its payload, and the listener's (re)connect. */
void auth_on_notify(struct auth *a, const char *payload);
void auth_refresh(struct auth *a);

/* Before every handler: is the caller logged in (unless the call is
 * anonymous), is its session alive, may it make this call on this call's
 * target node? Returns 0, or fails the call and returns a negative errno.
 * An unknown node and a node outside the caller's subtree get the same
 * answer, so nobody learns what exists outside their part of the grid. */
int auth_check_call(struct rpc_call *call, const struct rpc_method *m);

/* The caller (NULL for anonymous calls). Borrowed. */
struct principal *auth_principal(const struct rpc_call *call);
/* Whether p holds perm on n (n NULL: on the whole grid). */
bool auth_allows(const struct auth *a, const struct principal *p, unsigned perm,
		 const struct tree_node *n);
/* Whether p holds perm anywhere. */
bool auth_allows_somewhere(const struct principal *p, unsigned perm);
/* The nodes under which the caller holds perm, as an SQL bigint[] literal
 * ("{12,57}", "{}" for none) in the call's arena, or NULL when it holds perm
 * on the whole grid. For SQL that checks scopes itself. */
const char *auth_scope_param(struct rpc_call *call, unsigned perm);
/* How the audit trail names the caller: "alice", "gk_7Hq2xZ9p", or
 * "anonymous". */
const char *auth_actor(const struct principal *p);

/* `gridd bootstrap-admin`: creates the first district admin (whole grid)
 * with the blocking connection pg. Refuses when any account exists. */
int auth_bootstrap_admin(PGconn *pg, const struct config *cfg, const char *username,
			 const char *display_name, const char *password, char *err, size_t errlen);

void auth_login(struct rpc_call *call);
void auth_authenticate(struct rpc_call *call);
void auth_logout(struct rpc_call *call);
void auth_whoami(struct rpc_call *call);
void auth_change_password(struct rpc_call *call);
void auth_create_user(struct rpc_call *call);
void auth_list_users(struct rpc_call *call);
void auth_set_user_disabled(struct rpc_call *call);
void auth_grant_role(struct rpc_call *call);
void auth_revoke_role(struct rpc_call *call);
void auth_create_api_key(struct rpc_call *call);
void auth_list_api_keys(struct rpc_call *call);
void auth_revoke_api_key(struct rpc_call *call);
