#!/bin/sh
#
# /init of the e2e initramfs that tests/e2e/run builds for each kernel.
#
# Runs every scenario listed in /e2e/scenarios against the helper built by
# force-rmmod-gen (/e2e/helper/force_rmmod.ko), then the negative control:
# the leaked_self scenario again, unchanged, with a deliberately wrong helper
# (/e2e/bad/force_rmmod.ko, sets an era E refcnt to 0). For each it prints
#
#	BEGIN <scenario>
#	RESULT <scenario> PASS
#	RESULT <scenario> FAIL <reason>
#
# and powers off. A reason starting with "kernel:" means the kernel itself
# was hurt (oops, BUG, warning). Everything else on the console is a log
# for people. The harness counts a missing RESULT as a FAIL: the kernel
# booted with oops=panic, so an oops ends the VM before the RESULT line.
#
# Tools: busybox for the shell, kmod's insmod/rmmod (its rmmod reads
# /sys/module/X/refcnt and says "Module X is in use", busybox's does not),
# and modcall, which reports the exact errno of a failed module load.

export PATH=/sbin:/bin

M=/e2e/modules			# our test modules
GOOD_HELPER=/e2e/helper/force_rmmod.ko
BAD_HELPER=/e2e/bad/force_rmmod.ko
HELPER=$GOOD_HELPER		# the helper the scenario functions load

TAINT_D=128			# bit 7: the kernel oopsed
TAINT_W=512			# bit 9: the kernel warned (WARN_ON)

# --- small tools ------------------------------------------------------------

# Debian's static busybox runs its own applets before anything on PATH, and
# its rmmod only says "Resource temporarily unavailable": call kmod's.
insmod() { /sbin/insmod "$@"; }
rmmod() { /sbin/rmmod "$@"; }

# run CMD...: run a command, log it with its output, keep the output in
# $OUT and the exit code in $RC. Never fails itself.
run() {
	OUT=$("$@" 2>&1)
	RC=$?
	echo "  \$ $* -> rc=$RC"
	[ -n "$OUT" ] && echo "$OUT" | sed 's/^/  | /'
	return 0
}

# fail REASON: mark the running scenario failed; the first reason is kept.
fail() {
	echo "  FAIL: $*"
	[ -z "$REASON" ] && REASON=$*
	return 1
}

refcnt() {
	cat "/sys/module/$1/refcnt" 2>/dev/null || echo none
}

expect_ok() {
	run "$@"
	[ "$RC" -eq 0 ] || fail "'$*' failed (rc=$RC)"
}

# expect_refused TEXT CMD...: CMD must fail and say TEXT.
expect_refused() {
	text=$1
	shift
	run "$@"
	[ "$RC" -ne 0 ] || { fail "'$*' succeeded, expected a refusal"; return; }
	case $OUT in
	*"$text"*) ;;
	*) fail "'$*' did not say '$text'" ;;
	esac
}

# expect_errno NAME KO PARAMS...: loading KO must fail with errno NAME.
expect_errno() {
	want=$1
	shift
	run modcall "$@"
	case $OUT in
	*"errno $want "*) ;;
	*) fail "loading with '$*' gave '$OUT', expected $want" ;;
	esac
}

expect_refcnt() {
	v=$(refcnt "$1")
	echo "  $1 refcnt: $v"
	[ "$v" = "$2" ] || fail "$1 refcnt is $v, expected $2"
}

expect_loaded() {
	[ -d "/sys/module/$1" ] || fail "$1 is not loaded"
}

expect_gone() {
	[ ! -d "/sys/module/$1" ] || fail "$1 is still loaded"
}

# expect_log REGEX WHAT: this scenario's kernel log must match REGEX.
expect_log() {
	dmesg | grep -qE "$1" || fail "$2"
}

# wait_until CMD...: poll CMD for up to 5 s (devtmpfs nodes and a
# background open() appear asynchronously).
wait_until() {
	i=0
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge 50 ] && return 1
		sleep 0.1
	done
}

# --- the per-scenario frame ---------------------------------------------------

