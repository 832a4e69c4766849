/* Unit tests for common/htab.c, the table the grid cache indexes nodes
 * with: many elements, removal and tombstones, reinsertion, iteration,
 * string keys, and a hash that puts everything in one probe chain.
 */
#include "tests/harness/test.h"

#include <errno.h>
#include <stdbool.h>

#include "common/htab.h"

struct node {
	uint64_t id;
	char code[24];
	bool seen;
};

static uint64_t node_hash(const void *elem)
{
	return htab_hash_u64(((const struct node *)elem)->id);
}

static int node_eq(const void *elem, const void *key)
{
	return ((const struct node *)elem)->id == *(const uint64_t *)key;
}

static struct node *find_id(const struct htab *h, uint64_t id)
{
	return htab_find(h, &id, htab_hash_u64(id));
}

static struct node *remove_id(struct htab *h, uint64_t id)
{
	return htab_remove(h, &id, htab_hash_u64(id));
}

#define MANY 100000

static struct node *make_nodes(size_t n)
{
	struct node *v = calloc(n, sizeof(*v));

	ASSERT_NOT_NULL(v);
	for (size_t i = 0; i < n; i++) {
		/* Ids as a database hands them out, with a gap now and then. */
		v[i].id = 1000 + i * 3;
		snprintf(v[i].code, sizeof(v[i].code), "B%zu", i);
	}
	return v;
}

TEST(empty_table)
{
	struct htab h;
	size_t pos = 0;

	htab_init(&h, node_hash, node_eq);
	ASSERT(find_id(&h, 1) == NULL);
	ASSERT(remove_id(&h, 1) == NULL);
	ASSERT(htab_next(&h, &pos) == NULL);
	ASSERT_EQ_UINT(h.count, 0);
	htab_finish(&h);
	htab_finish(&h); /* finishing twice is harmless */
}

TEST(insert_and_find_many)
{
	struct node *v = make_nodes(MANY);
	struct htab h;

	htab_init(&h, node_hash, node_eq);
	for (size_t i = 0; i < MANY; i++) {
		ASSERT_EQ_INT(htab_insert(&h, &v[i]), 0);
		/* The newest and an early one stay findable while it grows. */
		ASSERT(find_id(&h, v[i].id) == &v[i]);
		ASSERT(find_id(&h, v[i / 2].id) == &v[i / 2]);
	}
	ASSERT_EQ_UINT(h.count, MANY);
	ASSERT(h.cap >= MANY && (h.cap & (h.cap - 1)) == 0);
	for (size_t i = 0; i < MANY; i++) {
		ASSERT(find_id(&h, v[i].id) == &v[i]);
		/* Ids between the ones present are absent. */
		ASSERT(find_id(&h, v[i].id + 1) == NULL);
	}
	ASSERT(find_id(&h, 0) == NULL);
	ASSERT(find_id(&h, UINT64_MAX) == NULL);
	htab_finish(&h);
	free(v);
}

TEST(remove_then_reinsert)
{
	struct node *v = make_nodes(MANY);
	struct htab h;

	htab_init(&h, node_hash, node_eq);
	for (size_t i = 0; i < MANY; i++)
		ASSERT_EQ_INT(htab_insert(&h, &v[i]), 0);

	for (size_t i = 0; i < MANY; i += 2)
		ASSERT(remove_id(&h, v[i].id) == &v[i]);
	ASSERT_EQ_UINT(h.count, MANY / 2);
	for (size_t i = 0; i < MANY; i++) {
		if (i % 2 == 0) {
			ASSERT(find_id(&h, v[i].id) == NULL);
			ASSERT(remove_id(&h, v[i].id) == NULL);
		} else {
			/* Found past the tombstones left in its probe chain. */
			ASSERT(find_id(&h, v[i].id) == &v[i]);
		}
	}
	ASSERT_EQ_UINT(h.count, MANY / 2);

	for (size_t i = 0; i < MANY; i += 2)
		ASSERT_EQ_INT(htab_insert(&h, &v[i]), 0);
	ASSERT_EQ_UINT(h.count, MANY);
	for (size_t i = 0; i < MANY; i++)
		ASSERT(find_id(&h, v[i].id) == &v[i]);

	/* Remove everything: the table is empty but still works. */
	for (size_t i = 0; i < MANY; i++)
		ASSERT(remove_id(&h, v[i].id) == &v[i]);
	ASSERT_EQ_UINT(h.count, 0);
	for (size_t i = 0; i < MANY; i += 1000)
		ASSERT(find_id(&h, v[i].id) == NULL);
	ASSERT_EQ_INT(htab_insert(&h, &v[5]), 0);
	ASSERT(find_id(&h, v[5].id) == &v[5]);
	htab_finish(&h);
	free(v);
}

TEST(tombstones_do_not_grow_the_table)
{
	struct node *v = make_nodes(8);
	struct htab h;

	/* A node cache with constant churn: insert and remove a million
	 * times around a few long-lived entries. Tombstones must be
	 * reclaimed, or the table would either grow without bound or fill
	 * up with tombstones so that a lookup for a missing key never meets
	 * an empty slot. */
	htab_init(&h, node_hash, node_eq);
	for (size_t i = 0; i < 4; i++)
		ASSERT_EQ_INT(htab_insert(&h, &v[i]), 0);
	for (uint64_t k = 0; k < 1000000; k++) {
		struct node *n = &v[4 + k % 4];

		n->id = 1000000 + k;
		ASSERT_EQ_INT(htab_insert(&h, n), 0);
		ASSERT(remove_id(&h, n->id) == n);
	}
	ASSERT_EQ_UINT(h.count, 4);
	ASSERT(h.cap <= 64);
	ASSERT(h.used < h.cap);
	for (size_t i = 0; i < 4; i++)
		ASSERT(find_id(&h, v[i].id) == &v[i]);
	ASSERT(find_id(&h, 999) == NULL);
	htab_finish(&h);
	free(v);
}

