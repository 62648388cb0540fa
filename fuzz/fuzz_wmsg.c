/* Fuzz target: the worker-link message codec.
 *
 * Targets wmsg_decode (with buf_new, buf_put, buf_get_u8/u16/u32/cstring
 * underneath), wmsg_encode, wmsg_clear and ident_free on a decoded ident.
 * The input is one datagram. A message decoded from it must encode back
 * to exactly the input's bytes (one wire form per message), and those
 * bytes must decode again; a failed decode leaves the message zeroed and
 * says why with one of the documented codes. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "wmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
is_zero(const struct wmsg *m)
{
	static const struct wmsg zero;

	return memcmp(m, &zero, sizeof(zero)) == 0;
}

static void
check_roundtrip(const uint8_t *data, size_t size, const struct wmsg *m)
{
	struct wmsg again;
	struct buf *b = NULL;

	if ((b = buf_new(WMSG_MAX)) == NULL)
		abort();
	if (wmsg_encode(b, m) != 0 || buf_avail(b) != size ||
	    memcmp(buf_ptr(b), data, size) != 0)
		abort();
	if (wmsg_decode(buf_ptr(b), buf_avail(b), &again) != 0 ||
	    again.type != m->type)
		abort();
	wmsg_clear(&again);
	if (!is_zero(&again))
		abort();
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wmsg m;
	int r;

	memset(&m, 0xa5, sizeof(m));
	r = wmsg_decode(data, size, &m);
	if (r != 0) {
		if (!is_zero(&m))
			abort();
		if (r != ERR_PROTO && r != ERR_TOOLONG && r != ERR_NOMEM)
			abort();
		if ((r == ERR_TOOLONG) != (size > WMSG_MAX))
			abort();
		return 0;
	}
	if (size == 0 || size > WMSG_MAX)
		abort();
	check_roundtrip(data, size, &m);
	if (m.type == WMSG_ISSUED)
		(void)wmsg_result_str(m.u.issued.result);
	wmsg_clear(&m);
	return 0;
}
