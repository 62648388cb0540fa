#!/bin/bash
# OCSP before a ticket: a real responder (openssl ocsp) on loopback saying
# good, revoked and unknown; no responder at all, with and without
# soft_fail; a responder that never answers (the event loop keeps serving
# others); the cache; the responder taken from the certificate's AIA; a
# response signed by someone the CA did not delegate to; config errors.
. "${0%/*}/lib.sh"
itest_init mtlsd
command -v jq >/dev/null || bail "jq is needed"
command -v python3 >/dev/null || bail "python3 is needed"
pki_ocsp "$PKI" || bail "cannot make the OCSP certificates"

read -r OCSP_PORT DEAD_PORT HANG_PORT AIA_PORT < <(free_ports 4 | tr '\n' ' ')
[ -n "$AIA_PORT" ] || bail "no free ports"
pki_ocsp_aia "$PKI" aia "/O=Example/OU=ops/CN=alice" \
    "http://127.0.0.1:$AIA_PORT/ocsp" || bail "cannot make the AIA certificate"

url=$(mtls_url /v1/tickets)
conf=$T/mtlsd.conf
RESP_PID=
RESP_LOG=

# The handshake must let revoked.pem through: here OCSP refuses it.
export CONF_CRL="\"$PKI/ca-empty.crl\", \"$PKI/int.crl\""

# config_ocsp OCSP-GROUP-BODY: a config with that ocsp group.
config_ocsp() {
	CONF_EXTRA="ocsp = { $1 };" write_config "$conf"
}

# start_responder PORT NREQUEST [INDEX] [SIGNER]: openssl ocsp answering
# NREQUEST requests, signed by SIGNER (default the delegated responder).
start_responder() {
	local port=$1 n=$2 index=${3:-$PKI/ca.db/index.txt} signer=${4:-ocsp}
	RESP_LOG=$T/ocsp-$port-$signer.log
	: >"$RESP_LOG"
	openssl ocsp -index "$index" -port "$port" -rsigner "$PKI/$signer.pem" \
	    -rkey "$PKI/$signer.key" -CA "$PKI/ca.pem" -nrequest "$n" \
	    >>"$RESP_LOG" 2>&1 &
	RESP_PID=$!
	track_pid "$RESP_PID"
	wait_for 5 grep -q "waiting for OCSP client connections" "$RESP_LOG"
}

stop_responder() {
	[ -n "$RESP_PID" ] || return 0
	kill_wait "$RESP_PID"
	untrack_pid "$RESP_PID"
	RESP_PID=
}

queries() {
	grep -c "Received request" "$RESP_LOG"
}

# ticket CERT: the HTTP status of POST user=root with CERT.
ticket() {
	mtls_curl "$1" -d user=root "$url" || true
}

