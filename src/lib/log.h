/* Logging for the daemon and the tools: syslog (LOG_AUTHPRIV) and, in the
 * foreground, stderr too. Every line is one line: control characters in the
 * formatted message are replaced. Never pass a ticket or a key here.
 * The PAM module does not use this (it logs with pam_syslog). */
#ifndef MTLS_LOG_H
#define MTLS_LOG_H

#include <syslog.h>

/* ident is borrowed and must outlive logging. to_stderr: also write lines
 * to stderr; to_syslog: open syslog with LOG_AUTHPRIV; debug: let
 * LOG_DEBUG lines through. */
void log_init(const char *ident, int to_syslog, int to_stderr, int debug);

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

/* The OpenSSL boundary: drains the thread's OpenSSL error queue into one
 * log line at prio ("what: reason; reason"), and writes the first reason
 * into out (if out != NULL) for an error message. */
void log_ossl(int prio, const char *func, const char *what, char *out,
    size_t outlen);

/* Translates OpenSSL's "1 is success": returns 0 if rc == 1, else logs the
 * error queue under what and returns ERR_TLS. */
int ossl_check(int rc, const char *func, const char *what);
#define OSSL_CHECK(rc, what) ossl_check((rc), __func__, (what))

#endif
