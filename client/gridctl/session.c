/* gridctl's credentials: finding the session token or API key a command
 * runs with, the token files `gridctl login` writes (one per server, 0600,
 * written atomically), the Authenticate call that opens every connection,
 * and reading passwords from the terminal without echo or from stdin.
 * Called by main.c (ctl_connect), auth.c and user.c; see session.h.
 */
#include "client/gridctl/session.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "common/buf.h"

/* A token file is a few lines; anything bigger is not one. */
#define TOKEN_FILE_MAX 8192

void session_wipe(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
}

void session_free(struct session *s)
{
	if (!s)
		return;
	session_wipe(s->secret);
	free(s->secret);
	free(s->path);
	free(s->user);
	free(s);
}

bool session_is_api_key(const struct session *s)
{
	return s->source == SESSION_API_KEY_OPTION || s->source == SESSION_API_KEY_ENV ||
	       strncmp(s->secret, "gk_", 3) == 0;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* "127.0.0.1:7420" -> "127.0.0.1_7420", "[::1]:7420" -> "__1_7420",
 * "Gridd.Example" -> "gridd.example_7420": a safe file name, one per
 * server however its address is written. */
static int server_file_name(const char *server, struct buf *out)
{
	const char *host = server, *host_end, *port = NULL;

	if (server[0] == '[') {
		host = server + 1;
		host_end = strchr(host, ']');
		if (!host_end)
			host_end = host + strlen(host);
		else if (host_end[1] == ':')
			port = host_end + 2;
	} else {
		const char *colon = strrchr(server, ':');

		if (colon && strchr(server, ':') == colon) {
			host_end = colon;
			port = colon + 1;
		} else {
			host_end = server + strlen(server);
		}
	}
	for (const char *p = host; p < host_end; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			   (c == '.' && p > host)))
			c = '_';
		if (buf_putc(out, c) < 0)
			return -ENOMEM;
	}
	if (host_end == host && buf_puts(out, "localhost") < 0)
		return -ENOMEM;
	if (port && *port) {
		if (buf_putc(out, '_') < 0)
			return -ENOMEM;
		for (const char *p = port; *p; p++)
			if (buf_putc(out, *p >= '0' && *p <= '9' ? *p : '_') < 0)
				return -ENOMEM;
		return 0;
	}
	return buf_printf(out, "_%d", GRID_DEFAULT_PORT) < 0 ? -ENOMEM : 0;
}

char *session_token_path(const struct ctl *ctl, bool *ret_default, int *ret_err)
{
	const char *config = env("XDG_CONFIG_HOME"), *home;
	struct buf b;
	char *path;

	*ret_default = false;
	*ret_err = -ENOMEM;
	if (ctl->token_file)
		return strdup(ctl->token_file);
	if (env("GRID_TOKEN_FILE"))
		return strdup(env("GRID_TOKEN_FILE"));

	buf_init(&b, 0);
	/* The XDG spec says a relative XDG_CONFIG_HOME is to be ignored. */
	if (config && config[0] == '/') {
		if (buf_printf(&b, "%s", config) < 0)
			goto fail;
	} else {
		home = env("HOME");
		if (!home) {
			const struct passwd *pw = getpwuid(getuid());

			home = pw && pw->pw_dir && pw->pw_dir[0] ? pw->pw_dir : NULL;
		}
		if (!home) {
			*ret_err = -ENOENT;
			goto fail;
		}
		if (buf_printf(&b, "%s/.config", home) < 0)
			goto fail;
	}
	if (buf_puts(&b, "/gridctl/sessions/") < 0 || server_file_name(ctl->server, &b) < 0 ||
	    !buf_cstr(&b))
		goto fail;
	path = (char *)buf_steal(&b, NULL);
	*ret_default = true;
	return path;
fail:
	buf_finish(&b);
	return NULL;
}

/* Keys a token file may hold; any other line is the token itself (a file
 * holding nothing but a token, e.g. from a secret store). */
