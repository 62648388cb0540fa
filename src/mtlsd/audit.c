#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "buf.h"
#include "json.h"
#include "log.h"

/* Certificate fields have no fixed bound; a record larger than this is
 * refused rather than cut, so an audit line is never silently partial. */
#define AUDIT_MAX_LINE (256 * 1024)

struct field {
	const char *key;
	const char *value;
};

#define N_FIELDS 12

static void
fields_of(const struct audit_rec *r, const char *now,
    struct field f[N_FIELDS])
{
	const struct ident *id = r->id;

	f[0] = (struct field){ "time", now };
	f[1] = (struct field){ "event", r->event };
	f[2] = (struct field){ "user", r->user };
	f[3] = (struct field){ "service", r->service };
	f[4] = (struct field){ "rhost", r->rhost };
	f[5] = (struct field){ "source", r->source };
	f[6] = (struct field){ "subject", id != NULL ? id->subject : NULL };
	f[7] = (struct field){ "issuer", id != NULL ? id->issuer : NULL };
	f[8] = (struct field){ "serial", id != NULL ? id->serial : NULL };
	f[9] = (struct field){ "fingerprint",
	    id != NULL ? id->fingerprint : NULL };
	f[10] = (struct field){ "rule", r->rule };
	f[11] = (struct field){ "reason", r->reason };
}

static int
needs_quotes(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c == 0x7f)
			return 1;
	}
	return 0;
}

/* A value as syslog readers split it: bare if it has no space, quote,
 * backslash or '='; otherwise quoted, with '"' and '\\' escaped and
 * control bytes as \xHH so that the record stays on one line. */
static int
put_kv_value(struct buf *b, const char *s)
{
	int r;

	if (!needs_quotes(s))
		return buf_put(b, s, strlen(s));
	if ((r = buf_put_u8(b, '"')) != 0)
		return r;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c < ' ' || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			r = buf_put(b, esc, 4);
		} else if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			r = buf_put(b, esc, 2);
		} else {
			r = buf_put_u8(b, c);
		}
		if (r != 0)
			return r;
	}
	return buf_put_u8(b, '"');
}

/* Absent fields are left out of the syslog line to keep it short. */
static int
format_kv(struct buf *b, const struct field f[N_FIELDS])
{
	int r;

	for (size_t i = 0; i < N_FIELDS; i++) {
		if (f[i].value == NULL || f[i].value[0] == '\0')
			continue;
		if (buf_avail(b) != 0 && (r = buf_put_u8(b, ' ')) != 0)
			return r;
		if ((r = buf_put(b, f[i].key, strlen(f[i].key))) != 0 ||
		    (r = buf_put_u8(b, '=')) != 0 ||
		    (r = put_kv_value(b, f[i].value)) != 0)
			return r;
	}
	return buf_put_u8(b, '\0');
}

/* Every key is present in the JSON record ("" when absent), so that a
 * reader can rely on the shape. */
static int
format_json(struct buf *b, const struct field f[N_FIELDS])
{
	int r;

	if ((r = buf_put_u8(b, '{')) != 0)
		return r;
	for (size_t i = 0; i < N_FIELDS; i++) {
		if (i != 0 && (r = buf_put_u8(b, ',')) != 0)
			return r;
		if ((r = json_put_string(b, f[i].key)) != 0 ||
		    (r = buf_put_u8(b, ':')) != 0 ||
		    (r = json_put_string(b, f[i].value)) != 0)
			return r;
	}
	return buf_put(b, "}\n", 2);
}

/* Straight to syslog rather than through log_msg: an audit line may be
 * longer than a log line, and it must land in authpriv whatever else. */
static void
audit_syslog(const struct field f[N_FIELDS], int to_stderr)
{
	struct buf *b = NULL;

	if ((b = buf_new(AUDIT_MAX_LINE)) == NULL || format_kv(b, f) != 0) {
		log_error("event=audit-failed decision=%s reason=\"cannot "
		    "format the audit line\"", LOG_Q(f[1].value));
		goto out;
	}
	syslog(LOG_AUTHPRIV | LOG_NOTICE, "audit: %s",
	    (const char *)buf_ptr(b));
	if (to_stderr && log_journal())
		dprintf(STDERR_FILENO, "<%d>audit: %s\n", LOG_NOTICE,
		    (const char *)buf_ptr(b));
	else if (to_stderr)
		dprintf(STDERR_FILENO, "%s: audit: %s\n",
		    program_invocation_short_name, (const char *)buf_ptr(b));
out:
	buf_free(&b);
}

/* One write() of the whole line: with O_APPEND the kernel places it at
 * the end in one piece, so concurrent writers never interleave records. */
static int
audit_file(int fd, const struct field f[N_FIELDS])
{
	struct buf *b = NULL;
	ssize_t n;
	int r = ERR_IO;

	if ((b = buf_new(AUDIT_MAX_LINE)) == NULL || format_json(b, f) != 0) {
		log_error("event=audit-failed decision=%s reason=\"cannot "
		    "format the audit record\"", LOG_Q(f[1].value));
		goto out;
	}
	do {
		n = write(fd, buf_ptr(b), buf_avail(b));
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		log_error("event=audit-failed reason=\"write failed\" "
		    "error=%s", LOG_Q(strerror(errno)));
		goto out;
	}
	if ((size_t)n != buf_avail(b)) {
		log_error("event=audit-failed reason=\"short write\" "
		    "written=%zd size=%zu", n, buf_avail(b));
		goto out;
	}
	r = 0;
out:
	buf_free(&b);
	return r;
}

static int
is_grant(const char *event)
{
	return event != NULL && (strcmp(event, AUDIT_TICKET_ISSUED) == 0 ||
	    strcmp(event, AUDIT_REDEEMED) == 0);
}

int
audit_record(const struct audit *a, const struct audit_rec *r)
{
	struct field f[N_FIELDS];
	char now[32] = "";
	struct tm tm;
	time_t t = time(NULL);
	int rc = 0;

	if (gmtime_r(&t, &tm) != NULL)
		strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fields_of(r, now, f);
	/* The file first: a grant it cannot record does not happen, and
	 * syslog must not claim it did. The caller records the refusal
	 * that follows instead. A refusal goes to syslog in any case. */
	if (a->fd >= 0 && audit_file(a->fd, f) != 0) {
		rc = ERR_IO;
		if (is_grant(r->event))
			return rc;
	}
	audit_syslog(f, a->to_stderr);
	return rc;
}

int
audit_open(const char *path, int *fd, char *err, size_t errlen)
{
	int f;

	f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0640);
	if (f < 0) {
		snprintf(err, errlen, "%s: cannot open audit file: %s", path,
		    strerror(errno));
		return ERR_IO;
	}
	*fd = f;
	return 0;
}

