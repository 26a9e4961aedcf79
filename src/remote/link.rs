//! One helper process and the connection to it, seen from the host.
//!
//! # Protocol
//!
//! 1. **Find**: the library file is `library_path`, or the file this
//!    library was loaded from (`dladdr`); the helper is `helper_path`, or
//!    `hostcall-helper` beside the library's file, or the first on PATH.
//!    Either missing is an error naming what is missing.
//! 2. **Spawn**: a socketpair; the helper's end becomes its stdin and
//!    stdout (it moves it off them before loading the library), stderr is
//!    the host's. The resource limits go on its command line; it applies
//!    them before it loads the library.
//! 3. **Handshake** (protocol step 1), on the calling thread, bounded by
//!    `handshake_timeout_ms`: a refusal, a wrong version or hash, silence
//!    or an early exit is an error, and the helper is killed and reaped.
//! 4. **Run**: a writer thread ([`Sink`]) and a reader thread. The reader
//!    hands every message to the context's loop (`Msg::Remote`). When the
//!    connection ends (end-of-file, a read error, a malformed frame) it
//!    kills the helper — a no-op for one that is already dead, the end of
//!    one that stopped talking — waits for its exit *without reaping it*
//!    (`waitid` with `WNOWAIT`, so its pid cannot be reused while this
//!    link may still signal it), and reports how it died
//!    (`Msg::RemoteDied`).
//! 5. **Close** ([`Link::close`], loop thread): shut the connection down,
//!    wait (bounded) for the reader's report, kill the helper if it is
//!    still alive, then reap it and join both threads.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::context::config::Isolation;
use crate::context::{Msg, Shared};
use crate::isolation::protocol::{self, Down, FrameError, PROTOCOL_VERSION, Up};
use crate::isolation::sink::Sink;
use crate::library::Library;

/// The helper program's name, beside the library or on PATH.
pub const HELPER: &str = "hostcall-helper";

/// How long [`Link::close`] waits for a helper to exit by itself.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A running helper and its connection.
pub(crate) struct Link {
    pub(crate) sink: Sink,
    /// Which helper of the context this is (1 for the first; each restart
    /// counts one more): `Msg::RemoteDied` names it.
    pub(crate) generation: u64,
    pub(crate) started: Instant,
    child: Child,
    stream: UnixStream,
    /// The reader's report that the helper has exited (step 4).
    exited: mpsc::Receiver<()>,
    threads: Vec<JoinHandle<()>>,
}

