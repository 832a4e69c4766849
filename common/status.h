/* The one place where errno values meet the protocol's status codes.
 *
 * Everything inside gridd speaks negative errno (-ENOENT, -EACCES, ...);
 * when a reply is built, status_from_errno() picks its code. The client
 * library maps codes back to errno for C callers and gridctl maps them to
 * exit codes, both through this file, so the three never disagree.
 */
#pragma once

#include "proto/status.pb-c.h"

typedef Grid__V1__Code status_code;

/* err is 0 or a negative errno. */
status_code status_from_errno(int err);
/* The errno that status_from_errno() maps to code (0 for OK). */
int status_to_errno(status_code code);
/* "NOT_FOUND", ... ; never NULL. */
const char *status_name(status_code code);
/* True for codes a client may retry unchanged. */
int status_is_retryable(status_code code);
