#!/bin/sh
# pki.sh: a throwaway test PKI, made with the openssl CLI only.
#
#   tests/integration/pki.sh DIR      (or source it and call pki_make DIR)
#
# Everything is EC P-256 so that it takes a fraction of a second. DIR gets:
#   ca.pem ca.key          root CA
#   ca.crl                 root CRL listing revoked.pem (current)
#   ca-empty.crl           root CRL listing nothing (current)
#   int.pem int.key        intermediate CA (signed by the root)
#   int.crl                intermediate CRL, empty (current)
#   other-ca.pem           an unrelated root ("wrong CA")
#   server.pem server.key  server: SAN IP:127.0.0.1, DNS:localhost, serverAuth
#   NAME.pem NAME.key      client certificates (clientAuth, digitalSignature):
#     alice       CN=alice,OU=ops,O=Example
#     bob         CN=bob,OU=dev,O=Example      (no rule names it)
#     revoked     CN=alice,OU=ops,O=Example    listed in ca.crl
#     expired     CN=alice,OU=ops,O=Example    2020-2021
#     notyet      CN=alice,OU=ops,O=Example    2099-2100
#     wrongca     CN=alice,OU=ops,O=Example    signed by other-ca
#     selfsigned  CN=alice,OU=ops,O=Example    self-signed
#     serveronly  CN=alice,OU=ops,O=Example    EKU serverAuth only
#     ivan        CN=ivan,OU=ops,O=Example     issued by the intermediate
#   ivan-chain.pem         ivan's leaf followed by int.pem
# The bad certificates carry alice's subject on purpose: a rule grants that
# subject, so a refusal can only come from the certificate check.
#
# openssl ca is used (not x509 -req) because OpenSSL 3.0 has no
# -not_before/-not_after there and the expired/not-yet-valid certificates
# need explicit dates.

pki_ossl() {
	openssl "$@" >>"$PKI_LOG" 2>&1 || {
		echo "pki.sh: openssl $1 failed, see $PKI_LOG" >&2
		return 1
	}
}

pki_key() {
	pki_ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1"
}

# pki_ca_dir DIR NAME: the database openssl ca wants, and its config.
pki_ca_dir() {
	mkdir -p "$1/$2.db" || return 1
	: >"$1/$2.db/index.txt"
	openssl rand -hex 16 >"$1/$2.db/serial"
	echo 01 >"$1/$2.db/crlnumber"
	cat >"$1/$2.cnf" <<EOF
[ ca ]
default_ca = ca_section
[ ca_section ]
dir = $1/$2.db
database = \$dir/index.txt
serial = \$dir/serial
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir
certificate = $1/$2.pem
private_key = $1/$2.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = policy_any
preserve = yes
unique_subject = no
email_in_dn = no
copy_extensions = none
[ policy_any ]
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ ext_ca ]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ ext_int ]
basicConstraints = critical,CA:true,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ ext_client ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ ext_serveronly ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ ext_server ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ ext_selfsigned ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
EOF
}

# pki_root DIR NAME SUBJECT
pki_root() {
	pki_ca_dir "$1" "$2" || return 1
	pki_key "$1/$2.key" || return 1
	pki_ossl req -new -x509 -config "$1/$2.cnf" -key "$1/$2.key" \
	    -subj "$3" -days 30 -extensions ext_ca -out "$1/$2.pem"
}

# pki_issue DIR CA NAME SUBJECT EXT [openssl ca date options]
pki_issue() {
	_d=$1 _ca=$2 _n=$3 _s=$4 _e=$5
	shift 5
	pki_key "$_d/$_n.key" || return 1
	pki_ossl req -new -config "$_d/$_ca.cnf" -key "$_d/$_n.key" \
	    -subj "$_s" -out "$_d/$_n.csr" || return 1
	pki_ossl ca -batch -notext -config "$_d/$_ca.cnf" -extensions "$_e" \
	    -in "$_d/$_n.csr" -out "$_d/$_n.pem" "$@" || return 1
	rm -f "$_d/$_n.csr"
}

