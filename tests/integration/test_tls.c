/* TLS between gridd and its clients, and the rule that plain TCP is for
 * loopback peers only.
 *
 * Each case makes its own CA and server certificate (for localhost and
 * 127.0.0.1) with the OpenSSL API into itest_tmpdir(), starts gridd with a
 * [tls] listener on a free port and its log in a file (the TLS port is read
 * from the "event=listening" line), and talks to it three ways: through
 * libgridclient, through gridctl, and through a raw client in this file
 * that drives OpenSSL over memory BIOs itself, so that it can cut records
 * into odd pieces, pile several into one write, or vanish without
 * close_notify.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tests/harness/itest.h"
#include "tests/harness/raw.h"

#define CODE(x) GRID__V1__CODE__CODE_##x

/* ---- certificates ---- */

struct certs {
	char ca[600];	     /* the CA that signed the server's certificate */
	char cert[600];	     /* server certificate: localhost, 127.0.0.1 */
	char key[600];	     /* its key */
	char other_ca[600];  /* a CA that signed nothing of ours */
	char other_key[600]; /* a key that belongs to no certificate */
};

static EVP_PKEY *gen_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	ASSERT_NOT_NULL(k);
	return k;
}

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	ASSERT_MSG(ext, "extension %d = %s", nid, value);
	ASSERT(X509_add_ext(x, ext, -1) == 1);
	X509_EXTENSION_free(ext);
}

