# shellcheck shell=bash
# shellcheck disable=SC2034  # variables set here are for the scripts that source this file
# scripts/lib.sh - the shell functions the project's scripts share. Sourced, never run:
#
#   source "$(dirname "$(realpath -e -- "${BASH_SOURCE[0]}")")/lib.sh"    (from scripts/)
#
# Sourcing sets:
#   FRG_ROOT       the repository
#   FRG_CACHE      the cache root, absolute (default /var/cache/force-rmmod-gen)
#   FRG_KERNELS    the table of test kernels, tests/kernels.toml (read by scripts/kernels)
#   LOG_TAG        what log and die put first (default "<script name>:"); a script may change it
#   DIE_STATUS     die's exit status (default 1)
#   APT_MAX_AGE_H  private apt lists older than this many hours are refreshed (FRG_APT_MAX_AGE_H, 24)

FRG_ROOT=$(cd "$(dirname "$(realpath -e -- "${BASH_SOURCE[0]}")")/.." && pwd)
FRG_CACHE=$(realpath -m -- "${FRG_CACHE:-/var/cache/force-rmmod-gen}")
FRG_KERNELS=$FRG_ROOT/tests/kernels.toml
FRG_SCRIPT=$(basename -- "$0")
LOG_TAG=${LOG_TAG:-$FRG_SCRIPT:}
DIE_STATUS=${DIE_STATUS:-1}
APT_MAX_AGE_H=${FRG_APT_MAX_AGE_H:-24}

# ---------------------------------------------------------------------------
# Messages, timing, small helpers
# ---------------------------------------------------------------------------
log() { printf '%s %s\n' "$LOG_TAG" "$*" >&2; }
die() { printf '%s ERROR: %s\n' "$LOG_TAG" "$*" >&2; exit "$DIE_STATUS"; }

# err_trap: under set -E, an unexpected failure names the failing command (its
# first line). A status equal to $ERR_TRAP_QUIET (die's, passed up through
# nested subshells) is not reported again.
on_err() { # STATUS LINE COMMAND
    if [[ $1 != "${ERR_TRAP_QUIET:-}" ]]; then
        echo "$FRG_SCRIPT: error: command failed (line $2, exit $1): ${3%%$'\n'*}" >&2
    fi
}
err_trap() { trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR; }

# usage_from_header FILE: a script's help, its header comment from line 2 to
# the first empty line.
usage_from_header() { sed -n '2,/^$/p' "$1" | sed 's/^# \{0,1\}//'; }

now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

in_list() { # WORD LIST...
    local w=$1 x
    shift
    for x in "$@"; do [[ $x == "$w" ]] && return 0; done
    return 1
}

# run_logged LOG CMD...: append the command's output to LOG; on failure show the
# end of the log and return its status.
run_logged() {
    local logf=$1 rc=0
    shift
    printf '\n$ %s\n' "$*" >>"$logf"
    "$@" >>"$logf" 2>&1 || rc=$?
    if ((rc != 0)); then
        printf '%s command failed (exit %d): %s\n--- last lines of %s ---\n' "$LOG_TAG" "$rc" "$*" "$logf" >&2
        tail -n 25 "$logf" >&2
        echo "---" >&2
    fi
    return "$rc"
}

# Remove a directory tree that may have held a chroot: never follow a mount
# (a leftover bind mount of /dev would otherwise wipe the host's /dev).
safe_rm_tree() {
    local d=$1
    [[ -n $d && $d != / && -e $d ]] || return 0
    if awk -v d="$d" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        die "$d has active mounts (see /proc/self/mountinfo); unmount them first"
    fi
    rm -rf --one-file-system -- "$d"
}

# rustup puts cargo in ~/.cargo/bin, which a non-login shell may not have.
cargo_bin() { command -v cargo || echo "${HOME:-/root}/.cargo/bin/cargo"; }

# The release build's Python tools (scripts/dist, installed by scripts/install-deps).
DIST_VENV=${FRG_DIST_VENV:-$FRG_CACHE/tools/dist-venv}

# ---------------------------------------------------------------------------
# Architectures, one row per Debian architecture:
#   ARCH_GNU     GNU triple, the prefix of its cross tools
#   ARCH_RUST    Rust target
#   ARCH_KBUILD  Kbuild's ARCH=
#   ARCH_ELF     what `readelf -h` says after "Machine:"
# ---------------------------------------------------------------------------
arch_row() { # DEBARCH
    case $1 in
        amd64) ARCH_GNU=x86_64-linux-gnu ARCH_RUST=x86_64-unknown-linux-gnu ARCH_KBUILD=x86_64
               ARCH_ELF="Advanced Micro Devices X86-64" ;;
        arm64) ARCH_GNU=aarch64-linux-gnu ARCH_RUST=aarch64-unknown-linux-gnu ARCH_KBUILD=arm64
               ARCH_ELF=AArch64 ;;
        *) return 1 ;;
    esac
}

