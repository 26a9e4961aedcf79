//! The Go backend: one library's package, and the runtime package's
//! constants.
//!
//! [`package`] renders `<prefix>.go` (`templates/go/package.go`), which
//! wraps the C ABI with:
//!
//! * `New(opts ...Option) (*Context, error)`, one `With<Setting>` option
//!   per config key (`config.rs`), and `(*Context).Close()`;
//! * one method per handler, `(ctx context.Context, args...) (T, error)`,
//!   through the handler's native entry point when it has one (isolated
//!   or not: an isolated context forwards it), else as a CBOR request;
//!   with a ctx that is exactly `context.Background()` or
//!   `context.TODO()` through the plain entry point, with any other
//!   through its cancellable form (`call_cancellable`,
//!   `native_<m>_cancellable`), withdrawn with `cancel_call` when the
//!   ctx ends and tracked by call id so that the host calls it makes run
//!   in a ctx derived from the caller's (`host_call_origin`, asked by the
//!   runtime's host fn trampoline);
//! * `Register<HostFn>(func(ctx context.Context, args...) (T, error))` per
//!   host fn;
//! * `On<Event>(func(Payload)) (unsubscribe func())` per event;
//! * one struct per record;
//! * generated CBOR codecs (`codec.rs`) for records, argument arrays, results
//!   and events, each decode falling back to `hostcall.Decode` (reflection)
//!   on any payload the fast path does not read;
//! * per library error type, an interface (`error` and a marker method)
//!   and one struct per variant, with the CBOR encoding and decoding of
//!   its externally tagged wire form; a handler that declares one decodes
//!   a `RET_ERR_TYPED` reply into the `CallError`'s `Typed`, a host fn
//!   that declares one completes with `RET_ERR_TYPED` when the Go error is
//!   of that type (`errors.As`).
//!
//! The package copies no header: its cgo preamble includes `<prefix>.h`
//! (and through it `hostcall.h`) from the library's include directory,
//! which the build names with `CGO_CFLAGS=-I…`.
//!
//! The runtime support (the callback queue, its C trampolines and its
//! dispatcher goroutine) lives in the hand-written package
//! `bindings/go/hostcall`; [`runtime_files`] writes the part of it the ABI
//! list determines (`status.go`). The generated C glue passes the
//! trampolines by name where the ABI's callback types are expected, so a
//! trampoline whose signature differs from `hostcall.h` does not compile.

mod codec;
mod config;
mod errors;
mod names;

use askama::Template;
use hostcall_abi::native::{Conversion, Reply, Scalar};

use crate::Files;
use crate::model::{Abi, Field, Function, Model, Native, Record};
use errors::GoErrorType;

pub use names::{exported, go_type, local};

/// The import path of the runtime support package.
pub const DEFAULT_RUNTIME: &str = "github.com/hostcall/hostcall/bindings/go/hostcall";

/// The runtime's C trampolines (`bindings/go/hostcall/queue.c`) and the
/// callback type (`hostcall.h`) each one is.
const TRAMPOLINES: &[(&str, &str)] = &[
    (REPLY, "FFICallBack"),
    ("hc_reply_i64_trampoline", "FFICallBackI64"),
    ("hc_reply_u64_trampoline", "FFICallBackU64"),
    ("hc_reply_f64_trampoline", "FFICallBackF64"),
    ("hc_reply_bool_trampoline", "FFICallBackBool"),
    (HOST_FN, "FFIHostFn"),
    (CANCEL, "FFIHostCancelFn"),
    (EVENT, "FFICallBack"),
];

const REPLY: &str = "hc_reply_trampoline";
const HOST_FN: &str = "hc_host_fn_trampoline";
const CANCEL: &str = "hc_cancel_trampoline";
const EVENT: &str = "hc_event_trampoline";

/// The trampoline a native reply arrives through.
fn reply_trampoline(reply: Reply) -> &'static str {
    match reply {
        Reply::I64 => "hc_reply_i64_trampoline",
        Reply::U64 => "hc_reply_u64_trampoline",
        Reply::F64 => "hc_reply_f64_trampoline",
        Reply::Bool => "hc_reply_bool_trampoline",
        Reply::Bytes => REPLY,
    }
}

