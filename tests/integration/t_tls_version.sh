#!/bin/bash
# TLS versions: 1.3 only by default; min_version = "1.2" lets a TLS 1.2
# client in, still without session tickets (no resumption that would skip
# the client certificate).
. "${0%/*}/lib.sh"
itest_init mtlsd

url=$(mtls_url /v1/tickets)

conf=$T/mtlsd.conf
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"
code=$(mtls_curl alice --tlsv1.3 -d user=root "$url")
expect_eq "$code" 201 "default config: a TLS 1.3 client gets a ticket"
code=$(mtls_curl alice --tls-max 1.2 -d user=root "$url")
expect_eq "$code" 000 "default config: a TLS 1.2 client is refused"
stop_mtlsd

conf12=$T/mtlsd-12.conf
write_config "$conf12"
sed -i 's/min_version = "1.3";/min_version = "1.2";/' "$conf12"
ok 'the config says min_version = "1.2"' grep -q 'min_version = "1.2"' "$conf12"
start_mtlsd "$conf12" || bail "mtlsd did not start with min_version 1.2"
code=$(mtls_curl alice --tls-max 1.2 -d user=root "$url")
expect_eq "$code" 201 'min_version "1.2": a TLS 1.2 client gets a ticket'
code=$(mtls_curl bob --tls-max 1.2 -d user=root "$url")
expect_eq "$code" 403 'min_version "1.2": the rules still apply (bob: 403)'
code=$(mtls_curl revoked --tls-max 1.2 -d user=root "$url")
expect_eq "$code" 000 'min_version "1.2": a revoked certificate is still refused'

# A TLS 1.2 session ticket (RFC 5077) shows in s_client's session print-out
# as "TLS session ticket"; the same probe against openssl s_server, which
# issues them, shows that it would see one.
probe12() {
	printf 'GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' |
	    timeout 10 openssl s_client -tls1_2 -connect "127.0.0.1:$1" \
	    -ign_eof -CAfile "$PKI/ca.pem" -cert "$PKI/alice.pem" \
	    -key "$PKI/alice.key" >"$T/probe12.$1" 2>&1
}
probe12 "$MTLS_PORT"
ok "TLS 1.2 probe got an HTTP answer from mtlsd" \
    grep -q '^HTTP/1.1 200' "$T/probe12.$MTLS_PORT"
ok "TLS 1.2 probe negotiated TLSv1.2" \
    grep -q 'Protocol *: TLSv1.2' "$T/probe12.$MTLS_PORT"
nok "mtlsd sends no TLS 1.2 session ticket" \
    grep -q 'TLS session ticket' "$T/probe12.$MTLS_PORT"
ref_port=$(free_ports 1)
openssl s_server -accept "127.0.0.1:$ref_port" -cert "$PKI/server.pem" \
    -key "$PKI/server.key" -www -quiet </dev/null >"$T/s_server.log" 2>&1 &
ref_pid=$!
track_pid "$ref_pid"
if wait_for 10 port_open 127.0.0.1 "$ref_port"; then
	probe12 "$ref_port"
	ok "the probe sees openssl s_server's TLS 1.2 session ticket" \
	    grep -q 'TLS session ticket' "$T/probe12.$ref_port"
else
	fail "the probe sees openssl s_server's TLS 1.2 session ticket"
	diag "openssl s_server did not start"
fi
kill_wait "$ref_pid"
untrack_pid "$ref_pid"

done_testing