# elf_machine FILE: the ELF machine of FILE, as ARCH_ELF spells it.
elf_machine() { readelf -h "$1" | awk -F': *' '/Machine:/ { print $2 }'; }

# ---------------------------------------------------------------------------
# The test kernels (tests/kernels.toml), read through scripts/kernels (which
# checks the whole file on every call: a malformed file fails every caller).
# ---------------------------------------------------------------------------

# kernel_names: every kernel of the table, in its order.
kernel_names() { FRG_KERNELS=$FRG_KERNELS "$FRG_ROOT/scripts/kernels" names; }

# kernel_field NAME KEY: one key of NAME's table (an absent key prints nothing;
# lists comma-separated, negative as SCENARIO:TARGET). Nothing for a kernel the
# table does not have; an unknown KEY is an error.
kernel_field() { FRG_KERNELS=$FRG_KERNELS "$FRG_ROOT/scripts/kernels" field "$1" "$2"; }

# json_get FILE PATH: the values at PATH in the JSON document FILE, one a line
# (keys separated by '.', '*' for every element of a list; a string as is,
# anything else as JSON). Nothing where PATH leads nowhere; fails on a file
# that is not JSON.
json_get() {
    python3 -c '
import json, sys
with open(sys.argv[1]) as f:
    values = [json.load(f)]
for key in sys.argv[2].split("."):
    values = [x for v in values for x in (v if key == "*" and isinstance(v, list) else
              [v[key]] if isinstance(v, dict) and key in v else [])]
for v in values:
    print(v if isinstance(v, str) else json.dumps(v))
' "$1" "$2"
}

# kernel_env_file NAME: the env file scripts/fetch-kernels writes for NAME
# (RELEASE= KDIR= VMLINUZ= CHROOT= CC_HINT= DEB_VERSION=, and more for some).
kernel_env_file() { printf '%s' "$FRG_CACHE/kernels/$1/env"; }

# env_get NAME VAR: VAR from NAME's env file (fails if there is no env file).
env_get() {
    (
        # shellcheck disable=SC1090
        . "$(kernel_env_file "$1")" && printf '%s' "${!2:-}"
    )
}

# ---------------------------------------------------------------------------
# Private apt worlds: a sources file, lists and caches under one directory,
# nothing from /etc/apt except apt.conf.d (proxy settings must still apply).
# ---------------------------------------------------------------------------

