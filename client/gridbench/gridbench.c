/* gridbench: a load generator for gridd, built on libgridclient's async API.
 *
 * It logs in once (a password gives a session token; a token or API key is
 * used as is), finds the nodes to work on (the lowest level of the caller's
 * part of the grid, or --node), opens N connections on one libuv loop, has
 * each of them Authenticate with the token, then keeps requests going:
 * closed loop (P in flight per connection, a new one as each reply comes)
 * or open loop (--rate: requests start on a fixed schedule whatever the
 * replies do, and latency is counted from the scheduled start, so a slow
 * server cannot hide its queueing). The operations are drawn from a weighted
 * mix: RaiseCase, GetNode, ListChildren, ListCases (an inbox), ClaimCase
 * followed by StartCase and ResolveCase, IssueTask. Writes carry a fresh
 * idempotency key each, as a careful client's would.
 *
 * At the end it prints throughput, latency quantiles and errors by status
 * code, per operation and in total (--json: one object). bench/run drives
 * it; tests/integration/test_gridbench.c keeps it honest.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "client/gridbench/gridbench.h"
#include "client/gridbench/hist.h"
#include "client/gridclient.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/status.h"
#include "grid_version.h"

#define DEFAULT_SERVER "127.0.0.1:7420"
#define DEFAULT_CONNECTIONS 16
#define DEFAULT_DURATION_S 10.0
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MIX "raise=70,get=10,children=10,inbox=5,claim=5"
/* With --rate and no -P: enough slots per connection that the schedule, not
 * the cap, decides when requests start, unless the server falls far behind. */
#define RATE_DEFAULT_PIPELINE 64
#define MAX_CONNECTIONS 10000
#define MAX_PIPELINE 65536
/* Stop collecting nodes beyond this many: a city-sized grid is ~870,000. */
#define MAX_NODES 2000000
#define PACE_MS 1
#define NS_PER_S 1000000000.0

static const char *const op_names[OP_COUNT] = {"raise", "get",	 "children",
					       "inbox", "claim", "task"};

static const char usage_text[] =
    "Usage: gridbench [OPTIONS]\n"
    "\n"
    "Puts load on a gridd and measures it: opens N connections, logs them in,\n"
    "keeps requests in flight on each for a duration (or a number of requests)\n"
    "and prints the throughput, the latency (p50, p99, p99.9, max) and the errors\n"
    "by status code, per operation and in total.\n"
    "\n"
    "Operations (for --mix and --op):\n"
    "  raise     RaiseCase at a node (a fresh idempotency key each)\n"
    "  get       GetNode of any node found\n"
    "  children  ListChildren of a node that has children\n"
    "  inbox     ListCases at a node (its inbox, first page of 20)\n"
    "  claim     ClaimCase at a node, then StartCase and ResolveCase of the case\n"
    "            claimed; a node with nothing to claim counts as 'empty', not\n"
    "            as an error; the latency is that of the three calls\n"
    "  task      IssueTask at a node's parent for the node's level (small target)\n"
    "\n"
    "Options:\n"
    "  -s, --server HOST:PORT    gridd (default: $GRID_SERVER, else " DEFAULT_SERVER ")\n"
    "  -c, --connections N       connections (default 16)\n"
    "  -P, --pipeline N          requests in flight per connection (default 1; with\n"
    "                            --rate, the most in flight: default 64)\n"
    "  -m, --mix OP=W[,OP=W...]  weights of the operations (default\n"
    "                            " DEFAULT_MIX ")\n"
    "  -o, --op OP               only OP (the same as --mix OP=1)\n"
    "  -d, --duration SECONDS    how long to run (default 10; decimals allowed)\n"
    "  -n, --requests N          stop after starting N requests instead (warm-up\n"
    "                            ones included)\n"
    "  -r, --rate R              open loop: start R requests a second in total, on\n"
    "                            schedule; latency counts from the scheduled time\n"
    "  -w, --warmup SECONDS      run this long first, uncounted (default 0)\n"
    "  -u, --user NAME           log in as NAME with a password from --password,\n"
    "                            --password-file or $GRID_PASSWORD\n"
    "      --password PASS       (visible to other users in ps: prefer the others)\n"
    "      --password-file FILE  the password is the first line of FILE\n"
    "  -t, --token TOKEN         a session token or API key (default: $GRID_TOKEN,\n"
    "                            else $GRID_API_KEY) instead of --user\n"
    "      --token-file FILE     the token from FILE (gridctl login --token-file\n"
    "                            FILE writes one; default: $GRID_TOKEN_FILE)\n"
    "  -N, --node CODE[,CODE]    the nodes to raise, claim and list the inbox at\n"
    "                            (repeatable; default: every node of the lowest level\n"
    "                            in your part of the grid, e.g. its buildings)\n"
    "      --no-idempotency      writes without idempotency keys\n"
    "      --timeout MS          deadline of each request (default 10000)\n"
    "  -j, --json                one JSON object on stdout instead of the table\n"
    "  -h, --help                this text\n"
    "\n"
    "Exit status: 0 when the run completed (the errors are in the report), 1\n"
    "when it could not start (cannot connect, log in or find nodes) or every\n"
    "connection was lost, 2 for a bad command line.\n"
    "\n"
    "Examples:\n"
    "  gridbench -u admin --password-file admin.pass --op raise -c 64 -d 20\n"
    "  gridbench -t \"$TOKEN\" --op raise -c 64 --rate 4000 -d 20 --json\n"
    "  gridbench -t \"$TOKEN\" --mix get=1,children=1 -c 64 -P 16 -d 10\n";

static uint64_t rng_next(struct bench *b)
{
	/* xorshift64*: quick, and good enough to pick nodes and operations. */
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 2685821657736338717ull;
}

