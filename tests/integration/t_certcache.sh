#!/bin/bash
# The certificate cache (src/mtlsd/certcache.c) against the real daemon:
# mtlsd defines d2i_X509 and X509_verify, so libssl's parse of a client's
# chain and libcrypto's signature checks go through them; a chain sent
# twice is a hit (mtlsctl status); the cache holds parsed bytes, never a
# verdict: a forged intermediate of the same name is refused after the
# genuine one is cached, a leaf of the forged key with the genuine
# intermediate is refused each time though both are cached, and an
# intermediate revoked after it was cached is refused. A reload empties
# the cache. All of it under the daemon's seccomp filter.
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl
command -v jq >/dev/null || bail "jq is needed"
command -v nm >/dev/null || bail "nm is needed"

# ---- the forgeries (existing files unchanged) -------------------------------
#   fakeca       "/O=Example/CN=Example Test Root", another key
#   fakeint      "/O=Example/CN=Example Test Intermediate", from fakeca
#   fakeivan     ivan's subject, from fakeint
#   fakeivan-chain.pem       fakeivan + fakeint
#   fakeivan-int-chain.pem   fakeivan + the genuine int.pem
forge_pki() {
	PKI_LOG=$PKI/pki.log
	pki_root "$PKI" fakeca "/O=Example/CN=Example Test Root" || return 1
	pki_issue "$PKI" fakeca fakeint \
	    "/O=Example/CN=Example Test Intermediate" ext_int || return 1
	pki_ca_dir "$PKI" fakeint || return 1
	pki_issue "$PKI" fakeint fakeivan "/O=Example/OU=ops/CN=ivan" \
	    ext_client || return 1
	cat "$PKI/fakeivan.pem" "$PKI/fakeint.pem" >"$PKI/fakeivan-chain.pem" &&
	    cat "$PKI/fakeivan.pem" "$PKI/int.pem" \
	    >"$PKI/fakeivan-int-chain.pem" &&
	    cp "$PKI/fakeivan.key" "$PKI/fakeivan-int.key" || return 1
	chmod 0644 "$PKI"/*.pem "$PKI"/*.key
}
forge_pki || bail "cannot make the forged chains ($(tail -n 3 "$PKI/pki.log"))"

# ---- helpers ----------------------------------------------------------------

url=$(mtls_url /v1/tickets)
conf=$T/mtlsd.conf

# cc FIELD: entries, hits, misses or signature_hits, from the text status
# line; the JSON
# status must say the same.
cc() {
	local line text json
	line=$("$MTLSCTL" -c "$conf" status | grep '^cert_cache: ') || return 1
	text=$(printf '%s\n' "$line" | sed -n "s/.* $1=\([0-9]*\).*/\1/p")
	json=$("$MTLSCTL" -c "$conf" status --json | jq -r ".cert_cache.$1")
	if [ "$text" != "$json" ]; then
		diag "cert_cache $1: text $text, json $json"
		return 1
	fi
	echo "$text"
}

# accepted NAME DESC: POST user=root with NAME's certificate (and chain)
# gets a ticket.
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

logged_since() {
	tail -n +"$(($1 + 1))" "$MTLSD_LOG" | grep -Eq -- "$2"
}

# refused NAME DESC LOG-ERE: no HTTP answer at all (the handshake fails),
# and the daemon logs a refusal whose reason matches LOG-ERE.
refused() {
	local before code rc=0
	before=$(wc -l <"$MTLSD_LOG")
	code=$(mtls_curl "$1" -d user=root "$url") || rc=$?
	if [ "$rc" = 0 ] || [ "$code" != 000 ]; then
		fail "$2"
		diag "not refused: curl exit $rc, HTTP $code: $(head -c 300 "$T/body")"
		return
	fi
	if ! wait_for 2 logged_since "$before" "refused.* reason=\"?$3"; then
		fail "$2"
		diag "no refusal matching /$3/ in the log"
		diag_file "$MTLSD_LOG" 5
		return
	fi
	pass "$2"
}

# handshake_fails NAME: curl gets no HTTP answer.
handshake_fails() {
	local code
	code=$(mtls_curl "$1" -d user=root "$url") && return 1
	[ "$code" = 000 ]
}

# gets_ticket NAME: a 201 with a ticket (recorded for the leak check).
gets_ticket() {
	local code
	code=$(mtls_curl "$1" -d user=root "$url") || return 1
	[ "$code" = 201 ] || return 1
	jq -r .ticket "$T/body" >>"$T/tickets"
}

# defines SYMBOL: mtlsd's dynamic symbol table defines SYMBOL (T), so
# that libssl's and libcrypto's calls through their PLT bind to it.
defines() {
	nm -D "$MTLSD" | grep -Eq "^[0-9a-f]+ T $1\$"
}

# ---- the interposition ------------------------------------------------------

ok "mtlsd defines d2i_X509 (nm -D: T), so libssl's parse binds to it" \
    defines d2i_X509
ok "mtlsd defines X509_verify (nm -D: T), so libcrypto's check binds to it" \
    defines X509_verify
