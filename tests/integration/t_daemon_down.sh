#!/bin/bash
# The module fails closed and fast when the daemon is absent or hung:
# PAM_AUTHINFO_UNAVAIL, within the module's timeout.
. "${0%/*}/lib.sh"
itest_init mtlsd pam

# pam_strerror(PAM_AUTHINFO_UNAVAIL) in Linux-PAM.
UNAVAIL="Authentication service cannot retrieve authentication info"

# timed_pam WANT MAX-MS DESC ANSWER RHOST SERVICE USER: the time is
# pamtester's own (PAM_MS), not the wait for the pam_wrapper lock.
timed_pam() {
	local want=$1 max=$2 desc=$3 ms
	shift 3
	expect_pam "$want" "$desc" "$@"
	ms=${PAM_MS:-999999}
	if [ "$ms" -le "$max" ]; then
		pass "$desc: within $max ms ($ms ms)"
	else
		fail "$desc: within $max ms ($ms ms)"
	fi
}

write_pam_service mtls-test "$(mtls_auth_line timeout=2)"

timed_pam "$UNAVAIL" 1000 "daemon not running (no socket)" \
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" 127.0.0.1 mtls-test root

conf=$T/mtlsd.conf
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"
tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
timed_pam success 3000 "daemon running: a ticket works" \
    "$tk" 127.0.0.1 mtls-test root

# Hung: the kernel still accepts connections on the socket, nobody
# answers.
tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
kill -STOP "$MTLSD_PID"
timed_pam "$UNAVAIL" 3000 "daemon stopped (SIGSTOP), timeout=2" \
    "$tk" 127.0.0.1 mtls-test root
kill -CONT "$MTLSD_PID"

tk=$(get_ticket alice root) || bail "no ticket after SIGCONT"
timed_pam success 3000 "after SIGCONT the daemon serves again" \
    "$tk" 127.0.0.1 mtls-test root

# Killed hard: the socket file stays, connecting is refused.
kill -KILL "$MTLSD_PID"
wait_for 5 proc_gone "$MTLSD_PID"
untrack_pid "$MTLSD_PID"
if [ -S "$PAM_SOCK" ]; then
	timed_pam "$UNAVAIL" 1000 "daemon killed, stale socket file" \
	    "$tk" 127.0.0.1 mtls-test root
else
	diag "no stale socket after SIGKILL (mtlsd unlinked it?)"
	timed_pam "$UNAVAIL" 1000 "daemon killed" \
	    "$tk" 127.0.0.1 mtls-test root
fi

done_testing
