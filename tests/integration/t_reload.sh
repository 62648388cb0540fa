#!/bin/bash
# Reload (mtlsctl reload and SIGHUP): new rules, CRLs and the server
# certificate take effect without a restart; a bad config is refused with
# file:line and the running one stays; outstanding tickets survive, but a
# certificate no longer allowed is refused at redemption; the audit file
# is reopened after rotation.
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl pam
command -v jq >/dev/null || bail "jq is needed"

conf=$T/mtlsd.conf
ALICE='  { name = "alice"; subject = "CN=alice,OU=ops,O=Example"; users = [ "root" ]; }'
BOB='  { name = "bob"; subject = "CN=bob,OU=dev,O=Example"; users = [ "root" ]; }'
# The root CRL the daemon reads: starts empty, later replaced.
cp "$PKI/ca-empty.crl" "$T/root.crl"
chmod 0644 "$T/root.crl"
CONF_CRL="\"$T/root.crl\", \"$PKI/int.crl\""

write_pam_service mtls-test "$(mtls_auth_line)"
CONF_RULES=$ALICE write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

ticket_code() {
	mtls_curl "$1" -d "user=$2" "$(mtls_url /v1/tickets)"
}

reload() {
	run "$MTLSCTL" -c "$conf" reload
}

status_json() {
	"$MTLSCTL" -c "$conf" status --json
}

# ---- good reload: a new rule takes effect -----------------------------------

expect_eq "$(ticket_code bob root)" 403 "before: bob is refused"
CONF_RULES="$ALICE,
$BOB" write_config "$conf"
reload
expect_eq "$RC" 0 "mtlsctl reload: exit 0"
expect_match "$OUT" "^reloaded $conf\$" "mtlsctl reload says reloaded"
expect_eq "$(ticket_code bob root)" 201 "after: bob is granted, no restart"
ok "same process" kill -0 "$MTLSD_PID"
expect_eq "$(status_json | jq -r .reloads.ok)" 1 "status counts the reload"

# ---- bad reload: refused with file:line, the old config serves ---------------

cp "$conf" "$T/good.conf"
printf 'rules = ( { name = "broken"; \n' >>"$conf"
reload
expect_eq "$RC" 1 "bad config: mtlsctl reload exits 1"
expect_match "$ERR" "reload refused: $conf:[0-9]+: " \
    "the refusal names file and line"
expect_match "$(cat "$MTLSD_LOG")" \
    "<3>event=reload-refused config=$conf reason=\"$conf:[0-9]+: " \
    "the daemon logs the refusal at error"
expect_eq "$(ticket_code bob root)" 201 "the old config still serves bob"

# SIGHUP with the same bad file: logged, the daemon stays.
n_refused=$(grep -c 'event=reload-refused' "$MTLSD_LOG")
kill -HUP "$MTLSD_PID"
refused_more() {
	[ "$(grep -c 'event=reload-refused' "$MTLSD_LOG")" -gt "$n_refused" ]
}
ok "SIGHUP with a bad config: refusal logged" wait_for 5 refused_more
ok "the daemon survives a bad SIGHUP" kill -0 "$MTLSD_PID"
expect_eq "$(ticket_code alice root)" 201 "and still serves alice"
expect_eq "$(status_json | jq -r .reloads.failed)" 2 \
    "status counts both refused reloads"

# A semantic error (unknown key) is refused the same way.
cp "$T/good.conf" "$conf"
printf 'no_such_key = 1;\n' >>"$conf"
reload
expect_eq "$RC" 1 "unknown key: reload refused"
expect_match "$ERR" "$conf:[0-9]+: .*no_such_key" "the reason names the key"

# What is bound before the privilege drop cannot change on a reload.
other_port=$(free_ports 1)
CONF_LISTEN="\"127.0.0.1:$other_port\"" CONF_RULES="$ALICE,
$BOB" write_config "$conf"
reload
expect_eq "$RC" 1 "listen changed: reload refused"
expect_match "$ERR" "listen changed: that needs a restart" \
    "the refusal says a restart is needed"
nok "nothing listens on the new port" port_open 127.0.0.1 "$other_port"
cp "$T/good.conf" "$conf"
reload
expect_eq "$RC" 0 "the good config reloads again"

# ---- rules changed under an outstanding ticket --------------------------------

