//! The Kotlin binding: a Kotlin file and the JNI glue in C, rendered from
//! the model with the templates in `templates/kotlin/`.
//!
//! * `src/main/kotlin/<package path>/<Class>.kt` (`Library.kt`): `class
//!   <Class>` with `open(config, scope)`, one `suspend fun` per handler, one
//!   registration method per host fn taking a suspend lambda
//!   (`demo.fetchProfile { … }`), one `Flow` per event, data classes for
//!   records, their CBOR codecs, and `<Class>Config`, one option per key of
//!   the ABI's config list;
//! * `src/main/c/<prefix>_jni.c` (`library_jni.c`): the JNI functions
//!   behind the Kotlin `external fun`s, calling the library's C ABI, plus
//!   `JNI_OnLoad`; the upcall trampolines and the JNI rules are in the
//!   hand-written `hostcall_jni.h`. The library's C header is not copied:
//!   the glue compiles against the library's own include directory.
//!
//! Every handler is called through CBOR with `<prefix>_call_cancellable`,
//! so that cancelling the calling coroutine withdraws the request
//! (`<prefix>_cancel_call`). Handlers the model gives a [`Native`] entry
//! point are called through its `_cancellable` form instead (its arguments'
//! lowerings and its reply callback come from the model), withdrawn the same
//! way (isolated or not: an isolated context forwards them to its helper),
//! unless the calling coroutine's context holds `CborCalls`
//! (`Runtime.nativeCalls()`). A refused entry point throws `StatusException`
//! from inside its JNI function, with the library's last error read in
//! that same native call (it is per OS thread).
//!
//! The call id also keys the caller's coroutine context elements while the
//! request runs: the runtime asks `<prefix>_host_call_origin` (the
//! `hostCallOrigin` JNI function) inside each host fn upcall and starts the
//! host fn's coroutine with them.
//!
//! Error types ([`errors`]) become sealed exception classes with their CBOR
//! codecs; a handler with one throws it on `RET_ERR_TYPED`, a host fn with
//! one answers `RET_ERR_TYPED` when its block throws it.
//!
//! [`runtime_files`] renders the runtime support's part the ABI list
//! determines (`Status.kt`: status and outcome codes); the rest of
//! `dev.hostcall.runtime` is hand-written.
//!
//! Names ([`names`]): `login_many` → `loginMany`, records and the class in
//! `UpperCamelCase`, Kotlin keywords in backticks. A host fn's registration
//! method has the host fn's name (`notify { … }` is an overload, not
//! `java.lang.Object.notify()`, which Kotlin does not expose anyway); if a
//! handler has the same name, or a handler is called `close`, the generated
//! member gets a suffix (`…HostFn`, `closeCall`) instead of clashing.

mod config;
mod errors;
mod names;
mod types;

use askama::Template;
use hostcall_abi::native::Conversion;

use crate::Files;
use crate::model::{Abi, Field, Function, Model, Name, Native, Record};

pub use names::{handler_member, host_fn_member, jni_mangle, member, type_name};
pub use types::kotlin_type;

use config::Setting;
use errors::{KError, exception_name};
use names::{bare, c_string};
use types::{decode, encode};

/// The Kotlin package of a library's binding.
pub fn default_package(prefix: &str) -> String {
    format!("dev.hostcall.{}", prefix.replace('_', ""))
}

/// Where [`runtime_files`] writes the status codes, relative to the
/// runtime's Maven module.
pub const STATUS_FILE: &str = "src/main/kotlin/dev/hostcall/runtime/Status.kt";

/// `<Class>.kt`.
#[derive(Template)]
#[template(path = "kotlin/Library.kt", escape = "none")]
struct KotlinFile<'a> {
    model: &'a Model,
    package: &'a str,
    /// The prefix.
    p: &'a str,
    /// The class name.
    class: String,
    handlers: Vec<Handler<'a>>,
    host_fns: Vec<HostFn<'a>>,
    settings: Vec<Setting>,
    errors: Vec<KError>,
}

/// `<prefix>_jni.c`.
#[derive(Template)]
#[template(path = "kotlin/library_jni.c", escape = "none")]
struct JniFile<'a> {
    model: &'a Model,
    /// The prefix.
    p: &'a str,
    /// `Java_<package>_<Class>Native_`.
    jni: String,
    handlers: Vec<Handler<'a>>,
    create: Borrowing,
    call: Borrowing,
    complete: Borrowing,
}

/// `Status.kt`.
#[derive(Template)]
#[template(path = "kotlin/Status.kt", escape = "none")]
struct StatusFile<'a> {
    abi: &'a Abi,
}

