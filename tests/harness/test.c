/* Test runner: every TEST() registers itself before main(); main() runs each
 * case in a forked child (so a crash or a failed assertion ends only that
 * case), prints TAP, and exits non-zero when any case failed. Arguments name
 * the cases to run; TEST_NOFORK=1 runs them in-process for a debugger. */
#include "tests/harness/test.h"

#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 512
#define EXIT_SKIP 77

static struct {
	const char *name;
	test_fn fn;
} tests[MAX_TESTS];
static int ntests;

void test_register(const char *name, test_fn fn)
{
	if (ntests == MAX_TESTS) {
		fprintf(stderr, "too many tests in one program\n");
		exit(2);
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	exit(1);
}

void test_skip(const char *file, int line, const char *why)
{
	fprintf(stderr, "%s:%d: skipped: %s\n", file, line, why);
	fflush(stderr);
	exit(EXIT_SKIP);
}

static int selected(const char *name, int argc, char **argv)
{
	if (argc <= 1)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

static int run_one(int i)
{
	pid_t pid;
	int st;

	if (getenv("TEST_NOFORK")) {
		tests[i].fn();
		return 0;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		tests[i].fn();
		fflush(stdout);
		exit(0);
	}
	while (waitpid(pid, &st, 0) < 0)
		;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	fprintf(stderr, "%s: killed by signal %d\n", tests[i].name, WTERMSIG(st));
	return 1;
}

int main(int argc, char **argv)
{
	int n = 0, failed = 0, k = 0;

	for (int i = 0; i < ntests; i++)
		n += selected(tests[i].name, argc, argv);
	printf("1..%d\n", n);
	fflush(stdout);
	for (int i = 0; i < ntests; i++) {
		if (!selected(tests[i].name, argc, argv))
			continue;
		int rc = run_one(i);
		k++;
		if (rc == 0) {
			printf("ok %d - %s\n", k, tests[i].name);
		} else if (rc == EXIT_SKIP) {
			printf("ok %d - %s # SKIP\n", k, tests[i].name);
		} else {
			printf("not ok %d - %s\n", k, tests[i].name);
			failed++;
		}
		fflush(stdout);
	}
	/* Skips are reported per case in the TAP stream; the exit status
	 * only says whether something failed. */
	return failed ? 1 : 0;
}
