/* Output of gridctl; see output.h. Called by every command file and by
 * main.c for errors. */
#include "client/gridctl/output.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/gridctl.h"
#include "client/gridctl/table.h"

int output_exit_code(status_code code)
{
	switch (code) {
	case GRID__V1__CODE__CODE_OK:
		return CTL_EXIT_OK;
	case GRID__V1__CODE__CODE_NOT_FOUND:
		return CTL_EXIT_NOT_FOUND;
	case GRID__V1__CODE__CODE_PERMISSION_DENIED:
	case GRID__V1__CODE__CODE_UNAUTHENTICATED:
		return CTL_EXIT_DENIED;
	case GRID__V1__CODE__CODE_UNAVAILABLE:
	case GRID__V1__CODE__CODE_DEADLINE_EXCEEDED:
		return CTL_EXIT_UNAVAILABLE;
	case GRID__V1__CODE__CODE_INVALID_ARGUMENT:
	case GRID__V1__CODE__CODE_ALREADY_EXISTS:
	case GRID__V1__CODE__CODE_FAILED_PRECONDITION:
	case GRID__V1__CODE__CODE_OUT_OF_RANGE:
	case GRID__V1__CODE__CODE_RESOURCE_EXHAUSTED:
		return CTL_EXIT_REJECTED;
	default:
		return CTL_EXIT_ERROR;
	}
}

status_code output_code_for_errno(int err)
{
	switch (err) {
	/* Everything that means "the server is not there or went away",
	 * including a server that stopped speaking the protocol. */
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ECONNABORTED:
	case -EHOSTUNREACH:
	case -EHOSTDOWN:
	case -ENETUNREACH:
	case -ENETDOWN:
	case -EADDRNOTAVAIL:
	case -ENOTCONN:
	case -EPIPE:
	case -EPROTO:
	case -EAGAIN:
		return GRID__V1__CODE__CODE_UNAVAILABLE;
	case -ETIMEDOUT:
		return GRID__V1__CODE__CODE_DEADLINE_EXCEEDED;
	case -EPROTONOSUPPORT:
		return GRID__V1__CODE__CODE_UNIMPLEMENTED;
	default:
		/* A connection-level error reply carried a status; the
		 * library turned its code into this errno. */
		return status_from_errno(err);
	}
}

void output_node_json(struct json_writer *w, const Grid__V1__Node *n)
{
	json_begin_object(w);
	output_node_json_fields(w, n);
	json_end_object(w);
}

void output_node_json_fields(struct json_writer *w, const Grid__V1__Node *n)
{
	json_key(w, "id");
	json_int(w, n->id);
	json_key(w, "code");
	json_string(w, n->code);
	json_key(w, "parent_code");
	if (n->parent_code[0])
		json_string(w, n->parent_code);
	else
		json_null(w);
	json_key(w, "level");
	json_uint(w, n->level);
	json_key(w, "level_name");
	json_string(w, n->level_name);
	json_key(w, "name");
	json_string(w, n->name);
	json_key(w, "leader_name");
	json_string(w, n->leader_name);
	json_key(w, "leader_phone");
	json_string(w, n->leader_phone);
	json_key(w, "retired");
	json_bool(w, n->retired);
	json_key(w, "child_count");
	json_uint(w, n->child_count);
}

const char *output_node_label(const Grid__V1__Node *n, struct buf *scratch)
{
	buf_reset(scratch);
	if (buf_printf(scratch, "%s%s", n->name, n->retired ? " (retired)" : "") < 0)
		return n->name;
	return buf_cstr(scratch);
}

int output_node_fields(struct buf *out, const Grid__V1__Node *n, const char *path)
{
	struct table *t = table_create(2);
	char level[64], children[16], id[24];
	int r = 0;

	if (!t)
		return -ENOMEM;
	snprintf(level, sizeof(level), "%s (%u)", n->level_name[0] ? n->level_name : "?", n->level);
	snprintf(children, sizeof(children), "%u", n->child_count);
	snprintf(id, sizeof(id), "%lld", (long long)n->id);
	const char *rows[][2] = {
	    {"code", n->code},
	    {"name", n->name},
	    {"level", level},
	    {"parent", n->parent_code[0] ? n->parent_code : "-"},
	    {"path", path},
	    {"leader", n->leader_name[0] ? n->leader_name : "-"},
	    {"phone", n->leader_phone[0] ? n->leader_phone : "-"},
	    {"children", children},
	    {"retired", n->retired ? "yes" : "no"},
	    {"id", id},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && r == 0; i++)
		if (rows[i][1])
			r = table_add_row(t, rows[i]);
	if (r == 0)
		r = table_render(t, out);
	table_destroy(t);
	return r;
}

void output_check_epipe(int err)
{
	if (err == EPIPE) {
		/* The reader went away (gridctl ... | head): end the way
		 * any filter does, without a message. */
		signal(SIGPIPE, SIG_DFL);
		raise(SIGPIPE);
	}
}

