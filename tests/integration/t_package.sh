#!/bin/bash
# The Debian package, end to end: installs the .deb, checks what it put
# where and the mtlsd user it made, logs in once (pamtester) through the
# installed module against a daemon run from the installed binary, then
# removes and purges it and checks that nothing is left.
#
#   tests/integration/t_package.sh PKG.deb
#
# Not part of make check: it installs a package into the system. Run by
# the "package" stage of scripts/test, as root, on a machine where
# pam-mtls is not installed and no user mtlsd exists.
. "${0%/*}/lib.sh"

DEB=${1:-}
[ -n "$DEB" ] && [ -f "$DEB" ] || bail "usage: t_package.sh PKG.deb"
DEB=$(cd "${DEB%/*}" && pwd)/${DEB##*/}
PKG=pam-mtls
TRIPLET=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
    gcc -dumpmachine)
PAM_DIR=/lib/$TRIPLET/security
UNIT=/lib/systemd/system/mtlsd.service

installed() {
	dpkg-query -W -f='${Status}\n' "$PKG" 2>/dev/null |
	    grep -q '^install ok installed$'
}
# known_to_dpkg: installed or only its conffiles left ("rc").
known_to_dpkg() {
	dpkg-query -W -f='${db:Status-Abbrev}\n' "$PKG" 2>/dev/null |
	    grep -Eq '^(ii|rc)'
}
user_exists() {
	getent passwd mtlsd >/dev/null
}
group_exists() {
	getent group mtlsd >/dev/null
}
apt_quiet() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -qq "$@" >>"$T/apt.log" 2>&1
}

