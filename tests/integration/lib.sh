# shellcheck shell=bash disable=SC2034 # variables are for the callers
# lib.sh: shared pieces of the integration tests (sourced, bash).
#
# A test script does:
#   . "${0%/*}/lib.sh"
#   itest_init              # root check, temp dir $T, cleanup trap, PKI
#   ...                     # ok / nok / expect_eq / expect_rc ...
#   done_testing            # trailing TAP plan, exit status
#
# Environment (set by `make check`): MTLS_BUILDDIR, the absolute top build
# directory (mtlsd, mtls-login, mtlsctl, tests/freeport, .libs/pam_mtls.so);
# MTLS_SRCDIR, the absolute source directory. MTLS_KEEP=1 keeps $T.
#
# scripts/demo sources this file too: nothing here prints TAP or touches
# anything before a function is called.

LIB_DIR=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
: "${MTLS_SRCDIR:=$(cd "$LIB_DIR/../.." && pwd)}"
: "${MTLS_BUILDDIR:=$PWD}"

# lib_paths: the programs under test, from MTLS_BUILDDIR (again after a
# caller changes it).
lib_paths() {
	MTLSD=$MTLS_BUILDDIR/mtlsd
	MTLS_LOGIN=$MTLS_BUILDDIR/mtls-login
	MTLSCTL=$MTLS_BUILDDIR/mtlsctl
	PAM_MODULE=$MTLS_BUILDDIR/.libs/pam_mtls.so
	FREEPORT=$MTLS_BUILDDIR/tests/freeport
}
lib_paths

T=
PIDS=
MTLSD_PID=
TAP_N=0
TAP_FAILED=0
TAP_PLANNED=

# ---- TAP ----------------------------------------------------------------

diag() {
	local line
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/# /'
	done
}

# diag_file FILE [LINES]: the tail of a file, as diagnostics.
diag_file() {
	[ -s "$1" ] || return 0
	echo "# --- ${1##*/} (last ${2:-15} lines)"
	tail -n "${2:-15}" "$1" | sed 's/^/#   /'
}

plan() {
	TAP_PLANNED=$1
	echo "1..$1"
}

pass() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $*"
}

fail() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $*"
}

# ok DESC CMD...: passes if CMD succeeds. (CMD's stdout goes to stderr:
# it must not mix with TAP.)
ok() {
	local desc=$1
	shift
	if "$@" >&2; then pass "$desc"; else fail "$desc"; fi
}

# nok DESC CMD...: passes if CMD fails.
nok() {
	local desc=$1
	shift
	if "$@" >&2; then fail "$desc"; else pass "$desc"; fi
}

# expect_eq GOT WANT DESC
expect_eq() {
	if [ "$1" = "$2" ]; then
		pass "$3"
	else
		fail "$3"
		diag "got:  '$1'" "want: '$2'"
	fi
}

# run CMD...: runs CMD with stdout in $T/out and stderr in $T/err; sets RC,
# OUT and ERR. Never fails itself.
run() {
	RC=0
	"$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# expect_rc WANT DESC CMD...: runs CMD (see run) and compares its exit code.
expect_rc() {
	local want=$1 desc=$2
	shift 2
	run "$@"
	if [ "$RC" = "$want" ]; then
		pass "$desc"
	else
		fail "$desc"
		diag "command: $*" "exit $RC, want $want"
		diag_file "$T/out" 5
		diag_file "$T/err" 5
	fi
}

# expect_match TEXT ERE DESC / expect_nomatch TEXT ERE DESC
expect_match() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		pass "$3"
	else
		fail "$3"
		diag "no match for /$2/ in:" "$(printf '%s\n' "$1" | head -n 10)"
	fi
}

expect_nomatch() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		fail "$3"
		diag "unexpected match for /$2/ in:" \
		    "$(printf '%s\n' "$1" | head -n 10)"
	else
		pass "$3"
	fi
}

# bail MSG: a harness error (not a test failure): stops the script.
bail() {
	echo "Bail out! $*"
	exit 1
}

# stop_all: ends every process the test started.
stop_all() {
	local p
	for p in $PIDS; do
		kill_wait "$p"
	done
	PIDS=
	MTLSD_PID=
}

