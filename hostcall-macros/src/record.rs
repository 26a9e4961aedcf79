//! `#[derive(Record)]` and `#[derive(Event)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::util::doc;

/// The serde attributes a record may carry, and the field's wire name.
fn serde_name(field: &syn::Field) -> syn::Result<String> {
    let ident = field.ident.as_ref().expect("named field");
    let mut name = ident.to_string().trim_start_matches("r#").to_owned();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                name = meta.value()?.parse::<LitStr>()?.value();
                Ok(())
            } else if meta.path.is_ident("default") {
                if meta.input.peek(syn::Token![=]) {
                    meta.value()?.parse::<syn::Expr>()?;
                }
                Ok(())
            } else {
                Err(meta.error(
                    "hostcall records support only serde's `rename` and `default` on fields; \
                     other attributes change the wire shape the bindings expect",
                ))
            }
        })?;
    }
    Ok(name)
}

fn refuse_container_serde(input: &DeriveInput) -> syn::Result<()> {
    match input.attrs.iter().find(|a| a.path().is_ident("serde")) {
        Some(attr) => Err(syn::Error::new_spanned(
            attr,
            "hostcall records do not support container-level serde attributes; \
             rename fields one by one instead",
        )),
        None => Ok(()),
    }
}

pub fn expand_record(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "hostcall records cannot be generic",
        ));
    }
    refuse_container_serde(&input)?;
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => &named.named,
            _ => {
                return Err(syn::Error::new_spanned(
                    &input.ident,
                    "a hostcall record is a struct with named fields",
                ));
            }
        },
        _ => {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "a hostcall record is a struct with named fields",
            ));
        }
    };
    let ident = &input.ident;
    let name = ident.to_string();
    let record_doc = doc(&input.attrs);
    let mut descs = Vec::new();
    let mut registers = Vec::new();
    for field in fields {
        let wire = serde_name(field)?;
        let field_doc = doc(&field.attrs);
        let ty = &field.ty;
        descs.push(quote! {
            ::hostcall::__private::FieldDesc {
                name: ::std::string::String::from(#wire),
                doc: ::std::string::String::from(#field_doc),
                ty: <#ty as ::hostcall::Describe>::describe(),
            }
        });
        registers.push(quote! { <#ty as ::hostcall::Describe>::register(records); });
    }
    Ok(quote! {
        impl ::hostcall::Describe for #ident {
            fn describe() -> ::hostcall::__private::TypeDesc {
                ::hostcall::__private::TypeDesc::Record(::std::string::String::from(#name))
            }
            fn register(records: &mut ::hostcall::__private::Records) {
                let desc = ::hostcall::__private::RecordDesc {
                    name: ::std::string::String::from(#name),
                    doc: ::std::string::String::from(#record_doc),
                    fields: ::std::vec![#(#descs),*],
                };
                if records.add(desc) {
                    #(#registers)*
                }
            }
        }
    })
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn expand_event(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let ident = &input.ident;
    let mut name = snake_case(&ident.to_string());
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("hostcall")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("event") {
                name = meta.value()?.parse::<LitStr>()?.value();
                Ok(())
            } else {
                Err(meta.error("expected `event = \"name\"`"))
            }
        })?;
    }
    let event_doc = doc(&input.attrs);
    Ok(quote! {
        impl ::hostcall::Event for #ident {
            const DEF: &'static ::hostcall::__private::EventDef = &::hostcall::__private::EventDef {
                name: #name,
                doc: #event_doc,
                payload: ::hostcall::__private::TypeRef::of::<#ident>(),
            };
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn snake_case_splits_words() {
        assert_eq!(super::snake_case("Progress"), "progress");
        assert_eq!(super::snake_case("LoginProgress"), "login_progress");
    }
}
