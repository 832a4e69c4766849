/* Unit tests for common/arena.c, the per-request allocator: alignment of
 * every allocation, blocks large and small that never overlap, the string
 * helpers, and decoding a real protobuf message through arena_allocator().
 * Run under ASan, a free() of arena memory or a leak shows up here too.
 */
#include "tests/harness/test.h"

#include <stdalign.h>
#include <stddef.h>

#include "common/arena.h"
#include "proto/rpc.pb-c.h"

#define ALIGN alignof(max_align_t)

static int aligned(const void *p)
{
	return ((uintptr_t)p % ALIGN) == 0;
}

struct span {
	unsigned char *p;
	size_t n;
};

/* Fills each span with its own byte, then checks none was overwritten by
 * a later allocation. */
static void fill_and_check(struct span *s, size_t count)
{
	for (size_t i = 0; i < count; i++)
		memset(s[i].p, (int)(i % 251) + 1, s[i].n);
	for (size_t i = 0; i < count; i++)
		for (size_t j = 0; j < s[i].n; j++)
			ASSERT_MSG(s[i].p[j] == (unsigned char)(i % 251) + 1,
				   "allocation %zu overwritten at byte %zu", i, j);
}

static void alloc_pattern(size_t first_chunk)
{
	/* clang-format off */
	static const size_t sizes[] = {1, 3, 8, 15, 16, 17, 31, 100, 1000, 1024, 1025, 5000,
				       7, 0, 65536, 2, 200000, 33, 4095, 4096, 4097, 64};
	/* clang-format on */
	struct span s[22 * 20];
	struct arena a;
	size_t k = 0;

	arena_init(&a, first_chunk);
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			unsigned char *p = arena_alloc(&a, sizes[i]);

			ASSERT_NOT_NULL(p);
			ASSERT_MSG(aligned(p), "size %zu at %p is misaligned", sizes[i], (void *)p);
			s[k].p = p;
			s[k].n = sizes[i];
			k++;
		}
	}
	fill_and_check(s, k);
	arena_finish(&a);
}

TEST(every_allocation_aligned_and_separate)
{
	alloc_pattern(0);
}

TEST(odd_first_chunk_sizes)
{
	/* A first block too small for anything, and one that is not a
	 * multiple of the alignment. */
	alloc_pattern(1);
	alloc_pattern(100);
	alloc_pattern(1000003);
}

TEST(many_small_allocations)
{
	struct arena a;
	struct span *s = calloc(20000, sizeof(*s));

	ASSERT_NOT_NULL(s);
	arena_init(&a, 0);
	for (size_t i = 0; i < 20000; i++) {
		s[i].n = 1 + i % 40;
		s[i].p = arena_alloc(&a, s[i].n);
		ASSERT_NOT_NULL(s[i].p);
		ASSERT(aligned(s[i].p));
	}
	fill_and_check(s, 20000);
	/* Blocks grow, so 20000 small allocations need few mallocs: the
	 * bookkeeping is a small share of what was obtained. */
	ASSERT(a.total >= 20000 * 16);
	ASSERT(a.total < 20000 * 64);
	arena_finish(&a);
	free(s);
}

TEST(large_allocations)
{
	struct arena a;
	unsigned char *small1, *big, *small2, *huge;

	arena_init(&a, 0);
	small1 = arena_alloc(&a, 10);
	ASSERT_NOT_NULL(small1);
	memset(small1, 'a', 10);
	big = arena_alloc(&a, 1 << 20);
	ASSERT_NOT_NULL(big);
	ASSERT(aligned(big));
	memset(big, 'b', 1 << 20);
	ASSERT(a.total >= (1 << 20));
	/* The small block's free space is still used after the big one. */
	small2 = arena_alloc(&a, 10);
	ASSERT_NOT_NULL(small2);
	ASSERT(small2 == small1 + ALIGN);
	memset(small2, 'c', 10);
	huge = arena_alloc(&a, 16u << 20);
	ASSERT_NOT_NULL(huge);
	ASSERT(aligned(huge));
	memset(huge, 'd', 16u << 20);
	for (size_t i = 0; i < 10; i++) {
		ASSERT_EQ_INT(small1[i], 'a');
		ASSERT_EQ_INT(small2[i], 'c');
	}
	ASSERT_EQ_INT(big[0], 'b');
	ASSERT_EQ_INT(big[(1 << 20) - 1], 'b');
	ASSERT_EQ_INT(huge[(16u << 20) - 1], 'd');
	arena_finish(&a);
}

