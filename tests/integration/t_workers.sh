#!/bin/bash
# workers = N against the real daemon, under its system call filter: the
# master and its N workers as processes; both workers serve the mTLS
# listener while the ticket store, the audit file, the caps on
# outstanding tickets and the throttling of failing sources stay one; a
# reload reaches every worker and cannot change N; the processes end
# together (SIGTERM, a worker killed, the master killed). Each beside the
# case that is let through.
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl pam
command -v jq >/dev/null || bail "jq is needed"

AUTH_ERR="Authentication failure"
conf=$T/mtlsd.conf
url=$(mtls_url /v1/tickets)
# Bodies of the parallel requests: they hold tickets, and are removed
# once read (the leak check at the end looks at every other file).
PAR=$T/par
mkdir -p "$PAR"

# ---- helpers ----------------------------------------------------------------

# restart [CONF_EXTRA]: a fresh daemon on $conf, written with CONF_EXTRA
# (and whatever CONF_* the caller sets), with new log and audit files (the
# old ones are kept beside them, for the leak check at the end).
RESTARTS=0
restart() {
	stop_mtlsd
	RESTARTS=$((RESTARTS + 1))
	[ ! -f "$MTLSD_LOG" ] || mv "$MTLSD_LOG" "$T/mtlsd.$RESTARTS.log"
	[ ! -f "$AUDIT_FILE" ] ||
	    mv "$AUDIT_FILE" "${AUDIT_FILE%.jsonl}.$RESTARTS.jsonl"
	CONF_EXTRA=$1 write_config "$conf"
	start_mtlsd "$conf" || bail "mtlsd did not start"
	# The workers are forked after the port is bound: wait until the
	# control socket answers, which is after the fork.
	wait_for 5 status_ok || bail "mtlsctl status does not answer"
}

status_ok() {
	"$MTLSCTL" -c "$conf" status >/dev/null 2>&1
}

st() {
	"$MTLSCTL" -c "$conf" status
}

stj() {
	"$MTLSCTL" -c "$conf" status --json
}

# children: the master's child processes, one pid a line, sorted.
children() {
	pgrep -P "$MTLSD_PID" | sort -n
}

n_children() {
	children | wc -l
}

has_children() {
	[ "$(n_children)" = "$1" ]
}

# gone PID: the process has exited (a zombie not yet reaped counts).
gone() {
	local s
	s=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
	case $s in
	Z*|'') return 0 ;;
	*) return 1 ;;
	esac
}

all_gone() {
	local p
	for p in "$@"; do
		gone "$p" || return 1
	done
}

port_closed() {
	! port_open 127.0.0.1 "$MTLS_PORT"
}

# par N CERT USER [CURL-ARGS...]: N ticket requests at once, each on its
# own connection. Afterwards CODES holds the N HTTP codes (sorted, one a
# line), $PAR/details the "detail" of each refusal; the tickets got are
# appended to $T/tickets and to $PAR/got, and the bodies removed.
par() {
	local n=$1 name=$2 user=$3 i pids='' key
	shift 3
	key=$PKI/${name%-chain}.key
	for i in $(seq "$n"); do
		curl -sS --max-time 8 --cacert "$PKI/ca.pem" \
		    --cert "$PKI/$name.pem" --key "$key" "$@" \
		    -o "$PAR/body.$i" -w '%{http_code}' -d "user=$user" "$url" \
		    >"$PAR/code.$i" 2>"$PAR/err.$i" &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086 # one pid a word
	wait $pids
	: >"$PAR/details"
	for i in $(seq "$n"); do
		if [ "$(cat "$PAR/code.$i")" = 201 ]; then
			jq -r '.ticket // empty' "$PAR/body.$i" \
			    >>"$PAR/got" 2>/dev/null
		elif [ -s "$PAR/body.$i" ]; then
			jq -r '.detail // empty' "$PAR/body.$i" \
			    >>"$PAR/details" 2>/dev/null
		fi
	done
	[ ! -f "$PAR/got" ] || cat "$PAR/got" >>"$T/tickets"
	CODES=$(for i in $(seq "$n"); do cat "$PAR/code.$i"; echo; done | sort)
	rm -f "$PAR"/body.* "$PAR"/code.* "$PAR"/err.*
}

