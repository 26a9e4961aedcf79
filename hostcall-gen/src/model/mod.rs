//! The binding model: a library's description lowered once into the facts
//! every backend renders.
//!
//! 1. [`Model::lower`] takes the [`LibraryDesc`] a built library exports
//!    and checks it (every record named exists, every native handler's
//!    types have a native form).
//! 2. Names become [`Name`]s (words, so each language cases them its own
//!    way); types become [`Type`]s (the ABI's scalars, lists, optionals,
//!    records), each with its wire form.
//! 3. Each handler gets its lowering: CBOR always, and a [`Native`] entry
//!    point when the library exports one, with its C signature computed by
//!    `hostcall_abi::native`, the table `#[handler]` used to emit it.
//! 4. The ABI itself — entry points, callback types, status and outcome
//!    codes, config keys — comes from `hostcall_abi` as [`Abi`], the same
//!    for every library (and rendered alone for the runtime files).
//!
//! Backends read only this model.

mod names;
mod types;

use hostcall::LibraryDesc;
use hostcall::describe::{FieldDesc, FnDesc};
use hostcall_abi::native::{Conversion, Reply, Scalar};
use hostcall_abi::{CALLBACKS, Code, ConfigKey, ENTRY_POINTS, OUTCOME_CODES, STATUS_CODES};

pub use names::{Name, capitalized};
pub use types::Type;

/// Everything a backend needs to bind one library.
#[derive(Debug, Clone)]
pub struct Model {
    /// The C symbol prefix (`demo`).
    pub prefix: Name,
    /// The library crate's version.
    pub version: String,
    /// The interface hash the bindings check at load time.
    pub interface_hash: u64,
    /// Records, in first-use order.
    pub records: Vec<Record>,
    /// Handlers the host calls, in declaration order.
    pub handlers: Vec<Function>,
    /// Host fns the library calls, in declaration order.
    pub host_fns: Vec<Function>,
    /// Events the library emits.
    pub events: Vec<Event>,
    /// The C ABI every library shares.
    pub abi: Abi,
}

/// A record: a CBOR map keyed by field name.
#[derive(Debug, Clone)]
pub struct Record {
    /// The type name.
    pub name: Name,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
}

/// A record field, or an argument of a handler or host fn.
#[derive(Debug, Clone)]
pub struct Field {
    /// The name on the wire (a record's map key; an argument's label).
    pub name: Name,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// The type.
    pub ty: Type,
}

/// A handler (host → library) or a host fn (library → host).
#[derive(Debug, Clone)]
pub struct Function {
    /// The wire name (`login_many`).
    pub name: Name,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// Arguments, in the order of the request's CBOR array.
    pub args: Vec<Field>,
    /// The result type.
    pub ret: Type,
    /// Whether the result may instead be error text (`RET_ERR`).
    pub fallible: bool,
    /// The native entry point, for handlers the library exports one for.
    pub native: Option<Native>,
}

/// A native entry point `<prefix>_native_<method>`.
#[derive(Debug, Clone)]
pub struct Native {
    /// The C symbol.
    pub symbol: String,
    /// The arguments' lowerings, in order.
    pub args: Vec<NativeArg>,
    /// The result's scalar.
    pub result: Scalar,
    /// The callback the reply arrives through.
    pub reply: Reply,
    /// The C parameters, `ctx` to `user_data`, ready to print.
    pub c_params: Vec<String>,
    /// What a successful reply carries, for docs.
    pub payload: &'static str,
}

/// One argument of a native entry point.
#[derive(Debug, Clone)]
pub struct NativeArg {
    /// The argument's name.
    pub name: Name,
    /// Its scalar.
    pub scalar: Scalar,
    /// How its C parameters become the Rust value.
    pub conversion: Conversion,
    /// Its C parameters as `(name, C type)`: one, or pointer and length.
    pub c_params: Vec<(String, String)>,
}

/// An event the library emits.
#[derive(Debug, Clone)]
pub struct Event {
    /// The name listeners subscribe to.
    pub name: Name,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// The payload type.
    pub payload: Type,
}

/// The C ABI every library shares, from `hostcall_abi`.
#[derive(Debug, Clone)]
pub struct Abi {
    /// `<prefix>_<name>` entry points, in header order.
    pub entry_points: Vec<Signature>,
    /// The callback types, in header order.
    pub callbacks: Vec<Signature>,
    /// Status codes, `HC_OK` first.
    pub status_codes: &'static [Code],
    /// Outcome codes.
    pub outcome_codes: &'static [Code],
    /// The config map's keys.
    pub config_keys: &'static [ConfigKey],
}

/// A C function or function-pointer type, ready to print.
#[derive(Debug, Clone)]
pub struct Signature {
    /// The entry point's suffix, or the callback type's name.
    pub name: &'static str,
    /// Its documentation.
    pub doc: &'static str,
    /// The C return type.
    pub c_ret: String,
    /// The C parameters (`const char *method`).
    pub c_params: Vec<String>,
}

