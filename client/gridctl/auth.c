/* gridctl login, logout, whoami, passwd: a person's session with gridd.
 * login trades a password for a session token and keeps it in the token
 * file of the server (session.c writes it); logout revokes it on the server
 * and removes the file; whoami shows the principal the connection acts as;
 * passwd changes one's own password. Dispatched from main.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/gridctl/args.h"
#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/session.h"
#include "client/gridctl/table.h"

#define USERNAME_MAX 128

static const char login_help[] =
    "Usage: gridctl login [USERNAME] [--password-stdin]\n"
    "\n"
    "Logs in to the server as USERNAME (asked for when not given) with the\n"
    "password typed on the terminal, which is not echoed. The session token\n"
    "the server returns is kept in the token file of this server, readable by\n"
    "you alone, and every later gridctl command acts as you until the session\n"
    "ends or you log out. Logging in again replaces the kept session and ends\n"
    "the old one on the server.\n"
    "\n"
    "The token file is --token-file FILE, else $GRID_TOKEN_FILE, else\n"
    "$XDG_CONFIG_HOME/gridctl/sessions/HOST_PORT (~/.config when unset): one\n"
    "file per server, so sessions with several servers live side by side.\n"
    "With --json: {\"server\", \"token_file\", \"expires_at_ms\", \"principal\"}.\n"
    "\n"
    "Options:\n"
    "  --password-stdin   read the password from the first line of standard\n"
    "                     input instead of the terminal (scripts; USERNAME needed)\n"
    "\n"
    "Examples:\n"
    "  gridctl login zty_rep                  # 梓潼苑's courtyard representative\n"
    "  gridctl --server gridd.wuhou.example:7420 login tzl_staff\n"
    "  gridctl login z5_leader --password-stdin < z5_leader.pass\n"
    "  gridctl --token-file /srv/ops/gridd.token login admin\n";

static const char logout_help[] =
    "Usage: gridctl logout\n"
    "\n"
    "Ends the session kept for this server: the server revokes the token, so\n"
    "it is useless everywhere, and the token file is removed. When the server\n"
    "cannot be reached the file is removed all the same and gridctl says that\n"
    "the session itself stays valid until it expires (exit code 5).\n"
    "With a token in $GRID_TOKEN, that session is revoked (there is no file).\n"
    "With --json: {\"server\", \"revoked\", \"token_file\", \"removed\"}.\n"
    "\n"
    "Examples:\n"
    "  gridctl logout\n"
    "  gridctl --token-file /srv/ops/gridd.token logout\n";

static const char whoami_help[] =
    "Usage: gridctl whoami\n"
    "\n"
    "Shows who this gridctl acts as: the user and display name, every role\n"
    "with the node it covers (its code and name; \"-\" is the whole grid), and\n"
    "when the session ends. For an API key: its id, name, node and methods.\n"
    "With --json: the principal, {\"kind\", \"username\", \"display_name\",\n"
    "\"roles\": [{\"role\", \"node_code\", \"node_name\"}], \"methods\",\n"
    "\"expires_at_ms\"} plus \"server\".\n"
    "\n"
    "Examples:\n"
    "  gridctl whoami\n"
    "  gridctl --json whoami\n"
    "  GRID_API_KEY=gk_... gridctl whoami     # what an API key may do\n";

static const char passwd_help[] =
    "Usage: gridctl passwd [--password-stdin]\n"
    "\n"
    "Changes your own password: asks for the current one, then the new one\n"
    "twice (at least 10 characters; the server decides).\n"
    "\n"
    "Options:\n"
    "  --password-stdin   read two lines from standard input: the current\n"
    "                     password, then the new one\n"
    "\n"
    "Examples:\n"
    "  gridctl passwd\n"
    "  printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | gridctl passwd --password-stdin\n";

#define PASSWORD_STDIN_OPT                                                                         \
	{                                                                                          \
		"password-stdin", no_argument, NULL, 'P'                                           \
	}

/* "in 3 d 4 h", "in 11 h 58 min", "in 5 min", "ended". */
static void time_left(int64_t at_ms, char *buf, size_t size)
{
	int64_t left = (at_ms - ctl_now_ms()) / 60000;

	if (left < 0)
		snprintf(buf, size, "ended");
	else if (left >= 24 * 60)
		snprintf(buf, size, "in %lld d %lld h", (long long)(left / (24 * 60)),
			 (long long)(left / 60 % 24));
	else if (left >= 60)
		snprintf(buf, size, "in %lld h %lld min", (long long)(left / 60),
			 (long long)(left % 60));
	else
		snprintf(buf, size, "in %lld min", (long long)left);
}