nok "mtlsctl does not (it parses through libcrypto directly)" \
    bash -c "nm -D '$MTLSCTL' | grep -Eq ' T d2i_X509\$'"

write_config "$conf"
expect_rc 0 "mtlsd -t parses the trust files through it: exit 0" \
    "$MTLSD" -t -c "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

expect_rc 0 "mtlsctl status: exit 0" "$MTLSCTL" -c "$conf" status
expect_match "$OUT" '^cert_cache: entries=0 hits=0 misses=0 signature_hits=0$' \
    "status: cert_cache line, empty after start-up (config loading bypasses it)"
expect_rc 0 "status --json: exit 0" "$MTLSCTL" -c "$conf" status --json
ok "--json: cert_cache is an object of four numbers" jq -e '
    .cert_cache | (.entries == 0) and (.hits == 0) and (.misses == 0) and
    (.signature_hits == 0)' \
    "$T/out"

# ---- a chain sent twice -------------------------------------------------------

accepted ivan-chain "ivan with his chain: a ticket"
expect_eq "$(cc entries)" 2 "ivan's leaf and the intermediate are cached"
expect_eq "$(cc hits)" 0 "no hit yet"
expect_eq "$(cc signature_hits)" 0 "no signature hit yet"
misses=$(cc misses)
expect_eq "$misses" 2 "two misses: ivan's leaf and the intermediate"
accepted ivan-chain "ivan with his chain again: a ticket"
expect_eq "$(cc hits)" 2 "the second time the leaf and the intermediate are hits"
expect_eq "$(cc misses)" "$misses" "nothing is parsed again"
expect_eq "$(cc entries)" 2 "still two entries"
expect_eq "$(cc signature_hits)" 2 \
    "the chain's two signatures: checked once, then remembered"
# curl completes alice's chain from --cacert (OpenSSL's automatic chain):
# she sends her leaf and the root, and only the root is kept.
accepted alice "alice (no intermediate): a ticket"
expect_eq "$(cc entries)" 4 "alice's leaf and the root she sends are cached too"
refused ivan "ivan without his chain: refused (nothing cached helps)" \
    "unable to get local issuer certificate"

# ---- forgeries after the genuine intermediate is cached ------------------

hits=$(cc hits)
refused fakeivan-chain \
    "a forged intermediate with the genuine one's name: refused" \
    "unable to get local issuer certificate"
expect_eq "$(cc hits)" "$hits" "the forged intermediate was not a hit"
expect_eq "$(cc entries)" 6 "the forged leaf and intermediate: entries of their own"
refused fakeivan-int-chain \
    "a leaf of the forged key with the genuine (cached) intermediate: refused" \
    "certificate signature failure|unable to get local issuer certificate"
expect_eq "$(cc hits)" $((hits + 2)) \
    "the forged leaf (cached from the last attempt) and the intermediate were hits, and still refused"
refused fakeivan-int-chain "the same again: refused again" \
    "certificate signature failure|unable to get local issuer certificate"
expect_eq "$(cc hits)" $((hits + 4)) "hits again, refused again"
accepted ivan-chain "the genuine chain still gets a ticket"

# ---- revoked after it was cached --------------------------------------------

# The root revokes the intermediate; the daemon re-reads a changed CRL
# file before a handshake (at most once a second).
cp "$PKI/ca.crl" "$T/ca.crl.orig"
pki_ossl ca -batch -config "$PKI/ca.cnf" -revoke "$PKI/int.pem" \
    -crl_reason keyCompromise || bail "cannot revoke int.pem"
pki_ossl ca -batch -config "$PKI/ca.cnf" -gencrl -out "$PKI/ca.crl.new" ||
    bail "cannot make the new CRL"
chmod 0644 "$PKI/ca.crl.new"
mv "$PKI/ca.crl.new" "$PKI/ca.crl"
hits=$(cc hits)
ok "the cached intermediate, now revoked: handshakes fail" \
    wait_for 5 handshake_fails ivan-chain
refused ivan-chain "ivan with the revoked intermediate: refused" \
    "certificate revoked"
ok "those were hits: the cache holds the parse, not the verdict" \
    test "$(cc hits)" -gt "$hits"
accepted alice "alice (issued by the root itself) still gets a ticket"

# ---- reload ---------------------------------------------------------------

expect_rc 0 "mtlsctl reload: exit 0" "$MTLSCTL" -c "$conf" reload
expect_eq "$(cc entries)" 0 "a reload empties the cache"
hits=$(cc hits)
cp "$T/ca.crl.orig" "$PKI/ca.crl"
ok "the intermediate no longer revoked: ivan gets a ticket again" \
    wait_for 5 gets_ticket ivan-chain
expect_eq "$(cc entries)" 2 "ivan's leaf and the intermediate cached again after the reload"
accepted ivan-chain "and once more"
ok "a hit again" test "$(cc hits)" -gt "$hits"

ok "mtlsd is still running (no system call outside the filter)" \
    kill -0 "$MTLSD_PID"
ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"
done_testing
