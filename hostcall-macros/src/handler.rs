//! `#[hostcall::handler]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemFn, LitStr};

use hostcall_abi::native::{Conversion, Reply};

use crate::util::{
    abi_type, arg_defs, arg_name, args, doc, error_type, handler_static, scalar, success_type,
};

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
    if fallible && error_type(&sig.output).is_none() {
        return Err(syn::Error::new_spanned(
            &sig.output,
            "write the handler's result as `Result<T, E>` with its error type spelled out",
        ));
    }
    let output: syn::Type = match &sig.output {
        syn::ReturnType::Default => syn::parse_quote!(()),
        syn::ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let error = match error_type(&sig.output).filter(|_| fallible) {
        Some(error) => quote! {
            || {
                #[allow(unused_imports, reason = "one of the two is picked")]
                use ::hostcall::__private::{PlainErrorOf as _, TypedErrorOf as _};
                (&::hostcall::__private::ErrorOf::<#error>::new()).error_type()
            }
        },
        None => quote! { || ::std::option::Option::None },
    };
    let ident = &sig.ident;
    let vis = &function.vis;
    let def = handler_static(ident);
    let handler_doc = doc(&function.attrs);
    let arg_defs = arg_defs(&args);
    let names: Vec<_> = args.iter().map(|a| &a.name).collect();
    let wire_names: Vec<_> = args.iter().map(|a| arg_name(&a.name)).collect();
    let types: Vec<_> = args.iter().map(|a| &a.ty).collect();
    let reply = if fallible {
        failing(&output, quote! { ::hostcall::__private::reply_result })
    } else {
        quote! { ::hostcall::__private::reply_value }
    };
    let invocation = if sig.asyncness.is_some() {
        quote! {
            ::hostcall::__private::Invocation::spawn(move |responder: ::hostcall::__private::Responder| {
                responder.spawn(#ident(#(#names),*), #reply)
            })
        }
    } else {
        quote! {
            ::hostcall::__private::Invocation::sync(move || (#reply)(#ident(#(#names),*)))
        }
    };
    let native_macro = native_entry(
        &args,
        (&ret, &output, fallible),
        sig.asyncness.is_some(),
        &name,
        ident,
    );
    let is_native = native_macro.is_some();
    let macro_name = quote::format_ident!("__hostcall_native_{}", ident);
    let native_macro = native_macro.unwrap_or_else(|| quote! { ($($ignored:tt)*) => {}; });
    Ok(quote! {
        #function

        #[doc(hidden)]
        macro_rules! #macro_name { #native_macro }
        #[doc(hidden)]
        #[allow(unused_imports, reason = "used only when the handler is exported")]
        pub(crate) use #macro_name;

        #[doc(hidden)]
        #[allow(non_upper_case_globals, reason = "named after the handler it describes")]
        #vis static #def: ::hostcall::__private::HandlerDef = ::hostcall::__private::HandlerDef {
            name: #name,
            doc: #handler_doc,
            args: #arg_defs,
            ret: ::hostcall::__private::TypeRef::of::<#ret>(),
            fallible: #fallible,
            error: #error,
            native: #is_native,
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

/// A closure turning a fallible handler's `output` into its reply with
/// `encode` (`reply_result` or `native_result`), its error by the
/// typed-or-text dispatch of `hostcall::__private::Fail`. The parameter is
/// annotated: the dispatch needs the concrete error type where it resolves.
fn failing(output: &syn::Type, encode: TokenStream) -> TokenStream {
    quote! {
        |result: #output| {
            #[allow(unused_imports, reason = "one of the two is picked")]
            use ::hostcall::__private::{ViaDisplay as _, ViaTyped as _};
            #encode(result, |error| (&::hostcall::__private::Fail(&error)).failure())
        }
    }
}

/// The body of the `__hostcall_native_<fn>!` macro that `export!` invokes to
/// emit `<prefix>_native_<method>` and its cancellable form, or `None` when
/// an argument or the result has no native form. Invoked as `(prefix,
/// rust_name, rust_cancellable_name, library, handler, definition)`.
fn native_entry(
    args: &[crate::util::Arg],
    (ret, output, fallible): (&syn::Type, &syn::Type, bool),
    is_async: bool,
    wire_name: &str,
    function: &syn::Ident,
) -> Option<TokenStream> {
    let result = scalar(ret)?;
    let mut params = Vec::new();
    let mut converts = Vec::new();
    let mut names = Vec::new();
    for arg in args {
        let name = &arg.name;
        let (conversion, c_params) = scalar(&arg.ty)?.arg_params(&name.to_string())?;
        names.push(name.clone());
        for (param, rust) in &c_params {
            let param = quote::format_ident!("{}", param);
            let ty = abi_type(rust);
            params.push(quote! { #param: #ty });
        }
        let label = arg_name(name);
        let len = quote::format_ident!("{}_len", name);
        let read = match conversion {
            Conversion::Value => continue,
            Conversion::Text => quote! { native_text },
            Conversion::Bytes => quote! { native_bytes },
        };
        converts.push(quote! {
            // SAFETY: the C caller passes `len` readable bytes (or NULL, 0).
            let #name = unsafe { ::hostcall::__private::#read(#name, #len, #label) }?;
        });
    }
    let reply_kind = result.reply();
    let callback_ty = abi_type(reply_kind.callback());
    let callback_variant = match reply_kind {
        Reply::I64 => quote! { I64 },
        Reply::U64 => quote! { U64 },
        Reply::F64 => quote! { F64 },
        Reply::Bool => quote! { Bool },
        Reply::Bytes => quote! { Bytes },
    };
    let reply = if fallible {
        failing(output, quote! { ::hostcall::__private::native_result })
    } else {
        quote! { ::hostcall::__private::native_value }
    };
    let invocation = if is_async {
        quote! {
            ::hostcall::__private::Invocation::spawn(move |responder: ::hostcall::__private::Responder| {
                responder.spawn($handler(#(#names),*), #reply)
            })
        }
    } else {
        quote! {
            ::hostcall::__private::Invocation::sync(move || (#reply)($handler(#(#names),*)))
        }
    };
    let entry = |cancellable: bool| {
        let suffix = if cancellable {
            hostcall_abi::native::CANCELLABLE_SUFFIX
        } else {
            ""
        };
        let symbol = format!("_native_{wire_name}{suffix}");
        let mut doc = format!(
            "Native (zero-serialization) entry point of `{wire_name}` (Rust fn `{function}`): \
             the reply callback is invoked exactly once, on the loop thread, if and only if \
             this returns `HC_OK`."
        );
        if cancellable {
            doc.push_str(
                " `*call_id` receives the request's id for `cancel_call`, as \
                 `call_cancellable` writes it.",
            );
        }
        doc.push_str(
            "\n\n# Safety\nPointer arguments must be NULL with length 0, or valid for \
             reads of their length; `ctx` is only looked up.",
        );
        let (rust_name, call_id_param, call_id) = if cancellable {
            let (name, ty) = hostcall_abi::native::CALL_ID_PARAM;
            let param = quote::format_ident!("__{}", name);
            let ty = abi_type(ty);
            (
                quote! { $rust_cancellable },
                quote! { #param: #ty, },
                quote! { ::std::option::Option::Some(#param) },
            )
        } else {
            (
                quote! { $rust_name },
                quote! {},
                quote! { ::std::option::Option::None },
            )
        };
        quote! {
            #[doc = #doc]
            #[unsafe(export_name = ::std::concat!($prefix, #symbol))]
            pub unsafe extern "C" fn #rust_name(
                __ctx: *mut ::std::ffi::c_void,
                #(#params,)*
                __callback: ::std::option::Option<#callback_ty>,
                __user_data: *mut ::std::ffi::c_void,
                #call_id_param
            ) -> ::std::ffi::c_int {
                let build = move || {
                    #(#converts)*
                    ::std::result::Result::Ok((#(#names,)*))
                };
                // SAFETY: `build` reads only the caller's arguments, during
                // the call, and `call_id` is the caller's (see `# Safety`).
                unsafe {
                    ::hostcall::__private::native_call(
                        &$library,
                        __ctx,
                        &$def,
                        (
                            __callback.map(::hostcall::__private::Callback::#callback_variant),
                            __user_data,
                        ),
                        #call_id,
                        ::hostcall::__private::NativeCall {
                            build,
                            invoke: move |(#(#names,)*)| #invocation,
                            reply: ::hostcall::__private::native_from_cbor::<#ret>,
                        },
                    )
                }
            }
        }
    };
    let plain = entry(false);
    let cancellable = entry(true);
    Some(quote! {
        (
            $prefix:literal,
            $rust_name:ident,
            $rust_cancellable:ident,
            $library:path,
            $handler:path,
            $def:path
        ) => {
            #plain
            #cancellable
        };
    })
}
