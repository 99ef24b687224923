#!/bin/sh
#
# /init of the e2e initramfs that tests/e2e/run builds for each kernel.
#
# Runs every scenario listed in /e2e/scenarios against the helper built by
# force-rmmod-gen (/e2e/helper/force_rmmod.ko), then the debug kernel's
# negative controls listed in /e2e/caught (a module with a real bug, which
# the kernel-log checks must catch), then the negative control:
# the leaked_self scenario again, unchanged, with a deliberately wrong helper
# (/e2e/bad/force_rmmod.ko, sets an era E refcnt to 0). For each it prints
#
#	BEGIN <scenario>
#	RESULT <scenario> PASS
#	RESULT <scenario> FAIL <reason>
#
# and powers off. A reason starting with "kernel:" means the kernel itself
# was hurt (oops, BUG, warning, a KASAN or lockdep report). Everything else
# on the console is a log for people. The harness counts a missing RESULT
# as a FAIL: the kernel booted with oops=panic, so an oops ends the VM
# before the RESULT line.
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
	lsmod() { /sbin/lsmod "$@"; }
else
	MODTOOLS=busybox
	IN_USE="Resource temporarily unavailable"
	insmod() { busybox insmod "$@"; }
	rmmod() { busybox rmmod "$@"; }
	lsmod() { busybox lsmod "$@"; }
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

# The kernel's own reports of a bug, one "TAG|TEXT" a line: a scenario whose
# kernel log holds TEXT fails with "kernel: TAG: <that log line>". Most of
# them come from the debug kernel's detectors (KASAN, lockdep, the
# sleep-in-atomic check, RCU's checks, list debugging); a production kernel
# never prints them, so the check costs nothing there. The generic texts
# (GENERIC_TAGS) count only when no specific report did: every specific
# report comes with them.
KERNEL_REPORTS='kasan|BUG: KASAN
lockdep|possible circular locking dependency
lockdep|possible recursive locking
lockdep|possible irq lock inversion
lockdep|lock order detected
lockdep|inconsistent lock state
lockdep|Invalid wait context
lockdep|lock held when returning
lockdep|lock held at task exit
lockdep|held lock freed
lockdep|bad unlock balance
lockdep|turning off the locking correctness validator
atomic_sleep|BUG: sleeping function called from invalid context
atomic_sleep|BUG: scheduling while atomic
rcu|suspicious RCU usage
rcu|self-detected stall
rcu|detected stalls on CPUs
rcu|RCU stall
list|list_add corruption
list|list_del corruption
debug_objects|ODEBUG:
warning|WARNING:
oops|Oops
bug|BUG:
call_trace|Call Trace'
GENERIC_TAGS=" oops bug call_trace "

TAINT_B=32			# bit 5: bad page (KASAN reports set it)
TAINT_D=128			# bit 7: the kernel oopsed
TAINT_W=512			# bit 9: the kernel warned (WARN_ON)

# lockdep_on: 1 while lockdep validates, 0 once a report (its own or KASAN's)
# switched it off for good, "none" without lockdep (production kernels).
lockdep_on() {
	v=$(sed -n 's/^ *debug_locks: *//p' /proc/lockdep_stats 2>/dev/null)
	echo "${v:-none}"
}

# log_reports LOG: what LOG says went wrong, as "TAG: line, TAG: line";
# nothing when it is clean. Each log line is named once, by its first tag.
log_reports() {
	found=""
	seen=""
	specific=0
	while IFS='|' read -r tag text; do
		generic=0
		case $GENERIC_TAGS in
		*" $tag "*) generic=1 ;;
		esac
		[ $generic -eq 1 ] && [ $specific -eq 1 ] && continue
		line=$(printf '%s\n' "$1" | grep -m1 -F -- "$text" | sed 's/^\[[^]]*\] *//')
		[ -n "$line" ] || continue
		case $seen in
		*"|$line|"*) continue ;;
		esac
		seen="$seen|$line|"
		[ $generic -eq 1 ] || specific=1
		found="$found, $tag: $line"
	done <<EOF
$KERNEL_REPORTS
EOF
	echo "${found#, }"
}

