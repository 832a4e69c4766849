/* Abusive peers, in numbers, against one gridd, while a well-behaved
 * client keeps working: slow-loris connections (silent, Hello and nothing
 * more, a frame trickled a byte at a time before and after login), bad
 * frames (oversize lengths, garbage, truncated protobuf, half a frame and
 * gone), a client that pipelines requests without reading the replies, a
 * subscriber that never reads its events. Each case asserts what gridd
 * does to the abuser (the goodbye it is told, that it is closed, or that
 * it is held back), that gridd's resident memory (VmRSS) stays within a
 * bound meanwhile, and that the other clients keep being answered. The
 * crowd's gridd also starts with a low soft limit of open files, which it
 * must raise to the hard limit.
 *
 * test_limits.c and test_protocol.c cover each limit once, on one
 * connection; this file is about crowds. With GRID_TEST_LONG=1 (scripts/test
 * --long) the crowd grows to 1,000 slow-loris connections and more, the
 * well-behaved client's p99 latency is measured (a TAP diagnostic, and
 * asserted <= 50 ms), and 10,000 idle authenticated connections are opened
 * to measure their memory (bench/idle runs that case for its figure).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/frame.h"
#include "tests/harness/itest.h"
#include "tests/harness/raw.h"

#define CODE(x) GRID__V1__CODE__CODE_##x
#define MB (1024.0 * 1024.0)

#define Z5 "WH-TZL-Z5"
#define Z5_B1 "WH-TZL-Z5-ZTY-B1"

/* gridd here is built like this test: under ASan its heap keeps a
 * quarantine of freed blocks and its RSS means little. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static bool long_run(void)
{
	const char *v = getenv("GRID_TEST_LONG");

	return v && strcmp(v, "1") == 0;
}

/* gridd's resident set in bytes, from /proc. */
static size_t rss_of(pid_t pid)
{
	char path[64], line[256];
	size_t kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	ASSERT_MSG(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %zu kB", &kb) == 1)
			break;
	fclose(f);
	ASSERT_MSG(kb > 0, "no VmRSS in %s", path);
	return kb * 1024;
}

/* Raises this process's limit on open files to the hard limit; returns it. */
static rlim_t raise_nofile(void)
{
	struct rlimit rl;

	ASSERT_EQ_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			ASSERT_EQ_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	return rl.rlim_cur;
}

/* One request as a frame into b at *off (b has room). */
static void put_request(uint8_t *b, size_t *off, const Grid__V1__Request *req)
{
	size_t n = grid__v1__request__get_packed_size(req);

	frame_put_header(b + *off, (uint32_t)n);
	grid__v1__request__pack(req, b + *off + 4);
	*off += n + 4;
}

/* Hello (id 1) and Authenticate (id 2) with token, in one write. */
static void send_hello_auth(int fd, const char *token)
{
	Grid__V1__Request req;
	Grid__V1__Hello h;
	Grid__V1__AuthenticateRequest a = GRID__V1__AUTHENTICATE_REQUEST__INIT;
	uint8_t b[512];
	size_t off = 0;

	raw_hello_request(&req, &h, 1);
	put_request(b, &off, &req);
	grid__v1__request__init(&req);
	a.token = (char *)token;
	req.id = 2;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &a;
	put_request(b, &off, &req);
	raw_send_all(fd, b, off);
}

/* Reads the replies to send_hello_auth() (in either order) and asserts
 * both succeeded; anything after them stays unread. */
static void expect_hello_auth(int fd)
{
	uint8_t b[4096];
	size_t len = 0;
	int seen = 0;

	while (seen != 3) {
		Grid__V1__ServerFrame *f = raw_take_frame(b, &len, sizeof(b));
		if (f) {
			ASSERT_EQ_INT(f->frame_case, GRID__V1__SERVER_FRAME__FRAME_REPLY);
			ASSERT(f->reply->id == 1 || f->reply->id == 2);
			ASSERT_MSG(f->reply->status->code == 0, "reply %llu: %s",
				   (unsigned long long)f->reply->id, f->reply->status->message);
			seen |= (int)f->reply->id;
			grid__v1__server_frame__free_unpacked(f, NULL);
			continue;
		}
		struct pollfd pfd = {fd, POLLIN, 0};
		ASSERT_MSG(poll(&pfd, 1, RAW_WAIT_MS) == 1, "no reply to Hello and Authenticate");
		/* Frame by frame: only what those two replies need. */
		size_t want = len < 4 ? 4 - len : 4 + frame_get_header(b) - len;
		ASSERT(len + want <= sizeof(b));
		ssize_t k = read(fd, b + len, want);
		ASSERT_MSG(k > 0, "closed before Hello and Authenticate were answered");
		len += (size_t)k;
	}
}

/* --- a well-behaved client, in a process of its own ------------------------ */

/* What the good client saw: latencies of its calls, and how many failed. */
struct good_stats {
	uint32_t calls, failures;
	double p50_ms, p99_ms, max_ms;
};

struct good_client {
	pid_t pid;
	int pipe_fd; /* its stats arrive here when it stops */
};

static volatile sig_atomic_t good_stop_flag;

static void on_sigterm(int sig)
{
	good_stop_flag = sig;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

#define GOOD_MAX_CALLS (1 << 16)

/* Forks a client that logs in and calls GetNode (a cached read) every
 * every_ms until SIGTERM, then reports. A process of its own, so that the
 * abusers' loop in this one adds nothing to its latencies. */
static void good_start(struct good_client *gc, const struct itest_gridd *g, int every_ms)
{
	int fds[2];

	ASSERT_EQ_INT(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	gc->pid = fork();
	ASSERT(gc->pid >= 0);
	if (gc->pid == 0) {
		static double lat[GOOD_MAX_CALLS];
		struct good_stats s = {0};
		struct sigaction sa = {0};
		struct grid_client *c;

		close(fds[0]);
		sa.sa_handler = on_sigterm;
		sigaction(SIGTERM, &sa, NULL);
		c = itest_connect(g);
		while (!good_stop_flag && s.calls < GOOD_MAX_CALLS) {
			struct timespec t0;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			Grid__V1__Reply *r = itest_get_node_reply(c, Z5);
			if (itest_code(r) != 0)
				s.failures++;
			grid_client_reply_free(r);
			double took = ms_since(&t0);
			lat[s.calls++] = took;
			if (!good_stop_flag && took < every_ms)
				usleep((useconds_t)((every_ms - took) * 1000));
		}
		qsort(lat, s.calls, sizeof(lat[0]), cmp_double);
		if (s.calls) {
			s.p50_ms = lat[s.calls / 2];
			s.p99_ms = lat[(size_t)((double)(s.calls - 1) * 0.99)];
			s.max_ms = lat[s.calls - 1];
		}
		grid_client_destroy(c);
		ASSERT(write(fds[1], &s, sizeof(s)) == (ssize_t)sizeof(s));
		_exit(0);
	}
	close(fds[1]);
	gc->pipe_fd = fds[0];
}

/* Stops it and returns what it saw; a client that could not connect or
 * lost its connection (its assertions end it) fails the test. */
static struct good_stats good_stop(struct good_client *gc, const char *what)
{
	struct good_stats s;
	int st;

	kill(gc->pid, SIGTERM);
	ASSERT_MSG(read(gc->pipe_fd, &s, sizeof(s)) == (ssize_t)sizeof(s),
		   "the well-behaved client ended without a report");
	close(gc->pipe_fd);
	ASSERT(waitpid(gc->pid, &st, 0) == gc->pid);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the well-behaved client failed");
	printf("# %s: good client calls=%u failures=%u p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", what,
	       s.calls, s.failures, s.p50_ms, s.p99_ms, s.max_ms);
	fflush(stdout);
	ASSERT(s.calls > 0);
	ASSERT_EQ_INT(s.failures, 0);
	return s;
}

/* The soft limit of open files of process pid. */
static unsigned long long nofile_soft_of(pid_t pid)
{
	unsigned long long soft = 0;
	char path[64], line[256];
	FILE *f;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "r");
	ASSERT_MSG(f != NULL, "%s: %s", path, strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "Max open files %llu", &soft) == 1;
	fclose(f);
	ASSERT_MSG(found, "no \"Max open files\" in %s", path);
	return soft;
}

/* --- a crowd of misbehaving peers ------------------------------------------ */

enum peer_kind {
	PEER_SILENT,	    /* connects, says nothing */
	PEER_HELLO_ONLY,    /* Hello, then nothing: never logs in */
	PEER_TRICKLE,	    /* a frame begun, a byte now and then, never finished */
	PEER_TRICKLE_AUTH,  /* the same once logged in */
	PEER_OVERSIZE,	    /* a length of 4 GiB, before login */
	PEER_OVERSIZE_AUTH, /* 1 MiB + 1, logged in */
	PEER_GARBAGE,	    /* a frame that is not protobuf */
	PEER_TRUNCATED,	    /* protobuf that ends inside a field */
	PEER_VANISH,	    /* half a frame, then gone */
	PEER_KINDS,
};

static const char *const kind_name[PEER_KINDS] = {
    "silent",	     "hello_only", "trickle",	"trickle_auth", "oversize",
    "oversize_auth", "garbage",	   "truncated", "vanish",
};

/* The goodbye each kind gets: a Reply with id 0, this code, a message
 * starting so (NULL: any). */
static const struct {
	int code;
	const char *message;
} goodbye[PEER_KINDS] = {
    [PEER_SILENT] = {CODE(DEADLINE_EXCEEDED), "no Hello and Login"},
    [PEER_HELLO_ONLY] = {CODE(DEADLINE_EXCEEDED), "no Hello and Login"},
    [PEER_TRICKLE] = {CODE(DEADLINE_EXCEEDED), "a frame was begun but not finished"},
    [PEER_TRICKLE_AUTH] = {CODE(DEADLINE_EXCEEDED), "a frame was begun but not finished"},
    [PEER_OVERSIZE] = {CODE(RESOURCE_EXHAUSTED), "frame larger than the limit of 16384"},
    [PEER_OVERSIZE_AUTH] = {CODE(RESOURCE_EXHAUSTED), "frame larger than the limit of 1048576"},
    [PEER_GARBAGE] = {CODE(INVALID_ARGUMENT), NULL},
    [PEER_TRUNCATED] = {CODE(INVALID_ARGUMENT), NULL},
    [PEER_VANISH] = {-1, NULL},
};

/* What a trickler announces: more than it will ever send, less than the
 * frame limit before login. */
#define TRICKLE_FRAME 10000

struct peer {
	enum peer_kind kind;
	int fd; /* -1 once closed */
	uint8_t buf[2048];
	size_t len;
	int code; /* of the goodbye; -1 while none came */
	char message[160];
};

/* Source addresses 127.0.0.2, .3, ...: at most this many from each, below
 * the default per-address limit, so that it stays on. */
#define PER_SOURCE 250

static void peer_open(struct peer *p, enum peer_kind kind, const struct itest_gridd *g,
		      const char *token, int index)
{
	static const uint8_t garbage[] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	/* A length-delimited field claiming 100 bytes with 2 present. */
	static const uint8_t truncated[] = {0, 0, 0, 4, 0x52, 100, 0x08, 0x01};
	Grid__V1__Request req;
	Grid__V1__Hello h;
	char from[32];
	uint8_t hdr[5];

	snprintf(from, sizeof(from), "127.0.0.%d", 2 + index / PER_SOURCE);
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->code = -1;
	p->fd = raw_connect(g->address, from);
	switch (kind) {
	case PEER_SILENT:
		break;
	case PEER_HELLO_ONLY:
		raw_hello_request(&req, &h, 1);
		raw_send(p->fd, &req);
		break;
	case PEER_TRICKLE_AUTH:
	case PEER_OVERSIZE_AUTH:
		send_hello_auth(p->fd, token);
		expect_hello_auth(p->fd);
		/* fall through */
	case PEER_TRICKLE:
	case PEER_OVERSIZE:
		frame_put_header(hdr, kind == PEER_OVERSIZE	   ? 0xffffffffu
				      : kind == PEER_OVERSIZE_AUTH ? 1024 * 1024 + 1
								   : TRICKLE_FRAME);
		hdr[4] = 0x08; /* the first byte of a Request: field 1 (id) */
		raw_send_all(p->fd, hdr,
			     kind == PEER_OVERSIZE || kind == PEER_OVERSIZE_AUTH ? 4 : 5);
		break;
	case PEER_GARBAGE:
		raw_send_all(p->fd, garbage, sizeof(garbage));
		break;
	case PEER_TRUNCATED:
		raw_hello_request(&req, &h, 1);
		raw_send(p->fd, &req);
		raw_send_all(p->fd, truncated, sizeof(truncated));
		break;
	case PEER_VANISH:
		raw_send_all(p->fd, garbage, 6);
		close(p->fd);
		p->fd = -1;
		break;
	case PEER_KINDS:
		break;
	}
}

/* Reads what gridd sent p: keeps the first goodbye, notes the close. */
static void peer_read(struct peer *p)
{
	ssize_t k = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len);
	Grid__V1__ServerFrame *f;

	if (k < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (k <= 0) {
		close(p->fd);
		p->fd = -1;
		return;
	}
	p->len += (size_t)k;
	while ((f = raw_take_frame(p->buf, &p->len, sizeof(p->buf)))) {
		if (f->frame_case == GRID__V1__SERVER_FRAME__FRAME_REPLY && f->reply->id == 0 &&
		    p->code < 0) {
			p->code = (int)f->reply->status->code;
			snprintf(p->message, sizeof(p->message), "%s", f->reply->status->message);
		}
		grid__v1__server_frame__free_unpacked(f, NULL);
	}
}

struct crowd {
	struct peer *peers;
	int n;
	size_t rss_base, rss_max;
};

/* Opens count[kind] peers of each kind, interleaved so that every kind
 * is spread over the time it takes. */
static void crowd_open(struct crowd *cr, const struct itest_gridd *g, const int count[PEER_KINDS])
{
	int left[PEER_KINDS], total = 0;

	for (int k = 0; k < PEER_KINDS; k++)
		total += left[k] = count[k];
	cr->peers = calloc((size_t)total, sizeof(*cr->peers));
	ASSERT_NOT_NULL(cr->peers);
	cr->n = 0;
	while (cr->n < total)
		for (int k = 0; k < PEER_KINDS; k++)
			if (left[k]-- > 0) {
				peer_open(&cr->peers[cr->n], k, g, g->admin_token, cr->n);
				cr->n++;
			}
}

/* Runs the crowd until gridd has closed every peer or within_ms passed:
 * tricklers send a byte every trickle_ms; gridd's RSS is sampled. */
static void crowd_run(struct crowd *cr, pid_t gridd, int trickle_ms, int within_ms)
{
	struct pollfd *pfd = calloc((size_t)cr->n, sizeof(*pfd));
	int *which = calloc((size_t)cr->n, sizeof(*which));
	uint64_t end = itest_now_ms() + (uint64_t)within_ms, next_trickle = 0, next_rss = 0;

	ASSERT(pfd && which);
	for (;;) {
		uint64_t now = itest_now_ms();
		int open = 0;

		if (now >= next_rss) {
			size_t rss = rss_of(gridd);
			if (rss > cr->rss_max)
				cr->rss_max = rss;
			next_rss = now + 50;
		}
		for (int i = 0; i < cr->n; i++) {
			struct peer *p = &cr->peers[i];
			if (p->fd < 0)
				continue;
			if (now >= next_trickle &&
			    (p->kind == PEER_TRICKLE || p->kind == PEER_TRICKLE_AUTH)) {
				/* Field 1's varint, forever unfinished. */
				static const uint8_t more = 0x80;
				/* A close is seen by the read below. */
				(void)!send(p->fd, &more, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			}
			pfd[open] = (struct pollfd){p->fd, POLLIN, 0};
			which[open++] = i;
		}
		if (now >= next_trickle)
			next_trickle = now + (uint64_t)trickle_ms;
		if (open == 0 || now >= end)
			break;
		int r = poll(pfd, (nfds_t)open, 50);
		ASSERT(r >= 0 || errno == EINTR);
		for (int j = 0; r > 0 && j < open; j++)
			if (pfd[j].revents)
				peer_read(&cr->peers[which[j]]);
	}
	free(pfd);
	free(which);
}

/* Every peer was told why (when it could be) and closed. */
static void crowd_check(struct crowd *cr)
{
	int closed[PEER_KINDS] = {0}, total[PEER_KINDS] = {0};

	for (int i = 0; i < cr->n; i++) {
		struct peer *p = &cr->peers[i];
		int want = goodbye[p->kind].code;
		const char *msg = goodbye[p->kind].message;

		total[p->kind]++;
		closed[p->kind] += p->fd < 0;
		if (want < 0)
			continue;
		ASSERT_MSG(p->code == want, "a %s peer got code %d (%s), not %d",
			   kind_name[p->kind], p->code, p->message, want);
		ASSERT_MSG(!msg || strncmp(p->message, msg, strlen(msg)) == 0,
			   "a %s peer was told \"%s\", not \"%s...\"", kind_name[p->kind],
			   p->message, msg);
	}
	for (int k = 0; k < PEER_KINDS; k++)
		ASSERT_MSG(closed[k] == total[k], "%d of %d %s peers still open",
			   total[k] - closed[k], total[k], kind_name[k]);
}

static void crowd_free(struct crowd *cr)
{
	for (int i = 0; i < cr->n; i++)
		if (cr->peers[i].fd >= 0)
			close(cr->peers[i].fd);
	free(cr->peers);
}

/* A logged-in connection that sends nothing while the crowd runs: it is
 * neither slow nor idle for long enough, and must not be cut. */
static struct raw_stream *quiet_open(const struct itest_gridd *g)
{
	struct raw_stream *st = malloc(sizeof(*st));

	ASSERT_NOT_NULL(st);
	raw_stream_open(st, g->address, NULL);
	raw_stream_hello(st);
	raw_stream_authenticate(st, g->admin_token);
	return st;
}

static void quiet_check(struct raw_stream *st)
{
	raw_send_ping(st->fd, 42);
	raw_stream_expect(st, 42, 0);
	raw_stream_close(st);
	free(st);
}

static void report_rss(const char *what, const struct crowd *cr, double bound_mb)
{
	double grew = ((double)cr->rss_max - (double)cr->rss_base) / MB;

	printf("# %s: %d peers, gridd rss base_mb=%.1f max_mb=%.1f grew_mb=%.1f (bound %.0f)\n",
	       what, cr->n, (double)cr->rss_base / MB, (double)cr->rss_max / MB, grew, bound_mb);
	fflush(stdout);
	ASSERT_MSG(grew <= bound_mb, "gridd grew by %.1f MB with %d abusive peers", grew, cr->n);
}

/* Under ASan, freed memory sits in a quarantine (up to 256 MB) before it
 * is reused, and every block has redzones: a bound there only catches the
 * unbounded. */
#define RSS_BOUND_MB(plain) (SANITIZED ? 512.0 + 4.0 * (plain) : (plain))

TEST(a_crowd_of_slow_and_bad_peers)
{
	const char *const extra[] = {"--set", "limits.login_timeout_ms=1500", "--set",
				     "limits.frame_timeout_ms=800", NULL};
	/* 200 in all. */
	static const int count[PEER_KINDS] = {
	    [PEER_SILENT] = 30,	      [PEER_HELLO_ONLY] = 20, [PEER_TRICKLE] = 40,
	    [PEER_TRICKLE_AUTH] = 40, [PEER_OVERSIZE] = 15,   [PEER_OVERSIZE_AUTH] = 15,
	    [PEER_GARBAGE] = 15,      [PEER_TRUNCATED] = 15,  [PEER_VANISH] = 10,
	};
	struct itest_fix f;
	struct good_client gc;
	struct crowd cr = {0};

	/* gridd inherits a soft limit of 512 open files (shells and systemd
	 * give 1024) under a higher hard one; it raises it to the hard one. */
	struct rlimit rl;
	ASSERT_EQ_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
	bool low = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 512;
	if (low) {
		rl.rlim_cur = 512;
		ASSERT_EQ_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	itest_setup(&f, extra, ITEST_WITH_SAMPLE);
	if (low) {
		unsigned long long soft = nofile_soft_of(f.g.pid);
		ASSERT_MSG(soft > 512, "gridd kept a soft limit of %llu open files", soft);
		ASSERT_EQ_UINT(soft, rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max);
	}
	good_start(&gc, &f.g, 20);
	struct raw_stream *quiet = quiet_open(&f.g);
	cr.rss_base = cr.rss_max = rss_of(f.g.pid);
	crowd_open(&cr, &f.g, count);
	/* Tricklers send a byte every 200 ms: never quiet for long, and
	 * never done. */
	crowd_run(&cr, f.g.pid, 200, 20000);
	crowd_check(&cr);
	good_stop(&gc, "200 slow and bad peers");
	quiet_check(quiet);
	report_rss("200 slow and bad peers", &cr, RSS_BOUND_MB(32));
	crowd_free(&cr);
	itest_teardown(&f);
}

/* --- a client that pipelines and never reads ------------------------------- */

/* Waits until the peer closes fd, without reading what it sent (a reader
 * that does not read); false when it is still open after timeout_ms. */
static bool hung_up_within(int fd, int timeout_ms)
{
	uint64_t end = itest_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd pfd = {fd, POLLRDHUP, 0};
		uint64_t now = itest_now_ms();

		if (now >= end)
			return false;
		int r = poll(&pfd, 1, (int)(end - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return true;
		if (r == 0)
			return false;
	}
}

/* Writes requests (chunk: copies of one) without reading, until gridd
 * stops taking them for stall_ms; returns the bytes written. A write that
 * fails (gridd hung up instead of holding the client back) fails the
 * test. */
static size_t pipeline_until_held(int fd, const uint8_t *chunk, size_t chunk_len, int stall_ms)
{
	size_t sent = 0, off = 0;

	for (;;) {
		ssize_t k = send(fd, chunk + off, chunk_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k > 0) {
			sent += (size_t)k;
			off = (off + (size_t)k) % chunk_len;
			ASSERT_MSG(sent < 256u * 1024 * 1024,
				   "256 MB of requests taken from a client that reads nothing");
			continue;
		}
		ASSERT_MSG(k < 0 && (errno == EAGAIN || errno == EINTR),
			   "gridd dropped the client after %zu bytes of requests (%s)", sent,
			   k < 0 ? strerror(errno) : "closed");
		struct pollfd pfd = {fd, POLLOUT, 0};
		if (poll(&pfd, 1, stall_ms) == 0)
			return sent;
	}
}

/* --- a subscriber that never reads ----------------------------------------- */

/* A connection subscribed to the events of Z5 (its subtree), with a small
 * receive buffer, that will read nothing more. */
static int deaf_subscriber(const struct itest_gridd *g)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__SubscribeRequest m = GRID__V1__SUBSCRIBE_REQUEST__INIT;
	int fd, small = 4096;
	uint8_t b[4096];
	size_t len = 0;

	fd = raw_connect(g->address, NULL);
	ASSERT_EQ_INT(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	send_hello_auth(fd, g->admin_token);
	expect_hello_auth(fd);
	m.node_code = (char *)Z5;
	req.id = 3;
	req.call_case = GRID__V1__REQUEST__CALL_SUBSCRIBE;
	req.subscribe = &m;
	raw_send(fd, &req);
	for (Grid__V1__ServerFrame *fr = NULL; !fr;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ASSERT(poll(&pfd, 1, RAW_WAIT_MS) == 1);
		ssize_t k = read(fd, b + len, sizeof(b) - len);
		ASSERT(k > 0);
		len += (size_t)k;
		fr = raw_take_frame(b, &len, sizeof(b));
		if (fr) {
			ASSERT_EQ_UINT(fr->reply->id, 3);
			ASSERT_EQ_INT(fr->reply->status->code, 0);
			grid__v1__server_frame__free_unpacked(fr, NULL);
		}
	}
	return fd;
}

/* SQL for 500 events of 4 KB at a building of Z5, in one transaction. */
static void emit_sql(char *sql, size_t size)
{
	snprintf(sql, size,
		 "SELECT count(event_emit('case.raised', (SELECT id FROM grid_node WHERE code = "
		 "'%s'), NULL, i, NULL, 'tester', repeat('x', 4000), NULL)) "
		 "FROM generate_series(1, 500) i",
		 Z5_B1);
}

TEST(peers_that_do_not_read_are_held_back_then_cut)
{
	const char *const extra[] = {
	    "--set", "limits.outbuf_pause=65536",   "--set", "limits.max_outbuf=2097152",
	    "--set", "limits.send_timeout_ms=1000", NULL};
	struct itest_fix f;
	struct good_client gc;
	struct crowd cr = {0}; /* only for its RSS figures */
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ExportGridRequest exp = GRID__V1__EXPORT_GRID_REQUEST__INIT;
	uint8_t *chunk, one[64];
	size_t one_len = 0, chunk_len, sent, owed;
	int fd, deaf, small = 65536;
	char sql[512];

	itest_setup(&f, extra, ITEST_WITH_SAMPLE);
	good_start(&gc, &f.g, 20);
	cr.rss_base = cr.rss_max = rss_of(f.g.pid);
	deaf = deaf_subscriber(&f.g);

	/* A client pipelining exports of the whole sample grid (10 bytes
	 * asking for 3 KB each), with fixed socket buffers so that what the
	 * kernels hold stays small. */
	fd = raw_connect(f.g.address, NULL);
	ASSERT_EQ_INT(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ASSERT_EQ_INT(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	send_hello_auth(fd, f.g.admin_token);
	expect_hello_auth(fd);
	req.id = 7;
	req.call_case = GRID__V1__REQUEST__CALL_EXPORT_GRID;
	req.export_grid = &exp;
	put_request(one, &one_len, &req);
	chunk_len = one_len * 1000;
	chunk = malloc(chunk_len);
	ASSERT_NOT_NULL(chunk);
	for (size_t i = 0; i < 1000; i++)
		memcpy(chunk + i * one_len, one, one_len);

	/* Held back: gridd stops reading once the replies owed pass
	 * outbuf_pause, and TCP stops the client. Without that, gridd would
	 * read on, owe more than max_outbuf and drop the client. */
	sent = pipeline_until_held(fd, chunk, chunk_len, 500);
	free(chunk);
	ASSERT(!hung_up_within(fd, 0));
	printf("# held back after %zu exports\n", sent / one_len);

	/* Reading, it gets its replies: more than gridd could have produced
	 * before it stopped reading (outbuf_pause, and a few MB in the
	 * kernel's buffers), so gridd read on as the client caught up. */
	owed = sent / one_len;
	struct raw_stream *st = malloc(sizeof(*st));
	ASSERT_NOT_NULL(st);
	st->fd = fd;
	st->len = 0;
	size_t want = owed < 3000 ? owed : 3000;
	for (size_t i = 0; i < want; i++) {
		Grid__V1__ServerFrame *fr = raw_stream_read(st);
		ASSERT_MSG(fr != NULL, "closed after %zu of %zu replies", i, owed);
		ASSERT_EQ_UINT(fr->reply->id, 7);
		ASSERT_EQ_INT(fr->reply->status->code, 0);
		grid__v1__server_frame__free_unpacked(fr, NULL);
	}
	ASSERT_MSG(owed > want, "only %zu requests were taken before gridd held back", owed);

	/* Now neither reads any more: the pipelining client, with requests
	 * unread, and the subscriber, as batches of 500 events (2 MB) come
	 * in its subtree. The kernel's socket buffers take a few MB first
	 * (gridd holds nothing then), then gridd's output waits and, after
	 * send_timeout_ms without a byte taken, gridd hangs up on both. */
	emit_sql(sql, sizeof(sql));
	uint64_t end = itest_now_ms() + 30000;
	bool cut = false, deaf_cut = false;
	int batches = 0;
	while (!(cut && deaf_cut) && itest_now_ms() < end) {
		if (!deaf_cut) {
			free(itest_sql(f.db.url, sql));
			batches++;
		}
		for (int i = 0; i < 10 && !(cut && deaf_cut); i++) {
			cut = cut || hung_up_within(fd, 25);
			deaf_cut = deaf_cut || hung_up_within(deaf, 25);
			size_t rss = rss_of(f.g.pid);
			cr.rss_max = rss > cr.rss_max ? rss : cr.rss_max;
		}
	}
	printf("# the subscriber was cut after %d batches of 500 events\n", batches);
	ASSERT_MSG(cut, "a client that reads nothing is still connected");
	ASSERT_MSG(deaf_cut, "a subscriber that reads nothing is still connected");
	raw_stream_close(st);
	free(st);
	close(deaf);

	good_stop(&gc, "peers that do not read");
	report_rss("peers that do not read", &cr, RSS_BOUND_MB(24));
	itest_teardown(&f);
}

/* --- long: a thousand slow-loris connections, and more --------------------- */

/* A client that pipelines pings and never reads, in a process of its own,
 * until killed: held back by gridd, it blocks in write(). */
static pid_t pipeliner_start(const struct itest_gridd *g)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		Grid__V1__Request req;
		Grid__V1__Ping p;
		uint8_t one[64], chunk[64 * 500];
		size_t one_len = 0;
		int fd = raw_connect(g->address, NULL);

		send_hello_auth(fd, g->admin_token);
		expect_hello_auth(fd);
		raw_ping_request(&req, &p, 9);
		put_request(one, &one_len, &req);
		for (size_t i = 0; i < 500; i++)
			memcpy(chunk + i * one_len, one, one_len);
		/* Until gridd hangs up (send timeout) or the test ends. */
		while (send(fd, chunk, one_len * 500, MSG_NOSIGNAL) > 0)
			;
		_exit(0);
	}
	return pid;
}

/* Events in Z5, 500 at a time, every 500 ms, until killed. */
static pid_t emitter_start(const char *url)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		char sql[512];

		emit_sql(sql, sizeof(sql));
		for (;;) {
			free(itest_sql(url, sql));
			usleep(500 * 1000);
		}
	}
	return pid;
}

static void child_end(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

#define WHAT "1,000 slow-loris, 250 bad frames, 4 pipeliners, 4 deaf subscribers"

TEST(long_a_thousand_slow_loris_and_the_p99_of_others)
{
	/* A byte every 1.5 s: "slow" in earnest. */
	const char *const extra[] = {"--set", "limits.login_timeout_ms=6000", "--set",
				     "limits.frame_timeout_ms=4000", NULL};
	static const int count[PEER_KINDS] = {
	    [PEER_SILENT] = 300,       [PEER_HELLO_ONLY] = 200, [PEER_TRICKLE] = 250,
	    [PEER_TRICKLE_AUTH] = 250, [PEER_OVERSIZE] = 50,	[PEER_OVERSIZE_AUTH] = 50,
	    [PEER_GARBAGE] = 50,       [PEER_TRUNCATED] = 50,	[PEER_VANISH] = 50,
	};
	struct itest_fix f;
	struct good_client gc;
	struct crowd cr = {0};
	pid_t pipeliners[4], emitter;
	int deaf[4];

	if (!long_run())
		TEST_SKIP("long: scripts/test --long (GRID_TEST_LONG=1)");
	if (raise_nofile() < 1400)
		TEST_SKIP("needs 1,400 open files");
	itest_setup(&f, extra, ITEST_WITH_SAMPLE);
	struct raw_stream *quiet = quiet_open(&f.g);
	cr.rss_base = cr.rss_max = rss_of(f.g.pid);
	good_start(&gc, &f.g, 10);
	for (int i = 0; i < 4; i++) {
		pipeliners[i] = pipeliner_start(&f.g);
		deaf[i] = deaf_subscriber(&f.g);
	}
	emitter = emitter_start(f.db.url);
	crowd_open(&cr, &f.g, count);
	crowd_run(&cr, f.g.pid, 1500, 60000);
	crowd_check(&cr);
	struct good_stats s = good_stop(&gc, WHAT);
	child_end(emitter);
	for (int i = 0; i < 4; i++) {
		child_end(pipeliners[i]);
		close(deaf[i]);
	}
	quiet_check(quiet);
	printf("# abuse_p99_ms=%.2f\n", s.p99_ms);
	report_rss(WHAT, &cr, RSS_BOUND_MB(64));
	if (!SANITIZED)
		ASSERT_MSG(s.p99_ms <= 50.0, "p99 of a well-behaved client %.1f ms > 50 ms",
			   s.p99_ms);
	crowd_free(&cr);
	itest_teardown(&f);
}

/* --- long: 10,000 idle authenticated connections --------------------------- */

#define IDLE_CONNS 10000
#define IDLE_BATCH 250

TEST(long_idle_10k_authenticated_connections)
{
	/* Room for the harness's own connections too. */
	const char *const extra[] = {"--set", "limits.max_connections=10100", NULL};
	struct itest_fix f;
	int *fds;

	if (!long_run())
		TEST_SKIP("long: scripts/test --long (GRID_TEST_LONG=1)");
	if (raise_nofile() < IDLE_CONNS + 100)
		TEST_SKIP("needs 10,100 open files (ulimit -Hn)");
	itest_setup(&f, extra, 0);
	fds = calloc(IDLE_CONNS, sizeof(*fds));
	ASSERT_NOT_NULL(fds);

	/* One first, so that what a first connection sets up for good (the
	 * principal of the token, the code paths) is in the baseline. */
	int warm = raw_connect(f.g.address, NULL);
	send_hello_auth(warm, f.g.admin_token);
	expect_hello_auth(warm);
	usleep(200 * 1000);
	size_t base = rss_of(f.g.pid);
	uint64_t t0 = itest_now_ms();

	/* In batches: each connects from 127.0.0.2 and up (250 per address,
	 * under the per-address limit), sends Hello and Authenticate with
	 * the session token in one write, then the batch's replies are read. */
	for (int i = 0; i < IDLE_CONNS; i += IDLE_BATCH) {
		for (int j = i; j < i + IDLE_BATCH; j++) {
			char from[32];
			snprintf(from, sizeof(from), "127.0.0.%d", 2 + j / PER_SOURCE);
			fds[j] = raw_connect(f.g.address, from);
			send_hello_auth(fds[j], f.g.admin_token);
		}
		for (int j = i; j < i + IDLE_BATCH; j++)
			expect_hello_auth(fds[j]);
	}
	uint64_t took = itest_now_ms() - t0;
	/* Idle: let whatever settles after the last reply settle. */
	usleep(500 * 1000);
	size_t after = rss_of(f.g.pid);
	double extra_mb = ((double)after - (double)base) / MB;

	printf("# %d authenticated connections opened in %llu ms\n", IDLE_CONNS,
	       (unsigned long long)took);
	printf("# gridd rss base_mb=%.1f with_10k_mb=%.1f per_conn_bytes=%.0f\n", (double)base / MB,
	       (double)after / MB, ((double)after - (double)base) / IDLE_CONNS);
	printf("# idle10k_extra_rss_mb=%.1f\n", extra_mb);
	fflush(stdout);

	/* All of them still there and answering: a ping on every 100th. */
	for (int j = 0; j < IDLE_CONNS; j += 100) {
		uint8_t b[512];
		size_t len = 0;
		Grid__V1__ServerFrame *fr = NULL;

		raw_send_ping(fds[j], 77);
		while (!fr) {
			struct pollfd pfd = {fds[j], POLLIN, 0};
			ASSERT_MSG(poll(&pfd, 1, RAW_WAIT_MS) == 1, "connection %d: no pong", j);
			ssize_t k = read(fds[j], b + len, sizeof(b) - len);
			ASSERT_MSG(k > 0, "connection %d was closed", j);
			len += (size_t)k;
			fr = raw_take_frame(b, &len, sizeof(b));
		}
		ASSERT_EQ_UINT(fr->reply->id, 77);
		ASSERT_EQ_INT(fr->reply->status->code, 0);
		grid__v1__server_frame__free_unpacked(fr, NULL);
	}
	grid_client_destroy(itest_connect(&f.g));
	for (int j = 0; j < IDLE_CONNS; j++)
		close(fds[j]);
	close(warm);
	free(fds);
	if (!SANITIZED)
		ASSERT_MSG(extra_mb <= 100.0, "10,000 idle connections cost %.1f MB", extra_mb);
	itest_teardown(&f);
}