/// `<prefix>.go`.
#[derive(Template)]
#[template(path = "go/package.go", escape = "none")]
struct Package<'a> {
    model: &'a Model,
    /// The prefix.
    p: &'a str,
    /// The runtime package's import path.
    runtime: &'a str,
    /// The trampolines the glue uses, as C declarations.
    trampolines: Vec<String>,
    records: Vec<GoRecord>,
    methods: Vec<Method<'a>>,
    host_fns: Vec<HostFn<'a>>,
    events: Vec<GoEvent>,
    tables: Vec<Table>,
    /// `New`'s options, one per config key.
    options: Vec<config::GoOption>,
    /// The library's error types.
    error_types: Vec<GoErrorType>,
    /// The C type of `host_call_origin`, as `hc_queue_bind` takes it:
    /// `uint64_t (*origin)(void *ctx, uint64_t token)`.
    origin_fn: String,
}

/// A record as a Go struct.
struct GoRecord {
    /// The doc comment.
    doc: String,
    name: String,
    /// The field lines, docs included, aligned as gofmt does.
    fields: Vec<String>,
    /// Its generated CBOR codec, if the fast codec covers it.
    codec: Option<codec::RecordCodec>,
}

/// A handler as a `Context` method.
struct Method<'a> {
    f: &'a Function,
    /// The doc comment.
    doc: String,
    name: String,
    /// `, a int64, b int64`.
    params: String,
    /// `(int64, error)` or `error`.
    results: String,
    /// The Go result type.
    ret: String,
    unit: bool,
    /// Its native entry point, used instead of CBOR when there is one.
    native: Option<NativeCall>,
    /// The CBOR call, used without a native entry point.
    cbor: CborCall,
    /// Its declared error type's Go interface and decoder.
    error: Option<TypedError>,
}

/// A declared error type as a function's binding uses it.
struct TypedError {
    /// The Go interface (`SignInError`).
    name: String,
    /// The decoder (handlers) or encoder (host fns).
    codec: String,
}

/// A call through `call_cancellable`, with the arguments as a CBOR array.
struct CborCall {
    /// The anonymous struct the arguments encode as.
    args: String,
    /// Its field values, `UserID: userID`.
    inits: String,
    /// The method's field in the `methods` table.
    table: String,
    /// The statements appending the arguments to `request` (after its
    /// array head), when the generated codec covers them all.
    fast: Option<String>,
    /// The statements decoding the result into `out` with `dec`, when the
    /// generated codec covers it.
    fast_result: Option<String>,
}

/// A call through a native entry point.
struct NativeCall {
    /// The C wrapper's parameters between `ctx` and `key`: `, int64_t a`.
    c_params: String,
    /// The entry point's arguments between `ctx` and the callback: `, a`.
    c_args: String,
    /// The entry point.
    symbol: String,
    /// Its cancellable form.
    cancellable: String,
    /// The trampoline passed as its callback.
    trampoline: &'static str,
    /// Go statements before the call (pinning text and bytes).
    setup: Vec<String>,
    /// The wrapper's Go arguments between `c.handle` and the key.
    go_args: String,
    /// The Go value of a successful reply.
    convert: String,
}

/// A host fn's `Register…` method.
struct HostFn<'a> {
    f: &'a Function,
    doc: String,
    name: String,
    /// The index of its key (declaration order).
    index: usize,
    /// The Go function type of the implementation.
    signature: String,
    /// The anonymous struct its arguments decode into.
    args: String,
    /// `, args.UserID`.
    call_args: String,
    /// The statements decoding the arguments into `args` with `dec` (after
    /// the array head), when the generated codec covers them all.
    fast_args: Option<String>,
    /// The arguments' struct again, one level deeper (the fallback's).
    slow_args: String,
    /// The statements appending the result `out` to `result`, when the
    /// generated codec covers it.
    fast_result: Option<String>,
    /// Whether the generated codec covers its arguments and result.
    fast: bool,
    unit: bool,
    table: String,
    /// Its declared error type's Go interface and encoder.
    error: Option<TypedError>,
}