# kernel_health: after every scenario, the kernel must not have oopsed,
# warned or reported a bug. dmesg was cleared when the scenario began, so
# what it shows now belongs to this scenario; taint bits and lockdep's
# off switch are sticky, so only what changed during the scenario counts.
kernel_health() {
	bad=$(log_reports "$(dmesg)")
	bad=${bad:+, $bad}
	taint=$(cat /proc/sys/kernel/tainted)
	new=$((taint & ~TAINT_BEFORE))
	[ $((new & TAINT_B)) -ne 0 ] && bad="$bad, taint B (bad page) set"
	[ $((new & TAINT_D)) -ne 0 ] && bad="$bad, taint D (oops) set"
	[ $((new & TAINT_W)) -ne 0 ] && bad="$bad, taint W (warning) set"
	lockdep=$(lockdep_on)
	[ "$LOCKDEP_BEFORE" = 1 ] && [ "$lockdep" != 1 ] && bad="$bad, lockdep switched itself off"
	echo "  tainted: $TAINT_BEFORE -> $taint, lockdep: $LOCKDEP_BEFORE -> $lockdep"
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
	LOCKDEP_BEFORE=$(lockdep_on)
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
	expect_ok insmod $HELPER modname=leak_self expect=1
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
	expect_ok insmod $HELPER modname=victim expect=1
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
	expect_errno EBUSY $HELPER modname=provider expect=1
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
	expect_errno ENOENT $HELPER modname=no_such_module expect=0
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
	expect_ok insmod $HELPER modname=leak_self expect=1
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
		expect_errno EAGAIN $HELPER modname=negcount expect=-1
		expect_gone force_rmmod
		expect_log "force_rmmod: negcount: .*fix_negative=1" \
			"the helper did not ask for fix_negative=1"
		expect_ok insmod $HELPER modname=negcount expect=-1 fix_negative=1
	else
		expect_ok insmod $HELPER modname=negcount expect=-1
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
	expect_ok insmod $HELPER modname=leak_self expect=1
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
	expect_ok insmod $HELPER modname=busydev expect=-1 fix_negative=1
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
	expect_errno ETXTBSY $HELPER modname=busydev expect=1
	expect_gone force_rmmod
	expect_log "force_rmmod: busydev: explained: pid $sleeper \(sleep\) holds /dev/busydev open" \
		"the helper did not name the process and the file"
	expect_log "force_rmmod: busydev: all 1 reference\(s\) are held for a reason" \
		"the helper did not say why it refused"
	expect_refcnt busydev 1
	dmesg -c >/dev/null
	expect_ok insmod $HELPER modname=busydev expect=1 force_real=1
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
	expect_ok insmod $HELPER modname=busydev expect=2
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

# 9c. A character device on a cdev the module owns: each open file holds
#     two references (cdev_get() and fops_get()). With one leaked besides,
#     the reset keeps both of the file's and removes only the leak; the
#     module goes once the file is closed.
scenario_open_cdev_and_leak() {
	expect_ok insmod $M/leak_other.ko target=cdevdev
	expect_ok insmod $M/cdevdev.ko
	expect_ok rmmod leak_other
	major=$(awk '$2 == "cdevdev" { print $1 }' /proc/devices)
	[ -n "$major" ] || fail "cdevdev is not in /proc/devices"
	mknod /dev/cdevdev c "$major" 0
	# shellcheck disable=SC2217 # the open file is the point, not the input
	sleep 3600 </dev/cdevdev &
	sleeper=$!
	wait_until grep -qx 3 /sys/module/cdevdev/refcnt
	expect_refcnt cdevdev 3
	expect_ok insmod $HELPER modname=cdevdev expect=3
	expect_log "force_rmmod: cdevdev: explained: pid $sleeper \(sleep\) holds /dev/cdevdev open \(fd 0\): 2 references" \
		"the helper did not count the cdev's reference of the open file"
	expect_refcnt cdevdev 2
	expect_ok rmmod force_rmmod
	expect_refused "$IN_USE" rmmod cdevdev
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null
	wait_until grep -qx 0 /sys/module/cdevdev/refcnt
	expect_refcnt cdevdev 0
	expect_ok rmmod cdevdev
	expect_gone cdevdev
	rm -f /dev/cdevdev
}

# hidden_holder MODE: busydev with one leaked reference (leak_other) and one
# real one that holdopen MODE holds where a scan of thread-group leaders'
# descriptor tables does not look; $holder is its pid.
hidden_holder() {
	expect_ok insmod $M/leak_other.ko target=busydev
	expect_ok insmod $M/busydev.ko
	expect_ok rmmod leak_other
	wait_until test -c /dev/busydev || fail "/dev/busydev did not appear"
	holdopen "$1" /dev/busydev >/tmp/holdopen.out 2>&1 &
	holder=$!
	wait_until grep -q ready /tmp/holdopen.out || fail "holdopen $1 did not get ready: $(cat /tmp/holdopen.out)"
	sleep 1
	wait_until grep -qx 2 /sys/module/busydev/refcnt
	expect_refcnt busydev 2
}

# The reset must keep the hidden real reference and remove only the leak:
# busydev then stays until holdopen is gone, and goes after it.
reset_keeps_hidden_holder() {
	expect_ok insmod $HELPER modname=busydev expect=2
	expect_log "force_rmmod: busydev: explained: pid [0-9]+ \(holdopen\) (holds|has|maps) /dev/busydev" \
		"the helper did not find the reference $1"
	expect_refcnt busydev 1
	expect_ok rmmod force_rmmod
	if refcnt_is busydev 1; then
		expect_refused "$IN_USE" rmmod busydev
	fi
	kill "$holder"
	wait "$holder" 2>/dev/null
	wait_until grep -qx 0 /sys/module/busydev/refcnt
	expect_refcnt busydev 0 && expect_ok rmmod busydev
	expect_gone busydev
}

# 9c. The main thread called pthread_exit(): its task has no descriptor
#     table, another thread of the process holds the file.
scenario_open_by_thread_only() {
	mkdir -p /tmp
	hidden_holder leader-exit
	reset_keeps_hidden_holder "of a thread whose leader exited"
}

# 9d. A thread with a descriptor table of its own (unshare(CLONE_FILES)).
scenario_open_in_own_table() {
	mkdir -p /tmp
	hidden_holder own-table
	reset_keeps_hidden_holder "in a thread's own descriptor table"
}

# 9e. The file is mapped and its descriptor closed: only the mapping holds it.
scenario_mapped_closed() {
	mkdir -p /tmp
	hidden_holder mapped
	reset_keeps_hidden_holder "held by a mapping"
}

# 9f. tinyfs unmounted lazily while a process sits in it: the superblock
#     lives on, in no mount table. One leaked reference besides: the reset
#     keeps the superblock's. Without the filesystem lists (no kallsyms
#     data symbols) the helper refuses instead (ENODATA).
scenario_lazy_umount() {
	mkdir -p /tmp /mnt/tiny
	expect_ok insmod $M/leak_other.ko target=tinyfs
	expect_ok insmod $M/tinyfs.ko
	expect_ok rmmod leak_other
	expect_ok mount -t frgtinyfs none /mnt/tiny
	sh -c 'cd /mnt/tiny && exec sleep 3600' &
	sitter=$!
	sleep 1
	expect_ok umount -l /mnt/tiny
	grep -q frgtinyfs /proc/self/mountinfo && fail "frgtinyfs is still in the mount table"
	expect_refcnt tinyfs 2
	if [ -n "$UNCHECKED_OK" ]; then
		# The helper's parameters without unchecked_ok=1 (set in this case).
		checking=${HELPER% unchecked_ok=1*}${HELPER#* unchecked_ok=1}
		expect_errno ENODATA $checking modname=tinyfs expect=2
		expect_refcnt tinyfs 2
	else
		expect_ok insmod $HELPER modname=tinyfs expect=2
		expect_log "force_rmmod: tinyfs: explained: filesystem frgtinyfs, 1 superblock" \
			"the helper did not find the lazily unmounted superblock"
		expect_refcnt tinyfs 1
		expect_ok rmmod force_rmmod
	fi
	kill "$sitter"
	wait "$sitter" 2>/dev/null
	wait_until grep -qx '[01]' /sys/module/tinyfs/refcnt
	if refcnt_is tinyfs 1; then
		expect_ok insmod $HELPER modname=tinyfs expect=1
		expect_ok rmmod force_rmmod
	fi
	expect_refcnt tinyfs 0 && expect_ok rmmod tinyfs
	expect_gone tinyfs
}

# 9g. A reset without expect= (the count the caller saw) is refused: it
#     could remove a reference taken a moment ago.
scenario_expect_required() {
	expect_ok insmod $M/leak_self.ko
	expect_errno EINVAL $HELPER modname=leak_self
	expect_log "force_rmmod: expect= is required" "the helper did not ask for expect="
	expect_refcnt leak_self 1
	expect_ok insmod $HELPER modname=leak_self expect=1
	expect_ok rmmod leak_self
	expect_ok rmmod force_rmmod
	expect_gone leak_self
}

# 9h. unload with one open file and one leak: the leak goes, the open
#     file's reference stays, and that is the intended outcome (exit 35,
#     nothing undone); busydev goes once the file is closed.
scenario_unload_partial() {
	busydev_open_and_leaked
	expect_rc 35 "$FRG" unload busydev --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_out "the 1 leaked reference(s) were removed; 1 reference(s) held for a reason remain"
	expect_out "pid $sleeper (sleep) holds /dev/busydev open"
	expect_refcnt busydev 1
	expect_loaded busydev
	expect_gone force_rmmod
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null
	wait_until grep -qx 0 /sys/module/busydev/refcnt
	expect_refcnt busydev 0 && expect_ok rmmod busydev
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
	if [ -n "$UNCHECKED_OK" ]; then
		# No filesystem lists in kallsyms: the superblock cannot be
		# checked, and nothing is reset without --unchecked-ok.
		expect_rc 36 "$FRG" unload tinyfs --yes --ko "$UNLOAD_KO"
		expect_out "could not check every kind of reference"
	else
		expect_rc 29 "$FRG" unload tinyfs --yes --ko "$UNLOAD_KO"
		expect_out "frgtinyfs mounted at /mnt/tiny (umount /mnt/tiny)"
	fi
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
	json=$("$FRG" unload busydev --dry-run --json --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"} 2>/dev/null)
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
	expect_ok "$FRG" unload busydev --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
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
		expect_ok insmod $HELPER modname=provider expect=2 force_deps=1
		expect_log "force_rmmod: force_deps=1: provider keeps the 1 reference" \
			"the helper did not say it kept the user's reference"
		expect_refcnt provider 1
		expect_ok rmmod force_rmmod
		expect_ok rmmod holder
		expect_refcnt provider 0
	else
		expect_errno EBUSY $HELPER modname=provider expect=2 force_deps=1
		expect_log "force_rmmod: .*cannot be counted safely" \
			"the helper did not say why it refused"
		expect_gone force_rmmod
		expect_refcnt provider 2
		expect_ok rmmod holder
		expect_refcnt provider 1
		expect_ok insmod $HELPER modname=provider expect=1
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
STRESS_MIN_LOADS=6

# slow_kernel: this kernel runs several times slower under TCG than a
# production one (e2e_slow= on the command line: tests/kernels.toml's boot key).
slow_kernel() {
	slow=$(sed -n 's/.* e2e_slow=\([0-9]*\).*/\1/p' /proc/cmdline)
	[ "${slow:-1}" -gt 1 ]
}

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
	# On a slow kernel (KASAN + lockdep) a helper load takes seconds: the
	# loop runs twice as long, and fewer loads still interleave with
	# hundreds of gets and puts.
	if slow_kernel; then
		STRESS_SECONDS=30
		STRESS_MIN_LOADS=3
	fi
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
	[ $loads -ge $STRESS_MIN_LOADS ] || fail "only $loads helper loads in ${STRESS_SECONDS}s"
	expect_gone force_rmmod
	[ -d /sys/module/busyuser ] && expect_ok rmmod busyuser
	[ -d /sys/module/provider ] && expect_ok rmmod provider
	expect_refcnt busydev 0
	expect_ok rmmod busydev
	expect_gone busydev
}

# 12. Race: for RACE_SECONDS, real users of busydev come and go (threads
#     holding it open with the leader gone, threads with their own table,
#     mappings of closed files, plain open/close, a holder module loaded and
#     removed) while `unload --yes` and the helper itself (expect= the count
#     just read) try again and again to remove a leaked reference. Every
#     run must end in a clear result; whenever busydev was removed no real
#     user may have held it (the kernel would oops when that user lets go);
#     the kernel must not warn or oops. busydev is loaded again, with a new
#     leak, after each removal.
RACE_SECONDS=${RACE_SECONDS:-20}
RACE_MIN_RUNS=6

race_holdopen() {
	while [ ! -e /tmp/race.stop ]; do
		for mode in leader-exit own-table mapped; do
			holdopen $mode /dev/busydev >/dev/null 2>&1 &
			p=$!
			sleep 0.2
			kill $p 2>/dev/null
			wait $p 2>/dev/null
		done
	done
}

race_opens() {
	while [ ! -e /tmp/race.stop ]; do
		{ : </dev/busydev; } 2>/dev/null
	done
}

race_holder() {
	while [ ! -e /tmp/race.stop ]; do
		insmod $M/busyuser.ko 2>/dev/null
		sleep 0.1
		rmmod busyuser 2>/dev/null
	done
}

# kernel_before MAJOR MINOR: the running kernel is older than MAJOR.MINOR.
kernel_before() {
	uname -r | awk -F. -v ma="$1" -v mi="$2" '{ exit !($1 < ma || ($1 == ma && $2 + 0 < mi)) }'
}

# busydev loaded with one leaked reference (leak_other took it and left).
race_target() {
	insmod $M/leak_other.ko target=busydev 2>/dev/null
	insmod $M/busydev.ko 2>/dev/null
	rmmod leak_other 2>/dev/null
	wait_until test -c /dev/busydev
}

scenario_race() {
	mkdir -p /tmp
	# On a slow kernel (KASAN + lockdep) one run, two scans of every thread
	# and a stop_machine(), takes seconds: twice as long, fewer runs.
	if slow_kernel; then
		RACE_SECONDS=40
		RACE_MIN_RUNS=4
	fi
	rm -f /tmp/race.stop
	race_target
	expect_loaded busydev
	race_holdopen &
	r1=$!
	# A close() under way (its descriptor gone, its last fput() not yet
	# done) is in no list and leaves no trace the helper can see
	# (docs/safety.md); before 3.6 it is the whole of the synchronous fput,
	# long under TCG, and the plain open/close loop would only measure that
	# documented window.
	if kernel_before 3 6; then
		echo "  no open/close loop: a close() under way is invisible and long on kernel $(uname -r)"
		r2=""
	else
		race_opens &
		r2=$!
	fi
	race_holder &
	r3=$!
	runs=0 removed=0 unclear=""
	# Where unload refuses the kernel at start (older than 3.2, exit 33),
	# the race is the helper's alone, loaded as an admin would.
	with_unload=1
	"$FRG" unload no_such_module_here >/dev/null 2>&1
	[ $? -eq 33 ] && with_unload=0
	end=$(($(date +%s) + RACE_SECONDS))
	while [ "$(date +%s)" -lt $end ]; do
		[ -d /sys/module/busydev ] || race_target
		runs=$((runs + 1))
		if [ $with_unload = 1 ] && [ $((runs % 2)) -eq 0 ]; then
			out=$("$FRG" unload busydev --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"} 2>&1)
			rc=$?
			# 0 removed, 23 refused (a holder), 26 helper refused (the
			# count moved), 27 still loaded (undone), 29 in use, 35
			# partial, 36 unchecked.
			case $rc in
			0) removed=$((removed + 1)) ;;
			23 | 26 | 27 | 29 | 35 | 36) ;;
			*) unclear="$unclear; unload exited $rc: $(echo "$out" | tail -2)" ;;
			esac
		else
			n=$(refcnt busydev)
			out=$(modcall $HELPER modname=busydev expect="$n" 2>&1)
			case $out in
			*"errno 0 "* | *" ok"*) rmmod force_rmmod ;;
			*"errno EAGAIN "* | *"errno EBUSY "* | *"errno ETXTBSY "* | *"errno ENOENT "* | *"errno ENODATA "*) ;;
			*) unclear="$unclear; helper expect=$n: $out" ;;
			esac
			[ -d /sys/module/force_rmmod ] && rmmod force_rmmod
		fi
	done
	touch /tmp/race.stop
	wait $r1 $r3 ${r2:+"$r2"}
	echo "  $runs runs, busydev removed $removed time(s)"
	[ -z "$unclear" ] || fail "unclear results${unclear}"
	[ $runs -ge $RACE_MIN_RUNS ] || fail "only $runs runs in ${RACE_SECONDS}s"
	expect_gone force_rmmod
	[ -d /sys/module/busyuser ] && expect_ok rmmod busyuser
	if [ -d /sys/module/busydev ]; then
		# Every user is gone: what is left is the leak, or nothing.
		wait_until grep -qx '[01]' /sys/module/busydev/refcnt
		if refcnt_is busydev 1; then
			expect_ok insmod $HELPER modname=busydev expect=1
			expect_ok rmmod force_rmmod
		fi
		expect_refcnt busydev 0 && expect_ok rmmod busydev
	fi
	expect_gone busydev
}

