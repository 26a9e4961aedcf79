//! The sending half of a helper connection: frames queued by any thread,
//! written in bursts, a burst in one system call.
//!
//! # Protocol
//!
//! 1. [`Sink::send`] appends the message's frame to the queue under the
//!    lock. It never blocks on the socket, so a callback on a loop thread
//!    may send while the other side is slow. What happens next is the
//!    sink's [`Flush`]:
//!    * [`Flush::Deferred`] (the host's loop thread, which knows when its
//!      turn ends): nothing; the owner calls [`Sink::flush`] at the end of
//!      each turn, and a turn's frames go out in one `send`.
//!    * [`Flush::Eager`] (the helper's forwarders, which run on the
//!      library's loop thread and cannot tell when its turn ends): a lone
//!      frame — none sent in the last [`BURST_GAP`] — is flushed at once by
//!      the sender; a frame in a burst wakes the writer thread, which
//!      writes everything queued meanwhile in one `send`.
//! 2. [`Sink::flush`] writes what is queued from the calling thread without
//!    blocking (`MSG_DONTWAIT`), if it is at most [`DIRECT_MAX`] bytes, the
//!    writer thread is asleep and no other flush is writing (so frames
//!    never interleave); more is a burst, handed to the writer thread so
//!    that the caller goes on. What the socket does not take at once is put
//!    back at the head of the queue and the writer thread is woken for it.
//! 3. The writer thread takes the whole queue and writes it outside the
//!    lock, blocking up to the socket's write timeout. A write that fails
//!    (the peer is gone) or takes longer than that (the peer stopped
//!    reading) closes the sink: later sends are dropped, and the socket is
//!    shut down both ways so that the reading side ends too.
//! 4. [`Sink::close`] lets the writer write what is queued, then shut the
//!    socket's sending side down (the peer reads end-of-file) and exit.
//!
//! Every write is a `send` with `MSG_NOSIGNAL`: a peer that died makes it
//! fail with `EPIPE` instead of raising SIGPIPE, which would kill a host
//! process that has not ignored it (a C host's default). (A writer thread
//! for every frame costs one thread wake-up per frame, about 10 µs here;
//! senders writing every frame themselves cost a system call per frame,
//! which at 10,000 logins in flight was measured slower than the writer's
//! batches, 2026-12-03: hence the two policies.)

use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::protocol;
use super::stream::Stream;

/// Who writes the frames a [`Sink::send`] queued (step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// The owner, by calling [`Sink::flush`] at the end of its turn.
    Deferred,
    /// The sender of a lone frame, else the writer thread.
    Eager,
}

/// The most [`Sink::flush`] writes from the calling thread; more is a
/// burst, handed to the writer thread so that the caller goes on.
pub const DIRECT_MAX: usize = 4 << 10;

/// Frames sent closer together than this are a burst ([`Flush::Eager`]).
pub const BURST_GAP: Duration = Duration::from_micros(20);

struct State {
    /// Frames not yet written.
    pending: Vec<u8>,
    /// Set by [`Sink::close`] or a failed write; nothing is queued after.
    closed: bool,
    /// Whether the writer waits on `ready`.
    asleep: bool,
    /// Whether a [`Sink::flush`] is writing (outside the lock); the writer
    /// thread waits for it to end.
    flushing: bool,
    /// When a sender last flushed ([`Flush::Eager`]).
    last_flush: Option<Instant>,
    /// An emptied buffer, kept for the next flush.
    spare: Vec<u8>,
}

struct Inner {
    state: Mutex<State>,
    ready: Condvar,
    /// The socket.
    stream: Stream,
    flush: Flush,
}

/// The sending half of one connection (cheap to clone).
#[derive(Clone)]
pub struct Sink {
    inner: Arc<Inner>,
}

