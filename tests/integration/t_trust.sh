#!/bin/bash
# Trust and revocation against the real daemon: a CRL replaced while mtlsd
# runs, stale CRLs with and without crl_grace, require_crl, a directory of
# anchors, partial_chain, the certificate policy (key sizes, SHA-1, key
# usage, max_lifetime); then `mtlsctl verify`, its exit codes and reasons.
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl
command -v jq >/dev/null || bail "jq is needed"
pki_trust "$PKI" || bail "cannot make the trust PKI ($(tail -n 3 "$PKI/pki.log"))"

url=$(mtls_url /v1/tickets)
conf=$T/mtlsd.conf

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

# accepted_quiet NAME: as accepted, without a test point.
accepted_quiet() {
	local code
	code=$(mtls_curl "$1" -d user=root "$url") || true
	[ "$code" = 201 ]
}

# handshake_refused NAME: the handshake fails (no HTTP status at all).
handshake_refused() {
	local code rc=0
	code=$(mtls_curl "$1" -d user=root "$url") || rc=$?
	[ "$rc" != 0 ] && [ "$code" = 000 ]
}

# refused NAME DESC [LOG-ERE]: the handshake fails, and mtlsd logged the
# refusal (with LOG-ERE in its reason, if given).
refused() {
	local before
	before=$(wc -l <"$MTLSD_LOG")
	if ! handshake_refused "$1"; then
		fail "$2"
		diag "not refused: $(head -c 300 "$T/body")"
		return
	fi
	if [ -n "${3:-}" ] && ! wait_for 2 logged_since "$before" \
	    "event=certificate-refused subject=.* reason=\".*$3"; then
		fail "$2"
		diag "no refusal matching /$3/ in the log"
		diag_file "$MTLSD_LOG" 5
		return
	fi
	pass "$2"
}

# logged_since N ERE: a line after the first N of the daemon's log matches.
logged_since() {
	tail -n +"$(($1 + 1))" "$MTLSD_LOG" | grep -Eq -- "$2"
}

# trust_config FILE [TLS-LINES]: write_config with TLS-LINES added to the
# tls group and TRUST_ANCHORS (if set) as its trust_anchors.
trust_config() {
	local file=$1 lines=${2:-}
	write_config "$file"
	awk -v extra="$lines" -v anchors="${TRUST_ANCHORS:-}" '
		/^  trust_anchors = / && anchors != "" {
			print "  trust_anchors = \"" anchors "\";"; next
		}
		{ print }
		/^  min_version = / && extra != "" { print extra }
	' "$file" >"$file.new" && mv "$file.new" "$file"
}

# restart FILE DESC...: stops the running daemon and starts one on FILE.
restart() {
	stop_mtlsd
	start_mtlsd "$1" || bail "mtlsd did not start: $2"
}

# replace_crl SRC: the live CRL file replaced atomically by SRC's content.
replace_crl() {
	cp "$1" "$T/crl/ca.crl.new" && chmod 0644 "$T/crl/ca.crl.new" &&
	    mv -f "$T/crl/ca.crl.new" "$T/crl/ca.crl"
}

# ---- a CRL replaced while the daemon runs ---------------------------------

mkdir -p "$T/crl" && chmod 0755 "$T/crl"
replace_crl "$PKI/ca-empty.crl" || bail "cannot write the live CRL"
CONF_CRL="\"$T/crl/ca.crl\", \"$PKI/int.crl\"" trust_config "$conf"
restart "$conf" "live CRL"
accepted revoked "revoked.pem accepted while the live CRL lists nothing"
accepted alice "alice accepted"

replace_crl "$PKI/ca.crl"
t0=$(now_ms)
if wait_for 5 handshake_refused revoked; then
	elapsed=$(($(now_ms) - t0))
	pass "CRL replaced on disk: revoked.pem refused, no restart"
	diag "refused ${elapsed} ms after the replacement"
	ok "refused within a second and a half (${elapsed} ms)" \
	    test "$elapsed" -le 1500
else
	fail "CRL replaced on disk: revoked.pem refused, no restart"
	fail "refused within a second and a half"
