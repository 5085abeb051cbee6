#!/usr/bin/env bash
# cmake --install puts headers, both libraries, the tools, the man page
# and a pkg-config file in place, and a program built with nothing but
# `pkg-config --cflags --libs smtpproto` compiles, links and runs.
set -euo pipefail
command -v pkg-config >/dev/null || { echo "no pkg-config"; exit 77; }
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$SP_BUILD_DIR" --prefix "$prefix" >/dev/null
pass=0 fail=0
check() {
	if eval "$2"; then pass=$((pass + 1)); else
		echo "FAIL: $1"; fail=$((fail + 1)); fi
}
pc=$(find "$prefix" -name smtpproto.pc | head -n 1)
check "smtpproto.pc installed" '[ -n "$pc" ]'
check "umbrella header installed" '[ -f "$prefix/include/smtpproto/smtpproto.h" ]'
check "smtp-decode installed" '[[ $("$prefix/bin/smtp-decode" --version) == "smtp-decode "* ]]'
check "man page installed" '[ -f "$prefix/share/man/man1/smtp-decode.1" ]'
check "schema installed" '[ -f "$prefix/share/smtpproto/session.schema.json" ]'
cat >"$prefix/t.c" <<'C'
#include <stdio.h>
#include <smtpproto/smtpproto.h>
int
main(void)
{
	struct sp_limits lim;
	sp_limits_default(&lim);
	printf("%s %s %zu\n", sp_version(), sp_anomaly_name(SP_ANOM_TCP_GAP),
	    lim.max_line);
	return (0);
}
C
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs smtpproto)
libdir=$(pkg-config --variable=libdir smtpproto)
check "compiles with pkg-config flags ($flags)" \
    'cc -o "$prefix/t" "$prefix/t.c" $flags -Wl,-rpath,"$libdir"'
check "runs against the installed shared library" \
    '[ "$("$prefix/t")" = "0.1.0 tcp_gap 4096" ]'
# ldd's output is taken whole first: with pipefail, grep -q closing
# the pipe early could make ldd fail with SIGPIPE.
deps=$(ldd "$prefix/t")
check "links the shared library" \
    'grep -q "$libdir/libsmtpproto.so" <<<"$deps"'
echo "test_install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
