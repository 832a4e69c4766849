/* Raw sockets to gridd, for the integration tests that speak the wire
 * protocol themselves (test_protocol.c, test_limits.c, test_tls.c): a
 * misbehaving peer, a peer at a limit, the plaintext side of the TLS port.
 *
 * A connection made from a chosen address, Requests framed and written in
 * full, and a stream that hands back one ServerFrame at a time however the
 * bytes arrive, telling a timeout from the server closing the connection.
 * A local failure (socket, write, a frame that does not decode) fails the
 * test; what the server does is returned for the test to assert.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/rpc.pb-c.h"

/* How long the blocking reads wait for gridd before failing the test. */
#define RAW_WAIT_MS 10000

/* Connects to "HOST:PORT" and returns the socket. With bind_ip (not NULL)
 * the connection comes from that address, and HOST 0.0.0.0 (a server
 * listening on every address) means bind_ip. */
int raw_connect(const char *addr, const char *bind_ip);
/* Writes all len bytes of p. */
void raw_send_all(int fd, const void *p, size_t len);
/* req as one frame, header and body, malloc'd (the caller frees it);
 * *ret_len is its size. */
uint8_t *raw_pack(const Grid__V1__Request *req, size_t *ret_len);
/* Packs req and writes it. */
void raw_send(int fd, const Grid__V1__Request *req);

/* Fill req (initialized here) as a Hello of protocol 1, or a Ping, with id;
 * the message is h or p, initialized here too. */
void raw_hello_request(Grid__V1__Request *req, Grid__V1__Hello *h, uint64_t id);
void raw_ping_request(Grid__V1__Request *req, Grid__V1__Ping *p, uint64_t id);
/* Sends a Ping with id. */
void raw_send_ping(int fd, uint64_t id);

/* When buf[0..*len) starts with a whole frame, unpacks it, moves the bytes
 * after it to the front (*len shrinks) and returns it; the caller frees it
 * with grid__v1__server_frame__free_unpacked(). NULL while the frame is
 * incomplete. A frame announced larger than cap - 4 fails the test. */
Grid__V1__ServerFrame *raw_take_frame(uint8_t *buf, size_t *len, size_t cap);
/* Asserts that f is the reply to id with status code, and frees it. f
 * NULL (the server closed the connection first) fails the test. */
void raw_expect_reply(Grid__V1__ServerFrame *f, uint64_t id, int code);

/* True when the peer closes fd within timeout_ms, whatever it sends first;
 * *ret_bytes (may be NULL) is then how much it sent, *ret_first (may be
 * NULL) its first byte when it sent any. */
bool raw_closed_within(int fd, int timeout_ms, size_t *ret_bytes, uint8_t *ret_first);

/* A connection read as a stream of frames. Embedded: open, then close. */
struct raw_stream {
	int fd;
	size_t len; /* bytes in buf not yet returned as frames */
	uint8_t buf[1 << 16];
};

/* raw_connect() to addr from bind_ip (may be NULL), nothing read yet. */
void raw_stream_open(struct raw_stream *st, const char *addr, const char *bind_ip);
/* Closes the socket. */
void raw_stream_close(struct raw_stream *st);
/* The next frame within timeout_ms (caller frees); NULL on timeout with
 * *ret_closed false, or when the server closed the connection (or reset
 * it) with *ret_closed true. */
Grid__V1__ServerFrame *raw_stream_next(struct raw_stream *st, int timeout_ms, bool *ret_closed);
/* The next frame (caller frees), or NULL when the server closed the
 * connection. Fails the test when none comes within RAW_WAIT_MS, or when
 * the connection ends in the middle of a frame. */
Grid__V1__ServerFrame *raw_stream_read(struct raw_stream *st);
/* raw_expect_reply() on the next frame. */
void raw_stream_expect(struct raw_stream *st, uint64_t id, int code);
/* True when the server closes the connection within timeout_ms; frames
 * still buffered or arriving meanwhile are skipped. */
bool raw_stream_closed(struct raw_stream *st, int timeout_ms);

/* Hello (id 1) on st, asserting it is accepted. */
void raw_stream_hello(struct raw_stream *st);
/* Login (id 2) with a password, or Authenticate (id 2) with a session
 * token, on st; asserts that it succeeds. */
void raw_stream_login(struct raw_stream *st, const char *username, const char *password);
void raw_stream_authenticate(struct raw_stream *st, const char *token);

/* A non-loopback IPv4 address of this machine (static storage), or NULL,
 * to connect from an address of its own. */
const char *raw_local_ip(void);