# count_of CODE: how many of the last par's codes are CODE.
count_of() {
	printf '%s\n' "$CODES" | grep -cx -- "$1"
}

# got_count: how many distinct tickets $PAR/got holds.
got_count() {
	[ -f "$PAR/got" ] || { echo 0; return; }
	sort -u "$PAR/got" | grep -c .
}

# worker_field I FIELD: FIELD (pid, handshakes, ...) of worker I's status
# line.
worker_field() {
	st | sed -n "s/^worker: $1 .* $2=\([0-9]*\).*/\1/p;
	    s/^worker: $1 $2=\([0-9]*\).*/\1/p" | head -n 1
}

# st_value KEY: the number after "KEY: " in the text status.
st_value() {
	st | sed -n "s/^$1: \([0-9]*\).*/\1/p" | head -n 1
}

both_served() {
	[ "$(worker_field 1 handshakes)" -gt 0 ] &&
	    [ "$(worker_field 2 handshakes)" -gt 0 ]
}

logged_n() {
	[ "$(grep -c -- "$1" "$MTLSD_LOG")" -ge "$2" ]
}

# ---- 1. configuration -------------------------------------------------------

for n in 1 2 64; do
	CONF_EXTRA="workers = $n;" write_config "$conf"
	expect_rc 0 "mtlsd -t: workers = $n is accepted" "$MTLSD" -c "$conf" -t
done
for v in 0 65 '"two"'; do
	CONF_EXTRA="workers = $v;" write_config "$conf"
	expect_rc 1 "mtlsd -t: workers = $v is refused" "$MTLSD" -c "$conf" -t
	expect_match "$ERR" "workers" "the refusal of workers = $v names workers"
done
expect_match "$ERR" "^$conf:[0-9]+: " "the refusal gives file and line"

restart ""
expect_eq "$(n_children)" 0 "workers absent: the daemon is one process"
expect_match "$(st)" '^workers: 1 running=1$' \
    "workers absent: status says workers: 1 running=1"
expect_nomatch "$(st)" '^worker:' "workers absent: no worker: lines"
expect_eq "$(stj | jq -c '[.workers.configured, .workers.running, .worker]')" \
    '[1,1,[]]' "workers absent: JSON workers 1, running 1, no worker[]"
expect_eq "$(par 2 alice root; count_of 201)" 2 \
    "workers absent: the one process serves"

restart "workers = 1;"
expect_eq "$(n_children)" 0 "workers = 1: the daemon is one process"
expect_match "$(st)" '^workers: 1 running=1$' \
    "workers = 1: status says workers: 1 running=1"
expect_nomatch "$(st)" '^worker:' "workers = 1: no worker: lines"

# ---- 2. two workers: processes and status ----------------------------------

restart "workers = 2;"
ok "workers = 2: the master has two child processes" wait_for 5 has_children 2
kids=$(children | tr '\n' ' ')
expect_match "$(st)" '^workers: 2 running=2$' \
    "status says workers: 2 running=2"
expect_eq "$(st | grep -c '^worker: ')" 2 "two worker: lines"
expect_eq "$(st | sed -n 's/^worker: [12] pid=\([0-9]*\) .*/\1/p' | sort -n |
    tr '\n' ' ')" "$kids" "the worker: lines' pids are the children ($kids)"
expect_eq "$(st | sed -n 's/^pid: //p')" "$MTLSD_PID" \
    "status pid: is the master's"
expect_eq "$(stj | jq -c '[.workers.configured, .workers.running]')" \
    '[2,2]' "JSON: workers configured 2, running 2"
expect_eq "$(stj | jq -r '[.worker[].pid] | sort | map(tostring) | join(" ")')" \
    "${kids% }" "JSON: worker[].pid are the children"
