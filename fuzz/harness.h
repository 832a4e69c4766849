/* An in-process gridd for the fuzz targets (fuzz_frame.c, fuzz_request.c)
 * and their replay drivers (replay.c): the real server modules on a loop of
 * their own, with no PostgreSQL.
 *
 * The grid tree is a small built-in district loaded into the cache; the
 * database pool points at a socket that does not exist and is down before
 * the first input, so every query a handler submits fails at once with
 * -EAGAIN: that is the database boundary, and every request ends
 * synchronously. A connection is a real struct conn (conn.c's own accept
 * path) on one end of a socketpair; the target writes bytes to the other
 * end, runs the loop, and reads back what the server sent.
 *
 * Violations of what the server promises (an output that is not a sequence
 * of ServerFrames, a connection that never closes, a request answered twice)
 * end the process through fuzz_fail(), which libFuzzer reports as a crash.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct conn;

/* Who the connection is when the input starts (first byte of a request
 * input, modulo FUZZ_MODE_COUNT). */
enum fuzz_mode {
	FUZZ_MODE_NEW,		 /* nothing sent yet: Hello comes first */
	FUZZ_MODE_ANONYMOUS,	 /* Hello done, not logged in */
	FUZZ_MODE_ADMIN,	 /* district_admin on the whole grid */
	FUZZ_MODE_STAFF,	 /* community_staff on WH-TZL */
	FUZZ_MODE_BUILDING_HEAD, /* building_head on WH-TZL-Z5-ZTY-B1 */
	FUZZ_MODE_RESIDENT,	 /* resident on WH-TZL-Z5-ZTY-B1 */
	FUZZ_MODE_API_KEY,	 /* a key on WH-TZL limited to a few calls */
	FUZZ_MODE_EXPIRED,	 /* a session past its end */
	FUZZ_MODE_REVOKED,	 /* a session logged out elsewhere */
	FUZZ_MODE_COUNT,
};

/* What a mode is called in seed file names. */
const char *fuzz_mode_name(enum fuzz_mode mode);

struct fuzz_conn {
	struct conn *conn; /* borrowed; gone once the socket closed */
	int peer;	   /* our end of the socketpair */
	struct buf in;	   /* everything the server sent */
	bool eof;	   /* the server closed its end */
};

/* What the server sent on a connection, frame by frame. */
struct fuzz_output {
	size_t frames;
	size_t replies;
	size_t events;
	size_t conn_errors;  /* replies with id 0 */
	uint64_t *ids;	     /* ids of the replies, in order (malloc'd) */
	int last_error_code; /* status code of the last id-0 reply */
};

/* Creates the server once per process (later calls do nothing). */
void fuzz_init(void);
/* The frame limits of the server's configuration. */
size_t fuzz_max_frame_before_login(void);
size_t fuzz_max_frame(void);

/* Opens a connection in the given mode. */
void fuzz_conn_open(struct fuzz_conn *fc, enum fuzz_mode mode);
/* Writes bytes to the server and runs the loop until it has taken them and
 * has nothing more to say (or has closed). */
void fuzz_conn_send(struct fuzz_conn *fc, const uint8_t *p, size_t len);
/* Closes our sending side, runs the loop until the server closed the
 * connection (fails when it does not within a bound) and frees
 * everything. fc->in stays valid until fuzz_conn_finish. */
void fuzz_conn_close(struct fuzz_conn *fc);
void fuzz_conn_finish(struct fuzz_conn *fc);

/* Cuts fc->in into frames, each of which must be a ServerFrame. */
void fuzz_output_parse(const struct fuzz_conn *fc, struct fuzz_output *out);
void fuzz_output_finish(struct fuzz_output *out);

__attribute__((noreturn, format(printf, 1, 2))) void fuzz_fail(const char *fmt, ...);
