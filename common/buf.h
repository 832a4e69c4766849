/* A growable byte buffer. The server uses it for each connection's unsent
 * output, gridctl for building output, the CSV and JSON writers for text.
 * Every append fails with -ENOMEM instead of growing past buf.max (0 means
 * no limit besides memory), which is how client-controlled buffers are
 * bounded.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_finish(struct buf *b);
/* Drops the contents, keeps the memory. */
void buf_reset(struct buf *b);

/* Makes room for n more bytes; returns a pointer to them or NULL. The caller
 * writes them and then calls buf_commit(b, n). */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Returns a NUL-terminated view (the NUL is not counted in len), or NULL. */
const char *buf_cstr(struct buf *b);
/* Hands the memory to the caller (free() it) and leaves b empty. */
uint8_t *buf_steal(struct buf *b, size_t *ret_len);