/* Names of the nodes of the principal's roles, looked up quietly: a name
 * that cannot be had is left out. names[i] belongs to p->roles[i]; the
 * replies own the strings. */
struct role_names {
	Grid__V1__Reply **replies;
	const char **names;
	size_t n;
};

static void role_names_fetch(struct ctl *ctl, const Grid__V1__Principal *p, struct role_names *rn)
{
	rn->n = p->n_roles;
	rn->replies = calloc(p->n_roles + 1, sizeof(*rn->replies));
	rn->names = calloc(p->n_roles + 1, sizeof(*rn->names));
	if (!rn->replies || !rn->names)
		return;
	for (size_t i = 0; i < p->n_roles; i++) {
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__GetNodeRequest get = GRID__V1__GET_NODE_REQUEST__INIT;
		Grid__V1__Reply *reply = NULL;
		const char *code = p->roles[i]->node_code;

		if (!code[0])
			continue;
		for (size_t j = 0; j < i; j++)
			if (rn->names[j] && strcmp(p->roles[j]->node_code, code) == 0)
				rn->names[i] = rn->names[j];
		if (rn->names[i])
			continue;
		get.code = (char *)code;
		req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
		req.get_node = &get;
		if (grid_client_call(ctl->client, &req, &reply) < 0)
			return; /* the connection is gone: no more names */
		if (reply->status->code == GRID__V1__CODE__CODE_OK &&
		    reply->result_case == GRID__V1__REPLY__RESULT_GET_NODE) {
			rn->replies[i] = reply;
			rn->names[i] = reply->get_node->name;
		} else {
			grid_client_reply_free(reply);
		}
	}
}

static void role_names_finish(struct role_names *rn)
{
	for (size_t i = 0; rn->replies && i < rn->n; i++)
		grid_client_reply_free(rn->replies[i]);
	free(rn->replies);
	free(rn->names);
}

/* The principal's keys, without the braces. */
static void principal_json_fields(struct json_writer *w, const Grid__V1__Principal *p,
				  const struct role_names *rn)
{
	json_key(w, "kind");
	json_string(w, p->kind);
	json_key(w, "username");
	json_string(w, p->username);
	json_key(w, "display_name");
	json_string(w, p->display_name);
	user_roles_json(w, p->roles, p->n_roles, rn != NULL, rn ? rn->names : NULL);
	json_key(w, "methods");
	json_begin_array(w);
	for (size_t i = 0; i < p->n_methods; i++)
		json_string(w, p->methods[i]);
	json_end_array(w);
	json_key(w, "expires_at_ms");
	json_int(w, p->expires_at_ms);
}

/* Ends a session quietly on ctl's connection: the one it is logged in
 * with (token NULL), or another one, presented first. Best effort: a
 * session that ended already, or a server gone, changes nothing here. */
static void end_session_quietly(struct ctl *ctl, const char *token)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest auth = GRID__V1__AUTHENTICATE_REQUEST__INIT;
	Grid__V1__LogoutRequest lo = GRID__V1__LOGOUT_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	bool ok;

	if (token) {
		auth.token = (char *)token;
		req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
		req.authenticate = &auth;
		if (grid_client_call(ctl->client, &req, &reply) < 0)
			return;
		ok = reply->status->code == GRID__V1__CODE__CODE_OK;
		grid_client_reply_free(reply);
		if (!ok)
			return;
	}
	req.id = 0;
	req.call_case = GRID__V1__REQUEST__CALL_LOGOUT;
	req.logout = &lo;
	if (grid_client_call(ctl->client, &req, &reply) == 0)
		grid_client_reply_free(reply);
}