impl Link {
    /// Steps 1 to 4.
    pub(crate) fn start(
        shared: &Arc<Shared>,
        isolation: &Isolation,
        generation: u64,
    ) -> Result<Link, String> {
        let library = shared.library;
        let prefix = library.def().prefix;
        let library_file = match &isolation.library {
            Some(path) => path.clone(),
            None => loaded_from(library)?,
        };
        if !library_file.is_file() {
            return Err(format!(
                "the library file {} does not exist (library_path)",
                library_file.display()
            ));
        }
        let helper = find_helper(isolation.helper.as_deref(), &library_file)?;
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| format!("could not make a socketpair: {e}"))?;
        let theirs_out = theirs
            .try_clone()
            .map_err(|e| format!("could not duplicate the helper's socket: {e}"))?;
        let mut command = Command::new(&helper);
        command
            .arg("--library")
            .arg(&library_file)
            .arg("--prefix")
            .arg(prefix)
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)))
            .stderr(Stdio::inherit());
        let limits = isolation.limits;
        for (flag, limit) in [
            ("--limit-address-space", limits.address_space),
            ("--limit-cpu-seconds", limits.cpu_seconds),
            ("--limit-open-files", limits.open_files),
        ] {
            if let Some(limit) = limit {
                command.arg(flag).arg(limit.to_string());
            }
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("could not start the helper {}: {e}", helper.display()))?;
        drop(command);
        match handshake(shared, isolation, &ours) {
            Ok(()) => {}
            Err(problem) => {
                let _ = child.kill();
                let status = child.wait().ok();
                return Err(match status.and_then(|s| (!s.success()).then_some(s)) {
                    Some(status) if problem.contains("closed") => {
                        format!("{problem}; {}", exit_text(status))
                    }
                    _ => problem,
                });
            }
        }
        let timeout = Some(isolation.handshake_timeout);
        let _ = ours.set_read_timeout(None);
        let _ = ours.set_write_timeout(timeout);
        let clone = |what: &str| {
            ours.try_clone()
                .map_err(|e| format!("could not duplicate the {what} socket: {e}"))
        };
        let (sink, writer) = Sink::start(clone("writer's")?, &format!("hostcall-{prefix}-send"))
            .map_err(|e| format!("could not start the writer thread: {e}"))?;
        let (exited_tx, exited) = mpsc::channel();
        let reader = {
            let stream = clone("reader's")?;
            let shared = Arc::downgrade(shared);
            let pid = child.id();
            std::thread::Builder::new()
                .name(format!("hostcall-{prefix}-recv"))
                .spawn(move || read_loop(stream, shared, pid, generation, exited_tx))
        };
        let reader = match reader {
            Ok(reader) => reader,
            Err(e) => {
                sink.close();
                let _ = child.kill();
                let _ = child.wait();
                let _ = writer.join();
                return Err(format!("could not start the reader thread: {e}"));
            }
        };
        tracing::debug!(helper = %helper.display(), pid = child.id(), generation, "helper started");
        Ok(Link {
            sink,
            generation,
            started: Instant::now(),
            child,
            stream: ours,
            exited,
            threads: vec![writer, reader],
        })
    }

    /// Step 5.
    pub(crate) fn close(mut self) {
        self.sink.close();
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        if self.exited.recv_timeout(EXIT_GRACE).is_err() {
            tracing::warn!(
                pid = self.child.id(),
                "the helper did not exit within {EXIT_GRACE:?} of the end of its connection; killing it"
            );
            let _ = self.child.kill();
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let _ = self.child.wait();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Step 3.
fn handshake(shared: &Shared, isolation: &Isolation, stream: &UnixStream) -> Result<(), String> {
    let library = shared.library;
    let def = library.def();
    let interface_hash = library
        .description()
        .map(|d| d.interface_hash)
        .map_err(|e| e.to_string())?;
    let hello = Down::Hello {
        version: PROTOCOL_VERSION,
        prefix: def.prefix.to_owned(),
        interface_hash,
        config: shared.config.for_helper().into(),
        host_fns: def.host_fns.iter().map(|h| h.name.to_owned()).collect(),
        events: def.events.iter().map(|e| e.name.to_owned()).collect(),
    };
    let timeout = isolation.handshake_timeout;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut frame = Vec::new();
    protocol::encode(&hello, &mut frame);
    crate::isolation::sink::send_all(stream, &frame)
        .map_err(|e| format!("the helper did not take the handshake: {e}"))?;
    let mut body = Vec::new();
    match protocol::read::<Up>(&mut &*stream, &mut body) {
        Ok(Up::Welcome {
            version,
            interface_hash: theirs,
        }) => {
            if version != PROTOCOL_VERSION {
                Err(format!(
                    "the helper speaks protocol version {version}, this library {PROTOCOL_VERSION}"
                ))
            } else if theirs != interface_hash {
                Err(format!(
                    "the helper's library has interface hash {theirs:#018x}, this one {interface_hash:#018x}"
                ))
            } else {
                Ok(())
            }
        }
        Ok(Up::Refused { reason }) => Err(format!("the helper refused: {reason}")),
        Ok(other) => Err(format!("the helper answered the handshake with {other:?}")),
        Err(FrameError::TimedOut) => Err(format!(
            "the helper did not answer the handshake within {timeout:?} (handshake_timeout_ms)"
        )),
        Err(FrameError::Closed) => {
            Err("the helper closed the connection during the handshake".to_owned())
        }
        Err(problem) => Err(format!("the helper's handshake failed: {problem}")),
    }
}

/// Step 4, on the reader thread.
fn read_loop(
    stream: UnixStream,
    shared: Weak<Shared>,
    pid: u32,
    generation: u64,
    exited: mpsc::Sender<()>,
) {
    let mut reader = std::io::BufReader::with_capacity(64 << 10, stream);
    let mut body = Vec::new();
    let ended = loop {
        match protocol::read::<Up>(&mut reader, &mut body) {
            Ok(message) => match shared.upgrade() {
                Some(shared) => shared.send(Msg::Remote(Box::new(message))),
                None => break None,
            },
            Err(FrameError::Closed) => break None,
            Err(problem) => break Some(problem),
        }
    };
    let _ = reader.get_ref().shutdown(std::net::Shutdown::Both);
    // SAFETY: `kill` only sends a signal; `pid` is our unreaped child (only
    // `Link::close` reaps it, after this thread reports), so it names no
    // other process.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    let mut text = wait_text(pid);
    if let Some(problem) = ended {
        text = format!("{text} (it was killed: {problem})");
    }
    tracing::debug!(pid, %text, "helper ended");
    let _ = exited.send(());
    if let Some(shared) = shared.upgrade() {
        shared.send(Msg::RemoteDied(Box::new((generation, text))));
    }
}

/// Waits for child `pid` to exit without reaping it; how it died.
fn wait_text(pid: u32) -> String {
    loop {
        // SAFETY: an all-zero `siginfo_t` is a valid value to be written.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid for a write; WNOWAIT leaves the child to
        // be reaped by `Link::close`.
        let waited = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if waited == 0 {
            // SAFETY: `waitid` succeeded for WEXITED, so the child fields
            // are set.
            let status = unsafe { info.si_status() };
            return match info.si_code {
                libc::CLD_EXITED => format!("library process died: exit status {status}"),
                _ => format!("library process died: {}", signal_text(status)),
            };
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return format!("library process died (its exit status is unknown: {error})");
        }
    }
}

/// `signal 11 (SIGSEGV)`.
pub(crate) fn signal_text(signal: i32) -> String {
    const NAMES: &[(i32, &str)] = &[
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGSYS, "SIGSYS"),
    ];
    match NAMES.iter().find(|(n, _)| *n == signal) {
        Some((_, name)) => format!("signal {signal} ({name})"),
        None => format!("signal {signal}"),
    }
}

/// How a reaped helper ended, for a handshake error.
fn exit_text(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("it exited with status {code}"),
        (None, Some(signal)) => format!("it died of {}", signal_text(signal)),
        _ => format!("it ended: {status}"),
    }
}