static size_t rng_below(struct bench *b, size_t n)
{
	return (size_t)(rng_next(b) % n);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("gridbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'gridbench --help'.\n", stderr);
	exit(BENCH_EXIT_USAGE);
}

static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("gridbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(BENCH_EXIT_FAIL);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		fatal("out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		fatal("out of memory");
	return p;
}

/* ------------------------------------------------------------------------
 * The command line */

static unsigned long parse_count(const char *opt, const char *s, unsigned long min,
				 unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (!*s || *s == '-')
		usage_error("%s: '%s' is not a whole number", opt, s);
	v = strtoul(s, &end, 10);
	if (errno || *end)
		usage_error("%s: '%s' is not a whole number", opt, s);
	if (v < min || v > max)
		usage_error("%s: %lu is out of range (%lu to %lu)", opt, v, min, max);
	return v;
}

static double parse_seconds(const char *opt, const char *s, double min)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		usage_error("%s: '%s' is not a number of seconds", opt, s);
	if (v < min || v > 86400.0 * 7)
		usage_error("%s: %s is out of range (%g to 604800 seconds)", opt, s, min);
	return v;
}

static int op_by_name(const char *name, size_t len)
{
	for (int i = 0; i < OP_COUNT; i++)
		if (strlen(op_names[i]) == len && !strncmp(op_names[i], name, len))
			return i;
	return -1;
}

static void parse_mix(struct bench *b, const char *opt, const char *s)
{
	const char *p = s;

	memset(b->weight, 0, sizeof(b->weight));
	b->weight_sum = 0;
	while (*p) {
		const char *comma = strchr(p, ','), *eq;
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char num[16];
		int op;
		unsigned long w;

		eq = memchr(p, '=', len);
		if (!eq)
			usage_error("%s: '%.*s' should be OP=WEIGHT, e.g. raise=70", opt, (int)len,
				    p);
		op = op_by_name(p, (size_t)(eq - p));
		if (op < 0)
			usage_error("%s: unknown operation '%.*s' (the operations: raise, get, "
				    "children, inbox, claim, task)",
				    opt, (int)(eq - p), p);
		if ((size_t)(p + len - eq - 1) >= sizeof(num))
			usage_error("%s: the weight of %s is too long", opt, op_names[op]);
		memcpy(num, eq + 1, (size_t)(p + len - eq - 1));
		num[p + len - eq - 1] = '\0';
		w = parse_count(opt, num, 0, 1000000);
		b->weight[op] = (unsigned)w;
		p += len;
		if (*p == ',')
			p++;
	}
	for (int i = 0; i < OP_COUNT; i++)
		b->weight_sum += b->weight[i];
	if (!b->weight_sum)
		usage_error("%s: every weight is 0: nothing to do", opt);
}

static void add_nodes(struct bench *b, const char *s)
{
	char *copy = xstrdup(s), *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (b->user_nodes.n == b->user_nodes.cap) {
			size_t cap = b->user_nodes.cap ? b->user_nodes.cap * 2 : 16;
			struct node_ref *v = realloc(b->user_nodes.v, cap * sizeof(*v));
			if (!v)
				fatal("out of memory");
			b->user_nodes.v = v;
			b->user_nodes.cap = cap;
		}
		b->user_nodes.v[b->user_nodes.n++] = (struct node_ref){.code = xstrdup(tok)};
	}
	free(copy);
	if (!b->user_nodes.n)
		usage_error("--node: give at least one node code");
}

static char *read_password_file(const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	size_t len;

	if (!f)
		fatal("--password-file %s: %s", path, strerror(errno));
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		fatal("--password-file %s: the file is empty", path);
	}
	fclose(f);
	len = strcspn(line, "\r\n");
	line[len] = '\0';
	return xstrdup(line);
}

/* A token file as gridctl writes it ("token=..." among other lines) or a
 * file holding nothing but the token. */
