//! `hostcall-helper`: serves a hostcall library in a process of its own.
//!
//! A context created with `isolation: "process"` starts this program with
//! one end of a socketpair as its stdin and stdout, and speaks the protocol
//! of `hostcall::isolation::protocol` over it. Started by hand (or by a
//! service manager) with `--socket PATH` or `--tcp ADDR`, it serves every
//! host that connects, each with a context of its own (`isolation:
//! "socket"` or `"tcp"` and `address` in the host's config). The helper:
//!
//! 1. parses its command line, moves the connection off stdin/stdout (so
//!    that whatever the library prints goes to stderr, not into the
//!    protocol) and sets up logging (`--log-level`, else `HOSTCALL_LOG`);
//! 2. applies the resource limits it was given (address space, CPU time,
//!    open files), before anything of the library is loaded;
//! 3. reads the host's hello, loads the library (`dlopen`), finds its entry
//!    points, checks the protocol version, the prefix and the interface
//!    hash, creates a context with the host's config, and answers
//!    `Welcome` — or `Refused` with the reason, and exits with status 3;
//! 4. serves the connection ([`serve`]) until the host closes it, then
//!    destroys the context (which answers whatever was pending), sends what
//!    that produced and exits with status 0.
//!
//! Listening ([`listen`]), step 1 binds the socket instead, step 3 loads
//! the library at once (exit status 2 if it cannot), and steps 3 and 4 run
//! once per connection, on a thread of their own, until the process is
//! killed.

mod listen;
mod serve;

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Exit status for a bad command line or an unusable connection.
const EXIT_USAGE: u8 = 2;
/// Exit status after refusing the host's hello.
const EXIT_REFUSED: u8 = 3;
/// Exit status after a protocol error on the connection.
const EXIT_PROTOCOL: u8 = 4;

/// Serves a hostcall library to the host process that started this one,
/// over the socket on stdin/stdout (started by a context whose config says
/// `isolation: "process"`), or, with --socket or --tcp, to every host that
/// connects (contexts whose config says `isolation: "socket"` or `"tcp"`).
#[derive(Debug, Parser)]
#[command(name = "hostcall-helper", version)]
struct Args {
    /// Listen on this unix socket (a stale socket file there is replaced);
    /// prints the path on stdout once it accepts connections.
    #[arg(long, value_name = "PATH", conflicts_with = "tcp")]
    socket: Option<PathBuf>,
    /// Listen on this TCP address (`127.0.0.1:7000`; port 0 picks one);
    /// prints the address bound on stdout once it accepts connections. The
    /// connection is neither authenticated nor encrypted: bind it where
    /// only trusted hosts reach it.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<String>,
    /// The hostcall library to serve (a shared object built with
    /// `hostcall::export!`).
    #[arg(long)]
    library: PathBuf,
    /// The library's prefix (its symbols are `<prefix>_new`, …); default:
    /// from the file name, `lib<prefix>.so`.
    #[arg(long)]
    prefix: Option<String>,
    /// off, error, warn, info, debug or trace; default: HOSTCALL_LOG, else off.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Address-space limit (RLIMIT_AS) in bytes.
    #[arg(long, value_name = "BYTES")]
    limit_address_space: Option<u64>,
    /// CPU-time limit (RLIMIT_CPU) in seconds.
    #[arg(long, value_name = "SECONDS")]
    limit_cpu_seconds: Option<u64>,
    /// Limit on open files (RLIMIT_NOFILE).
    #[arg(long, value_name = "N")]
    limit_open_files: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let listening = match (&args.socket, &args.tcp) {
        (Some(path), _) => Some(listen::Place::Socket(path.clone())),
        (None, Some(address)) => Some(listen::Place::Tcp(address.clone())),
        (None, None) => None,
    };
    // Step 1.
    let connection = match &listening {
        Some(_) => None,
        None => match take_connection() {
            Ok(connection) => Some(connection),
            Err(problem) => return usage(&problem),
        },
    };
    if let Err(problem) = init_logging(args.log_level.as_deref()) {
        return usage(&problem);
    }
    let Some(prefix) = args.prefix.clone().or_else(|| prefix_of(&args.library)) else {
        return usage(&format!(
            "cannot tell the prefix of {} (not lib<prefix>.so); pass --prefix",
            args.library.display()
        ));
    };
    // Step 2.
    if let Err(problem) = apply_limits(&args) {
        return usage(&problem);
    }
    let Some(connection) = connection else {
        let place = listening.expect("listening when there is no connection");
        return match listen::run(&place, &args.library, &prefix) {
            Ok(never) => match never {},
            Err(problem) => usage(&problem),
        };
    };
    // Steps 3 and 4.
    match serve::run(connection.into(), &args.library, &prefix) {
        serve::End::Closed => ExitCode::SUCCESS,
        serve::End::Refused => ExitCode::from(EXIT_REFUSED),
        serve::End::Broken => ExitCode::from(EXIT_PROTOCOL),
    }
}

