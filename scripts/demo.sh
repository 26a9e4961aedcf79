#!/usr/bin/env bash
# Builds libdemo, compiles the C demo host against it and runs it.
# Usage: scripts/demo.sh   (from any directory)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Where cargo puts its output (respecting CARGO_TARGET_DIR, relative to the cwd).
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
/*) ;;
*) target_dir="$PWD/$target_dir" ;;
esac
lib_dir="$target_dir/debug"
exe="$lib_dir/demo_host"

cd "$root"
echo "==> cargo build -p demo"
cargo build -p demo

echo "==> compiling examples/demo/host/demo_host.c"
"${CC:-cc}" -std=c11 -Wall -Wextra -Werror -g -pthread \
    -I examples/demo/include -I c-tests/include \
    examples/demo/host/demo_host.c \
    -o "$exe" \
    -L "$lib_dir" -ldemo -Wl,-rpath,"$lib_dir"

echo "==> running $exe"
"$exe"
