/* The in-process server of the fuzz targets; see harness.h.
 *
 * Start-up mirrors server_start() minus everything that needs PostgreSQL:
 * the grid cache and the event feed are filled here instead of from the
 * database (their private headers are included for that alone), the pool
 * is created against a socket directory that does not exist and the loop
 * runs until the pool reports itself down. Nothing listens: connections
 * come from socketpairs, handed to conn.c's accept path through a pipe
 * handle used as a stand-in listener (uv_accept only looks at the
 * listener's accepted_fd), so every connection is set up exactly as gridd
 * sets up a TCP one.
 */
#include "fuzz/harness.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "common/frame.h"
#include "proto/rpc.pb-c.h"
#include "server/audit/audit.h"
#include "server/auth/auth.h"
#include "server/auth/principal.h"
#include "server/case/case.h"
#include "server/config.h"
#include "server/db/pool.h"
#include "server/event/event.h"
#include "server/event/event_private.h"
#include "server/grid/grid.h"
#include "server/grid/grid_private.h"
#include "server/log.h"
#include "server/net/conn.h"
#include "server/net/conn_private.h"
#include "server/net/net.h"
#include "server/rpc/rpc.h"
#include "server/server.h"
#include "server/task/task.h"

/* How long a connection may take to close once we stopped sending: far
 * beyond anything a request that cannot reach the database needs, even
 * under a sanitizer. */
#define CLOSE_BOUND_MS 20000

static struct {
	bool ready;
	uv_loop_t loop;
	struct config cfg;
	struct server srv;
	uv_pipe_t acceptor;
	int acceptor_fds[2];
	uint64_t next_id;
} env;

/* A slice of the example district (data/sample-grid.csv), with the codes
 * the seed requests name. Levels index [grid] levels: district = 0. */
static const struct tree_row sample_rows[] = {
    {1, 0, 1, 0, false, "WH", "武侯区", "王建国", "13800000001"},
    {2, 1, 1, 1, false, "WH-HCNZ", "火车南站街道", "李秀英", "13800000002"},
    {3, 2, 1, 2, false, "WH-TZL", "桐梓林社区", "张伟", "13800000003"},
    {4, 3, 1, 3, false, "WH-TZL-Z4", "第四片区", "", ""},
    {5, 3, 1, 3, false, "WH-TZL-Z5", "第五片区", "刘芳", "13800000004"},
    {6, 5, 1, 4, false, "WH-TZL-Z5-ZTY", "梓潼苑", "刘燕", "13800000005"},
    {7, 6, 1, 5, false, "WH-TZL-Z5-ZTY-B1", "1栋", "赵敏", "13800000006"},
    {8, 6, 1, 5, false, "WH-TZL-Z5-ZTY-B2", "2栋", "", ""},
    {9, 5, 1, 4, true, "WH-TZL-Z5-SAZ", "曙安宅", "", ""},
    {10, 9, 1, 5, true, "WH-TZL-Z5-SAZ-B1", "1栋", "", ""},
    {11, 2, 1, 2, false, "WH-YLDL", "玉林东路社区", "", ""},
};

static const char *const mode_names[FUZZ_MODE_COUNT] = {
    "new",	"anonymous", "admin",	"staff",   "building_head",
    "resident", "apikey",    "expired", "revoked",
};

const char *fuzz_mode_name(enum fuzz_mode mode)
{
	return (unsigned)mode < FUZZ_MODE_COUNT ? mode_names[mode] : "?";
}

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void check(int r, const char *what)
{
	if (r < 0)
		fuzz_fail("%s: %s", what, strerror(-r));
}

static struct grid *make_grid(struct server *srv)
{
	struct grid *g = calloc(1, sizeof(*g));

	if (!g || !(g->tree = tree_create()))
		fuzz_fail("out of memory");
	g->srv = srv;
	for (size_t i = 0; i < sizeof(sample_rows) / sizeof(sample_rows[0]); i++)
		check(tree_apply(g->tree, &sample_rows[i], NULL), "tree_apply");
	tree_set_version(g->tree, 1);
	return g;
}