# detect_mirrors: the URIs the host's apt already uses (deb822 .sources and
# one-line .list files), so a local mirror or proxy keeps working. Sets
# DEBIAN_MIRROR and SECURITY_MIRROR (FRG_DEBIAN_MIRROR, FRG_SECURITY_MIRROR override).
detect_mirrors() {
    local uris
    uris=$(
        {
            grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
                | sed -E 's/^[[:space:]]*URIs:[[:space:]]*//' | tr '[:blank:]' '\n'
            grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
        } | sed -E 's#/+$##' | grep -v '^$' || true
    )
    DEBIAN_MIRROR=${FRG_DEBIAN_MIRROR:-$(grep -m1 -E '/debian$' <<<"$uris" || echo http://deb.debian.org/debian)}
    SECURITY_MIRROR=${FRG_SECURITY_MIRROR:-$(grep -m1 -E '/debian-security$' <<<"$uris" || echo http://deb.debian.org/debian-security)}
}

# apt_private DIR [APT-OPTION...]: use the private apt world in DIR. Sets
# APT_DIR, APT_SOURCES and APT_OPTS (the options every apt call passes; the
# extra arguments are appended to them).
apt_private() {
    APT_DIR=$1
    APT_SOURCES=$APT_DIR/frg.sources
    shift
    APT_OPTS=(
        -o Dir::Etc::sourcelist="$APT_SOURCES"
        -o Dir::Etc::sourceparts=/nonexistent
        -o Dir::Etc::preferences=/nonexistent
        -o Dir::Etc::preferencesparts=/nonexistent
        -o Dir::State::Lists="$APT_DIR/lists"
        # a private binary cache makes each apt-cache call ~10 ms instead of ~1.5 s
        # (pkgcache only: the srcpkgcache would double the disk use for nothing)
        -o Dir::Cache::pkgcache="$APT_DIR/pkgcache.bin"
        -o Dir::Cache::srcpkgcache=
        -o Dir::Cache::archives="$APT_DIR/archives/"
        -o Acquire::Languages=none
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
        -o APT::Sandbox::User=root
        "$@"
    )
}

# apt_write_sources < SOURCES: the private sources file, rewritten only when its
# content changes, so that its mtime tells apt_lists_stale whether the lists
# belong to it.
apt_write_sources() {
    local tmp
    mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/archives/partial"
    tmp=$(mktemp "$APT_DIR/.sources.XXXXXX")
    cat >"$tmp"
    if cmp -s "$tmp" "$APT_SOURCES"; then rm -f "$tmp"; else mv -f "$tmp" "$APT_SOURCES"; fi
}

# apt_lists_stale: the private lists are missing, older than the sources file
# or older than APT_MAX_AGE_H hours.
apt_lists_stale() {
    local stamp=$APT_DIR/lists/.frg-updated
    [[ ! -f $stamp || $APT_SOURCES -nt $stamp ]] \
        || [[ -n $(find "$stamp" -mmin +$((APT_MAX_AGE_H * 60)) 2>/dev/null) ]]
}

# apt_stamp: what the last apt_update wrote into its stamp.
apt_stamp() { cat "$APT_DIR/lists/.frg-updated" 2>/dev/null; }

# apt_update LOG [STAMP]: apt-get update of the private lists, output in LOG,
# then STAMP written into the stamp file. apt-get update exits 0 when single
# indexes failed; those are fatal here.
apt_update() {
    local logf=$1
    log "apt-get update (private lists: $APT_DIR/lists)"
    rm -f "$APT_DIR/pkgcache.bin"
    apt-get -q "${APT_OPTS[@]}" update >"$logf" 2>&1 \
        || { tail -n 20 "$logf" >&2; die "apt-get update failed (log: $logf)"; }
    if grep -qE '^(W|E):' "$logf"; then
        grep -E '^(W|E):' "$logf" >&2
        die "apt-get update reported errors (log: $logf)"
    fi
    echo "${2:-}" >"$APT_DIR/lists/.frg-updated"
}

# ---------------------------------------------------------------------------
# Debian chroots (scripts/chroot-run runs commands in them)
# ---------------------------------------------------------------------------

# chroot_apt_conf: a chroot's apt configuration. The host's Acquire settings that
# matter for the mirror (proxies, and the Check-Valid-Until/Check-Date
# relaxations) are copied.
chroot_apt_conf() {
    local key val
    echo "// Generated by scripts/$FRG_SCRIPT"
    echo 'APT::Install-Recommends "false";'
    echo 'APT::Install-Suggests "false";'
    echo 'Acquire::Languages "none";'
    for key in Acquire::http::Proxy Acquire::https::Proxy Acquire::Check-Valid-Until Acquire::Check-Date; do
        val=$(apt-config dump "$key" 2>/dev/null | sed -n "s/^$key \"\(.*\)\";\$/\1/p" | head -n1)
        [[ -z $val ]] || printf '%s "%s";\n' "$key" "$val"
    done
}

# chroot_bootstrap DIR LOG SUITE...: a minimal Debian sid in DIR (anything there
# before is removed), its apt sources the SUITEs of the host's mirror. Made for
# throw-away builds: no fsync, no docs, no services. Marking it ready is the
# caller's (after installing what it needs).
chroot_bootstrap() {
    local c=$1 logf=$2 t0 try
    shift 2
    command -v debootstrap >/dev/null || die "debootstrap missing (run scripts/install-deps)"
    detect_mirrors
    if [[ -e $c ]]; then
        log "removing incomplete chroot $c"
        safe_rm_tree "$c"
    fi
    t0=$(now)
    log "debootstrap --variant=minbase sid $c ($DEBIAN_MIRROR)"
    # In a private mount namespace: whatever debootstrap mounts (proc, sys, dev)
    # disappears with it, even if it fails half-way. A download can stop
    # mid-way on a busy mirror: one more try from scratch before giving up.
    for try in 1 2; do
        if run_logged "$logf" unshare --mount --propagation private \
            debootstrap --variant=minbase sid "$c" "$DEBIAN_MIRROR"; then
            break
        fi
        [[ $try -eq 2 ]] && die "debootstrap sid failed twice (log: $logf)"
        log "debootstrap failed (attempt $try, log: $logf); retrying from scratch"
        safe_rm_tree "$c"
    done
    log "debootstrap done in $(since "$t0") s"

    rm -f "$c/etc/apt/sources.list"
    cat >"$c/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $*
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    chroot_apt_conf >"$c/etc/apt/apt.conf.d/99frg"
    cat >"$c/etc/dpkg/dpkg.cfg.d/99frg" <<'EOF'
force-unsafe-io
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
    # never start services from maintainer scripts inside the chroot
    printf '#!/bin/sh\nexit 101\n' >"$c/usr/sbin/policy-rc.d"
    chmod 755 "$c/usr/sbin/policy-rc.d"
    [[ -s $c/etc/resolv.conf ]] || cp -L /etc/resolv.conf "$c/etc/resolv.conf"
}
