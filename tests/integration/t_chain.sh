#!/bin/bash
# Chain constraints against the real daemon and `mtlsctl verify`: a path
# length exceeded, an issuer that is not a CA (CA:false, or no
# basicConstraints at all), and name constraints (email, DNS, directory
# name), each refusal beside a chain of the same shape that is accepted.
# The client sends its chain; mtlsd knows the root only. Every leaf the
# daemon should refuse carries a subject a rule grants, so that only the
# chain check can refuse it.
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl
command -v jq >/dev/null || bail "jq is needed"

# ---- the chains, all under the test root (existing files unchanged) --------
#   pl0 (CA, pathlen:0) -> pl0-sub (CA) -> pl0-leaf        path too long
#   pl1 (CA, pathlen:1) -> pl1-sub (CA) -> pl1-leaf        fine
#   alice.pem (CA:false) -> by-alice                       issuer not a CA
#   notca (CA:false, keyCertSign) -> by-notca              issuer not a CA
#   nobc (no basicConstraints) -> by-nobc                  issuer not a CA
#   goodca (CA) -> by-goodca                               fine
#   nobcroot (self-signed, no basicConstraints) -> by-nobcroot
#                                   an anchor X509_V_FLAG_X509_STRICT refuses
#   nc (CA; permitted: email example.org, DNS .example.org, dirName O=Example)
#     -> nc-email-ok    SAN email alice@example.org      fine
#     -> nc-email-bad   SAN email alice@evil.test
#     -> nc-dns-ok      SAN DNS alice.example.org        fine
#     -> nc-dns-bad     SAN DNS alice.evil.test
#     -> nc-dir-bad     subject O=Elsewhere,OU=ops,CN=alice
#     -> nc-subj-ok     subject emailAddress alice@example.org   fine
#     -> nc-subj-bad    subject emailAddress alice@evil.test
# NAME-chain.pem is NAME.pem followed by its intermediates, as sent.

chain_ext() {
	local ext
	for ext in "ca:critical,CA:true" "pl0:critical,CA:true,pathlen:0" \
	    "pl1:critical,CA:true,pathlen:1"; do
		cat <<EOF
[ ext_${ext%%:*} ]
basicConstraints = ${ext#*:}
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
	done
	cat <<EOF
[ ext_notca ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ ext_nobc ]
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ ext_nc ]
basicConstraints = critical,CA:true,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,permitted;email:example.org,permitted;DNS:.example.org,permitted;dirName:nc_dir
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ nc_dir ]
O = Example
EOF
	for ext in "leaf:" "email_ok:email:alice@example.org" \
	    "email_bad:email:alice@evil.test" "dns_ok:DNS:alice.example.org" \
	    "dns_bad:DNS:alice.evil.test"; do
		echo "[ ext_${ext%%:*} ]"
		[ -z "${ext#*:}" ] || echo "subjectAltName = ${ext#*:}"
		cat <<EOF
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
	done
}

# chain_issue ISSUER NAME SUBJECT EXT: pki_issue with the extensions above.
chain_issue() {
	pki_issue "$PKI" "$1" "$2" "$3" "ext_$4" -extfile "$PKI/chain-ext.cnf"
}

# chain_ca ISSUER NAME SUBJECT EXT: an issuing certificate and its database.
chain_ca() {
	chain_issue "$@" && pki_ca_dir "$PKI" "$2"
}

# chain_subj_mail NAME DOMAIN: a leaf from nc whose subject has an
# emailAddress (openssl ca's policy would drop it, so x509 -req).
chain_subj_mail() {
	pki_key "$PKI/$1.key" || return 1
	pki_ossl req -new -config "$PKI/ca.cnf" -key "$PKI/$1.key" \
	    -subj "$ALICE/emailAddress=alice@$2" -out "$PKI/$1.csr" || return 1
	pki_ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/nc.pem" \
	    -CAkey "$PKI/nc.key" -set_serial "0x$(openssl rand -hex 16)" \
	    -days 30 -extfile "$PKI/chain-ext.cnf" -extensions ext_leaf \
	    -out "$PKI/$1.pem" || return 1
	rm -f "$PKI/$1.csr"
}