static char *read_token_file(const char *path)
{
	char line[1100], *token = NULL;
	FILE *f = fopen(path, "r");
	int lines = 0;

	if (!f)
		fatal("token file %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		lines++;
		if (!strncmp(line, "token=", 6)) {
			free(token);
			token = xstrdup(line + 6);
		} else if (lines == 1 && !strchr(line, '=')) {
			token = xstrdup(line);
		}
	}
	fclose(f);
	if (!token || !*token)
		fatal("token file %s holds no token", path);
	return token;
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static void parse_args(struct bench *b, int argc, char **argv)
{
	enum { OPT_PASSWORD = 256, OPT_PASSWORD_FILE, OPT_TOKEN_FILE, OPT_NO_IDEM, OPT_TIMEOUT };
	static const struct option longopts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"connections", required_argument, NULL, 'c'},
	    {"pipeline", required_argument, NULL, 'P'},
	    {"mix", required_argument, NULL, 'm'},
	    {"op", required_argument, NULL, 'o'},
	    {"duration", required_argument, NULL, 'd'},
	    {"requests", required_argument, NULL, 'n'},
	    {"rate", required_argument, NULL, 'r'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"password", required_argument, NULL, OPT_PASSWORD},
	    {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
	    {"token", required_argument, NULL, 't'},
	    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
	    {"node", required_argument, NULL, 'N'},
	    {"no-idempotency", no_argument, NULL, OPT_NO_IDEM},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *password_file = NULL, *token_file = NULL, *mix = NULL, *op = NULL;
	bool have_duration = false;
	int ch;

	b->server = env_nonempty("GRID_SERVER") ? env_nonempty("GRID_SERVER") : DEFAULT_SERVER;
	b->connections = DEFAULT_CONNECTIONS;
	b->duration_s = DEFAULT_DURATION_S;
	b->timeout_ms = DEFAULT_TIMEOUT_MS;
	b->idempotency = true;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":s:c:P:m:o:d:n:r:w:u:t:N:jh", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 's':
			b->server = optarg;
			break;
		case 'c':
			b->connections =
			    (unsigned)parse_count("--connections", optarg, 1, MAX_CONNECTIONS);
			break;
		case 'P':
			b->pipeline = (unsigned)parse_count("--pipeline", optarg, 1, MAX_PIPELINE);
			break;
		case 'm':
			mix = optarg;
			break;
		case 'o':
			op = optarg;
			break;
		case 'd':
			b->duration_s = parse_seconds("--duration", optarg, 0.001);
			have_duration = true;
			break;
		case 'n':
			b->max_requests = parse_count("--requests", optarg, 1, ULONG_MAX / 2);
			break;
		case 'r':
			b->rate = parse_seconds("--rate", optarg, 0.001);
			if (b->rate > 100000000.0)
				usage_error("--rate: %s is more than 100000000 a second", optarg);
			break;
		case 'w':
			b->warmup_s = parse_seconds("--warmup", optarg, 0);
			break;
		case 'u':
			b->user = optarg;
			break;
		case OPT_PASSWORD:
			b->password = xstrdup(optarg);
			break;
		case OPT_PASSWORD_FILE:
			password_file = optarg;
			break;
		case 't':
			b->token = xstrdup(optarg);
			break;
		case OPT_TOKEN_FILE:
			token_file = optarg;
			break;
		case 'N':
			add_nodes(b, optarg);
			break;
		case OPT_NO_IDEM:
			b->idempotency = false;
			break;
		case OPT_TIMEOUT:
			b->timeout_ms = (unsigned)parse_count("--timeout", optarg, 10, 3600000);
			break;
		case 'j':
			b->json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case ':':
			usage_error("option %s needs a value", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option -%c", optopt);
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (gridbench takes options only)",
			    argv[optind]);
	if (grid_client_check_address(b->server) < 0)
		usage_error("--server: '%s' is not HOST:PORT", b->server);
	if (mix && op)
		usage_error("--mix and --op exclude each other");
	if (op) {
		int i = op_by_name(op, strlen(op));
		if (i < 0)
			usage_error("--op: unknown operation '%s' (the operations: raise, get, "
				    "children, inbox, claim, task)",
				    op);
		memset(b->weight, 0, sizeof(b->weight));
		b->weight[i] = 1;
		b->weight_sum = 1;
	} else {
		parse_mix(b, "--mix", mix ? mix : DEFAULT_MIX);
	}
	if (b->max_requests && have_duration)
		usage_error("--duration and --requests exclude each other");
	if (b->max_requests)
		b->duration_s = 0;
	if (!b->pipeline)
		b->pipeline = b->rate > 0 ? RATE_DEFAULT_PIPELINE : 1;

	/* Credentials: a user and password, else a token. */
	if (b->token && token_file)
		usage_error("--token and --token-file exclude each other");
	if (b->user) {
		if (b->token || token_file)
			usage_error("--user and --token exclude each other");
		if (b->password && password_file)
			usage_error("--password and --password-file exclude each other");
		if (password_file)
			b->password = read_password_file(password_file);
		else if (!b->password && env_nonempty("GRID_PASSWORD"))
			b->password = xstrdup(env_nonempty("GRID_PASSWORD"));
		if (!b->password)
			usage_error("--user %s: give the password with --password-file FILE, "
				    "$GRID_PASSWORD or --password",
				    b->user);
	} else {
		if (b->password || password_file)
			usage_error("a password needs --user");
		if (token_file)
			b->token = read_token_file(token_file);
		if (!b->token && env_nonempty("GRID_TOKEN"))
			b->token = xstrdup(env_nonempty("GRID_TOKEN"));
		if (!b->token && env_nonempty("GRID_API_KEY"))
			b->token = xstrdup(env_nonempty("GRID_API_KEY"));
		if (!b->token && env_nonempty("GRID_TOKEN_FILE"))
			b->token = read_token_file(env_nonempty("GRID_TOKEN_FILE"));
		if (!b->token)
			usage_error("not logged in: give --user NAME (and a password) or --token "
				    "TOKEN ($GRID_TOKEN)");
	}
}

/* ------------------------------------------------------------------------
 * Setup, on a blocking client: log in, find the nodes */

static Grid__V1__Reply *setup_call(struct grid_client *c, Grid__V1__Request *req, const char *what)
{
	Grid__V1__Reply *reply = NULL;
	int r = grid_client_call(c, req, &reply);

	if (r < 0)
		fatal("%s: %s", what, grid_client_error(c));
	if (reply->status->code != GRID__V1__CODE__CODE_OK) {
		fprintf(stderr, "gridbench: %s: %s: %s\n", what, status_name(reply->status->code),
			reply->status->message ? reply->status->message : "");
		grid_client_reply_free(reply);
		exit(BENCH_EXIT_FAIL);
	}
	return reply;
}

static void node_vec_push(struct node_vec *v, const Grid__V1__Node *n)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		struct node_ref *nv = realloc(v->v, cap * sizeof(*nv));
		if (!nv)
			fatal("out of memory");
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = (struct node_ref){
	    .code = xstrdup(n->code),
	    .parent_code = xstrdup(n->parent_code ? n->parent_code : ""),
	    .level_name = xstrdup(n->level_name ? n->level_name : ""),
	    .children = n->child_count,
	};
}

static void node_vec_free(struct node_vec *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->v[i].code);
		free(v->v[i].parent_code);
		free(v->v[i].level_name);
	}
	free(v->v);
	memset(v, 0, sizeof(*v));
}

