//! The config parser, alone and through `demo_new`.
//!
//! * `hostcall::Config::from_cbor` never panics (libFuzzer's panic hook
//!   turns a panic into a crash);
//! * `demo_new` returns non-NULL exactly when `from_cbor` is `Ok`, and then
//!   `demo_destroy` returns `HC_OK`;
//! * when it returns NULL, `demo_last_error` holds a message that contains
//!   the `from_cbor` error text.
//!
//! A config that `from_cbor` takes with `isolation: "process"` is not
//! passed to `demo_new`: it would start a helper process per input (the
//! isolation tests in `hostcall-helper/tests` cover that path).

#![no_main]

use hostcall::status::HC_OK;
use hostcall_fuzz::hex;
use libfuzzer_sys::fuzz_target;

/// This thread's last failure message, as `demo_last_error` gives it.
fn last_error() -> String {
    // SAFETY: a NULL buffer asks for the length only.
    let len = unsafe { demo::demo_last_error(std::ptr::null_mut(), 0) };
    let mut buf = vec![0u8; len + 1];
    // SAFETY: `buf` is valid for writes of its length.
    let copied = unsafe { demo::demo_last_error(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(copied, len, "demo_last_error changed length between calls");
    assert_eq!(buf[len], 0, "demo_last_error did not NUL-terminate");
    buf.truncate(len);
    String::from_utf8(buf).expect("demo_last_error gives UTF-8")
}

fuzz_target!(|data: &[u8]| {
    let parsed = hostcall::Config::from_cbor(data);
    if parsed
        .as_ref()
        .is_ok_and(|config| config.isolation.is_some())
    {
        return;
    }
    // SAFETY: `data` is valid for reads of its length.
    let ctx = unsafe { demo::demo_new(data.as_ptr().cast(), data.len()) };
    match parsed {
        Ok(config) => {
            assert!(
                !ctx.is_null(),
                "from_cbor took config {} as {config:?}, but demo_new refused it: {}",
                hex(data),
                last_error()
            );
            // SAFETY: `ctx` is only looked up, never dereferenced.
            let status = unsafe { demo::demo_destroy(ctx) };
            assert_eq!(status, HC_OK, "demo_destroy of a fresh context");
        }
        Err(problem) => {
            assert!(
                ctx.is_null(),
                "from_cbor refused config {} ({problem}), but demo_new made a context",
                hex(data)
            );
            let message = last_error();
            assert!(
                message.contains(&problem),
                "demo_new refused config {}; last_error {message:?} does not contain {problem:?}",
                hex(data)
            );
        }
    }
});
