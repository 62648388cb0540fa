/* Writes the seed corpora of the fuzz targets: make_corpus DIR creates
 * DIR/<target>/ for each target and fills it with valid inputs made by
 * the project's own encoders (frames by proto_encode, certificates by
 * tests/unit/testcert.c), so that the seeds follow the code, not a
 * checked-in snapshot of it. Configs from conf/ are copied by make. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "proto.h"
#include "testcert.h"
#include "wmsg.h"

static const char *top;
static int failed;

static void
die(const char *what)
{
	fprintf(stderr, "make_corpus: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
seed(const char *target, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", top, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", top, target, name);
	if ((f = fopen(path, "wb")) == NULL)
		die(path);
	if ((n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		die(path);
}

static void
seed_str(const char *target, const char *name, const char *s)
{
	seed(target, name, s, strlen(s));
}

/* --- fuzz_proto: one frame of every type, and a stream of them ---------- */

static void
put_frame(struct buf *stream, const char *name, const struct proto_msg *m)
{
	struct buf *b = buf_new(PROTO_HDR_LEN + PROTO_MAX_FRAME);

	if (b == NULL || proto_encode(b, m) != 0 ||
	    buf_put(stream, buf_ptr(b), buf_avail(b)) != 0) {
		fprintf(stderr, "make_corpus: cannot encode %s\n", name);
		failed = 1;
	} else {
		seed("fuzz_proto", name, buf_ptr(b), buf_avail(b));
	}
	buf_free(&b);
}

static void
proto_seeds(void)
{
	static const uint8_t too_long[] = { 0, 0, 0x20, 1, PROTO_HELLO };
	static const uint8_t half[] = { 0, 0, 0, 5, PROTO_HELLO, 0 };
	struct buf *stream = buf_new(64 * 1024);
	struct proto_msg m;
	char name[32];
	uint32_t reason;

	if (stream == NULL)
		die("buf_new");
	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	m.u.version = PROTO_VERSION;
	put_frame(stream, "hello", &m);
	m.u.version = 99;
	put_frame(stream, "hello-99", &m);
	m.type = PROTO_DENY;
	for (reason = DENY_BAD_TICKET; reason <= DENY_VERSION + 1; reason++) {
		m.u.reason = reason;
		snprintf(name, sizeof(name), "deny-%u", reason);
		put_frame(stream, name, &m);
	}
	memset(&m, 0, sizeof(m));
	m.type = PROTO_REDEEM;
	m.u.redeem.user = "alice";
	m.u.redeem.service = "sshd";
	m.u.redeem.rhost = "192.0.2.1";
	m.u.redeem.tty = "ssh";
	m.u.redeem.ticket = "Zm9vYmFyYmF6cXV4LWZ1enotdGlja2V0";
	put_frame(stream, "redeem", &m);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_REDEEM;
	put_frame(stream, "redeem-empty", &m);
	m.type = PROTO_OK;
	m.u.ok.subject = "CN=alice,OU=ops,O=Example";
	m.u.ok.issuer = "CN=Example CA,O=Example";
	m.u.ok.serial = "1A2B3C";
	m.u.ok.fingerprint = "sha256:"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	m.u.ok.rule = "alice";
	put_frame(stream, "ok", &m);
	seed("fuzz_proto", "stream", buf_ptr(stream), buf_avail(stream));
	seed("fuzz_proto", "too-long", too_long, sizeof(too_long));
	seed("fuzz_proto", "half", half, sizeof(half));
	buf_free(&stream);
}

/* --- fuzz_wmsg: one message of every type, ISSUE with a real ident ------ */

static void add_policies(X509 *x, EVP_PKEY *ca_key);

static void
wmsg_seed(const char *name, const struct wmsg *m)
{
	struct buf *b = buf_new(WMSG_MAX);

	if (b == NULL || wmsg_encode(b, m) != 0) {
		fprintf(stderr, "make_corpus: cannot encode %s\n", name);
		failed = 1;
	} else {
		seed("fuzz_wmsg", name, buf_ptr(b), buf_avail(b));
	}
	buf_free(&b);
}

