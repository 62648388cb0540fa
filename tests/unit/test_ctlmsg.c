/* src/mtlsd/ctlmsg.c: the control socket's request parser, the counters
 * by reason, and the status answer in text and JSON. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ctlmsg.h"
#include "daemon.h"
#include "tickets.h"

/* ---- requests ---------------------------------------------------------- */

static void
test_parse_known(void **state)
{
	enum control_req req = CONTROL_RELOAD;

	(void)state;
	assert_int_equal(control_parse_request("status\n", 7, &req), 0);
	assert_int_equal(req, CONTROL_STATUS);
	assert_int_equal(control_parse_request("status json\n", 12, &req), 0);
	assert_int_equal(req, CONTROL_STATUS_JSON);
	assert_int_equal(control_parse_request("reload\n", 7, &req), 0);
	assert_int_equal(req, CONTROL_RELOAD);
}

/* No newline yet: read more, up to the bound; past it, an error. */
static void
test_parse_short(void **state)
{
	char longer[CONTROL_MAX_REQUEST];
	enum control_req req;

	(void)state;
	assert_int_equal(control_parse_request("", 0, &req), ERR_SHORT);
	assert_int_equal(control_parse_request("stat", 4, &req), ERR_SHORT);
	memset(longer, 's', sizeof(longer));
	assert_int_equal(control_parse_request(longer, sizeof(longer) - 1,
	    &req), ERR_SHORT);
	assert_int_equal(control_parse_request(longer, sizeof(longer), &req),
	    ERR_PROTO);
}

static void
test_parse_refused(void **state)
{
	static const char *const bad[] = {
		"bogus\n", "Status\n", "status \n", " status\n", "status\r\n",
		"status json \n", "status JSON\n", "reload now\n", "\n",
		"status\nstatus\n", "reload\nx", "sta\0tus\n",
	};
	static const size_t len[] = { 6, 7, 8, 8, 8, 13, 12, 11, 1, 14, 8, 8 };
	enum control_req req = CONTROL_STATUS_JSON;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(control_parse_request(bad[i], len[i], &req),
		    ERR_PROTO);
		/* The output is not touched on refusal. */
		assert_int_equal(req, CONTROL_STATUS_JSON);
	}
}

/* ---- counters ---------------------------------------------------------- */

static void
test_tally(void **state)
{
	struct daemon_tally t;

	(void)state;
	memset(&t, 0, sizeof(t));
	daemon_tally_add(&t, "certificate revoked");
	daemon_tally_add(&t, "certificate has expired");
	daemon_tally_add(&t, "certificate revoked");
	daemon_tally_add(&t, NULL);
	assert_int_equal(t.total, 4);
	assert_int_equal(t.used, 3);
	assert_string_equal(t.by[0].reason, "certificate revoked");
	assert_int_equal(t.by[0].n, 2);
	assert_string_equal(t.by[1].reason, "certificate has expired");
	assert_int_equal(t.by[1].n, 1);
	assert_string_equal(t.by[2].reason, "unknown");
}

/* Reasons past the table share "other"; a known one keeps its slot. */
static void
test_tally_bounded(void **state)
{
	struct daemon_tally t;
	char r[32];

	(void)state;
	memset(&t, 0, sizeof(t));
	for (int i = 0; i < 3 * DAEMON_REASONS; i++) {
		snprintf(r, sizeof(r), "reason %d", i);
		daemon_tally_add(&t, r);
	}
	daemon_tally_add(&t, "reason 0");
	assert_int_equal(t.total, 3 * DAEMON_REASONS + 1);
	assert_int_equal(t.used, DAEMON_REASONS);
	assert_int_equal(t.by[0].n, 2);
	assert_string_equal(t.by[DAEMON_REASONS - 1].reason, "other");
	assert_int_equal(t.by[DAEMON_REASONS - 1].n, 2 * DAEMON_REASONS + 1);
}

