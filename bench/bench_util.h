/* What the benchmark programs of bench/ (sweep, fanout) share: their common
 * options (--pg, --build), the environment that lets them start gridd and
 * make databases with the integration-test helpers (tests/harness/itest.h),
 * a monotonic and a wall clock, and percentiles.
 *
 * The itest helpers end the program on failure through test_fail(); this
 * file defines it (a benchmark is not a TAP test: it prints why and exits
 * 1), so the benchmarks link the helpers without the test runner.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Reads --pg CONNINFO and --build DIR from argv (removing them) and sets
 * what the itest helpers read: GRID_TEST_DATABASE_URL, GRIDD,
 * GRIDD_TESTCLOCK, GRID_SOURCE_ROOT. Exits 2 with usage when one is
 * missing. usage is printed on -h/--help and on errors. */
void bench_init(int *argc, char **argv, const char *usage);
/* Prints "name: message" on stderr and exits 1. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Microseconds of CLOCK_MONOTONIC and of CLOCK_REALTIME. */
uint64_t bench_mono_us(void);
int64_t bench_wall_us(void);
/* CPU seconds (user + system) process pid has used so far; -1 when /proc
 * does not show it. */
double bench_proc_cpu(int pid);
/* The p-th percentile (0..100) of n values, which it sorts; 0 when n = 0. */
double bench_percentile(double *v, size_t n, double p);
/* Parses a positive integer option value; exits 2 when it is not one. */
long bench_parse_long(const char *opt, const char *s);
