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

export PATH=/sbin:/bin:/usr/bin

M=/e2e/modules			# our test modules
GOOD_HELPER=/e2e/helper/force_rmmod.ko
BAD_HELPER=/e2e/bad/force_rmmod.ko
REWRITTEN_HELPER=/e2e/rewritten/force_rmmod.ko	# R_X86_64_PLT32 made PC32
HELPER=$GOOD_HELPER		# the helper the scenario functions load

TAINT_D=128			# bit 7: the kernel oopsed
TAINT_W=512			# bit 9: the kernel warned (WARN_ON)

# --- small tools ------------------------------------------------------------

# Debian's static busybox runs its own applets before anything on PATH, and
# its rmmod only says "Resource temporarily unavailable": call kmod's.
# Where kmod cannot start (a kernel before 2.6.39 refuses the fstat() of the
# dynamic loader of glibc 2.33+; tests/e2e/run, static_userland), busybox's
# statically linked applets; its rmmod names the kernel's errno for a
# module in use (EWOULDBLOCK), where kmod's reads refcnt first.
if /sbin/kmod --version >/dev/null 2>&1; then
	MODTOOLS=kmod
	IN_USE="is in use"
	insmod() { /sbin/insmod "$@"; }
	rmmod() { /sbin/rmmod "$@"; }
else
	MODTOOLS=busybox
	IN_USE="Resource temporarily unavailable"
	insmod() { busybox insmod "$@"; }
	rmmod() { busybox rmmod "$@"; }
fi

# Listing a directory: busybox's ls and the shell's globs read it through
# glibc's opendir(), which checks it with fstat(); glibc 2.33+ makes that
# call with AT_EMPTY_PATH, which kernels before 2.6.39 refuse (EINVAL), so
# no directory can be listed there (tests/e2e/run, static_userland).
if ls / >/dev/null 2>&1; then LISTS_DIRS=1; else LISTS_DIRS=0; fi

# module_names: what /sys/module lists; where no directory can be listed,
# the loaded modules (/proc/modules).
module_names() {
	if [ $LISTS_DIRS = 1 ]; then
		ls /sys/module
	else
		cut -d' ' -f1 /proc/modules | sort
	fi
}

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

# The count as a signed number: 3.10 (RHEL/CentOS 7) prints module_refcount()
# as unsigned long, so a count of -1 reads 18446744073709551615 there; 2.6.x
# prints it as unsigned int (4294967295).
refcnt() {
	v=$(cat "/sys/module/$1/refcnt" 2>/dev/null || echo none)
	case $v in
	18446744073709551615 | 4294967295) v=-1 ;;
	18446744073709551614 | 4294967294) v=-2 ;;
	esac
	echo "$v"
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

