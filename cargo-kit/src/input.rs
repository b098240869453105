//! Reads the trait file: the service's trait, its types and its business
//! errors, checked against what the generator supports. Every refusal names
//! the file, the line and what to write instead.

use std::collections::BTreeMap;
use std::fmt;

use heck::ToUpperCamelCase;
use syn::spanned::Spanned;
use syn::{
    Attribute, Fields, FnArg, GenericArgument, Item, PathArguments, ReturnType, TraitItem,
    TraitItemFn, Type,
};

/// A type of the wire: what a field, an argument or a result may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// `()`, a result only.
    Unit,
    /// `bool`.
    Bool,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `String`.
    String,
    /// A struct of the file.
    Struct(String),
    /// An enum of the file (unit variants).
    Enum(String),
    /// `Option<T>`, `T` neither an `Option` nor a `Vec`.
    Option(Box<Ty>),
    /// `Vec<T>`, `T` neither an `Option` nor a `Vec`.
    Vec(Box<Ty>),
}

impl Ty {
    /// The type as Rust writes it in the domain.
    pub fn rust(&self) -> String {
        self.rust_in("")
    }

    /// The type as Rust writes it with the file's types under `module`
    /// (`"domain::"`: `Option<domain::Item>`).
    pub fn rust_in(&self, module: &str) -> String {
        match self {
            Ty::Unit => "()".into(),
            Ty::Bool => "bool".into(),
            Ty::I32 => "i32".into(),
            Ty::I64 => "i64".into(),
            Ty::U32 => "u32".into(),
            Ty::U64 => "u64".into(),
            Ty::F32 => "f32".into(),
            Ty::F64 => "f64".into(),
            Ty::String => "String".into(),
            Ty::Struct(n) | Ty::Enum(n) => format!("{module}{n}"),
            Ty::Option(t) => format!("Option<{}>", t.rust_in(module)),
            Ty::Vec(t) => format!("Vec<{}>", t.rust_in(module)),
        }
    }

    /// The protobuf scalar of a scalar type, if it is one.
    pub fn proto_scalar(&self) -> Option<&'static str> {
        Some(match self {
            Ty::Bool => "bool",
            Ty::I32 => "int32",
            Ty::I64 => "int64",
            Ty::U32 => "uint32",
            Ty::U64 => "uint64",
            Ty::F32 => "float",
            Ty::F64 => "double",
            Ty::String => "string",
            _ => return None,
        })
    }
}

/// A documented name.
#[derive(Debug, Clone)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Ty,
    /// Its doc comment's lines.
    pub docs: Vec<String>,
}

/// A struct of the file.
#[derive(Debug, Clone)]
pub struct Struct {
    /// Its name.
    pub name: String,
    /// Its fields, in order.
    pub fields: Vec<Field>,
    /// Its doc comment's lines.
    pub docs: Vec<String>,
}

/// An enum of the file: unit variants only.
#[derive(Debug, Clone)]
pub struct Enum {
    /// Its name.
    pub name: String,
    /// Its variants, each with its doc comment's lines.
    pub variants: Vec<(String, Vec<String>)>,
    /// Its doc comment's lines.
    pub docs: Vec<String>,
}

/// A method of the trait.
#[derive(Debug, Clone)]
pub struct Method {
    /// Its name (snake case).
    pub name: String,
    /// Its argument (after `ctx`).
    pub arg: Field,
    /// What it returns on success.
    pub ret: Ty,
    /// Its doc comment's lines.
    pub docs: Vec<String>,
}

/// The service the file describes.
#[derive(Debug, Clone)]
pub struct Service {
    /// The trait's name.
    pub trait_name: String,
    /// The trait's doc comment's lines.
    pub docs: Vec<String>,
    /// Its methods, in order.
    pub methods: Vec<Method>,
    /// The structs, in the file's order.
    pub structs: Vec<Struct>,
    /// The enums but the business errors, in the file's order.
    pub enums: Vec<Enum>,
    /// The business errors: the error type of every method.
    pub error: Enum,
    /// Whether the file implements `Display` for the business errors itself.
    pub error_has_display: bool,
    /// Whether the file implements `std::error::Error` for them itself.
    pub error_has_error: bool,
    /// The file as parsed, for the domain module.
    pub file: syn::File,
}