/* An ident with every list filled, from a certificate as a worker has. */
static struct ident *
wmsg_cert_ident(void)
{
	static const struct tc_ava subject[] = {
		{ "O", "Example", 0, 0 }, { "OU", "ops", 0, 0 },
		{ "CN", "alice", 0, 0 }, { "UID", "alice", 0, 1 },
	};
	static const struct tc_san sans[] = {
		{ GEN_EMAIL, "alice@example.com", 0 },
		{ GEN_DNS, "alice.example.com", 0 },
		{ GEN_URI, "spiffe://example.com/ops/alice", 0 },
		{ GEN_EMAIL, "no-at-sign", 0 },
	};
	struct tc_leaf spec;
	EVP_PKEY *ca_key = tc_key_new(), *key = tc_key_new();
	X509 *ca = NULL, *x = NULL;
	struct ident *id = NULL;

	if (ca_key == NULL || key == NULL)
		die("tc_key_new");
	memset(&spec, 0, sizeof(spec));
	spec.subject = subject;
	spec.n_subject = sizeof(subject) / sizeof(subject[0]);
	spec.serial = "1A2B3C";
	spec.not_before = -60;
	spec.not_after = 3600;
	spec.eku = TC_EKU_CLIENT;
	spec.sans = sans;
	spec.n_sans = sizeof(sans) / sizeof(sans[0]);
	if ((ca = tc_ca_new("Example CA", ca_key, NULL, NULL)) != NULL &&
	    (x = tc_leaf_new(&spec, key, ca, ca_key)) != NULL)
		add_policies(x, ca_key);
	if (x == NULL || ident_from_x509(x, &id) != 0) {
		fprintf(stderr, "make_corpus: cannot make an ident\n");
		failed = 1;
	}
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return id;
}

static void
wmsg_seeds(void)
{
	struct ident empty;
	struct wmsg m;

	memset(&m, 0, sizeof(m));
	m.type = WMSG_ISSUE;
	m.u.issue.seq = 1;
	m.u.issue.user = "alice";
	m.u.issue.rule = "ops";
	m.u.issue.bind_addr = "192.0.2.1";
	m.u.issue.source = "192.0.2.1:40000";
	m.u.issue.reason = "rule ops";
	if ((m.u.issue.id = wmsg_cert_ident()) != NULL)
		wmsg_seed("issue", &m);
	ident_free(&m.u.issue.id);

	memset(&empty, 0, sizeof(empty));
	empty.subject = empty.issuer = "";
	empty.serial = "01";
	memcpy(empty.fingerprint, "sha256:"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	    sizeof(empty.fingerprint));
	m.u.issue.bind_addr = "";
	m.u.issue.id = &empty;
	wmsg_seed("issue-empty-ident", &m);

	memset(&m, 0, sizeof(m));
	m.type = WMSG_ISSUED;
	m.u.issued.seq = 1;
	m.u.issued.lifetime = 30;
	memcpy(m.u.issued.ticket, "Zm9vYmFyYmF6cXV4LWZ1enotdGlja2_-",
	    sizeof(m.u.issued.ticket));
	wmsg_seed("issued", &m);
	memset(m.u.issued.ticket, 0, sizeof(m.u.issued.ticket));
	m.u.issued.result = WMSG_CERT_FULL;
	wmsg_seed("issued-cert-full", &m);

	memset(&m, 0, sizeof(m));
	m.type = WMSG_RELOAD;
	wmsg_seed("reload", &m);

	memset(&m, 0, sizeof(m));
	m.type = WMSG_FAILURE;
	m.u.failure.addr = "192.0.2.7";
	m.u.failure.fpr = "sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	wmsg_seed("failure", &m);
}

/* --- fuzz_http_body ------------------------------------------------------- */

static void
body_seeds(void)
{
	static const char *const bodies[] = {
		"user=alice", "user=al%69ce", "user=a+b", "user=", "user",
		"user=a&user=b", "name=alice", "user=a%00b", "user=%E2%82%AC",
		"{\"user\":\"alice\"}", " { \"user\" : \"alice\" } ",
		"{\"user\":\"a\\/b\\\\c\\\"d\"}", "{\"user\":\"a\",\"user\":\"b\"}",
		"{\"user\":5}", "{}", "{\"user\":\"alice\"}x", "",
	};
	char name[32];
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		snprintf(name, sizeof(name), "body-%zu", i);
		seed_str("fuzz_http_body", name, bodies[i]);
	}
}

/* --- fuzz_dn ---------------------------------------------------------------- */

static void
dn_seeds(void)
{
	static const char *const dns[] = {
		"CN=alice,OU=ops,O=Example", "cn = alice , o=Example",
		"commonName=alice,2.5.4.10=Example", "CN=a+UID=b,O=x",
		"CN=\\20lead\\, comma\\+plus\\\"\\\\\\<\\>\\;\\=\\#", "CN=\\41\\42",
		"CN=#0403616263", "UID=alice,DC=example,DC=com",
		"CN=caf\xc3\xa9,O=Example", "1.2.3.4=x,CN=y", "CN=", "=x", "",
		"CN=a,,O=b", "emailAddress=a@example.com,CN=a",
	};
	char name[32];
	size_t i;

	for (i = 0; i < sizeof(dns) / sizeof(dns[0]); i++) {
		snprintf(name, sizeof(name), "dn-%zu", i);
		seed_str("fuzz_dn", name, dns[i]);
	}
}

