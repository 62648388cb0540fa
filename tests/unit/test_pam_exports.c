#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#ifndef PAM_MODULE_PATH
#error "PAM_MODULE_PATH must name the built pam_mtls.so"
#endif

/* Symbol types of nm that name something defined in code or data. */
#define DEFINED_TYPES "TDBRWVi"

/* Whether one line of `nm -D --defined-only` ("ADDR TYPE NAME") is
 * acceptable for the module: pam_sm_* or a loader hook, or not code or
 * data at all. Returns 1 if it is, 0 if not, -1 if unparsable. */
static int
symbol_allowed(const char *line)
{
	char addr[64], name[256], type;

	if (sscanf(line, "%63s %c %255s", addr, &type, name) != 3)
		return -1;
	if (strchr(DEFINED_TYPES, type) == NULL)
		return 1;
	if (strncmp(name, "pam_sm_", 7) == 0)
		return 1;
	return strcmp(name, "_init") == 0 || strcmp(name, "_fini") == 0;
}

static void
test_classifier(void **state)
{
	(void)state;
	assert_int_equal(symbol_allowed("0000000000001345 T pam_sm_setcred"), 1);
	assert_int_equal(symbol_allowed("0000000000001000 T _init"), 1);
	assert_int_equal(symbol_allowed("0000000000001345 T buf_new"), 0);
	assert_int_equal(symbol_allowed("0000000000004010 D proto_x"), 0);
	assert_int_equal(symbol_allowed("0000000000004010 B state"), 0);
	assert_int_equal(symbol_allowed("0000000000004010 R table"), 0);
	assert_int_equal(symbol_allowed("0000000000004010 W weak"), 0);
	assert_int_equal(symbol_allowed("0000000000004010 i ifunc"), 0);
	assert_int_equal(symbol_allowed("garbage"), -1);
}

static void
test_dlopen(void **state)
{
	void *h;

	(void)state;
	h = dlopen(PAM_MODULE_PATH, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		fail_msg("dlopen %s: %s", PAM_MODULE_PATH, dlerror());
	assert_non_null(dlsym(h, "pam_sm_authenticate"));
	assert_non_null(dlsym(h, "pam_sm_setcred"));
	/* The shared library inside is not reachable from outside. */
	assert_null(dlsym(h, "mtls_redeem"));
	assert_null(dlsym(h, "pam_args_parse"));
	assert_null(dlsym(h, "pam_code_for"));
	assert_null(dlsym(h, "proto_decode"));
	assert_null(dlsym(h, "buf_new"));
	assert_null(dlsym(h, "err_str"));
	assert_int_equal(dlclose(h), 0);
}

static void
test_only_pam_sm_exported(void **state)
{
	FILE *nm;
	char line[512];
	int n_sm = 0, n_lines = 0;

	(void)state;
	nm = popen("nm -D --defined-only '" PAM_MODULE_PATH "'", "r");
	assert_non_null(nm);
	while (fgets(line, sizeof(line), nm) != NULL) {
		n_lines++;
		if (symbol_allowed(line) != 1)
			fail_msg("exported: %s", line);
		if (strstr(line, " pam_sm_") != NULL)
			n_sm++;
	}
	assert_int_equal(pclose(nm), 0);
	assert_int_equal(n_sm, 2);
	assert_true(n_lines >= 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classifier),
		cmocka_unit_test(test_dlopen),
		cmocka_unit_test(test_only_pam_sm_exported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