TEST(iteration_visits_each_element_once)
{
	struct node *v = make_nodes(MANY);
	struct htab h;
	size_t pos = 0, visits = 0;
	struct node *n;

	htab_init(&h, node_hash, node_eq);
	for (size_t i = 0; i < MANY; i++)
		ASSERT_EQ_INT(htab_insert(&h, &v[i]), 0);
	/* Leave tombstones behind that the iteration must skip. */
	for (size_t i = 0; i < MANY; i += 3)
		ASSERT(remove_id(&h, v[i].id) == &v[i]);

	while ((n = htab_next(&h, &pos)) != NULL) {
		ASSERT(n >= v && n < v + MANY);
		ASSERT_MSG(!n->seen, "node %" PRIu64 " visited twice", n->id);
		ASSERT_MSG((n - v) % 3 != 0, "removed node %" PRIu64 " visited", n->id);
		n->seen = true;
		visits++;
	}
	ASSERT_EQ_UINT(visits, h.count);
	ASSERT_EQ_UINT(visits, MANY - (MANY + 2) / 3);
	for (size_t i = 0; i < MANY; i++)
		ASSERT_EQ_INT(v[i].seen, i % 3 != 0);
	/* The end stays the end. */
	ASSERT(htab_next(&h, &pos) == NULL);
	htab_finish(&h);
	free(v);
}

static uint64_t code_hash(const void *elem)
{
	return htab_hash_str(((const struct node *)elem)->code);
}

static int code_eq(const void *elem, const void *key)
{
	return strcmp(((const struct node *)elem)->code, key) == 0;
}

TEST(string_keys)
{
	struct node *v = make_nodes(10000);
	struct htab h;
	char key[24];

	htab_init(&h, code_hash, code_eq);
	for (size_t i = 0; i < 10000; i++)
		ASSERT_EQ_INT(htab_insert(&h, &v[i]), 0);
	for (size_t i = 0; i < 10000; i++) {
		/* A separate buffer: lookups go by content, not by pointer. */
		snprintf(key, sizeof(key), "B%zu", i);
		ASSERT(htab_find(&h, key, htab_hash_str(key)) == &v[i]);
	}
	ASSERT(htab_find(&h, "B10000", htab_hash_str("B10000")) == NULL);
	ASSERT(htab_find(&h, "b1", htab_hash_str("b1")) == NULL);
	ASSERT(htab_remove(&h, "B77", htab_hash_str("B77")) == &v[77]);
	ASSERT(htab_find(&h, "B77", htab_hash_str("B77")) == NULL);
	ASSERT(htab_find(&h, "B78", htab_hash_str("B78")) == &v[78]);
	htab_finish(&h);
	free(v);
}

static uint64_t constant_hash(const void *elem)
{
	/* The last slot: every probe chain wraps around the end. */
	return UINT64_MAX;
}

TEST(all_keys_colliding)
{
	struct node *v = make_nodes(2000);
	struct htab h;

	htab_init(&h, constant_hash, node_eq);
	for (size_t i = 0; i < 2000; i++)
		ASSERT_EQ_INT(htab_insert(&h, &v[i]), 0);
	for (size_t i = 0; i < 2000; i += 2) {
		uint64_t id = v[i].id;
		ASSERT(htab_remove(&h, &id, UINT64_MAX) == &v[i]);
	}
	for (size_t i = 0; i < 2000; i++) {
		uint64_t id = v[i].id;
		ASSERT(htab_find(&h, &id, UINT64_MAX) == (i % 2 ? &v[i] : NULL));
	}
	for (size_t i = 0; i < 2000; i += 2)
		ASSERT_EQ_INT(htab_insert(&h, &v[i]), 0);
	for (size_t i = 0; i < 2000; i++) {
		uint64_t id = v[i].id;
		ASSERT(htab_find(&h, &id, UINT64_MAX) == &v[i]);
	}
	ASSERT_EQ_UINT(h.count, 2000);
	htab_finish(&h);
	free(v);
}

TEST(hash_functions)
{
	/* Deterministic, and different keys give different values. */
	ASSERT_EQ_UINT(htab_hash_str("B1"), htab_hash_str("B1"));
	ASSERT(htab_hash_str("B1") != htab_hash_str("B2"));
	ASSERT(htab_hash_str("") != htab_hash_str("\x01"));
	ASSERT(htab_hash_u64(1) != htab_hash_u64(2));
	/* Consecutive ids spread over the low bits a small table uses. */
	unsigned buckets[16] = {0};
	for (uint64_t id = 0; id < 1600; id++)
		buckets[htab_hash_u64(id) & 15]++;
	for (int i = 0; i < 16; i++)
		ASSERT_MSG(buckets[i] > 50 && buckets[i] < 150, "bucket %d has %u", i, buckets[i]);
}
