//! The configs of isolated `demo` contexts (docs/isolation.md): the
//! library in a `hostcall-helper` the context starts, over a socketpair
//! ([`config`]), or in one already running, reached over a unix socket or
//! TCP on loopback ([`Listening`]).
//!
//! The helper is `target/<profile>/hostcall-helper` (`cargo build --release
//! -p hostcall-helper`; scripts/test.sh builds it before the benches' smoke
//! run); the library file is the `libdemo.so` Cargo built beside this bench
//! binary (the bench links `demo` as an rlib, so the file the library was
//! loaded from is the bench itself, which the helper cannot load).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use ciborium::Value;

/// The helper and the library file it loads.
fn files() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("the bench knows its path");
    let deps = exe.parent().expect("benches live in target/<profile>/deps");
    let library = deps.join("libdemo.so");
    let helper: PathBuf = deps
        .parent()
        .expect("deps/ lives in target/<profile>")
        .join("hostcall-helper");
    assert!(
        helper.is_file(),
        "{} is missing: the isolated benches need it (cargo build --release -p hostcall-helper)",
        helper.display()
    );
    assert!(library.is_file(), "{} is missing", library.display());
    (helper, library)
}

fn encode(entries: &[(&str, &str)]) -> Vec<u8> {
    let text = |s: &str| Value::Text(s.to_owned());
    let map = Value::Map(entries.iter().map(|(k, v)| (text(k), text(v))).collect());
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).expect("a map of text encodes");
    out
}

/// `{"isolation": "process", "helper_path": …, "library_path": …}`.
pub fn config() -> Vec<u8> {
    let (helper, library) = files();
    encode(&[
        ("isolation", "process"),
        ("helper_path", &helper.display().to_string()),
        ("library_path", &library.display().to_string()),
    ])
}

/// A helper serving `demo` at a unix socket or a loopback TCP port for as
/// long as this lives (killed when dropped), and the config that reaches
/// it.
pub struct Listening {
    child: Child,
    config: Vec<u8>,
}

impl Listening {
    /// `hostcall-helper --socket <temp dir>/hostcall-bench-<pid>.sock`.
    pub fn socket() -> Listening {
        let path = std::env::temp_dir().join(format!("hostcall-bench-{}.sock", std::process::id()));
        Listening::start("socket", "--socket", &path.display().to_string())
    }

    /// `hostcall-helper --tcp 127.0.0.1:0`.
    pub fn tcp() -> Listening {
        Listening::start("tcp", "--tcp", "127.0.0.1:0")
    }

    fn start(mode: &str, flag: &str, place: &str) -> Listening {
        let (helper, library) = files();
        let mut child = Command::new(&helper)
            .arg("--library")
            .arg(&library)
            .arg(flag)
            .arg(place)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the helper starts");
        // The helper prints its address once it accepts connections (or
        // exits, closing stdout, if it cannot).
        let mut address = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut address)
            .expect("the helper's stdout reads");
        assert!(
            address.ends_with('\n'),
            "{} {flag} {place} did not start",
            helper.display()
        );
        let config = encode(&[("isolation", mode), ("address", address.trim_end())]);
        Listening { child, config }
    }

    /// The config of a context served by this helper.
    pub fn config(&self) -> &[u8] {
        &self.config
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