# sanitizer_check: in a sanitizer build, one more test point: the daemon
# (stopped first, so that LeakSanitizer has run) left no report in a log.
sanitizer_check() {
	local f bad=
	[ -x "$MTLSD" ] && ldd "$MTLSD" 2>/dev/null | grep -q 'lib[a]*san' ||
	    return 0
	stop_all
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"
		then
			bad="$bad ${f##*/}"
			grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
			    "$f" | head -n 30 | sed 's/^/#   /'
		fi
	done
	if [ -z "$bad" ]; then
		pass "no sanitizer report in the logs"
	else
		fail "no sanitizer report in the logs:$bad"
	fi
}

# done_testing: the trailing plan. The exit status is 0 even with failed
# tests (TAP reports those); only bail exits non-zero.
done_testing() {
	[ -z "$T" ] || sanitizer_check
	[ -n "$TAP_PLANNED" ] || echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ] || diag "$TAP_FAILED of $TAP_N failed"
	exit 0
}

# ---- time and waiting ---------------------------------------------------

now_ms() {
	local ns
	ns=$(date +%s%N)
	echo $((ns / 1000000))
}

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds;
# returns 1 if the time runs out.
wait_for() {
	local limit=$1 deadline
	shift
	deadline=$(($(now_ms) + limit * 1000))
	while ! "$@"; do
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# port_open HOST PORT: a TCP connect succeeds (1 s at most).
port_open() {
	timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# free_ports N: N free TCP ports on 127.0.0.1, one per line.
free_ports() {
	if [ -x "$FREEPORT" ]; then
		"$FREEPORT" "$1"
		return
	fi
	# Only while tests/freeport is not built yet (make check builds it).
	python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
for s in ss:
    print(s.getsockname()[1])
' "$1"
}

# ---- processes and the temp directory -----------------------------------

# track_pid PID: killed by cleanup.
track_pid() {
	PIDS="$PIDS $1"
}

untrack_pid() {
	local p rest=
	for p in $PIDS; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	PIDS=$rest
}

# kill_wait PID: TERM (after CONT, in case a test stopped it), then KILL
# if it is still there after 3 s.
kill_wait() {
	kill -0 "$1" 2>/dev/null || return 0
	kill -CONT "$1" 2>/dev/null
	kill -TERM "$1" 2>/dev/null
	if ! wait_for 3 proc_gone "$1"; then
		kill -KILL "$1" 2>/dev/null
		wait_for 2 proc_gone "$1"
	fi
	wait "$1" 2>/dev/null
	return 0
}

proc_gone() {
	! kill -0 "$1" 2>/dev/null
}

# pamwrap_tidy: pam_wrapper copies the service files to /tmp/pam.X in
# each process that loads it and removes the copy at exit; sshd's
# per-connection processes end with _exit() and leave theirs. Removes the
# copies of our service files whose process is gone.
pamwrap_tidy() {
	local d pid
	[ -n "$T" ] || return 0
	for d in /tmp/pam.?; do
		[ -f "$d/pid" ] || continue
		grep -qsF -- "$T/" "$d"/* || continue
		pid=$(cat "$d/pid" 2>/dev/null)
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && continue
		rm -rf "$d"
	done
}

cleanup() {
	local f
	stop_all
	pamwrap_tidy
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "$TAP_FAILED" -gt 0 ]; then
			for f in "$T"/*.log; do
				[ -f "$f" ] && diag_file "$f" 25
			done
		fi
		if [ "${MTLS_KEEP:-0}" = 1 ]; then
			diag "kept $T"
		else
			rm -rf "$T"
		fi
	fi
}

# lib_tempdir PREFIX: makes $T and installs the cleanup trap.
lib_tempdir() {
	T=$(mktemp -d "/tmp/${1:-mtls-itest}.XXXXXX") || return 1
	# The daemon drops to an unprivileged user and must still reach its
	# files here (audit log, CRLs).
	chmod 0755 "$T"
	trap cleanup EXIT
	trap 'exit 130' INT TERM HUP
	mkdir -p "$T/run" "$T/log" "$T/pam.d" || return 1
	chmod 0755 "$T/run"
	chown nobody "$T/log" 2>/dev/null
	PKI=$T/pki
	PAMD=$T/pam.d
	PAM_SOCK=$T/run/pam.sock
	CTL_SOCK=$T/run/control.sock
	AUDIT_FILE=$T/log/audit.jsonl
	MTLSD_LOG=$T/mtlsd.log
	: >"$T/tickets"
}

# lib_pki: the test PKI in $PKI.
lib_pki() {
	. "$LIB_DIR/pki.sh"
	pki_make "$PKI"
}

# itest_init [NEED...]: the common start of a test script. NEED names the
# programs it uses: mtlsd mtls-login mtlsctl pam sshd.
itest_init() {
	local need missing=
	if [ "$(id -u)" != 0 ]; then
		echo "1..0 # SKIP needs root"
		exit 0
	fi
	for need in "$@"; do
		case $need in
		mtlsd) [ -x "$MTLSD" ] || missing="$missing $MTLSD" ;;
		mtls-login) [ -x "$MTLS_LOGIN" ] || missing="$missing $MTLS_LOGIN" ;;
		mtlsctl) [ -x "$MTLSCTL" ] || missing="$missing $MTLSCTL" ;;
		pam)
			[ -f "$PAM_MODULE" ] || missing="$missing $PAM_MODULE"
			pamwrap_find || missing="$missing libpam_wrapper.so"
			command -v pamtester >/dev/null ||
			    missing="$missing pamtester"
			;;
		sshd)
			[ -x /usr/sbin/sshd ] || missing="$missing /usr/sbin/sshd"
			command -v ssh >/dev/null || missing="$missing ssh"
			;;
		*) bail "itest_init: unknown need $need" ;;
		esac
	done
	# In CI every piece is built and installed: a missing one is an
	# error, not a skip.
	[ -z "$missing" ] || bail "missing:$missing (MTLS_BUILDDIR=$MTLS_BUILDDIR)"
	lib_tempdir || bail "cannot make a temp directory"
	lib_pki || bail "cannot make the test PKI ($(tail -n 3 "$PKI/pki.log"))"
	MTLS_PORT=$(free_ports 1) || bail "no free port"
}

# ---- mtlsd ---------------------------------------------------------------

# The tests not about limits make many refusals, tickets and connections
# from 127.0.0.1 in a short time: throttling and the per-source and
# per-certificate caps stay out of their way (t_limits.sh and
# t_slowloris.sh test those, with CONF_LIMITS).
TEST_LIMITS='slow_after = 0; refuse_after = 0; max_tickets_per_cert = 100000; max_connections_per_source = 4096;'

DEFAULT_RULES='  { name = "alice"; subject = "CN=alice,OU=ops,O=Example"; users = [ "root", "admin" ]; },
  { name = "ivan"; subject = "CN=ivan,OU=ops,O=Example"; users = [ "root" ]; }'

# write_config FILE: a complete config for a daemon on 127.0.0.1:$MTLS_PORT.
# These variables change it (defaults in brackets):
#   CONF_USER ["nobody"]  CONF_LIFETIME [60]  CONF_BIND [true]
#   CONF_LOCAL_SERVICES [none; e.g. '"sudo-mtls"']
#   CONF_LISTEN ['"127.0.0.1:PORT"']  CONF_CRL [ca.crl and int.crl]
#   CONF_CERT/CONF_KEY [server.pem/server.key]  CONF_RULES [alice, ivan]
#   CONF_EXTRA [lines added at the top level]
#   CONF_LIMITS [$TEST_LIMITS: the inside of limits = { ... }]
write_config() {
	local local_services=
	[ -z "${CONF_LOCAL_SERVICES:-}" ] ||
	    local_services="local_services = [ $CONF_LOCAL_SERVICES ];"
	cat >"$1" <<EOF
# written by tests/integration/lib.sh
user = "${CONF_USER:-nobody}";
listen = [ ${CONF_LISTEN:-"\"127.0.0.1:$MTLS_PORT\""} ];
pam_socket = "$PAM_SOCK";
control_socket = "$CTL_SOCK";
log_level = "debug";
tls = {
  certificate = "${CONF_CERT:-$PKI/server.pem}";
  private_key = "${CONF_KEY:-$PKI/server.key}";
  trust_anchors = "$PKI/ca.pem";
  crl = [ ${CONF_CRL:-"\"$PKI/ca.crl\", \"$PKI/int.crl\""} ];
  min_version = "1.3";
};
tickets = {
  lifetime = ${CONF_LIFETIME:-60};
  bind_address = ${CONF_BIND:-true};
  $local_services
};
audit = { file = "$AUDIT_FILE"; };
limits = { ${CONF_LIMITS-$TEST_LIMITS} };
${CONF_EXTRA:-}
rules = (
${CONF_RULES:-$DEFAULT_RULES}
);
EOF
}

# conf_value FILE KEY: the first string value of KEY in FILE (crude: good
# enough for the configs written above).
conf_value() {
	sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*\[*[[:space:]]*\"\([^\"]*\)\".*/\1/p" \
	    "$1" | head -n 1
}

mtlsd_ready() {
	[ -S "$2" ] && port_open "${1%:*}" "${1##*:}"
}

# start_mtlsd CONF: runs mtlsd in the foreground mode in the background,
# output appended to $MTLSD_LOG; waits (10 s at most) until its first
# listen address accepts TCP and its PAM socket exists. Sets MTLSD_PID.
start_mtlsd() {
	local conf=$1 listen sock deadline
	listen=$(conf_value "$conf" listen)
	sock=$(conf_value "$conf" pam_socket)
	# A socket file left by an earlier daemon (which, unprivileged by
	# then, could not remove it) would look ready too early.
	rm -f "$sock"
	"$MTLSD" -c "$conf" -f </dev/null >>"$MTLSD_LOG" 2>&1 &
	MTLSD_PID=$!
	track_pid "$MTLSD_PID"
	deadline=$(($(now_ms) + 10000))
	while ! mtlsd_ready "$listen" "$sock"; do
		if ! kill -0 "$MTLSD_PID" 2>/dev/null; then
			diag "mtlsd exited before it was ready"
			diag_file "$MTLSD_LOG"
			return 1
		fi
		if [ "$(now_ms)" -ge "$deadline" ]; then
			diag "mtlsd not ready after 10 s ($listen, $sock)"
			diag_file "$MTLSD_LOG"
			return 1
		fi
		sleep 0.05
	done
}

stop_mtlsd() {
	[ -n "$MTLSD_PID" ] || return 0
	kill_wait "$MTLSD_PID"
	untrack_pid "$MTLSD_PID"
	MTLSD_PID=
}

# ---- HTTP clients ---------------------------------------------------------

# mtls_curl CERTNAME [CURL-ARGS...]: curl with $PKI/CERTNAME.pem/.key (or
# no client certificate for "-"), body in $T/body, HTTP status on stdout
# ("000" when there was no HTTP answer at all). Exit status is curl's.
mtls_curl() {
	local name=$1 certargs=()
	shift
	case $name in
	-) ;;
	*chain) certargs=(--cert "$PKI/$name.pem" --key "$PKI/${name%-chain}.key") ;;
	*) certargs=(--cert "$PKI/$name.pem" --key "$PKI/$name.key") ;;
	esac
	: >"$T/body"
	curl -sS --max-time 5 --cacert "$PKI/ca.pem" "${certargs[@]}" \
	    -o "$T/body" -w '%{http_code}' "$@" 2>"$T/curl.err"
}

