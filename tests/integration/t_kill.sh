#!/bin/bash
# The daemon killed with SIGKILL during a redemption storm: 50 pamtester
# calls at once, mtlsd killed once a few have been redeemed. Every call
# still running ends in a refusal within its deadline, none in a success
# the audit file does not record; restarted, the daemon serves again, and
# the audit file holds a whole JSON line for every decision it made.
. "${0%/*}/lib.sh"
itest_init mtlsd pam
command -v jq >/dev/null || bail "jq is needed"

N=50
KILL_AFTER=10    # redeemed lines in the audit file before the kill
TIMEOUT=2        # the module's deadline (timeout=)
UNAVAIL="Authentication service cannot retrieve authentication info"
AUTH_ERR="Authentication failure"

write_pam_service mtls-test "$(mtls_auth_line timeout=$TIMEOUT)"
# Each call comes from its own PAM_RHOST (192.0.2.I), so that a success
# can be matched to its audit line: the tickets are not bound to the
# address they were fetched from.
conf=$T/mtlsd.conf
CONF_BIND=false write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"

# N + 1 tickets over one connection; the last one is kept for after the
# restart.
urls=()
for i in $(seq $((N + 1))); do
	urls+=("$(mtls_url /v1/tickets)")
done
curl -sS --max-time 20 --cacert "$PKI/ca.pem" --cert "$PKI/alice.pem" \
    --key "$PKI/alice.key" -H 'Accept: text/plain' -d user=root \
    "${urls[@]}" >"$T/storm.tickets" 2>"$T/curl.err" ||
    bail "curl: $(cat "$T/curl.err")"
mapfile -t tickets <"$T/storm.tickets"
cat "$T/storm.tickets" >>"$T/tickets"
expect_eq "${#tickets[@]}" $((N + 1)) "$((N + 1)) tickets issued"
[ "${#tickets[@]}" = $((N + 1)) ] || bail "not enough tickets"

# storm_call I: one pamtester call with ticket I from 192.0.2.I; writes
# "RC START_MS END_MS" to $T/storm.I.res when it ends.
storm_call() {
	local i=$1 t0 rc=0
	t0=$(now_ms)
	printf '%s\n' "${tickets[$((i - 1))]}" | timeout 20 env \
	    LD_PRELOAD="$PW_PRELOAD" PAM_WRAPPER=1 \
	    PAM_WRAPPER_SERVICE_DIR="$PAMD" \
	    pamtester -I "rhost=192.0.2.$i" mtls-test root authenticate \
	    >"$T/storm.$i.out" 2>&1 || rc=$?
	echo "$rc $t0 $(now_ms)" >"$T/storm.$i.tmp"
	mv "$T/storm.$i.tmp" "$T/storm.$i.res"
}

redeemed_lines() {
	grep -c '"event":"redeemed"' "$AUDIT_FILE" 2>/dev/null
}
enough_redeemed() {
	[ "$(redeemed_lines)" -ge "$KILL_AFTER" ]
}

# The launcher runs beside the watcher below, which kills mid-storm. The
# calls start 10 ms apart: pam_wrapper's set-up (a private copy of the
# services in /tmp/pam.X) races with itself when dozens of processes start
# in the same instant; the calls still overlap by dozens. The storm holds
# the pam_wrapper lock (lib.sh) as one: its calls race only with each
# other, over the same services, never with another test's.
(
	pw_lock || exit 1
	for i in $(seq "$N"); do
		storm_call "$i" &
		sleep 0.01
	done
	wait
) &
storm_pid=$!
track_pid "$storm_pid"
# Polled more often than wait_for does: the storm lasts about a second.
deadline=$(($(now_ms) + 20000))
until enough_redeemed; do
	[ "$(now_ms)" -lt "$deadline" ] || bail "no redemption within 20 s"
	sleep 0.01
done
kill -KILL "$MTLSD_PID"
kill_ms=$(now_ms)
wait_for 5 proc_gone "$MTLSD_PID"
untrack_pid "$MTLSD_PID"
at_kill=$(redeemed_lines)
wait "$storm_pid"
untrack_pid "$storm_pid"

# ---- every call: a refusal, or a success the audit file records ----------

