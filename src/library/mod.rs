//! A library's static definition and the lookup tables built from it.
//!
//! The macros write the definitions: `#[hostcall::handler]` a [`HandlerDef`],
//! `host_fn!` a [`HostFnDef`], `#[derive(hostcall::Event)]` an [`EventDef`],
//! and `export!` the [`LibraryDef`] listing them plus a `static` [`Library`]
//! that every generated `extern "C"` entry point hands to the runtime.

pub mod describe;
pub mod fail;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::library::describe::{
    ErrorRef, EventDesc, FieldDesc, FnDesc, LibraryDesc, Records, TypeRef,
};
use crate::request::Invocation;

/// One argument of a handler or host fn.
#[derive(Debug, Clone, Copy)]
pub struct ArgDef {
    /// The argument's name.
    pub name: &'static str,
    /// Its type.
    pub ty: TypeRef,
}

/// A handler: a method the host calls.
#[derive(Debug)]
pub struct HandlerDef {
    /// The method name the host passes to `<lib>_call`.
    pub name: &'static str,
    /// Doc comment.
    pub doc: &'static str,
    /// Arguments, in order.
    pub args: &'static [ArgDef],
    /// The result type (the `T` of `Result<T, E>` for fallible handlers).
    pub ret: TypeRef,
    /// Whether the handler returns `Result`.
    pub fallible: bool,
    /// The library-declared error type of a fallible handler, if its error
    /// is one (`None`: its errors are text). A function because the macro
    /// decides it by trait dispatch, which a `static` cannot run.
    pub error: fn() -> Option<ErrorRef>,
    /// Whether `export!` emits a native entry point `<prefix>_native_<name>`
    /// (all arguments and the result are scalars, `String` or `Bytes`).
    pub native: bool,
    /// Decodes a request into a ready-to-run invocation. Runs on the calling
    /// host thread, so argument errors are found before anything is queued.
    pub decode: fn(&[u8]) -> Result<Invocation, String>,
}

/// A host fn: a function the host implements and the library awaits.
#[derive(Debug)]
pub struct HostFnDef {
    /// The name the host registers it under.
    pub name: &'static str,
    /// Doc comment.
    pub doc: &'static str,
    /// Arguments, in order.
    pub args: &'static [ArgDef],
    /// The result type.
    pub ret: TypeRef,
    /// The library-declared error type, when the host fn is declared
    /// `-> Result<T, E>`.
    pub error: Option<ErrorRef>,
}

/// An event the library emits.
#[derive(Debug)]
pub struct EventDef {
    /// The name listeners subscribe to.
    pub name: &'static str,
    /// Doc comment.
    pub doc: &'static str,
    /// The payload type.
    pub payload: TypeRef,
}

/// Everything a library exports, as written by `export!`.
#[derive(Debug)]
pub struct LibraryDef {
    /// The C symbol prefix.
    pub prefix: &'static str,
    /// The library crate's version.
    pub version: &'static str,
    /// Handlers, in declaration order.
    pub handlers: &'static [&'static HandlerDef],
    /// Host fns, in declaration order.
    pub host_fns: &'static [&'static HostFnDef],
    /// Events, in declaration order.
    pub events: &'static [&'static EventDef],
}

struct Tables {
    methods: HashMap<&'static str, &'static HandlerDef>,
    description: Result<(LibraryDesc, Vec<u8>), String>,
}

/// A library's definition plus the tables the runtime looks things up in,
/// built on first use.
pub struct Library {
    def: &'static LibraryDef,
    tables: OnceLock<Tables>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("prefix", &self.def.prefix)
            .finish()
    }
}

fn fn_desc(
    name: &str,
    doc: &str,
    args: &[ArgDef],
    ret: TypeRef,
    (fallible, native, error): (bool, bool, Option<ErrorRef>),
    records: &mut Records,
) -> FnDesc {
    for arg in args {
        (arg.ty.register)(records);
    }
    (ret.register)(records);
    if let Some(error) = error {
        (error.register)(records);
    }
    FnDesc {
        name: name.to_owned(),
        doc: doc.to_owned(),
        args: args
            .iter()
            .map(|arg| FieldDesc {
                name: arg.name.to_owned(),
                doc: String::new(),
                ty: (arg.ty.describe)(),
            })
            .collect(),
        ret: (ret.describe)(),
        fallible,
        native,
        error: error.map(|e| e.name.to_owned()),
    }
}

fn duplicates<'a>(kind: &str, names: impl Iterator<Item = &'a str>, problems: &mut Vec<String>) {
    let mut seen = Vec::new();
    for name in names {
        if seen.contains(&name) {
            problems.push(format!("two {kind} are named '{name}'"));
        }
        seen.push(name);
    }
}

