/* The role policy; see perm.h. */
#include "server/auth/perm.h"

#include <errno.h>
#include <string.h>

#include "proto/auth.pb-c.h"

#define READ PERM_GRID_READ
#define EDIT (PERM_GRID_READ | PERM_GRID_EDIT)

static const struct {
	const char *name;
	unsigned perms;
} roles[ROLE_MAX + 1] = {
    [GRID__V1__ROLE__ROLE_DISTRICT_ADMIN] = {"district_admin",
					     EDIT | PERM_GRID_ADMIN | PERM_USER_ADMIN |
						 PERM_KEY_ADMIN | PERM_AUDIT_READ |
						 PERM_AUDIT_VERIFY},
    [GRID__V1__ROLE__ROLE_COMMUNITY_STAFF] = {"community_staff", EDIT | PERM_GRID_ADMIN |
								     PERM_USER_ADMIN |
								     PERM_AUDIT_READ},
    [GRID__V1__ROLE__ROLE_ZONE_LEADER] = {"zone_leader", EDIT},
    [GRID__V1__ROLE__ROLE_COURTYARD_REP] = {"courtyard_rep", EDIT},
    [GRID__V1__ROLE__ROLE_BUILDING_HEAD] = {"building_head", EDIT},
    [GRID__V1__ROLE__ROLE_PROVIDER_WORKER] = {"provider_worker", READ},
    [GRID__V1__ROLE__ROLE_EVALUATOR] = {"evaluator", READ | PERM_AUDIT_READ},
    [GRID__V1__ROLE__ROLE_RESIDENT] = {"resident", READ},
    [GRID__V1__ROLE__ROLE_CITY_SYSTEM] = {"city_system", READ},
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
	static const char *const names[] = {"self",	  "grid.read",	 "grid.edit",
					    "grid.admin", "user.admin",	 "key.admin",
					    "audit.read", "audit.verify"};

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