mtls_url() {
	echo "https://127.0.0.1:$MTLS_PORT$1"
}

# get_ticket CERTNAME USER: prints a fresh ticket (text/plain API) and
# records it in $T/tickets for the leak checks; fails unless 201.
get_ticket() {
	local code ticket
	code=$(mtls_curl "$1" -H 'Accept: text/plain' -d "user=$2" \
	    "$(mtls_url /v1/tickets)") || true
	if [ "$code" != 201 ]; then
		diag "get_ticket $1 $2: HTTP $code $(cat "$T/body" "$T/curl.err")"
		return 1
	fi
	ticket=$(head -n 1 "$T/body")
	[ -n "$ticket" ] || return 1
	echo "$ticket" >>"$T/tickets"
	echo "$ticket"
}

# no_ticket_in FILE...: none of the tickets issued so far appears in FILE.
no_ticket_in() {
	local t f
	while read -r t; do
		[ -n "$t" ] || continue
		for f in "$@"; do
			if [ -f "$f" ] && grep -qF -- "$t" "$f"; then
				diag "a ticket appears in ${f##*/}"
				return 1
			fi
		done
	done <"$T/tickets"
	return 0
}

# ---- PAM under pam_wrapper -----------------------------------------------

PAMWRAP_LIB=
PW_PRELOAD=