successes=0 refusals=0 late=0 odd=0 unrecorded=0 max_after=0 running=0
harness=0
for i in $(seq "$N"); do
	read -r rc t0 t1 <"$T/storm.$i.res"
	after=$((t1 - kill_ms))
	[ "$after" -le "$max_after" ] || max_after=$after
	[ "$after" -lt 0 ] || running=$((running + 1))
	# pam_start itself failed (pam_wrapper's copy of the services was
	# lost to a concurrent start): the module never ran.
	if grep -q "pamtester: Initialization failure" "$T/storm.$i.out"; then
		harness=$((harness + 1))
		diag "call $i: pam_wrapper did not start: not counted"
		continue
	fi
	if [ "$rc" = 0 ] && grep -q "successfully authenticated" "$T/storm.$i.out"
	then
		successes=$((successes + 1))
		grep -q "\"event\":\"redeemed\".*\"rhost\":\"192.0.2.$i\"" \
		    "$AUDIT_FILE" || unrecorded=$((unrecorded + 1))
		continue
	fi
	if grep -qF -e "$UNAVAIL" -e "$AUTH_ERR" "$T/storm.$i.out" &&
	    ! grep -q "successfully authenticated" "$T/storm.$i.out"; then
		refusals=$((refusals + 1))
	else
		odd=$((odd + 1))
		diag "call $i: exit $rc: $(cat "$T/storm.$i.out")"
	fi
	# Ended more than the deadline and a second after the kill: hung.
	[ "$after" -le $(((TIMEOUT + 1) * 1000)) ] || late=$((late + 1))
done
diag "killed after $at_kill redemptions, with $running of $N calls running" \
    "$successes successes, $refusals refusals; the last call ended" \
    "$max_after ms after the kill"
ok "at most 5 calls lost to pam_wrapper's start ($harness)" \
    test "$harness" -le 5
expect_eq "$((successes + refusals))" "$((N - harness))" \
    "every call ended in a success or a PAM refusal"
expect_eq "$odd" 0 "no call ended any other way"
expect_eq "$late" 0 "every refused call ended within ${TIMEOUT} s + 1 s of the kill"
expect_eq "$unrecorded" 0 "every success has its redeemed line in the audit file"
ok "no more successes than redeemed lines ($successes <= $(redeemed_lines))" \
    test "$successes" -le "$(redeemed_lines)"
ok "some calls were cut by the kill ($refusals)" test "$refusals" -gt 0
# The match itself: without the audit lines, a success is unrecorded.
grep -v '"event":"redeemed"' "$AUDIT_FILE" >"$T/audit.probe"
probe_bad=0
for i in $(seq "$N"); do
	grep -q "successfully authenticated" "$T/storm.$i.out" || continue
	grep -q "\"rhost\":\"192.0.2.$i\"" "$T/audit.probe" ||
	    probe_bad=$((probe_bad + 1))
done
ok "the check finds successes without their audit lines" \
    test "$probe_bad" = "$successes"

# ---- restarted, it serves again --------------------------------------------

start_mtlsd "$conf" || bail "mtlsd did not restart"
expect_pam "$AUTH_ERR" "a ticket of the killed daemon is refused" \
    "${tickets[$N]}" 192.0.2.250 mtls-test root
tk=$(get_ticket alice root) || bail "no ticket after the restart"
expect_pam success "after the restart a fresh ticket redeems" \
    "$tk" 192.0.2.251 mtls-test root

# ---- the audit file: whole lines, one per decision -------------------------

stop_mtlsd
bad=0
while IFS= read -r line; do
	printf '%s\n' "$line" | jq -e 'type == "object" and .event != null' \
	    >/dev/null 2>&1 || bad=$((bad + 1))
done <"$AUDIT_FILE"
expect_eq "$bad" 0 "every audit line is a whole JSON object"
expect_eq "$(tail -c 1 "$AUDIT_FILE" | od -An -c | tr -d ' ')" '\n' \
    "the audit file ends with a whole line"
expect_eq "$(grep -c '"event":"ticket-issued"' "$AUDIT_FILE")" \
    "$(grep -c . "$T/tickets")" "one ticket-issued line per ticket issued"
expect_eq "$(grep -c '"event":"redeemed"' "$AUDIT_FILE")" "$((at_kill + 1))" \
    "redeemed lines: those before the kill, and the one after"
ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG" "$AUDIT_FILE"
done_testing