expect_eq "$(stj | jq -c '[.worker[].id]')" '[1,2]' "JSON: worker ids 1 and 2"
for p in $kids; do
	expect_eq "$(ps -o user= -p "$p" | tr -d ' ')" nobody \
	    "worker $p runs as the daemon's user"
done

# ---- 3. both workers serve; 6. audit -----------------------------------------

rm -f "$PAR/got"
total=0
for batch in 1 2 3 4 5; do
	par 8 alice root
	total=$((total + 8))
	both_served && break
done
ok "both workers served handshakes ($batch batches of 8)" both_served
n_got=$(got_count)
expect_eq "$n_got" "$total" "every one of the $total requests got a ticket"
h1=$(worker_field 1 handshakes)
h2=$(worker_field 2 handshakes)
diag "worker 1: $h1 handshakes, worker 2: $h2"
expect_eq "$((h1 + h2))" "$(st_value handshakes)" \
    "the workers' handshakes add up to handshakes:"
expect_eq "$(st_value tickets_issued)" "$n_got" \
    "tickets_issued is the number of tickets received"
expect_eq "$(st_value tickets_outstanding)" "$n_got" \
    "tickets_outstanding too (one store)"
expect_eq "$(stj | jq '[.worker[].handshakes] | add')" "$(stj | jq .handshakes)" \
    "JSON: the same sum"
n=$(jq -c 'select(.event == "ticket-issued")' "$AUDIT_FILE" | wc -l)
expect_eq "$n" "$n_got" "one ticket-issued line per ticket in the audit file"
n=$(grep -c 'audit: .*event=ticket-issued' "$MTLSD_LOG")
expect_eq "$n" "$n_got" "and one audit line each in the log, none twice"
r=$(par 1 ivan-chain admin; echo "$CODES")
expect_eq "$r" 403 "ivan for user admin: 403 (policy)"
n=$(jq -c 'select(.event == "ticket-denied" and .user == "admin" and
    (.subject | test("CN=ivan")))' "$AUDIT_FILE" | wc -l)
expect_eq "$n" 1 "it is audited once, as ticket-denied"
expect_eq "$(jq -c 'select(.event == "ticket-issued")' "$AUDIT_FILE" | wc -l)" \
    "$n_got" "the refusal issued no ticket"

# ---- 4. one store: every ticket redeems once through the PAM module -----------

write_pam_service mtls-test "$(mtls_auth_line)"
good=0
replay_refused=0
while read -r tk; do
	pam_try "$tk" 127.0.0.1 mtls-test root &&
	    grep -q "successfully authenticated" "$T/pam.out" &&
	    good=$((good + 1))
	if ! pam_try "$tk" 127.0.0.1 mtls-test root &&
	    grep -qF "$AUTH_ERR" "$T/pam.out"; then
		replay_refused=$((replay_refused + 1))
	fi
done < <(sort -u "$PAR/got")
expect_eq "$good" "$n_got" "each of the $n_got tickets redeems through PAM"
expect_eq "$replay_refused" "$n_got" "a replay of each is refused"
expect_eq "$(st_value tickets_redeemed)" "$n_got" \
    "status counts the redemptions"
expect_eq "$(st_value tickets_outstanding)" 0 "none is left outstanding"
rm -f "$PAR/got"
par 1 alice root
tk=$(cat "$PAR/got")
expect_pam "$AUTH_ERR" "a ticket for root redeemed as user daemon: refused" \
    "$tk" 127.0.0.1 mtls-test daemon
expect_pam "$AUTH_ERR" "and it is consumed by the refusal" \
    "$tk" 127.0.0.1 mtls-test root
rm -f "$PAR/got"

# ---- 5. the caps on outstanding tickets hold across workers ---------------------

CONF_LIMITS="$TEST_LIMITS max_tickets = 3;" restart "workers = 2;"
par 8 alice root
expect_eq "$(count_of 201)" 3 "max_tickets = 3: of 8 at once, 3 get 201"
expect_eq "$(count_of 429)" 5 "and 5 get 429"
expect_eq "$(grep -cx 'too many outstanding tickets' "$PAR/details")" 5 \
    "each 429 says too many outstanding tickets"
