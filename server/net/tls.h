/* TLS for gridd's connections, with OpenSSL over memory BIOs: the socket
 * stays libuv's, and this layer only turns ciphertext into plaintext and
 * back. net.c creates one tls_server for the TLS listener; conn.c gives each
 * connection accepted there a tls_conn and feeds it what libuv read.
 *
 * Every call that may make OpenSSL produce records (handshake messages,
 * session tickets, alerts, close_notify, application data) appends them to
 * the connection's ciphertext buffer before it returns; the caller writes
 * that buffer to the socket. Nothing here logs or touches libuv.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

struct tls_server;
struct tls_conn;

/* Loads the certificate chain and the private key (PEM files) and checks
 * that they belong together. TLS 1.2 is the minimum; ciphers are OpenSSL's
 * defaults at security level 2. On failure returns a negative errno and a
 * message naming the file and OpenSSL's reason in err. */
int tls_server_create(const char *cert_file, const char *key_file, struct tls_server **ret_ts,
		      char *err, size_t errlen);
/* Accepts NULL. Connections still open keep what they need alive. */
void tls_server_destroy(struct tls_server *ts);

/* A server-side TLS session that appends its records to cipher_out
 * (borrowed; it must outlive the session). NULL when out of memory. */
struct tls_conn *tls_conn_create(struct tls_server *ts, struct buf *cipher_out);
/* Accepts NULL. Sends nothing: call tls_conn_shutdown first for a clean
 * close. */
void tls_conn_destroy(struct tls_conn *t);

/* Hands ciphertext read from the socket (borrowed) to the session. 0 or
 * -ENOMEM. */
int tls_conn_feed(struct tls_conn *t, const uint8_t *p, size_t len);
/* Decrypts into buf: returns the number of plaintext bytes (> 0), 0 when
 * the session needs more input (everything fed so far is consumed),
 * -ESHUTDOWN when the peer sent close_notify, -EPROTO when the peer broke
 * the protocol or the handshake failed (tls_conn_error says why), -ENOMEM.
 * Drives the handshake too. Call it until it returns <= 0 after each feed. */
ssize_t tls_conn_read(struct tls_conn *t, uint8_t *buf, size_t size);
/* Encrypts all of p (borrowed). Only after the handshake (-EAGAIN before);
 * -EPROTO or -ENOMEM on failure. */
int tls_conn_write(struct tls_conn *t, const uint8_t *p, size_t len);
/* Queues close_notify, once. Not after a failure; then returns -EPROTO. */
int tls_conn_shutdown(struct tls_conn *t);

bool tls_conn_established(const struct tls_conn *t);
/* After tls_conn_read returned -EPROTO: OpenSSL's reason, e.g. "wrong
 * version number". Borrowed; never NULL. */
const char *tls_conn_error(const struct tls_conn *t);
/* After the handshake: e.g. "TLSv1.3" and "TLS_AES_256_GCM_SHA384". */
const char *tls_conn_version(const struct tls_conn *t);
const char *tls_conn_cipher(const struct tls_conn *t);