/* A reason longer than a slot is cut, and counts with its cut twins. */
static void
test_tally_long_reason(void **state)
{
	struct daemon_tally t;
	char big[200];

	(void)state;
	memset(&t, 0, sizeof(t));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	daemon_tally_add(&t, big);
	big[150] = '\0';
	daemon_tally_add(&t, big);
	assert_int_equal(t.used, 1);
	assert_int_equal(t.by[0].n, 2);
	assert_int_equal(strlen(t.by[0].reason), DAEMON_REASON_LEN - 1);
}

/* ---- status ---------------------------------------------------------------- */

struct fixture {
	struct daemon d;
	struct config cfg;
	char *listen[2];
	char *crl[2];
	char crlpath[64];
	struct buf *out;
};

/* A CRL made with the openssl CLI would need a CA; a file that is not a
 * CRL and one that does not exist cover the error paths, and the real
 * reading is exercised by t_status.sh. */
static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	if (f == NULL)
		return -1;
	snprintf(f->crlpath, sizeof(f->crlpath), "/tmp/test_ctlmsg.XXXXXX");
	if ((fd = mkstemp(f->crlpath)) < 0)
		return -1;
	if (write(fd, "not a crl\n", 10) != 10)
		return -1;
	close(fd);
	f->listen[0] = "127.0.0.1:7443";
	f->listen[1] = "[::]:7443";
	f->crl[0] = f->crlpath;
	f->crl[1] = "/nonexistent/ca.crl";
	f->cfg.file = "/etc/mtls/mtlsd.conf";
	f->cfg.workers = 1;
	f->cfg.listen = f->listen;
	f->cfg.n_listen = 2;
	f->cfg.pam_socket = "/run/mtlsd/pam.sock";
	f->cfg.control_socket = "/run/mtlsd/\ncontrol.sock";
	f->cfg.tls.crl = f->crl;
	f->cfg.tls.n_crl = 2;
	f->d.cfg = &f->cfg;
	f->d.stats = &f->d.own_stats;
	f->d.started = 1000;
	f->d.loaded = 1500;
	f->d.own_stats.handshakes = 7;
	f->d.own_stats.tickets_issued = 3;
	f->d.own_stats.redeemed = 2;
	f->d.own_stats.reloads = 1;
	daemon_tally_add(&f->d.own_stats.hs_refused, "certificate revoked");
	daemon_tally_add(&f->d.own_stats.redeem_refused, "bad_ticket");
	daemon_tally_add(&f->d.own_stats.redeem_refused, "bad_ticket");
	if ((f->d.tickets = tstore_new(10)) == NULL ||
	    (f->out = buf_new(64 * 1024)) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->crlpath);
	tstore_free(&f->d.tickets);
	buf_free(&f->out);
	free(f);
	return 0;
}

/* NUL-terminated copy of what was written. */
static char *
out_str(struct fixture *f)
{
	char *s = calloc(1, buf_avail(f->out) + 1);

	assert_non_null(s);
	memcpy(s, buf_ptr(f->out), buf_avail(f->out));
	return s;
}

static void
test_status_text(void **state)
{
	struct fixture *f = *state;
	char *s;

	assert_int_equal(control_status(&f->d, 2000, 0, f->out), 0);
	s = out_str(f);
	assert_non_null(strstr(s, "version: " PACKAGE_VERSION "\n"));
	assert_non_null(strstr(s, "\nuptime: 1000s\n"));
	assert_non_null(strstr(s, "\nconfig: /etc/mtls/mtlsd.conf\n"));
	assert_non_null(strstr(s, "\nconfig_loaded: 1970-01-01T00:25:00Z "
	    "(500s ago)\n"));
	assert_non_null(strstr(s, "\nreloads: 1\nreloads_failed: 0\n"
	    "workers: 1 running=1\n"));
	/* No worker lines without workers. */
	assert_null(strstr(s, "\nworker: "));
	assert_non_null(strstr(s, "\nlisten: 127.0.0.1:7443\n"
	    "listen: [::]:7443\n"));
	/* A control byte in a config string cannot start a line. */
	assert_non_null(strstr(s, "\ncontrol_socket: /run/mtlsd/?control.sock\n"));
	assert_non_null(strstr(s, "\nhandshakes: 7\nhandshakes_refused: 1\n"
	    "  certificate revoked: 1\n"));
	assert_non_null(strstr(s, "\ntickets_issued: 3\ntickets_refused: 0\n"
	    "tickets_redeemed: 2\nredeem_refused: 2\n  bad_ticket: 2\n"
	    "tickets_outstanding: 0\n"));
	assert_non_null(strstr(s, "\ncrl: /nonexistent/ca.crl error=\"No such "
	    "file or directory\"\n"));
	assert_non_null(strstr(s, " error=\"not a readable PEM CRL\"\n"));
	assert_int_equal(s[strlen(s) - 1], '\n');
	free(s);
}