fn describe(def: &LibraryDef) -> Result<(LibraryDesc, Vec<u8>), String> {
    let mut problems = Vec::new();
    duplicates(
        "handlers",
        def.handlers.iter().map(|h| h.name),
        &mut problems,
    );
    duplicates(
        "host fns",
        def.host_fns.iter().map(|h| h.name),
        &mut problems,
    );
    duplicates("events", def.events.iter().map(|e| e.name), &mut problems);
    let mut records = Records::default();
    let handlers = def
        .handlers
        .iter()
        .map(|h| {
            fn_desc(
                h.name,
                h.doc,
                h.args,
                h.ret,
                (h.fallible, h.native, (h.error)()),
                &mut records,
            )
        })
        .collect();
    let host_fns = def
        .host_fns
        .iter()
        .map(|h| {
            fn_desc(
                h.name,
                h.doc,
                h.args,
                h.ret,
                (true, false, h.error),
                &mut records,
            )
        })
        .collect();
    let events = def
        .events
        .iter()
        .map(|e| {
            (e.payload.register)(&mut records);
            EventDesc {
                name: e.name.to_owned(),
                doc: e.doc.to_owned(),
                payload: (e.payload.describe)(),
            }
        })
        .collect();
    let (records, error_types) = records.finish().unwrap_or_else(|conflicts| {
        problems.extend(conflicts);
        Default::default()
    });
    if !problems.is_empty() {
        return Err(format!(
            "library '{}' is defined inconsistently: {}",
            def.prefix,
            problems.join("; ")
        ));
    }
    let mut desc = LibraryDesc {
        prefix: def.prefix.to_owned(),
        version: def.version.to_owned(),
        runtime_version: env!("CARGO_PKG_VERSION").to_owned(),
        interface_hash: 0,
        handlers,
        host_fns,
        events,
        records,
        error_types,
    };
    desc.interface_hash = interface_hash(&desc);
    let bytes = crate::wire::to_cbor(&desc)?;
    Ok((desc, bytes))
}

/// The hash of what binds a caller to the library: names, argument and
/// result types, records. Docs and versions are left out, so editing a doc
/// comment does not break existing bindings.
fn interface_hash(desc: &LibraryDesc) -> u64 {
    let mut shape = desc.clone();
    shape.version.clear();
    shape.runtime_version.clear();
    shape.interface_hash = 0;
    let strip = |f: &mut FnDesc| {
        f.doc.clear();
        f.args.iter_mut().for_each(|a| a.doc.clear());
    };
    shape.handlers.iter_mut().for_each(strip);
    shape.host_fns.iter_mut().for_each(strip);
    shape.events.iter_mut().for_each(|e| e.doc.clear());
    for record in &mut shape.records {
        record.doc.clear();
        record.fields.iter_mut().for_each(|f| f.doc.clear());
    }
    for error in &mut shape.error_types {
        error.doc.clear();
        for variant in &mut error.variants {
            variant.doc.clear();
            variant.fields.iter_mut().for_each(|f| f.doc.clear());
        }
    }
    let bytes = crate::wire::to_cbor(&shape).expect("descriptions always encode");
    crate::library::describe::fnv1a(&bytes)
}

impl Library {
    /// Wraps a definition; tables are built on first use.
    pub const fn new(def: &'static LibraryDef) -> Self {
        Self {
            def,
            tables: OnceLock::new(),
        }
    }

    /// The definition.
    pub fn def(&self) -> &'static LibraryDef {
        self.def
    }

    fn tables(&self) -> &Tables {
        self.tables.get_or_init(|| Tables {
            methods: self.def.handlers.iter().map(|h| (h.name, *h)).collect(),
            description: describe(self.def),
        })
    }

    /// The library's description, or why it is inconsistent (duplicate
    /// names, two different records with one name).
    pub fn description(&self) -> Result<&LibraryDesc, &str> {
        match &self.tables().description {
            Ok((desc, _)) => Ok(desc),
            Err(problem) => Err(problem),
        }
    }

    /// The description as CBOR (empty if the library is inconsistent).
    pub fn description_cbor(&self) -> &[u8] {
        match &self.tables().description {
            Ok((_, bytes)) => bytes,
            Err(_) => &[],
        }
    }

    pub(crate) fn handler(&self, name: &str) -> Option<&'static HandlerDef> {
        self.tables().methods.get(name).copied()
    }

    /// The registry index of a host fn, by identity of its definition.
    pub(crate) fn host_fn_index(&self, def: &HostFnDef) -> Option<usize> {
        self.def
            .host_fns
            .iter()
            .position(|h| std::ptr::eq(*h, def))
            .or_else(|| self.host_fn_by_name(def.name))
    }

    pub(crate) fn host_fn_by_name(&self, name: &str) -> Option<usize> {
        self.def.host_fns.iter().position(|h| h.name == name)
    }

    pub(crate) fn event_index(&self, name: &str) -> Option<usize> {
        self.def.events.iter().position(|e| e.name == name)
    }
}