/// An event's `On…` method.
struct GoEvent {
    doc: String,
    method: String,
    payload: String,
    table: String,
    /// The statements decoding the payload into `event` with `dec`, when
    /// the generated codec covers it.
    fast: Option<String>,
}

/// A table of names as C strings.
struct Table {
    title: &'static str,
    var: &'static str,
    fields: Vec<String>,
    values: Vec<String>,
}

/// `status.go` of the runtime package.
#[derive(Template)]
#[template(path = "go/status.go", escape = "none")]
struct Status {
    statuses: Vec<GoCode>,
    outcomes: Vec<GoCode>,
    /// The lines of the status names map, aligned.
    names: Vec<String>,
    /// The lines of the outcome names map, aligned.
    outcome_names: Vec<String>,
    /// The lines of the status texts map (failures only), aligned.
    texts: Vec<String>,
    /// The lines of the outcome texts map (failures only), aligned.
    outcome_texts: Vec<String>,
}

/// An ABI code as a Go constant.
struct GoCode {
    name: String,
    c: &'static str,
    value: i32,
    doc: &'static str,
    phrase: &'static str,
}

/// Renders the Go package of a library: `(file name, contents)` pairs.
pub fn package(model: &Model, runtime: &str) -> Result<Files, String> {
    let p = model.prefix.wire.as_str();
    let methods = model
        .handlers
        .iter()
        .map(|f| method(model, f))
        .collect::<Result<Vec<_>, _>>()?;
    let origin = model
        .abi
        .entry_points
        .iter()
        .find(|e| e.name == "host_call_origin")
        .ok_or("the ABI has no host_call_origin entry point")?;
    let mut used = vec![REPLY, HOST_FN, CANCEL, EVENT];
    used.extend(
        methods
            .iter()
            .filter_map(|m| m.native.as_ref().map(|n| n.trampoline)),
    );
    let trampolines = TRAMPOLINES
        .iter()
        .filter(|(name, _)| used.contains(name))
        .map(|&(name, callback)| declaration(&model.abi, name, callback))
        .collect::<Result<_, _>>()?;
    let package = Package {
        model,
        p,
        runtime,
        trampolines,
        records: model.records.iter().map(|r| record(model, p, r)).collect(),
        methods,
        host_fns: model
            .host_fns
            .iter()
            .enumerate()
            .map(|(index, f)| host_fn(model, index, f))
            .collect(),
        error_types: model.error_types.iter().map(errors::error_type).collect(),
        origin_fn: format!("{} (*origin)({})", origin.c_ret, origin.c_params.join(", ")),
        events: model
            .events
            .iter()
            .map(|e| {
                let method = format!("On{}", exported(&e.name));
                let wire = &e.name.wire;
                let lead = format!("{method} calls fn for each `{wire}` event");
                GoEvent {
                    doc: with_doc(&lead, &e.doc),
                    method,
                    payload: go_type(&e.payload),
                    table: local(&e.name),
                    fast: codec::fast(model, &e.payload)
                        .then(|| lines(codec::decode(&e.payload, "event", "&dec", "\t\t"))),
                }
            })
            .collect(),
        options: config::options(model.abi.config_keys),
        tables: vec![
            table("Method names", "methods", &model.handlers),
            table("Host fn names", "hostFns", &model.host_fns),
            Table::new(
                "Event names",
                "events",
                model.events.iter().map(|e| &e.name),
            ),
        ],
    };
    Ok(vec![(format!("{p}.go"), crate::c::render(&package))])
}

