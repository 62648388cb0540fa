#!/bin/bash
# pam_mtls.so driven by pamtester under pam_wrapper: what a ticket opens
# and what it does not.
. "${0%/*}/lib.sh"
itest_init mtlsd pam
command -v jq >/dev/null || bail "jq is needed"

AUTH_ERR="Authentication failure"
UNKNOWN="User not known to the underlying authentication module"

# audit_reason REASON DESC: the daemon's last audit record gives REASON
# (so that a refusal is refused for the reason the test means).
last_reason() {
	[ "$(tail -n 1 "$AUDIT_FILE" 2>/dev/null | jq -r .reason 2>/dev/null)" = "$1" ]
}
audit_reason() {
	if wait_for 2 last_reason "$1"; then
		pass "$2"
	else
		fail "$2"
		diag "last audit record: $(tail -n 1 "$AUDIT_FILE" 2>/dev/null)"
	fi
}

# pam_exec after our module dumps the PAM environment it set.
cat >"$T/dumpenv.sh" <<EOF2
#!/bin/sh
env >"$T/pamenv.out"
EOF2
chmod 0755 "$T/dumpenv.sh"

write_pam_service permit-test "auth required pam_permit.so"
write_pam_service deny-test "auth required pam_deny.so"
write_pam_service mtls-test "$(mtls_auth_line)" \
    "auth required pam_exec.so quiet $T/dumpenv.sh"
write_pam_service sudo-mtls "$(mtls_auth_line)"
write_pam_service login-mtls "$(mtls_auth_line)"

# The harness itself: services really come from $PAMD.
expect_pam success "harness: pam_permit service succeeds" x 127.0.0.1 \
    permit-test root
expect_pam "$AUTH_ERR" "harness: pam_deny service fails" x 127.0.0.1 \
    deny-test root

conf=$T/mtlsd.conf
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
rm -f "$T/pamenv.out"
expect_pam success "fresh ticket for root from 127.0.0.1" \
    "$tk" 127.0.0.1 mtls-test root
if [ -f "$T/pamenv.out" ]; then
	expect_match "$(cat "$T/pamenv.out")" \
	    '^MTLS_SUBJECT=CN=alice,OU=ops,O=Example$' \
	    "PAM env MTLS_SUBJECT is alice's subject"
	diag "PAM env set: $(grep '^MTLS_' "$T/pamenv.out" | cut -d= -f1 |
	    tr '\n' ' ')"
else
	fail "PAM env MTLS_SUBJECT is alice's subject"
	diag "pam_exec did not run"
fi
expect_pam "$AUTH_ERR" "the same ticket again (replay)" \
    "$tk" 127.0.0.1 mtls-test root
audit_reason bad_ticket "replay: audited as bad_ticket"

tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
rm -f "$T/pamenv.out"
expect_pam "$AUTH_ERR" "root's ticket presented for user daemon" \
    "$tk" 127.0.0.1 mtls-test daemon
audit_reason wrong_user "other user: audited as wrong_user"
ok "pam_exec ran after the refusal" test -f "$T/pamenv.out"
nok "no MTLS_SUBJECT after a refusal" \
    grep -q '^MTLS_SUBJECT=' "$T/pamenv.out"
expect_pam "$AUTH_ERR" "that ticket is consumed by the refusal" \
    "$tk" 127.0.0.1 mtls-test root

tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
expect_pam "$AUTH_ERR" "ticket redeemed from another address (127.0.0.9)" \
    "$tk" 127.0.0.9 mtls-test root
audit_reason wrong_rhost "other address: audited as wrong_rhost"

expect_pam "$AUTH_ERR" "a made-up ticket" \
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" 127.0.0.1 mtls-test root
audit_reason bad_ticket "made-up ticket: audited as bad_ticket"
expect_pam "$AUTH_ERR" "a made-up ticket of garbage" \
    'not a ticket at all' 127.0.0.1 mtls-test root

tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
expect_pam "$UNKNOWN" "a user unknown to the system" \
    "$tk" 127.0.0.1 mtls-test no-such-user-mtls

# Local services (no PAM_RHOST): refused unless listed.
tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
expect_pam "$AUTH_ERR" "no rhost, service not local: refused" \
    "$tk" "" sudo-mtls root
audit_reason wrong_rhost "no rhost: audited as wrong_rhost"

stop_mtlsd
CONF_LOCAL_SERVICES='"sudo-mtls"' write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start (local_services)"
tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
expect_pam success "no rhost, service in tickets.local_services: accepted" \
    "$tk" "" sudo-mtls root
tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
expect_pam "$AUTH_ERR" "no rhost, another service: still refused" \
    "$tk" "" login-mtls root

# Expiry: lifetime 3 s. The store counts whole seconds, so a ticket lives
# between lifetime - 1 and lifetime seconds: 3 leaves a used-at-once ticket
# at least 2 s, even on a loaded machine, and 4.5 s is past any expiry.
stop_mtlsd
CONF_LIFETIME=3 write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start (lifetime 3)"
tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
expect_pam success "lifetime 3 s: a ticket used at once works" \
    "$tk" 127.0.0.1 mtls-test root
tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
sleep 4.5
expect_pam "$AUTH_ERR" "lifetime 3 s: the ticket 4.5 s later is expired" \
    "$tk" 127.0.0.1 mtls-test root
audit_reason expired "late ticket: audited as expired"

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG" "$AUDIT_FILE"

done_testing
