# shellcheck shell=sh
#
# The scenarios of `force-rmmod-gen trace NAME`, run inside the e2e VM by
# /init (tests/e2e/init.sh), which sources this file after
# unload-scenarios.sh: the helpers there and in init.sh (run, fail,
# expect_*, run_scenario, $FRG, $UNLOAD_KO) are used here. Each
# scenario_trace_<name> prints RESULT trace_<name> PASS|FAIL <reason>.
#
# The initramfs mounts neither tracefs nor debugfs: `trace` must mount
# what it needs and unmount it again, and leave no instance and no option
# behind on every path (normal end, SIGINT, COMMAND killed).
#
# leaky (modules/leaky.c) leaks one reference per open with O_APPEND, in
# leaky_open_path(); `cat /dev/leaky` is balanced.

# What the kernel's tracing looked like before any trace ran (tracefs from
# 4.1 on, debugfs on 3.x), read through a mount of our own.
TRACE_FS_TYPE=tracefs
TRACE_MNT=/sys/kernel/tracing
TRACE_DIR=/sys/kernel/tracing
if [ ! -d /sys/kernel/tracing ]; then
	TRACE_FS_TYPE=debugfs
	TRACE_MNT=/sys/kernel/debug
	TRACE_DIR=/sys/kernel/debug/tracing
fi

# tracing_state: instances and the options trace may touch, one line.
tracing_state() {
	mount -t "$TRACE_FS_TYPE" nodev "$TRACE_MNT" || { echo "cannot mount $TRACE_FS_TYPE"; return; }
	echo "instances=[$(ls "$TRACE_DIR/instances")]" \
		"stacktrace=$(cat "$TRACE_DIR/options/stacktrace")" \
		"sym-addr=$(cat "$TRACE_DIR/options/sym-addr")" \
		"module-events=$(cat "$TRACE_DIR/events/module/enable")"
	umount "$TRACE_MNT"
}
TRACE_CLEAN=$(tracing_state)

# tracing_left_clean: no tracefs/debugfs mount left, no instance, every
# option as it was before.
tracing_left_clean() {
	grep -qE ' (tracefs|debugfs) ' /proc/mounts &&
		fail "trace left a mount behind: $(grep -E ' (tracefs|debugfs) ' /proc/mounts)"
	now=$(tracing_state)
	echo "  tracing: $now"
	[ "$now" = "$TRACE_CLEAN" ] || fail "tracing changed: '$TRACE_CLEAN' -> '$now'"
}

# remove_leaked NAME: NAME holds leaked references: `unload` removes it,
# and says how to find the leak next time.
remove_leaked() {
	expect_rc 0 "$FRG" unload "$1" --yes --ko "$UNLOAD_KO" ${UNCHECKED_OK:+"$UNCHECKED_OK"}
	expect_out "force-rmmod-gen trace $1"
	expect_gone "$1"
	expect_gone force_rmmod
}

# Two leaking opens and a balanced one: exactly 2 leaked, leaky_open_path
# named as the suspect, the count +2.
scenario_trace_leak() {
	expect_ok insmod "$M/leaky.ko"
	wait_until test -c /dev/leaky || fail "/dev/leaky did not appear"
	expect_rc 0 "$FRG" trace leaky -- sh -c 'echo x >> /dev/leaky; echo x >> /dev/leaky; cat /dev/leaky'
	expect_out "suspect: leaky_open_path [leaky]"
	expect_out "2 references taken and not given back"
	expect_out "/sys/module/leaky/refcnt: 0 before, 2 after (+2)"
	expect_refcnt leaky 2
	tracing_left_clean
	remove_leaked leaky
}

