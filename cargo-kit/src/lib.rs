//! `cargo kit new`: a kit service from its trait.
//!
//! Reads a Rust file declaring the service's trait (async methods taking
//! `&Context` and one argument, returning `Result<T, E>` with `E` an enum of
//! business errors) and its types, and writes a crate in kit's hexagonal
//! layout: the domain, endpoints, HTTP/JSON, gRPC (with its `.proto` and the
//! prost messages, nothing generated at build time) and NATS transports with
//! their clients, a `main` with kit's standard flags, and tests. The code is
//! plain Rust the user owns: no macro stands between them and it.
//!
//! ```
//! let src = "
//!     use kit_endpoint::Context;
//!     /// Says hello.
//!     pub trait Greeter {
//!         async fn greet(&self, ctx: &Context, name: String) -> Result<String, GreetError>;
//!     }
//!     /// What can go wrong.
//!     pub enum GreetError { Unknown }
//! ";
//! let service = cargo_kit::parse("greeter.rs", src).unwrap();
//! let files = cargo_kit::files("greeter", &service, "greeter.rs", &cargo_kit::KitSource::Git("https://github.com/kit-rs/kit".into()));
//! assert!(files.iter().any(|f| f.path == "proto/greeter.proto"));
//!
//! let bad = "use kit_endpoint::Context; pub trait T { async fn f(&self, s: &str) -> Result<(), E>; } pub enum E { X }";
//! let err = cargo_kit::parse("t.rs", bad).unwrap_err();
//! assert!(err.to_string().starts_with("t.rs:1:60: `f` must take the request's context second"));
//! ```

mod domain;
pub mod input;
mod names;
mod project;
mod rust;
mod wire;

use std::path::Path;

pub use input::{InputError, Service, parse};
pub use names::valid_package;
pub use project::KitSource;

/// Who owns a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// `cargo kit` writes it, and writes it again on `--update`.
    Generated,
    /// Written once; the user's from then on.
    User,
}

/// A file of the generated crate.
#[derive(Debug, Clone)]
pub struct File {
    /// Its path in the crate.
    pub path: String,
    /// Its text.
    pub text: String,
    /// Who owns it.
    pub owner: Owner,
}

/// Every file of the crate `package` for `service`, read from `trait_file`.
pub fn files(package: &str, service: &Service, trait_file: &str, kit: &KitSource) -> Vec<File> {
    let names = names::Names::new(package, service);
    let g = |path: String, text: String| File {
        path,
        text,
        owner: Owner::Generated,
    };
    let u = |path: &str, text: String| File {
        path: path.to_owned(),
        text,
        owner: Owner::User,
    };
    vec![
        u("Cargo.toml", project::manifest(&names, kit)),
        u(".gitignore", "/target\n".into()),
        u("README.md", project::readme(service, &names, trait_file)),
        g("src/lib.rs".into(), rust::lib(service, &names, trait_file)),
        g(
            "src/domain.rs".into(),
            domain::domain(service, &names, trait_file),
        ),
        g(
            "src/endpoint.rs".into(),
            rust::endpoint(service, &names, trait_file),
        ),
        g(
            "src/transport/mod.rs".into(),
            rust::transport_mod(&names, trait_file),
        ),
        g(
            "src/transport/http.rs".into(),
            rust::http(service, &names, trait_file),
        ),
        g(
            "src/transport/grpc.rs".into(),
            rust::grpc(service, &names, trait_file),
        ),
        g("src/transport/grpc/pb.rs".into(), wire::pb(service, &names)),
        g(
            "src/transport/nats.rs".into(),
            rust::nats(service, &names, trait_file),
        ),
        g(
            format!("proto/{}.proto", names.proto),
            wire::proto(service, &names),
        ),
        g(
            "tests/transports.rs".into(),
            project::transport_tests(service, &names, trait_file),
        ),
        u("src/service.rs", project::service(service, &names)),
        u("src/main.rs", project::main(&names)),
        u("src/flags.rs", project::flags(&names)),
        u("tests/pact_consumer.rs", project::pact(service, &names)),
    ]
}

/// What `--update` does to the user's `src/service.rs`: the stubs of the
/// trait's methods the implementation lacks, added at the end of its `impl`
/// block. `Ok(None)` when nothing is missing; an error (naming what to add)
/// when the `impl` cannot be found.
pub fn update_service(
    package: &str,
    service: &Service,
    current: &str,
) -> Result<Option<String>, String> {
    let names = names::Names::new(package, service);
    let parsed = syn::parse_file(current)
        .map_err(|e| format!("src/service.rs does not parse ({e}): mend it, then run again"))?;
    let imp = trait_impls(&parsed, &service.trait_name).next();
    let missing: Vec<_> = service
        .methods
        .iter()
        .filter(|m| {
            imp.is_none_or(|imp| {
                !imp.items
                    .iter()
                    .any(|i| matches!(i, syn::ImplItem::Fn(f) if f.sig.ident == m.name))
            })
        })
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let stubs: String = missing
        .iter()
        .map(|m| format!("\n{}", project::stub(m, &names)))
        .collect();
    let Some(imp) = imp else {
        return Err(format!(
            "src/service.rs has no `impl {} for ...`: add one with these methods:\n{stubs}",
            service.trait_name
        ));
    };
    // Before the `impl`'s closing brace.
    let close = imp.brace_token.span.close().start();
    let offset = offset_of(current, close.line, close.column)
        .ok_or_else(|| format!("src/service.rs: add these methods to your `impl`:\n{stubs}"))?;
    let mut out = String::with_capacity(current.len() + stubs.len());
    out.push_str(&current[..offset]);
    out.push_str(&stubs);
    out.push_str(&current[offset..]);
    Ok(Some(out))
}

/// The byte offset of `line` (from 1) and `column` (in characters, from 0).
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let rest = text.get(start..)?;
    let col = rest
        .char_indices()
        .nth(column)
        .map_or(rest.len(), |(i, _)| i);
    Some(start + col)
}

/// The methods `current` (the user's `src/service.rs`) implements that the
/// trait no longer has: the compiler refuses them, this says so first.
pub fn stale_methods(service: &Service, current: &str) -> Vec<String> {
    let Ok(parsed) = syn::parse_file(current) else {
        return Vec::new();
    };
    trait_impls(&parsed, &service.trait_name)
        .flat_map(|imp| imp.items.iter())
        .filter_map(|i| match i {
            syn::ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
            _ => None,
        })
        .filter(|name| !service.methods.iter().any(|m| m.name == *name))
        .collect()
}

/// The `impl <trait_name> for ...` blocks of `file`.
fn trait_impls<'a>(
    file: &'a syn::File,
    trait_name: &'a str,
) -> impl Iterator<Item = &'a syn::ItemImpl> + 'a {
    file.items.iter().filter_map(move |i| match i {
        syn::Item::Impl(imp)
            if imp
                .trait_
                .as_ref()
                .and_then(|(_, p, _)| p.segments.last())
                .is_some_and(|s| s.ident == trait_name) =>
        {
            Some(imp)
        }
        _ => None,
    })
}

/// Writes `files` under `dir`: every generated file, and the user's files
/// that do not exist yet. Returns what it wrote.
pub fn write(dir: &Path, files: &[File]) -> std::io::Result<Vec<String>> {
    let mut wrote = Vec::new();
    for f in files {
        let path = dir.join(&f.path);
        if f.owner == Owner::User && path.exists() {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &f.text)?;
        wrote.push(f.path.clone());
    }
    Ok(wrote)
}
