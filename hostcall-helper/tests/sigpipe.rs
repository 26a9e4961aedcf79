//! A host that has not ignored SIGPIPE (a C host's default) survives writing
//! to a helper that has just died: every write to the helper is a `send`
//! with `MSG_NOSIGNAL`, so the write fails with EPIPE and the requests get
//! `RET_PROCESS_DIED`, instead of the host being killed by the signal.
//!
//! A test binary of its own: it restores SIGPIPE's default action for the
//! whole process (Rust's runtime ignores it), and finds "the helper" as
//! this process's only child.

mod common;

use ciborium::Value;
use common::{children, config};
use hostcall::status::*;
use hostcall_testkit::{Client, next_id};

#[test]
fn writing_to_a_dead_helper_does_not_raise_sigpipe() {
    // SAFETY: sets a signal disposition; no handler runs Rust code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let config = config(&[("restart", Value::Bool(false))]);
    for round in 0..5 {
        let client = Client::new(&demo::__HOSTCALL_ENTRY_POINTS, &config).unwrap();
        assert_eq!(client.call("add", &(1, 2)).value::<i64>(), 3);
        let helpers = children(None);
        assert_eq!(helpers.len(), 1, "round {round}: {helpers:?}");
        // SAFETY: sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(helpers[0], libc::SIGKILL) }, 0);
        // Calls race the death: some are written to the dead socket.
        let args = hostcall::wire::to_cbor(&(1, 2)).unwrap();
        let mut accepted = Vec::new();
        for _ in 0..2_000 {
            let id = next_id();
            match client.call_raw("add", &args, id) {
                HC_OK => accepted.push(id),
                status => assert_eq!(status, HC_ERR_SHUTTING_DOWN),
            }
        }
        for id in accepted {
            let reply = client.sink.wait_for(id, 1).remove(0);
            assert!(
                reply.ret == RET_OK || reply.ret == RET_PROCESS_DIED,
                "{}: {}",
                reply.ret,
                reply.text()
            );
        }
        assert_eq!(client.destroy(), HC_OK);
    }
}