fi
ok "mtlsd logged the re-read" \
    grep -Eq "event=crl-reread path=[^ ]*/ca\.crl crls=[0-9]+$" "$MTLSD_LOG"
accepted alice "alice still accepted after the re-read"

before=$(wc -l <"$MTLSD_LOG")
printf -- '-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n' \
    >"$T/crl/garbage.crl"
replace_crl "$T/crl/garbage.crl"
sleep 1.2
refused revoked "malformed replacement: the previous CRL stays in force" \
    "revoked"
ok "the malformed CRL is logged as an error" wait_for 3 logged_since \
    "$before" '^<3>event=crl-refresh-failed reason="[^"]*ca\.crl: malformed PEM" action="keeping the CRLs read before'
accepted alice "alice accepted with the malformed file in place"

replace_crl "$PKI/ca-empty.crl"
if wait_for 5 accepted_quiet revoked; then
	pass "CRL replaced by the empty one: revoked.pem accepted again"
else
	fail "CRL replaced by the empty one: revoked.pem accepted again"
fi


# ---- stale CRL, crl_grace --------------------------------------------------

# ca-stale.crl's nextUpdate is one second after it was made.
sleep 1
CONF_CRL="\"$PKI/ca-stale.crl\", \"$PKI/int.crl\"" trust_config "$conf"
restart "$conf" "stale CRL"
refused alice "stale CRL (nextUpdate passed): alice refused" \
    "CRL has expired"
CONF_CRL="\"$PKI/ca-stale.crl\", \"$PKI/int.crl\"" trust_config "$conf" \
    "  crl_grace = 3600;"
restart "$conf" "stale CRL with grace"
accepted alice "stale CRL within crl_grace: alice accepted"
refused revoked "stale CRL within crl_grace still revokes revoked.pem" \
    "certificate revoked"

# ---- require_crl -------------------------------------------------------------

CONF_CRL="\"$PKI/ca.crl\"" trust_config "$conf"
restart "$conf" "root CRL only"
accepted ivan-chain "intermediate without a CRL, require_crl off: accepted"
CONF_CRL="\"$PKI/ca.crl\"" trust_config "$conf" "  require_crl = true;"
restart "$conf" "require_crl"
refused ivan-chain "intermediate without a CRL, require_crl on: refused" \
    "unable to get certificate CRL"
accepted alice "root with its CRL, require_crl on: alice accepted"
CONF_CRL="\"$PKI/ca.crl\", \"$PKI/int.crl\"" trust_config "$conf" \
    "  require_crl = true;"
restart "$conf" "require_crl with both CRLs"
accepted ivan-chain "intermediate with its CRL, require_crl on: accepted"

# ---- several anchors, partial_chain ---------------------------------------

mkdir -p "$T/anchors"
cp "$PKI/ca.pem" "$T/anchors/10-ca.pem"
cp "$PKI/other-ca.pem" "$T/anchors/20-other.crt"
chmod -R a+rX "$T/anchors"
trust_config "$conf"
restart "$conf" "one anchor"
refused wrongca "one anchor file: the other CA's certificate refused"
TRUST_ANCHORS=$T/anchors trust_config "$conf"
restart "$conf" "anchors directory"
accepted wrongca "anchors directory with two CAs: the other CA's accepted"
accepted alice "anchors directory with two CAs: the root's accepted"

TRUST_ANCHORS=$PKI/other-ca.pem trust_config "$conf" \
    "  intermediates = \"$PKI/int.pem\";"
restart "$conf" "intermediate without its root"
refused ivan "intermediate configured, its root not an anchor: refused" \
    "unable to get local issuer certificate"
TRUST_ANCHORS=$PKI/other-ca.pem trust_config "$conf" \
    "  intermediates = \"$PKI/int.pem\"; partial_chain = true;"
restart "$conf" "partial_chain"
accepted ivan "partial_chain: the chain may end at the intermediate"

# ---- certificate policy ------------------------------------------------------

trust_config "$conf"
restart "$conf" "default policy"
# Debian's OpenSSL defaults to security level 2, so curl itself would not
# send an RSA-1024 or SHA-1 certificate: the client runs at level 0.
printf '%s\n' "openssl_conf = init" "[init]" "ssl_conf = ssl_sect" \
    "[ssl_sect]" "system_default = sys" "[sys]" \
    "CipherString = DEFAULT@SECLEVEL=0" >"$T/weak-client.cnf"
