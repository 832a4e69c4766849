/* The permission matrix, generated from the dispatch table: every method
 * called by principals holding each role at the target node, at its
 * ancestor, at a sibling and at a descendant, by API keys placed the same
 * way, with no session, with an expired session and with a revoked key. The
 * expected answer of each cell follows from the table's permission and the
 * role policy (server/auth/perm.c), and is asserted against a real gridd.
 *
 * Requests are built to be harmless when allowed (a bad field the handler
 * rejects after the permission check), so "allowed" shows as any answer but
 * PERMISSION_DENIED or UNAUTHENTICATED, and nothing changes between cells.
 * A method added to the table without a builder here fails the test.
 */
#include <stdio.h>
#include <time.h>

#include "server/auth/perm.h"
#include "server/rpc/rpc.h"
#include "tests/harness/itest.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define PASSWORD "matrix-password-1"

/* The target: zone 5 of 桐梓林社区, which has children. */
#define TARGET "WH-TZL-Z5"
static const char *const positions[] = {"WH-TZL-Z5", "WH-TZL", "WH-TZL-Z4", "WH-TZL-Z5-ZTY"};
static const char *const position_names[] = {"target", "ancestor", "sibling", "descendant"};
enum { AT_TARGET, AT_ANCESTOR, AT_SIBLING, AT_DESCENDANT, NPOS };

/* How a method's answer depends on where the caller stands. */
enum scope {
	ANONYMOUS,  /* no session needed */
	SELF,	    /* any logged-in principal */
	NODE,	    /* the permission on TARGET (or above it) */
	ANYWHERE,   /* the permission anywhere (the handler filters) */
	WHOLE_GRID, /* the permission on the whole grid: no grant here has it */
};

/* A request for the method, harmless when allowed; fresh session needed for
 * calls that end it. */
struct builder {
	Grid__V1__Request__CallCase call;
	enum scope scope;
	void (*build)(Grid__V1__Request *req, void *mem);
	bool ends_session;
	unsigned decides; /* when the table's permission admits more than the
			     handler lets through: the one that decides */
};

/* Everything a builder points into lives in one static block per call. */
union msg {
	Grid__V1__Hello hello;
	Grid__V1__Ping ping;
	Grid__V1__GetNodeRequest get_node;
	Grid__V1__ListChildrenRequest list_children;
	Grid__V1__GetSubtreeRequest get_subtree;
	Grid__V1__GetAncestorsRequest get_ancestors;
	Grid__V1__FindNodesRequest find_nodes;
	Grid__V1__ExportGridRequest export_grid;
	Grid__V1__CreateNodeRequest create_node;
	Grid__V1__RenameNodeRequest rename_node;
	Grid__V1__SetLeaderRequest set_leader;
	Grid__V1__MoveNodeRequest move_node;
	Grid__V1__RetireNodeRequest retire_node;
	Grid__V1__ImportGridRequest import_grid;
	Grid__V1__LoginRequest login;
	Grid__V1__AuthenticateRequest authenticate;
	Grid__V1__LogoutRequest logout;
	Grid__V1__WhoAmIRequest who_am_i;
	Grid__V1__ChangePasswordRequest change_password;
	Grid__V1__CreateUserRequest create_user;
	Grid__V1__ListUsersRequest list_users;
	Grid__V1__SetUserDisabledRequest set_user_disabled;
	Grid__V1__GrantRoleRequest grant_role;
	Grid__V1__RevokeRoleRequest revoke_role;
	Grid__V1__CreateApiKeyRequest create_api_key;
	Grid__V1__ListApiKeysRequest list_api_keys;
	Grid__V1__RevokeApiKeyRequest revoke_api_key;
	Grid__V1__ListAuditRequest list_audit;
	Grid__V1__VerifyAuditRequest verify_audit;
	Grid__V1__SubscribeRequest subscribe;
	Grid__V1__UnsubscribeRequest unsubscribe;
	Grid__V1__ListEventsRequest list_events;
	Grid__V1__RaiseCaseRequest raise_case;
	Grid__V1__GetCaseRequest get_case;
	Grid__V1__ListCasesRequest list_cases;
	Grid__V1__CaseNoteRequest note;
	Grid__V1__VoidCaseRequest void_case;
	Grid__V1__CloseCaseRequest close_case;
	Grid__V1__SendDownCaseRequest send_down_case;
	Grid__V1__CaseCallbackRequest case_callback;
	Grid__V1__ClaimCaseRequest claim_case;
	Grid__V1__CaseReportRequest case_report;
	Grid__V1__AdvanceClockRequest advance_clock;
	Grid__V1__IssueTaskRequest issue_task;
	Grid__V1__GetTaskRequest get_task;
	Grid__V1__ListTasksRequest list_tasks;
	Grid__V1__ListAssignmentsRequest list_assignments;
	Grid__V1__AssignmentRequest acknowledge_assignment;
	Grid__V1__CompleteAssignmentRequest complete_assignment;
	Grid__V1__CancelTaskRequest cancel_task;
	Grid__V1__ExtendTaskRequest extend_task;
	Grid__V1__TaskProgressRequest task_progress;
};