# The raw reader: the JSON says the events were decoded from each CPU's
# trace_pipe_raw, and the leak is found as through the text. Then a capture
# for the decoder's unit tests (raw_capture), and the text reader where
# kallsyms shows no addresses.
scenario_trace_raw() {
	expect_ok insmod "$M/leaky.ko"
	wait_until test -c /dev/leaky || fail "/dev/leaky did not appear"
	expect_rc 0 "$FRG" trace leaky --json --stacks -- sh -c 'echo x >> /dev/leaky; cat /dev/leaky'
	expect_out '"reader": "raw"'
	expect_out '"leaked": 1'
	expect_out '"func": "leaky_open_path"'
	expect_refcnt leaky 1
	tracing_left_clean
	raw_capture
	tracing_left_clean
	# kallsyms without addresses (kptr_restrict=2 hides them from root
	# too): the frames could not be named, so trace_pipe's text is read.
	restrict=$(cat /proc/sys/kernel/kptr_restrict)
	echo 2 >/proc/sys/kernel/kptr_restrict
	expect_rc 0 "$FRG" trace leaky --json -- sh -c 'echo x >> /dev/leaky'
	echo "$restrict" >/proc/sys/kernel/kptr_restrict
	expect_out '"reader": "text"'
	expect_out 'kptr_restrict'
	expect_out '"leaked": 1'
	# One leak per run, and the capture's own.
	expect_refcnt leaky 3
	tracing_left_clean
	remove_leaked leaky
}

# raw_capture: what tests/fixtures/trace/raw/regen turns into the raw
# decoder's fixtures, printed between RAWCAP lines (a gzip'ed tar, base64):
# the layout files, one balanced and one leaking open of leaky recorded in
# an instance of our own, the kernel's text of it (`trace`, which does not
# consume), then each CPU's trace_pipe_raw, saved_cmdlines, and the
# kallsyms lines of the functions the text names (each with the line after
# it, which bounds it).
raw_capture() {
	mount -t "$TRACE_FS_TYPE" nodev "$TRACE_MNT" || { fail "cannot mount $TRACE_FS_TYPE"; return; }
	i=$TRACE_DIR/instances/capture
	mkdir "$i" || { fail "cannot make an instance"; umount "$TRACE_MNT"; return; }
	opts=$i/options
	[ -f "$opts/stacktrace" ] || opts=$TRACE_DIR/options
	echo 1 >"$opts/stacktrace"
	echo 1 >"$opts/sym-addr"
	for e in module_get module_put; do
		echo 'name == "leaky"' >"$i/events/module/$e/filter"
		echo 1 >"$i/events/module/$e/enable"
	done
	cat /dev/leaky
	echo x >>/dev/leaky
	for e in module_get module_put; do echo 0 >"$i/events/module/$e/enable"; done
	d=/tmp/rawcap
	rm -rf "$d" && mkdir -p "$d"
	cat "$TRACE_DIR/events/header_page" >"$d/header_page"
	cat "$TRACE_DIR/events/module/module_get/format" >"$d/module_get.format"
	cat "$TRACE_DIR/events/module/module_put/format" >"$d/module_put.format"
	cat "$TRACE_DIR/events/ftrace/kernel_stack/format" >"$d/kernel_stack.format"
	cat "$i/trace" >"$d/trace"
	cat "$TRACE_DIR/saved_cmdlines" >"$d/saved_cmdlines"
	for c in "$i"/per_cpu/cpu*; do
		timeout 2 dd if="$c/trace_pipe_raw" of="$d/${c##*/}.raw" bs=4096 2>/dev/null
	done
	sed -n -e 's/^ *=> \([^ <+]*\).*/\1/p' -e 's/.* call_site=\([^ +]*\).*/\1/p' "$d/trace" | sort -u >"$d/names"
	awk 'NR == FNR { want[$1]; next } keep { print; keep = 0 } ($3 in want) && $2 ~ /^[tTwW]$/ { print; keep = 1 }' \
		"$d/names" /proc/kallsyms >"$d/kallsyms"
	echo 0 >"$opts/stacktrace"
	echo 0 >"$opts/sym-addr"
	rmdir "$i"
	umount "$TRACE_MNT"
	echo "RAWCAP BEGIN $(uname -r)"
	tar -c -C "$d" . | gzip -9 | base64
	echo "RAWCAP END"
}

