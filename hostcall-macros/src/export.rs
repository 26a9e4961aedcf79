//! `hostcall::export!`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Path, Token, bracketed};

use hostcall_abi::ENTRY_POINTS;

use crate::util::{abi_type, error, handler_static, host_fn_static};

#[derive(Default)]
struct Export {
    prefix: Option<LitStr>,
    version: Option<LitStr>,
    handlers: Vec<Path>,
    host_fns: Vec<Path>,
    events: Vec<Path>,
}

fn paths(input: ParseStream<'_>) -> syn::Result<Vec<Path>> {
    let content;
    bracketed!(content in input);
    Ok(Punctuated::<Path, Token![,]>::parse_terminated(&content)?
        .into_iter()
        .collect())
}

impl Parse for Export {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut export = Export::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "prefix" => export.prefix = Some(input.parse()?),
                "version" => export.version = Some(input.parse()?),
                "handlers" => export.handlers = paths(input)?,
                "host_fns" => export.host_fns = paths(input)?,
                "events" => export.events = paths(input)?,
                _ => {
                    return Err(syn::Error::new_spanned(
                        key,
                        "expected one of: prefix, version, handlers, host_fns, events",
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(export)
    }
}

/// `module::function` → `module::__HOSTCALL_…_function`.
fn def_path(path: &Path, name: fn(&Ident) -> Ident) -> Path {
    let mut path = path.clone();
    let last = path.segments.last_mut().expect("paths have a segment");
    last.ident = name(&last.ident);
    path
}

fn valid_prefix(prefix: &str) -> bool {
    let mut chars = prefix.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let export: Export = syn::parse2(input)?;
    let prefix_lit = export
        .prefix
        .ok_or_else(|| error("export! needs `prefix = \"name\"`, the C symbol prefix"))?;
    let prefix = prefix_lit.value();
    if !valid_prefix(&prefix) {
        return Err(syn::Error::new_spanned(
            prefix_lit,
            "the prefix must be a C identifier (letters, digits, `_`; not starting with a digit)",
        ));
    }
    let version = match export.version {
        Some(v) => quote! { #v },
        None => quote! { ::std::env!("CARGO_PKG_VERSION") },
    };
    let handlers: Vec<Path> = export
        .handlers
        .iter()
        .map(|p| def_path(p, handler_static))
        .collect();
    let natives = export.handlers.iter().zip(&handlers).map(|(handler, def)| {
        let function = &handler.segments.last().expect("paths have a segment").ident;
        let native_macro = def_path(handler, |f| format_ident!("__hostcall_native_{}", f));
        let rust_name = format_ident!("{}_native_{}", prefix, function);
        let rust_cancellable = format_ident!("{}_native_{}_cancellable", prefix, function);
        quote! {
            #native_macro!(
                #prefix,
                #rust_name,
                #rust_cancellable,
                __HOSTCALL_LIBRARY,
                #handler,
                #def
            );
        }
    });
    let host_fns = export.host_fns.iter().map(|p| def_path(p, host_fn_static));
    let events = &export.events;
    let entry_points: Vec<_> = ENTRY_POINTS
        .iter()
        .map(|sig| {
            let symbol = format_ident!("{}_{}", prefix, sig.name);
            let forward = format_ident!("{}", sig.name);
            let names: Vec<_> = sig
                .params
                .iter()
                .map(|p| format_ident!("{}", p.name))
                .collect();
            let types = sig.params.iter().map(|p| abi_type(p.rust));
            let ret = abi_type(sig.ret);
            let doc = format!("{}\n\n# Safety\n{}", sig.doc, sig.safety);
            let function = quote! {
                #[doc = #doc]
                #[unsafe(no_mangle)]
                pub unsafe extern "C" fn #symbol(#(#names: #types),*) -> #ret {
                    // SAFETY: the caller's obligations are this function's
                    // `# Safety`, which are the callee's.
                    unsafe { ::hostcall::ffi::#forward(&__HOSTCALL_LIBRARY, #(#names),*) }
                }
            };
            (forward, symbol, function)
        })
        .collect();
    let functions = entry_points.iter().map(|(_, _, f)| f);
    let fields = entry_points
        .iter()
        .map(|(field, symbol, _)| quote! { #field: #symbol });

    Ok(quote! {
        /// This library's definition and runtime tables, handed to every
        /// entry point below.
        #[doc(hidden)]
        pub static __HOSTCALL_LIBRARY: ::hostcall::Library =
            ::hostcall::Library::new(&::hostcall::__private::LibraryDef {
                prefix: #prefix,
                version: #version,
                handlers: &[#(&#handlers),*],
                host_fns: &[#(&#host_fns),*],
                events: &[#(<#events as ::hostcall::Event>::DEF),*],
            });

        #(#natives)*

        #(#functions)*

        /// This library's entry points as typed function pointers (for
        /// tests and benches that call it from Rust).
        #[doc(hidden)]
        pub static __HOSTCALL_ENTRY_POINTS: ::hostcall::abi::EntryPoints =
            ::hostcall::abi::EntryPoints { #(#fields),* };
    })
}
