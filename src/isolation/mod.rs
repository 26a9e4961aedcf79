//! What an isolated context and `hostcall-helper` share: the protocol they
//! speak ([`protocol`]), the connection it travels on ([`stream`]) and the
//! writer that sends it ([`sink`]).
//!
//! With `isolation: "process"` in its config, a context runs its library in
//! a helper process it starts (with `"socket"` or `"tcp"`, in one already
//! running, shared by any number of contexts): the host's side (`remote`: the helper's process and
//! connection, and the loop's proxy of requests and host calls) forwards
//! every request and answers every host call the helper makes, and turns
//! the helper's death into one `RET_PROCESS_DIED` reply per pending
//! request. docs/isolation.md tells the whole story.

pub mod protocol;
pub mod sink;
pub mod stream;
