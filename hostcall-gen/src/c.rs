//! The C header.
//!
//! Layout: the shared ABI block (outcome and status codes, callback types;
//! guarded so that two hostcall headers can be included together), then the
//! library's interface hash, its records, methods, host fns and events as
//! documented name macros, then the entry-point prototypes.

use std::fmt::Write;

use hostcall::LibraryDesc;
use hostcall::describe::{FieldDesc, FnDesc, TypeDesc};
use hostcall::status::{Code, OUTCOME_CODES, STATUS_CODES};

use crate::wrap;

/// How a type reads in the header's comments.
fn cbor_type(ty: &TypeDesc) -> String {
    match ty {
        TypeDesc::Unit => "null".into(),
        TypeDesc::Bool => "bool".into(),
        TypeDesc::I8 => "int8".into(),
        TypeDesc::I16 => "int16".into(),
        TypeDesc::I32 => "int32".into(),
        TypeDesc::I64 => "int64".into(),
        TypeDesc::U8 => "uint8".into(),
        TypeDesc::U16 => "uint16".into(),
        TypeDesc::U32 => "uint32".into(),
        TypeDesc::U64 => "uint64".into(),
        TypeDesc::F32 => "float32".into(),
        TypeDesc::F64 => "float64".into(),
        TypeDesc::String => "text".into(),
        TypeDesc::Bytes => "bytes".into(),
        TypeDesc::List(inner) => format!("[{}]", cbor_type(inner)),
        TypeDesc::Optional(inner) => format!("{} | null", cbor_type(inner)),
        TypeDesc::Record(name) => name.clone(),
    }
}

/// The C parameter(s) of a native argument.
fn native_params(arg: &FieldDesc) -> Option<String> {
    let n = &arg.name;
    let scalar = |c: &str| Some(format!("{c} {n}"));
    match &arg.ty {
        TypeDesc::I8 => scalar("int8_t"),
        TypeDesc::I16 => scalar("int16_t"),
        TypeDesc::I32 => scalar("int32_t"),
        TypeDesc::I64 => scalar("int64_t"),
        TypeDesc::U8 => scalar("uint8_t"),
        TypeDesc::U16 => scalar("uint16_t"),
        TypeDesc::U32 => scalar("uint32_t"),
        TypeDesc::U64 => scalar("uint64_t"),
        TypeDesc::F32 => scalar("float"),
        TypeDesc::F64 => scalar("double"),
        TypeDesc::Bool => scalar("bool"),
        TypeDesc::String => Some(format!("const char *{n}, size_t {n}_len")),
        TypeDesc::Bytes => Some(format!("const uint8_t *{n}, size_t {n}_len")),
        _ => None,
    }
}

/// The callback type of a native result, and what its success payload is.
fn native_callback(ty: &TypeDesc) -> Option<(&'static str, &'static str)> {
    Some(match ty {
        TypeDesc::I8 | TypeDesc::I16 | TypeDesc::I32 | TypeDesc::I64 => {
            ("FFICallBackI64", "the value")
        }
        TypeDesc::U8 | TypeDesc::U16 | TypeDesc::U32 | TypeDesc::U64 => {
            ("FFICallBackU64", "the value")
        }
        TypeDesc::F32 | TypeDesc::F64 => ("FFICallBackF64", "the value"),
        TypeDesc::Bool => ("FFICallBackBool", "the value"),
        TypeDesc::String => ("FFICallBack", "RET_OK with the text (UTF-8, not CBOR)"),
        TypeDesc::Bytes => ("FFICallBack", "RET_OK with the raw bytes (not CBOR)"),
        TypeDesc::Unit => ("FFICallBack", "RET_OK with an empty payload"),
        _ => return None,
    })
}

/// The prototype of `<prefix>_native_<name>`, if the handler has one.
fn native_prototype(prefix: &str, f: &FnDesc) -> Option<(String, &'static str)> {
    if !f.native {
        return None;
    }
    let (callback, payload) = native_callback(&f.ret)?;
    let mut params = vec!["void *ctx".to_owned()];
    for arg in &f.args {
        params.push(native_params(arg)?);
    }
    params.push(format!("{callback} cb"));
    params.push("void *user_data".to_owned());
    Some((
        format!("int {prefix}_native_{}({});", f.name, params.join(", ")),
        payload,
    ))
}

fn macro_name(text: &str) -> String {
    text.to_ascii_uppercase()
}

fn comment_block(out: &mut String, indent: &str, lines: &[String]) {
    for line in lines {
        if line.is_empty() {
            let _ = writeln!(out, "{indent} *");
        } else {
            let _ = writeln!(out, "{indent} * {line}");
        }
    }
}

fn codes(out: &mut String, codes: &[Code]) {
    for code in codes {
        let _ = writeln!(out, "/** {} */", code.doc);
        let _ = writeln!(out, "#define {} ({})", code.name, code.value);
    }
}