# chain_file NAME ISSUER...: NAME-chain.pem.
chain_file() {
	local n=$1 c
	shift
	cp "$PKI/$n.pem" "$PKI/$n-chain.pem" || return 1
	for c in "$@"; do
		cat "$PKI/$c.pem" >>"$PKI/$n-chain.pem" || return 1
	done
}

chain_pki() {
	PKI_LOG=$PKI/pki.log
	chain_ext >"$PKI/chain-ext.cnf" || return 1

	chain_ca ca pl0 "/O=Example/CN=Chain pathlen 0" pl0 || return 1
	chain_ca pl0 pl0-sub "/O=Example/CN=Chain pathlen 0 sub" ca || return 1
	chain_issue pl0-sub pl0-leaf "$ALICE" leaf || return 1
	chain_file pl0-leaf pl0-sub pl0 || return 1
	cat "$PKI/pl0-sub.pem" "$PKI/pl0.pem" >"$PKI/pl0-cas.pem" || return 1
	chain_ca ca pl1 "/O=Example/CN=Chain pathlen 1" pl1 || return 1
	chain_ca pl1 pl1-sub "/O=Example/CN=Chain pathlen 1 sub" ca || return 1
	chain_issue pl1-sub pl1-leaf "$ALICE" leaf || return 1
	chain_file pl1-leaf pl1-sub pl1 || return 1
	cat "$PKI/pl1-sub.pem" "$PKI/pl1.pem" >"$PKI/pl1-cas.pem" || return 1

	pki_ca_dir "$PKI" alice || return 1
	chain_issue alice by-alice "$ALICE" leaf || return 1
	chain_file by-alice alice || return 1
	chain_ca ca notca "/O=Example/CN=Chain not a CA" notca || return 1
	chain_issue notca by-notca "$ALICE" leaf || return 1
	chain_file by-notca notca || return 1
	chain_ca ca nobc "/O=Example/CN=Chain no basicConstraints" nobc ||
	    return 1
	chain_issue nobc by-nobc "$ALICE" leaf || return 1
	chain_file by-nobc nobc || return 1
	chain_ca ca goodca "/O=Example/CN=Chain proper CA" ca || return 1
	chain_issue goodca by-goodca "$ALICE" leaf || return 1
	chain_file by-goodca goodca || return 1

	pki_ca_dir "$PKI" nobcroot || return 1
	# openssl req has no -extfile: the section goes into its own config.
	sed -n '/^\[ ext_nobc \]/,/^authorityKeyIdentifier/p' \
	    "$PKI/chain-ext.cnf" >>"$PKI/nobcroot.cnf" || return 1
	pki_key "$PKI/nobcroot.key" || return 1
	pki_ossl req -new -x509 -config "$PKI/nobcroot.cnf" \
	    -key "$PKI/nobcroot.key" -days 30 -extensions ext_nobc \
	    -subj "/O=Example/CN=Chain root without basicConstraints" \
	    -out "$PKI/nobcroot.pem" || return 1
	chain_issue nobcroot by-nobcroot "$ALICE" leaf || return 1
	cat "$PKI/ca.pem" "$PKI/nobcroot.pem" >"$PKI/anchors-nobc.pem" ||
	    return 1

	chain_ca ca nc "/O=Example/CN=Chain name constraints" nc || return 1
	chain_issue nc nc-email-ok "$ALICE" email_ok || return 1
	chain_issue nc nc-email-bad "$ALICE" email_bad || return 1
	chain_issue nc nc-dns-ok "$ALICE" dns_ok || return 1
	chain_issue nc nc-dns-bad "$ALICE" dns_bad || return 1
	chain_issue nc nc-dir-bad "/O=Elsewhere/OU=ops/CN=alice" leaf ||
	    return 1
	chain_subj_mail nc-subj-ok example.org || return 1
	chain_subj_mail nc-subj-bad evil.test || return 1
	for n in nc-email-ok nc-email-bad nc-dns-ok nc-dns-bad nc-dir-bad \
	    nc-subj-ok nc-subj-bad; do
		chain_file "$n" nc || return 1
	done
	chmod 0644 "$PKI"/*.pem "$PKI"/*.key
}

ALICE="/O=Example/OU=ops/CN=alice"
chain_pki || bail "cannot make the chains ($(tail -n 3 "$PKI/pki.log"))"

# ---- helpers ----------------------------------------------------------------

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

# logged_since N ERE: a line after the first N of the daemon's log matches.
logged_since() {
	tail -n +"$(($1 + 1))" "$MTLSD_LOG" | grep -Eq -- "$2"
}

# refused NAME DESC LOG-ERE: the handshake fails (no HTTP status at all)
# and mtlsd logs the refusal with LOG-ERE in its reason (either of its two
# refusal lines, quoted or not).
refused() {
	local before code rc=0
	before=$(wc -l <"$MTLSD_LOG")
	code=$(mtls_curl "$1" -d user=root "$url") || rc=$?
	if [ "$rc" = 0 ] || [ "$code" != 000 ]; then
		fail "$2"
		diag "not refused: curl exit $rc, HTTP $code: $(head -c 300 "$T/body")"
		return
	fi
	if ! wait_for 2 logged_since "$before" \
	    "refused.* reason=\"?$3"; then
		fail "$2"
		diag "no refusal matching /$3/ in the log" \
		    "curl: $(head -n 1 "$T/curl.err")"
		diag_file "$MTLSD_LOG" 5
		return
	fi
	pass "$2"
}

# verify_ok NAME DESC / verify_refused NAME DESC ERE: mtlsctl verify of
# NAME's file (with the chain it sends) against the root.
V=("$MTLSCTL" verify --trust "$PKI/ca.pem")
verify_ok() {
	expect_rc 0 "verify: $2: exit 0" "${V[@]}" "$PKI/$1.pem"
	expect_eq "$OUT" "$PKI/$1.pem: OK" "verify: $2: prints OK"
}
verify_refused() {
	expect_rc 1 "verify: $2: exit 1" "${V[@]}" "$PKI/$1.pem"
	expect_match "$OUT" "^$PKI/$1.pem: refused: ($3)\$" \
	    "verify: $2: the reason"
}

# nc-dir-bad and the subject emailAddress leaves need rules of their own:
# the others carry alice's subject exactly.
CONF_RULES="$DEFAULT_RULES,
  { name = \"alice-elsewhere\"; subject = \"CN=alice,OU=ops,O=Elsewhere\"; users = [ \"root\" ]; },
  { name = \"alice-mail-ok\"; subject_attrs = { CN = \"alice\"; emailAddress = \"alice@example.org\"; }; users = [ \"root\" ]; },
  { name = \"alice-mail-bad\"; subject_attrs = { CN = \"alice\"; emailAddress = \"alice@evil.test\"; }; users = [ \"root\" ]; }"
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

# ---- path length ----------------------------------------------------------

PATHLEN="path length constraint exceeded"
refused pl0-leaf-chain "pathlen:0 intermediate with a sub-CA below: refused" \
    "$PATHLEN"
accepted pl1-leaf-chain "pathlen:1 intermediate with a sub-CA below: accepted"
refused pl0-leaf "the pathlen:0 leaf without its chain: refused" \
    "unable to get local issuer certificate"

# ---- CA bit ------------------------------------------------------------------

NOTCA="invalid CA certificate"
refused by-alice-chain "leaf issued by alice's own (CA:false) cert: refused" \
    "$NOTCA"
refused by-notca-chain "leaf issued by a CA:false cert with keyCertSign: refused" \
    "$NOTCA"
refused by-nobc-chain "leaf issued by an intermediate without basicConstraints: refused" \
    "$NOTCA"
accepted by-goodca-chain "leaf issued by a proper CA:true intermediate: accepted"

# ---- name constraints ---------------------------------------------------------

SUBTREE="permitted subtree violation"
accepted nc-email-ok-chain "name constraints: SAN email alice@example.org accepted"
refused nc-email-bad-chain "name constraints: SAN email alice@evil.test refused" \
    "$SUBTREE"
accepted nc-dns-ok-chain "name constraints: SAN DNS alice.example.org accepted"
refused nc-dns-bad-chain "name constraints: SAN DNS alice.evil.test refused" \
    "$SUBTREE"
refused nc-dir-bad-chain "name constraints: subject O=Elsewhere refused" \
    "$SUBTREE"
accepted nc-subj-ok-chain "name constraints: subject emailAddress in example.org accepted"
refused nc-subj-bad-chain "name constraints: subject emailAddress in evil.test refused" \
    "$SUBTREE"

# ---- an anchor without basicConstraints: X509_V_FLAG_X509_STRICT -------------

# ossl_verify [FLAGS...]: the openssl CLI's own verdict on by-nobcroot,
# to show that the strict flag alone makes the difference.
ossl_verify() {
	openssl verify "$@" -CAfile "$PKI/nobcroot.pem" -purpose sslclient \
	    "$PKI/by-nobcroot.pem" >/dev/null 2>&1
}
ok "openssl verify without -x509_strict accepts by-nobcroot" ossl_verify
nok "openssl verify -x509_strict refuses by-nobcroot" ossl_verify -x509_strict

stop_mtlsd
awk -v anchors="$PKI/anchors-nobc.pem" '
	/^  trust_anchors = / { print "  trust_anchors = \"" anchors "\";"; next }
	{ print }
' "$conf" >"$conf.new" && mv "$conf.new" "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start with two anchors"
refused by-nobcroot "anchor without basicConstraints: its leaf refused" \
    "$NOTCA"
accepted alice "the other anchor in the same file: alice accepted"
stop_mtlsd

# ---- mtlsctl verify ---------------------------------------------------------

verify_refused pl0-leaf-chain "pathlen:0 exceeded" "$PATHLEN"
verify_ok pl1-leaf-chain "pathlen:1 not exceeded"
expect_rc 1 "verify: pathlen:0 exceeded with --untrusted: exit 1" "${V[@]}" \
    --untrusted "$PKI/pl0-cas.pem" "$PKI/pl0-leaf.pem"
expect_match "$OUT" "refused: $PATHLEN\$" \
    "verify: pathlen:0 exceeded with --untrusted: the reason"
expect_rc 0 "verify: pathlen:1 with --untrusted: exit 0" "${V[@]}" \
    --untrusted "$PKI/pl1-cas.pem" "$PKI/pl1-leaf.pem"

verify_refused by-alice-chain "issuer alice (CA:false)" "$NOTCA"
verify_refused by-notca-chain "issuer CA:false with keyCertSign" "$NOTCA"
verify_refused by-nobc-chain "issuer without basicConstraints" "$NOTCA"
verify_ok by-goodca-chain "issuer CA:true"

verify_ok nc-email-ok-chain "SAN email inside the constraint"
verify_refused nc-email-bad-chain "SAN email outside the constraint" \
    "$SUBTREE"
verify_ok nc-dns-ok-chain "SAN DNS inside the constraint"
verify_refused nc-dns-bad-chain "SAN DNS outside the constraint" "$SUBTREE"
verify_refused nc-dir-bad-chain "subject outside the dirName constraint" \
    "$SUBTREE"
verify_ok nc-subj-ok-chain "subject emailAddress inside the constraint"
verify_refused nc-subj-bad-chain "subject emailAddress outside the constraint" \
    "$SUBTREE"

V=("$MTLSCTL" verify --trust "$PKI/anchors-nobc.pem")
verify_refused by-nobcroot "anchor without basicConstraints" "$NOTCA"
verify_ok alice "alice, the other anchor of the file"

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"

done_testing
