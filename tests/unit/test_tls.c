/* The server's TLS layer (server/net/tls.c) without a server: an OpenSSL
 * client on memory BIOs in the same process talks to a tls_conn, so that
 * every cut of the ciphertext can be tried exactly (one byte at a time,
 * several records at once), and what an idle session keeps allocated can
 * be counted. Also the loopback rule that decides who may use plain TCP.
 */
#include "tests/harness/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "server/net/net.h"
#include "server/net/tls.h"

/* ---- counting what OpenSSL keeps allocated for the server side ---- */

struct mem_hdr {
	size_t size;
	bool counted;
	long pad; /* keeps the payload 16-byte aligned */
};

static bool counting, count_on;
static long live_bytes;

static void *count_malloc(size_t n, const char *file, int line)
{
	struct mem_hdr *h = malloc(sizeof(*h) + n);

	if (!h)
		return NULL;
	h->size = n;
	h->counted = counting;
	if (counting)
		live_bytes += (long)n;
	return h + 1;
}

static void count_free(void *p, const char *file, int line)
{
	struct mem_hdr *h;

	if (!p)
		return;
	h = (struct mem_hdr *)p - 1;
	if (h->counted)
		live_bytes -= (long)h->size;
	free(h);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	struct mem_hdr *h;
	void *q;

	if (!p)
		return count_malloc(n, file, line);
	h = (struct mem_hdr *)p - 1;
	q = count_malloc(n, file, line);
	if (!q)
		return NULL;
	memcpy(q, p, h->size < n ? h->size : n);
	count_free(p, file, line);
	return q;
}

/* Only the server side's calls are counted. */
#define SERVER(x)                                                                                  \
	do {                                                                                       \
		counting = count_on;                                                               \
		x;                                                                                 \
		counting = false;                                                                  \
	} while (0)

/* ---- a self-signed certificate ---- */

static char cert_path[256], key_path[256];

