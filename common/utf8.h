/* UTF-8 checks and display width. The server validates every string a peer
 * sends with utf8_valid(); gridctl lines up Chinese names in tables with
 * utf8_width(), counting East Asian wide and fullwidth characters as two
 * columns and combining marks as none.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* 1 when s[0..len) is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), else 0. */
int utf8_valid(const char *s, size_t len);

/* Decodes one code point. Returns the bytes consumed (1-4) and sets *ret_cp,
 * or -1 for an invalid sequence (*ret_cp untouched). */
int utf8_decode(const char *s, size_t len, uint32_t *ret_cp);

/* Columns a terminal uses for cp: 0 (combining marks, zero-width and control
 * characters), 2 (East Asian Wide and Fullwidth, e.g. CJK ideographs, kana,
 * hangul, fullwidth forms, most emoji) or 1. */
int utf8_cp_width(uint32_t cp);

/* Display columns of a NUL-terminated string; an invalid byte counts as one
 * column. */
size_t utf8_width(const char *s);

/* Number of code points in s (an invalid byte counts as one). */
size_t utf8_length(const char *s);

/* Appends s, then spaces up to width columns (left-aligned), or spaces first
 * when right is nonzero. A string wider than width is appended whole. */
int utf8_pad(struct buf *out, const char *s, size_t width, int right);
