#!/usr/bin/env bash
# Builds and runs every fuzz target (fuzz/, cargo-fuzz layout) for a while.
#
#   bash scripts/fuzz.sh [seconds-per-target]     # default 20
#
# Each target starts from its committed seed corpus (fuzz/corpus/<target>),
# but libFuzzer writes new inputs only to the FIRST corpus directory it is
# given, so every run gets a fresh temporary directory first and the
# committed corpus second: the committed corpus never changes (checked).
# Crash, timeout and out-of-memory inputs go to fuzz/artifacts/<target>/.
#
# Prints, per target, libFuzzer's final line (executions, coverage, corpus
# size, exec/s) and fails loudly if a target finds anything, or if a tool it
# needs is missing and cannot be installed. docs/fuzzing.md has the rest.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${1:-20}"
case "$seconds" in
'' | *[!0-9]*) echo "usage: bash scripts/fuzz.sh [seconds-per-target]" >&2 && exit 2 ;;
esac

targets=(cbor_differential config requests frames)

step() { printf '\n==> %s\n' "$*"; }
die() {
    printf '\nscripts/fuzz.sh: %s\n' "$*" >&2
    exit 1
}

# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, sancov); the
# stable toolchain takes them with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1

command -v cargo >/dev/null 2>&1 || die "cargo is required but missing"
if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz"
    cargo install cargo-fuzz --locked || die "could not install cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo fuzz --version >/dev/null 2>&1 || die "cargo-fuzz installed but 'cargo fuzz' does not run"
fi
command -v c++ >/dev/null 2>&1 || die "a C++ compiler (c++) is required to build libFuzzer (Debian package: g++)"

corpus_sum() { (cd fuzz/corpus && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum; }
artifact_count() { find "fuzz/artifacts/$1" -type f 2>/dev/null | wc -l; }

step "building the fuzz targets ($(cargo fuzz --version), address sanitizer)"
cargo fuzz build || die "cargo fuzz build failed"

work="$(mktemp -d "${TMPDIR:-/tmp}/hostcall-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

before="$(corpus_sum)"
declare -A summary
failed=()
for target in "${targets[@]}"; do
    step "fuzzing $target for ${seconds}s"
    fresh="$work/$target"
    log="$work/$target.log"
    mkdir -p "$fresh" "fuzz/artifacts/$target"
    artifacts_before="$(artifact_count "$target")"
    status=0
    # -timeout: an input running this long is a hang, reported as a crash.
    cargo fuzz run "$target" "$fresh" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=60 -print_final_stats=1 >"$log" 2>&1 || status=$?
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
    execs="$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n 1 || true)"
    new="$(find "$fresh" -type f | wc -l)"
    artifacts_after="$(artifact_count "$target")"
    if [ "$status" -ne 0 ] || [ "$artifacts_after" -ne "$artifacts_before" ] || [ -z "$done_line" ]; then
        echo "---- last 60 lines of the $target log ----"
        tail -n 60 "$log"
        echo "----"
        echo "$target FAILED (exit $status); new artifacts in fuzz/artifacts/$target/:"
        find "fuzz/artifacts/$target" -type f -newer "$fresh" -print 2>/dev/null || true
        failed+=("$target")
        summary[$target]="FAILED (exit $status)"
        continue
    fi
    echo "$done_line"
    summary[$target]="executions ${execs:-?}, $(echo "$done_line" | sed -E 's/^#[0-9]+[[:space:]]+DONE[[:space:]]+//'), new inputs $new"
done

[ "$(corpus_sum)" = "$before" ] || die "the committed corpus fuzz/corpus changed during the run"

step "summary (${seconds}s per target)"
for target in "${targets[@]}"; do
    printf '%-18s %s\n' "$target" "${summary[$target]}"
done
if [ "${#failed[@]}" -ne 0 ]; then
    die "fuzzing found failures in: ${failed[*]} (inputs in fuzz/artifacts/; see docs/fuzzing.md to reproduce)"
fi
echo "fuzz: ${#targets[@]} passed, 0 failed"
