/* policy_bench: the median time of one policy decision for policies of
 * 10, 1,000, 10,000 and 100,000 rules, loaded by config_load (so the
 * index is the one the daemon builds), beside the same decision with the
 * index dropped (every rule evaluated).
 *
 *   bench/policy_bench [ROUNDS]      (default 1001 decisions per size)
 *
 * The rules are what a fleet writes: one per person by subject, some by
 * SAN email or fingerprint, and a few by subject attributes (those have
 * no exact key and are evaluated for every decision). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "ident.h"
#include "policy.h"

#define N_ATTR_RULES 5

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* A config of n rules in a new temporary file; *path owned by the caller. */
static int
write_rules(size_t n, char *path, size_t pathlen)
{
	FILE *f;
	size_t i;
	int fd;

	snprintf(path, pathlen, "/tmp/policy_bench.XXXXXX");
	if ((fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w")) == NULL)
		return -1;
	fprintf(f, "tls = { certificate = \"c\"; private_key = \"k\"; "
	    "trust_anchors = \"a\"; };\nrules = (\n");
	for (i = 0; i < n; i++) {
		fprintf(f, "%s { name = \"r%zu\"; ", i == 0 ? "" : ",", i);
		if (i < N_ATTR_RULES && n > N_ATTR_RULES)
			fprintf(f, "subject_attrs = { O = \"Example\"; "
			    "OU = \"team%zu\"; }; ", i);
		else if (i % 10 == 1)
			fprintf(f, "san_email = \"u%zu@example.org\"; ", i);
		else if (i % 10 == 2)
			fprintf(f, "fingerprint = \"sha256:%064zx\"; ", i);
		else
			fprintf(f, "subject = \"CN=u%zu,OU=ops,O=Example\"; ", i);
		fprintf(f, "users = [ \"%%{cn}\", \"admin\" ]; "
		    "services = [ \"sshd\" ]; from = [ \"10.0.0.0/8\" ]; }\n");
	}
	fprintf(f, ");\n");
	return fclose(f) == 0 ? 0 : -1;
}

/* Median ns of rounds decisions for a certificate that the rule in the
 * middle of the policy grants. */
static double
median_decision(const struct policy *p, size_t n, unsigned rounds,
    size_t *evaluated)
{
	struct ident id;
	struct ident_ava avas[3] = { { "O", "Example" }, { "OU", "ops" },
	    { "CN", NULL } };
	struct policy_ctx ctx = { .user = "admin", .check_service = 1,
	    .service = "sshd", .check_addr = 1, .addr = "10.1.2.3" };
	struct decision d;
	char subject[64], cn[32];
	double *t, m;
	size_t mid = n / 2;
	unsigned i;

	/* A subject rule: mid's remainder by 10 is neither 1 nor 2. */
	while (mid % 10 == 1 || mid % 10 == 2 || mid < N_ATTR_RULES)
		mid++;
	snprintf(subject, sizeof(subject), "CN=u%zu,OU=ops,O=Example", mid);
	snprintf(cn, sizeof(cn), "u%zu", mid);
	avas[2].value = cn;
	memset(&id, 0, sizeof(id));
	id.subject = subject;
	id.issuer = "CN=Example Root,O=Example";
	id.serial = "0102";
	snprintf(id.fingerprint, sizeof(id.fingerprint), "sha256:%064x", 0);
	id.avas = avas;
	id.n_avas = 3;
	if ((t = calloc(rounds, sizeof(*t))) == NULL)
		return -1;
	for (i = 0; i < rounds; i++) {
		double t0 = now_ns();

		if (policy_decide(p, &id, &ctx, &d) != 0) {
			fprintf(stderr, "policy_bench: not granted: %s\n",
			    d.reason);
			free(t);
			return -1;
		}
		t[i] = now_ns() - t0;
	}
	*evaluated = d.n_evaluated;
	qsort(t, rounds, sizeof(*t), cmp_double);
	m = t[rounds / 2];
	free(t);
	return m;
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 10, 1000, 10000, 100000 };
	struct config *c = NULL;
	struct policy_index *ix;
	char path[64], err[1024];
	unsigned rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1001;
	size_t i, ev_ix = 0, ev_scan = 0;
	double a, b;

	if (rounds == 0)
		rounds = 1;
	printf("%8s %14s %10s %16s %10s\n", "rules", "indexed (ns)",
	    "evaluated", "no index (ns)", "evaluated");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (write_rules(sizes[i], path, sizeof(path)) != 0) {
			perror("policy_bench: temporary file");
			return 1;
		}
		if (config_load(path, &c, err, sizeof(err)) != 0) {
			fprintf(stderr, "policy_bench: %s\n", err);
			unlink(path);
			return 1;
		}
		unlink(path);
		a = median_decision(&c->policy, sizes[i], rounds, &ev_ix);
		/* The same policy with every rule evaluated. */
		ix = c->policy.index;
		c->policy.index = NULL;
		b = median_decision(&c->policy, sizes[i],
		    rounds / 10 > 0 ? rounds / 10 : 1, &ev_scan);
		c->policy.index = ix;
		config_free(&c);
		if (a < 0 || b < 0)
			return 1;
		printf("%8zu %14.0f %10zu %16.0f %10zu\n", sizes[i], a, ev_ix,
		    b, ev_scan);
	}
	return 0;
}