/* Every active node of the caller's part of the grid, page by page. */
static void discover(struct bench *b, struct grid_client *c, struct node_vec *all)
{
	struct node_vec tops = {0};
	char *token = NULL;

	do {
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__ListChildrenRequest lc = GRID__V1__LIST_CHILDREN_REQUEST__INIT;
		Grid__V1__Reply *r;

		lc.code = "";
		lc.page_token = token ? token : "";
		req.call_case = GRID__V1__REQUEST__CALL_LIST_CHILDREN;
		req.list_children = &lc;
		r = setup_call(c, &req, "ListChildren (finding the nodes)");
		for (size_t i = 0; i < r->list_children->n_nodes; i++)
			node_vec_push(&tops, r->list_children->nodes[i]);
		free(token);
		token = *r->list_children->next_page_token
			    ? xstrdup(r->list_children->next_page_token)
			    : NULL;
		grid_client_reply_free(r);
	} while (token);

	for (size_t t = 0; t < tops.n && all->n < MAX_NODES; t++) {
		do {
			Grid__V1__Request req = GRID__V1__REQUEST__INIT;
			Grid__V1__GetSubtreeRequest gs = GRID__V1__GET_SUBTREE_REQUEST__INIT;
			Grid__V1__Reply *r;

			gs.code = tops.v[t].code;
			gs.page_token = token ? token : "";
			gs.page_size = 1000;
			req.call_case = GRID__V1__REQUEST__CALL_GET_SUBTREE;
			req.get_subtree = &gs;
			r = setup_call(c, &req, "GetSubtree (finding the nodes)");
			for (size_t i = 0; i < r->get_subtree->n_nodes && all->n < MAX_NODES; i++)
				if (!r->get_subtree->nodes[i]->retired)
					node_vec_push(all, r->get_subtree->nodes[i]);
			free(token);
			token = *r->get_subtree->next_page_token && all->n < MAX_NODES
				    ? xstrdup(r->get_subtree->next_page_token)
				    : NULL;
			grid_client_reply_free(r);
		} while (token);
	}
	node_vec_free(&tops);
	(void)b;
}

/* Fills b->targets (raise, claim, inbox, task), b->readable (get) and
 * b->parents (children) from --node or from the grid. */
static void choose_nodes(struct bench *b, struct grid_client *c)
{
	if (b->user_nodes.n) {
		for (size_t i = 0; i < b->user_nodes.n; i++) {
			Grid__V1__Request req = GRID__V1__REQUEST__INIT;
			Grid__V1__GetNodeRequest gn = GRID__V1__GET_NODE_REQUEST__INIT;
			Grid__V1__Reply *r;
			char what[200];

			snprintf(what, sizeof(what), "--node %.100s", b->user_nodes.v[i].code);
			gn.code = b->user_nodes.v[i].code;
			req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
			req.get_node = &gn;
			r = setup_call(c, &req, what);
			node_vec_push(&b->targets, r->get_node);
			node_vec_push(&b->readable, r->get_node);
			if (r->get_node->child_count)
				node_vec_push(&b->parents, r->get_node);
			grid_client_reply_free(r);
		}
		/* ListChildren of a leaf is a valid (empty) read too. */
		if (!b->parents.n)
			for (size_t i = 0; i < b->targets.n; i++) {
				Grid__V1__Node n = GRID__V1__NODE__INIT;
				n.code = b->targets.v[i].code;
				n.parent_code = b->targets.v[i].parent_code;
				n.level_name = b->targets.v[i].level_name;
				node_vec_push(&b->parents, &n);
			}
		return;
	}

	struct node_vec all = {0};
	const Grid__V1__HelloReply *hello = grid_client_hello(c);
	const char *leaf =
	    hello && hello->n_level_names ? hello->level_names[hello->n_level_names - 1] : NULL;
	bool any_leaf_level = false;

	discover(b, c, &all);
	if (!all.n)
		fatal("found no node in your part of the grid: import one (gridctl grid import) "
		      "or give --node");
	for (size_t i = 0; i < all.n && leaf; i++)
		any_leaf_level |= !strcmp(all.v[i].level_name, leaf);
	for (size_t i = 0; i < all.n; i++) {
		Grid__V1__Node n = GRID__V1__NODE__INIT;
		bool target =
		    any_leaf_level ? !strcmp(all.v[i].level_name, leaf) : all.v[i].children == 0;

		n.code = all.v[i].code;
		n.parent_code = all.v[i].parent_code;
		n.level_name = all.v[i].level_name;
		n.child_count = all.v[i].children;
		node_vec_push(&b->readable, &n);
		if (target)
			node_vec_push(&b->targets, &n);
		if (n.child_count)
			node_vec_push(&b->parents, &n);
	}
	/* A grid of leaves only: ListChildren of a leaf is a valid (empty) read. */
	for (size_t i = 0; !b->parents.n && i < all.n; i++) {
		Grid__V1__Node n = GRID__V1__NODE__INIT;
		n.code = all.v[i].code;
		n.parent_code = all.v[i].parent_code;
		n.level_name = all.v[i].level_name;
		node_vec_push(&b->parents, &n);
	}
	node_vec_free(&all);
}

static void setup(struct bench *b)
{
	struct grid_client_config cfg = {.client_name = "gridbench/" GRID_VERSION,
					 .call_timeout_ms = b->timeout_ms};
	struct grid_client *c = grid_client_create(NULL, &cfg);

	if (!c)
		fatal("out of memory");
	if (grid_client_connect(c, b->server) < 0)
		fatal("%s", grid_client_error(c));

	if (b->user) {
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__LoginRequest login = GRID__V1__LOGIN_REQUEST__INIT;
		Grid__V1__Reply *r;

		login.username = (char *)b->user;
		login.password = b->password;
		req.call_case = GRID__V1__REQUEST__CALL_LOGIN;
		req.login = &login;
		r = setup_call(c, &req, "login");
		b->token = xstrdup(r->login->token);
		grid_client_reply_free(r);
	} else {
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__AuthenticateRequest au = GRID__V1__AUTHENTICATE_REQUEST__INIT;

		au.token = b->token;
		req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
		req.authenticate = &au;
		grid_client_reply_free(setup_call(c, &req, "the token was refused"));
	}
	choose_nodes(b, c);
	grid_client_destroy(c);
	if (!b->targets.n)
		fatal("found no node to work on");
}

