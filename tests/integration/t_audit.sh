#!/bin/bash
# The JSON-lines audit file: one complete line per decision, no ticket.
. "${0%/*}/lib.sh"
itest_init mtlsd pam
command -v jq >/dev/null || bail "jq is needed"

KEYS='["event","user","service","rhost","source","subject","issuer","serial","fingerprint","rule","reason"]'

write_pam_service mtls-test "$(mtls_auth_line)"
conf=$T/mtlsd.conf
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

# Five decisions: issued, denied (policy), denied (no rule), redeemed,
# redeem denied (replay).
tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
code=$(mtls_curl alice -d user=daemon "$(mtls_url /v1/tickets)")
expect_eq "$code" 403 "alice for daemon: 403"
code=$(mtls_curl bob -d user=root "$(mtls_url /v1/tickets)")
expect_eq "$code" 403 "bob for root: 403"
expect_pam success "redeem the ticket" "$tk" 127.0.0.1 mtls-test root
expect_pam "Authentication failure" "redeem it again" "$tk" 127.0.0.1 \
    mtls-test root

lines() {
	[ -f "$AUDIT_FILE" ] && wc -l <"$AUDIT_FILE" || echo 0
}
have_lines() {
	[ "$(lines)" -ge "$1" ]
}
wait_for 5 have_lines 5
sleep 0.3 # give a (wrong) sixth line the time to show up
expect_eq "$(lines)" 5 "one audit line per decision (5)"

bad=0
while IFS= read -r line; do
	printf '%s\n' "$line" | jq -e 'type == "object"' >/dev/null 2>&1 ||
	    bad=$((bad + 1))
done <"$AUDIT_FILE"
expect_eq "$bad" 0 "every audit line is a JSON object"

missing=$(jq -c --argjson k "$KEYS" '$k - keys' "$AUDIT_FILE" 2>/dev/null |
    grep -v '^\[\]$' | head -n 1)
expect_eq "$missing" "" "every line has all the audit fields"

fp=sha256:$(openssl x509 -in "$PKI/alice.pem" -noout -fingerprint -sha256 |
    cut -d= -f2 | tr -d ':' | tr 'A-F' 'a-f')

# event_ok EVENT DESC JQ-CONDITION: exactly one line with that event, and
# it satisfies the condition.
event_ok() {
	local n
	n=$(jq -c --arg e "$1" 'select(.event == $e)' "$AUDIT_FILE" |
	    grep -c .)
	if [ "$n" = "${4:-1}" ] &&
	    jq -e --arg e "$1" --arg fp "$fp" -s \
	    "map(select(.event == \$e)) | all($3)" "$AUDIT_FILE" >/dev/null; then
		pass "$2"
	else
		fail "$2"
		diag "$n line(s) for $1:" "$(grep -F "\"$1\"" "$AUDIT_FILE")"
	fi
}

alice='.subject == "CN=alice,OU=ops,O=Example"'
event_ok ticket-issued "ticket-issued: user, source, subject, rule" \
    ".user == \"root\" and .source == \"127.0.0.1\" and $alice and
     (.fingerprint | ascii_downcase) == \$fp and .rule == \"alice\" and
     (.issuer | test(\"Example Test Root\")) and .serial != \"\""
event_ok ticket-denied "ticket-denied: both refusals, with a reason" \
    '.reason != "" and .source == "127.0.0.1" and .subject != ""' 2
ok "ticket-denied: alice for daemon and bob for root" jq -e -s '
    [.[] | select(.event == "ticket-denied") | .user + " " + .subject] |
    sort == ["daemon CN=alice,OU=ops,O=Example", "root CN=bob,OU=dev,O=Example"]' \
    "$AUDIT_FILE"
event_ok redeemed "redeemed: user, service, rhost, subject, rule" \
    ".user == \"root\" and .service == \"mtls-test\" and
     .rhost == \"127.0.0.1\" and $alice and .rule == \"alice\" and
     (.fingerprint | ascii_downcase) == \$fp"
event_ok redeem-denied "redeem-denied: the replay, with a reason" \
    '.user == "root" and .service == "mtls-test" and
     .rhost == "127.0.0.1" and .reason != ""'

expect_eq "$(grep -c . "$T/tickets")" 1 "one ticket was issued"
ok "the ticket is not in the audit file" no_ticket_in "$AUDIT_FILE"
ok "the ticket is not in mtlsd's log" no_ticket_in "$MTLSD_LOG"
# The leak check itself: it does see a ticket that is there.
cp "$AUDIT_FILE" "$T/leak.probe"
cat "$T/tickets" >>"$T/leak.probe"
nok "the leak check finds a planted ticket" no_ticket_in "$T/leak.probe"

done_testing