static void make_cert(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	ASSERT(key && x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	ASSERT(X509_sign(x, key, EVP_sha256()) > 0);

	snprintf(cert_path, sizeof(cert_path), "/tmp/test_tls_%d.pem", (int)getpid());
	snprintf(key_path, sizeof(key_path), "/tmp/test_tls_%d.key", (int)getpid());
	f = fopen(cert_path, "w");
	ASSERT_NOT_NULL(f);
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(key_path, "w");
	ASSERT_NOT_NULL(f);
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void remove_cert(void)
{
	unlink(cert_path);
	unlink(key_path);
}

/* ---- a client and a server session wired back to back ---- */

struct pair {
	struct tls_server *ts;
	struct tls_conn *s;
	struct buf s_out; /* the server's ciphertext */
	SSL_CTX *cctx;
	SSL *c;
	BIO *c_in, *c_out;
	struct buf plain; /* what the server decrypted */
	bool peer_closed;
};

static void pair_init(struct pair *p)
{
	char err[256];

	memset(p, 0, sizeof(*p));
	make_cert();
	ASSERT_MSG(tls_server_create(cert_path, key_path, &p->ts, err, sizeof(err)) == 0, "%s",
		   err);
	buf_init(&p->s_out, 0);
	buf_init(&p->plain, 0);
	SERVER(p->s = tls_conn_create(p->ts, &p->s_out));
	ASSERT_NOT_NULL(p->s);
	p->cctx = SSL_CTX_new(TLS_client_method());
	p->c = SSL_new(p->cctx);
	p->c_in = BIO_new(BIO_s_mem());
	p->c_out = BIO_new(BIO_s_mem());
	SSL_set_bio(p->c, p->c_in, p->c_out);
	SSL_set_connect_state(p->c);
}

static void pair_finish(struct pair *p)
{
	SSL_free(p->c);
	SSL_CTX_free(p->cctx);
	SERVER(tls_conn_destroy(p->s));
	SERVER(tls_server_destroy(p->ts));
	buf_finish(&p->s_out);
	buf_finish(&p->plain);
	remove_cert();
}

/* Hands the server len bytes of the client's ciphertext and reads all the
 * plaintext it makes of them. */
static void server_take(struct pair *p, const uint8_t *data, size_t len)
{
	uint8_t buf[16384];
	ssize_t n;
	int r;

	SERVER(r = tls_conn_feed(p->s, data, len));
	ASSERT_EQ_INT(r, 0);
	for (;;) {
		SERVER(n = tls_conn_read(p->s, buf, sizeof(buf)));
		if (n == -ESHUTDOWN) {
			p->peer_closed = true;
			break;
		}
		ASSERT_MSG(n >= 0, "tls_conn_read: %zd %s", n, tls_conn_error(p->s));
		if (n == 0)
			break;
		ASSERT_EQ_INT(buf_append(&p->plain, buf, (size_t)n), 0);
	}
}

/* Moves the client's pending ciphertext to the server in pieces of piece
 * bytes (0: all at once), and the server's back to the client. */
static void pump(struct pair *p, size_t piece)
{
	char *data = NULL;
	long n = BIO_get_mem_data(p->c_out, &data);

	if (n > 0) {
		uint8_t *copy = malloc((size_t)n);
		memcpy(copy, data, (size_t)n);
		(void)BIO_reset(p->c_out);
		for (size_t off = 0; off < (size_t)n;) {
			size_t k = piece && piece < (size_t)n - off ? piece : (size_t)n - off;
			server_take(p, copy + off, k);
			off += k;
		}
		free(copy);
	}
	if (p->s_out.len > 0) {
		ASSERT_EQ_INT(BIO_write(p->c_in, p->s_out.data, (int)p->s_out.len),
			      (int)p->s_out.len);
		buf_reset(&p->s_out);
	}
}

static void handshake(struct pair *p, size_t piece)
{
	for (int i = 0; i < 10 && !tls_conn_established(p->s); i++) {
		SSL_do_handshake(p->c);
		pump(p, piece);
	}
	ASSERT(tls_conn_established(p->s));
	ASSERT_EQ_INT(SSL_do_handshake(p->c), 1);
	/* The client reads what followed (TLS 1.3 session tickets). */
	{
		char b[16];
		ASSERT(SSL_read(p->c, b, sizeof(b)) <= 0);
		pump(p, piece);
	}
}

/* What the client reads from the server's records. */
static size_t client_read_all(struct pair *p, uint8_t *out, size_t size)
{
	size_t got = 0;

	for (;;) {
		int n = SSL_read(p->c, out + got, (int)(size - got));
		if (n <= 0)
			return got;
		got += (size_t)n;
	}
}

/* ---- cases ---- */

TEST(records_cut_at_every_byte)
{
	struct pair p;
	char msg[3000];

	pair_init(&p);
	handshake(&p, 1);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)('a' + i % 26);
	ASSERT_EQ_INT(SSL_write(p.c, msg, (int)sizeof(msg)), (int)sizeof(msg));
	pump(&p, 1);
	ASSERT_EQ_UINT(p.plain.len, sizeof(msg));
	ASSERT_EQ_MEM(p.plain.data, msg, sizeof(msg));
	pair_finish(&p);
}

TEST(many_records_in_one_feed)
{
	struct pair p;
	char line[64];
	size_t total = 0;

	pair_init(&p);
	handshake(&p, 0);
	/* Fifty records, one feed: everything must come out of it, not one
	 * record per feed. */
	for (int i = 0; i < 50; i++) {
		int n = snprintf(line, sizeof(line), "record %02d;", i);
		ASSERT_EQ_INT(SSL_write(p.c, line, n), n);
		total += (size_t)n;
	}
	pump(&p, 0);
	ASSERT_EQ_UINT(p.plain.len, total);
	ASSERT(memcmp(p.plain.data, "record 00;record 01;", 20) == 0);
	ASSERT(memcmp(p.plain.data + total - 10, "record 49;", 10) == 0);
	/* A record over two feeds, cut inside its header. */
	buf_reset(&p.plain);
	ASSERT_EQ_INT(SSL_write(p.c, "tail", 4), 4);
	pump(&p, 3);
	ASSERT_EQ_UINT(p.plain.len, 4);
	pair_finish(&p);
}

TEST(replies_and_close_notify_reach_the_client)
{
	struct pair p;
	static uint8_t big[200000], back[200000];
	int r;

	pair_init(&p);
	handshake(&p, 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	SERVER(r = tls_conn_write(p.s, big, sizeof(big)));
	ASSERT_EQ_INT(r, 0);
	pump(&p, 0);
	ASSERT_EQ_UINT(client_read_all(&p, back, sizeof(back)), sizeof(big));
	ASSERT_EQ_MEM(back, big, sizeof(big));

	SERVER(r = tls_conn_shutdown(p.s));
	ASSERT_EQ_INT(r, 0);
	pump(&p, 0);
	r = SSL_read(p.c, back, 1);
	ASSERT(r <= 0);
	ASSERT_EQ_INT(SSL_get_error(p.c, r), SSL_ERROR_ZERO_RETURN);

	/* The client's close_notify is the server's end of input. */
	SSL_shutdown(p.c);
	pump(&p, 0);
	ASSERT(p.peer_closed);
	pair_finish(&p);
}

TEST(garbage_fails_the_handshake)
{
	struct pair p;
	static const char hello[] = "\0\0\0\x06\x08\x01\x52\x02\x08\x01";
	uint8_t buf[64];
	ssize_t n;
	int r;

	pair_init(&p);
	SERVER(r = tls_conn_feed(p.s, (const uint8_t *)hello, sizeof(hello) - 1));
	ASSERT_EQ_INT(r, 0);
	SERVER(n = tls_conn_read(p.s, buf, sizeof(buf)));
	ASSERT_EQ_INT(n, -EPROTO);
	ASSERT(strcmp(tls_conn_error(p.s), "no error") != 0);
	ASSERT(!tls_conn_established(p.s));
	/* A broken session stays broken and writes nothing more. */
	SERVER(n = tls_conn_read(p.s, buf, sizeof(buf)));
	ASSERT_EQ_INT(n, -EPROTO);
	SERVER(r = tls_conn_write(p.s, buf, 1));
	ASSERT(r < 0);
	SERVER(r = tls_conn_shutdown(p.s));
	ASSERT_EQ_INT(r, -EPROTO);
	ASSERT_EQ_UINT(ERR_peek_error(), 0); /* nothing left for the next connection */
	pair_finish(&p);
}

TEST(idle_session_keeps_little_memory)
{
	struct pair p;
	static uint8_t big[1 << 20];
	uint8_t *req;
	size_t req_len = 100000;
	long idle;
	int r;

	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
		TEST_SKIP("OpenSSL allocated before the test could count");
	/* A first session fills OpenSSL's caches of algorithms, which stay
	 * for the process and are not the session's. */
	pair_init(&p);
	handshake(&p, 0);
	pair_finish(&p);

	count_on = true;
	pair_init(&p);
	handshake(&p, 0);
	/* A large request and a large reply first: their buffers must not
	 * stay with the connection. */
	req = calloc(1, req_len);
	ASSERT_EQ_INT(SSL_write(p.c, req, (int)req_len), (int)req_len);
	free(req);
	pump(&p, 0);
	ASSERT_EQ_UINT(p.plain.len, req_len);
	buf_finish(&p.plain);
	SERVER(r = tls_conn_write(p.s, big, sizeof(big)));
	ASSERT_EQ_INT(r, 0);
	pump(&p, 0);
	buf_finish(&p.s_out);

	/* What is left is OpenSSL's session itself (about 14 KiB with
	 * OpenSSL 3.0, half of it the SSL object) and the context. A
	 * retained BIO or record buffer would add 16 KiB or more. */
	idle = live_bytes;
	printf("# idle server-side TLS session: %ld bytes allocated by OpenSSL\n", idle);
	fflush(stdout);
	ASSERT_MSG(idle < 24 * 1024, "an idle session keeps %ld bytes", idle);
	pair_finish(&p);
	ASSERT_MSG(live_bytes < 4096, "%ld bytes left after destroying everything", live_bytes);
}

/* ---- who may use plain TCP ---- */

static bool loopback4(const char *ip)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	ASSERT(inet_pton(AF_INET, ip, &sin.sin_addr) == 1);
	return net_is_loopback((const struct sockaddr *)&sin);
}

static bool loopback6(const char *ip)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};

	ASSERT(inet_pton(AF_INET6, ip, &sin6.sin6_addr) == 1);
	return net_is_loopback((const struct sockaddr *)&sin6);
}

TEST(loopback_addresses)
{
	struct sockaddr sa = {.sa_family = AF_UNIX};

	ASSERT(loopback4("127.0.0.1"));
	ASSERT(loopback4("127.1.2.3"));
	ASSERT(!loopback4("192.0.2.2"));
	ASSERT(!loopback4("10.0.0.127"));
	ASSERT(!loopback4("0.0.0.0"));
	ASSERT(loopback6("::1"));
	ASSERT(loopback6("::ffff:127.0.0.1"));
	ASSERT(!loopback6("::ffff:192.0.2.2"));
	ASSERT(!loopback6("::"));
	ASSERT(!loopback6("fd00::1"));
	ASSERT(!loopback6("::2"));
	ASSERT(!net_is_loopback(&sa));
}
