/* citygen: generates a city-sized grid and loads it straight into
 * PostgreSQL, or writes it as a roster CSV.
 *
 * The city: districts of 15 sub-districts, sub-districts of 10 communities,
 * and in every community 5 zones x 8 courtyards x 6 buildings, each node
 * with a name and a named person responsible, codes shaped like the sample
 * district's (JJ-S01-C01-Z1-Y1-B1). 3,000 communities (the default) make
 * 858,320 nodes. Everything is a function of the node's position and --seed,
 * so a test can predict any node.
 *
 * ImportGrid cannot carry this (its frames stop at 1 MiB), so the load
 * writes the grid_node rows of migration 0001 itself with one COPY, in one
 * transaction that also takes ids from grid_node_id_seq, stamps every row
 * with a new grid version and NOTIFYs grid_changed, exactly as gridd's own
 * grid_* functions would leave the tables; a VACUUM (FREEZE, ANALYZE)
 * follows. The database must have been
 * migrated (gridd migrate, or --gridd here) and have no grid yet.
 *
 * Households are not generated: the schema has no household table yet (a
 * later issue adds one; the generator will then add about 1,000,000).
 *
 * Callers: bench/city (the city-scale benchmark) and
 * tests/integration/test_city.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/buf.h"
#include "common/csv.h"

#define SUBDISTRICTS_PER_DISTRICT 15
#define COMMUNITIES_PER_SUBDISTRICT 10
#define ZONES_PER_COMMUNITY 5
#define COURTYARDS_PER_ZONE 8
#define BUILDINGS_PER_COURTYARD 6
#define MAX_COMMUNITIES 100000

/* gridd's default level names, by level number. */
static const char *const level_names[] = {"district", "subdistrict", "community",
					  "zone",     "courtyard",   "building"};
enum { L_DISTRICT, L_SUBDISTRICT, L_COMMUNITY, L_ZONE, L_COURTYARD, L_BUILDING, NLEVELS };

/* Chengdu's districts, counties and county-level cities, then numbered
 * ones for bigger cities. */
static const struct {
	const char *code, *name;
} districts[] = {
    {"JJ", "锦江区"}, {"QY", "青羊区"},	   {"JN", "金牛区"},	{"WHC", "武侯城区"},
    {"CH", "成华区"}, {"LQY", "龙泉驿区"}, {"QBJ", "青白江区"}, {"XD", "新都区"},
    {"WJ", "温江区"}, {"SL", "双流区"},	   {"PD", "郫都区"},	{"XJ", "新津区"},
    {"JY", "简阳市"}, {"DJY", "都江堰市"}, {"PZ", "彭州市"},	{"QL", "邛崃市"},
    {"CZ", "崇州市"}, {"JT", "金堂县"},	   {"DY", "大邑县"},	{"PJ", "蒲江县"},
    {"GX", "高新区"}, {"TF", "天府新区"},
};
#define NAMED_DISTRICTS (sizeof(districts) / sizeof(districts[0]))

static const char *const surnames[] = {"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
				       "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗",
				       "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
				       "彭", "曾", "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余",
				       "杜", "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚"};
static const char *const given[] = {
    "伟",   "芳", "娜", "敏", "静",   "丽", "强", "磊", "军",	"洋",	"勇",	"艳",	"杰",
    "娟",   "涛", "明", "超", "秀英", "霞", "平", "刚", "桂英", "建国", "建华", "玉兰", "志强",
    "秀兰", "文", "华", "红", "玲",   "鹏", "飞", "慧", "婷",	"辉",	"莉",	"兰",	"宇",
    "梅",   "峰", "雪", "琳", "斌",   "萍", "燕", "浩", "凯",	"欣",	"琴"};
static const char *const syllables[] = {
    "桐", "梓", "林", "玉", "锦", "华", "金", "沙", "青", "龙", "凤", "翔", "和", "平", "安", "康",
    "宁", "泰", "福", "兴", "盛", "新", "城", "府", "河", "江", "湖", "山", "水", "竹", "桂", "兰",
    "芳", "草", "春", "秋", "光", "明", "阳", "晨", "星", "月", "荷", "花", "柳", "枫", "松", "柏",
    "紫", "荆", "望", "川", "蓉", "潼", "苑", "溪", "清", "雅", "东", "西", "南", "北", "双", "瑞"};