static Grid__V1__RoleGrant bad_grant;
static char revoked_key_id[32];
/* A case at TARGET, voided during setup: no transition applies to it. */
static uint64_t voided_case;
/* A task issued at TARGET, cancelled during setup: cancelling or extending
 * it again is refused after the permission check on its node. */
static uint64_t cancelled_task;

#define B(name, NAME, init, ...)                                                                   \
	static void build_##name(Grid__V1__Request *req, void *mem)                                \
	{                                                                                          \
		union msg *m = mem;                                                                \
		init(&m->name);                                                                    \
		__VA_ARGS__;                                                                       \
		req->call_case = GRID__V1__REQUEST__CALL_##NAME;                                   \
		req->name = &m->name;                                                              \
	}

B(hello, HELLO, grid__v1__hello__init, m->hello.protocol_version = 1)
B(ping, PING, grid__v1__ping__init, (void)0)
B(get_node, GET_NODE, grid__v1__get_node_request__init, m->get_node.code = (char *)TARGET)
B(list_children, LIST_CHILDREN, grid__v1__list_children_request__init,
  m->list_children.code = (char *)TARGET)
B(get_subtree, GET_SUBTREE, grid__v1__get_subtree_request__init,
  m->get_subtree.code = (char *)TARGET)
B(get_ancestors, GET_ANCESTORS, grid__v1__get_ancestors_request__init,
  m->get_ancestors.code = (char *)TARGET)
B(find_nodes, FIND_NODES, grid__v1__find_nodes_request__init,
  m->find_nodes.within_code = (char *)TARGET;
  m->find_nodes.query = (char *)"院")
B(export_grid, EXPORT_GRID, grid__v1__export_grid_request__init,
  m->export_grid.code = (char *)TARGET)
/* Writes: a field the handler refuses, after the permission check. */
B(create_node, CREATE_NODE, grid__v1__create_node_request__init,
  m->create_node.parent_code = (char *)TARGET;
  m->create_node.code = (char *)"bad code!"; m->create_node.name = (char *)"x")
B(rename_node, RENAME_NODE, grid__v1__rename_node_request__init,
  m->rename_node.code = (char *)TARGET;
  m->rename_node.name = (char *)"")
B(set_leader, SET_LEADER, grid__v1__set_leader_request__init, m->set_leader.code = (char *)TARGET;
  m->set_leader.leader_phone = (char *)"not a phone")
B(move_node, MOVE_NODE, grid__v1__move_node_request__init, m->move_node.code = (char *)TARGET;
  m->move_node.new_parent_code = (char *)TARGET)
B(retire_node, RETIRE_NODE, grid__v1__retire_node_request__init,
  m->retire_node.code = (char *)TARGET)
B(import_grid, IMPORT_GRID, grid__v1__import_grid_request__init,
  m->import_grid.csv.data = (uint8_t *)"not,a,roster\n";
  m->import_grid.csv.len = 13)
B(login, LOGIN, grid__v1__login_request__init, (void)0)
B(authenticate, AUTHENTICATE, grid__v1__authenticate_request__init, (void)0)
B(logout, LOGOUT, grid__v1__logout_request__init, (void)0)
B(who_am_i, WHO_AM_I, grid__v1__who_am_irequest__init, (void)0)
B(change_password, CHANGE_PASSWORD, grid__v1__change_password_request__init,
  m->change_password.old_password = (char *)PASSWORD;
  m->change_password.new_password = (char *)"short")
