/* Logging for the daemon and the tools: syslog (LOG_AUTHPRIV) and, in the
 * foreground, stderr too. Every line is one line: control characters in the
 * formatted message are replaced. Never pass a ticket or a key here.
 * The PAM module does not use this (it logs with pam_syslog). */
#ifndef MTLS_LOG_H
#define MTLS_LOG_H

#include <stddef.h>
#include <syslog.h>

/* ident is borrowed and must outlive logging. to_stderr: also write lines
 * to stderr; to_syslog: open syslog with LOG_AUTHPRIV; level: the least
 * severe priority written (LOG_INFO by default, LOG_DEBUG for mtlsd -d):
 * lines of a greater priority number are dropped, on syslog and stderr
 * alike. */
void log_init(const char *ident, int to_syslog, int to_stderr, int level);

/* The priority for a log_level name ("error", "warning", "notice",
 * "info", "debug") in *prio. Returns 0, or ERR_INVALID for any other
 * name (*prio untouched). */
int log_level_parse(const char *name, int *prio);

/* Journal mode for stderr (mtlsd -f with stderr not a terminal: systemd
 * or a supervisor reads it): each line is "<N>message", N the syslog
 * priority, with no ident or level word. Kept across log_init. */
void log_set_journal(int on);
int log_journal(void);

void log_msg(int prio, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERR, __func__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __func__, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __func__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __func__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __func__, __VA_ARGS__)

/* The daemon's lines are "event=NAME key=value ...". log_quote writes
 * value into dst[0..size) (size > 0) as such a value: as it is when it is
 * non-empty and has no space, double quote, '=' or backslash; otherwise
 * in double quotes, each double quote and backslash in it preceded by a
 * backslash. A value too long is cut, its quotes still closed; NULL is
 * written as "". Returns dst, for a %s argument. */
const char *log_quote(char *dst, size_t size, const char *value);

#define LOG_VALUE_MAX 512
/* log_quote into a buffer that lives to the end of the enclosing block:
 * log_info("event=x path=%s", LOG_Q(path)). */
#define LOG_Q(v) log_quote((char[LOG_VALUE_MAX]){ 0 }, LOG_VALUE_MAX, (v))

/* The OpenSSL boundary: drains the thread's OpenSSL error queue into one
 * log line at prio (event=openssl-error what=WHAT error="reason; ..."),
 * and writes the first reason into out (if out != NULL) for an error
 * message. */
void log_ossl(int prio, const char *func, const char *what, char *out,
    size_t outlen);

/* Translates OpenSSL's "1 is success": returns 0 if rc == 1, else logs the
 * error queue under what and returns ERR_TLS. */
int ossl_check(int rc, const char *func, const char *what);
#define OSSL_CHECK(rc, what) ossl_check((rc), __func__, (what))

#endif
