#!/bin/bash
# mtlsctl status over the control socket: the fields, the counters moving
# with what the daemon does, --json, and who may ask (mode 0600, owner the
# daemon's user, SO_PEERCRED uid 0 or the daemon's uid).
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl pam
command -v jq >/dev/null || bail "jq is needed"
command -v setpriv >/dev/null || bail "setpriv is needed"

conf=$T/mtlsd.conf
write_pam_service mtls-test "$(mtls_auth_line)"
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

status_text() {
	"$MTLSCTL" -c "$conf" status
}
jget() {
	"$MTLSCTL" -c "$conf" status --json | jq -r "$1"
}

# ---- the socket ------------------------------------------------------------

expect_eq "$(stat -c '%a %U' "$CTL_SOCK")" "600 nobody" \
    "control socket: mode 0600, owned by the daemon's user"

# ---- the fields ---------------------------------------------------------------

expect_rc 0 "mtlsctl status: exit 0" "$MTLSCTL" -c "$conf" status
for f in version pid uptime config config_loaded reloads reloads_failed \
    listen pam_socket control_socket handshakes handshakes_refused \
    tickets_issued tickets_refused tickets_redeemed redeem_refused \
    tickets_outstanding crl; do
	expect_match "$OUT" "^$f: " "status has $f"
done
expect_match "$OUT" "^version: $(sed -n 's/^PACKAGE_VERSION = //p' \
    "$MTLS_BUILDDIR/Makefile")\$" "the version is the package's"
expect_match "$OUT" "^pid: $MTLSD_PID\$" "the pid is the daemon's"
expect_match "$OUT" "^config: $conf\$" "the config file"
expect_match "$OUT" "^listen: 127\.0\.0\.1:$MTLS_PORT\$" "the listener"
expect_match "$OUT" "^crl: $PKI/ca\.crl age=[0-9]+s last_update=[0-9TZ:-]+ next_update=[0-9TZ:-]+\$" \
    "the root CRL with its age and dates"
expect_match "$OUT" "^crl: $PKI/int\.crl " "the intermediate CRL"

expect_rc 0 "status --json: exit 0" "$MTLSCTL" -c "$conf" status --json
ok "status --json is one JSON object" jq -e 'type == "object"' "$T/out"
ok "--json has the documented members" jq -e '
    (.version | type == "string") and (.pid | type == "number") and
    (.uptime >= 0) and (.config.file | type == "string") and
    (.config.loaded > 0) and (.listen | type == "array") and
    (.handshakes_refused.by_reason | type == "object") and
    (.tickets_refused.total | type == "number") and
    (.crl | length == 2) and (.crl[0].next_update > .crl[0].last_update)' \
    "$T/out"
expect_rc 0 "--json also before the command" "$MTLSCTL" -c "$conf" --json status
ok "and gives JSON" jq -e '.pid > 0' "$T/out"

# ---- counters ---------------------------------------------------------------------

issued=$(jget .tickets_issued)
outstanding=$(jget .tickets_outstanding)
handshakes=$(jget .handshakes)
tk=$(get_ticket alice root) || bail "no ticket"
expect_eq "$(jget .tickets_issued)" $((issued + 1)) "a ticket: issued +1"
expect_eq "$(jget .tickets_outstanding)" $((outstanding + 1)) \
    "a ticket: outstanding +1"
expect_eq "$(jget .handshakes)" $((handshakes + 1)) "a handshake: +1"

expect_pam success "redeem it" "$tk" 127.0.0.1 mtls-test root
expect_eq "$(jget .tickets_redeemed)" 1 "redeemed +1"
expect_eq "$(jget .tickets_outstanding)" "$outstanding" "outstanding -1"
expect_pam "Authentication failure" "replay it" "$tk" 127.0.0.1 mtls-test root
expect_eq "$(jget '.redeem_refused.by_reason.bad_ticket')" 1 \
    "a replay: redeem_refused bad_ticket +1"

code=$(mtls_curl bob -d user=root "$(mtls_url /v1/tickets)")
expect_eq "$code" 403 "bob: 403"
expect_eq "$(jget .tickets_refused.total)" 1 "a refusal: tickets_refused +1"
code=$(mtls_curl revoked -d user=root "$(mtls_url /v1/tickets)")
expect_eq "$(jget '.handshakes_refused.by_reason["certificate revoked"]')" 1 \
    "a revoked certificate: handshakes_refused by its reason"
code=$(mtls_curl - "$(mtls_url /v1/whoami)")
expect_eq "$(jget '.handshakes_refused.by_reason["no client certificate"]')" 1 \
    "no certificate: handshakes_refused by its reason"
expect_match "$(status_text)" "^  certificate revoked: 1\$" \
    "the text output lists the reasons"
expect_match "$(cat "$MTLSD_LOG")" \
    '^<6>event=handshake-refused peer=127\.0\.0\.1 reason="certificate revoked"$' \
    "a refused handshake is logged with key=value fields"
# -f with stderr not a terminal: journal lines, a priority and no time.
expect_eq "$(grep -cv '^<[0-7]>' "$MTLSD_LOG")" 0 \
    "every log line starts with <N> (journal mode)"
expect_match "$(cat "$MTLSD_LOG")" '^<5>audit: time=' \
    "audit lines too"

# ---- who may ask -------------------------------------------------------------------

expect_rc 0 "the daemon's user may ask" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$MTLSCTL" -s "$CTL_SOCK" status
expect_rc 3 "another uid cannot connect" \
    setpriv --reuid=12345 --regid=12345 --clear-groups \
    "$MTLSCTL" -s "$CTL_SOCK" status
expect_match "$ERR" "Permission denied" "  (permission denied)"
# With the mode loosened, SO_PEERCRED still keeps that uid out.
chmod 0666 "$CTL_SOCK"
expect_rc 1 "another uid is refused by SO_PEERCRED" \
    setpriv --reuid=12345 --regid=12345 --clear-groups \
    "$MTLSCTL" -s "$CTL_SOCK" status
expect_nomatch "$OUT" "tickets_issued" "  and gets no status"
chmod 0600 "$CTL_SOCK"
expect_match "$(cat "$MTLSD_LOG")" \
    'event=control-refused uid=12345 pid=[0-9]+ reason="uid not allowed"' \
    "the refused peer is logged"

# ---- the protocol -------------------------------------------------------------------

ctl_raw() {
	python3 - "$CTL_SOCK" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode().decode('unicode_escape').encode('latin-1'))
out = b''
while True:
    b = s.recv(4096)
    if not b:
        break
    out += b
sys.stdout.write(out.decode('utf-8', 'replace'))
EOF
}
expect_eq "$(ctl_raw 'bogus\n')" "error malformed request" \
    "an unknown request: error"
expect_eq "$(ctl_raw 'status\nstatus\n')" "error malformed request" \
    "bytes after the request line: error"
expect_match "$(ctl_raw 'status\n' | head -n 1)" "^ok\$" "a raw status: ok"
expect_rc 3 "no daemon at the socket: exit 3" "$MTLSCTL" -s "$T/run/none.sock" status
expect_rc 2 "reload takes no argument" "$MTLSCTL" -c "$conf" reload now
expect_rc 2 "--json is for status" "$MTLSCTL" -c "$conf" --json reload

ok "mtlsd still runs" kill -0 "$MTLSD_PID"
ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"
done_testing
