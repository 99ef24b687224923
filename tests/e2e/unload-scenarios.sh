# shellcheck shell=sh
#
# The scenarios of `force-rmmod-gen unload NAME`, run inside the
# e2e VM by /init (tests/e2e/init.sh). Not a program: /init SOURCES this
# file after its own helpers (run, fail, expect_*, run_scenario) are
# defined; each scenario_unload_<name> then runs under run_scenario like
# the others and prints
#
#	RESULT unload_<name> PASS
#	RESULT unload_<name> FAIL <reason>
#
# What the initramfs must hold besides what init.sh already needs:
#   /bin/force-rmmod-gen   the portable binary of scripts/dist plus the glibc
#                          libraries its ELF header names (install_tool)
#   $UNLOAD_KO             the helper built for this kernel; default: the
#                          harness's own /e2e/helper/force_rmmod.ko
#   /e2e/other/force_rmmod.ko (optional) a helper built for ANOTHER kernel;
#                          without it unload_wrong_kernel uses a synthetic
#                          module whose vermagic names kernel 0.0.0-e2e-other
#
# The tool makes the module syscalls itself (no kmod needed for it) and
# never runs detection with --ko, so it never loads libclang in the VM.

FRG=${FRG:-/bin/force-rmmod-gen}
UNLOAD_KO=${UNLOAD_KO:-${GOOD_HELPER:-/e2e/helper/force_rmmod.ko}}
UNLOAD_OTHER_KO=${UNLOAD_OTHER_KO:-/e2e/other/force_rmmod.ko}

# In the order they run.
UNLOAD_SCENARIOS="unload_stuck unload_holder unload_dry_run unload_unknown
unload_wrong_kernel unload_clean unload_declined unload_negative unload_undo"

# expect_rc WANT CMD...: CMD must exit with WANT (output in $OUT).
expect_rc() {
	want=$1
	shift
	run "$@"
	[ "$RC" -eq "$want" ] || fail "'$*' exited $RC, expected $want"
}

# expect_out TEXT: the last command's output must contain TEXT.
expect_out() {
	case $OUT in
	*"$1"*) ;;
	*) fail "the output does not say '$1'" ;;
	esac
}

# no_helper_ran: the helper was never loaded in this scenario.
no_helper_ran() {
	dmesg | grep -q 'force_rmmod: ' && fail "the helper was loaded"
	expect_gone force_rmmod
}

# modules_unchanged BEFORE: /sys/module lists what it listed before.
modules_unchanged() {
	[ "$(ls /sys/module)" = "$1" ] || fail "/sys/module changed"
}

# The module leaked a reference to itself: one command removes it, and
# the helper is gone too.
scenario_unload_stuck() {
	expect_ok insmod "$M/leak_self.ko"
	expect_refcnt leak_self 1
	expect_refused "$IN_USE" rmmod leak_self
	expect_rc 0 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_out "delete_module(leak_self, O_NONBLOCK): busy"
	expect_out "removed with the helper"
	expect_gone leak_self
	expect_gone force_rmmod
	expect_log "force_rmmod: .*leak_self" "the helper did not report on leak_self"
}

# holder uses provider: refused (exit 23) and named, nothing changed, the
# helper never loaded.
scenario_unload_holder() {
	expect_ok insmod "$M/provider.ko"
	expect_ok insmod "$M/holder.ko"
	expect_refcnt provider 1
	expect_rc 23 "$FRG" unload provider --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_out "holder"
	expect_loaded provider
	expect_loaded holder
	expect_refcnt provider 1
	no_helper_ran
	expect_ok rmmod holder
	expect_ok rmmod provider
}

# --dry-run: the helper is loaded with dry_run=1 and unloaded again; the
# module keeps its count and stays loaded; /sys/module is as before.
scenario_unload_dry_run() {
	expect_ok insmod "$M/leak_self.ko"
	expect_refcnt leak_self 1
	before=$(ls /sys/module)
	expect_rc 0 "$FRG" unload leak_self --dry-run --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_out "dry_run=1"
	expect_out "Nothing was changed"
	expect_refcnt leak_self 1
	expect_loaded leak_self
	expect_gone force_rmmod
	modules_unchanged "$before"
	expect_refused "$IN_USE" rmmod leak_self
	# Clean up with the real thing.
	expect_rc 0 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_gone leak_self
}

# No such module: exit 22, a clear message, nothing loaded.
scenario_unload_unknown() {
	before=$(ls /sys/module)
	expect_rc 22 "$FRG" unload no_such_module --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_out "no_such_module is not loaded"
	no_helper_ran
	modules_unchanged "$before"
}