static const char *const courtyard_suffix[] = {"苑", "院", "小区", "花园", "家园", "公寓", "里"};
static const char *const numerals[] = {"一", "二", "三", "四", "五", "六", "七", "八", "九", "十"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct opts {
	const char *url;
	const char *csv;
	const char *gridd;
	unsigned communities;
	uint64_t seed;
	bool quiet;
};

/* One generated node; strings live in static buffers of the generator until
 * the next node. */
struct node {
	int64_t id, parent_id;
	unsigned level;
	char code[64], parent_code[64];
	char name[64], leader[32], phone[16];
	char path[128]; /* ltree: the ids from the top */
};

typedef int (*emit_fn)(void *ctx, const struct node *n);

/* splitmix64: names must depend only on the seed and the node. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct gen {
	const struct opts *o;
	int64_t next_id;
	uint64_t serial; /* nodes generated so far: phones are unique */
	uint64_t counts[NLEVELS];
	struct node stack[NLEVELS];
	emit_fn emit;
	void *ctx;
};

static uint64_t rnd(const struct gen *g, uint64_t salt)
{
	return mix(g->o->seed * 0x100000001b3ULL ^ mix(g->serial * 8 + salt));
}

static void person(const struct gen *g, struct node *n)
{
	snprintf(n->leader, sizeof(n->leader), "%s%s", surnames[rnd(g, 1) % COUNT(surnames)],
		 given[rnd(g, 2) % COUNT(given)]);
	/* 139 and eight digits: unique within a city of up to 10^8 nodes. */
	snprintf(n->phone, sizeof(n->phone), "139%08" PRIu64, g->serial % 100000000);
}

static void place(const struct gen *g, char *out, size_t len, const char *suffix)
{
	snprintf(out, len, "%s%s%s", syllables[rnd(g, 3) % COUNT(syllables)],
		 syllables[rnd(g, 4) % COUNT(syllables)], suffix);
}

/* Fills in what every node has, from its parent on the stack, and emits it.
 * part is the node's own piece of the code ("S01"), number its position
 * among its siblings (from 1). */
static int push(struct gen *g, unsigned level, const char *part, unsigned number)
{
	struct node *n = &g->stack[level];
	const struct node *p = level ? &g->stack[level - 1] : NULL;

	n->id = g->next_id++;
	n->level = level;
	n->parent_id = p ? p->id : 0;
	if (p) {
		/* Codes stay far below 64 bytes and paths below 128 (six
		 * levels of ids): copies, no snprintf of one stack entry
		 * into another. */
		size_t lc = strlen(p->code), lp = strlen(p->path);
		memcpy(n->parent_code, p->code, lc + 1);
		memcpy(n->code, p->code, lc);
		snprintf(n->code + lc, sizeof(n->code) - lc, "-%s", part);
		memcpy(n->path, p->path, lp);
		snprintf(n->path + lp, sizeof(n->path) - lp, ".%" PRId64, n->id);
	} else {
		snprintf(n->code, sizeof(n->code), "%s", part);
		n->parent_code[0] = '\0';
		snprintf(n->path, sizeof(n->path), "%" PRId64, n->id);
	}
	switch (level) {
	case L_DISTRICT:
		if (number <= NAMED_DISTRICTS)
			snprintf(n->name, sizeof(n->name), "%s", districts[number - 1].name);
		else
			snprintf(n->name, sizeof(n->name), "第%u区", number);
		break;
	case L_SUBDISTRICT:
		place(g, n->name, sizeof(n->name), "街道");
		break;
	case L_COMMUNITY:
		place(g, n->name, sizeof(n->name), "社区");
		break;
	case L_ZONE:
		snprintf(n->name, sizeof(n->name), "第%s片区", numerals[(number - 1) % 10]);
		break;
	case L_COURTYARD:
		place(g, n->name, sizeof(n->name),
		      courtyard_suffix[rnd(g, 5) % COUNT(courtyard_suffix)]);
		break;
	default:
		snprintf(n->name, sizeof(n->name), "%u栋", number);
		break;
	}
	person(g, n);
	g->serial++;
	g->counts[level]++;
	return g->emit(g->ctx, n);
}