/* --- fuzz_ident: DER certificates ----------------------------------------- */

static void
der_seed(const char *name, X509 *x)
{
	unsigned char *der = NULL;
	int n;

	if (x == NULL || (n = i2d_X509(x, &der)) <= 0) {
		fprintf(stderr, "make_corpus: cannot make %s\n", name);
		failed = 1;
		return;
	}
	seed("fuzz_ident", name, der, (size_t)n);
	OPENSSL_free(der);
}

static int
add_policy(CERTIFICATEPOLICIES *cps, const char *oid)
{
	POLICYINFO *pi = POLICYINFO_new();

	if (pi == NULL)
		return -1;
	ASN1_OBJECT_free(pi->policyid);
	if ((pi->policyid = OBJ_txt2obj(oid, 1)) == NULL ||
	    sk_POLICYINFO_push(cps, pi) <= 0) {
		POLICYINFO_free(pi);
		return -1;
	}
	return 0;
}

/* A certificatePolicies extension, which tc_leaf_new does not make; x
 * is signed again. */
static void
add_policies(X509 *x, EVP_PKEY *ca_key)
{
	CERTIFICATEPOLICIES *cps = CERTIFICATEPOLICIES_new();

	if (cps == NULL || add_policy(cps, "1.3.6.1.4.1.99999.1") != 0 ||
	    add_policy(cps, "2.5.29.32.0") != 0 ||
	    X509_add1_ext_i2d(x, NID_certificate_policies, cps, 0,
	    X509V3_ADD_DEFAULT) != 1 ||
	    X509_sign(x, ca_key, EVP_sha256()) <= 0) {
		fprintf(stderr, "make_corpus: cannot add certificatePolicies\n");
		ERR_print_errors_fp(stderr);
		failed = 1;
	}
	CERTIFICATEPOLICIES_free(cps);
}

static void
ident_seeds(void)
{
	static const struct tc_ava plain[] = {
		{ "O", "Example", 0, 0 }, { "OU", "ops", 0, 0 },
		{ "CN", "alice", 0, 0 },
	};
	static const struct tc_ava odd[] = {
		{ "DC", "com", 0, 0 }, { "DC", "example", 0, 0 },
		{ "CN", " lead, comma+plus\"<>;=#", 0, 0 },
		{ "UID", "alice", 0, 1 }, { "1.2.3.4", "caf\xc3\xa9", 0, 0 },
		{ "emailAddress", "a@example.com", 0, 0 },
	};
	static const struct tc_san sans[] = {
		{ GEN_EMAIL, "alice@example.com", 0 },
		{ GEN_DNS, "alice.example.com", 0 },
		{ GEN_URI, "spiffe://example.com/ops/alice", 0 },
		{ GEN_EMAIL, "no-at-sign", 0 },
	};
	struct tc_leaf spec;
	EVP_PKEY *ca_key = tc_key_new(), *key = tc_key_new();
	X509 *ca = NULL, *x = NULL;

	if (ca_key == NULL || key == NULL)
		die("tc_key_new");
	ca = tc_ca_new("Example CA", ca_key, NULL, NULL);
	der_seed("ca", ca);

	memset(&spec, 0, sizeof(spec));
	spec.subject = plain;
	spec.n_subject = sizeof(plain) / sizeof(plain[0]);
	spec.not_before = -60;
	spec.not_after = 3600;
	spec.eku = TC_EKU_CLIENT;
	x = tc_leaf_new(&spec, key, ca, ca_key);
	der_seed("leaf", x);
	X509_free(x);

	spec.subject = odd;
	spec.n_subject = sizeof(odd) / sizeof(odd[0]);
	spec.serial = "00FF00112233445566778899";
	spec.sans = sans;
	spec.n_sans = sizeof(sans) / sizeof(sans[0]);
	if ((x = tc_leaf_new(&spec, key, ca, ca_key)) != NULL)
		add_policies(x, ca_key);
	der_seed("leaf-sans", x);
	X509_free(x);

	spec.serial = "-05";
	spec.n_sans = 0;
	spec.n_subject = 0;
	x = tc_leaf_new(&spec, key, NULL, NULL);
	der_seed("leaf-empty-subject", x);
	X509_free(x);

	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
}

/* --- fuzz_conf: configs beyond the shipped examples ----------------------- */

#define TLS_OK "tls = { certificate = \"c.pem\"; private_key = \"k.pem\"; " \
	"trust_anchors = \"ca.pem\"; };\n"