/// Reports `problem` and exits with [`EXIT_USAGE`].
fn usage(problem: &str) -> ExitCode {
    eprintln!("hostcall-helper: {problem}");
    ExitCode::from(EXIT_USAGE)
}

/// Step 1: the connection, moved off fd 0 and 1; fd 1 then points at
/// stderr and fd 0 at /dev/null.
fn take_connection() -> Result<UnixStream, String> {
    // SAFETY: `fstat` writes into `stat`, which is valid for it.
    let is_socket = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        libc::fstat(0, &mut stat) == 0 && (stat.st_mode & libc::S_IFMT) == libc::S_IFSOCK
    };
    if !is_socket {
        return Err(
            "stdin is not a socket: this program is started by a hostcall context whose config \
             says isolation: \"process\""
                .to_owned(),
        );
    }
    // SAFETY: plain descriptor calls on descriptors this process owns; the
    // new descriptor is owned by the `OwnedFd` made from it and nothing
    // else.
    unsafe {
        let fd = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return Err(format!(
                "could not duplicate the connection: {}",
                std::io::Error::last_os_error()
            ));
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
        stdout_to_stderr();
        Ok(UnixStream::from(OwnedFd::from_raw_fd(fd)))
    }
}

/// Points fd 1 at stderr: whatever the library prints goes there.
pub(crate) fn stdout_to_stderr() {
    // SAFETY: a plain descriptor call on descriptors of this process.
    unsafe { libc::dup2(2, 1) };
}

/// Step 1: `--log-level`, else `HOSTCALL_LOG`; the library reads the same
/// variable, so a level given as a flag is passed on to it there.
fn init_logging(flag: Option<&str>) -> Result<(), String> {
    let env = hostcall::log::ENV;
    if let Some(level) = flag {
        if hostcall::log::parse_level(level).is_none() {
            return Err(format!(
                "--log-level must be off, error, warn, info, debug or trace, not '{level}'"
            ));
        }
        // SAFETY: no other thread runs yet (the helper starts its threads
        // after this), so nothing reads the environment concurrently.
        unsafe { std::env::set_var(env, level) };
    }
    let level = std::env::var(env)
        .ok()
        .and_then(|v| hostcall::log::parse_level(&v))
        .unwrap_or(tracing::level_filters::LevelFilter::OFF);
    if level != tracing::level_filters::LevelFilter::OFF {
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_thread_names(true)
            .try_init();
    }
    Ok(())
}

/// `libdemo.so` → `demo`.
fn prefix_of(library: &std::path::Path) -> Option<String> {
    let name = library.file_name()?.to_str()?;
    let stem = name.strip_prefix("lib")?.split('.').next()?;
    (!stem.is_empty()).then(|| stem.to_owned())
}

/// Step 2.
fn apply_limits(args: &Args) -> Result<(), String> {
    for (resource, name, limit) in [
        (libc::RLIMIT_AS, "address space", args.limit_address_space),
        (libc::RLIMIT_CPU, "CPU time", args.limit_cpu_seconds),
        (libc::RLIMIT_NOFILE, "open files", args.limit_open_files),
    ] {
        let Some(limit) = limit else { continue };
        let value = libc::rlimit {
            rlim_cur: limit as libc::rlim_t,
            rlim_max: limit as libc::rlim_t,
        };
        // SAFETY: `value` is a valid rlimit for the call to read.
        if unsafe { libc::setrlimit(resource, &value) } != 0 {
            return Err(format!(
                "could not limit {name} to {limit}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_come_from_file_names() {
        assert_eq!(prefix_of("/x/libdemo.so".as_ref()).as_deref(), Some("demo"));
        assert_eq!(prefix_of("libdemo.so.1".as_ref()).as_deref(), Some("demo"));
        assert_eq!(prefix_of("demo.so".as_ref()), None);
        assert_eq!(prefix_of("lib.so".as_ref()), None);
    }
}