pamwrap_find() {
	local f
	[ -z "$PAMWRAP_LIB" ] || return 0
	PAMWRAP_LIB=$(ldconfig -p 2>/dev/null |
	    awk '$1 == "libpam_wrapper.so" { print $NF; exit }')
	if [ -z "$PAMWRAP_LIB" ]; then
		for f in /usr/lib/*/libpam_wrapper.so /usr/lib/libpam_wrapper.so \
		    /usr/lib/*/libpam_wrapper.so.0; do
			[ -f "$f" ] && { PAMWRAP_LIB=$f; break; }
		done
	fi
	[ -n "$PAMWRAP_LIB" ] || return 1
	PW_PRELOAD=$(san_runtime)$PAMWRAP_LIB
}

# san_runtime: in a sanitizer build (CFLAGS=-fsanitize=address...) the
# module needs the ASan runtime loaded first in programs that are not
# built with it (pamtester, sshd): prints its path and a space, or nothing.
san_runtime() {
	[ -f "$PAM_MODULE" ] || return 0
	ldd "$PAM_MODULE" 2>/dev/null |
	    awk '$1 ~ /^libasan\.so/ && $3 ~ /^\// { printf "%s ", $3; exit }'
}

# pam_wrapper gives each process that loads it a copy of the services in
# /tmp/pam.X, X one character found by probing: lstat, then mkdir whose
# failure it ignores. Two processes that start at once can take the same
# directory, and one of them then reads the other's services: in tests
# run side by side, another test's mtlsd answers (a replay refused there
# passes here, and its counters move there). Every process of ours that
# loads pam_wrapper, and every ssh login to an sshd under it, runs under
# one lock for the machine, as long as /tmp/pam.X is.
# The lock is held by the shell, on PW_LOCK_FD, which the commands run
# under it do not inherit: nothing they leave behind can keep it.
PW_LOCK=/tmp/.mtls-pam_wrapper.lock
PW_LOCK_FD=