/* The whole city in pre-order: parents before children, ids increasing. */
static int generate(struct gen *g)
{
	unsigned total = g->o->communities, done = 0;
	char part[16];
	int r = 0;

	for (unsigned d = 1; done < total && r == 0; d++) {
		if (d <= NAMED_DISTRICTS)
			snprintf(part, sizeof(part), "%s", districts[d - 1].code);
		else
			snprintf(part, sizeof(part), "D%02u", d);
		r = push(g, L_DISTRICT, part, d);
		for (unsigned s = 1; s <= SUBDISTRICTS_PER_DISTRICT && done < total && r == 0;
		     s++) {
			snprintf(part, sizeof(part), "S%02u", s);
			r = push(g, L_SUBDISTRICT, part, s);
			for (unsigned c = 1;
			     c <= COMMUNITIES_PER_SUBDISTRICT && done < total && r == 0; c++) {
				snprintf(part, sizeof(part), "C%02u", c);
				r = push(g, L_COMMUNITY, part, c);
				done++;
				/* Courtyards are numbered through the
				 * community, as in the sample. */
				unsigned y = 0;
				for (unsigned z = 1; z <= ZONES_PER_COMMUNITY && r == 0; z++) {
					snprintf(part, sizeof(part), "Z%u", z);
					r = push(g, L_ZONE, part, z);
					for (unsigned k = 1; k <= COURTYARDS_PER_ZONE && r == 0;
					     k++) {
						snprintf(part, sizeof(part), "Y%u", ++y);
						r = push(g, L_COURTYARD, part, y);
						for (unsigned b = 1;
						     b <= BUILDINGS_PER_COURTYARD && r == 0; b++) {
							snprintf(part, sizeof(part), "B%u", b);
							r = push(g, L_BUILDING, part, b);
						}
					}
				}
			}
		}
	}
	return r;
}

/* --- CSV: the roster format of gridctl grid import -------------------- */

struct csv_out {
	FILE *f;
	struct buf b;
};

static int csv_flush(struct csv_out *c)
{
	if (c->b.len && fwrite(c->b.data, 1, c->b.len, c->f) != c->b.len)
		return -EIO;
	buf_reset(&c->b);
	return 0;
}

static int emit_csv(void *ctx, const struct node *n)
{
	struct csv_out *c = ctx;
	const char *fields[6] = {n->code, n->parent_code, level_names[n->level],
				 n->name, n->leader,	  n->phone};
	int r = csv_write_record(&c->b, fields, 6);

	if (r == 0 && c->b.len >= (1 << 20))
		r = csv_flush(c);
	return r;
}

static int write_csv(struct gen *g, const char *path)
{
	static const char *const header[6] = {"code", "parent_code", "level",
					      "name", "leader_name", "leader_phone"};
	struct csv_out c = {.f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w")};
	int r;

	if (!c.f) {
		fprintf(stderr, "citygen: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	buf_init(&c.b, 0);
	g->emit = emit_csv;
	g->ctx = &c;
	r = csv_write_record(&c.b, header, 6);
	if (r == 0)
		r = generate(g);
	if (r == 0)
		r = csv_flush(&c);
	buf_finish(&c.b);
	if (c.f != stdout && fclose(c.f) != 0 && r == 0)
		r = -EIO;
	else if (c.f == stdout && fflush(stdout) != 0 && r == 0)
		r = -EIO;
	if (r < 0)
		fprintf(stderr, "citygen: writing %s: %s\n", path, strerror(-r));
	return r;
}

/* --- PostgreSQL: one COPY into grid_node -------------------------------- */

struct copy_out {
	PGconn *pg;
	struct buf b;
	int64_t version;
	int64_t last_id;
};

/* COPY text format: backslash, tab and line ends escaped. The generated
 * strings hold none, but a --seed never changes what is valid. */
static int put_field(struct buf *b, const char *s, char sep)
{
	int r = 0;

	for (; *s && r == 0; s++) {
		switch (*s) {
		case '\\':
			r = buf_puts(b, "\\\\");
			break;
		case '\t':
			r = buf_puts(b, "\\t");
			break;
		case '\n':
			r = buf_puts(b, "\\n");
			break;
		case '\r':
			r = buf_puts(b, "\\r");
			break;
		default:
			r = buf_putc(b, *s);
		}
	}
	return r ? r : buf_putc(b, sep);
}

static int copy_flush(struct copy_out *c)
{
	if (c->b.len && PQputCopyData(c->pg, (const char *)c->b.data, (int)c->b.len) != 1)
		return -EIO;
	buf_reset(&c->b);
	return 0;
}

static int emit_copy(void *ctx, const struct node *n)
{
	struct copy_out *c = ctx;
	int r;

	if (n->parent_id)
		r = buf_printf(&c->b, "%" PRId64 "\t%" PRId64 "\t%u\t", n->id, n->parent_id,
			       n->level);
	else
		r = buf_printf(&c->b, "%" PRId64 "\t\\N\t%u\t", n->id, n->level);
	if (r == 0)
		r = put_field(&c->b, n->code, '\t');
	if (r == 0)
		r = put_field(&c->b, n->name, '\t');
	if (r == 0)
		r = put_field(&c->b, n->leader, '\t');
	if (r == 0)
		r = put_field(&c->b, n->phone, '\t');
	if (r == 0)
		r = put_field(&c->b, n->path, '\t');
	if (r == 0)
		r = buf_printf(&c->b, "%" PRId64 "\n", c->version);
	c->last_id = n->id;
	if (r == 0 && c->b.len >= (1 << 20))
		r = copy_flush(c);
	return r;
}

/* Runs sql; returns the first value of the first row (malloc'd) when
 * ret_value is not NULL. Prints the error. */
static int sql(PGconn *pg, const char *query, char **ret_value)
{
	PGresult *res = PQexec(pg, query);
	ExecStatusType st = PQresultStatus(res);
	int r = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "citygen: %s: %s", query, PQresultErrorMessage(res));
		r = -EIO;
	} else if (ret_value) {
		if (PQntuples(res) < 1 || PQnfields(res) < 1) {
			fprintf(stderr, "citygen: %s: no row\n", query);
			r = -EIO;
		} else {
			*ret_value = strdup(PQgetvalue(res, 0, 0));
			if (!*ret_value)
				r = -ENOMEM;
		}
	}
	PQclear(res);
	return r;
}

static int sql_i64(PGconn *pg, const char *query, int64_t *ret)
{
	char *v = NULL;
	int r = sql(pg, query, &v);

	if (r == 0)
		*ret = strtoll(v, NULL, 10);
	free(v);
	return r;
}

static int run_migrate(const char *gridd, const char *url)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* gridd's stdout would mix with the summary line. */
		dup2(2, 1);
		execl(gridd, gridd, "migrate", "-d", url, "--log-level", "warn", (char *)NULL);
		fprintf(stderr, "citygen: %s: %s\n", gridd, strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "citygen: %s migrate failed\n", gridd);
		return -EIO;
	}
	return 0;
}

