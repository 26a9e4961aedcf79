//! `demo`: the reference library of hostcall.
//!
//! A small login service whose profiles live in the host. Every test, bench
//! and language binding in the repository drives this library through its C
//! ABI (prefix `demo`, header `include/demo.h`, generated from this file's
//! declarations by `hostcall-gen`).

use futures_util::stream::{FuturesUnordered, StreamExt};
use hostcall::{Event, Record, host_fn};
use serde::{Deserialize, Serialize};

/// A user's profile, as the host stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Record)]
pub struct Profile {
    /// The user's id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Age in years.
    pub age: u32,
}

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Record)]
pub struct Session {
    /// The user's id.
    pub user_id: String,
    /// `"Hello, <name>"`.
    pub greeting: String,
}

/// Progress of `login_many`: emitted after each profile fetch completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Record, Event)]
#[hostcall(event = "progress")]
pub struct Progress {
    /// Fetches completed so far.
    pub done: u32,
    /// Fetches started.
    pub total: u32,
}

/// Why the host's store has no usable account for a user: the typed error
/// the host completes `find_account` with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, hostcall::Error)]
pub enum AccountError {
    /// No account has this id.
    NotFound {
        /// The id looked up.
        user_id: String,
    },
    /// The account is locked until a moment in time.
    Locked {
        /// When the lock ends, in seconds since the Unix epoch.
        until_unix_s: u64,
    },
    /// The account was suspended: the reason, and since when (seconds
    /// since the Unix epoch).
    Suspended(String, u64),
}

/// Why `sign_in` failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, hostcall::Error)]
pub enum SignInError {
    /// The user id was empty; the host was not asked.
    EmptyUserId,
    /// No account has this id.
    NotFound {
        /// The id looked up.
        user_id: String,
    },
    /// The account is locked until a moment in time.
    Locked {
        /// When the lock ends, in seconds since the Unix epoch.
        until_unix_s: u64,
    },
    /// The account was suspended: the reason, and since when.
    Suspended(String, u64),
    /// The host's store could not be asked: what went wrong (the host fn's
    /// own error text, or a timeout).
    Unavailable(String),
}

impl From<AccountError> for SignInError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::NotFound { user_id } => SignInError::NotFound { user_id },
            AccountError::Locked { until_unix_s } => SignInError::Locked { until_unix_s },
            AccountError::Suspended(reason, since) => SignInError::Suspended(reason, since),
        }
    }
}

host_fn! {
    /// Looks a user's profile up in the host's store.
    pub fn fetch_profile(user_id: String) -> Profile;

    /// Looks a user's account up in the host's store: the profile, or why
    /// there is no usable account.
    pub fn find_account(user_id: String) -> Result<Profile, AccountError>;

    /// Shows a message to the host's user.
    pub fn notify(message: String);
}

/// The library's version.
#[hostcall::handler]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Adds two integers; overflow is an error, not a wrap.
#[hostcall::handler]
pub fn add(a: i64, b: i64) -> Result<i64, String> {
    a.checked_add(b)
        .ok_or_else(|| format!("integer overflow: {a} + {b} does not fit in i64"))
}

fn session_of(profile: Profile) -> Session {
    Session {
        greeting: format!("Hello, {}", profile.name),
        user_id: profile.user_id,
    }
}

/// Signs a user in: fetches the profile from the host and greets them.
#[hostcall::handler]
pub async fn login(user_id: String) -> Result<Session, String> {
    let profile = fetch_profile(user_id)
        .await
        .map_err(|e| format!("host fetch failed: {e}"))?;
    Ok(session_of(profile))
}

/// Signs many users in with every fetch in flight at once. Sessions come
/// back in input order; a `progress` event follows each completed fetch. The
/// first failed fetch fails the call (and cancels the fetches still running).
#[hostcall::handler]
pub async fn login_many(user_ids: Vec<String>) -> Result<Vec<Session>, String> {
    let total = u32::try_from(user_ids.len()).map_err(|_| "too many user ids".to_owned())?;
    let mut fetches: FuturesUnordered<_> = user_ids
        .into_iter()
        .enumerate()
        .map(|(index, user_id)| async move { (index, fetch_profile(user_id).await) })
        .collect();
    let mut sessions: Vec<Option<Session>> = vec![None; total as usize];
    let mut done = 0;
    while let Some((index, fetched)) = fetches.next().await {
        let profile = fetched.map_err(|e| format!("host fetch failed: {e}"))?;
        sessions[index] = Some(session_of(profile));
        done += 1;
        hostcall::emit(&Progress { done, total }).map_err(|e| e.to_string())?;
    }
    Ok(sessions.into_iter().flatten().collect())
}