/// The file `library` was loaded from (step 1).
fn loaded_from(library: &'static Library) -> Result<PathBuf, String> {
    // SAFETY: an all-zero `Dl_info` is a valid value to be written.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let address = std::ptr::from_ref(library).cast::<libc::c_void>();
    // SAFETY: `address` points into this library's static data; `info` is
    // valid for a write. `dli_fname`, when set, is a NUL-terminated string
    // owned by the dynamic loader for as long as the object is loaded.
    let found = unsafe { libc::dladdr(address, &mut info) } != 0 && !info.dli_fname.is_null();
    if !found {
        return Err(
            "could not tell which file this library was loaded from; set library_path".to_owned(),
        );
    }
    // SAFETY: checked non-null above; see the previous comment.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.to_bytes()),
    );
    std::fs::canonicalize(&path).map_err(|e| {
        format!(
            "this library was loaded from {}, which cannot be found again ({e}); set library_path",
            path.display()
        )
    })
}

/// Step 1: the helper to start.
fn find_helper(configured: Option<&Path>, library_file: &Path) -> Result<PathBuf, String> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(format!(
                "the helper {} does not exist (helper_path)",
                path.display()
            ))
        };
    }
    let beside = library_file.with_file_name(HELPER);
    if beside.is_file() {
        return Ok(beside);
    }
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(HELPER))
        .find(|candidate| candidate.is_file());
    on_path.ok_or_else(|| {
        format!(
            "no {HELPER} beside {} or on PATH (build it with `cargo build -p hostcall-helper`, or set helper_path)",
            library_file.display()
        )
    })
}