TEST(impossible_size_fails)
{
	struct arena a;

	arena_init(&a, 0);
	ASSERT(arena_alloc(&a, SIZE_MAX) == NULL);
	ASSERT(arena_alloc(&a, SIZE_MAX / 2 + 1) == NULL);
	ASSERT(arena_zalloc(&a, SIZE_MAX - 8) == NULL);
	/* Still usable afterwards. */
	ASSERT_NOT_NULL(arena_alloc(&a, 8));
	arena_finish(&a);
}

TEST(zalloc_and_new)
{
	struct pair {
		long a;
		double b;
		void *c;
	};
	struct arena a;
	struct pair *p, *v;
	unsigned char *dirty;

	arena_init(&a, 0);
	/* Dirty a block, reset it, and allocate the same memory again. */
	dirty = arena_alloc(&a, 512);
	memset(dirty, 0xAB, 512);
	arena_finish(&a);
	arena_init(&a, 0);
	p = arena_new(&a, struct pair);
	ASSERT_NOT_NULL(p);
	ASSERT(p->a == 0 && p->b == 0 && p->c == NULL);
	v = arena_new_array(&a, struct pair, 100);
	ASSERT_NOT_NULL(v);
	ASSERT(aligned(v));
	for (int i = 0; i < 100; i++)
		ASSERT(v[i].a == 0 && v[i].c == NULL);
	unsigned char *z = arena_zalloc(&a, 3000);
	ASSERT_NOT_NULL(z);
	for (int i = 0; i < 3000; i++)
		ASSERT_EQ_INT(z[i], 0);
	arena_finish(&a);
}

TEST(string_helpers)
{
	struct arena a;
	char src[] = "桐梓林社区";
	char *s;

	arena_init(&a, 0);
	s = arena_strdup(&a, src);
	ASSERT_EQ_STR(s, "桐梓林社区");
	ASSERT(s != src);
	src[0] = 'X'; /* the copy is independent */
	ASSERT_EQ_STR(s, "桐梓林社区");
	ASSERT_EQ_STR(arena_strndup(&a, "B12345", 2), "B1");
	ASSERT_EQ_STR(arena_strndup(&a, "", 0), "");
	ASSERT_EQ_STR(arena_strdup(&a, ""), "");
	ASSERT(arena_strdup(&a, NULL) == NULL);
	ASSERT(arena_strndup(&a, NULL, 3) == NULL);

	static const unsigned char bytes[] = {0, 1, 2, 0xFF, 0};
	unsigned char *m = arena_memdup(&a, bytes, sizeof(bytes));
	ASSERT_NOT_NULL(m);
	ASSERT(aligned(m));
	ASSERT_EQ_MEM(m, bytes, sizeof(bytes));
	ASSERT_NOT_NULL(arena_memdup(&a, NULL, 0));
	arena_finish(&a);
}

