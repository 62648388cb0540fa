#!/bin/bash
# A real sshd (keyboard-interactive through PAM) with pam_mtls.so, under
# pam_wrapper: mtls-login --ssh logs in with a certificate and no typing.
. "${0%/*}/lib.sh"
itest_init mtlsd mtls-login pam sshd

ports=$(free_ports 3) || bail "no free ports"
SSH_PORT=$(sed -n 1p <<<"$ports")
PERMIT_PORT=$(sed -n 2p <<<"$ports")
DENY_PORT=$(sed -n 3p <<<"$ports")
[ -n "$DENY_PORT" ] || bail "freeport gave fewer than 3 ports"

write_pam_service sshd-mtls "$(mtls_auth_line)"
write_pam_service sshd-permit "auth required pam_permit.so"
write_pam_service sshd-deny "auth required pam_deny.so"

conf=$T/mtlsd.conf
write_config "$conf"
start_mtlsd "$conf" || bail "mtlsd did not start"
start_sshd sshd-mtls "$SSH_PORT" || bail "sshd did not start"
start_sshd sshd-permit "$PERMIT_PORT" || bail "sshd (permit) did not start"
start_sshd sshd-deny "$DENY_PORT" || bail "sshd (deny) did not start"

make_askpass "$T/askpass-garbage" "garbage-not-a-ticket"

# The harness: the service sshd uses is the one written in $PAMD.
expect_rc 0 "harness: sshd with a pam_permit service logs in" \
    ssh_askpass "$T/askpass-garbage" "$PERMIT_PORT" id -un
expect_eq "$OUT" root "harness: the remote command ran as root"
expect_rc 255 "harness: sshd with a pam_deny service refuses" \
    ssh_askpass "$T/askpass-garbage" "$DENY_PORT" id -un

# The module under sshd, answered by a plain askpass script.
tk=$(get_ticket alice root) || bail "no ticket from mtlsd"
make_askpass "$T/askpass-ticket" "$tk"
expect_rc 0 "ssh answered with a fresh ticket logs in" \
    ssh_askpass "$T/askpass-ticket" "$SSH_PORT" id -un
expect_eq "$OUT" root "the remote command ran as root"
expect_rc 255 "the same ticket again is refused" \
    ssh_askpass "$T/askpass-ticket" "$SSH_PORT" id -un
expect_nomatch "$OUT" root "no remote command on the replay"
expect_rc 255 "ssh answered with a made-up ticket is refused" \
    ssh_askpass "$T/askpass-garbage" "$SSH_PORT" id -un
expect_nomatch "$OUT" root "no remote command with a made-up ticket"

# mtls-login --ssh: both legs, nothing typed.
mapfile -t SSH_OPTS < <(ssh_opts "$SSH_PORT")
mtls_ssh() {
	local name=$1
	shift
	pw_locked env -u DISPLAY timeout 30 "$MTLS_LOGIN" --ssh \
	    -c "$PKI/$name.pem" -k "$PKI/$name.key" -C "$PKI/ca.pem" \
	    -p "$MTLS_PORT" root@127.0.0.1 -- "${SSH_OPTS[@]}" "$@"
}
expect_rc 0 "mtls-login --ssh with alice's certificate" \
    mtls_ssh alice 'id -un; echo "MTLS_SUBJECT=$MTLS_SUBJECT"'
expect_eq "$(sed -n 1p "$T/out")" root "mtls-login --ssh: logged in as root"
expect_match "$OUT" '^MTLS_SUBJECT=CN=alice,OU=ops,O=Example$' \
    "the session has MTLS_SUBJECT from the module"
run mtls_ssh bob id -un
nok "mtls-login --ssh with bob's certificate (no rule) fails" \
    [ "$RC" = 0 ]
expect_nomatch "$OUT" root "bob: no remote command"
diag "bob: exit $RC: $ERR"

ok "no ticket in mtlsd's log" no_ticket_in "$MTLSD_LOG"
ok "no ticket in sshd's log" no_ticket_in "$T/sshd-mtls.log"

done_testing