static void
test_status_json(void **state)
{
	struct fixture *f = *state;
	char *s;

	assert_int_equal(control_status(&f->d, 2000, 1, f->out), 0);
	s = out_str(f);
	assert_int_equal(s[0], '{');
	assert_string_equal(s + strlen(s) - 3, "]}\n");
	assert_non_null(strstr(s, "\"uptime\":1000,"));
	assert_non_null(strstr(s, "\"config\":{\"file\":\"/etc/mtls/mtlsd.conf\","
	    "\"loaded\":1500,\"age\":500}"));
	assert_non_null(strstr(s, "\"listen\":[\"127.0.0.1:7443\",\"[::]:7443\"]"));
	assert_non_null(strstr(s, "\"control_socket\":\"/run/mtlsd/\\u000a"
	    "control.sock\""));
	assert_non_null(strstr(s, "\"handshakes_refused\":{\"total\":1,"
	    "\"by_reason\":{\"certificate revoked\":1}}"));
	assert_non_null(strstr(s, "\"tickets_refused\":{\"total\":0,"
	    "\"by_reason\":{}}"));
	assert_non_null(strstr(s, "\"tickets_outstanding\":0,"));
	assert_non_null(strstr(s, "\"workers\":{\"configured\":1,"
	    "\"running\":1}"));
	assert_non_null(strstr(s, "\"worker\":[],"));
	assert_non_null(strstr(s, "{\"file\":\"/nonexistent/ca.crl\","
	    "\"error\":\"No such file or directory\"}"));
	/* One line. */
	assert_ptr_equal(strchr(s, '\n'), s + strlen(s) - 1);
	free(s);
}

/* The fixture's daemon as a master of n - 1 workers, every process's
 * counters in table[0..n). */
static void
use_table(struct fixture *f, struct daemon_stats *table, size_t n)
{
	f->cfg.workers = (unsigned)(n - 1);
	f->d.stats = &table[0];
	f->d.stats_table = table;
	f->d.n_stats = n;
	f->d.workers_running = n - 1;
}

/* Back to its own counters: the teardown must not see a stack table. */
static void
drop_table(struct fixture *f)
{
	f->d.stats = &f->d.own_stats;
	f->d.stats_table = NULL;
	f->d.n_stats = 0;
	f->d.workers_running = 0;
}

/* With workers, the master's status adds up every process's slot of the
 * shared table (the fixture's own counters are not in it), reloads are
 * the master's alone, and each worker gets its line. */
