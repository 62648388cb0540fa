#!/bin/bash
# limits = { ... }: connections per source and in all, outstanding
# tickets per certificate and in all (429, audited, nothing evicted),
# header and body sizes, and the throttling of sources and certificates
# that keep failing: slowed, then refused, then forgiven when the window
# passes. Each beside the case that is let through.
. "${0%/*}/lib.sh"
itest_init mtlsd
command -v jq >/dev/null || bail "jq is needed"
SLOW=$MTLS_BUILDDIR/tests/slowclients
[ -x "$SLOW" ] || bail "missing $SLOW"

conf=$T/mtlsd.conf
url=$(mtls_url /v1/tickets)

# timed CERT SRC [CURL-ARGS...]: "CODE SECONDS" of a request with CERT's
# certificate from source address SRC; the body in $T/body.
# Tickets it gets are recorded for the leak check.
timed() {
	local name=$1 src=$2 r
	shift 2
	: >"$T/body"
	r=$(curl -sS --max-time 8 --interface "$src" --cacert "$PKI/ca.pem" \
	    --cert "$PKI/$name.pem" --key "$PKI/${name%-chain}.key" \
	    -o "$T/body" -w '%{http_code} %{time_total}' "$@" \
	    2>"$T/curl.err") || true
	[ "${r%% *}" != 201 ] ||
	    jq -r '.ticket // empty' "$T/body" >>"$T/tickets" 2>/dev/null
	echo "$r"
}

# ticket CERT SRC: the HTTP code of POST user=root.
ticket() {
	local r
	r=$(timed "$1" "$2" -d user=root "$url")
	echo "${r%% *}"
}

# at_least SECONDS MIN / below SECONDS MAX
at_least() { awk -v t="$1" -v m="$2" 'BEGIN { exit !(t + 0 >= m) }'; }
below() { awk -v t="$1" -v m="$2" 'BEGIN { exit !(t + 0 < m) }'; }

restart() {
	stop_mtlsd
	: >"$MTLSD_LOG"
	CONF_LIMITS=$1 write_config "$conf"
	start_mtlsd "$conf" || bail "mtlsd did not start"
	# start_mtlsd's readiness probe is a connection from 127.0.0.1 too;
	# it counts against the limits until the daemon has seen it close.
	wait_for 5 no_connections || bail "the readiness probe is still held"
}

# no_connections: the daemon holds no open connection on its port: none
# established, and none the peer closed that the daemon has not (sockets
# of an earlier daemon, closing or in TIME-WAIT, are not counted).
no_connections() {
	[ -z "$(ss -Htn state established state close-wait \
	    "( sport = :$MTLS_PORT )")" ]
}

# accepted_all: the daemon's accept queue is empty (Recv-Q of the
# listening socket): it has taken every connection made so far.
accepted_all() {
	[ "$(ss -Htln "( sport = :$MTLS_PORT )" | awk '{ print $2 }')" = 0 ]
}

# hold N SRC SECONDS FILE: N silent connections from SRC, in the
# background; waits until they are up and the daemon has taken them (it
# counts a connection in the loop iteration that accepts it).
hold() {
	"$SLOW" -p "$MTLS_PORT" -n "$1" -b "$2" -t "$3" >"$4" 2>&1 &
	track_pid $!
	HOLD_PID=$!
	wait_for 5 grep -q '^connected' "$4" || bail "slowclients did not connect"
	wait_for 5 accepted_all || bail "the daemon did not accept them"
	sleep 0.3
}

# probe SRC: one connection from SRC held 1 s; prints slowclients' last
# line ("open 1 ..." when admitted, "open 0 closed 1 ..." when refused).
probe() {
	"$SLOW" -p "$MTLS_PORT" -n 1 -b "$1" -t 1 | tail -n 1
}

# --- connections -------------------------------------------------------

restart "max_connections = 5; max_connections_per_source = 3;
  handshake_timeout = 10; slow_after = 0; refuse_after = 0;"
hold 3 127.0.0.1 4 "$T/hold1"
expect_match "$(cat "$T/hold1")" '^connected 3 failed 0' \
    "three connections from 127.0.0.1 (its limit) are up"
expect_match "$(probe 127.0.0.1)" '^open 0 closed 1 first_close_ms [0-9]{1,3} ' \
    "a fourth from 127.0.0.1 is closed at once"