/// C statements borrowing the byte arrays `arrays` around `call` (which
/// assigns the result): every length first, then every pin, so that no JNI
/// function runs inside a critical region. When a pin fails, the arrays
/// pinned so far are released and the function ends with `refused`.
/// Rendered by the macro in `kotlin/borrowing.c`.
struct Borrowing {
    arrays: Vec<String>,
    call: String,
    refused: &'static str,
}

impl Borrowing {
    /// The arrays pinned before the one at `index`, last pinned first: the
    /// order to release them in when that one cannot be pinned.
    fn released_before(&self, index: &usize) -> impl Iterator<Item = &String> {
        self.arrays[..*index].iter().rev()
    }

    /// Every array, last pinned first: the order to release them in.
    fn released(&self) -> impl Iterator<Item = &String> {
        self.arrays.iter().rev()
    }
}

/// A handler's member and, when it has a native entry point, its JNI side.
struct Handler<'a> {
    f: &'a Function,
    /// The index in the glue's `methods` table.
    index: usize,
    member: String,
    /// `a: Long, b: Long`.
    params: String,
    native: Option<NativeCall>,
    /// The exception class of its error type, if it has one.
    error: Option<String>,
}

/// The `external fun` and JNI function calling a native entry point.
struct NativeCall {
    /// `nativeAdd`.
    external: String,
    /// The Kotlin parameters after `handle` (`, a: Long`).
    kotlin_params: String,
    /// The Kotlin arguments after `handle` (`, message.encodeToByteArray()`).
    kotlin_args: String,
    /// The JNI C parameters after `handle` (`, jlong a`).
    c_params: String,
    /// The call of the entry point, borrowing the array arguments.
    body: Borrowing,
    /// The Kotlin expression of the result, or `None` for `()`.
    result: Option<&'static str>,
}

/// A host fn's registration member.
struct HostFn<'a> {
    f: &'a Function,
    member: String,
    /// `userId: String`, the block's parameters.
    params: String,
    /// The exception class of its error type, if it has one.
    error: Option<String>,
}

