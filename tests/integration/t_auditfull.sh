#!/bin/bash
# The audit file unwritable mid-run (disk full: reloaded onto /dev/full):
# the daemon refuses new tickets (500 "audit log unavailable") and
# redemptions (PAM_AUTHINFO_UNAVAIL) rather than grant without a record,
# and says why; back on a writable file, it serves again.
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl pam
command -v jq >/dev/null || bail "jq is needed"

UNAVAIL="Authentication service cannot retrieve authentication info"
AUTH_ERR="Authentication failure"

write_pam_service mtls-test "$(mtls_auth_line)"
# The file exists and belongs to the daemon's user, as logrotate's
# "create" leaves it: after the privilege drop, a reload must be able to
# open it again.
: >"$AUDIT_FILE"
chown nobody "$AUDIT_FILE"
chmod 0640 "$AUDIT_FILE"
conf=$T/mtlsd.conf
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

reload() {
	run "$MTLSCTL" -c "$conf" reload
}
outstanding() {
	"$MTLSCTL" -c "$conf" status --json 2>/dev/null |
	    jq -r .tickets_outstanding
}
lines() {
	wc -l <"$AUDIT_FILE"
}
ticket_code() {
	mtls_curl "$1" -d "user=$2" "$(mtls_url /v1/tickets)"
}

# ---- writable: tickets and redemptions, each recorded ----------------------

tk1=$(get_ticket alice root) || bail "no ticket from mtlsd"
tk2=$(get_ticket alice root) || bail "no second ticket from mtlsd"
expect_pam success "audit file writable: a ticket redeems" \
    "$tk1" 127.0.0.1 mtls-test root
expect_eq "$(lines)" 3 "three decisions, three audit lines"
expect_eq "$(outstanding)" 1 "one ticket outstanding"

# ---- /dev/full: every write fails with ENOSPC -------------------------------

AUDIT_FILE=/dev/full write_config "$conf"
reload
expect_eq "$RC" 0 "reload onto audit.file = /dev/full"
before=$(lines)
log_from=$(wc -c <"$MTLSD_LOG")

code=$(ticket_code alice root)
expect_eq "$code" 500 "disk full: a ticket request is refused with 500"
expect_match "$(cat "$T/body")" "audit log unavailable" \
    "the answer says: audit log unavailable"
expect_eq "$(outstanding)" 1 "the unrecorded ticket is not in the store"
expect_pam "$UNAVAIL" "disk full: a redemption is refused (AUTHINFO_UNAVAIL)" \
    "$tk2" 127.0.0.1 mtls-test root
expect_eq "$(outstanding)" 0 "the ticket was consumed by the refusal"
# A refusal stands even when it cannot be recorded.
expect_eq "$(ticket_code bob root)" 403 "disk full: bob is still refused (403)"
new_log=$(tail -c +$((log_from + 1)) "$MTLSD_LOG")
expect_match "$new_log" '^<3>.*audit.*No space left on device' \
    "the daemon logs why (ENOSPC), at error"
expect_match "$new_log" 'event=ticket-denied .*reason="audit log unavailable"' \
    "and logs the ticket refusal with that reason"
expect_match "$new_log" 'event=redeem-denied .*reason="audit log unavailable"' \
    "and the refused redemption"
expect_nomatch "$new_log" 'event=(ticket-issued|redeemed) ' \
    "no grant reaches the log while the file cannot record it"
expect_eq "$(lines)" "$before" "the old audit file got nothing meanwhile"
ok "mtlsd is still running" kill -0 "$MTLSD_PID"

# ---- the file back: it serves again ---------------------------------------

write_config "$conf"
reload
expect_eq "$RC" 0 "reload back onto the audit file"
tk3=$(get_ticket alice root)
ok "file back: a ticket is issued (201)" test -n "$tk3"
expect_pam success "file back: it redeems" "$tk3" 127.0.0.1 mtls-test root
expect_pam "$AUTH_ERR" "the ticket refused on the full disk stays used" \
    "$tk2" 127.0.0.1 mtls-test root
expect_eq "$(lines)" $((before + 3)) "issued, redeemed and refused: recorded"
expect_eq "$(jq -r .event "$AUDIT_FILE" | tr '\n' ' ')" \
    "ticket-issued ticket-issued redeemed ticket-issued redeemed redeem-denied " \
    "the audit file holds exactly the recorded decisions"

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG" "$AUDIT_FILE"
done_testing
