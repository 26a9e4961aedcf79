#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run) and what the README tells a
# newcomer to run. Installs what is missing; fails loudly when it cannot.
#
#   bash scripts/test.sh            every part, in the order below
#   bash scripts/test.sh <part>...  only those parts
#
# Parts:
#   rust    rustfmt over every .rs file, clippy, the Rust tests, the loom
#           models, the benches in smoke mode, the generated files' drift
#   c       the C programs driving libdemo (plain, under valgrind, and with
#           every context isolated in a helper process; the chaos run among
#           them) and the C demo end to end
#   go      the Go bindings: gofmt, go vet, go test -race and under the
#           strict cgo pointer checks, benchmarks and the service load
#           benchmark in smoke mode
#   kotlin  the Kotlin generated files' drift, the Kotlin Maven reactor
#           (runtime and demo modules), tests under -Xcheck:jni
#   swift   the Swift package's generated files' drift, swift test (Swift 6
#           mode, warnings as errors; swift from PATH or a cached Debian
#           trixie root, see scripts/swift.sh), the same under ThreadSanitizer,
#           the benchmark's smoke run
#   fuzz    each cargo-fuzz target for a short bounded time
#           (FUZZ_SECONDS per target, default 20; see docs/fuzzing.md)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all_parts=(rust c go kotlin swift fuzz)

step() { printf '\n==> %s\n' "$*"; }
die() {
    printf '\nscripts/test.sh: %s\n' "$*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}

# Installs Debian package $2 unless command $1 exists; fails if it cannot.
need_apt() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null 2>&1 && return 0
    step "installing $pkg (for $cmd)"
    if command -v apt-get >/dev/null 2>&1; then
        as_root apt-get update -qq || true
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" ||
            die "could not install $pkg; install it and re-run"
    fi
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd is required but missing (Debian package: $pkg)"
}

need_rust_component() {
    local probe=$1 component=$2
    if ! cargo "$probe" --version >/dev/null 2>&1; then
        step "installing the $component component"
        command -v rustup >/dev/null 2>&1 || die "cargo $probe is missing and rustup is not available to add $component"
        rustup component add "$component" || die "could not add the $component component"
    fi
}

need_cargo() {
    command -v cargo >/dev/null 2>&1 || die "cargo is required: install Rust from https://rustup.rs"
    cargo --version
}

