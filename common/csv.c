/* RFC 4180 CSV reader and writer; see csv.h. The server's grid import and
 * export and gridctl's roster commands call it.
 *
 * The reader walks the borrowed input once. Each record's fields are copied,
 * unquoted and NUL-terminated, back to back into one buffer owned by the
 * reader and reused for the next record, so a record never costs more than
 * CSV_MAX_FIELDS * (CSV_MAX_FIELD_LEN + 1) bytes however large the input is.
 * A malformed record is reported with its line and skipped up to the next
 * physical line, so that an import can list every bad line in one pass.
 */
#include "common/csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct csv_reader {
	const char *data; /* borrowed */
	size_t len;
	size_t pos;
	unsigned line;	 /* line of data[pos] */
	struct buf text; /* the current record's fields, each NUL-terminated */
	size_t offs[CSV_MAX_FIELDS];
	const char *fields[CSV_MAX_FIELDS];
	char err[128];
	unsigned err_line;
};

struct csv_reader *csv_reader_create(const char *data, size_t len)
{
	struct csv_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->data = data;
	r->len = len;
	r->line = 1;
	buf_init(&r->text, CSV_MAX_FIELDS * (CSV_MAX_FIELD_LEN + 1));
	/* Spreadsheets on Windows start UTF-8 files with a byte-order mark. */
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		r->pos = 3;
	return r;
}

void csv_reader_destroy(struct csv_reader *r)
{
	if (!r)
		return;
	buf_finish(&r->text);
	free(r);
}

const char *csv_reader_error(const struct csv_reader *r)
{
	return r->err;
}

unsigned csv_reader_error_line(const struct csv_reader *r)
{
	return r->err_line;
}

static int fail(struct csv_reader *r, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct csv_reader *r, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->err_line = line;
	return -EINVAL;
}

/* Moves past the rest of the physical line, line end included. */
static void skip_line(struct csv_reader *r)
{
	const char *nl = memchr(r->data + r->pos, '\n', r->len - r->pos);

	if (!nl) {
		r->pos = r->len;
		return;
	}
	r->pos = (size_t)(nl - r->data) + 1;
	r->line++;
}

/* Moves past the rest of a quoted field whose content was rejected, so
 * that its remaining lines are not read as records of their own, and
 * then past the rest of the line it ends on. */
static void skip_quoted(struct csv_reader *r)
{
	while (r->pos < r->len) {
		char c = r->data[r->pos++];

		if (c == '\n') {
			r->line++;
		} else if (c == '"') {
			if (r->pos < r->len && r->data[r->pos] == '"')
				r->pos++;
			else
				break;
		}
	}
	if (r->pos < r->len)
		skip_line(r);
}

/* At a line end: "\n", "\r\n", or a final "\r" with nothing after it. */
static bool at_line_end(const struct csv_reader *r)
{
	const char *p = r->data + r->pos;
	size_t left = r->len - r->pos;

	return left > 0 && (p[0] == '\n' || (p[0] == '\r' && (left == 1 || p[1] == '\n')));
}

static void eat_line_end(struct csv_reader *r)
{
	if (r->data[r->pos] == '\r')
		r->pos++;
	if (r->pos < r->len) {
		r->pos++;
		r->line++;
	}
}

static int append(struct csv_reader *r, size_t field_start, const char *p, size_t n,
		  unsigned nfield)
{
	if (r->text.len - field_start + n > CSV_MAX_FIELD_LEN)
		return fail(r, r->line, "field %u is longer than %d bytes", nfield,
			    CSV_MAX_FIELD_LEN);
	return buf_append(&r->text, p, n);
}

/* Reads a quoted field; r->pos is just past the opening quote. */
static int read_quoted(struct csv_reader *r, size_t field_start, unsigned nfield)
{
	unsigned open_line = r->line;
	int err;

	for (;;) {
		const char *p = r->data + r->pos;
		size_t left = r->len - r->pos, n = 0;

		while (n < left && p[n] != '"' && p[n] != '\n' && p[n] != '\0')
			n++;
		err = append(r, field_start, p, n, nfield);
		if (err < 0)
			break;
		r->pos += n;
		if (n == left)
			return fail(r, open_line, "unterminated quoted field %u", nfield);
		if (p[n] == '\0') {
			err = fail(r, r->line, "NUL byte in field %u", nfield);
			break;
		}
		if (p[n] == '"' && (n + 1 == left || p[n + 1] != '"')) {
			r->pos++;
			if (r->pos < r->len && r->data[r->pos] != ',' && !at_line_end(r)) {
				err = fail(r, r->line, "text after closing quote in field %u",
					   nfield);
				skip_line(r);
				return err;
			}
			return 0;
		}
		/* A line end inside quotes is data, but it still starts a new
		 * line for the line numbers of later records; "" is one quote. */
		err = append(r, field_start, p + n, 1, nfield);
		if (err < 0)
			break;
		if (p[n] == '\n') {
			r->pos++;
			r->line++;
		} else {
			r->pos += 2;
		}
	}
	/* r->pos is still on the byte that was refused, so the rest of the
	 * field can be told apart from the records after it. */
	if (err == -EINVAL)
		skip_quoted(r);
	return err;
}

