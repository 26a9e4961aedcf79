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

host_fn! {
    /// Looks a user's profile up in the host's store.
    pub fn fetch_profile(user_id: String) -> Profile;

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

/// Panics with `message`: shows that a panicking handler becomes an error
/// reply and leaves the context working.
#[hostcall::handler]
pub fn panic_with(message: String) {
    panic!("{message}");
}

hostcall::export! {
    prefix = "demo",
    handlers = [version, add, login, login_many, first_profile, ping_host, panic_with],
    host_fns = [fetch_profile, notify],
    events = [Progress],
}
