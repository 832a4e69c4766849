/* Shared by the benchmarks of bench/; see bench_util.h. */
#include "bench/bench_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/test.h"

static const char *prog = "bench";
static const char *usage_text = "";

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s:%d: ", prog, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void test_skip(const char *file, int line, const char *why)
{
	fprintf(stderr, "%s: %s:%d: %s\n", prog, file, line, why);
	exit(1);
}

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage_exit(int code)
{
	fputs(usage_text, code ? stderr : stdout);
	exit(code);
}

long bench_parse_long(const char *opt, const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v <= 0) {
		fprintf(stderr, "%s: %s wants a positive number, not \"%s\"\n", prog, opt, s);
		usage_exit(2);
	}
	return v;
}

void bench_init(int *argc, char **argv, const char *usage)
{
	const char *pg = NULL, *build = NULL;
	char path[4096];
	int out = 1;

	prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	usage_text = usage;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			usage_exit(0);
		if ((strcmp(argv[i], "--pg") == 0 || strcmp(argv[i], "--build") == 0) &&
		    i + 1 < *argc) {
			if (argv[i][2] == 'p')
				pg = argv[i + 1];
			else
				build = argv[i + 1];
			i++;
			continue;
		}
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
	if (!pg || !build) {
		fprintf(stderr, "%s: --pg and --build are required\n", prog);
		usage_exit(2);
	}
	setenv("GRID_TEST_DATABASE_URL", pg, 1);
	snprintf(path, sizeof(path), "%s/server/gridd", build);
	setenv("GRIDD", path, 1);
	snprintf(path, sizeof(path), "%s/server/gridd-testclock", build);
	setenv("GRIDD_TESTCLOCK", path, 1);
	/* The sample grid comes from the source tree this was built from. */
	setenv("GRID_SOURCE_ROOT", BENCH_SOURCE_ROOT, 0);
}

uint64_t bench_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int64_t bench_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double bench_proc_cpu(int pid)
{
	char path[64], buf[1024];
	unsigned long ut, st;
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* The fields after the command name, which may hold spaces. */
	p = p ? strrchr(buf, ')') : NULL;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	/* Nearest rank: the smallest value with at least p% at or below it. */
	i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return v[i];
}