export OPENSSL_CONF=$T/weak-client.cnf
refused rsa1024 "RSA-1024 client certificate refused" \
    "key too small: RSA 1024 bits"
accepted rsa2048 "RSA-2048 client certificate accepted"
accepted p384 "EC P-384 client certificate accepted"
refused sha1 "SHA-1-signed client certificate refused" \
    "SHA-1 signature refused"
accepted alice "SHA-256-signed client certificate accepted"
unset OPENSSL_CONF
refused kuagree "keyUsage without digitalSignature refused" \
    "key usage without digitalSignature"
accepted longlived "400-day certificate accepted without max_lifetime"
trust_config "$conf" "  max_lifetime = 7776000;"
restart "$conf" "max_lifetime"
refused longlived "400-day certificate refused with max_lifetime 90 days" \
    "exceeds max_lifetime"
accepted alice "30-day certificate accepted with max_lifetime 90 days"

stop_mtlsd

# ---- mtlsctl verify ------------------------------------------------------------

V=("$MTLSCTL" verify --trust "$PKI/ca.pem")
expect_rc 0 "verify alice: exit 0" "${V[@]}" "$PKI/alice.pem"
expect_eq "$OUT" "$PKI/alice.pem: OK" "verify alice: prints LEAF: OK"
expect_rc 1 "verify revoked with the CRL: exit 1" "${V[@]}" \
    --crl "$PKI/ca.crl" --crl "$PKI/int.crl" "$PKI/revoked.pem"
expect_eq "$OUT" "$PKI/revoked.pem: refused: certificate revoked" \
    "verify revoked: the reason on stdout"
expect_rc 0 "verify revoked without the CRL: exit 0" "${V[@]}" \
    "$PKI/revoked.pem"
expect_rc 1 "verify with a stale CRL: exit 1" "${V[@]}" \
    --crl "$PKI/ca-stale.crl" "$PKI/alice.pem"
expect_match "$OUT" "refused: CRL has expired$" "stale CRL: the reason"
expect_rc 0 "verify with a stale CRL and --crl-grace: exit 0" "${V[@]}" \
    --crl-grace 3600 --crl "$PKI/ca-stale.crl" "$PKI/alice.pem"
expect_rc 1 "verify expired: exit 1" "${V[@]}" "$PKI/expired.pem"
expect_match "$OUT" "refused: certificate has expired$" \
    "verify expired: the reason"

now=$(date +%s)
expect_rc 0 "verify --at tomorrow: exit 0" "${V[@]}" \
    --at $((now + 86400)) "$PKI/alice.pem"
expect_rc 1 "verify --at in 40 days: exit 1" "${V[@]}" \
    --at $((now + 40 * 86400)) "$PKI/alice.pem"
expect_match "$OUT" "refused: certificate has expired$" \
    "verify --at in 40 days: expired"
expect_rc 1 "verify --at a year ago: exit 1" "${V[@]}" \
    --at $((now - 365 * 86400)) "$PKI/alice.pem"
expect_match "$OUT" "refused: certificate is not yet valid$" \
    "verify --at a year ago: not yet valid"

expect_rc 1 "verify serveronly (purpose client): exit 1" "${V[@]}" \
    "$PKI/serveronly.pem"
expect_match "$OUT" "refused: unsuitable certificate purpose$" \
    "verify serveronly: the purpose is the reason"
expect_rc 0 "verify serveronly --purpose any: exit 0" "${V[@]}" \
    --purpose any "$PKI/serveronly.pem"
expect_rc 1 "verify --purpose any keeps the key usage check" "${V[@]}" \
    --purpose any "$PKI/kuagree.pem"
expect_rc 0 "verify alice --purpose client: exit 0" "${V[@]}" \
    --purpose client "$PKI/alice.pem"

expect_rc 1 "verify ivan without its chain: exit 1" "${V[@]}" "$PKI/ivan.pem"
expect_match "$OUT" "unable to get local issuer certificate" \
    "verify ivan without its chain: the reason"
