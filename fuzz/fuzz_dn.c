/* Fuzz target: RFC 4514 normalisation.
 *
 * Targets dn_normalize, and dn_attr_type through it. Normalising is
 * idempotent: the output, normalised again, gives the same string (two
 * DNs are compared by their canonical forms, so a form that moved again
 * would make equal DNs differ). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = NULL, *out = NULL, *again = NULL;
	int r;

	/* Config strings are C strings: a NUL ends them. */
	if (size > 16 * 1024 || memchr(data, '\0', size) != NULL)
		return 0;
	if ((in = malloc(size + 1)) == NULL)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';
	r = dn_normalize(in, &out);
	if (r == 0) {
		if (out == NULL || out[0] == '\0')
			abort();
		if (dn_normalize(out, &again) != 0 || strcmp(again, out) != 0)
			abort();
	} else if (out != NULL || (r != ERR_INVALID && r != ERR_NOMEM)) {
		abort();
	}
	free(again);
	free(out);
	free(in);
	return 0;
}
