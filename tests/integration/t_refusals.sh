#!/bin/bash
# Certificates the TLS handshake must refuse, each beside one it accepts.
. "${0%/*}/lib.sh"
itest_init mtlsd
command -v jq >/dev/null || bail "jq is needed"

url=$(mtls_url /v1/tickets)

# accepted NAME DESC: POST user=root with NAME's certificate gets 201.
accepted() {
	local code
	code=$(mtls_curl "$1" -d user=root "$url") || true
	if [ "$code" = 201 ] && jq -e '.ticket' "$T/body" >/dev/null 2>&1; then
		jq -r .ticket "$T/body" >>"$T/tickets"
		pass "$2"
	else
		fail "$2"
		diag "HTTP $code: $(head -c 300 "$T/body") $(cat "$T/curl.err")"
	fi
}

# refused NAME DESC: the handshake fails: curl fails with no HTTP status.
refused() {
	local code rc=0
	code=$(mtls_curl "$1" -d user=root "$url") || rc=$?
	if [ "$rc" != 0 ] && [ "$code" = 000 ]; then
		pass "$2"
		diag "curl: $(head -n 1 "$T/curl.err")"
	else
		fail "$2"
		diag "curl exit $rc, HTTP $code: $(head -c 300 "$T/body")"
	fi
}

conf=$T/mtlsd.conf
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

accepted alice "alice (valid, granted): ticket issued"

code=$(mtls_curl bob -d user=root "$url") || true
expect_eq "$code" 403 "bob (valid, no rule): HTTP 403, not a TLS failure"
ok "bob's 403 says not_allowed" jq -e '.error == "not_allowed"' "$T/body"

refused revoked "revoked certificate (in the CRL): handshake refused"
refused expired "expired certificate: handshake refused"
refused notyet "not-yet-valid certificate: handshake refused"
refused wrongca "certificate from another CA: handshake refused"
refused selfsigned "self-signed certificate: handshake refused"
refused serveronly "certificate with EKU serverAuth only: handshake refused"
refused - "no client certificate: handshake refused"
refused ivan "intermediate-issued certificate without its chain: refused"
accepted ivan-chain "intermediate-issued certificate with its chain: accepted"

# The revoked certificate is refused because of the CRL, not for
# something else: with a CRL that lists nothing it is accepted.
stop_mtlsd
CONF_CRL="\"$PKI/ca-empty.crl\", \"$PKI/int.crl\"" write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start with the empty CRL"
accepted revoked "the same certificate with an empty CRL: accepted"
refused expired "expired certificate still refused with the empty CRL"

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"

done_testing
