/* The audit trail: appending entries, listing them, verifying the chain;
 * see audit.h. All of the domain's SQL is the statements table below. */
#include "server/audit/audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/audit.pb-c.h"
#include "server/auth/auth.h"
#include "server/auth/perm.h"
#include "server/auth/principal.h"
#include "server/config.h"
#include "server/db/pool.h"
#include "server/grid/grid.h"
#include "server/grid/tree.h"
#include "server/rpc/rpc.h"
#include "server/server.h"

#define VERIFY_PAGE "2000"
#define HASH_SIZE 32

enum audit_stmt {
	AUDIT_STMT_APPEND,
	AUDIT_STMT_LIST,
	AUDIT_STMT_VERIFY_PAGE,
	AUDIT_STMT_HEAD,
	AUDIT_STMT_COUNT,
};

static struct db_stmt audit_stmts[AUDIT_STMT_COUNT] = {
    [AUDIT_STMT_APPEND] = {"audit_append",
			   "SELECT audit_append($1, $2, nullif($3::bigint, 0), $4, $5)", 5, 0},
    /* Newest first; $1: everything, else entries about nodes in the
     * subtrees $2; between $3 and $4 (ms); before seq $5. */
    [AUDIT_STMT_LIST] = {"audit_list",
			 "SELECT a.seq, (extract(epoch FROM a.at) * 1000)::bigint, a.actor, "
			 "a.method, a.node_code, a.summary FROM audit_log a "
			 "WHERE ($1::boolean OR EXISTS (SELECT 1 FROM grid_node n, grid_node s "
			 "WHERE n.id = a.node_id AND s.id = ANY($2::bigint[]) "
			 "AND n.path <@ s.path)) "
			 "AND a.at >= to_timestamp($3::bigint / 1000.0) "
			 "AND a.at < to_timestamp($4::bigint / 1000.0) "
			 "AND a.seq < $5::bigint ORDER BY a.seq DESC LIMIT $6",
			 6, 0},
    [AUDIT_STMT_VERIFY_PAGE] = {"audit_verify_page",
				"SELECT seq, (extract(epoch FROM at) * 1000000)::bigint, actor, "
				"method, coalesce(node_id::text, ''), node_code, summary, "
				"prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq "
				"LIMIT " VERIFY_PAGE,
				1, 0},
    [AUDIT_STMT_HEAD] = {"audit_head", "SELECT seq, hash FROM audit_head", 0, 0},
};

int audit_start(struct server *srv)
{
	return db_pool_register(srv->db, audit_stmts, AUDIT_STMT_COUNT);
}

