/* errno <-> status code mapping; see status.h. */
#include "common/status.h"

#include <errno.h>

status_code status_from_errno(int err)
{
	switch (err) {
	case 0:
		return GRID__V1__CODE__CODE_OK;
	case -EINVAL:
	case -EPROTO:
	case -EBADMSG:
	case -EILSEQ:
	case -E2BIG:
	case -ERANGE:
		return GRID__V1__CODE__CODE_INVALID_ARGUMENT;
	case -ENOENT:
		return GRID__V1__CODE__CODE_NOT_FOUND;
	case -EEXIST:
		return GRID__V1__CODE__CODE_ALREADY_EXISTS;
	case -EACCES:
	case -EPERM:
		return GRID__V1__CODE__CODE_PERMISSION_DENIED;
	case -ENOKEY:
	case -EKEYEXPIRED:
	case -EKEYREVOKED:
		return GRID__V1__CODE__CODE_UNAUTHENTICATED;
	case -ENOMEM:
	case -ENOBUFS:
	case -EMSGSIZE:
	case -EMFILE:
	case -EUSERS:
		return GRID__V1__CODE__CODE_RESOURCE_EXHAUSTED;
	case -EBUSY:
	case -ENOTEMPTY:
	case -ELOOP:
	case -ESTALE:
	case -EALREADY:
		return GRID__V1__CODE__CODE_FAILED_PRECONDITION;
	case -ECONNABORTED:
		return GRID__V1__CODE__CODE_ABORTED;
	case -EDOM:
		return GRID__V1__CODE__CODE_OUT_OF_RANGE;
	case -ENOSYS:
	case -EOPNOTSUPP:
		return GRID__V1__CODE__CODE_UNIMPLEMENTED;
	case -EAGAIN:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ENOTCONN:
	case -EPIPE:
	case -ESHUTDOWN:
	case -EHOSTUNREACH:
		return GRID__V1__CODE__CODE_UNAVAILABLE;
	case -ETIMEDOUT:
		return GRID__V1__CODE__CODE_DEADLINE_EXCEEDED;
	case -ECANCELED:
		return GRID__V1__CODE__CODE_CANCELLED;
	default:
		return GRID__V1__CODE__CODE_INTERNAL;
	}
}

int status_to_errno(status_code code)
{
	switch (code) {
	case GRID__V1__CODE__CODE_OK:
		return 0;
	case GRID__V1__CODE__CODE_CANCELLED:
		return -ECANCELED;
	case GRID__V1__CODE__CODE_INVALID_ARGUMENT:
		return -EINVAL;
	case GRID__V1__CODE__CODE_DEADLINE_EXCEEDED:
		return -ETIMEDOUT;
	case GRID__V1__CODE__CODE_NOT_FOUND:
		return -ENOENT;
	case GRID__V1__CODE__CODE_ALREADY_EXISTS:
		return -EEXIST;
	case GRID__V1__CODE__CODE_PERMISSION_DENIED:
		return -EACCES;
	case GRID__V1__CODE__CODE_RESOURCE_EXHAUSTED:
		return -ENOBUFS;
	case GRID__V1__CODE__CODE_FAILED_PRECONDITION:
		return -EBUSY;
	case GRID__V1__CODE__CODE_ABORTED:
		return -ECONNABORTED;
	case GRID__V1__CODE__CODE_OUT_OF_RANGE:
		return -EDOM;
	case GRID__V1__CODE__CODE_UNIMPLEMENTED:
		return -ENOSYS;
	case GRID__V1__CODE__CODE_UNAVAILABLE:
		return -EAGAIN;
	case GRID__V1__CODE__CODE_UNAUTHENTICATED:
		return -ENOKEY;
	case GRID__V1__CODE__CODE_UNKNOWN:
	case GRID__V1__CODE__CODE_INTERNAL:
	case GRID__V1__CODE__CODE_DATA_LOSS:
	default:
		return -EIO;
	}
}

const char *status_name(status_code code)
{
	switch (code) {
	case GRID__V1__CODE__CODE_OK:
		return "OK";
	case GRID__V1__CODE__CODE_CANCELLED:
		return "CANCELLED";
	case GRID__V1__CODE__CODE_UNKNOWN:
		return "UNKNOWN";
	case GRID__V1__CODE__CODE_INVALID_ARGUMENT:
		return "INVALID_ARGUMENT";
	case GRID__V1__CODE__CODE_DEADLINE_EXCEEDED:
		return "DEADLINE_EXCEEDED";
	case GRID__V1__CODE__CODE_NOT_FOUND:
		return "NOT_FOUND";
	case GRID__V1__CODE__CODE_ALREADY_EXISTS:
		return "ALREADY_EXISTS";
	case GRID__V1__CODE__CODE_PERMISSION_DENIED:
		return "PERMISSION_DENIED";
	case GRID__V1__CODE__CODE_RESOURCE_EXHAUSTED:
		return "RESOURCE_EXHAUSTED";
	case GRID__V1__CODE__CODE_FAILED_PRECONDITION:
		return "FAILED_PRECONDITION";
	case GRID__V1__CODE__CODE_ABORTED:
		return "ABORTED";
	case GRID__V1__CODE__CODE_OUT_OF_RANGE:
		return "OUT_OF_RANGE";
	case GRID__V1__CODE__CODE_UNIMPLEMENTED:
		return "UNIMPLEMENTED";
	case GRID__V1__CODE__CODE_INTERNAL:
		return "INTERNAL";
	case GRID__V1__CODE__CODE_UNAVAILABLE:
		return "UNAVAILABLE";
	case GRID__V1__CODE__CODE_DATA_LOSS:
		return "DATA_LOSS";
	case GRID__V1__CODE__CODE_UNAUTHENTICATED:
		return "UNAUTHENTICATED";
	default:
		return "UNKNOWN";
	}
}

int status_is_retryable(status_code code)
{
	return code == GRID__V1__CODE__CODE_UNAVAILABLE;
}
