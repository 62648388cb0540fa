#!/bin/bash
# The man pages: each one formats without a single groff warning, has no
# control character but tab and newline in its source (a "\f" written by
# a script as a form feed renders as garbage, and no build step fails on
# it), and has its NAME and SYNOPSIS or DESCRIPTION sections.
. "${0%/*}/lib.sh"
command -v groff >/dev/null || bail "groff is needed (package groff-base)"
lib_tempdir mtls-man || bail "cannot make a temp directory"

# groff_warnings FILE: prints groff's warnings; fails if there are any.
groff_warnings() {
	local w
	w=$(groff -ww -z -man "$1" 2>&1)
	[ -z "$w" ] && return 0
	printf '%s\n' "$w"
	return 1
}

# control_chars FILE: prints the lines holding a control character other
# than tab; fails if there are any.
control_chars() {
	! LC_ALL=C grep -n "$(printf '[\001-\010\013-\037\177]')" "$1"
}

# The checkers themselves, on a page with the defect they look for.
printf '.TH PROBE 8\n.SH NAME\nprobe \\- a page\n.SH DESCRIPTION\n.B workers = \fIN\\fP\n' \
    >"$T/probe.8"
nok "the groff check catches a form feed in a page" groff_warnings "$T/probe.8"
nok "the control character check catches it" control_chars "$T/probe.8"
sed 's/\f/\\f/' "$T/probe.8" >"$T/fixed.8"
ok "and both take the page written with \\fI" groff_warnings "$T/fixed.8"
ok "(control characters)" control_chars "$T/fixed.8"

n=0
for page in "$MTLS_SRCDIR"/man/*.[1-8]; do
	[ -f "$page" ] || continue
	n=$((n + 1))
	name=${page##*/}
	ok "$name: no groff warning" groff_warnings "$page"
	ok "$name: no control character" control_chars "$page"
	# Rendered as man(1) does, then without overstriking.
	text=$(groff -man -Tascii "$page" 2>/dev/null | sed 's/.\x08//g')
	expect_match "$text" '^NAME$' "$name: has NAME"
	expect_match "$text" '^(SYNOPSIS|DESCRIPTION)$' \
	    "$name: has SYNOPSIS or DESCRIPTION"
done
ok "the five man pages were found ($n)" test "$n" -eq 5
done_testing
