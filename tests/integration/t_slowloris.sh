#!/bin/bash
# Slowloris: 1,000 connections that never finish a handshake (silent, or
# trickling a ClientHello byte by byte) do not keep a good client from its
# ticket within a second, and are dropped at the handshake timeout.
. "${0%/*}/lib.sh"
itest_init mtlsd
SLOW=$MTLS_BUILDDIR/tests/slowclients
[ -x "$SLOW" ] || bail "missing $SLOW"
command -v ss >/dev/null || bail "ss (iproute2) is needed"
# 1,000 connections and their server ends in one process tree, plus the
# daemon's own descriptors: raised for this test (and the daemon it
# starts) only.
ulimit -n 4096 || bail "cannot raise the descriptor limit"

HS_TIMEOUT=3
N=1000
SLOW_PIDS=

# established: TCP connections to the daemon's port, counted on its side.
established() {
	ss -Htn state established "( sport = :$MTLS_PORT )" | wc -l
}

# slow MODE FILE: 500 slow connections from 127.0.0.2 .. 127.0.0.11, in
# the background, output in FILE; held 12 s.
slow() {
	"$SLOW" -p "$MTLS_PORT" -n $((N / 2)) -b 127.0.0.2 -k 10 -m "$1" \
	    -i 300 -t 12 >"$2" 2>&1 &
	track_pid $!
	SLOW_PIDS="$SLOW_PIDS $!"
}

connected() {
	grep -q '^connected' "$1"
}

# good_ticket: prints curl's total time for alice's ticket; fails unless
# 201.
good_ticket() {
	local out code t
	out=$(curl -sS --max-time 5 --cacert "$PKI/ca.pem" \
	    --cert "$PKI/alice.pem" --key "$PKI/alice.key" -o "$T/body" \
	    -w '%{http_code} %{time_total}' -d user=root \
	    "$(mtls_url /v1/tickets)" 2>"$T/curl.err") || true
	code=${out%% *}
	t=${out#* }
	echo "$t"
	[ "$code" = 201 ] || return 1
	sed -n 's/.*"ticket":"\([^"]*\)".*/\1/p' "$T/body" >>"$T/tickets"
}

# below_one_second SECONDS
below_one_second() {
	awk -v t="$1" 'BEGIN { exit !(t + 0 < 1.0) }'
}

conf=$T/mtlsd.conf
CONF_LIMITS="handshake_timeout = $HS_TIMEOUT; request_timeout = $HS_TIMEOUT;
  max_connections = 2048; max_connections_per_source = 128;
  slow_after = 0; refuse_after = 0;" write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

t=$(good_ticket) || bail "no ticket before the slow clients: $(cat "$T/curl.err")"
ok "a ticket before the slow clients came ($t s)" below_one_second "$t"

slow silent "$T/silent.out"
slow trickle "$T/trickle.out"
wait_for 10 connected "$T/silent.out" && wait_for 10 connected "$T/trickle.out" ||
    bail "the slow clients did not connect"
expect_match "$(cat "$T/silent.out")" "^connected $((N / 2)) failed 0" \
    "500 silent connections are up"
expect_match "$(cat "$T/trickle.out")" "^connected $((N / 2)) failed 0" \
    "500 trickling connections are up"
held=$(established)
diag "established on the daemon's port: $held"
ok "the daemon holds them (at least $((N * 9 / 10)) of $N established)" \
    test "$held" -ge $((N * 9 / 10))

# While they are held: a good client is served at once, each time.
for i in 1 2 3; do
	if t=$(good_ticket); then
		ok "good client $i: ticket in under one second ($t s)" \
		    below_one_second "$t"
	else
		fail "good client $i: ticket in under one second"
		diag "curl: $t $(cat "$T/curl.err" "$T/body")"
	fi
done
ok "the slow connections are still held while the good ones are served" \
    test "$(established)" -ge $((N * 9 / 10))

# The handshake deadline drops them all, and none before it (times from
# the first connect, the earliest any was accepted).
gone() {
	[ "$(established)" -eq 0 ]
}
ok "every slow connection is dropped after the handshake timeout" \
    wait_for $((HS_TIMEOUT + 6)) gone
for p in $SLOW_PIDS; do
	wait "$p" 2>/dev/null
	untrack_pid "$p"
done
for mode in silent trickle; do
	line=$(tail -n 1 "$T/$mode.out")
	diag "$mode: $line"
	expect_match "$line" "^open 0 closed $((N / 2)) " \
	    "$mode: the daemon closed all $((N / 2))"
	first=$(echo "$line" | awk '{ print $6 }')
	ok "$mode: none closed before the timeout (first after ${first} ms)" \
	    test "$first" -ge $((HS_TIMEOUT * 1000 - 250))
done
# Logged once per window (60 s here), not once per connection.
n=$(grep -c 'event=connection-timeout .*phase=handshake' "$MTLSD_LOG")
expect_eq "$n" 1 "the drops are logged as handshake timeouts, in one line"

t=$(good_ticket) || fail "a ticket after the slow clients"
ok "a ticket after the slow clients left ($t s)" below_one_second "$t"
ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"
ok "the daemon is still running" kill -0 "$MTLSD_PID"

done_testing
