/* The network side of gridd: the listening sockets (plain TCP, and TLS
 * when configured) and the set of client connections. server.c creates it,
 * makes it listen, and drains it on stop.
 *
 * Plain TCP is served to loopback peers only unless [server]
 * allow_remote_plaintext is set; every listener limits the connections from
 * one IP address to [limits] max_connections_per_address.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct server;
struct net;
struct sockaddr;

/* NULL when out of memory. srv is borrowed. */
struct net *net_create(struct server *srv);
/* Binds and listens on "HOST:PORT" (port 0 picks a free one). */
int net_listen(struct net *n, const char *address, char *err, size_t errlen);
/* Loads the certificate and key (PEM files) and listens for TLS on
 * "HOST:PORT". Fails with a message in err when they do not load or do not
 * match. */
int net_listen_tls(struct net *n, const char *address, const char *cert_file, const char *key_file,
		   char *err, size_t errlen);
/* "HOST:PORT" actually bound. */
const char *net_bound_address(const struct net *n);
/* The same for TLS; "" without a TLS listener. */
const char *net_tls_bound_address(const struct net *n);
/* True for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8: the peers that
 * may use plain TCP by default. */
bool net_is_loopback(const struct sockaddr *sa);
unsigned net_connections(const struct net *n);
/* Stops accepting, lets requests in flight finish (forcing every
 * connection closed after timeout_ms), then closes every handle and frees n;
 * done(data) runs at the very end. */
void net_drain(struct net *n, unsigned timeout_ms, void (*done)(void *data), void *data);
