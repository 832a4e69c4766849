/* The dispatch table: every call of the protocol, its handler, the
 * permission it needs and the node it is about. rpc.c indexes it by the
 * call's field number at start and checks the permission on the target
 * before any handler runs (auth_check_call); a call missing here is answered
 * UNIMPLEMENTED, and tests/unit/test_dispatch.c fails. */
#include "server/audit/audit.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/grid/grid.h"
#include "server/rpc/rpc.h"
#include "server/rpc/session.h"

#define CALL(name) GRID__V1__REQUEST__CALL_##name

/* target_<call>(): the node code a request is about. */
#define TARGET(call, expr)                                                                         \
	static const char *target_##call(const Grid__V1__Request *r)                               \
	{                                                                                          \
		return r->call->expr;                                                              \
	}

TARGET(get_node, code)
TARGET(list_children, code)
TARGET(get_subtree, code)
TARGET(get_ancestors, code)
TARGET(find_nodes, within_code)
TARGET(export_grid, code)
TARGET(create_node, parent_code)
TARGET(rename_node, code)
TARGET(set_leader, code)
TARGET(move_node, code)
TARGET(retire_node, code)
TARGET(list_users, node_code)
TARGET(create_api_key, node_code)
TARGET(list_audit, node_code)

static const char *target_grant_role(const Grid__V1__Request *r)
{
	return r->grant_role->grant ? r->grant_role->grant->node_code : "";
}

static const char *target_revoke_role(const Grid__V1__Request *r)
{
	return r->revoke_role->grant ? r->revoke_role->grant->node_code : "";
}

#define W RPC_WRITE
#define S RPC_SCOPED

const struct rpc_method rpc_methods[] = {
    {CALL(HELLO), "Hello", session_hello, RPC_BEFORE_HELLO, PERM_NONE, NULL},
    {CALL(PING), "Ping", session_ping, 0, PERM_NONE, NULL},

    {CALL(GET_NODE), "GetNode", grid_get_node, 0, PERM_GRID_READ, target_get_node},
    {CALL(LIST_CHILDREN), "ListChildren", grid_list_children, S, PERM_GRID_READ,
     target_list_children},
    {CALL(GET_SUBTREE), "GetSubtree", grid_get_subtree, 0, PERM_GRID_READ, target_get_subtree},
    {CALL(GET_ANCESTORS), "GetAncestors", grid_get_ancestors, 0, PERM_GRID_READ,
     target_get_ancestors},
    {CALL(FIND_NODES), "FindNodes", grid_find_nodes, S, PERM_GRID_READ, target_find_nodes},
    {CALL(EXPORT_GRID), "ExportGrid", grid_export, 0, PERM_GRID_READ, target_export_grid},
    {CALL(CREATE_NODE), "CreateNode", grid_create_node, W, PERM_GRID_ADMIN, target_create_node},
    {CALL(RENAME_NODE), "RenameNode", grid_rename_node, W, PERM_GRID_EDIT, target_rename_node},
    {CALL(SET_LEADER), "SetLeader", grid_set_leader, W, PERM_GRID_EDIT, target_set_leader},
    {CALL(MOVE_NODE), "MoveNode", grid_move_node, W, PERM_GRID_ADMIN, target_move_node},
    {CALL(RETIRE_NODE), "RetireNode", grid_retire_node, W, PERM_GRID_ADMIN, target_retire_node},
    {CALL(IMPORT_GRID), "ImportGrid", grid_import, W | S, PERM_GRID_ADMIN, NULL},

    {CALL(LOGIN), "Login", auth_login, W, PERM_NONE, NULL},
    {CALL(AUTHENTICATE), "Authenticate", auth_authenticate, 0, PERM_NONE, NULL},
    {CALL(LOGOUT), "Logout", auth_logout, W, PERM_SELF, NULL},
    {CALL(WHO_AM_I), "WhoAmI", auth_whoami, 0, PERM_SELF, NULL},
    {CALL(CHANGE_PASSWORD), "ChangePassword", auth_change_password, W, PERM_SELF, NULL},
    {CALL(CREATE_USER), "CreateUser", auth_create_user, W | S, PERM_USER_ADMIN, NULL},
    {CALL(LIST_USERS), "ListUsers", auth_list_users, S, PERM_USER_ADMIN, target_list_users},
    {CALL(SET_USER_DISABLED), "SetUserDisabled", auth_set_user_disabled, W | S, PERM_USER_ADMIN,
     NULL},
    {CALL(GRANT_ROLE), "GrantRole", auth_grant_role, W, PERM_USER_ADMIN, target_grant_role},
    {CALL(REVOKE_ROLE), "RevokeRole", auth_revoke_role, W, PERM_USER_ADMIN, target_revoke_role},
    {CALL(CREATE_API_KEY), "CreateApiKey", auth_create_api_key, W, PERM_KEY_ADMIN,
     target_create_api_key},
    {CALL(LIST_API_KEYS), "ListApiKeys", auth_list_api_keys, S, PERM_KEY_ADMIN, NULL},
    {CALL(REVOKE_API_KEY), "RevokeApiKey", auth_revoke_api_key, W | S, PERM_KEY_ADMIN, NULL},
    {CALL(LIST_AUDIT), "ListAudit", audit_list, S, PERM_AUDIT_READ, target_list_audit},
    {CALL(VERIFY_AUDIT), "VerifyAudit", audit_verify, S, PERM_AUDIT_VERIFY, NULL},
};

const size_t rpc_nmethods = sizeof(rpc_methods) / sizeof(rpc_methods[0]);
