/* The errno <-> status mapping: every errno the server uses lands on the
 * documented code, codes map back to an errno that maps to them again, and
 * names match the proto's. */
#include <errno.h>

#include "common/status.h"
#include "tests/harness/test.h"

TEST(errno_to_code)
{
	ASSERT_EQ_INT(status_from_errno(0), GRID__V1__CODE__CODE_OK);
	ASSERT_EQ_INT(status_from_errno(-EINVAL), GRID__V1__CODE__CODE_INVALID_ARGUMENT);
	ASSERT_EQ_INT(status_from_errno(-ENOENT), GRID__V1__CODE__CODE_NOT_FOUND);
	ASSERT_EQ_INT(status_from_errno(-EEXIST), GRID__V1__CODE__CODE_ALREADY_EXISTS);
	ASSERT_EQ_INT(status_from_errno(-EACCES), GRID__V1__CODE__CODE_PERMISSION_DENIED);
	ASSERT_EQ_INT(status_from_errno(-EPERM), GRID__V1__CODE__CODE_PERMISSION_DENIED);
	ASSERT_EQ_INT(status_from_errno(-ENOKEY), GRID__V1__CODE__CODE_UNAUTHENTICATED);
	ASSERT_EQ_INT(status_from_errno(-EMSGSIZE), GRID__V1__CODE__CODE_RESOURCE_EXHAUSTED);
	ASSERT_EQ_INT(status_from_errno(-EUSERS), GRID__V1__CODE__CODE_RESOURCE_EXHAUSTED);
	ASSERT_EQ_INT(status_from_errno(-EBUSY), GRID__V1__CODE__CODE_FAILED_PRECONDITION);
	ASSERT_EQ_INT(status_from_errno(-ELOOP), GRID__V1__CODE__CODE_FAILED_PRECONDITION);
	ASSERT_EQ_INT(status_from_errno(-ENOTEMPTY), GRID__V1__CODE__CODE_FAILED_PRECONDITION);
	ASSERT_EQ_INT(status_from_errno(-EAGAIN), GRID__V1__CODE__CODE_UNAVAILABLE);
	ASSERT_EQ_INT(status_from_errno(-ECONNREFUSED), GRID__V1__CODE__CODE_UNAVAILABLE);
	ASSERT_EQ_INT(status_from_errno(-ETIMEDOUT), GRID__V1__CODE__CODE_DEADLINE_EXCEEDED);
	ASSERT_EQ_INT(status_from_errno(-ENOSYS), GRID__V1__CODE__CODE_UNIMPLEMENTED);
	ASSERT_EQ_INT(status_from_errno(-EIO), GRID__V1__CODE__CODE_INTERNAL);
	/* Anything unexpected is INTERNAL, never OK. */
	ASSERT_EQ_INT(status_from_errno(-EXDEV), GRID__V1__CODE__CODE_INTERNAL);
	ASSERT_EQ_INT(status_from_errno(-12345), GRID__V1__CODE__CODE_INTERNAL);
}

TEST(code_round_trip)
{
	/* Every code maps to an errno that maps back to the same code, except
	 * the few that collapse into INTERNAL. */
	for (int code = 0; code <= 16; code++) {
		int err = status_to_errno((status_code)code);
		status_code back = status_from_errno(err);
		if (code == GRID__V1__CODE__CODE_UNKNOWN || code == GRID__V1__CODE__CODE_DATA_LOSS)
			ASSERT_EQ_INT(back, GRID__V1__CODE__CODE_INTERNAL);
		else
			ASSERT_MSG(back == (status_code)code, "code %d -> errno %d -> code %d",
				   code, err, (int)back);
		if (code != 0)
			ASSERT(err < 0);
	}
}

TEST(names_match_proto)
{
	for (int code = 0; code <= 16; code++) {
		const ProtobufCEnumValue *v =
		    protobuf_c_enum_descriptor_get_value(&grid__v1__code__descriptor, code);
		ASSERT_NOT_NULL(v);
		/* The proto names are CODE_<NAME>. */
		ASSERT_EQ_STR(status_name((status_code)code), v->name + 5);
	}
	ASSERT_EQ_STR(status_name((status_code)99), "UNKNOWN");
}

TEST(only_unavailable_is_retryable)
{
	for (int code = 0; code <= 16; code++)
		ASSERT_EQ_INT(status_is_retryable((status_code)code),
			      code == GRID__V1__CODE__CODE_UNAVAILABLE);
}
