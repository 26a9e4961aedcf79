//! The naive design: what a user would write without hostcall.
//!
//! A tokio current-thread runtime and a `LocalSet` on their own thread;
//! requests arrive over a tokio `mpsc` channel; every host call is tracked in
//! a `Mutex<HashMap<token, oneshot::Sender<Vec<u8>>>>`, and the host
//! completes *directly* from its own thread: lock, remove, send. The host
//! side has the same shape as hostcall's C ABI — a host fn pointer called
//! with `(token, CBOR bytes, user_data)`, a reply callback — and arguments
//! and results are encoded and decoded with ciborium exactly as
//! `hostcall::wire` does, so the two designs differ only in their machinery.
//!
//! Handlers: `pump(n)` (awaits `ping` n times in sequence) and `hold(n)`
//! (starts n `ping` calls at once, one local task each), as in the bench
//! library of `common`.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use hostcall::{FFICallBack, FFIHostFn};

/// A host pointer carried to the runtime thread; never dereferenced here.
#[derive(Clone, Copy)]
struct Opaque(*mut c_void);

// SAFETY: the pointer is only handed back to the host's own callbacks, which
// the host wrote to be called on the runtime thread (as with hostcall).
unsafe impl Send for Opaque {}
// SAFETY: as above; only the pointer value is copied.
unsafe impl Sync for Opaque {}

/// The table of host calls awaiting the host: token → where its reply goes.
pub enum Table {
    /// One lock over a `HashMap` (what a user would write first).
    Locked(Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>),
    /// `dashmap`: a sharded concurrent map (a lock per shard).
    Sharded(dashmap::DashMap<u64, oneshot::Sender<Vec<u8>>>),
}

impl Table {
    fn insert(&self, token: u64, sender: oneshot::Sender<Vec<u8>>) {
        match self {
            Table::Locked(map) => {
                map.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(token, sender);
            }
            Table::Sharded(map) => {
                map.insert(token, sender);
            }
        }
    }

    fn remove(&self, token: u64) -> Option<oneshot::Sender<Vec<u8>>> {
        match self {
            Table::Locked(map) => map.lock().unwrap_or_else(|e| e.into_inner()).remove(&token),
            Table::Sharded(map) => map.remove(&token).map(|(_, sender)| sender),
        }
    }

    fn len(&self) -> usize {
        match self {
            Table::Locked(map) => map.lock().unwrap_or_else(|e| e.into_inner()).len(),
            Table::Sharded(map) => map.len(),
        }
    }
}

/// What the host threads share with the runtime thread.
pub struct Shared {
    pending: Table,
    next_token: AtomicU64,
    host_fn: OnceLock<(FFIHostFn, Opaque)>,
}

/// Encodes as `hostcall::wire::to_cbor` does.
fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64);
    ciborium::into_writer(value, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes as `hostcall::wire::from_cbor` does: one value, no trailing bytes.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut rest = bytes;
    let value = ciborium::from_reader(&mut rest).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!(
            "{} trailing bytes after the CBOR value",
            rest.len()
        ));
    }
    Ok(value)
}

impl Shared {
    /// The host answers `token` with the CBOR `payload`, from any thread:
    /// lock, remove, send. `false` for an unknown token.
    pub fn complete(&self, token: u64, payload: &[u8]) -> bool {
        match self.pending.remove(token) {
            Some(sender) => sender.send(payload.to_vec()).is_ok(),
            None => false,
        }
    }

    /// Host calls awaiting the host (entries of the pending table).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The host call `ping(n) -> u64`.
    async fn ping(&self, n: u64) -> Result<u64, String> {
        let &(func, user_data) = self
            .host_fn
            .get()
            .ok_or_else(|| "host fn 'ping' not registered".to_owned())?;
        let args = encode(&(n,))?;
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.pending.insert(token, sender);
        // SAFETY: the host registered `func` for `ping` with this user data;
        // `args` is valid for its length during the call; no lock is held,
        // so the host may complete inline.
        unsafe { func(token, args.as_ptr().cast(), args.len(), user_data.0) };
        let reply = receiver
            .await
            .map_err(|_| "context shutting down".to_owned())?;
        decode(&reply)
    }
}