/* event_create() without its one query (the newest event's seq). */
static struct events *make_events(struct server *srv)
{
	struct events *ev = calloc(1, sizeof(*ev));

	if (!ev)
		fuzz_fail("out of memory");
	ev->srv = srv;
	list_init(&ev->conns);
	uv_timer_init(srv->loop, &ev->retry);
	ev->retry.data = ev;
	return ev;
}

void fuzz_init(void)
{
	struct db_pool_options opt = {.size = 1, .connect_timeout_ms = 1000};
	struct server *s = &env.srv;
	char err[256];
	uint64_t until;

	if (env.ready)
		return;
	log_set_level(LOG_ERROR);
	check(uv_loop_init(&env.loop), "uv_loop_init");
	check(config_init(&env.cfg), "config_init");
	/* Password hashing at libsodium's minimum: a fuzzed CreateUser
	 * or ChangePassword must not cost 64 MiB and a second each. */
	env.cfg.pwhash_opslimit = 1;
	env.cfg.pwhash_memlimit_kib = 8;

	s->loop = &env.loop;
	s->cfg = &env.cfg;
	s->started_ms = uv_now(&env.loop);
	check(rpc_check_table(err, sizeof(err)), err);
	s->grid = make_grid(s);
	s->events = make_events(s);
	check(auth_create(s, &s->auth, err, sizeof(err)), err);
	check(case_create(s, &s->cases), "case_create");
	check(task_create(s, &s->tasks), "task_create");
	s->db = db_pool_create(&env.loop, "host=/nonexistent/gridd-fuzz port=1 dbname=none", &opt);
	if (!s->db)
		fuzz_fail("db_pool_create failed");
	check(grid_start(s->grid), "grid_start");
	check(auth_start(s->auth), "auth_start");
	check(case_start(s->cases), "case_start");
	check(task_start(s->tasks), "task_start");
	check(event_start(s->events), "event_start");
	check(audit_start(s), "audit_start");
	check(idem_start(s), "idem_start");
	s->net = net_create(s);
	if (!s->net)
		fuzz_fail("net_create failed");

	until = mono_ms() + 10000;
	while (db_pool_is_up(s->db)) {
		if (mono_ms() > until)
			fuzz_fail("the database pool did not give up on a missing socket");
		uv_run(&env.loop, UV_RUN_ONCE);
	}

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, env.acceptor_fds) < 0)
		fuzz_fail("socketpair: %s", strerror(errno));
	check(uv_pipe_init(&env.loop, &env.acceptor, 0), "uv_pipe_init");
	check(uv_pipe_open(&env.acceptor, env.acceptor_fds[0]), "uv_pipe_open");
	env.ready = true;
}

size_t fuzz_max_frame_before_login(void)
{
	return env.cfg.max_frame_before_login;
}

size_t fuzz_max_frame(void)
{
	return env.cfg.max_frame;
}

static void add_grant(struct principal *p, int role, int64_t node_id)
{
	struct grant *g = realloc(p->grants, (p->ngrants + 1) * sizeof(*g));

	if (!g)
		fuzz_fail("out of memory");
	g[p->ngrants].role = role;
	g[p->ngrants].node_id = node_id;
	p->grants = g;
	p->ngrants++;
}

/* A principal as sessions.c makes one after a Login, but detached from
 * the auth registry: it dies with the connection holding it. */
static struct principal *make_principal(enum fuzz_mode mode)
{
	struct principal *p = calloc(1, sizeof(*p));
	int64_t now = wall_ms();

