# shellcheck shell=sh
#
# sh tests/e2e/demo-check.sh WORLD
#
# Runs the demo's walk-through (tests/e2e/demo.sh, scenario_demo) on the
# host against stand-ins for the module tools and force-rmmod-gen, with the
# helpers of the VM's /init (init.sh, unload-scenarios.sh), and prints its
# verdict: "REASON=" and the first failed check, empty if all passed.
# tests/demo_checks.rs runs it for each WORLD and proves that the demo fails
# whenever a step did not do what the transcript shows:
#
#   ok              every step as on a real kernel
#   insmod_fails    insmod leaky.ko fails
#   trace_wrong     trace names another function as the suspect
#   lsmod_unused    lsmod shows leaky with no user
#   rmmod_works     rmmod leaky succeeds: nothing was stuck
#   rmmod_other     rmmod fails, but not with "in use"
#   unload_fails    force-rmmod-gen unload exits non-zero
#   unload_lies     unload says "removed", lsmod still lists leaky

E2E=$(cd "$(dirname "$0")" && pwd)
WORLD=$1
STATE=$(mktemp -d)
trap 'rm -rf "$STATE"' EXIT

E2E_HELPERS_ONLY=1
# shellcheck source=tests/e2e/init.sh
. "$E2E/init.sh"
# shellcheck source=tests/e2e/unload-scenarios.sh
. "$E2E/unload-scenarios.sh"
# shellcheck source=tests/e2e/demo.sh
. "$E2E/demo.sh"

M=$STATE
IN_USE="is in use"
wait_until() { return 0; }

# The stand-ins: shell functions for the module tools, an executable for
# force-rmmod-gen (a function name cannot hold '-').
insmod() {
	[ "$WORLD" != insmod_fails ] || { echo "insmod: ERROR: could not insert module"; return 1; }
}
lsmod() {
	echo "Module                  Size  Used by"
	[ -e "$STATE/removed" ] && return 0
	if [ "$WORLD" = lsmod_unused ]; then
		echo "leaky                  16384  0"
	else
		echo "leaky                  16384  1"
	fi
}
rmmod() {
	case $WORLD in
	rmmod_works) touch "$STATE/removed" ;;
	rmmod_other) echo "rmmod: ERROR: Module leaky is not currently loaded"; return 1 ;;
	*) echo "rmmod: ERROR: Module leaky is in use"; return 1 ;;
	esac
}
mkdir "$STATE/bin"
cat >"$STATE/bin/force-rmmod-gen" <<'EOF'
#!/bin/sh
case $1.$WORLD in
trace.trace_wrong)
	echo "verdict   1 reference taken and not given back: suspect misc_open (1x)" ;;
trace.*)
	echo "verdict   1 reference taken and not given back: suspect leaky_open_path [leaky] (1x)"
	echo "            suspect: leaky_open_path [leaky]  (first frame inside leaky)" ;;
unload.unload_fails)
	echo "force-rmmod-gen: error: the helper did not load"; exit 1 ;;
unload.unload_lies)
	echo "done      leaky removed with the helper" ;;
unload.*)
	touch "$STATE/removed"
	echo "done      leaky removed with the helper" ;;
esac
EOF
chmod +x "$STATE/bin/force-rmmod-gen"
PATH=$STATE/bin:$PATH
export WORLD STATE PATH

REASON=""
scenario_demo >"$STATE/transcript" 2>&1
echo "REASON=$REASON"
