#include "config.h"

#include "err.h"

const char *
err_str(int err)
{
	switch (err) {
	case ERR_OK:
		return "success";
	case ERR_INTERNAL:
		return "internal error";
	case ERR_NOMEM:
		return "out of memory";
	case ERR_INVALID:
		return "invalid input";
	case ERR_TOOLONG:
		return "length exceeds its bound";
	case ERR_SHORT:
		return "input ends early";
	case ERR_IO:
		return "input/output error";
	case ERR_TIMEOUT:
		return "deadline passed";
	case ERR_CONFIG:
		return "configuration rejected";
	case ERR_NOTFOUND:
		return "not found";
	case ERR_DENIED:
		return "denied by policy";
	case ERR_TLS:
		return "TLS or X.509 failure";
	case ERR_PERM:
		return "ownership or permission check failed";
	case ERR_PROTO:
		return "protocol violation";
	case ERR_CLOSED:
		return "peer closed the connection";
	case ERR_EXPIRED:
		return "lifetime passed";
	case ERR_FULL:
		return "capacity limit reached";
	default:
		return "unknown error";
	}
}
