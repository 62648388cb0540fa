/* ticket_mem: memory held per outstanding ticket, measured in a process
 * of its own per case: 100,000 tickets of one certificate, and 100 each
 * of 1,000 certificates issued round-robin. Each grant is made as the
 * daemon makes it (an ident from the certificate, then ticket_grant_new,
 * then tstore_issue with lifetime 600 into a store for 1,000,000), so the
 * numbers include the store's tables and its sharing of idents.
 *
 *   bench/ticket_mem [CERT.pem]
 *
 * CERT.pem: the certificate of the first case (default: one made here,
 * with the subject, SANs and CA issuer a fleet certificate has). The
 * second case always makes its own 1,000.
 *
 * heap: malloc's bytes in use (mallinfo2: uordblks + hblkhd, the latter
 * for the tables large enough to be mmapped); RssAnon: the growth of
 * /proc/self/status RssAnon, which also counts malloc's free lists. */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ident.h"
#include "testcert.h"
#include "tickets.h"

#define N_TICKETS 100000
#define N_CERTS_MANY 1000
#define STORE_MAX 1000000
#define LIFETIME 600u

struct mem {
	size_t heap;       /* bytes */
	size_t rss_anon;   /* bytes */
};

static int
rss_anon(size_t *out)
{
	char line[256];
	unsigned long kb;
	FILE *f;
	int r = -1;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "RssAnon: %lu kB", &kb) == 1) {
			*out = (size_t)kb * 1024;
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

static int
mem_now(struct mem *m)
{
	struct mallinfo2 mi = mallinfo2();

	m->heap = mi.uordblks + mi.hblkhd;
	return rss_anon(&m->rss_anon);
}

/* A client certificate as a fleet issues them, signed by ca. */
static X509 *
fleet_cert(EVP_PKEY *key, const X509 *ca, EVP_PKEY *ca_key, size_t i)
{
	char cn[64], email[96], dns[96], uri[128], serial[32];
	struct tc_ava subject[] = {
		{ "O", "Example Fleet", 0, 0 }, { "OU", "devices", 0, 0 },
		{ "CN", cn, 0, 0 },
	};
	struct tc_san sans[] = {
		{ GEN_EMAIL, email, 0 }, { GEN_DNS, dns, 0 },
		{ GEN_URI, uri, 0 },
	};
	struct tc_leaf spec = {
		.subject = subject, .n_subject = 3, .serial = serial,
		.not_before = -60, .not_after = 86400, .eku = TC_EKU_CLIENT,
		.sans = sans, .n_sans = 3,
	};

	snprintf(cn, sizeof(cn), "device-%06zu", i);
	snprintf(email, sizeof(email), "ops+%06zu@example.com", i);
	snprintf(dns, sizeof(dns), "device-%06zu.fleet.example.com", i);
	snprintf(uri, sizeof(uri), "spiffe://example.com/fleet/device-%06zu",
	    i);
	snprintf(serial, sizeof(serial), "%zX", i + 0x1000);
	return tc_leaf_new(&spec, key, ca, ca_key);
}

/* n certificates: certs[0] from pem_path if given, the rest made here. */
static int
certs_new(const char *pem_path, X509 **certs, size_t n)
{
	EVP_PKEY *key = NULL, *ca_key = NULL;
	X509 *ca = NULL;
	FILE *f = NULL;
	size_t i = 0;
	int r = -1;

	if ((key = tc_key_new()) == NULL || (ca_key = tc_key_new()) == NULL ||
	    (ca = tc_ca_new("Example Fleet CA", ca_key, NULL, NULL)) == NULL)
		goto out;
	if (pem_path != NULL) {
		if ((f = fopen(pem_path, "r")) == NULL ||
		    (certs[0] = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
			fprintf(stderr, "ticket_mem: cannot read a certificate "
			    "from %s\n", pem_path);
			goto out;
		}
		i = 1;
	}
	for (; i < n; i++) {
		if ((certs[i] = fleet_cert(key, ca, ca_key, i)) == NULL)
			goto out;
	}
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return r;
}

/* One grant as http.c makes it, issued. */
static int
issue_one(struct tstore *s, X509 *x, time_t now)
{
	struct ticket_grant *g = NULL;
	struct ident *id = NULL;
	char ticket[TICKET_BUFLEN];
	int r;

	if ((r = ident_from_x509(x, &id)) != 0 ||
	    (r = ticket_grant_new("alice", "fleet-operators", "192.0.2.10",
	    &id, &g)) != 0 ||
	    (r = tstore_issue(s, &g, now, LIFETIME, ticket)) != 0)
		goto out;
out:
	OPENSSL_cleanse(ticket, sizeof(ticket));
	ticket_grant_free(&g);
	ident_free(&id);
	return r;
}

/* The case of n_certs certificates, N_TICKETS / n_certs tickets each;
 * prints its row. Exit status 0 or 1. */
static int
run_case(const char *name, const char *pem_path, size_t n_certs)
{
	struct tstore *s = NULL;
	struct mem before, after;
	X509 **certs = NULL;
	time_t now = time(NULL);
	size_t i;
	int r, ok = 0;

	if ((certs = calloc(n_certs, sizeof(*certs))) == NULL ||
	    certs_new(pem_path, certs, n_certs) != 0)
		goto out;
	/* Warm up what is allocated once (OpenSSL's method tables, the
	 * DRBG) in a store that is thrown away. */
	if ((s = tstore_new(STORE_MAX)) == NULL ||
	    issue_one(s, certs[0], now) != 0)
		goto out;
	tstore_free(&s);
	if (mem_now(&before) != 0 || (s = tstore_new(STORE_MAX)) == NULL)
		goto out;
	for (i = 0; i < N_TICKETS; i++) {
		if ((r = issue_one(s, certs[i % n_certs], now)) != 0) {
			fprintf(stderr, "ticket_mem: issue %zu: %s\n", i,
			    err_str(r));
			goto out;
		}
	}
	if (mem_now(&after) != 0 || tstore_count(s) != N_TICKETS)
		goto out;
	printf("%-22s %8d %6zu %10.0f %10.0f %9.1f %9.1f\n", name,
	    N_TICKETS, n_certs,
	    (double)(after.heap - before.heap) / N_TICKETS,
	    (double)(after.rss_anon - before.rss_anon) / N_TICKETS,
	    (double)(after.heap - before.heap) / (1024.0 * 1024.0),
	    (double)(after.rss_anon - before.rss_anon) / (1024.0 * 1024.0));
	ok = 1;
out:
	tstore_free(&s);
	for (i = 0; certs != NULL && i < n_certs; i++)
		X509_free(certs[i]);
	free(certs);
	return ok ? 0 : 1;
}

/* Each case in a child, so that neither sees the other's free lists. */
static int
run_forked(const char *name, const char *pem_path, size_t n_certs)
{
	int status;
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		status = run_case(name, pem_path, n_certs);
		/* _exit flushes nothing. */
		fflush(stdout);
		_exit(status);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	return WEXITSTATUS(status);
}

int
main(int argc, char **argv)
{
	const char *pem_path = argc > 1 ? argv[1] : NULL;
	int bad = 0;

	if (argc > 2 || (pem_path != NULL && pem_path[0] == '-')) {
		fprintf(stderr, "usage: ticket_mem [CERT.pem]\n");
		return 2;
	}
	printf("%-22s %8s %6s %10s %10s %9s %9s\n", "case", "tickets",
	    "certs", "heap B/t", "anon B/t", "heap MB", "anon MB");
	bad |= run_forked("one certificate", pem_path, 1);
	bad |= run_forked("1,000 certificates", NULL, N_CERTS_MANY);
	printf("target: 100,000 outstanding tickets in at most 32 MB "
	    "(MB here: 2^20 bytes)\n");
	return bad ? 1 : 0;
}
