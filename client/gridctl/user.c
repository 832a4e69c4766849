/* gridctl user ...: accounts and the roles they hold on the grid. add
 * creates an account (password asked twice, or read from stdin), ls lists
 * the accounts with a role in a subtree, disable and enable lock an account
 * out and back in, grant and revoke change its roles. Also the role names
 * and the ROLE@NODE syntax that auth.c and apikey.c share (gridctl.h).
 * Dispatched from main.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/args.h"
#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/pager.h"
#include "client/gridctl/session.h"
#include "client/gridctl/table.h"

#define MAX_GRANTS 64

static const struct {
	int role;
	const char *name;
} roles[] = {
    {GRID__V1__ROLE__ROLE_DISTRICT_ADMIN, "district_admin"},
    {GRID__V1__ROLE__ROLE_COMMUNITY_STAFF, "community_staff"},
    {GRID__V1__ROLE__ROLE_ZONE_LEADER, "zone_leader"},
    {GRID__V1__ROLE__ROLE_COURTYARD_REP, "courtyard_rep"},
    {GRID__V1__ROLE__ROLE_BUILDING_HEAD, "building_head"},
    {GRID__V1__ROLE__ROLE_PROVIDER_WORKER, "provider_worker"},
    {GRID__V1__ROLE__ROLE_EVALUATOR, "evaluator"},
    {GRID__V1__ROLE__ROLE_RESIDENT, "resident"},
    {GRID__V1__ROLE__ROLE_CITY_SYSTEM, "city_system"},
};

#define ROLE_LIST                                                                                  \
	"district_admin, community_staff, zone_leader, courtyard_rep, building_head,\n"            \
	"provider_worker, evaluator, resident"

static const char user_help[] =
    "Usage: gridctl user COMMAND [ARGS...]\n"
    "\n"
    "Accounts of the people who work the grid, and their roles. A role is held\n"
    "on a node and covers that node's subtree, written ROLE@NODE:\n"
    "  zone_leader@WH-TZL-Z5          the fifth zone of 桐梓林社区 and all below it\n"
    "  district_admin@-               \"-\" is the whole grid\n"
    "The roles: " ROLE_LIST ".\n"
    "('-' may stand for '_' in role names: zone-leader@WH-TZL-Z5.)\n"
    "\n"
    "Commands:\n"
    "  add USERNAME [--name NAME] [--phone PHONE] [--role ROLE@NODE ...]\n"
    "                                  create an account (the password is asked)\n"
    "  ls [NODE] [--all]               accounts with a role in NODE's subtree\n"
    "  disable USERNAME                lock an account out (its sessions end)\n"
    "  enable USERNAME                 let it log in again\n"
    "  grant USERNAME ROLE@NODE        give a role\n"
    "  revoke USERNAME ROLE@NODE       take a role away\n"
    "\n"
    "'gridctl user COMMAND --help' tells more.\n"
    "\n"
    "Examples:\n"
    "  gridctl user add wangfang --name 王芳 --role courtyard_rep@WH-TZL-Z5-ZTY\n"
    "  gridctl user ls WH-TZL\n";

static const char add_help[] =
    "Usage: gridctl user add USERNAME [--name NAME] [--phone PHONE] [--role ROLE@NODE ...]\n"
    "                        [--password-stdin]\n"
    "\n"
    "Creates the account USERNAME (lower-case letters, digits, '.', '_', '-';\n"
    "2 to 64 of them) and prints it. Its password is asked twice on the\n"
    "terminal; tell it to the person, who can change it with 'gridctl passwd'.\n"
    "You can only give roles inside the part of the grid you manage.\n"
    "\n"
    "Options:\n"
    "  -n, --name NAME        the person's name as shown, e.g. 王芳\n"
    "  -p, --phone PHONE      a phone number\n"
    "  -r, --role ROLE@NODE   a role to start with (repeat for several);\n"
    "                         NODE \"-\" is the whole grid\n"
    "      --password-stdin   read the password from the first line of standard\n"
    "                         input (once, no repeat)\n"
    "\n"
    "The roles: " ROLE_LIST ".\n"
    "\n"
    "Examples:\n"
    "  gridctl user add wangfang --name 王芳 --phone 13800000000 \\\n"
    "      --role courtyard_rep@WH-TZL-Z5-ZTY\n"
    "  gridctl user add lijun --name 李军 --role zone_leader@WH-TZL-Z5\n"
    "  gridctl user add zhou.min --role evaluator@WH --password-stdin < pass.txt\n";

static const char ls_help[] =
    "Usage: gridctl user ls [NODE] [--all]\n"
    "\n"
    "Lists the accounts holding a role in the subtree of NODE (without NODE,\n"
    "or with \"-\": the whole grid, for those who manage all of it) as a table:\n"
    "USERNAME, NAME, PHONE, ROLES (as ROLE@NODE), STATUS. Disabled accounts\n"
    "are left out unless --all.\n"
    "With --json: an array of users {\"username\", \"display_name\", \"phone\",\n"
    "\"disabled\", \"roles\": [{\"role\", \"node_code\"}], \"created_at_ms\"}.\n"
    "\n"
    "Options:\n"
    "  -a, --all   include disabled accounts\n"
    "\n"
    "Examples:\n"
    "  gridctl user ls WH-TZL                # everyone working in 桐梓林社区\n"
    "  gridctl user ls WH-TZL-Z5-ZTY --all   # 梓潼苑, disabled accounts too\n"
    "  gridctl --json user ls WH-TZL-Z5\n";

static const char disable_help[] =
    "Usage: gridctl user disable USERNAME\n"
    "\n"
    "Locks the account out: it can no longer log in, and its sessions end at\n"
    "once. Its roles and its history stay. 'gridctl user enable' undoes it.\n"
    "\n"
    "Example:\n"
    "  gridctl user disable zty_b1\n";

static const char enable_help[] = "Usage: gridctl user enable USERNAME\n"
				  "\n"
				  "Lets a disabled account log in again.\n"
				  "\n"
				  "Example:\n"
				  "  gridctl user enable zty_b1\n";

static const char grant_help[] =
    "Usage: gridctl user grant USERNAME ROLE@NODE\n"
    "\n"
    "Gives USERNAME the role ROLE over the subtree of NODE (\"-\": the whole\n"
    "grid) and prints the account. You can only grant inside your own part of\n"
    "the grid.\n"
    "\n"
    "The roles: " ROLE_LIST ".\n"
    "\n"
    "Examples:\n"
    "  gridctl user grant lijun zone_leader@WH-TZL-Z5\n"
    "  gridctl user grant wangfang building-head@WH-TZL-Z5-ZTY-B1\n"
    "  gridctl user grant zhou.min evaluator@-\n";

static const char revoke_help[] =
    "Usage: gridctl user revoke USERNAME ROLE@NODE\n"
    "\n"
    "Takes the role ROLE over NODE (\"-\": the whole grid) away from USERNAME\n"
    "and prints the account. Only that exact grant goes; others stay.\n"
    "\n"
    "Examples:\n"
    "  gridctl user revoke lijun zone_leader@WH-TZL-Z5\n"
    "  gridctl user revoke zhou.min evaluator@-\n";

const char *user_role_name(int role)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (roles[i].role == role)
			return roles[i].name;
	return "unknown_role";
}

int user_parse_grant(struct ctl *ctl, const char *cmd, char *s, int *ret_role, char **ret_node)
{
	char name[64], *at = strchr(s, '@');
	size_t n;

	if (!at)
		return ctl_usage(ctl, cmd,
				 "%s: want ROLE@NODE, e.g. zone_leader@WH-TZL-Z5 (NODE \"-\" for "
				 "the whole grid), not '%s'",
				 cmd, s);
	n = (size_t)(at - s);
	if (n == 0 || n >= sizeof(name))
		return ctl_usage(ctl, cmd, "%s: no role name in '%s'", cmd, s);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		name[i] = c == '-' ? '_' : (c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
	}
	name[n] = '\0';
	if (!at[1])
		return ctl_usage(ctl, cmd,
				 "%s: no node after '@' in '%s' (write %s@- for the whole grid)",
				 cmd, s, name);
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].name, name) == 0) {
			*ret_role = roles[i].role;
			*ret_node = strcmp(at + 1, "-") == 0 ? at + 1 + 1 : at + 1;
			return 0;
		}
	return ctl_usage(ctl, cmd, "%s: unknown role '%.*s'; the roles are: %s", cmd, (int)n, s,
			 "district_admin, community_staff, zone_leader, courtyard_rep, "
			 "building_head, provider_worker, evaluator, resident");
}

void user_grant_text(int role, const char *node_code, char *buf, size_t size)
{
	snprintf(buf, size, "%s@%s", user_role_name(role), node_code[0] ? node_code : "-");
}

void user_roles_json(struct json_writer *w, Grid__V1__RoleGrant *const *grants, size_t n,
		     bool with_names, const char *const *names)
{
	json_key(w, "roles");
	json_begin_array(w);
	for (size_t i = 0; i < n; i++) {
		json_begin_object(w);
		json_key(w, "role");
		json_string(w, user_role_name(grants[i]->role));
		json_key(w, "node_code");
		json_string(w, grants[i]->node_code);
		if (with_names) {
			json_key(w, "node_name");
			json_string(w, names ? names[i] : NULL);
		}
		json_end_object(w);
	}
	json_end_array(w);
}

static void user_json(struct json_writer *w, const Grid__V1__User *u)
{
	json_begin_object(w);
	json_key(w, "username");
	json_string(w, u->username);
	json_key(w, "display_name");
	json_string(w, u->display_name);
	json_key(w, "phone");
	json_string(w, u->phone);
	json_key(w, "disabled");
	json_bool(w, u->disabled);
	user_roles_json(w, u->roles, u->n_roles, false, NULL);
	json_key(w, "created_at_ms");
	json_int(w, u->created_at_ms);
	json_end_object(w);
}

/* "zone_leader@WH-TZL-Z5, resident@WH-TZL-Z5-ZTY-B1" into b (reset first). */
static int roles_text(const Grid__V1__User *u, const char *sep, struct buf *b)
{
	buf_reset(b);
	for (size_t i = 0; i < u->n_roles; i++) {
		char grant[200];

		user_grant_text(u->roles[i]->role, u->roles[i]->node_code, grant, sizeof(grant));
		if (buf_printf(b, "%s%s", i ? sep : "", grant) < 0)
			return -ENOMEM;
	}
	return buf_cstr(b) ? 0 : -ENOMEM;
}

