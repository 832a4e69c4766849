/* Where gridctl finds its credentials and how it proves who it is.
 *
 * A credential is, in this order of precedence: the --api-key option, the
 * --token-file option, $GRID_API_KEY, $GRID_TOKEN, $GRID_TOKEN_FILE, and
 * the default token file $XDG_CONFIG_HOME/gridctl/sessions/HOST_PORT (or
 * ~/.config/...), which `gridctl login` writes. Command-line options beat
 * the environment, so a script can always say exactly which one it means.
 *
 * main.c's ctl_connect() calls session_require() before it connects and
 * session_authenticate() right after, for every command but ping, help,
 * login and logout (which presents the session itself, so that one that
 * ended already is no error); auth.c (login, logout, passwd) and user.c
 * (user add) also use the token file and password helpers directly.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl;

/* Room for a password or token read by the helpers below, with its NUL. */
#define SESSION_SECRET_MAX 1024

enum session_source {
	SESSION_API_KEY_OPTION,	   /* --api-key */
	SESSION_TOKEN_FILE_OPTION, /* --token-file */
	SESSION_API_KEY_ENV,	   /* $GRID_API_KEY */
	SESSION_TOKEN_ENV,	   /* $GRID_TOKEN */
	SESSION_TOKEN_FILE_ENV,	   /* $GRID_TOKEN_FILE */
	SESSION_TOKEN_FILE,	   /* the default file for the server */
};

struct session {
	enum session_source source;
	char *secret; /* the session token or API key; wiped when freed */
	char *path;   /* the token file it came from; NULL for a key or $GRID_TOKEN */
	char *user;   /* who logged in, when the token file says; else NULL */
};

/* Accepts NULL. Wipes the secret. */
void session_free(struct session *s);

/* True when the source is an API key rather than a person's session. */
bool session_is_api_key(const struct session *s);

/* The token file for ctl->server: --token-file, else $GRID_TOKEN_FILE, else
 * the default path (HOST_PORT with the port filled in, so "gridd.example"
 * and "gridd.example:7420" share one; *ret_default is then true). Returns a
 * malloc'd path, or NULL with *ret_err -ENOMEM, or -ENOENT when there is
 * no home directory to put the default in. */
char *session_token_path(const struct ctl *ctl, bool *ret_default, int *ret_err);

/* Finds the credential as described at the top. 0 with *ret (caller frees)
 * or -ENOENT when there is none, or another negative errno when a token
 * file cannot be read (printed). */
int session_find(const struct ctl *ctl, struct session **ret);

/* Reads a token file: "token=..." (and optional "user=...") lines, or a
 * file holding nothing but the token. 0, -ENOENT, -EINVAL (no token in it)
 * or the errno of the failed read; *ret_token and *ret_user (may be NULL)
 * are malloc'd, written only on success. */
int session_read_file(const char *path, char **ret_token, char **ret_user);

/* Writes the token file atomically (a temporary file in the same directory,
 * fsync'd, renamed), readable by its owner alone (0600). With make_dirs
 * (the default path) missing directories are created 0700; otherwise the
 * directory must exist. 0 or a negative errno, *ret_what names the failing step. */
int session_write_file(const char *path, bool make_dirs, const char *server, const char *user,
		       int64_t expires_at_ms, const char *token, const char **ret_what);

/* Finds ctl's credential and keeps it in ctl->session for
 * session_authenticate(). 0, or prints "not logged in to HOST:PORT: run
 * 'gridctl login'" (or the read error) and returns the exit code (4 when
 * there is no credential). */
int session_require(struct ctl *ctl);

/* Sends Authenticate with ctl->session's secret on ctl's fresh connection.
 * 0, or prints why it was refused (an expired or revoked session gets the
 * hint to log in again) and returns the exit code. */
int session_authenticate(struct ctl *ctl);

/* Reads a password (or another secret) into buf: from standard input, one
 * line, when from_stdin (for scripts; several calls read consecutive
 * lines), else from the terminal (/dev/tty) with prompt and without echo.
 * The newline is dropped. 0, or prints why not (no terminal, end of
 * input, a line longer than size - 1) and returns an exit code. */
int session_read_secret(struct ctl *ctl, const char *prompt, bool from_stdin, char *buf,
			size_t size);

/* Prompts on the terminal, with echo, for a line (a user name). 0 or an
 * exit code, printed. */
int session_read_line(struct ctl *ctl, const char *prompt, char *buf, size_t size);

/* Asks for a new password twice on the terminal (or reads it once from
 * stdin), refusing an empty one and two that differ. 0 or an exit code,
 * printed. */
int session_read_new_password(struct ctl *ctl, const char *what, bool from_stdin, char *buf,
			      size_t size);

/* Overwrites a secret so that it does not linger in memory. Accepts NULL. */
void session_wipe(char *s);