static int load_db(struct gen *g, const char *url)
{
	struct copy_out c = {0};
	PGresult *res;
	char query[256];
	int64_t version = 0, first_id = 0, exists = 0;
	int r;

	c.pg = PQconnectdb(url);
	if (PQstatus(c.pg) != CONNECTION_OK) {
		fprintf(stderr, "citygen: %s", PQerrorMessage(c.pg));
		PQfinish(c.pg);
		return -EIO;
	}
	buf_init(&c.b, 0);
	r = sql(c.pg, "BEGIN", NULL);
	/* The version row first, as gridd's writers do: they wait for us. */
	if (r == 0)
		r = sql_i64(c.pg, "SELECT version FROM grid_version FOR UPDATE", &version);
	if (r == 0)
		r = sql_i64(c.pg, "SELECT count(*) FROM (SELECT 1 FROM grid_node LIMIT 1) s",
			    &exists);
	if (r == 0 && exists) {
		fprintf(stderr, "citygen: the database already holds a grid; citygen loads "
				"only into an empty one (create a new database)\n");
		r = -EEXIST;
	}
	if (r == 0)
		r = sql_i64(c.pg, "SELECT nextval('grid_node_id_seq')", &first_id);
	if (r < 0)
		goto out;
	c.version = version + 1;
	g->next_id = first_id;
	g->emit = emit_copy;
	g->ctx = &c;

	res = PQexec(c.pg, "COPY grid_node (id, parent_id, level, code, name, leader_name, "
			   "leader_phone, path, version) FROM STDIN");
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		fprintf(stderr, "citygen: COPY: %s", PQresultErrorMessage(res));
		PQclear(res);
		r = -EIO;
		goto out;
	}
	PQclear(res);
	r = generate(g);
	if (r == 0)
		r = copy_flush(&c);
	if (PQputCopyEnd(c.pg, r == 0 ? NULL : "citygen failed") != 1 && r == 0)
		r = -EIO;
	while ((res = PQgetResult(c.pg))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0) {
			fprintf(stderr, "citygen: COPY: %s", PQresultErrorMessage(res));
			r = -EIO;
		}
		PQclear(res);
	}
	if (r < 0)
		goto out;
	snprintf(query, sizeof(query), "SELECT setval('grid_node_id_seq', %" PRId64 ")", c.last_id);
	r = sql(c.pg, query, NULL);
	if (r == 0) {
		snprintf(query, sizeof(query), "UPDATE grid_version SET version = %" PRId64,
			 c.version);
		r = sql(c.pg, query, NULL);
	}
	/* Running gridd processes read the new rows back, as after any
	 * grid write. */
	if (r == 0)
		r = sql(c.pg, "SELECT pg_notify('grid_changed', '')", NULL);
	if (r == 0)
		r = sql(c.pg, "COMMIT", NULL);
	/* What a database in service has long had: statistics for the
	 * planner, and every row known visible (hint bits, the visibility
	 * map). Without it the first reader of the table, gridd at its start,
	 * would write the whole table back while reading it. */
	if (r == 0)
		r = sql(c.pg, "VACUUM (FREEZE, ANALYZE) grid_node", NULL);
