/* Idempotency keys for writes (rpc_submit). A write whose request carries
 * an idempotency_key runs as an interactive transaction:
 *
 *   idempotency_begin(principal, key, method, hash of the call)  -- first
 *   the handler's statements
 *   ... the handler builds its result from theirs and calls rpc_reply ...
 *   the packed result is stored with the key; COMMIT; then the reply.
 *
 * A retry finds the key: idempotency_begin raises GR208 before any of the
 * handler's statements run, and the stored result is sent again; a key
 * reused for another request raises GR409. Concurrent twins wait on the
 * key's row and see the first one's result once it commits. A failed write
 * stores nothing (its transaction rolls back), so retrying it runs it again.
 * Keys older than a day are removed by idem_expire (the case sweeper).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server/auth/auth.h"
#include "server/db/pool.h"
#include "server/rpc/rpc.h"
#include "server/rpc/rpc_private.h"
#include "server/server.h"

enum idem_stmt {
	IDEM_STMT_BEGIN,
	IDEM_STMT_STORE,
	IDEM_STMT_FETCH,
	IDEM_STMT_EXPIRE,
	IDEM_STMT_COUNT,
};

static struct db_stmt idem_stmts[IDEM_STMT_COUNT] = {
    [IDEM_STMT_BEGIN] = {"idem_begin", "SELECT idempotency_begin($1, $2, $3, $4)", 4, 0},
    [IDEM_STMT_STORE] = {"idem_store",
			 "UPDATE idempotency SET result = $3 WHERE principal = $1 AND key = $2", 3,
			 0},
    [IDEM_STMT_FETCH] = {"idem_fetch",
			 "SELECT result FROM idempotency WHERE principal = $1 AND key = $2", 2, 0},
    [IDEM_STMT_EXPIRE] = {"idem_expire",
			  "DELETE FROM idempotency WHERE ctid IN (SELECT ctid FROM idempotency "
			  "WHERE created_at < now() - interval '24 hours' LIMIT 1000)",
			  0, 0},
};

struct idem {
	struct db_query *q; /* the interactive transaction */
	db_query_cb cb;	    /* the handler's */
	void *data;
	const char *params[4]; /* principal, key, method, hash */
	const char *store[3];
	void (*after)(void *); /* rpc_after_commit's */
	void *after_data;
	bool in_callback; /* the handler may reply now */
	bool *finished;	  /* set when the handler replied or failed */
};

int idem_start(struct server *srv)
{
	return db_pool_register(srv->db, idem_stmts, IDEM_STMT_COUNT);
}

static const ProtobufCFieldDescriptor *result_field(const struct rpc_call *call)
{
	return protobuf_c_message_descriptor_get_field(&grid__v1__reply__descriptor,
						       (unsigned)call->method->call);
}

void rpc_reply_bytea(struct rpc_call *call, const char *bytea)
{
	const ProtobufCFieldDescriptor *f = result_field(call);
	size_t len = 0, hexlen = strlen(bytea);
	uint8_t *bin;
	void *msg;

	if (hexlen < 2 || strncmp(bytea, "\\x", 2) != 0 || !f) {
		rpc_fail(call, -EIO, "the stored reply of this idempotency key is unreadable");
		return;
	}
	bin = arena_alloc(&call->arena, hexlen / 2 + 1);
	if (!bin ||
	    sodium_hex2bin(bin, hexlen / 2 + 1, bytea + 2, hexlen - 2, NULL, &len, NULL) < 0) {
		rpc_fail(call, -EIO, "the stored reply of this idempotency key is unreadable");
		return;
	}
	msg = protobuf_c_message_unpack(f->descriptor, arena_allocator(&call->arena), len, bin);
	if (!msg) {
		rpc_fail(call, -EIO, "the stored reply of this idempotency key is unreadable");
		return;
	}
	rpc_reply_now(call, msg);
}

static void on_fetched(struct db_query *q, int status, void *data)
{
	struct rpc_call *call = data;
	PGresult *res = db_query_result(q, 0);

	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		/* The first request's transaction committed without a result:
		 * cannot happen, the result is stored before its COMMIT. */
		rpc_fail(call, -EIO, "the first request with this idempotency key left no reply");
		return;
	}
	rpc_reply_bytea(call, PQgetvalue(res, 0, 0));
}

static void on_committed(struct db_query *q, int status, void *data)
{
	struct rpc_call *call = data;
	struct idem *id = call->idem;

	call->idem = NULL;
	if (status < 0) {
		rpc_fail_db(call, status, db_query_error(q));
		return;
	}
	if (id->after)
		id->after(id->after_data);
	/* The reply is the stored bytes, so the first reply and a retry's
	 * are the same. */
	rpc_reply_bytea(call, id->store[2]);
}

static void on_first_part(struct db_query *q, int status, void *data)
{
	struct rpc_call *call = data;
	struct idem *id = call->idem;

	if (status < 0 && strcmp(db_query_sqlstate(q), "GR208") == 0) {
		/* Seen before: answer what was answered then. */
		call->idem = NULL;
		struct db_query *fq = db_query_create(call->srv->db);
		if (!fq || db_query_add(fq, &idem_stmts[IDEM_STMT_FETCH], id->params) < 0) {
			db_query_destroy(fq);
			rpc_fail(call, -ENOMEM, "out of memory");
			return;
		}
		int r = db_query_submit(fq, rpc_time_left_ms(call), on_fetched, call);
		if (r < 0)
			rpc_fail_db(call, r, "");
		return;
	}
	if (status < 0) {
		/* Rolled back already; the handler reports the error. */
		call->idem = NULL;
		id->cb(q, status, id->data);
		return;
	}
	/* The handler ends the call in its callback; after rpc_fail the call
	 * (and id with it) is gone, so only the flag on the stack is read. */
	bool finished = false;
	id->finished = &finished;
	id->in_callback = true;
	id->cb(q, 0, id->data);
	if (!finished) {
		/* The handler went on asynchronously: its transaction cannot
		 * wait for it. The pool rolls it back after this returns. */
		id->in_callback = false;
		id->finished = NULL;
		call->idem = NULL;
		rpc_fail(call, -EIO, "internal error: an idempotent write did not finish in time");
	}
}

