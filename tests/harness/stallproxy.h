/* stallproxy: a small TCP proxy for fault tests, put between gridd and
 * PostgreSQL (test_faults.c). It listens on 127.0.0.1 (a free port) and
 * forwards every connection to a unix socket (PostgreSQL's), byte for byte,
 * on a libuv loop in a thread of its own.
 *
 * stallproxy_stall() models a link that stops carrying anything without
 * closing: bytes from either side are read and held back, connections stay
 * open, new connections are accepted and held too, and a side that closes is
 * not told to the other. stallproxy_resume() lets everything held through,
 * closes included. The proxy knows which connections gridd still holds open,
 * so a test can check that gridd gave up on a stalled link by itself.
 *
 * Functions are called from the test's thread; a local failure (socket,
 * thread) fails the test.
 */
#pragma once

#include <stdbool.h>

struct stallproxy;

/* Starts forwarding 127.0.0.1:PORT to the unix socket at upstream_path
 * (copied). */
struct stallproxy *stallproxy_start(const char *upstream_path);
/* The port it listens on. */
int stallproxy_port(const struct stallproxy *p);
/* Stops carrying bytes and closes (see above); returns once in force. */
void stallproxy_stall(struct stallproxy *p);
/* Carries again what was held back; returns once in force. */
void stallproxy_resume(struct stallproxy *p);
/* Connections whose client side (gridd's end) is still open: all of them,
 * and those among them accepted before the last stall began. */
unsigned stallproxy_open(struct stallproxy *p);
unsigned stallproxy_open_before_stall(struct stallproxy *p);
/* Connections accepted so far. */
unsigned stallproxy_accepted(struct stallproxy *p);
/* Closes everything and ends the thread. Accepts NULL. */
void stallproxy_stop(struct stallproxy *p);
