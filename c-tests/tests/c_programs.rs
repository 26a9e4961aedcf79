//! Builds each C program in `c-tests/` against the real `libdemo.so` and runs
//! it twice: plainly, and under valgrind's memcheck. The programs drive the
//! library only through its C ABI (`examples/demo/include/demo.h`) and end by
//! printing `ok: N checks`; any failed check exits non-zero with file:line.
//!
//! The programs are compiled with the C compiler the `cc` crate picks for
//! this target, into `CARGO_TARGET_TMPDIR`, and linked (with an rpath)
//! against the `libdemo.so` that cargo builds next to this test binary
//! because `demo` is a dev-dependency of this crate.
//!
//! The valgrind tests fail, never skip, when valgrind is missing.
//!
//! The `*_isolated` tests run the same programs with every context isolated
//! in a helper process (`HOSTCALL_TEST_ISOLATION=process`, which
//! `hc_demo_new` in `include/harness.h` reads; docs/isolation.md): they
//! need `target/<profile>/hostcall-helper` (`cargo build -p
//! hostcall-helper`, which scripts/test.sh runs first), and fail, never
//! skip, without it. The `*_socket` tests run them once more with every
//! context reaching one helper that listens on a unix socket
//! (`HOSTCALL_TEST_ISOLATION=socket`, `hostcall-helper --socket`, started
//! by the test for the program's run).
//!
//! `chaos` runs a random schedule of every entry point for a while
//! ([`CHAOS_SECS`] plainly, [`CHAOS_SECS_VALGRIND`] under valgrind). Longer
//! runs by environment: `HOSTCALL_CHAOS_SECS=300` sets the plain run's
//! duration, and `HOSTCALL_CHAOS_SEED=<n>` the seed of both runs (without it
//! the program picks one from the clock and prints it first, for a replay):
//!
//! ```text
//! HOSTCALL_CHAOS_SECS=300 cargo test -p hostcall-c-tests --test c_programs chaos -- --nocapture
//! ```

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A program still running after this long is killed and fails.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Host calls the plain stress run makes (first phase; the second adds half).
const STRESS_CALLS: &str = "100000";
/// The same, under valgrind, which runs one thread at a time and ~50x slower.
const STRESS_CALLS_VALGRIND: &str = "3000";

/// Seconds of the plain chaos run, unless `HOSTCALL_CHAOS_SECS` says otherwise.
const CHAOS_SECS: u64 = 30;
/// Seconds of the chaos run under valgrind: it runs ~50x slower (one thread
/// at a time), so this is some thousands of calls and a few dozen destroys;
/// with start-up, drain and leak check the run takes about 25 s.
const CHAOS_SECS_VALGRIND: u64 = 20;
/// Seconds of the chaos run with every context isolated: each context it
/// creates starts a helper process.
const CHAOS_SECS_ISOLATED: u64 = 10;
/// What a chaos run may take beyond its seconds before it is killed: its own
/// watchdog (`alarm`) fires at seconds + 90 s, naming the phase that hung, and
/// must get the first word.
const CHAOS_MARGIN: Duration = Duration::from_secs(150);

/// What valgrind exits with when it found an error (and the program did not fail).
const VALGRIND_ERROR_EXIT: i32 = 99;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding `libdemo.so`: the one this test binary lives in
/// (`target/<profile>/deps`).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let dir = exe
        .parent()
        .expect("the test binary lives in a directory")
        .to_path_buf();
    let lib = dir.join(format!(
        "{}demo{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        lib.is_file(),
        "{} does not exist; cargo should have built it because `demo` \
         (crate-type cdylib) is a dev-dependency of hostcall-c-tests",
        lib.display()
    );
    dir
}