refcnt_is() {
	[ "$(refcnt "$1")" = "$2" ]
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

# --- the helper scenarios ----------------------------------------------------

# 1. A module leaked a reference to itself: rmmod says "in use", the helper
#    resets the count, rmmod succeeds and the module is gone.
scenario_leaked_self() {
	expect_ok insmod $M/leak_self.ko
	expect_refcnt leak_self 1
	expect_refused "$IN_USE" rmmod leak_self
	expect_ok insmod $HELPER modname=leak_self
	expect_refcnt leak_self 0
	expect_ok rmmod leak_self
	expect_gone leak_self
	expect_ok rmmod force_rmmod
	expect_gone force_rmmod
}

# 1b. Scenario 1 with the helper whose R_X86_64_PLT32 relocations the tool
#     rewrote to R_X86_64_PC32 (as for kernels before 4.16): it still loads,
#     resets the count and unloads.
scenario_rewritten_helper() {
	HELPER="$REWRITTEN_HELPER$HELPER_ARGS"
	scenario_leaked_self
	HELPER="$GOOD_HELPER$HELPER_ARGS"
}

# 2. leak_other took a reference on victim and went away: same repair.
scenario_leaked_by_other() {
	expect_ok insmod $M/leak_other.ko
	expect_ok insmod $M/victim.ko
	expect_refcnt victim 1
	expect_ok rmmod leak_other
	expect_refused "$IN_USE" rmmod victim
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
	before=$(module_names)
	expect_errno ENOENT $HELPER modname=no_such_module
	expect_gone force_rmmod
	expect_log "force_rmmod: .*no_such_module" \
		"the helper did not name the missing module"
	[ "$(module_names)" = "$before" ] || fail "/sys/module changed"
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
	expect_refused "$IN_USE" rmmod leak_self
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
	# Without module_mutex, -1 on a live module can also be an rmmod
	# claiming it this instant: the helper repairs it only when told it
	# stayed there. Under module_mutex nothing can claim it meanwhile.
	if [ "$(cat /e2e/helper/lookup)" = ring-walk ]; then
		expect_errno EAGAIN $HELPER modname=negcount
		expect_gone force_rmmod
		expect_log "force_rmmod: negcount: .*fix_negative=1" \
			"the helper did not ask for fix_negative=1"
		expect_ok insmod $HELPER modname=negcount fix_negative=1
	else
		expect_ok insmod $HELPER modname=negcount
	fi
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
	expect_refused "$IN_USE" rmmod leak_self
	expect_ok insmod $HELPER modname=leak_self
	expect_refcnt leak_self 0
	expect_ok rmmod force_rmmod
	expect_gone force_rmmod
	expect_ok rmmod leak_self
	expect_gone leak_self
}

# 8. The helper aimed at itself refuses with EINVAL.
scenario_helper_self() {
	before=$(module_names)
	expect_errno EINVAL $HELPER modname=force_rmmod
	expect_gone force_rmmod
	[ "$(module_names)" = "$before" ] || fail "/sys/module changed"
}

# busydev_held_open: busydev loaded and /dev/busydev held open by a
# sleeping process ($sleeper): refcnt 1, rmmod refuses.
busydev_held_open() {
	expect_ok insmod $M/busydev.ko
	wait_until test -c /dev/busydev || fail "/dev/busydev did not appear"
	# shellcheck disable=SC2217 # the open file is the point, not the input
	sleep 3600 </dev/busydev &
	sleeper=$!
	wait_until grep -qx 1 /sys/module/busydev/refcnt
	expect_refcnt busydev 1
	expect_refused "$IN_USE" rmmod busydev
}

# close_and_repair_busydev: after a reset of busydev's open-file reference,
# the sleeper closes the file, which drives the count to -1; a repair
# (fix_negative=1: the -1 stays) brings it back and busydev unloads.
close_and_repair_busydev() {
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null
	wait_until refcnt_is busydev -1
	expect_refcnt busydev -1
	expect_ok insmod $HELPER modname=busydev fix_negative=1
	expect_refcnt busydev 0 && expect_ok rmmod busydev
	expect_gone busydev
	expect_ok rmmod force_rmmod
}

# 9. busydev is really in use: a sleeping process holds /dev/busydev open.
#    The helper finds the open file (its file_operations belong to
#    busydev), names the process and the path, and refuses (ETXTBSY):
#    every reference is real. With force_real=1 it resets anyway, the
#    documented danger: closing the file then drops the real reference on
#    top of the reset and the count goes below idle (-1); a repair
#    (fix_negative=1: the -1 stays) brings it back and busydev unloads.
#    rmmod is never tried while the file is open: it would succeed and free
#    code that the file's release still calls.
scenario_really_in_use() {
	busydev_held_open
	expect_errno ETXTBSY $HELPER modname=busydev
	expect_gone force_rmmod
	expect_log "force_rmmod: busydev: explained: pid $sleeper \(sleep\) holds /dev/busydev open" \
		"the helper did not name the process and the file"
	expect_log "force_rmmod: busydev: all 1 reference\(s\) are held for a reason" \
		"the helper did not say why it refused"
	expect_refcnt busydev 1
	dmesg -c >/dev/null
	expect_ok insmod $HELPER modname=busydev force_real=1
	# A warning means KERN_WARNING or worse (<0>..<4> in the raw log); the
	# kernel's own one-time "taints kernel" notices do not count.
	dmesg -r | grep -E '^<[0-2]>' | grep -q 'force_rmmod: busydev: force_real=1' ||
		fail "force_real=1 did not give the louder (critical) warning"
	expect_refcnt busydev 0
	expect_ok rmmod force_rmmod
	close_and_repair_busydev
}

# busydev_open_and_leaked: busydev with two references, one leaked by
# leak_other and one real (a sleeping process, $sleeper, holds it open).
busydev_open_and_leaked() {
	expect_ok insmod $M/leak_other.ko target=busydev
	expect_ok insmod $M/busydev.ko
	expect_ok rmmod leak_other
	wait_until test -c /dev/busydev || fail "/dev/busydev did not appear"
	# shellcheck disable=SC2217 # the open file is the point, not the input
	sleep 3600 </dev/busydev &
	sleeper=$!
	wait_until grep -qx 2 /sys/module/busydev/refcnt
}

# 9b. One real reference (an open file) and one leaked (leak_other): the
#     reset removes only the leaked one, busydev still cannot be removed
#     while the file is open, and goes once the process is gone.
scenario_open_file_and_leak() {
	busydev_open_and_leaked
	expect_refcnt busydev 2
	expect_ok insmod $HELPER modname=busydev
	expect_log "force_rmmod: busydev: the 1 reference\(s\) held for a reason stay counted" \
		"the helper did not keep the open file's reference"
	expect_refcnt busydev 1
	expect_ok rmmod force_rmmod
	expect_refused "$IN_USE" rmmod busydev
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null
	wait_until grep -qx 0 /sys/module/busydev/refcnt
	expect_refcnt busydev 0
	expect_ok rmmod busydev
	expect_gone busydev
}

# 9c. tinyfs is mounted: the superblock's reference is real. The helper
#     finds the filesystem among the mounted types, refuses, and unload
#     names the mount point (exit 29); after umount tinyfs goes.
scenario_mounted_fs() {
	expect_ok insmod $M/tinyfs.ko
	mkdir -p /mnt/tiny
	expect_ok mount -t frgtinyfs none /mnt/tiny
	expect_refcnt tinyfs 1
	expect_rc 29 "$FRG" unload tinyfs --yes --ko "$UNLOAD_KO"
	expect_out "frgtinyfs mounted at /mnt/tiny (umount /mnt/tiny)"
	expect_gone force_rmmod
	expect_refcnt tinyfs 1
	expect_ok umount /mnt/tiny
	expect_refcnt tinyfs 0
	expect_ok rmmod tinyfs
	expect_gone tinyfs
}

# 9d. unload --dry-run --json lists each reference found: the open file
#     (explained) and the leaked one (unexplained), and changes nothing.
scenario_unload_dry_run_json() {
	busydev_open_and_leaked
	json=$("$FRG" unload busydev --dry-run --json --ko "$UNLOAD_KO" 2>/dev/null)
	rc=$?
	echo "$json" | sed 's/^/  | /'
	[ $rc -eq 0 ] || fail "unload --dry-run --json exited $rc"
	for want in '"kind": "open-file"' "\"pid\": $sleeper" '"path": "/dev/busydev"' \
		'"references": 2' '"unexplained": 1'; do
		case $json in
		*"$want"*) ;;
		*) fail "the JSON report does not say $want" ;;
		esac
	done
	expect_refcnt busydev 2
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null
	wait_until grep -qx 1 /sys/module/busydev/refcnt
	expect_ok "$FRG" unload busydev --yes --ko "$UNLOAD_KO"
	expect_gone busydev
}