/* A certificate for key, signed by issuer (NULL: self-signed). */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
		       const char *san)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX ctx;

	ASSERT_NOT_NULL(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid() * 100 + serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, &ctx, NID_key_usage,
		ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (!ca)
		add_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
	if (san)
		add_ext(x, &ctx, NID_subject_alt_name, san);
	ASSERT(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static void write_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	ASSERT_MSG(f, "%s: %s", path, strerror(errno));
	ASSERT(PEM_write_X509(f, x) == 1);
	fclose(f);
}

static void write_key(const char *path, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	ASSERT_MSG(f, "%s: %s", path, strerror(errno));
	ASSERT(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
}

static void make_certs(struct certs *c)
{
	const char *dir = itest_tmpdir();
	EVP_PKEY *ca_key = gen_key(), *key = gen_key(), *other_key = gen_key(),
		 *stray_key = gen_key();
	X509 *ca = make_cert("gridd test CA", ca_key, NULL, NULL, true, NULL);
	X509 *other = make_cert("some other CA", other_key, NULL, NULL, true, NULL);
	X509 *cert =
	    make_cert("localhost", key, ca, ca_key, false, "DNS:localhost,IP:127.0.0.1,IP:::1");

	snprintf(c->ca, sizeof(c->ca), "%s/ca.pem", dir);
	snprintf(c->cert, sizeof(c->cert), "%s/server.pem", dir);
	snprintf(c->key, sizeof(c->key), "%s/server.key", dir);
	snprintf(c->other_ca, sizeof(c->other_ca), "%s/other-ca.pem", dir);
	snprintf(c->other_key, sizeof(c->other_key), "%s/stray.key", dir);
	write_cert(c->ca, ca);
	write_cert(c->cert, cert);
	write_key(c->key, key);
	write_cert(c->other_ca, other);
	write_key(c->other_key, stray_key);
	X509_free(ca);
	X509_free(other);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(stray_key);
}

/* ---- gridd with a TLS listener and its log in a file ---- */

struct fix {
	struct itest_db db;
	struct itest_gridd g;
	struct certs certs;
	char log[600];
	char tls_addr[80]; /* HOST:PORT of the TLS listener */
	int tls_port;
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, len = 0, k;
	char *s = malloc(cap);

	ASSERT_NOT_NULL(s);
	if (!f) {
		s[0] = '\0';
		return s;
	}
	while ((k = fread(s + len, 1, cap - len - 1, f)) > 0) {
		len += k;
		if (cap - len < 4096) {
			cap *= 2;
			s = realloc(s, cap);
			ASSERT_NOT_NULL(s);
		}
	}
	fclose(f);
	s[len] = '\0';
	return s;
}

/* Waits up to wait_ms for needle to appear in the log. */
static bool log_has(const struct fix *f, const char *needle, int wait_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)wait_ms;

	for (;;) {
		char *s = slurp(f->log);
		bool found = strstr(s, needle) != NULL;

		free(s);
		if (found)
			return true;
		if (itest_now_ms() >= deadline)
			return false;
		usleep(10000);
	}
}

/* Starts gridd with stderr going to f->log. */
static void start_gridd_logged(struct fix *f, const char *const *extra)
{
	static unsigned n;
	int saved, fd;

	snprintf(f->log, sizeof(f->log), "%s/gridd-%u.log", itest_tmpdir(), n++);
	fd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	ASSERT(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);
	itest_gridd_start(&f->g, f->db.url, extra);
	dup2(saved, 2);
	close(saved);
}

/* Starts gridd with TLS on 127.0.0.1:0 (more may override any of it). */
static void setup(struct fix *f, const char *const *more)
{
	char cert_arg[700], key_arg[700];
	const char *extra[40];
	int n = 0;
	char *log, *p;

	memset(f, 0, sizeof(*f));
	itest_db_create(&f->db);
	make_certs(&f->certs);
	snprintf(cert_arg, sizeof(cert_arg), "tls.cert=%s", f->certs.cert);
	snprintf(key_arg, sizeof(key_arg), "tls.key=%s", f->certs.key);
	extra[n++] = "--log-level";
	extra[n++] = "info";
	extra[n++] = "--set";
	extra[n++] = "tls.listen=127.0.0.1:0";
	extra[n++] = "--set";
	extra[n++] = cert_arg;
	extra[n++] = "--set";
	extra[n++] = key_arg;
	for (; more && *more && n < 38; more++)
		extra[n++] = *more;
	extra[n] = NULL;
	start_gridd_logged(f, extra);

	log = slurp(f->log);
	p = strstr(log, "tls_address=");
	ASSERT_MSG(p, "no tls_address in gridd's log:\n%s", log);
	sscanf(p + strlen("tls_address="), "%79s", f->tls_addr);
	p = strrchr(f->tls_addr, ':');
	ASSERT(p);
	f->tls_port = atoi(p + 1);
	ASSERT(f->tls_port > 0);
	free(log);
}

static void teardown(struct fix *f)
{
	int st = itest_gridd_stop(&f->g);

	if (st != 0) {
		char *log = slurp(f->log);
		fprintf(stderr, "gridd's log:\n%s\n", log);
		free(log);
	}
	ASSERT_EQ_INT(st, 0);
	itest_db_drop(&f->db);
}

/* ---- a raw TLS client over memory BIOs ---- */

struct rtls {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rb, *wb;
	bool split; /* write ciphertext in small odd pieces */
	unsigned step;
	uint8_t plain[65536];
	size_t plen;
};

static void rtls_open(struct rtls *t, const char *addr, const char *bind_ip, bool split)
{
	memset(t, 0, sizeof(*t));
	t->fd = raw_connect(addr, bind_ip);
	t->ctx = SSL_CTX_new(TLS_client_method());
	ASSERT_NOT_NULL(t->ctx);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	t->ssl = SSL_new(t->ctx);
	t->rb = BIO_new(BIO_s_mem());
	t->wb = BIO_new(BIO_s_mem());
	ASSERT(t->ssl && t->rb && t->wb);
	SSL_set_bio(t->ssl, t->rb, t->wb);
	SSL_set_connect_state(t->ssl);
	t->split = split;
}

static void rtls_free(struct rtls *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	t->ssl = NULL;
	t->ctx = NULL;
}

/* Sends what OpenSSL wrote. */
static void rtls_push(struct rtls *t)
{
	static const size_t pieces[] = {1, 2, 3, 5, 7, 11, 1, 4, 13};
	char *p = NULL;
	long n = BIO_get_mem_data(t->wb, &p);
	size_t off = 0;

	if (n <= 0)
		return;
	while (off < (size_t)n) {
		size_t k = t->split ? pieces[t->step++ % 9] : (size_t)n - off;
		if (k > (size_t)n - off)
			k = (size_t)n - off;
		raw_send_all(t->fd, p + off, k);
		off += k;
	}
	(void)BIO_reset(t->wb);
}

/* Reads more ciphertext; false when the server closed the socket. */
static bool rtls_pull(struct rtls *t)
{
	struct pollfd pfd = {t->fd, POLLIN, 0};
	uint8_t b[4096];
	ssize_t k;

	ASSERT_MSG(poll(&pfd, 1, 10000) > 0, "nothing from gridd within 10 s");
	k = read(t->fd, b, sizeof(b));
	if (k <= 0)
		return false;
	ASSERT(BIO_write(t->rb, b, (int)k) == (int)k);
	return true;
}

static void rtls_handshake(struct rtls *t)
{
	for (;;) {
		int r = SSL_do_handshake(t->ssl);
		int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);

		rtls_push(t);
		if (r == 1)
			return;
		ASSERT_MSG(e == SSL_ERROR_WANT_READ, "handshake failed: %d %s", e,
			   ERR_reason_error_string(ERR_peek_last_error()));
		ASSERT_MSG(rtls_pull(t), "gridd closed the connection during the handshake");
	}
}