/// The runtime package's files the ABI list determines: `status.go`.
pub fn runtime_files(abi: &Abi) -> Files {
    let codes = |family: &str, codes: &'static [hostcall_abi::Code]| {
        codes
            .iter()
            .map(|code| GoCode {
                name: names::code(family, code.short_name()),
                c: code.name,
                value: code.value,
                doc: code.doc,
                phrase: code.phrase,
            })
            .collect::<Vec<_>>()
    };
    let rows = |codes: &[&GoCode], value: fn(&GoCode) -> &'static str| -> Vec<String> {
        let rows: Vec<Vec<String>> = codes
            .iter()
            .map(|s| vec![format!("{}:", s.name), format!("\"{}\",", value(s))])
            .collect();
        align(&rows)
    };
    let statuses = codes("Status", abi.status_codes);
    let outcomes = codes("Outcome", abi.outcome_codes);
    let all_statuses: Vec<&GoCode> = statuses.iter().collect();
    let all_outcomes: Vec<&GoCode> = outcomes.iter().collect();
    let failures: Vec<&GoCode> = outcomes
        .iter()
        .filter(|c| c.value != hostcall_abi::codes::RET_OK)
        .collect();
    let status = Status {
        names: rows(&all_statuses, |c| c.c),
        outcome_names: rows(&all_outcomes, |c| c.c),
        texts: rows(&all_statuses, |c| c.phrase),
        outcome_texts: rows(&failures, |c| c.phrase),
        outcomes,
        statuses,
    };
    vec![("status.go".to_owned(), crate::c::render(&status))]
}

/// A trampoline's C declaration, with its callback type's parameters.
fn declaration(abi: &Abi, name: &str, callback: &str) -> Result<String, String> {
    let signature = abi
        .callbacks
        .iter()
        .find(|c| c.name == callback)
        .ok_or_else(|| format!("the ABI has no callback type {callback}"))?;
    Ok(format!(
        "{} {name}({});",
        signature.c_ret,
        signature.c_params.join(", ")
    ))
}

/// `lead.` alone, or `lead: doc` when there is a doc.
fn with_doc(lead: &str, doc: &str) -> String {
    if doc.is_empty() {
        format!("{lead}.")
    } else {
        format!("{lead}: {doc}")
    }
}

/// The Go interface of `f`'s declared error type, and its codec (`decode…`
/// or `encode…`).
fn typed_error(model: &Model, f: &Function, codec: &str) -> Option<TypedError> {
    model.error_of(f).map(|e| {
        let name = errors::type_name(e);
        TypedError {
            codec: format!("{codec}{name}"),
            name,
        }
    })
}

fn method<'a>(model: &Model, f: &'a Function) -> Result<Method<'a>, String> {
    let name = exported(&f.name);
    if names::RESERVED.contains(&name.as_str()) {
        return Err(format!(
            "handler '{}' would be the Go method {name}, which Context already has; rename it",
            f.name
        ));
    }
    let unit = f.ret.is_unit();
    let ret = go_type(&f.ret);
    let native = f.native.as_ref().map(|native| native_call(native, &ret));
    let cbor = CborCall {
        args: args_struct(&f.args, "\t\t"),
        inits: f
            .args
            .iter()
            .map(|a| format!("{}: {}", exported(&a.name), local(&a.name)))
            .collect::<Vec<_>>()
            .join(", "),
        table: local(&f.name),
        fast: codec::all_fast(model, f.args.iter().map(|a| &a.ty)).then(|| {
            lines(
                f.args
                    .iter()
                    .map(|a| codec::encode(&a.ty, &local(&a.name), "request", "\t"))
                    .collect(),
            )
        }),
        fast_result: (!unit && codec::fast(model, &f.ret))
            .then(|| lines(codec::decode(&f.ret, "out", "&dec", "\t"))),
    };
    Ok(Method {
        doc: with_doc(&format!("{name} calls `{}`", f.name), &f.doc),
        params: params(&f.args),
        results: results(unit, &ret),
        name,
        unit,
        ret,
        native,
        cbor,
        error: typed_error(model, f, "decode"),
        f,
    })
}

