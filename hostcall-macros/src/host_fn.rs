//! `hostcall::host_fn!`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ForeignItemFn;
use syn::parse::{Parse, ParseStream};

use crate::util::{arg_defs, arg_name, args, doc, error_type, host_fn_static, success_type};

struct HostFns(Vec<ForeignItemFn>);

impl Parse for HostFns {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut fns = Vec::new();
        while !input.is_empty() {
            fns.push(input.parse()?);
        }
        Ok(Self(fns))
    }
}

pub fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let HostFns(fns) = syn::parse2(input)?;
    let mut out = TokenStream::new();
    for function in fns {
        let sig = &function.sig;
        if sig.asyncness.is_some() {
            return Err(syn::Error::new_spanned(
                sig.asyncness,
                "declare host fns without `async`: they return a future (HostCall) already",
            ));
        }
        if !sig.generics.params.is_empty() {
            return Err(syn::Error::new_spanned(
                &sig.generics,
                "host fns cannot be generic",
            ));
        }
        let (success, fallible) = success_type(&sig.output);
        let error = error_type(&sig.output).filter(|_| fallible);
        if fallible && error.is_none() {
            return Err(syn::Error::new_spanned(
                &sig.output,
                "write `Result<T, E>` with E a type deriving hostcall::Error",
            ));
        }
        if let Some(syn::Type::Path(tp)) = &error
            && tp.path.is_ident("String")
        {
            return Err(syn::Error::new_spanned(
                tp,
                "a host fn fails with text already: declare `-> T` (the call yields \
                 Result<T, HostError>, the host's text being HostError::Host)",
            ));
        }
        let args = args(&sig.inputs)?;
        let ident = &sig.ident;
        let name = arg_name(ident);
        let vis = &function.vis;
        let attrs = &function.attrs;
        let def = host_fn_static(ident);
        let host_doc = doc(attrs);
        let ret = success;
        let (call_ty, error_ref) = match &error {
            Some(error) => (
                quote! { ::hostcall::HostCall<#ret, #error> },
                quote! { ::std::option::Option::Some(::hostcall::__private::ErrorRef::of::<#error>()) },
            ),
            None => (
                quote! { ::hostcall::HostCall<#ret> },
                quote! { ::std::option::Option::None },
            ),
        };
        let arg_defs = arg_defs(&args);
        let params = args.iter().map(|a| {
            let (n, t) = (&a.name, &a.ty);
            quote! { #n: #t }
        });
        let names: Vec<_> = args.iter().map(|a| &a.name).collect();
        out.extend(quote! {
            #(#attrs)*
            #[doc = ""]
            #[doc = "Implemented by the host: awaiting the returned `HostCall` invokes the"]
            #[doc = "host fn registered under this name and yields its result (for a"]
            #[doc = "declared `Result<T, E>`, `Ok` or the host's typed `Err`), or a"]
            #[doc = "`hostcall::HostError`. Dropping it before it finishes cancels the call."]
            #vis fn #ident(#(#params),*) -> #call_ty {
                ::hostcall::HostCall::new(&#def, &(#(#names,)*))
            }

            #[doc(hidden)]
            #[allow(non_upper_case_globals, reason = "named after the host fn it describes")]
            #vis static #def: ::hostcall::__private::HostFnDef = ::hostcall::__private::HostFnDef {
                name: #name,
                doc: #host_doc,
                args: #arg_defs,
                ret: ::hostcall::__private::TypeRef::of::<#ret>(),
                error: #error_ref,
            };
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn a_host_fn_error_type_must_be_declared_not_text() {
        let refusal = |input| super::expand(input).expect_err("refused").to_string();
        assert!(
            refusal(quote! { fn f() -> Result<u8, String>; }).contains("fails with text already")
        );
        assert!(refusal(quote! { fn f() -> Result<u8>; }).contains("Result<T, E>"));
        let out = super::expand(quote! { fn f() -> Result<u8, MyError>; })
            .expect("accepted")
            .to_string();
        assert!(out.contains("HostCall < u8 , MyError >"), "{out}");
        assert!(out.contains("ErrorRef :: of :: < MyError >"), "{out}");
    }
}