# --- scenarios only some kernels have (listed per kernel in tests/kernels.toml) ---

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
	expect_ok insmod $HELPER modname=victim expect=1
	expect_refcnt victim 0
	n=$(cpus_in_log victim before)
	echo "  per-CPU lines before the reset: $n CPUs"
	[ "$n" -ge 2 ] || fail "the helper logged the counters of $n CPU(s), expected 2"
	expect_ok rmmod victim
	expect_gone victim
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

# A blocking rmmod waits on busydev, which one leak and one open file hold:
# the module is GOING, try_module_get() fails on it, and the scan must run
# all the same (under module_mutex). wake_waiter=1 removes the leak only;
# the rmmod sleeps on until the file is closed, then removes busydev.
scenario_blocking_rmmod_real_use() {
	mkdir -p /tmp
	busydev_open_and_leaked
	start_blocking_rmmod busydev
	expect_ok insmod $HELPER modname=busydev expect=2 wake_waiter=1 waiter_pid=$WAITER
	expect_log "force_rmmod: busydev: explained: pid $sleeper \(sleep\) holds /dev/busydev open" \
		"the helper did not scan the GOING module"
	expect_refcnt busydev 1
	kill -0 "$WAITER" 2>/dev/null || fail "the blocking rmmod returned while the file is open"
	expect_ok rmmod force_rmmod
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null
	finish_blocking_rmmod busydev
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
	expect_errno EBUSY $HELPER modname=leak_self expect=1
	expect_gone force_rmmod
	expect_log "force_rmmod: .*leak_self.*not live" "the helper did not say leak_self is not live"
	kill -0 "$WAITER" 2>/dev/null || fail "the blocking rmmod returned before the wake"
	# mod->waiter may name a task long gone: the helper wakes only the
	# rmmod it is told by pid, and refuses any other.
	expect_errno EBUSY $HELPER modname=leak_self expect=1 wake_waiter=1 waiter_pid=1
	expect_ok insmod $HELPER modname=leak_self expect=1 wake_waiter=1 waiter_pid=$WAITER
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
	expect_rc 24 "$FRG" unload leak_self --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"} </dev/null
	expect_out "wake_waiter=1"
	expect_out "--yes"
	expect_loaded leak_self
	no_helper_ran
	expect_rc 0 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_out "wake_waiter=1"
	finish_blocking_rmmod leak_self
	expect_gone force_rmmod
}

