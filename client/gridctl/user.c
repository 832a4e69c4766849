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

#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/session.h"
#include "client/gridctl/table.h"

#define MAX_PAGES 100000
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

#define HELP_OPT                                                                                   \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}

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
	json_key(w, "roles");
	json_begin_array(w);
	for (size_t i = 0; i < u->n_roles; i++) {
		json_begin_object(w);
		json_key(w, "role");
		json_string(w, user_role_name(u->roles[i]->role));
		json_key(w, "node_code");
		json_string(w, u->roles[i]->node_code);
		json_end_object(w);
	}
	json_end_array(w);
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
	if (r == 0)
		r = table_render(t, &out);
	r = r == 0 ? output_flush(&out) : output_oom();
	table_destroy(t);
done:
	buf_finish(&out);
	buf_finish(&cell);
	return r;
}

/* A positional USERNAME. */
static int want_username(struct ctl *ctl, const char *cmd, const char *s)
{
	if (!*s)
		return ctl_usage(ctl, cmd, "%s: USERNAME must not be empty", cmd);
	return 0;
}

static int user_add(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    HELP_OPT,
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
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want exactly one USERNAME", cmd);
	add.username = argv[optind];
	if (want_username(ctl, cmd, add.username))
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

/* Every page of ListUsers, kept until printed. */
struct user_pages {
	Grid__V1__Reply **replies;
	size_t n, cap;
};

static void user_pages_finish(struct user_pages *p)
{
	for (size_t i = 0; i < p->n; i++)
		grid_client_reply_free(p->replies[i]);
	free(p->replies);
}

static int print_user_table(struct ctl *ctl, const struct user_pages *p, bool all)
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
		for (size_t i = 0; i < p->n; i++)
			for (size_t j = 0; j < p->replies[i]->list_users->n_users; j++) {
				const Grid__V1__User *u = p->replies[i]->list_users->users[j];

				if (all || !u->disabled)
					user_json(&w, u);
			}
		json_end_array(&w);
		r = output_json_flush(&w, &out);
		goto done;
	}
	if (r == 0)
		r = table_add_row(t, head);
	for (size_t i = 0; i < p->n && r == 0; i++)
		for (size_t j = 0; j < p->replies[i]->list_users->n_users && r == 0; j++) {
			const Grid__V1__User *u = p->replies[i]->list_users->users[j];

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
		fflush(stdout);
		fputs("gridctl: no users\n", stderr);
		goto done;
	}
	if (r == 0)
		r = table_render(t, &out);
	r = r == 0 ? output_flush(&out) : output_oom();
done:
	table_destroy(t);
	buf_finish(&out);
	buf_finish(&cell);
	return r;
}

static int user_ls(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {HELP_OPT, {"all", no_argument, NULL, 'a'}, {0}};
	const char *cmd = "user ls";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListUsersRequest ls = GRID__V1__LIST_USERS_REQUEST__INIT;
	struct user_pages pages = {0};
	bool all = false;
	char subject[160];
	int opt, r = CTL_EXIT_OK;

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
	for (;;) {
		Grid__V1__Reply *reply = NULL;
		const Grid__V1__UserList *l;

		if (pages.n == MAX_PAGES) {
			output_error(ctl->json, GRID__V1__CODE__CODE_INTERNAL, subject,
				     "the server sent too many pages", NULL, 0, NULL);
			r = CTL_EXIT_ERROR;
			break;
		}
		req.id = 0;
		r = ctl_call(ctl, &req, &reply, subject, NULL);
		if (r != CTL_EXIT_OK)
			break;
		if (pages.n == pages.cap) {
			size_t cap = pages.cap ? pages.cap * 2 : 8;
			Grid__V1__Reply **np = realloc(pages.replies, cap * sizeof(*np));

			if (!np) {
				grid_client_reply_free(reply);
				r = output_oom();
				break;
			}
			pages.replies = np;
			pages.cap = cap;
		}
		pages.replies[pages.n++] = reply;
		l = reply->list_users;
		if (!l->next_page_token[0])
			break;
		if (strcmp(l->next_page_token, ls.page_token) == 0) {
			output_error(ctl->json, GRID__V1__CODE__CODE_INTERNAL, subject,
				     "the server repeated a page token", NULL, 0, NULL);
			r = CTL_EXIT_ERROR;
			break;
		}
		ls.page_token = l->next_page_token; /* borrowed from the kept reply */
	}
	if (r == CTL_EXIT_OK)
		r = print_user_table(ctl, &pages, all);
	user_pages_finish(&pages);
	return r;
}

static int set_disabled(struct ctl *ctl, int argc, char **argv, bool disabled)
{
	static const struct option opts[] = {HELP_OPT, {0}};
	const char *cmd = disabled ? "user disable" : "user enable";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__SetUserDisabledRequest set = GRID__V1__SET_USER_DISABLED_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[160], note[300];
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "h", opts)) != -1)
		return opt == 'h' ? ctl_help(disabled ? disable_help : enable_help)
				  : CTL_EXIT_USAGE;
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want exactly one USERNAME", cmd);
	set.username = argv[optind];
	if (want_username(ctl, cmd, set.username))
		return CTL_EXIT_USAGE;
	set.disabled = disabled;
	snprintf(subject, sizeof(subject), "user %s", set.username);
	req.call_case = GRID__V1__REQUEST__CALL_SET_USER_DISABLED;
	req.set_user_disabled = &set;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	snprintf(note, sizeof(note), "%s %s%s", disabled ? "disabled" : "enabled", set.username,
		 disabled ? ": it can no longer log in" : "");
	r = print_user(ctl, reply->set_user_disabled, note);
	grid_client_reply_free(reply);
	return r;
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
	static const struct option opts[] = {HELP_OPT, {0}};
	const char *cmd = grant ? "user grant" : "user revoke";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GrantRoleRequest gr = GRID__V1__GRANT_ROLE_REQUEST__INIT;
	Grid__V1__RevokeRoleRequest rv = GRID__V1__REVOKE_ROLE_REQUEST__INIT;
	Grid__V1__RoleGrant g = GRID__V1__ROLE_GRANT__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[160], note[300], text[200];
	char *node;
	int opt, r, role;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "h", opts)) != -1)
		return opt == 'h' ? ctl_help(grant ? grant_help : revoke_help) : CTL_EXIT_USAGE;
	if (argc - optind != 2)
		return ctl_usage(ctl, cmd, "%s: want USERNAME ROLE@NODE", cmd);
	if (want_username(ctl, cmd, argv[optind]) ||
	    user_parse_grant(ctl, cmd, argv[optind + 1], &role, &node))
		return CTL_EXIT_USAGE;
	g.role = (Grid__V1__Role)role;
	g.node_code = node;
	snprintf(subject, sizeof(subject), "user %s", argv[optind]);
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
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	user_grant_text(role, node, text, sizeof(text));
	snprintf(note, sizeof(note), "%s %s %s %s", grant ? "granted" : "revoked", text,
		 grant ? "to" : "from", argv[optind]);
	r = print_user(ctl, grant ? reply->grant_role : reply->revoke_role, note);
	grid_client_reply_free(reply);
	return r;
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
