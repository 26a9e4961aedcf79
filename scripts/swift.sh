#!/usr/bin/env bash
# Runs the Swift toolchain on a SwiftPM package that links a hostcall
# library, from the test command and by hand:
#
#   bash scripts/swift.sh PACKAGE_DIR LIB_DIR INCLUDE_DIR [swift args...]
#
# e.g. bash scripts/swift.sh bindings/swift target/debug examples/demo/include test
#
# The package's C module finds <lib>.h and hostcall.h in INCLUDE_DIR and
# links lib<lib>.so from LIB_DIR (the flags are added here, so the package
# names no path of this machine).
#
# 1. `swift` on PATH: it runs there, on the package in place.
# 2. Otherwise (Debian 12 packages no Swift), as root: Debian 13 (trixie)
#    packages Swift 6 as `swiftlang`. A trixie root is built once with
#    debootstrap and cached outside the checkout, in
#    ${HOSTCALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hostcall}/swift-trixie
#    (about a minute with a near mirror, 3.3 GB). Each run copies the
#    package, the library and the headers into the root and runs swift there
#    under chroot, in a private mount namespace (`unshare --mount`): the
#    /proc it needs (swiftc dies without it) is mounted there only, so
#    nothing stays mounted when the run ends, even when it fails, and the
#    checkout is never mounted into the root. Runs are serialised by a lock
#    on the root.
# 3. Neither: it fails, saying what is missing.
set -euo pipefail

die() {
    printf 'scripts/swift.sh: %s\n' "$*" >&2
    exit 1
}

[ $# -ge 3 ] || die "usage: swift.sh PACKAGE_DIR LIB_DIR INCLUDE_DIR [swift args...]"
pkg=$(cd "$1" && pwd) || die "no package directory $1"
lib=$(cd "$2" && pwd) || die "no library directory $2"
inc=$(cd "$3" && pwd) || die "no include directory $3"
shift 3
[ -f "$pkg/Package.swift" ] || die "$pkg has no Package.swift"

# The flags that point the package's C module at the headers and the
# library; `swift build`/`test` take them after the subcommand.
flags() {
    local lib=$1 inc=$2
    printf '%s\n' -Xcc "-I$inc" -Xlinker "-L$lib" -Xlinker -rpath -Xlinker "$lib"
}

with_flags() {
    local lib=$1 inc=$2
    shift 2
    local sub=${1:-}
    case "$sub" in
    build | test | run)
        shift
        mapfile -t extra < <(flags "$lib" "$inc")
        printf '%s\0' "$sub" "${extra[@]}" "$@"
        ;;
    *) [ $# -eq 0 ] || printf '%s\0' "$@" ;;
    esac
}

if command -v swift >/dev/null 2>&1; then
    mapfile -d '' -t args < <(with_flags "$lib" "$inc" "$@")
    cd "$pkg"
    exec swift "${args[@]}"
fi

[ "$(id -u)" -eq 0 ] || die "swift is not on PATH, and building the Debian trixie root it can run in needs root (debootstrap, chroot, unshare). Install Swift 6 (https://swift.org/install) or run as root."
for tool in unshare chroot mount flock; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required to run swift in a trixie root (util-linux, coreutils)"
done

cache=${HOSTCALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hostcall}
root="$cache/swift-trixie"
ready="$root/.hostcall-swift-ready"
mkdir -p "$cache"
exec 9>"$cache/swift-trixie.lock"
flock 9

# Runs a shell command inside the root, with /proc and a private /dev/shm
# mounted in a mount namespace of its own.
in_root() {
    local dir=$1
    shift
    unshare --mount --propagation private bash -c '
        set -e
        dir=$1
        shift
        mount -t proc proc "$dir/proc"
        if [ -d "$dir/dev/shm" ]; then mount -t tmpfs tmpfs "$dir/dev/shm"; fi
        exec chroot "$dir" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 "$@"
    ' in_root "$dir" "$@"
}

if [ ! -f "$ready" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        printf '==> installing debootstrap (to build a Debian trixie root for Swift)\n'
        apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap ||
            die "could not install debootstrap; install it and re-run"
    fi
    tmp="$root.tmp"
    rm -rf "$tmp" "$root"
    printf '==> building a Debian trixie root for Swift in %s (debootstrap; once)\n' "$root"
    debootstrap --variant=minbase trixie "$tmp" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 ||
        { tail -n 20 "$cache/debootstrap.log" >&2; die "debootstrap of trixie failed (log: $cache/debootstrap.log)"; }
    printf '==> installing swiftlang in the trixie root\n'
    in_root "$tmp" bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends swiftlang libc6-dev libstdc++-14-dev' \
        >"$cache/swiftlang.log" 2>&1 ||
        { tail -n 20 "$cache/swiftlang.log" >&2; die "installing swiftlang in the trixie root failed (log: $cache/swiftlang.log)"; }
    in_root "$tmp" swift --version >"$tmp/.hostcall-swift-ready" 2>&1 ||
        { cat "$tmp/.hostcall-swift-ready" >&2; die "swift does not run in the trixie root"; }
    mv "$tmp" "$root"
fi

# The run's copies: the package (its .build kept between runs, so builds
# are incremental), the library (and the helper beside it), the headers.
run="$root/hostcall-run"
mkdir -p "$run/pkg" "$run/lib" "$run/include"
find "$run/pkg" -mindepth 1 -maxdepth 1 ! -name .build -exec rm -rf {} +
(cd "$pkg" && tar --exclude=./.build -cf - .) | (cd "$run/pkg" && tar -xf -)
rm -rf "${run:?}/lib/"* "${run:?}/include/"*
cp "$lib"/lib*.so "$run/lib/"
# An isolated context starts the hostcall-helper beside libdemo.so.
if [ -x "$lib/hostcall-helper" ]; then cp "$lib/hostcall-helper" "$run/lib/"; fi
cp "$inc"/*.h "$run/include/"

mapfile -d '' -t args < <(with_flags /hostcall-run/lib /hostcall-run/include "$@")
in_root "$root" bash -c 'cd /hostcall-run/pkg && exec swift "$@"' swift "${args[@]}"
