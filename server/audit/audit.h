/* The audit trail: every write records who did what to which node, when,
 * with a summary, in the same transaction as the write (so there is no
 * write without its entry and no entry without its write). Entries form a
 * SHA-256 hash chain (see migration 0002) that VerifyAudit recomputes, so
 * an edited, deleted or reordered entry is found. Handlers of every domain
 * call audit_add_call() on the query of their write; methods.c lists
 * audit_list and audit_verify.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"

struct db_query;
struct rpc_call;
struct server;
struct tree_node;

int audit_start(struct server *srv);

/* Appends the audit statement to q. node may be NULL. Strings are copied
 * into arena, which must outlive the query. */
int audit_add(struct db_query *q, struct arena *arena, const char *actor, const char *method,
	      const struct tree_node *node, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The same for the call being handled: its caller and its method. */
int audit_add_call(struct db_query *q, struct rpc_call *call, const struct tree_node *node,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The canonical form of an entry, exactly as audit_canonical() in SQL. */
int audit_canonical(struct buf *out, const char *seq, const char *at_us, const char *node_id,
		    const char *actor, const char *method, const char *node_code,
		    const char *summary);

void audit_list(struct rpc_call *call);
void audit_verify(struct rpc_call *call);
