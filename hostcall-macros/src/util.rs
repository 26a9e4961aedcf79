//! Helpers shared by the macros.

use hostcall_abi::native::Scalar;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Attribute, Expr, ExprLit, FnArg, Lit, Meta, Pat, ReturnType, Type};

/// The doc comment of an item, lines joined with `\n`, one leading space
/// trimmed per line.
pub fn doc(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            let line = s.value();
            lines.push(line.strip_prefix(' ').unwrap_or(&line).to_owned());
        }
    }
    lines.join("\n").trim().to_owned()
}

/// A typed argument of a handler or host fn.
pub struct Arg {
    pub name: Ident,
    pub ty: Type,
}

/// The plain `name: Type` arguments of a signature.
pub fn args<'a>(inputs: impl IntoIterator<Item = &'a FnArg>) -> syn::Result<Vec<Arg>> {
    inputs
        .into_iter()
        .map(|input| match input {
            FnArg::Receiver(r) => Err(syn::Error::new_spanned(
                r,
                "hostcall functions are free functions; they take no `self`",
            )),
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi) if pi.subpat.is_none() && pi.by_ref.is_none() => Ok(Arg {
                    name: pi.ident.clone(),
                    ty: (*pt.ty).clone(),
                }),
                other => Err(syn::Error::new_spanned(
                    other,
                    "hostcall arguments must be plain `name: Type` bindings",
                )),
            },
        })
        .collect()
}

/// The wire name of an argument (`_unused` → `unused`, `r#type` → `type`).
pub fn arg_name(ident: &Ident) -> String {
    let name = ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    name.trim_start_matches('_').to_owned()
}

/// The `E` of a `Result<T, E>` return type.
pub fn error_type(ret: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, ty) = ret else {
        return None;
    };
    if let Type::Path(tp) = &**ty
        && let Some(last) = tp.path.segments.last()
        && last.ident == "Result"
        && let syn::PathArguments::AngleBracketed(ab) = &last.arguments
        && let Some(syn::GenericArgument::Type(error)) = ab.args.iter().nth(1)
    {
        return Some(error.clone());
    }
    None
}

/// `(T, fallible)`: the success type of a return type, and whether it is a
/// `Result` (recognised by its last path segment being `Result`).
pub fn success_type(ret: &ReturnType) -> (Type, bool) {
    let ty = match ret {
        ReturnType::Default => return (syn::parse_quote!(()), false),
        ReturnType::Type(_, ty) => &**ty,
    };
    if let Type::Path(tp) = ty
        && let Some(last) = tp.path.segments.last()
        && last.ident == "Result"
        && let syn::PathArguments::AngleBracketed(ab) = &last.arguments
        && let Some(syn::GenericArgument::Type(ok)) = ab.args.first()
    {
        return (ok.clone(), true);
    }
    (ty.clone(), false)
}

/// `&[ArgDef { … }, …]` for a signature.
pub fn arg_defs(args: &[Arg]) -> TokenStream {
    let defs = args.iter().map(|arg| {
        let name = arg_name(&arg.name);
        let ty = &arg.ty;
        quote! {
            ::hostcall::__private::ArgDef {
                name: #name,
                ty: ::hostcall::__private::TypeRef::of::<#ty>(),
            }
        }
    });
    quote! { &[#(#defs),*] }
}

/// The hidden static a handler's definition lives in.
pub fn handler_static(function: &Ident) -> Ident {
    format_ident!("__HOSTCALL_HANDLER_{}", function)
}

/// The hidden static a host fn's definition lives in.
pub fn host_fn_static(function: &Ident) -> Ident {
    format_ident!("__HOSTCALL_HOST_FN_{}", function)
}

/// An error at the call site.
pub fn error(message: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(Span::call_site(), message)
}

/// The native scalar a type names as written, if any: the decision is
/// [`hostcall_abi::native::Scalar::from_rust`]'s, asked about the type's
/// last path segment (the generator asks the same table about the
/// described type).
pub fn scalar(ty: &Type) -> Option<Scalar> {
    match ty {
        Type::Tuple(t) if t.elems.is_empty() => Some(Scalar::Unit),
        Type::Paren(p) => scalar(&p.elem),
        Type::Path(tp) if tp.qself.is_none() => {
            let last = tp.path.segments.last()?;
            if !last.arguments.is_empty() {
                return None;
            }
            Scalar::from_rust(&last.ident.to_string(), tp.path.segments.len() == 1)
        }
        _ => None,
    }
}

/// The tokens of a type the ABI list writes as text (`*const c_char`,
/// `Option<FFICallBack>`), with every name qualified so that it resolves
/// wherever `export!` is invoked.
pub fn abi_type(rust: &str) -> TokenStream {
    let ty: Type = syn::parse_str(rust).unwrap_or_else(|e| panic!("ABI type `{rust}`: {e}"));
    qualify(&ty)
}

fn qualify(ty: &Type) -> TokenStream {
    match ty {
        Type::Ptr(p) => {
            let inner = qualify(&p.elem);
            match p.mutability {
                Some(_) => quote! { *mut #inner },
                None => quote! { *const #inner },
            }
        }
        Type::Path(tp) if tp.qself.is_none() && tp.path.segments.len() == 1 => {
            let segment = &tp.path.segments[0];
            let name = segment.ident.to_string();
            match &segment.arguments {
                syn::PathArguments::AngleBracketed(ab) if name == "Option" => {
                    let Some(syn::GenericArgument::Type(inner)) = ab.args.first() else {
                        panic!("ABI type Option without a type argument");
                    };
                    let inner = qualify(inner);
                    quote! { ::std::option::Option<#inner> }
                }
                _ if name.starts_with("c_") => {
                    let ident = &segment.ident;
                    quote! { ::std::ffi::#ident }
                }
                _ if name.starts_with("FFI") => {
                    let ident = &segment.ident;
                    quote! { ::hostcall::abi::#ident }
                }
                _ => quote! { #ty },
            }
        }
        _ => quote! { #ty },
    }
}