# 10. provider has a real user (holder, one reference) and a leaked one
#     (leak_other). With force_deps=1 the helper keeps the user's reference:
#     the count goes from 2 to 1, not 0, so removing holder later brings it
#     to 0 and provider goes, with no BUG in delete_module. Where the
#     helper cannot count users safely (no module_mutex: ring walk) it
#     refuses and changes nothing; holder is removed first, then the plain
#     reset works.
scenario_force_deps_kept() {
	expect_ok insmod $M/leak_other.ko target=provider
	expect_ok insmod $M/provider.ko
	expect_ok insmod $M/holder.ko
	expect_ok rmmod leak_other
	expect_refcnt provider 2
	if [ "$(cat /e2e/helper/lookup)" = find_module ]; then
		expect_ok insmod $HELPER modname=provider force_deps=1
		expect_log "force_rmmod: force_deps=1: provider keeps the 1 reference" \
			"the helper did not say it kept the user's reference"
		expect_refcnt provider 1
		expect_ok rmmod force_rmmod
		expect_ok rmmod holder
		expect_refcnt provider 0
	else
		expect_errno EBUSY $HELPER modname=provider force_deps=1
		expect_log "force_rmmod: .*cannot be counted safely" \
			"the helper did not say why it refused"
		expect_gone force_rmmod
		expect_refcnt provider 2
		expect_ok rmmod holder
		expect_refcnt provider 1
		expect_ok insmod $HELPER modname=provider
		expect_refcnt provider 0
		expect_ok rmmod force_rmmod
	fi
	expect_ok rmmod provider
	expect_gone provider
}

