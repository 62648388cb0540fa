#!/bin/bash
# The rule language against the real daemon: subject_attrs with %{cn},
# deny rules, services and from enforced at redemption (pamtester) and at
# ticket time, exact keys from real certificates, and mtlsctl eval.
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl pam
command -v jq >/dev/null || bail "jq is needed"
pki_make_policy "$PKI" || bail "cannot make the policy certificates"

AUTH_ERR="Authentication failure"

# ticket_code CERT USER: the HTTP status of a ticket request ($T/body).
ticket_code() {
	mtls_curl "$1" -d "user=$2" "$(mtls_url /v1/tickets)" || true
}

# The exact keys as openssl prints them: colons, upper case.
fpr=$(openssl x509 -in "$PKI/alice.pem" -noout -fingerprint -sha256 |
    sed 's/^.*=//')
serial=$(openssl x509 -in "$PKI/bob.pem" -noout -serial | sed 's/^.*=//')
[ -n "$fpr" ] && [ -n "$serial" ] || bail "cannot read alice's fingerprint"

write_pam_service sshd-mtls "$(mtls_auth_line)"
write_pam_service sudo-mtls "$(mtls_auth_line)"
write_pam_service login-mtls "$(mtls_auth_line)"

# Tickets are not bound to the address here, so that from is what
# decides at redemption.
CONF_BIND=false
CONF_RULES="  { name = \"ops\"; subject_attrs = { O = \"Example\"; OU = \"ops\"; };
    users = [ \"%{cn}\" ]; services = [ \"sshd-mtls\" ]; from = [ \"127.0.0.0/8\", \"::1\" ]; },
  { name = \"contractors\"; subject_attrs = { OU = \"contractors\"; }; users = [ \"%{cn}\", \"root\" ]; },
  { name = \"no-contractors\"; subject_attrs = { OU = \"contractors\"; }; deny = true; },
  { name = \"spiffe\"; san_uri = \"spiffe://example.org/admin/daemon\"; users = [ \"root\" ];
    from = [ \"10.9.9.0/24\" ]; },
  { name = \"by-fingerprint\"; fingerprint = \"sha256:$fpr\"; users = [ \"backup\" ]; },
  { name = \"by-serial\"; serial = \"$(echo "$serial" | tr 'A-F' 'a-f')\"; users = [ \"bob\" ]; },
  { name = \"by-email\"; san_email = \"daemon@example.org\"; policy_oid = \"1.3.6.1.4.1.99999.1\";
    users = [ \"%{email.local}\", \"man\" ]; services = [ \"login-mtls\" ]; }"
conf=$T/mtlsd.conf
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

# L NAME: "FILE:LINE" where rule NAME starts in $conf.
L() {
	echo "$conf:$(grep -n "name = \"$1\"" "$conf" | head -n 1 | cut -d: -f1)"
}

# --- ticket time -----------------------------------------------------------

expect_eq "$(ticket_code opsd daemon)" 201 \
    "subject_attrs rule grants %{cn} (daemon) to CN=daemon,OU=ops"
expect_eq "$(ticket_code opsd alice)" 403 \
    "%{cn} grants only the certificate's own CN (not alice)"
expect_eq "$(ticket_code opsd root)" 403 \
    "spiffe rule limited to 10.9.9.0/24: no ticket for root from 127.0.0.1"
expect_match "$(cat "$T/body")" \
    "rule 'spiffe' grants user 'root' but the source address is not in its from" \
    "the refusal names the rule and the from restriction"
expect_eq "$(ticket_code contractor bin)" 403 \
    "deny rule wins over the allow rule before it (bin)"
expect_match "$(cat "$T/body")" "refused by deny rule 'no-contractors'" \
    "the refusal names the deny rule"
expect_eq "$(ticket_code contractor root)" 403 \
    "a deny rule without users refuses every user (root)"
expect_eq "$(ticket_code alice backup)" 201 \
    "fingerprint written with colons, upper case, matches alice"
expect_eq "$(ticket_code ivan-chain backup)" 403 \
    "the fingerprint rule does not match another certificate"
expect_eq "$(ticket_code bob bob)" 201 \
    "serial written in lower case matches bob"
expect_eq "$(ticket_code alice bob)" 403 "the serial rule does not match alice"
expect_eq "$(ticket_code opsd man)" 201 \
    "san_email (domain case ignored) and policy_oid both hold"
expect_eq "$(ticket_code alice man)" 403 "san_email rule: not for alice"

code=$(mtls_curl opsd "$(mtls_url /v1/whoami)") || true
expect_eq "$code $(jq -c .users "$T/body" 2>/dev/null)" '200 ["daemon","man"]' \
    "whoami lists the users granted from this address, templates expanded"
code=$(mtls_curl contractor "$(mtls_url /v1/whoami)") || true
expect_eq "$code $(jq -c .users "$T/body" 2>/dev/null)" '200 []' \
    "whoami: a deny rule without users leaves none"

# --- redemption: services and from --------------------------------------------

tk=$(get_ticket opsd daemon) || bail "no ticket"
expect_pam success "ops rule: service sshd-mtls from 127.0.0.1 logs in" \
    "$tk" 127.0.0.1 sshd-mtls daemon
tk=$(get_ticket opsd daemon) || bail "no ticket"
expect_pam "$AUTH_ERR" "ops rule: service sudo-mtls is refused" \
    "$tk" 127.0.0.1 sudo-mtls daemon
expect_match "$(tail -n 1 "$AUDIT_FILE" | jq -r .reason)" \
    "the service is not in its services" "audited: the services restriction"
tk=$(get_ticket opsd daemon) || bail "no ticket"
expect_pam "$AUTH_ERR" "ops rule: rhost 10.1.1.1 is outside from" \
    "$tk" 10.1.1.1 sshd-mtls daemon
expect_match "$(tail -n 1 "$AUDIT_FILE" | jq -r .reason)" \
    "the source address is not in its from" "audited: the from restriction"
tk=$(get_ticket opsd daemon) || bail "no ticket"
expect_pam success "ops rule: rhost ::1 is inside from" \
    "$tk" ::1 sshd-mtls daemon
tk=$(get_ticket opsd daemon) || bail "no ticket"
expect_pam "$AUTH_ERR" "ops rule: no rhost is no address in from" \
    "$tk" "" sshd-mtls daemon
tk=$(get_ticket opsd man) || bail "no ticket"
expect_pam success "by-email rule: service login-mtls logs in as man" \
    "$tk" 127.0.0.1 login-mtls man
tk=$(get_ticket opsd daemon) || bail "no ticket"
expect_pam success "by-email rule: %{email.local} (daemon) via login-mtls" \
    "$tk" 10.1.1.1 login-mtls daemon
tk=$(get_ticket opsd man) || bail "no ticket"
expect_pam "$AUTH_ERR" "by-email rule: not via sshd-mtls" \
    "$tk" 127.0.0.1 sshd-mtls man

# --- mtlsctl eval ------------------------------------------------------------------

expect_rc 0 "eval: granted certificate exits 0" "$MTLSCTL" eval -c "$conf" \
    "$PKI/opsd.pem" --user daemon --service sshd-mtls --rhost 127.0.0.1
lines=$(printf '%s\n' "$OUT" | grep -v '^  fingerprint: ')
want="certificate: $PKI/opsd.pem
  subject: CN=daemon,OU=ops,O=Example
  issuer: CN=Example Test Root,O=Example
  serial: $(openssl x509 -in "$PKI/opsd.pem" -noout -serial | sed 's/^.*=//')
  san email: daemon@Example.ORG
  san uri: spiffe://example.org/admin/daemon
  policies: 1.3.6.1.4.1.99999.1
verify: ok (chain to a trust anchor, validity, revocation, key usage and EKU clientAuth, key strength)
login: user daemon, service sshd-mtls, rhost 127.0.0.1
rule 'ops' ($(L ops)): matches, grants daemon
rule 'contractors' ($(L contractors)): no match: subject_attrs: no OU=contractors
rule 'no-contractors' ($(L no-contractors)): no match: subject_attrs: no OU=contractors
rule 'spiffe' ($(L spiffe)): matches, does not apply: the source address is not in its from
rule 'by-fingerprint' ($(L by-fingerprint)): no match (index): fingerprint differs
rule 'by-serial' ($(L by-serial)): no match (index): serial differs
rule 'by-email' ($(L by-email)): matches, does not apply: the service is not in its services
result: granted: granted by rule 'ops'"
expect_eq "$lines" "$want" "eval: granted output, line by line"
expect_match "$OUT" '^  fingerprint: sha256:[0-9a-f]{64}$' \
    "eval: the fingerprint line"

expect_rc 1 "eval: refused certificate exits 1" "$MTLSCTL" eval -c "$conf" \
    "$PKI/contractor.pem" --user bin --service sshd-mtls --rhost 127.0.0.1
lines=$(printf '%s\n' "$OUT" | grep -E '^(rule|result|verify)')
want="verify: ok (chain to a trust anchor, validity, revocation, key usage and EKU clientAuth, key strength)
rule 'ops' ($(L ops)): no match: subject_attrs: no OU=ops
rule 'contractors' ($(L contractors)): matches, grants bin
rule 'no-contractors' ($(L no-contractors)): matches, denies bin
rule 'spiffe' ($(L spiffe)): no match: no SAN URI spiffe://example.org/admin/daemon
rule 'by-fingerprint' ($(L by-fingerprint)): no match (index): fingerprint differs
rule 'by-serial' ($(L by-serial)): no match (index): serial differs
rule 'by-email' ($(L by-email)): no match (index): san_email differs
result: refused: refused by deny rule 'no-contractors'"
expect_eq "$lines" "$want" "eval: refused output, line by line"

expect_rc 1 "eval: granted user but wrong service exits 1" "$MTLSCTL" eval \
    -c "$conf" "$PKI/opsd.pem" --user daemon --service sudo-mtls \
    --rhost 127.0.0.1
expect_match "$OUT" "^rule 'ops' .*: matches, does not apply: the service is not in its services$" \
    "eval: the services restriction is shown"

expect_rc 1 "eval: an expired certificate exits 1" "$MTLSCTL" eval \
    -c "$conf" "$PKI/expired.pem" --user root
expect_match "$OUT" '^verify: refused: .*expired' "eval: the failed check is named"
expect_match "$OUT" '^result: refused: certificate refused: .*expired' \
    "eval: the result says the certificate is refused"

expect_rc 0 "eval --json: granted exits 0" "$MTLSCTL" eval -c "$conf" \
    "$PKI/opsd.pem" --user daemon --service sshd-mtls --rhost 127.0.0.1 --json
expect_eq "$(printf '%s' "$OUT" | jq -c '[.granted, .rule, .verified, (.rules | length), .rules[0].grants, .rules[3].why]' 2>&1)" \
    '[true,"ops",true,7,true,"the source address is not in its from"]' \
    "eval --json parses and carries the decision and each rule"
expect_rc 1 "eval --json: refused exits 1" "$MTLSCTL" eval -c "$conf" \
    "$PKI/contractor.pem" --user bin --json
expect_eq "$(printf '%s' "$OUT" | jq -c '[.granted, .rule, .reason]' 2>&1)" \
    '[false,"no-contractors","refused by deny rule '"'"'no-contractors'"'"'"]' \
    "eval --json: the refusal names the deny rule"

expect_rc 0 "eval without --user: lists the users (exit 0)" "$MTLSCTL" eval \
    -c "$conf" "$PKI/opsd.pem" --service sshd-mtls --rhost 127.0.0.1
expect_match "$OUT" '^users: daemon$' \
    "eval: the users granted for sshd-mtls are listed (not by-email's)"
expect_rc 0 "eval without --user for login-mtls (exit 0)" "$MTLSCTL" eval \
    -c "$conf" "$PKI/opsd.pem" --service login-mtls --rhost 127.0.0.1
expect_match "$OUT" '^users: daemon man$' \
    "eval: by-email's users for login-mtls, %{email.local} expanded"
expect_rc 1 "eval without --user: none granted exits 1" "$MTLSCTL" eval \
    -c "$conf" "$PKI/contractor.pem"
expect_match "$OUT" '^users:$' "eval: no user listed after the deny"

expect_rc 2 "eval: a bad config exits 2" "$MTLSCTL" eval -c "$T/nope.conf" \
    "$PKI/opsd.pem"
expect_rc 2 "eval: a missing certificate exits 2" "$MTLSCTL" eval \
    -c "$conf" "$T/nope.pem"
expect_rc 2 "eval: no -c is a usage error" "$MTLSCTL" eval "$PKI/opsd.pem"

# A bad rule is refused with file, line and reason, by mtlsd -t too.
CONF_RULES='  { name = "bad"; subject_attrs = { OU = "ops"; };
    users = [ "root" ]; from = [ "10.0.0.1/8" ]; }'
write_config "$T/bad.conf"
expect_rc 1 "mtlsd -t refuses a bad CIDR" "$MTLSD" -c "$T/bad.conf" -t
expect_match "$ERR$OUT" "bad.conf:$(grep -n '10.0.0.1/8' "$T/bad.conf" | cut -d: -f1): rule 'bad': from: '10.0.0.1/8' is not an address" \
    "the message names file, line and reason"

ok "no ticket in the daemon log or audit file" no_ticket_in "$MTLSD_LOG" \
    "$AUDIT_FILE"
done_testing
