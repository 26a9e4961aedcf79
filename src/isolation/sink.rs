//! The sending half of a helper connection: frames queued by any thread,
//! written by one writer thread, a burst in one system call.
//!
//! # Protocol
//!
//! 1. [`Sink::send`] appends the message's frame to the pending buffer
//!    under the lock and, if the writer is asleep, wakes it. It never
//!    blocks on the socket, so a callback on a loop thread may send while
//!    the other side is slow.
//! 2. The writer thread swaps the pending buffer for its empty one and
//!    writes it whole, outside the lock: every frame queued meanwhile goes
//!    out in the same write.
//! 3. A write that fails (the peer is gone) or takes longer than the
//!    socket's write timeout (the peer stopped reading) closes the sink:
//!    later sends are dropped, and the writer shuts the socket down so
//!    that the reading side ends too.
//! 4. [`Sink::close`] lets the writer write what is queued, then shut the
//!    socket's sending side down (the peer reads end-of-file) and exit.

use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use serde::Serialize;

use super::protocol;

struct State {
    /// Frames not yet handed to the writer.
    pending: Vec<u8>,
    /// Set by [`Sink::close`] or a failed write; nothing is queued after.
    closed: bool,
    /// Whether the writer waits on `ready`.
    asleep: bool,
}

struct Inner {
    state: Mutex<State>,
    ready: Condvar,
}

/// The sending half of one connection (cheap to clone).
#[derive(Clone)]
pub struct Sink {
    inner: Arc<Inner>,
}

impl Sink {
    /// Starts the writer thread on `stream` (step 2).
    pub fn start(stream: UnixStream, name: &str) -> std::io::Result<(Sink, JoinHandle<()>)> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                pending: Vec::new(),
                closed: false,
                asleep: false,
            }),
            ready: Condvar::new(),
        });
        let writer = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || write_loop(&writer, stream))?;
        Ok((Sink { inner }, thread))
    }

    /// Step 1: queues `message`; `false` when the sink is closed (the
    /// message is dropped).
    pub fn send<M: Serialize>(&self, message: &M) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        protocol::encode(message, &mut state.pending);
        let wake = state.asleep;
        state.asleep = false;
        drop(state);
        if wake {
            self.inner.ready.notify_one();
        }
        true
    }

    /// Step 4.
    pub fn close(&self) {
        self.lock().closed = true;
        self.inner.ready.notify_one();
    }

    /// Whether the sink still takes frames.
    pub fn is_open(&self) -> bool {
        !self.lock().closed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn write_loop(inner: &Inner, mut stream: UnixStream) {
    let mut out = Vec::new();
    loop {
        {
            let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            while state.pending.is_empty() && !state.closed {
                state.asleep = true;
                state = inner.ready.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.pending.is_empty() {
                break;
            }
            std::mem::swap(&mut out, &mut state.pending);
        }
        if let Err(error) = stream.write_all(&out) {
            tracing::debug!(%error, "helper connection: write failed; closing");
            let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            state.closed = true;
            state.pending = Vec::new();
            drop(state);
            // Both ways: the reading side must end too (step 3).
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        out.clear();
    }
    let _ = stream.shutdown(Shutdown::Write);
}