static void
test_status_workers(void **state)
{
	struct fixture *f = *state;
	struct daemon_stats table[3];
	char *s;

	memset(table, 0, sizeof(table));
	table[0].pid = 100;
	table[0].reloads = 2;
	table[0].tickets_issued = 5;
	table[0].redeemed = 4;
	daemon_tally_add(&table[0].tickets_refused, "too many outstanding tickets");
	table[1].pid = 101;
	table[1].handshakes = 6;
	table[1].reloads = 2;
	table[1].cert_cache.entries = 2;
	table[1].cert_cache.hits = 10;
	daemon_tally_add(&table[1].hs_refused, "certificate revoked");
	daemon_tally_add(&table[1].tickets_refused, "no rule matches");
	table[2].pid = 102;
	table[2].handshakes = 3;
	table[2].reloads = 1;
	table[2].reloads_failed = 1;
	table[2].cert_cache.entries = 1;
	table[2].cert_cache.misses = 1;
	daemon_tally_add(&table[2].hs_refused, "certificate revoked");
	daemon_tally_add(&table[2].hs_refused, "client alert: unknown CA");
	use_table(f, table, 3);

	assert_int_equal(control_status(&f->d, 2000, 0, f->out), 0);
	s = out_str(f);
	assert_non_null(strstr(s, "\nreloads: 2\nreloads_failed: 1\n"
	    "workers: 2 running=2\n"));
	assert_non_null(strstr(s, "\nhandshakes: 9\nhandshakes_refused: 3\n"
	    "  certificate revoked: 2\n  client alert: unknown CA: 1\n"));
	assert_non_null(strstr(s, "\ntickets_issued: 5\ntickets_refused: 2\n"));
	assert_non_null(strstr(s, "\ntickets_redeemed: 4\n"));
	assert_non_null(strstr(s, "\ncert_cache: entries=3 hits=10 misses=1 "
	    "signature_hits=0\n"));
	assert_non_null(strstr(s, "\nworker: 1 pid=101 handshakes=6 "
	    "handshakes_refused=1 tickets_refused=1\n"
	    "worker: 2 pid=102 handshakes=3 handshakes_refused=2 "
	    "tickets_refused=0\n"));
	assert_null(strstr(s, "\nworker: 0 "));
	free(s);

	buf_reset(f->out);
	assert_int_equal(control_status(&f->d, 2000, 1, f->out), 0);
	s = out_str(f);
	assert_non_null(strstr(s, "\"reloads\":{\"ok\":2,\"failed\":1},"
	    "\"workers\":{\"configured\":2,\"running\":2}"));
	assert_non_null(strstr(s, "\"handshakes\":9,"));
	assert_non_null(strstr(s, "\"worker\":[{\"id\":1,\"pid\":101,"
	    "\"handshakes\":6,\"handshakes_refused\":1,"
	    "\"tickets_refused\":1},{\"id\":2,\"pid\":102,"
	    "\"handshakes\":3,\"handshakes_refused\":2,"
	    "\"tickets_refused\":0}],"));
	free(s);
	drop_table(f);
}

/* A reason another process is writing may be read before its NUL: the
 * merge reads no further than a reason's slot. */
static void
test_status_workers_unterminated(void **state)
{
	struct fixture *f = *state;
	struct daemon_stats table[2];
	char *s;

	memset(table, 0, sizeof(table));
	daemon_tally_add(&table[1].hs_refused, "x");
	memset(table[1].hs_refused.by[0].reason, 'r', DAEMON_REASON_LEN);
	use_table(f, table, 2);
	assert_int_equal(control_status(&f->d, 2000, 0, f->out), 0);
	s = out_str(f);
	assert_non_null(strstr(s, "\nhandshakes_refused: 1\n"));
	/* DAEMON_REASON_LEN - 1 bytes of it, no more. */
	assert_non_null(strstr(s, "  rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"
	    "rrrrrrrrrrrrrrrr: 1\n"));
	free(s);
	drop_table(f);
}

/* An answer that does not fit is an error, never a cut answer. */
static void
test_status_too_big(void **state)
{
	struct fixture *f = *state;

	buf_free(&f->out);
	assert_non_null(f->out = buf_new(100));
	assert_int_equal(control_status(&f->d, 2000, 0, f->out), ERR_TOOLONG);
	buf_free(&f->out);
	assert_non_null(f->out = buf_new(100));
	assert_int_equal(control_status(&f->d, 2000, 1, f->out), ERR_TOOLONG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_known),
		cmocka_unit_test(test_parse_short),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_tally),
		cmocka_unit_test(test_tally_bounded),
		cmocka_unit_test(test_tally_long_reason),
		cmocka_unit_test_setup_teardown(test_status_text, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_status_json, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_status_too_big, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_status_workers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_status_workers_unterminated,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