B(create_user, CREATE_USER, grid__v1__create_user_request__init,
  m->create_user.username = (char *)"Bad Name";
  m->create_user.password = (char *)PASSWORD)
B(list_users, LIST_USERS, grid__v1__list_users_request__init,
  m->list_users.node_code = (char *)TARGET)
/* Enabling an enabled user whose only role is on TARGET: no change. */
B(set_user_disabled, SET_USER_DISABLED, grid__v1__set_user_disabled_request__init,
  m->set_user_disabled.username = (char *)"target-user")
B(grant_role, GRANT_ROLE, grid__v1__grant_role_request__init,
  m->grant_role.username = (char *)"target-user";
  m->grant_role.grant = &bad_grant)
B(revoke_role, REVOKE_ROLE, grid__v1__revoke_role_request__init,
  m->revoke_role.username = (char *)"target-user";
  m->revoke_role.grant = &bad_grant)
B(create_api_key, CREATE_API_KEY, grid__v1__create_api_key_request__init,
  m->create_api_key.node_code = (char *)TARGET;
  m->create_api_key.name = (char *)"")
B(list_api_keys, LIST_API_KEYS, grid__v1__list_api_keys_request__init, (void)0)
/* A key on TARGET revoked during setup: allowed means "already revoked". */
B(revoke_api_key, REVOKE_API_KEY, grid__v1__revoke_api_key_request__init,
  m->revoke_api_key.id = revoked_key_id)
B(list_audit, LIST_AUDIT, grid__v1__list_audit_request__init,
  m->list_audit.node_code = (char *)TARGET;
  m->list_audit.page_size = 5)
B(verify_audit, VERIFY_AUDIT, grid__v1__verify_audit_request__init, (void)0)
/* Events: a kind the handler refuses; a short listing. */
static char *bad_kinds[] = {(char *)"Not A Kind"};
B(subscribe, SUBSCRIBE, grid__v1__subscribe_request__init, m->subscribe.node_code = (char *)TARGET;
  m->subscribe.n_kinds = 1; m->subscribe.kinds = bad_kinds)
B(unsubscribe, UNSUBSCRIBE, grid__v1__unsubscribe_request__init, (void)0)
B(list_events, LIST_EVENTS, grid__v1__list_events_request__init,
  m->list_events.node_code = (char *)TARGET;
  m->list_events.limit = 5)
B(raise_case, RAISE_CASE, grid__v1__raise_case_request__init,
  m->raise_case.node_code = (char *)TARGET;
  m->raise_case.title = (char *)"")
B(get_case, GET_CASE, grid__v1__get_case_request__init, m->get_case.id = voided_case)
B(list_cases, LIST_CASES, grid__v1__list_cases_request__init,
  m->list_cases.node_code = (char *)TARGET)
B(void_case, VOID_CASE, grid__v1__void_case_request__init, m->void_case.id = voided_case;
  m->void_case.reason = GRID__V1__VOID_REASON__VOID_INVALID)
B(close_case, CLOSE_CASE, grid__v1__close_case_request__init, m->close_case.id = voided_case;
  m->close_case.outcome = GRID__V1__CASE_OUTCOME__OUTCOME_WITHDRAWN)
B(send_down_case, SEND_DOWN_CASE, grid__v1__send_down_case_request__init,
  m->send_down_case.id = voided_case;
  m->send_down_case.to_node_code = (char *)"WH-TZL-Z5-ZTY")
B(case_callback, CASE_CALLBACK, grid__v1__case_callback_request__init,
  m->case_callback.id = voided_case;
  m->case_callback.satisfaction = 3)
B(claim_case, CLAIM_CASE, grid__v1__claim_case_request__init,
  m->claim_case.node_code = (char *)TARGET)
B(case_report, CASE_REPORT, grid__v1__case_report_request__init,
  m->case_report.node_code = (char *)TARGET)
B(advance_clock, ADVANCE_CLOCK, grid__v1__advance_clock_request__init, (void)0)

/* Tasks: a missing field, or the cancelled task. GetTask's reach goes
 * below its node (a building head sees the district's task), so it is
 * asked about no task: its permission anywhere lets it through. */
B(issue_task, ISSUE_TASK, grid__v1__issue_task_request__init,
  m->issue_task.node_code = (char *)TARGET;
  m->issue_task.title = (char *)"")
