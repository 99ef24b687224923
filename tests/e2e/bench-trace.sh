# shellcheck shell=sh
#
# The trace benchmark's measurements (bench/run trace), run inside the e2e VM
# by /init (tests/e2e/init.sh) when the kernel command line says
# e2e_boot=bench. Sourced after the scenario files: run_scenario, fail,
# expect_ok, $FRG and $M come from there.
#
# refloop (modules/refloop.c) takes and drops references on itself at a set
# rate. For each round, each rate of e2e_bench_rates= (pairs per second,
# rising; 0 = as fast as it can) and each method, one run of
# e2e_bench_ms= milliseconds:
#
#   untraced  the workload alone
#   old       under /bin/force-rmmod-gen.base (bench/trace builds it from
#             the commit before trace's faster recording)
#   new       under /bin/force-rmmod-gen, as it records now, its buffer
#             held at the 12.5 MiB per CPU it takes in a 512 MiB VM (the
#             bench's VM has more memory; the old one keeps the kernel's
#             1.4 MiB)
#
# Each run prints one line for the host (bench/trace reads them):
#
#   BENCH round=R method=M rate=PAIRS_PER_S done=PAIRS took_ms=MS lost=N missing=N leaked=N
#
# lost: the entries the tool says the kernel lost; missing: the events it
# did not report, 2 * done - gets - puts, counted without trusting it. A
# traced method that lost or missed anything is not run at higher rates in
# that round (its drops have started); the flat-out runs (rate 0) always
# run. A traced run that lost nothing must report every pair, balanced
# (gets = puts = done, 0 leaked), and the count must end where it began.

# The workload: one run at RATE for MS, then "done took_ms" in /tmp/refloop.out.
write_refloop_run() {
	mkdir -p /tmp
	cat >/tmp/refloop-run <<'EOF'
#!/bin/sh
P=/sys/module/refloop/parameters
echo "$1" >$P/rate
echo "$2" >$P/run_ms
while [ "$(cat $P/run_ms)" != 0 ]; do sleep 0.1; done
echo "$(cat $P/done) $(cat $P/took_ms)" >/tmp/refloop.out
EOF
	chmod 755 /tmp/refloop-run
}

# bench_arg NAME DEFAULT: e2e_NAME= from the kernel command line.
bench_arg() {
	v=$(tr ' ' '\n' </proc/cmdline | sed -n "s/^e2e_$1=//p")
	echo "${v:-$2}"
}

# bench_one ROUND METHOD RATE MS: one run; BENCH_DROPPED=1 if it lost events.
bench_one() {
	rm -f /tmp/refloop.out /tmp/trace.json
	BENCH_LOST=0 BENCH_DROPPED=0
	leaked=-
	case $2 in
	untraced) /tmp/refloop-run "$3" "$4" ;;
	old) /bin/force-rmmod-gen.base trace refloop --json -- /tmp/refloop-run "$3" "$4" >/tmp/trace.json 2>/tmp/trace.err ;;
	new) FRG_TRACE_BUFFER_KB=12800 "$FRG" trace refloop --json -- /tmp/refloop-run "$3" "$4" >/tmp/trace.json 2>/tmp/trace.err ;;
	esac
	read -r pairs took </tmp/refloop.out || fail "refloop did not run ($2, rate $3)"
	missing=-
	if [ "$2" != untraced ]; then
		BENCH_LOST=$(json_field lost_events)
		leaked=$(json_field leaked)
		gets=$(json_field gets)
		puts=$(json_field puts)
		if [ -z "$BENCH_LOST" ] || [ -z "$gets" ] || [ -z "$puts" ]; then
			fail "trace ($2, rate $3) gave no report: $(tail -n 3 /tmp/trace.err)"
			BENCH_LOST=0 gets=0 puts=0
		fi
		missing=$((2 * ${pairs:-0} - gets - puts))
		if [ "$BENCH_LOST" = 0 ] && [ "$missing" = 0 ] &&
			{ [ "$leaked" != 0 ] || [ "$gets" != "$pairs" ]; }; then
			fail "trace ($2, rate $3) lost nothing but reports $gets gets, $puts puts, '$leaked' leaked of $pairs balanced pairs"
		fi
		[ "$missing" = 0 ] || BENCH_DROPPED=1
		[ "$BENCH_LOST" = 0 ] || BENCH_DROPPED=1
	fi
	echo "BENCH round=$1 method=$2 rate=$3 done=$pairs took_ms=$took lost=$BENCH_LOST missing=$missing leaked=$leaked"
}

# json_field NAME: the number of the first "NAME": in trace's JSON report.
json_field() {
	sed -n "s/^ *\"$1\": \([0-9]*\).*/\1/p" /tmp/trace.json | head -n 1
}

scenario_bench() {
	rounds=$(bench_arg bench_rounds 1)
	ms=$(bench_arg bench_ms 3000)
	rates=$(bench_arg bench_rates 0,1000 | tr ',' ' ')
	write_refloop_run
	expect_ok insmod "$M/refloop.ko"
	before=$(cat /sys/module/refloop/refcnt)
	r=1
	while [ "$r" -le "$rounds" ]; do
		dropped_old="" dropped_new=""
		for rate in $rates; do
			for method in untraced old new; do
				if [ "$rate" != 0 ]; then
					[ "$method" = old ] && [ -n "$dropped_old" ] && continue
					[ "$method" = new ] && [ -n "$dropped_new" ] && continue
				fi
				bench_one "$r" "$method" "$rate" "$ms"
				if [ "$rate" != 0 ] && [ "$BENCH_DROPPED" = 1 ]; then
					eval "dropped_$method=1"
				fi
			done
		done
		r=$((r + 1))
	done
	after=$(cat /sys/module/refloop/refcnt)
	[ "$before" = "$after" ] || fail "refloop's count moved: $before -> $after"
	expect_ok rmmod refloop
}