/* ------------------------------------------------------------------------
 * The load */

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

static void maybe_finish(struct bench *b);
static void pump(struct bench *b);
static void send_step(struct job *j);

static int pick_op(struct bench *b)
{
	unsigned x = (unsigned)rng_below(b, b->weight_sum);

	for (int i = 0; i < OP_COUNT; i++) {
		if (x < b->weight[i])
			return i;
		x -= b->weight[i];
	}
	return OP_RAISE;
}

/* A key no other run shares: the run's random prefix and a counter. */
static void next_key(struct bench *b, struct job *j)
{
	if (b->idempotency)
		snprintf(j->key, sizeof(j->key), "gb-%016" PRIx64 "-%" PRIu64, b->run_id,
			 ++b->keys);
	else
		j->key[0] = '\0';
}

static void record(struct bench *b, struct job *j, int code, int transport_err)
{
	struct op_stats *s = &b->stats[j->op];
	uint64_t t = now_ns();

	b->last_done_ns = t;
	if (!j->counted)
		return;
	s->requests++;
	if (transport_err) {
		s->errors++;
		for (size_t i = 0; i < s->ntransport; i++)
			if (s->transport[i].err == transport_err) {
				s->transport[i].count++;
				return;
			}
		if (s->ntransport < MAX_TRANSPORT_KINDS)
			s->transport[s->ntransport++] =
			    (struct err_count){.err = transport_err, .count = 1};
		return;
	}
	if (code != GRID__V1__CODE__CODE_OK) {
		s->errors++;
		if (code >= 0 && code < STATUS_CODES)
			s->codes[code]++;
		return;
	}
	s->ok++;
	if (j->empty)
		s->empty++;
	hist_record(&s->hist, (t - j->start_ns) / 1000);
}

static void job_done(struct job *j, int code, int transport_err)
{
	struct bench *b = j->b;
	struct conn *cn = j->conn;

	record(b, j, code, transport_err);
	cn->inflight--;
	b->inflight--;
	free(j);
	if (transport_err && transport_err != -ETIMEDOUT && !cn->dead) {
		cn->dead = true;
		b->live--;
		if (!b->json)
			fprintf(stderr, "gridbench: connection %u lost: %s\n", cn->index,
				grid_client_error(cn->client));
	}
	pump(b);
	maybe_finish(b);
}

static void on_reply(struct grid_client *c, int status, const Grid__V1__Reply *reply, void *data)
{
	struct job *j = data;

	(void)c;
	if (status < 0) {
		job_done(j, 0, status);
		return;
	}
	if (j->op == OP_CLAIM && reply->status->code == GRID__V1__CODE__CODE_OK && j->step < 2) {
		if (j->step == 0) {
			if (reply->result_case != GRID__V1__REPLY__RESULT_CLAIM_CASE) {
				job_done(j, GRID__V1__CODE__CODE_INTERNAL, 0);
				return;
			}
			j->case_id = reply->claim_case->id;
		}
		j->step++;
		send_step(j);
		return;
	}
	if (j->op == OP_CLAIM && j->step == 0 &&
	    reply->status->code == GRID__V1__CODE__CODE_NOT_FOUND) {
		/* Nothing waiting at that node: a normal answer under a mix. */
		j->empty = true;
		job_done(j, GRID__V1__CODE__CODE_OK, 0);
		return;
	}
	job_done(j, reply->status->code, 0);
}

/* Sends the job's current call; on a synchronous failure the job ends with
 * it (the library does not call back a call it refused). */
static void send_step(struct job *j)
{
	struct bench *b = j->b;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RaiseCaseRequest raise = GRID__V1__RAISE_CASE_REQUEST__INIT;
	Grid__V1__GetNodeRequest get = GRID__V1__GET_NODE_REQUEST__INIT;
	Grid__V1__ListChildrenRequest children = GRID__V1__LIST_CHILDREN_REQUEST__INIT;
	Grid__V1__ListCasesRequest inbox = GRID__V1__LIST_CASES_REQUEST__INIT;
	Grid__V1__ClaimCaseRequest claim = GRID__V1__CLAIM_CASE_REQUEST__INIT;
	Grid__V1__CaseNoteRequest note = GRID__V1__CASE_NOTE_REQUEST__INIT;
	Grid__V1__IssueTaskRequest task = GRID__V1__ISSUE_TASK_REQUEST__INIT;
	char title[64];
	int r;

	req.deadline_ms = b->timeout_ms;
	switch (j->op) {
	case OP_RAISE:
		next_key(b, j);
		snprintf(title, sizeof(title), "gridbench case %" PRIu64, ++b->raises);
		raise.node_code = j->node->code;
		raise.title = title;
		raise.description = "raised by gridbench, a load test";
		raise.category = "other";
		raise.channel = "app";
		req.call_case = GRID__V1__REQUEST__CALL_RAISE_CASE;
		req.raise_case = &raise;
		break;
	case OP_GET:
		get.code = j->node->code;
		req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
		req.get_node = &get;
		break;
	case OP_CHILDREN:
		children.code = j->node->code;
		req.call_case = GRID__V1__REQUEST__CALL_LIST_CHILDREN;
		req.list_children = &children;
		break;
	case OP_INBOX:
		inbox.node_code = j->node->code;
		inbox.page_size = 20;
		req.call_case = GRID__V1__REQUEST__CALL_LIST_CASES;
		req.list_cases = &inbox;
		break;
	case OP_CLAIM:
		next_key(b, j);
		if (j->step == 0) {
			claim.node_code = j->node->code;
			req.call_case = GRID__V1__REQUEST__CALL_CLAIM_CASE;
			req.claim_case = &claim;
		} else {
			note.id = j->case_id;
			note.note = j->step == 1 ? "" : "resolved by gridbench";
			req.call_case = j->step == 1 ? GRID__V1__REQUEST__CALL_START_CASE
						     : GRID__V1__REQUEST__CALL_RESOLVE_CASE;
			if (j->step == 1)
				req.start_case = &note;
			else
				req.resolve_case = &note;
		}
		break;
	case OP_TASK:
		next_key(b, j);
		snprintf(title, sizeof(title), "gridbench task %" PRIu64, ++b->tasks);
		task.node_code = j->node->parent_code;
		task.title = title;
		task.body = "issued by gridbench, a load test";
		task.target_level = j->node->level_name;
		task.due_at_ms = (int64_t)time(NULL) * 1000 + 7 * 86400000ll;
		req.call_case = GRID__V1__REQUEST__CALL_ISSUE_TASK;
		req.issue_task = &task;
		break;
	default:
		break;
	}
	req.idempotency_key = j->key;
	r = grid_client_call_async(j->conn->client, &req, on_reply, j);
	if (r < 0)
		job_done(j, 0, r);
}