B(get_task, GET_TASK, grid__v1__get_task_request__init, (void)0)
B(list_tasks, LIST_TASKS, grid__v1__list_tasks_request__init,
  m->list_tasks.node_code = (char *)TARGET)
B(list_assignments, LIST_ASSIGNMENTS, grid__v1__list_assignments_request__init,
  m->list_assignments.node_code = (char *)TARGET)
B(acknowledge_assignment, ACKNOWLEDGE_ASSIGNMENT, grid__v1__assignment_request__init,
  m->acknowledge_assignment.node_code = (char *)TARGET)
B(complete_assignment, COMPLETE_ASSIGNMENT, grid__v1__complete_assignment_request__init,
  m->complete_assignment.node_code = (char *)TARGET)
B(cancel_task, CANCEL_TASK, grid__v1__cancel_task_request__init, m->cancel_task.id = cancelled_task)
B(extend_task, EXTEND_TASK, grid__v1__extend_task_request__init, m->extend_task.id = cancelled_task;
  m->extend_task.due_at_ms = ((int64_t)time(NULL) + 30 * 86400) * 1000)
B(task_progress, TASK_PROGRESS, grid__v1__task_progress_request__init,
  m->task_progress.node_code = (char *)TARGET)

/* The transitions that take only a case and a note, on the voided case. */
#define NOTE(name, NAME)                                                                           \
	static void build_##name(Grid__V1__Request *req, void *mem)                                \
	{                                                                                          \
		union msg *m = mem;                                                                \
		grid__v1__case_note_request__init(&m->note);                                       \
		m->note.id = voided_case;                                                          \
		m->note.note = (char *)"matrix";                                                   \
		req->call_case = GRID__V1__REQUEST__CALL_##NAME;                                   \
		req->name = &m->note;                                                              \
	}
NOTE(register_case, REGISTER_CASE)
NOTE(accept_case, ACCEPT_CASE)
NOTE(start_case, START_CASE)
NOTE(resolve_case, RESOLVE_CASE)
NOTE(check_case, CHECK_CASE)
NOTE(rework_case, REWORK_CASE)
NOTE(escalate_case, ESCALATE_CASE)
NOTE(suspend_case, SUSPEND_CASE)
NOTE(resume_case, RESUME_CASE)
NOTE(reopen_case, REOPEN_CASE)

#define E(NAME, scope, name, ...)                                                                  \
	{                                                                                          \
		GRID__V1__REQUEST__CALL_##NAME, scope, build_##name, __VA_ARGS__                   \
	}

