#!/bin/bash
# mtlsd -t and mtlsctl check: a good config is accepted, each kind of bad
# one is refused with "FILE:LINE:" and exit status 1.
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl

# line_of FILE FIXED-STRING: the line number of its first occurrence.
line_of() {
	grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1
}

# refused NAME FILE LINES DESC: both checkers exit 1, each naming
# FILE:LINE: with LINE one of LINES (an ERE alternation such as "7|8").
refused() {
	local name=$1 file=$2 lines=$3
	expect_rc 1 "mtlsd -t refuses $name" "$MTLSD" -c "$file" -t
	expect_match "$OUT$ERR" "$file:($lines):" \
	    "mtlsd -t names ${file##*/}:LINE: for $name"
	expect_rc 1 "mtlsctl check refuses $name" "$MTLSCTL" check "$file"
	expect_match "$OUT$ERR" "$file:($lines):" \
	    "mtlsctl check names ${file##*/}:LINE: for $name"
}

good=$T/good.conf
write_config "$good"
expect_rc 0 "mtlsd -t accepts a good config" "$MTLSD" -c "$good" -t
expect_rc 0 "mtlsctl check accepts a good config" "$MTLSCTL" check "$good"
expect_match "$OUT" "alice" "mtlsctl check lists rule alice"
expect_match "$OUT" "ivan" "mtlsctl check lists rule ivan"

f=$T/unknown-key.conf
CONF_EXTRA='colour = "blue";' write_config "$f"
refused "an unknown key" "$f" "$(line_of "$f" colour)"

f=$T/bad-type.conf
CONF_LIFETIME='"sixty"' write_config "$f"
refused "a string where a number belongs" "$f" "$(line_of "$f" sixty)"

f=$T/bad-dn.conf
CONF_RULES='  { name = "bad"; subject = "CN=alice,garbage"; users = [ "root" ]; }' \
    write_config "$f"
refused "a malformed subject DN" "$f" "$(line_of "$f" garbage)"

f=$T/missing-cert.conf
CONF_CERT=$T/no-such-server.pem write_config "$f"
refused "a missing certificate file" "$f" "$(line_of "$f" no-such-server)"

f=$T/key-mismatch.conf
CONF_KEY=$PKI/alice.key write_config "$f"
refused "a key that does not match the certificate" "$f" \
    "$(line_of "$f" alice.key)|$(line_of "$f" server.pem)"

f=$T/audit-dir.conf
AUDIT_FILE=$T/no-such-dir/audit.jsonl write_config "$f"
refused "an audit file in a missing directory" "$f" \
    "$(line_of "$f" no-such-dir)"

done_testing