/* Encrypts a request into its own record; rtls_push sends it. */
static void rtls_queue(struct rtls *t, Grid__V1__Request *req)
{
	size_t len;
	uint8_t *buf = raw_pack(req, &len);

	ASSERT_EQ_INT(SSL_write(t->ssl, buf, (int)len), (int)len);
	free(buf);
}

/* The next frame; NULL when the server ended the connection, with
 * *ret_notify telling whether it said close_notify first. */
static Grid__V1__ServerFrame *rtls_read_frame(struct rtls *t, bool *ret_notify)
{
	for (;;) {
		Grid__V1__ServerFrame *f = raw_take_frame(t->plain, &t->plen, sizeof(t->plain));
		int k, e;

		if (f)
			return f;
		ASSERT(t->plen < sizeof(t->plain));
		k = SSL_read(t->ssl, t->plain + t->plen, (int)(sizeof(t->plain) - t->plen));
		e = k > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, k);
		rtls_push(t);
		if (k > 0) {
			t->plen += (size_t)k;
			continue;
		}
		if (e == SSL_ERROR_ZERO_RETURN) {
			if (ret_notify)
				*ret_notify = true;
			return NULL;
		}
		ASSERT_MSG(e == SSL_ERROR_WANT_READ, "SSL_read: %d %s", e,
			   ERR_reason_error_string(ERR_peek_last_error()));
		if (!rtls_pull(t)) {
			if (ret_notify)
				*ret_notify = false;
			return NULL;
		}
	}
}

static void expect_reply(struct rtls *t, uint64_t id, int code)
{
	raw_expect_reply(rtls_read_frame(t, NULL), id, code);
}

static void rtls_hello_ping(struct rtls *t)
{
	Grid__V1__Request req;
	Grid__V1__Hello h;
	Grid__V1__Ping p;

	raw_hello_request(&req, &h, 1);
	rtls_queue(t, &req);
	raw_ping_request(&req, &p, 2);
	rtls_queue(t, &req);
	rtls_push(t);
	expect_reply(t, 1, CODE(OK));
	expect_reply(t, 2, CODE(OK));
}

/* ---- libgridclient over TLS ---- */

static struct grid_client *tls_client(const char *addr, const char *ca, const char *name,
				      bool no_verify, int *ret_r)
{
	struct grid_client_config cfg = {
	    .client_name = "itest-tls",
	    .connect_timeout_ms = 10000,
	    .tls = true,
	    .ca_file = ca,
	    .server_name = name,
	    .tls_no_verify = no_verify,
	};
	struct grid_client *c = grid_client_create(NULL, &cfg);

	ASSERT_NOT_NULL(c);
	*ret_r = grid_client_connect(c, addr);
	return c;
}

/* Both listeners still serve well-behaved clients. */
static void assert_still_serving(const struct fix *f)
{
	struct grid_client *c;
	int r;

	c = tls_client(f->tls_addr, f->certs.ca, NULL, false, &r);
	ASSERT_MSG(r == 0, "TLS connect: %s", grid_client_error(c));
	itest_ping(c);
	grid_client_destroy(c);
	c = itest_connect(&f->g);
	itest_ping(c);
	grid_client_destroy(c);
}

/* ---- the cases ---- */