static const struct builder builders[] = {
    E(HELLO, ANONYMOUS, hello, false),
    E(PING, ANONYMOUS, ping, false),
    E(GET_NODE, NODE, get_node, false),
    E(LIST_CHILDREN, NODE, list_children, false),
    E(GET_SUBTREE, NODE, get_subtree, false),
    E(GET_ANCESTORS, NODE, get_ancestors, false),
    E(FIND_NODES, NODE, find_nodes, false),
    E(EXPORT_GRID, NODE, export_grid, false),
    E(CREATE_NODE, NODE, create_node, false),
    E(RENAME_NODE, NODE, rename_node, false),
    E(SET_LEADER, NODE, set_leader, false),
    E(MOVE_NODE, NODE, move_node, false),
    E(RETIRE_NODE, NODE, retire_node, false),
    E(IMPORT_GRID, ANYWHERE, import_grid, false),
    E(LOGIN, ANONYMOUS, login, false),
    E(AUTHENTICATE, ANONYMOUS, authenticate, false),
    E(LOGOUT, SELF, logout, true),
    E(WHO_AM_I, SELF, who_am_i, false),
    E(CHANGE_PASSWORD, SELF, change_password, false),
    E(CREATE_USER, ANYWHERE, create_user, false),
    E(LIST_USERS, NODE, list_users, false),
    E(SET_USER_DISABLED, NODE, set_user_disabled, false),
    E(GRANT_ROLE, NODE, grant_role, false),
    E(REVOKE_ROLE, NODE, revoke_role, false),
    E(CREATE_API_KEY, NODE, create_api_key, false),
    E(LIST_API_KEYS, ANYWHERE, list_api_keys, false),
    E(REVOKE_API_KEY, NODE, revoke_api_key, false),
    E(LIST_AUDIT, NODE, list_audit, false),
    E(VERIFY_AUDIT, ANYWHERE, verify_audit, false),
    /* case.read or task.read on the node opens its events. */
    E(SUBSCRIBE, NODE, subscribe, false),
    E(UNSUBSCRIBE, SELF, unsubscribe, false),
    E(LIST_EVENTS, NODE, list_events, false),
    E(RAISE_CASE, NODE, raise_case, false),
    /* Any caser reads its own case; this one was raised by the admin. */
    E(GET_CASE, NODE, get_case, false, PERM_CASE_READ),
    E(LIST_CASES, NODE, list_cases, false),
    E(REGISTER_CASE, NODE, register_case, false),
    E(VOID_CASE, NODE, void_case, false),
    E(ACCEPT_CASE, NODE, accept_case, false),
    E(START_CASE, NODE, start_case, false),
    E(RESOLVE_CASE, NODE, resolve_case, false),
    E(CHECK_CASE, NODE, check_case, false),
    E(CLOSE_CASE, NODE, close_case, false),
    E(REWORK_CASE, NODE, rework_case, false),
    E(ESCALATE_CASE, NODE, escalate_case, false),
    E(SEND_DOWN_CASE, NODE, send_down_case, false),
    E(SUSPEND_CASE, NODE, suspend_case, false),
    E(RESUME_CASE, NODE, resume_case, false),
    E(REOPEN_CASE, NODE, reopen_case, false),
    /* The reporter calls back too; others need to handle cases. */
    E(CASE_CALLBACK, NODE, case_callback, false, PERM_CASE_HANDLE),
    E(CLAIM_CASE, NODE, claim_case, false),
    E(CASE_REPORT, NODE, case_report, false),
    E(ISSUE_TASK, NODE, issue_task, false),
    E(GET_TASK, ANYWHERE, get_task, false),
    E(LIST_TASKS, NODE, list_tasks, false),
    E(LIST_ASSIGNMENTS, NODE, list_assignments, false),
    E(ACKNOWLEDGE_ASSIGNMENT, NODE, acknowledge_assignment, false),
    E(COMPLETE_ASSIGNMENT, NODE, complete_assignment, false),
    E(CANCEL_TASK, NODE, cancel_task, false),
    E(EXTEND_TASK, NODE, extend_task, false),
    E(TASK_PROGRESS, NODE, task_progress, false),
    E(ADVANCE_CLOCK, WHOLE_GRID, advance_clock, false),
};
#define NBUILDERS (sizeof(builders) / sizeof(builders[0]))

static const struct builder *builder_for(Grid__V1__Request__CallCase call)
{
	for (size_t i = 0; i < NBUILDERS; i++)
		if (builders[i].call == call)
			return &builders[i];
	return NULL;
}

TEST(every_method_has_a_matrix_row)
{
	for (size_t i = 0; i < rpc_nmethods; i++) {
		const struct rpc_method *m = &rpc_methods[i];
		const struct builder *b = builder_for(m->call);
		ASSERT_MSG(b != NULL, "method %s has no row in the permission matrix", m->name);
		/* The row's idea of the method must match the table's. */
		if (m->perm == PERM_NONE)
			ASSERT_MSG(b->scope == ANONYMOUS, "%s is anonymous in the table", m->name);
		else if (m->perm == PERM_SELF)
			ASSERT_MSG(b->scope == SELF, "%s is for any session in the table", m->name);
		else
			ASSERT_MSG(b->scope == NODE || b->scope == ANYWHERE ||
				       b->scope == WHOLE_GRID,
				   "%s needs %s in the table", m->name, perm_name(m->perm));
	}
	/* Only these four calls may be made without logging in. */
	for (size_t i = 0; i < rpc_nmethods; i++) {
		const struct rpc_method *m = &rpc_methods[i];
		bool open = m->call == GRID__V1__REQUEST__CALL_HELLO ||
			    m->call == GRID__V1__REQUEST__CALL_PING ||
			    m->call == GRID__V1__REQUEST__CALL_LOGIN ||
			    m->call == GRID__V1__REQUEST__CALL_AUTHENTICATE;
		ASSERT_MSG((m->perm == PERM_NONE) == open, "%s: anonymous access", m->name);
	}
}

/* --- the live matrix ------------------------------------------------------ */