/// The Kotlin parameters of a function: `userId: String, n: Int`.
fn params(args: &[Field]) -> String {
    args.iter()
        .map(|a| format!("{}: {}", member(&a.name), kotlin_type(&a.ty)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn native_call(f: &Function, native: &Native) -> NativeCall {
    let mut kotlin_params = String::new();
    let mut kotlin_args = String::new();
    let mut c_params = String::new();
    let mut c_args = String::new();
    let mut arrays = Vec::new();
    for arg in &native.args {
        let n = bare(&arg.name);
        let m = member(&arg.name);
        match arg.conversion {
            Conversion::Value => {
                let (kotlin, jni, convert) = types::jni_value(arg.scalar);
                let (_, c) = &arg.c_params[0];
                kotlin_params += &format!(", {n}: {kotlin}");
                kotlin_args += &format!(", {m}{convert}");
                c_params += &format!(", {jni} {n}");
                c_args += &format!(", ({c}){n}");
            }
            Conversion::Text | Conversion::Bytes => {
                // (pointer, length): the borrowed array's `const char *data`
                // and `size_t len`, the pointer cast to the parameter's type.
                let (_, ptr) = &arg.c_params[0];
                let cast = if ptr == "const char *" {
                    String::new()
                } else {
                    format!("({ptr})")
                };
                kotlin_params += &format!(", {n}: ByteArray");
                kotlin_args += &format!(", {}", types::jni_array(arg.conversion, &m));
                c_params += &format!(", jbyteArray {n}");
                c_args += &format!(", {cast}{n}_b.data, {n}_b.len");
                arrays.push(n);
            }
        }
    }
    let call = format!(
        "status = {}(ctx_of(handle){c_args}, {}, key_of(key), &id);",
        native.cancellable_symbol,
        types::trampoline(native.reply)
    );
    NativeCall {
        external: format!("native{}", f.name.upper_camel()),
        kotlin_params,
        kotlin_args,
        c_params,
        body: Borrowing {
            arrays,
            call,
            refused: "return 0;",
        },
        result: (!f.ret.is_unit()).then(|| types::native_result(native.result)),
    }
}

fn handlers(model: &Model) -> Vec<Handler<'_>> {
    model
        .handlers
        .iter()
        .enumerate()
        .map(|(index, f)| Handler {
            f,
            index,
            member: handler_member(&f.name),
            params: params(&f.args),
            native: f.native.as_ref().map(|n| native_call(f, n)),
            error: model.error_of(f).map(exception_name),
        })
        .collect()
}

/// Renders the Kotlin binding: `(path relative to the Maven project,
/// contents)` pairs.
pub fn binding(model: &Model, package: &str) -> Files {
    let p = &model.prefix.wire;
    let class = type_name(&model.prefix);
    let kotlin = KotlinFile {
        model,
        package,
        p,
        class: class.clone(),
        handlers: handlers(model),
        host_fns: model
            .host_fns
            .iter()
            .map(|f| HostFn {
                f,
                member: host_fn_member(&model.handlers, &f.name),
                params: params(&f.args),
                error: model.error_of(f).map(exception_name),
            })
            .collect(),
        settings: config::settings(&model.abi),
        errors: errors::errors(&model.error_types),
    };
    let borrowing = |array: &str, call: String, refused| Borrowing {
        arrays: vec![array.to_owned()],
        call,
        refused,
    };
    let jni = JniFile {
        model,
        p,
        jni: format!("Java_{}_{}Native_", jni_mangle(package), jni_mangle(&class)),
        handlers: handlers(model),
        create: borrowing(
            "config",
            format!("ctx = {p}_new(config_b.data, config_b.len);"),
            "return 0;",
        ),
        call: borrowing(
            "request",
            format!(
                "status = {p}_call_cancellable(ctx_of(handle), methods[method], request_b.data, request_b.len, hcj_on_reply, key_of(key), &id);"
            ),
            "return 0;",
        ),
        complete: borrowing(
            "payload",
            format!(
                "status = {p}_host_complete(ctx_of(handle), (uint64_t)token, ret, payload_b.data, payload_b.len);"
            ),
            "return status;",
        ),
    };
    let path = package.replace('.', "/");
    vec![
        (
            format!("src/main/kotlin/{path}/{class}.kt"),
            crate::c::render(&kotlin),
        ),
        (format!("src/main/c/{p}_jni.c"), crate::c::render(&jni)),
    ]
}

/// The runtime support's files the ABI list determines, relative to the
/// runtime's Maven module (`bindings/kotlin/runtime`).
pub fn runtime_files(abi: &Abi) -> Files {
    vec![(
        STATUS_FILE.to_owned(),
        crate::c::render(&StatusFile { abi }),
    )]
}

/// A KDoc block of `text` (its lines as they are) ending with a newline,
/// or nothing for no text.
fn kdoc(text: &str, indent: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let mut out = format!("{indent}/**\n");
    for line in text.lines() {
        if line.is_empty() {
            out += &format!("{indent} *\n");
        } else {
            out += &format!("{indent} * {}\n", line.replace("*/", "*&#47;"));
        }
    }
    out + &format!("{indent} */\n")
}

/// A handler's KDoc.
fn handler_doc(h: &Handler) -> String {
    let f = h.f;
    let doc = if f.doc.is_empty() {
        format!("Calls `{}`.", f.name)
    } else {
        format!("Calls `{}`: {}", f.name, f.doc)
    };
    let typed = match &h.error {
        Some(e) => format!(
            "\n@throws {e} the library's typed error (`RET_ERR_TYPED`): the subclass of its variant."
        ),
        None => String::new(),
    };
    kdoc(
        &format!(
            "{doc}\n{typed}\n@throws CallException if the library answers with a failure (its subclass tells which kind).\n@throws StatusException if the library refuses the call (closed, overloaded)."
        ),
        "    ",
    )
}

/// A host fn's KDoc.
fn host_fn_doc(h: &HostFn) -> String {
    let f = h.f;
    let typed = match &h.error {
        Some(e) => format!(
            "\n\nThrowing a [{e}] answers with that typed error instead\n(`RET_ERR_TYPED`, its CBOR), which the library matches on."
        ),
        None => String::new(),
    };
    let doc = if f.doc.is_empty() {
        format!("Implements the host fn `{}` with [block].", f.name)
    } else {
        format!(
            "Implements the host fn `{}` with [block]: {}",
            f.name, f.doc
        )
    };
    kdoc(
        &format!(
            "{doc}\n\nEach invocation runs [block] in a new coroutine of this context's scope\n(never on the library's thread), carrying the calling coroutine's context\nelements (not its job, nor its dispatcher) when a handler call of this\ncontext made the host call. Its value is the host fn's result; an\nexception it throws reaches the library as an error with the exception's\nmessage. The coroutine is cancelled when the library drops the call (the\nawaiting Rust future was dropped or timed out, or its request was withdrawn\nbecause the caller's coroutine was cancelled) or the context closes; what\nit returns after that is discarded. Registering again replaces [block] for\nlater invocations.{typed}\n\n@throws StatusException if the context is closed."
        ),
        "    ",
    )
}

/// An event's KDoc.
fn event_doc(name: &Name, doc: &str) -> String {
    let lead = if doc.is_empty() {
        format!("The `{name}` events.")
    } else {
        format!("The `{name}` events: {doc}")
    };
    kdoc(
        &format!(
            "{lead}\n\nA cold flow: each collection subscribes when it starts (before its first\nsuspension; start the collector with `CoroutineStart.UNDISPATCHED` to be\nsure it is subscribed before your next call) and unsubscribes when it ends.\nEvents arrive in emission order and are buffered without bound, none\ndropped; the events a call emits are all in the buffer before that call\nreturns. When the context closes the flow completes after the buffered\nevents. Collecting on a closed context throws [StatusException]."
        ),
        "    ",
    )
}

/// A record field's declared type and default.
fn field_decl(field: &Field) -> String {
    let default = if matches!(field.ty, crate::model::Type::Optional(_)) {
        " = null"
    } else {
        ""
    };
    format!("{}{default}", kotlin_type(&field.ty))
}

/// The statement writing argument `arg`.
fn encode_arg(arg: &Field) -> String {
    encode(&arg.ty, &member(&arg.name), 0)
}

/// The statement writing a record's field of `v`.
fn encode_field(field: &Field) -> String {
    encode(&field.ty, &format!("v.{}", member(&field.name)), 0)
}

/// A decoded field's local: the field's type, nullable until read.
fn field_local(field: &Field) -> String {
    let ty = kotlin_type(&field.ty);
    format!("{}?", ty.trim_end_matches('?'))
}

/// The argument of a record's constructor taking a decoded field.
fn field_arg(record: &Record, field: &Field) -> String {
    let m = member(&field.name);
    if matches!(field.ty, crate::model::Type::Optional(_)) {
        format!("{m} = {m},")
    } else {
        format!(
            "{m} = {m} ?: throw CborException(\"{}: missing field '{}'\"),",
            type_name(&record.name),
            field.name
        )
    }
}

/// The C array of names (`{"a", "b"}`), `NULL` when there are none.
fn c_names<'a>(names: impl IntoIterator<Item = &'a Name>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| c_string(&n.wire)).collect();
    if names.is_empty() {
        "{NULL}".to_owned()
    } else {
        format!("{{{}}}", names.join(", "))
    }
}

