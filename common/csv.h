/* CSV as district offices keep their rosters: RFC 4180 (comma separator,
 * double-quoted fields with "" for a quote, quoted fields may span lines),
 * UTF-8 with or without the byte-order mark spreadsheets write, LF or CRLF
 * line ends. Used by the grid import/export on the server and by gridctl.
 */
#pragma once

#include <stddef.h>

#include "common/buf.h"

#define CSV_MAX_FIELDS 64
#define CSV_MAX_FIELD_LEN 4096

struct csv_reader;

struct csv_record {
	const char *const *fields; /* borrowed: valid until the next call */
	size_t nfields;
	unsigned line; /* 1-based line where the record starts */
};

/* Borrows data (it must outlive the reader). NULL when out of memory. */
struct csv_reader *csv_reader_create(const char *data, size_t len);
void csv_reader_destroy(struct csv_reader *r);

/* Reads the next record. Returns 1 with *ret_rec filled, 0 at the end, or
 * -EINVAL for a malformed record (csv_reader_error() says why and
 * csv_reader_error_line() where); after -EINVAL the reader has skipped to the
 * start of the next line, so a caller can go on and report every bad line.
 * Lines that are completely empty are skipped. Returns -ENOMEM when out of
 * memory (the reader is then unusable). */
int csv_reader_next(struct csv_reader *r, struct csv_record *ret_rec);
const char *csv_reader_error(const struct csv_reader *r);
unsigned csv_reader_error_line(const struct csv_reader *r);

/* Appends one record and a CRLF-free "\n" line end, quoting a field only when
 * it holds a comma, a quote, CR, LF, or leading/trailing spaces (and a record
 * of one empty field, as "", so that it does not read back as an empty line).
 * A NULL field is written empty. Returns 0, -EINVAL for a record the reader
 * would reject (no fields, more than CSV_MAX_FIELDS, a field longer than
 * CSV_MAX_FIELD_LEN), or -ENOMEM; on failure out is left as it was. */
int csv_write_record(struct buf *out, const char *const *fields, size_t nfields);
