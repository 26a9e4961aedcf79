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
pub use hostcall::describe::VariantShape;
use hostcall::describe::{ErrorTypeDesc, FieldDesc, FnDesc};
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
    /// Library-declared error types, in first-use order.
    pub error_types: Vec<ErrorType>,
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

/// A library-declared error type: what a handler or host fn fails with as
/// `RET_ERR_TYPED`, its payload the CBOR of one variant.
#[derive(Debug, Clone)]
pub struct ErrorType {
    /// The type name (`SignInError`).
    pub name: Name,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// Variants, in declaration order.
    pub variants: Vec<Variant>,
}

/// One case of an error type.
#[derive(Debug, Clone)]
pub struct Variant {
    /// The variant's name, its wire tag (`NotFound`).
    pub name: Name,
    /// Doc comment, possibly empty.
    pub doc: String,
    /// How its fields are laid out on the wire.
    pub shape: VariantShape,
    /// Its fields; a tuple variant's are named `0`, `1`, …
    pub fields: Vec<Field>,
}

impl Variant {
    /// Its wire form as the docs write it: `"EmptyUserId"`,
    /// `{"Unavailable": text}`, `{"Suspended": [text, uint64]}`,
    /// `{"NotFound": {user_id: text}}`.
    pub fn wire(&self) -> String {
        let tag = &self.name.wire;
        let types = || self.fields.iter().map(|f| f.ty.wire()).collect::<Vec<_>>();
        match self.shape {
            VariantShape::Unit => format!("\"{tag}\""),
            VariantShape::Tuple if self.fields.len() == 1 => {
                format!("{{\"{tag}\": {}}}", types()[0])
            }
            VariantShape::Tuple => format!("{{\"{tag}\": [{}]}}", types().join(", ")),
            VariantShape::Struct => {
                let fields: Vec<_> = self
                    .fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name.wire, f.ty.wire()))
                    .collect();
                format!("{{\"{tag}\": {{{}}}}}", fields.join(", "))
            }
        }
    }

    /// Whether the wire form carries the one field bare (a one-field tuple
    /// variant: `{"Unavailable": text}`, not `[text]`).
    pub fn is_newtype(&self) -> bool {
        self.shape == VariantShape::Tuple && self.fields.len() == 1
    }
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
    /// Whether the result may instead be an error (`RET_ERR` text, or
    /// `RET_ERR_TYPED` when it has an [`Function::error`] type).
    pub fallible: bool,
    /// The library-declared error type it fails with, if any (see
    /// [`Model::error_type`]).
    pub error: Option<Name>,
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
    /// The cancellable form's C symbol (`<symbol>_cancellable`): the same
    /// parameters and then `uint64_t *call_id`, written as
    /// `call_cancellable` writes it.
    pub cancellable_symbol: String,
    /// The cancellable form's C parameters.
    pub cancellable_c_params: Vec<String>,
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
            error_types: desc.error_types.iter().map(error_type).collect(),
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
        model.check_error_types()?;
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

    /// The error type named `name`.
    pub fn error_type(&self, name: &Name) -> Option<&ErrorType> {
        self.error_types.iter().find(|e| e.name == *name)
    }

    /// The error type `f` fails with, if it has one.
    pub fn error_of(&self, f: &Function) -> Option<&ErrorType> {
        f.error.as_ref().and_then(|name| self.error_type(name))
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
        for e in &self.error_types {
            for v in &e.variants {
                v.fields.iter().for_each(|f| walk(&f.ty, &mut out));
            }
        }
        out
    }

    fn check_error_types(&self) -> Result<(), String> {
        for f in self.handlers.iter().chain(&self.host_fns) {
            if let Some(name) = &f.error
                && self.error_type(name).is_none()
            {
                return Err(format!(
                    "'{}' fails with error type '{name}', which the description does not define",
                    f.name
                ));
            }
        }
        for e in &self.error_types {
            if e.variants.is_empty() {
                return Err(format!("error type '{}' has no variants", e.name));
            }
        }
        Ok(())
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

fn error_type(e: &ErrorTypeDesc) -> ErrorType {
    ErrorType {
        name: Name::new(&e.name),
        doc: e.doc.clone(),
        variants: e
            .variants
            .iter()
            .map(|v| Variant {
                name: Name::new(&v.name),
                doc: v.doc.clone(),
                shape: v.shape.clone(),
                fields: fields(&v.fields),
            })
            .collect(),
    }
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
        error: f.error.as_deref().map(Name::new),
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
    let cancellable_params = hostcall_abi::native::cancellable_entry_params(
        args.iter().map(|a| (a.name.wire.as_str(), a.ty.scalar())),
        result,
    )?;
    let declare = |params: &[(String, &str)]| {
        params
            .iter()
            .map(|(n, rust)| hostcall_abi::ctype::declare(&c(rust), n))
            .collect()
    };
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
    let symbol = format!("{}_native_{name}", prefix.wire);
    Some(Native {
        cancellable_symbol: format!("{symbol}{}", hostcall_abi::native::CANCELLABLE_SUFFIX),
        symbol,
        args,
        result,
        reply: result.reply(),
        c_params: declare(&params),
        cancellable_c_params: declare(&cancellable_params),
        payload: result.reply_payload(),
    })
}
