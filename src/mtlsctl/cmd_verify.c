#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cmd_verify.h"
#include "err.h"
#include "verify.h"

#define PROG "mtlsctl"
#define VERIFY_MAX_CRLS 64

enum {
	V_VALID = 0,
	V_INVALID = 1,
	V_USAGE = 2,
};

/* The command line of verify, its strings borrowed from argv. */
struct vopts {
	const char *trust;
	const char *untrusted;
	char *crls[VERIFY_MAX_CRLS];
	size_t n_crls;
	time_t at;
	const char *leaf;
	struct trust_opts policy;
};

enum {
	OPT_TRUST = 1000,
	OPT_UNTRUSTED,
	OPT_CRL,
	OPT_AT,
	OPT_PURPOSE,
	OPT_PARTIAL,
	OPT_REQUIRE_CRL,
	OPT_CRL_GRACE,
	OPT_MAX_LIFETIME,
	OPT_CLOCK_SKEW,
};

static void
verify_usage(void)
{
	fprintf(stderr, "usage: " PROG " verify --trust ANCHORS "
	    "[--untrusted CHAIN] [--crl CRL]...\n"
	    "           [--at UNIX-TIME] [--purpose client|any] "
	    "[--partial-chain] [--require-crl]\n"
	    "           [--crl-grace SECONDS] [--max-lifetime SECONDS] "
	    "[--clock-skew SECONDS]\n"
	    "           LEAF.pem\n");
}

/* A whole decimal number within [lo, hi]. */
static int
parse_num(const char *opt, const char *s, long long lo, long long hi,
    long long *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		fprintf(stderr, PROG ": verify: %s wants a number from %lld to "
		    "%lld, not \"%s\"\n", opt, lo, hi, s);
		return ERR_INVALID;
	}
	*out = v;
	return 0;
}

static int
parse_purpose(const char *s, struct trust_opts *p)
{
	if (strcmp(s, "client") == 0) {
		p->any_purpose = 0;
		return 0;
	}
	if (strcmp(s, "any") == 0) {
		p->any_purpose = 1;
		return 0;
	}
	fprintf(stderr, PROG ": verify: --purpose is client or any, not "
	    "\"%s\"\n", s);
	return ERR_INVALID;
}

static int
parse_one(int ch, char *arg, struct vopts *o)
{
	long long v;
	int r;

	switch (ch) {
	case OPT_TRUST:
		o->trust = arg;
		return 0;
	case OPT_UNTRUSTED:
		o->untrusted = arg;
		return 0;
	case OPT_CRL:
		if (o->n_crls == VERIFY_MAX_CRLS) {
			fprintf(stderr, PROG ": verify: at most %d --crl\n",
			    VERIFY_MAX_CRLS);
			return ERR_INVALID;
		}
		o->crls[o->n_crls++] = arg;
		return 0;
	case OPT_AT:
		if ((r = parse_num("--at", arg, 1, LLONG_MAX, &v)) != 0)
			return r;
		o->at = (time_t)v;
		return 0;
	case OPT_PURPOSE:
		return parse_purpose(arg, &o->policy);
	case OPT_PARTIAL:
		o->policy.partial_chain = 1;
		return 0;
	case OPT_REQUIRE_CRL:
		o->policy.require_crl = 1;
		return 0;
	case OPT_CRL_GRACE:
	case OPT_MAX_LIFETIME:
	case OPT_CLOCK_SKEW:
		if ((r = parse_num(ch == OPT_CRL_GRACE ? "--crl-grace" :
		    ch == OPT_MAX_LIFETIME ? "--max-lifetime" : "--clock-skew",
		    arg, 0, LONG_MAX, &v)) != 0)
			return r;
		if (ch == OPT_CRL_GRACE)
			o->policy.crl_grace = (long)v;
		else if (ch == OPT_MAX_LIFETIME)
			o->policy.max_lifetime = (long)v;
		else
			o->policy.clock_skew = (long)v;
		return 0;
	default:
		return ERR_INVALID;
	}
}

static int
parse_verify(int argc, char **argv, struct vopts *o)
{
	static const struct option longopts[] = {
		{ "trust", required_argument, NULL, OPT_TRUST },
		{ "untrusted", required_argument, NULL, OPT_UNTRUSTED },
		{ "crl", required_argument, NULL, OPT_CRL },
		{ "at", required_argument, NULL, OPT_AT },
		{ "purpose", required_argument, NULL, OPT_PURPOSE },
		{ "partial-chain", no_argument, NULL, OPT_PARTIAL },
		{ "require-crl", no_argument, NULL, OPT_REQUIRE_CRL },
		{ "crl-grace", required_argument, NULL, OPT_CRL_GRACE },
		{ "max-lifetime", required_argument, NULL, OPT_MAX_LIFETIME },
		{ "clock-skew", required_argument, NULL, OPT_CLOCK_SKEW },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	/* 0 makes glibc's getopt start afresh on this argv. */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (ch == ':') {
			fprintf(stderr, PROG ": verify: option needs an "
			    "argument: %s\n", argv[optind - 1]);
			return ERR_INVALID;
		}
		if (ch == '?') {
			fprintf(stderr, PROG ": verify: unknown option %s\n",
			    argv[optind - 1]);
			return ERR_INVALID;
		}
		if (parse_one(ch, optarg, o) != 0)
			return ERR_INVALID;
	}
	if (o->trust == NULL) {
		fprintf(stderr, PROG ": verify: --trust ANCHORS is required\n");
		return ERR_INVALID;
	}
	if (argc - optind != 1) {
		fprintf(stderr, PROG ": verify: one LEAF.pem expected\n");
		return ERR_INVALID;
	}
	o->leaf = argv[optind];
	return 0;
}

/* The certificates of path: the first into *leaf, the rest (the chain a
 * client would send) into *chain. Both owned by the caller. */
static int
read_leaf(const char *path, X509 **leaf, STACK_OF(X509) **chain)
{
	BIO *bio = NULL;
	X509 *x = NULL;
	int r = ERR_INVALID;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		fprintf(stderr, PROG ": verify: %s: cannot open: %s\n", path,
		    strerror(errno));
		goto out;
	}
	if ((*leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		fprintf(stderr, PROG ": verify: %s: no PEM certificate\n",
		    path);
		goto out;
	}
	if ((*chain = sk_X509_new_null()) == NULL)
		goto nomem;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(*chain, x))
			goto nomem;
		x = NULL;
	}
	r = 0;
	goto out;
nomem:
	fprintf(stderr, PROG ": verify: out of memory\n");
out:
	X509_free(x);
	ERR_clear_error();
	BIO_free(bio);
	return r;
}

int
cmd_verify(int argc, char **argv)
{
	struct vopts o;
	struct trust *t = NULL;
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	char err[1024] = "", reason[256] = "";
	int rc = V_USAGE;

	memset(&o, 0, sizeof(o));
	if (parse_verify(argc, argv, &o) != 0) {
		verify_usage();
		return V_USAGE;
	}
	if (trust_load_opts(o.trust, o.untrusted, o.crls, o.n_crls, &o.policy,
	    &t, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": verify: %s\n", err);
		goto out;
	}
	if (read_leaf(o.leaf, &leaf, &chain) != 0)
		goto out;
	if (trust_verify(t, leaf, chain, o.at, reason, sizeof(reason)) != 0) {
		printf("%s: refused: %s\n", o.leaf, reason);
		rc = V_INVALID;
		goto out;
	}
	printf("%s: OK\n", o.leaf);
	rc = V_VALID;
out:
	if (fflush(stdout) != 0)
		rc = V_USAGE;
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	trust_free(&t);
	return rc;
}