/* One account: its fields, or its JSON object. note (may be NULL) is a
 * line printed first ("disabled zty_b1"). */
static int print_user(struct ctl *ctl, const Grid__V1__User *u, const char *note)
{
	struct buf out, cell;
	int r = 0;

	buf_init(&out, 0);
	buf_init(&cell, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		user_json(&w, u);
		r = output_json_flush(&w, &out);
		goto done;
	}
	struct table *t = table_create(2);
	char created[64];

	if (!t) {
		r = output_oom();
		goto done;
	}
	if (note)
		r = buf_printf(&out, "%s\n", note) < 0 ? -ENOMEM : 0;
	const char *rows[][2] = {
	    {"username", u->username},
	    {"name", u->display_name[0] ? u->display_name : "-"},
	    {"phone", u->phone[0] ? u->phone : "-"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && r == 0; i++)
		r = table_add_row(t, rows[i]);
	for (size_t i = 0; i < u->n_roles && r == 0; i++) {
		char grant[200];
		const char *row[2] = {i == 0 ? "roles" : "", grant};

		user_grant_text(u->roles[i]->role, u->roles[i]->node_code, grant, sizeof(grant));
		r = table_add_row(t, row);
	}
	if (r == 0 && u->n_roles == 0) {
		const char *row[2] = {"roles", "none"};
		r = table_add_row(t, row);
	}
	if (r == 0) {
		const char *row[2] = {"status", u->disabled ? "disabled" : "active"};
		r = table_add_row(t, row);
	}
	if (r == 0 && u->created_at_ms) {
		const char *row[2] = {
		    "created", ctl_format_time(u->created_at_ms, false, created, sizeof(created))};
		r = table_add_row(t, row);
	}
	r = output_table(t, &out, r);
	table_destroy(t);
done:
	buf_finish(&out);
	buf_finish(&cell);
	return r;
}

static int user_add(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"name", required_argument, NULL, 'n'},
	    {"phone", required_argument, NULL, 'p'},
	    {"role", required_argument, NULL, 'r'},
	    {"password-stdin", no_argument, NULL, 'P'},
	    {0},
	};
	const char *cmd = "user add";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateUserRequest add = GRID__V1__CREATE_USER_REQUEST__INIT;
	Grid__V1__RoleGrant grants[MAX_GRANTS], *grant_ptrs[MAX_GRANTS];
	Grid__V1__Reply *reply = NULL;
	char password[SESSION_SECRET_MAX], subject[160], prompt[160];
	bool from_stdin = false;
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hn:p:r:", opts)) != -1) {
		switch (opt) {
		case 'n':
			add.display_name = optarg;
			break;
		case 'p':
			add.phone = optarg;
			break;
		case 'r': {
			Grid__V1__RoleGrant *g = &grants[add.n_roles];
			int role;
			char *node;

			if (add.n_roles == MAX_GRANTS)
				return ctl_usage(ctl, cmd, "%s: at most %d roles at once", cmd,
						 MAX_GRANTS);
			if (user_parse_grant(ctl, cmd, optarg, &role, &node))
				return CTL_EXIT_USAGE;
			grid__v1__role_grant__init(g);
			g->role = (Grid__V1__Role)role;
			g->node_code = node;
			grant_ptrs[add.n_roles++] = g;
			break;
		}
		case 'P':
			from_stdin = true;
			break;
		default:
			return opt == 'h' ? ctl_help(add_help) : CTL_EXIT_USAGE;
		}
	}
	if (!(add.username = args_one(ctl, cmd, argc, argv, "USERNAME")))
		return CTL_EXIT_USAGE;
	add.roles = grant_ptrs;
	snprintf(subject, sizeof(subject), "user %s", add.username);

	/* Connect (and authenticate) before asking for a password. */
	r = ctl_connect(ctl);
	if (r != CTL_EXIT_OK)
		return r;
	snprintf(prompt, sizeof(prompt), "password for %s", add.username);
	r = session_read_new_password(ctl, prompt, from_stdin, password, sizeof(password));
	if (r != CTL_EXIT_OK)
		return r;
	add.password = password;
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_USER;
	req.create_user = &add;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	explicit_bzero(password, sizeof(password));
	if (r != CTL_EXIT_OK)
		return r;
	r = print_user(ctl, reply->create_user, NULL);
	grid_client_reply_free(reply);
	return r;
}

