/* Linear-probing hash table with tombstones; see htab.h. */
#include "common/htab.h"

#include <errno.h>
#include <stdlib.h>

static char tombstone_mark;
#define TOMBSTONE ((void *)&tombstone_mark)

void htab_init(struct htab *h, htab_hash_fn hash, htab_eq_fn eq)
{
	h->slots = NULL;
	h->cap = 0;
	h->count = 0;
	h->used = 0;
	h->hash = hash;
	h->eq = eq;
}

void htab_finish(struct htab *h)
{
	free(h->slots);
	h->slots = NULL;
	h->cap = h->count = h->used = 0;
}

uint64_t htab_hash_u64(uint64_t v)
{
	/* splitmix64 finalizer: consecutive ids spread over the table. */
	v ^= v >> 30;
	v *= 0xbf58476d1ce4e5b9ULL;
	v ^= v >> 27;
	v *= 0x94d049bb133111ebULL;
	v ^= v >> 31;
	return v;
}

uint64_t htab_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return htab_hash_u64(h);
}

void *htab_find(const struct htab *h, const void *key, uint64_t key_hash)
{
	size_t mask, i;

	if (!h->cap)
		return NULL;
	mask = h->cap - 1;
	for (i = key_hash & mask;; i = (i + 1) & mask) {
		void *e = h->slots[i];
		if (!e)
			return NULL;
		if (e != TOMBSTONE && h->eq(e, key))
			return e;
	}
}

static int rehash(struct htab *h, size_t cap)
{
	void **old = h->slots;
	size_t oldcap = h->cap;
	void **slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	h->slots = slots;
	h->cap = cap;
	h->used = h->count;
	for (size_t j = 0; j < oldcap; j++) {
		void *e = old[j];
		if (!e || e == TOMBSTONE)
			continue;
		size_t i = h->hash(e) & (cap - 1);
		while (slots[i])
			i = (i + 1) & (cap - 1);
		slots[i] = e;
	}
	free(old);
	return 0;
}

int htab_insert(struct htab *h, void *elem)
{
	size_t mask, i;

	/* Keep the load, tombstones included, under 70%. */
	if ((h->used + 1) * 10 >= h->cap * 7) {
		size_t cap = h->cap ? h->cap : 16;
		while ((h->count + 1) * 10 >= cap * 5)
			cap *= 2;
		int r = rehash(h, cap);
		if (r < 0)
			return r;
	}
	mask = h->cap - 1;
	for (i = h->hash(elem) & mask;; i = (i + 1) & mask) {
		if (!h->slots[i] || h->slots[i] == TOMBSTONE)
			break;
	}
	if (!h->slots[i])
		h->used++;
	h->slots[i] = elem;
	h->count++;
	return 0;
}

void *htab_remove(struct htab *h, const void *key, uint64_t key_hash)
{
	size_t mask, i;

	if (!h->cap)
		return NULL;
	mask = h->cap - 1;
	for (i = key_hash & mask;; i = (i + 1) & mask) {
		void *e = h->slots[i];
		if (!e)
			return NULL;
		if (e != TOMBSTONE && h->eq(e, key)) {
			h->slots[i] = TOMBSTONE;
			h->count--;
			return e;
		}
	}
}

void *htab_next(const struct htab *h, size_t *pos)
{
	while (*pos < h->cap) {
		void *e = h->slots[(*pos)++];
		if (e && e != TOMBSTONE)
			return e;
	}
	return NULL;
}
