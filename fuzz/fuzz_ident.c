/* Fuzz target: identity extraction from a DER certificate.
 *
 * Targets ident_from_x509 (dn_from_name, the serial, the fingerprint,
 * the subjectAltNames, the subject's AVAs, the certificate policies) and
 * ident_free, on whatever d2i_X509 accepts. An identity must be complete,
 * and its subject and issuer must already be in dn_normalize's form: the
 * strings a rule is compared with are the ones a rule can be written as. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A canonical DN normalises to itself ("" is no DN at all). */
static void
check_dn(const char *dn)
{
	char *again = NULL;

	if (dn == NULL)
		abort();
	if (dn[0] == '\0')
		return;
	if (dn_normalize(dn, &again) != 0 || strcmp(again, dn) != 0)
		abort();
	free(again);
}

static void
check_strv(char *const *v, size_t n)
{
	size_t i;

	if (n > 0 && v == NULL)
		abort();
	for (i = 0; i < n; i++) {
		if (v[i] == NULL)
			abort();
	}
}

static void
check_ident(const struct ident *id)
{
	size_t i;

	check_dn(id->subject);
	check_dn(id->issuer);
	if (id->serial == NULL || id->serial[0] == '\0' ||
	    strlen(id->fingerprint) != IDENT_FPR_LEN ||
	    strncmp(id->fingerprint, "sha256:", 7) != 0)
		abort();
	check_strv(id->san_email, id->n_san_email);
	check_strv(id->san_dns, id->n_san_dns);
	check_strv(id->san_uri, id->n_san_uri);
	check_strv(id->policy_oids, id->n_policy_oids);
	if (id->n_avas > 0 && id->avas == NULL)
		abort();
	for (i = 0; i < id->n_avas; i++) {
		if (id->avas[i].type == NULL || id->avas[i].value == NULL)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	struct ident *id = NULL;
	X509 *x = NULL;
	int r;

	if (size > 64 * 1024 || (x = d2i_X509(NULL, &p, (long)size)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	r = ident_from_x509(x, &id);
	if (r == 0) {
		if (id == NULL)
			abort();
		check_ident(id);
	} else if (id != NULL || (r != ERR_INVALID && r != ERR_NOMEM)) {
		abort();
	}
	ident_free(&id);
	X509_free(x);
	/* The queue keeps error data across runs, which would make
	 * libFuzzer look for leaks after every input. */
	ERR_clear_error();
	return 0;
}