/* The users of every page of ListUsers (but the disabled ones unless all). */
static int print_user_table(struct ctl *ctl, Grid__V1__Reply *const *pages, size_t npages, bool all)
{
	static const char *head[] = {"USERNAME", "NAME", "PHONE", "ROLES", "STATUS"};
	struct table *t = table_create(5);
	struct buf out, cell;
	size_t shown = 0;
	int r = t ? 0 : -ENOMEM;

	buf_init(&out, 0);
	buf_init(&cell, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_array(&w);
		for (size_t i = 0; i < npages; i++)
			for (size_t j = 0; j < pages[i]->list_users->n_users; j++) {
				const Grid__V1__User *u = pages[i]->list_users->users[j];

				if (all || !u->disabled)
					user_json(&w, u);
			}
		json_end_array(&w);
		r = output_json_flush(&w, &out);
		goto done;
	}
	if (r == 0)
		r = table_add_row(t, head);
	for (size_t i = 0; i < npages && r == 0; i++)
		for (size_t j = 0; j < pages[i]->list_users->n_users && r == 0; j++) {
			const Grid__V1__User *u = pages[i]->list_users->users[j];

			if (!all && u->disabled)
				continue;
			r = roles_text(u, ", ", &cell);
			if (r == 0) {
				const char *row[5] = {u->username, u->display_name, u->phone,
						      buf_cstr(&cell),
						      u->disabled ? "disabled" : "active"};
				r = table_add_row(t, row);
				shown++;
			}
		}
	if (r == 0 && shown == 0) {
		output_notice("no users");
		goto done;
	}
	r = output_table(t, &out, r);
done:
	table_destroy(t);
	buf_finish(&out);
	buf_finish(&cell);
	return r;
}