pki_make() {
	_dir=$1
	[ -n "$_dir" ] || { echo "usage: pki.sh DIR" >&2; return 2; }
	mkdir -p "$_dir" || return 1
	_dir=$(cd "$_dir" && pwd) || return 1
	PKI_LOG=$_dir/pki.log
	: >"$PKI_LOG"
	_alice="/O=Example/OU=ops/CN=alice"

	pki_root "$_dir" ca "/O=Example/CN=Example Test Root" || return 1
	pki_root "$_dir" other-ca "/O=Elsewhere/CN=Other Root" || return 1

	pki_issue "$_dir" ca int "/O=Example/CN=Example Test Intermediate" \
	    ext_int || return 1
	pki_ca_dir "$_dir" int || return 1

	pki_issue "$_dir" ca server "/O=Example/CN=localhost" ext_server ||
	    return 1
	pki_issue "$_dir" ca alice "$_alice" ext_client || return 1
	pki_issue "$_dir" ca bob "/O=Example/OU=dev/CN=bob" ext_client ||
	    return 1
	pki_issue "$_dir" ca revoked "$_alice" ext_client || return 1
	pki_issue "$_dir" ca expired "$_alice" ext_client \
	    -startdate 20200101000000Z -enddate 20210101000000Z || return 1
	pki_issue "$_dir" ca notyet "$_alice" ext_client \
	    -startdate 20990101000000Z -enddate 21000101000000Z || return 1
	pki_issue "$_dir" ca serveronly "$_alice" ext_serveronly || return 1
	pki_issue "$_dir" other-ca wrongca "$_alice" ext_client || return 1
	pki_issue "$_dir" int ivan "/O=Example/OU=ops/CN=ivan" ext_client ||
	    return 1
	cat "$_dir/ivan.pem" "$_dir/int.pem" >"$_dir/ivan-chain.pem"

	pki_key "$_dir/selfsigned.key" || return 1
	pki_ossl req -new -x509 -config "$_dir/ca.cnf" \
	    -key "$_dir/selfsigned.key" -subj "$_alice" -days 30 \
	    -extensions ext_selfsigned -out "$_dir/selfsigned.pem" || return 1

	pki_ossl ca -batch -config "$_dir/ca.cnf" -gencrl \
	    -out "$_dir/ca-empty.crl" || return 1
	pki_ossl ca -batch -config "$_dir/ca.cnf" \
	    -revoke "$_dir/revoked.pem" -crl_reason keyCompromise || return 1
	pki_ossl ca -batch -config "$_dir/ca.cnf" -gencrl \
	    -out "$_dir/ca.crl" || return 1
	pki_ossl ca -batch -config "$_dir/int.cnf" -gencrl \
	    -out "$_dir/int.crl" || return 1
	# The daemon drops to an unprivileged user and may re-read files
	# (CRLs) afterwards; this directory holds nothing but test material.
	chmod 0755 "$_dir" && chmod 0644 "$_dir"/*.pem "$_dir"/*.key \
	    "$_dir"/*.crl
}

# ---- OCSP (t_ocsp.sh) -----------------------------------------------------
# pki_ocsp DIR: after pki_make DIR, adds (existing files unchanged):
#   ocsp.pem ocsp.key      the root's delegated OCSP responder (EKU
#                          OCSPSigning), for openssl ocsp -rsigner
#   ca.db/index.txt        already lists every root-issued certificate,
#                          revoked.pem as revoked: openssl ocsp -index
#   ocsp-noalice.index     the same without alice: "unknown" for her
# pki_ocsp_aia DIR NAME SUBJECT URL: NAME.pem/.key, a client certificate
# from the root whose authorityInfoAccess names URL as its OCSP responder.

pki_ext_file() {
	cat >"$1" <<EOF
[ ext_ocsp ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ ext_client_aia ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess = OCSP;URI:${2:-http://127.0.0.1/}
EOF
}

pki_ocsp() {
	_dir=$(cd "$1" && pwd) || return 1
	PKI_LOG=$_dir/pki.log
	pki_ext_file "$_dir/ocsp-ext.cnf" || return 1
	pki_key "$_dir/ocsp.key" || return 1
	pki_ossl req -new -config "$_dir/ca.cnf" -key "$_dir/ocsp.key" \
	    -subj "/O=Example/CN=Example OCSP Responder" \
	    -out "$_dir/ocsp.csr" || return 1
	pki_ossl ca -batch -notext -config "$_dir/ca.cnf" \
	    -extfile "$_dir/ocsp-ext.cnf" -extensions ext_ocsp \
	    -in "$_dir/ocsp.csr" -out "$_dir/ocsp.pem" || return 1
	rm -f "$_dir/ocsp.csr"
	_serial=$(openssl x509 -noout -serial -in "$_dir/alice.pem") ||
	    return 1
	grep -v "	${_serial#serial=}	" "$_dir/ca.db/index.txt" \
	    >"$_dir/ocsp-noalice.index" || return 1
	cp "$_dir/ca.db/index.txt.attr" "$_dir/ocsp-noalice.index.attr" ||
	    return 1
	chmod 0644 "$_dir/ocsp.pem" "$_dir/ocsp.key"
}

pki_ocsp_aia() {
	_dir=$(cd "$1" && pwd) || return 1
	PKI_LOG=$_dir/pki.log
	pki_ext_file "$_dir/aia-ext.cnf" "$4" || return 1
	pki_key "$_dir/$2.key" || return 1
	pki_ossl req -new -config "$_dir/ca.cnf" -key "$_dir/$2.key" \
	    -subj "$3" -out "$_dir/$2.csr" || return 1
	pki_ossl ca -batch -notext -config "$_dir/ca.cnf" \
	    -extfile "$_dir/aia-ext.cnf" -extensions ext_client_aia \
	    -in "$_dir/$2.csr" -out "$_dir/$2.pem" || return 1
	rm -f "$_dir/$2.csr"
	chmod 0644 "$_dir/$2.pem" "$_dir/$2.key"
}

# ---- trust and certificate policy (t_trust.sh) ---------------------------
# pki_trust DIR: after pki_make DIR, adds (existing files unchanged) leaves
# with alice's subject and clientAuth, so that only the certificate check
# can refuse them:
#   rsa1024 rsa2048   RSA keys of those sizes
#   p224 p384         EC keys on those curves
#   sha1              signed with SHA-1
#   longlived         valid 400 days (the others: 30)
#   kuagree           keyUsage keyAgreement only (no digitalSignature)
#   ca-stale.crl      root CRL listing revoked.pem whose nextUpdate was a
#                     second after it was made: stale from then on

# pki_issue_keyed DIR NAME SUBJECT EXT-FILE KEY [openssl ca options]: NAME
# from the root for a key made beforehand, extensions ext_leaf of EXT-FILE.
pki_issue_keyed() {
	_d=$1 _n=$2 _s=$3 _x=$4 _k=$5
	shift 5
	pki_ossl req -new -config "$_d/ca.cnf" -key "$_k" -subj "$_s" \
	    -out "$_d/$_n.csr" || return 1
	pki_ossl ca -batch -notext -config "$_d/ca.cnf" -extfile "$_x" \
	    -extensions ext_leaf -in "$_d/$_n.csr" -out "$_d/$_n.pem" "$@" ||
	    return 1
	rm -f "$_d/$_n.csr"
}

pki_trust_ext() {
	cat >"$1" <<EOF
[ ext_leaf ]
basicConstraints = critical,CA:false
keyUsage = critical,${2:-digitalSignature}
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
}

pki_trust() {
	_dir=$(cd "$1" && pwd) || return 1
	PKI_LOG=$_dir/pki.log
	_alice="/O=Example/OU=ops/CN=alice"
	pki_trust_ext "$_dir/trust-ext.cnf" || return 1
	pki_trust_ext "$_dir/trust-ka.cnf" keyAgreement || return 1
	for _bits in 1024 2048; do
		pki_ossl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$_bits" \
		    -out "$_dir/rsa$_bits.key" || return 1
		pki_issue_keyed "$_dir" "rsa$_bits" "$_alice" \
		    "$_dir/trust-ext.cnf" "$_dir/rsa$_bits.key" || return 1
	done
	for _bits in 224 384; do
		pki_ossl genpkey -algorithm EC \
		    -pkeyopt "ec_paramgen_curve:P-$_bits" \
		    -out "$_dir/p$_bits.key" || return 1
		pki_issue_keyed "$_dir" "p$_bits" "$_alice" \
		    "$_dir/trust-ext.cnf" "$_dir/p$_bits.key" || return 1
	done
	for _n in sha1 longlived kuagree; do
		pki_key "$_dir/$_n.key" || return 1
	done
	pki_issue_keyed "$_dir" sha1 "$_alice" "$_dir/trust-ext.cnf" \
	    "$_dir/sha1.key" -md sha1 || return 1
	pki_issue_keyed "$_dir" longlived "$_alice" "$_dir/trust-ext.cnf" \
	    "$_dir/longlived.key" -days 400 || return 1
	pki_issue_keyed "$_dir" kuagree "$_alice" "$_dir/trust-ka.cnf" \
	    "$_dir/kuagree.key" || return 1
	pki_ossl ca -batch -config "$_dir/ca.cnf" -gencrl -crlsec 1 \
	    -out "$_dir/ca-stale.crl" || return 1
	chmod 0644 "$_dir"/*.pem "$_dir"/*.key "$_dir"/*.crl
}

# pki_make_policy DIR: after pki_make, the certificates of the rule tests
# (t_policy.sh), all by the root CA, clientAuth:
#   opsd        CN=daemon,OU=ops,O=Example     SAN email daemon@Example.ORG,
#               URI spiffe://example.org/admin/daemon, policy 1.3.6.1.4.1.99999.1
#   contractor  CN=bin,OU=contractors,O=Example
pki_make_policy() {
	_dir=$(cd "$1" && pwd) || return 1
	PKI_LOG=$_dir/pki.log
	if ! grep -q '^\[ ext_client_policy \]' "$_dir/ca.cnf"; then
		cat >>"$_dir/ca.cnf" <<EOF
[ ext_client_policy ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = email:daemon@Example.ORG,URI:spiffe://example.org/admin/daemon
certificatePolicies = 1.3.6.1.4.1.99999.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
	fi
	pki_issue "$_dir" ca opsd "/O=Example/OU=ops/CN=daemon" \
	    ext_client_policy || return 1
	pki_issue "$_dir" ca contractor "/O=Example/OU=contractors/CN=bin" \
	    ext_client || return 1
	chmod 0644 "$_dir/opsd.pem" "$_dir/opsd.key" "$_dir/contractor.pem" \
	    "$_dir/contractor.key"
}

case "${0##*/}" in
pki.sh)
	pki_make "$@"
	exit $?
	;;
*) ;;
esac