expect_eq "$(st_value tickets_outstanding)" 3 "tickets_outstanding: 3"
expect_eq "$(st_value tickets_refused)" 5 "status counts the 5 refusals"
rm -f "$PAR/got"

CONF_LIMITS='slow_after = 0; refuse_after = 0; max_tickets_per_cert = 2; max_connections_per_source = 4096;' \
    restart "workers = 2;"
par 8 alice root
expect_eq "$(count_of 201)" 2 "max_tickets_per_cert = 2: of 8 by alice, 2 get 201"
expect_eq "$(count_of 429)" 6 "and 6 get 429"
expect_eq "$(grep -c 'for this certificate' "$PAR/details")" 6 \
    "each says it is for this certificate"
par 2 ivan-chain root
expect_eq "$(count_of 201)" 2 "ivan still gets his 2"
par 1 ivan-chain root
expect_eq "$CODES" 429 "and no third"
expect_eq "$(st_value tickets_outstanding)" 4 "tickets_outstanding: 4"
rm -f "$PAR/got"

# ---- 7. throttling is shared between the workers -------------------------------

# shared_throttle LIMITS DESC: 10 failures (bob has no rule: 403) while
# worker 2 is stopped (SIGSTOP), so that worker 1 sees them all; then
# worker 1 stopped and worker 2 resumed, so that alice's 12 requests all
# reach worker 2, which saw no failure itself and knows of them only from
# what worker 1 passed on through the master. Leaves CODES, and H2, worker
# 2's handshakes before alice's requests.
shared_throttle() {
	local w1 w2
	CONF_LIMITS=$1 restart "workers = 2;"
	w1=$(worker_field 1 pid)
	w2=$(worker_field 2 pid)
	par 1 alice root
	expect_eq "$CODES" 201 "$2: before any failure alice gets 201"
	kill -STOP "$w2"
	par 10 bob root
	expect_eq "$(count_of 403)" 10 "$2: 10 requests by bob at once: 403"
	kill -STOP "$w1"
	kill -CONT "$w2"
	# Worker 2 reads what was passed on while it was stopped.
	sleep 0.5
	H2=$(worker_field 2 handshakes)
	par 12 alice root
	kill -CONT "$w1"
	expect_eq "$(worker_field 1 tickets_refused)/$(worker_field 2 tickets_refused)" \
	    10/0 "$2: worker 1 refused the 10, worker 2 none"
}

# refuse_after = 10: worker 2 refuses on failures it only heard of.
shared_throttle "slow_after = 5; refuse_after = 10; failure_window = 60;
  refuse_for = 60; slow_delay_ms = 100; max_tickets_per_cert = 100000;
  max_connections_per_source = 4096;" "refuse_after = 10"
expect_eq "$(count_of 000)" 12 \
    "then all 12 requests by alice to worker 2 are refused at connect"
expect_eq "$(worker_field 2 handshakes)" "$H2" \
    "worker 2 ran no handshake for them"
ok "worker 2 logged the refusal of connections" \
    wait_for 2 logged_n 'event=connection-refused peer=127.0.0.1' 1
n=$(grep -c 'event=source-throttled peer=127.0.0.1 .*action=refuse' \
    "$MTLSD_LOG")
ok "both workers logged the throttling of 127.0.0.1 ($n lines)" \
    test "$n" -ge 2
par 1 alice root --interface 127.0.0.2
expect_eq "$CODES" 201 "alice from 127.0.0.2 meanwhile: 201"
rm -f "$PAR/got"

# Throttling off: the same 10 failures refuse nothing.
shared_throttle "$TEST_LIMITS" "throttling off"
expect_eq "$(count_of 201)" 12 \
    "then all 12 requests by alice to worker 2: 201"
expect_eq "$(worker_field 2 handshakes)" $((H2 + 12)) \
    "worker 2 served them"
expect_eq "$(grep -c 'event=connection-refused' "$MTLSD_LOG")" 0 \
    "no connection refused"