tk=$(get_ticket bob root) || bail "no ticket for bob"
CONF_RULES=$ALICE write_config "$conf"
reload
expect_eq "$RC" 0 "reload without bob's rule"
expect_pam "Authentication failure" \
    "bob's outstanding ticket is refused after the reload" \
    "$tk" 127.0.0.1 mtls-test root
expect_match "$(tail -n 1 "$AUDIT_FILE")" '"event":"redeem-denied"' \
    "audited as redeem-denied"
tk=$(get_ticket alice root) || bail "no ticket for alice"
reload
expect_eq "$RC" 0 "another reload"
expect_pam success "an outstanding ticket survives a reload" \
    "$tk" 127.0.0.1 mtls-test root

# ---- CRL changed ---------------------------------------------------------------

expect_eq "$(ticket_code revoked root)" 201 \
    "revoked.pem is accepted while the CRL is empty"
cp "$PKI/ca.crl" "$T/root.crl"
reload
expect_eq "$RC" 0 "reload with the new CRL"
expect_eq "$(ticket_code revoked root)" 000 \
    "after the reload revoked.pem is refused in the handshake"
expect_eq "$(status_json |
    jq -r '.handshakes_refused.by_reason["certificate revoked"]')" 1 \
    "status counts it as certificate revoked"

# ---- server certificate rotated ---------------------------------------------------

served_serial() {
	openssl s_client -connect "127.0.0.1:$MTLS_PORT" -CAfile "$PKI/ca.pem" \
	    -cert "$PKI/alice.pem" -key "$PKI/alice.key" </dev/null 2>/dev/null |
	    openssl x509 -noout -serial 2>/dev/null
}
old_serial=$(openssl x509 -in "$PKI/server.pem" -noout -serial)
expect_eq "$(served_serial)" "$old_serial" "the first server certificate is served"
PKI_LOG=$T/pki2.log
pki_issue "$PKI" ca server2 "/O=Example/CN=localhost" ext_server ||
    bail "cannot issue server2"
chmod 0644 "$PKI/server2.pem" "$PKI/server2.key"
new_serial=$(openssl x509 -in "$PKI/server2.pem" -noout -serial)
CONF_CERT=$PKI/server2.pem CONF_KEY=$PKI/server2.key CONF_RULES=$ALICE \
    write_config "$conf"
reload
expect_eq "$RC" 0 "reload with the new server certificate"
expect_eq "$(served_serial)" "$new_serial" \
    "the new server certificate is served after the reload"
# A key that does not match: refused, the new certificate stays.
CONF_CERT=$PKI/server.pem CONF_KEY=$PKI/server2.key CONF_RULES=$ALICE \
    write_config "$conf"
reload
expect_eq "$RC" 1 "mismatched key: reload refused"
expect_match "$ERR" "does not match" "the reason says the key does not match"
expect_eq "$(served_serial)" "$new_serial" "the running certificate stays"
CONF_CERT=$PKI/server2.pem CONF_KEY=$PKI/server2.key CONF_RULES=$ALICE \
    write_config "$conf"

# ---- audit file rotated ------------------------------------------------------------

mv "$AUDIT_FILE" "$AUDIT_FILE.1"
old_lines=$(wc -l <"$AUDIT_FILE.1")
kill -HUP "$MTLSD_PID"
reopened() {
	[ -f "$AUDIT_FILE" ]
}
ok "SIGHUP reopens the audit file" wait_for 5 reopened
get_ticket alice root >/dev/null || fail "ticket after rotation"
expect_eq "$(wc -l <"$AUDIT_FILE")" 1 "the new file gets the next record"
expect_eq "$(wc -l <"$AUDIT_FILE.1")" "$old_lines" \
    "the rotated file gets nothing more"
expect_match "$(cat "$AUDIT_FILE")" '"event":"ticket-issued"' \
    "and it is the ticket just issued"

# A reopen that fails keeps the old file and says so.
mv "$AUDIT_FILE" "$AUDIT_FILE.2"
mkdir "$AUDIT_FILE" # a directory where the file should be
reload
expect_eq "$RC" 0 "a failed audit reopen does not refuse the reload"
expect_match "$(cat "$MTLSD_LOG")" "<3>event=audit-reopen-failed" \
    "the failed reopen is logged at error"
get_ticket alice root >/dev/null || fail "ticket with the old audit fd"
expect_eq "$(wc -l <"$AUDIT_FILE.2")" 2 "records go on to the old file"
rmdir "$AUDIT_FILE"

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"
done_testing