/// Fetches several profiles at once and returns the first that arrives;
/// the fetches still running are dropped, which cancels them in the host.
#[hostcall::handler]
pub async fn first_profile(user_ids: Vec<String>) -> Result<Profile, String> {
    let mut fetches: FuturesUnordered<_> = user_ids.into_iter().map(fetch_profile).collect();
    let mut last_error = "no user ids given".to_owned();
    while let Some(fetched) = fetches.next().await {
        match fetched {
            Ok(profile) => return Ok(profile),
            Err(e) => last_error = format!("host fetch failed: {e}"),
        }
    }
    Err(last_error)
}

/// Sends a message to the host's user through the `notify` host fn.
#[hostcall::handler]
pub async fn ping_host(message: String) -> Result<(), String> {
    notify(message)
        .await
        .map_err(|e| format!("host notify failed: {e}"))
}

/// Signs a user in through `find_account`: a session, or a typed error
/// saying why not (the host's own typed error passed on case by case).
#[hostcall::handler]
pub async fn sign_in(user_id: String) -> Result<Session, SignInError> {
    if user_id.is_empty() {
        return Err(SignInError::EmptyUserId);
    }
    match find_account(user_id).await {
        Ok(Ok(profile)) => Ok(session_of(profile)),
        Ok(Err(error)) => Err(error.into()),
        Err(error) => Err(SignInError::Unavailable(error.to_string())),
    }
}

/// Returns `data` unchanged: bytes both ways, for the payload benches
/// (through `demo_native_echo` no CBOR is involved; through `demo_call` the
/// bytes travel as a CBOR byte string each way).
#[hostcall::handler]
pub fn echo(data: hostcall::Bytes) -> hostcall::Bytes {
    data
}

/// Panics with `message`: shows that a panicking handler becomes an error
/// reply and leaves the context working.
#[hostcall::handler]
pub fn panic_with(message: String) {
    panic!("{message}");
}

/// Crashes the process on purpose, for the isolation tests: `kind` is
/// `"segfault"` (reads a page mapped with no access: a real memory fault,
/// SIGSEGV), `"abort"`, `"stack_overflow"` (unbounded
/// recursion into the thread's guard page: SIGSEGV, or SIGABRT where
/// Rust's runtime reports it) or `"oom"` (allocates
/// and touches memory 16 MiB at a time until the allocator fails, which
/// aborts; bound it with `limit_address_space_mb`, or the kernel's OOM
/// killer ends it). In process, this kills the host, as it should; with
/// `isolation: "process"` the request fails with RET_PROCESS_DIED. Any other
/// kind is an error and crashes nothing.
#[hostcall::handler]
pub fn crash(kind: String) -> Result<(), String> {
    match kind.as_str() {
        // SAFETY: maps one fresh page with no access and reads it: the
        // read faults and the process dies of SIGSEGV, which is the point
        // (the fault is the kernel's, not a dangling pointer's; if the
        // mapping failed, nothing is read).
        "segfault" => unsafe {
            let page = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if page != libc::MAP_FAILED {
                std::ptr::read_volatile(page.cast::<u8>());
            }
        },
        "abort" => std::process::abort(),
        "stack_overflow" => {
            #[allow(
                unconditional_recursion,
                reason = "it recurses until the stack overflows, on purpose"
            )]
            fn deeper(depth: u64) -> u64 {
                let frame = std::hint::black_box([depth; 64]);
                deeper(depth + 1) + frame[0]
            }
            std::hint::black_box(deeper(0));
        }
        "oom" => {
            let mut held: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut chunk = Vec::<u8>::new();
                if chunk.try_reserve_exact(16 << 20).is_err() {
                    std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; 16 << 20]>());
                }
                chunk.resize(16 << 20, 1);
                held.push(std::hint::black_box(chunk));
            }
        }
        _ => {}
    }
    Err(format!(
        "unknown crash kind '{kind}' (kinds: segfault, abort, stack_overflow, oom)"
    ))
}

hostcall::export! {
    prefix = "demo",
    handlers = [
        version,
        add,
        login,
        login_many,
        first_profile,
        ping_host,
        panic_with,
        sign_in,
        echo,
        crash,
    ],
    host_fns = [fetch_profile, notify, find_account],
    events = [Progress],
}
