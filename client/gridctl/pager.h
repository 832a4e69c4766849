/* A list call followed page by page, for the gridctl commands that list
 * (node ls and tree in node.c, user ls in user.c, audit ls in audit.c, grid
 * export in grid.c). pager_next() makes the call for the next page with the
 * token the last page gave; a server that repeats a token, or sends page
 * after page without end, is reported as an error instead of being followed
 * forever. The pager owns the replies: every one of them until
 * pager_finish() when asked to keep them (to print them all at the end), or
 * else the last one only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "client/gridctl/gridctl.h"

struct pager {
	struct ctl *ctl;
	Grid__V1__Request *req;
	char **token;	     /* the request's page_token field */
	const char *subject; /* names what is listed in errors, as for ctl_call() */
	bool keep;	     /* keep every page, not only the last */
	char *first_token;   /* *token before the first page */
	size_t calls;
	bool last;		   /* the last page came */
	bool repeated;		   /* the last page repeated the token of the one before */
	Grid__V1__Reply **replies; /* the pages kept, in order */
	size_t n, cap;
};

/* Prepares to page through req, whose page_token field is *token (borrowed
 * from req; the pager points it at each page's token and puts it back at
 * pager_finish()). req, token and subject are borrowed until then. */
void pager_init(struct pager *p, struct ctl *ctl, Grid__V1__Request *req, char **token,
		const char *subject, bool keep);
/* Fetches the next page: CTL_EXIT_OK with *ret_page pointing at its reply
 * (owned by the pager; without keep it lives until the next call), or
 * CTL_EXIT_OK with *ret_page NULL after the last page, or an exit code with
 * the error printed. */
int pager_next(struct pager *p, const Grid__V1__Reply **ret_page);
/* Fetches every page (with keep, into p->replies); 0 or an exit code,
 * printed. */
int pager_fetch_all(struct pager *p);
/* Frees the pages and puts the request's page token back. */
void pager_finish(struct pager *p);
