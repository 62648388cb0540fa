/* Fuzz target: the config and rules parser.
 *
 * Targets config_load (libconfig, then every load_* check of conf.c, the
 * rule keys with dn_normalize, policy_cidr_parse and policy_index_build)
 * and config_free. The input is written as main.conf in a directory made
 * once; the file is removed after each run, so nothing carries over. A
 * refusal must say why; an accepted config must be complete. */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[128];

static void
remove_dir(void)
{
	(void)unlink(path);
	(void)rmdir(dir);
}

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fuzz_conf.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	atexit(remove_dir);
}

static void
write_input(const uint8_t *data, size_t size)
{
	ssize_t w;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		abort();
	while (size > 0) {
		if ((w = write(fd, data, size)) <= 0)
			abort();
		data += w;
		size -= (size_t)w;
	}
	if (close(fd) != 0)
		abort();
}

static void
check_config(const struct config *c)
{
	size_t i;

	if (c->file == NULL || c->user == NULL || c->pam_socket == NULL ||
	    c->n_listen == 0 || c->listen == NULL ||
	    c->tls.certificate == NULL || c->tls.private_key == NULL ||
	    c->tls.trust_anchors == NULL)
		abort();
	for (i = 0; i < c->policy.n_rules; i++) {
		if (c->policy.rules[i].name == NULL)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;
	char err[1024];
	int r;

	if (dir[0] == '\0')
		make_dir();
	write_input(data, size);
	err[0] = '\0';
	r = config_load(path, &c, err, sizeof(err));
	if (r == 0) {
		if (c == NULL)
			abort();
		check_config(c);
	} else if (c != NULL || err[0] == '\0' ||
	    (r != ERR_CONFIG && r != ERR_NOMEM)) {
		abort();
	}
	config_free(&c);
	(void)unlink(path);
	/* Error data OpenSSL queued (names, OIDs) would outlive the run. */
	ERR_clear_error();
	return 0;
}