struct world {
	struct itest_fix base; /* the sample grid and its admin */
	/* tokens[role][position]; role 0 unused; ROLE_CITY_SYSTEM = API keys */
	char tokens[ROLE_MAX + 1][NPOS][128];
	char expired_token[128];
	char revoked_key[128];
};

static Grid__V1__Reply *call_admin(struct world *w, Grid__V1__Request *req)
{
	return itest_call(w->base.admin, req);
}

static void create_key(struct world *w, const char *node, char *ret_key, char *ret_id)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateApiKeyRequest m = GRID__V1__CREATE_API_KEY_REQUEST__INIT;
	Grid__V1__Reply *r;

	m.name = (char *)"matrix key";
	m.node_code = (char *)node;
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_API_KEY;
	req.create_api_key = &m;
	r = call_admin(w, &req);
	ASSERT_MSG(itest_code(r) == 0, "CreateApiKey: %s", r->status->message);
	snprintf(ret_key, 128, "%s", r->create_api_key->key);
	if (ret_id)
		snprintf(ret_id, 32, "%s", r->create_api_key->api_key->id);
	grid_client_reply_free(r);
}

static void revoke_key(struct world *w, const char *id)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RevokeApiKeyRequest m = GRID__V1__REVOKE_API_KEY_REQUEST__INIT;
	Grid__V1__Reply *r;

	m.id = (char *)id;
	req.call_case = GRID__V1__REQUEST__CALL_REVOKE_API_KEY;
	req.revoke_api_key = &m;
	r = call_admin(w, &req);
	ASSERT_EQ_INT(itest_code(r), 0);
	grid_client_reply_free(r);
}

static uint64_t void_a_case(struct world *w)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RaiseCaseRequest rc = GRID__V1__RAISE_CASE_REQUEST__INIT;
	Grid__V1__VoidCaseRequest vc = GRID__V1__VOID_CASE_REQUEST__INIT;
	Grid__V1__Reply *r;
	uint64_t id;

	rc.node_code = (char *)TARGET;
	rc.title = (char *)"matrix case";
	rc.category = (char *)"other";
	req.call_case = GRID__V1__REQUEST__CALL_RAISE_CASE;
	req.raise_case = &rc;
	r = call_admin(w, &req);
	ASSERT_MSG(itest_code(r) == 0, "RaiseCase: %s", r->status->message);
	id = r->raise_case->id;
	grid_client_reply_free(r);
	vc.id = id;
	vc.reason = GRID__V1__VOID_REASON__VOID_INVALID;
	req.call_case = GRID__V1__REQUEST__CALL_VOID_CASE;
	req.void_case = &vc;
	r = call_admin(w, &req);
	ASSERT_MSG(itest_code(r) == 0, "VoidCase: %s", r->status->message);
	grid_client_reply_free(r);
	return id;
}

static uint64_t cancel_a_task(struct world *w)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__IssueTaskRequest it = GRID__V1__ISSUE_TASK_REQUEST__INIT;
	Grid__V1__CancelTaskRequest ct = GRID__V1__CANCEL_TASK_REQUEST__INIT;
	Grid__V1__Reply *r;
	uint64_t id;

	it.node_code = (char *)TARGET;
	it.title = (char *)"matrix task";
	it.target_level = (char *)"courtyard";
	it.due_at_ms = ((int64_t)time(NULL) + 86400) * 1000;
	req.call_case = GRID__V1__REQUEST__CALL_ISSUE_TASK;
	req.issue_task = &it;
	r = call_admin(w, &req);
	ASSERT_MSG(itest_code(r) == 0, "IssueTask: %s", r->status->message);
	id = r->issue_task->id;
	grid_client_reply_free(r);
	ct.id = id;
	req.call_case = GRID__V1__REQUEST__CALL_CANCEL_TASK;
	req.cancel_task = &ct;
	r = call_admin(w, &req);
	ASSERT_MSG(itest_code(r) == 0, "CancelTask: %s", r->status->message);
	grid_client_reply_free(r);
	return id;
}

static void login_as(struct world *w, const char *user, char *ret_token)
{
	struct grid_client *c = itest_connect_anonymous(&w->base.g);

	ASSERT_EQ_INT(itest_login(c, user, PASSWORD, ret_token), 0);
	grid_client_destroy(c);
}