static struct conn *free_conn(struct bench *b)
{
	for (unsigned k = 0; k < b->connections; k++) {
		struct conn *cn = &b->conns[(b->next_conn + k) % b->connections];
		if (!cn->dead && cn->inflight < b->pipeline) {
			b->next_conn = (cn->index + 1) % b->connections;
			return cn;
		}
	}
	return NULL;
}

static const struct node_ref *pick_node(struct bench *b, int op)
{
	const struct node_vec *v = op == OP_GET	       ? &b->readable
				   : op == OP_CHILDREN ? &b->parents
						       : &b->targets;
	return &v->v[rng_below(b, v->n)];
}

static void start_job(struct bench *b, struct conn *cn, uint64_t start_ns)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->b = b;
	j->conn = cn;
	j->op = pick_op(b);
	j->node = pick_node(b, j->op);
	j->start_ns = start_ns;
	j->counted = start_ns >= b->measure_ns;
	cn->inflight++;
	b->inflight++;
	b->started++;
	send_step(j);
}

static bool may_start(struct bench *b)
{
	if (b->stopping)
		return false;
	if (b->max_requests && b->started >= b->max_requests)
		return false;
	return true;
}

/* Starts what may start now: in the closed loop, a request on every free
 * slot; in the open loop, every request whose scheduled time has come and
 * for which a slot is free, each timed from its schedule. */
static void pump(struct bench *b)
{
	struct conn *cn;

	if (b->in_pump)
		return; /* a synchronous failure inside start_job() */
	b->in_pump = true;
	if (b->rate > 0) {
		uint64_t now = now_ns();
		for (;;) {
			uint64_t due =
			    b->t0_ns + (uint64_t)((double)b->started * NS_PER_S / b->rate);
			/* Nothing scheduled past the end, however late the
			 * loop gets to the end timer. */
			if (due > now || (b->end_ns && due >= b->end_ns) || !may_start(b) ||
			    !(cn = free_conn(b)))
				break;
			start_job(b, cn, due);
		}
	} else {
		while (may_start(b) && (cn = free_conn(b)))
			start_job(b, cn, now_ns());
	}
	b->in_pump = false;
	if (b->max_requests && b->started >= b->max_requests && !b->stopping) {
		b->stopping = true;
		b->stop_ns = now_ns();
	}
	if (!b->live && !b->stopping) {
		b->stopping = true;
		b->stop_ns = now_ns();
	}
}

static void on_pace(uv_timer_t *t)
{
	pump(t->data);
}

static void on_close_timer(uv_handle_t *h)
{
	(void)h;
}

static void on_end(uv_timer_t *t)
{
	struct bench *b = t->data;

	if (!b->stopping) {
		b->stopping = true;
		b->stop_ns = now_ns();
	}
	maybe_finish(b);
}

static void on_warm(uv_timer_t *t)
{
	struct bench *b = t->data;

	b->measure_ns = now_ns();
}

/* Once stopping and nothing is in flight, closes everything so that the
 * loop ends. */
static void maybe_finish(struct bench *b)
{
	if (!b->stopping || b->inflight || b->finished)
		return;
	b->finished = true;
	if (b->stop_ns < b->measure_ns)
		b->stop_ns = b->measure_ns;
	uv_close((uv_handle_t *)&b->pace, on_close_timer);
	uv_close((uv_handle_t *)&b->end, on_close_timer);
	uv_close((uv_handle_t *)&b->warm, on_close_timer);
	uv_close((uv_handle_t *)&b->sigint, on_close_timer);
	for (unsigned i = 0; i < b->connections; i++) {
		grid_client_destroy(b->conns[i].client);
		b->conns[i].client = NULL;
	}
}

static void on_sigint(uv_signal_t *s, int signum)
{
	struct bench *b = s->data;

	(void)signum;
	if (!b->stopping) {
		b->stopping = true;
		b->stop_ns = now_ns();
		b->interrupted = true;
	}
	maybe_finish(b);
}

static void start_load(struct bench *b)
{
	uint64_t warm_ms = (uint64_t)(b->warmup_s * 1000.0);

	b->t0_ns = now_ns();
	b->measure_ns = b->t0_ns + warm_ms * 1000000ull;
	if (warm_ms)
		uv_timer_start(&b->warm, on_warm, warm_ms, 0);
	if (b->duration_s > 0) {
		uint64_t end_ms = warm_ms + (uint64_t)(b->duration_s * 1000.0);
		b->end_ns = b->t0_ns + end_ms * 1000000ull;
		uv_timer_start(&b->end, on_end, end_ms, 0);
	}
	if (b->rate > 0)
		uv_timer_start(&b->pace, on_pace, PACE_MS, PACE_MS);
	pump(b);
	maybe_finish(b);
}