# --- the debug kernel's negative controls ------------------------------------
# bad_debug commits one bug of the kind named (see bad_debug.c); the kernel
# then reports it, and kernel_health must turn that report into this
# scenario's FAIL, "kernel: TAG: <the report's line>". tests/e2e/run
# expects exactly that (a PASS here means the checks are blind). Only
# kernels with the detectors run them (key "caught" of tests/kernels.toml),
# in the order listed: a lockdep report switches lockdep off, and so does
# KASAN's, so lockdep's comes first, and KASAN's last. (A mutex under a
# spinlock is also lockdep's "Invalid wait context": after lockdep's own
# scenario it is the sleep-in-atomic check alone that must catch it.)
DEBUG_MODULE=/e2e/debug/bad_debug.ko

caught() {
	expect_ok insmod $DEBUG_MODULE "bug=$1"
	expect_ok rmmod bad_debug
	expect_gone bad_debug
}
scenario_caught_atomic_sleep() { caught atomic_sleep; }
scenario_caught_lockdep() { caught lockdep; }
scenario_caught_kasan() { caught kasan; }

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
	expect_rc 28 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
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
	expect_rc 0 "$FRG" unload leak_self --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"} \
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

# A host-side check of the scenario code (tests/e2e/demo-check.sh) sources
# this file for its helpers only.
if [ -n "${E2E_HELPERS_ONLY:-}" ]; then
	return 0
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# The `force-rmmod-gen unload` scenarios use the helpers above.
. /e2e/unload-scenarios.sh
# The `force-rmmod-gen trace` scenarios use both.
. /e2e/trace-scenarios.sh
# scripts/demo's walk-through uses all three.
. /e2e/demo.sh