/* result packed, as bytea text in the call's arena; NULL when out of memory. */
static const char *result_bytea(struct rpc_call *call, const void *result)
{
	size_t len = protobuf_c_message_get_packed_size(result), hexlen = 2 * len + 3;
	uint8_t *packed = arena_alloc(&call->arena, len + 1);
	char *hex = arena_alloc(&call->arena, hexlen);

	if (!packed || !hex)
		return NULL;
	protobuf_c_message_pack(result, packed);
	hex[0] = '\\';
	hex[1] = 'x';
	sodium_bin2hex(hex + 2, hexlen - 2, packed, len);
	return hex;
}

bool idem_reply(struct rpc_call *call, void *result)
{
	struct idem *id = call->idem;
	const char *hex;

	if (!id->in_callback || !result || !result_field(call))
		return false;
	id->in_callback = false;
	*id->finished = true;
	hex = result_bytea(call, result);
	if (!hex) {
		call->idem = NULL;
		db_query_rollback(id->q, NULL, NULL);
		rpc_fail(call, -ENOMEM, "out of memory");
		return true;
	}
	id->store[0] = id->params[0];
	id->store[1] = id->params[1];
	id->store[2] = hex;
	if (db_query_add(id->q, &idem_stmts[IDEM_STMT_STORE], id->store) < 0 ||
	    db_query_commit(id->q, on_committed, call) < 0) {
		call->idem = NULL;
		db_query_rollback(id->q, NULL, NULL);
		rpc_fail(call, -ENOMEM, "out of memory");
	}
	return true;
}

void rpc_after_commit(struct rpc_call *call, void (*fn)(void *data), void *data)
{
	struct idem *id = call->idem;

	if (id && id->in_callback) {
		id->after = fn;
		id->after_data = data;
		return;
	}
	fn(data);
}

void idem_abandon(struct rpc_call *call)
{
	struct idem *id = call->idem;

	call->idem = NULL;
	if (id->in_callback) {
		id->in_callback = false;
		*id->finished = true;
		db_query_rollback(id->q, NULL, NULL);
	}
}

/* SHA-256 of the call's own message: the same request packs the same. */
const char *rpc_request_hash(struct rpc_call *call)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
	    &grid__v1__request__descriptor, (unsigned)call->method->call);
	const ProtobufCMessage *m =
	    *(ProtobufCMessage *const *)((const char *)call->req + f->offset);
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *packed = arena_alloc(&call->arena, len + 1), hash[32];
	char *hex = arena_alloc(&call->arena, 2 * sizeof(hash) + 3);

	if (!packed || !hex)
		return NULL;
	protobuf_c_message_pack(m, packed);
	crypto_hash_sha256(hash, packed, len);
	hex[0] = '\\';
	hex[1] = 'x';
	sodium_bin2hex(hex + 2, 2 * sizeof(hash) + 1, hash, sizeof(hash));
	return hex;
}

void rpc_submit(struct rpc_call *call, struct db_query *q, db_query_cb cb, void *data)
{
	const char *key = call->req->idempotency_key;
	struct idem *id;
	int r;

	if (!*key || !(call->method->flags & RPC_WRITE)) {
		r = db_query_submit(q, rpc_time_left_ms(call), cb, data);
		if (r < 0)
			rpc_fail_db(call, r, "");
		return;
	}
	if (strlen(key) > RPC_IDEM_KEY_MAX) {
		db_query_destroy(q);
		rpc_fail(call, -EINVAL, "an idempotency key has at most %d characters",
			 RPC_IDEM_KEY_MAX);
		return;
	}
	id = arena_new(&call->arena, struct idem);
	if (!id) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	id->q = q;
	id->cb = cb;
	id->data = data;
	id->params[0] = auth_actor(auth_principal(call));
	id->params[1] = key;
	id->params[2] = call->method->name;
	id->params[3] = rpc_request_hash(call);
	if (!id->params[3] || db_query_add_first(q, &idem_stmts[IDEM_STMT_BEGIN], id->params) < 0) {
		db_query_destroy(q);
		rpc_fail(call, -ENOMEM, "out of memory");
		return;
	}
	db_query_set_interactive(q);
	call->idem = id;
	r = db_query_submit(q, rpc_time_left_ms(call), on_first_part, call);
	if (r < 0) {
		call->idem = NULL;
		rpc_fail_db(call, r, "");
	}
}

void idem_expire(struct server *srv)
{
	struct db_query *q = db_query_create(srv->db);

	/* Fire and forget: a failure now is retried at the next sweep. */
	if (!q || db_query_add(q, &idem_stmts[IDEM_STMT_EXPIRE], NULL) < 0) {
		db_query_destroy(q);
		return;
	}
	db_query_submit(q, 0, NULL, NULL);
}