static void on_authenticated(struct grid_client *c, int status, const Grid__V1__Reply *reply,
			     void *data)
{
	struct conn *cn = data;
	struct bench *b = cn->b;

	(void)c;
	if (status < 0)
		fatal("connection %u: Authenticate: %s", cn->index, grid_client_error(cn->client));
	if (reply->status->code != GRID__V1__CODE__CODE_OK)
		fatal("connection %u: Authenticate: %s: %s", cn->index,
		      status_name(reply->status->code), reply->status->message);
	if (++b->ready == b->connections)
		start_load(b);
}

static void on_connected(struct grid_client *c, int status, void *data)
{
	struct conn *cn = data;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest au = GRID__V1__AUTHENTICATE_REQUEST__INIT;
	int r;

	if (status < 0)
		fatal("connection %u: cannot connect to %s: %s", cn->index, cn->b->server,
		      grid_client_error(c));
	au.token = cn->b->token;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &au;
	r = grid_client_call_async(c, &req, on_authenticated, cn);
	if (r < 0)
		fatal("connection %u: Authenticate: %s", cn->index, grid_client_error(c));
}

static void run_load(struct bench *b)
{
	struct grid_client_config cfg = {.client_name = "gridbench/" GRID_VERSION,
					 .call_timeout_ms = b->timeout_ms};

	if (uv_loop_init(&b->loop) < 0)
		fatal("cannot create the event loop");
	uv_timer_init(&b->loop, &b->pace);
	uv_timer_init(&b->loop, &b->end);
	uv_timer_init(&b->loop, &b->warm);
	uv_signal_init(&b->loop, &b->sigint);
	b->pace.data = b->end.data = b->warm.data = b->sigint.data = b;
	uv_signal_start(&b->sigint, on_sigint, SIGINT);

	b->conns = xcalloc(b->connections, sizeof(*b->conns));
	b->live = b->connections;
	for (unsigned i = 0; i < b->connections; i++) {
		struct conn *cn = &b->conns[i];
		int r;

		cn->b = b;
		cn->index = i;
		cn->client = grid_client_create(&b->loop, &cfg);
		if (!cn->client)
			fatal("out of memory");
		r = grid_client_connect_async(cn->client, b->server, on_connected, cn);
		if (r < 0)
			fatal("cannot connect to %s: %s", b->server, grid_client_error(cn->client));
	}
	uv_run(&b->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&b->loop) < 0)
		fprintf(stderr, "gridbench: warning: handles left open at exit\n");
	free(b->conns);
	b->conns = NULL;
}

/* ------------------------------------------------------------------------
 * The report */

struct summary {
	uint64_t requests, ok, empty, errors;
	double rate;
	struct hist *hist;
};

static double elapsed_s(const struct bench *b)
{
	uint64_t end = b->last_done_ns > b->stop_ns ? b->last_done_ns : b->stop_ns;

	if (end <= b->measure_ns)
		return 0;
	return (double)(end - b->measure_ns) / NS_PER_S;
}

static void summarize(const struct bench *b, const struct op_stats *s, struct summary *ret)
{
	double secs = elapsed_s(b);

	ret->requests = s->requests;
	ret->ok = s->ok;
	ret->empty = s->empty;
	ret->errors = s->errors;
	ret->rate = secs > 0 ? (double)s->requests / secs : 0;
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void json_latency(struct json_writer *w, const struct hist *h)
{
	json_key(w, "latency_ms");
	json_begin_object(w);
	json_key(w, "p50");
	json_double(w, ms(hist_quantile(h, 0.50)));
	json_key(w, "p90");
	json_double(w, ms(hist_quantile(h, 0.90)));
	json_key(w, "p99");
	json_double(w, ms(hist_quantile(h, 0.99)));
	json_key(w, "p999");
	json_double(w, ms(hist_quantile(h, 0.999)));
	json_key(w, "max");
	json_double(w, ms(h->max_us));
	json_key(w, "mean");
	json_double(w, hist_mean(h) / 1000.0);
	json_end_object(w);
}

static void json_errors(struct json_writer *w, const struct op_stats *s)
{
	json_key(w, "errors_by_code");
	json_begin_object(w);
	for (int c = 0; c < STATUS_CODES; c++)
		if (s->codes[c]) {
			json_key(w, status_name((status_code)c));
			json_uint(w, s->codes[c]);
		}
	for (size_t i = 0; i < s->ntransport; i++) {
		char name[64];
		snprintf(name, sizeof(name), "transport:%s", uv_err_name(s->transport[i].err));
		json_key(w, name);
		json_uint(w, s->transport[i].count);
	}
	json_end_object(w);
}

static void merge_stats(const struct bench *b, struct op_stats *total)
{
	memset(total, 0, sizeof(*total));
	hist_init(&total->hist);
	for (int i = 0; i < OP_COUNT; i++) {
		const struct op_stats *s = &b->stats[i];
		total->requests += s->requests;
		total->ok += s->ok;
		total->empty += s->empty;
		total->errors += s->errors;
		for (int c = 0; c < STATUS_CODES; c++)
			total->codes[c] += s->codes[c];
		for (size_t k = 0; k < s->ntransport; k++) {
			size_t m;
			for (m = 0; m < total->ntransport; m++)
				if (total->transport[m].err == s->transport[k].err)
					break;
			if (m == total->ntransport) {
				if (m == MAX_TRANSPORT_KINDS)
					continue;
				total->transport[total->ntransport++] =
				    (struct err_count){.err = s->transport[k].err};
			}
			total->transport[m].count += s->transport[k].count;
		}
		hist_merge(&total->hist, &s->hist);
	}
}

static void report_json(const struct bench *b, const struct op_stats *total)
{
	struct buf out;
	struct json_writer w;
	struct summary sum;

	buf_init(&out, 0);
	json_writer_init(&w, &out, false);
	json_begin_object(&w);
	json_key(&w, "server");
	json_string(&w, b->server);
	json_key(&w, "connections");
	json_uint(&w, b->connections);
	json_key(&w, "pipeline");
	json_uint(&w, b->pipeline);
	json_key(&w, "rate_target");
	json_double(&w, b->rate);
	json_key(&w, "idempotency");
	json_bool(&w, b->idempotency);
	json_key(&w, "nodes");
	json_uint(&w, b->targets.n);
	json_key(&w, "seconds");
	json_double(&w, elapsed_s(b));
	json_key(&w, "interrupted");
	json_bool(&w, b->interrupted);
	summarize(b, total, &sum);
	json_key(&w, "requests");
	json_uint(&w, sum.requests);
	json_key(&w, "ok");
	json_uint(&w, sum.ok);
	json_key(&w, "errors");
	json_uint(&w, sum.errors);
	json_key(&w, "throughput");
	json_double(&w, sum.rate);
	json_latency(&w, &total->hist);
	json_errors(&w, total);
	json_key(&w, "ops");
	json_begin_object(&w);
	for (int i = 0; i < OP_COUNT; i++) {
		const struct op_stats *s = &b->stats[i];
		if (!b->weight[i])
			continue;
		summarize(b, s, &sum);
		json_key(&w, op_names[i]);
		json_begin_object(&w);
		json_key(&w, "weight");
		json_uint(&w, b->weight[i]);
		json_key(&w, "requests");
		json_uint(&w, sum.requests);
		json_key(&w, "ok");
		json_uint(&w, sum.ok);
		if (i == OP_CLAIM) {
			json_key(&w, "empty");
			json_uint(&w, sum.empty);
		}
		json_key(&w, "errors");
		json_uint(&w, sum.errors);
		json_key(&w, "throughput");
		json_double(&w, sum.rate);
		json_latency(&w, &s->hist);
		json_errors(&w, s);
		json_end_object(&w);
	}
	json_end_object(&w);
	json_end_object(&w);
	if (json_writer_finish(&w) < 0)
		fatal("cannot write the JSON report");
	fwrite(out.data, 1, out.len, stdout);
	fputc('\n', stdout);
	buf_finish(&out);
}

static void text_row(const char *name, const struct summary *s, const struct hist *h)
{
	printf("%-9s %10" PRIu64 " %10" PRIu64 " %8" PRIu64 " %10.1f %8.2f %8.2f %9.2f %8.2f\n",
	       name, s->requests, s->ok, s->errors, s->rate, ms(hist_quantile(h, 0.50)),
	       ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)), ms(h->max_us));
}

