#!/bin/bash
# The HTTP ticket API as curl sees it.
. "${0%/*}/lib.sh"
itest_init mtlsd
command -v jq >/dev/null || bail "jq is needed"

TICKET_RE='^[A-Za-z0-9_=-]{22,}$'

# body_jq FILTER: jq -e on the last response body.
body_jq() {
	jq -e "$1" "$T/body" >/dev/null 2>&1
}

# expect_json FILTER DESC
expect_json() {
	if body_jq "$1"; then
		pass "$2"
	else
		fail "$2"
		diag "jq -e '$1' false on: $(head -c 400 "$T/body")"
	fi
}

conf=$T/mtlsd.conf
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"
url=$(mtls_url /v1/tickets)

code=$(mtls_curl alice -d user=root "$url")
expect_eq "$code" 201 "POST user=root (form) with alice: 201"
expect_json '.ticket | type == "string"' "201 body has a string ticket"
expect_json '.user == "root"' "201 body names the user"
expect_json '.expires_in == 60' "201 body has expires_in = the lifetime"
t1=$(jq -r .ticket "$T/body" 2>/dev/null)
echo "$t1" >>"$T/tickets"
expect_match "$t1" "$TICKET_RE" "the ticket is printable, >= 128 bits"

code=$(mtls_curl alice -H 'Content-Type: application/json' \
    -d '{"user":"root"}' "$url")
expect_eq "$code" 201 'POST {"user":"root"} (JSON): 201'
expect_json '.user == "root" and (.ticket | type == "string")' \
    "JSON request gets a JSON ticket"
t2=$(jq -r .ticket "$T/body" 2>/dev/null)
echo "$t2" >>"$T/tickets"
nok "two requests get two different tickets" [ "$t1" = "$t2" ]

code=$(mtls_curl alice -H 'Accept: text/plain' -d user=root "$url")
expect_eq "$code" 201 "POST with Accept: text/plain: 201"
head -n 1 "$T/body" >>"$T/tickets"
expect_eq "$(wc -l <"$T/body")" 1 "text/plain body is one line"
expect_match "$(cat "$T/body")" "$TICKET_RE" \
    "text/plain body is just the ticket"

code=$(mtls_curl alice "$(mtls_url /v1/whoami)")
expect_eq "$code" 200 "GET /v1/whoami: 200"
expect_json '.subject == "CN=alice,OU=ops,O=Example"' "whoami: subject"
expect_json '.issuer | test("CN=Example Test Root")' "whoami: issuer"
serial=$(openssl x509 -in "$PKI/alice.pem" -noout -serial | cut -d= -f2 |
    tr 'A-F' 'a-f' | sed 's/^0*//')
got=$(jq -r .serial "$T/body" 2>/dev/null | tr -d ':' | tr 'A-F' 'a-f' |
    sed 's/^0x//; s/^0*//')
expect_eq "$got" "$serial" "whoami: serial (hex) of alice's certificate"
fp=$(openssl x509 -in "$PKI/alice.pem" -noout -fingerprint -sha256 |
    cut -d= -f2 | tr -d ':' | tr 'A-F' 'a-f')
got=$(jq -r .fingerprint "$T/body" 2>/dev/null | tr 'A-F' 'a-f')
expect_eq "$got" "sha256:$fp" "whoami: SHA-256 fingerprint"
expect_json '.users | index("root") != null and index("admin") != null' \
    "whoami: users granted by the rule"

code=$(mtls_curl bob "$(mtls_url /v1/whoami)")
if [ "$code" = 200 ]; then
	expect_json '.subject == "CN=bob,OU=dev,O=Example" and
	    (.users | length == 0)' "whoami for bob: his subject, no users"
else
	expect_eq "$code" 403 "whoami for bob: no users (403)"
fi

code=$(mtls_curl alice -H 'Content-Type: application/json' \
    -d '{"user":' "$url")
expect_eq "$code" 400 "truncated JSON body: 400"
code=$(mtls_curl alice -d nobody=root "$url")
expect_eq "$code" 400 "form body without user: 400"
code=$(mtls_curl alice -X POST "$url")
expect_eq "$code" 400 "empty body: 400"
code=$(mtls_curl alice -H 'Content-Type: application/json' \
    -d '{"user":["root"]}' "$url")
expect_eq "$code" 400 'JSON user that is not a string: 400'
nok "no ticket in a 400 body" grep -q '"ticket"' "$T/body"

code=$(mtls_curl alice -d user=daemon "$url")
expect_eq "$code" 403 "user not granted to alice: 403"
expect_json '.error == "not_allowed"' '403 body: error "not_allowed"'
nok "no ticket in the 403 body" grep -q '"ticket"' "$T/body"

# TLS 1.3 session tickets (NewSessionTicket) would allow resumption
# without the client certificate; the server must not send any. The same
# probe against openssl s_server, which does send them, shows that it
# would see one.
probe() {
	printf 'GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' |
	    timeout 10 openssl s_client -connect "127.0.0.1:$1" -msg \
	    -ign_eof -CAfile "$PKI/ca.pem" -cert "$PKI/alice.pem" \
	    -key "$PKI/alice.key" -sess_out "$T/sess.$1" >"$T/probe.$1" 2>&1
}
probe "$MTLS_PORT"
ok "s_client probe got an HTTP answer from mtlsd" \
    grep -q '^HTTP/1.1 200' "$T/probe.$MTLS_PORT"
nok "mtlsd sends no NewSessionTicket" \
    grep -q 'NewSessionTicket' "$T/probe.$MTLS_PORT"
ref_port=$(free_ports 1)
openssl s_server -accept "127.0.0.1:$ref_port" -cert "$PKI/server.pem" \
    -key "$PKI/server.key" -www -quiet </dev/null >"$T/s_server.log" 2>&1 &
ref_pid=$!
track_pid "$ref_pid"
if wait_for 10 port_open 127.0.0.1 "$ref_port"; then
	probe "$ref_port"
	ok "the probe sees openssl s_server's NewSessionTicket" \
	    grep -q 'NewSessionTicket' "$T/probe.$ref_port"
else
	fail "the probe sees openssl s_server's NewSessionTicket"
	diag "openssl s_server did not start"
fi
kill_wait "$ref_pid"
untrack_pid "$ref_pid"

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"

done_testing
