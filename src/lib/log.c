#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "err.h"
#include "log.h"

/* Longest message kept; longer ones are cut, which is fine for a log. */
#define LOG_MSG_MAX 1024
/* Room for "ident: level: " and the newline around a message. */
#define LOG_LINE_MAX (LOG_MSG_MAX + 256)

/* Until log_init runs, tools get plain stderr output under their name. */
static struct {
	const char *ident;
	int to_syslog;
	int to_stderr;
	int level;     /* the least severe priority written */
	int journal;   /* log_set_journal; log_init leaves it alone */
} log_state = { NULL, 0, 1, LOG_INFO, 0 };

/* The log_level names, most severe first; "emerg" to "crit" are not
 * offered: a threshold that drops errors hides what must be seen. */
static const struct {
	const char *name;
	int prio;
} log_levels[] = {
	{ "error", LOG_ERR },
	{ "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE },
	{ "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
};

void
log_set_journal(int on)
{
	log_state.journal = on;
}

int
log_journal(void)
{
	return log_state.journal;
}

void
log_init(const char *ident, int to_syslog, int to_stderr, int level)
{
	if (log_state.to_syslog)
		closelog();
	log_state.ident = ident;
	log_state.to_syslog = to_syslog;
	log_state.to_stderr = to_stderr;
	log_state.level = level;
	if (to_syslog)
		openlog(ident, LOG_PID, LOG_AUTHPRIV);
}

int
log_level_parse(const char *name, int *prio)
{
	if (name == NULL)
		return ERR_INVALID;
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]);
	    i++) {
		if (strcmp(name, log_levels[i].name) == 0) {
			*prio = log_levels[i].prio;
			return 0;
		}
	}
	return ERR_INVALID;
}

static int
needs_quotes(const char *v)
{
	return *v == '\0' || strpbrk(v, " \"=\\") != NULL;
}

const char *
log_quote(char *dst, size_t size, const char *value)
{
	const char *v = value != NULL ? value : "";
	size_t o = 0;

	if (size == 0)
		return dst;
	if (!needs_quotes(v)) {
		snprintf(dst, size, "%s", v);
		return dst;
	}
	/* Room kept for the closing quote and the NUL; an escape is written
	 * whole or not at all, so a cut value still parses. */
	if (size < 3) {
		dst[0] = '\0';
		return dst;
	}
	dst[o++] = '"';
	for (; *v != '\0'; v++) {
		int esc = *v == '"' || *v == '\\';

		if (o + (size_t)esc + 1 > size - 2)
			break;
		if (esc)
			dst[o++] = '\\';
		dst[o++] = *v;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}

static const char *
level_str(int prio)
{
	switch (prio) {
	case LOG_EMERG:
		return "emerg";
	case LOG_ALERT:
		return "alert";
	case LOG_CRIT:
		return "crit";
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	case LOG_DEBUG:
		return "debug";
	default:
		return "log";
	}
}

/* Keeps a line one line: no newline, escape or other control byte that a
 * peer put into a name can forge or hide log entries. */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
	}
}

static void
write_stderr(int prio, const char *msg)
{
	char line[LOG_LINE_MAX];
	const char *ident = log_state.ident != NULL ? log_state.ident :
	    program_invocation_short_name;
	int n;
	size_t len;
	ssize_t w;

	/* The journal records the program and the time itself, and reads
	 * the priority from "<N>" (sd-daemon(3)). */
	if (log_state.journal)
		n = snprintf(line, sizeof(line), "<%d>%s\n", prio & LOG_PRIMASK,
		    msg);
	else
		n = snprintf(line, sizeof(line), "%s: %s: %s\n", ident,
		    level_str(prio), msg);
	if (n < 0)
		return;
	len = (size_t)n;
	if (len >= sizeof(line)) {
		len = sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	/* One write() per line, so concurrent writers do not interleave. */
	w = write(STDERR_FILENO, line, len);
	(void)w; /* nowhere left to report a failing stderr */
}

void
log_msg(int prio, const char *func, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	size_t off = 0;
	int saved_errno = errno;
	int n;
	va_list ap;

	if (LOG_PRI(prio) > log_state.level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	/* After the fields, so that a line still starts with its event. */
	if (LOG_PRI(prio) == LOG_DEBUG && func != NULL) {
		off = strlen(msg);
		snprintf(msg + off, sizeof(msg) - off, " func=%s", func);
	}
	sanitize(msg);
	if (log_state.to_syslog)
		syslog(prio, "%s", msg);
	if (log_state.to_stderr)
		write_stderr(prio, msg);
	errno = saved_errno;
}

/* Appends s to dst[0..size) after sep, cutting it if needed. */
static void
append(char *dst, size_t size, const char *sep, const char *s)
{
	size_t used = strlen(dst);

	if (used > 0 && used < size)
		used += (size_t)snprintf(dst + used, size - used, "%s", sep);
	if (used < size)
		snprintf(dst + used, size - used, "%s", s);
}

void
log_ossl(int prio, const char *func, const char *what, char *out,
    size_t outlen)
{
	char all[LOG_VALUE_MAX] = "";  /* one value of the line */
	char one[256];
	const char *data = NULL, *reason;
	unsigned long e;
	int flags = 0;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		ERR_error_string_n(e, one, sizeof(one));
		append(all, sizeof(all), "; ", one);
		if ((flags & ERR_TXT_STRING) && data != NULL && *data != '\0')
			append(all, sizeof(all), ": ", data);
		if (out != NULL && outlen > 0 && out[0] == '\0') {
			reason = ERR_reason_error_string(e);
			snprintf(out, outlen, "%s", reason != NULL ? reason :
			    one);
		}
	}
	if (all[0] == '\0')
		append(all, sizeof(all), "", "no OpenSSL error reported");
	if (out != NULL && outlen > 0 && out[0] == '\0')
		snprintf(out, outlen, "%s", "unknown TLS error");
	log_msg(prio, func, "event=openssl-error what=%s error=%s",
	    LOG_Q(what != NULL ? what : "OpenSSL"), LOG_Q(all));
}

int
ossl_check(int rc, const char *func, const char *what)
{
	if (rc == 1)
		return 0;
	log_ossl(LOG_ERR, func, what, NULL, 0);
	return ERR_TLS;
}
