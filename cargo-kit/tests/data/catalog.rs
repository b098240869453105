//! A catalogue of items: the trait `cargo kit new` is tested with. It uses
//! every type the generator supports: structs, enums, `Option`, `Vec`,
//! strings, integers, floats, bools, and `()`.

use kit_endpoint::Context;

/// An item for sale.
pub struct Item {
    /// Its name.
    pub name: String,
    /// Its price, in euros.
    pub price: f64,
    /// Its weight, in kilograms, if known.
    pub weight: Option<f32>,
    /// How many are in stock.
    pub stock: u32,
    /// Its rank in the best sellers (negative: not ranked).
    pub rank: i32,
    /// How many were ever sold.
    pub sold: i64,
    /// Whether it can be ordered.
    pub available: bool,
    /// Its kind.
    pub kind: Kind,
    /// The kinds it also belongs to.
    pub also: Vec<Kind>,
    /// Its tags.
    pub tags: Vec<String>,
    /// A note, if any.
    pub note: Option<String>,
    /// Its supplier, if known.
    pub supplier: Option<Supplier>,
    /// Its parts.
    pub parts: Vec<Part>,
    /// Its sizes, in centimetres.
    pub sizes: Vec<u64>,
}

/// What kind of item it is.
pub enum Kind {
    /// Something to read.
    Book,
    /// Something to play with.
    Toy,
}

/// Who supplies an item.
pub struct Supplier {
    /// The supplier's name.
    pub name: String,
    /// Its preferred kind, if any.
    pub favourite: Option<Kind>,
}

/// A part of an item.
pub struct Part {
    /// The part's name.
    pub name: String,
    /// How many of it.
    pub count: u64,
}

/// A search of the catalogue.
pub struct Query {
    /// Words the name must contain.
    pub words: Vec<String>,
    /// The kind, if only one.
    pub kind: Option<Kind>,
    /// The most results.
    pub limit: u32,
}

/// The catalogue's business errors.
pub enum CatalogError {
    /// No item has this id.
    NotFound,
    /// The item is not valid.
    Invalid,
}

/// A catalogue of items.
pub trait Catalog {
    /// Adds an item; its id.
    async fn add(&self, ctx: &Context, item: Item) -> Result<u64, CatalogError>;

    /// The item with this id, if any.
    async fn get(&self, ctx: &Context, id: u64) -> Result<Option<Item>, CatalogError>;

    /// The items a query finds.
    async fn search(&self, ctx: &Context, query: Query) -> Result<Vec<Item>, CatalogError>;

    /// Removes an item.
    async fn remove(&self, ctx: &Context, id: u64) -> Result<(), CatalogError>;

    /// Whether the catalogue has an item of this name.
    async fn has(&self, ctx: &Context, name: String) -> Result<bool, CatalogError>;

    /// The price of the item with this id, if any.
    async fn price(&self, ctx: &Context, id: u64) -> Result<Option<f64>, CatalogError>;

    /// The kinds items have.
    async fn kinds(&self, ctx: &Context, available: bool) -> Result<Vec<Kind>, CatalogError>;
}