# Where no fixed address range holds every module (every machine but
# x86_64: arm64 places modules anywhere near the kernel under KASLR), the
# ring walk needs the module list head's address, listhead=, as an admin
# passes it: from /proc/kallsyms, or, where the kernel lists no data symbols
# there (no CONFIG_KALLSYMS_ALL), as `unload` finds it (the "list head"
# line of its report), starting from a loaded module.
HELPER_ARGS=""
# The helper's filesystem scan needs four static symbols of fs/ that only
# /proc/kallsyms names (CONFIG_KALLSYMS_ALL), passed as `unload` passes
# them. Where they are missing (Debian's arm64 6.1) the scan cannot run,
# and a reset needs unchecked_ok=1 (unload: --unchecked-ok), as an admin
# would have to say.
fs_anchors() {
	awk 'NF == 3 && $2 ~ /^[dDbB]$/ && $3 ~ /^(file_systems|file_systems_lock|sb_lock|super_blocks)$/ {
		n[$3]++; a[$3] = $1 }
	END { if (n["file_systems"] == 1 && n["file_systems_lock"] == 1 && n["sb_lock"] == 1 && n["super_blocks"] == 1)
		printf " fs_list=0x%s fs_lock=0x%s sb_lock=0x%s super_blocks=0x%s",
			a["file_systems"], a["file_systems_lock"], a["sb_lock"], a["super_blocks"] }' /proc/kallsyms
}
UNCHECKED_OK=""
HELPER_ARGS=$(fs_anchors)
if [ -z "$HELPER_ARGS" ]; then
	echo "no file_systems/file_systems_lock/sb_lock/super_blocks in /proc/kallsyms: resets need unchecked_ok=1"
	HELPER_ARGS=" unchecked_ok=1"
	UNCHECKED_OK=--unchecked-ok