# 11. Stress: for STRESS_SECONDS, one loop loads and removes a holder of
#     busydev (busyuser) and an unrelated module (provider), another opens
#     and closes /dev/busydev (takes and drops references), and the
#     foreground loads the helper against busydev again and again: dry
#     runs, and real runs with expect=0, which change the count only while
#     it is idle and otherwise must refuse (EAGAIN: it moved; EBUSY: a
#     holder; ETXTBSY: an open file holds every reference). Every load
#     must end in one of those clear results, the kernel must not warn or
#     oops, and busydev must unload at the end.
STRESS_SECONDS=${STRESS_SECONDS:-15}

stress_holders() {
	while [ ! -e /tmp/stress.stop ]; do
		insmod $M/busyuser.ko 2>/dev/null
		insmod $M/provider.ko 2>/dev/null
		rmmod busyuser 2>/dev/null
		rmmod provider 2>/dev/null
	done
}

stress_refs() {
	while [ ! -e /tmp/stress.stop ]; do
		: </dev/busydev
	done
}

scenario_stress() {
	mkdir -p /tmp
	rm -f /tmp/stress.stop
	expect_ok insmod $M/busydev.ko
	wait_until test -c /dev/busydev || fail "/dev/busydev did not appear"
	stress_holders &
	holders=$!
	stress_refs &
	refs=$!
	loads=0 changed=0 unclear=""
	end=$(($(date +%s) + STRESS_SECONDS))
	while [ "$(date +%s)" -lt $end ]; do
		for params in "dry_run=1" "expect=0"; do
			out=$(modcall $HELPER modname=busydev $params 2>&1)
			loads=$((loads + 1))
			case $out in
			*"errno 0 "* | *" ok"*) changed=$((changed + 1)); rmmod force_rmmod ;;
			*"errno EAGAIN "* | *"errno EBUSY "* | *"errno ETXTBSY "*) ;;
			*) unclear="$unclear; $params: $out" ;;
			esac
		done
	done
	touch /tmp/stress.stop
	wait $holders $refs
	echo "  $loads helper loads, $changed went through"
	[ -z "$unclear" ] || fail "unclear helper results${unclear}"
	# Under TCG on a loaded host a load takes up to a second; a handful of
	# rounds still interleave with hundreds of gets, puts and holder loads.
	[ $loads -ge 6 ] || fail "only $loads helper loads in ${STRESS_SECONDS}s"
	expect_gone force_rmmod
	[ -d /sys/module/busyuser ] && expect_ok rmmod busyuser
	[ -d /sys/module/provider ] && expect_ok rmmod provider
	expect_refcnt busydev 0
	expect_ok rmmod busydev
	expect_gone busydev
}

# --- scenarios only some kernels have (listed per kernel in tests/kernels) ---

# cpus_in_log NAME WHEN: how many different CPUs the helper's per-CPU lines
# "NAME: WHEN: cpuN incs=.. decs=.." (era B: one counter, "cpuN ref=..")
# name in this scenario's kernel log.
cpus_in_log() {
	dmesg | grep -oE "$1: $2: cpu[0-9]+ [a-z]+=-?[0-9]+" |
		sed -E 's/.*: cpu([0-9]+) .*/\1/' | sort -u | wc -l
}

