# shellcheck shell=sh
#
# The walk-through scripts/demo shows, run inside the e2e VM by /init
# (tests/e2e/init.sh) when the kernel command line says e2e_boot=demo.
# Sourced after unload-scenarios.sh: run_scenario, fail, expect_*, $FRG,
# $UNLOAD_KO, $IN_USE come from there and from init.sh.
#
# What a user sees is printed with the prefix "DEMO| " (scripts/demo shows
# those lines, without the prefix and without the kernel's console); the
# checks print the usual "  FAIL: ..." lines and the RESULT demo line.
#
# The stuck module is leaky (modules/leaky.c): a driver whose open()
# forgets a module_put() when the file is opened for appending.

# note TEXT: a comment in the transcript.
note() {
	echo "DEMO| # $*"
}

# say CMDLINE: run CMDLINE as typed at a prompt; print it and its output
# for the transcript. $OUT and $RC as run sets them. Evaluated in this
# shell, so that insmod, rmmod and lsmod are init.sh's (kmod's where it
# runs): `sh -c` would run busybox's own applets instead.
say() {
	echo "DEMO| \$ $1"
	OUT=$(eval "$1" 2>&1)
	RC=$?
	[ -n "$OUT" ] && printf '%s\n' "$OUT" | sed 's/^/DEMO| /'
	echo "  -> rc=$RC"
	return 0
}

# say_ok CMDLINE: say CMDLINE, which must succeed.
say_ok() {
	say "$1"
	[ "$RC" -eq 0 ] || fail "'$1' exited $RC"
}

scenario_demo() {
	cd "$M" || { fail "no $M"; return; }
	note "leaky.ko: a driver that leaks a reference on itself when its device is opened for appending"
	say_ok "insmod leaky.ko"
	wait_until test -c /dev/leaky || fail "/dev/leaky did not appear"
	note "a program writes to the device; trace records who takes references on leaky meanwhile"
	say_ok "force-rmmod-gen trace leaky -- sh -c 'echo hello >> /dev/leaky'"
	expect_out "1 reference taken and not given back"
	expect_out "suspect: leaky_open_path [leaky]"
	say_ok "lsmod"
	printf '%s\n' "$OUT" | grep -qE '^leaky +[0-9]+ +1( |$)' ||
		fail "lsmod does not show leaky used once"
	say "rmmod leaky"
	[ "$RC" -ne 0 ] || fail "rmmod leaky succeeded: nothing was stuck"
	expect_out "$IN_USE"
	note "the helper was built on the host for this kernel: force-rmmod-gen build --kdir <its build tree>"
	say_ok "force-rmmod-gen unload leaky --yes --ko $UNLOAD_KO${UNCHECKED_OK:+ $UNCHECKED_OK}"
	expect_out "removed with the helper"
	say_ok "lsmod"
	case $OUT in
	*leaky* | *force_rmmod*) fail "lsmod still lists leaky or the helper" ;;
	esac
	expect_gone leaky
	expect_gone force_rmmod
}