TEST(hello_and_ping_over_tls)
{
	struct fix f;
	struct grid_client *c;
	char addr[96];
	int r;

	setup(&f, NULL);
	/* By IP address: the certificate names 127.0.0.1. */
	c = tls_client(f.tls_addr, f.certs.ca, NULL, false, &r);
	ASSERT_MSG(r == 0, "connect: %s", grid_client_error(c));
	ASSERT_NOT_NULL(grid_client_hello(c));
	ASSERT_EQ_UINT(grid_client_hello(c)->protocol_version, 1);
	itest_ping(c);
	itest_ping(c);
	grid_client_destroy(c);

	/* By host name: the certificate names localhost. */
	snprintf(addr, sizeof(addr), "localhost:%d", f.tls_port);
	c = tls_client(addr, f.certs.ca, NULL, false, &r);
	ASSERT_MSG(r == 0, "connect: %s", grid_client_error(c));
	itest_ping(c);
	grid_client_destroy(c);

	/* The plain listener goes on serving loopback. */
	c = itest_connect(&f.g);
	itest_ping(c);
	grid_client_destroy(c);

	/* The TLS port speaks TLS 1.2 at least, and nothing older. */
	{
		struct rtls t;
		rtls_open(&t, f.tls_addr, NULL, false);
		SSL_set_max_proto_version(t.ssl, TLS1_1_VERSION);
		SSL_set_security_level(t.ssl, 0);
		ASSERT(SSL_do_handshake(t.ssl) <= 0);
		rtls_push(&t);
		ASSERT(raw_closed_within(t.fd, 5000, NULL, NULL));
		rtls_free(&t);
	}
	ASSERT(log_has(&f, "event=tls_handshake_failed", 5000));
	teardown(&f);
}

TEST(records_split_across_reads_and_piled_into_one)
{
	struct fix f;
	struct rtls t;
	Grid__V1__Request req;
	Grid__V1__Ping p;

	setup(&f, NULL);
	/* Every record of the handshake and the requests arrives in pieces of
	 * 1 to 13 bytes: the server must carry partial records over reads. */
	rtls_open(&t, f.tls_addr, NULL, true);
	rtls_handshake(&t);
	rtls_hello_ping(&t);

	/* Then ten records in one write: the server must decrypt all of a
	 * read, not one record per read. */
	t.split = false;
	for (uint64_t id = 10; id < 20; id++) {
		raw_ping_request(&req, &p, id);
		rtls_queue(&t, &req);
	}
	rtls_push(&t);
	for (uint64_t id = 10; id < 20; id++)
		expect_reply(&t, id, CODE(OK));

	/* And one frame split over two records, the second cut in two. */
	{
		uint8_t *buf;
		size_t len;
		raw_ping_request(&req, &p, 30);
		buf = raw_pack(&req, &len);
		ASSERT(len > 3);
		ASSERT_EQ_INT(SSL_write(t.ssl, buf, 3), 3);
		ASSERT_EQ_INT(SSL_write(t.ssl, buf + 3, (int)len - 3), (int)len - 3);
		free(buf);
		t.split = true;
		rtls_push(&t);
		expect_reply(&t, 30, CODE(OK));
	}

	/* A clean goodbye both ways. */
	SSL_shutdown(t.ssl);
	rtls_push(&t);
	{
		bool notify = false;
		ASSERT(rtls_read_frame(&t, &notify) == NULL);
		ASSERT_MSG(notify, "gridd closed without close_notify");
	}
	rtls_free(&t);
	teardown(&f);
}

TEST(peer_gone_without_close_notify)
{
	struct fix f;
	struct rtls t;
	Grid__V1__Request req;
	Grid__V1__Ping p;
	bool notify = false;

	setup(&f, NULL);
	/* Half-closed without close_notify after three requests: the replies
	 * still come, then gridd's close_notify. */
	rtls_open(&t, f.tls_addr, NULL, false);
	rtls_handshake(&t);
	rtls_hello_ping(&t);
	for (uint64_t id = 3; id <= 5; id++) {
		raw_ping_request(&req, &p, id);
		rtls_queue(&t, &req);
	}
	rtls_push(&t);
	ASSERT(shutdown(t.fd, SHUT_WR) == 0);
	for (uint64_t id = 3; id <= 5; id++)
		expect_reply(&t, id, CODE(OK));
	ASSERT(rtls_read_frame(&t, &notify) == NULL);
	ASSERT_MSG(notify, "gridd closed without close_notify");
	rtls_free(&t);
	ASSERT(log_has(&f, "event=tls_eof_without_close_notify", 5000));

	/* Gone outright, in the middle of the handshake and after it. */
	rtls_open(&t, f.tls_addr, NULL, false);
	SSL_do_handshake(t.ssl);
	rtls_push(&t);
	rtls_free(&t);
	rtls_open(&t, f.tls_addr, NULL, false);
	rtls_handshake(&t);
	rtls_hello_ping(&t);
	raw_ping_request(&req, &p, 3);
	rtls_queue(&t, &req);
	rtls_push(&t);
	rtls_free(&t);

	assert_still_serving(&f);
	teardown(&f);
}

