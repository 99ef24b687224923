# shellcheck shell=bash
# shellcheck disable=SC2034  # variables set here are for the scripts that source this file
#
# tests/e2e/lib.sh - preparing and booting a test kernel, shared by the QEMU
# suite (tests/e2e/run) and scripts/demo. Sourced, never run:
#
#   source "$ROOT/tests/e2e/lib.sh"
#
# For a kernel of tests/kernels.toml: fetch it (run_fetch), build the test modules,
# the helper and the tool's VM userland (prepare_kernel, after
# start_tool_builds), pack the initramfs whose /init is tests/e2e/init.sh
# (make_initramfs) and boot it under QEMU (boot). Logs and builds go to
# $WORK/<kernel>/ (FRG_E2E_WORK, default target/e2e).

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

readonly ROOT=$FRG_ROOT
readonly E2E=$ROOT/tests/e2e
readonly WORK=${FRG_E2E_WORK:-$ROOT/target/e2e}
readonly FETCH=${FRG_E2E_FETCH:-$ROOT/scripts/fetch-kernels}
readonly CHROOT_RUN=$ROOT/scripts/chroot-run
# The portable release binary (scripts/dist): the one file an admin copies
# to the broken machine, so the one the VM runs.
readonly TOOL=$ROOT/target/x86_64-unknown-linux-gnu/release/force-rmmod-gen
readonly BOOT_TIMEOUT=${FRG_E2E_BOOT_TIMEOUT:-300}
readonly STANDIN=${FRG_E2E_STANDIN:-0}
readonly ONLY=${FRG_E2E_ONLY:-}
readonly CROSS_TOOL=$ROOT/scripts/cross-tool
# The tool linked statically (glibc's libc.a), for the kernels whose VM
# cannot start a dynamically linked program (static_userland).
readonly STATIC_TOOL_DIR=$ROOT/target/static
readonly STATIC_TOOL=$STATIC_TOOL_DIR/x86_64-unknown-linux-gnu/release/force-rmmod-gen

# The boot settings come from KERNEL's row of tests/kernels.toml (kernel_field):
# cpus, negative, extra, sig.


# selected: the names on stdin that FRG_E2E_ONLY selects (all without it).
selected() {
	local s p
	local -a only=()
	IFS=, read -ra only <<<"$ONLY"
	while read -r s; do
		[[ -z $ONLY ]] && { echo "$s"; continue; }
		for p in "${only[@]}"; do
			# shellcheck disable=SC2053 # a pattern
			if [[ $s == $p ]]; then echo "$s"; break; fi
		done
	done
}

# main_scenarios KERNEL: what the first boot of KERNEL runs, in order;
# init.sh reads the same list from /e2e/scenarios. The row's extra column
# adds scenarios and, with a leading '-', drops those of the common list
# matching a shell pattern (a construct that kernel does not have; the row
# names the scenario that runs instead).
main_scenarios() {
	local s drop
	local -a extra=() dropped=()
	IFS=, read -ra extra <<<"$(kernel_field "$1" extra)"
	for s in "${extra[@]}"; do
		[[ $s == -* ]] && dropped+=("${s#-}")
	done
	while read -r s; do
		for drop in "${dropped[@]}"; do
			# shellcheck disable=SC2053 # the row's entry is a pattern
			[[ $s == $drop ]] && continue 2
		done
		echo "$s"
	done < <(grep -v -e '^#' -e '^$' "$E2E/scenarios") | selected
	for s in "${extra[@]}"; do
		if [[ -n $s && $s != -* ]]; then echo "$s"; fi
	done | selected
}

# sig_scenarios KERNEL: what the module.sig_enforce=1 boot runs (if any).
sig_scenarios() {
	kernel_field "$1" sig | tr ',' '\n' | grep -v '^$' | selected
}

# caught_tags KERNEL: the bugs the debug kernel's negative controls commit
# (bad_debug bug=TAG); each is the scenario caught_TAG of the first boot.
caught_tags() {
	kernel_field "$1" caught | tr ',' '\n' | grep -v '^$' |
		while read -r t; do
			[[ -n $(echo "caught_$t" | selected) ]] && echo "$t"
		done
}

# boot_timeout KERNEL: seconds one boot of KERNEL may take.
boot_timeout() {
	echo $((BOOT_TIMEOUT * $(kernel_field "$1" boot)))
}

# --- host prerequisites ---------------------------------------------------------

