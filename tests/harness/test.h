/* The project's test harness: a registry of test cases, each run in a
 * process of its own, reporting in TAP so that scripts/test can count every
 * case. Assertions print file:line and the values compared, then end the
 * case's process.
 *
 *   TEST(frame_split) { ASSERT_EQ_INT(frame_get_header(b), 5); }
 *
 * A case that cannot run here calls TEST_SKIP("why"); it is reported as
 * "ok N - name # SKIP" and scripts/test counts it as skipped, not passed.
 */
#pragma once

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);

void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void test_skip(const char *file, int line, const char *why) __attribute__((noreturn));

#define TEST(name)                                                                                 \
	static void test_##name(void);                                                             \
	__attribute__((constructor)) static void test_register_##name(void)                        \
	{                                                                                          \
		test_register(#name, test_##name);                                                 \
	}                                                                                          \
	static void test_##name(void)

#define TEST_SKIP(why) test_skip(__FILE__, __LINE__, (why))

#define ASSERT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);              \
	} while (0)

#define ASSERT_MSG(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail(__FILE__, __LINE__, __VA_ARGS__);                                \
	} while (0)

#define ASSERT_EQ_INT(a, b)                                                                        \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_)                                                                      \
			test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);   \
	} while (0)

#define ASSERT_EQ_UINT(a, b)                                                                       \
	do {                                                                                       \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
		if (a_ != b_)                                                                      \
			test_fail(__FILE__, __LINE__, "%s == %s: %llu != %llu", #a, #b, a_, b_);   \
	} while (0)

#define ASSERT_EQ_STR(a, b)                                                                        \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                             \
			test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,        \
				  a_ ? a_ : "(null)", b_ ? b_ : "(null)");                         \
	} while (0)

#define ASSERT_EQ_MEM(a, b, n)                                                                     \
	do {                                                                                       \
		if (memcmp((a), (b), (n)) != 0)                                                    \
			test_fail(__FILE__, __LINE__, "%s and %s differ in %zu bytes", #a, #b,     \
				  (size_t)(n));                                                    \
	} while (0)

#define ASSERT_NOT_NULL(p) ASSERT_MSG((p) != NULL, "%s is NULL", #p)