# The seed's shape on a per-CPU count (era D): pcpu_leak takes three
# references on victim with __module_get() on one CPU and drops two on
# another. The helper must log both CPUs' counters and reset every CPU:
# resetting one CPU would leave the other's difference (the era D negative
# control does exactly that and must fail here).
scenario_percpu_leak() {
	expect_ok insmod $M/pcpu_leak.ko
	expect_ok insmod $M/victim.ko
	expect_refcnt victim 1
	expect_log "pcpu_leak: cpu[0-9]+: 3 x __module_get\\(victim\\)" "pcpu_leak did not take its references"
	expect_log "pcpu_leak: cpu[0-9]+: 2 x module_put\\(victim\\)" "pcpu_leak did not drop its references"
	expect_ok rmmod pcpu_leak
	expect_refused "$IN_USE" rmmod victim
	expect_ok insmod $HELPER modname=victim
	expect_refcnt victim 0
	n=$(cpus_in_log victim before)
	echo "  per-CPU lines before the reset: $n CPUs"
	[ "$n" -ge 2 ] || fail "the helper logged the counters of $n CPU(s), expected 2"
	expect_ok rmmod victim
	expect_gone victim
	expect_ok rmmod force_rmmod
}

# Before 3.7 no kernel has iterate_fd(): the helper cannot see open files.
# busydev held open by a sleeping process: the helper says so ("not
# checked: open files") and resets the count like a leak (the documented
# danger, README "The danger"); closing the file then drives it to -1, a
# repair (fix_negative=1) brings it back and busydev unloads. rmmod is
# never tried while the file is open.
scenario_open_files_not_checked() {
	busydev_held_open
	expect_ok insmod $HELPER modname=busydev
	expect_log "force_rmmod: busydev: not checked: open files" \
		"the helper did not say that it cannot see open files"
	expect_refcnt busydev 0
	expect_ok rmmod force_rmmod
	close_and_repair_busydev
}

# Before iterate_supers_type() was exported (3.1) the helper cannot see
# mounted filesystems either: with tinyfs mounted it says so ("not checked:
# mounted filesystems") and resets the superblock's reference; the umount
# then drives the count to -1, the repair brings it back, tinyfs unloads.
scenario_mounted_fs_not_checked() {
	expect_ok insmod $M/tinyfs.ko
	mkdir -p /mnt/tiny
	expect_ok mount -t frgtinyfs none /mnt/tiny
	expect_refcnt tinyfs 1
	expect_refused "$IN_USE" rmmod tinyfs
	expect_ok insmod $HELPER modname=tinyfs
	expect_log "force_rmmod: tinyfs: not checked: mounted filesystems" \
		"the helper did not say that it cannot see mounted filesystems"
	expect_refcnt tinyfs 0
	expect_ok rmmod force_rmmod
	expect_ok umount /mnt/tiny
	expect_refcnt tinyfs -1
	expect_ok insmod $HELPER modname=tinyfs fix_negative=1
	expect_refcnt tinyfs 0 && expect_ok rmmod tinyfs
	expect_gone tinyfs
	expect_ok rmmod force_rmmod
}

# wait_going NAME: wait until NAME's initstate is "going".
wait_going() {
	wait_until grep -qx going "/sys/module/$1/initstate"
}

# no_task_in_d: no task sleeps uninterruptibly (state D) any more. Where
# /proc cannot be listed (LISTS_DIRS=0): every pid up to the last one
# given out (/proc/loadavg), with the shell's own read.
no_task_in_d() {
	if [ $LISTS_DIRS = 1 ]; then
		d=$(grep -l ') D ' /proc/[0-9]*/stat 2>/dev/null)
	else
		d="" pid=1 tasks=0 last=$(cut -d' ' -f5 /proc/loadavg)
		while [ $pid -le "$last" ]; do
			if [ -r /proc/$pid/stat ] && read -r stat 2>/dev/null </proc/$pid/stat; then
				tasks=$((tasks + 1))
				case $stat in
				*") D "*) d="$d /proc/$pid/stat" ;;
				esac
			fi
			pid=$((pid + 1))
		done
		echo "  state D: read the state of $tasks tasks (pids 1 to $last)"
		[ $tasks -ge 2 ] || fail "found only $tasks tasks in /proc"
	fi
	[ -z "$d" ] || fail "tasks still in state D: $d"
}

