/* Following a list call's page tokens; see pager.h. Used by node.c, user.c,
 * audit.c and grid.c. */
#include "client/gridctl/pager.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/output.h"

/* A server that keeps sending new page tokens is not followed forever. */
#define MAX_PAGES 100000

/* Every list result carries a next_page_token; finding it by name in the
 * result's descriptor spares each command an accessor of its own. "" when
 * the result has none. */
static const char *next_page_token(const Grid__V1__Reply *reply)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(reply->base.descriptor, reply->result_case);
	const ProtobufCFieldDescriptor *t;
	const ProtobufCMessage *result;
	const char *token;

	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return "";
	result = *(const ProtobufCMessage *const *)((const char *)reply + f->offset);
	if (!result)
		return "";
	t = protobuf_c_message_descriptor_get_field_by_name(result->descriptor, "next_page_token");
	if (!t || t->type != PROTOBUF_C_TYPE_STRING)
		return "";
	token = *(const char *const *)((const char *)result + t->offset);
	return token ? token : "";
}

void pager_init(struct pager *p, struct ctl *ctl, Grid__V1__Request *req, char **token,
		const char *subject, bool keep)
{
	memset(p, 0, sizeof(*p));
	p->ctl = ctl;
	p->req = req;
	p->token = token;
	p->subject = subject;
	p->keep = keep;
	p->first_token = *token;
}

/* Takes reply; without keep it replaces the page before. 0 or -ENOMEM
 * (reply not taken). */
static int add_page(struct pager *p, Grid__V1__Reply *reply)
{
	if (!p->keep && p->n == 1) {
		grid_client_reply_free(p->replies[0]);
		p->n = 0;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		Grid__V1__Reply **v = realloc(p->replies, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->replies = v;
		p->cap = cap;
	}
	p->replies[p->n++] = reply;
	return 0;
}

int pager_next(struct pager *p, const Grid__V1__Reply **ret_page)
{
	Grid__V1__Reply *reply = NULL;
	const char *next;
	int r;

	*ret_page = NULL;
	if (p->last)
		return CTL_EXIT_OK;
	/* Told only now, after the caller had the page that said it. */
	if (p->repeated) {
		output_error(p->ctl->json, GRID__V1__CODE__CODE_INTERNAL, p->subject,
			     "the server repeated a page token", NULL, 0, NULL);
		return CTL_EXIT_ERROR;
	}
	if (p->calls == MAX_PAGES) {
		output_error(p->ctl->json, GRID__V1__CODE__CODE_INTERNAL, p->subject,
			     "the server sent too many pages", NULL, 0, NULL);
		return CTL_EXIT_ERROR;
	}
	p->calls++;
	p->req->id = 0;
	r = ctl_call(p->ctl, p->req, &reply, p->subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	/* Compared while the page before, which holds *p->token, is alive. */
	next = next_page_token(reply);
	p->last = !next[0];
	p->repeated = !p->last && strcmp(next, *p->token) == 0;
	if (add_page(p, reply) < 0) {
		grid_client_reply_free(reply);
		return output_oom();
	}
	/* Borrowed from the reply, which the pager keeps until the next page
	 * has come. */
	if (!p->last && !p->repeated)
		*p->token = (char *)next;
	*ret_page = reply;
	return CTL_EXIT_OK;
}

int pager_fetch_all(struct pager *p)
{
	const Grid__V1__Reply *page;
	int r;

	while ((r = pager_next(p, &page)) == CTL_EXIT_OK && page)
		;
	return r;
}

void pager_finish(struct pager *p)
{
	for (size_t i = 0; i < p->n; i++)
		grid_client_reply_free(p->replies[i]);
	free(p->replies);
	p->replies = NULL;
	p->n = p->cap = 0;
	*p->token = p->first_token;
}
