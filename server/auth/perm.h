/* Roles and what they allow. A role held on a node grants its permissions
 * over that node's subtree; the dispatch table (server/rpc/methods.c) names
 * the permission each call needs. One table here is the whole policy. Pure
 * data: used by auth.c, the user handlers and the permission tests.
 */
#pragma once

#include <stdbool.h>

enum perm {
	PERM_NONE = 0,		    /* anonymous calls: Hello, Ping, Login, ... */
	PERM_SELF = 1 << 0,	    /* any logged-in principal, about itself */
	PERM_GRID_READ = 1 << 1,    /* read nodes */
	PERM_GRID_EDIT = 1 << 2,    /* rename a node, set its leader */
	PERM_GRID_ADMIN = 1 << 3,   /* create, move, retire, import */
	PERM_USER_ADMIN = 1 << 4,   /* accounts and their roles */
	PERM_KEY_ADMIN = 1 << 5,    /* API keys of other city systems */
	PERM_AUDIT_READ = 1 << 6,   /* the audit trail */
	PERM_AUDIT_VERIFY = 1 << 7, /* check the audit chain */
	PERM_CASE_RAISE = 1 << 8,   /* raise a case at a node */
	PERM_CASE_READ = 1 << 9,    /* see cases, their events, reports */
	PERM_CASE_HANDLE = 1 << 10, /* register, void, accept, work, resolve, escalate */
	PERM_CASE_CHECK = 1 << 11,  /* check a resolution, close, send for rework */
	PERM_CASE_MANAGE = 1 << 12, /* send down, approve suspensions, reopen */
	PERM_TASK_ISSUE = 1 << 13,  /* issue, cancel, extend tasks */
	PERM_TASK_READ = 1 << 14,   /* see tasks and their progress */
	PERM_TASK_WORK = 1 << 15,   /* acknowledge and complete assignments */
};

#define ROLE_MIN 1
#define ROLE_MAX 9

/* Permissions of a role (Grid__V1__Role); 0 for an unknown one. */
unsigned perm_of_role(int role);
/* "district_admin", ...; "unknown" when out of range. */
const char *perm_role_name(int role);
/* Accepts "district_admin" or "district-admin"; -EINVAL when unknown. */
int perm_role_parse(const char *name, int *ret_role);
/* "grid.read", ... for messages; the lowest bit set wins. */
const char *perm_name(unsigned perm);
/* Whether a holder of role `granter` may hand out role `role` (on a node it
 * administers): nobody hands out more than they hold, and city_system is
 * for API keys only. */
bool perm_may_grant(int granter, int role);