rm -f "$PAR/got"

# ---- 8. reload ------------------------------------------------------------------

IVAN='  { name = "ivan"; subject = "CN=ivan,OU=ops,O=Example"; users = [ "root" ]; }'
restart "workers = 2;"
reloaded_lines() {
	grep -c 'event=reloaded' "$MTLSD_LOG"
}
CONF_RULES=$IVAN CONF_EXTRA="workers = 2;" write_config "$conf"
run "$MTLSCTL" -c "$conf" reload
expect_eq "$RC" 0 "alice's rule removed: mtlsctl reload exits 0"
par 12 alice root
expect_eq "$(count_of 403)" 12 "at once after it, all 12 requests by alice: 403"
ok "the master and both workers logged the reload" \
    wait_for 3 logged_n 'event=reloaded' 3
par 4 ivan-chain root
expect_eq "$(count_of 201)" 4 "ivan still gets tickets"
CONF_EXTRA="workers = 2;" write_config "$conf"
run "$MTLSCTL" -c "$conf" reload
expect_eq "$RC" 0 "alice's rule back: mtlsctl reload exits 0"
par 12 alice root
expect_eq "$(count_of 201)" 12 "all 12 requests by alice: 201 again"

CONF_EXTRA="workers = 3;" write_config "$conf"
n0=$(reloaded_lines)
run "$MTLSCTL" -c "$conf" reload
expect_eq "$RC" 1 "a reload changing workers: mtlsctl reload exits 1"
expect_match "$ERR" "workers changed" "the refusal names workers"
ok "the daemon keeps running" kill -0 "$MTLSD_PID"
expect_eq "$(n_children)" 2 "still with two workers"
expect_match "$(st)" '^workers: 2 running=2$' "status: workers: 2 running=2"
expect_eq "$(reloaded_lines)" "$n0" "nothing was reloaded"
par 4 alice root
expect_eq "$(count_of 201)" 4 "and alice is still served"

n0=$(reloaded_lines)
CONF_RULES=$IVAN CONF_EXTRA="workers = 2;" write_config "$conf"
kill -HUP "$MTLSD_PID"
ok "SIGHUP to the master: the master and both workers reload" \
    wait_for 5 logged_n 'event=reloaded' $((n0 + 3))
par 12 alice root
expect_eq "$(count_of 403)" 12 "after it all 12 requests by alice: 403"
n0=$(reloaded_lines)
CONF_EXTRA="workers = 2;" write_config "$conf"
kill -HUP "$MTLSD_PID"
ok "SIGHUP again (alice back): all three reload" \
    wait_for 5 logged_n 'event=reloaded' $((n0 + 3))
par 12 alice root
expect_eq "$(count_of 201)" 12 "all 12 requests by alice: 201"
expect_eq "$(stj | jq .reloads.failed)" 1 "status: one refused reload"
ok "no process was killed by the filter" kill -0 "$MTLSD_PID"
expect_eq "$(n_children)" 2 "two workers still"
rm -f "$PAR/got"

# mtlsctl reload answers once every worker has reloaded: with worker 2
# stopped it waits; the file is broken before worker 2 resumes, so the
# master's reload succeeded and worker 2's is refused, and mtlsctl says so.
w2=$(worker_field 2 pid)
kill -STOP "$w2"
CONF_RULES=$IVAN CONF_EXTRA="workers = 2;" write_config "$conf"
"$MTLSCTL" -c "$conf" reload >"$T/reload.out" 2>"$T/reload.err" &
rl=$!
sleep 1
ok "with worker 2 stopped, mtlsctl reload waits for it" kill -0 "$rl"
cp "$conf" "$T/conf.good"
printf 'this is not a config\n' >>"$conf"
kill -CONT "$w2"
rc=0
wait "$rl" || rc=$?
expect_eq "$rc" 1 "worker 2 refused the broken file: mtlsctl reload exits 1"
expect_match "$(cat "$T/reload.err")" "worker 2 did not" \
    "the error names worker 2"
