/* The role policy; see perm.h. */
#include "server/auth/perm.h"

#include <errno.h>
#include <string.h>

#include "proto/auth.pb-c.h"

#define READ PERM_GRID_READ
#define EDIT (PERM_GRID_READ | PERM_GRID_EDIT)
#define CASES_ALL                                                                                  \
	(PERM_CASE_RAISE | PERM_CASE_READ | PERM_CASE_HANDLE | PERM_CASE_CHECK | PERM_CASE_MANAGE)
#define TASKS_ALL (PERM_TASK_ISSUE | PERM_TASK_READ | PERM_TASK_WORK)

/* Leaders handle the cases of their cell and check those of the cells
 * below; building heads handle and report; providers, evaluators and city
 * systems see what concerns them; residents raise. */
static const struct {
	const char *name;
	unsigned perms;
} roles[ROLE_MAX + 1] = {
    [GRID__V1__ROLE__ROLE_DISTRICT_ADMIN] = {"district_admin",
					     EDIT | PERM_GRID_ADMIN | PERM_USER_ADMIN |
						 PERM_KEY_ADMIN | PERM_AUDIT_READ |
						 PERM_AUDIT_VERIFY | CASES_ALL | TASKS_ALL},
    [GRID__V1__ROLE__ROLE_COMMUNITY_STAFF] = {"community_staff",
					      EDIT | PERM_GRID_ADMIN | PERM_USER_ADMIN |
						  PERM_AUDIT_READ | CASES_ALL | TASKS_ALL},
    [GRID__V1__ROLE__ROLE_ZONE_LEADER] = {"zone_leader", EDIT | CASES_ALL | TASKS_ALL},
    [GRID__V1__ROLE__ROLE_COURTYARD_REP] = {"courtyard_rep", EDIT | CASES_ALL | TASKS_ALL},
    [GRID__V1__ROLE__ROLE_BUILDING_HEAD] = {"building_head", EDIT | PERM_CASE_RAISE |
								 PERM_CASE_READ | PERM_CASE_HANDLE |
								 PERM_TASK_READ | PERM_TASK_WORK},
    [GRID__V1__ROLE__ROLE_PROVIDER_WORKER] = {"provider_worker", READ | PERM_CASE_RAISE |
								     PERM_CASE_READ |
								     PERM_TASK_READ},
    [GRID__V1__ROLE__ROLE_EVALUATOR] = {"evaluator",
					READ | PERM_AUDIT_READ | PERM_CASE_READ | PERM_TASK_READ},
    [GRID__V1__ROLE__ROLE_RESIDENT] = {"resident", READ | PERM_CASE_RAISE},
    [GRID__V1__ROLE__ROLE_CITY_SYSTEM] = {"city_system", READ | PERM_CASE_RAISE | PERM_CASE_READ},
};

unsigned perm_of_role(int role)
{
	if (role < ROLE_MIN || role > ROLE_MAX)
		return 0;
	return roles[role].perms | PERM_SELF;
}

const char *perm_role_name(int role)
{
	if (role < ROLE_MIN || role > ROLE_MAX)
		return "unknown";
	return roles[role].name;
}

int perm_role_parse(const char *name, int *ret_role)
{
	for (int r = ROLE_MIN; r <= ROLE_MAX; r++) {
		const char *a = roles[r].name, *b = name;
		while (*a && (*a == *b || (*a == '_' && *b == '-'))) {
			a++;
			b++;
		}
		if (!*a && !*b) {
			*ret_role = r;
			return 0;
		}
	}
	return -EINVAL;
}

const char *perm_name(unsigned perm)
{
	static const char *const names[] = {
	    "self",	   "grid.read",	   "grid.edit",	 "grid.admin", "user.admin",  "key.admin",
	    "audit.read",  "audit.verify", "case.raise", "case.read",  "case.handle", "case.check",
	    "case.manage", "task.issue",   "task.read",	 "task.work"};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (perm & (1u << i))
			return names[i];
	return "none";
}

bool perm_may_grant(int granter, int role)
{
	unsigned have = perm_of_role(granter), want = perm_of_role(role);

	if (role == GRID__V1__ROLE__ROLE_CITY_SYSTEM || !want)
		return false;
	if (!(have & PERM_USER_ADMIN))
		return false;
	/* Only a district admin makes district admins; otherwise a role may
	 * be given when it allows nothing the granter lacks. */
	if (role == GRID__V1__ROLE__ROLE_DISTRICT_ADMIN)
		return granter == GRID__V1__ROLE__ROLE_DISTRICT_ADMIN;
	return (want & ~have) == 0;
}
