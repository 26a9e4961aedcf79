//! The Swift binding: a SwiftPM package rendered from the model with the
//! templates in `templates/swift/`.
//!
//! * `Package.swift` (`Package.swift`): the package, Swift tools 6.0 (the
//!   Swift 6 language mode), no dependencies: the C module target, the
//!   runtime target `Hostcall`, the library target and its tests;
//! * `Sources/C<Lib>/module.modulemap` and `shim.h`: a system library
//!   module over `<prefix>.h` (found on the include path, never copied),
//!   linking `lib<prefix>`;
//! * `Sources/<Lib>/<Lib>.swift` (`Library.swift`): `final class <Lib>`
//!   with `init(config:)`, one `async throws` method per handler, one
//!   `set<HostFn>` per host fn taking an `async throws` closure, one
//!   `AsyncStream` property per event, structs
//!   for records, `Error` enums for error types, their CBOR codecs, and
//!   the `@convention(c)` trampolines;
//! * `Sources/Hostcall/Status.swift` (`Status.swift`): the status and
//!   outcome codes and `HostcallError`, from the ABI list. The rest of the
//!   runtime target (`CBOR.swift`, `Runtime.swift`) is hand-written.
//!
//! A handler with a native entry point is called through its
//! `_cancellable` form (scalars as themselves, text and bytes as pointer
//! and length, the reply through the callback of its scalar); every other
//! handler through CBOR with `<prefix>_call_cancellable`. Either way
//! cancelling the awaiting Task withdraws it (`<prefix>_cancel_call`).

use askama::Template;
use hostcall_abi::native::{Conversion, Reply, Scalar};

use crate::Files;
use crate::model::{Abi, Field, Function, Model, Name, Native, Type, VariantShape, capitalized};

const KEYWORDS: &[&str] = &[
    "associatedtype",
    "class",
    "deinit",
    "enum",
    "extension",
    "func",
    "import",
    "init",
    "inout",
    "let",
    "operator",
    "protocol",
    "static",
    "struct",
    "subscript",
    "typealias",
    "var",
    "break",
    "case",
    "continue",
    "default",
    "defer",
    "do",
    "else",
    "for",
    "guard",
    "if",
    "in",
    "repeat",
    "return",
    "switch",
    "where",
    "while",
    "as",
    "catch",
    "false",
    "is",
    "nil",
    "self",
    "super",
    "throw",
    "throws",
    "true",
    "try",
    "Self",
    "Type",
    "internal",
    "public",
    "private",
];

/// Items joined with `, `.
fn comma(items: impl IntoIterator<Item = String>) -> String {
    items.into_iter().collect::<Vec<_>>().join(", ")
}

/// `user_id` → `userId`, `EmptyUserId` → `emptyUserId`; keywords in backticks.
fn ident(name: &Name) -> String {
    let mut words = name.words.iter();
    let first = words.next().map(|w| w.to_lowercase()).unwrap_or_default();
    let id = first + &words.map(|w| capitalized(w)).collect::<String>();
    if KEYWORDS.contains(&id.as_str()) {
        format!("`{id}`")
    } else {
        id
    }
}

/// `SHUTTING_DOWN` → `shuttingDown`.
fn code_ident(short: &str) -> String {
    ident(&Name::new(&short.to_lowercase()))
}

/// The Swift type of a model type.
fn swift_type(ty: &Type) -> String {
    match ty {
        Type::Scalar(s) => match s {
            Scalar::Unit => "Void",
            Scalar::Bool => "Bool",
            Scalar::I8 => "Int8",
            Scalar::I16 => "Int16",
            Scalar::I32 => "Int32",
            Scalar::I64 => "Int64",
            Scalar::U8 => "UInt8",
            Scalar::U16 => "UInt16",
            Scalar::U32 => "UInt32",
            Scalar::U64 => "UInt64",
            Scalar::F32 => "Float",
            Scalar::F64 => "Double",
            Scalar::Text => "String",
            Scalar::Bytes => "Bytes",
        }
        .to_owned(),
        Type::List(inner) => format!("[{}]", swift_type(inner)),
        Type::Optional(inner) => format!("{}?", swift_type(inner)),
        Type::Record(name) => name.upper_camel(),
    }
}