TEST(plain_client_on_the_tls_port)
{
	struct fix f;
	Grid__V1__Request req;
	Grid__V1__Hello h;
	uint8_t *buf, first = 0;
	size_t len, got = 0;
	uint64_t t0;
	int fd;

	setup(&f, NULL);
	fd = raw_connect(f.tls_addr, NULL);
	raw_hello_request(&req, &h, 1);
	buf = raw_pack(&req, &len);
	t0 = itest_now_ms();
	raw_send_all(fd, buf, len);
	free(buf);
	/* Closed at once, with at most a TLS alert: never a plaintext reply. */
	ASSERT(raw_closed_within(fd, 5000, &got, &first));
	ASSERT(itest_now_ms() - t0 < 3000);
	ASSERT(got == 0 || first == 0x15);
	close(fd);
	ASSERT(log_has(&f, "event=tls_handshake_failed", 5000));

	/* An HTTP client, for good measure. */
	fd = raw_connect(f.tls_addr, NULL);
	raw_send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	ASSERT(raw_closed_within(fd, 5000, NULL, NULL));
	close(fd);

	assert_still_serving(&f);
	teardown(&f);
}

TEST(client_verifies_the_server)
{
	struct fix f;
	struct grid_client *c;
	char addr[96];
	int r;

	setup(&f, NULL);
	/* Signed by a CA we were not told to trust. */
	c = tls_client(f.tls_addr, f.certs.other_ca, NULL, false, &r);
	ASSERT_EQ_INT(r, -ECONNABORTED);
	ASSERT_MSG(strstr(grid_client_error(c), "certificate does not verify"), "%s",
		   grid_client_error(c));
	grid_client_destroy(c);

	/* The right CA, but a name the certificate does not carry. */
	c = tls_client(f.tls_addr, f.certs.ca, "gridd.example.org", false, &r);
	ASSERT_EQ_INT(r, -ECONNABORTED);
	ASSERT_MSG(strstr(grid_client_error(c), "not issued for gridd.example.org"), "%s",
		   grid_client_error(c));
	grid_client_destroy(c);

	/* Unless told not to check. */
	c = tls_client(f.tls_addr, f.certs.other_ca, "gridd.example.org", true, &r);
	ASSERT_MSG(r == 0, "%s", grid_client_error(c));
	itest_ping(c);
	grid_client_destroy(c);

	/* TLS to the plain port fails the handshake, not the protocol. */
	c = tls_client(f.g.address, f.certs.ca, NULL, false, &r);
	ASSERT_EQ_INT(r, -ECONNABORTED);
	ASSERT_MSG(strstr(grid_client_error(c), "TLS handshake"), "%s", grid_client_error(c));
	grid_client_destroy(c);

	/* A CA file that is not one is refused before connecting. */
	{
		struct grid_client_config cfg = {.tls = true, .ca_file = f.certs.key};
		c = grid_client_create(NULL, &cfg);
		snprintf(addr, sizeof(addr), "%s", f.tls_addr);
		ASSERT_EQ_INT(grid_client_connect(c, addr), -EINVAL);
		ASSERT_MSG(strstr(grid_client_error(c), "CA certificates"), "%s",
			   grid_client_error(c));
		grid_client_destroy(c);
	}
	teardown(&f);
}