	if (!p)
		fuzz_fail("out of memory");
	p->refs = 1;
	list_init(&p->link);
	p->kind = PRINCIPAL_USER;
	p->account_id = 100 + mode;
	p->name = strdup(fuzz_mode_name(mode));
	p->display_name = strdup("模糊测试");
	p->last_used_ms = now;
	p->persisted_ms = now;
	p->expires_at_ms = now + 3600 * 1000;
	switch (mode) {
	case FUZZ_MODE_ADMIN:
		add_grant(p, GRID__V1__ROLE__ROLE_DISTRICT_ADMIN, 0);
		break;
	case FUZZ_MODE_STAFF:
		add_grant(p, GRID__V1__ROLE__ROLE_COMMUNITY_STAFF, 3);
		break;
	case FUZZ_MODE_BUILDING_HEAD:
		add_grant(p, GRID__V1__ROLE__ROLE_BUILDING_HEAD, 7);
		break;
	case FUZZ_MODE_RESIDENT:
		add_grant(p, GRID__V1__ROLE__ROLE_RESIDENT, 7);
		break;
	case FUZZ_MODE_API_KEY:
		p->kind = PRINCIPAL_API_KEY;
		p->account_id = 0;
		add_grant(p, GRID__V1__ROLE__ROLE_CITY_SYSTEM, 3);
		p->methods = calloc(3, sizeof(char *));
		if (!p->methods)
			fuzz_fail("out of memory");
		p->methods[p->nmethods++] = strdup("GetNode");
		p->methods[p->nmethods++] = strdup("ListCases");
		p->methods[p->nmethods++] = strdup("RaiseCase");
		break;
	case FUZZ_MODE_EXPIRED:
		add_grant(p, GRID__V1__ROLE__ROLE_ZONE_LEADER, 5);
		p->expires_at_ms = now - 1000;
		break;
	case FUZZ_MODE_REVOKED:
		add_grant(p, GRID__V1__ROLE__ROLE_COURTYARD_REP, 6);
		p->revoked = true;
		break;
	default:
		break;
	}
	if (!p->name || !p->display_name)
		fuzz_fail("out of memory");
	return p;
}