static int read_unquoted(struct csv_reader *r, size_t field_start, unsigned nfield)
{
	const char *p = r->data + r->pos;
	size_t left = r->len - r->pos, n = 0;
	int err;

	while (n < left && p[n] != ',' && p[n] != '\n' && p[n] != '\r' && p[n] != '"' &&
	       p[n] != '\0')
		n++;
	err = append(r, field_start, p, n, nfield);
	if (err == 0) {
		r->pos += n;
		if (n == left)
			return 0;
		if (p[n] == '"')
			err = fail(r, r->line, "quote inside unquoted field %u", nfield);
		else if (p[n] == '\0')
			err = fail(r, r->line, "NUL byte in field %u", nfield);
		else if (p[n] == '\r' && !at_line_end(r))
			err = fail(r, r->line, "carriage return without line feed in field %u",
				   nfield);
	}
	if (err == -EINVAL)
		skip_line(r);
	return err;
}

int csv_reader_next(struct csv_reader *r, struct csv_record *ret_rec)
{
	unsigned start_line, nfields = 0;
	int err;

	/* Completely empty lines carry no record. */
	while (r->pos < r->len && at_line_end(r))
		eat_line_end(r);
	if (r->pos >= r->len)
		return 0;

	start_line = r->line;
	buf_reset(&r->text);
	for (;;) {
		size_t field_start = r->text.len;

		if (nfields == CSV_MAX_FIELDS) {
			err = fail(r, r->line, "more than %d fields", CSV_MAX_FIELDS);
			skip_line(r);
			return err;
		}
		nfields++;
		if (r->pos < r->len && r->data[r->pos] == '"') {
			r->pos++;
			err = read_quoted(r, field_start, nfields);
		} else {
			err = read_unquoted(r, field_start, nfields);
		}
		if (err < 0)
			return err;
		err = buf_putc(&r->text, '\0');
		if (err < 0)
			return err;
		r->offs[nfields - 1] = field_start;

		if (r->pos < r->len && r->data[r->pos] == ',') {
			r->pos++;
			continue;
		}
		if (r->pos < r->len)
			eat_line_end(r);
		break;
	}

	/* The buffer may have moved while it grew; point into it only now. */
	for (unsigned i = 0; i < nfields; i++)
		r->fields[i] = (const char *)r->text.data + r->offs[i];
	ret_rec->fields = r->fields;
	ret_rec->nfields = nfields;
	ret_rec->line = start_line;
	return 1;
}

static bool needs_quotes(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return false;
	/* Other tools trim unquoted fields; quotes keep the spaces. */
	if (s[0] == ' ' || s[n - 1] == ' ')
		return true;
	return strpbrk(s, ",\"\r\n") != NULL;
}

static int write_field(struct buf *out, const char *s)
{
	const char *q;
	int err;

	if (!needs_quotes(s))
		return buf_puts(out, s);
	err = buf_putc(out, '"');
	while (err == 0 && (q = strchr(s, '"')) != NULL) {
		/* Copy up to and including the quote, then double it. */
		err = buf_append(out, s, (size_t)(q - s) + 1);
		if (err == 0)
			err = buf_putc(out, '"');
		s = q + 1;
	}
	if (err == 0)
		err = buf_puts(out, s);
	if (err == 0)
		err = buf_putc(out, '"');
	return err;
}

int csv_write_record(struct buf *out, const char *const *fields, size_t nfields)
{
	size_t start = out->len;
	int err = 0;

	/* Refuse what csv_reader_next() would reject, so that everything
	 * written here reads back. */
	if (nfields == 0 || nfields > CSV_MAX_FIELDS)
		return -EINVAL;
	for (size_t i = 0; i < nfields; i++)
		if (fields[i] && strlen(fields[i]) > CSV_MAX_FIELD_LEN)
			return -EINVAL;

	/* A record of one empty field would be an empty line, which readers
	 * skip; writing it as "" keeps it. */
	if (nfields == 1 && (!fields[0] || !fields[0][0]))
		return buf_puts(out, "\"\"\n");

	for (size_t i = 0; i < nfields && err == 0; i++) {
		if (i > 0)
			err = buf_putc(out, ',');
		if (err == 0)
			err = write_field(out, fields[i] ? fields[i] : "");
	}
	if (err == 0)
		err = buf_putc(out, '\n');
	/* Never leave half a record behind when the buffer hits its limit. */
	if (err < 0)
		out->len = start;
	return err;
}
