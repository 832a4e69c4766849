/* The dispatch table: every call of the protocol, its handler, the
 * permission it needs and the node it is about. rpc.c indexes it by the
 * call's field number at start and checks the permission on the target
 * before any handler runs (auth_check_call); a call missing here is answered
 * UNIMPLEMENTED, and tests/unit/test_dispatch.c fails. */
#include "server/audit/audit.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/case/case.h"
#include "server/event/event.h"
#include "server/grid/grid.h"
#include "server/rpc/rpc.h"
#include "server/rpc/session.h"
#include "server/task/task.h"

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
TARGET(raise_case, node_code)
TARGET(list_cases, node_code)
TARGET(claim_case, node_code)
TARGET(case_report, node_code)
TARGET(subscribe, node_code)
TARGET(list_events, node_code)
TARGET(issue_task, node_code)
TARGET(list_tasks, node_code)
TARGET(list_assignments, node_code)
TARGET(acknowledge_assignment, node_code)
TARGET(complete_assignment, node_code)
TARGET(task_progress, node_code)

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

    /* Cases (server/case/). Calls naming a case number are checked in SQL
     * against the caller's part of the grid (RPC_SCOPED: a permission
     * somewhere is enough to ask). */
    {CALL(RAISE_CASE), "RaiseCase", case_raise, W, PERM_CASE_RAISE, target_raise_case},
    {CALL(GET_CASE), "GetCase", case_get, S, PERM_CASE_READ | PERM_CASE_RAISE, NULL},
    {CALL(LIST_CASES), "ListCases", case_list, 0, PERM_CASE_READ, target_list_cases},
    {CALL(REGISTER_CASE), "RegisterCase", case_register, W | S, PERM_CASE_HANDLE, NULL},
    {CALL(VOID_CASE), "VoidCase", case_void, W | S, PERM_CASE_HANDLE, NULL},
    {CALL(ACCEPT_CASE), "AcceptCase", case_accept, W | S, PERM_CASE_HANDLE, NULL},
    {CALL(START_CASE), "StartCase", case_start_work, W | S, PERM_CASE_HANDLE, NULL},
    {CALL(RESOLVE_CASE), "ResolveCase", case_resolve, W | S, PERM_CASE_HANDLE, NULL},
    {CALL(CHECK_CASE), "CheckCase", case_check, W | S, PERM_CASE_CHECK, NULL},
    {CALL(CLOSE_CASE), "CloseCase", case_close, W | S, PERM_CASE_CHECK | PERM_CASE_HANDLE, NULL},
    {CALL(REWORK_CASE), "ReworkCase", case_rework, W | S, PERM_CASE_CHECK, NULL},
    {CALL(ESCALATE_CASE), "EscalateCase", case_escalate, W | S, PERM_CASE_HANDLE, NULL},
    {CALL(SEND_DOWN_CASE), "SendDownCase", case_send_down, W | S, PERM_CASE_MANAGE, NULL},
    {CALL(SUSPEND_CASE), "SuspendCase", case_suspend, W | S, PERM_CASE_HANDLE, NULL},
    {CALL(RESUME_CASE), "ResumeCase", case_resume, W | S, PERM_CASE_HANDLE, NULL},
    {CALL(REOPEN_CASE), "ReopenCase", case_reopen, W | S, PERM_CASE_MANAGE, NULL},
    {CALL(CASE_CALLBACK), "CaseCallback", case_callback, W | S, PERM_CASE_HANDLE | PERM_CASE_RAISE,
     NULL},
    {CALL(CLAIM_CASE), "ClaimCase", case_claim, W, PERM_CASE_HANDLE, target_claim_case},
    {CALL(CASE_REPORT), "CaseReport", case_report, 0, PERM_CASE_READ, target_case_report},

    /* Tasks (server/task/). Assignments are about their node. Calls naming
     * only a task id load it and check its node in the handler (RPC_SCOPED:
     * a permission somewhere is enough to ask), as does TaskProgress
     * without a node. */
    {CALL(ISSUE_TASK), "IssueTask", task_issue, W, PERM_TASK_ISSUE, target_issue_task},
    {CALL(GET_TASK), "GetTask", task_get, S, PERM_TASK_READ, NULL},
    {CALL(LIST_TASKS), "ListTasks", task_list, S, PERM_TASK_READ, target_list_tasks},
    {CALL(LIST_ASSIGNMENTS), "ListAssignments", task_list_assignments, S, PERM_TASK_READ,
     target_list_assignments},
    {CALL(ACKNOWLEDGE_ASSIGNMENT), "AcknowledgeAssignment", task_acknowledge, W, PERM_TASK_WORK,
     target_acknowledge_assignment},
    {CALL(COMPLETE_ASSIGNMENT), "CompleteAssignment", task_complete, W, PERM_TASK_WORK,
     target_complete_assignment},
    {CALL(CANCEL_TASK), "CancelTask", task_cancel, W | S, PERM_TASK_ISSUE, NULL},
    {CALL(EXTEND_TASK), "ExtendTask", task_extend, W | S, PERM_TASK_ISSUE, NULL},
    {CALL(TASK_PROGRESS), "TaskProgress", task_progress, S, PERM_TASK_READ, target_task_progress},

    /* Events (server/event/). Either right opens a subtree's events; which
     * ones the caller then sees is decided per event (case.read for case
     * events, task.read for task events). */
    {CALL(SUBSCRIBE), "Subscribe", event_subscribe, 0, PERM_CASE_READ | PERM_TASK_READ,
     target_subscribe},
    {CALL(UNSUBSCRIBE), "Unsubscribe", event_unsubscribe, 0, PERM_SELF, NULL},
    {CALL(LIST_EVENTS), "ListEvents", event_list, 0, PERM_CASE_READ | PERM_TASK_READ,
     target_list_events},

    /* Test builds only: a whole-grid administrator moves the clock. */
    {CALL(ADVANCE_CLOCK), "AdvanceClock", session_advance_clock, 0, PERM_GRID_ADMIN, NULL},
};

const size_t rpc_nmethods = sizeof(rpc_methods) / sizeof(rpc_methods[0]);
