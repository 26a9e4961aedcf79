//! `#[hostcall::handler]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemFn, LitStr};

use crate::util::{arg_defs, arg_name, args, doc, handler_static, success_type};

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let function: ItemFn = syn::parse2(item)?;
    let sig = &function.sig;
    let mut name = sig.ident.to_string();
    if !attr.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                name = meta.value()?.parse::<LitStr>()?.value();
                Ok(())
            } else {
                Err(meta.error("expected `name = \"method\"`"))
            }
        });
        syn::parse::Parser::parse2(parser, attr)?;
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "hostcall handlers cannot be generic",
        ));
    }
    if sig.unsafety.is_some() || sig.abi.is_some() || sig.variadic.is_some() {
        return Err(syn::Error::new_spanned(
            sig,
            "hostcall handlers are plain Rust functions (no unsafe, extern or variadics)",
        ));
    }
    let args = args(&sig.inputs)?;
    let (ret, fallible) = success_type(&sig.output);
    let ident = &sig.ident;
    let vis = &function.vis;
    let def = handler_static(ident);
    let handler_doc = doc(&function.attrs);
    let arg_defs = arg_defs(&args);
    let names: Vec<_> = args.iter().map(|a| &a.name).collect();
    let wire_names: Vec<_> = args.iter().map(|a| arg_name(&a.name)).collect();
    let types: Vec<_> = args.iter().map(|a| &a.ty).collect();
    let reply = if fallible {
        quote! { ::hostcall::__private::reply_result }
    } else {
        quote! { ::hostcall::__private::reply_value }
    };
    let invocation = if sig.asyncness.is_some() {
        quote! {
            ::hostcall::__private::Invocation::Async(::std::boxed::Box::new(move || {
                ::std::boxed::Box::pin(async move { #reply(#ident(#(#names),*).await) })
            }))
        }
    } else {
        quote! {
            ::hostcall::__private::Invocation::Sync(::std::boxed::Box::new(move || {
                #reply(#ident(#(#names),*))
            }))
        }
    };
    Ok(quote! {
        #function

        #[doc(hidden)]
        #[allow(non_upper_case_globals, reason = "named after the handler it describes")]
        #vis static #def: ::hostcall::__private::HandlerDef = ::hostcall::__private::HandlerDef {
            name: #name,
            doc: #handler_doc,
            args: #arg_defs,
            ret: ::hostcall::__private::TypeRef::of::<#ret>(),
            fallible: #fallible,
            decode: |request: &[u8]| {
                let (#(#names,)*) = ::hostcall::__private::decode_args::<(#(#types,)*)>(
                    request,
                    &[#(#wire_names),*],
                )?;
                ::std::result::Result::Ok(#invocation)
            },
        };
    })
}