# Only balanced opens: nothing leaked (JSON report).
scenario_trace_balanced() {
	expect_ok insmod "$M/leaky.ko"
	wait_until test -c /dev/leaky || fail "/dev/leaky did not appear"
	expect_rc 0 "$FRG" trace leaky --json -- sh -c 'cat /dev/leaky; cat /dev/leaky; cat /dev/leaky'
	expect_out '"leaked": 0'
	expect_out '"verdict": "nothing-leaked"'
	expect_out '"refcnt_after": 0'
	expect_refcnt leaky 0
	tracing_left_clean
	expect_ok rmmod leaky
	expect_gone leaky
}

# leak_other takes a reference on victim when victim loads: traced from
# victim's load on (victim is not loaded when trace starts).
scenario_trace_other() {
	expect_ok insmod "$M/leak_other.ko"
	expect_rc 0 "$FRG" trace victim --json -- insmod "$M/victim.ko"
	expect_out '"leaked": 1'
	expect_out '"func": "leak_other_notify"'
	expect_out '"module": "leak_other"'
	expect_out 'first frame inside the out-of-tree module leak_other'
	expect_out '"refcnt_before": null'
	expect_refcnt victim 1
	tracing_left_clean
	expect_ok rmmod leak_other
	remove_leaked victim
}

# leaky loaded by COMMAND itself, which then leaks at once: the frames of
# a module that entered kallsyms during the recording are still placed in
# it (--stacks: whole stacks and every event).
scenario_trace_from_load() {
	expect_rc 0 "$FRG" trace leaky --stacks -- sh -c "insmod $M/leaky.ko &&
		while [ ! -c /dev/leaky ]; do sleep 0.1; done && echo x >> /dev/leaky"
	expect_out "/sys/module/leaky/refcnt: not loaded before, 1 after"
	expect_out "1x module loader"
	expect_out "1 reference taken and not given back"
	expect_out "suspect: leaky_open_path [leaky]  (first frame inside leaky)"
	expect_out "module_put by insmod"
	expect_refcnt leaky 1
	tracing_left_clean
	remove_leaked leaky
}

# leak_init (modules/leak_init.c) leaks from its init function through a
# helper the compiler tail-calls: the first frame inside the module lies
# in .init.text, freed (and gone from /proc/kallsyms) when the load ends.
# The suspect names the init function (init_module is its alias), or the
# helper where the kernel keeps its frame, or shows the bare address:
# never another function of the module, and no frame is given to one.
scenario_trace_init_leak() {
	expect_rc 0 "$FRG" trace leak_init --stacks -- insmod "$M/leak_init.ko"
	expect_out "1 reference taken and not given back"
	suspect=$(echo "$OUT" | sed -n 's/^ *suspect: \([^ ]*\).*/\1/p' | head -1)
	echo "  suspect: '$suspect'"
	case $suspect in
	leak_init_init | init_module | leak_init_take | 0x*) ;;
	*) fail "suspect '$suspect': neither leak_init_init, its helper nor an address" ;;
	esac
	echo "$OUT" | grep -E 'leak_init_(other|exit)|cleanup_module' &&
		fail "a frame was given to another function of leak_init"
	# Placed in the module but shown with neither a name nor an address.
	echo "$OUT" | grep -E '^ +\[leak_init\]$' && fail "a frame of leak_init shows no name and no address"
	# Its line, from the .ko that insmod loads: the __module_get() call, or
	# where the kernel has no frame of the tail-called helper, the init
	# function's call of the helper.
	take=$(marked leak_init.c)
	init=$(grep -n '^	leak_init_take();' /e2e/src/leak_init.c | cut -d: -f1)
	case $suspect in
	leak_init_take) expect_suspect_line leak_init.c "$take" ;;
	leak_init_init | init_module) expect_suspect_line leak_init.c "$init" ;;
	esac
	# What the symbolization had to go by, for the unit tests' fixtures.
	grep '\[leak_init\]' /proc/kallsyms | sed 's/^/  kallsyms: /'
	grep '^leak_init ' /proc/modules | sed 's/^/  modules: /'
	for s in /sys/module/leak_init/sections/.*; do
		case $s in
		*text*) echo "  section: ${s##*/} $(cat "$s")" ;;
		esac
	done
	expect_refcnt leak_init 1
	tracing_left_clean
	remove_leaked leak_init
}