static int refuse_api_key(struct ctl *ctl, const char *cmd)
{
	if (ctl->api_key)
		return ctl_usage(ctl, cmd,
				 "%s: an API key needs no login; drop --api-key to log in as a "
				 "person",
				 cmd);
	return CTL_EXIT_OK;
}

/* Tells when a variable will shadow the token file just written. */
static void warn_shadowing(struct ctl *ctl)
{
	const char *which = NULL;

	if (ctl->token_file)
		return;
	if (getenv("GRID_API_KEY") && *getenv("GRID_API_KEY"))
		which = "GRID_API_KEY";
	else if (getenv("GRID_TOKEN") && *getenv("GRID_TOKEN"))
		which = "GRID_TOKEN";
	if (which)
		output_notice("warning: $%s is set and comes before the token file; unset it to "
			      "use this session",
			      which);
}

int login_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {ARGS_HELP_OPT, PASSWORD_STDIN_OPT, {0}};
	const char *cmd = "login";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__LoginRequest login = GRID__V1__LOGIN_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__LoginReply *res;
	char username[USERNAME_MAX], password[SESSION_SECRET_MAX];
	bool from_stdin = false, is_default;
	const char *what;
	char *path = NULL, *old_token = NULL;
	struct buf out;
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "h", opts)) != -1) {
		if (opt == 'P')
			from_stdin = true;
		else
			return opt == 'h' ? ctl_help(login_help) : CTL_EXIT_USAGE;
	}
	if (argc - optind > 1)
		return ctl_usage(ctl, cmd, "%s: want at most one USERNAME", cmd);
	if ((r = refuse_api_key(ctl, cmd)) != CTL_EXIT_OK)
		return r;
	if (argc - optind == 1) {
		if (args_nonempty(ctl, cmd, "USERNAME", argv[optind]))
			return CTL_EXIT_USAGE;
		snprintf(username, sizeof(username), "%s", argv[optind]);
	} else if (from_stdin) {
		return ctl_usage(ctl, cmd, "%s: with --password-stdin, give the USERNAME", cmd);
	} else {
		r = session_read_line(ctl, "username", username, sizeof(username));
		if (r != CTL_EXIT_OK)
			return r;
		if (!username[0])
			return ctl_usage(ctl, cmd, "%s: no username given", cmd);
	}
	/* Where the token goes is settled before the password is asked. */
	path = session_token_path(ctl, &is_default, &r);
	if (!path) {
		if (r == -ENOMEM)
			return output_oom();
		return ctl_usage(ctl, cmd,
				 "%s: no home directory for the token file; give --token-file FILE",
				 cmd);
	}
	buf_init(&out, 0);
	/* The session this login replaces, to be ended once the new one is
	 * kept: a token nobody keeps any more should not stay valid. */
	if (session_read_file(path, &old_token, NULL) < 0)
		old_token = NULL;
	char prompt[USERNAME_MAX + 32];
	snprintf(prompt, sizeof(prompt), "password for %s", username);
	r = session_read_secret(ctl, prompt, from_stdin, password, sizeof(password));
	if (r != CTL_EXIT_OK)
		goto done;

	login.username = username;
	login.password = password;
	req.call_case = GRID__V1__REQUEST__CALL_LOGIN;
	req.login = &login;
	r = ctl_call(ctl, &req, &reply, "login", NULL);
	explicit_bzero(password, sizeof(password));
	if (r != CTL_EXIT_OK)
		goto done;
	res = reply->login;
	if (!res->token[0] || !res->principal) {
		r = output_internal(ctl->json, cmd, "the server's reply carries no session");
		goto done;
	}
	r = session_write_file(path, is_default, ctl->server, res->principal->username,
			       res->expires_at_ms, res->token, &what);
	if (r < 0) {
		char msg[1200];

		/* A session nobody keeps is one nobody can end: end it now. */
		end_session_quietly(ctl, NULL);
		snprintf(msg, sizeof(msg), "cannot %s the token file %s: %s; not logged in", what,
			 path, strerror(-r));
		r = output_internal(ctl->json, NULL, msg);
		goto done;
	}
	if (old_token && strcmp(old_token, res->token) != 0)
		end_session_quietly(ctl, old_token);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_object(&w);
		json_key(&w, "server");
		json_string(&w, ctl->server);
		json_key(&w, "token_file");
		json_string(&w, path);
		json_key(&w, "expires_at_ms");
		json_int(&w, res->expires_at_ms);
		json_key(&w, "principal");
		json_begin_object(&w);
		principal_json_fields(&w, res->principal, NULL);
		json_end_object(&w);
		json_end_object(&w);
		r = output_json_flush(&w, &out);
	} else {
		const Grid__V1__Principal *p = res->principal;
		char until[64], left[64];

		ctl_format_time(res->expires_at_ms, false, until, sizeof(until));
		time_left(res->expires_at_ms, left, sizeof(left));
		char *name = table_clean(p->display_name);
		if (buf_printf(&out, "logged in to %s as %s%s%s%s\n", ctl->server, p->username,
			       name && *name ? " (" : "", name && *name ? name : "",
			       name && *name ? ")" : "") < 0 ||
		    (res->expires_at_ms &&
		     buf_printf(&out, "the session lasts until %s (%s)\n", until, left) < 0))
			r = output_oom();
		else
			r = output_flush(&out);
		free(name);
	}
	warn_shadowing(ctl);
