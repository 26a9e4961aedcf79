#!/usr/bin/env bash
# Regenerates every generated file checked in: the demo library's headers,
# its Go package, Kotlin binding and Swift package (from the built libdemo.so's own
# description), and the runtime files the ABI list determines (hostcall.h's
# copy for the runtimes, the Go, Kotlin and Swift status constants).
#
# The test suite never rewrites these files: its drift test fails with the
# diff, and this is the command that brings them up to date. Review the
# diff (`git diff`) before committing it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cargo build -q -p demo -p hostcall-gen
target=${CARGO_TARGET_DIR:-$root/target}
gen="$target/debug/hostcall-gen"
lib="$target/debug/libdemo.so"

"$gen" c --lib "$lib" --out examples/demo/include
"$gen" go --lib "$lib" --out bindings/go/demo
"$gen" abi go --out bindings/go/hostcall
"$gen" kotlin --lib "$lib" --out bindings/kotlin/demo
"$gen" abi kotlin --out bindings/kotlin/runtime
"$gen" swift --lib "$lib" --out bindings/swift
git -c color.ui=never status --short -- examples/demo/include bindings/go bindings/kotlin bindings/swift
