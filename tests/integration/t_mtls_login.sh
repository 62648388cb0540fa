#!/bin/bash
# mtls-login: prints only the ticket; exit 1 denied, 2 usage or config,
# 3 server unreachable or unverifiable, each failure on one stderr line.
. "${0%/*}/lib.sh"
itest_init mtlsd mtls-login pam

TICKET_RE='^[A-Za-z0-9_=-]{22,}$'
LOGIN_ENV=()

# login_rc WANT DESC ARGS...: mtls-login ARGS (environment LOGIN_ENV)
# exits WANT; on failure with nothing on stdout and one line on stderr.
login_rc() {
	local want=$1 desc=$2
	shift 2
	expect_rc "$want" "$desc: exit $want" \
	    timeout 20 env "${LOGIN_ENV[@]}" "$MTLS_LOGIN" "$@"
	[ "$want" != 0 ] || return 0
	if [ -z "$OUT" ] && [ "$(wc -l <"$T/err")" = 1 ]; then
		pass "$desc: one stderr line, no stdout"
		diag "stderr: $ERR"
	else
		fail "$desc: one stderr line, no stdout"
		diag "stdout: $OUT" "stderr: $ERR"
	fi
}

# a_ticket DESC: the last mtls-login printed one ticket line, no stderr.
a_ticket() {
	if [ "$(wc -l <"$T/out")" = 1 ] && [ -z "$ERR" ] &&
	    printf '%s\n' "$OUT" | grep -Eq "$TICKET_RE"; then
		echo "$OUT" >>"$T/tickets"
		pass "$1"
	else
		fail "$1"
		diag "stdout: $OUT" "stderr: $ERR"
	fi
}

conf=$T/mtlsd.conf
# 127.0.0.2 is an address the server certificate does not name.
CONF_LISTEN="\"127.0.0.1:$MTLS_PORT\", \"127.0.0.2:$MTLS_PORT\"" \
    write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"
write_pam_service mtls-test "$(mtls_auth_line)"

A=(-c "$PKI/alice.pem" -k "$PKI/alice.key" -C "$PKI/ca.pem" -p "$MTLS_PORT")

login_rc 0 "alice gets a ticket for root" "${A[@]}" root@127.0.0.1
a_ticket "stdout is the ticket and nothing else"
expect_pam success "the printed ticket logs root in (pamtester)" \
    "$OUT" 127.0.0.1 mtls-test root

LOGIN_ENV=(MTLS_CERT="$PKI/alice.pem" MTLS_KEY="$PKI/alice.key"
    MTLS_CA="$PKI/ca.pem")
login_rc 0 "MTLS_CERT, MTLS_KEY, MTLS_CA from the environment" \
    -p "$MTLS_PORT" root@127.0.0.1
a_ticket "environment: stdout is the ticket"
LOGIN_ENV=(MTLS_CERT="$PKI/bob.pem" MTLS_KEY="$PKI/bob.key"
    MTLS_CA="$PKI/ca.pem")
login_rc 1 "environment naming bob's certificate (no rule)" \
    -p "$MTLS_PORT" root@127.0.0.1
LOGIN_ENV=()

login_rc 1 "user not granted to alice" "${A[@]}" daemon@127.0.0.1
login_rc 1 "revoked certificate" -c "$PKI/revoked.pem" \
    -k "$PKI/revoked.key" -C "$PKI/ca.pem" -p "$MTLS_PORT" root@127.0.0.1

login_rc 2 "missing certificate file" -c "$T/no-such.pem" \
    -k "$PKI/alice.key" -C "$PKI/ca.pem" -p "$MTLS_PORT" root@127.0.0.1
login_rc 2 "no USER@HOST" "${A[@]}"
login_rc 2 "unknown option" "${A[@]}" --no-such-option root@127.0.0.1
login_rc 2 "bad port" -c "$PKI/alice.pem" -k "$PKI/alice.key" \
    -C "$PKI/ca.pem" -p not-a-port root@127.0.0.1

closed=$(free_ports 1)
login_rc 3 "closed port" -c "$PKI/alice.pem" -k "$PKI/alice.key" \
    -C "$PKI/ca.pem" -p "$closed" root@127.0.0.1
login_rc 3 "server not verifiable with -C (another CA)" \
    -c "$PKI/alice.pem" -k "$PKI/alice.key" -C "$PKI/other-ca.pem" \
    -p "$MTLS_PORT" root@127.0.0.1
# The daemon does answer on 127.0.0.2 (curl without verification says
# so), so a refusal there is the name check.
code=$(mtls_curl alice -k "https://127.0.0.2:$MTLS_PORT/v1/whoami") || true
expect_eq "$code" 200 "the daemon answers on 127.0.0.2 (unverified)"
login_rc 3 "server certificate without the name 127.0.0.2" "${A[@]}" \
    root@127.0.0.2

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"

done_testing