/// A refusal of the input, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file, as given.
    pub file: String,
    /// The line (from 1).
    pub line: usize,
    /// The column (from 1).
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for InputError {}

/// The names the generated crate gives its own types, which the domain's
/// types would shadow or be shadowed by.
const RESERVED: &[&str] = &["Answer", "BoxError", "Context", "Service", "Set"];

/// Reads `source` (the file `file`).
pub fn parse(file: &str, source: &str) -> Result<Service, InputError> {
    let at = |span: proc_macro2::Span, message: String| {
        let start = span.start();
        InputError {
            file: file.to_owned(),
            line: start.line.max(1),
            column: start.column + 1,
            message,
        }
    };
    let parsed = syn::parse_file(source).map_err(|e| {
        at(
            e.span(),
            format!("this is not Rust the generator can read: {e}"),
        )
    })?;

    // First the names, so that a field may name a type declared below it.
    let mut kinds: BTreeMap<String, bool> = BTreeMap::new(); // name -> is a struct
    let mut traits = Vec::new();
    for item in &parsed.items {
        let (ident, is_struct) = match item {
            Item::Struct(s) => (&s.ident, true),
            Item::Enum(e) => (&e.ident, false),
            Item::Trait(t) => {
                traits.push(t);
                continue;
            }
            _ => continue,
        };
        if RESERVED.contains(&ident.to_string().as_str()) {
            return Err(at(
                ident.span(),
                format!(
                    "`{ident}` names a type of the generated crate ({}): rename it",
                    RESERVED.join(", ")
                ),
            ));
        }
        kinds.insert(ident.to_string(), is_struct);
    }
    let the_trait = match traits.as_slice() {
        [t] => *t,
        [] => {
            return Err(at(
                proc_macro2::Span::call_site(),
                "no trait here: write the service as `pub trait Name { async fn method(&self, ctx: &Context, req: Request) -> Result<Response, Error>; }`".into(),
            ));
        }
        [_, second, ..] => {
            return Err(at(
                second.ident.span(),
                "a second trait: the file describes one service, one trait".into(),
            ));
        }
    };
    if !the_trait.generics.params.is_empty() {
        return Err(at(
            the_trait.generics.span(),
            "a generic trait: write the service's trait without type or lifetime parameters".into(),
        ));
    }

    let mut methods = Vec::new();
    let mut error: Option<(String, proc_macro2::Span)> = None;
    for item in &the_trait.items {
        let TraitItem::Fn(f) = item else {
            return Err(at(
                item.span(),
                "only methods belong in the trait: move constants and types out of it".into(),
            ));
        };
        let (method, err_ty, err_span) = method(f, &kinds, &at)?;
        match &error {
            None => error = Some((err_ty, err_span)),
            Some((first, _)) if *first != err_ty => {
                return Err(at(
                    err_span,
                    format!(
                        "every method fails with the same business errors: `{first}`, not `{err_ty}`"
                    ),
                ));
            }
            Some(_) => {}
        }
        if methods.iter().any(|m: &Method| m.name == method.name) {
            return Err(at(
                f.sig.ident.span(),
                "a second method of this name".into(),
            ));
        }
        methods.push(method);
    }
    let Some((error_name, error_span)) = error else {
        return Err(at(
            the_trait.ident.span(),
            "the trait has no method: give it at least one".into(),
        ));
    };

    let mut structs = Vec::new();
    let mut enums = Vec::new();
    let mut error_enum = None;
    let mut error_has_display = false;
    let mut error_has_error = false;
    for item in &parsed.items {
        match item {
            Item::Struct(s) => {
                if !s.generics.params.is_empty() {
                    return Err(at(
                        s.generics.span(),
                        format!(
                            "`{}` is generic: the wire needs concrete types; write a struct per use",
                            s.ident
                        ),
                    ));
                }
                if s.ident == error_name {
                    return Err(at(
                        s.ident.span(),
                        format!(
                            "the business errors `{error_name}` are an enum of unit variants, one per error, not a struct"
                        ),
                    ));
                }
                let Fields::Named(named) = &s.fields else {
                    return Err(at(
                        s.fields.span(),
                        format!(
                            "`{}` has no named fields: write `pub struct {} {{ pub name: Type, ... }}`",
                            s.ident, s.ident
                        ),
                    ));
                };
                let mut fields = Vec::new();
                for f in &named.named {
                    let name = f
                        .ident
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    let ty = ty(&f.ty, &kinds, &at, false)?;
                    if ty == Ty::Struct(s.ident.to_string()) {
                        return Err(at(
                            f.ty.span(),
                            "a struct cannot hold itself: hold its id instead".into(),
                        ));
                    }
                    if let Ty::Enum(e) = &ty
                        && *e == error_name
                    {
                        return Err(at(
                            f.ty.span(),
                            "the business errors are not a value: give the field a type of its own"
                                .into(),
                        ));
                    }
                    fields.push(Field {
                        name,
                        ty,
                        docs: docs(&f.attrs),
                    });
                }
                structs.push(Struct {
                    name: s.ident.to_string(),
                    fields,
                    docs: docs(&s.attrs),
                });
            }
            Item::Enum(e) => {
                if !e.generics.params.is_empty() {
                    return Err(at(
                        e.generics.span(),
                        format!("`{}` is generic: write it without type parameters", e.ident),
                    ));
                }
                let mut variants = Vec::new();
                for v in &e.variants {
                    if !matches!(v.fields, Fields::Unit) || v.discriminant.is_some() {
                        return Err(at(
                            v.span(),
                            format!(
                                "`{}::{}` carries data: the generator supports enums of unit variants (`{}`); hold the data in a struct with `Option` fields",
                                e.ident, v.ident, v.ident
                            ),
                        ));
                    }
                    variants.push((v.ident.to_string(), docs(&v.attrs)));
                }
                if variants.is_empty() {
                    return Err(at(
                        e.ident.span(),
                        format!("`{}` has no variant: give it at least one", e.ident),
                    ));
                }
                let en = Enum {
                    name: e.ident.to_string(),
                    variants,
                    docs: docs(&e.attrs),
                };
                if e.ident == error_name {
                    error_enum = Some(en);
                } else {
                    enums.push(en);
                }
            }
            Item::Impl(imp) => {
                if let (Some((_, path, _)), Type::Path(self_ty)) = (&imp.trait_, &*imp.self_ty)
                    && self_ty.path.is_ident(&error_name)
                {
                    match path.segments.last().map(|s| s.ident.to_string()).as_deref() {
                        Some("Display") => error_has_display = true,
                        Some("Error") => error_has_error = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let Some(error) = error_enum else {
        return Err(at(
            error_span,
            format!(
                "`{error_name}` is not declared in this file: declare the business errors as `pub enum {error_name} {{ NotFound, ... }}`"
            ),
        ));
    };
    // The generated messages must not meet the file's types in the .proto.
    for m in &methods {
        for suffix in ["Request", "Response"] {
            let name = format!("{}{suffix}", m.name.to_upper_camel_case());
            if kinds.contains_key(&name) {
                return Err(at(
                    the_trait.ident.span(),
                    format!(
                        "`{name}` is the name of the generated message of `{}`: rename the type",
                        m.name
                    ),
                ));
            }
        }
    }
    Ok(Service {
        trait_name: the_trait.ident.to_string(),
        docs: docs(&the_trait.attrs),
        methods,
        structs,
        enums,
        error,
        error_has_display,
        error_has_error,
        file: parsed,
    })
}

/// A trait method: its model, its error type's name and where that is.
fn method(
    f: &TraitItemFn,
    kinds: &BTreeMap<String, bool>,
    at: &impl Fn(proc_macro2::Span, String) -> InputError,
) -> Result<(Method, String, proc_macro2::Span), InputError> {
    let sig = &f.sig;
    let name = sig.ident.to_string();
    let shape = format!(
        "write `async fn {name}(&self, ctx: &Context, req: Request) -> Result<Response, Error>;`"
    );
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(at(
            sig.generics.span(),
            format!("`{name}` is generic: the wire needs concrete types; {shape}"),
        ));
    }
    if f.default.is_some() {
        return Err(at(
            f.span(),
            format!(
                "`{name}` has a body: the trait declares, the service implements; end it with `;`"
            ),
        ));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        other => {
            return Err(at(
                other.map_or(sig.ident.span(), Spanned::span),
                format!("`{name}` must take `&self` first; {shape}"),
            ));
        }
    }
    match inputs.next() {
        Some(FnArg::Typed(p)) if is_context_ref(&p.ty) => {}
        other => {
            return Err(at(
                other.map_or(sig.paren_token.span.join(), Spanned::span),
                format!(
                    "`{name}` must take the request's context second, `ctx: &Context`; {shape}"
                ),
            ));
        }
    }
    let arg = match (inputs.next(), inputs.next()) {
        (Some(FnArg::Typed(p)), None) => {
            let syn::Pat::Ident(id) = &*p.pat else {
                return Err(at(
                    p.pat.span(),
                    "name the argument with a plain identifier".into(),
                ));
            };
            if ["ctx", "svc"].contains(&id.ident.to_string().as_str()) {
                return Err(at(
                    id.span(),
                    format!(
                        "`{}` is a name the generated code gives its own values: rename the argument",
                        id.ident
                    ),
                ));
            }
            Field {
                name: id.ident.to_string(),
                ty: ty(&p.ty, kinds, at, false)?,
                docs: Vec::new(),
            }
        }
        (None, _) => {
            return Err(at(
                sig.paren_token.span.join(),
                format!(
                    "`{name}` takes no argument after `ctx`: take one (a struct for several values); {shape}"
                ),
            ));
        }
        (_, extra) => {
            return Err(at(
                extra.map_or(sig.ident.span(), Spanned::span),
                format!(
                    "`{name}` takes more than one argument after `ctx`: gather them in a struct; {shape}"
                ),
            ));
        }
    };
    let result = if sig.asyncness.is_some() {
        match &sig.output {
            ReturnType::Type(_, t) => (**t).clone(),
            ReturnType::Default => {
                return Err(at(
                    sig.ident.span(),
                    format!("`{name}` returns nothing: return a `Result`; {shape}"),
                ));
            }
        }
    } else {
        future_output(&sig.output).ok_or_else(|| {
            at(
                sig.output.span(),
                format!("`{name}` is not async: {shape} (or return `impl Future<Output = Result<..>> + Send`)"),
            )
        })?
    };
    let (ok, err) = result_args(&result).ok_or_else(|| {
        at(
            result.span(),
            format!(
                "`{name}` must return a `Result` of its response and the business errors; {shape}"
            ),
        )
    })?;
    let Type::Path(err_path) = err else {
        return Err(at(err.span(), "name the business errors' enum here".into()));
    };
    let err_name = err_path
        .path
        .get_ident()
        .map(ToString::to_string)
        .ok_or_else(|| {
            at(
                err.span(),
                "name the business errors' enum of this file here, e.g. `CatalogError`".into(),
            )
        })?;
    let method = Method {
        name,
        arg,
        ret: ty(ok, kinds, at, true)?,
        docs: docs(&f.attrs),
    };
    Ok((method, err_name, err.span()))
}

/// Whether `t` is `&Context` (any path ending in `Context`).
fn is_context_ref(t: &Type) -> bool {
    match t {
        Type::Reference(r) if r.mutability.is_none() => {
            matches!(&*r.elem, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Context"))
        }
        _ => false,
    }
}

/// `T` of `impl Future<Output = T> (+ Send)`.
fn future_output(output: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, t) = output else {
        return None;
    };
    let Type::ImplTrait(it) = &**t else {
        return None;
    };
    it.bounds.iter().find_map(|b| {
        let syn::TypeParamBound::Trait(tb) = b else {
            return None;
        };
        let seg = tb.path.segments.last()?;
        if seg.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &seg.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(at) if at.ident == "Output" => Some(at.ty.clone()),
            _ => None,
        })
    })
}

/// `(T, E)` of `Result<T, E>`.
fn result_args(t: &Type) -> Option<(&Type, &Type)> {
    let args = generic_args(t, "Result")?;
    match args.as_slice() {
        [ok, err] => Some((ok, err)),
        _ => None,
    }
}

/// The type arguments of `t` if it is a path ending in `name`.
fn generic_args<'a>(t: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let Type::Path(p) = t else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    Some(
        args.args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
    )
}