# kernel_health: after every scenario, the kernel must not have oopsed or
# warned. dmesg was cleared when the scenario began, so what it shows now
# belongs to this scenario; taint bits are sticky, so only bits that were
# not set before the scenario count against it.
kernel_health() {
	log=$(dmesg)
	bad=""
	for pattern in "Oops" "BUG:" "Call Trace"; do
		case $log in
		*"$pattern"*) bad="$bad, dmesg shows '$pattern'" ;;
		esac
	done
	taint=$(cat /proc/sys/kernel/tainted)
	new=$((taint & ~TAINT_BEFORE))
	[ $((new & TAINT_D)) -ne 0 ] && bad="$bad, taint D (oops) set"
	[ $((new & TAINT_W)) -ne 0 ] && bad="$bad, taint W (warning) set"
	echo "  tainted: $TAINT_BEFORE -> $taint"
	if [ -n "$bad" ]; then
		bad="kernel: ${bad#, }"
		echo "  FAIL: $bad"
		REASON="$bad${REASON:+; $REASON}"
	fi
}

# run_scenario NAME FUNCTION: run one scenario and print its verdict.
run_scenario() {
	name=$1
	REASON=""
	TAINT_BEFORE=$(cat /proc/sys/kernel/tainted)
	dmesg -c >/dev/null
	echo "BEGIN $name"
	"$2"
	kernel_health
	echo "  kernel log of $name:"
	dmesg | sed 's/^/  > /'
	if [ -z "$REASON" ]; then
		echo "RESULT $name PASS"
	else
		echo "RESULT $name FAIL $REASON"
	fi
}

# --- the scenarios (issue 3) ------------------------------------------------

# 1. A module leaked a reference to itself: rmmod says "in use", the helper
#    resets the count, rmmod succeeds and the module is gone.
scenario_leaked_self() {
	expect_ok insmod $M/leak_self.ko
	expect_refcnt leak_self 1
	expect_refused "is in use" rmmod leak_self
	expect_ok insmod $HELPER modname=leak_self
	expect_refcnt leak_self 0
	expect_ok rmmod leak_self
	expect_gone leak_self
	expect_ok rmmod force_rmmod
	expect_gone force_rmmod
}

# 2. leak_other took a reference on victim and went away: same repair.
scenario_leaked_by_other() {
	expect_ok insmod $M/leak_other.ko
	expect_ok insmod $M/victim.ko
	expect_refcnt victim 1
	expect_ok rmmod leak_other
	expect_refused "is in use" rmmod victim
	expect_ok insmod $HELPER modname=victim
	expect_refcnt victim 0
	expect_ok rmmod victim
	expect_gone victim
	expect_ok rmmod force_rmmod
}

# 3. holder uses provider's symbol: the helper refuses with EBUSY, names
#    holder, and changes nothing.
scenario_has_dependent() {
	expect_ok insmod $M/provider.ko
	expect_ok insmod $M/holder.ko
	expect_refcnt provider 1
	expect_errno EBUSY $HELPER modname=provider
	expect_gone force_rmmod
	expect_log "force_rmmod: .*holder" "the helper did not name holder"
	expect_refcnt provider 1
	expect_loaded provider
	expect_loaded holder
	expect_ok rmmod holder
	expect_ok rmmod provider
}

# 4. No such module: the load fails with ENOENT and a message naming it.
scenario_no_such_target() {
	before=$(ls /sys/module)
	expect_errno ENOENT $HELPER modname=no_such_module
	expect_gone force_rmmod
	expect_log "force_rmmod: .*no_such_module" \
		"the helper did not name the missing module"
	[ "$(ls /sys/module)" = "$before" ] || fail "/sys/module changed"
}

# 5. dry_run=1 reports the count and changes nothing. Whether the helper
#    then stays loaded or refuses to load is its own business; either way
#    nothing of it may stay behind once we rmmod it.
scenario_dry_run() {
	expect_ok insmod $M/leak_self.ko
	expect_refcnt leak_self 1
	run insmod $HELPER modname=leak_self dry_run=1
	[ -d /sys/module/force_rmmod ] && expect_ok rmmod force_rmmod
	expect_log "force_rmmod: .*leak_self.*[^0-9]1([^0-9]|$)" \
		"dry run did not report the count 1"
	expect_refcnt leak_self 1
	expect_refused "is in use" rmmod leak_self
	# Clean up with a real reset, for the scenarios after this one.
	expect_ok insmod $HELPER modname=leak_self
	expect_ok rmmod leak_self
	expect_gone leak_self
	expect_ok rmmod force_rmmod
}