TEST(gridctl_tls_and_ca)
{
	struct fix f;
	char *out, *err, addr[96];
	int rc;

	setup(&f, NULL);
	{
		const char *args[] = {"--server", f.tls_addr, "--tls", "--ca",
				      f.certs.ca, "ping",     NULL};
		rc = itest_gridctl(NULL, NULL, &out, &err, args);
		ASSERT_MSG(rc == 0, "exit %d: %s", rc, err);
		ASSERT(strstr(out, "gridd") != NULL);
		free(out);
		free(err);
	}
	{
		snprintf(addr, sizeof(addr), "localhost:%d", f.tls_port);
		const char *args[] = {"--server", addr, "--ca", f.certs.ca, "ping", NULL};
		rc = itest_gridctl(NULL, NULL, NULL, &err, args);
		ASSERT_MSG(rc == 0, "exit %d: %s", rc, err);
		free(err);
	}
	{
		/* From the environment. */
		const char *args[] = {"--server", f.tls_addr, "ping", NULL};
		setenv("GRID_CA", f.certs.ca, 1);
		rc = itest_gridctl(NULL, NULL, NULL, &err, args);
		unsetenv("GRID_CA");
		ASSERT_MSG(rc == 0, "exit %d: %s", rc, err);
		free(err);
	}
	{
		/* The wrong CA: exit 5, and why. */
		const char *args[] = {"--server",	f.tls_addr, "--tls", "--ca",
				      f.certs.other_ca, "ping",	    NULL};
		rc = itest_gridctl(NULL, NULL, NULL, &err, args);
		ASSERT_EQ_INT(rc, 5);
		ASSERT_MSG(strstr(err, "certificate does not verify"), "%s", err);
		free(err);
	}
	{
		/* The system's CAs do not know our test CA. */
		const char *args[] = {"--server", f.tls_addr, "--tls", "ping", NULL};
		rc = itest_gridctl(NULL, NULL, NULL, &err, args);
		ASSERT_EQ_INT(rc, 5);
		ASSERT_MSG(strstr(err, "certificate does not verify"), "%s", err);
		free(err);
	}
	{
		/* TLS to the plain port. */
		const char *args[] = {"--server", f.g.address, "--ca", f.certs.ca, "ping", NULL};
		rc = itest_gridctl(NULL, NULL, NULL, &err, args);
		ASSERT_EQ_INT(rc, 5);
		ASSERT_MSG(strstr(err, "TLS handshake"), "%s", err);
		free(err);
	}
	{
		/* A CA file that is not there is a usage error. */
		const char *args[] = {"--server", f.tls_addr, "--ca", "/nonexistent/ca.pem",
				      "ping",	  NULL};
		rc = itest_gridctl(NULL, NULL, NULL, &err, args);
		ASSERT_EQ_INT(rc, 2);
		free(err);
	}
	teardown(&f);
}

TEST(tls_refusal_arrives_after_the_handshake)
{
	struct fix f;
	struct rtls t1, t2;
	Grid__V1__ServerFrame *fr;
	bool notify = false;
	const char *const more[] = {"--set", "limits.max_connections_per_address=1", NULL};

	setup(&f, more);
	/* The harness's own connection may not be gone yet: until it is, a
	 * first connection is refused too. */
	for (uint64_t deadline = itest_now_ms() + 5000;;) {
		Grid__V1__Request req;
		Grid__V1__Hello h;

		rtls_open(&t1, f.tls_addr, NULL, false);
		rtls_handshake(&t1);
		raw_hello_request(&req, &h, 1);
		rtls_queue(&t1, &req);
		rtls_push(&t1);
		fr = rtls_read_frame(&t1, NULL);
		ASSERT_NOT_NULL(fr);
		if (fr->reply->id == 1) {
			ASSERT_EQ_INT(fr->reply->status->code, CODE(OK));
			grid__v1__server_frame__free_unpacked(fr, NULL);
			break;
		}
		ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
		grid__v1__server_frame__free_unpacked(fr, NULL);
		rtls_free(&t1);
		ASSERT_MSG(itest_now_ms() < deadline, "never let in");
		usleep(20000);
	}
	/* The second connection from 127.0.0.1 is one too many: it is told
	 * so over TLS, then closed cleanly. */
	rtls_open(&t2, f.tls_addr, NULL, true);
	rtls_handshake(&t2);
	fr = rtls_read_frame(&t2, NULL);
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(RESOURCE_EXHAUSTED));
	ASSERT_MSG(strstr(fr->reply->status->message, "too many connections from this address"),
		   "%s", fr->reply->status->message);
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(rtls_read_frame(&t2, &notify) == NULL);
	ASSERT(notify);
	rtls_free(&t2);
	/* The first one is unaffected. */
	{
		Grid__V1__Request req;
		Grid__V1__Ping p;
		raw_ping_request(&req, &p, 7);
		rtls_queue(&t1, &req);
		rtls_push(&t1);
		expect_reply(&t1, 7, CODE(OK));
	}
	rtls_free(&t1);
	teardown(&f);
}