expect_match "$(probe 127.0.0.2)" '^open 1 closed 0' \
    "one from 127.0.0.2 meanwhile is admitted (the limit is per source)"
hold 2 127.0.0.2 3 "$T/hold2"
expect_match "$(probe 127.0.0.3)" '^open 0 closed 1 ' \
    "with 5 held in all (the total limit), one from 127.0.0.3 is closed"
n=$(grep -c 'event=connection-refused' "$MTLSD_LOG")
expect_eq "$n" 1 "two refusals in one window: one log line"
wait "$HOLD_PID" 2>/dev/null
untrack_pid "$HOLD_PID"
sleep 1.2
expect_match "$(probe 127.0.0.1)" '^open 1 closed 0' \
    "once they have closed, 127.0.0.1 is admitted again"

# --- outstanding tickets, header and body sizes -------------------------

restart "max_tickets = 3; max_tickets_per_cert = 2; max_header_size = 1024;
  max_body_size = 64; request_timeout = 2; slow_after = 0; refuse_after = 0;"
# A client that finishes its handshake and sends no request is dropped at
# request_timeout: the milliseconds from its handshake to the server's
# close (10 s at most).
silent_after_handshake() {
	timeout 15 python3 - "$MTLS_PORT" "$PKI" <<'PY'
import socket, ssl, sys, time
port, pki = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=pki + "/ca.pem")
ctx.load_cert_chain(pki + "/alice.pem", pki + "/alice.key")
ctx.check_hostname = False
with socket.create_connection(("127.0.0.1", port)) as raw:
    with ctx.wrap_socket(raw) as s:
        t = time.monotonic()
        s.settimeout(10)
        try:
            while s.recv(100):
                pass
        except (OSError, ssl.SSLError):
            pass
        print(int((time.monotonic() - t) * 1000))
PY
}
took=$(silent_after_handshake)
ok "a silent client after its handshake is dropped at request_timeout ($took ms)" \
    test "${took:-0}" -ge 1800 -a "${took:-0}" -lt 6000
r=$(timed alice 127.0.0.1 "$(mtls_url /v1/whoami)")
expect_eq "${r%% *}" 200 "whoami with ordinary headers: 200"
pad=$(head -c 2000 /dev/zero | tr '\0' x)
r=$(timed alice 127.0.0.1 -H "X-Pad: $pad" "$(mtls_url /v1/whoami)")
expect_match "${r%% *}" '^(400|413|431)$' \
    "headers over max_header_size: refused (HTTP ${r%% *})"
r=$(timed alice 127.0.0.1 -d "user=root&pad=$(head -c 100 /dev/zero |
    tr '\0' x)" "$url")
expect_eq "${r%% *}" 413 "a body over max_body_size: 413"
expect_eq "$(ticket alice 127.0.0.1)" 201 "a body within it: ticket 1 of alice"
expect_eq "$(ticket alice 127.0.0.1)" 201 "alice's ticket 2 (her cap)"
expect_eq "$(ticket alice 127.0.0.1)" 429 "alice's ticket 3: 429"
ok "it says rate_limited, for the certificate" jq -e \
    '.error == "rate_limited" and (.detail | test("for this certificate"))' \
    "$T/body"
expect_eq "$(ticket ivan-chain 127.0.0.1)" 201 \
    "another certificate still gets one (3 in all: the total cap)"
expect_eq "$(ticket ivan-chain 127.0.0.1)" 429 "the next one: 429, store full"
ok "it says rate_limited, too many outstanding" jq -e \
    '.error == "rate_limited" and .detail == "too many outstanding tickets"' \
    "$T/body"
n=$(jq -c 'select(.event == "ticket-denied" and
    (.reason | test("too many outstanding tickets")))' "$AUDIT_FILE" | wc -l)
expect_eq "$n" 2 "both refusals are in the audit file"
n=$(jq -c 'select(.event == "ticket-issued")' "$AUDIT_FILE" | wc -l)
expect_eq "$n" 3 "and the three tickets, none evicted for them"

# --- throttling ------------------------------------------------------------

restart "slow_after = 2; refuse_after = 4; failure_window = 14;
  refuse_for = 3; slow_delay_ms = 1000;"