fn arg_list(args: &[FieldDesc]) -> String {
    let args: Vec<String> = args
        .iter()
        .map(|a| format!("{}: {}", a.name, cbor_type(&a.ty)))
        .collect();
    format!("[{}]", args.join(", "))
}

fn function_macro(out: &mut String, prefix_upper: &str, kind: &str, f: &FnDesc, reply: &str) {
    out.push_str("/**\n");
    let mut lines = wrap(&f.doc, 72);
    if !lines.is_empty() {
        lines.push(String::new());
    }
    lines.push(format!("request: {}", arg_list(&f.args)));
    lines.push(format!("{reply}: {}", cbor_type(&f.ret)));
    comment_block(out, "", &lines);
    out.push_str(" */\n");
    let _ = writeln!(
        out,
        "#define {prefix_upper}_{kind}_{} \"{}\"",
        macro_name(&f.name),
        f.name
    );
}

/// Renders the C header for a library.
pub fn header(desc: &LibraryDesc) -> String {
    let p = &desc.prefix;
    let pu = macro_name(p);
    let mut out = String::new();
    let _ = write!(
        out,
        "\
/*
 * {p}.h - the C interface of the `{p}` library.
 *
 * Generated by hostcall-gen from the library's own description. Do not edit:
 * change the Rust declarations and regenerate.
 *
 * Threading (docs/threading.md): reply, event, host fn and cancel callbacks
 * run on the context's loop thread, one at a time. Every entry point may be
 * called from any thread, including from inside those callbacks.
 * Ownership: bytes passed in are copied before the call returns; bytes
 * passed to a callback are valid only during the callback.
 * Wire form: requests are CBOR arrays of the arguments in order, results are
 * CBOR values, records are CBOR maps keyed by field name, errors are UTF-8.
 */
#ifndef {pu}_H
#define {pu}_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern \"C\" {{
#endif

#ifndef HOSTCALL_ABI_DEFINED
#define HOSTCALL_ABI_DEFINED

/* Outcome codes: the `ret` a callback receives and `host_complete` takes. */
"
    );
    codes(&mut out, OUTCOME_CODES);
    out.push_str("\n/* Status codes returned by the entry points. Stable: never renumbered. */\n");
    codes(&mut out, STATUS_CODES);
    out.push_str(
        "
/** A reply or event callback. `msg`/`len` are valid only during the call. */
typedef void (*FFICallBack)(int ret, const char *msg, size_t len, void *user_data);
/** A host fn: must return promptly, then answer `token` with host_complete. */
typedef void (*FFIHostFn)(uint64_t token, const char *req, size_t req_len, void *user_data);
/** Told when the library abandons the call `token` (dropped, timed out, shutdown). */
typedef void (*FFIHostCancelFn)(uint64_t token, void *user_data);
/**
 * Replies of native entry points with a scalar result: on RET_OK `value` is
 * the result and `err` is NULL; on RET_ERR `value` is 0 and `err`/`err_len`
 * is UTF-8 text valid only during the call. Signed results of any width
 * arrive as int64_t, unsigned as uint64_t, floats as double.
 */
typedef void (*FFICallBackI64)(int ret, int64_t value, const char *err, size_t err_len, void *user_data);
typedef void (*FFICallBackU64)(int ret, uint64_t value, const char *err, size_t err_len, void *user_data);
typedef void (*FFICallBackF64)(int ret, double value, const char *err, size_t err_len, void *user_data);
typedef void (*FFICallBackBool)(int ret, bool value, const char *err, size_t err_len, void *user_data);

#endif /* HOSTCALL_ABI_DEFINED */
",
    );
    let _ = write!(
        out,
        "
/** The interface this header was generated from; compare with {p}_interface_hash(). */
#define {pu}_INTERFACE_HASH UINT64_C(0x{:016x})
",
        desc.interface_hash
    );

    if !desc.records.is_empty() {
        out.push_str("\n/*\n * Records: CBOR maps keyed by field name.\n");
        for record in &desc.records {
            out.push_str(" *\n");
            let mut lines = vec![format!("{}:", record.name)];
            lines.extend(wrap(&record.doc, 70).into_iter().map(|l| format!("  {l}")));
            comment_block(&mut out, "", &lines);
            let width = record
                .fields
                .iter()
                .map(|f| f.name.len())
                .max()
                .unwrap_or(0);
            for field in &record.fields {
                let ty = cbor_type(&field.ty);
                let doc = field.doc.lines().next().unwrap_or("");
                let line = format!("    {:width$}  {:8} {doc}", field.name, ty);
                let _ = writeln!(out, " * {}", line.trim_end());
            }
        }
        out.push_str(" */\n");
    }

    if !desc.handlers.is_empty() {
        let _ = writeln!(
            out,
            "\n/* Methods: {p}_call(ctx, {pu}_METHOD_..., request, len, cb, user_data). */"
        );
        for handler in &desc.handlers {
            let reply = if handler.fallible {
                "reply (RET_OK; RET_ERR carries error text)"
            } else {
                "reply (RET_OK)"
            };
            function_macro(&mut out, &pu, "METHOD", handler, reply);
        }
    }

    if !desc.host_fns.is_empty() {
        let _ = writeln!(
            out,
            "\n/* Host fns: {p}_register_host_fn(ctx, {pu}_HOST_FN_..., fn, user_data). */"
        );
        for host_fn in &desc.host_fns {
            function_macro(
                &mut out,
                &pu,
                "HOST_FN",
                host_fn,
                "complete with RET_OK and",
            );
        }
    }

    if !desc.events.is_empty() {
        let _ = writeln!(
            out,
            "\n/* Events: {p}_add_event_listener(ctx, {pu}_EVENT_..., cb, user_data). */"
        );
        for event in &desc.events {
            out.push_str("/**\n");
            let mut lines = wrap(&event.doc, 72);
            if !lines.is_empty() {
                lines.push(String::new());
            }
            lines.push(format!("payload: {}", cbor_type(&event.payload)));
            comment_block(&mut out, "", &lines);
            out.push_str(" */\n");
            let _ = writeln!(
                out,
                "#define {pu}_EVENT_{} \"{}\"",
                macro_name(&event.name),
                event.name
            );
        }
    }

    let natives: Vec<_> = desc
        .handlers
        .iter()
        .filter_map(|f| native_prototype(p, f).map(|proto| (f, proto)))
        .collect();
    if !natives.is_empty() {
        out.push_str(
            "
/*
 * Native entry points: the same handlers with C arguments and results, no CBOR
 * either way. Text arguments are (pointer, length) pairs of UTF-8 (copied
 * before the call returns); the rules of _call apply: the callback runs once,
 * on the loop thread, if and only if the call returns HC_OK.
 */
",
        );
        for (f, (prototype, payload)) in natives {
            let _ = writeln!(
                out,
                "/** `{}` ({pu}_METHOD_{}); success: {payload}. */\n{prototype}",
                f.name,
                macro_name(&f.name)
            );
        }
    }

    let _ = write!(
        out,
        "
/**
 * Creates a context. `config` is a CBOR map (NULL/0 for defaults) with keys
 * max_in_flight, host_call_timeout_ms, max_pending_requests and spin_us;
 * unknown keys are an error. Returns NULL on failure ({p}_last_error says why).
 */
void *{p}_new(const char *config, size_t config_len);

/**
 * Destroys a context. Pending requests get one RET_ERR \"context shutting
 * down\" reply, pending host calls are cancelled, the loop thread is joined
 * and memory is freed. From a callback on the loop thread, teardown finishes
 * when the callback returns. Later use of `ctx` returns HC_ERR_INVALID_CONTEXT.
 */
int {p}_destroy(void *ctx);

/**
 * Calls `method` with a CBOR argument array. If and only if this returns
 * HC_OK, `cb` is invoked exactly once, on the loop thread.
 */
int {p}_call(void *ctx, const char *method, const char *req, size_t req_len,
{pad}FFICallBack cb, void *user_data);

/** Registers the host's implementation of host fn `name` (replacing any). */
int {p}_register_host_fn(void *ctx, const char *name, FFIHostFn fn, void *user_data);

/** As {p}_register_host_fn, plus `cancel`, told when a call is abandoned. */
int {p}_register_host_fn_cancellable(void *ctx, const char *name, FFIHostFn fn,
{pad2}FFIHostCancelFn cancel, void *user_data);

/**
 * Completes host call `token` with RET_OK and CBOR, or RET_ERR and UTF-8
 * text. Any thread, any time, including inline from the host fn. Returns
 * HC_ERR_UNKNOWN_TOKEN for a token that is unknown, already completed,
 * cancelled or timed out.
 */
int {p}_host_complete(void *ctx, uint64_t token, int ret, const char *msg, size_t len);

/** Adds a listener for `event`; returns its id, or 0 on failure. */
uint64_t {p}_add_event_listener(void *ctx, const char *event, FFICallBack cb, void *user_data);

/** Removes a listener; once this returns it is not running and never runs again. */
int {p}_remove_event_listener(void *ctx, uint64_t listener_id);

/**
 * Copies the calling thread's last failure message into `buf` (always
 * NUL-terminated when cap > 0) and returns its full length.
 */
size_t {p}_last_error(char *buf, size_t cap);

/** The library's self-description (CBOR); `*len` receives its length. */
const uint8_t *{p}_hostcall_description(size_t *len);

/** The interface hash of the loaded library; compare with {pu}_INTERFACE_HASH. */
uint64_t {p}_interface_hash(void);

#ifdef __cplusplus
}}
#endif

#endif /* {pu}_H */
",
        pad = " ".repeat(p.len() + 10),
        pad2 = " ".repeat(p.len() + 35),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_read_as_cbor_shapes() {
        assert_eq!(
            cbor_type(&TypeDesc::List(Box::new(TypeDesc::String))),
            "[text]"
        );
        assert_eq!(
            cbor_type(&TypeDesc::Optional(Box::new(TypeDesc::Record("P".into())))),
            "P | null"
        );
    }
}