/// The C array of functions' names.
fn c_functions(functions: &[Function]) -> String {
    c_names(functions.iter().map(|f| &f.name))
}

/// The C array of events' names.
fn c_events(events: &[crate::model::Event]) -> String {
    c_names(events.iter().map(|e| &e.name))
}

/// The Kotlin list of a record's keys: `"user_id", "greeting"`.
fn keys(record: &Record) -> String {
    record
        .fields
        .iter()
        .map(|f| format!("\"{}\"", f.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The block's arguments: `userId, name`.
fn args(f: &Function) -> String {
    f.args
        .iter()
        .map(|a| member(&a.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_arrays_are_measured_before_any_is_pinned() {
        /// The macro alone.
        #[derive(Template)]
        #[template(
            source = r#"{%- import "kotlin/borrowing.c" as borrow %}{%- call borrow::borrowing(b) %}{% endcall %}"#,
            ext = "c",
            escape = "none"
        )]
        struct Probe {
            b: Borrowing,
        }
        let c = Probe {
            b: Borrowing {
                arrays: vec!["a".into(), "b".into()],
                call: "status = f();".into(),
                refused: "return;",
            },
        }
        .render()
        .unwrap();
        let measure_b = c.find("hcj_measure(env, b)").unwrap();
        let pin_a = c.find("hcj_pin(env, &a_b)").unwrap();
        assert!(measure_b < pin_a, "{c}");
        assert!(
            c.contains(
                "if (!hcj_pin(env, &b_b)) {\n        hcj_release(env, &a_b);\n        return;"
            ),
            "{c}"
        );
        assert!(
            c.find("status = f();").unwrap()
                < c.find("hcj_release(env, &b_b);\n    hcj_release(env, &a_b);")
                    .unwrap(),
            "{c}"
        );
    }

    #[test]
    fn kdoc_is_empty_for_no_text() {
        assert_eq!(kdoc("", "  "), "");
        assert_eq!(kdoc("a\n\nb */", ""), "/**\n * a\n *\n * b *&#47;\n */\n");
    }

    #[test]
    fn status_codes_come_from_the_abi_list() {
        let files = runtime_files(&Abi::new());
        let (name, text) = &files[0];
        assert_eq!(name, STATUS_FILE);
        for code in hostcall_abi::STATUS_CODES {
            assert!(
                text.contains(&format!(
                    "const val {} = {}\n",
                    code.short_name(),
                    code.value
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!("{} -> \"{}\"\n", code.short_name(), code.name)),
                "{text}"
            );
        }
        let outcome = &text[text.find("object Outcome").expect("object Outcome")..];
        for code in hostcall_abi::OUTCOME_CODES {
            assert!(
                outcome.contains(&format!(
                    "const val {} = {}\n",
                    code.short_name(),
                    code.value
                )),
                "{text}"
            );
            assert!(
                outcome.contains(&format!("{} -> \"{}\"\n", code.short_name(), code.name)),
                "{text}"
            );
        }
    }
}