static int user_ls(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {ARGS_HELP_OPT, {"all", no_argument, NULL, 'a'}, {0}};
	const char *cmd = "user ls";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListUsersRequest ls = GRID__V1__LIST_USERS_REQUEST__INIT;
	struct pager pager;
	bool all = false;
	char subject[160];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "ha", opts)) != -1) {
		if (opt == 'a')
			all = true;
		else
			return opt == 'h' ? ctl_help(ls_help) : CTL_EXIT_USAGE;
	}
	if (argc - optind > 1)
		return ctl_usage(ctl, cmd, "%s: want at most one NODE", cmd);
	if (argc - optind == 1) {
		if (!argv[optind][0])
			return ctl_usage(ctl, cmd,
					 "%s: NODE must not be empty (\"-\": the whole grid)", cmd);
		if (strcmp(argv[optind], "-") != 0)
			ls.node_code = argv[optind];
	}
	if (ls.node_code[0])
		snprintf(subject, sizeof(subject), "node %s", ls.node_code);
	else
		snprintf(subject, sizeof(subject), "users");
	req.call_case = GRID__V1__REQUEST__CALL_LIST_USERS;
	req.list_users = &ls;
	pager_init(&pager, ctl, &req, &ls.page_token, subject, true);
	r = pager_fetch_all(&pager);
	if (r == CTL_EXIT_OK)
		r = print_user_table(ctl, pager.replies, pager.n, all);
	pager_finish(&pager);
	return r;
}

