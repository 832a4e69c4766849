/* INI configuration files: "[section]" headers, "key = value" lines, comments
 * starting with '#' or ';' on their own line, blank lines. Values are
 * trimmed; a value in double quotes keeps its inner spaces. Keys before any
 * section have the section "". Used by gridd's --config.
 */
#pragma once

#include <stddef.h>

/* Called for each key in file order. line is 1-based. Return 0 to go on or a
 * negative errno to stop the parse with that error. */
typedef int (*ini_cb)(void *data, const char *section, const char *key, const char *value,
		      unsigned line);

/* Parses text. On a syntax error returns -EINVAL and sets *ret_line (when
 * not NULL) to its line; otherwise returns 0 or the callback's error (with
 * *ret_line set to the line of the key it rejected). */
int ini_parse(const char *text, size_t len, ini_cb cb, void *data, unsigned *ret_line);
