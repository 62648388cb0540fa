#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "check.h"
#include "verify.h"

/* The audit file itself is created at start-up; its directory must be
 * there already, or the first decision could not be recorded. */
static int
audit_dir_ok(const char *where, const char *path, char *err, size_t errlen)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;
	size_t n;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir)) {
			snprintf(err, errlen, "%s: %s: path too long", where,
			    path);
			return ERR_CONFIG;
		}
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if (stat(dir, &st) != 0) {
		snprintf(err, errlen, "%s: audit file %s: directory %s: %s",
		    where, path, dir, strerror(errno));
		return ERR_CONFIG;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: audit file %s: %s is not a directory",
		    where, path, dir);
		return ERR_CONFIG;
	}
	return 0;
}

int
config_check(const char *path, struct config **out, char *err,
    size_t errlen)
{
	struct config *c = NULL;
	struct trust *trust = NULL;
	SSL_CTX *ctx = NULL;
	int r;

	if ((r = config_load(path, &c, err, errlen)) != 0 ||
	    (r = tls_server_ctx_new(&c->tls, &ctx, &trust, err, errlen)) != 0)
		goto out;
	if (c->audit.file != NULL &&
	    (r = audit_dir_ok(c->audit.where, c->audit.file, err, errlen)) != 0)
		goto out;
	*out = c;
	c = NULL;
	r = 0;
out:
	SSL_CTX_free(ctx);
	trust_free(&trust);
	config_free(&c);
	return r;
}
