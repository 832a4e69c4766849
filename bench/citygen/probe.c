/* citygen-probe: the client half of bench/city. Against a gridd serving a
 * city made by citygen it
 *   - counts the nodes gridd serves (GetSubtree of every top-level node,
 *     page after page) and collects the communities on the way;
 *   - times GetSubtree of random communities, one call at a time, and
 *     checks every reply holds the whole community (286 nodes);
 *   - checks that authorization never touches the database: a building
 *     head calls GetNode on its building (allowed) and on nodes outside it
 *     (denied), and the table statistics of PostgreSQL (pg_stat_user_tables
 *     of the account, role, session, API key and grid tables) must not move.
 *     A control call that reads accounts (ListUsers) shows the statistics do
 *     see such reads.
 * Prints key=value lines on stdout, progress on stderr. bench/city starts
 * gridd and runs it; people may run it against any gridd with a city.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "client/gridclient.h"

/* A community of citygen: itself, 5 zones, 40 courtyards, 240 buildings. */
#define COMMUNITY_NODES (1 + 5 + 5 * 8 + 5 * 8 * 6)
#define HEAD_USER "city_probe_head"

struct probe {
	struct grid_client *c;
	char **communities;
	size_t ncommunities, capcommunities;
	char building[64], other_building[64], courtyard[64];
};

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static int die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("citygen-probe: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A blocking call that must reach gridd; the reply's status is the
 * caller's business. */
static Grid__V1__Reply *call(struct grid_client *c, Grid__V1__Request *req)
{
	Grid__V1__Reply *reply = NULL;
	int r = grid_client_call(c, req, &reply);

	if (r < 0)
		die("call failed: %s (%s)", strerror(-r), grid_client_error(c));
	return reply;
}

static Grid__V1__Reply *call_ok(struct grid_client *c, Grid__V1__Request *req, const char *what)
{
	Grid__V1__Reply *reply = call(c, req);

	if (reply->status && reply->status->code != 0)
		die("%s: %s", what, reply->status->message);
	return reply;
}

static struct grid_client *connect_as(const char *server, const char *user, const char *password)
{
	struct grid_client_config cfg = {.client_name = "citygen-probe", .call_timeout_ms = 60000};
	struct grid_client *c = grid_client_create(NULL, &cfg);
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__LoginRequest m = GRID__V1__LOGIN_REQUEST__INIT;
	int r;

	if (!c)
		die("out of memory");
	r = grid_client_connect(c, server);
	if (r < 0)
		die("cannot connect to %s: %s", server, grid_client_error(c));
	m.username = (char *)user;
	m.password = (char *)password;
	req.call_case = GRID__V1__REQUEST__CALL_LOGIN;
	req.login = &m;
	grid_client_reply_free(call_ok(c, &req, "Login"));
	return c;
}

static void add_community(struct probe *p, const char *code)
{
	if (p->ncommunities == p->capcommunities) {
		size_t cap = p->capcommunities ? p->capcommunities * 2 : 256;
		char **v = realloc(p->communities, cap * sizeof(*v));
		if (!v)
			die("out of memory");
		p->communities = v;
		p->capcommunities = cap;
	}
	p->communities[p->ncommunities] = strdup(code);
	if (!p->communities[p->ncommunities++])
		die("out of memory");
}

/* Every node under the top-level nodes, by pages of GetSubtree. */
static uint64_t count_nodes(struct probe *p)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListChildrenRequest lc = GRID__V1__LIST_CHILDREN_REQUEST__INIT;
	Grid__V1__Reply *tops;
	uint64_t total = 0;

	lc.page_size = 5000;
	req.call_case = GRID__V1__REQUEST__CALL_LIST_CHILDREN;
	req.list_children = &lc;
	tops = call_ok(p->c, &req, "ListChildren");
	if (tops->list_children->next_page_token[0])
		die("more than 5000 top-level nodes: not a citygen city");
	for (size_t i = 0; i < tops->list_children->n_nodes; i++) {
		Grid__V1__GetSubtreeRequest st = GRID__V1__GET_SUBTREE_REQUEST__INIT;
		char token[80] = "";
		Grid__V1__Request sreq = GRID__V1__REQUEST__INIT;
		st.code = tops->list_children->nodes[i]->code;
		st.page_size = 5000;
		sreq.call_case = GRID__V1__REQUEST__CALL_GET_SUBTREE;
		sreq.get_subtree = &st;
		do {
			Grid__V1__Reply *r;
			st.page_token = token;
			r = call_ok(p->c, &sreq, "GetSubtree");
			for (size_t k = 0; k < r->get_subtree->n_nodes; k++) {
				const Grid__V1__Node *n = r->get_subtree->nodes[k];
				if (strcmp(n->level_name, "community") == 0)
					add_community(p, n->code);
				else if (strcmp(n->level_name, "building") == 0 && !p->building[0])
					snprintf(p->building, sizeof(p->building), "%s", n->code);
				if (strcmp(n->level_name, "building") == 0)
					snprintf(p->other_building, sizeof(p->other_building), "%s",
						 n->code);
				if (strcmp(n->level_name, "courtyard") == 0 && !p->courtyard[0])
					snprintf(p->courtyard, sizeof(p->courtyard), "%s", n->code);
			}
			total += r->get_subtree->n_nodes;
			snprintf(token, sizeof(token), "%s", r->get_subtree->next_page_token);
			grid_client_reply_free(r);
		} while (token[0]);
	}
	grid_client_reply_free(tops);
	return total;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void time_subtrees(struct probe *p, unsigned n)
{
	double *ms = calloc(n, sizeof(*ms));
	uint64_t x = 88172645463325252ULL;

	if (!ms)
		die("out of memory");
	if (!p->ncommunities)
		die("no communities in the grid");
	for (unsigned i = 0; i < n; i++) {
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__GetSubtreeRequest st = GRID__V1__GET_SUBTREE_REQUEST__INIT;
		Grid__V1__Reply *r;
		double t0;

		/* xorshift: a fixed sequence, so runs compare. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		st.code = p->communities[x % p->ncommunities];
		st.page_size = 1000;
		req.call_case = GRID__V1__REQUEST__CALL_GET_SUBTREE;
		req.get_subtree = &st;
		t0 = now_ms();
		r = call_ok(p->c, &req, "GetSubtree");
		ms[i] = now_ms() - t0;
		if (r->get_subtree->n_nodes != COMMUNITY_NODES ||
		    r->get_subtree->next_page_token[0])
			die("GetSubtree %s: %zu nodes, expected %d in one page", st.code,
			    r->get_subtree->n_nodes, COMMUNITY_NODES);
		grid_client_reply_free(r);
	}
	qsort(ms, n, sizeof(*ms), cmp_double);
	printf("subtree_calls=%u\nsubtree_nodes=%d\nsubtree_p50_ms=%.3f\nsubtree_p99_ms=%.3f\n", n,
	       COMMUNITY_NODES, ms[n / 2], ms[(size_t)(n * 0.99)]);
	free(ms);
}

/* Reads, inserts, updates and deletes PostgreSQL counted on the tables an
 * authorization could consult. */
static int64_t table_activity(const char *url)
{
	PGconn *pg = PQconnectdb(url);
	PGresult *res;
	int64_t v;

	if (PQstatus(pg) != CONNECTION_OK)
		die("%s", PQerrorMessage(pg));
	res = PQexec(pg, "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)"
			 " + n_tup_ins + n_tup_upd + n_tup_del), 0)"
			 " FROM pg_stat_user_tables WHERE relname IN"
			 " ('account', 'role_grant', 'session', 'api_key', 'grid_node',"
			 "  'grid_version')");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("reading pg_stat_user_tables: %s", PQresultErrorMessage(res));
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(pg);
	return v;
}

/* PostgreSQL backends publish their table counters when idle, but at most
 * once a second: a session that published less than a second before it
 * went idle keeps its counters for up to 10 s more (PGSTAT_IDLE_INTERVAL).
 * Two readings alike 1.5 s apart could both come before that: wait until
 * the readings, a second apart, have not moved for SETTLE_S seconds (a
 * minute at most). */
#define SETTLE_S 11

static int64_t settled_activity(const char *url)
{
	int64_t a = table_activity(url), b;
	int still = 0;

	for (int i = 0; i < 60 && still < SETTLE_S; i++) {
		sleep(1);
		b = table_activity(url);
		still = b == a ? still + 1 : 0;
		a = b;
	}
	return a;
}

static void create_head(struct probe *p, const char *password)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateUserRequest m = GRID__V1__CREATE_USER_REQUEST__INIT;
	Grid__V1__RoleGrant g = GRID__V1__ROLE_GRANT__INIT, *grants[1] = {&g};
	Grid__V1__Reply *r;

	m.username = HEAD_USER;
	m.password = (char *)password;
	m.display_name = "楼长（探针）";
	g.role = GRID__V1__ROLE__ROLE_BUILDING_HEAD;
	g.node_code = p->building;
	m.roles = grants;
	m.n_roles = 1;
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_USER;
	req.create_user = &m;
	r = call(p->c, &req);
	/* A second run against the same gridd finds the user there. */
	if (r->status && r->status->code != 0 &&
	    r->status->code != GRID__V1__CODE__CODE_ALREADY_EXISTS)
		die("CreateUser: %s", r->status->message);
	grid_client_reply_free(r);
}

static int get_node(struct grid_client *c, const char *code)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__GetNodeRequest m = GRID__V1__GET_NODE_REQUEST__INIT;
	Grid__V1__Reply *r;
	int code_;

	m.code = (char *)code;
	req.call_case = GRID__V1__REQUEST__CALL_GET_NODE;
	req.get_node = &m;
	r = call(c, &req);
	code_ = r->status ? (int)r->status->code : 0;
	grid_client_reply_free(r);
	return code_;
}

static void check_auth(struct probe *p, const char *server, const char *url, unsigned n)
{
	static const char password[] = "city-probe-password-0123";
	struct grid_client *head;
	int64_t before, after, control;

	create_head(p, password);
	head = connect_as(server, HEAD_USER, password);
	before = settled_activity(url);
	for (unsigned i = 0; i < n; i++) {
		/* Its building, the courtyard above it, a building far away, a
		 * code nobody has: allowed once, denied three times. */
		if (get_node(head, p->building) != 0)
			die("GetNode %s as its building head was refused", p->building);
		if (get_node(head, p->courtyard) != GRID__V1__CODE__CODE_PERMISSION_DENIED ||
		    get_node(head, p->other_building) != GRID__V1__CODE__CODE_PERMISSION_DENIED ||
		    get_node(head, "NO-SUCH-NODE") != GRID__V1__CODE__CODE_PERMISSION_DENIED)
			die("GetNode outside %s was not denied", p->building);
	}
	after = settled_activity(url);
	printf("getnode_auth_calls=%u\ngetnode_auth_db_queries=%" PRId64 "\n", 4 * n,
	       after - before);

	/* The control: ListUsers reads the account tables, and the counters
	 * must show it, or the figure above proves nothing. */
	{
		Grid__V1__Request req = GRID__V1__REQUEST__INIT;
		Grid__V1__ListUsersRequest m = GRID__V1__LIST_USERS_REQUEST__INIT;
		req.call_case = GRID__V1__REQUEST__CALL_LIST_USERS;
		req.list_users = &m;
		grid_client_reply_free(call_ok(p->c, &req, "ListUsers"));
	}
	control = settled_activity(url) - after;
	printf("control_listusers_db_activity=%" PRId64 "\n", control);
	if (control <= 0)
		die("the table statistics did not see ListUsers: the check above is void");
	grid_client_destroy(head);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: citygen-probe -s HOST:PORT -u USER -d URL [OPTIONS]\n"
		   "\n"
		   "Measures a gridd serving a citygen city (see bench/city). The password of\n"
		   "USER (a whole-grid district admin) is read from stdin, one line.\n"
		   "\n"
		   "  -s, --server HOST:PORT   gridd\n"
		   "  -u, --user NAME          a district admin of the whole grid\n"
		   "  -d, --database-url URL   gridd's database, for the statistics\n"
		   "      --subtree-calls N    GetSubtree calls to time (default 1000)\n"
		   "      --auth-rounds N      rounds of 4 GetNode calls (default 1000)\n"
		   "  -h, --help               this text\n"
		   "\n"
		   "Prints city_nodes, city_communities, subtree_p50_ms, subtree_p99_ms,\n"
		   "getnode_auth_db_queries (must be 0) as key=value lines.\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"server", required_argument, NULL, 's'},
	    {"user", required_argument, NULL, 'u'},
	    {"database-url", required_argument, NULL, 'd'},
	    {"subtree-calls", required_argument, NULL, 'T'},
	    {"auth-rounds", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *server = NULL, *user = NULL, *url = NULL;
	unsigned subtree_calls = 1000, auth_rounds = 1000;
	char password[256];
	struct probe p = {0};
	double t0;
	uint64_t nodes;
	int c;

	while ((c = getopt_long(argc, argv, "s:u:d:h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'd':
			url = optarg;
			break;
		case 'T':
			subtree_calls = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'A':
			auth_rounds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!server || !user || !url || optind < argc || !subtree_calls || !auth_rounds) {
		usage(stderr);
		return 2;
	}
	if (!fgets(password, sizeof(password), stdin))
		die("no password on stdin");
	password[strcspn(password, "\r\n")] = '\0';

	p.c = connect_as(server, user, password);
	t0 = now_ms();
	nodes = count_nodes(&p);
	printf("city_nodes=%" PRIu64 "\ncity_communities=%zu\n", nodes, p.ncommunities);
	fprintf(stderr, "citygen-probe: counted %" PRIu64 " nodes in %.1f s\n", nodes,
		(now_ms() - t0) / 1e3);
	fflush(stdout);
	time_subtrees(&p, subtree_calls);
	fflush(stdout);
	check_auth(&p, server, url, auth_rounds);
	grid_client_destroy(p.c);
	for (size_t i = 0; i < p.ncommunities; i++)
		free(p.communities[i]);
	free(p.communities);
	return 0;
}