[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
known_to_dpkg && bail "$PKG is already on this machine: purge it first"
user_exists && bail "a user mtlsd exists already: the test would not be" \
    "able to tell it from the package's"

# itest_init without its program checks: the programs are the installed
# ones, known only once the package is in.
pamwrap_find || bail "libpam_wrapper.so not found"
command -v pamtester >/dev/null || bail "pamtester not found"
lib_tempdir mtls-pkgtest || bail "cannot make a temp directory"
lib_pki || bail "cannot make the test PKI"
MTLS_PORT=$(free_ports 1) || bail "no free port"
# Whatever happens, the machine ends without the package.
pkg_cleanup() {
	stop_all
	if known_to_dpkg; then
		apt_quiet purge "$PKG" || dpkg --purge "$PKG" >/dev/null 2>&1
	fi
	cleanup
}
trap pkg_cleanup EXIT

# --- install ----------------------------------------------------------------
ok "apt-get install ./${DEB##*/}" apt_quiet install "$DEB"
installed || { diag_file "$T/apt.log"; bail "the package did not install"; }
MTLSD=/usr/sbin/mtlsd
MTLSCTL=/usr/sbin/mtlsctl
MTLS_LOGIN=/usr/bin/mtls-login
PAM_MODULE=$PAM_DIR/pam_mtls.so

ok "system user mtlsd exists" user_exists
ok "group mtlsd exists" group_exists
uid=$(id -u mtlsd 2>/dev/null || echo 0)
ok "mtlsd is a system uid (1..999), not root" test "$uid" -gt 0 -a "$uid" -lt 1000
expect_eq "$(getent passwd mtlsd | cut -d: -f6)" /nonexistent \
    "mtlsd's home is /nonexistent"
nok "mtlsd's home was not created" test -e /nonexistent
expect_match "$(getent passwd mtlsd | cut -d: -f7)" 'nologin|false' \
    "mtlsd has no login shell"

for f in "$MTLSD" "$MTLSCTL" "$MTLS_LOGIN"; do
	ok "installed: $f" test -x "$f"
done
ok "installed: the module in Debian's PAM directory ($PAM_MODULE)" \
    test -f "$PAM_MODULE"
nok "no libtool archive beside the module" test -e "$PAM_DIR/pam_mtls.la"
ok "installed: $UNIT" test -f "$UNIT"
ok "installed: /etc/mtls/mtlsd.conf" test -f /etc/mtls/mtlsd.conf
ok "installed: /etc/mtls/rules.d/" test -d /etc/mtls/rules.d
expect_match "$(dpkg-query -W -f='${Conffiles}\n' "$PKG")" \
    '^ */etc/mtls/mtlsd.conf ' "/etc/mtls/mtlsd.conf is a conffile"
for m in pam_mtls.8 mtlsd.8 mtlsd.conf.5 mtls-login.1 mtlsctl.8; do
	ok "man page $m installed" test -f "/usr/share/man/man${m##*.}/$m.gz"
done
ok "the deployment guide is in the package's doc directory" \
    test -f /usr/share/doc/$PKG/deploy.md -o -f /usr/share/doc/$PKG/deploy.md.gz
ok "the example rules file is there" \
    test -f /usr/share/doc/$PKG/examples/rules.d/50-example.conf
expect_match "$(ldd "$PAM_MODULE")" 'libpam\.so' "the module links libpam"
expect_nomatch "$(ldd "$PAM_MODULE")" 'libssl|libcrypto|libconfig' \
    "the module does not pull OpenSSL or libconfig into sshd"
expect_nomatch "$(ldd "$MTLSD")" 'libsystemd' \
    "mtlsd speaks sd_notify itself: libsystemd is not loaded"

# The unit as installed, man pages and binary in place.
if command -v systemd-analyze >/dev/null; then
	expect_rc 0 "systemd-analyze verify $UNIT" systemd-analyze verify "$UNIT"
	[ "$RC" = 0 ] || diag "$ERR"
	run systemd-analyze security --offline=true "$UNIT"
	diag "$(printf '%s\n' "$OUT" | grep -i 'overall exposure')"
fi
# Not started and not enabled: there are no keys yet.
nok "the unit is not enabled" test -e \
    /etc/systemd/system/multi-user.target.wants/mtlsd.service

# --- the installed daemon -------------------------------------------------
chown mtlsd "$T/log"
conf=$T/mtlsd.conf
CONF_USER=mtlsd write_config "$conf"
expect_rc 0 "installed mtlsd -t accepts a config" "$MTLSD" -c "$conf" -t
bad=$T/bad.conf
CONF_USER=mtlsd CONF_EXTRA='no_such_key = 1;' write_config "$bad"
expect_rc 1 "installed mtlsd -t refuses a bad one" "$MTLSD" -c "$bad" -t
expect_match "$ERR$OUT" "$bad:[0-9]+:" "naming the file and line"

CONF_USER=mtlsd write_config "$conf"
start_mtlsd "$conf" || bail "the installed mtlsd did not start"
expect_eq "$(ps -o user= -p "$MTLSD_PID" | tr -d ' ')" mtlsd \
    "the daemon runs as mtlsd"

# The module by its bare name: libpam finds it in its own directory,
# where the package put it.
write_pam_service pkg-test "auth required pam_mtls.so socket=$PAM_SOCK"
tk=$(get_ticket alice root) || bail "no ticket from the installed mtlsd"
expect_pam success "login with a ticket through the installed module" \
    "$tk" 127.0.0.1 pkg-test root
expect_pam "Authentication failure" "the same ticket again is refused" \
    "$tk" 127.0.0.1 pkg-test root
stop_mtlsd
expect_pam "Authentication service cannot retrieve authentication info" \
    "daemon stopped: the installed module fails closed" \
    "$tk" 127.0.0.1 pkg-test root

# --- remove, then purge ----------------------------------------------------
ok "apt-get remove $PKG" apt_quiet remove "$PKG"
nok "removed: $MTLSD" test -e "$MTLSD"
nok "removed: $PAM_MODULE" test -e "$PAM_MODULE"
nok "removed: $UNIT" test -e "$UNIT"
ok "after remove the conffile stays" test -f /etc/mtls/mtlsd.conf
ok "after remove the user stays" user_exists

ok "apt-get purge $PKG" apt_quiet purge "$PKG"
nok "purged: dpkg knows nothing of $PKG" known_to_dpkg
nok "purged: user mtlsd" user_exists
nok "purged: group mtlsd" group_exists
nok "purged: /etc/mtls" test -e /etc/mtls
nok "purged: /var/log/mtlsd" test -e /var/log/mtlsd
nok "purged: /usr/share/doc/$PKG" test -e /usr/share/doc/$PKG

done_testing