static void text_errors(const char *name, const struct op_stats *s, bool *any)
{
	for (int c = 0; c < STATUS_CODES; c++)
		if (s->codes[c]) {
			printf("  %-9s %-20s %" PRIu64 "\n", name, status_name((status_code)c),
			       s->codes[c]);
			*any = true;
		}
	for (size_t i = 0; i < s->ntransport; i++) {
		printf("  %-9s %-20s %" PRIu64 " (transport: %s)\n", name,
		       uv_err_name(s->transport[i].err), s->transport[i].count,
		       uv_strerror(s->transport[i].err));
		*any = true;
	}
}

static void report_text(const struct bench *b, const struct op_stats *total)
{
	struct summary sum;
	bool any = false;

	printf("gridbench: %s, %u connections, pipeline %u, ", b->server, b->connections,
	       b->pipeline);
	if (b->rate > 0)
		printf("open loop at %.0f/s, ", b->rate);
	else
		printf("closed loop, ");
	printf("%.2f s measured, %zu target nodes, idempotency keys %s%s\n", elapsed_s(b),
	       b->targets.n, b->idempotency ? "on" : "off", b->interrupted ? " (interrupted)" : "");
	printf("%-9s %10s %10s %8s %10s %8s %8s %9s %8s\n", "op", "requests", "ok", "errors",
	       "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms");
	for (int i = 0; i < OP_COUNT; i++) {
		if (!b->weight[i])
			continue;
		summarize(b, &b->stats[i], &sum);
		text_row(op_names[i], &sum, &b->stats[i].hist);
	}
	summarize(b, total, &sum);
	text_row("total", &sum, &total->hist);
	if (b->weight[OP_CLAIM] && b->stats[OP_CLAIM].empty)
		printf("claim: %" PRIu64 " found nothing to claim (counted as ok)\n",
		       b->stats[OP_CLAIM].empty);
	printf("errors by status code:\n");
	for (int i = 0; i < OP_COUNT; i++)
		text_errors(op_names[i], &b->stats[i], &any);
	if (!any)
		printf("  none\n");
}

int main(int argc, char **argv)
{
	static struct bench bench;
	struct bench *b = &bench;
	struct op_stats *total;
	int rc = BENCH_EXIT_OK;

	/* libuv writes with write(2): a reset connection must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	parse_args(b, argc, argv);
	b->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ uv_hrtime();
	if (!b->rng)
		b->rng = 1;
	b->run_id = rng_next(b);
	for (int i = 0; i < OP_COUNT; i++)
		hist_init(&b->stats[i].hist);

	setup(b);
	run_load(b);

	total = xcalloc(1, sizeof(*total));
	merge_stats(b, total);
	if (b->json)
		report_json(b, total);
	else
		report_text(b, total);
	if (!b->live)
		rc = BENCH_EXIT_FAIL;
	if (b->password)
		explicit_bzero(b->password, strlen(b->password));
	free(total);
	free(b->password);
	free(b->token);
	node_vec_free(&b->targets);
	node_vec_free(&b->readable);
	node_vec_free(&b->parents);
	node_vec_free(&b->user_nodes);
	return rc;
}