fi
HELPER="$GOOD_HELPER$HELPER_ARGS"
if [ "$(uname -m)" != x86_64 ]; then
	head=$(awk '$3 == "modules" && $2 ~ /^[dDbB]$/ && NF == 3 { print "0x" $1 }' /proc/kallsyms)
	if [ -z "$head" ]; then
		insmod $M/provider.ko
		head=$("$FRG" unload provider --dry-run 2>&1 | sed -n 's/^list head *\(0x[0-9a-f]*\).*/\1/p')
		rmmod provider
	fi
	echo "module list head: ${head:-not found}"
	HELPER_ARGS="$HELPER_ARGS listhead=$head"
	HELPER="$GOOD_HELPER$HELPER_ARGS"
fi

# Which boot this is: e2e_boot=sig on the kernel command line runs only the
# signing scenarios (/e2e/sig-scenarios), in a boot with module.sig_enforce=1;
# e2e_boot=demo only scripts/demo's walk-through (/e2e/demo.sh).
BOOT=main
case " $(cat /proc/cmdline) " in
*" e2e_boot=sig "*) BOOT=sig ;;
*" e2e_boot=demo "*) BOOT=demo ;;
esac

echo "module tools: $MODTOOLS"
echo "E2E START kernel $(uname -r), boot $BOOT, $(grep -c ^processor /proc/cpuinfo) CPUs, tainted $(cat /proc/sys/kernel/tainted)"
if [ $BOOT = demo ]; then
	run_scenario demo scenario_demo
elif [ $BOOT = sig ]; then
	# shellcheck disable=SC2013 # one word per line by construction
	for name in $(grep -v '^#' /e2e/sig-scenarios); do
		run_scenario "$name" "scenario_$name"
	done
else
	# shellcheck disable=SC2013 # one word per line by construction
	for name in $(grep -v '^#' /e2e/scenarios); do
		run_scenario "$name" "scenario_$name"
	done
	# shellcheck disable=SC2013 # one word per line by construction
	for tag in $(grep -v '^#' /e2e/caught); do
		run_scenario "caught_$tag" "scenario_caught_$tag"
	done

	# Last, because it is meant to crash the kernel: a leak scenario again
	# (/e2e/negative names it: leaked_self, or percpu_leak where the count
	# is per CPU) with the wrong helper. The harness expects it to FAIL.
	read -r NEG_SCENARIO NEG_TARGET </e2e/negative
	echo "negative control: scenario $NEG_SCENARIO, target $NEG_TARGET"
	HELPER="$BAD_HELPER$HELPER_ARGS"
	run_scenario negative_control "scenario_$NEG_SCENARIO"
fi

echo "E2E DONE"
poweroff -f