impl Sink {
    /// Starts the writer thread on `stream` (step 3).
    pub fn start(
        stream: Stream,
        name: &str,
        flush: Flush,
    ) -> std::io::Result<(Sink, JoinHandle<()>)> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                pending: Vec::new(),
                closed: false,
                asleep: false,
                flushing: false,
                last_flush: None,
                spare: Vec::new(),
            }),
            ready: Condvar::new(),
            stream,
            flush,
        });
        let writer = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || write_loop(&writer))?;
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
        if self.inner.flush == Flush::Deferred {
            return true;
        }
        let now = Instant::now();
        let lone = state
            .last_flush
            .is_none_or(|at| now.duration_since(at) >= BURST_GAP);
        if lone && state.asleep && !state.flushing {
            state.last_flush = Some(now);
            self.flush_locked(state);
        } else {
            // A burst: the first frame of it flushed; later ones go to the
            // writer, which batches them.
            state.last_flush = Some(now);
            self.wake_writer(state);
        }
        true
    }

    /// Step 2.
    pub fn flush(&self) {
        let state = self.lock();
        if state.pending.is_empty() || state.closed || !state.asleep || state.flushing {
            // Nothing to write, or the writer thread has it (awake, or
            // about to be woken by the flush in progress).
            return;
        }
        if state.pending.len() > DIRECT_MAX {
            // A burst: the writer thread writes it while this one goes on.
            self.wake_writer(state);
            return;
        }
        self.flush_locked(state);
    }

    /// Step 2, with the lock held on entry (released while writing).
    fn flush_locked(&self, mut state: std::sync::MutexGuard<'_, State>) {
        state.flushing = true;
        let spare = std::mem::take(&mut state.spare);
        let mut out = std::mem::replace(&mut state.pending, spare);
        drop(state);
        let sent = send_available(&self.inner.stream, &out);
        let mut state = self.lock();
        state.flushing = false;
        match sent {
            Ok(n) if n == out.len() => {
                out.clear();
                state.spare = out;
            }
            Ok(n) => {
                // The rest goes first, before anything queued meanwhile.
                out.drain(..n);
                out.extend_from_slice(&state.pending);
                state.pending = out;
            }
            Err(error) => {
                tracing::debug!(%error, "helper connection: write failed; closing");
                state.closed = true;
                state.pending = Vec::new();
                let _ = self.inner.stream.shutdown(Shutdown::Both);
            }
        }
        if !state.pending.is_empty() || state.closed {
            self.wake_writer(state);
        }
    }

    fn wake_writer(&self, mut state: std::sync::MutexGuard<'_, State>) {
        let wake = state.asleep;
        state.asleep = false;
        drop(state);
        if wake {
            self.inner.ready.notify_one();
        }
    }

    /// Step 4.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.wake_writer(state);
    }

    /// Whether the sink still takes frames.
    pub fn is_open(&self) -> bool {
        !self.lock().closed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sends what the socket takes of `bytes` without blocking: how many it
/// took (fewer than all when it is full).
fn send_available(stream: &impl AsRawFd, bytes: &[u8]) -> std::io::Result<usize> {
    let mut sent = 0;
    while sent < bytes.len() {
        match send(stream, &bytes[sent..], libc::MSG_DONTWAIT) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

/// One `send` of `bytes` with `MSG_NOSIGNAL` and `flags`: how many it took.
fn send(stream: &impl AsRawFd, bytes: &[u8], flags: libc::c_int) -> std::io::Result<usize> {
    // SAFETY: `bytes` is valid for reads of its length; the descriptor is
    // the socket's own, open while `stream` is borrowed.
    let sent = unsafe {
        libc::send(
            stream.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            flags | libc::MSG_NOSIGNAL,
        )
    };
    if sent < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(sent as usize)
    }
}

/// Writes all of `bytes`, blocking up to the socket's write timeout per
/// `send` (which then fails with `WouldBlock`).
pub fn send_all(stream: &impl AsRawFd, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match send(stream, bytes, 0) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn write_loop(inner: &Inner) {
    let mut out = Vec::new();
    loop {
        {
            let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            while state.flushing || (state.pending.is_empty() && !state.closed) {
                state.asleep = true;
                state = inner.ready.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            state.asleep = false;
            if state.pending.is_empty() {
                break;
            }
            std::mem::swap(&mut out, &mut state.pending);
        }
        if let Err(error) = send_all(&inner.stream, &out) {
            tracing::debug!(%error, "helper connection: write failed; closing");
            let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            state.closed = true;
            state.pending = Vec::new();
            drop(state);
            // Both ways: the reading side must end too (step 3).
            let _ = inner.stream.shutdown(Shutdown::Both);
            return;
        }
        out.clear();
    }
    let _ = inner.stream.shutdown(Shutdown::Write);
}