fn native_call(native: &Native, ret: &str) -> NativeCall {
    let mut call = NativeCall {
        c_params: String::new(),
        c_args: String::new(),
        symbol: native.symbol.clone(),
        cancellable: native.cancellable_symbol.clone(),
        trampoline: reply_trampoline(native.reply),
        setup: Vec::new(),
        go_args: String::new(),
        convert: match native.reply {
            Reply::I64 => format!("{ret}(int64(reply.Value))"),
            Reply::U64 => format!("{ret}(reply.Value)"),
            Reply::F64 => format!("{ret}(reply.F64())"),
            Reply::Bool => "reply.Value != 0".to_owned(),
            Reply::Bytes => match native.result {
                Scalar::Text => "string(reply.Data)".to_owned(),
                _ => "reply.Data".to_owned(),
            },
        },
    };
    for arg in &native.args {
        for (name, c) in &arg.c_params {
            call.c_params.push_str(", ");
            call.c_params
                .push_str(&hostcall_abi::ctype::declare(c, name));
            call.c_args.push_str(", ");
            call.c_args.push_str(name);
        }
        let name = local(&arg.name);
        let pin = match arg.conversion {
            Conversion::Value => {
                let (_, c) = &arg.c_params[0];
                call.go_args.push_str(&format!(", C.{c}({name})"));
                continue;
            }
            Conversion::Text => "cstr",
            Conversion::Bytes => "cbytes",
        };
        call.setup
            .push(format!("{name}Ptr, {name}Len := {pin}({name})"));
        call.go_args.push_str(&format!(", {name}Ptr, {name}Len"));
    }
    call
}

fn host_fn<'a>(model: &Model, index: usize, f: &'a Function) -> HostFn<'a> {
    let name = exported(&f.name);
    let unit = f.ret.is_unit();
    let fast_args = codec::all_fast(model, f.args.iter().map(|a| &a.ty));
    let fast_result = !unit && codec::fast(model, &f.ret);
    let lead = format!("Register{name} implements the host fn `{}`", f.name);
    HostFn {
        doc: with_doc(&lead, &f.doc),
        index,
        signature: format!(
            "func(ctx context.Context{}) {}",
            params(&f.args),
            results(unit, &go_type(&f.ret))
        ),
        args: args_struct(&f.args, "\t\t\t"),
        slow_args: args_struct(&f.args, "\t\t\t\t"),
        fast: fast_args && (unit || fast_result),
        fast_args: fast_args.then(|| {
            lines(
                f.args
                    .iter()
                    .map(|a| {
                        let target = format!("args.{}", exported(&a.name));
                        codec::decode(&a.ty, &target, "&dec", "\t\t")
                    })
                    .collect(),
            )
        }),
        fast_result: fast_result.then(|| lines(codec::encode(&f.ret, "out", "result", "\t\t"))),
        call_args: f
            .args
            .iter()
            .map(|a| format!(", args.{}", exported(&a.name)))
            .collect(),
        unit,
        table: local(&f.name),
        error: typed_error(model, f, "encode"),
        name,
        f,
    }
}

fn record(model: &Model, p: &str, record: &Record) -> GoRecord {
    let name = exported(&record.name);
    let doc = if record.doc.is_empty() {
        format!("{name} is a record of the {p} library.")
    } else {
        format!("{name}: {}", record.doc)
    };
    // Field docs break gofmt's alignment runs; align each run.
    let mut fields = Vec::new();
    let mut run: Vec<Vec<String>> = Vec::new();
    for field in &record.fields {
        if !field.doc.is_empty() {
            fields.extend(align(&run).into_iter().map(|l| format!("\t{l}")));
            run.clear();
            fields.push(comment(&field.doc, "\t"));
        }
        run.push(vec![
            exported(&field.name),
            go_type(&field.ty),
            format!("`cbor:\"{0}\" json:\"{0}\"`", field.name),
        ]);
    }
    fields.extend(align(&run).into_iter().map(|l| format!("\t{l}")));
    GoRecord {
        doc: comment(&doc, ""),
        name,
        fields,
        codec: codec::record(model, record).map(|c| codec::RecordCodec {
            encode: lines(c.encode),
            decode: lines(c.decode),
        }),
    }
}

fn table(title: &'static str, var: &'static str, functions: &[Function]) -> Table {
    Table::new(title, var, functions.iter().map(|f| &f.name))
}

impl Table {
    fn new<'a>(
        title: &'static str,
        var: &'static str,
        names: impl Iterator<Item = &'a crate::model::Name>,
    ) -> Self {
        let names: Vec<_> = names.collect();
        let fields: Vec<Vec<String>> = names
            .iter()
            .map(|n| vec![local(n), "*C.char".to_owned()])
            .collect();
        let values: Vec<Vec<String>> = names
            .iter()
            .map(|n| vec![format!("{}:", local(n)), format!("C.CString(\"{n}\"),")])
            .collect();
        Self {
            title,
            var,
            fields: align(&fields),
            values: align(&values),
        }
    }
}