/// A `///` doc comment, wrapped, each line prefixed by `indent`.
fn doc(text: &str, indent: &str) -> String {
    crate::text::wrap(text, 76)
        .iter()
        .map(|l| {
            if l.is_empty() {
                format!("{indent}///")
            } else {
                format!("{indent}/// {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn text(s: &str) -> String {
    format!(".text(\"{s}\")")
}

fn pair(key: &str, value: &str) -> String {
    format!("CBORPair({}, {value})", text(key))
}

struct SField {
    ident: String,
    /// The decoder's local for the field (`userId_`): never a keyword.
    local: String,
    wire: String,
    ty: String,
    doc: String,
}

fn sfields(fields: &[Field]) -> Vec<SField> {
    fields
        .iter()
        .map(|f| SField {
            ident: ident(&f.name),
            local: format!("{}_", ident(&f.name).trim_matches('`')),
            wire: f.name.wire.clone(),
            ty: swift_type(&f.ty),
            doc: f.doc.clone(),
        })
        .collect()
}

struct SRecord {
    name: String,
    doc: String,
    fields: Vec<SField>,
    params: String,
    encode: String,
}

struct SVariant {
    doc: String,
    /// `notFound(userId: String)`.
    decl: String,
    /// `.notFound(let userId)`.
    pattern: String,
    encode: String,
    /// `text` for a unit variant (matched as CBOR text), else `map`.
    unit: bool,
    wire: String,
    decode: String,
}

struct SError {
    name: String,
    doc: String,
    variants: Vec<SVariant>,
    has_payloads: bool,
}

struct SHandler {
    ident: String,
    wire: String,
    doc: String,
    params: String,
    args: String,
    ret: String,
    unit: bool,
    typed: String,
    native: Option<SNative>,
}

/// A handler's call through its native entry point.
struct SNative {
    /// The `_cancellable` call, with `ctx`, `key` and `id` in scope, inside
    /// a scope per text or bytes argument lending it as `(pointer,
    /// length)` (`withCText(message) { messagePtr, messageLen in`);
    /// indented for the closure's body.
    call: String,
    /// How the reply becomes the result: `Calls.integer(of: reply, "add")`.
    result: String,
}

/// The `Calls` trampoline body a native reply callback runs.
fn native_trampoline(reply: Reply) -> String {
    let scalar = match reply {
        Reply::I64 => "I64",
        Reply::U64 => "U64",
        Reply::F64 => "F64",
        Reply::Bool => "Bool",
        Reply::Bytes => {
            return "{ ret, msg, len, userData in Calls.complete(userData, ret, msg, len) }"
                .to_owned();
        }
    };
    format!(
        "{{ ret, value, err, len, userData in Calls.complete{scalar}(userData, ret, value, err, len) }}"
    )
}

fn native(f: &Function, n: &Native, typed: &str) -> SNative {
    let mut lend = Vec::new();
    let mut args = String::new();
    for arg in &n.args {
        let id = ident(&arg.name);
        match arg.conversion {
            Conversion::Value => args += &format!(", {id}"),
            Conversion::Text | Conversion::Bytes => {
                let bare = id.trim_matches('`');
                let helper = if arg.conversion == Conversion::Text {
                    format!("withCText({id})")
                } else {
                    format!("withCBytes({id}.bytes)")
                };
                lend.push(format!("{helper} {{ {bare}Ptr, {bare}Len in"));
                args += &format!(", {bare}Ptr, {bare}Len");
            }
        }
    }
    let indent = |depth: usize| " ".repeat(12 + 4 * depth);
    let mut call = String::new();
    for (depth, open) in lend.iter().enumerate() {
        call += &format!("{}{open}\n", indent(depth));
    }
    call += &format!(
        "{}{}(ctx{args}, {}, key, id)",
        indent(lend.len()),
        n.cancellable_symbol,
        native_trampoline(n.reply)
    );
    for depth in (0..lend.len()).rev() {
        call += &format!("\n{}}}", indent(depth));
    }
    let wire = &f.name.wire;
    let result = match n.result {
        Scalar::Unit => format!("_ = try Calls.payload(of: reply, typed: {typed})"),
        Scalar::Bool => format!("return try Calls.bool(of: reply, \"{wire}\")"),
        Scalar::F32 | Scalar::F64 => format!("return try Calls.float(of: reply, \"{wire}\")"),
        Scalar::Text => {
            format!(
                "return String(decoding: try Calls.payload(of: reply, typed: {typed}), as: UTF8.self)"
            )
        }
        Scalar::Bytes => format!("return Bytes(try Calls.payload(of: reply, typed: {typed}))"),
        _ => format!("return try Calls.integer(of: reply, \"{wire}\")"),
    };
    SNative { call, result }
}

struct SHostFn {
    setter: String,
    wire: String,
    doc: String,
    closure: String,
    decode_args: bool,
    arity: usize,
    call: String,
    unit: bool,
    error: Option<String>,
}

struct SEvent {
    ident: String,
    wire: String,
    doc: String,
    ty: String,
}

struct SConfig {
    ident: String,
    key: &'static str,
    /// The option's Swift type: `UInt32`, `UInt64`, `Duration`, `String`,
    /// `Bool`, or the enum of a text key with choices (`Isolation`).
    ty: String,
    /// The key's CBOR value from the option's value `v`: `.unsigned(…)`,
    /// `.text(v.rawValue)`, `.bool(v)`.
    encode: String,
    doc: String,
    /// A text key with choices: its enum's cases, the default first.
    choices: Vec<SChoice>,
}

/// A case of a config option's enum: one choice of a text key.
struct SChoice {
    case: String,
    wire: &'static str,
    default: bool,
}

/// One option of `<Lib>Config`, from a key of the ABI's config list. What
/// only Swift says (the doc's wording where Swift's types change it,
/// whether a zero `Duration` is allowed) is matched on the key's id, so a
/// new key does not compile until the Swift binding knows it.
fn config_option(key: &hostcall_abi::ConfigKey) -> SConfig {
    use hostcall_abi::config::{ConfigId, ConfigValue, TimeUnit};
    let option = ident(&Name::new(key.setting));
    let mut choices = Vec::new();
    let (ty, encode) = match key.value {
        ConfigValue::Count { max, .. } if max <= u64::from(u32::MAX) => {
            ("UInt32".to_owned(), ".unsigned(UInt64(v))".to_owned())
        }
        ConfigValue::Count { .. } => ("UInt64".to_owned(), ".unsigned(v)".to_owned()),
        ConfigValue::Duration { unit, .. } => {
            let convert = match unit {
                TimeUnit::Millis => "millis",
                TimeUnit::Micros => "micros",
            };
            // Whether zero is refused: where the key's 0 means "none" or
            // "the default", which nil already says.
            let positive = match key.id {
                ConfigId::HostCallTimeout | ConfigId::HandshakeTimeout => true,
                ConfigId::Spin => false,
                ConfigId::MaxInFlight
                | ConfigId::MaxPendingRequests
                | ConfigId::Isolation
                | ConfigId::Address
                | ConfigId::HelperPath
                | ConfigId::LibraryPath
                | ConfigId::Restart
                | ConfigId::LimitAddressSpace
                | ConfigId::LimitCpu
                | ConfigId::LimitOpenFiles => unreachable!("{} is not a duration", key.key),
            };
            (
                "Duration".to_owned(),
                format!(
                    ".unsigned(try ConfigUnits.{convert}(v, \"{option}\", positive: {positive}))"
                ),
            )
        }
        ConfigValue::Text { choices: [] } => ("String".to_owned(), ".text(v)".to_owned()),
        ConfigValue::Text { choices: wire } => {
            choices = wire
                .iter()
                .enumerate()
                .map(|(i, w)| SChoice {
                    case: ident(&Name::new(w)),
                    wire: w,
                    default: i == 0,
                })
                .collect();
            (
                Name::new(key.setting).upper_camel(),
                ".text(v.rawValue)".to_owned(),
            )
        }
        ConfigValue::Flag => ("Bool".to_owned(), ".bool(v)".to_owned()),
    };
    let doc = match key.id {
        ConfigId::HostCallTimeout => "The timeout of every host call, rounded up to whole milliseconds; \
            when it elapses the awaiting Rust code gets an error and the host fn's Task is cancelled. \
            Must be positive; nil means none (the library's default)."
            .to_owned(),
        ConfigId::Spin => format!(
            "The longest the library's idle loop thread watches for work before it sleeps; \
             within it the loop learns its window, and watches only while a core is spare \
             ({}rounded up to whole microseconds; zero: never watch). Library default: {} µs.",
            match key.value {
                ConfigValue::Duration { max, .. } if max != u64::MAX => {
                    format!("at most {} µs, ", crate::text::grouped(max))
                }
                _ => String::new(),
            },
            crate::text::grouped(key.default)
        ),
        ConfigId::Isolation => "Where the library runs: in this process (nil, the default), or in a \
            `hostcall-helper` process the context starts (`.process`) or one already running at \
            `address` (`.socket`: `hostcall-helper --socket PATH`, shared by every context \
            connected to it; `.tcp`: `--tcp ADDR`, on this machine or another, neither \
            authenticated nor encrypted), so that a crash in the library fails the pending calls \
            with `HostcallError.processDied` instead of ending this process. The options below \
            apply only with isolation (the library refuses them otherwise), some only with the \
            modes they name."
            .to_owned(),
        ConfigId::Restart => "With isolation: whether a helper that died is started again (or, at \
            an address, connected to again) for the calls that follow (after a back-off that doubles from 10 ms to 1 s while it keeps dying); \
            false: later calls throw `HostcallError.refused(status: Status.shuttingDown, detail:)`. \
            Library default: true."
            .to_owned(),
        ConfigId::HandshakeTimeout => format!(
            "With isolation: how long the helper has to start (or accept the connection) and \
             answer the handshake, rounded \
             up to whole milliseconds{}. Must be positive; nil means the library's \
             default, {} ms.",
            match key.value {
                ConfigValue::Duration { max, .. } if max != u64::MAX => {
                    format!(" (at most {} ms)", crate::text::grouped(max))
                }
                _ => String::new(),
            },
            crate::text::grouped(key.default)
        ),
        ConfigId::MaxInFlight
        | ConfigId::MaxPendingRequests
        | ConfigId::Address
        | ConfigId::HelperPath
        | ConfigId::LibraryPath
        | ConfigId::LimitAddressSpace
        | ConfigId::LimitCpu
        | ConfigId::LimitOpenFiles => key.doc.to_owned(),
    };
    SConfig {
        ident: option,
        key: key.key,
        ty,
        encode,
        doc,
        choices,
    }
}

#[derive(Template)]
#[template(path = "swift/Library.swift", escape = "none")]
struct LibraryFile {
    class: String,
    c_module: String,
    prefix: String,
    interface_hash: u64,
    records: Vec<SRecord>,
    errors: Vec<SError>,
    handlers: Vec<SHandler>,
    host_fns: Vec<SHostFn>,
    events: Vec<SEvent>,
    config: Vec<SConfig>,
}

#[derive(Template)]
#[template(path = "swift/Package.swift", escape = "none")]
struct PackageFile {
    class: String,
    c_module: String,
    prefix: String,
}

#[derive(Template)]
#[template(path = "swift/module.modulemap", escape = "none")]
struct ModuleMap {
    c_module: String,
    prefix: String,
}

#[derive(Template)]
#[template(path = "swift/shim.h", escape = "none")]
struct Shim {
    prefix: String,
}

struct SCode {
    ident: String,
    c: &'static str,
    value: i32,
    doc: &'static str,
    phrase: &'static str,
}

/// An outcome code that becomes a `HostcallError` case.
struct SCase {
    case: String,
    constant: String,
    c: &'static str,
    doc: &'static str,
    phrase: &'static str,
}

#[derive(Template)]
#[template(path = "swift/Status.swift", escape = "none")]
struct StatusFile {
    statuses: Vec<SCode>,
    outcomes: Vec<SCode>,
    cases: Vec<SCase>,
}

fn variant(v: &crate::model::Variant) -> SVariant {
    let case = ident(&v.name);
    let tag = &v.name.wire;
    let fields = sfields(&v.fields);
    let positional: Vec<String> = (0..fields.len()).map(|i| format!("f{i}")).collect();
    let (decl, pattern, encode, decode) = match v.shape {
        VariantShape::Unit => (
            case.clone(),
            format!(".{case}"),
            text(tag),
            format!("self = .{case}"),
        ),
        VariantShape::Tuple if v.is_newtype() => (
            format!("{case}({})", fields[0].ty),
            format!(".{case}(let f0)"),
            format!(".map([{}])", pair(tag, "f0.cbor")),
            format!("self = .{case}(try decoded(payload))"),
        ),
        VariantShape::Tuple => (
            format!("{case}({})", comma(fields.iter().map(|f| f.ty.clone()))),
            format!(
                ".{case}({})",
                comma(positional.iter().map(|p| format!("let {p}")))
            ),
            format!(
                ".map([{}])",
                pair(
                    tag,
                    &format!(
                        ".array([{}])",
                        comma(positional.iter().map(|p| format!("{p}.cbor")))
                    )
                )
            ),
            format!(
                "self = .{case}({})",
                comma((0..fields.len()).map(|i| format!("try element(payload, {i})")))
            ),
        ),
        VariantShape::Struct => (
            format!(
                "{case}({})",
                comma(fields.iter().map(|f| format!("{}: {}", f.ident, f.ty)))
            ),
            format!(
                ".{case}({})",
                comma(fields.iter().map(|f| format!("let {}", f.ident)))
            ),
            format!(
                ".map([{}])",
                pair(
                    tag,
                    &format!(
                        ".map([{}])",
                        comma(
                            fields
                                .iter()
                                .map(|f| pair(&f.wire, &format!("{}.cbor", f.ident)))
                        )
                    )
                )
            ),
            format!(
                "self = .{case}({})",
                comma(
                    fields
                        .iter()
                        .map(|f| format!("{}: try field(payload, \"{}\")", f.ident, f.wire))
                )
            ),
        ),
    };
    SVariant {
        doc: v.doc.clone(),
        decl,
        pattern,
        encode,
        unit: v.shape == VariantShape::Unit,
        wire: tag.clone(),
        decode,
    }
}

fn handler(model: &Model, f: &Function) -> SHandler {
    let fields = sfields(&f.args);
    let typed = match model.error_of(f) {
        Some(e) => format!("{{ try {}(cbor: CBOR.decode($0)) }}", e.name.upper_camel()),
        None => "nil".to_owned(),
    };
    SHandler {
        native: f.native.as_ref().map(|n| native(f, n, &typed)),
        ident: ident(&f.name),
        wire: f.name.wire.clone(),
        doc: f.doc.clone(),
        params: comma(fields.iter().map(|a| format!("{}: {}", a.ident, a.ty))),
        args: std::iter::once(format!(
            "        var args = CBORWriter()\n        args.arrayHeader({})",
            fields.len()
        ))
        .chain(
            fields
                .iter()
                .map(|a| format!("        {}.write(to: &args)", a.ident)),
        )
        .collect::<Vec<_>>()
        .join("\n"),
        ret: swift_type(&f.ret),
        unit: f.ret.is_unit(),
        typed,
    }
}

fn host_fn(model: &Model, f: &Function) -> SHostFn {
    let fields = sfields(&f.args);
    let args: Vec<String> = fields
        .iter()
        .map(|a| format!("try args.read({}.self)", a.ty))
        .collect();
    SHostFn {
        setter: format!("set{}", f.name.upper_camel()),
        wire: f.name.wire.clone(),
        doc: f.doc.clone(),
        closure: format!(
            "@escaping @Sendable ({}) async throws -> {}",
            comma(fields.iter().map(|a| a.ty.clone())),
            swift_type(&f.ret)
        ),
        decode_args: !fields.is_empty(),
        arity: fields.len(),
        call: format!("try await fn({})", args.join(", ")),
        unit: f.ret.is_unit(),
        error: model.error_of(f).map(|e| e.name.upper_camel()),
    }
}

/// The package's generated files, relative to its directory.
pub fn package(model: &Model) -> Files {
    let class = model.prefix.upper_camel();
    let c_module = format!("C{class}");
    let prefix = model.prefix.wire.clone();
    let library = LibraryFile {
        class: class.clone(),
        c_module: c_module.clone(),
        prefix: prefix.clone(),
        interface_hash: model.interface_hash,
        records: model
            .records
            .iter()
            .map(|r| {
                let fields = sfields(&r.fields);
                SRecord {
                    name: r.name.upper_camel(),
                    doc: r.doc.clone(),
                    params: comma(fields.iter().map(|f| format!("{}: {}", f.ident, f.ty))),
                    encode: comma(
                        fields
                            .iter()
                            .map(|f| pair(&f.wire, &format!("{}.cbor", f.ident))),
                    ),
                    fields,
                }
            })
            .collect(),
        errors: model
            .error_types
            .iter()
            .map(|e| {
                let variants: Vec<SVariant> = e.variants.iter().map(variant).collect();
                SError {
                    name: e.name.upper_camel(),
                    doc: e.doc.clone(),
                    has_payloads: variants.iter().any(|v| !v.unit),
                    variants,
                }
            })
            .collect(),
        handlers: model.handlers.iter().map(|f| handler(model, f)).collect(),
        host_fns: model.host_fns.iter().map(|f| host_fn(model, f)).collect(),
        events: model
            .events
            .iter()
            .map(|e| SEvent {
                ident: ident(&e.name),
                wire: e.name.wire.clone(),
                doc: e.doc.clone(),
                ty: swift_type(&e.payload),
            })
            .collect(),
        config: model.abi.config_keys.iter().map(config_option).collect(),
    };
    use crate::c::render;
    let mut files = vec![
        (
            "Package.swift".to_owned(),
            render(&PackageFile {
                class: class.clone(),
                c_module: c_module.clone(),
                prefix: prefix.clone(),
            }),
        ),
        (
            format!("Sources/{c_module}/module.modulemap"),
            render(&ModuleMap {
                c_module: c_module.clone(),
                prefix: prefix.clone(),
            }),
        ),
        (
            format!("Sources/{c_module}/shim.h"),
            render(&Shim {
                prefix: prefix.clone(),
            }),
        ),
        (format!("Sources/{class}/{class}.swift"), render(&library)),
    ];
    files.extend(runtime_files(&model.abi));
    files
}

/// The runtime target's file the ABI list determines, relative to the
/// package: `Sources/Hostcall/Status.swift`.
pub fn runtime_files(abi: &Abi) -> Files {
    let codes = |codes: &'static [hostcall_abi::Code]| {
        codes
            .iter()
            .map(|c| SCode {
                ident: code_ident(c.short_name()),
                c: c.name,
                value: c.value,
                doc: c.doc,
                phrase: c.phrase,
            })
            .collect::<Vec<_>>()
    };
    let cases = abi
        .outcome_codes
        .iter()
        .filter(|c| {
            c.value != hostcall_abi::codes::RET_OK && c.value != hostcall_abi::codes::RET_ERR_TYPED
        })
        .map(|c| SCase {
            case: match c.short_name() {
                "ERR" => "failed".to_owned(),
                "INVALID_ARG" => "invalidArgument".to_owned(),
                "PANIC" => "panicked".to_owned(),
                other => code_ident(other),
            },
            constant: code_ident(c.short_name()),
            c: c.name,
            doc: c.doc,
            phrase: c.phrase,
        })
        .collect();
    vec![(
        "Sources/Hostcall/Status.swift".to_owned(),
        crate::c::render(&StatusFile {
            statuses: codes(abi.status_codes),
            outcomes: codes(abi.outcome_codes),
            cases,
        }),
    )]
}
