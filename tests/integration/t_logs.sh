#!/bin/bash
# The daemon's log: every line one line of key=value fields starting with
# event=NAME (values quoted when they must be, with \" and \\ inside), in
# the journal form of mtlsd -f with stderr not a terminal; log_level lets
# through its level and the more severe ones only; audit records are no
# log lines and are never dropped by the level.
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl pam
command -v jq >/dev/null || bail "jq is needed"
command -v setpriv >/dev/null || bail "setpriv is needed"
# One the unprivileged uid below can run (not a shim under /root).
PYTHON=$(command -v /usr/bin/python3 || command -v python3) ||
    bail "python3 is needed"

# A log line: "<N>" (journal) or "mtlsd: LEVEL: " (a terminal), then the
# fields. An audit record on stderr: "<5>audit: " or "mtlsd: audit: ",
# then its own key=value fields, from time= on.
VALUE='("([^"\\]|\\.)*"|[^ "]*)'
LOG_RE="^(<[0-7]>|mtlsd: (error|warning|notice|info|debug): )event=[a-z-]+( [a-z_]+=$VALUE)*\$"
AUDIT_RE="^(<5>|mtlsd: )audit: time=[^ \"]+( [a-z_]+=$VALUE)*\$"

# bad_lines FILE: prints the lines that are neither; fails if there are.
bad_lines() {
	! grep -Ev -- "$LOG_RE|$AUDIT_RE" "$1"
}

# The checker itself: it refuses what is not one line of fields.
printf '%s\n' '<6>event=ok a=1 b="x y" c="q\"q" d="\\" e=' >"$T/good.probe"
ok "the line checker takes well-formed lines" bad_lines "$T/good.probe"
for line in '<6>mtlsd ready: listening on 127.0.0.1:1' \
    '<6>event=x reason="open quote' '<6>event=x reason=a"b' \
    '<6>event=x reason="a" b' '<6>event=x  a=1' '<6>event=X' \
    '<6>event=x Key=1' 'mtlsd: info: mtlsd ready' '<5>audit: event=x' \
    '<6>event=x reason="ends in \"'; do
	printf '%s\n' "$line" >"$T/bad.probe"
	nok "the line checker refuses: $line" bad_lines "$T/bad.probe"
done

conf=$T/mtlsd.conf
write_pam_service mtls-test "$(mtls_auth_line)"
write_config "$conf"

# some_lines: a line of each kind; four decisions for the audit file
# (WANT_EVENTS: a refused handshake and a malformed request are none).
some_lines() {
	local tk
	mtls_curl revoked -d user=root "$(mtls_url /v1/tickets)" >/dev/null
	tk=$(get_ticket alice root) || return 1
	mtls_curl bob -d user=root "$(mtls_url /v1/tickets)" >/dev/null
	mtls_curl alice -H 'Content-Type: application/json' -d '{"u":1}' \
	    "$(mtls_url /v1/tickets)" >/dev/null
	pam_try "$tk" 127.0.0.1 mtls-test root || return 1
	pam_try "$tk" 127.0.0.1 mtls-test root && return 1
	# A uid that is no PAM peer, past the file mode, refused by
	# SO_PEERCRED.
	chmod 0666 "$PAM_SOCK"
	setpriv --reuid=12345 --regid=12345 --clear-groups "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.recv(1)' "$PAM_SOCK" 2>/dev/null
	chmod 0660 "$PAM_SOCK"
	"$MTLSCTL" -c "$conf" reload >/dev/null || return 1
}

audit_lines() {
	[ -f "$AUDIT_FILE" ] && grep -c . "$AUDIT_FILE" || echo 0
}
audit_at_least() {
	[ "$(audit_lines)" -ge "$1" ]
}
# audit_events FROM: the events of the audit records after the first FROM.
audit_events() {
	tail -n +"$(($1 + 1))" "$AUDIT_FILE" | jq -r .event | tr '\n' ' '
}
WANT_EVENTS='ticket-issued ticket-denied redeemed redeem-denied '

# ---- log_level = "debug" ----------------------------------------------------

start_mtlsd "$conf" || bail "mtlsd did not start"
ok "debug: the lines were made" some_lines
wait_for 5 audit_at_least 4
stop_mtlsd
LOG=$(cat "$MTLSD_LOG")

ok "debug: every line is event=NAME and key=value fields" bad_lines "$MTLSD_LOG"
expect_match "$LOG" "^<5>event=ready version=[^ ]+ listen=127\.0\.0\.1:$MTLS_PORT pam_socket=$PAM_SOCK control_socket=$CTL_SOCK\$" \
    "ready: the listener and the sockets"
expect_match "$LOG" \
    '^<6>event=handshake-refused peer=127\.0\.0\.1 reason="certificate revoked"$' \
    "a refused handshake: peer and reason"
expect_match "$LOG" \
    '^<5>event=certificate-refused subject="CN=alice,OU=ops,O=Example" reason="certificate revoked"$' \
    "the refused certificate: subject (quoted, it has '=') and reason"
expect_match "$LOG" \
    '^<6>event=request-malformed peer=127\.0\.0\.1 reason="expected \{\\"user\\":\\"NAME\\"\}"$' \
    "a malformed request: quotes inside a value are escaped"
expect_match "$LOG" \
    '^<4>event=pam-refused uid=12345 pid=[0-9]+ reason="uid not allowed"$' \
    "a PAM peer refused: uid, pid, reason"
expect_match "$LOG" '^<7>event=pam-connected uid=0 pid=[0-9]+ func=[a-z_]+$' \
    "debug lines are written, their function a last field"
expect_match "$LOG" "^<5>event=reloaded config=$conf rules=2\$" \
    "the reload"
expect_match "$LOG" '^<5>event=shutdown signal=15$' "the shutdown"
expect_match "$LOG" '^<5>audit: time=[^ ]+ event=ticket-issued user=root ' \
    "the audit records on stderr too"
expect_eq "$(audit_events 0)" "$WANT_EVENTS" \
    "debug: the audit file has every decision"
ok "no ticket in the log" no_ticket_in "$MTLSD_LOG"

# ---- log_level = "warning" --------------------------------------------------

sed 's/^log_level = "debug";$/log_level = "warning";/' "$conf" >"$T/warn.conf"
conf=$T/warn.conf
expect_eq "$(conf_value "$conf" log_level)" warning "the config says warning"
: >"$MTLSD_LOG"
before=$(audit_lines)
start_mtlsd "$conf" || bail "mtlsd did not start"
ok "warning: the lines were made" some_lines
wait_for 5 audit_at_least $((before + 4))
stop_mtlsd
LOG=$(cat "$MTLSD_LOG")

ok "warning: every line is event=NAME and key=value fields" \
    bad_lines "$MTLSD_LOG"
expect_eq "$(grep -cE '^<[5-7]>event=' "$MTLSD_LOG")" 0 \
    "warning: no notice, info or debug line"
expect_nomatch "$LOG" 'event=(ready|handshake-refused|request-malformed|reloaded|shutdown)' \
    "warning: ready, refused handshake, malformed request, reload, shutdown not logged"
expect_match "$LOG" \
    '^<4>event=pam-refused uid=12345 pid=[0-9]+ reason="uid not allowed"$' \
    "warning: the warning is kept"
expect_eq "$(grep -c '^<5>audit: ' "$MTLSD_LOG")" 4 \
    "warning: the audit records still reach stderr (4, at notice)"
expect_eq "$(audit_events "$before")" "$WANT_EVENTS" \
    "warning: the audit file still has every decision"
ok "no ticket in the log" no_ticket_in "$MTLSD_LOG" "$AUDIT_FILE"

done_testing
