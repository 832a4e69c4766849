/* The network side of gridd: the listening socket and the set of client
 * connections. server.c creates it, makes it listen, and drains it on stop.
 */
#pragma once

#include <stddef.h>

struct server;
struct net;

/* NULL when out of memory. srv is borrowed. */
struct net *net_create(struct server *srv);
/* Binds and listens on "HOST:PORT" (port 0 picks a free one). */
int net_listen(struct net *n, const char *address, char *err, size_t errlen);
/* "HOST:PORT" actually bound. */
const char *net_bound_address(const struct net *n);
unsigned net_connections(const struct net *n);
/* Stops accepting, lets requests in flight finish (forcing every
 * connection closed after timeout_ms), then closes every handle and frees n;
 * done(data) runs at the very end. */
void net_drain(struct net *n, unsigned timeout_ms, void (*done)(void *data), void *data);