impl Abi {
    /// The ABI as `hostcall_abi` declares it.
    pub fn new() -> Self {
        let lower = |sig: &hostcall_abi::Signature| Signature {
            name: sig.name,
            doc: sig.doc,
            c_ret: sig.c_ret(),
            c_params: sig.c_params(),
        };
        Self {
            entry_points: ENTRY_POINTS.iter().map(lower).collect(),
            callbacks: CALLBACKS.iter().map(lower).collect(),
            status_codes: STATUS_CODES,
            outcome_codes: OUTCOME_CODES,
            config_keys: hostcall_abi::CONFIG_KEYS,
        }
    }
}

impl Default for Abi {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    /// Steps 1–4: lowers and checks a library's description.
    pub fn lower(desc: &LibraryDesc) -> Result<Self, String> {
        let prefix = Name::new(&desc.prefix);
        let model = Self {
            version: desc.version.clone(),
            interface_hash: desc.interface_hash,
            records: desc
                .records
                .iter()
                .map(|r| Record {
                    name: Name::new(&r.name),
                    doc: r.doc.clone(),
                    fields: fields(&r.fields),
                })
                .collect(),
            handlers: desc
                .handlers
                .iter()
                .map(|f| function(&prefix, f))
                .collect::<Result<_, _>>()?,
            host_fns: desc
                .host_fns
                .iter()
                .map(|f| {
                    if f.native {
                        return Err(format!("host fn '{}' claims a native entry point", f.name));
                    }
                    function(&prefix, f)
                })
                .collect::<Result<_, _>>()?,
            events: desc
                .events
                .iter()
                .map(|e| Event {
                    name: Name::new(&e.name),
                    doc: e.doc.clone(),
                    payload: Type::of(&e.payload),
                })
                .collect(),
            abi: Abi::new(),
            prefix,
        };
        model.check_records()?;
        Ok(model)
    }

    /// Whether any handler has a native entry point.
    pub fn has_natives(&self) -> bool {
        self.handlers.iter().any(|f| f.native.is_some())
    }

    /// The record named `name`.
    pub fn record(&self, name: &Name) -> Option<&Record> {
        self.records.iter().find(|r| r.name == *name)
    }

    /// Every type the model names, depth first.
    fn types(&self) -> Vec<&Type> {
        fn walk<'a>(ty: &'a Type, out: &mut Vec<&'a Type>) {
            out.push(ty);
            if let Type::List(inner) | Type::Optional(inner) = ty {
                walk(inner, out);
            }
        }
        let mut out = Vec::new();
        let functions = self.handlers.iter().chain(&self.host_fns);
        for f in functions {
            walk(&f.ret, &mut out);
            f.args.iter().for_each(|a| walk(&a.ty, &mut out));
        }
        for r in &self.records {
            r.fields.iter().for_each(|f| walk(&f.ty, &mut out));
        }
        self.events.iter().for_each(|e| walk(&e.payload, &mut out));
        out
    }

    fn check_records(&self) -> Result<(), String> {
        for ty in self.types() {
            if let Type::Record(name) = ty
                && self.record(name).is_none()
            {
                return Err(format!(
                    "the description names record '{name}' but does not define it"
                ));
            }
        }
        Ok(())
    }
}

fn fields(fields: &[FieldDesc]) -> Vec<Field> {
    fields
        .iter()
        .map(|f| Field {
            name: Name::new(&f.name),
            doc: f.doc.clone(),
            ty: Type::of(&f.ty),
        })
        .collect()
}

/// Step 3 for one function.
fn function(prefix: &Name, f: &FnDesc) -> Result<Function, String> {
    let args = fields(&f.args);
    let ret = Type::of(&f.ret);
    let native = if f.native {
        Some(native(prefix, &f.name, &args, &ret).ok_or_else(|| {
            format!(
                "handler '{}' claims a native entry point, but its types have no native form",
                f.name
            )
        })?)
    } else {
        None
    };
    Ok(Function {
        name: Name::new(&f.name),
        doc: f.doc.clone(),
        args,
        ret,
        fallible: f.fallible,
        native,
    })
}

fn native(prefix: &Name, name: &str, args: &[Field], ret: &Type) -> Option<Native> {
    let result = ret.scalar()?;
    let c =
        |rust: &str| hostcall_abi::ctype::c_spelling(rust).expect("native types have C spellings");
    let params = hostcall_abi::native::entry_params(
        args.iter().map(|a| (a.name.wire.as_str(), a.ty.scalar())),
        result,
    )?;
    let args = args
        .iter()
        .map(|a| {
            let scalar = a.ty.scalar()?;
            let (conversion, params) = scalar.arg_params(&a.name.wire)?;
            Some(NativeArg {
                name: a.name.clone(),
                scalar,
                conversion,
                c_params: params.into_iter().map(|(n, rust)| (n, c(rust))).collect(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Native {
        symbol: format!("{}_native_{name}", prefix.wire),
        args,
        result,
        reply: result.reply(),
        c_params: params
            .iter()
            .map(|(n, rust)| hostcall_abi::ctype::declare(&c(rust), n))
            .collect(),
        payload: result.reply_payload(),
    })
}