# Print what is missing on the host, nothing if all is there. Missing tools
# fail the suite loudly: a skipped e2e run would look like a green one.
# Arguments: the kernels of the run (arm64 kernels need the arm64 tools).
missing_host_tools() {
	local cmd missing=() arm64=()
	[[ " $* " != *-arm64\ * ]] || arm64=(qemu-system-aarch64 aarch64-linux-gnu-gcc readelf)
	for cmd in qemu-system-x86_64 cpio gzip busybox kmod make gcc timeout \
		ldd mknod perl openssl "${arm64[@]}"; do
		command -v "$cmd" >/dev/null || missing+=("$cmd")
	done
	((${#missing[@]})) || return 0
	echo "missing on this host: ${missing[*]}" \
		"(Debian: apt-get install qemu-system-x86 busybox-static cpio kmod" \
		"build-essential perl openssl${arm64:+ qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross}," \
		"or run scripts/install-deps)"
}

# --- building -------------------------------------------------------------------

# The tool is built once, in the background, while the first kernel is
# fetched. Its verdict lands in $WORK/tool.status.
build_tool() {
	local status
	if [[ $STANDIN == 1 ]]; then
		status="ok stand-in"
	elif ! command -v "$(cargo_bin)" >/dev/null; then
		status="FAIL cargo not found (install a Rust toolchain: see scripts/install-deps)"
	elif ! "$ROOT/scripts/dist" --binary >"$WORK/cargo.log" 2>&1; then
		status="FAIL scripts/dist --binary failed (see $WORK/cargo.log)"
	elif ! "$TOOL" build --help >/dev/null 2>&1; then
		status="FAIL $TOOL has no working 'build' subcommand"
	else
		status="ok"
	fi
	echo "$status" >"$WORK/tool.status.tmp"
	mv "$WORK/tool.status.tmp" "$WORK/tool.status"
}

# The arm64 kernels' VM runs an arm64 build of the tool (scripts/cross-tool:
# statically linked, built in a Debian sid chroot), built once in the
# background; its path, or FAIL and why, lands in $WORK/tool-arm64.status.
build_cross_tool() {
	local status bin
	if [[ $STANDIN == 1 ]]; then
		status="ok stand-in"
	elif ! bin=$("$CROSS_TOOL" arm64 2>"$WORK/cross-tool.log"); then
		status="FAIL scripts/cross-tool arm64 failed: $(grep ERROR "$WORK/cross-tool.log" | tail -1) (see $WORK/cross-tool.log)"
	elif arch_row arm64 && [[ $(elf_machine "$bin") != "$ARCH_ELF" ]]; then
		status="FAIL $bin is not an $ARCH_ELF executable"
	else
		status="ok $bin"
	fi
	echo "$status" >"$WORK/tool-arm64.status.tmp"
	mv "$WORK/tool-arm64.status.tmp" "$WORK/tool-arm64.status"
}

# static_userland RELEASE: true for a kernel older than 2.6.39, which
# cannot start a dynamically linked program of this host's C library:
# glibc 2.33+ makes fstat() as fstatat(fd, "", AT_EMPTY_PATH), refused
# there with EINVAL, so its ld.so cannot map a shared library ("cannot stat
# shared object"). Statically linked programs (Debian's busybox, modcall,
# rmmod_wait) start. Such a VM gets busybox's module applets instead of
# kmod (init.sh) and the statically linked tool (build_static_tool).
static_userland() {
	local v=${1%%[-+]*}
	[[ $(printf '%s\n' 2.6.39 "$v" | sort -V | head -n1) != 2.6.39 ]]
}

# build_static_tool: the tool linked statically against glibc (incremental
# in target/static after the first time). Its linker warns that dlopen
# needs the shared C library at run time: only libclang is opened so, and
# never with --ko.
build_static_tool() {
	RUSTFLAGS="-C target-feature=+crt-static" nice "$(cargo_bin)" build --release --locked \
		--target x86_64-unknown-linux-gnu --target-dir "$STATIC_TOOL_DIR"
}

# modcall reports a module load's exact errno inside the VM (see modcall.c);
# rmmod_wait makes the blocking delete_module (see rmmod_wait.c); holdopen
# holds a device open where only a complete scan finds it (see holdopen.c).
# All are linked statically: they run on every kernel (static_userland).
# Arguments: the kernels of the run; for arm64 kernels also static arm64 builds.
VM_TOOLS=(modcall rmmod_wait holdopen)
build_modcall() {
	local t
	for t in "${VM_TOOLS[@]}"; do
		gcc -static -O2 -Wall -pthread -o "$WORK/$t" "$E2E/$t.c" || return
	done
	[[ " $* " == *-arm64\ * ]] || return 0
	mkdir -p "$WORK/arm64"
	for t in "${VM_TOOLS[@]}"; do
		aarch64-linux-gnu-gcc -static -O2 -Wall -pthread -o "$WORK/arm64/$t" "$E2E/$t.c" || return
	done
}

# kbuild_dir KERNEL NAME: where NAME's sources are built. A chroot kernel
# (7.x) can only see files inside its chroot; there the directory is keyed by
# $WORK so that two runs sharing a chroot do not build over each other.
kbuild_dir() {
	if [[ -n $CHROOT ]]; then
		echo "$CHROOT/tmp/frg-e2e-$(cksum <<<"$WORK" | cut -d' ' -f1)/$1/$2"
	else
		echo "$WORK/$1/$2"
	fi
}

# kbuild SRC DIR: plain Kbuild of the out-of-tree modules in SRC, built in
# DIR (a copy, so the source tree stays clean), the way any module's user
# builds it: with the tree's compiler, inside the chroot for 7.x.
kbuild() {
	local src=$1 dir=$2
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -r "$src"/. "$dir"/
	if [[ -n $CHROOT ]]; then
		"$CHROOT_RUN" "$CHROOT" make -C "${KDIR#"$CHROOT"}" \
			M="${dir#"$CHROOT"}" ${CC_HINT:+CC=$CC_HINT} modules
	else
		make -C "$KDIR" M="$dir" ${CC_HINT:+CC=$CC_HINT} ${ARCH:+ARCH=$ARCH} \
			${CROSS_COMPILE:+CROSS_COMPILE=$CROSS_COMPILE} modules
	fi
}

# relocate_test_modules DIR: the tool's own post-build relocation step
# (R_X86_64_PLT32 rewritten to PC32 for x86_64 kernels before 4.16, whose
# loaders refuse it) on the suite's modules in DIR, so that they load on
# the same stock kernels as the helper. Not for the stand-in run.
relocate_test_modules() {
	[[ $STANDIN == 1 ]] && return 0
	"$TOOL" relocs --kdir "$KDIR" ${CHROOT:+--chroot "$CHROOT"} "$1"/*.ko
}

# build_helper KERNEL: the product under test, force_rmmod.ko from the tool,
# and the same helper with every R_X86_64_PLT32 rewritten to R_X86_64_PC32,
# as the tool does for kernels older than 4.16 (helper-rewritten/).
build_helper() {
	local out=$WORK/$1/helper
	rm -rf "$out" "$out-rewritten"
	if [[ $STANDIN == 1 ]]; then
		local dir
		dir=$(kbuild_dir "$1" standin)
		kbuild "$E2E/dev" "$dir" && mkdir -p "$out" "$out-rewritten" &&
			cp "$dir/force_rmmod.ko" "$out/" && cp "$dir/force_rmmod.ko" "$out-rewritten/"
		return
	fi
	"$TOOL" build --kdir "$KDIR" --out "$out" \
		${CC_HINT:+--cc "$CC_HINT"} ${CHROOT:+--chroot "$CHROOT"} || return
	main_scenarios "$1" | grep -x rewritten_helper >/dev/null || return 0
	FRG_FORCE_RELOC_REWRITE=1 "$TOOL" build --kdir "$KDIR" --out "$out-rewritten" \
		${CC_HINT:+--cc "$CC_HINT"} ${CHROOT:+--chroot "$CHROOT"} || return
	if readelf -rW "$out-rewritten/force_rmmod.ko" | grep -q R_X86_64_PLT32; then
		echo "FRG_FORCE_RELOC_REWRITE=1 left R_X86_64_PLT32 relocations in the helper" >&2
		return 1
	fi
}

# install_bin FILE STAGE DEST: FILE as STAGE/DEST, plus the shared libraries
# it loads, at their own paths under STAGE.
install_bin() {
	local file=$1 stage=$2 dest=$3 lib
	mkdir -p "$stage/$(dirname "$dest")"
	cp -L "$file" "$stage/$dest"
	for lib in $(ldd "$file" 2>/dev/null | grep -o '/[^ ]*'); do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
}

# install_foreign_bin ROOT FILE STAGE DEST: install_bin for an executable of
# another machine (ldd cannot run it): its ELF interpreter and NEEDED
# libraries, transitively, from the unpacked userland ROOT.
install_foreign_bin() {
	local root=$1 file=$2 stage=$3 dest=$4 lib found d interp
	local -a todo=("$file")
	mkdir -p "$stage/$(dirname "$dest")"
	cp -L "$file" "$stage/$dest"
	interp=$(readelf -lW "$file" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
	if [[ -n $interp ]]; then
		mkdir -p "$stage$(dirname "$interp")"
		cp -L "$root$interp" "$stage$interp" || return
	fi
	while ((${#todo[@]})); do
		file=${todo[0]}
		todo=("${todo[@]:1}")
		for lib in $(readelf -dW "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			found=""
			for d in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu lib usr/lib; do
				[[ -e $root/$d/$lib ]] && { found=/$d/$lib; break; }
			done
			[[ -n $found ]] || { echo "$lib (needed by $file) not in $root" >&2; return 1; }
			[[ -e $stage$found ]] && continue
			mkdir -p "$stage$(dirname "$found")"
			cp -L "$root$found" "$stage$found"
			todo+=("$root$found")
		done
	done
}

# install_tool STAGE: the portable tool as STAGE/bin/force-rmmod-gen, plus
# exactly the libraries its ELF header names (NEEDED and the interpreter),
# taken from this host. They are all glibc (scripts/check-portable enforces
# that, and that no symbol version is newer than 2.17): the libc every
# target machine has, which this bare VM lacks. Nothing else from the host.
install_tool() {
	local stage=$1 interp lib path
	mkdir -p "$stage/bin"
	cp "$TOOL" "$stage/bin/force-rmmod-gen"
	interp=$(readelf -l "$TOOL" | sed -n 's/.*program interpreter: \(.*\)\]/\1/p')
	mkdir -p "$stage$(dirname "$interp")"
	cp -L "$interp" "$stage$interp"
	for lib in $(readelf -d "$TOOL" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		[[ $lib == "$(basename "$interp")" ]] && continue
		path=$(ldd "$TOOL" | awk -v l="$lib" '$1 == l { print $3 }')
		[[ -e $path ]] || { echo "cannot find $lib, which $TOOL needs"; return 1; }
		mkdir -p "$stage$(dirname "$path")"
		cp -L "$path" "$stage$path"
	done
}

# make_initramfs KERNEL: busybox for the shell, kmod for insmod/rmmod (its
# rmmod says "Module X is in use"), modcall, our modules, both helpers and
# init.sh as /init; a gzip'ed cpio "newc" archive, as the kernel wants.
make_initramfs() {
	local dir=$WORK/$1 stage=$WORK/$1/initramfs applet tool
	rm -rf "$stage"
	mkdir -p "$stage"/{dev,proc,sys,sbin,e2e/modules,e2e/helper,e2e/bad,e2e/rewritten}

	# A kernel of another machine (USERLAND= in its env file): its own
	# userland, modcall and tool builds.
	local bb kmod tools=$WORK tool_bin
	local -a install=(install_bin)
	bb=$(command -v busybox) kmod=$(command -v kmod) tool_bin=""
	if [[ -n $USERLAND ]]; then
		install=(install_foreign_bin "$USERLAND")
		bb=$USERLAND/bin/busybox kmod=$USERLAND/bin/kmod
		tools=$WORK/$ARCH
		tool_bin=$(cut -d' ' -f2- "$WORK/tool-$ARCH.status")
	fi
	"${install[@]}" "$bb" "$stage" bin/busybox
	for applet in $(busybox --list); do
		case $applet in
		busybox | insmod | rmmod | lsmod | modprobe | modinfo | depmod) continue ;;
		esac
		ln -s busybox "$stage/bin/$applet"
	done
	"${install[@]}" "$kmod" "$stage" sbin/kmod
	for tool in insmod rmmod lsmod modinfo; do
		ln -s kmod "$stage/sbin/$tool"
	done
	for tool in "${VM_TOOLS[@]}"; do
		"${install[@]}" "$tools/$tool" "$stage" "sbin/$tool"
	done
	# The tool itself, for the `unload` scenarios (with --ko it never loads
	# libclang): the portable build, or for a kernel of another machine the
	# static build for that machine.
	if [[ -n $USERLAND ]]; then
		"${install[@]}" "$tool_bin" "$stage" bin/force-rmmod-gen
	elif static_userland "$RELEASE"; then
		cp "$STATIC_TOOL" "$stage/bin/force-rmmod-gen"
	else
		install_tool "$stage" || return 1
	fi

	# The kernel opens /dev/console for /init before devtmpfs is mounted.
	mknod "$stage/dev/console" c 5 1

	cp "$E2E/init.sh" "$stage/init"
	chmod 755 "$stage/init"
	main_scenarios "$1" >"$stage/e2e/scenarios"
	sig_scenarios "$1" >"$stage/e2e/sig-scenarios"
	kernel_field "$1" negative | tr ':' ' ' >"$stage/e2e/negative"
	cp "$E2E/unload-scenarios.sh" "$stage/e2e/"
	cp "$E2E/trace-scenarios.sh" "$stage/e2e/"
	cp "$E2E/demo.sh" "$E2E/bench-trace.sh" "$stage/e2e/"
	cp "$(kbuild_dir "$1" modules)"/*.ko "$stage/e2e/modules/"
	stage_debuginfo "$(kbuild_dir "$1" modules)/leaky.ko" "$stage/e2e" || return 1
	cp "$(kbuild_dir "$1" bad_helper)/force_rmmod.ko" "$stage/e2e/bad/"
	caught_tags "$1" >"$stage/e2e/caught"
	if [[ -s $stage/e2e/caught ]]; then
		mkdir -p "$stage/e2e/debug"
		cp "$(kbuild_dir "$1" bad_debug)/bad_debug.ko" "$stage/e2e/debug/"
	fi
	cp "$dir/helper/force_rmmod.ko" "$stage/e2e/helper/"
	# How the helper finds its target (find_module or ring-walk): some
	# scenarios expect different, equally safe, answers from the two.
	json_get "$dir/helper/manifest.json" facts.lookup >"$stage/e2e/helper/lookup"
	if [[ -e $dir/helper-rewritten/force_rmmod.ko ]]; then
		cp "$dir/helper-rewritten/force_rmmod.ko" "$stage/e2e/rewritten/"
	fi

	(cd "$stage" && find . | cpio -o -H newc --quiet) | gzip -1 \
		>"$dir/initramfs.cpio.gz"
}

# stage_debuginfo KO E2E: what the trace_lines scenarios read: the test
# modules' sources (src/: the expected line is the one marked in them), and
# in dbg/ leaky.ko without its debug info, its debug info alone (as
# distributions ship it) and a copy whose build id differs (not the module
# that is loaded).
stage_debuginfo() {
	local ko=$1 e2e=$2 id
	mkdir -p "$e2e/src" "$e2e/dbg"
	cp "$E2E/modules/leaky.c" "$E2E/modules/leak_init.c" "$e2e/src/"
	"${CROSS_COMPILE:-}objcopy" --strip-debug "$ko" "$e2e/dbg/leaky-stripped.ko" || return
	"${CROSS_COMPILE:-}objcopy" --only-keep-debug "$ko" "$e2e/dbg/leaky.ko.debug" || return
	id=$(LC_ALL=C readelf -n "$ko" | sed -n 's/^ *Build ID: *//p')
	[[ -n $id ]] || { cp "$ko" "$e2e/dbg/leaky-other.ko"; return; }
	perl -0777 -pe 'BEGIN { $id = pack("H*", shift) } s/\Q$id\E/reverse $id/e' "$id" <"$ko" \
		>"$e2e/dbg/leaky-other.ko"
}

# make_sig_initramfs KERNEL: the initramfs of the module.sig_enforce=1 boot:
# the first one plus a second cpio archive (the kernel unpacks both):
# - the tree's signing test key and certificate (/e2e/signing), from the
#   kernel cache, never from the repository;
# - our test modules signed with them (fixtures: the target must load);
# - what `force-rmmod-gen unload --sign-key` needs to sign the helper in
#   the VM as on the real machine: the running kernel's tree at
#   /lib/modules/RELEASE/build (Makefile, .config, Module.symvers, include/
#   and scripts/sign-file; 3.10's sign-file is a Perl script) and the perl
#   and openssl it runs, with their libraries and modules.
make_sig_initramfs() {
	local k=$1 dir=$WORK/$1 stage=$WORK/$1/initramfs-sig ko f build
	[[ -r $SIGN_KEY && -r $SIGN_CERT ]] ||
		{ echo "no SIGN_KEY/SIGN_CERT in $k's env file"; return 1; }
	rm -rf "$stage"
	mkdir -p "$stage"/{e2e/signing,e2e/signed}
	cp "$SIGN_KEY" "$SIGN_CERT" "$stage/e2e/signing/"
	for ko in "$(kbuild_dir "$k" modules)"/*.ko; do
		"$KDIR/scripts/sign-file" sha256 "$SIGN_KEY" "$SIGN_CERT" "$ko" \
			"$stage/e2e/signed/$(basename "$ko")" || return 1
	done
	build=$stage/lib/modules/$RELEASE/build
	mkdir -p "$build/scripts"
	for f in Makefile .config Module.symvers; do
		cp "$KDIR/$f" "$build/"
	done
	cp -r "$KDIR/include" "$build/"
	cp "$KDIR/scripts/sign-file" "$build/scripts/"
	install_bin "$(command -v perl)" "$stage" usr/bin/perl
	install_bin "$(command -v openssl)" "$stage" usr/bin/openssl
	mkdir -p "$stage/usr/lib/ssl"
	cp /usr/lib/ssl/openssl.cnf "$stage/usr/lib/ssl/"
	# Debian's perl-base (the core modules with their XS parts), plus the
	# modules sign-file uses from elsewhere (Getopt::Std).
	f=$(dirname "$(perl -e 'use strict; print $INC{"strict.pm"}')")
	mkdir -p "$stage$(dirname "$f")"
	cp -r "$f" "$stage$f"
	for f in $(perl -e 'use strict; use FileHandle; use IPC::Open2; use Getopt::Std; print "$_\n" for values %INC'); do
		mkdir -p "$stage$(dirname "$f")"
		cp "$f" "$stage$f"
	done
	(cd "$stage" && find . | cpio -o -H newc --quiet) | gzip -1 >"$dir/sig-extra.cpio.gz" &&
		cat "$dir/initramfs.cpio.gz" "$dir/sig-extra.cpio.gz" >"$dir/initramfs-sig.cpio.gz"
}

# run_fetch KERNEL: scripts/fetch-kernels, run by bash even where the
# checkout lost its executable bit.
run_fetch() {
	if [[ -x $FETCH ]]; then
		"$FETCH" "$@"
	else
		bash "$FETCH" "$@"
	fi
}

# load_env KERNEL: read scripts/fetch-kernels' env file into the caller's
# (local) RELEASE, KDIR, VMLINUZ, CHROOT, CC_HINT (+ ARCH, CROSS_COMPILE,
# USERLAND for a kernel of another machine).
load_env() {
	local env
	env=$(kernel_env_file "$1")
	[[ -r $env ]] || { echo "no $env after fetching"; return 1; }
	# shellcheck source=/dev/null
	source "$env"
	[[ -d ${KDIR:-} ]] || { echo "KDIR '${KDIR:-}' from $env is not a directory"; return 1; }
	[[ -r ${VMLINUZ:-} ]] || { echo "VMLINUZ '${VMLINUZ:-}' from $env is not readable"; return 1; }
	if [[ -n ${CC_HINT:-} && -z ${CHROOT:-} ]] && ! command -v "$CC_HINT" >/dev/null; then
		echo "the $1 tree needs $CC_HINT, which is not installed"
		return 1
	fi
}

# wait_for FILE PID: wait until FILE exists or PID is gone; false if gone.
wait_for() {
	while [[ ! -e $1 ]]; do
		kill -0 "$2" 2>/dev/null || [[ -e $1 ]] || return 1
		sleep 0.5
	done
}

# prepare_kernel KERNEL: fetch, build, pack. Ends by writing
# $WORK/KERNEL/prepared: "ok fetch=Ns build=Ns" or "FAIL reason".
prepare_kernel() {
	local k=$1 dir=$WORK/$1 t0 t1 status why
	local RELEASE="" KDIR="" VMLINUZ="" CHROOT="" CC_HINT="" SIGN_KEY="" SIGN_CERT=""
	local ARCH="" CROSS_COMPILE="" USERLAND=""
	mkdir -p "$dir"
	: >"$dir/build.log"
	t0=$SECONDS
	status=$(
		exec 3>&1 >>"$dir/build.log" 2>&1
		if [[ ! -f $FETCH ]]; then
			echo "FAIL $FETCH does not exist" >&3
		elif ! run_fetch "$k"; then
			echo "FAIL fetch-kernels $k failed: $(grep -a 'ERROR' "$dir/build.log" | tail -1) (see $dir/build.log)" >&3
		elif ! why=$(load_env "$k"); then
			echo "FAIL $why" >&3
		else
			echo ok >&3
		fi
	)
	t1=$SECONDS
	if [[ $status == ok ]]; then
		load_env "$k" >/dev/null
		status=$(
			exec 3>&1 >>"$dir/build.log" 2>&1
			echo "== $k: $RELEASE, KDIR=$KDIR CHROOT=$CHROOT CC=$CC_HINT"
			if ! kbuild "$E2E/modules" "$(kbuild_dir "$k" modules)"; then
				echo "FAIL Kbuild of tests/e2e/modules failed" >&3
			elif ! kbuild "$E2E/modules/bad_helper" "$(kbuild_dir "$k" bad_helper)"; then
				echo "FAIL Kbuild of tests/e2e/modules/bad_helper failed" >&3
			elif [[ -n $(caught_tags "$k") ]] &&
				! kbuild "$E2E/modules/bad_debug" "$(kbuild_dir "$k" bad_debug)"; then
				echo "FAIL Kbuild of tests/e2e/modules/bad_debug failed" >&3
			elif ! wait_for "$WORK/tool.status" "$TOOL_PID" ||
				[[ $(<"$WORK/tool.status") != ok* ]]; then
				echo "FAIL $(cut -d' ' -f2- "$WORK/tool.status" 2>/dev/null || echo "tool build vanished")" >&3
			elif [[ -n $ARCH ]] && { ! wait_for "$WORK/tool-$ARCH.status" "$CROSS_TOOL_PID" ||
				[[ $(<"$WORK/tool-$ARCH.status") != ok* ]]; }; then
				echo "FAIL $(cut -d' ' -f2- "$WORK/tool-$ARCH.status" 2>/dev/null || echo "$ARCH tool build vanished")" >&3
			elif ! relocate_test_modules "$(kbuild_dir "$k" modules)" ||
				! relocate_test_modules "$(kbuild_dir "$k" bad_helper)"; then
				echo "FAIL force-rmmod-gen relocs failed on the test modules (see $dir/build.log)" >&3
			elif static_userland "$RELEASE" && [[ $STANDIN != 1 ]] && ! build_static_tool; then
				echo "FAIL the statically linked tool did not build (see $dir/build.log)" >&3
			elif ! build_helper "$k"; then
				echo "FAIL force-rmmod-gen build failed for $k (see $dir/build.log)" >&3
			elif [[ ! -e $dir/helper/force_rmmod.ko ]]; then
				echo "FAIL force-rmmod-gen build left no $dir/helper/force_rmmod.ko" >&3
			elif ! make_initramfs "$k"; then
				echo "FAIL could not pack the initramfs" >&3
			elif [[ -n $(sig_scenarios "$k") ]] && ! make_sig_initramfs "$k"; then
				echo "FAIL could not pack the module.sig_enforce=1 initramfs" >&3
			else
				echo ok >&3
			fi
		)
	fi
	[[ $status == ok ]] && status="ok fetch=$((t1 - t0))s build=$((SECONDS - t1))s"
	[[ -n $status ]] || status="FAIL preparation stopped (see $dir/build.log)"
	echo "$status" >"$dir/prepared.tmp"
	mv "$dir/prepared.tmp" "$dir/prepared"
}

# --- booting ------------------------------------------------------------------------

# boot_accel KERNEL: QEMU's -accel for KERNEL, and boot_append KERNEL: what
# it adds to the kernel command line. 2.6.32 stalls now and then under TCG
# when the host is busy: both vCPUs sit idle in HLT (`info registers -a`:
# default_idle), no task is blocked (SysRq-W), and any interrupt resumes it
# (a SysRq keypress through the monitor did). Next to two busy loops, 2 of 3
# boots stalled as booted before, 1 of 3 with hpet=disable, 1 of 2 with
# nohz=off, a full run with nolapic_timer too; with both vCPUs on one thread
# (thread=single) none of 3, but one full CI run still stalled. idle=poll
# keeps an idle vCPU out of HLT, so there is no halted vCPU left to miss its
# wake-up.
boot_accel() {
	case $1 in
	2.6.32) echo tcg,thread=single ;;
	*) echo tcg ;;
	esac
}

boot_append() {
	case $1 in
	2.6.32) echo " idle=poll" ;;
	esac
}

# boot KERNEL [sig|demo|bench]: run the initramfs under QEMU; the serial console
# goes to serial.log (serial-sig.log for the module.sig_enforce=1 boot,
# serial-demo.log for scripts/demo's walk-through, tests/e2e/demo.sh,
# serial-bench.log for bench/trace, which packs initramfs-bench.cpio.gz and
# puts FRG_BENCH_APPEND on the kernel command line). Echoes
# QEMU's exit status (124: timed out).
boot() {
	local k=$1 which=${2:-main} dir=$WORK/$1 rc initrd log append cpus
	local RELEASE="" KDIR="" VMLINUZ="" CHROOT="" CC_HINT="" SIGN_KEY="" SIGN_CERT=""
	local ARCH="" CROSS_COMPILE="" USERLAND=""
	load_env "$k" >/dev/null
	cpus=$(kernel_field "$k" cpus)
	# The machine: x86_64 by default; arm64 kernels on QEMU's virt board
	# (pauth-impdef: the cheap pointer-authentication algorithm, 3x faster
	# under TCG than the architected one), console on its PL011 UART.
	local -a qemu=(qemu-system-x86_64)
	local console=ttyS0
	if [[ $ARCH == arm64 ]]; then
		qemu=(qemu-system-aarch64 -M virt -cpu 'max,pauth-impdef=on')
		console=ttyAMA0
	fi
	append="console=$console panic=-1 oops=panic quiet"
	# A kernel that runs several times slower (tests/kernels.toml: boot) gets
	# longer bounded loops in the VM.
	append+=" e2e_slow=$(kernel_field "$k" boot)$(boot_append "$k")"
	initrd=$dir/initramfs.cpio.gz
	log=$dir/serial.log
	if [[ $which == sig ]]; then
		append+=" module.sig_enforce=1 e2e_boot=sig"
		initrd=$dir/initramfs-sig.cpio.gz
		log=$dir/serial-sig.log
	elif [[ $which == demo ]]; then
		append+=" e2e_boot=demo"
		log=$dir/serial-demo.log
	elif [[ $which == bench ]]; then
		append+=" e2e_boot=bench ${FRG_BENCH_APPEND:-}"
		initrd=$dir/initramfs-bench.cpio.gz
		log=$dir/serial-bench.log
	fi
	# No KVM here (it hangs the guest): TCG only. panic=-1 + -no-reboot
	# turn a panic (every oops, with oops=panic) into QEMU exiting at once.
	timeout -k 5 "$(boot_timeout "$k")" "${qemu[@]}" -accel "$(boot_accel "$k")" -nographic \
		-m "${FRG_E2E_MEM:-512M}" -smp "${cpus:-1}" -no-reboot -kernel "$VMLINUZ" \
		-initrd "$initrd" -append "$append" \
		</dev/null >"$log.raw" 2>&1
	rc=$?
	tr -d '\r' <"$log.raw" >"$log"
	rm -f "$log.raw"
	echo "$rc"
}

# The kernel's own words for "I am broken".
readonly CRASH_RE='Kernel panic|kernel BUG at|BUG:|Oops|general protection fault|Call Trace'

# why_missing KERNEL LOG SCENARIO QEMU_RC: why SCENARIO printed no RESULT.
why_missing() {
	local k=$1 log=$2 s=$3 rc=$4 last
	if ! grep -q 'E2E START' "$log"; then
		[[ $rc == 124 ]] && { echo "kernel never reached /init (timed out after $(boot_timeout "$k")s)"; return; }
		echo "kernel never reached /init (qemu exit $rc, see serial.log)"
		return
	fi
	last=$(grep -o 'BEGIN [a-z_]*' "$log" | tail -1 | cut -d' ' -f2)
	if ! grep -q "BEGIN $s\$" "$log"; then
		echo "not reached: the VM died during $last"
	elif grep -qE "$CRASH_RE" "$log"; then
		echo "kernel crashed during this scenario (see serial.log)"
	elif [[ $rc == 124 ]]; then
		echo "hung: timed out after $(boot_timeout "$k")s"
	else
		echo "no RESULT line (qemu exit $rc)"
	fi
}

# host_problem KERNEL...: what keeps this host from preparing and booting
# the KERNELs (missing tools, not root, modcall does not compile), nothing
# if all is there.
host_problem() {
	local problem
	problem=$(missing_host_tools "$@")
	if [[ -z $problem && $(id -u) != 0 ]]; then
		problem="must run as root (mknod /dev/console for the initramfs)"
	fi
	mkdir -p "$WORK"
	if [[ -z $problem ]] && ! build_modcall "$@" 2>"$WORK/modcall.log"; then
		problem="could not compile tests/e2e/modcall.c (see $WORK/modcall.log)"
	fi
	echo "$problem"
}

# start_tool_builds KERNEL...: build the tool (and for arm64 kernels the
# arm64 tool) in the background; prepare_kernel waits for them through
# TOOL_PID and CROSS_TOOL_PID.
start_tool_builds() {
	mkdir -p "$WORK"
	rm -f "$WORK/tool.status" "$WORK/tool-arm64.status"
	build_tool &
	TOOL_PID=$!
	export TOOL_PID
	CROSS_TOOL_PID=0
	if [[ " $* " == *-arm64\ * ]]; then
		build_cross_tool &
		CROSS_TOOL_PID=$!
	fi
	export CROSS_TOOL_PID
}
