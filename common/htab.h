/* Open-addressing hash table of pointers to elements that carry their own
 * keys. The grid cache indexes its nodes by id and by code with it.
 * Elements are borrowed; the table never frees them.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef uint64_t (*htab_hash_fn)(const void *elem);
typedef int (*htab_eq_fn)(const void *elem, const void *key);

struct htab {
	void **slots;
	size_t cap; /* 0 or a power of two */
	size_t count;
	size_t used; /* count plus tombstones */
	htab_hash_fn hash;
	htab_eq_fn eq;
};

void htab_init(struct htab *h, htab_hash_fn hash, htab_eq_fn eq);
void htab_finish(struct htab *h);

/* key_hash must equal hash(elem) for the element that matches key. */
void *htab_find(const struct htab *h, const void *key, uint64_t key_hash);
/* Adds elem; an element with an equal key must not be present. -ENOMEM. */
int htab_insert(struct htab *h, void *elem);
/* Removes and returns the element matching key, or NULL. */
void *htab_remove(struct htab *h, const void *key, uint64_t key_hash);
/* Iterates: start with *pos = 0; returns NULL at the end. */
void *htab_next(const struct htab *h, size_t *pos);

uint64_t htab_hash_str(const char *s);
uint64_t htab_hash_u64(uint64_t v);