# Where cargo leaves libdemo.so (respecting CARGO_TARGET_DIR).
lib_dir() {
    local dir="${CARGO_TARGET_DIR:-$root/target}/debug"
    case "$dir" in /*) ;; *) dir="$root/$dir" ;; esac
    printf '%s\n' "$dir"
}

part_rust() {
    step "rust: checking tools"
    need_cargo
    need_rust_component fmt rustfmt
    need_rust_component clippy clippy
    # The C tests are the c part's; the cc crate still needs a compiler to
    # build them for clippy.
    need_apt cc gcc

    # `cargo fmt` skips crates outside the workspace (fuzz/) and any module
    # declared inside a macro: rustfmt checks every tracked .rs file by name
    # as well.
    step "rustfmt --check on every .rs file"
    git ls-files -z -- '*.rs' | xargs -0 rustfmt --edition 2024 --check
    cargo fmt --all -- --check

    step "cargo clippy (warnings are errors)"
    cargo clippy --workspace --all-targets -- -D warnings

    step "cargo test (Rust unit and integration tests; the drift tests regenerate every generated file in memory and fail with the diff)"
    cargo test --workspace --exclude hostcall-c-tests

    step "benches, smoke mode (each bench once; asserts nothing about speed)"
    # The isolated login benches start target/release/hostcall-helper.
    cargo build --release -p hostcall-helper
    cargo bench --workspace -- --test

    step "loom models of the completion bridge, the inbox and the handle guard"
    RUSTFLAGS="--cfg hostcall_loom" CARGO_TARGET_DIR="$root/target/loom" \
        cargo test -p hostcall --lib --release
}

part_c() {
    step "c: checking tools"
    need_cargo
    need_apt cc gcc
    need_apt valgrind valgrind
    cc --version | sed -n 1p
    valgrind --version

    step "the C programs against libdemo, plain, under valgrind, and with every context isolated in hostcall-helper (chaos runs included)"
    # The isolated runs start target/<profile>/hostcall-helper.
    cargo build -p hostcall-helper
    cargo test -p hostcall-c-tests

    step "the C demo, end to end"
    bash "$root/scripts/demo.sh"
}

part_go() {
    step "go: checking tools"
    need_cargo
    need_apt cc gcc
    command -v go >/dev/null 2>&1 || need_apt go golang-go
    # Go >= 1.21 fetches the toolchain bindings/go/go.mod asks for by itself.
    local go_minor
    go_minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
    [ "${go_minor:-0}" -ge 21 ] || die "Go >= 1.21 is required for the Go bindings (found $(go env GOVERSION)); install it from https://go.dev/dl"
    command -v gofmt >/dev/null 2>&1 || die "gofmt is required (it comes with Go)"
    go version

    step "Go bindings: gofmt, go vet, go test -race, and go test under GOEXPERIMENT=cgocheck2"
    cargo build -p demo -p hostcall-helper
    local dir
    dir=$(lib_dir)
    (
        cd "$root/bindings/go"
        # demo.h and hostcall.h come from the library's include directory.
        export CGO_CFLAGS="-I$root/examples/demo/include"
        export CGO_LDFLAGS="-L$dir -Wl,-rpath,$dir"
        unformatted=$(gofmt -l .)
        [ -z "$unformatted" ] || die "gofmt would change: $unformatted"
        go vet ./...
        go test -race -count=1 ./...
        # The demo suite again with the library isolated in hostcall-helper
        # (beside libdemo.so): every test context gets
        # WithIsolation(IsolationProcess); the few in-process-only tests
        # skip, saying why.
        HOSTCALL_TEST_ISOLATION=process go test -race -count=1 ./demo/
        # The strict cgo pointer checks (GODEBUG=cgocheck=2 became this build-time
        # experiment in Go 1.21).
        GOEXPERIMENT=cgocheck2 go test -count=1 ./...
        # Benchmarks in smoke mode: each once, nothing asserted about speed.
        go test -run '^$' -bench . -benchtime 1x ./...
        # The service load benchmark (docs/loadbench.md) in smoke mode: one
        # short round per variant; it exits 1 unless every response was 200
        # with the expected body. Nothing asserted about speed.
        timeout 120 go run ./loadbench -duration 200ms -rounds 1 -warmup 100ms -connections 8
    )
}

part_kotlin() {
    step "kotlin: checking tools"
    need_cargo
    command -v java >/dev/null 2>&1 || need_apt java default-jdk-headless
    command -v mvn >/dev/null 2>&1 || need_apt mvn maven
    local java_home
    java_home=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.home = //p')
    [ -f "$java_home/include/jni.h" ] || die "a JDK with JNI headers is required ($java_home/include/jni.h is missing; install a JDK, not a JRE)"
    # sed reads every line: `head` would close the pipe early and, under
    # pipefail, a tool that dies of the broken pipe fails the run (mvn does).
    java -version 2>&1 | sed -n 1p
    mvn -B -v -Dstyle.color=never | sed -n 1p

    # The tests run against the checked-in generated files: they must be what
    # hostcall-gen writes (the rust part's drift test checks the same).
    step "Kotlin generated files: Demo.kt and demo_jni.c from libdemo, Status.kt from the ABI list (hostcall-gen --check)"
    cargo build -p demo -p hostcall-gen -p hostcall-helper
    local dir
    dir=$(lib_dir)
    "$dir/hostcall-gen" kotlin --lib "$dir/libdemo.so" --out "$root/bindings/kotlin/demo" --check ||
        die "the Kotlin binding differs from what hostcall-gen writes (above); run scripts/generate.sh"
    "$dir/hostcall-gen" abi kotlin --out "$root/bindings/kotlin/runtime" --check ||
        die "the Kotlin runtime's Status.kt differs from what hostcall-gen writes (above); run scripts/generate.sh"

    step "Kotlin runtime and binding: mvn -B test over both modules (JNI glue built by Maven, tests under -Xcheck:jni)"
    (
        # The parent pom: the reactor builds runtime, then demo (its tests).
        cd "$root/bindings/kotlin"
        log=$(mktemp)
        # clean: a report left by an earlier run must not fail (or pass) this one.
        if ! mvn -B clean test -Dhostcall.lib.dir="$dir" >"$log" 2>&1; then
            cat "$log"
            die "the Kotlin tests failed"
        fi
        grep -E "Tests run:|BUILD" "$log" | tail -n 3
        # -Xcheck:jni reports misuse as warnings: they must stay quiet. A local
        # reference leak reads "WARNING: JNI local refs: 33, exceeds capacity: 32";
        # misuse "WARNING in native method: …". (JniTest also runs a workout in a
        # child JVM under -Xcheck:jni and fails on any such line.)
        if grep -rh "WARNING in native method\|JNI WARNING\|WARNING: JNI local refs\|FATAL ERROR in native method" "$log" runtime/target/surefire-reports demo/target/surefire-reports 2>/dev/null; then
            die "-Xcheck:jni reported JNI misuse (above)"
        fi
        rm -f "$log"
    )
}

part_swift() {
    step "swift: checking tools"
    need_cargo

    # The tests run against the checked-in generated files: they must be what
    # hostcall-gen writes (the rust part's drift test checks the same).
    step "Swift generated files: Package.swift, the C module, Demo.swift and Status.swift (hostcall-gen swift --check)"
    cargo build -p demo -p hostcall-gen -p hostcall-helper
    local dir
    dir=$(lib_dir)
    "$dir/hostcall-gen" swift --lib "$dir/libdemo.so" --out "$root/bindings/swift" --check ||
        die "the Swift package differs from what hostcall-gen writes (above); run scripts/generate.sh"

    # swift from PATH, or inside the cached Debian trixie root (scripts/swift.sh
    # builds it once, as root, and says what is missing when it cannot).
    # Bounded as a whole (the root's first build included): a test that hangs
    # fails the run instead of holding it (timeout signals its whole group).
    # swift.sh on the package, libdemo and its headers, within $1 seconds.
    swift_bounded() {
        local seconds=$1
        shift
        timeout --kill-after=10 "$seconds" bash "$root/scripts/swift.sh" "$root/bindings/swift" "$dir" \
            "$root/examples/demo/include" "$@"
    }
    step "Swift package: swift test (Swift 6 language mode, warnings are errors)"
    swift_bounded 900 test -Xswiftc -warnings-as-errors ||
        die "the Swift tests failed (or took over 15 minutes, the root's first build included)"

    # The same suite under ThreadSanitizer (Swift code instrumented, not
    # libdemo), in a build directory of its own so neither build undoes the
    # other.
    step "Swift package: swift test --sanitize=thread"
    swift_bounded 900 test --sanitize=thread --scratch-path .build/tsan ||
        die "the Swift tests failed under ThreadSanitizer"

    # The benchmark runner, once per benchmark on the debug build: it builds
    # with no warning and every case answers correctly (nothing is timed).
    step "Swift package: DemoBench --smoke (each benchmark once, nothing timed)"
    swift_bounded 600 run -Xswiftc -warnings-as-errors DemoBench --smoke ||
        die "the Swift benchmark runner failed its smoke run"
}

part_fuzz() {
    step "fuzz: checking tools"
    need_cargo
    need_rust_component clippy clippy
    need_apt c++ g++

    # The fuzz crate is a workspace of its own (fuzz/Cargo.toml); it builds
    # without the sanitizer flags for clippy, its unit tests and the corpus
    # generator.
    step "fuzz crate: clippy (warnings are errors) and unit tests"
    cargo clippy --manifest-path "$root/fuzz/Cargo.toml" --all-targets -- -D warnings
    cargo test --manifest-path "$root/fuzz/Cargo.toml" --lib

    step "the seed corpus is what fuzz/examples/gen_corpus.rs writes"
    cargo run -q --manifest-path "$root/fuzz/Cargo.toml" --example gen_corpus
    if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
        local untracked
        git -C "$root" diff --exit-code --stat -- fuzz/corpus ||
            die "fuzz/corpus differs from what gen_corpus writes (above); commit it"
        untracked=$(git -C "$root" ls-files --others --exclude-standard -- fuzz/corpus)
        [ -z "$untracked" ] || die "gen_corpus wrote seeds that are not committed:
$untracked"
    fi

    step "each cargo-fuzz target for ${FUZZ_SECONDS:-20} s"
    bash "$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-20}"
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=("${all_parts[@]}")
for part in "${parts[@]}"; do
    case " ${all_parts[*]} " in
    *" $part "*) ;;
    *) die "unknown part '$part' (parts: ${all_parts[*]})" ;;
    esac
done
for part in "${parts[@]}"; do
    "part_$part"
done

printf '\nAll tests passed (%s).\n' "${parts[*]}"