TEST(bad_certificate_or_key_stops_start_up)
{
	struct fix f;
	struct certs certs;
	struct itest_db db;
	const char *gridd = getenv("GRIDD");
	struct {
		const char *cert, *key, *expect;
	} cases[3];
	char missing[700];

	ASSERT_NOT_NULL(gridd);
	itest_db_create(&db);
	make_certs(&certs);
	snprintf(missing, sizeof(missing), "%s/missing.pem", itest_tmpdir());
	cases[0].cert = certs.cert;
	cases[0].key = certs.other_key;
	cases[0].expect = "does not match the certificate";
	cases[1].cert = missing;
	cases[1].key = certs.key;
	cases[1].expect = "No such file";
	cases[2].cert = certs.key; /* a key is not a certificate */
	cases[2].key = certs.key;
	cases[2].expect = "cannot load the certificate";
	for (int i = 0; i < 3; i++) {
		char cert_arg[800], key_arg[800], errpath[600];
		int st, fd;
		pid_t pid;

		snprintf(cert_arg, sizeof(cert_arg), "tls.cert=%s", cases[i].cert);
		snprintf(key_arg, sizeof(key_arg), "tls.key=%s", cases[i].key);
		snprintf(errpath, sizeof(errpath), "%s/start-%d.err", itest_tmpdir(), i);
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		ASSERT(pid >= 0);
		if (pid == 0) {
			fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			dup2(fd, 2);
			dup2(fd, 1);
			execl(gridd, gridd, "--listen", "127.0.0.1:0", "--database-url", db.url,
			      "--set", "tls.listen=127.0.0.1:0", "--set", cert_arg, "--set",
			      key_arg, (char *)NULL);
			_exit(127);
		}
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		ASSERT(WIFEXITED(st));
		ASSERT_EQ_INT(WEXITSTATUS(st), 1);
		snprintf(f.log, sizeof(f.log), "%s", errpath);
		ASSERT_MSG(log_has(&f, cases[i].expect, 0), "case %d: no \"%s\" in:\n%s", i,
			   cases[i].expect, slurp(errpath));
	}
	itest_db_drop(&db);
}

TEST(remote_plaintext_refused)
{
	struct fix f;
	const char *ip = raw_local_ip();
	const char *const more[] = {"--listen", "0.0.0.0:0", "--set", "tls.listen=0.0.0.0:0", NULL};
	Grid__V1__ServerFrame *fr;
	char expect[96];
	struct raw_stream st;
	struct rtls t;

	if (!ip)
		TEST_SKIP("this machine has no non-loopback IPv4 address to connect from");
	setup(&f, more);
	/* Plain TCP from the machine's own network address: refused, with
	 * the way to do it right. */
	raw_stream_open(&st, f.g.address, ip);
	fr = raw_stream_read(&st);
	ASSERT_NOT_NULL(fr);
	ASSERT_EQ_UINT(fr->reply->id, 0);
	ASSERT_EQ_INT(fr->reply->status->code, CODE(PERMISSION_DENIED));
	snprintf(expect, sizeof(expect),
		 "plain TCP is accepted from loopback only; use TLS on port %d", f.tls_port);
	ASSERT_EQ_STR(fr->reply->status->message, expect);
	grid__v1__server_frame__free_unpacked(fr, NULL);
	ASSERT(raw_stream_closed(&st, 5000));
	raw_stream_close(&st);

	/* TLS from there is fine. */
	rtls_open(&t, f.tls_addr, ip, false);
	rtls_handshake(&t);
	rtls_hello_ping(&t);
	rtls_free(&t);

	/* Plain TCP from loopback is fine. */
	raw_stream_open(&st, f.g.address, "127.0.0.1");
	raw_stream_hello(&st);
	raw_stream_close(&st);
	teardown(&f);

	/* Unless remote plain TCP is allowed. */
	{
		const char *const allow[] = {"--listen", "0.0.0.0:0", "--set",
					     "server.allow_remote_plaintext=true", NULL};
		setup(&f, allow);
		raw_stream_open(&st, f.g.address, ip);
		raw_stream_hello(&st);
		raw_stream_close(&st);
		teardown(&f);
	}
}