#[derive(Clone, Copy)]
enum Method {
    Pump,
    Hold,
}

struct Request {
    method: Method,
    n: u32,
    reply: FFICallBack,
    user_data: Opaque,
}

/// One naive "context": its runtime thread and the shared state.
pub struct Naive {
    shared: Arc<Shared>,
    requests: Option<mpsc::UnboundedSender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Default for Naive {
    fn default() -> Self {
        Self::new()
    }
}

impl Naive {
    /// Starts the runtime thread, with a `Mutex<HashMap>` table.
    pub fn new() -> Self {
        Self::with_table(Table::Locked(Mutex::new(HashMap::new())))
    }

    /// Starts the runtime thread with the given (empty) table.
    pub fn with_table(pending: Table) -> Self {
        let shared = Arc::new(Shared {
            pending,
            next_token: AtomicU64::new(1),
            host_fn: OnceLock::new(),
        });
        let (requests, inbox) = mpsc::unbounded_channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("naive-loop".to_owned())
            .spawn(move || run(thread_shared, inbox))
            .expect("spawn the naive runtime thread");
        Self {
            shared,
            requests: Some(requests),
            thread: Some(thread),
        }
    }

    /// What host threads need to complete calls.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Installs the host's `ping` (once).
    pub fn register(&self, func: FFIHostFn, user_data: *mut c_void) {
        assert!(
            self.shared.host_fn.set((func, Opaque(user_data))).is_ok(),
            "the naive design takes one registration"
        );
    }

    /// Calls `method` with the CBOR request `[n]`; `reply` gets the result.
    pub fn call(
        &self,
        method: &str,
        request: &[u8],
        reply: FFICallBack,
        user_data: *mut c_void,
    ) -> Result<(), String> {
        let method = match method {
            "pump" => Method::Pump,
            "hold" => Method::Hold,
            other => return Err(format!("no method '{other}'")),
        };
        let (n,): (u32,) = decode(request)?;
        self.requests
            .as_ref()
            .ok_or("stopped")?
            .send(Request {
                method,
                n,
                reply,
                user_data: Opaque(user_data),
            })
            .map_err(|_| "the runtime thread stopped".to_owned())
    }
}

impl Drop for Naive {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn pump(shared: &Shared, n: u32) -> Result<u64, String> {
    let mut sum = 0u64;
    for i in 0..n {
        sum = sum.wrapping_add(shared.ping(u64::from(i)).await?);
    }
    Ok(sum)
}

async fn hold(shared: &Arc<Shared>, n: u32) -> Result<u64, String> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let shared = Arc::clone(shared);
            tokio::task::spawn_local(async move { shared.ping(u64::from(i)).await })
        })
        .collect();
    let mut sum = 0u64;
    for task in tasks {
        sum = sum.wrapping_add(task.await.map_err(|e| e.to_string())??);
    }
    Ok(sum)
}

fn run(shared: Arc<Shared>, mut inbox: mpsc::UnboundedReceiver<Request>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the naive runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        while let Some(request) = inbox.recv().await {
            let shared = Arc::clone(&shared);
            tokio::task::spawn_local(async move {
                let result = match request.method {
                    Method::Pump => pump(&shared, request.n).await,
                    Method::Hold => hold(&shared, request.n).await,
                };
                let (ret, bytes) = match result.and_then(|sum| encode(&sum)) {
                    Ok(bytes) => (0, bytes),
                    Err(problem) => (1, problem.into_bytes()),
                };
                // SAFETY: the host gave this callback and user data for this
                // request's one reply; `bytes` is valid during the call.
                unsafe {
                    (request.reply)(ret, bytes.as_ptr().cast(), bytes.len(), request.user_data.0)
                };
            });
        }
    });
}
