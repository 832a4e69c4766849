/* Small string helpers shared by the server and gridctl. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Orders strings the way people expect codes to sort: runs of digits compare
 * by value ("B2" < "B10"), everything else bytewise; ties broken bytewise so
 * the order is total. */
int natcmp(const char *a, const char *b);

/* Case-insensitive (ASCII only) substring search; NULL when absent. */
const char *str_casestr(const char *haystack, const char *needle);

/* Parses a whole decimal string; -EINVAL on anything else, -ERANGE when too
 * big. ret_v is written only on success. */
int str_to_u64(const char *s, uint64_t *ret_v);
int str_to_u32(const char *s, uint32_t *ret_v);

/* Trims ASCII whitespace in place and returns s. */
char *str_trim(char *s);