/* The format attribute lets clang check the callers' formats too. */
static int vaudit_add(struct db_query *q, struct arena *arena, const char *actor,
		      const char *method, const struct tree_node *node, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static int vaudit_add(struct db_query *q, struct arena *arena, const char *actor,
		      const char *method, const struct tree_node *node, const char *fmt, va_list ap)
{
	const char **params = arena_new_array(arena, const char *, 5);

	if (!params)
		return -ENOMEM;
	params[0] = arena_strdup(arena, actor);
	params[1] = arena_strdup(arena, method);
	params[2] = arena_printf(arena, "%" PRId64, node ? node->id : 0);
	params[3] = arena_strdup(arena, node ? node->code : "");
	params[4] = arena_vprintf(arena, fmt, ap);
	for (int i = 0; i < 5; i++)
		if (!params[i])
			return -ENOMEM;
	return db_query_add(q, &audit_stmts[AUDIT_STMT_APPEND], params);
}

int audit_add(struct db_query *q, struct arena *arena, const char *actor, const char *method,
	      const struct tree_node *node, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vaudit_add(q, arena, actor, method, node, fmt, ap);
	va_end(ap);
	return r;
}

int audit_add_call(struct db_query *q, struct rpc_call *call, const struct tree_node *node,
		   const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vaudit_add(q, rpc_arena(call), auth_actor(auth_principal(call)),
		       rpc_call_method(call)->name, node, fmt, ap);
	va_end(ap);
	return r;
}

int audit_canonical(struct buf *out, const char *seq, const char *at_us, const char *node_id,
		    const char *actor, const char *method, const char *node_code,
		    const char *summary)
{
	return buf_printf(out, "%s|%s|%s|%zu:%s|%zu:%s|%zu:%s|%zu:%s", seq, at_us, node_id,
			  strlen(actor), actor, strlen(method), method, strlen(node_code),
			  node_code, strlen(summary), summary);
}

/* --- ListAudit ----------------------------------------------------------- */

struct list_ctx {
	struct rpc_call *call;
	uint32_t limit;
	const char *params[6];
};

static void on_list(struct db_query *q, int status, void *data)
{
	struct list_ctx *lc = data;
	struct rpc_call *call = lc->call;
	struct arena *a = rpc_arena(call);
	PGresult *res = db_query_result(q, 0);
	Grid__V1__AuditList *out;
	int n;

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	n = PQntuples(res);
	out = arena_new(a, Grid__V1__AuditList);
	if (!out)
		goto nomem;
	grid__v1__audit_list__init(out);
	out->entries = arena_new_array(a, Grid__V1__AuditEntry *, n ? (size_t)n : 1);
	if (!out->entries)
		goto nomem;
	for (int i = 0; i < n; i++) {
		Grid__V1__AuditEntry *e = arena_new(a, Grid__V1__AuditEntry);
		if (!e)
			goto nomem;
		grid__v1__audit_entry__init(e);
		e->seq = strtoull(PQgetvalue(res, i, 0), NULL, 10);
		e->at_ms = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		e->actor = arena_strdup(a, PQgetvalue(res, i, 2));
		e->method = arena_strdup(a, PQgetvalue(res, i, 3));
		e->node_code = arena_strdup(a, PQgetvalue(res, i, 4));
		e->summary = arena_strdup(a, PQgetvalue(res, i, 5));
		if (!e->actor || !e->method || !e->node_code || !e->summary)
			goto nomem;
		out->entries[i] = e;
	}
	out->n_entries = (size_t)n;
	out->next_page_token = (char *)"";
	if ((uint32_t)n == lc->limit && n > 0)
		out->next_page_token = arena_strdup(a, PQgetvalue(res, n - 1, 0));
	rpc_reply(call, out);
	return;
nomem:
	rpc_fail(call, -ENOMEM, "out of memory");
}

/* The ids of the nodes where p reads the audit trail, as an array literal. */
static const char *scope_ids(struct rpc_call *call, const struct principal *p, unsigned perm)
{
	struct arena *a = rpc_arena(call);
	struct buf b;
	const char *s;

	buf_init(&b, 0);
	buf_putc(&b, '{');
	for (size_t i = 0; i < p->ngrants; i++) {
		if (!(perm_of_role(p->grants[i].role) & perm) || !p->grants[i].node_id)
			continue;
		buf_printf(&b, "%s%" PRId64, b.len > 1 ? "," : "", p->grants[i].node_id);
	}
	buf_putc(&b, '}');
	s = buf_cstr(&b) ? arena_strdup(a, buf_cstr(&b)) : NULL;
	buf_finish(&b);
	return s;
}

void audit_list(struct rpc_call *call)
{
	const Grid__V1__ListAuditRequest *in = rpc_request(call)->list_audit;
	struct server *srv = rpc_server(call);
	struct principal *p = auth_principal(call);
	struct arena *a = rpc_arena(call);
	struct list_ctx *lc = arena_new(a, struct list_ctx);
	struct db_query *q;
	bool everything = false;
	uint64_t before = UINT64_MAX >> 1;
	int r;

	if (!lc) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	lc->call = call;
	lc->limit = in->page_size ? in->page_size : srv->cfg->default_page_size;
	if (lc->limit > srv->cfg->max_page_size)
		lc->limit = srv->cfg->max_page_size;
	if (*in->page_token && (sscanf(in->page_token, "%" SCNu64, &before) != 1 || !before)) {
		rpc_fail(call, -EINVAL, "bad page token");
		return;
	}
	if (*in->node_code) {
		const struct tree_node *n = tree_find_code(grid_tree(srv->grid), in->node_code);
		if (!n) {
			rpc_fail(call, -ENOENT, "node %s not found", in->node_code);
			return;
		}
		lc->params[1] = arena_printf(a, "{%" PRId64 "}", n->id);
	} else {
		everything = auth_allows(srv->auth, p, PERM_AUDIT_READ, NULL);
		lc->params[1] = everything ? "{}" : scope_ids(call, p, PERM_AUDIT_READ);
	}
	lc->params[0] = everything ? "true" : "false";
	lc->params[2] = arena_printf(a, "%" PRId64, in->since_ms);
	lc->params[3] =
	    in->until_ms ? arena_printf(a, "%" PRId64, in->until_ms) : "253402300799000";
	lc->params[4] = arena_printf(a, "%" PRIu64, before);
	lc->params[5] = arena_printf(a, "%u", lc->limit);
	for (int i = 1; i < 6; i++) {
		if (!lc->params[i]) {
			rpc_fail(call, -ENOMEM, "out of memory");
			return;
		}
	}
	q = db_query_create(srv->db);
	if (!q || db_query_add(q, &audit_stmts[AUDIT_STMT_LIST], lc->params) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(call), on_list, lc);
	if (r < 0)
		rpc_fail_db(call, r, "");
}

/* --- VerifyAudit --------------------------------------------------------- */

struct verify {
	struct rpc_call *call;
	uint64_t last_seq;
	uint8_t last_hash[HASH_SIZE];
	uint64_t rows;
	uint64_t head_seen_at; /* last_seq when the head was last read */
	uint64_t bad_seq;
	char *problem;
	char after[24];
	const char *params[1];
};

static void verify_next(struct verify *v);

static void verify_reply(struct verify *v)
{
	Grid__V1__VerifyAuditReply *out = arena_new(rpc_arena(v->call), Grid__V1__VerifyAuditReply);

	if (!out) {
		rpc_fail(v->call, -ENOMEM, "out of memory");
		return;
	}
	grid__v1__verify_audit_reply__init(out);
	out->ok = v->bad_seq == 0;
	out->rows_checked = v->rows;
	out->first_bad_seq = v->bad_seq;
	out->problem = v->problem ? v->problem : (char *)"";
	rpc_reply(v->call, out);
}

static bool read_hash(const char *text, uint8_t out[HASH_SIZE])
{
	size_t len = 0;

	return strncmp(text, "\\x", 2) == 0 &&
	       sodium_hex2bin(out, HASH_SIZE, text + 2, strlen(text + 2), NULL, &len, NULL) == 0 &&
	       len == HASH_SIZE;
}

static void bad(struct verify *v, uint64_t seq, const char *problem)
{
	v->bad_seq = seq;
	v->problem = arena_strdup(rpc_arena(v->call), problem);
}

static void on_head(struct db_query *q, int status, void *data)
{
	struct verify *v = data;
	PGresult *res = db_query_result(q, 0);
	uint8_t h[HASH_SIZE];

	if (status < 0) {
		rpc_fail_db(v->call, status, db_query_error(q));
		return;
	}
	uint64_t head = PQntuples(res) == 1 ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	if (PQntuples(res) != 1 || !read_hash(PQgetvalue(res, 0, 1), h)) {
		bad(v, v->last_seq + 1, "the end of the chain (audit_head) is missing");
	} else if (head > v->last_seq && v->head_seen_at != v->last_seq) {
		/* Entries were added while we read: read them too. */
		v->head_seen_at = v->last_seq;
		verify_next(v);
		return;
	} else if (head > v->last_seq) {
		bad(v, v->last_seq + 1,
		    "the chain's recorded end lies beyond its last entry: entries at the end "
		    "were deleted");
	} else if (head < v->last_seq || memcmp(h, v->last_hash, HASH_SIZE) != 0) {
		bad(v, head + 1 < v->last_seq ? head + 1 : v->last_seq,
		    "the chain's recorded end does not match its last entry "
		    "(entries were removed from the end, or added by hand)");
	}
	verify_reply(v);
}

static void on_page(struct db_query *q, int status, void *data)
{
	struct verify *v = data;
	PGresult *res = db_query_result(q, 0);
	struct buf canon;
	int n;

	if (status < 0) {
		rpc_fail_db(v->call, status, db_query_error(q));
		return;
	}
	n = PQntuples(res);
	buf_init(&canon, 0);
	for (int i = 0; i < n && !v->bad_seq; i++) {
		uint64_t seq = strtoull(PQgetvalue(res, i, 0), NULL, 10);
		uint8_t prev[HASH_SIZE], stored[HASH_SIZE], computed[HASH_SIZE];
		crypto_hash_sha256_state st;

		if (seq != v->last_seq + 1) {
			bad(v, v->last_seq + 1,
			    seq > v->last_seq + 1 ? "this entry is missing (deleted)"
						  : "entries are out of order");
			break;
		}
		if (!read_hash(PQgetvalue(res, i, 7), prev) ||
		    !read_hash(PQgetvalue(res, i, 8), stored)) {
			bad(v, seq, "its hashes are not readable");
			break;
		}
		if (memcmp(prev, v->last_hash, HASH_SIZE) != 0) {
			bad(v, seq,
			    "its link to the previous entry does not match (an entry before it "
			    "was changed, removed or put out of order)");
			break;
		}
		buf_reset(&canon);
		if (audit_canonical(&canon, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				    PQgetvalue(res, i, 4), PQgetvalue(res, i, 2),
				    PQgetvalue(res, i, 3), PQgetvalue(res, i, 5),
				    PQgetvalue(res, i, 6)) < 0) {
			buf_finish(&canon);
			rpc_fail(v->call, -ENOMEM, "out of memory");
			return;
		}
		crypto_hash_sha256_init(&st);
		crypto_hash_sha256_update(&st, prev, HASH_SIZE);
		crypto_hash_sha256_update(&st, canon.data, canon.len);
		crypto_hash_sha256_final(&st, computed);
		if (memcmp(computed, stored, HASH_SIZE) != 0) {
			bad(v, seq, "its contents do not match its hash (it was edited)");
			break;
		}
		memcpy(v->last_hash, stored, HASH_SIZE);
		v->last_seq = seq;
		v->rows++;
	}
	buf_finish(&canon);
	if (v->bad_seq) {
		verify_reply(v);
		return;
	}
	if (n == atoi(VERIFY_PAGE)) {
		verify_next(v);
		return;
	}
	/* The last page: compare with the recorded end of the chain. */
	struct db_query *hq = db_query_create(rpc_server(v->call)->db);
	if (!hq || db_query_add(hq, &audit_stmts[AUDIT_STMT_HEAD], NULL) < 0) {
		db_query_destroy(hq);
		rpc_fail(v->call, -ENOMEM, "out of memory");
		return;
	}
	int r = db_query_submit(hq, rpc_time_left_ms(v->call), on_head, v);
	if (r < 0)
		rpc_fail_db(v->call, r, "");
}

static void verify_next(struct verify *v)
{
	struct db_query *q = db_query_create(rpc_server(v->call)->db);
	int r;

	snprintf(v->after, sizeof(v->after), "%" PRIu64, v->last_seq);
	v->params[0] = v->after;
	if (!q || db_query_add(q, &audit_stmts[AUDIT_STMT_VERIFY_PAGE], v->params) < 0) {
		db_query_destroy(q);
		rpc_fail(v->call, -ENOMEM, "out of memory");
		return;
	}
	r = db_query_submit(q, rpc_time_left_ms(v->call), on_page, v);
	if (r < 0)
		rpc_fail_db(v->call, r, "");
}

void audit_verify(struct rpc_call *call)
{
	struct verify *v = arena_new(rpc_arena(call), struct verify);

	if (!v) {
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	v->call = call;
	v->head_seen_at = UINT64_MAX;
	/* The chain starts from 32 zero bytes (migration 0002). */
	verify_next(v);
}