out:
	buf_finish(&c.b);
	PQfinish(c.pg);
	return r;
}

/* --- command line -------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: citygen [OPTIONS] -d URL     load a city into an empty gridd database\n"
		"       citygen [OPTIONS] --csv FILE write it as a roster CSV instead\n"
		"\n"
		"A city of districts (15 sub-districts each) of sub-districts (10 communities\n"
		"each); every community has 5 zones x 8 courtyards x 6 buildings, every node a\n"
		"name and a person responsible. 3000 communities make 858,320 nodes. Codes\n"
		"look like JJ-S01-C01-Z1-Y1-B1; levels are gridd's default names. No households:\n"
		"the schema has none yet.\n"
		"\n"
		"  -d, --database-url URL  libpq conninfo of a migrated database without a grid;\n"
		"                          the rows go in with one COPY, in one transaction\n"
		"      --csv FILE          write code,parent_code,level,name,leader_name,\n"
		"                          leader_phone (gridctl grid import) to FILE ('-' =\n"
		"                          stdout) instead of loading\n"
		"  -n, --communities N     communities (default 3000, at most %u)\n"
		"      --seed N            another set of names (default 1)\n"
		"      --gridd PATH        run 'PATH migrate -d URL' first\n"
		"  -q, --quiet             no summary line\n"
		"  -h, --help              this text\n"
		"\n"
		"Prints one line: nodes=N districts=N subdistricts=N communities=N zones=N\n"
		"courtyards=N buildings=N seconds=S (on stderr when the CSV goes to stdout).\n"
		"\n"
		"Examples:\n"
		"  citygen --gridd build/server/gridd -d 'host=/tmp/pg dbname=city'\n"
		"  citygen -n 20 --csv small-city.csv && gridctl grid import small-city.csv\n",
		MAX_COMMUNITIES);
}

static int parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"database-url", required_argument, NULL, 'd'},
	    {"csv", required_argument, NULL, 'C'},
	    {"communities", required_argument, NULL, 'n'},
	    {"seed", required_argument, NULL, 'S'},
	    {"gridd", required_argument, NULL, 'G'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct opts o = {.communities = 3000, .seed = 1};
	struct gen g = {.o = &o, .next_id = 1};
	struct timespec t0, t1;
	uint64_t v;
	int c, r;

	while ((c = getopt_long(argc, argv, "d:n:qh", options, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.url = optarg;
			break;
		case 'C':
			o.csv = optarg;
			break;
		case 'n':
			if (parse_uint(optarg, MAX_COMMUNITIES, &v) < 0 || v == 0) {
				fprintf(stderr, "citygen: --communities wants 1 to %u\n",
					MAX_COMMUNITIES);
				return 2;
			}
			o.communities = (unsigned)v;
			break;
		case 'S':
			if (parse_uint(optarg, UINT64_MAX, &o.seed) < 0) {
				fprintf(stderr, "citygen: --seed wants a number\n");
				return 2;
			}
			break;
		case 'G':
			o.gridd = optarg;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || (!o.url == !o.csv) || (o.gridd && !o.url)) {
		fprintf(stderr, "citygen: give either -d URL or --csv FILE (--gridd needs -d)\n");
		usage(stderr);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (o.csv) {
		r = write_csv(&g, o.csv);
	} else {
		r = o.gridd ? run_migrate(o.gridd, o.url) : 0;
		if (r == 0)
			r = load_db(&g, o.url);
	}
	if (r < 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!o.quiet) {
		FILE *f = o.csv && strcmp(o.csv, "-") == 0 ? stderr : stdout;
		uint64_t total = 0;
		for (unsigned i = 0; i < NLEVELS; i++)
			total += g.counts[i];
		fprintf(f,
			"nodes=%" PRIu64 " districts=%" PRIu64 " subdistricts=%" PRIu64
			" communities=%" PRIu64 " zones=%" PRIu64 " courtyards=%" PRIu64
			" buildings=%" PRIu64 " seconds=%.2f\n",
			total, g.counts[L_DISTRICT], g.counts[L_SUBDISTRICT], g.counts[L_COMMUNITY],
			g.counts[L_ZONE], g.counts[L_COURTYARD], g.counts[L_BUILDING],
			(double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	return 0;
}