/* Reads whatever the server has sent; notes its close. */
static void drain_peer(struct fuzz_conn *fc)
{
	uint8_t tmp[65536];

	while (!fc->eof) {
		ssize_t n = recv(fc->peer, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0) {
			if (buf_append(&fc->in, tmp, (size_t)n) < 0)
				fuzz_fail("out of memory");
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			fc->eof = true; /* closed, or reset: either way gone */
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
}

/* Bytes written to the server that it has not read yet. */
static size_t server_unread(const struct fuzz_conn *fc)
{
	int n = 0;

	if (ioctl(fc->peer, TIOCOUTQ, &n) < 0 || n < 0)
		return 0;
	return (size_t)n;
}

/* Runs the loop until the server has read what we wrote and sent nothing
 * for a few iterations (or closed). A paused connection leaves bytes
 * unread; the iteration bound ends the wait then. */
static void settle(struct fuzz_conn *fc)
{
	unsigned quiet = 0;

	for (unsigned i = 0; i < 10000 && quiet < 3; i++) {
		size_t before = fc->in.len;
		uv_run(&env.loop, UV_RUN_NOWAIT);
		drain_peer(fc);
		if (fc->eof)
			break;
		if (fc->in.len == before && server_unread(fc) == 0)
			quiet++;
		else
			quiet = 0;
	}
}

void fuzz_conn_open(struct fuzz_conn *fc, enum fuzz_mode mode)
{
	struct sockaddr_storage peer;
	struct conn *c;
	int fds[2];

	fuzz_init();
	memset(fc, 0, sizeof(*fc));
	buf_init(&fc->in, 0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		fuzz_fail("socketpair: %s", strerror(errno));
	env.acceptor.accepted_fd = fds[0];
	check(
	    conn_accept(env.srv.net, (uv_stream_t *)&env.acceptor, NULL, ++env.next_id, &c, &peer),
	    "conn_accept");
	conn_start(c);
	fc->conn = c;
	fc->peer = fds[1];
	if (mode >= FUZZ_MODE_ANONYMOUS)
		conn_set_ready(c);
	if (mode >= FUZZ_MODE_ADMIN) {
		struct principal *p = make_principal(mode);
		conn_set_principal(c, p);
		principal_unref(p); /* the connection holds it */
	}
}

void fuzz_conn_send(struct fuzz_conn *fc, const uint8_t *p, size_t len)
{
	size_t off = 0;
	unsigned stuck = 0;

	while (off < len && !fc->eof) {
		ssize_t n = send(fc->peer, p + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			stuck = 0;
		} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			break; /* the server closed: the rest is never read */
		} else if (++stuck > 1000) {
			break; /* a paused reader: what it did not take stays unsent */
		}
		settle(fc);
	}
}

void fuzz_conn_close(struct fuzz_conn *fc)
{
	uint64_t until = mono_ms() + CLOSE_BOUND_MS;

	shutdown(fc->peer, SHUT_WR);
	while (!fc->eof) {
		if (mono_ms() > until)
			fuzz_fail("the connection did not close within %d ms of the peer's end "
				  "(a request that never ended?)",
				  CLOSE_BOUND_MS);
		uv_run(&env.loop, UV_RUN_NOWAIT);
		drain_peer(fc);
		if (!fc->eof)
			usleep(100);
	}
	/* The close callbacks run in the next iterations; the connection is
	 * freed by the last of them. */
	for (int i = 0; i < 3; i++)
		uv_run(&env.loop, UV_RUN_NOWAIT);
	close(fc->peer);
	fc->peer = -1;
	fc->conn = NULL;
}

void fuzz_conn_finish(struct fuzz_conn *fc)
{
	if (fc->peer >= 0 && fc->conn)
		fuzz_conn_close(fc);
	buf_finish(&fc->in);
}

struct output_ctx {
	struct fuzz_output *out;
	size_t cap;
	bool verbose; /* FUZZ_VERBOSE=1: every reply on stderr */
};

static int on_output_frame(void *data, const uint8_t *payload, size_t len)
{
	struct output_ctx *ctx = data;
	struct fuzz_output *out = ctx->out;
	Grid__V1__ServerFrame *f = grid__v1__server_frame__unpack(NULL, len, payload);

	if (!f)
		fuzz_fail("the server sent a frame of %zu bytes that is not a ServerFrame", len);
	out->frames++;
	if (f->frame_case == GRID__V1__SERVER_FRAME__FRAME_REPLY) {
		const Grid__V1__Reply *r = f->reply;
		if (!r->status)
			fuzz_fail("a reply (id %llu) without a status", (unsigned long long)r->id);
		if (out->replies == ctx->cap) {
			size_t cap = ctx->cap ? ctx->cap * 2 : 8;
			uint64_t *ids = realloc(out->ids, cap * sizeof(*ids));
			if (!ids)
				fuzz_fail("out of memory");
			out->ids = ids;
			ctx->cap = cap;
		}
		out->ids[out->replies++] = r->id;
		if (ctx->verbose)
			fprintf(stderr, "# reply id=%llu code=%d message=%s\n",
				(unsigned long long)r->id, r->status->code,
				r->status->message ? r->status->message : "");
		if (r->id == 0) {
			out->conn_errors++;
			out->last_error_code = r->status->code;
		}
	} else if (f->frame_case == GRID__V1__SERVER_FRAME__FRAME_EVENT) {
		out->events++;
	} else {
		fuzz_fail("a ServerFrame with neither a reply nor an event");
	}
	grid__v1__server_frame__free_unpacked(f, NULL);
	return 0;
}

void fuzz_output_parse(const struct fuzz_conn *fc, struct fuzz_output *out)
{
	struct output_ctx ctx = {out, 0, getenv("FUZZ_VERBOSE") != NULL};
	struct frame_reader r;
	size_t used;
	int rc;

	memset(out, 0, sizeof(*out));
	frame_reader_init(&r, FRAME_MAX_LIMIT);
	rc = frame_reader_feed(&r, fc->in.data, fc->in.len, &used, on_output_frame, &ctx);
	if (rc < 0)
		fuzz_fail("the server's output is not a sequence of frames (%s)", strerror(-rc));
	if (frame_reader_partial(&r))
		fuzz_fail("the server's output ends inside a frame (%zu bytes of it)",
			  frame_reader_buffered(&r));
	frame_reader_finish(&r);
}

void fuzz_output_finish(struct fuzz_output *out)
{
	free(out->ids);
	out->ids = NULL;
}