done:
	explicit_bzero(password, sizeof(password));
	session_wipe(old_token);
	free(old_token);
	grid_client_reply_free(reply);
	buf_finish(&out);
	free(path);
	return r;
}

static int logout_report(struct ctl *ctl, bool revoked, const char *path, bool removed)
{
	struct buf out;
	int r;

	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_object(&w);
		json_key(&w, "server");
		json_string(&w, ctl->server);
		json_key(&w, "revoked");
		json_bool(&w, revoked);
		json_key(&w, "token_file");
		json_string(&w, path);
		json_key(&w, "removed");
		json_bool(&w, removed);
		json_end_object(&w);
		r = output_json_flush(&w, &out);
	} else {
		r = 0;
		if (revoked)
			r = buf_printf(&out, "logged out of %s\n", ctl->server);
		if (r >= 0 && removed)
			r = buf_printf(&out, "removed %s\n", path);
		r = r < 0 ? output_oom() : output_flush(&out);
	}
	buf_finish(&out);
	return r;
}

/* Removes the token file; 0, or prints why not. */
static int remove_token_file(struct ctl *ctl, const char *path, bool *ret_removed)
{
	char msg[700];

	*ret_removed = false;
	if (!path)
		return CTL_EXIT_OK;
	if (unlink(path) == 0) {
		*ret_removed = true;
		return CTL_EXIT_OK;
	}
	if (errno == ENOENT)
		return CTL_EXIT_OK;
	snprintf(msg, sizeof(msg), "cannot remove %s: %s", path, strerror(errno));
	return output_internal(ctl->json, NULL, msg);
}