# marked FILE: the line of test module source FILE (in /e2e/src) marked
# "the leaked reference": where the trace must say the leak is.
marked() {
	grep -n '/\* the leaked reference \*/' "/e2e/src/$1" | cut -d: -f1
}

# expect_suspect_line FILE LINE: the suspect's line is FILE:LINE.
expect_suspect_line() {
	echo "$OUT" | grep -qE "^ +line: (.*/)?$1:$2\$" || fail "the suspect's line is not $1:$2"
}

# The leak's line from the .ko that COMMAND loads (insmod PATH): the line
# of the try_module_get() call in leaky.c, inside the inlined leaky_get(),
# shown with its context from the source found under --source-dir; then the
# JSON report carries it per frame, with the inlined chain.
scenario_trace_lines() {
	leak=$(marked leaky.c)
	echo "  expected: leaky.c:$leak"
	expect_rc 0 "$FRG" trace leaky --source-dir /e2e/src -- sh -c "insmod $M/leaky.ko &&
		while [ ! -c /dev/leaky ]; do sleep 0.1; done && echo x >> /dev/leaky"
	expect_out "suspect: leaky_open_path [leaky]"
	expect_suspect_line leaky.c "$leak"
	expect_out "lines of leaky from $M/leaky.ko (the file COMMAND loads;"
	echo "$OUT" | grep -qE "^ +> +$leak \| .*try_module_get\(THIS_MODULE\)" ||
		fail "--source-dir did not show line $leak of leaky.c"
	expect_out "inlined: leaky_get "
	# The whole document is long for a serial console: only the lines checked.
	OUT=$("$FRG" trace leaky --json --debuginfo "$M/leaky.ko" -- sh -c 'echo x >> /dev/leaky' 2>&1)
	RC=$?
	echo "  \$ force-rmmod-gen trace leaky --json --debuginfo $M/leaky.ko -> rc=$RC"
	echo "$OUT" | grep -E '"(schema|line|origin)"|"func": "leaky_get"' | sort -u | sed 's/^/  | /'
	[ "$RC" -eq 0 ] || fail "trace --json exited $RC"
	expect_out '"schema": 1'
	expect_out "\"line\": $leak,"
	expect_out '"func": "leaky_get"'
	expect_out '"origin": "option"'
	expect_refcnt leaky 2
	tracing_left_clean
	remove_leaked leaky
}