# pw_lock: takes PW_LOCK, waiting up to 120 s for it; pw_unlock gives it
# back. Not reentrant: a second flock on a second open of the file would
# wait for the first forever, so a nested call fails at once instead.
pw_lock() {
	if [ -n "$PW_LOCK_FD" ]; then
		diag "pw_lock: $PW_LOCK is already held here"
		return 1
	fi
	exec {PW_LOCK_FD}>>"$PW_LOCK" || return 1
	flock -w 120 "$PW_LOCK_FD" && return 0
	diag "$PW_LOCK: not free within 120 s"
	pw_unlock
	return 1
}
pw_unlock() {
	[ -z "$PW_LOCK_FD" ] || exec {PW_LOCK_FD}>&-
	PW_LOCK_FD=
}

# pw_locked CMD...: runs CMD holding PW_LOCK; CMD's status, 125 without
# the lock.
pw_locked() {
	local rc=0
	pw_lock || return 125
	"$@" {PW_LOCK_FD}>&- || rc=$?
	pw_unlock
	return "$rc"
}

# pw_run CMD...: runs CMD with libpam reading services from $PAMD.
pw_run() {
	pw_locked env LD_PRELOAD="$PW_PRELOAD" PAM_WRAPPER=1 \
	    PAM_WRAPPER_SERVICE_DIR="$PAMD" "$@"
}

# write_pam_service NAME AUTH-LINE...: a service file in $PAMD whose auth
# stack is the given lines; account and session permit, password denies.
# Also writes the "other" service (deny all) libpam falls back to.
write_pam_service() {
	local name=$1 line
	shift
	{
		for line in "$@"; do
			echo "$line"
		done
		echo "account required pam_permit.so"
		echo "session required pam_permit.so"
		echo "password required pam_deny.so"
	} >"$PAMD/$name"
	printf '%s\n' "auth required pam_deny.so" \
	    "account required pam_deny.so" "session required pam_deny.so" \
	    "password required pam_deny.so" >"$PAMD/other"
}

# mtls_auth_line [ARGS...]: our module by absolute path, on $PAM_SOCK.
mtls_auth_line() {
	echo "auth required $PAM_MODULE socket=$PAM_SOCK${*:+ $*}"
}

# pam_try ANSWER RHOST SERVICE USER: pamtester authenticate with ANSWER on
# stdin and PAM_RHOST=RHOST (none if empty), under PW_LOCK. Output
# (stdout and stderr) in $T/pam.out and $PAM_OUT; exit status is
# pamtester's; PAM_MS: how long pamtester ran (not the wait for the lock).
pam_try() {
	local rhost=() t0
	[ -z "$2" ] || rhost=(-I "rhost=$2")
	PAM_RC=0
	PAM_MS=
	if ! pw_lock; then
		PAM_RC=125
		PAM_OUT="(pamtester not run: no pam_wrapper lock)"
		echo "$PAM_OUT" >"$T/pam.out"
		return "$PAM_RC"
	fi
	t0=$(now_ms)
	printf '%s\n' "$1" | timeout 20 env LD_PRELOAD="$PW_PRELOAD" \
	    PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$PAMD" \
	    pamtester "${rhost[@]}" "$3" "$4" authenticate \
	    >"$T/pam.out" 2>&1 {PW_LOCK_FD}>&- || PAM_RC=$?
	PAM_MS=$(($(now_ms) - t0))
	pw_unlock
	PAM_OUT=$(cat "$T/pam.out")
	return "$PAM_RC"
}