expect_rc 0 "verify ivan --untrusted int.pem: exit 0" "${V[@]}" \
    --untrusted "$PKI/int.pem" "$PKI/ivan.pem"
expect_rc 0 "verify ivan's leaf+chain file: exit 0" "${V[@]}" \
    "$PKI/ivan-chain.pem"
expect_rc 1 "verify --untrusted never makes an anchor" "$MTLSCTL" verify \
    --trust "$PKI/other-ca.pem" --untrusted "$PKI/int.pem" "$PKI/ivan.pem"
expect_rc 0 "verify --partial-chain: the intermediate may end it" \
    "$MTLSCTL" verify --trust "$PKI/other-ca.pem" --partial-chain \
    --untrusted "$PKI/int.pem" "$PKI/ivan.pem"
expect_rc 0 "verify with a directory of anchors" "$MTLSCTL" verify \
    --trust "$T/anchors" "$PKI/wrongca.pem"
expect_rc 1 "verify wrongca with the root alone: exit 1" "${V[@]}" \
    "$PKI/wrongca.pem"

expect_rc 1 "verify rsa1024: exit 1" "${V[@]}" "$PKI/rsa1024.pem"
expect_match "$OUT" "refused: key too small: RSA 1024 bits, at least 2048 required" \
    "verify rsa1024: the reason"
expect_rc 0 "verify rsa2048: exit 0" "${V[@]}" "$PKI/rsa2048.pem"
expect_rc 1 "verify p224: exit 1" "${V[@]}" "$PKI/p224.pem"
expect_match "$OUT" "refused: key too small: EC 224 bits, at least 256 required" \
    "verify p224: the reason"
expect_rc 0 "verify p384: exit 0" "${V[@]}" "$PKI/p384.pem"
expect_rc 1 "verify sha1: exit 1" "${V[@]}" "$PKI/sha1.pem"
expect_match "$OUT" "refused: SHA-1 signature refused" "verify sha1: the reason"
expect_rc 1 "verify --max-lifetime 90 days, 400-day cert: exit 1" "${V[@]}" \
    --max-lifetime 7776000 "$PKI/longlived.pem"
expect_rc 0 "verify --max-lifetime 90 days, 30-day cert: exit 0" "${V[@]}" \
    --max-lifetime 7776000 "$PKI/alice.pem"
expect_rc 1 "verify --require-crl, intermediate without CRL: exit 1" \
    "${V[@]}" --require-crl --crl "$PKI/ca.crl" "$PKI/ivan-chain.pem"
expect_rc 0 "verify --require-crl, both CRLs: exit 0" "${V[@]}" \
    --require-crl --crl "$PKI/ca.crl" --crl "$PKI/int.crl" \
    "$PKI/ivan-chain.pem"

expect_rc 2 "verify without --trust: exit 2" "$MTLSCTL" verify \
    "$PKI/alice.pem"
expect_match "$ERR" "--trust ANCHORS is required" "without --trust: says so"
expect_rc 2 "verify without LEAF: exit 2" "${V[@]}"
expect_rc 2 "verify with two LEAFs: exit 2" "${V[@]}" "$PKI/alice.pem" \
    "$PKI/bob.pem"
expect_rc 2 "verify --purpose server: exit 2" "${V[@]}" --purpose server \
    "$PKI/alice.pem"
expect_rc 2 "verify --at not-a-number: exit 2" "${V[@]}" --at soon \
    "$PKI/alice.pem"
expect_rc 2 "verify a missing LEAF: exit 2" "${V[@]}" "$T/nonexistent.pem"
expect_match "$ERR" "nonexistent.pem: cannot open" "missing LEAF: named"
expect_rc 2 "verify a missing anchors file: exit 2" "$MTLSCTL" verify \
    --trust "$T/nonexistent-ca.pem" "$PKI/alice.pem"
expect_rc 2 "verify a malformed CRL: exit 2" "${V[@]}" \
    --crl "$T/crl/garbage.crl" "$PKI/alice.pem"
expect_rc 2 "verify an unknown option: exit 2" "${V[@]}" --frobnicate \
    "$PKI/alice.pem"

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"

done_testing