int logout_main(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "logout";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest auth = GRID__V1__AUTHENTICATE_REQUEST__INIT;
	Grid__V1__LogoutRequest lo = GRID__V1__LOGOUT_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	struct session *s = NULL;
	bool removed = false;
	int r, rm;

	if ((r = args_help_only(ctl, cmd, argc, argv, logout_help)) >= 0)
		return r;
	if (args_none(ctl, cmd, argc, argv))
		return CTL_EXIT_USAGE;
	if (ctl->api_key)
		return ctl_usage(ctl, cmd,
				 "%s: API keys are not logged out; 'gridctl apikey revoke ID' "
				 "ends one",
				 cmd);

	r = session_find(ctl, &s);
	if (r == -ENOENT || (r == 0 && session_is_api_key(s))) {
		/* Nothing to end; say so, but it is what was asked. */
		session_free(s);
		if (!ctl->json)
			output_notice("not logged in to %s; nothing to do", ctl->server);
		return ctl->json ? logout_report(ctl, false, NULL, false) : CTL_EXIT_OK;
	}
	if (r == -ENOMEM)
		return output_oom();
	if (r < 0)
		return CTL_EXIT_ERROR; /* printed */

	/* ctl_connect() connects without authenticating (the command is
	 * anonymous); the session is presented here, so that one that
	 * ended already is not an error. */
	r = ctl_connect(ctl);
	if (r != CTL_EXIT_OK) {
		rm = remove_token_file(ctl, s->path, &removed);
		if (removed)
			output_notice("removed %s, but %s could not be told: the session stays "
				      "valid there until it expires",
				      s->path, ctl->server);
		session_free(s);
		return rm != CTL_EXIT_OK ? rm : r;
	}
	auth.token = s->secret;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &auth;
	r = grid_client_call(ctl->client, &req, &reply);
	if (r == 0 && reply->status->code == GRID__V1__CODE__CODE_UNAUTHENTICATED) {
		/* Expired or revoked already: only the file is left. */
		grid_client_reply_free(reply);
		rm = remove_token_file(ctl, s->path, &removed);
		if (!ctl->json)
			output_notice("the session with %s had ended already", ctl->server);
		r = rm != CTL_EXIT_OK ? rm : logout_report(ctl, false, s->path, removed);
		session_free(s);
		return r;
	}
	if (r == 0 && reply->status->code == GRID__V1__CODE__CODE_OK) {
		grid_client_reply_free(reply);
		reply = NULL;
		req.id = 0;
		req.call_case = GRID__V1__REQUEST__CALL_LOGOUT;
		req.logout = &lo;
		r = ctl_call(ctl, &req, &reply, "logout", NULL);
		grid_client_reply_free(reply);
		if (r == CTL_EXIT_OK) {
			rm = remove_token_file(ctl, s->path, &removed);
			r = rm != CTL_EXIT_OK ? rm : logout_report(ctl, true, s->path, removed);
		}
		session_free(s);
		return r;
	}
	/* The server failed us (gone, or an error other than "not
	 * authenticated"): forget the session here and say what is left. */
	if (r < 0) {
		status_code code = output_code_for_errno(r);

		output_error(ctl->json, code, NULL, grid_client_error(ctl->client), NULL, 0, NULL);
		r = output_exit_code(code);
	} else {
		output_error(ctl->json, reply->status->code, "logout", reply->status->message, NULL,
			     0, NULL);
		r = output_exit_code(reply->status->code);
		grid_client_reply_free(reply);
	}
	rm = remove_token_file(ctl, s->path, &removed);
	if (removed)
		output_notice("removed %s, but the server did not revoke the session: it stays "
			      "valid until it expires",
			      s->path);
	session_free(s);
	if (r == CTL_EXIT_OK)
		r = CTL_EXIT_ERROR;
	return rm != CTL_EXIT_OK ? rm : r;
}

static int print_principal(struct ctl *ctl, const Grid__V1__Principal *p,
			   const struct role_names *rn)
{
	bool key = strcmp(p->kind, "api_key") == 0;
	struct table *t = table_create(2);
	struct buf out, cell;
	int r = t ? 0 : -ENOMEM;

	buf_init(&out, 0);
	buf_init(&cell, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		/* The principal's keys, and the server's. */
		json_begin_object(&w);
		principal_json_fields(&w, p, rn);
		json_key(&w, "server");
		json_string(&w, ctl->server);
		json_end_object(&w);
		table_destroy(t);
		r = output_json_flush(&w, &out);
		buf_finish(&out);
		buf_finish(&cell);
		return r;
	}
	if (r == 0) {
		const char *row[2] = {key ? "api key" : "user", p->username};
		r = table_add_row(t, row);
	}
	if (r == 0 && p->display_name[0]) {
		const char *row[2] = {"name", p->display_name};
		r = table_add_row(t, row);
	}
	for (size_t i = 0; r == 0 && i < p->n_roles; i++) {
		char grant[200];
		const char *name = rn->names ? rn->names[i] : NULL;

		user_grant_text(p->roles[i]->role, p->roles[i]->node_code, grant, sizeof(grant));
		buf_reset(&cell);
		if (!p->roles[i]->node_code[0])
			r = buf_printf(&cell, "%s  (the whole grid)", grant);
		else
			r = buf_printf(&cell, "%s%s%s%s", grant, name ? "  (" : "",
				       name ? name : "", name ? ")" : "");
		if (r == 0) {
			const char *row[2] = {i == 0 ? "roles" : "", buf_cstr(&cell)};
			r = table_add_row(t, row);
		}
	}
	if (r == 0 && p->n_roles == 0) {
		const char *row[2] = {"roles", "none"};
		r = table_add_row(t, row);
	}
	if (r == 0 && key) {
		buf_reset(&cell);
		for (size_t i = 0; r == 0 && i < p->n_methods; i++)
			r = buf_printf(&cell, "%s%s", i ? ", " : "", p->methods[i]);
		if (r == 0) {
			const char *row[2] = {"methods", p->n_methods ? buf_cstr(&cell)
								      : "all that its role allows"};
			r = table_add_row(t, row);
		}
	}
	if (r == 0) {
		char until[64], left[64];

		buf_reset(&cell);
		if (p->expires_at_ms) {
			ctl_format_time(p->expires_at_ms, false, until, sizeof(until));
			time_left(p->expires_at_ms, left, sizeof(left));
			r = buf_printf(&cell, "until %s (%s)", until, left);
		} else {
			r = buf_puts(&cell, key ? "never expires" : "no fixed end");
		}
		if (r == 0) {
			const char *row[2] = {key ? "valid" : "session", buf_cstr(&cell)};
			r = table_add_row(t, row);
		}
	}
	if (r == 0) {
		const char *row[2] = {"server", ctl->server};
		r = table_add_row(t, row);
	}
	r = output_table(t, &out, r);
	table_destroy(t);
	buf_finish(&out);
	buf_finish(&cell);
	return r;
}