# start_blocking_rmmod NAME: rmmod_wait NAME in the background (the
# blocking delete_module); it must go to sleep with NAME GOING.
start_blocking_rmmod() {
	rmmod_wait "$1" >/tmp/rmmod_wait.out 2>&1 &
	WAITER=$!
	wait_going "$1" || fail "$1 did not go GOING under a blocking rmmod"
	sleep 1
	kill -0 "$WAITER" 2>/dev/null || fail "the blocking rmmod returned: $(cat /tmp/rmmod_wait.out)"
	echo "  blocking rmmod $1 (pid $WAITER) sleeps; initstate $(cat "/sys/module/$1/initstate" 2>/dev/null)"
}

# finish_blocking_rmmod NAME: the sleeping rmmod must return 0 within 5 s.
finish_blocking_rmmod() {
	if ! wait_until sh -c "! kill -0 $WAITER"; then
		fail "the blocking rmmod still sleeps"
		return
	fi
	wait "$WAITER"
	rc=$?
	echo "  blocking rmmod returned $rc: $(cat /tmp/rmmod_wait.out)"
	[ "$rc" -eq 0 ] || fail "the blocking rmmod returned $rc: $(cat /tmp/rmmod_wait.out)"
	expect_gone "$1"
	no_task_in_d
}

# The blocking rmmod (kernels up to 3.12, RHEL/CentOS 7): delete_module()
# without O_NONBLOCK marks leak_self GOING and sleeps until the count drops.
# The helper refuses a module that is not live (EBUSY) unless wake_waiter=1,
# which resets the count and wakes the sleeper; its rmmod then returns 0.
scenario_blocking_rmmod() {
	mkdir -p /tmp
	expect_ok insmod $M/leak_self.ko
	expect_refcnt leak_self 1
	start_blocking_rmmod leak_self
	expect_errno EBUSY $HELPER modname=leak_self
	expect_gone force_rmmod
	expect_log "force_rmmod: .*leak_self.*not live" "the helper did not say leak_self is not live"
	kill -0 "$WAITER" 2>/dev/null || fail "the blocking rmmod returned before the wake"
	expect_ok insmod $HELPER modname=leak_self wake_waiter=1
	expect_log "force_rmmod: .*waking" "the helper did not say it wakes the rmmod"
	finish_blocking_rmmod leak_self
	expect_ok rmmod force_rmmod
	expect_gone force_rmmod
}

# `force-rmmod-gen unload` on a module a blocking rmmod left GOING: without
# --yes it explains wake_waiter=1 and changes nothing; with --yes it loads
# the helper with wake_waiter=1, the sleeping rmmod removes the module.
scenario_unload_going() {
	mkdir -p /tmp
	expect_ok insmod $M/leak_self.ko
	start_blocking_rmmod leak_self
	expect_rc 24 "$FRG" unload leak_self --ko "$UNLOAD_KO" </dev/null
	expect_out "wake_waiter=1"
	expect_out "--yes"
	expect_loaded leak_self
	no_helper_ran
	expect_rc 0 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO"
	expect_out "wake_waiter=1"
	finish_blocking_rmmod leak_self
	expect_gone force_rmmod
}

# --- the signing boot (module.sig_enforce=1) ------------------------------------
# The test modules in /e2e/signed are signed by the harness with the tree's
# key (fixtures); the helper stays unsigned, as the tool's build leaves it.

SIGNED=/e2e/signed
SIGN_KEY=/e2e/signing/signing_key.priv
SIGN_CERT=/e2e/signing/signing_key.x509