# A helper built for another kernel: exit 25 before anything is loaded.
scenario_unload_wrong_kernel() {
	other=$UNLOAD_OTHER_KO
	if [ ! -f "$other" ]; then
		other=/tmp/other-kernel.ko
		mkdir -p /tmp
		printf 'vermagic=0.0.0-e2e-other SMP mod_unload modversions \000name=force_rmmod\000parmtype=modname:charp\000' >"$other"
	fi
	expect_ok insmod "$M/leak_self.ko"
	expect_refcnt leak_self 1
	before=$(ls /sys/module)
	expect_rc 25 "$FRG" unload leak_self --yes --ko "$other"
	expect_out "was built for kernel"
	expect_out "$(uname -r)"
	no_helper_ran
	modules_unchanged "$before"
	expect_refcnt leak_self 1
	expect_rc 0 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_gone leak_self
}

# An idle module goes with the plain delete_module: no helper, no --yes.
scenario_unload_clean() {
	expect_ok insmod "$M/provider.ko"
	expect_refcnt provider 0
	expect_rc 0 "$FRG" unload provider --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"} </dev/null
	expect_out "no helper was needed"
	expect_gone provider
	no_helper_ran
}

# Without a terminal and without --yes: declined (exit 24), nothing changed.
scenario_unload_declined() {
	expect_ok insmod "$M/leak_self.ko"
	expect_rc 24 "$FRG" unload leak_self --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"} </dev/null
	expect_out "--yes"
	expect_refcnt leak_self 1
	no_helper_ran
	expect_rc 0 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_gone leak_self
}

# A count below idle: the plain delete_module must be skipped (it would
# hit BUG_ON in try_release_module_ref). The tool reads the count again a
# second later, sees it stay at -1 (a module_put() too many, not an rmmod
# claiming the module), tells the helper so (fix_negative=1), and the
# repaired module is removed. negcount may be left over from
# negative_count; then it is used as it is.
scenario_unload_negative() {
	[ -d /sys/module/negcount ] || expect_ok insmod "$M/negcount.ko"
	expect_refcnt negcount -1
	expect_rc 0 "$FRG" unload negcount --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_out "skipped: refcnt -1 is below idle"
	expect_out "still below idle a second later"
	expect_out "expect=-1"
	expect_out "removed with the helper"
	expect_gone negcount
	expect_gone force_rmmod
}

# sticky leaked a reference to itself and takes one more the moment the
# helper goes live, right after the reset: the removal that follows fails
# (a user came back at once). unload gives back the reference the reset
# took (restore=1), so sticky holds every reference it held before plus
# the new one, and says it is still loaded (27). A second unload, with
# nobody coming back, removes it.
scenario_unload_undo() {
	expect_ok insmod "$M/sticky.ko"
	expect_refcnt sticky 1
	expect_rc 27 "$FRG" unload sticky --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_out "expect=1"
	expect_out "restore=1"
	expect_out "were given back (restore=1)"
	expect_loaded sticky
	expect_refcnt sticky 2
	expect_gone force_rmmod
	expect_log "force_rmmod: sticky: restored 1 reference" "the helper did not restore the reference"
	expect_rc 0 "$FRG" unload sticky --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_gone sticky
}

# For a harness that does not list the names in /e2e/scenarios: run them all.
unload_scenarios_run() {
	if ! command -v run_scenario >/dev/null 2>&1; then
		for s in $UNLOAD_SCENARIOS; do
			echo "RESULT $s FAIL harness: unload-scenarios.sh was not sourced by init.sh"
		done
		return
	fi
	for s in $UNLOAD_SCENARIOS; do
		run_scenario "$s" "scenario_$s"
	done
}

# A module whose exit function does not return, under kmod's rmmod (which
# passes O_NONBLOCK): it is GOING, but nobody sleeps on its count. unload
# names that rmmod and refuses (23): waking it or resetting the count
# cannot help. Once the exit function is let go, the module is gone.
scenario_unload_stuck_exit() {
	mkdir -p /tmp
	expect_ok insmod $M/stuckexit.ko
	/sbin/rmmod stuckexit >/tmp/stuckexit.out 2>&1 &
	remover=$!
	wait_going stuckexit || fail "stuckexit did not go GOING under rmmod"
	expect_rc 23 "$FRG" unload stuckexit --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_out "is being removed by pid $remover, which called delete_module with O_NONBLOCK"
	no_helper_ran
	expect_loaded stuckexit
	echo 1 >/sys/module/stuckexit/parameters/release
	wait "$remover"
	expect_gone stuckexit
}

# A kernel older than the tool's floor (3.2, Rust's standard library's):
# unload refuses at start (exit 33), naming the floor and the manual path
# (README, "The helper module"), and changes nothing; that path, insmod of
# the helper built for this kernel, then removes the module.
scenario_unload_too_old() {
	expect_ok insmod $M/leak_self.ko
	expect_refcnt leak_self 1
	expect_rc 33 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO"
	expect_out "is older than 3.2"
	expect_out "insmod force_rmmod.ko modname=NAME expect=N"
	no_helper_ran
	expect_refcnt leak_self 1
	expect_ok insmod $HELPER modname=leak_self expect=1
	expect_refcnt leak_self 0
	expect_ok rmmod leak_self
	expect_gone leak_self
	expect_ok rmmod force_rmmod
	expect_gone force_rmmod
}