/// The wire type of `t`; `()` only where `unit` allows it (a result).
fn ty(
    t: &Type,
    kinds: &BTreeMap<String, bool>,
    at: &impl Fn(proc_macro2::Span, String) -> InputError,
    unit: bool,
) -> Result<Ty, InputError> {
    let refuse = |message: String| Err(at(t.span(), message));
    match t {
        Type::Tuple(tuple) if tuple.elems.is_empty() => {
            if unit {
                Ok(Ty::Unit)
            } else {
                refuse("`()` is no argument or field: leave the field out".into())
            }
        }
        Type::Reference(r) => {
            let owned = match &*r.elem {
                Type::Path(p) if p.path.is_ident("str") => "String".to_owned(),
                Type::Slice(s) => format!("Vec<{}>", quote_type(&s.elem)),
                other => quote_type(other),
            };
            refuse(format!(
                "a reference crosses no wire: take an owned value, `{owned}` instead of `{}`",
                quote_type(t)
            ))
        }
        Type::Path(p) if p.qself.is_none() => {
            let seg = p.path.segments.last().expect("a path has a segment");
            let name = seg.ident.to_string();
            if let Some(inner) = generic_args(t, "Option") {
                let inner = one_arg(&inner, t, at)?;
                let inner = ty(inner, kinds, at, false)?;
                if matches!(inner, Ty::Option(_) | Ty::Vec(_)) {
                    return refuse(format!(
                        "`{}` has no protobuf form: use `{}` (an empty list for none) or a struct",
                        quote_type(t),
                        inner.rust()
                    ));
                }
                return Ok(Ty::Option(Box::new(inner)));
            }
            if let Some(inner) = generic_args(t, "Vec") {
                let inner = one_arg(&inner, t, at)?;
                let inner = ty(inner, kinds, at, false)?;
                if matches!(inner, Ty::Option(_) | Ty::Vec(_)) {
                    return refuse(format!(
                        "`{}` has no protobuf form: wrap the inner list in a struct, `Vec<Row>` with `pub struct Row {{ pub values: {} }}`",
                        quote_type(t),
                        inner.rust()
                    ));
                }
                return Ok(Ty::Vec(Box::new(inner)));
            }
            if !matches!(seg.arguments, PathArguments::None) {
                return refuse(format!(
                    "`{}` is not supported: use structs, enums, `Option`, `Vec`, `String`, `bool`, `i32`, `i64`, `u32`, `u64`, `f32`, `f64`",
                    quote_type(t)
                ));
            }
            Ok(match name.as_str() {
                "bool" => Ty::Bool,
                "i32" => Ty::I32,
                "i64" => Ty::I64,
                "u32" => Ty::U32,
                "u64" => Ty::U64,
                "f32" => Ty::F32,
                "f64" => Ty::F64,
                "String" => Ty::String,
                "u8" | "u16" => return refuse(format!("`{name}` has no protobuf form: use `u32`")),
                "i8" | "i16" => return refuse(format!("`{name}` has no protobuf form: use `i32`")),
                "usize" | "u128" => {
                    return refuse(format!("`{name}` has no protobuf form: use `u64`"));
                }
                "isize" | "i128" => {
                    return refuse(format!("`{name}` has no protobuf form: use `i64`"));
                }
                "char" => return refuse("`char` has no protobuf form: use `String`".into()),
                "str" => return refuse("`str` is unsized: use `String`".into()),
                _ => match kinds.get(&name) {
                    Some(true) => Ty::Struct(name),
                    Some(false) => Ty::Enum(name),
                    None => {
                        return refuse(format!(
                            "`{name}` is not declared in this file: declare it here (a struct or an enum of unit variants) or use a supported type"
                        ));
                    }
                },
            })
        }
        _ => refuse(format!(
            "`{}` is not supported: use structs, enums, `Option`, `Vec`, `String`, `bool`, `i32`, `i64`, `u32`, `u64`, `f32`, `f64`",
            quote_type(t)
        )),
    }
}

/// The only type argument of `t`.
fn one_arg<'a>(
    args: &[&'a Type],
    t: &Type,
    at: &impl Fn(proc_macro2::Span, String) -> InputError,
) -> Result<&'a Type, InputError> {
    match args {
        [one] => Ok(one),
        _ => Err(at(t.span(), "give it one type argument".into())),
    }
}

/// `t` as written, without the token spacing.
fn quote_type(t: &Type) -> String {
    let s = quote::ToTokens::to_token_stream(t).to_string();
    s.replace(" < ", "<")
        .replace(" >", ">")
        .replace("& ", "&")
        .replace(" ,", ",")
        .replace("[ ", "[")
        .replace(" ]", "]")
}

/// The lines of a doc comment.
pub fn docs(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().strip_prefix(' ').unwrap_or(&s.value()).to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}