# The kernel enforces signatures; an unsigned helper is refused by the tool
# with the signing error (exit 28) before anything is loaded.
scenario_sig_unsigned_refused() {
	expect_log_sig_enforced
	expect_ok insmod $SIGNED/leak_self.ko
	expect_refcnt leak_self 1
	expect_rc 28 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO"
	expect_out "only loads signed modules"
	expect_out "--sign-key"
	no_helper_ran
	expect_refcnt leak_self 1
	# The kernel itself refuses the unsigned helper too.
	run insmod "$UNLOAD_KO" modname=leak_self
	[ "$RC" -ne 0 ] || fail "the kernel loaded an unsigned helper under module.sig_enforce=1"
	expect_gone force_rmmod
}

# With the tree's own key the tool signs a copy of the helper itself
# (the tree's scripts/sign-file), loads it and removes the stuck module.
scenario_sig_signed_unload() {
	[ -d /sys/module/leak_self ] || expect_ok insmod $SIGNED/leak_self.ko
	expect_refcnt leak_self 1
	expect_rc 0 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO" \
		--sign-key "$SIGN_KEY" --sign-cert "$SIGN_CERT"
	expect_out "signed a copy"
	expect_out "removed with the helper"
	expect_gone leak_self
	expect_gone force_rmmod
}

expect_log_sig_enforced() {
	v=$(cat /sys/module/module/parameters/sig_enforce 2>/dev/null)
	echo "  sig_enforce: $v"
	[ "$v" = Y ] || fail "module.sig_enforce is '$v', expected Y"
}

# --- main -----------------------------------------------------------------------

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# The `force-rmmod-gen unload` scenarios use the helpers above.
. /e2e/unload-scenarios.sh
# The `force-rmmod-gen trace` scenarios use both.
. /e2e/trace-scenarios.sh

# Where no fixed address range holds every module (every machine but
# x86_64: arm64 places modules anywhere near the kernel under KASLR), the
# ring walk needs the module list head's address, listhead=, as an admin
# passes it: from /proc/kallsyms, or, where the kernel lists no data symbols
# there (no CONFIG_KALLSYMS_ALL), as `unload` finds it (the "list head"
# line of its report), starting from a loaded module.
HELPER_ARGS=""
if [ "$(uname -m)" != x86_64 ]; then
	head=$(awk '$3 == "modules" && $2 ~ /^[dDbB]$/ && NF == 3 { print "0x" $1 }' /proc/kallsyms)
	if [ -z "$head" ]; then
		insmod $M/provider.ko
		head=$("$FRG" unload provider --dry-run 2>&1 | sed -n 's/^list head *\(0x[0-9a-f]*\).*/\1/p')
		rmmod provider
	fi
	echo "module list head: ${head:-not found}"
	HELPER_ARGS=" listhead=$head"
	HELPER="$GOOD_HELPER$HELPER_ARGS"
fi

# Which boot this is: e2e_boot=sig on the kernel command line runs only the
# signing scenarios (/e2e/sig-scenarios), in a boot with module.sig_enforce=1.
BOOT=main
case " $(cat /proc/cmdline) " in
*" e2e_boot=sig "*) BOOT=sig ;;
esac

echo "module tools: $MODTOOLS"
echo "E2E START kernel $(uname -r), boot $BOOT, $(grep -c ^processor /proc/cpuinfo) CPUs, tainted $(cat /proc/sys/kernel/tainted)"
if [ $BOOT = sig ]; then
	# shellcheck disable=SC2013 # one word per line by construction
	for name in $(grep -v '^#' /e2e/sig-scenarios); do
		run_scenario "$name" "scenario_$name"
	done
else
	# shellcheck disable=SC2013 # one word per line by construction
	for name in $(grep -v '^#' /e2e/scenarios); do
		run_scenario "$name" "scenario_$name"
	done

	# Last, because it is meant to crash the kernel: a leak scenario again
	# (/e2e/negative names it: leaked_self, or percpu_leak where the count
	# is per CPU) with the wrong helper. The harness expects it to FAIL.
	read -r NEG_SCENARIO NEG_TARGET </e2e/negative
	echo "negative control: scenario $NEG_SCENARIO, target $NEG_TARGET"
	HELPER=$BAD_HELPER
	run_scenario negative_control "scenario_$NEG_SCENARIO"
fi

echo "E2E DONE"
poweroff -f