/* The account a write of disable, enable, grant or revoke answers with. */
static const Grid__V1__User *written_user(const Grid__V1__Reply *reply)
{
	switch (reply->result_case) {
	case GRID__V1__REPLY__RESULT_SET_USER_DISABLED:
		return reply->set_user_disabled;
	case GRID__V1__REPLY__RESULT_GRANT_ROLE:
		return reply->grant_role;
	case GRID__V1__REPLY__RESULT_REVOKE_ROLE:
		return reply->revoke_role;
	default:
		return NULL;
	}
}

/* Sends the write req about the account username and prints the account
 * it answers with, note first. */
static int write_user(struct ctl *ctl, Grid__V1__Request *req, const char *username,
		      const char *note)
{
	Grid__V1__Reply *reply = NULL;
	char subject[160];
	int r;

	snprintf(subject, sizeof(subject), "user %s", username);
	r = ctl_call(ctl, req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	r = print_user(ctl, written_user(reply), note);
	grid_client_reply_free(reply);
	return r;
}

static int set_disabled(struct ctl *ctl, int argc, char **argv, bool disabled)
{
	const char *cmd = disabled ? "user disable" : "user enable";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__SetUserDisabledRequest set = GRID__V1__SET_USER_DISABLED_REQUEST__INIT;
	char note[300];
	int r;

	if ((r = args_help_only(ctl, cmd, argc, argv, disabled ? disable_help : enable_help)) >= 0)
		return r;
	if (!(set.username = args_one(ctl, cmd, argc, argv, "USERNAME")))
		return CTL_EXIT_USAGE;
	set.disabled = disabled;
	req.call_case = GRID__V1__REQUEST__CALL_SET_USER_DISABLED;
	req.set_user_disabled = &set;
	snprintf(note, sizeof(note), "%s %s%s", disabled ? "disabled" : "enabled", set.username,
		 disabled ? ": it can no longer log in" : "");
	return write_user(ctl, &req, set.username, note);
}

static int user_disable(struct ctl *ctl, int argc, char **argv)
{
	return set_disabled(ctl, argc, argv, true);
}

static int user_enable(struct ctl *ctl, int argc, char **argv)
{
	return set_disabled(ctl, argc, argv, false);
}

static int change_role(struct ctl *ctl, int argc, char **argv, bool grant)
{
	const char *cmd = grant ? "user grant" : "user revoke";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GrantRoleRequest gr = GRID__V1__GRANT_ROLE_REQUEST__INIT;
	Grid__V1__RevokeRoleRequest rv = GRID__V1__REVOKE_ROLE_REQUEST__INIT;
	Grid__V1__RoleGrant g = GRID__V1__ROLE_GRANT__INIT;
	char note[300], text[200];
	char *node;
	int r, role;

	if ((r = args_help_only(ctl, cmd, argc, argv, grant ? grant_help : revoke_help)) >= 0)
		return r;
	if (argc - optind != 2)
		return ctl_usage(ctl, cmd, "%s: want USERNAME ROLE@NODE", cmd);
	if (args_nonempty(ctl, cmd, "USERNAME", argv[optind]) ||
	    user_parse_grant(ctl, cmd, argv[optind + 1], &role, &node))
		return CTL_EXIT_USAGE;
	g.role = (Grid__V1__Role)role;
	g.node_code = node;
	if (grant) {
		gr.username = argv[optind];
		gr.grant = &g;
		req.call_case = GRID__V1__REQUEST__CALL_GRANT_ROLE;
		req.grant_role = &gr;
	} else {
		rv.username = argv[optind];
		rv.grant = &g;
		req.call_case = GRID__V1__REQUEST__CALL_REVOKE_ROLE;
		req.revoke_role = &rv;
	}
	user_grant_text(role, node, text, sizeof(text));
	snprintf(note, sizeof(note), "%s %s %s %s", grant ? "granted" : "revoked", text,
		 grant ? "to" : "from", argv[optind]);
	return write_user(ctl, &req, argv[optind], note);
}

static int user_grant(struct ctl *ctl, int argc, char **argv)
{
	return change_role(ctl, argc, argv, true);
}

static int user_revoke(struct ctl *ctl, int argc, char **argv)
{
	return change_role(ctl, argc, argv, false);
}

static const struct ctl_command user_commands[] = {
    {"add", user_add},
    {"ls", user_ls},
    {"disable", user_disable},
    {"enable", user_enable},
    {"grant", user_grant},
    {"revoke", user_revoke},
    {NULL, NULL},
};

int user_main(struct ctl *ctl, int argc, char **argv)
{
	optind = 0;
	return ctl_dispatch(ctl, "user", user_commands, argc, argv, user_help);
}
