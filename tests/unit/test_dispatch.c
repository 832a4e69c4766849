/* The dispatch table against the protocol: every call in Request has a
 * method, every method's result sits in Reply under the same number and
 * name, and no number is used twice. A call added to rpc.proto without a
 * handler fails here. */
#include "proto/rpc.pb-c.h"
#include "server/rpc/rpc.h"
#include "tests/harness/test.h"

TEST(table_matches_reply)
{
	char err[256] = "";

	ASSERT_MSG(rpc_check_table(err, sizeof(err)) == 0, "%s", err);
}

TEST(every_call_has_a_method)
{
	const ProtobufCMessageDescriptor *d = &grid__v1__request__descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		bool found = false;
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		for (size_t m = 0; m < rpc_nmethods; m++)
			found |= (unsigned)rpc_methods[m].call == f->id;
		ASSERT_MSG(found, "Request.%s (field %u) has no entry in the dispatch table",
			   f->name, f->id);
	}
}

TEST(only_hello_comes_before_hello)
{
	for (size_t m = 0; m < rpc_nmethods; m++) {
		bool before = rpc_methods[m].flags & RPC_BEFORE_HELLO;
		ASSERT_MSG(before == (rpc_methods[m].call == GRID__V1__REQUEST__CALL_HELLO),
			   "%s: RPC_BEFORE_HELLO", rpc_methods[m].name);
	}
}