/// Compiles `c-tests/<program>.c` once per test process and returns the
/// executable's path.
fn binary(program: &'static str) -> PathBuf {
    type Cells = Mutex<HashMap<&'static str, Arc<OnceLock<PathBuf>>>>;
    static BUILT: OnceLock<Cells> = OnceLock::new();
    let cell = BUILT
        .get_or_init(Cells::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(program)
        .or_default()
        .clone();
    cell.get_or_init(|| compile(program)).clone()
}

/// `cmd` as a shell-like line, without the environment.
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn compile(program: &str) -> PathBuf {
    let source = manifest_dir().join(format!("{program}.c"));
    let header_dir = manifest_dir().join("../examples/demo/include");
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-programs");
    std::fs::create_dir_all(&out_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", out_dir.display()));
    let exe = out_dir.join(program);
    let lib_dir = lib_dir();

    let compiler = cc::Build::new()
        .target(env!("HC_C_TESTS_TARGET"))
        .host(env!("HC_C_TESTS_HOST"))
        .opt_level(0)
        .debug(true)
        .cargo_metadata(false)
        .try_get_compiler()
        .unwrap_or_else(|e| panic!("the cc crate found no C compiler for this target: {e}"));
    let mut cmd = compiler.to_command();
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-pthread"])
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg("-I")
        .arg(&header_dir)
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib_dir.display()))
        .arg("-ldemo")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()));
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run the C compiler ({}): {e}", describe(&cmd)));
    assert!(
        output.status.success(),
        "compiling {program}.c failed ({}):\n{}\n{}{}",
        output.status,
        describe(&cmd),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// The outcome of one run.
struct Run {
    label: String,
    status: ExitStatus,
    timed_out: bool,
    timeout: Duration,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn report(&self) -> String {
        format!(
            "{} exited with {}{} after {:.1?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.label,
            self.status,
            if self.timed_out {
                format!(" (killed: still running after {:?})", self.timeout)
            } else {
                String::new()
            },
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }

    /// Asserts a clean exit with a final `ok: N checks` line (N > 0).
    fn assert_ok(&self) {
        let checks = self
            .stdout
            .lines()
            .last()
            .and_then(|line| line.strip_prefix("ok: "))
            .and_then(|rest| rest.strip_suffix(" checks"))
            .and_then(|n| n.parse::<u64>().ok());
        match checks {
            Some(n) if n > 0 && self.status.success() && !self.timed_out => {
                eprintln!("{}: ok, {n} checks in {:.1?}", self.label, self.elapsed);
            }
            _ => panic!("{}", self.report()),
        }
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `cmd`, killing it (by its pid) if it outlives [`TIMEOUT`].
fn run(cmd: Command, label: String) -> Run {
    run_with_timeout(cmd, label, TIMEOUT)
}

/// Runs `cmd`, killing it (by its pid) if it outlives `timeout`.
fn run_with_timeout(mut cmd: Command, label: String, timeout: Duration) -> Run {
    // panic_with panics on purpose; its message is enough, a backtrace is noise.
    // cargo test puts target/<profile> on LD_LIBRARY_PATH, which outranks
    // the programs' RUNPATH: a stale `libdemo.so` left there by an earlier
    // `cargo build` would be loaded instead of the one built for this run.
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd.env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {label} ({}): {e}", describe(&cmd)));
    let pid = child.id();
    let stdout = read_all(child.stdout.take().expect("stdout is piped"));
    let stderr = read_all(child.stderr.take().expect("stderr is piped"));
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let (status, timed_out) = match done_rx.recv_timeout(timeout) {
        Ok(status) => (status, false),
        Err(_) => {
            // The child is not reaped until `wait` returns, so `pid` is still ours.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            (done_rx.recv().expect("the waiter thread reports"), true)
        }
    };
    let status = status.unwrap_or_else(|e| panic!("waiting for {label}: {e}"));
    waiter.join().expect("the waiter thread does not panic");
    Run {
        label,
        status,
        timed_out,
        timeout,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        elapsed: start.elapsed(),
    }
}

fn label(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_plain(program: &'static str, args: &[&str]) {
    run_plain_for(program, args, TIMEOUT);
}

/// The `hostcall-helper` isolated runs start: `target/<profile>/`, where
/// `cargo build -p hostcall-helper` leaves it (scripts/test.sh builds it
/// before this crate's tests; a test crate cannot depend on a binary).
fn helper() -> PathBuf {
    let helper = lib_dir()
        .parent()
        .expect("deps/ lives in target/<profile>")
        .join("hostcall-helper");
    assert!(
        helper.is_file(),
        "{} does not exist: the isolated runs need it (cargo build -p hostcall-helper)",
        helper.display()
    );
    helper
}

/// Runs `program` with every context it creates isolated (`hc_demo_new` in
/// harness.h adds `isolation: "process"`), plainly or under valgrind.
fn run_isolated(program: &'static str, args: &[&str], valgrind: bool) {
    run_isolated_for(program, args, valgrind, TIMEOUT);
}

fn run_isolated_for(program: &'static str, args: &[&str], valgrind: bool, timeout: Duration) {
    let helper = helper();
    let envs = [
        ("HOSTCALL_TEST_ISOLATION", PathBuf::from("process")),
        ("HOSTCALL_TEST_HELPER", helper),
    ];
    if valgrind {
        run_under_valgrind_env(program, args, timeout, &envs);
    } else {
        let mut cmd = Command::new(binary(program));
        cmd.args(args).envs(envs.iter().map(|(k, v)| (k, v)));
        run_with_timeout(cmd, format!("isolated {}", label(program, args)), timeout).assert_ok();
    }
}

/// Runs `program` with every context it creates reaching one helper that
/// listens on a unix socket (`hc_demo_new` adds `isolation: "socket"` and
/// its `address`), started for this run and killed after it; plainly or
/// under valgrind.
fn run_listening(program: &'static str, args: &[&str], valgrind: bool) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("listening");
    std::fs::create_dir_all(&dir).expect("the socket directory");
    let socket = dir.join(format!("{program}-{}.sock", valgrind as u8));
    /// Kills the helper when the run ends, passed or not.
    struct Listening(std::process::Child);
    impl Drop for Listening {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut helper = Listening(
        Command::new(helper())
            .arg("--library")
            .arg(lib_dir().join("libdemo.so"))
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the helper starts"),
    );
    // It prints its socket's path once it accepts connections, or exits
    // (end-of-file) if it cannot.
    let mut line = String::new();
    let _ = std::io::BufRead::read_line(
        &mut std::io::BufReader::new(helper.0.stdout.take().expect("piped")),
        &mut line,
    );
    assert!(
        line.ends_with('\n'),
        "the helper did not listen at {}",
        socket.display()
    );
    let envs = [
        ("HOSTCALL_TEST_ISOLATION", PathBuf::from("socket")),
        ("HOSTCALL_TEST_ADDRESS", socket),
    ];
    if valgrind {
        run_under_valgrind_env(program, args, TIMEOUT, &envs);
    } else {
        let mut cmd = Command::new(binary(program));
        cmd.args(args).envs(envs.iter().map(|(k, v)| (k, v)));
        run_with_timeout(cmd, format!("listening {}", label(program, args)), TIMEOUT).assert_ok();
    }
}

fn run_plain_for(program: &'static str, args: &[&str], timeout: Duration) -> Run {
    let exe = binary(program);
    let mut cmd = Command::new(&exe);
    cmd.args(args);
    let run = run_with_timeout(cmd, label(program, args), timeout);
    run.assert_ok();
    run
}

fn run_under_valgrind(program: &'static str, args: &[&str]) {
    run_under_valgrind_for(program, args, TIMEOUT);
}

fn run_under_valgrind_for(program: &'static str, args: &[&str], timeout: Duration) -> Run {
    run_under_valgrind_env(program, args, timeout, &[])
}

fn run_under_valgrind_env(
    program: &'static str,
    args: &[&str],
    timeout: Duration,
    envs: &[(&str, PathBuf)],
) -> Run {
    if let Err(e) = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        panic!(
            "valgrind is not on PATH ({e}): the *_under_valgrind tests need it \
             (e.g. `apt-get install valgrind`); they fail rather than skip"
        );
    }
    let exe = binary(program);
    // None is needed today: Rust std, tokio and glibc produce no definite
    // leaks or invalid accesses here. Should false positives appear, list
    // them (commented) in this file; never suppress hostcall's own frames.
    let suppressions = manifest_dir().join("valgrind.supp");
    let mut cmd = Command::new("valgrind");
    cmd.args([
        format!("--error-exitcode={VALGRIND_ERROR_EXIT}"),
        "--leak-check=full".into(),
        "--errors-for-leak-kinds=definite".into(),
        "--show-leak-kinds=definite".into(),
        "--num-callers=40".into(),
        "-q".into(),
    ]);
    if suppressions.is_file() {
        cmd.arg(format!("--suppressions={}", suppressions.display()));
    }
    cmd.arg(&exe).args(args);
    cmd.envs(envs.iter().map(|(k, v)| (k, v)));
    let isolated = if envs.is_empty() { "" } else { "isolated " };
    let run = run_with_timeout(
        cmd,
        format!("valgrind {isolated}{}", label(program, args)),
        timeout,
    );
    if run.status.code() == Some(VALGRIND_ERROR_EXIT) {
        panic!(
            "valgrind reported memory errors or definite leaks:\n{}",
            run.report()
        );
    }
    run.assert_ok();
    run
}

#[test]
fn basic() {
    run_plain("basic", &[]);
}

#[test]
fn basic_under_valgrind() {
    run_under_valgrind("basic", &[]);
}

#[test]
fn bad_input() {
    run_plain("bad_input", &[]);
}

#[test]
fn bad_input_under_valgrind() {
    run_under_valgrind("bad_input", &[]);
}

#[test]
fn tokens() {
    run_plain("tokens", &[]);
}

#[test]
fn tokens_under_valgrind() {
    run_under_valgrind("tokens", &[]);
}

#[test]
fn teardown() {
    run_plain("teardown", &[]);
}

#[test]
fn teardown_under_valgrind() {
    run_under_valgrind("teardown", &[]);
}

#[test]
fn cycles() {
    run_plain("cycles", &[]);
}

#[test]
fn cycles_under_valgrind() {
    run_under_valgrind("cycles", &[]);
}

/// Requests each of the cancel program's 8 threads issues (and the rounds of
/// its destroy race, a quarter of that).
const CANCEL_REQUESTS: &str = "400";
/// The same, under valgrind.
const CANCEL_REQUESTS_VALGRIND: &str = "100";

#[test]
fn cancel() {
    run_plain("cancel", &[CANCEL_REQUESTS]);
}

#[test]
fn cancel_under_valgrind() {
    run_under_valgrind("cancel", &[CANCEL_REQUESTS_VALGRIND]);
}

/// Sign-ins each of the typed program's 8 threads issues.
const TYPED_SIGN_INS: &str = "300";
/// The same, under valgrind.
const TYPED_SIGN_INS_VALGRIND: &str = "40";

#[test]
fn typed() {
    run_plain("typed", &[TYPED_SIGN_INS]);
}

#[test]
fn typed_under_valgrind() {
    run_under_valgrind("typed", &[TYPED_SIGN_INS_VALGRIND]);
}

/// Requests each of the origin program's 6 race threads issues (and the
/// rounds of its destroy race, a tenth of that, at least 8).
const ORIGIN_REQUESTS: &str = "300";
/// The same, under valgrind.
const ORIGIN_REQUESTS_VALGRIND: &str = "40";

#[test]
fn origin() {
    run_plain("origin", &[ORIGIN_REQUESTS]);
}

#[test]
fn origin_under_valgrind() {
    run_under_valgrind("origin", &[ORIGIN_REQUESTS_VALGRIND]);
}

/// A host fn destroys its own context (destroy returns at once there) and
/// then asks `demo_host_call_origin` with the dead handle: demo.h and the
/// brief say 0 for a destroyed ctx. (It answered the request's id until
/// 8b19ff4: `host_call_origin` compared `ctx` with a handle destroy did not
/// clear.)
#[test]
fn origin_is_0_after_destroy_inside_host_fn() {
    run_plain("origin", &["1", "1", "destroy-inside"]);
}

#[test]
fn stress() {
    run_plain("stress", &[STRESS_CALLS]);
}

// The same programs with every context isolated in a helper process
// (docs/isolation.md): the host sees the same behaviour.

#[test]
fn basic_isolated() {
    run_isolated("basic", &[], false);
}

#[test]
fn basic_isolated_under_valgrind() {
    run_isolated("basic", &[], true);
}

#[test]
fn bad_input_isolated() {
    run_isolated("bad_input", &[], false);
}

#[test]
fn tokens_isolated() {
    run_isolated("tokens", &[], false);
}

#[test]
fn teardown_isolated() {
    run_isolated("teardown", &[], false);
}

#[test]
fn teardown_isolated_under_valgrind() {
    run_isolated("teardown", &[], true);
}

#[test]
fn cycles_isolated() {
    run_isolated("cycles", &[], false);
}

#[test]
fn cancel_isolated() {
    run_isolated("cancel", &[CANCEL_REQUESTS], false);
}

#[test]
fn typed_isolated() {
    run_isolated("typed", &[TYPED_SIGN_INS], false);
}

#[test]
fn origin_isolated() {
    run_isolated("origin", &[ORIGIN_REQUESTS], false);
}

/// Crashes of the isolated library as a C host sees them (crash.c runs only
/// isolated: in process it would kill itself).
#[test]
fn crash_isolated() {
    run_isolated("crash", &[], false);
}

#[test]
fn crash_isolated_under_valgrind() {
    run_isolated("crash", &[], true);
}

#[test]
fn chaos_isolated() {
    let args = chaos_args(CHAOS_SECS_ISOLATED);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let timeout = Duration::from_secs(CHAOS_SECS_ISOLATED) + CHAOS_MARGIN;
    run_isolated_for("chaos", &args, false, timeout);
}

#[test]
fn stress_isolated() {
    run_isolated("stress", &[STRESS_CALLS], false);
}

// The same programs with every context reaching one helper listening on a
// unix socket (crash.c is left out: its crashes would take the shared
// helper down for good; tests/listen.rs of hostcall-helper covers that).

#[test]
fn basic_socket() {
    run_listening("basic", &[], false);
}

#[test]
fn basic_socket_under_valgrind() {
    run_listening("basic", &[], true);
}

#[test]
fn bad_input_socket() {
    run_listening("bad_input", &[], false);
}

#[test]
fn tokens_socket() {
    run_listening("tokens", &[], false);
}

#[test]
fn teardown_socket() {
    run_listening("teardown", &[], false);
}

#[test]
fn cycles_socket() {
    run_listening("cycles", &[], false);
}

#[test]
fn cancel_socket() {
    run_listening("cancel", &[CANCEL_REQUESTS], false);
}

#[test]
fn typed_socket() {
    run_listening("typed", &[TYPED_SIGN_INS], false);
}

#[test]
fn origin_socket() {
    run_listening("origin", &[ORIGIN_REQUESTS], false);
}

#[test]
fn stress_socket() {
    run_listening("stress", &[STRESS_CALLS], false);
}

#[test]
fn stress_under_valgrind() {
    run_under_valgrind("stress", &[STRESS_CALLS_VALGRIND]);
}

/// The chaos program's arguments: `<seconds> [seed]`, the seed from
/// `HOSTCALL_CHAOS_SEED` when it is set.
fn chaos_args(secs: u64) -> Vec<String> {
    let mut args = vec![secs.to_string()];
    if let Ok(seed) = std::env::var("HOSTCALL_CHAOS_SEED") {
        let seed = seed.trim().to_owned();
        assert!(
            seed.parse::<u64>().is_ok(),
            "HOSTCALL_CHAOS_SEED={seed:?} is not an unsigned integer"
        );
        args.push(seed);
    }
    args
}

/// A random schedule of every entry point from many threads against several
/// contexts for [`CHAOS_SECS`] (or `HOSTCALL_CHAOS_SECS`) seconds; every
/// reply and every host call is accounted for.
#[test]
fn chaos() {
    let secs = match std::env::var("HOSTCALL_CHAOS_SECS") {
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&secs| secs > 0)
            .unwrap_or_else(|| {
                panic!("HOSTCALL_CHAOS_SECS={value:?} is not a positive number of seconds")
            }),
        Err(_) => CHAOS_SECS,
    };
    let args = chaos_args(secs);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_plain_for("chaos", &args, Duration::from_secs(secs) + CHAOS_MARGIN);
    // The seed and the summary: seen with --nocapture.
    eprintln!("{}", run.stdout);
}

#[test]
fn chaos_under_valgrind() {
    let args = chaos_args(CHAOS_SECS_VALGRIND);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_under_valgrind_for(
        "chaos",
        &args,
        Duration::from_secs(CHAOS_SECS_VALGRIND) + CHAOS_MARGIN,
    );
    eprintln!("{}", run.stdout);
}

/// `HOSTCALL_LOG=debug` prints the request and host-call spans to stderr;
/// without it the library prints nothing.
#[test]
fn hostcall_log_selects_the_level() {
    let exe = binary("basic");
    let mut cmd = Command::new(&exe);
    cmd.env("HOSTCALL_LOG", "debug");
    let logged = run(cmd, "HOSTCALL_LOG=debug basic".into());
    logged.assert_ok();
    for needle in [
        "request{method=\"login\"",
        "host_call{name=\"fetch_profile\" token=",
        "invoking host fn",
        "host call completed",
        "replied",
    ] {
        assert!(
            logged.stderr.contains(needle),
            "HOSTCALL_LOG=debug output lacks {needle:?}:\n{}",
            logged.report()
        );
    }
    let mut cmd = Command::new(&exe);
    cmd.env_remove("HOSTCALL_LOG");
    let quiet = run(cmd, "basic".into());
    quiet.assert_ok();
    assert!(
        !quiet.stderr.contains("host_call{"),
        "without HOSTCALL_LOG the library must not log:\n{}",
        quiet.report()
    );
}
