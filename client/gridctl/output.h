/* gridctl's output conventions in one place: nodes as text and as JSON
 * objects, errors as "gridctl: ..." lines or as {"error": ...} on stderr,
 * and the mapping from status codes to exit codes. The command files call
 * it; it knows nothing of connections.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/status.h"
#include "proto/grid.pb-c.h"

struct table;

/* The exit code (enum ctl_exit) for a reply's status code. */
int output_exit_code(status_code code);
/* The status code that describes a failure of the client itself (a
 * negative errno from libgridclient: cannot connect, connection lost...). */
status_code output_code_for_errno(int err);

/* {"id":..,"code":..,"parent_code":..|null,"level":..,"level_name":..,
 *  "name":..,"leader_name":..,"leader_phone":..,"retired":..,"child_count":..} */
void output_node_json(struct json_writer *w, const Grid__V1__Node *n);
/* The same keys without the braces, for objects that add their own. */
void output_node_json_fields(struct json_writer *w, const Grid__V1__Node *n);
/* The node's name, with " (retired)" when it is. Into scratch (reset
 * first); the result lives as long as scratch's contents. */
const char *output_node_label(const Grid__V1__Node *n, struct buf *scratch);
/* "code  WH-TZL\nname  桐梓林社区\n..." aligned; path (NULL = none) is shown
 * after the parent. 0 or -ENOMEM. */
int output_node_fields(struct buf *out, const Grid__V1__Node *n, const char *path);

/* Ends the process by SIGPIPE, as a filter does, when err is EPIPE
 * (gridctl ignores SIGPIPE so that a lost server connection is an error,
 * not a death); otherwise returns. */
void output_check_epipe(int err);
/* Writes the buffer to stdout; 0, or CTL_EXIT_ERROR with a message when
 * stdout failed. */
int output_write(const void *p, size_t n);
int output_flush(struct buf *out);
/* Reports that memory ran out; returns CTL_EXIT_ERROR. */
int output_oom(void);
/* Says something that is not an error on stderr, after what stdout holds
 * so far: "gridctl: <message>" and a newline. */
void output_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Renders t into out and writes out to stdout when r is 0; otherwise (r
 * an -ENOMEM met while filling t) reports that memory ran out. Returns the
 * exit code. */
int output_table(const struct table *t, struct buf *out, int r);
/* Finishes a JSON document, adds a newline and writes it to stdout. */
int output_json_flush(struct json_writer *w, struct buf *out);

/* Reports a failure on stderr. subject names what it was about ("node
 * WH-X"; NULL = nothing); message is the server's or ours (empty = the
 * code's own words); details (may be NULL) are printed one per line as
 * "<detail_prefix>:LINE: field: reason". */
void output_error(bool json, status_code code, const char *subject, const char *message,
		  Grid__V1__ErrorDetail *const *details, size_t n_details,
		  const char *detail_prefix);
/* output_error() for a failure of gridctl's own, or of a server that
 * broke its word (INTERNAL); returns CTL_EXIT_ERROR. */
int output_internal(bool json, const char *subject, const char *message);