# expect_ticket CERT WANT-CODE [DETAIL] DESC
expect_ticket() {
	local code desc=${4:-$3}
	code=$(ticket "$1")
	if [ "$code" = "$2" ] && { [ $# -lt 4 ] ||
	    jq -e --arg d "$3" '.detail == $d' "$T/body" >/dev/null; }; then
		pass "$desc"
	else
		fail "$desc"
		diag "HTTP $code, want $2 ${4:+($3)}: $(head -c 300 "$T/body")"
	fi
}

audit_last() {
	tail -n 1 "$AUDIT_FILE"
}

# ---- a responder that answers ------------------------------------------

config_ocsp "enable = true; responder = \"http://127.0.0.1:$OCSP_PORT/\"; timeout = 2; cache = 300;"
start_responder "$OCSP_PORT" 3 || bail "openssl ocsp did not start"
start_mtlsd "$conf" || bail "mtlsd did not start"

expect_ticket alice 201 "good: a ticket is issued"
expect_eq "$(queries)" 1 "good: the responder was asked once"
expect_ticket revoked 403 "certificate revoked (OCSP)" \
    "revoked: 403, certificate revoked (OCSP)"
expect_match "$(audit_last)" '"event":"ticket-denied".*certificate revoked \(OCSP\)' \
    "revoked: audited as ticket-denied with the reason"
expect_eq "$(queries)" 2 "revoked: the responder was asked"

expect_ticket alice 201 "good, again: a ticket (from the cache)"
expect_ticket revoked 403 "certificate revoked (OCSP)" \
    "revoked, again: refused (from the cache)"
expect_eq "$(queries)" 2 "within the cache time the responder is not asked again"
stop_responder
expect_ticket alice 201 "responder gone: the cached good answer still holds"
stop_mtlsd

# ---- unknown --------------------------------------------------------------

start_responder "$OCSP_PORT" 2 "$PKI/ocsp-noalice.index" ||
    bail "openssl ocsp did not start"
start_mtlsd "$conf" || bail "mtlsd did not start"
expect_ticket alice 403 "certificate status unknown (OCSP)" \
    "unknown to the responder: 403"
stop_mtlsd
config_ocsp "enable = true; responder = \"http://127.0.0.1:$OCSP_PORT/\"; soft_fail = true;"
start_mtlsd "$conf" || bail "mtlsd did not start"
expect_ticket alice 403 "certificate status unknown (OCSP)" \
    "unknown is refused with soft_fail too (the responder answered)"
stop_mtlsd
stop_responder

# ---- no responder ---------------------------------------------------------

config_ocsp "enable = true; responder = \"http://127.0.0.1:$DEAD_PORT/\"; soft_fail = false;"
start_mtlsd "$conf" || bail "mtlsd did not start"
expect_ticket alice 403 "OCSP status unavailable" \
    "responder down, no soft_fail: 403, OCSP status unavailable"
expect_match "$(audit_last)" '"event":"ticket-denied".*OCSP status unavailable' \
    "responder down: audited as ticket-denied"
expect_match "$(cat "$MTLSD_LOG")" "event=ocsp-unavailable responder=127\.0\.0\.1:$DEAD_PORT reason=unreachable\$" \
    "responder down: logged"
stop_mtlsd

config_ocsp "enable = true; responder = \"http://127.0.0.1:$DEAD_PORT/\"; soft_fail = true;"
: >"$MTLSD_LOG"
start_mtlsd "$conf" || bail "mtlsd did not start"
expect_ticket alice 201 "responder down, soft_fail: a ticket"
expect_match "$(cat "$MTLSD_LOG")" '^<4>event=ocsp-soft-fail action=allow subject="?CN=alice[,"]' \
    "soft_fail: the allowance is logged as a warning"
expect_match "$(audit_last)" '"event":"ticket-issued".*OCSP unavailable, allowed by soft_fail' \
    "soft_fail: the audit record's reason says so"
stop_mtlsd

# ---- a responder that never answers -----------------------------------------

python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print("listening", flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
' "$HANG_PORT" >"$T/hang.log" 2>&1 &
HANG_PID=$!
track_pid "$HANG_PID"
wait_for 5 grep -q listening "$T/hang.log" || bail "the hanging listener did not start"

config_ocsp "enable = true; responder = \"http://127.0.0.1:$HANG_PORT/\"; timeout = 2;"
start_mtlsd "$conf" || bail "mtlsd did not start"
t0=$(now_ms)
( code=$(ticket alice); echo "$code $(($(now_ms) - t0))" >"$T/hung.result" ) &
hung=$!
sleep 0.5
w0=$(now_ms)
wcode=$(mtls_curl alice "$(mtls_url /v1/whoami)") || true
w_ms=$(($(now_ms) - w0))
expect_eq "$wcode" 200 "during a hung OCSP query, whoami is answered"
ok "... promptly (${w_ms} ms < 1000 ms): the event loop did not block" \
    test "$w_ms" -lt 1000
wait "$hung"
read -r hcode h_ms <"$T/hung.result"
expect_eq "$hcode" 403 "hung responder: refused"
ok "... within timeout + 1 s (${h_ms} ms, 1800..3000)" \
    test "$h_ms" -ge 1800 -a "$h_ms" -le 3000
expect_match "$(cat "$MTLSD_LOG")" "event=ocsp-unavailable responder=127\.0\.0\.1:$HANG_PORT reason=\"no answer within 2 s\"\$" \
    "hung responder: the timeout is logged"
stop_mtlsd
kill_wait "$HANG_PID"
untrack_pid "$HANG_PID"

# ---- the responder named by the certificate (AIA) ----------------------------

config_ocsp "enable = true;"
start_responder "$AIA_PORT" 1 || bail "openssl ocsp did not start"
start_mtlsd "$conf" || bail "mtlsd did not start"
expect_ticket aia 201 "no responder configured: the certificate's AIA URL is asked"
expect_match "$(cat "$RESP_LOG")" "POST /ocsp " "... at the path the AIA names"
expect_ticket alice 403 "OCSP status unavailable" \
    "no responder configured, none in the certificate: refused"
stop_mtlsd
stop_responder

# ---- a response signed by an undelegated key ------------------------------

config_ocsp "enable = true; responder = \"http://127.0.0.1:$OCSP_PORT/\";"
start_responder "$OCSP_PORT" 1 "" bob || bail "openssl ocsp did not start"
: >"$MTLSD_LOG"
start_mtlsd "$conf" || bail "mtlsd did not start"
expect_ticket alice 403 "OCSP status unavailable" \
    "a response signed by a certificate without OCSPSigning: refused"
expect_match "$(cat "$MTLSD_LOG")" "signature or signer is not trusted" \
    "... and the log says why"
stop_mtlsd
stop_responder

# ---- disabled ------------------------------------------------------------------

config_ocsp "enable = false; responder = \"http://127.0.0.1:$DEAD_PORT/\";"
start_mtlsd "$conf" || bail "mtlsd did not start"
expect_ticket revoked 201 "enable = false: no OCSP, the (CRL-valid) certificate gets a ticket"
stop_mtlsd

# ---- config -------------------------------------------------------------------

# check_conf BODY WANT-RC [ERE] DESC
check_conf() {
	config_ocsp "$1"
	expect_rc "$2" "$4" "$MTLSD" -c "$conf" -t
	[ -z "$3" ] || expect_match "$ERR" "$3" "$4: the message"
}
check_conf "enable = true; responder = \"http://127.0.0.1:$OCSP_PORT/\"; timeout = 30; cache = 0; soft_fail = true;" \
    0 "" "a complete ocsp group is accepted"
check_conf "enable = true; responder = \"https://127.0.0.1/\";" \
    1 "mtlsd.conf:[0-9]+: 'ocsp.responder': .*https:// is not supported" \
    "an https:// responder is refused"
check_conf "enable = true; responder = \"ldap://127.0.0.1/\";" \
    1 "mtlsd.conf:[0-9]+: 'ocsp.responder'" "an ldap:// responder is refused"
check_conf "enable = true; timeout = 0;" \
    1 "mtlsd.conf:[0-9]+: 'ocsp.timeout' must be between 1 and 30" \
    "timeout = 0 is refused"
check_conf "enable = true; timeout = 31;" 1 "'ocsp.timeout' must be between" \
    "timeout = 31 is refused"
check_conf "enable = true; cache = 86401;" 1 "'ocsp.cache' must be between 0 and 86400" \
    "cache = 86401 is refused"
check_conf "enable = \"yes\";" 1 "'ocsp.enable' must be true or false" \
    "enable must be a boolean"
check_conf "enable = true; softfail = true;" 1 "unknown key 'ocsp.softfail'" \
    "an unknown key in ocsp is refused"

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"

done_testing
