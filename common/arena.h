/* Arena: a bump allocator freed in one go.
 *
 * Every request the server handles owns one arena. The decoded protobuf
 * message, the reply under construction and every string the handler makes
 * live in it and die together when the request ends, so handlers never free
 * anything piecemeal. arena_allocator() hands the arena to protobuf-c.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t chunk_size; /* size of the next ordinary chunk */
	size_t total;	   /* bytes obtained from malloc, for limits */
	ProtobufCAllocator pb;
};

/* Embedded arena; first_chunk is the size of the first block (0 = default). */
void arena_init(struct arena *a, size_t first_chunk);
/* Frees every block. The arena may be reused after arena_init() again. */
void arena_finish(struct arena *a);

/* Returns memory aligned for any type, or NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t size);
void *arena_zalloc(struct arena *a, size_t size);
/* Copies; NULL input gives NULL. */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void *arena_memdup(struct arena *a, const void *p, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* A protobuf-c allocator backed by the arena; its free is a no-op. Borrowed
 * from the arena, valid until arena_finish(). */
ProtobufCAllocator *arena_allocator(struct arena *a);

#define arena_new(a, type) ((type *)arena_zalloc((a), sizeof(type)))
#define arena_new_array(a, type, n) ((type *)arena_zalloc((a), sizeof(type) * (n)))
