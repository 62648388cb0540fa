#!/bin/bash
# The daemon's sandbox (issue 5): once started it holds no capability,
# runs with no_new_privs and, with "sandbox = true" (the default), under
# its seccomp filter; it still serves tickets, redemptions, reloads and
# status. "sandbox = false" leaves the filter off, and says so. Started
# unprivileged it ends the same way, but for the bounding set.
. "${0%/*}/lib.sh"
itest_init mtlsd mtlsctl pam
command -v setpriv >/dev/null || bail "setpriv is needed"

conf=$T/mtlsd.conf
write_pam_service mtls-test "$(mtls_auth_line)"

# What the build has: no libseccomp, or a sanitizer runtime (whose filter
# logs instead of killing).
seccomp_built=0
grep -q '^#define HAVE_LIBSECCOMP 1' "$MTLS_BUILDDIR/config.h" &&
    seccomp_built=1
sanitized=0
ldd "$MTLSD" 2>/dev/null | grep -q 'lib[a]*san' && sanitized=1

# field NAME: the value of NAME in the daemon's /proc status.
field() {
	sed -n "s/^$1:[[:space:]]*//p" "/proc/$MTLSD_PID/status"
}

# serves DESC: a ticket, its redemption, a replay refused, status.
serves() {
	local tk
	tk=$(get_ticket alice root) || { fail "$1: a ticket"; return; }
	pass "$1: a ticket"
	expect_pam success "$1: it is redeemed" "$tk" 127.0.0.1 mtls-test root
	expect_pam "Authentication failure" "$1: a replay is refused" \
	    "$tk" 127.0.0.1 mtls-test root
	expect_rc 0 "$1: mtlsctl status" "$MTLSCTL" -c "$conf" status
	expect_match "$OUT" "^pid: $MTLSD_PID\$" "$1: status is the daemon's"
}

# no_caps DESC: every capability set empty but the bounding set (whose
# expected value is $1), no_new_privs on.
no_caps() {
	local f
	for f in CapEff CapPrm CapInh CapAmb; do
		expect_eq "$(field "$f")" 0000000000000000 "$2: $f is 0"
	done
	expect_eq "$(field CapBnd)" "$1" "$2: CapBnd is $1"
	expect_eq "$(field NoNewPrivs)" 1 "$2: NoNewPrivs is 1"
}

# ---- the default: filter on -------------------------------------------------

write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"
no_caps 0000000000000000 "started as root"
if [ "$seccomp_built" = 1 ]; then
	expect_eq "$(field Seccomp)" 2 "sandbox = true (default): Seccomp is 2 (filter)"
	if [ "$sanitized" = 1 ]; then
		expect_match "$(cat "$MTLSD_LOG")" 'event=sandbox-relaxed reason="sanitizer build"' \
		    "sanitizer build: the relaxed filter is logged"
	else
		expect_match "$(cat "$MTLSD_LOG")" 'system call filter installed' \
		    "the filter is logged"
	fi
else
	expect_eq "$(field Seccomp)" 0 "built without libseccomp: Seccomp is 0"
	expect_match "$(cat "$MTLSD_LOG")" 'event=sandbox-off reason="this build has no libseccomp' \
	    "built without libseccomp: logged"
fi
serves "filtered"

# A reload through the control socket and one through SIGHUP re-read the
# config, the certificates, the CRLs and reopen the audit file.
expect_rc 0 "filtered: mtlsctl reload" "$MTLSCTL" -c "$conf" reload
mv "$AUDIT_FILE" "$AUDIT_FILE.1"
kill -HUP "$MTLSD_PID"
reloaded_twice() {
	[ "$(grep -c 'event=reloaded' "$MTLSD_LOG")" -ge 2 ]
}
ok "filtered: SIGHUP reloads" wait_for 5 reloaded_twice
ok "filtered: the audit file is made anew" wait_for 5 test -f "$AUDIT_FILE"
ok "filtered: alive after both reloads" kill -0 "$MTLSD_PID"
serves "filtered, reloaded"
ok "filtered: the redemption is in the new audit file" \
    grep -q '"event":"redeem' "$AUDIT_FILE"

# A reload cannot take the filter away: refused, the filter stays.
CONF_EXTRA='sandbox = false;' write_config "$conf"
expect_rc 1 "reload to sandbox = false: refused" "$MTLSCTL" -c "$conf" reload
expect_match "$ERR" 'sandbox changed: that needs a restart' \
    "the refusal says a restart is needed"
[ "$seccomp_built" = 0 ] ||
    expect_eq "$(field Seccomp)" 2 "after the refused reload: Seccomp is still 2"

