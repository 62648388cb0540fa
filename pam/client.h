/* The module's side of the local socket protocol (PROTOCOL.md): one
 * connection, one exchange, one deadline. Runs inside sshd, sudo or login,
 * so it blocks no longer than the deadline, installs no signal handler and
 * keeps no state between calls. */
#ifndef PAM_MTLS_CLIENT_H
#define PAM_MTLS_CLIENT_H

#include "proto.h"

/* Checks the socket at socket_path and its directory (lstat, no symbolic
 * links: the directory not writable by group or others, the socket owned
 * by root or by the directory's owner, the listening peer root or the
 * socket's owner), connects, and
 * runs HELLO, HELLO, REDEEM, OK|DENY, all within timeout_ms milliseconds
 * from the call.
 *
 * req is borrowed; its strings (NULL reads as empty) must fit the field
 * bounds of proto.h. Every buffer that held the ticket is wiped.
 *
 * Returns 0 when the daemon answered: *answer is then a PROTO_OK or a
 * PROTO_DENY message owned by the caller (free with proto_msg_clear); a
 * DENY may also come in place of the daemon's HELLO (version). On error
 * *answer is zeroed (proto_msg_clear is still safe) and the result is
 * ERR_INVALID (bad argument or request), ERR_NOMEM, ERR_IO (no socket,
 * refused, I/O failure), ERR_PERM (owner, mode, type or peer check),
 * ERR_TIMEOUT, ERR_CLOSED (peer closed early), ERR_TOOLONG (frame length
 * 0 or over PROTO_MAX_FRAME) or ERR_PROTO (malformed or unexpected frame,
 * bytes beyond the expected frame). */
int mtls_redeem(const char *socket_path, int timeout_ms,
    const struct proto_redeem *req, struct proto_msg *answer) MTLS_WUR;

#endif
