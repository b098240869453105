//! `src/domain.rs` of a generated service: the trait file's items as written,
//! with what the wire needs added (derives, `pub`), the trait in kit's form,
//! and the business errors' messages.

use std::fmt::Write;

use syn::parse_quote;
use syn::{Item, TraitItem, UseTree, Visibility};

use crate::input::Service;
use crate::names::Names;

/// The derives every struct needs.
const STRUCT_DERIVES: &[&str] = &["Debug", "Clone", "PartialEq", "Serialize", "Deserialize"];
/// The derives every enum needs.
const ENUM_DERIVES: &[&str] = &[
    "Debug",
    "Clone",
    "Copy",
    "PartialEq",
    "Eq",
    "Serialize",
    "Deserialize",
];

/// The text of `src/domain.rs`.
pub(crate) fn domain(service: &Service, names: &Names, trait_file: &str) -> String {
    let mut file = service.file.clone();
    file.attrs.retain(|a| !a.path().is_ident("doc"));
    let mut items: Vec<Item> = Vec::new();
    if !imports(&file, "Serialize") && !imports(&file, "Deserialize") {
        items.push(parse_quote!(
            use serde::{Deserialize, Serialize};
        ));
    }
    // What the trait in kit's form names, if the file does not import it.
    for (ident, path) in [
        ("BoxError", quote_path("kit_endpoint::BoxError")),
        ("Context", quote_path("kit_endpoint::Context")),
        ("Future", quote_path("std::future::Future")),
    ] {
        if !imports(&file, ident) {
            items.push(parse_quote!(use #path;));
        }
    }
    for item in file.items.drain(..) {
        items.push(match item {
            Item::Struct(mut s) => {
                s.vis = parse_quote!(pub);
                for f in &mut s.fields {
                    f.vis = parse_quote!(pub);
                }
                add_derives(&mut s.attrs, STRUCT_DERIVES);
                Item::Struct(s)
            }
            Item::Enum(mut e) => {
                e.vis = parse_quote!(pub);
                add_derives(&mut e.attrs, ENUM_DERIVES);
                Item::Enum(e)
            }
            Item::Trait(mut t) => {
                t.vis = Visibility::Public(Default::default());
                t.supertraits = parse_quote!(Send + Sync + 'static);
                let error = &names.error;
                let note = [
                    " Every method fails with a [`BoxError`]: a".to_owned(),
                    format!(" [`{error}`] inside it is a business error, anything else a"),
                    " failure (of a remote call, when a client `Set` implements it).".to_owned(),
                ];
                if !t.attrs.is_empty() {
                    t.attrs.push(parse_quote!(#[doc = ""]));
                }
                for line in note {
                    t.attrs.push(parse_quote!(#[doc = #line]));
                }
                for (ti, m) in t.items.iter_mut().zip(&service.methods) {
                    let TraitItem::Fn(f) = ti else { continue };
                    let name = &f.sig.ident;
                    let arg: syn::Ident = syn::parse_str(&m.arg.name).expect("an identifier");
                    let arg_ty: syn::Type = syn::parse_str(&m.arg.ty.rust()).expect("a type");
                    let ret: syn::Type = syn::parse_str(&m.ret.rust()).expect("a type");
                    let attrs = &f.attrs;
                    *f = parse_quote! {
                        #(#attrs)*
                        fn #name(
                            &self,
                            ctx: &Context,
                            #arg: #arg_ty,
                        ) -> impl Future<Output = Result<#ret, BoxError>> + Send;
                    };
                }
                Item::Trait(t)
            }
            other => other,
        });
    }
    file.items = items;

    let mut out = format!(
        "//! The domain: the service's trait and its types, as `{trait_file}` writes\n\
         //! them (with the derives and `pub` the wire needs).\n\
         {}\n",
        crate::rust::generated(trait_file, names)
    );
    out.push_str(&spaced(&prettyplease::unparse(&file)));
    errors(&mut out, service);
    out
}

/// The business errors' messages, and their way back from a message.
fn errors(out: &mut String, service: &Service) {
    let e = &service.error;
    let name = &e.name;
    let n = e.variants.len();
    let all = e
        .variants
        .iter()
        .map(|(v, _)| format!("{name}::{v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(
        out,
        "
impl {name} {{
    /// Every business error, to match a message received over the wire.
    pub const ALL: [{name}; {n}] = [{all}];

    /// The business error whose message is `message`, if any: how a client
    /// turns an error answer back into the domain's error.
    pub fn from_message(message: &str) -> Option<{name}> {{
        Self::ALL.into_iter().find(|e| e.to_string() == message)
    }}
}}
"
    );
    if !service.error_has_display {
        let _ = write!(
            out,
            "
/// Each error's message: the first line of its doc comment, else its name in words.
impl std::fmt::Display for {name} {{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{
        f.write_str(match self {{
"
        );
        for (v, docs) in &e.variants {
            let message = docs
                .first()
                .map(|d| lower_first(d.trim().trim_end_matches('.')))
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| heck::ToSnakeCase::to_snake_case(v.as_str()).replace('_', " "));
            let _ = writeln!(out, "            {name}::{v} => {message:?},");
        }
        out.push_str("        })\n    }\n}\n");
    }
    if !service.error_has_error {
        let _ = write!(out, "\nimpl std::error::Error for {name} {{}}\n");
    }
}

/// Adds the derives of `wanted` that `attrs` do not have yet.
fn add_derives(attrs: &mut Vec<syn::Attribute>, wanted: &[&str]) {
    let mut have = Vec::new();
    for a in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let _ = a.parse_nested_meta(|meta| {
            if let Some(last) = meta.path.segments.last() {
                have.push(last.ident.to_string());
            }
            Ok(())
        });
    }
    let missing: Vec<syn::Ident> = wanted
        .iter()
        .filter(|w| !have.iter().any(|h| h == *w))
        .map(|w| syn::Ident::new(w, proc_macro2::Span::call_site()))
        .collect();
    if !missing.is_empty() {
        attrs.push(parse_quote!(#[derive(#(#missing),*)]));
    }
}

/// Whether a `use` of `file` brings `ident` into scope.
fn imports(file: &syn::File, ident: &str) -> bool {
    fn tree(t: &UseTree, ident: &str) -> bool {
        match t {
            UseTree::Path(p) => tree(&p.tree, ident),
            UseTree::Name(n) => n.ident == ident,
            UseTree::Rename(r) => r.rename == ident,
            UseTree::Glob(_) => false,
            UseTree::Group(g) => g.items.iter().any(|t| tree(t, ident)),
        }
    }
    file.items.iter().any(|i| match i {
        Item::Use(u) => tree(&u.tree, ident),
        _ => false,
    })
}

/// A path, parsed.
fn quote_path(path: &str) -> syn::Path {
    syn::parse_str(path).expect("a path")
}

/// `s` with its first letter in lower case (a message, not a sentence).
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `code` with a blank line between items and between trait methods, as
/// rustfmt leaves hand-written code (prettyplease writes them back to back).
fn spaced(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + 256);
    let mut previous = "";
    for line in code.lines() {
        let starts_item = |indent: &str| {
            line.strip_prefix(indent).is_some_and(|rest| {
                !rest.starts_with(' ')
                    && (rest.starts_with("///")
                        || rest.starts_with("#[")
                        || rest.starts_with("pub ")
                        || rest.starts_with("fn ")
                        || rest.starts_with("impl"))
            })
        };
        let after_item = previous.ends_with('}') || previous.ends_with(';');
        if after_item && (starts_item("") || starts_item("    ")) {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        previous = line;
    }
    out
}