# The filter survives a clean stop (the exit path is in it too).
kill -TERM "$MTLSD_PID"
ok "filtered: stops on SIGTERM" wait_for 5 proc_gone "$MTLSD_PID"
wait "$MTLSD_PID" 2>/dev/null
expect_eq "$?" 0 "filtered: exit status 0 (not killed by SIGSYS)"
untrack_pid "$MTLSD_PID"
MTLSD_PID=

# ---- under systemd's Type=notify --------------------------------------------------

# sd_notify runs after the filter is in (READY=1) and at the stop
# (STOPPING=1): a system call of it missing from the filter would kill the
# daemon at start-up under systemd. A datagram socket stands in for
# systemd's.
write_config "$conf"
if command -v python3 >/dev/null; then
	python3 - "$T/notify.sock" "$T/notify.out" <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.settimeout(20)
with open(sys.argv[2], "w") as out:
    for _ in range(2):
        try:
            out.write(s.recv(4096).decode() + "\n")
        except socket.timeout:
            break
        out.flush()
EOF
	sink=$!
	track_pid "$sink"
	wait_for 5 test -S "$T/notify.sock" || bail "no notify socket"
	NOTIFY_SOCKET=$T/notify.sock start_mtlsd "$conf" ||
	    bail "mtlsd did not start with NOTIFY_SOCKET"
	ok "notify: READY=1 reached systemd's socket" \
	    wait_for 5 grep -q '^READY=1' "$T/notify.out"
	[ "$seccomp_built" = 0 ] ||
	    expect_eq "$(field Seccomp)" 2 "notify: under the filter"
	get_ticket alice root >/dev/null && pass "notify: serves" ||
	    fail "notify: serves"
	kill -TERM "$MTLSD_PID"
	ok "notify: stops on SIGTERM" wait_for 5 proc_gone "$MTLSD_PID"
	wait "$MTLSD_PID" 2>/dev/null
	expect_eq "$?" 0 "notify: exit status 0 (not killed by SIGSYS)"
	ok "notify: STOPPING=1 reached systemd's socket" \
	    wait_for 5 grep -q '^STOPPING=1' "$T/notify.out"
	untrack_pid "$MTLSD_PID"
	MTLSD_PID=
	kill_wait "$sink"
	untrack_pid "$sink"
else
	diag "no python3: the sd_notify part is not run"
fi

# ---- sandbox = false ------------------------------------------------------------

CONF_EXTRA='sandbox = false;' write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start with sandbox = false"
expect_eq "$(field Seccomp)" 0 "sandbox = false: Seccomp is 0"
no_caps 0000000000000000 "sandbox = false"
expect_match "$(cat "$MTLSD_LOG")" 'event=sandbox-off reason="sandbox = false in the config"' \
    "sandbox = false: logged, not silent"
serves "unfiltered"
stop_mtlsd

CONF_EXTRA='sandbox = "yes";' write_config "$conf"
expect_rc 1 "sandbox = \"yes\": mtlsd -t refuses it" "$MTLSD" -t -c "$conf"
expect_match "$ERR" "'sandbox' must be true or false" "and says why"

# ---- started unprivileged (systemd's User=) -------------------------------------

# Its own sockets directory and key: nobody cannot write $T/run nor read
# a root-only key.
mkdir -p "$T/run-nobody"
chown nobody "$T/run-nobody"
PAM_SOCK=$T/run-nobody/pam.sock CTL_SOCK=$T/run-nobody/control.sock \
    write_config "$conf"
pam_sock_root=$PAM_SOCK
PAM_SOCK=$T/run-nobody/pam.sock
nobody_start() {
	rm -f "$PAM_SOCK"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$MTLSD" -c "$conf" -f </dev/null >>"$MTLSD_LOG" 2>&1 &
	MTLSD_PID=$!
	track_pid "$MTLSD_PID"
	wait_for 10 mtlsd_ready "127.0.0.1:$MTLS_PORT" "$PAM_SOCK"
}
if nobody_start; then
	pass "started as nobody"
	bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
	no_caps "$bnd" "started as nobody"
	[ "$seccomp_built" = 0 ] ||
	    expect_eq "$(field Seccomp)" 2 "started as nobody: Seccomp is 2"
	expect_match "$(cat "$MTLSD_LOG")" 'bounding set left as it came' \
	    "started as nobody: the bounding set is reported"
	tk=$(get_ticket alice root) && pass "started as nobody: a ticket" ||
	    fail "started as nobody: a ticket"
	stop_mtlsd
else
	fail "started as nobody"
	diag_file "$MTLSD_LOG"
fi
PAM_SOCK=$pam_sock_root

done_testing