# 6. negcount dropped a reference it never took: its refcnt reads below 0
#    (era E: -1). rmmod must not even be tried in that state (it hits
#    BUG_ON in try_release_module_ref); the helper repairs the count, then
#    rmmod succeeds.
scenario_negative_count() {
	expect_ok insmod $M/negcount.ko
	v=$(refcnt negcount)
	echo "  negcount refcnt after load: $v"
	case $v in
	-*) ;;
	*) fail "negcount refcnt is $v, expected below 0" ;;
	esac
	expect_ok insmod $HELPER modname=negcount
	# Only an idle count (0) is safe to rmmod: do not crash the VM on a
	# failed repair, the scenarios after this one still have to run.
	expect_refcnt negcount 0 && expect_ok rmmod negcount
	expect_gone negcount
	expect_ok rmmod force_rmmod
}

# 7. The helper is removed before its target, then the target: no oops (the
#    helper must leave no pointer into itself behind).
scenario_helper_first() {
	expect_ok insmod $M/leak_self.ko
	expect_refused "is in use" rmmod leak_self
	expect_ok insmod $HELPER modname=leak_self
	expect_refcnt leak_self 0
	expect_ok rmmod force_rmmod
	expect_gone force_rmmod
	expect_ok rmmod leak_self
	expect_gone leak_self
}

# 8. The helper aimed at itself refuses with EINVAL.
scenario_helper_self() {
	before=$(ls /sys/module)
	expect_errno EINVAL $HELPER modname=force_rmmod
	expect_gone force_rmmod
	[ "$(ls /sys/module)" = "$before" ] || fail "/sys/module changed"
}

# 9. busydev is really in use: a sleeping process holds /dev/busydev open.
#    No helper can tell that reference from a leak. The documented
#    behaviour: the helper warns and resets the count anyway, so the count
#    no longer covers the open file. We show exactly that without running
#    freed code: closing the file afterwards drops the real reference on
#    top of the reset and the count goes below idle (-1); a second reset
#    repairs it and busydev unloads cleanly. (rmmod while the file is still
#    open would succeed and free code that the file's release still calls:
#    the oops the README warns about.)
scenario_really_in_use() {
	expect_ok insmod $M/busydev.ko
	wait_until test -c /dev/busydev || fail "/dev/busydev did not appear"
	# shellcheck disable=SC2217 # the open file is the point, not the input
	sleep 3600 </dev/busydev &
	sleeper=$!
	wait_until grep -qx 1 /sys/module/busydev/refcnt
	expect_refcnt busydev 1
	expect_refused "is in use" rmmod busydev
	expect_ok insmod $HELPER modname=busydev
	# A warning means KERN_WARNING or worse (<0>..<4> in the raw log); the
	# kernel's own one-time "taints kernel" notices do not count.
	dmesg -r | grep -E '^<[0-4]>' | grep -v 'taint' |
		grep -q 'force_rmmod: ' || fail "the helper printed no warning"
	expect_refcnt busydev 0
	expect_ok rmmod force_rmmod
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null
	wait_until grep -qx -- -1 /sys/module/busydev/refcnt
	expect_refcnt busydev -1
	expect_ok insmod $HELPER modname=busydev
	expect_refcnt busydev 0 && expect_ok rmmod busydev
	expect_gone busydev
	expect_ok rmmod force_rmmod
}

# --- main -----------------------------------------------------------------------

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# The `force-rmmod-gen unload` scenarios (issue 4) use the helpers above.
. /e2e/unload-scenarios.sh
# The `force-rmmod-gen trace` scenarios use both.
. /e2e/trace-scenarios.sh

echo "E2E START kernel $(uname -r), tainted $(cat /proc/sys/kernel/tainted)"
# shellcheck disable=SC2013 # one word per line by construction
for name in $(grep -v '^#' /e2e/scenarios); do
	run_scenario "$name" "scenario_$name"
done

# Last, because it is meant to crash the kernel: the same scenario 1 with
# the wrong helper. The harness expects this one to FAIL.
HELPER=$BAD_HELPER
run_scenario negative_control scenario_leaked_self

echo "E2E DONE"
poweroff -f