# expect_pam WANT DESC ANSWER RHOST SERVICE USER: WANT is "success" or the
# PAM error string pamtester must print.
expect_pam() {
	local want=$1 desc=$2
	shift 2
	pam_try "$@"
	case $want in
	success)
		if [ "$PAM_RC" = 0 ] &&
		    grep -q "successfully authenticated" "$T/pam.out"; then
			pass "$desc"
			return 0
		fi
		;;
	*)
		if [ "$PAM_RC" != 0 ] && grep -qF -- "$want" "$T/pam.out" &&
		    ! grep -q "successfully authenticated" "$T/pam.out"; then
			pass "$desc"
			return 0
		fi
		;;
	esac
	fail "$desc"
	diag "pamtester exit $PAM_RC, want: $want"
	diag_file "$T/pam.out" 5
	return 1
}

# ---- sshd ----------------------------------------------------------------

# start_sshd NAME PORT: a real sshd on 127.0.0.1:PORT whose PAM service is
# NAME (the program name: $T/NAME is a symlink to sshd), under pam_wrapper
# with services from $PAMD. Log in $T/NAME.log. Sets SSHD_PID.
start_sshd() {
	local name=$1 port=$2
	mkdir -p /run/sshd # sshd's privilege separation directory
	if [ ! -f "$T/ssh_host_ed25519_key" ]; then
		ssh-keygen -q -t ed25519 -N '' -f "$T/ssh_host_ed25519_key" ||
		    return 1
	fi
	ln -sf /usr/sbin/sshd "$T/$name"
	cat >"$T/$name.conf" <<EOF
ListenAddress 127.0.0.1:$port
HostKey $T/ssh_host_ed25519_key
PidFile $T/$name.pid
UsePAM yes
KbdInteractiveAuthentication yes
AuthenticationMethods keyboard-interactive
PasswordAuthentication no
PubkeyAuthentication no
PermitRootLogin yes
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
EOF
	# exec: $! must be sshd itself, or cleanup would kill a subshell and
	# leave sshd running. With a sanitizer runtime preloaded,
	# LeakSanitizer's exit-time scan makes system calls that sshd's
	# seccomp sandbox (preauth child) forbids.
	(exec env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    LD_PRELOAD="$PW_PRELOAD" PAM_WRAPPER=1 \
	    PAM_WRAPPER_SERVICE_DIR="$PAMD" \
	    "$T/$name" -D -e -f "$T/$name.conf" </dev/null \
	    >>"$T/$name.log" 2>&1) &
	SSHD_PID=$!
	track_pid "$SSHD_PID"
	if ! wait_for 10 port_open 127.0.0.1 "$port"; then
		diag "sshd $name not listening on $port"
		diag_file "$T/$name.log"
		return 1
	fi
}

# ssh_opts PORT: the ssh client options of every test, one per line.
ssh_opts() {
	printf '%s\n' -F /dev/null -o StrictHostKeyChecking=no \
	    -o "UserKnownHostsFile=$T/known_hosts" -o BatchMode=no \
	    -o PreferredAuthentications=keyboard-interactive \
	    -o ConnectTimeout=5 -o LogLevel=ERROR -p "$1"
}

# ssh_askpass SCRIPT PORT CMD...: ssh as root with keyboard-interactive
# answered by SCRIPT (no tty, stdin from /dev/null).
ssh_askpass() {
	local script=$1 port=$2 opts
	shift 2
	mapfile -t opts < <(ssh_opts "$port")
	pw_locked env -u DISPLAY SSH_ASKPASS="$script" \
	    SSH_ASKPASS_REQUIRE=force timeout 30 ssh "${opts[@]}" \
	    root@127.0.0.1 "$@" </dev/null
}

# make_askpass FILE ANSWER: an SSH_ASKPASS script that prints ANSWER.
make_askpass() {
	printf '#!/bin/bash\nprintf "%%s\\n" %q\n' "$2" >"$1"
	chmod 0755 "$1"
}
