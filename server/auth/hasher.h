/* Password hashing (Argon2id, libsodium's crypto_pwhash_str) off the event
 * loop. Each hash costs tens of milliseconds and tens of megabytes, so the
 * work runs on libuv's thread pool, at most `concurrency` at a time; further
 * requests wait in a bounded FIFO, and past that they are refused, which
 * caps both the memory and the threads a flood of logins can take. Used by
 * the login and account handlers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct hasher;

struct hasher_limits {
	unsigned long long opslimit; /* 0 = crypto_pwhash_OPSLIMIT_INTERACTIVE */
	size_t memlimit;	     /* 0 = crypto_pwhash_MEMLIMIT_INTERACTIVE */
};

/* status: 0 when the password matches (verify) or the hash is made (hash),
 * -EACCES when it does not match, -ECANCELED at shutdown, -ENOMEM.
 * new_hash (hash, and verify when the stored hash used older limits) is a
 * fresh hash to store, borrowed for the call; NULL otherwise. */
typedef void (*hasher_cb)(int status, const char *new_hash, void *data);

struct hasher *hasher_create(uv_loop_t *loop, const struct hasher_limits *limits,
			     unsigned concurrency, unsigned max_queue);
/* Cancels what waits (callbacks run with -ECANCELED) and frees the hasher
 * once the hashes running on the thread pool have finished. Accepts NULL. */
void hasher_close(struct hasher *h);

/* Checks password against stored (an encoded crypto_pwhash_str string).
 * A NULL stored hash verifies against a dummy hash, so an unknown user costs
 * as much as a known one, and fails. Returns -EAGAIN when the queue is full
 * (the callback then never runs). */
int hasher_verify(struct hasher *h, const char *stored, const char *password, hasher_cb cb,
		  void *data);
/* Makes a hash of password with the current limits. -EAGAIN as above. */
int hasher_hash(struct hasher *h, const char *password, hasher_cb cb, void *data);

/* Blocking variant for start-up commands (bootstrap-admin). Returns 0 and
 * writes the encoded hash (crypto_pwhash_STRBYTES) or -ENOMEM. */
int hasher_hash_now(const struct hasher_limits *limits, const char *password, char *out);
