//! `#[derive(Error)]`: a library-declared error type.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields};

use crate::util::doc;

/// Serde attributes change the wire form the bindings decode; none are
/// accepted on an error type, its variants or their fields.
fn refuse_serde(attrs: &[syn::Attribute], what: &str) -> syn::Result<()> {
    match attrs.iter().find(|a| a.path().is_ident("serde")) {
        Some(attr) => Err(syn::Error::new_spanned(
            attr,
            format!(
                "hostcall error types take no serde attributes (here on {what}): \
                 the bindings decode serde's default, externally tagged form"
            ),
        )),
        None => Ok(()),
    }
}

pub fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "hostcall error types cannot be generic",
        ));
    }
    refuse_serde(&input.attrs, "the type")?;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "a hostcall error type is an enum (its variants are the error's cases)",
        ));
    };
    if data.variants.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "a hostcall error type needs at least one variant",
        ));
    }
    let ident = &input.ident;
    let name = ident.to_string();
    let type_doc = doc(&input.attrs);
    let mut variants = Vec::new();
    let mut registers = Vec::new();
    for variant in &data.variants {
        refuse_serde(&variant.attrs, "a variant")?;
        let variant_name = variant.ident.to_string();
        let variant_doc = doc(&variant.attrs);
        let (shape, fields): (_, Vec<(String, String, &syn::Type)>) = match &variant.fields {
            Fields::Unit => (quote! { Unit }, Vec::new()),
            Fields::Unnamed(unnamed) => (
                quote! { Tuple },
                unnamed
                    .unnamed
                    .iter()
                    .enumerate()
                    .map(|(i, f)| Ok((i.to_string(), doc(&f.attrs), &f.ty)))
                    .collect::<syn::Result<_>>()?,
            ),
            Fields::Named(named) => (
                quote! { Struct },
                named
                    .named
                    .iter()
                    .map(|f| {
                        refuse_serde(&f.attrs, "a field")?;
                        let field = f.ident.as_ref().expect("named field").to_string();
                        Ok((
                            field.trim_start_matches("r#").to_owned(),
                            doc(&f.attrs),
                            &f.ty,
                        ))
                    })
                    .collect::<syn::Result<_>>()?,
            ),
        };
        if let Fields::Unnamed(unnamed) = &variant.fields {
            for field in &unnamed.unnamed {
                refuse_serde(&field.attrs, "a field")?;
            }
        }
        let descs = fields.iter().map(|(field, field_doc, ty)| {
            quote! {
                ::hostcall::__private::FieldDesc {
                    name: ::std::string::String::from(#field),
                    doc: ::std::string::String::from(#field_doc),
                    ty: <#ty as ::hostcall::Describe>::describe(),
                }
            }
        });
        registers.extend(
            fields
                .iter()
                .map(|(_, _, ty)| quote! { <#ty as ::hostcall::Describe>::register(records); }),
        );
        variants.push(quote! {
            ::hostcall::__private::VariantDesc {
                name: ::std::string::String::from(#variant_name),
                doc: ::std::string::String::from(#variant_doc),
                shape: ::hostcall::__private::VariantShape::#shape,
                fields: ::std::vec![#(#descs),*],
            }
        });
    }
    Ok(quote! {
        impl ::hostcall::TypedError for #ident {
            const NAME: &'static str = #name;
            fn register(records: &mut ::hostcall::__private::Records) {
                let desc = ::hostcall::__private::ErrorTypeDesc {
                    name: ::std::string::String::from(#name),
                    doc: ::std::string::String::from(#type_doc),
                    variants: ::std::vec![#(#variants),*],
                };
                if records.add_error(desc) {
                    #(#registers)*
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn refusal(input: proc_macro2::TokenStream) -> String {
        super::expand(input).expect_err("refused").to_string()
    }

    #[test]
    fn only_plain_enums_are_error_types() {
        assert!(refusal(quote! { struct E { a: u8 } }).contains("is an enum"));
        assert!(refusal(quote! { enum E<T> { A(T) } }).contains("cannot be generic"));
        assert!(refusal(quote! { enum E {} }).contains("at least one variant"));
        for attrs in [
            quote! { #[serde(rename_all = "snake_case")] enum E { A } },
            quote! { enum E { #[serde(rename = "a")] A } },
            quote! { enum E { A { #[serde(default)] x: u8 } } },
            quote! { enum E { A(#[serde(skip)] u8) } },
        ] {
            assert!(refusal(attrs).contains("no serde attributes"));
        }
    }

    #[test]
    fn every_variant_shape_is_described() {
        let out = super::expand(quote! {
            /// Doc.
            enum E { Unit, One(String), Two(u8, u16), Named { r#type: u32 } }
        })
        .expect("accepted")
        .to_string();
        for expected in [
            "Unit", "Tuple", "Struct", "\"0\"", "\"1\"", "\"type\"", "\"Doc.\"",
        ] {
            assert!(out.contains(expected), "{expected} in {out}");
        }
    }
}