# The other places debug info comes from, with leaky loaded from
# /lib/modules/RELEASE without its debug info (as distributions install
# it; modinfo -n finds it there):
# 1. nothing else: the functions are named as before, and the report says
#    why there are no lines;
# 2. --debuginfo: another module's file and a leaky.ko whose build id is
#    not the loaded one's are refused by name, the right file is used;
# 3. the distribution's debug path (/usr/lib/debug/lib/modules/RELEASE/,
#    the debug info alone);
# 4. modinfo -n, once the file there has its debug info.
scenario_trace_lines_sources() {
	leak=$(marked leaky.c)
	release=$(uname -r)
	extra=/lib/modules/$release/extra
	debug=/usr/lib/debug/lib/modules/$release/extra
	mkdir -p "$extra" "$debug"
	cp /e2e/dbg/leaky-stripped.ko "$extra/leaky.ko"
	# kmod's depmod (busybox's writes no binary index, which kmod's modinfo
	# reads), by its path: busybox runs its own applet for a bare name.
	[ -e /sbin/depmod ] || ln -s kmod /sbin/depmod
	expect_ok /sbin/depmod -a
	expect_ok /sbin/modinfo -n leaky
	expect_ok insmod "$extra/leaky.ko"
	wait_until test -c /dev/leaky || fail "/dev/leaky did not appear"
	leak_once() { expect_rc 0 "$FRG" trace leaky "$@" -- sh -c 'echo x >> /dev/leaky'; }

	leak_once
	expect_out "suspect: leaky_open_path [leaky]"
	expect_out "no lines for leaky: $extra/leaky.ko (modinfo -n): it has no debug info"
	echo "$OUT" | grep -qE '^ +line: ' && fail "a line without debug info"

	# A module linked without a build id (before 5.x) has no other build to
	# tell apart: leaky-other.ko is then a plain copy, and left out.
	other=
	[ -e /sys/module/leaky/notes/.note.gnu.build-id ] && other=/e2e/dbg/leaky-other.ko
	leak_once --debuginfo "$M/leak_init.ko" ${other:+--debuginfo "$other"} --debuginfo "$M/leaky.ko"
	expect_suspect_line leaky.c "$leak"
	expect_out "lines of leaky from $M/leaky.ko (--debuginfo;"
	expect_out "refused $M/leak_init.ko (--debuginfo): does not match the loaded leaky: it is module leak_init, not leaky"
	[ -n "$other" ] && expect_out "refused $other (--debuginfo): does not match the loaded leaky: its build id"

	cp /e2e/dbg/leaky.ko.debug "$debug/"
	leak_once
	expect_suspect_line leaky.c "$leak"
	expect_out "lines of leaky from $debug/leaky.ko.debug (the distribution's debug-info path;"

	rm "$debug/leaky.ko.debug"
	cp "$M/leaky.ko" "$extra/leaky.ko"
	leak_once
	expect_suspect_line leaky.c "$leak"
	expect_out "lines of leaky from $extra/leaky.ko (modinfo -n;"

	rm -rf "/lib/modules/$release" /usr/lib/debug
	expect_refcnt leaky 4
	tracing_left_clean
	remove_leaked leaky
}

# No COMMAND, no --duration: recording until SIGINT (Ctrl-C), which ends
# it cleanly with a report.
scenario_trace_sigint() {
	expect_ok insmod "$M/leaky.ko"
	wait_until test -c /dev/leaky || fail "/dev/leaky did not appear"
	rm -f /e2e/trace.out
	"$FRG" trace leaky >/e2e/trace.out 2>&1 &
	tracer=$!
	wait_until grep -q 'reproduce the leak' /e2e/trace.out || fail "trace did not start recording"
	echo x >>/dev/leaky
	cat /dev/leaky
	sleep 1
	kill -INT "$tracer"
	wait "$tracer"
	RC=$?
	OUT=$(cat /e2e/trace.out)
	echo "  \$ force-rmmod-gen trace leaky (SIGINT) -> rc=$RC"
	echo "$OUT" | sed 's/^/  | /'
	[ "$RC" -eq 0 ] || fail "trace ended by SIGINT exited $RC"
	expect_out "by signal 2"
	expect_out "1 reference taken and not given back"
	expect_out "suspect: leaky_open_path [leaky]"
	tracing_left_clean
	remove_leaked leaky
}

# COMMAND killed by SIGKILL after one leaking open: the recording still
# ends cleanly and reports the leak.
scenario_trace_killed_command() {
	expect_ok insmod "$M/leaky.ko"
	wait_until test -c /dev/leaky || fail "/dev/leaky did not appear"
	expect_rc 0 "$FRG" trace leaky -- sh -c 'echo x >> /dev/leaky; kill -9 $$'
	expect_out "killed by signal 9"
	expect_out "1 reference taken and not given back"
	expect_out "suspect: leaky_open_path [leaky]"
	tracing_left_clean
	remove_leaked leaky
}