r=$(timed alice 127.0.0.1 -d user=root "$url")
expect_eq "${r%% *}" 201 "before any failure: 201"
ok "and fast (${r#* } s)" below "${r#* }" 0.8
t0=$(now_ms)
expect_eq "$(ticket bob 127.0.0.1)" 403 "bob (no rule): 403, failure 1"
expect_eq "$(ticket bob 127.0.0.1)" 403 "bob: 403, failure 2"
r=$(timed alice 127.0.0.1 -d user=root "$url")
expect_eq "${r%% *}" 201 "after 2 failures from 127.0.0.1 alice is still served"
ok "but slowed down (${r#* } s)" at_least "${r#* }" 0.9
r=$(timed alice 127.0.0.2 -d user=root "$url")
ok "from another source she is not (${r#* } s)" below "${r#* }" 0.8
expect_eq "$(ticket bob 127.0.0.1)" 403 "bob: failure 3"
expect_eq "$(ticket bob 127.0.0.1)" 403 "bob: failure 4"
t4=$(now_ms)
expect_eq "$(ticket alice 127.0.0.1)" 000 \
    "after 4 failures 127.0.0.1 is refused at connect (no HTTP answer)"
expect_eq "$(ticket alice 127.0.0.1)" 000 "and again"
n=$(grep -c 'event=source-throttled peer=127.0.0.1 .*action=slow' "$MTLSD_LOG")
expect_eq "$n" 1 "slowing 127.0.0.1 is logged once"
n=$(grep -c 'event=source-throttled peer=127.0.0.1 .*action=refuse' "$MTLSD_LOG")
expect_eq "$n" 1 "refusing it is logged once"
n=$(grep -c 'event=connection-refused' "$MTLSD_LOG")
expect_eq "$n" 1 "its refused connections: one line"
# sleep_until MS: until MS milliseconds on the now_ms clock.
sleep_until() {
	local w=$(($1 - $(now_ms)))
	[ "$w" -le 0 ] || sleep "$(awk -v w="$w" 'BEGIN { print w / 1000 }')"
}
# refuse_for (3 s) after the 4th failure the refusal ends; the window
# (14 s from the first, about 5 s before the 4th: bob's requests were
# slowed too) still holds 4 failures: slowed, not refused.
sleep_until $((t4 + 3300))
r=$(timed alice 127.0.0.1 -d user=root "$url")
expect_eq "${r%% *}" 201 "after refuse_for 127.0.0.1 is served again"
ok "still slowed within the window (${r#* } s)" at_least "${r#* }" 0.9
sleep_until $((t0 + 14600))
r=$(timed alice 127.0.0.1 -d user=root "$url")
expect_eq "${r%% *}" 201 "after the window, served"
ok "and fast again (${r#* } s)" below "${r#* }" 0.8

# A certificate that fails from many sources is throttled as well; other
# certificates from the same source are not.
mark=$(wc -l <"$MTLSD_LOG")
for i in 20 21 22 23; do
	expect_eq "$(ticket bob 127.0.0.$i)" 403 "bob from 127.0.0.$i: 403"
done
r=$(timed bob 127.0.0.24 -d user=root "$url")
expect_eq "${r%% *}" 429 "bob's certificate, from a fresh source: 429"
ok "it says rate_limited, too many failed attempts" jq -e \
    '.error == "rate_limited" and .detail == "too many failed attempts"' \
    "$T/body"
r=$(timed alice 127.0.0.24 -d user=root "$url")
expect_eq "${r%% *}" 201 "alice from that source: 201"
ok "and fast (${r#* } s)" below "${r#* }" 0.8
n=$(tail -n +$((mark + 1)) "$MTLSD_LOG" |
    grep -c 'event=source-throttled certificate=sha256:.*action=refuse')
expect_eq "$n" 1 "refusing bob's certificate is logged once"

# Refused handshakes count too.
for i in 1 2; do
	r=$(timed revoked 127.0.0.30 -d user=root "$url")
	expect_eq "${r%% *}" 000 "revoked certificate from 127.0.0.30: refused $i"
done
r=$(timed alice 127.0.0.30 -d user=root "$url")
expect_eq "${r%% *}" 201 "alice from 127.0.0.30 after 2 refused handshakes"
ok "is slowed (${r#* } s)" at_least "${r#* }" 0.9
r=$(timed alice 127.0.0.31 -d user=root "$url")
ok "from 127.0.0.31 she is not (${r#* } s)" below "${r#* }" 0.8

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"
ok "the daemon is still running" kill -0 "$MTLSD_PID"

done_testing