static void build_world(struct world *w)
{
	char name[64];

	itest_setup(&w->base, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(w->base.admin, "target-user", PASSWORD, GRID__V1__ROLE__ROLE_RESIDENT,
			  TARGET);
	bad_grant = (Grid__V1__RoleGrant)GRID__V1__ROLE_GRANT__INIT;
	bad_grant.role = (Grid__V1__Role)99;
	bad_grant.node_code = (char *)TARGET;

	for (int role = ROLE_MIN; role <= ROLE_MAX; role++) {
		for (int pos = 0; pos < NPOS; pos++) {
			if (role == GRID__V1__ROLE__ROLE_CITY_SYSTEM) {
				create_key(w, positions[pos], w->tokens[role][pos], NULL);
				continue;
			}
			snprintf(name, sizeof(name), "r%d-%s", role, position_names[pos]);
			itest_create_user(w->base.admin, name, PASSWORD, role, positions[pos]);
			login_as(w, name, w->tokens[role][pos]);
		}
	}
	/* A key on TARGET, revoked: RevokeApiKey's harmless target. */
	create_key(w, TARGET, w->revoked_key, revoked_key_id);
	revoke_key(w, revoked_key_id);
	voided_case = void_a_case(w);
	cancelled_task = cancel_a_task(w);
	/* A session, expired in the database. */
	itest_create_user(w->base.admin, "expired", PASSWORD, GRID__V1__ROLE__ROLE_DISTRICT_ADMIN,
			  "");
	login_as(w, "expired", w->expired_token);
	free(itest_sql(w->base.db.url,
		       "UPDATE session SET expires_at = now() - interval '1 second' "
		       "WHERE account_id = (SELECT id FROM account WHERE username = 'expired')"));
}

static int cell(struct world *w, const char *token, const struct builder *b)
{
	struct grid_client *c = itest_connect_anonymous(&w->base.g);
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	static union msg mem;
	int code;

	if (token)
		(void)itest_authenticate(c, token);
	b->build(&req, &mem);
	code = itest_code_free(itest_call(c, &req));
	grid_client_destroy(c);
	return code;
}

static bool denied(int code)
{
	return code == CODE(PERMISSION_DENIED) || code == CODE(UNAUTHENTICATED);
}

TEST(matrix)
{
	static struct world w;
	int cells = 0, wrong = 0;

	build_world(&w);
	for (size_t i = 0; i < rpc_nmethods; i++) {
		const struct rpc_method *m = &rpc_methods[i];
		const struct builder *b = builder_for(m->call);

		if (b->scope == ANONYMOUS || b->ends_session)
			continue;
		for (int role = ROLE_MIN; role <= ROLE_MAX; role++) {
			unsigned perms = perm_of_role(role);
			for (int pos = 0; pos < NPOS; pos++) {
				unsigned need = b->decides ? b->decides : m->perm;
				bool expect;
				switch (b->scope) {
				case SELF:
					expect = true;
					break;
				case ANYWHERE:
					expect = (perms & need) != 0;
					break;
				case WHOLE_GRID:
					expect = false; /* every grant here is on a node */
					break;
				default:
					expect = (perms & need) &&
						 (pos == AT_TARGET || pos == AT_ANCESTOR);
					break;
				}
				/* API keys act as city_system and have no password. */
				if (role == GRID__V1__ROLE__ROLE_CITY_SYSTEM &&
				    m->call == GRID__V1__REQUEST__CALL_CHANGE_PASSWORD)
					expect = false;
				int code = cell(&w, w.tokens[role][pos], b);
				cells++;
				if (expect == denied(code)) {
					wrong++;
					fprintf(stderr, "%s as %s at %s: got %d, expected %s\n",
						m->name, perm_role_name(role), position_names[pos],
						code, expect ? "allowed" : "denied");
				}
			}
		}
		/* No session, an expired session, a revoked key: never. */
		int code = cell(&w, NULL, b);
		ASSERT_MSG(code == CODE(UNAUTHENTICATED), "%s without session: %d", m->name, code);
		code = cell(&w, w.expired_token, b);
		ASSERT_MSG(code == CODE(UNAUTHENTICATED), "%s with expired session: %d", m->name,
			   code);
		code = cell(&w, w.revoked_key, b);
		ASSERT_MSG(code == CODE(UNAUTHENTICATED), "%s with revoked key: %d", m->name, code);
		cells += 3;
	}
	fprintf(stderr, "%d cells checked\n", cells);
	ASSERT_EQ_INT(wrong, 0);
	ASSERT(cells > 700);

	/* Logout, last: it ends each session it is called with. */
	const struct builder *lo = builder_for(GRID__V1__REQUEST__CALL_LOGOUT);
	ASSERT_EQ_INT(cell(&w, NULL, lo), CODE(UNAUTHENTICATED));
	ASSERT_EQ_INT(cell(&w, w.expired_token, lo), CODE(UNAUTHENTICATED));
	ASSERT_EQ_INT(cell(&w, w.tokens[GRID__V1__ROLE__ROLE_RESIDENT][AT_SIBLING], lo), 0);
	/* ... and the session is gone for good. */
	ASSERT_EQ_INT(cell(&w, w.tokens[GRID__V1__ROLE__ROLE_RESIDENT][AT_SIBLING],
			   builder_for(GRID__V1__REQUEST__CALL_WHO_AM_I)),
		      CODE(UNAUTHENTICATED));

	itest_teardown(&w.base);
}

TEST(no_leak_of_what_exists_outside)
{
	struct itest_fix f;
	struct grid_client *c;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetNodeRequest m = GRID__V1__GET_NODE_REQUEST__INIT;
	Grid__V1__Reply *r1, *r2;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE | ITEST_WITH_ADMIN);
	itest_create_user(f.admin, "z4", PASSWORD, GRID__V1__ROLE__ROLE_ZONE_LEADER, "WH-TZL-Z4");
	c = itest_connect_anonymous(&f.g);
	ASSERT_EQ_INT(itest_login(c, "z4", PASSWORD, NULL), 0);
	req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
	req.get_node = &m;
	m.code = (char *)"WH-TZL-Z5";
	r1 = itest_call(c, &req);
	m.code = (char *)"WH-NO-SUCH-NODE";
	r2 = itest_call(c, &req);
	ASSERT_EQ_INT(itest_code(r1), CODE(PERMISSION_DENIED));
	ASSERT_EQ_INT(itest_code(r2), CODE(PERMISSION_DENIED));
	/* The messages differ only in the code asked for. */
	char a[256], b[256];
	snprintf(a, sizeof(a), "%s", r1->status->message);
	snprintf(b, sizeof(b), "%s", r2->status->message);
	char *pa = strstr(a, "WH-TZL-Z5"), *pb = strstr(b, "WH-NO-SUCH-NODE");
	ASSERT(pa && pb);
	memmove(pa, pa + strlen("WH-TZL-Z5"), strlen(pa + strlen("WH-TZL-Z5")) + 1);
	memmove(pb, pb + strlen("WH-NO-SUCH-NODE"), strlen(pb + strlen("WH-NO-SUCH-NODE")) + 1);
	ASSERT_EQ_STR(a, b);
	grid_client_reply_free(r1);
	grid_client_reply_free(r2);

	/* Its own zone it reads; "the top" is its zone. */
	Grid__V1__ListChildrenRequest lc = GRID__V1__LIST_CHILDREN_REQUEST__INIT;
	req.call_case = GRID__V1__REQUEST__CALL_LIST_CHILDREN;
	req.list_children = &lc;
	r1 = itest_call(c, &req);
	ASSERT_EQ_INT(itest_code(r1), 0);
	ASSERT_EQ_UINT(r1->list_children->n_nodes, 1);
	ASSERT_EQ_STR(r1->list_children->nodes[0]->code, "WH-TZL-Z4");
	grid_client_reply_free(r1);
	/* Searching everywhere searches its part only. */
	Grid__V1__FindNodesRequest fn = GRID__V1__FIND_NODES_REQUEST__INIT;
	fn.query = (char *)"栋";
	req.call_case = GRID__V1__REQUEST__CALL_FIND_NODES;
	req.find_nodes = &fn;
	r1 = itest_call(c, &req);
	ASSERT_EQ_INT(itest_code(r1), 0);
	ASSERT_EQ_UINT(r1->find_nodes->n_nodes, 2);
	for (size_t i = 0; i < r1->find_nodes->n_nodes; i++)
		ASSERT(strncmp(r1->find_nodes->nodes[i]->code, "WH-TZL-Z4-", 10) == 0);
	grid_client_reply_free(r1);

	grid_client_destroy(c);
	itest_teardown(&f);
}