expect_match "$(cat "$T/reload.err")" "$conf:[0-9]+: " \
    "and gives its reason, file and line"
ok "the master logged the worker's refusal" \
    logged_n 'event=reload-refused worker=2 ' 1
expect_eq "$(stj | jq .reloads.failed)" 2 "status: that refusal is counted"
cp "$T/conf.good" "$conf"
run "$MTLSCTL" -c "$conf" reload
expect_eq "$RC" 0 "the file mended: mtlsctl reload exits 0"
CONF_EXTRA="workers = 2;" write_config "$conf"
run "$MTLSCTL" -c "$conf" reload
expect_eq "$RC" 0 "alice back: exit 0"
par 12 alice root
expect_eq "$(count_of 201)" 12 "and every worker serves her again"
rm -f "$PAR/got"

# ---- 9. lifecycle ---------------------------------------------------------------

# reap: the master's exit status (after it is gone).
reap() {
	local rc=0
	wait "$MTLSD_PID" 2>/dev/null || rc=$?
	untrack_pid "$MTLSD_PID"
	MTLSD_PID=
	echo "$rc"
}

# kill_left PID...: a process that did not exit as it should (a failed
# test above) does not outlive the test.
kill_left() {
	local p
	for p in "$@"; do
		gone "$p" || kill -KILL "$p" 2>/dev/null
	done
	return 0
}

# SIGTERM: all three stop, cleanly, and the master removes its socket
# files (from a directory the daemon's user may write to: $T/run is
# root's).
mkdir -p "$T/own"
chown nobody "$T/own"
PAM_SOCK=$T/own/pam.sock CTL_SOCK=$T/own/control.sock restart "workers = 2;"
wait_for 5 has_children 2 || bail "no two workers"
ok "the socket files are there while it runs" \
    test -S "$T/own/pam.sock" -a -S "$T/own/control.sock"
kids=$(children)
master=$MTLSD_PID
kill -TERM "$master"
# shellcheck disable=SC2086 # one pid a word
ok "SIGTERM to the master: all three processes exit" \
    wait_for 5 all_gone "$master" $kids
# shellcheck disable=SC2086
kill_left $kids
expect_eq "$(reap)" 0 "the master's exit status is 0"
ok "the port is closed" port_closed
ok "the PAM socket file is removed" test ! -e "$T/own/pam.sock"
ok "the control socket file is removed" test ! -e "$T/own/control.sock"
nok "no worker-exited event on a clean stop" \
    grep -q 'event=worker-exited' "$MTLSD_LOG"

# kill -9 of a worker: the daemon stops, with failure.
restart "workers = 2;"
wait_for 5 has_children 2 || bail "no two workers"
victim=$(children | head -n 1)
other=$(children | tail -n 1)
master=$MTLSD_PID
kill -KILL "$victim"
ok "a worker killed: the master logs event=worker-exited" \
    wait_for 5 logged_n "event=worker-exited worker=[12] pid=$victim" 1
ok "the master and the other worker exit" \
    wait_for 5 all_gone "$master" "$other"
kill_left "$other"
rc=$(reap)
ok "the master's exit status is non-zero ($rc)" test "$rc" != 0
ok "the port is closed" port_closed

# kill -9 of the master: the workers follow.
restart "workers = 2;"
wait_for 5 has_children 2 || bail "no two workers"
kids=$(children)
kill -KILL "$MTLSD_PID"
# shellcheck disable=SC2086 # one pid a word
ok "the master killed: both workers exit" wait_for 5 all_gone $kids
# shellcheck disable=SC2086
kill_left $kids
expect_eq "$(reap)" 137 "the master died of SIGKILL"
ok "the port is closed" port_closed

# ---- 10. no ticket anywhere ----------------------------------------------------

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"
mapfile -t files < <(find "$T" -type f ! -path "$T/tickets" ! -path "$PKI/*")
ok "no ticket in any file under the test directory (${#files[@]} files)" \
    no_ticket_in "${files[@]}"

done_testing
