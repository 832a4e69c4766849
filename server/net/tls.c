/* Server-side TLS over memory BIOs; see tls.h. conn.c is the only caller.
 *
 * Each session has two memory BIOs: what the socket delivered is written
 * into the read BIO, and whatever OpenSSL writes into the write BIO is moved
 * into the connection's ciphertext buffer right after the call that made
 * it. Both BIOs are emptied after every call, and an empty BIO gives its
 * memory back, so that an idle connection holds no buffers: the handshake
 * or one large reply must not stay allocated for the life of a connection
 * (SSL_MODE_RELEASE_BUFFERS does the same for OpenSSL's own record
 * buffers).
 *
 * OpenSSL reports failures through a per-thread error queue. It is cleared
 * before every SSL call so that SSL_get_error() judges that call alone, and
 * after a failure has been turned into a message, so that one peer's
 * failure never leaks into another connection's verdict.
 */
#include "server/net/tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Plaintext per SSL_write: one record at most, so the write BIO never holds
 * more than one record's worth of ciphertext. */
#define WRITE_CHUNK 16384

struct tls_server {
	SSL_CTX *ctx;
};

struct tls_conn {
	SSL *ssl;
	BIO *rbio; /* owned by ssl */
	BIO *wbio; /* owned by ssl */
	struct buf *out;
	bool failed;
	bool shutdown_sent;
	char error[96];
};

/* OpenSSL's reason for the last failure, and an empty queue afterwards. */
static void take_error(char *out, size_t size, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	snprintf(out, size, "%s", reason ? reason : fallback);
	ERR_clear_error();
}

int tls_server_create(const char *cert_file, const char *key_file, struct tls_server **ret_ts,
		      char *err, size_t errlen)
{
	struct tls_server *ts;
	char reason[160];
	SSL_CTX *ctx;

	/* A missing file is the common mistake; say it in plain words. */
	if (access(cert_file, R_OK) < 0) {
		int e = errno;
		snprintf(err, errlen, "[tls] cert %s: %s", cert_file, strerror(e));
		return -e;
	}
	if (access(key_file, R_OK) < 0) {
		int e = errno;
		snprintf(err, errlen, "[tls] key %s: %s", key_file, strerror(e));
		return -e;
	}

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		take_error(reason, sizeof(reason), "out of memory");
		snprintf(err, errlen, "cannot set up TLS: %s", reason);
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_security_level(ctx, 2);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				     SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Stateless tickets only: a server-side session cache would keep
	 * memory for every client that ever connected. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		take_error(reason, sizeof(reason), "unreadable");
		snprintf(err, errlen, "[tls] cert %s: cannot load the certificate: %s", cert_file,
			 reason);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();
		bool mismatch = ERR_GET_LIB(e) == ERR_LIB_X509 &&
				ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;

		take_error(reason, sizeof(reason), "unreadable");
		if (mismatch)
			snprintf(err, errlen, "[tls] key %s does not match the certificate %s",
				 key_file, cert_file);
		else
			snprintf(err, errlen, "[tls] key %s: cannot load the private key: %s",
				 key_file, reason);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "[tls] key %s does not match the certificate %s", key_file,
			 cert_file);
		goto fail;
	}
	ts = calloc(1, sizeof(*ts));
	if (!ts) {
		snprintf(err, errlen, "out of memory");
		SSL_CTX_free(ctx);
		return -ENOMEM;
	}
	ts->ctx = ctx;
	*ret_ts = ts;
	return 0;

fail:
	SSL_CTX_free(ctx);
	return -EINVAL;
}

void tls_server_destroy(struct tls_server *ts)
{
	if (!ts)
		return;
	/* Sessions hold their own reference to the context. */
	SSL_CTX_free(ts->ctx);
	free(ts);
}

/* Drops a memory BIO's contents and gives its buffer back to the
 * allocator. */
static void bio_discard(BIO *b)
{
	BUF_MEM *fresh = BUF_MEM_new();

	if (fresh)
		BIO_set_mem_buf(b, fresh, BIO_CLOSE); /* frees the old one */
	else
		(void)BIO_reset(b);
}