/// Generated statements as one template value: without the last line's
/// newline (the template ends the line).
fn lines(text: String) -> String {
    text.trim_end_matches('\n').to_owned()
}

/// `(T, error)`, or `error` for `()`.
fn results(unit: bool, ret: &str) -> String {
    if unit {
        "error".to_owned()
    } else {
        format!("({ret}, error)")
    }
}

/// `, userID string`: the Go parameters after `ctx`.
fn params(args: &[Field]) -> String {
    args.iter()
        .map(|a| format!(", {} {}", local(&a.name), go_type(&a.ty)))
        .collect()
}

/// An anonymous struct encoding as the CBOR argument array, its fields
/// indented by `indent` (the closing brace one tab less).
fn args_struct(args: &[Field], indent: &str) -> String {
    let mut rows = vec![vec![
        "_".to_owned(),
        "struct{}".to_owned(),
        "`cbor:\",toarray\"`".to_owned(),
    ]];
    rows.extend(args.iter().map(|a| vec![exported(&a.name), go_type(&a.ty)]));
    let mut s = String::from("struct {\n");
    for line in align(&rows) {
        s.push_str(indent);
        s.push_str(&line);
        s.push('\n');
    }
    s.push_str(&indent[1..]);
    s.push('}');
    s
}

/// Doc text as `//` comment lines, each prefixed by `indent`; its line
/// breaks are kept.
fn comment(text: &str, indent: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                format!("{indent}//")
            } else {
                format!("{indent}// {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Aligns cells the way gofmt's tabwriter does: a cell that is followed by
/// another on its line is padded to the widest such cell of the run of
/// consecutive lines that have one in the same column, plus one space.
fn align(rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<Vec<usize>> = rows.iter().map(|r| vec![0; r.len()]).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    for col in 0..columns {
        let mut start = 0;
        while start < rows.len() {
            if rows[start].len() <= col + 1 {
                start += 1;
                continue;
            }
            let mut end = start;
            while end < rows.len() && rows[end].len() > col + 1 {
                end += 1;
            }
            let width = rows[start..end]
                .iter()
                .map(|r| r[col].len())
                .max()
                .unwrap_or(0);
            for w in &mut widths[start..end] {
                w[col] = width;
            }
            start = end;
        }
    }
    rows.iter()
        .zip(widths)
        .map(|(row, widths)| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(widths[i] - cell.len() + 1));
                }
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_follows_gofmt() {
        let rows = vec![
            vec!["_".to_owned(), "struct{}".to_owned(), "`t`".to_owned()],
            vec!["UserID".to_owned(), "string".to_owned()],
        ];
        assert_eq!(align(&rows), vec!["_      struct{} `t`", "UserID string"]);
    }

    #[test]
    fn every_trampoline_is_a_callback_type_of_the_abi() {
        let abi = Abi::new();
        for (name, callback) in TRAMPOLINES {
            let declared = declaration(&abi, name, callback).unwrap();
            assert!(declared.starts_with(&format!("void {name}(")), "{declared}");
        }
        for reply in [
            Reply::I64,
            Reply::U64,
            Reply::F64,
            Reply::Bool,
            Reply::Bytes,
        ] {
            let (_, callback) = TRAMPOLINES
                .iter()
                .find(|(name, _)| *name == reply_trampoline(reply))
                .unwrap();
            assert_eq!(*callback, reply.callback());
        }
    }

    #[test]
    fn status_constants_come_from_the_abi_list() {
        let files = runtime_files(&Abi::new());
        let (name, text) = &files[0];
        assert_eq!(name, "status.go");
        assert!(text.contains("\tStatusNullArg = -1\n"), "{text}");
        assert!(text.contains("\tOutcomeErr = 1\n"), "{text}");
        assert!(
            text.contains("StatusPanic:          \"HC_ERR_PANIC\","),
            "{text}"
        );
        assert!(
            text.contains("OutcomePanic:         \"RET_PANIC\","),
            "{text}"
        );
    }
}
