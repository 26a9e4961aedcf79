//! A long-running helper: `--socket PATH` or `--tcp ADDR`.
//!
//! # Protocol
//!
//! 1. Load the library ([`serve::served`]): a library that cannot be
//!    served is an error now, not at the first host's hello.
//! 2. Bind the socket. At `--socket PATH` a stale socket file (one nobody
//!    accepts on) is removed first; a live one, or a file that is not a
//!    socket, is an error.
//! 3. Print the place bound (the path, or the TCP address with the port
//!    the system picked for port 0) as one line on stdout, then point
//!    stdout at stderr: a script that starts the helper reads that line to
//!    know it accepts connections.
//! 4. Accept forever: each connection is a session ([`serve::run`]) on a
//!    thread of its own, with a context of its own. A session's end (the
//!    host closed, was refused, broke the protocol) ends only that
//!    session. The process ends when it is killed; its hosts then see
//!    their connections end (`RET_PROCESS_DIED`), as they do when the
//!    library crashes it.

use std::convert::Infallible;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hostcall::isolation::stream::Stream;

use crate::serve;

/// Where to listen.
pub enum Place {
    /// `--socket PATH`.
    Socket(PathBuf),
    /// `--tcp ADDR`.
    Tcp(String),
}

/// How long to wait before accepting again after the process ran out of
/// descriptors (accepting again at once would spin).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Steps 1 to 4; returns only with an error of steps 1 to 3.
pub fn run(place: &Place, library: &Path, prefix: &str) -> Result<Infallible, String> {
    // Step 1.
    serve::served(library, prefix)?;
    // Steps 2 and 3.
    match place {
        Place::Socket(path) => {
            let listener = bind_unix(path)?;
            ready(&path.display().to_string())?;
            tracing::info!(socket = %path.display(), library = %library.display(), "serving");
            accept_forever(library, prefix, || {
                listener.accept().map(|(stream, _)| Stream::from(stream))
            })
        }
        Place::Tcp(address) => {
            let listener = TcpListener::bind(address)
                .map_err(|e| format!("could not listen on tcp {address}: {e}"))?;
            let bound = listener
                .local_addr()
                .map_err(|e| format!("could not tell the address bound for {address}: {e}"))?;
            if !bound.ip().is_loopback() {
                tracing::warn!(
                    %bound,
                    "serving on a non-loopback address: connections are neither authenticated \
                     nor encrypted"
                );
            }
            ready(&bound.to_string())?;
            tracing::info!(tcp = %bound, library = %library.display(), "serving");
            accept_forever(library, prefix, || {
                listener
                    .accept()
                    .and_then(|(stream, _)| Stream::tcp(stream))
            })
        }
    }
}

/// Step 2 at a path.
fn bind_unix(path: &Path) -> Result<UnixListener, String> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!("{} exists and is not a socket", path.display()));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "another helper already accepts connections at {}",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("could not remove the stale socket {}: {e}", path.display()))?;
    }
    UnixListener::bind(path).map_err(|e| format!("could not listen on {}: {e}", path.display()))
}

/// Step 3.
fn ready(place: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{place}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("could not print the address: {e}"))?;
    drop(stdout);
    crate::stdout_to_stderr();
    Ok(())
}

/// Step 4.
fn accept_forever(
    library: &Path,
    prefix: &str,
    mut accept: impl FnMut() -> std::io::Result<Stream>,
) -> Result<Infallible, String> {
    static SESSIONS: AtomicU64 = AtomicU64::new(0);
    loop {
        let stream = match accept() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                if matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    std::thread::sleep(ACCEPT_BACKOFF);
                }
                continue;
            }
        };
        let n = SESSIONS.fetch_add(1, Ordering::Relaxed) + 1;
        let (library, prefix) = (library.to_owned(), prefix.to_owned());
        let spawned = std::thread::Builder::new()
            .name(format!("session-{n}"))
            .spawn(move || {
                let end = serve::run(stream, &library, &prefix);
                tracing::debug!(session = n, end = ?end, "session ended");
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start a session's thread; its connection is dropped");
        }
    }
}