static char *vprintf_wrapper(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *vprintf_wrapper(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return s;
}

TEST(printf)
{
	struct arena a;
	char *s, *big;

	arena_init(&a, 0);
	ASSERT_EQ_STR(arena_printf(&a, "%s-%d", "B", 12), "B-12");
	ASSERT_EQ_STR(arena_printf(&a, "%s", ""), "");
	ASSERT_EQ_STR(arena_printf(&a, "node=%llu name=%s", 18446744073709551615ULL, "梓潼苑"),
		      "node=18446744073709551615 name=梓潼苑");
	ASSERT_EQ_STR(vprintf_wrapper(&a, "%05d|%-3s|", 42, "x"), "00042|x  |");

	/* Longer than a block: the whole text, NUL-terminated. */
	big = arena_printf(&a, "[%*s]", 100000, "end");
	ASSERT_NOT_NULL(big);
	ASSERT_EQ_UINT(strlen(big), 100002);
	ASSERT_EQ_STR(big + 99998, "end]");
	s = arena_printf(&a, "%c", 'z');
	ASSERT_EQ_STR(s, "z");
	ASSERT(aligned(s));
	arena_finish(&a);
}

TEST(printf_terminator_is_its_own)
{
	struct arena a;
	char *s[64];

	/* Texts of 15, 16 and 17 bytes sit at and around the alignment step;
	 * each is followed at once by another allocation that is filled, so
	 * a terminator written past the end of its own allocation is lost. */
	arena_init(&a, 0);
	for (int i = 0; i < 64; i++) {
		int len = 15 + i % 3;

		s[i] = arena_printf(&a, "%0*d", len, i);
		ASSERT_NOT_NULL(s[i]);
		memset(arena_alloc(&a, 16), 'x', 16);
	}
	for (int i = 0; i < 64; i++)
		ASSERT_EQ_UINT(strlen(s[i]), 15 + i % 3);
	arena_finish(&a);
}

TEST(protobuf_allocator)
{
	struct arena a, b;
	ProtobufCAllocator *pa;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Hello hello = GRID__V1__HELLO__INIT;
	Grid__V1__Request *got;
	uint8_t *wire;
	size_t len;
	void *p;

	arena_init(&a, 0);
	pa = arena_allocator(&a);
	ASSERT_NOT_NULL(pa);
	ASSERT(pa == arena_allocator(&a));

	/* Direct use, as protobuf-c calls it. */
	p = pa->alloc(pa->allocator_data, 100);
	ASSERT_NOT_NULL(p);
	ASSERT(aligned(p));
	memset(p, 0x5A, 100);
	p = pa->alloc(pa->allocator_data, 1);
	ASSERT(aligned(p));
	pa->free(pa->allocator_data, p); /* a no-op: the arena frees it */

	/* A real decode: every piece of the message comes from the arena and
	 * goes with it, without protobuf_c_message_free_unpacked(); under ASan a
	 * piece malloc'd elsewhere would show up as a leak. */
	hello.protocol_version = 1;
	hello.client_name = "gridctl/0.1.0 桐梓林";
	req.id = 77;
	req.idempotency_key = "k-1";
	req.call_case = GRID__V1__REQUEST__CALL_HELLO;
	req.hello = &hello;
	len = grid__v1__request__get_packed_size(&req);
	wire = malloc(len);
	ASSERT_NOT_NULL(wire);
	ASSERT_EQ_UINT(grid__v1__request__pack(&req, wire), len);

	/* Decode into a fresh arena, so that its block count proves where
	 * the message went. */
	arena_init(&b, 0);
	ASSERT_EQ_UINT(b.total, 0);
	got = grid__v1__request__unpack(arena_allocator(&b), len, wire);
	free(wire);
	ASSERT_NOT_NULL(got);
	ASSERT(b.total > 0);
	ASSERT(aligned(got));
	ASSERT_EQ_UINT(got->id, 77);
	ASSERT_EQ_STR(got->idempotency_key, "k-1");
	ASSERT_EQ_INT(got->call_case, GRID__V1__REQUEST__CALL_HELLO);
	ASSERT_NOT_NULL(got->hello);
	ASSERT_EQ_UINT(got->hello->protocol_version, 1);
	ASSERT_EQ_STR(got->hello->client_name, "gridctl/0.1.0 桐梓林");
	arena_finish(&b);
	arena_finish(&a);
}

TEST(reuse_after_finish)
{
	struct arena a;

	arena_init(&a, 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 1000; i++)
			ASSERT_NOT_NULL(arena_printf(&a, "round %d item %d", round, i));
		ASSERT(a.total > 0);
		arena_finish(&a);
		ASSERT(a.head == NULL);
		ASSERT_EQ_UINT(a.total, 0);
		arena_init(&a, 0);
	}
	arena_finish(&a);
	arena_finish(&a); /* twice is harmless */
}
