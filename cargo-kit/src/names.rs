//! The names a generated service uses, from the crate's name and the trait's.

use heck::{ToKebabCase, ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};

use crate::input::{Method, Service};

/// The names of the crate.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// The package and binary name, as given (`catalog`).
    pub(crate) package: String,
    /// The library's name in Rust (`catalog`).
    pub(crate) lib: String,
    /// The protobuf package, NATS subject prefix and queue group (`catalog`).
    pub(crate) proto: String,
    /// The prefix of the environment variables (`CATALOG`).
    pub(crate) env: String,
    /// The trait (`Catalog`).
    pub(crate) trait_name: String,
    /// The business errors (`CatalogError`).
    pub(crate) error: String,
    /// The gRPC service, fully qualified (`catalog.Catalog`).
    pub(crate) grpc_service: String,
}

impl Names {
    /// The names of `service` in package `package`.
    pub(crate) fn new(package: &str, service: &Service) -> Names {
        let lib = package.to_snake_case();
        Names {
            package: package.to_owned(),
            proto: lib.clone(),
            env: package.replace('-', "_").to_uppercase(),
            trait_name: service.trait_name.clone(),
            error: service.error.name.clone(),
            grpc_service: format!("{lib}.{}", service.trait_name),
            lib,
        }
    }

    /// A method's names.
    pub(crate) fn method(&self, m: &Method) -> MethodNames {
        let camel = m.name.to_upper_camel_case();
        MethodNames {
            name: m.name.clone(),
            request: format!("{camel}Request"),
            response: format!("{camel}Response"),
            constant: m.name.to_shouty_snake_case(),
            http_path: format!("/{}", m.name.to_kebab_case()),
            grpc_path: format!("/{}/{camel}", self.grpc_service),
            subject: format!("{}.{}", self.proto, m.name.to_kebab_case()),
            camel,
        }
    }
}

/// The names of one method.
#[derive(Debug, Clone)]
pub(crate) struct MethodNames {
    /// The method (`add_item`).
    pub(crate) name: String,
    /// In upper camel case, the gRPC method (`AddItem`).
    pub(crate) camel: String,
    /// The request type (`AddItemRequest`).
    pub(crate) request: String,
    /// The response type (`AddItemResponse`).
    pub(crate) response: String,
    /// The constant of its path or subject (`ADD_ITEM`).
    pub(crate) constant: String,
    /// Its HTTP path (`/add-item`).
    pub(crate) http_path: String,
    /// Its gRPC path (`/catalog.Catalog/AddItem`).
    pub(crate) grpc_path: String,
    /// Its NATS subject (`catalog.add-item`).
    pub(crate) subject: String,
}

/// Whether `name` may name a package: lower-case letters, digits and `-`
/// or `_`, starting with a letter.
pub fn valid_package(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}