int whoami_main(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "whoami";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__WhoAmIRequest who = GRID__V1__WHO_AM_IREQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	struct role_names rn = {0};
	int r;

	if ((r = args_help_only(ctl, cmd, argc, argv, whoami_help)) >= 0)
		return r;
	if (args_none(ctl, cmd, argc, argv))
		return CTL_EXIT_USAGE;
	req.call_case = GRID__V1__REQUEST__CALL_WHO_AM_I;
	req.who_am_i = &who;
	r = ctl_call(ctl, &req, &reply, NULL, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	role_names_fetch(ctl, reply->who_am_i, &rn);
	r = print_principal(ctl, reply->who_am_i, &rn);
	role_names_finish(&rn);
	grid_client_reply_free(reply);
	return r;
}

int passwd_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {ARGS_HELP_OPT, PASSWORD_STDIN_OPT, {0}};
	const char *cmd = "passwd";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ChangePasswordRequest ch = GRID__V1__CHANGE_PASSWORD_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char old[SESSION_SECRET_MAX], new[SESSION_SECRET_MAX];
	bool from_stdin = false;
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "h", opts)) != -1) {
		if (opt == 'P')
			from_stdin = true;
		else
			return opt == 'h' ? ctl_help(passwd_help) : CTL_EXIT_USAGE;
	}
	if (args_none(ctl, cmd, argc, argv))
		return CTL_EXIT_USAGE;
	/* Connect (and authenticate) first: no point in typing passwords for
	 * a server that is down or a session that ended. */
	r = ctl_connect(ctl);
	if (r != CTL_EXIT_OK)
		return r;
	old[0] = new[0] = '\0';
	r = session_read_secret(ctl, "current password", from_stdin, old, sizeof(old));
	if (r == CTL_EXIT_OK)
		r = session_read_new_password(ctl, "new password", from_stdin, new, sizeof(new));
	if (r == CTL_EXIT_OK) {
		ch.old_password = old;
		ch.new_password = new;
		req.call_case = GRID__V1__REQUEST__CALL_CHANGE_PASSWORD;
		req.change_password = &ch;
		r = ctl_call(ctl, &req, &reply, "passwd", NULL);
	}
	explicit_bzero(old, sizeof(old));
	explicit_bzero(new, sizeof(new));
	if (r != CTL_EXIT_OK)
		return r;
	grid_client_reply_free(reply);
	if (ctl->json) {
		fputs("{\"changed\":true}\n", stdout);
		return CTL_EXIT_OK;
	}
	printf("password changed\n");
	return CTL_EXIT_OK;
}