static void
conf_seeds(void)
{
	static const char *const confs[] = {
		TLS_OK,
		"user = \"mtlsd\";\nlisten = [ \"127.0.0.1:7443\", \"[::1]:7443\" ];\n"
		"pam_socket = \"/run/mtlsd/pam.sock\";\npam_peers = [ 0, 1000 ];\n"
		"control_socket = \"/run/mtlsd/control.sock\";\n"
		"log_level = \"debug\";\n"
		"tls = { certificate = \"c.pem\"; private_key = \"k.pem\";\n"
		"  trust_anchors = \"ca.pem\"; intermediates = \"i.pem\";\n"
		"  crl = [ \"a.crl\", \"b.crl\" ]; min_version = \"1.2\"; };\n"
		"tickets = { lifetime = 30; bind_address = false;\n"
		"  local_services = [ \"sudo\" ]; };\n"
		"audit = { file = \"/tmp/audit.jsonl\"; };\n"
		"ocsp = { enable = true; responder = \"http://127.0.0.1:8080/\";\n"
		"  timeout = 2; cache = 300; soft_fail = false; };\n",
		TLS_OK "rules = (\n"
		" { name = \"a\"; subject = \"CN=alice,OU=ops,O=Example\";\n"
		"   users = [ \"root\", \"%{cn}\" ]; services = [ \"sshd\" ];\n"
		"   from = [ \"192.0.2.0/24\", \"2001:db8::/32\" ]; },\n"
		" { name = \"b\"; issuer = \"CN=Example CA\"; san_email = "
		"\"Alice@Example.com\"; users = [ \"%{email.local}\" ]; },\n"
		" { name = \"c\"; san_dns = \"host.example.com\"; "
		"users = [ \"%{uid}\" ]; },\n"
		" { name = \"d\"; san_uri = \"spiffe://example.com/x\"; "
		"serial = \"1a:2b\"; users = [ \"x\" ]; },\n"
		" { name = \"e\"; fingerprint = \"sha256:" "0011223344556677"
		"8899aabbccddeeff00112233445566778899aabbccddeeff\"; "
		"policy_oid = \"1.3.6.1.4.1.99999.1\"; users = [ \"y\" ]; },\n"
		" { name = \"f\"; subject_attrs = { O = \"Example\"; OU = \"ops\"; };"
		" san_email_domain = \"example.com\"; deny = true; }\n"
		");\n",
		TLS_OK "rules_dir = \"rules.d\";\n",
		TLS_OK "rules = ( { name = \"x\"; } );\n",
		"@include \"other.conf\"\n" TLS_OK,
	};
	char name[32];
	size_t i;

	for (i = 0; i < sizeof(confs) / sizeof(confs[0]); i++) {
		snprintf(name, sizeof(name), "conf-%zu", i);
		seed_str("fuzz_conf", name, confs[i]);
	}
}

/* --- fuzz_policy: logins that fuzz_policy's fixed rules grant or deny -- */

static void
policy_seeds(void)
{
	static const char *const logins[] = {
		"\003alice\nsshd\n192.0.2.1\nCN=alice,OU=ops,O=Example\n"
		"CN=Example CA,O=Example\n1A2B3C\nsha256:00\n",
		"\001alice\nsshd\n\nCN=alice,O=Example\nCN=Example CA,O=Example\n"
		"05\nsha256:00\na:CN=alice\na:O=Example\na:UID=alice\n",
		"\002alice\nsudo\n2001:db8::1\nCN=x\nCN=y\n01\nsha256:00\n"
		"a:O=Example\na:UID=alice\ne:alice@example.com\n",
		"\003bob\nsudo\n198.51.100.7\nCN=b\nCN=y\n01\nsha256:00\n"
		"e:Bob@example.com\ne:no-at-sign\n",
		"\000host\n\n\nCN=h\nCN=y\n01\nsha256:00\nd:host.example.COM\n",
		"\002carol\n\n10.1.2.3\nCN=c\nCN=y\n01\nsha256:00\n"
		"u:spiffe://example.com/ops/carol\n",
		"\000root\n\n\nCN=e\nCN=y\n01\nsha256:"
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
		"a:OU=contractors\n",
		"\000frank\n\n\nCN=f\nCN=y\n01\nsha256:00\n"
		"o:1.3.6.1.4.1.99999.1\n",
		"\000-bad\n\n\nCN=a\n",
	};
	char name[32];
	size_t i;

	for (i = 0; i < sizeof(logins) / sizeof(logins[0]); i++) {
		snprintf(name, sizeof(name), "login-%zu", i);
		/* The flags byte may be 0: the length is the literal's. */
		seed("fuzz_policy", name, logins[i], strlen(logins[i] + 1) + 1);
	}
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_corpus DIR\n");
		return 2;
	}
	top = argv[1];
	proto_seeds();
	wmsg_seeds();
	body_seeds();
	dn_seeds();
	ident_seeds();
	conf_seeds();
	policy_seeds();
	return failed;
}