/* Moves what OpenSSL wrote into the connection's ciphertext buffer. */
static int drain(struct tls_conn *t)
{
	char *p = NULL;
	long n = BIO_get_mem_data(t->wbio, &p);
	int r = 0;

	if (n > 0) {
		r = buf_append(t->out, p, (size_t)n) < 0 ? -ENOMEM : 0;
		bio_discard(t->wbio);
	}
	return r;
}

struct tls_conn *tls_conn_create(struct tls_server *ts, struct buf *cipher_out)
{
	struct tls_conn *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	ERR_clear_error();
	t->ssl = SSL_new(ts->ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_accept_state(t->ssl);
	t->out = cipher_out;
	return t;
}

void tls_conn_destroy(struct tls_conn *t)
{
	if (!t)
		return;
	SSL_free(t->ssl); /* and both BIOs */
	free(t);
}

int tls_conn_feed(struct tls_conn *t, const uint8_t *p, size_t len)
{
	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;
		int w = BIO_write(t->rbio, p, n);

		if (w <= 0)
			return -ENOMEM;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

ssize_t tls_conn_read(struct tls_conn *t, uint8_t *buf, size_t size)
{
	int n, e;

	if (t->failed)
		return -EPROTO;
	ERR_clear_error();
	n = SSL_read(t->ssl, buf, size > INT_MAX ? INT_MAX : (int)size);
	e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, n);
	/* Handshake messages, tickets and alerts leave with the next write. */
	if (drain(t) < 0)
		return -ENOMEM;
	switch (e) {
	case SSL_ERROR_NONE:
		return n;
	case SSL_ERROR_WANT_READ:
		/* SSL_read took every byte it was given into its own record
		 * buffer, so the read BIO is empty now. */
		if (BIO_ctrl_pending(t->rbio) == 0) {
			BUF_MEM *bm = NULL;
			BIO_get_mem_ptr(t->rbio, &bm);
			if (bm && bm->max > 0)
				bio_discard(t->rbio);
		}
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -ESHUTDOWN;
	case SSL_ERROR_SSL:
		take_error(t->error, sizeof(t->error), "protocol error");
		break;
	default:
		/* WANT_WRITE cannot happen with a memory BIO, SYSCALL not
		 * without a socket; anything else is a broken session. */
		snprintf(t->error, sizeof(t->error), "unexpected TLS state %d", e);
		ERR_clear_error();
		break;
	}
	t->failed = true;
	return -EPROTO;
}

int tls_conn_write(struct tls_conn *t, const uint8_t *p, size_t len)
{
	if (t->failed || t->shutdown_sent)
		return -EPROTO;
	if (!SSL_is_init_finished(t->ssl))
		return -EAGAIN;
	while (len > 0) {
		int chunk = len > WRITE_CHUNK ? WRITE_CHUNK : (int)len;
		int n;

		ERR_clear_error();
		n = SSL_write(t->ssl, p, chunk);
		if (drain(t) < 0)
			return -ENOMEM;
		if (n != chunk) {
			/* A memory BIO takes everything, so this is a failed
			 * session, not back-pressure. */
			take_error(t->error, sizeof(t->error), "write failed");
			t->failed = true;
			return -EPROTO;
		}
		p += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int tls_conn_shutdown(struct tls_conn *t)
{
	if (t->failed || !SSL_is_init_finished(t->ssl))
		return -EPROTO;
	if (t->shutdown_sent)
		return 0;
	t->shutdown_sent = true;
	ERR_clear_error();
	/* 0 means "sent ours, theirs not seen": the socket closes next, so
	 * theirs is not waited for. */
	if (SSL_shutdown(t->ssl) < 0)
		ERR_clear_error();
	return drain(t);
}

bool tls_conn_established(const struct tls_conn *t)
{
	return SSL_is_init_finished(t->ssl);
}

const char *tls_conn_error(const struct tls_conn *t)
{
	return t->error[0] ? t->error : "no error";
}

const char *tls_conn_version(const struct tls_conn *t)
{
	return SSL_get_version(t->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *t)
{
	const char *name = SSL_get_cipher_name(t->ssl);

	return name ? name : "none";
}