# second_trace_refused: while one trace of leaky records, a second is
# refused (32) and changes nothing; SIGTERM ends the first cleanly.
second_trace_refused() {
	# The file must not hold the last round's words when the new trace
	# has not written yet (the redirection happens in the child).
	rm -f /e2e/trace.out
	"$FRG" trace leaky --duration 60 >/e2e/trace.out 2>&1 &
	tracer=$!
	wait_until grep -q 'recording the references' /e2e/trace.out || fail "first trace did not start"
	expect_rc 32 "$FRG" trace leaky --duration 1
	expect_out "another trace of leaky is running"
	kill -TERM "$tracer"
	wait "$tracer"
	[ $? -eq 0 ] || fail "trace ended by SIGTERM did not exit 0"
	grep -q "by signal 15" /e2e/trace.out || fail "trace did not report SIGTERM"
	tracing_left_clean
}

# A module busier than the reading: refloop (modules/refloop.c) takes and
# drops references flat out for 2 s into a 16 KiB buffer per CPU
# (FRG_TRACE_BUFFER_KB): the kernel overwrites what was not read yet, and
# the report must say how many entries it lost and that the counts are
# incomplete, in text and in JSON.
scenario_trace_lost() {
	expect_ok insmod "$M/refloop.ko"
	mkdir -p /tmp
	cat >/tmp/refloop-flat <<'EOF'
#!/bin/sh
P=/sys/module/refloop/parameters
echo 0 >$P/rate
echo 2000 >$P/run_ms
while [ "$(cat $P/run_ms)" != 0 ]; do sleep 0.1; done
EOF
	chmod 755 /tmp/refloop-flat
	run env FRG_TRACE_BUFFER_KB=16 "$FRG" trace refloop -- /tmp/refloop-flat
	[ "$RC" -eq 0 ] || fail "trace exited $RC"
	expect_out "the counts below are incomplete"
	echo "  pairs: $(cat /sys/module/refloop/parameters/done)"
	run env FRG_TRACE_BUFFER_KB=16 "$FRG" trace refloop --json -- /tmp/refloop-flat
	lost=$(printf '%s\n' "$OUT" | sed -n 's/^ *"lost_events": \([0-9]*\).*/\1/p')
	echo "  lost_events: $lost"
	if [ -z "$lost" ] || [ "$lost" -eq 0 ]; then
		fail "the JSON report says lost_events '$lost'"
	fi
	expect_refcnt refloop 0
	tracing_left_clean
	expect_ok rmmod refloop
}

# Bad input: an unknown module without COMMAND (22); a second trace of a
# module being traced (32), told by the instance name (the initramfs has
# no /run) and then by the lock file in /run; nothing left behind.
scenario_trace_refused() {
	expect_rc 22 "$FRG" trace no_such_module
	expect_out "no_such_module is not loaded"
	expect_ok insmod "$M/leaky.ko"
	if [ -d /run ]; then
		fail "/run exists: the instance-name refusal cannot be shown"
		expect_ok rmmod leaky
		return
	fi
	second_trace_refused
	mkdir /run
	second_trace_refused
	[ -e /run/force-rmmod-gen.trace.leaky.lock ] && fail "the lock file was left behind"
	rmdir /run
	expect_ok rmmod leaky
}

# A kernel older than the tool's floor (3.2): trace refuses at start (exit
# 33), naming the floor and the manual path, before it mounts or records
# anything; the module is untouched.
scenario_trace_too_old() {
	expect_ok insmod $M/leak_self.ko
	expect_rc 33 "$FRG" trace leak_self --duration 1
	expect_out "is older than 3.2"
	expect_out "The helper module"
	grep -qE ' (tracefs|debugfs) ' /proc/mounts && fail "trace mounted $(grep -E ' (tracefs|debugfs) ' /proc/mounts)"
	expect_refcnt leak_self 1
	expect_ok insmod $HELPER modname=leak_self expect=1
	expect_ok rmmod leak_self
	expect_gone leak_self
	expect_ok rmmod force_rmmod
}