static const char *file_value(const char *line, const char *key)
{
	size_t n = strlen(key);

	return strncmp(line, key, n) == 0 && line[n] == '=' ? line + n + 1 : NULL;
}

static bool is_known_key(const char *line)
{
	static const char *const keys[] = {"token", "user", "server", "expires_at_ms", NULL};

	for (const char *const *k = keys; *k; k++)
		if (file_value(line, *k))
			return true;
	return false;
}

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int session_read_file(const char *path, char **ret_token, char **ret_user)
{
	char data[TOKEN_FILE_MAX + 1];
	const char *token = NULL, *user = NULL;
	size_t len = 0;
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077)) {
		/* Like ssh with a private key: say so, but go on; the file
		 * may be on a file system without modes. */
		fflush(stdout);
		fprintf(stderr,
			"gridctl: warning: %s can be read by other users; "
			"run: chmod 600 %s\n",
			path, path);
	}
	while (len < sizeof(data) - 1) {
		ssize_t k = read(fd, data + len, sizeof(data) - 1 - len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	data[len] = '\0';
	if (r == 0 && len == sizeof(data) - 1)
		r = -EFBIG;
	for (char *line = data, *next; r == 0 && line; line = next) {
		char *v;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		if ((v = (char *)file_value(line, "token")))
			token = trim(v);
		else if ((v = (char *)file_value(line, "user")))
			user = trim(v);
		else if (!is_known_key(line) && !token)
			token = line;
	}
	if (r == 0 && (!token || !*token))
		r = -EINVAL;
	if (r == 0) {
		char *t = strdup(token), *u = user && *user ? strdup(user) : NULL;

		if (!t || (user && *user && !u)) {
			session_wipe(t);
			free(t);
			free(u);
			r = -ENOMEM;
		} else {
			*ret_token = t;
			if (ret_user)
				*ret_user = u;
			else
				free(u);
		}
	}
	explicit_bzero(data, sizeof(data));
	return r;
}

/* Creates the missing directories above path, 0700 each. */
static int make_parents(const char *path)
{
	char *dir = strdup(path);
	int r = 0;

	if (!dir)
		return -ENOMEM;
	for (char *p = dir + 1; *p && r == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			r = -errno;
		*p = '/';
	}
	free(dir);
	return r;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int session_write_file(const char *path, bool make_dirs, const char *server, const char *user,
		       int64_t expires_at_ms, const char *token, const char **ret_what)
{
	struct buf text, tmp;
	char when[64];
	const char *slash;
	int fd = -1, r;

	buf_init(&text, 0);
	buf_init(&tmp, 0);
	*ret_what = "create the directory for";
	if (make_dirs && (r = make_parents(path)) < 0)
		goto done;

	r = -ENOMEM;
	*ret_what = "write";
	if (buf_printf(&text,
		       "# gridctl session for %s on %s%s%s.\n"
		       "# Anyone who can read this file can act as %s: keep it 0600.\n"
		       "# 'gridctl logout' ends the session and removes the file.\n"
		       "server=%s\nuser=%s\nexpires_at_ms=%lld\ntoken=%s\n",
		       user, server, expires_at_ms ? ", valid until " : "",
		       expires_at_ms ? ctl_format_time(expires_at_ms, false, when, sizeof(when))
				     : "",
		       user, server, user, (long long)expires_at_ms, token) < 0)
		goto done;
	/* The temporary file sits next to the target so that rename() is
	 * atomic; mkstemp creates it 0600. */
	if (buf_printf(&tmp, "%s.XXXXXX", path) < 0 || !buf_cstr(&tmp))
		goto done;
	fd = mkstemp((char *)tmp.data);
	if (fd < 0) {
		r = -errno;
		goto done;
	}
	if (fchmod(fd, 0600) < 0 || (r = write_all(fd, (const char *)text.data, text.len)) < 0 ||
	    fsync(fd) < 0) {
		r = r < 0 ? r : -errno;
		goto done;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto done;
	}
	fd = -1;
	if (rename((char *)tmp.data, path) < 0) {
		r = -errno;
		goto done;
	}
	/* Make the rename itself durable. */
	slash = strrchr(path, '/');
	if (slash) {
		char *dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
		int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	r = 0;
done:
	if (fd >= 0)
		close(fd);
	if (r < 0 && tmp.len)
		unlink((char *)tmp.data);
	if (text.data)
		explicit_bzero(text.data, text.len);
	buf_finish(&text);
	buf_finish(&tmp);
	return r;
}

static struct session *session_new(enum session_source source, const char *secret)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->source = source;
	if (secret && !(s->secret = strdup(secret))) {
		free(s);
		return NULL;
	}
	return s;
}

int session_find(const struct ctl *ctl, struct session **ret)
{
	enum session_source source;
	struct session *s;
	bool is_default;
	int r;

	if (ctl->api_key) {
		s = session_new(SESSION_API_KEY_OPTION, ctl->api_key);
		goto found;
	}
	if (!ctl->token_file) {
		if (env("GRID_API_KEY")) {
			s = session_new(SESSION_API_KEY_ENV, env("GRID_API_KEY"));
			goto found;
		}
		if (env("GRID_TOKEN")) {
			s = session_new(SESSION_TOKEN_ENV, env("GRID_TOKEN"));
			goto found;
		}
	}
	source = ctl->token_file	  ? SESSION_TOKEN_FILE_OPTION
		 : env("GRID_TOKEN_FILE") ? SESSION_TOKEN_FILE_ENV
					  : SESSION_TOKEN_FILE;
	s = session_new(source, NULL);
	if (!s)
		goto found;
	s->path = session_token_path(ctl, &is_default, &r);
	if (!s->path) {
		session_free(s);
		return r;
	}
	r = session_read_file(s->path, &s->secret, &s->user);
	if (r < 0) {
		if (r != -ENOENT) {
			char msg[600];

			snprintf(msg, sizeof(msg), "cannot read the token file %s: %s", s->path,
				 r == -EINVAL ? "there is no token in it" : strerror(-r));
			output_error(ctl->json, GRID__V1__CODE__CODE_UNAUTHENTICATED, NULL, msg,
				     NULL, 0, NULL);
		}
		session_free(s);
		return r;
	}
found:
	if (!s || !s->secret) {
		session_free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

/* "gridctl --token-file FILE login USER": how to log in again with the
 * same token file. */
static void login_hint(const struct ctl *ctl, const char *user, char *buf, size_t size)
{
	snprintf(buf, size, "gridctl%s%s login%s%s", ctl->token_file ? " --token-file " : "",
		 ctl->token_file ? ctl->token_file : "", user ? " " : "", user ? user : "");
}

int session_require(struct ctl *ctl)
{
	char msg[1024], hint[600];
	int r;

	if (ctl->session)
		return CTL_EXIT_OK;
	r = session_find(ctl, &ctl->session);
	if (r == 0)
		return CTL_EXIT_OK;
	if (r == -ENOMEM)
		return output_oom();
	if (r != -ENOENT)
		return CTL_EXIT_DENIED; /* printed */
	login_hint(ctl, NULL, hint, sizeof(hint));
	if (ctl->token_file || env("GRID_TOKEN_FILE"))
		snprintf(msg, sizeof(msg), "not logged in to %s (no token file %s): run '%s'",
			 ctl->server, ctl->token_file ? ctl->token_file : env("GRID_TOKEN_FILE"),
			 hint);
	else
		snprintf(msg, sizeof(msg), "not logged in to %s: run '%s'", ctl->server, hint);
	output_error(ctl->json, GRID__V1__CODE__CODE_UNAUTHENTICATED, NULL, msg, NULL, 0, NULL);
	return CTL_EXIT_DENIED;
}

int session_authenticate(struct ctl *ctl)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest auth = GRID__V1__AUTHENTICATE_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const struct session *s = ctl->session;
	char msg[1400], hint[600];
	status_code code;
	int r;

	auth.token = s->secret;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &auth;
	r = grid_client_call(ctl->client, &req, &reply);
	if (r < 0) {
		code = output_code_for_errno(r);
		output_error(ctl->json, code, NULL, grid_client_error(ctl->client), NULL, 0, NULL);
		r = output_exit_code(code);
		return r == CTL_EXIT_OK ? CTL_EXIT_ERROR : r;
	}
	code = reply->status->code;
	if (code == GRID__V1__CODE__CODE_OK) {
		grid_client_reply_free(reply);
		return CTL_EXIT_OK;
	}
	if (code != GRID__V1__CODE__CODE_UNAUTHENTICATED) {
		output_error(ctl->json, code, NULL, reply->status->message, NULL, 0, NULL);
		r = output_exit_code(code);
		grid_client_reply_free(reply);
		return r == CTL_EXIT_OK ? CTL_EXIT_ERROR : r;
	}
	/* The server's words ("session expired; log in again") and what to
	 * do about it here. */
	const char *why = reply->status->message[0] ? reply->status->message : "not authenticated";
	switch (s->source) {
	case SESSION_API_KEY_OPTION:
	case SESSION_API_KEY_ENV:
		snprintf(msg, sizeof(msg), "%s refused the API key%s: %s", ctl->server,
			 s->source == SESSION_API_KEY_ENV ? " in $GRID_API_KEY" : "", why);
		break;
	case SESSION_TOKEN_ENV:
		snprintf(msg, sizeof(msg), "%s refused the session token in $GRID_TOKEN: %s",
			 ctl->server, why);
		break;
	default:
		login_hint(ctl, s->user, hint, sizeof(hint));
		snprintf(msg, sizeof(msg), "%s (%s): run '%s'", why, ctl->server, hint);
		break;
	}
	output_error(ctl->json, code, NULL, msg, NULL, 0, NULL);
	grid_client_reply_free(reply);
	return CTL_EXIT_DENIED;
}

/* Reading secrets. While the terminal's echo is off, a signal that ends
 * gridctl must turn it back on first, or the shell is left without echo. */
static int tty_fd = -1;
static struct termios tty_saved;
static const int tty_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
static struct sigaction tty_old_actions[4];

static void on_tty_signal(int sig)
{
	if (tty_fd >= 0)
		tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int echo_off(int fd)
{
	struct sigaction sa;
	struct termios t;

	if (tcgetattr(fd, &tty_saved) < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tty_signal;
	sigemptyset(&sa.sa_mask);
	tty_fd = fd;
	for (size_t i = 0; i < sizeof(tty_signals) / sizeof(tty_signals[0]); i++)
		sigaction(tty_signals[i], &sa, &tty_old_actions[i]);
	t = tty_saved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	if (tcsetattr(fd, TCSAFLUSH, &t) < 0)
		return -errno;
	return 0;
}

static void echo_restore(int fd)
{
	tcsetattr(fd, TCSAFLUSH, &tty_saved);
	tty_fd = -1;
	for (size_t i = 0; i < sizeof(tty_signals) / sizeof(tty_signals[0]); i++)
		sigaction(tty_signals[i], &tty_old_actions[i], NULL);
}

/* Reads one line from fd (byte by byte: a terminal in canonical mode, so
 * nothing after the newline is taken). 0, -ENODATA at end of input before
 * anything, -EMSGSIZE when longer than size - 1 (the rest is read and
 * dropped), or a negative errno. */
static int read_line_fd(int fd, char *buf, size_t size)
{
	size_t len = 0;
	bool got = false, too_long = false;

	for (;;) {
		char c;
		ssize_t k = read(fd, &c, 1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0) {
			if (!got)
				return -ENODATA;
			break;
		}
		got = true;
		if (c == '\n')
			break;
		if (len + 1 < size)
			buf[len++] = c;
		else
			too_long = true;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (too_long) {
		explicit_bzero(buf, size);
		return -EMSGSIZE;
	}
	return 0;
}

static int read_error(struct ctl *ctl, const char *what, int err, bool from_stdin, size_t size)
{
	char msg[300];

	if (err == -ENODATA && from_stdin)
		snprintf(msg, sizeof(msg),
			 "--password-stdin: standard input ended before the %s (one per line)",
			 what);
	else if (err == -ENODATA)
		snprintf(msg, sizeof(msg), "no %s given", what);
	else if (err == -EMSGSIZE)
		snprintf(msg, sizeof(msg), "the %s is longer than %zu bytes", what, size - 1);
	else
		snprintf(msg, sizeof(msg), "cannot read the %s: %s", what, strerror(-err));
	output_error(ctl->json, GRID__V1__CODE__CODE_INVALID_ARGUMENT, NULL, msg, NULL, 0, NULL);
	return CTL_EXIT_USAGE;
}

static int open_tty(struct ctl *ctl, const char *what)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		char msg[300];

		snprintf(msg, sizeof(msg),
			 "cannot ask for the %s: no terminal (use --password-stdin in scripts)",
			 what);
		output_error(ctl->json, GRID__V1__CODE__CODE_INVALID_ARGUMENT, NULL, msg, NULL, 0,
			     NULL);
		return -1;
	}
	return fd;
}

static int prompt_tty(struct ctl *ctl, const char *prompt, bool echo, char *buf, size_t size)
{
	int fd, r;

	fflush(stdout);
	fd = open_tty(ctl, prompt);
	if (fd < 0)
		return CTL_EXIT_USAGE;
	write_all(fd, prompt, strlen(prompt));
	write_all(fd, ": ", 2);
	if (!echo && (r = echo_off(fd)) < 0) {
		echo_restore(fd);
		close(fd);
		return read_error(ctl, prompt, r, false, size);
	}
	r = read_line_fd(fd, buf, size);
	if (!echo) {
		echo_restore(fd);
		write_all(fd, "\n", 1);
	}
	close(fd);
	return r < 0 ? read_error(ctl, prompt, r, false, size) : CTL_EXIT_OK;
}

int session_read_secret(struct ctl *ctl, const char *prompt, bool from_stdin, char *buf,
			size_t size)
{
	int r;

	if (!from_stdin)
		return prompt_tty(ctl, prompt, false, buf, size);
	/* Unbuffered reads of fd 0, so that two calls read two lines and
	 * nothing is left in a stdio buffer. */
	r = read_line_fd(STDIN_FILENO, buf, size);
	return r < 0 ? read_error(ctl, prompt, r, true, size) : CTL_EXIT_OK;
}

int session_read_line(struct ctl *ctl, const char *prompt, char *buf, size_t size)
{
	return prompt_tty(ctl, prompt, true, buf, size);
}

int session_read_new_password(struct ctl *ctl, const char *what, bool from_stdin, char *buf,
			      size_t size)
{
	char again[SESSION_SECRET_MAX], prompt[200];
	int r;

	r = session_read_secret(ctl, what, from_stdin, buf, size);
	if (r != CTL_EXIT_OK)
		return r;
	if (!buf[0]) {
		snprintf(prompt, sizeof(prompt), "the %s must not be empty", what);
		output_error(ctl->json, GRID__V1__CODE__CODE_INVALID_ARGUMENT, NULL, prompt, NULL,
			     0, NULL);
		return CTL_EXIT_REJECTED;
	}
	if (from_stdin)
		return CTL_EXIT_OK;
	snprintf(prompt, sizeof(prompt), "%s again", what);
	r = session_read_secret(ctl, prompt, false, again, sizeof(again));
	if (r != CTL_EXIT_OK) {
		explicit_bzero(buf, size);
		return r;
	}
	r = strcmp(buf, again) == 0 ? CTL_EXIT_OK : CTL_EXIT_REJECTED;
	explicit_bzero(again, sizeof(again));
	if (r != CTL_EXIT_OK) {
		explicit_bzero(buf, size);
		output_error(ctl->json, GRID__V1__CODE__CODE_INVALID_ARGUMENT, NULL,
			     "the two passwords differ; nothing was changed", NULL, 0, NULL);
	}
	return r;
}