int output_write(const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, stdout) != n) {
		output_check_epipe(errno);
		fprintf(stderr, "gridctl: writing the output failed: %s\n", strerror(errno));
		return CTL_EXIT_ERROR;
	}
	return CTL_EXIT_OK;
}

int output_flush(struct buf *out)
{
	int r = output_write(out->data, out->len);

	buf_reset(out);
	return r;
}

int output_oom(void)
{
	fflush(stdout);
	fprintf(stderr, "gridctl: out of memory\n");
	return CTL_EXIT_ERROR;
}

void output_notice(const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	int r;

	/* One line, in one write, as a single fprintf() would. */
	buf_init(&b, 0);
	va_start(ap, fmt);
	r = buf_puts(&b, "gridctl: ") < 0 || buf_vprintf(&b, fmt, ap) < 0 || buf_putc(&b, '\n') < 0;
	va_end(ap);
	fflush(stdout);
	if (r == 0)
		fwrite(b.data, 1, b.len, stderr);
	else
		output_oom();
	buf_finish(&b);
}

int output_table(const struct table *t, struct buf *out, int r)
{
	if (r == 0)
		r = table_render(t, out);
	return r == 0 ? output_flush(out) : output_oom();
}

int output_json_flush(struct json_writer *w, struct buf *out)
{
	if (json_writer_finish(w) < 0 || buf_putc(out, '\n') < 0)
		return output_oom();
	return output_flush(out);
}

/* "NOT_FOUND" -> "not found". */
static void code_words(status_code code, char *out, size_t size)
{
	const char *name = status_name(code);
	size_t i;

	if (code == GRID__V1__CODE__CODE_UNAUTHENTICATED)
		name = "not authenticated";
	for (i = 0; name[i] && i + 1 < size; i++)
		out[i] =
		    name[i] == '_'
			? ' '
			: (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	out[i] = '\0';
}

/* The subject is left out when the server's message already names it
 * ("node WH-X not found"), so the line does not say it twice. */
static int names_subject(const char *message, const char *subject)
{
	const char *key = strrchr(subject, ' ');

	key = key ? key + 1 : subject;
	return *key && strstr(message, key) != NULL;
}

void output_error(bool json, status_code code, const char *subject, const char *message,
		  Grid__V1__ErrorDetail *const *details, size_t n_details,
		  const char *detail_prefix)
{
	char words[64];
	struct buf b;

	if (!message || !*message) {
		code_words(code, words, sizeof(words));
		message = words;
	}
	if (subject && names_subject(message, subject))
		subject = NULL;
	buf_init(&b, 0);
	if (json) {
		struct json_writer w;
		struct buf msg;

		buf_init(&msg, 0);
		buf_printf(&msg, "%s%s%s", subject ? subject : "", subject ? ": " : "", message);
		json_writer_init(&w, &b, false);
		json_begin_object(&w);
		json_key(&w, "error");
		json_begin_object(&w);
		json_key(&w, "code");
		json_string(&w, status_name(code));
		json_key(&w, "message");
		json_string_len(&w, (const char *)msg.data, msg.len);
		json_key(&w, "details");
		json_begin_array(&w);
		for (size_t i = 0; i < n_details; i++) {
			json_begin_object(&w);
			json_key(&w, "line");
			json_uint(&w, details[i]->line);
			json_key(&w, "field");
			json_string(&w, details[i]->field);
			json_key(&w, "reason");
			json_string(&w, details[i]->reason);
			json_end_object(&w);
		}
		json_end_array(&w);
		json_end_object(&w);
		json_end_object(&w);
		json_writer_finish(&w);
		buf_putc(&b, '\n');
		buf_finish(&msg);
	} else {
		char *clean = table_clean(message);

		buf_printf(&b, "gridctl: %s%s%s\n", subject ? subject : "", subject ? ": " : "",
			   clean ? clean : message);
		free(clean);
		for (size_t i = 0; i < n_details; i++) {
			const Grid__V1__ErrorDetail *d = details[i];
			char *field = table_clean(d->field), *reason = table_clean(d->reason);

			buf_puts(&b, detail_prefix ? detail_prefix : "gridctl");
			if (d->line)
				buf_printf(&b, ":%u", d->line);
			if (field && *field)
				buf_printf(&b, ": %s", field);
			buf_printf(&b, ": %s\n", reason ? reason : "");
			free(field);
			free(reason);
		}
	}
	fflush(stdout);
	if (b.len)
		fwrite(b.data, 1, b.len, stderr);
	fflush(stderr);
	buf_finish(&b);
}

int output_internal(bool json, const char *subject, const char *message)
{
	output_error(json, GRID__V1__CODE__CODE_INTERNAL, subject, message, NULL, 0, NULL);
	return CTL_EXIT_ERROR;
}
